//! The sharer's side: share a case (partner share, copy mode), send new evidence to partners as
//! it is added (case synchronization), add recipients (reshare), stop sharing, and track each
//! share from Processing to Complete through the partner's receipts.

use crate::Engine;
use crate::error::{Result, SharingError};
use crate::manifest;
use crate::records::{
    OutboxMessage, OutgoingShare, RecipientEntry, SHARE_DOCS, SHARES, SHARES_BY_CASE, ShareStatus,
};
use crate::wire::{self, ManifestUpdate, Offer, Receipt, RevocationNotice};
use casemesh_model::audit::actions;
use casemesh_model::case::{Case, Evidence};
use casemesh_model::grant::{
    Grant, Recipient, Revocation, Scope, ShareMode, SignedGrant, SignedRevocation,
};
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, OrgId, ShareId};
use casemesh_model::policy::PolicyAction;
use casemesh_store::Actor;
use std::collections::BTreeSet;

/// A request to share a case with a partner.
#[derive(Debug, Clone)]
pub struct ShareRequest {
    /// The case.
    pub case: CaseId,
    /// Partner name or id.
    pub partner: String,
    /// Recipients in the partner organization.
    pub recipients: Vec<Recipient>,
    /// Folder paths to share (empty with no evidence = entire case).
    pub folders: Vec<String>,
    /// Evidence ids or display ids to share.
    pub evidence: Vec<String>,
    /// Optional message.
    pub message: Option<String>,
}

/// Parse a recipient as typed: `user:NAME`, `group:NAME`, `email:ADDR`, `badge:ID`, or bare
/// (an address with `@` is an email, anything else a username or badge id).
pub fn parse_recipient(text: &str) -> Result<Recipient> {
    let text = text.trim();
    if text.is_empty() || text.len() > 320 || text.chars().any(char::is_control) {
        return Err(SharingError::Invalid(format!("invalid recipient {text:?}")));
    }
    Ok(match text.split_once(':') {
        Some(("user", v)) => Recipient::User(v.to_owned()),
        Some(("group", v)) => Recipient::Group(v.to_owned()),
        Some(("email", v)) => Recipient::Email(v.to_owned()),
        Some(("badge", v)) => Recipient::Badge(v.to_owned()),
        _ if text.contains('@') => Recipient::Email(text.to_owned()),
        _ => Recipient::User(text.to_owned()),
    })
}

impl Engine {
    fn scope_of(&self, case: &Case, folders: &[String], evidence: &[String]) -> Result<Scope> {
        if !folders.is_empty() && !evidence.is_empty() {
            return Err(SharingError::Invalid(
                "share either folders or evidence items, not both".into(),
            ));
        }
        if !folders.is_empty() {
            let ids = folders
                .iter()
                .map(|p| match case.resolve(p) {
                    Ok(Some(id)) => Ok(id),
                    Ok(None) => Err(SharingError::Invalid(
                        "the root is not a folder: omit --folder to share the entire case".into(),
                    )),
                    Err(e) => Err(SharingError::Invalid(e.to_string())),
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(Scope::Folders(ids));
        }
        if !evidence.is_empty() {
            let ids = evidence
                .iter()
                .map(|r| {
                    self.inner
                        .store
                        .resolve_evidence(case.id, r)
                        .map(|e| e.id)
                        .map_err(|e| SharingError::Invalid(e.to_string()))
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(Scope::Evidence(ids));
        }
        Ok(Scope::EntireCase)
    }

    fn sign_grant(&self, share: &OutgoingShare, version: u32) -> SignedGrant {
        let grant = Grant {
            id: share.id,
            version,
            issuer: OrgId(self.inner.me.clone()),
            issuer_key: self.inner.key.verifying_key().to_bytes(),
            audience: OrgId(share.partner.clone()),
            recipients: share
                .recipients
                .iter()
                .map(|r| r.recipient.clone())
                .collect(),
            source_case: share.case,
            scope: share.scope.clone(),
            mode: share.mode,
            policy: share.policy.clone(),
            issued_at: self.now(),
            expires_at: None,
            message: share.message.clone(),
            parent: None,
        };
        SignedGrant::sign(grant, &self.inner.key)
    }

    /// Share a case by copy with a partner organization. The caller has checked the user's
    /// permissions and the organization's features.
    pub fn create_share(&self, actor: &Actor, req: &ShareRequest) -> Result<OutgoingShare> {
        let case = self
            .inner
            .store
            .case(req.case)?
            .ok_or_else(|| SharingError::NotFound(format!("case {}", req.case)))?;
        let scope = self.scope_of(&case, &req.folders, &req.evidence)?;
        self.open_share(
            actor,
            &case,
            &req.partner,
            &req.recipients,
            scope,
            req.message.clone(),
        )
    }

    fn open_share(
        &self,
        actor: &Actor,
        case: &Case,
        partner: &str,
        recipients: &[Recipient],
        scope: Scope,
        message: Option<String>,
    ) -> Result<OutgoingShare> {
        let store = &self.inner.store;
        if case.is_external() {
            return Err(SharingError::Forbidden(
                "this case was received from a partner; onward sharing is not supported yet".into(),
            ));
        }
        let partner = self.partner(partner)?;
        if recipients.is_empty() {
            return Err(SharingError::Invalid(
                "name at least one recipient (--to)".into(),
            ));
        }
        if message.as_ref().is_some_and(|m| m.len() > 10_000) {
            return Err(SharingError::Invalid(
                "message is longer than 10000 bytes".into(),
            ));
        }
        let policy = self.policy(&partner.policy)?;
        let now = self.now();
        let evidence = manifest::in_scope(store, case, &scope)?;
        let mut share = OutgoingShare {
            id: ShareId::random(),
            case: case.id,
            partner: partner.peer_id.clone(),
            partner_name: partner.name.clone(),
            recipients: recipients
                .iter()
                .map(|r| RecipientEntry {
                    recipient: r.clone(),
                    added_at: now,
                })
                .collect(),
            scope,
            mode: ShareMode::Copy,
            policy,
            message,
            created_by: actor.name.clone(),
            created_at: now,
            grant: String::new(),
            status: ShareStatus::Processing,
            sent: evidence.iter().map(|e| (e.id, now)).collect(),
            delivered: BTreeSet::new(),
            completed_at: None,
            stopped_at: None,
            revocation: None,
            owner: Some(case.owner),
            failure: None,
            skipped: Default::default(),
        };
        let grant = self.sign_grant(&share, 1);
        share.grant = hex::encode(grant.to_bytes());
        let (meta_doc, doc_record) = self.start_share_doc(&share)?;
        let offer = Offer {
            grant: share.grant.clone(),
            manifest: manifest::build(share.id, case, &evidence, now),
            sharer_name: self.inner.org_name.clone(),
            meta_doc: Some(meta_doc),
        };
        let msg = self.outbox_message(wire::KIND_OFFER, wire::encode(&offer), Some(share.id))?;
        let details = format!(
            "share {} to {} ({}), {} items, recipients {}",
            share.id,
            partner.name,
            partner.peer_id,
            evidence.len(),
            recipients_text(&share)
        );
        // The share, its audit entry and the offer commit together: a crash leaves all or none.
        store.atomically(|txn| {
            txn.put(&SHARES, &share.id, &share)?;
            txn.put(&SHARE_DOCS, &share.id, &doc_record)?;
            txn.audit(case.id, actor, actions::SHARE_CREATE, None, &details)?;
            Self::queue_in(txn, &partner.peer_id, &msg)
        })?;
        self.wake_outbox();
        self.prepare_blobs(&evidence);
        tracing::info!(share = %share.id, case = %case.id, partner = %partner.peer_id, items = evidence.len(), "case shared");
        Ok(share)
    }

    /// One outgoing share.
    pub fn share(&self, id: &str) -> Result<OutgoingShare> {
        let found = match id.parse::<ShareId>() {
            Ok(sid) => self.inner.store.get(&SHARES, &sid)?,
            Err(_) => None,
        };
        found.ok_or_else(|| SharingError::NotFound(format!("share {id:?}")))
    }

    /// Every outgoing share, or those of one case.
    pub fn shares(&self, case: Option<CaseId>) -> Result<Vec<OutgoingShare>> {
        let store = &self.inner.store;
        let mut all = match case {
            Some(c) => store.by_index(&SHARES, &SHARES_BY_CASE, &c.to_string())?,
            None => store.all(&SHARES)?,
        };
        all.sort_by_key(|s| s.created_at);
        Ok(all)
    }

    /// Add recipients to a share. With another partner, the case is shared with that partner as
    /// well (a new share with the same scope and the evidence of the original); with the same
    /// partner, a new version of the grant names the added recipients. No evidence is copied on
    /// this node either way: blobs are content-addressed and stored once.
    pub fn add_recipients(
        &self,
        actor: &Actor,
        id: &str,
        recipients: Vec<Recipient>,
        partner: Option<&str>,
    ) -> Result<OutgoingShare> {
        let share = self.share(id)?;
        let id = share.id;
        if share.status == ShareStatus::Stopped {
            return Err(SharingError::Conflict("this share was stopped".into()));
        }
        if recipients.is_empty() {
            return Err(SharingError::Invalid(
                "name at least one recipient (--to)".into(),
            ));
        }
        if let Some(p) = partner {
            let other = self.partner(p)?;
            if other.peer_id != share.partner {
                let case = self
                    .inner
                    .store
                    .case(share.case)?
                    .ok_or_else(|| SharingError::NotFound("case".into()))?;
                return self.open_share(
                    actor,
                    &case,
                    &other.peer_id,
                    &recipients,
                    share.scope.clone(),
                    share.message.clone(),
                );
            }
        }
        let now = self.now();
        let mut share = share;
        for r in &recipients {
            if !share.recipients.iter().any(|e| &e.recipient == r) {
                share.recipients.push(RecipientEntry {
                    recipient: r.clone(),
                    added_at: now,
                });
            }
        }
        let version = SignedGrant::from_bytes(&hex::decode(&share.grant).unwrap_or_default())
            .map(|g| g.grant.version + 1)
            .unwrap_or(2);
        let grant = self.sign_grant(&share, version);
        share.grant = hex::encode(grant.to_bytes());
        let msg = self.manifest_message(&share)?;
        let details = format!(
            "share {} recipients now {}",
            share.id,
            recipients_text(&share)
        );
        let share = self.inner.store.atomically(|txn| {
            // Apply the new recipients and grant to the stored record as it is now (a receipt
            // may have changed it since it was read).
            let mut current: OutgoingShare = txn
                .get(&SHARES, &id)?
                .ok_or_else(|| SharingError::NotFound(format!("share {id}")))?;
            if current.status == ShareStatus::Stopped {
                return Err(SharingError::Conflict("this share was stopped".into()));
            }
            current.recipients = share.recipients.clone();
            current.grant = share.grant.clone();
            txn.put(&SHARES, &id, &current)?;
            txn.audit(
                current.case,
                actor,
                actions::SHARE_RECIPIENTS,
                None,
                &details,
            )?;
            Self::queue_in(txn, &current.partner, &msg)?;
            Ok(current)
        })?;
        self.wake_outbox();
        Ok(share)
    }

    /// The share's current manifest (and grant) as a message for its partner.
    fn manifest_message(&self, share: &OutgoingShare) -> Result<OutboxMessage> {
        let store = &self.inner.store;
        let case = store
            .case(share.case)?
            .ok_or_else(|| SharingError::NotFound("case".into()))?;
        let evidence: Vec<_> = store
            .case_evidence(case.id)?
            .into_iter()
            .filter(|e| share.sent.contains_key(&e.id))
            .collect();
        let update = ManifestUpdate {
            grant: share.grant.clone(),
            manifest: manifest::build(share.id, &case, &evidence, self.now()),
        };
        self.outbox_message(wire::KIND_UPDATE, wire::encode(&update), Some(share.id))
    }

    /// New evidence was added to a case: send it to every active share that covers it and whose
    /// policy lets the partner receive updates (case synchronization).
    pub fn evidence_added(&self, case: CaseId) -> Result<()> {
        let store = &self.inner.store;
        let Some(c) = store.case(case)? else {
            return Ok(());
        };
        for share in self.shares(Some(case))? {
            // A stopped share sends nothing; a failed one's partner never got the offer.
            if matches!(share.status, ShareStatus::Stopped | ShareStatus::Failed)
                || !share.policy.allows(PolicyAction::ReceiveUpdates)
            {
                continue;
            }
            let now = self.now();
            let new: Vec<EvidenceId> = manifest::in_scope(store, &c, &share.scope)?
                .into_iter()
                .map(|e| e.id)
                .filter(|id| !share.sent.contains_key(id))
                .collect();
            if new.is_empty() {
                continue;
            }
            let mut next = share.clone();
            for id in &new {
                next.sent.insert(*id, now);
            }
            if next.status == ShareStatus::Complete {
                next.status = ShareStatus::Processing;
            }
            let added: Vec<Evidence> = store
                .case_evidence(case)?
                .into_iter()
                .filter(|e| new.contains(&e.id))
                .collect();
            let details = format!(
                "share {}: {} new items to {}",
                share.id,
                new.len(),
                share.partner_name
            );
            let sid = share.id;
            let msg = match self.manifest_message(&next) {
                Ok(m) => m,
                Err(e) if e.is_refusal() => {
                    // The evidence is added whatever happens; this share cannot carry it.
                    self.fail_share(sid, &format!("update not sent: {e}"))?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let sent = store.atomically(|txn| {
                let Some(mut s) = txn.get(&SHARES, &sid)? else {
                    return Ok(false);
                };
                if s.status == ShareStatus::Stopped {
                    return Ok(false);
                }
                for id in &new {
                    s.sent.insert(*id, now);
                }
                if s.status == ShareStatus::Complete {
                    s.status = ShareStatus::Processing;
                }
                txn.put(&SHARES, &sid, &s)?;
                txn.audit(
                    case,
                    &Actor::new("system", now),
                    actions::SHARE_UPDATE,
                    None,
                    &details,
                )?;
                Self::queue_in(txn, &s.partner, &msg)?;
                Ok::<_, SharingError>(true)
            })?;
            if sent {
                self.wake_outbox();
                self.prepare_blobs(&added);
                self.metadata_changed(case)?;
            }
        }
        Ok(())
    }

    /// Mark a share Failed with a reason (a message it needs can never be delivered).
    fn fail_share(&self, id: ShareId, reason: &str) -> Result<()> {
        let now = self.now();
        self.inner.store.atomically(|txn| {
            let Some(mut s) = txn.get(&SHARES, &id)? else {
                return Ok(());
            };
            if s.status == ShareStatus::Stopped {
                return Ok(());
            }
            s.status = ShareStatus::Failed;
            s.failure = Some(reason.to_owned());
            txn.put(&SHARES, &id, &s)?;
            txn.audit(
                s.case,
                &Actor::new("system", now),
                actions::SHARE_FAILED,
                None,
                &format!("share {id}: {reason}"),
            )?;
            Ok::<_, SharingError>(())
        })?;
        tracing::warn!(share = %id, reason, "share failed");
        Ok(())
    }

    /// Stop sharing: sign a revocation, stop updates and blob serving at once, tell the partner.
    pub fn stop_share(&self, actor: &Actor, id: &str) -> Result<OutgoingShare> {
        let share = self.share(id)?;
        let id = share.id;
        if share.status == ShareStatus::Stopped {
            return Ok(share);
        }
        let now = self.now();
        let rev = SignedRevocation::sign(
            Revocation {
                grant_id: share.id,
                issuer: OrgId(self.inner.me.clone()),
                issuer_key: self.inner.key.verifying_key().to_bytes(),
                revoked_at: now,
                reason: format!("stopped by {}", actor.name),
            },
            &self.inner.key,
        );
        let rev_hex = hex::encode(rev.to_bytes());
        let msg = self.outbox_message(
            wire::KIND_REVOCATION,
            wire::encode(&RevocationNotice {
                revocation: rev_hex.clone(),
            }),
            Some(share.id),
        )?;
        let stopped = self.inner.store.atomically(|txn| {
            let mut s: OutgoingShare = txn
                .get(&SHARES, &id)?
                .ok_or_else(|| SharingError::NotFound(format!("share {id}")))?;
            if s.status == ShareStatus::Stopped {
                return Ok((s, false));
            }
            s.status = ShareStatus::Stopped;
            s.stopped_at = Some(now);
            s.revocation = Some(rev_hex.clone());
            txn.put(&SHARES, &id, &s)?;
            txn.audit(
                s.case,
                actor,
                actions::SHARE_STOP,
                None,
                &format!("share {} to {} stopped", s.id, s.partner_name),
            )?;
            Self::queue_in(txn, &s.partner, &msg)?;
            Ok::<_, SharingError>((s, true))
        })?;
        let (stopped, changed) = stopped;
        if !changed {
            return Ok(stopped);
        }
        self.wake_outbox();
        tracing::info!(share = %stopped.id, "share stopped");
        Ok(stopped)
    }

    /// A partner reports what it holds of a share.
    pub(crate) fn on_receipt(&self, peer: &str, receipt: Receipt) -> Result<()> {
        let id = receipt.share;
        let now = self.now();
        let before = self.share(&id.to_string())?;
        if before.partner != peer {
            return Err(SharingError::Forbidden(
                "receipt for a share addressed to another organization".into(),
            ));
        }
        let after = self.inner.store.atomically(|txn| {
            let mut s: OutgoingShare = txn
                .get(&SHARES, &id)?
                .ok_or_else(|| SharingError::NotFound(format!("share {id}")))?;
            let was_complete = s.status == ShareStatus::Complete;
            s.delivered.extend(receipt.have.iter().copied());
            for (item, reason) in &receipt.skipped {
                s.skipped.insert(*item, reason.clone());
            }
            let all = s
                .sent
                .keys()
                .all(|e| s.delivered.contains(e) || s.skipped.contains_key(e));
            if all && receipt.imported && s.status == ShareStatus::Processing {
                s.status = ShareStatus::Complete;
                s.completed_at = Some(now);
            }
            txn.put(&SHARES, &id, &s)?;
            if !was_complete && s.status == ShareStatus::Complete {
                txn.audit(
                    s.case,
                    &Actor::new(format!("org:{}", s.partner_name), now),
                    actions::SHARE_COMPLETE,
                    None,
                    &format!(
                        "share {}: partner holds {} items, skipped {}",
                        s.id,
                        s.delivered.len(),
                        s.skipped.len()
                    ),
                )?;
            }
            Ok::<_, SharingError>(s)
        })?;
        if before.status != ShareStatus::Complete && after.status == ShareStatus::Complete {
            tracing::info!(share = %after.id, "share complete");
        }
        Ok(())
    }
}

impl Engine {
    /// Precompute, in the background, the verified-streaming outboards of blobs a partner is about
    /// to fetch, so serving starts at once instead of hashing the file first.
    fn prepare_blobs(&self, evidence: &[Evidence]) {
        let hashes: Vec<(BlobHash, u64)> = evidence
            .iter()
            .flat_map(|e| {
                std::iter::once((e.hash, e.size))
                    .chain(e.transcripts.iter().map(|t| (t.hash, t.size)))
            })
            .collect();
        let engine = self.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            for (hash, size) in hashes {
                if shutdown.is_cancelled() {
                    return;
                }
                let source = casemesh_net::BlobSource {
                    path: engine.inner.store.blobs().path_of(&hash),
                    size,
                };
                if let Err(e) = engine.inner.net.prepare_blob(hash, source).await {
                    tracing::debug!(blob = %hash, error = %e, "could not precompute the outboard; it is built on first request");
                }
            }
        });
    }
}

fn recipients_text(share: &OutgoingShare) -> String {
    share
        .recipients
        .iter()
        .map(|r| match &r.recipient {
            Recipient::User(v) => format!("user:{v}"),
            Recipient::Group(v) => format!("group:{v}"),
            Recipient::Email(v) => format!("email:{v}"),
            Recipient::Badge(v) => format!("badge:{v}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}
