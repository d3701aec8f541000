//! Signed custody statements between partners (issue #13, item 3): the holding receipt a
//! receiving node signs when it holds a share's items durably, and the stop acknowledgement it
//! signs when it takes in a stop. The statements themselves (canonical bytes, signatures, the
//! roots digest) are `casemesh_model::custody`; this module owns what they claim and how each
//! side checks it:
//!
//! * **Receiver**: [`held_digest`] runs over the items of a received share that are in the copy,
//!   from the item lists up to the receipt's sequence number, in ascending sharer-evidence-id
//!   order (the key order of `received.item`), memory flat in the item count.
//! * **Sharer**: [`check_receipt`] / [`check_stop_ack`] refuse a statement that is not signed by
//!   the share's partner for this share (a forged or misaddressed statement changes nothing);
//!   [`sent_roots`] lists what this node sent up to the same sequence number, less the items the
//!   partner reported it went around — the list the partner's digest must equal.
//!
//! Transcripts are not in the roots: a receipt names each evidence item's own bytes.

use crate::error::{Bad, Result, SharingError, Statement};
use crate::records::{OutgoingShare, RECEIVED_ITEMS, ReceivedItem, SHARE_ITEMS, SentItem};
use crate::wire::Receipt;
use casemesh_model::custody::{HoldingReceipt, RootsDigest, Signed, StopAck};
use casemesh_model::grant::SignedGrant;
use casemesh_model::ids::{BlobHash, EvidenceId, ShareId};
use casemesh_model::timeline;
use casemesh_store::Store;

/// The digest of the items of received share `share` that are in the copy, from item lists up
/// to `upto`. Reads the share's item rows one page at a time.
pub(crate) fn held_digest(store: &Store, share: ShareId, upto: u64) -> Result<RootsDigest> {
    let mut digest = RootsDigest::new();
    store.for_each(
        &RECEIVED_ITEMS,
        &format!("{share}/"),
        |key, item: ReceivedItem| {
            if item.local.is_some() && item.seq <= upto {
                digest
                    .push(evidence_of(key)?, &item.entry.hash)
                    .map_err(|e| SharingError::Internal(e.to_string()))?;
            }
            Ok::<_, SharingError>(())
        },
    )?;
    Ok(digest)
}

/// Every item sent under `share` in item lists up to `upto`, less those the partner reported
/// skipped, with its BLAKE3 root, in ascending evidence-id order: what a holding receipt for
/// `upto` must name. Rows written before roots were recorded take the root from the evidence
/// record (an evidence item's bytes never change); an item deleted since has no root and is
/// left out (the partner skipped it).
pub fn sent_roots(
    store: &Store,
    share: &OutgoingShare,
    upto: u64,
    mut f: impl FnMut(EvidenceId, BlobHash) -> Result<()>,
) -> Result<()> {
    store.for_each(
        &SHARE_ITEMS,
        &format!("{}/", share.id),
        |key, row: SentItem| {
            if row.seq > upto || row.seq > share.seq {
                return Ok(());
            }
            let id = evidence_of(key)?;
            if share.skipped.contains_key(&id) {
                return Ok(());
            }
            let root = match row.root {
                Some(root) => Some(root),
                None => store.evidence(id)?.map(|e| e.hash),
            };
            match root {
                Some(root) => f(id, root),
                None => Ok(()),
            }
        },
    )
}

/// The digest of [`sent_roots`].
pub(crate) fn sent_digest(store: &Store, share: &OutgoingShare, upto: u64) -> Result<RootsDigest> {
    let mut digest = RootsDigest::new();
    sent_roots(store, share, upto, |id, root| {
        digest
            .push(id, &root)
            .map_err(|e| SharingError::Internal(e.to_string()))
    })?;
    Ok(digest)
}

/// Decode and check the signed holding receipt carried by `receipt` for `share`: signed by the
/// share's partner's key, about this share, for the receipt's own sequence number.
///
/// # Errors
/// [`SharingError::Invalid`] naming what is wrong (a statement variant of [`Bad`]); the caller
/// refuses the whole receipt.
pub(crate) fn check_receipt(
    share: &OutgoingShare,
    receipt: &Receipt,
    signed_hex: &str,
) -> Result<Signed<HoldingReceipt>> {
    let what = Statement::HoldingReceipt;
    let signed: Signed<HoldingReceipt> = decode_signed(signed_hex, what)?;
    let s = &signed.statement;
    check_signer(share, &signed, what)?;
    if s.share != share.id {
        return Err(Bad::StatementOtherShare {
            what,
            share: share.id,
            named: s.share,
        }
        .into());
    }
    if Some(s.seq) != receipt.seq {
        return Err(Bad::ReceiptSeq {
            share: share.id,
            signed: s.seq,
            receipt: receipt.seq,
        }
        .into());
    }
    Ok(signed)
}

/// Decode and check a signed stop acknowledgement for `share`: signed by the partner, about
/// this share, naming the revocation this node issued (BLAKE3 of its wire form).
///
/// # Errors
/// [`SharingError::Invalid`] naming what is wrong (a statement variant of [`Bad`]).
pub(crate) fn check_stop_ack(share: &OutgoingShare, signed_hex: &str) -> Result<Signed<StopAck>> {
    let what = Statement::StopAck;
    let signed: Signed<StopAck> = decode_signed(signed_hex, what)?;
    check_signer(share, &signed, what)?;
    if signed.statement.share != share.id {
        return Err(Bad::StatementOtherShare {
            what,
            share: share.id,
            named: signed.statement.share,
        }
        .into());
    }
    let revocation = share
        .revocation
        .as_deref()
        .and_then(|r| hex::decode(r).ok())
        .ok_or(Bad::StopAckNotStopped { share: share.id })?;
    if signed.statement.revocation_hash != *blake3::hash(&revocation).as_bytes() {
        return Err(Bad::StopAckOtherRevocation { share: share.id }.into());
    }
    Ok(signed)
}

impl crate::Engine {
    /// The custody timeline of `case` (an origin case or a received copy; issue #13, item 4):
    /// the custody events of its audit trail ([`timeline::from_audit`]); for each share of the
    /// case, the proof of its partner's latest receipt and of its stop acknowledgement is the
    /// partner's signed statement; for a copy, the sharer's signed grant opens the timeline
    /// (`received`). Ordered by time. Reads the whole audit trail of the case.
    ///
    /// # Errors
    /// Store failures only; the caller has checked that the case exists and may be read.
    pub fn custody_timeline(
        &self,
        case: casemesh_model::ids::CaseId,
    ) -> Result<Vec<timeline::CustodyEvent>> {
        let store = &self.inner.store;
        let (entries, _) = store.audit_trail(case)?;
        let mut events = timeline::from_audit(&entries, &self.inner.org_name);
        for share in self.shares(Some(case))? {
            let mine = format!("share {}:", share.id);
            if let Some(r) = &share.receipt {
                attach(&mut events, "receipt", &mine, &r.signed, |b| {
                    Signed::<HoldingReceipt>::from_bytes(b)
                        .map(|s| (s.statement.holder.to_string(), s.signature))
                        .ok()
                });
            }
            for hop in &share.hops {
                let prefix = format!("{mine} onward share {}", hop.share);
                attach(&mut events, "onward", &prefix, &hop.grant, |b| {
                    SignedGrant::from_bytes(b)
                        .map(|g| (g.grant.issuer.to_string(), g.signature))
                        .ok()
                });
            }
            if let Some(a) = &share.stop_ack {
                attach(&mut events, "stop_ack", &mine, &a.signed, |b| {
                    Signed::<StopAck>::from_bytes(b)
                        .map(|s| (s.statement.holder.to_string(), s.signature))
                        .ok()
                });
            }
        }
        if let Some(received) = self.received_of_copy(case)?
            && let Ok(bytes) = hex::decode(&received.grant)
            && let Ok(grant) = SignedGrant::from_bytes(&bytes)
        {
            // The organizations the case came through before (an onward share's chain), each
            // proven by its own signed grant: the origin first.
            for ancestor in grant.chain().skip(1) {
                let issuer = &ancestor.grant.issuer;
                let from = self
                    .partner_by_id(issuer)
                    .ok()
                    .flatten()
                    .map_or_else(|| issuer.to_string(), |p| p.name);
                events.push(timeline::CustodyEvent {
                    kind: "shared_upstream".into(),
                    org: from.clone(),
                    user: None,
                    at: ancestor.grant.issued_at,
                    evidence: None,
                    details: format!(
                        "share {} of case {} by {from} to {}",
                        ancestor.grant.id, ancestor.grant.source_case, ancestor.grant.audience
                    ),
                    proof: timeline::Proof::Signed {
                        signed_by: issuer.to_string(),
                        signature: hex::encode(ancestor.signature),
                        wire: hex::encode(ancestor.to_bytes()),
                    },
                });
            }
            events.push(timeline::CustodyEvent {
                kind: "received".into(),
                org: received.sharer_name.clone(),
                user: None,
                at: grant.grant.issued_at,
                evidence: None,
                details: format!(
                    "share {} of case {} from {}",
                    received.id, received.head.case_number, received.sharer_name
                ),
                proof: timeline::Proof::Signed {
                    signed_by: grant.grant.issuer.to_string(),
                    signature: hex::encode(grant.signature),
                    wire: received.grant.clone(),
                },
            });
        }
        timeline::sort(&mut events);
        Ok(events)
    }
}

/// Give the last `kind` event of a share (its details start with `share_prefix`) the partner's
/// signed statement as proof.
fn attach(
    events: &mut [timeline::CustodyEvent],
    kind: &str,
    share_prefix: &str,
    signed_hex: &str,
    signer: impl Fn(&[u8]) -> Option<(String, [u8; 64])>,
) {
    let Some((signed_by, signature)) = hex::decode(signed_hex).ok().as_deref().and_then(signer)
    else {
        return;
    };
    if let Some(event) = events
        .iter_mut()
        .rev()
        .find(|e| e.kind == kind && e.details.starts_with(share_prefix))
    {
        event.proof = timeline::Proof::Signed {
            signed_by,
            signature: hex::encode(signature),
            wire: signed_hex.to_owned(),
        };
    }
}

/// The BLAKE3 hash of a revocation's wire form, as a stop acknowledgement names it.
pub(crate) fn revocation_hash(wire: &[u8]) -> [u8; 32] {
    *blake3::hash(wire).as_bytes()
}

fn decode_signed<T: casemesh_model::custody::Statement>(
    hex_text: &str,
    what: Statement,
) -> Result<Signed<T>> {
    let bytes = hex::decode(hex_text).map_err(|error| Bad::StatementNotHex { what, error })?;
    let signed = Signed::<T>::from_bytes(&bytes)
        .map_err(|error| Bad::StatementUndecodable { what, error })?;
    signed
        .verify()
        .map_err(|error| Bad::StatementSignature { what, error })?;
    Ok(signed)
}

fn check_signer<T: casemesh_model::custody::Statement>(
    share: &OutgoingShare,
    signed: &Signed<T>,
    what: Statement,
) -> Result<()> {
    let (org, _) = signed.statement.signer();
    if *org != share.partner {
        return Err(Bad::StatementSigner {
            what,
            signer: org.clone(),
            partner: share.partner.clone(),
        }
        .into());
    }
    Ok(())
}

/// The sharer's evidence id in a `<share>/<evidence>` key.
fn evidence_of(key: &str) -> Result<EvidenceId> {
    key.split_once('/')
        .and_then(|(_, ev)| ev.parse().ok())
        .ok_or_else(|| SharingError::Internal(format!("bad item key {key:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::share;
    use casemesh_model::ids::OrgId;
    use casemesh_model::time::Timestamp;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// A share whose partner is the org of `key(7)`.
    fn partner_share() -> OutgoingShare {
        let mut s = share();
        s.partner =
            casemesh_model::grant::org_id_from_public_key(&key(7).verifying_key().to_bytes());
        s
    }

    fn receipt_for(s: &OutgoingShare, seq: u64, signer: &SigningKey) -> (Receipt, String) {
        let statement = HoldingReceipt {
            share: s.id,
            grant_hash: [1; 32],
            holder: OrgId(String::new()),
            holder_key: [0; 32],
            seq,
            items: 0,
            roots: RootsDigest::new().finish(),
            at: Timestamp(5),
        };
        let signed = hex::encode(Signed::sign(statement, signer).to_bytes());
        let r = Receipt {
            share: s.id,
            seq: Some(seq),
            have: 0,
            imported: true,
            skipped_total: 0,
            skipped: vec![],
            signed: Some(signed.clone()),
            stop_ack: None,
            refused_recipients: None,
        };
        (r, signed)
    }

    #[test]
    fn a_receipt_signed_by_the_partner_for_this_share_is_taken() {
        let s = partner_share();
        let (r, signed) = receipt_for(&s, 0, &key(7));
        let got = check_receipt(&s, &r, &signed).unwrap();
        assert_eq!(got.statement.holder, s.partner);
    }

    #[test]
    fn forged_or_misaddressed_receipts_are_refused() {
        let s = partner_share();
        // Signed by another organization's key (a forger, or another partner).
        let (r, signed) = receipt_for(&s, 0, &key(8));
        let e = check_receipt(&s, &r, &signed).unwrap_err().to_string();
        assert!(e.contains("not signed by the share's partner"), "{e}");
        // About another share.
        let mut other = partner_share();
        other.id = casemesh_model::ids::ShareId::random();
        let (r, signed) = receipt_for(&other, 0, &key(7));
        let e = check_receipt(&s, &Receipt { share: s.id, ..r }, &signed)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another share"), "{e}");
        // For another sequence number than the receipt claims.
        let (r, signed) = receipt_for(&s, 0, &key(7));
        let e = check_receipt(&s, &Receipt { seq: Some(1), ..r }, &signed)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sequence number"), "{e}");
        // A signature that does not cover the bytes (one byte of the statement changed).
        let (r, signed) = receipt_for(&s, 0, &key(7));
        let mut bytes = hex::decode(&signed).unwrap();
        bytes[30] ^= 1;
        let e = check_receipt(&s, &r, &hex::encode(bytes))
            .unwrap_err()
            .to_string();
        assert!(e.contains("holding receipt refused"), "{e}");
        // Not hex at all.
        assert!(check_receipt(&s, &r, "zz").is_err());
    }

    #[test]
    fn a_stop_ack_must_name_the_revocation_sent() {
        let mut s = partner_share();
        let ack = |s: &OutgoingShare, revocation: &[u8], signer: &SigningKey| {
            hex::encode(
                Signed::sign(
                    StopAck {
                        share: s.id,
                        revocation_hash: revocation_hash(revocation),
                        holder: OrgId(String::new()),
                        holder_key: [0; 32],
                        at: Timestamp(9),
                    },
                    signer,
                )
                .to_bytes(),
            )
        };
        let e = check_stop_ack(&s, &ack(&s, b"rev", &key(7)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not stopped"), "{e}");
        s.revocation = Some(hex::encode(b"rev"));
        check_stop_ack(&s, &ack(&s, b"rev", &key(7))).unwrap();
        let e = check_stop_ack(&s, &ack(&s, b"other", &key(7)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("another revocation"), "{e}");
        let e = check_stop_ack(&s, &ack(&s, b"rev", &key(8)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("partner"), "{e}");
        // A holding receipt's bytes never pass as a stop acknowledgement.
        let (_, receipt) = receipt_for(&s, 0, &key(7));
        assert!(check_stop_ack(&s, &receipt).is_err());
    }
}
