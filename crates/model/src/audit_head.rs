//! A signed checkpoint of a case's audit chain (issue #13, item 5: offline verification of
//! custody): "the audit trail of case `case` had `len` entries, the last one hashing to `hash`,
//! at `at`", signed with the organization key of the node that keeps the trail.
//!
//! The audit trail is one hash chain per case ([`crate::audit`]), so a checkpoint of that chain is
//! all a verifier needs to check, offline, a copy of the trail's first `len` entries: recompute
//! every entry hash and `prev` link from seq 0, compare the last hash and the count with the
//! checkpoint, and check the signature. A package's audit-trail attachment carries such a prefix
//! and its [`Signed`]`<`[`AuditHead`]`>`.
//!
//! The statement is signed like the other custody statements ([`crate::custody::Signed`], ed25519
//! over the canonical bytes below; ed25519 signatures are deterministic, so the same checkpoint
//! signed by the same key always gives the same bytes):
//! ```text
//! "casemesh-audit-head-v1\0"  case (16)  len (u64)  hash (32)  at (u64)  signer (str)  signer_key (32)
//! ```

use crate::audit::{AuditEntry, ChainError, ChainHead};
use crate::canonical::{Reader, Writer};
use crate::custody::Statement;
use crate::grant::{DecodeError, org_id_from_public_key};
use crate::ids::{CaseId, OrgId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Domain prefix of an audit head's canonical bytes.
pub const AUDIT_HEAD_DOMAIN: &[u8] = b"casemesh-audit-head-v1\0";

/// A checkpoint of one case's audit chain, as signed by the organization keeping it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// The case (record id) whose chain this is.
    pub case: CaseId,
    /// Entries in the chain up to and including the checkpoint (its last entry has seq `len - 1`).
    pub len: u64,
    /// Hash of entry `len - 1` (all zero when `len == 0`).
    #[serde(with = "crate::hex32")]
    pub hash: [u8; 32],
    /// Time of entry `len - 1` (UTC, ms since the Unix epoch): when the case reached the state
    /// the checkpoint covers, not when it was signed (so signing it again gives the same bytes).
    pub at: Timestamp,
    /// The signing organization.
    pub signer: OrgId,
    /// Its ed25519 public key.
    #[serde(with = "crate::hex32")]
    pub signer_key: [u8; 32],
}

impl AuditHead {
    /// The checkpoint of the first `entries.len()` entries of `case`'s trail (the signer is set
    /// when it is signed).
    pub fn of_prefix(case: CaseId, entries: &[AuditEntry]) -> AuditHead {
        let last = entries.last();
        AuditHead {
            case,
            len: entries.len() as u64,
            hash: last.map(|e| e.hash).unwrap_or_default(),
            at: last.map(|e| e.time).unwrap_or(Timestamp(0)),
            signer: OrgId(String::new()),
            signer_key: [0; 32],
        }
    }

    /// The chain head it asserts.
    pub fn chain_head(&self) -> ChainHead {
        ChainHead {
            len: self.len,
            hash: self.hash,
        }
    }

    /// Verify `entries` (seq 0 onwards) against this checkpoint: every entry's hash and `prev`
    /// link, then the count and last hash. The error names the first entry at fault. Does not
    /// check the signature (see [`crate::custody::Signed::verify`]).
    pub fn check(&self, entries: &[AuditEntry]) -> Result<(), ChainError> {
        crate::audit::verify(entries, &self.chain_head())
    }
}

impl Statement for AuditHead {
    fn canonical_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(AUDIT_HEAD_DOMAIN);
        w.raw(self.case.as_bytes());
        w.u64(self.len);
        w.raw(&self.hash);
        w.u64(self.at.0);
        w.str(&self.signer.0);
        w.raw(&self.signer_key);
        w.0
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { buf: bytes };
        r.domain(AUDIT_HEAD_DOMAIN)?;
        let out = AuditHead {
            case: CaseId(uuid::Uuid::from_bytes(r.array::<16>()?)),
            len: r.u64()?,
            hash: r.array::<32>()?,
            at: Timestamp(r.u64()?),
            signer: OrgId(r.str()?),
            signer_key: r.array::<32>()?,
        };
        r.finish()?;
        Ok(out)
    }

    fn signer(&self) -> (&OrgId, &[u8; 32]) {
        (&self.signer, &self.signer_key)
    }

    fn set_signer(&mut self, key: [u8; 32]) {
        self.signer_key = key;
        self.signer = org_id_from_public_key(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::NewEntry;
    use crate::custody::Signed;
    use crate::grant::GrantError;
    use ed25519_dalek::SigningKey;

    fn trail(n: u64) -> Vec<AuditEntry> {
        let mut head = ChainHead::default();
        (0..n)
            .map(|i| {
                let (e, h) = head.append(NewEntry {
                    time: Timestamp(1_000 + i),
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

    #[test]
    fn a_signed_head_is_deterministic_roundtrips_and_checks_its_prefix() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let case = CaseId(uuid::Uuid::from_bytes([0x44; 16]));
        let entries = trail(4);
        let head = AuditHead::of_prefix(case, &entries[..3]);
        assert_eq!(head.at, Timestamp(1_002));
        let a = Signed::sign(head.clone(), &key);
        let b = Signed::sign(head, &key);
        assert_eq!(a.to_bytes(), b.to_bytes(), "same checkpoint, same bytes");
        a.verify().unwrap();
        assert_eq!(Signed::<AuditHead>::from_bytes(&a.to_bytes()).unwrap(), a);
        let json = serde_json::to_string(&a).unwrap();
        let back: Signed<AuditHead> = serde_json::from_str(&json).unwrap();
        back.verify().unwrap();
        assert_eq!(a.statement.check(&entries[..3]), Ok(()));
        assert!(a.statement.check(&entries).is_err(), "longer than signed");
        let mut edited = entries[..3].to_vec();
        edited[1].details = "item forged".into();
        assert_eq!(
            a.statement.check(&edited),
            Err(ChainError::Altered { seq: 1 })
        );
        // Golden: the canonical bytes are pinned (a change is a protocol change: new domain).
        assert_eq!(
            hex::encode(blake3::hash(&a.statement.canonical_bytes()).as_bytes()),
            GOLDEN_HEAD_BYTES_BLAKE3
        );
    }

    const GOLDEN_HEAD_BYTES_BLAKE3: &str =
        "96060f8eadda4fcd6e94ec88975bbcc263cc45b35339b64a5cc7a47fe4f3b2d0";

    #[test]
    fn an_altered_head_or_a_borrowed_signer_is_refused() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let s = Signed::sign(
            AuditHead::of_prefix(CaseId(uuid::Uuid::from_bytes([1; 16])), &trail(2)),
            &key,
        );
        let mut longer = s.clone();
        longer.statement.len += 1;
        assert_eq!(longer.verify(), Err(GrantError::BadSignature));
        let mut posing = s.clone();
        posing.statement.signer =
            org_id_from_public_key(&SigningKey::from_bytes(&[6; 32]).verifying_key().to_bytes());
        assert!(posing.verify().is_err());
    }
}
