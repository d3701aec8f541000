//! Use cases of shares received from partners, reached as `node.received()`: list ("shared with
//! me"), import details, manual import, the contents of an access-mode share and an item's bytes
//! fetched from the sharer, sharing a received case onward to another partner, and the updates
//! review of the copy (review, apply, dismiss; the shared metadata of an access-mode share).
//!
//! Who sees what is the rule of [`CaseService::received`] and [`CaseService::received_whole`]
//! (issue #12): an administrator or `all_cases`, a user the sharer named (as this organization
//! resolved them), or whoever sees the local copy sees a received share; anyone else gets
//! `NotFound` exactly as for a share that does not exist. What acts on the **whole** share —
//! sharing it onward, reviewing, applying and dismissing updates, reading and editing its
//! metadata — needs the caller to see all of it: a recipient added later, who sees only the
//! items sent after they were named (seed 002: "recipients of earlier shares get only updates
//! sent after they were added"), gets `CaseError::PartOnly`. Changing the copy (import, apply,
//! dismiss, edit metadata) needs `edit_case`; sharing onward needs the share permission of the
//! received scope. The sharer's policy is checked again by the engine (and by the sharer, for
//! access mode).

use crate::caller::Caller;
use crate::cases::{CaseError, CaseService};
use crate::error::{Disposition, of_sharing};
use crate::shares::parse_recipients;
use casemesh_meta::{CaseMeta, Choice, FieldUpdate, ReviewRow, Tab};
use casemesh_model::grant::{Scope, ShareMode, SignedGrant};
use casemesh_model::ids::EvidenceId;
use casemesh_model::org::{Action, ShareTarget};
use casemesh_sharing::access::{Fetched, ReceivedContents};
use casemesh_sharing::records::{IncomingShare, OutgoingShare, SkippedItem};
use casemesh_sharing::{Engine, SharingError};
use casemesh_store::Clock;

/// Why a received-share use case refused or failed; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceivedError {
    /// The caller may not do this (a permission), sees only part of the share, or the share does
    /// not resolve for them (`CaseError::Sharing(NotFound)`, as for a missing one).
    #[error(transparent)]
    Case(#[from] CaseError),
    /// The request is refused as given (an unknown mode, `all` together with a tab, an unknown
    /// tab).
    #[error("{0}")]
    Invalid(String),
    /// The sharing engine refused (the sharer's policy, a stopped share, a bad recipient, nothing
    /// to apply) or failed (store, the sharer unreachable).
    #[error(transparent)]
    Sharing(#[from] SharingError),
}

impl ReceivedError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            ReceivedError::Case(e) => e.disposition(),
            ReceivedError::Invalid(_) => Disposition::Refuse,
            ReceivedError::Sharing(e) => of_sharing(e),
        }
    }
}

/// A received share as the caller may see it.
#[derive(Debug, Clone)]
pub struct ReceivedShare {
    /// The share record.
    pub share: IncomingShare,
    /// The items its import went around (the sharer's evidence id and why). Empty for a caller
    /// who sees only part of the share: their names may come from updates sent before that
    /// caller was named (issue #12 item 5).
    pub skipped: Vec<(EvidenceId, SkippedItem)>,
}

/// A share of a received case onward to another partner.
#[derive(Debug, Clone, Default)]
pub struct OnwardShare {
    /// Partner display name or org id.
    pub partner: String,
    /// Recipients in that organization, as text (`user:NAME`, `group:NAME`, `email:ADDR`,
    /// `badge:ID`, or a username).
    pub to: Vec<String>,
    /// Optional message for the recipients.
    pub message: Option<String>,
}

/// Which updates to apply: exactly one of named `fields`, `all`, or one `tab`.
#[derive(Debug, Clone, Default)]
pub struct ApplyChoice {
    /// Field paths (from the review); a conflicting field is applied only this way.
    pub fields: Vec<String>,
    /// Every allowed update that is not a conflict.
    pub all: bool,
    /// Every allowed update of one tab (`case` or `evidence`) that is not a conflict.
    pub tab: Option<String>,
}

/// `copy` or `access` as a filter of [`ReceivedService::list`]; anything else is
/// [`ReceivedError::Invalid`].
pub fn parse_mode(text: &str) -> Result<ShareMode, ReceivedError> {
    match text {
        "copy" => Ok(ShareMode::Copy),
        "access" => Ok(ShareMode::Access),
        other => Err(ReceivedError::Invalid(format!(
            "mode {other:?}: expected copy or access"
        ))),
    }
}

/// The received-share use cases: cheap to clone.
#[derive(Clone)]
pub struct ReceivedService {
    sharing: Engine,
    cases: CaseService,
    clock: Clock,
}

impl ReceivedService {
    /// Received-share use cases over the engine `sharing`, with who-sees-what from `cases`.
    pub fn new(sharing: Engine, cases: CaseService, clock: Clock) -> ReceivedService {
        ReceivedService {
            sharing,
            cases,
            clock,
        }
    }

    /// The received shares the caller may see, oldest first, of mode `mode` if given.
    pub fn list(
        &self,
        caller: &Caller,
        mode: Option<ShareMode>,
    ) -> Result<Vec<ReceivedShare>, ReceivedError> {
        let mut out = Vec::new();
        for s in self.sharing.received()? {
            if mode.is_some_and(|m| m != s.mode) {
                continue;
            }
            if self.cases.may_see_received(caller, &s)? {
                out.push(self.for_caller(caller, s)?);
            }
        }
        Ok(out)
    }

    /// The received share `reference` names (share id, or the local copy's record id or Case
    /// ID) with its import details, if the caller may see it.
    pub fn show(&self, caller: &Caller, reference: &str) -> Result<ReceivedShare, ReceivedError> {
        let share = self.cases.received(caller, reference)?;
        self.for_caller(caller, share)
    }

    /// Import received share `reference` (creates the local copy; what a user does when
    /// auto-import is off). Needs `edit_case`; refused when the sharer stopped the share before
    /// it was imported. Returns the share after the import, with every item it skipped.
    pub fn import(&self, caller: &Caller, reference: &str) -> Result<ReceivedShare, ReceivedError> {
        self.cases.require(caller, Action::EditCase)?;
        let id = self.cases.received(caller, reference)?.id;
        let share = self.sharing.import(id)?;
        let skipped = self.sharing.skipped_items(&share)?;
        Ok(ReceivedShare { share, skipped })
    }

    /// The folders and items of received share `reference` as the sharer last sent them.
    /// Refused when the share was stopped or its policy lacks `view`; the sharer's audit trail
    /// records the view with the caller's name.
    pub async fn contents(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<ReceivedContents, ReceivedError> {
        let share = self.cases.received(caller, reference)?;
        Ok(self
            .sharing
            .received_view(share.id, &caller.user.username)
            .await?)
    }

    /// Item `evidence` (the sharer's evidence id, display id or name) of received share
    /// `reference`, fetched from the sharer under the grant and verified against its hash into
    /// an unnamed file (nothing stays here). Refused when the share was stopped or its policy
    /// lacks `download` (here, and again by the sharer); the sharer's audit trail records the
    /// download with the caller's name.
    pub async fn content(
        &self,
        caller: &Caller,
        reference: &str,
        evidence: &str,
    ) -> Result<Fetched, ReceivedError> {
        let share = self.cases.received(caller, reference)?;
        Ok(self
            .sharing
            .received_get(share.id, evidence, &caller.user.username)
            .await?)
    }

    /// Share received case `reference` onward to another partner (seed 002, "Onward sharing of
    /// a received case"): a child grant within the received grant's scope, policy and expiry;
    /// the organization the case came from is told. Needs the whole share and the share
    /// permission of its scope; the engine refuses when the policy lacks `share_onward` and
    /// `share_onward_external`, the share was stopped, or the chain would be too long.
    pub fn share_onward(
        &self,
        caller: &Caller,
        reference: &str,
        onward: &OnwardShare,
    ) -> Result<OutgoingShare, ReceivedError> {
        let received = self.cases.received_whole(caller, reference)?;
        let scope = SignedGrant::from_bytes(&hex::decode(&received.grant).unwrap_or_default())
            .map(|g| g.grant.scope)
            .unwrap_or(Scope::EntireCase);
        self.cases
            .require(caller, Action::SharePartner(ShareTarget::of(&scope)))?;
        let share = self.sharing.share_onward(
            &caller.actor(self.clock.now()),
            &casemesh_sharing::OnwardRequest {
                received: received.id,
                partner: onward.partner.clone(),
                recipients: parse_recipients(&onward.to)?,
                message: onward.message.clone(),
            },
        )?;
        Ok(share)
    }

    /// The review of updates available for received share `reference`'s copy: each changed
    /// field with whether the sharer's policy allows applying it, whether it conflicts with an
    /// edit here, and who changed it at the sharer. Needs the whole share.
    pub fn updates(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<Vec<ReviewRow>, ReceivedError> {
        let id = self.cases.received_whole(caller, reference)?.id;
        Ok(self.sharing.update_review(id)?)
    }

    /// Apply updates to the copy of `reference` as `choice` selects, where the sharer's policy
    /// allows it (all or nothing). Needs `edit_case` and the whole share. Returns what was
    /// applied.
    pub fn apply_updates(
        &self,
        caller: &Caller,
        reference: &str,
        choice: &ApplyChoice,
    ) -> Result<Vec<FieldUpdate>, ReceivedError> {
        self.cases.require(caller, Action::EditCase)?;
        let id = self.cases.received_whole(caller, reference)?.id;
        let selected = match (&choice.tab, choice.all) {
            (Some(_), true) => {
                return Err(ReceivedError::Invalid(
                    "choose all or a tab, not both".into(),
                ));
            }
            (Some(t), false) => Some(Choice::Tab(
                t.parse::<Tab>().map_err(ReceivedError::Invalid)?,
            )),
            (None, true) => Some(Choice::All),
            (None, false) => None,
        };
        Ok(self.sharing.apply_updates(
            &caller.actor(self.clock.now()),
            id,
            &choice.fields,
            selected,
        )?)
    }

    /// Dismiss updates of `reference`'s copy: they stop showing until the sharer changes those
    /// fields again. Needs `edit_case` and the whole share. Returns what was dismissed.
    pub fn dismiss_updates(
        &self,
        caller: &Caller,
        reference: &str,
        fields: &[String],
    ) -> Result<Vec<FieldUpdate>, ReceivedError> {
        self.cases.require(caller, Action::EditCase)?;
        let id = self.cases.received_whole(caller, reference)?.id;
        Ok(self
            .sharing
            .dismiss_updates(&caller.actor(self.clock.now()), id, fields)?)
    }

    /// The metadata of received share `reference` as this node holds it (the sharer's changes
    /// and this organization's own edits merged); `None` before any arrived. Needs the whole
    /// share.
    pub fn meta(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<Option<CaseMeta>, ReceivedError> {
        let id = self.cases.received_whole(caller, reference)?.id;
        Ok(self.sharing.received_meta(id)?)
    }

    /// Edit `field` of access-mode share `reference` in the sharer's system (policy
    /// `edit_metadata`), merged with the sharer's concurrent edits by Automerge's rules. Needs
    /// `edit_case` and the whole share. Returns the values after the edit.
    pub fn edit_meta(
        &self,
        caller: &Caller,
        reference: &str,
        field: &str,
        value: &str,
    ) -> Result<CaseMeta, ReceivedError> {
        self.cases.require(caller, Action::EditCase)?;
        let id = self.cases.received_whole(caller, reference)?.id;
        Ok(self
            .sharing
            .edit_received(&caller.actor(self.clock.now()), id, field, value)?)
    }

    /// `s` with its skipped items as `caller` may see them (none for a caller who sees part).
    fn for_caller(
        &self,
        caller: &Caller,
        s: IncomingShare,
    ) -> Result<ReceivedShare, ReceivedError> {
        let skipped = self.sharing.skipped_items(&s)?;
        let whole = self.cases.received_whole(caller, &s.id.to_string()).is_ok();
        Ok(ReceivedShare {
            share: s,
            skipped: if whole { skipped } else { Vec::new() },
        })
    }
}
