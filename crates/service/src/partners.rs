//! Federation use cases, reached as `node.partners()`: this node's identity, the partner
//! organizations it federates with, the sharing policies it assigns them, a partner's directory
//! (type-ahead for recipients) and the operator's peers view.
//!
//! Who may do what is decided here, not by the HTTP handlers: changing partners or policies and
//! reading the peers view (traffic, dead letters and share ids of every partner) need
//! `administer` (seed 002: a partner agency and its sharing policy are set up by an
//! administrator); listing partners and policies, reading one policy (what a sharer reviews
//! before sharing, seed 002 "select View next to their name") and looking up a partner's
//! directory need an authenticated user only. The sharing engine (`casemesh_sharing::Engine`)
//! stores partners and policies and tells the net actor.

use crate::caller::Caller;
use crate::error::{Disposition, of_sharing};
use casemesh_model::ids::OrgId;
use casemesh_model::org::{Action, Denied, Settings, ShareTarget};
use casemesh_model::policy::{PolicyAction, SharedData, SharingPolicy};
use casemesh_sharing::directory::DirectoryEntry;
use casemesh_sharing::records::Partner;
use casemesh_sharing::{Engine, PeerView, SharingError};
use std::sync::{Arc, RwLock};

/// Why a federation use case refused or failed; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PartnerError {
    /// The caller lacks `administer` (or the organization a feature the action needs).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The request is refused as given (an unknown policy action or data kind, an inconsistent
    /// policy); the message names what is wrong and what is known.
    #[error("{0}")]
    Invalid(String),
    /// The sharing engine refused (unknown partner or policy, a taken name, a bad PeerId, the
    /// partner does not share its directory) or failed (store, net actor).
    #[error(transparent)]
    Sharing(#[from] SharingError),
}

impl PartnerError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            PartnerError::Denied(_) | PartnerError::Invalid(_) => Disposition::Refuse,
            PartnerError::Sharing(e) => of_sharing(e),
        }
    }
}

/// This node as partners see it.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The node's org id (its libp2p PeerId).
    pub peer_id: OrgId,
    /// The multiaddrs the node listens on now.
    pub addrs: Vec<String>,
}

/// A partner organization to register.
#[derive(Debug, Clone)]
pub struct NewPartner {
    /// Display name, unique on this node.
    pub name: String,
    /// Its org id (PeerId text).
    pub peer_id: OrgId,
    /// Multiaddrs to reach it (may be empty: it connects to us).
    pub addrs: Vec<String>,
    /// The sharing policy to assign by name; `None` = the default policy.
    pub policy: Option<String>,
}

/// A change to a partner; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PartnerEdit {
    /// New display name.
    pub name: Option<String>,
    /// New multiaddrs (replacing the old ones).
    pub addrs: Option<Vec<String>>,
    /// New sharing policy, by name.
    pub policy: Option<String>,
}

/// A sharing policy as an administrator writes it: action and data names as the API and CLI
/// take them (`PolicyAction::expand_name`, `SharedData::expand_name`: groups such as `all`).
#[derive(Debug, Clone, Default)]
pub struct NewPolicy {
    /// Policy name (a valid name; replaces a policy of the same name).
    pub name: String,
    /// Allowed actions by name.
    pub allow: Vec<String>,
    /// Data kinds shared by name; `None` = the policy's default data.
    pub data: Option<Vec<String>>,
    /// Whether a share under this policy waits for a second person's approval.
    pub two_person_approval: bool,
}

impl NewPolicy {
    /// The policy this request names, or [`PartnerError::Invalid`] naming the unknown action or
    /// data kind. `share_onward_external` without `share_onward` is refused: an onward share to
    /// another organization is an onward share, and the chain check needs the parent to allow
    /// `share_onward` (seed 002, "Onward sharing").
    pub fn to_policy(&self) -> Result<SharingPolicy, PartnerError> {
        let mut actions = Vec::new();
        for a in &self.allow {
            let found = PolicyAction::expand_name(a);
            if found.is_empty() {
                return Err(PartnerError::Invalid(format!(
                    "unknown policy action {a:?}; known: {}",
                    PolicyAction::ALL.map(|x| x.name()).join(", ")
                )));
            }
            actions.extend(found);
        }
        if actions.contains(&PolicyAction::ShareOnwardExternal)
            && !actions.contains(&PolicyAction::ShareOnward)
        {
            return Err(PartnerError::Invalid(
                "share_onward_external needs share_onward too (an onward share to another organization is an onward share); nothing was changed".into(),
            ));
        }
        let mut p = SharingPolicy::new(&self.name, actions)
            .with_two_person_approval(self.two_person_approval);
        if let Some(data) = &self.data {
            let mut kinds = Vec::new();
            for d in data {
                let found = SharedData::expand_name(d);
                if found.is_empty() {
                    return Err(PartnerError::Invalid(format!(
                        "unknown data kind {d:?}; known: {}, or case_fields, evidence_metadata, all",
                        SharedData::ALL.map(|x| x.name()).join(", ")
                    )));
                }
                kinds.extend(found);
            }
            p = p.with_data(kinds);
        }
        Ok(p)
    }
}

/// The federation use cases: cheap to clone.
#[derive(Clone)]
pub struct PartnerService {
    sharing: Engine,
    settings: Arc<RwLock<Settings>>,
}

impl PartnerService {
    /// Federation use cases over the engine `sharing`, feature flags read from `settings`.
    pub fn new(sharing: Engine, settings: Arc<RwLock<Settings>>) -> PartnerService {
        PartnerService { sharing, settings }
    }

    /// `Err(Denied)` unless `caller` may take `action` (its permissions and the organization's
    /// feature flags).
    fn require(&self, caller: &Caller, action: Action) -> Result<(), PartnerError> {
        let flags = self
            .settings
            .read()
            .map(|s| s.features.clone())
            .unwrap_or_default();
        Ok(caller.require(&flags, action)?)
    }

    /// `Err(Denied)` unless `caller` administers the node.
    fn require_admin(&self, caller: &Caller) -> Result<(), PartnerError> {
        self.require(caller, Action::Administer)
    }

    /// This node's org id and current listen addresses (any authenticated user). Fails when the
    /// net actor does not answer (shutting down).
    pub async fn identity(&self, _caller: &Caller) -> Result<Identity, PartnerError> {
        Ok(Identity {
            peer_id: self.sharing.org_id().clone(),
            addrs: self.sharing.listen_addrs().await?,
        })
    }

    /// Every registered partner (any authenticated user: recipients are chosen among them).
    pub fn list(&self, _caller: &Caller) -> Result<Vec<Partner>, PartnerError> {
        Ok(self.sharing.partners()?)
    }

    /// Register a partner organization (administrators): from now on it may connect.
    pub async fn add(&self, caller: &Caller, new: &NewPartner) -> Result<Partner, PartnerError> {
        self.require_admin(caller)?;
        Ok(self
            .sharing
            .add_partner(
                &new.name,
                &new.peer_id,
                new.addrs.clone(),
                new.policy.as_deref(),
            )
            .await?)
    }

    /// Change partner `partner` (display name or org id; administrators).
    pub async fn edit(
        &self,
        caller: &Caller,
        partner: &str,
        edit: &PartnerEdit,
    ) -> Result<Partner, PartnerError> {
        self.require_admin(caller)?;
        Ok(self
            .sharing
            .update_partner(
                partner,
                edit.name.as_deref(),
                edit.addrs.clone(),
                edit.policy.as_deref(),
            )
            .await?)
    }

    /// Remove partner `partner` (display name or org id; administrators): its connections close
    /// and it is refused from then on. Returns the partner as it was.
    pub async fn remove(&self, caller: &Caller, partner: &str) -> Result<Partner, PartnerError> {
        self.require_admin(caller)?;
        Ok(self.sharing.remove_partner(partner).await?)
    }

    /// Users and groups in `partner`'s directory matching `query` (at most 200 bytes), asked of
    /// the partner over the network; it answers only if it shares its directory. Only for
    /// callers who may share with partners (a case or selected evidence): the directory is
    /// the type-ahead for a partner share's recipients, and a partner's staff list is not for
    /// every user of this node. `Denied` otherwise, before anything is asked of the partner.
    pub async fn directory(
        &self,
        caller: &Caller,
        partner: &str,
        query: &str,
    ) -> Result<Vec<DirectoryEntry>, PartnerError> {
        self.require(caller, Action::SharePartner(ShareTarget::Case))
            .or_else(|_| self.require(caller, Action::SharePartner(ShareTarget::Evidence)))?;
        Ok(self.sharing.lookup_directory(partner, query).await?)
    }

    /// Every sharing policy (the built-in ones first).
    pub fn policies(&self, _caller: &Caller) -> Result<Vec<SharingPolicy>, PartnerError> {
        Ok(self.sharing.policies()?)
    }

    /// The sharing policy named `name`; `Sharing(NotFound)` when there is none.
    pub fn policy(&self, _caller: &Caller, name: &str) -> Result<SharingPolicy, PartnerError> {
        Ok(self.sharing.policy(name)?)
    }

    /// Create or replace a sharing policy (administrators); returns it as stored.
    pub fn put_policy(
        &self,
        caller: &Caller,
        new: &NewPolicy,
    ) -> Result<SharingPolicy, PartnerError> {
        self.require_admin(caller)?;
        let p = new.to_policy()?;
        self.sharing.put_policy(&p)?;
        Ok(p)
    }

    /// The operator view of every partner (administrators): connection, addresses, round-trip
    /// time, traffic, transfers, queued and dead-lettered messages.
    pub async fn peers(&self, caller: &Caller) -> Result<Vec<PeerView>, PartnerError> {
        self.require_admin(caller)?;
        Ok(self.sharing.peers().await?)
    }
}
