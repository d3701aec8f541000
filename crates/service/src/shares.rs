//! Partner-share use cases, reached as `node.shares()`: the start of a share's life. The sharing
//! engine (`casemesh_sharing::Engine`, also reachable as `node.sharing()` for status reads) runs
//! the protocol from there to Complete; this layer checks who asks and for which case.
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
use casemesh_model::grant::ShareMode;
use casemesh_model::org::{Action, Feature, Settings, ShareTarget};
use casemesh_sharing::records::OutgoingShare;
use casemesh_sharing::{Engine, SharingError};
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
        let recipients = new
            .to
            .iter()
            .map(|t| casemesh_sharing::parse_recipient(t))
            .collect::<Result<Vec<_>, _>>()?;
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
}
