//! The grant check behind every blob request a partner makes (`casemesh_net::BlobServer`).
//!
//! A blob is served only when the grant presented with the request is a valid signed grant issued
//! by this node, addressed to the requesting peer, unexpired, for a share that exists here and is
//! not stopped, and the requested hash belongs to evidence (or a transcript) sent under the share,
//! in the shared case, that the grant's scope covers — or is an item list or metadata document
//! the share holds for the partner. Everything is checked again on every request, in
//! O(references of the blob): no request reads the whole case.

use crate::records::{OutgoingShare, SHARE_ITEMS, SHARES, ShareStatus};
use casemesh_model::audit::actions;
use casemesh_model::grant::{self, Scope, SignedGrant};
use casemesh_model::ids::{BlobHash, EvidenceId, OrgId, ShareId};
use casemesh_model::policy::PolicyAction;
use casemesh_net::{BlobServer, BlobSource, PeerId, Refusal};
use casemesh_store::blobs::{BlobLocation, RemoteBlob};
use casemesh_store::{Actor, Clock, Store};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Checks grants for the net layer's blob protocol.
pub(crate) struct GrantChecker {
    pub(crate) store: Store,
    pub(crate) me: OrgId,
    pub(crate) clock: Clock,
    pub(crate) tokens: ServeTokens,
}

/// One cancellation token per outgoing share, handed to the net layer with every blob served
/// under it: stopping the share cancels it, and the net layer ends those transfers at once
/// (`casemesh_net::BlobSource::cancel`). A cancelled token stays in the map, so a request that
/// passed its checks just before the stop still gets a cancelled token.
#[derive(Clone, Default)]
pub(crate) struct ServeTokens(Arc<Mutex<BTreeMap<ShareId, CancellationToken>>>);

impl ServeTokens {
    /// The token of `share`'s transfers.
    pub(crate) fn token(&self, share: ShareId) -> CancellationToken {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(share)
            .or_default()
            .clone()
    }

    /// End every transfer of `share` in flight, and any that starts from now on.
    pub(crate) fn cancel(&self, share: ShareId) {
        self.token(share).cancel();
    }
}

impl BlobServer for GrantChecker {
    fn open(
        &self,
        peer: &PeerId,
        grant_bytes: &[u8],
        hash: &BlobHash,
    ) -> Result<BlobSource, Refusal> {
        let (g, share) = self
            .check_grant(peer, grant_bytes)
            .map_err(|why| refuse(peer, hash, &why))?;
        let (item, source) = self.check_blob(peer, &share, &g, hash)?;
        if let Some(item) = item {
            let actor = Actor::new(format!("org:{}", share.partner_name), self.clock.now());
            let _ = self.store.audit(
                share.case,
                &actor,
                actions::SHARE_SERVE,
                Some(item),
                &format!("share {} blake3={hash}", share.id),
            );
        }
        Ok(source)
    }

    /// The grant is checked once for the batch (signature chain, audience, share, not
    /// stopped); each hash is checked against the share's items as [`BlobServer::open`] does;
    /// the audit entries of every item served are written in one transaction, before any byte
    /// is sent. If that transaction fails, the items are refused (`Internal`): nothing is
    /// served without its audit entry.
    fn open_batch(
        &self,
        peer: &PeerId,
        grant_bytes: &[u8],
        hashes: &[BlobHash],
    ) -> Vec<Result<BlobSource, Refusal>> {
        let (g, share) = match self.check_grant(peer, grant_bytes) {
            Ok(checked) => checked,
            Err(why) => {
                tracing::warn!(peer = %peer, count = hashes.len(), reason = why, "blob batch refused");
                return hashes
                    .iter()
                    .map(|_| Err(Refusal::forbidden(why.clone())))
                    .collect();
            }
        };
        let mut out: Vec<Result<BlobSource, Refusal>> = Vec::with_capacity(hashes.len());
        let mut audited: Vec<(EvidenceId, BlobHash)> = Vec::new();
        for hash in hashes {
            out.push(
                self.check_blob(peer, &share, &g, hash)
                    .map(|(item, source)| {
                        if let Some(item) = item {
                            audited.push((item, *hash));
                        }
                        source
                    }),
            );
        }
        if audited.is_empty() {
            return out;
        }
        let actor = Actor::new(format!("org:{}", share.partner_name), self.clock.now());
        let written = self.store.atomically(|txn| {
            for (item, hash) in &audited {
                txn.audit(
                    share.case,
                    &actor,
                    actions::SHARE_SERVE,
                    Some(*item),
                    &format!("share {} blake3={hash}", share.id),
                )?;
            }
            Ok::<_, casemesh_store::StoreError>(())
        });
        if let Err(e) = written {
            tracing::error!(error = %e, count = audited.len(), "blob batch: audit entries not written; items refused");
            let unaudited: std::collections::BTreeSet<BlobHash> =
                audited.iter().map(|(_, h)| *h).collect();
            for (hash, res) in hashes.iter().zip(out.iter_mut()) {
                if res.is_ok() && unaudited.contains(hash) {
                    *res = Err(Refusal::new(
                        casemesh_net::RefusalCode::Internal,
                        "store unavailable",
                    ));
                }
            }
        }
        out
    }
}

/// Log and build the refusal of a blob request.
fn refuse(peer: &PeerId, hash: &BlobHash, why: &str) -> Refusal {
    tracing::warn!(peer = %peer, blob = %hash, reason = why, "blob request refused");
    Refusal::forbidden(why.to_owned())
}

impl GrantChecker {
    /// Check a presented grant: a valid signed grant issued by this node to `peer`, unexpired,
    /// for a share that exists here, is not stopped and matches it. `Err`: why not.
    fn check_grant(
        &self,
        peer: &PeerId,
        grant_bytes: &[u8],
    ) -> Result<(SignedGrant, OutgoingShare), String> {
        let g =
            SignedGrant::from_bytes(grant_bytes).map_err(|e| format!("malformed grant: {e}"))?;
        let requester = crate::org_of(peer);
        grant::verify(&g, self.clock.now(), Some(&requester))
            .map_err(|e| format!("grant refused: {e}"))?;
        // This node's own link of the chain: the grant itself (an onward share's grant is a
        // child whose root another organization issued).
        if g.grant.issuer != self.me {
            return Err("grant was not issued by this organization".into());
        }
        let share: OutgoingShare = self
            .store
            .get(&SHARES, &g.grant.id)
            .ok()
            .flatten()
            .ok_or_else(|| "unknown share".to_owned())?;
        if share.status == ShareStatus::Stopped {
            return Err("the share was stopped".into());
        }
        if share.status == ShareStatus::PendingApproval {
            return Err("the share waits for approval".into());
        }
        let source_case = share.onward.map_or(share.case, |o| o.source_case);
        if share.partner != requester || source_case != g.grant.source_case {
            return Err("grant does not match the share".into());
        }
        // An onward share serves only while the share it continues stands: the origin's stop
        // ends it at once, before the cascade reaches the partner.
        if let Some(onward) = share.onward {
            let parent: Option<crate::records::IncomingShare> = self
                .store
                .get(&crate::records::RECEIVED, &onward.parent)
                .ok()
                .flatten();
            if parent.is_none_or(|p| p.status == crate::records::ReceivedStatus::Stopped) {
                return Err("the share this case was received under was stopped".into());
            }
        }
        Ok((g, share))
    }

    /// Whether `hash` may be served under the checked grant `g` of `share`: the blob of an
    /// item sent under the share and covered by the grant (returned, to be audited), or an
    /// item list or metadata document the share holds. Returns the source to serve.
    fn check_blob(
        &self,
        peer: &PeerId,
        share: &OutgoingShare,
        g: &SignedGrant,
        hash: &BlobHash,
    ) -> Result<(Option<EvidenceId>, BlobSource), Refusal> {
        // A failure of this node's own store is not the partner's fault: it may retry.
        let internal = |e: casemesh_store::StoreError| {
            tracing::error!(error = %e, "blob request: store unavailable");
            Refusal::new(casemesh_net::RefusalCode::Internal, "store unavailable")
        };
        // An item list or metadata document of this share, held for the partner to fetch.
        let held = self
            .store
            .blob_held_under(hash, &format!("share/{}/", share.id))
            .map_err(internal)?;
        let item = if held {
            None
        } else {
            // Evidence bytes leave only for an action the grant's policy allows: a download
            // (access mode's `received get`) or an import (a copy, made by auto-import or by an
            // Import). A view-only policy lists the items (the item lists above) and serves none.
            let policy = &g.grant.policy;
            if !policy.allows(PolicyAction::Download) && !policy.allows(PolicyAction::Import) {
                tracing::warn!(peer = %peer, blob = %hash, share = %share.id, "blob request refused: the policy allows neither download nor import");
                return Err(Refusal::forbidden(
                    "the sharing policy allows neither download nor import",
                ));
            }
            Some(self.item_with_blob(share, g, hash).map_err(internal)?.ok_or_else(|| {
                // The share is valid but no item of it has these bytes (any more): deleted at
                // the sharer, or never in scope. The importer skips the item for good.
                tracing::warn!(peer = %peer, blob = %hash, "blob request: no item of the share has this blob");
                Refusal::not_found("no item of this share has this blob (deleted, or not in scope)")
            })?)
        };
        let source = blob_source(&self.store, hash)
            .map_err(|e| {
                tracing::error!(blob = %hash, error = %e, "cannot locate a blob to serve");
                Refusal::new(casemesh_net::RefusalCode::Internal, "cannot read blob")
            })?
            .ok_or_else(|| Refusal::not_found("blob missing"))?
            .with_cancel(self.tokens.token(share.id));
        Ok((item, source))
    }

    /// The item of `share` whose file or transcript is `hash`: found through the blob's exact
    /// references (O(items holding these bytes), no scan of the case), then checked to be sent
    /// under the share, in its case, and covered by the grant's scope.
    fn item_with_blob(
        &self,
        share: &OutgoingShare,
        g: &SignedGrant,
        hash: &BlobHash,
    ) -> Result<Option<EvidenceId>, casemesh_store::StoreError> {
        let mut case = None;
        for id in self.store.evidence_with_blob(hash)? {
            let row = self.store.get(&SHARE_ITEMS, &(share.id, id))?;
            if !crate::outgoing::is_sent(row.as_ref(), share) {
                continue;
            }
            let Some(ev) = self.store.evidence(id)? else {
                continue;
            };
            // "Do not disclose" is never served, even if it was sent before it was marked.
            if ev.case != share.case || ev.do_not_disclose {
                continue;
            }
            // A transcript is served only when the grant's policy lets transcripts leave.
            if ev.hash != *hash
                && !g
                    .grant
                    .policy
                    .discloses(casemesh_model::policy::SharedData::Transcripts)
            {
                continue;
            }
            // An onward share's items are those of the received share it continues (its rows
            // above); its grant's scope is in the origin's ids, not this copy's.
            if share.onward.is_some() {
                return Ok(Some(ev.id));
            }
            // The folder tree is read only when the scope needs it (folder scopes).
            let covered = match &g.grant.scope {
                Scope::EntireCase => true,
                Scope::Evidence(ids) => ids.contains(&ev.id),
                Scope::Folders(_) => {
                    if case.is_none() {
                        case = self.store.case(share.case)?;
                    }
                    case.as_ref()
                        .is_some_and(|c| g.grant.scope.covers(ev.id, ev.folder, c))
                }
            };
            if covered {
                return Ok(Some(ev.id));
            }
        }
        Ok(None)
    }
}

/// What the net layer serves for a stored blob: its file (the fast path) with the outboard the
/// store wrote beside it at ingest, if any, or, with the object-store backend, verified ranged
/// reads of the object (and its stored outboard).
/// `None` when the blob is not stored.
///
/// Errors: the store could not be asked (file system or object store).
pub(crate) fn blob_source(
    store: &Store,
    hash: &BlobHash,
) -> Result<Option<BlobSource>, casemesh_store::StoreError> {
    Ok(store.blobs().locate(hash)?.map(|at| match at {
        BlobLocation::File { path, size } => {
            BlobSource::new(path, size).with_outboard(store.blobs().outboard_of(hash, size))
        }
        BlobLocation::Remote(r) => {
            let size = r.size();
            BlobSource::remote(Arc::new(Remote(r)), size)
        }
    }))
}

/// A blob in the object store as the net layer's [`casemesh_net::RangeRead`].
struct Remote(RemoteBlob);

impl casemesh_net::RangeRead for Remote {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read_at(pos, buf)
    }

    fn copy_outboard(&self, out: &mut dyn std::io::Write) -> std::io::Result<bool> {
        self.0.copy_outboard(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ShareStatus;
    use casemesh_model::case::{Case, Evidence};
    use casemesh_model::grant::{Grant, Scope, ShareMode, org_id_from_public_key};
    use casemesh_model::ids::{EvidenceId, ShareId, UserId};
    use casemesh_model::policy::SharingPolicy;
    use casemesh_model::time::Timestamp;
    use ed25519_dalek::SigningKey;

    struct Fixture {
        _dir: tempfile::TempDir,
        checker: GrantChecker,
        key: SigningKey,
        partner: PeerId,
        share: OutgoingShare,
        hash: BlobHash,
        other_hash: BlobHash,
    }

    fn peer(n: u8) -> PeerId {
        casemesh_net::peer_id_from_secret(&[n; 32]).unwrap()
    }

    fn put_blob(store: &Store, bytes: &[u8]) -> BlobHash {
        let mut w = store.blobs().writer().unwrap();
        w.write(bytes).unwrap();
        w.finish().unwrap().0
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let me = org_id_from_public_key(key.verifying_key().as_bytes());
        let actor = Actor::new("t", Timestamp(1));
        let mut case = Case::new("C-1", "t", "", UserId::random(), Timestamp(1));
        let shared_folder = case.create_folder("Shared").unwrap();
        case.create_folder("Private").unwrap();
        store.create_case(&case, &actor).unwrap();
        let evidence = |name: &str, bytes: &[u8], folder| {
            let ev = Evidence {
                id: EvidenceId::random(),
                case: case.id,
                display_id: name.into(),
                name: name.into(),
                description: String::new(),
                category: None,
                folder,
                hash: put_blob(&store, bytes),
                size: bytes.len() as u64,
                media_type: "text/plain".into(),
                added_at: Timestamp(1),
                added_by: "t".into(),
                transcripts: vec![],
                do_not_disclose: false,
                received_seq: None,
            };
            store.add_evidence(&ev, &actor).unwrap();
            ev
        };
        let shared = evidence("shared", b"shared bytes", Some(shared_folder));
        let private = evidence(
            "private",
            b"private bytes",
            case.resolve("Private").unwrap(),
        );
        let partner = peer(9);
        let share = OutgoingShare {
            id: ShareId::random(),
            case: case.id,
            partner: crate::org_of(&partner),
            partner_name: "P".into(),
            recipients: vec![],
            scope: Scope::Folders(vec![shared_folder]),
            mode: ShareMode::Copy,
            policy: SharingPolicy::partner_copy_default(),
            message: None,
            created_by: "t".into(),
            created_at: Timestamp(1),
            grant: String::new(),
            status: ShareStatus::Processing,
            seq: 0,
            items_sent: 1,
            items_delivered: 0,
            delivered_seq: None,
            lists: Default::default(),
            docs: Vec::new(),
            completed_at: None,
            stopped_at: None,
            revocation: None,
            owner: None,
            failure: None,
            skipped: Default::default(),
            skipped_total: 0,
            receipt: None,
            stop_ack: None,
            onward: None,
            hops: Vec::new(),
            refused_recipients: Vec::new(),
        };
        store.put(&SHARES, &share.id, &share).unwrap();
        store
            .put(
                &SHARE_ITEMS,
                &(share.id, shared.id),
                &crate::records::SentItem {
                    sent_at: Timestamp(1),
                    seq: 0,
                    root: None,
                    transcripts: None,
                },
            )
            .unwrap();
        let checker = GrantChecker {
            store,
            me,
            clock: Clock::default(),
            tokens: ServeTokens::default(),
        };
        Fixture {
            _dir: dir,
            checker,
            key,
            partner,
            share,
            hash: shared.hash,
            other_hash: private.hash,
        }
    }

    fn grant(
        f: &Fixture,
        key: &SigningKey,
        audience: &PeerId,
        expires_at: Option<Timestamp>,
    ) -> Vec<u8> {
        let g = Grant {
            id: f.share.id,
            version: 1,
            issuer: OrgId(String::new()),
            issuer_key: [0; 32],
            audience: crate::org_of(audience),
            recipients: vec![],
            source_case: f.share.case,
            scope: f.share.scope.clone(),
            mode: ShareMode::Copy,
            policy: f.share.policy.clone(),
            issued_at: Timestamp(1),
            expires_at,
            message: None,
            parent: None,
        };
        SignedGrant::sign(g, key).to_bytes()
    }

    #[test]
    fn a_large_ingested_blob_is_served_with_the_outboard_stored_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let big = vec![5u8; 1 << 20];
        let h = put_blob(&store, &big);
        let src = blob_source(&store, &h).unwrap().unwrap();
        assert_eq!(src.outboard, Some(store.blobs().outboard_path_of(&h)));
        let small = put_blob(&store, b"small");
        assert_eq!(blob_source(&store, &small).unwrap().unwrap().outboard, None);
    }

    #[test]
    fn a_valid_grant_serves_the_covered_blob() {
        let f = fixture();
        let g = grant(&f, &f.key, &f.partner, None);
        let src = f.checker.open(&f.partner, &g, &f.hash).unwrap();
        assert_eq!(src.size, b"shared bytes".len() as u64);
    }

    #[test]
    fn a_blob_outside_the_scope_is_refused() {
        let f = fixture();
        let g = grant(&f, &f.key, &f.partner, None);
        // Not found, not forbidden: the importer goes around such an item instead of failing.
        let refused = f.checker.open(&f.partner, &g, &f.other_hash).err();
        assert_eq!(
            refused.map(|r| r.code),
            Some(casemesh_net::RefusalCode::NotFound)
        );
        assert!(
            f.checker
                .open(&f.partner, &g, &BlobHash::of(b"unknown"))
                .is_err()
        );
    }

    #[test]
    fn another_audience_gets_nothing() {
        let f = fixture();
        let g = grant(&f, &f.key, &f.partner, None);
        assert!(
            f.checker.open(&peer(10), &g, &f.hash).is_err(),
            "a grant for P presented by Q"
        );
        let for_q = grant(&f, &f.key, &peer(10), None);
        assert!(
            f.checker.open(&peer(10), &for_q, &f.hash).is_err(),
            "the share is P's, not Q's"
        );
    }

    #[test]
    fn forged_altered_and_expired_grants_get_nothing() {
        let f = fixture();
        let forged = grant(&f, &SigningKey::from_bytes(&[8; 32]), &f.partner, None);
        assert!(
            f.checker.open(&f.partner, &forged, &f.hash).is_err(),
            "signed by another org"
        );
        let mut altered = grant(&f, &f.key, &f.partner, None);
        let i = altered.len() / 2;
        altered[i] ^= 0x01;
        assert!(
            f.checker.open(&f.partner, &altered, &f.hash).is_err(),
            "one flipped byte"
        );
        let expired = grant(&f, &f.key, &f.partner, Some(Timestamp(2)));
        assert!(
            f.checker.open(&f.partner, &expired, &f.hash).is_err(),
            "expired"
        );
        assert!(
            f.checker.open(&f.partner, b"garbage", &f.hash).is_err(),
            "not a grant"
        );
    }

    #[test]
    fn a_batch_is_checked_once_refuses_only_what_is_out_of_scope_and_audits_in_one_go() {
        let f = fixture();
        let g = grant(&f, &f.key, &f.partner, None);
        let case = f.share.case;
        let before = f.checker.store.audit_trail(case).unwrap().0.len();
        let unknown = BlobHash::of(b"unknown");
        let got = f
            .checker
            .open_batch(&f.partner, &g, &[f.hash, f.other_hash, unknown]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap().size, b"shared bytes".len() as u64);
        for refused in &got[1..] {
            assert_eq!(
                refused.as_ref().err().map(|r| r.code),
                Some(casemesh_net::RefusalCode::NotFound)
            );
        }
        // The one item served has its custody entry, written before the answer.
        let (entries, _) = f.checker.store.audit_trail(case).unwrap();
        assert_eq!(entries.len(), before + 1);
        let last = entries.last().unwrap();
        assert_eq!(last.action, actions::SHARE_SERVE);
        assert!(last.details.contains(&f.hash.to_string()));
        assert_eq!(f.checker.store.verify_audit(case).unwrap().1, Ok(()));
    }

    #[test]
    fn a_batch_under_a_bad_grant_or_a_stopped_share_serves_nothing() {
        let f = fixture();
        let forged = grant(&f, &SigningKey::from_bytes(&[8; 32]), &f.partner, None);
        let got = f.checker.open_batch(&f.partner, &forged, &[f.hash, f.hash]);
        assert!(got.iter().all(Result::is_err));
        let g = grant(&f, &f.key, &f.partner, None);
        assert!(
            f.checker
                .open_batch(&peer(10), &g, &[f.hash])
                .iter()
                .all(Result::is_err)
        );
        let mut s = f.share.clone();
        s.status = ShareStatus::Stopped;
        f.checker.store.put(&SHARES, &s.id, &s).unwrap();
        let got = f.checker.open_batch(&f.partner, &g, &[f.hash]);
        assert_eq!(
            got[0].as_ref().err().map(|r| r.code),
            Some(casemesh_net::RefusalCode::Forbidden)
        );
        // Served before the stop: the token handed out with the blob is cancelled by it.
        let mut s = f.share.clone();
        s.status = ShareStatus::Processing;
        f.checker.store.put(&SHARES, &s.id, &s).unwrap();
        let served = f
            .checker
            .open_batch(&f.partner, &g, &[f.hash])
            .remove(0)
            .unwrap();
        f.checker.tokens.cancel(f.share.id);
        assert!(served.cancel.unwrap().is_cancelled());
    }

    #[test]
    fn a_stopped_share_serves_nothing() {
        let f = fixture();
        let g = grant(&f, &f.key, &f.partner, None);
        let mut s = f.share.clone();
        s.status = ShareStatus::Stopped;
        f.checker.store.put(&SHARES, &s.id, &s).unwrap();
        // A stopped share is refused as forbidden: the whole import stops, nothing is skipped.
        let refused = f.checker.open(&f.partner, &g, &f.hash).err();
        assert_eq!(
            refused.map(|r| r.code),
            Some(casemesh_net::RefusalCode::Forbidden)
        );
    }

    /// Evidence bytes leave only for `download` or `import` (issue #12): a view-only grant is
    /// refused as forbidden, whatever the mode.
    #[test]
    fn a_policy_without_download_or_import_serves_no_evidence() {
        let f = fixture();
        let mut g = SignedGrant::from_bytes(&grant(&f, &f.key, &f.partner, None))
            .unwrap()
            .grant;
        g.mode = ShareMode::Access;
        g.policy = SharingPolicy::view_only();
        let view_only = SignedGrant::sign(g.clone(), &f.key).to_bytes();
        let refused = f.checker.open(&f.partner, &view_only, &f.hash).err();
        assert_eq!(
            refused.map(|r| r.code),
            Some(casemesh_net::RefusalCode::Forbidden)
        );
        g.policy.allowed.insert(PolicyAction::Download);
        let download = SignedGrant::sign(g, &f.key).to_bytes();
        assert!(f.checker.open(&f.partner, &download, &f.hash).is_ok());
    }

    /// What a share's policy or a "do not disclose" marking keeps home is never served, even
    /// under a valid grant for a covered item (issue #12).
    #[test]
    fn withheld_transcripts_and_do_not_disclose_items_are_not_served() {
        let f = fixture();
        let store = &f.checker.store;
        let actor = Actor::new("t", Timestamp(2));
        let words = put_blob(store, b"transcript words");
        let item = store.evidence_with_blob(&f.hash).unwrap()[0];
        let t = casemesh_model::case::Transcript {
            id: casemesh_model::ids::TranscriptId::random(),
            name: "t.txt".into(),
            hash: words,
            size: 16,
        };
        store.add_transcript(item, &t, &actor).unwrap();
        // The default policy lets transcripts leave.
        let g = grant(&f, &f.key, &f.partner, None);
        assert!(f.checker.open(&f.partner, &g, &words).is_ok());
        // A policy without transcripts: the item is served, its transcript is not.
        let mut withheld = SignedGrant::from_bytes(&g).unwrap().grant;
        withheld.policy = withheld.policy.clone().with_data([]);
        let withheld = SignedGrant::sign(withheld, &f.key).to_bytes();
        assert!(f.checker.open(&f.partner, &withheld, &f.hash).is_ok());
        let refused = f.checker.open(&f.partner, &withheld, &words).err();
        assert_eq!(
            refused.map(|r| r.code),
            Some(casemesh_net::RefusalCode::NotFound)
        );
        // Marked "do not disclose" after it was sent: nothing of it is served any more.
        store
            .update_evidence(item, &actor, "evidence.edit", |e| {
                e.do_not_disclose = true;
                Ok::<_, casemesh_store::StoreError>("do_not_disclose=on".into())
            })
            .unwrap();
        assert!(f.checker.open(&f.partner, &g, &f.hash).is_err());
        assert!(f.checker.open(&f.partner, &g, &words).is_err());
    }
}
