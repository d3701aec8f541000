//! The grant check behind every blob request a partner makes (`casemesh_net::BlobServer`).
//!
//! A blob is served only when the grant presented with the request is a valid signed grant issued
//! by this node, addressed to the requesting peer, unexpired, for a share that exists here and is
//! not stopped, and the requested hash belongs to evidence (or a transcript) of the shared case
//! that the grant's scope covers. Everything is checked again on every request.

use crate::records::{OutgoingShare, SHARE, ShareStatus};
use casemesh_model::audit::actions;
use casemesh_model::grant::{self, SignedGrant};
use casemesh_model::ids::{BlobHash, OrgId};
use casemesh_net::{BlobServer, BlobSource, PeerId, Refusal};
use casemesh_store::{Actor, Clock, Store};

/// Checks grants for the net layer's blob protocol.
pub(crate) struct GrantChecker {
    pub(crate) store: Store,
    pub(crate) me: String,
    pub(crate) clock: Clock,
}

impl BlobServer for GrantChecker {
    fn open(&self, peer: &PeerId, grant_bytes: &[u8], hash: &BlobHash) -> Result<BlobSource, Refusal> {
        let refuse = |why: &str| {
            tracing::warn!(peer = %peer, blob = %hash, reason = why, "blob request refused");
            Refusal::forbidden(why.to_owned())
        };
        let g = SignedGrant::from_bytes(grant_bytes).map_err(|e| refuse(&format!("malformed grant: {e}")))?;
        let requester = OrgId(peer.to_base58());
        grant::verify(&g, self.clock.now(), Some(&requester)).map_err(|e| refuse(&format!("grant refused: {e}")))?;
        if g.root().grant.issuer.0 != self.me {
            return Err(refuse("grant was not issued by this organization"));
        }
        let share: OutgoingShare = self
            .store
            .record(SHARE, &g.grant.id.to_string())
            .ok()
            .flatten()
            .ok_or_else(|| refuse("unknown share"))?;
        if share.status == ShareStatus::Stopped {
            return Err(refuse("the share was stopped"));
        }
        if share.partner != requester.0 || share.case != g.grant.source_case {
            return Err(refuse("grant does not match the share"));
        }
        let case = self.store.case(share.case).ok().flatten().ok_or_else(|| refuse("case gone"))?;
        let evidence = self.store.case_evidence(case.id).map_err(|_| refuse("store unavailable"))?;
        let item = evidence
            .iter()
            .filter(|e| share.sent.contains_key(&e.id) && g.grant.scope.covers(e.id, e.folder, &case))
            .find(|e| e.hash == *hash || e.transcripts.iter().any(|t| t.hash == *hash))
            .ok_or_else(|| refuse("the grant does not cover this blob"))?;
        let path = self.store.blobs().path_of(hash);
        let size = std::fs::metadata(&path).map(|m| m.len()).map_err(|_| Refusal::not_found("blob missing"))?;
        let actor = Actor::new(format!("org:{}", share.partner_name), self.clock.now());
        let _ = self.store.audit(case.id, &actor, actions::SHARE_SERVE, Some(item.id), &format!("share {} blake3={hash}", share.id));
        Ok(BlobSource { path, size })
    }
}
