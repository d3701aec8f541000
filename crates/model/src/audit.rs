//! The per-case audit trail: append-only, hash-chained.
//!
//! Each [`AuditEntry`] carries its sequence number, the hash of the previous entry, and its own
//! hash over all of that. An edited entry no longer matches its hash; a removed or reordered
//! entry breaks the `seq`/`prev` links; removing entries from the end is caught by comparing with
//! the [`ChainHead`] the store keeps beside the trail. [`verify`] names the first entry at fault.

use crate::ids::EvidenceId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Domain separation for the entry hash; bump the suffix if the hashed layout ever changes.
const ENTRY_DOMAIN: &[u8] = b"casemesh-audit-entry-v1\0";

/// What happened, as recorded (a stable dotted name such as `evidence.download`).
pub mod actions {
    /// A case was created.
    pub const CASE_CREATE: &str = "case.create";
    /// A case was viewed.
    pub const CASE_VIEW: &str = "case.view";
    /// Case fields were edited.
    pub const CASE_EDIT: &str = "case.edit";
    /// A folder was created, renamed, moved or deleted.
    pub const FOLDER_CHANGE: &str = "folder.change";
    /// Evidence was added.
    pub const EVIDENCE_ADD: &str = "evidence.add";
    /// Evidence metadata was viewed.
    pub const EVIDENCE_VIEW: &str = "evidence.view";
    /// Evidence bytes were downloaded.
    pub const EVIDENCE_DOWNLOAD: &str = "evidence.download";
    /// Evidence metadata was edited or the item moved.
    pub const EVIDENCE_EDIT: &str = "evidence.edit";
    /// Evidence was deleted by a user.
    pub const EVIDENCE_DELETE: &str = "evidence.delete";
    /// A transcript was attached.
    pub const TRANSCRIPT_ADD: &str = "transcript.add";
    /// The retention policy changed.
    pub const RETENTION_SET: &str = "retention.set";
    /// Evidence was removed by the retention sweeper.
    pub const RETENTION_SWEEP: &str = "retention.sweep";
    /// The audit trail was read or verified.
    pub const AUDIT_VIEW: &str = "audit.view";
    /// A download link was created.
    pub const LINK_CREATE: &str = "link.create";
    /// A download link was revoked.
    pub const LINK_REVOKE: &str = "link.revoke";
    /// A download link's package was downloaded (link id, client address, range).
    pub const LINK_DOWNLOAD: &str = "link.download";
    /// The case (or part of it) was shared with a partner.
    pub const SHARE_CREATE: &str = "share.create";
    /// Recipients were added to an existing share.
    pub const SHARE_RECIPIENTS: &str = "share.recipients";
    /// Evidence was sent to a partner as an update of a share.
    pub const SHARE_UPDATE: &str = "share.update";
    /// A share was stopped (revoked).
    pub const SHARE_STOP: &str = "share.stop";
    /// A partner's node holds every item of a share.
    pub const SHARE_COMPLETE: &str = "share.complete";
    /// A partner signed a holding receipt for a share's items (issue #13).
    pub const SHARE_RECEIPT: &str = "share.receipt";
    /// A partner signed that it took in the stop of a share.
    pub const SHARE_STOP_ACK: &str = "share.stop.ack";
    /// A second person approved a share waiting for approval (two-person approval).
    pub const SHARE_APPROVE: &str = "share.approve";
    /// A partner shared onward a case shared with it (a child grant below one of ours).
    pub const SHARE_ONWARD: &str = "share.onward";
    /// A share's message could never be delivered to the partner (dead-lettered).
    pub const SHARE_FAILED: &str = "share.failed";
    /// An import went around an item the sharer refused for good.
    pub const CASE_SYNC_SKIP: &str = "case.sync.skip";
    /// A partner fetched evidence bytes under a grant.
    pub const SHARE_SERVE: &str = "share.serve";
    /// A case received from a partner was imported (a copy created here).
    pub const CASE_IMPORT: &str = "case.import";
    /// New evidence from the sharer arrived in an imported copy (case synchronization).
    pub const CASE_SYNC: &str = "case.sync";
    /// Users or groups of the own organization were given access to (part of) a case.
    pub const CASE_SHARE_INSIDE: &str = "case.share.inside";
    /// An inside share was stopped: the access it gave was taken back.
    pub const CASE_SHARE_INSIDE_STOP: &str = "case.share.inside.stop";
    /// The receiver applied a sharer's metadata update to its copy (issue #14).
    pub const CASE_UPDATE_APPLY: &str = "case.update.apply";
    /// The receiver dismissed a sharer's metadata update (issue #14).
    pub const CASE_UPDATE_DISMISS: &str = "case.update.dismiss";
    /// A partner's edit of an access-mode share's metadata, merged here (issue #14).
    pub const CASE_PARTNER_EDIT: &str = "case.partner.edit";
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 0 for the first entry of a case, then +1.
    pub seq: u64,
    /// When.
    pub time: Timestamp,
    /// Who: a username, `system`, or `org:<name>` for a partner.
    pub actor: String,
    /// What, e.g. `evidence.add` (see [`actions`]).
    pub action: String,
    /// The evidence item concerned, if any.
    pub evidence: Option<EvidenceId>,
    /// Free-form details (ids, hashes, names; never evidence content).
    pub details: String,
    /// Hash of the previous entry (all zero for the first).
    #[serde(with = "crate::hex32")]
    pub prev: [u8; 32],
    /// Hash of this entry.
    #[serde(with = "crate::hex32")]
    pub hash: [u8; 32],
}

/// What the store remembers about the end of a trail, so truncation is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChainHead {
    /// Number of entries.
    pub len: u64,
    /// Hash of the last entry (zero when empty).
    #[serde(with = "crate::hex32")]
    pub hash: [u8; 32],
}

/// The fields of an entry before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// When.
    pub time: Timestamp,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which evidence item, if any.
    pub evidence: Option<EvidenceId>,
    /// Details.
    pub details: String,
}

fn entry_hash(seq: u64, prev: &[u8; 32], e: &NewEntry) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(ENTRY_DOMAIN);
    h.update(&seq.to_le_bytes());
    h.update(prev);
    h.update(&e.time.0.to_le_bytes());
    for field in [
        e.actor.as_bytes(),
        e.action.as_bytes(),
        e.details.as_bytes(),
    ] {
        h.update(&(field.len() as u64).to_le_bytes());
        h.update(field);
    }
    match e.evidence {
        Some(id) => h.update(&[1]).update(id.as_bytes()),
        None => h.update(&[0]),
    };
    *h.finalize().as_bytes()
}

impl ChainHead {
    /// Chain `entry` after this head, returning the entry and the new head.
    pub fn append(&self, entry: NewEntry) -> (AuditEntry, ChainHead) {
        let hash = entry_hash(self.len, &self.hash, &entry);
        let e = AuditEntry {
            seq: self.len,
            time: entry.time,
            actor: entry.actor,
            action: entry.action,
            evidence: entry.evidence,
            details: entry.details,
            prev: self.hash,
            hash,
        };
        (
            e,
            ChainHead {
                len: self.len + 1,
                hash,
            },
        )
    }
}

/// Why a trail failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The entry's contents do not match its hash (edited).
    #[error("entry {seq} was altered: its contents do not match its hash")]
    Altered {
        /// Sequence number of the entry.
        seq: u64,
    },
    /// The entry does not follow the one before (removed or reordered entries).
    #[error(
        "entry at position {position} breaks the chain (expected seq {expected}, found {found}): entries removed or reordered"
    )]
    Broken {
        /// Position in the trail as read.
        position: u64,
        /// Sequence number expected there.
        expected: u64,
        /// Sequence number found.
        found: u64,
    },
    /// Fewer or more entries than the recorded head says, or a different last hash.
    #[error(
        "trail ends at {found} entries but {expected} were recorded: entries removed from the end"
    )]
    Truncated {
        /// Length recorded in the head.
        expected: u64,
        /// Length found.
        found: u64,
    },
}

/// Verify a whole trail against the head recorded beside it.
pub fn verify(entries: &[AuditEntry], head: &ChainHead) -> Result<(), ChainError> {
    let mut prev = [0u8; 32];
    for (i, e) in entries.iter().enumerate() {
        let position = i as u64;
        if e.seq != position || e.prev != prev {
            return Err(ChainError::Broken {
                position,
                expected: position,
                found: e.seq,
            });
        }
        let fields = NewEntry {
            time: e.time,
            actor: e.actor.clone(),
            action: e.action.clone(),
            evidence: e.evidence,
            details: e.details.clone(),
        };
        if entry_hash(e.seq, &e.prev, &fields) != e.hash {
            return Err(ChainError::Altered { seq: e.seq });
        }
        prev = e.hash;
    }
    let found = entries.len() as u64;
    if found != head.len || prev != head.hash {
        return Err(ChainError::Truncated {
            expected: head.len,
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trail(n: usize) -> (Vec<AuditEntry>, ChainHead) {
        let mut head = ChainHead::default();
        let mut out = Vec::new();
        for i in 0..n {
            let (e, h) = head.append(NewEntry {
                time: Timestamp(i as u64 * 10),
                actor: format!("user{i}"),
                action: actions::EVIDENCE_VIEW.into(),
                evidence: (i % 2 == 0).then(EvidenceId::random),
                details: format!("detail {i}"),
            });
            out.push(e);
            head = h;
        }
        (out, head)
    }

    #[test]
    fn intact_trail_verifies() {
        let (t, h) = trail(5);
        assert_eq!(verify(&t, &h), Ok(()));
        assert_eq!(verify(&[], &ChainHead::default()), Ok(()));
    }

    #[test]
    fn json_roundtrip_keeps_verification() {
        let (t, h) = trail(3);
        let json = serde_json::to_string(&t).unwrap();
        let back: Vec<AuditEntry> = serde_json::from_str(&json).unwrap();
        assert_eq!(verify(&back, &h), Ok(()));
    }

    #[derive(Debug, Clone)]
    enum Tamper {
        Actor(String),
        Action(String),
        Details(String),
        Time(u64),
        DropEvidence,
        Remove,
        SwapWithNext,
    }

    fn tamper() -> impl Strategy<Value = Tamper> {
        prop_oneof![
            ".{0,8}".prop_map(Tamper::Actor),
            ".{0,8}".prop_map(Tamper::Action),
            ".{0,8}".prop_map(Tamper::Details),
            any::<u64>().prop_map(Tamper::Time),
            Just(Tamper::DropEvidence),
            Just(Tamper::Remove),
            Just(Tamper::SwapWithNext),
        ]
    }

    proptest! {
        /// Any single edit, removal or swap anywhere in the trail is detected.
        #[test]
        fn any_single_tamper_is_detected(n in 1usize..12, pick in any::<prop::sample::Index>(), t in tamper()) {
            let (mut entries, head) = trail(n);
            let i = pick.index(n);
            let changed = match t {
                Tamper::Actor(s) => { let c = entries[i].actor != s; entries[i].actor = s; c }
                Tamper::Action(s) => { let c = entries[i].action != s; entries[i].action = s; c }
                Tamper::Details(s) => { let c = entries[i].details != s; entries[i].details = s; c }
                Tamper::Time(t) => { let c = entries[i].time.0 != t; entries[i].time = Timestamp(t); c }
                Tamper::DropEvidence => { let c = entries[i].evidence.is_some(); entries[i].evidence = None; c }
                Tamper::Remove => { entries.remove(i); true }
                Tamper::SwapWithNext => { if i + 1 < n { entries.swap(i, i + 1); true } else { false } }
            };
            prop_assume!(changed);
            prop_assert!(verify(&entries, &head).is_err());
        }
    }
}
