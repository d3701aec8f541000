//! The audit-trail attachment: a case's hash-chained audit trail, carried in the package with a
//! signed checkpoint of its chain, so that [`verify`](crate::verify) can check the chain of
//! custody offline (issue #13, item 5).
//!
//! The audit trail is one hash chain per case (`casemesh_model::audit`): entry `n` hashes its
//! own fields with entry `n - 1`'s hash. The attachment at [`AUDIT_TRAIL_PATH`] holds the first
//! `len` entries of the packaged case's chain, from seq 0, and an
//! [`AuditHead`] (case, `len`, hash of the last entry, its time) signed with the same org key as
//! the manifest. The verifier recomputes every entry hash and `prev` link, compares the end of the
//! chain with the signed head and checks the head's signature and signer; an edited, removed or
//! reordered entry is named by its seq ([`AuditProblem::Chain`]). Because the chain is per case,
//! no entry of another case is needed to check it.
//!
//! The attachment is JSON ([`AuditTrail`], pretty-printed, one trailing newline), written by the
//! node that keeps the trail. Its bytes depend only on the entries and the key: the signed head
//! carries the time of the last entry, not the time of signing, and ed25519 signatures are
//! deterministic, so the same trail prefix always gives the same attachment.

use casemesh_model::audit::{AuditEntry, ChainError, ChainHead};
use casemesh_model::audit_head::AuditHead;
use casemesh_model::custody::{Signed, Statement as _};
use casemesh_model::ids::CaseId;
use serde::{Deserialize, Serialize};

/// Package path of the case's audit trail attachment (JSON, [`AuditTrail`]).
pub const AUDIT_TRAIL_PATH: &str = "Audit trail/Case audit trail.json";
/// Value of [`AuditTrail::format`].
pub const AUDIT_TRAIL_FORMAT: &str = "casemesh-audit-trail";
/// Current [`AuditTrail::version`].
pub const AUDIT_TRAIL_VERSION: u32 = 1;
/// Largest attachment a verifier reads, in bytes (about a million entries).
pub(crate) const MAX_AUDIT_TRAIL_BYTES: u64 = 256 << 20;

/// Contents of [`AUDIT_TRAIL_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTrail {
    /// Always [`AUDIT_TRAIL_FORMAT`].
    pub format: String,
    /// [`AUDIT_TRAIL_VERSION`] for this writer.
    pub version: u32,
    /// The case (record id).
    pub case: CaseId,
    /// Its case number (informative).
    pub case_id: String,
    /// Count and last hash of `entries` (informative: the signed head is what is checked).
    pub head: ChainHead,
    /// The checkpoint of the chain at the last entry, signed by the packaging organization.
    pub signed_head: Signed<AuditHead>,
    /// The case's audit entries from seq 0 up to the signed head, in seq order.
    pub entries: Vec<AuditEntry>,
}

impl AuditTrail {
    /// The attachment for the first entries of `case`'s trail (`entries` must start at seq 0),
    /// with its head signed by `key` (the org key that signs the package).
    pub fn new(
        case: CaseId,
        case_number: &str,
        entries: Vec<AuditEntry>,
        key: &ed25519_dalek::SigningKey,
    ) -> AuditTrail {
        let head = AuditHead::of_prefix(case, &entries);
        AuditTrail {
            format: AUDIT_TRAIL_FORMAT.to_owned(),
            version: AUDIT_TRAIL_VERSION,
            case,
            case_id: case_number.to_owned(),
            head: head.chain_head(),
            signed_head: Signed::sign(head, key),
            entries,
        }
    }

    /// The bytes stored in the package: pretty JSON and a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing strings, integers and hex arrays cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// What is wrong with an audit trail attachment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditProblem {
    /// The attachment is not a readable [`AuditTrail`] (or is there twice, or is too large).
    #[error("the audit trail attachment is unreadable: {0}")]
    Unreadable(String),
    /// The signed head's signature does not verify, or its signer id is not its key's.
    #[error("the audit trail's signed head does not verify: {0}")]
    BadSignature(String),
    /// The head is signed by another key than the package manifest.
    #[error("the audit trail's head is signed by {signer}, not by the package's signer")]
    OtherSigner {
        /// The org id that signed the head.
        signer: String,
    },
    /// The head is signed for another case than the one the attachment names.
    #[error("the signed head is for case {signed}, the trail names case {named}")]
    OtherCase {
        /// Case of the signed head.
        signed: CaseId,
        /// Case the attachment names.
        named: CaseId,
    },
    /// The entries do not chain up to the signed head; names the first entry at fault.
    #[error("audit trail: {}", chain_text(.0))]
    Chain(ChainError),
}

fn chain_text(e: &ChainError) -> String {
    match e {
        ChainError::Truncated { expected, found } if expected == found => {
            format!("the {found} entries do not end in the signed head: entries were rewritten")
        }
        other => other.to_string(),
    }
}

/// The outcome of checking an audit trail attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheck {
    /// Entries in the attachment.
    pub entries: u64,
    /// Entries the signed head covers.
    pub signed_len: u64,
    /// Org id named by the signed head (empty when unreadable).
    pub signer: String,
    /// What is wrong, if anything.
    pub problem: Option<AuditProblem>,
}

impl AuditCheck {
    /// Every entry chains up to a head validly signed by the package's signer.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Check the attachment `bytes` (as found in the package) against `manifest_key` (hex public
/// key of the manifest's signer).
pub(crate) fn check(bytes: Option<&[u8]>, manifest_key: &str) -> AuditCheck {
    let failed = |problem| AuditCheck {
        entries: 0,
        signed_len: 0,
        signer: String::new(),
        problem: Some(problem),
    };
    let Some(bytes) = bytes else {
        return failed(AuditProblem::Unreadable(
            "duplicated, unreadable or too large".into(),
        ));
    };
    let trail: AuditTrail = match serde_json::from_slice(bytes) {
        Ok(t) => t,
        Err(e) => return failed(AuditProblem::Unreadable(e.to_string())),
    };
    let head = &trail.signed_head.statement;
    let (signer, key) = head.signer();
    let problem = if let Err(e) = trail.signed_head.verify() {
        Some(AuditProblem::BadSignature(e.to_string()))
    } else if !hex::encode(key).eq_ignore_ascii_case(manifest_key) {
        Some(AuditProblem::OtherSigner {
            signer: signer.0.clone(),
        })
    } else if head.case != trail.case {
        Some(AuditProblem::OtherCase {
            signed: head.case,
            named: trail.case,
        })
    } else {
        head.check(&trail.entries).err().map(AuditProblem::Chain)
    };
    AuditCheck {
        entries: trail.entries.len() as u64,
        signed_len: head.len,
        signer: signer.0.clone(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casemesh_model::audit::NewEntry;
    use casemesh_model::time::Timestamp;

    fn entries(n: u64) -> Vec<AuditEntry> {
        let mut head = ChainHead::default();
        (0..n)
            .map(|i| {
                let (e, h) = head.append(NewEntry {
                    time: Timestamp(10 + i),
                    actor: "ada".into(),
                    action: "evidence.add".into(),
                    evidence: None,
                    details: format!("item {i}"),
                });
                head = h;
                e
            })
            .collect()
    }

    fn key(seed: u8) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
    }

    fn pk(seed: u8) -> String {
        hex::encode(key(seed).verifying_key().to_bytes())
    }

    fn case() -> CaseId {
        CaseId(uuid::Uuid::from_bytes([3; 16]))
    }

    #[test]
    fn an_intact_trail_checks_and_its_bytes_are_deterministic() {
        let a = AuditTrail::new(case(), "C-1", entries(5), &key(1)).to_bytes();
        let b = AuditTrail::new(case(), "C-1", entries(5), &key(1)).to_bytes();
        assert_eq!(a, b);
        let c = check(Some(&a), &pk(1));
        assert!(c.is_ok(), "{c:?}");
        assert_eq!((c.entries, c.signed_len), (5, 5));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut t = AuditTrail::new(case(), "C-1", entries(5), &key(1));
        t.entries[2].actor = "mallory".into();
        let c = check(Some(&t.to_bytes()), &pk(1));
        assert_eq!(
            c.problem,
            Some(AuditProblem::Chain(ChainError::Altered { seq: 2 }))
        );
        assert!(c.problem.unwrap().to_string().contains("entry 2"));
    }

    #[test]
    fn a_dropped_or_rewritten_tail_and_a_foreign_head_are_refused() {
        let mut t = AuditTrail::new(case(), "C-1", entries(5), &key(1));
        t.entries.pop();
        assert!(matches!(
            check(Some(&t.to_bytes()), &pk(1)).problem,
            Some(AuditProblem::Chain(ChainError::Truncated { .. }))
        ));
        // A trail rewritten with consistent hashes still does not end in the signed head.
        let mut rewritten = entries(5);
        let before_last = ChainHead {
            len: 4,
            hash: rewritten[3].hash,
        };
        rewritten[4] = before_last
            .append(NewEntry {
                time: Timestamp(99),
                actor: "mallory".into(),
                action: "evidence.add".into(),
                evidence: None,
                details: String::new(),
            })
            .0;
        let mut t = AuditTrail::new(case(), "C-1", entries(5), &key(1));
        t.entries = rewritten;
        let c = check(Some(&t.to_bytes()), &pk(1));
        assert!(
            c.problem.unwrap().to_string().contains("rewritten"),
            "rewritten tail"
        );
        // Signed by another key than the manifest's.
        let t = AuditTrail::new(case(), "C-1", entries(2), &key(2));
        assert!(matches!(
            check(Some(&t.to_bytes()), &pk(1)).problem,
            Some(AuditProblem::OtherSigner { .. })
        ));
        // A head whose count was raised no longer verifies.
        let mut t = AuditTrail::new(case(), "C-1", entries(2), &key(1));
        t.signed_head.statement.len = 3;
        assert!(matches!(
            check(Some(&t.to_bytes()), &pk(1)).problem,
            Some(AuditProblem::BadSignature(_))
        ));
        assert!(matches!(
            check(Some(b"{}"), &pk(1)).problem,
            Some(AuditProblem::Unreadable(_))
        ));
    }
}
