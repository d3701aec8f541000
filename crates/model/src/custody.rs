//! Signed custody statements a receiving organization gives the sharer (issue #13, item 3): a
//! [`HoldingReceipt`] ("we hold these evidence items, these exact bytes, durably") and a
//! [`StopAck`] ("we took in your stop"). Both are signed with the receiving node's organization
//! key, so the sharer can show a court, offline, that the partner confirmed what it received.
//!
//! A receipt must not grow with the share (a share may hold 100,000 items), so it signs a digest
//! of the items instead of listing them: [`RootsDigest`] runs over one 48-byte line per held item,
//! the sharer's 16-byte evidence id followed by the item's 32-byte BLAKE3 root, in ascending
//! evidence-id order — the order both nodes keep their item rows in, so each side computes it
//! streaming, with memory flat in the item count. The lines themselves are the **roots list**; its
//! BLAKE3 hash *is* the digest, so the list can travel as an ordinary verified blob and be checked
//! against the signed receipt by anyone.
//!
//! Canonical bytes (primitives of `crate::canonical`):
//! ```text
//! receipt:  "casemesh-receipt-v1\0"  share (16)  grant_hash (32)  holder (str)  holder_key (32)
//!           seq (u64)  items (u64)  roots (32)  at (u64)
//! stop ack: "casemesh-stop-ack-v1\0" share (16)  revocation_hash (32)  holder (str)
//!           holder_key (32)  at (u64)
//! ```

use crate::canonical::{Reader, Writer, signed_wire, split_signed};
use crate::grant::{DecodeError, GrantError, check_signature, org_id_from_public_key, sig_hex};
use crate::ids::{BlobHash, EvidenceId, OrgId, ShareId};
use crate::time::Timestamp;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

/// Domain prefix of a holding receipt's canonical bytes.
pub const RECEIPT_DOMAIN: &[u8] = b"casemesh-receipt-v1\0";
/// Domain prefix of a stop acknowledgement's canonical bytes.
pub const STOP_ACK_DOMAIN: &[u8] = b"casemesh-stop-ack-v1\0";
/// Bytes of one line of a roots list: evidence id (16) + BLAKE3 root (32).
pub const ROOTS_LINE: usize = 48;

/// "We hold these items of your share, durably": signed by the receiving organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingReceipt {
    /// The share (= grant id).
    pub share: ShareId,
    /// [`SignedGrant::hash`](crate::grant::SignedGrant::hash) of the grant version it was
    /// received under.
    pub grant_hash: [u8; 32],
    /// The receiving organization.
    pub holder: OrgId,
    /// Its ed25519 public key.
    pub holder_key: [u8; 32],
    /// The last item list of the share held completely.
    pub seq: u64,
    /// How many items the roots list has.
    pub items: u64,
    /// [`RootsDigest`] of the items held: the BLAKE3 hash of the roots list.
    pub roots: [u8; 32],
    /// When it was signed (UTC).
    pub at: Timestamp,
}

/// "We took in your stop": signed by the receiving organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopAck {
    /// The stopped share.
    pub share: ShareId,
    /// BLAKE3 of the revocation's wire form it acknowledges.
    pub revocation_hash: [u8; 32],
    /// The receiving organization.
    pub holder: OrgId,
    /// Its ed25519 public key.
    pub holder_key: [u8; 32],
    /// When it was signed (UTC).
    pub at: Timestamp,
}

/// A statement and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// The statement.
    pub statement: T,
    /// ed25519 by the holder key over the canonical bytes.
    #[serde(with = "sig_hex")]
    pub signature: [u8; 64],
}

/// A custody statement: canonical bytes and who signs them.
pub trait Statement: Sized {
    /// The bytes signed.
    fn canonical_bytes(&self) -> Vec<u8>;
    /// Decode canonical bytes.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
    /// The signer's org id and key.
    fn signer(&self) -> (&OrgId, &[u8; 32]);
    /// Set the signer from a key (so a statement is only ever signed in its key's own name).
    fn set_signer(&mut self, key: [u8; 32]);
}

impl Statement for HoldingReceipt {
    fn canonical_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(RECEIPT_DOMAIN);
        w.raw(self.share.as_bytes());
        w.raw(&self.grant_hash);
        w.str(&self.holder.0);
        w.raw(&self.holder_key);
        w.u64(self.seq);
        w.u64(self.items);
        w.raw(&self.roots);
        w.u64(self.at.0);
        w.0
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { buf: bytes };
        r.domain(RECEIPT_DOMAIN)?;
        let out = HoldingReceipt {
            share: ShareId(uuid::Uuid::from_bytes(r.array::<16>()?)),
            grant_hash: r.array::<32>()?,
            holder: OrgId(r.str()?),
            holder_key: r.array::<32>()?,
            seq: r.u64()?,
            items: r.u64()?,
            roots: r.array::<32>()?,
            at: Timestamp(r.u64()?),
        };
        r.finish()?;
        Ok(out)
    }

    fn signer(&self) -> (&OrgId, &[u8; 32]) {
        (&self.holder, &self.holder_key)
    }

    fn set_signer(&mut self, key: [u8; 32]) {
        self.holder_key = key;
        self.holder = org_id_from_public_key(&key);
    }
}

impl Statement for StopAck {
    fn canonical_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(STOP_ACK_DOMAIN);
        w.raw(self.share.as_bytes());
        w.raw(&self.revocation_hash);
        w.str(&self.holder.0);
        w.raw(&self.holder_key);
        w.u64(self.at.0);
        w.0
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { buf: bytes };
        r.domain(STOP_ACK_DOMAIN)?;
        let out = StopAck {
            share: ShareId(uuid::Uuid::from_bytes(r.array::<16>()?)),
            revocation_hash: r.array::<32>()?,
            holder: OrgId(r.str()?),
            holder_key: r.array::<32>()?,
            at: Timestamp(r.u64()?),
        };
        r.finish()?;
        Ok(out)
    }

    fn signer(&self) -> (&OrgId, &[u8; 32]) {
        (&self.holder, &self.holder_key)
    }

    fn set_signer(&mut self, key: [u8; 32]) {
        self.holder_key = key;
        self.holder = org_id_from_public_key(&key);
    }
}

impl<T: Statement> Signed<T> {
    /// Sign `statement` with `key`, setting its signer from the key.
    pub fn sign(mut statement: T, key: &SigningKey) -> Signed<T> {
        statement.set_signer(key.verifying_key().to_bytes());
        let signature = key.sign(&statement.canonical_bytes()).to_bytes();
        Signed {
            statement,
            signature,
        }
    }

    /// Check the signature and that the signer id belongs to the key. Does not say *which*
    /// organization should have signed: compare [`Statement::signer`] with the partner expected.
    pub fn verify(&self) -> Result<(), GrantError> {
        let (org, key) = self.statement.signer();
        check_signature(org, key, &self.statement.canonical_bytes(), &self.signature)
    }

    /// The wire form: `u32` length + canonical bytes, then the 64-byte signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        signed_wire(&self.statement.canonical_bytes(), &self.signature)
    }

    /// Decode a wire form (at most [`MAX_WIRE_BYTES`](crate::grant::MAX_WIRE_BYTES)). Does not
    /// verify.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signed<T>, DecodeError> {
        let (canonical, signature) = split_signed(bytes)?;
        Ok(Signed {
            statement: T::decode(canonical)?,
            signature,
        })
    }
}

/// Why a roots list line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootsError {
    /// Lines must come in strictly ascending evidence-id order (no duplicates).
    #[error("evidence {0} is out of order in the roots list")]
    OutOfOrder(EvidenceId),
}

/// The digest of a roots list, computed line by line (memory flat in the item count). Its result
/// equals the BLAKE3 hash of the concatenated lines, so a roots list stored as a blob has this
/// digest as its blob hash.
#[derive(Default)]
pub struct RootsDigest {
    hasher: blake3::Hasher,
    last: Option<EvidenceId>,
    count: u64,
}

impl RootsDigest {
    /// An empty list.
    pub fn new() -> RootsDigest {
        RootsDigest::default()
    }

    /// The line of an item: evidence id then root.
    pub fn line(id: EvidenceId, root: &BlobHash) -> [u8; ROOTS_LINE] {
        let mut out = [0u8; ROOTS_LINE];
        out[..16].copy_from_slice(id.0.as_bytes());
        out[16..].copy_from_slice(&root.0);
        out
    }

    /// Add the next item; ids must ascend strictly.
    pub fn push(&mut self, id: EvidenceId, root: &BlobHash) -> Result<(), RootsError> {
        if self.last.is_some_and(|l| l.0.as_bytes() >= id.0.as_bytes()) {
            return Err(RootsError::OutOfOrder(id));
        }
        self.hasher.update(&Self::line(id, root));
        self.last = Some(id);
        self.count += 1;
        Ok(())
    }

    /// Items pushed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest.
    pub fn finish(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn receipt() -> HoldingReceipt {
        HoldingReceipt {
            share: ShareId(uuid::Uuid::from_bytes([0x11; 16])),
            grant_hash: [0x22; 32],
            holder: OrgId(String::new()),
            holder_key: [0; 32],
            seq: 3,
            items: 2,
            roots: [0x33; 32],
            at: Timestamp(1_800_000_000_000),
        }
    }

    #[test]
    fn a_signed_receipt_roundtrips_verifies_and_names_its_signer() {
        let s = Signed::sign(receipt(), &key(7));
        s.verify().unwrap();
        assert_eq!(
            s.statement.holder,
            org_id_from_public_key(&key(7).verifying_key().to_bytes())
        );
        let back = Signed::<HoldingReceipt>::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        // Golden: the canonical bytes are pinned (a change is a protocol change: new domain).
        let bytes = s.statement.canonical_bytes();
        assert_eq!(&bytes[..RECEIPT_DOMAIN.len()], RECEIPT_DOMAIN);
        assert_eq!(
            hex::encode(blake3::hash(&bytes).as_bytes()),
            GOLDEN_RECEIPT_BYTES_BLAKE3
        );
        // A stop ack is a different statement: its bytes never verify as a receipt.
        let ack = Signed::sign(
            StopAck {
                share: s.statement.share,
                revocation_hash: [9; 32],
                holder: OrgId(String::new()),
                holder_key: [0; 32],
                at: Timestamp(1),
            },
            &key(7),
        );
        ack.verify().unwrap();
        assert_eq!(
            Signed::<HoldingReceipt>::from_bytes(&ack.to_bytes()),
            Err(DecodeError::Domain)
        );
    }

    const GOLDEN_RECEIPT_BYTES_BLAKE3: &str =
        "2dcea81fd3b0b582b4030400ff0e859c4cd46e1b8ffd94ec16da25a76922d67d";

    #[test]
    fn an_altered_receipt_or_signature_is_refused() {
        let s = Signed::sign(receipt(), &key(7));
        let mut more = s.clone();
        more.statement.items += 1;
        assert_eq!(more.verify(), Err(GrantError::BadSignature));
        let mut other = s.clone();
        other.signature[0] ^= 1;
        assert_eq!(other.verify(), Err(GrantError::BadSignature));
        // Claiming another organization with one's own key is caught too.
        let mut posing = s.clone();
        posing.statement.holder = org_id_from_public_key(&key(8).verifying_key().to_bytes());
        assert!(posing.verify().is_err());
        let mut bytes = s.to_bytes();
        bytes.push(0);
        assert_eq!(
            Signed::<HoldingReceipt>::from_bytes(&bytes),
            Err(DecodeError::Trailing)
        );
    }

    #[test]
    fn roots_must_ascend_and_digest_equals_the_hash_of_the_list() {
        let ids: Vec<EvidenceId> = (1u8..=3)
            .map(|b| EvidenceId(uuid::Uuid::from_bytes([b; 16])))
            .collect();
        let roots: Vec<BlobHash> = (0..3).map(|i| BlobHash::of(&[i])).collect();
        let mut d = RootsDigest::new();
        let mut list = Vec::new();
        for (id, root) in ids.iter().zip(&roots) {
            d.push(*id, root).unwrap();
            list.extend_from_slice(&RootsDigest::line(*id, root));
        }
        assert_eq!(d.count(), 3);
        assert_eq!(d.finish(), *blake3::hash(&list).as_bytes());
        assert_eq!(
            d.push(ids[0], &roots[0]),
            Err(RootsError::OutOfOrder(ids[0]))
        );
        assert_eq!(
            d.push(ids[2], &roots[0]),
            Err(RootsError::OutOfOrder(ids[2]))
        );
    }

    proptest! {
        /// The digest commits to every line: changing any root or dropping any item changes it.
        #[test]
        fn the_digest_commits_to_every_item(n in 1usize..40, pick in any::<prop::sample::Index>(), flip in 0usize..32) {
            let mut ids: Vec<EvidenceId> = (0..n).map(|_| EvidenceId::random()).collect();
            ids.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let roots: Vec<BlobHash> = (0..n).map(|i| BlobHash::of(&i.to_be_bytes())).collect();
            let digest = |skip: Option<usize>, alter: Option<usize>| {
                let mut d = RootsDigest::new();
                for (i, (id, root)) in ids.iter().zip(&roots).enumerate() {
                    if Some(i) == skip { continue; }
                    let mut r = root.0;
                    if Some(i) == alter { r[flip] ^= 1; }
                    d.push(*id, &BlobHash(r)).unwrap();
                }
                d.finish()
            };
            let i = pick.index(n);
            let whole = digest(None, None);
            prop_assert_ne!(whole, digest(Some(i), None));
            prop_assert_ne!(whole, digest(None, Some(i)));
        }
    }
}
