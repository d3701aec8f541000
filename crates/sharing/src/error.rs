//! The sharing engine's error type: expected refusals (not found, invalid, forbidden, conflict)
//! kept apart from store and network failures, and the one place that decides what a partner is
//! told about one ([`SharingError::wire_status`]). A "not found" names what is missing and by
//! which id or reference ([`Missing`]), not free text.

use std::fmt;

use casemesh_model::ids::{CaseId, EvidenceId, OrgId, ShareId};
use casemesh_net::{ControlStatus, NetError};
use casemesh_store::StoreError;

/// What can go wrong in the sharing engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharingError {
    /// No such partner, share, case or evidence: [`Missing`] says which, by its id or the
    /// reference a user typed.
    #[error("{0}")]
    NotFound(Missing),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Not allowed by the grant, the policy or the share's state.
    #[error("{0}")]
    Forbidden(String),
    /// Clashes with existing state (a partner name taken, a share already stopped).
    #[error("{0}")]
    Conflict(String),
    /// This node failed internally (a task panicked, no randomness). Never reported to a partner
    /// as a refusal: the partner retries.
    #[error("internal error: {0}")]
    Internal(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network failed (boxed: network errors are large and rare).
    #[error("network: {0}")]
    Net(Box<NetError>),
}

impl From<NetError> for SharingError {
    fn from(e: NetError) -> Self {
        SharingError::Net(Box::new(e))
    }
}

impl SharingError {
    /// Whether this is a refusal that will not change on retry (bad input, not allowed, no such
    /// thing, a clash): the partner is told `Rejected`, a caller gets a 4xx. Everything else
    /// (store, network, internal) is worth retrying.
    pub fn is_refusal(&self) -> bool {
        match self {
            SharingError::NotFound(_)
            | SharingError::Invalid(_)
            | SharingError::Forbidden(_)
            | SharingError::Conflict(_) => true,
            // No such record, a taken name or case number: the data's answer, the same on
            // every retry ([`StoreError::is_refusal`]).
            SharingError::Store(e) => e.is_refusal(),
            _ => false,
        }
    }

    /// What a partner is told when this node could not apply its control message: the one
    /// place the wire refusal decision is made (every answer to a partner's control message
    /// goes through it). A refusal ([`SharingError::is_refusal`]) is `Rejected` with the
    /// message: the partner's outbox drops the message for good. Anything else is `Failed`:
    /// the partner keeps the message and sends it again, so an internal fault here never
    /// becomes a permanent rejection there (docs/protocol.md, "Control statuses").
    pub fn wire_status(&self) -> ControlStatus {
        if self.is_refusal() {
            ControlStatus::Rejected(self.to_string())
        } else {
            ControlStatus::Failed(self.to_string())
        }
    }
}

/// What a [`SharingError::NotFound`] did not find, with the typed id (or, where a user names
/// it by text, the reference as typed) it was looked up by. Its `Display` is the whole message
/// users see, of the form `share "ID" not found` (ids and references in double quotes, as the
/// other not-found errors of the node say it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// An outgoing share of this node.
    Share(ShareId),
    /// A share id as a caller typed it, naming no outgoing share; text that is no share id at
    /// all reads the same (a malformed id and an unknown one are told apart by no one).
    ShareText(String),
    /// A share this node received.
    ReceivedShare(ShareId),
    /// A received share as a user referred to it (share id, the copy's case id or Case ID, or
    /// the sharer's case number), matching none.
    ReceivedShareText(String),
    /// A registered partner, by org id.
    Partner(OrgId),
    /// A registered partner as a user named it (display name or PeerId), matching none.
    PartnerText(String),
    /// A sharing policy, by name (policies have no other id).
    Policy(String),
    /// A case of this node.
    Case(CaseId),
    /// An item of received share `share` as a user named it (the sharer's evidence id, display
    /// id or name), matching none the user may see.
    ReceivedItem {
        /// The received share.
        share: ShareId,
        /// The name as typed.
        name: String,
    },
    /// The local copy of the sharer's item `evidence` of received share `share` (not imported,
    /// or deleted from the copy).
    CopyEvidence {
        /// The received share.
        share: ShareId,
        /// The sharer's evidence id.
        evidence: EvidenceId,
    },
    /// The local copy of received share `.0`, which no longer exists (deleted).
    Copy(ShareId),
    /// The local copy of received share `.0`, which was not imported yet.
    NotImported(ShareId),
    /// A local user to own a new copy: no recipient of the share is a local user and no user
    /// administers this node.
    CopyOwner,
    /// An item the sharer no longer serves (deleted, or out of the share's scope), with the
    /// sharer's reason as it gave it.
    AtSharer {
        /// The sharer's refusal reason.
        reason: String,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Share(id) => write!(f, "share \"{id}\" not found"),
            Missing::ShareText(text) => write!(f, "share {text:?} not found"),
            Missing::ReceivedShare(id) => write!(f, "received share \"{id}\" not found"),
            Missing::ReceivedShareText(text) => write!(f, "received share {text:?} not found"),
            Missing::Partner(org) => write!(f, "partner \"{org}\" not found"),
            Missing::PartnerText(text) => write!(f, "partner {text:?} not found"),
            Missing::Policy(name) => write!(f, "sharing policy {name:?} not found"),
            Missing::Case(id) => write!(f, "case \"{id}\" not found"),
            Missing::ReceivedItem { share, name } => {
                write!(f, "evidence {name:?} in received share \"{share}\" not found")
            }
            Missing::CopyEvidence { share, evidence } => write!(
                f,
                "evidence \"{evidence}\" of received share \"{share}\" not found in the local copy"
            ),
            Missing::Copy(share) => {
                write!(f, "the local copy of received share \"{share}\" not found")
            }
            Missing::NotImported(share) => write!(
                f,
                "the local copy of received share \"{share}\" not found: it was not imported yet (import it first: casemesh received import {share})"
            ),
            Missing::CopyOwner => f.write_str(
                "a local owner for the copy not found (no recipient is a local user and no user administers this node)",
            ),
            Missing::AtSharer { reason } => {
                write!(f, "the item was not found at the sharer, which no longer serves it: {reason}")
            }
        }
    }
}

impl From<Missing> for SharingError {
    fn from(m: Missing) -> Self {
        SharingError::NotFound(m)
    }
}

/// Result of the engine's operations.
pub type Result<T, E = SharingError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #9 point 4: only a refusal is `Rejected` (the partner drops the message); a fault
    /// of this node is `Failed` (the partner sends it again).
    #[test]
    fn only_refusals_are_rejected_on_the_wire() {
        let rejected = [
            SharingError::NotFound(Missing::ShareText("x".into())),
            SharingError::Invalid("bad".into()),
            SharingError::Forbidden("policy".into()),
            SharingError::Conflict("stopped".into()),
            SharingError::Store(StoreError::NotFound("case y".into())),
        ];
        for e in rejected {
            assert_eq!(e.wire_status(), ControlStatus::Rejected(e.to_string()));
        }
        let failed = [
            SharingError::Internal("task died".into()),
            SharingError::Store(StoreError::Db("io".into())),
            SharingError::Store(StoreError::NoSpace {
                needed: 2,
                available: 1,
            }),
            SharingError::Net(Box::new(NetError::Interrupted("reset".into()))),
        ];
        for e in failed {
            assert_eq!(e.wire_status(), ControlStatus::Failed(e.to_string()));
        }
    }

    /// Every kind of [`Missing`] renders the message users see (the CLI prints it after
    /// `error:`; the API puts it in the answer's `message`), and every one is a refusal.
    #[test]
    fn each_missing_kind_says_what_and_which() {
        let share: ShareId = "11111111-1111-4111-8111-111111111111".parse().expect("id");
        let case: CaseId = "22222222-2222-4222-8222-222222222222".parse().expect("id");
        let ev: EvidenceId = "33333333-3333-4333-8333-333333333333".parse().expect("id");
        let s = "11111111-1111-4111-8111-111111111111";
        let cases = [
            (Missing::Share(share), format!("share \"{s}\" not found")),
            (
                Missing::ShareText("not-a-share".into()),
                "share \"not-a-share\" not found".into(),
            ),
            (
                Missing::ReceivedShare(share),
                format!("received share \"{s}\" not found"),
            ),
            (
                Missing::ReceivedShareText("2026-CR-7".into()),
                "received share \"2026-CR-7\" not found".into(),
            ),
            (
                Missing::Partner(OrgId("12D3KooWA".into())),
                "partner \"12D3KooWA\" not found".into(),
            ),
            (
                Missing::PartnerText("County DA".into()),
                "partner \"County DA\" not found".into(),
            ),
            (
                Missing::Policy("strict".into()),
                "sharing policy \"strict\" not found".into(),
            ),
            (
                Missing::Case(case),
                "case \"22222222-2222-4222-8222-222222222222\" not found".into(),
            ),
            (
                Missing::ReceivedItem {
                    share,
                    name: "door.jpg".into(),
                },
                format!("evidence \"door.jpg\" in received share \"{s}\" not found"),
            ),
            (
                Missing::CopyEvidence {
                    share,
                    evidence: ev,
                },
                format!(
                    "evidence \"33333333-3333-4333-8333-333333333333\" of received share \"{s}\" not found in the local copy"
                ),
            ),
            (
                Missing::Copy(share),
                format!("the local copy of received share \"{s}\" not found"),
            ),
            (
                Missing::NotImported(share),
                format!(
                    "the local copy of received share \"{s}\" not found: it was not imported yet (import it first: casemesh received import {s})"
                ),
            ),
            (
                Missing::CopyOwner,
                "a local owner for the copy not found (no recipient is a local user and no user administers this node)".into(),
            ),
            (
                Missing::AtSharer {
                    reason: "stopped".into(),
                },
                "the item was not found at the sharer, which no longer serves it: stopped".into(),
            ),
        ];
        for (missing, text) in cases {
            let e = SharingError::from(missing);
            assert_eq!(e.to_string(), text);
            assert!(e.is_refusal(), "{e}");
            assert_eq!(e.wire_status(), ControlStatus::Rejected(text));
        }
    }
}
