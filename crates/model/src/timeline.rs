//! The custody timeline of a case (issue #13, item 4): every event that moved or exposed its
//! evidence, across organizations, each with the organization, the user, the time and what
//! proves it — an entry of this node's hash-chained audit trail, or a statement signed by
//! another organization (the sharer's grant for a copy, a partner's holding receipt or stop
//! acknowledgement for an origin case).
//!
//! Pure: [`from_audit`] maps audit entries to events; the sharing engine adds the signed
//! statements it keeps and [`sort`] orders the whole. The event kinds are stable names (a CLI
//! `--json` contract): see [`kind_of`].

use crate::audit::{AuditEntry, actions};
use crate::ids::EvidenceId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One custody event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyEvent {
    /// What happened: `ingest`, `transcript`, `view`, `download`, `delete`, `retention_delete`,
    /// `link_create`, `link_download`, `share`, `share_update`, `serve`, `receipt`, `complete`,
    /// `stop`, `stop_ack`, `onward`, `approve`, `received`, `shared_upstream`, `import`, `sync`, `share_inside`,
    /// `share_inside_stop`, `apply_update` (a sharer's metadata update applied to the copy, issue
    /// #14), `partner_edit` (a partner's edit of an access-mode share merged here).
    pub kind: String,
    /// The organization that acted (its name as known here).
    pub org: String,
    /// The user who acted, when a person did (`None` for the system or another organization's
    /// node).
    pub user: Option<String>,
    /// When (UTC).
    pub at: Timestamp,
    /// The evidence item concerned, if one (in the case this timeline is of).
    pub evidence: Option<EvidenceId>,
    /// What the record says (ids, hashes, names; never evidence content).
    pub details: String,
    /// What proves it.
    pub proof: Proof,
}

/// What proves a custody event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Proof {
    /// An entry of this node's audit trail: its sequence number and chain hash (hex).
    Audit {
        /// The entry's sequence number in the case's trail.
        seq: u64,
        /// Its chain hash, hex.
        hash: String,
    },
    /// A statement signed by an organization: verify `wire` (hex) with `signed_by`'s key.
    Signed {
        /// The signing organization's id.
        signed_by: String,
        /// The ed25519 signature, hex.
        signature: String,
        /// The signed statement's wire form, hex (a grant, a holding receipt or a stop
        /// acknowledgement).
        wire: String,
    },
}

/// The custody kind of an audit action, or `None` for an action that neither moved nor exposed
/// evidence (case edits, folder changes, reading the audit trail itself).
pub fn kind_of(action: &str) -> Option<&'static str> {
    Some(match action {
        actions::EVIDENCE_ADD => "ingest",
        actions::TRANSCRIPT_ADD => "transcript",
        actions::EVIDENCE_VIEW => "view",
        actions::EVIDENCE_DOWNLOAD => "download",
        actions::EVIDENCE_DELETE => "delete",
        actions::RETENTION_SWEEP => "retention_delete",
        actions::LINK_CREATE => "link_create",
        actions::LINK_DOWNLOAD => "link_download",
        actions::SHARE_CREATE => "share",
        actions::SHARE_UPDATE => "share_update",
        actions::SHARE_SERVE => "serve",
        actions::SHARE_COMPLETE => "complete",
        actions::SHARE_STOP => "stop",
        actions::SHARE_RECEIPT => "receipt",
        actions::SHARE_STOP_ACK => "stop_ack",
        actions::SHARE_ONWARD => "onward",
        actions::SHARE_APPROVE => "approve",
        actions::CASE_IMPORT => "import",
        actions::CASE_SYNC => "sync",
        actions::CASE_SHARE_INSIDE => "share_inside",
        actions::CASE_SHARE_INSIDE_STOP => "share_inside_stop",
        actions::CASE_UPDATE_APPLY => "apply_update",
        actions::CASE_PARTNER_EDIT => "partner_edit",
        _ => return None,
    })
}

/// The events of a case's audit trail, as acted by `own_org` (this node's organization name).
/// An actor `org:NAME` is another organization's node acting here (a partner fetching bytes):
/// org NAME, no user; `system` is this node itself: no user. The caller may replace the proof
/// of a `receipt` or `stop_ack` event by the partner's signed statement ([`Proof::Signed`]).
pub fn from_audit<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    own_org: &str,
) -> Vec<CustodyEvent> {
    entries
        .into_iter()
        .filter_map(|e| {
            let kind = kind_of(&e.action)?;
            let (org, user) = match e.actor.strip_prefix("org:") {
                Some(name) => (name.to_owned(), None),
                None if e.actor == "system" => (own_org.to_owned(), None),
                None => (own_org.to_owned(), Some(e.actor.clone())),
            };
            Some(CustodyEvent {
                kind: kind.to_owned(),
                org,
                user,
                at: e.time,
                evidence: e.evidence,
                details: e.details.clone(),
                proof: Proof::Audit {
                    seq: e.seq,
                    hash: hex::encode(e.hash),
                },
            })
        })
        .collect()
}

/// Order events by time; events of the same millisecond keep their given order (audit entries
/// in chain order first, then the signed statements added after them).
pub fn sort(events: &mut [CustodyEvent]) {
    events.sort_by_key(|e| e.at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, actor: &str, action: &str) -> AuditEntry {
        AuditEntry {
            seq,
            time: Timestamp(100 - seq),
            actor: actor.into(),
            action: action.into(),
            evidence: None,
            details: format!("d{seq}"),
            prev: [0; 32],
            hash: [seq as u8; 32],
        }
    }

    #[test]
    fn audit_entries_become_events_with_org_and_user() {
        let entries = [
            entry(0, "alice", actions::EVIDENCE_ADD),
            entry(1, "alice", actions::CASE_EDIT),
            entry(2, "org:County DA", actions::SHARE_SERVE),
            entry(3, "system", actions::RETENTION_SWEEP),
            entry(4, "bob", actions::AUDIT_VIEW),
        ];
        let mut events = from_audit(&entries, "Metro PD");
        assert_eq!(
            events
                .iter()
                .map(|e| (e.kind.as_str(), e.org.as_str(), e.user.as_deref()))
                .collect::<Vec<_>>(),
            [
                ("ingest", "Metro PD", Some("alice")),
                ("serve", "County DA", None),
                ("retention_delete", "Metro PD", None),
            ]
        );
        assert_eq!(
            events[1].proof,
            Proof::Audit {
                seq: 2,
                hash: hex::encode([2u8; 32])
            }
        );
        sort(&mut events);
        assert_eq!(events[0].kind, "retention_delete");
    }

    #[test]
    fn every_custody_action_has_a_distinct_kind() {
        let all = [
            actions::EVIDENCE_ADD,
            actions::TRANSCRIPT_ADD,
            actions::EVIDENCE_VIEW,
            actions::EVIDENCE_DOWNLOAD,
            actions::EVIDENCE_DELETE,
            actions::RETENTION_SWEEP,
            actions::LINK_CREATE,
            actions::LINK_DOWNLOAD,
            actions::SHARE_CREATE,
            actions::SHARE_UPDATE,
            actions::SHARE_SERVE,
            actions::SHARE_COMPLETE,
            actions::SHARE_STOP,
            actions::SHARE_RECEIPT,
            actions::SHARE_STOP_ACK,
            actions::SHARE_ONWARD,
            actions::SHARE_APPROVE,
            actions::CASE_IMPORT,
            actions::CASE_SYNC,
            actions::CASE_SHARE_INSIDE,
            actions::CASE_SHARE_INSIDE_STOP,
            actions::CASE_UPDATE_APPLY,
            actions::CASE_PARTNER_EDIT,
        ];
        let kinds: std::collections::BTreeSet<_> = all.iter().filter_map(|a| kind_of(a)).collect();
        assert_eq!(kinds.len(), all.len());
        for not_custody in [
            actions::CASE_EDIT,
            actions::AUDIT_VIEW,
            actions::FOLDER_CHANGE,
        ] {
            assert_eq!(kind_of(not_custody), None);
        }
    }
}
