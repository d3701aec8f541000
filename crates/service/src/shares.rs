//! Partner-share use cases, reached as `node.shares()`: the shares this organization sends —
//! create, list a case's shares, read one (with the partner's receipt), add recipients
//! (reshare), approve (two-person approval) and stop. The sharing engine
//! (`casemesh_sharing::Engine`) runs the protocol from there to Complete; this layer checks who
//! asks and for which case. Shares received from partners are `node.received()`
//! ([`crate::received`]).
//!
//! The rules, in one place: a share of a case is visible only to those who see its case whole
//! (otherwise it answers `NotFound` exactly like a missing share: issue #12); changing it needs
//! the share permission of its scope (`case_share_by_copy` for a case or folders,
//! `evidence_share_by_copy` for selected items: seed 000, "Prerequisites"; issue #12 item 5);
//! approving needs `share_approve` (seed 002, two-person approval; the engine refuses the
//! share's creator).
//!
//! [`ShareService::create`] is **what happens when a case is shared with a partner**: check the
//! caller (Share by Copy; access mode also needs the Advanced Sharing feature), resolve the case
//! among those the caller sees whole, parse the recipients, then `Engine::create_share_in`
//! signs the grant and, in one transaction, records the share, its items, its metadata document,
//! its audit entry and the offer in the partner's outbox (docs/architecture.md, "A share from
//! `share create` to Complete").

use crate::caller::Caller;
use crate::cases::{CaseError, CaseService};
use crate::error::{Disposition, of_sharing};
use casemesh_model::grant::{Recipient, ShareMode};
use casemesh_model::ids::{BlobHash, EvidenceId, ShareId};
use casemesh_model::org::{Action, Feature, Settings, ShareTarget};
use casemesh_sharing::records::OutgoingShare;
use casemesh_sharing::{Engine, Missing, SharingError};
use casemesh_store::Clock;
use std::sync::{Arc, RwLock};

/// Why a share was not created; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// The caller may not share, or the case does not resolve for them.
    #[error(transparent)]
    Case(#[from] CaseError),
    /// The request is refused as given (an unknown mode).
    #[error("{0}")]
    Invalid(String),
    /// A feature the request needs is off (access mode without Advanced Sharing).
    #[error("{0}")]
    FeatureOff(String),
    /// The sharing engine refused (unknown partner or recipient, policy, scope) or failed.
    #[error(transparent)]
    Sharing(#[from] SharingError),
}

impl ShareError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            ShareError::Case(e) => e.disposition(),
            ShareError::Invalid(_) | ShareError::FeatureOff(_) => Disposition::Refuse,
            ShareError::Sharing(e) => of_sharing(e),
        }
    }
}

/// A partner share as the user asked for it.
#[derive(Debug, Clone, Default)]
pub struct NewShare {
    /// The partner's display name or org id.
    pub partner: String,
    /// Recipients as text (`user:NAME`, `group:NAME`, `email:ADDR`, `badge:ID`, or a username).
    pub to: Vec<String>,
    /// Folder paths; with none and no evidence, the whole case.
    pub folders: Vec<String>,
    /// Evidence ids or display ids.
    pub evidence: Vec<String>,
    /// Message for the recipients.
    pub message: Option<String>,
    /// `copy` (default: the partner imports a copy) or `access` (the partner works with the
    /// case here; needs Advanced Sharing).
    pub mode: Option<String>,
}

/// One outgoing share with what the partner confirmed it holds.
#[derive(Debug, Clone)]
pub struct ShareDetail {
    /// The share.
    pub share: OutgoingShare,
    /// The partner's signed receipt, checked against what was sent: every item with the
    /// verified root hash the partner holds (`None` until a receipt matches the items sent).
    pub receipt_roots: Option<Vec<(EvidenceId, BlobHash)>>,
}

/// Share id `text` as a caller typed it (a path segment, a form field, a CLI argument). Text
/// that is not a share id answers `Sharing(NotFound)`, the answer for a share that does not
/// exist, with the same message: a malformed id and an unknown one are told apart by no one.
pub fn parse_share_id(text: &str) -> Result<ShareId, ShareError> {
    text.parse()
        .map_err(|_| SharingError::NotFound(Missing::ShareText(text.to_owned())).into())
}

/// Parse recipients as text (`user:NAME`, `group:NAME`, `email:ADDR`, `badge:ID`, or a
/// username); the first bad one is `SharingError::Invalid` with `Bad::Recipient` or
/// `Bad::RecipientNoName`, naming it as typed.
pub(crate) fn parse_recipients(to: &[String]) -> Result<Vec<Recipient>, SharingError> {
    to.iter()
        .map(|t| casemesh_sharing::parse_recipient(t))
        .collect()
}

/// The partner-share use cases: cheap to clone.
#[derive(Clone)]
pub struct ShareService {
    sharing: Engine,
    cases: CaseService,
    settings: Arc<RwLock<Settings>>,
    clock: Clock,
}

impl ShareService {
    /// Share use cases over the engine `sharing`, resolving cases through `cases`.
    pub fn new(
        sharing: Engine,
        cases: CaseService,
        settings: Arc<RwLock<Settings>>,
        clock: Clock,
    ) -> ShareService {
        ShareService {
            sharing,
            cases,
            settings,
            clock,
        }
    }

    /// Share case `case` (record id or Case ID) with a partner. Returns the share as recorded
    /// (status Processing, or PendingApproval when its policy needs a second person); the
    /// engine's outbox sends the offer.
    pub fn create(
        &self,
        caller: &Caller,
        case: &str,
        new: &NewShare,
    ) -> Result<OutgoingShare, ShareError> {
        // Evidence shares are gated by the evidence permissions, case shares by the case ones
        // (seed 000, "Prerequisites"; issue #12 item 5).
        let target = ShareTarget::of_selection(&new.folders, &new.evidence);
        self.cases.require(caller, Action::SharePartner(target))?;
        let mode = match new.mode.as_deref() {
            None | Some("copy") => ShareMode::Copy,
            Some("access") => {
                let on = self
                    .settings
                    .read()
                    .map(|s| s.features.is_enabled(Feature::AdvancedSharing))
                    .unwrap_or(false);
                if !on {
                    return Err(ShareError::FeatureOff(
                        "access-mode shares need the Advanced Sharing feature, which is off".into(),
                    ));
                }
                ShareMode::Access
            }
            Some(other) => {
                return Err(ShareError::Invalid(format!(
                    "mode {other:?}: expected copy or access"
                )));
            }
        };
        let case = self.cases.resolve_whole(caller, case)?;
        // Sharing again with the same partner adds to the share it has, and the joined share
        // hands over the case if either does: someone who may share evidence only may not add
        // recipients to a share of the case.
        if let Some(existing) = self.sharing.share_to(case.id, &new.partner, mode)?
            && ShareTarget::of(&existing.scope) == ShareTarget::Case
        {
            self.cases
                .require(caller, Action::SharePartner(ShareTarget::Case))?;
        }
        let recipients = parse_recipients(&new.to)?;
        let request = casemesh_sharing::ShareRequest {
            case: case.id,
            partner: new.partner.clone(),
            recipients,
            folders: new.folders.clone(),
            evidence: new.evidence.clone(),
            message: new.message.clone(),
        };
        Ok(self
            .sharing
            .create_share_in(&caller.actor(self.clock.now()), &request, mode)?)
    }

    /// The partner shares of case `case` (record id or Case ID), oldest first; the caller must
    /// see the case whole (`CaseError::PartOnly`, or `NotFound` for a case they do not see).
    pub fn of_case(&self, caller: &Caller, case: &str) -> Result<Vec<OutgoingShare>, ShareError> {
        let case = self.cases.resolve_whole(caller, case)?;
        Ok(self.sharing.shares(Some(case.id))?)
    }

    /// Share `id` with the roots of the partner's receipt, if the caller sees its case whole;
    /// else `Sharing(NotFound)` as for a share that does not exist.
    pub fn get(&self, caller: &Caller, id: ShareId) -> Result<ShareDetail, ShareError> {
        let share = self.visible(caller, id)?;
        let receipt_roots = self.sharing.receipt_roots(&share)?;
        Ok(ShareDetail {
            share,
            receipt_roots,
        })
    }

    /// Add recipients (text as in [`NewShare::to`]) to share `id` (reshare), in its partner or,
    /// with `partner`, in another one; needs the share permission of the share's scope.
    pub fn add_recipients(
        &self,
        caller: &Caller,
        id: ShareId,
        to: &[String],
        partner: Option<&str>,
    ) -> Result<OutgoingShare, ShareError> {
        let current = self.visible(caller, id)?;
        self.cases.require(
            caller,
            Action::SharePartner(ShareTarget::of(&current.scope)),
        )?;
        let recipients = parse_recipients(to)?;
        Ok(self
            .sharing
            .add_recipients(&caller.actor(self.clock.now()), id, recipients, partner)?)
    }

    /// Approve share `id`, which waits for a second person: its offer leaves now. Needs
    /// `share_approve`; the engine refuses the share's creator (`Forbidden`) and a share that
    /// does not wait (`Conflict`).
    pub fn approve(&self, caller: &Caller, id: ShareId) -> Result<OutgoingShare, ShareError> {
        self.may_approve(caller)?;
        self.visible(caller, id)?;
        Ok(self
            .sharing
            .approve_share(&caller.actor(self.clock.now()), id)?)
    }

    /// Stop share `id` (a signed revocation): updates stop at once; the partner keeps its
    /// imported copy. Needs the share permission of the share's scope; stopping a stopped share
    /// returns it unchanged.
    pub fn stop(&self, caller: &Caller, id: ShareId) -> Result<OutgoingShare, ShareError> {
        let current = self.visible(caller, id)?;
        self.cases.require(
            caller,
            Action::SharePartner(ShareTarget::of(&current.scope)),
        )?;
        Ok(self
            .sharing
            .stop_share(&caller.actor(self.clock.now()), id)?)
    }

    /// Share id `text` to [`ShareService::approve`], as a caller typed it: the permission is
    /// checked before the id, as `approve` does, so text that is not a share id answers what
    /// an unknown share id answers (`Case(Denied)` without `share_approve`, else
    /// `Sharing(NotFound)` as [`parse_share_id`]).
    pub fn approve_id(&self, caller: &Caller, text: &str) -> Result<ShareId, ShareError> {
        parse_share_id(text).or_else(|e| {
            self.may_approve(caller)?;
            Err(e)
        })
    }

    /// Whether the caller may approve shares (`share_approve`).
    fn may_approve(&self, caller: &Caller) -> Result<(), ShareError> {
        Ok(self.cases.require(caller, Action::ApproveShare)?)
    }

    /// The outgoing share `id` if the caller sees its case whole; otherwise `Sharing(NotFound)`
    /// exactly as for a share that does not exist (issue #12: per-case access covers the shares
    /// of a case too).
    fn visible(&self, caller: &Caller, id: ShareId) -> Result<OutgoingShare, ShareError> {
        let share = self.sharing.share(id)?;
        self.cases
            .resolve_whole(caller, &share.case.to_string())
            .map_err(|_| SharingError::NotFound(Missing::Share(id)))?;
        Ok(share)
    }
}
