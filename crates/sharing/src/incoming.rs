//! The receiver's side: accept a partner's offer (grant checked), notify recipients, import a copy
//! (automatically, or when someone presses Import), keep the copy in sync with new evidence by the
//! folder rules, honour a revocation, and report receipts to the sharer.
//!
//! The copy belongs to the receiver: its retention is the receiver's default (else "Until
//! Manually Deleted"), every item's category is None, and nothing the receiver does to its folders
//! or metadata is touched by synchronization.

use crate::Engine;
use crate::error::{Result, SharingError};
use crate::manifest::sharer_case;
use crate::records::{
    IncomingShare, MAIL_QUEUE, MailMessage, RECEIVED, RECEIVED_BY_LOCAL_CASE, ReceivedStatus,
    SkippedItem,
};
use crate::wire::{self, ManifestEvidence, ManifestUpdate, Offer, Receipt, RevocationNotice};
use casemesh_model::audit::actions;
use casemesh_model::case::{Case, Evidence, Origin, Transcript};
use casemesh_model::folder_sync::{initial_import, place_new_evidence};
use casemesh_model::grant::{self, Recipient, SignedGrant, SignedRevocation};
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, OrgId, ShareId, TranscriptId};
use casemesh_model::org::User;
use casemesh_model::policy::PolicyAction;
use casemesh_model::retention::received_case_policy;
use casemesh_store::Actor;
use std::collections::BTreeSet;

/// Blob fetches in flight per import (the net layer bounds the whole node as well).
const PARALLEL_FETCHES: usize = 4;

/// Whether a fetch failed because the sharer refuses this item for good (it no longer has it,
/// or the grant no longer covers it), as opposed to a failure worth retrying.
fn is_refused_for_good(e: &SharingError) -> bool {
    match e {
        SharingError::Net(n) => matches!(
            n.as_ref(),
            casemesh_net::NetError::Refused { refusal, .. }
                if matches!(refusal.code, casemesh_net::RefusalCode::NotFound)
        ),
        _ => false,
    }
}

/// A partner's manifest is checked like user input before anything is built from it: its folder
/// tree within the limits a local case has (depth, count, names, no cycle).
fn check_manifest(m: &crate::wire::Manifest) -> Result<()> {
    Case::check_folder_tree(&m.folders)
        .map_err(|e| SharingError::Invalid(format!("manifest folders: {e}")))
}

fn decode_grant(hex_text: &str) -> Result<SignedGrant> {
    let bytes =
        hex::decode(hex_text).map_err(|_| SharingError::Invalid("grant is not hex".into()))?;
    SignedGrant::from_bytes(&bytes).map_err(|e| SharingError::Invalid(format!("grant: {e}")))
}

impl Engine {
    /// Verify a grant received from `peer`: signature chain, addressed to us, not expired, issued
    /// by the sender.
    pub(crate) fn check_grant(&self, peer: &str, hex_text: &str) -> Result<SignedGrant> {
        let g = decode_grant(hex_text)?;
        grant::verify(&g, self.now(), Some(&OrgId(self.inner.me.clone())))
            .map_err(|e| SharingError::Forbidden(format!("grant refused: {e}")))?;
        if g.grant.issuer.0 != peer {
            return Err(SharingError::Forbidden(
                "grant was not issued by the sending partner".into(),
            ));
        }
        Ok(g)
    }

    /// Every share received from partners.
    pub fn received(&self) -> Result<Vec<IncomingShare>> {
        let mut all: Vec<IncomingShare> = self.inner.store.all(&RECEIVED)?;
        all.sort_by_key(|s| s.received_at);
        Ok(all)
    }

    /// One received share, by share id or by the local copy's case id.
    pub fn received_share(&self, id: &str) -> Result<IncomingShare> {
        if let Ok(sid) = id.parse::<ShareId>()
            && let Some(s) = self.inner.store.get(&RECEIVED, &sid)?
        {
            return Ok(s);
        }
        if let Ok(case) = id.parse::<CaseId>()
            && let Some(s) = self
                .inner
                .store
                .by_index(&RECEIVED, &RECEIVED_BY_LOCAL_CASE, &case.to_string())?
                .into_iter()
                .next()
        {
            return Ok(s);
        }
        Err(SharingError::NotFound(format!("received share {id:?}")))
    }

    /// One received share, by share id.
    pub(crate) fn received_by_id(&self, id: ShareId) -> Result<IncomingShare> {
        self.inner
            .store
            .get(&RECEIVED, &id)?
            .ok_or_else(|| SharingError::NotFound(format!("received share {id}")))
    }

    pub(crate) async fn on_offer(&self, peer: &str, offer: Offer) -> Result<()> {
        let g = self.check_grant(peer, &offer.grant)?;
        check_manifest(&offer.manifest)?;
        if offer.manifest.share != g.grant.id || offer.manifest.source_case != g.grant.source_case {
            return Err(SharingError::Invalid(
                "manifest does not match its grant".into(),
            ));
        }
        let id = g.grant.id;
        if self.inner.store.get(&RECEIVED, &id)?.is_some() {
            return Ok(()); // the same share offered twice: keep the first
        }
        let partner = self
            .partner_by_id(peer)?
            .ok_or_else(|| SharingError::Forbidden("not a partner".into()))?;
        let (users, emails) = self.resolve_recipients(&g.grant.recipients)?;
        let share = IncomingShare {
            id: g.grant.id,
            sharer: peer.to_owned(),
            sharer_name: partner.name.clone(),
            grant: offer.grant.clone(),
            manifest: offer.manifest.clone(),
            recipients: g.grant.recipients.clone(),
            resolved_users: users.iter().map(|u| u.username.clone()).collect(),
            received_at: self.now(),
            local_case: None,
            import_map: Default::default(),
            evidence_map: Default::default(),
            status: ReceivedStatus::Pending,
            last_error: None,
            upstream: None,
            applied: Default::default(),
            skipped: Default::default(),
        };
        let mut share = share;
        if let Some(doc_hex) = &offer.meta_doc {
            let doc = hex::decode(doc_hex)
                .ok()
                .and_then(|b| casemesh_meta::CaseDoc::load(&b).ok())
                .ok_or_else(|| SharingError::Invalid("malformed metadata document".into()))?;
            share.applied = casemesh_meta::AppliedState::at_import(&doc);
            share.upstream = Some(doc_hex.clone());
        }
        let auto = self.settings().auto_import && g.grant.policy.allows(PolicyAction::Import);
        if auto {
            share.status = ReceivedStatus::Importing;
        }
        let mails = self.mails(
            &emails,
            format!("Case {} shared with you by {}", offer.manifest.case_number, partner.name),
            format!(
                "{} shared the case {} \"{}\" with you ({} evidence items).\n{}\nShare id: {}\nOpen it with: casemesh case list --external\n",
                partner.name,
                offer.manifest.case_number,
                offer.manifest.title,
                offer.manifest.evidence.len(),
                g.grant.message.as_deref().map(|m| format!("Message: {m}\n")).unwrap_or_default(),
                id
            ),
        );
        let receipt = if auto {
            None
        } else {
            Some(self.receipt_message(&share)?)
        };
        // The share, its notifications and (without auto-import) the receipt commit together.
        let stored = self.inner.store.atomically(|txn| {
            if txn.get(&RECEIVED, &id)?.is_some() {
                return Ok(false);
            }
            txn.put(&RECEIVED, &id, &share)?;
            for m in &mails {
                txn.queue_push(MAIL_QUEUE, m)?;
            }
            if let Some(r) = &receipt {
                Self::queue_in(txn, &share.sharer, r)?;
            }
            Ok::<_, SharingError>(true)
        })?;
        if !stored {
            return Ok(());
        }
        tracing::info!(share = %id, from = %partner.name, items = offer.manifest.evidence.len(), "share received");
        self.wake_mail(mails.len());
        if auto {
            self.spawn_sync(g.grant.id);
        } else {
            self.wake_outbox();
        }
        Ok(())
    }

    pub(crate) async fn on_update(&self, peer: &str, update: ManifestUpdate) -> Result<()> {
        let g = self.check_grant(peer, &update.grant)?;
        let id = g.grant.id;
        let current = self.received_by_id(id)?;
        if current.sharer != peer {
            return Err(SharingError::Forbidden(
                "update for a share from another organization".into(),
            ));
        }
        if current.status == ReceivedStatus::Stopped {
            return Err(SharingError::Forbidden("this share was stopped".into()));
        }
        check_manifest(&update.manifest)?;
        if update.manifest.share != g.grant.id || update.manifest.source_case != g.grant.source_case
        {
            return Err(SharingError::Invalid(
                "manifest does not match its grant".into(),
            ));
        }
        let (users, emails) = self.resolve_recipients(&g.grant.recipients)?;
        let new_items = update
            .manifest
            .evidence
            .iter()
            .filter(|e| !current.evidence_map.contains_key(&e.id))
            .count();
        let mails = if new_items > 0 {
            self.mails(
                &emails,
                format!("Case {} updated by {}", update.manifest.case_number, current.sharer_name),
                format!("{} added {new_items} evidence items to the shared case {} \"{}\".\nShare id: {id}\n", current.sharer_name, update.manifest.case_number, update.manifest.title),
            )
        } else {
            Vec::new()
        };
        let resolved: Vec<String> = users.iter().map(|u| u.username.clone()).collect();
        let updated = self.inner.store.atomically(|txn| {
            let Some(mut s) = txn.get(&RECEIVED, &id)? else {
                return Ok(None);
            };
            s.grant = update.grant.clone();
            s.manifest = update.manifest.clone();
            s.recipients = g.grant.recipients.clone();
            s.resolved_users = resolved.clone();
            if s.status == ReceivedStatus::Imported
                && g.grant.policy.allows(PolicyAction::ReceiveUpdates)
            {
                s.status = ReceivedStatus::Importing;
            }
            txn.put(&RECEIVED, &id, &s)?;
            for m in &mails {
                txn.queue_push(MAIL_QUEUE, m)?;
            }
            Ok::<_, SharingError>(Some(s))
        })?;
        let Some(share) = updated else { return Ok(()) };
        self.wake_mail(mails.len());
        match share.status {
            ReceivedStatus::Importing => self.spawn_sync(share.id),
            _ => self.send_receipt(&share)?,
        }
        Ok(())
    }

    pub(crate) fn on_revocation(&self, peer: &str, notice: RevocationNotice) -> Result<()> {
        let bytes = hex::decode(&notice.revocation)
            .map_err(|_| SharingError::Invalid("revocation is not hex".into()))?;
        let rev = SignedRevocation::from_bytes(&bytes)
            .map_err(|e| SharingError::Invalid(format!("revocation: {e}")))?;
        let share = self.received_by_id(rev.revocation.grant_id)?;
        if share.sharer != peer {
            return Err(SharingError::Forbidden(
                "revocation for a share from another organization".into(),
            ));
        }
        let g = decode_grant(&share.grant)?;
        grant::verify_revocation(&rev, &g)
            .map_err(|e| SharingError::Forbidden(format!("revocation refused: {e}")))?;
        self.set_status(share.id, ReceivedStatus::Stopped)?;
        // Stop sharing ends the transfer at once, not after the item in flight.
        self.cancel_import(share.id);
        tracing::info!(share = %share.id, "sharer stopped sharing; the copy stays");
        if let Err(e) = self.clean_partials() {
            tracing::warn!(error = %e, "could not clean partial downloads");
        }
        Ok(())
    }

    fn set_status(&self, id: ShareId, status: ReceivedStatus) -> Result<()> {
        self.inner
            .store
            .update(&RECEIVED, &id, |s: Option<IncomingShare>| {
                Ok::<_, SharingError>(s.map(|mut s| {
                    s.status = status;
                    s
                }))
            })?;
        Ok(())
    }

    /// Import a received share now (when auto-import is off, or to retry).
    pub fn import(&self, id: &str) -> Result<IncomingShare> {
        let share = self.received_share(id)?;
        if share.status == ReceivedStatus::Stopped && share.local_case.is_none() {
            return Err(SharingError::Forbidden(
                "the sharer stopped this share before it was imported".into(),
            ));
        }
        let g = decode_grant(&share.grant)?;
        grant::verify(&g, self.now(), Some(&OrgId(self.inner.me.clone())))
            .map_err(|e| SharingError::Forbidden(format!("grant refused: {e}")))?;
        if !g.grant.policy.allows(PolicyAction::Import) {
            return Err(SharingError::Forbidden(
                "the sharing policy does not allow importing this case".into(),
            ));
        }
        if share.status != ReceivedStatus::Stopped {
            self.set_status(share.id, ReceivedStatus::Importing)?;
            self.spawn_sync(share.id);
        }
        self.received_share(id)
    }

    /// Users this organization resolves the recipients to, and the email addresses to notify.
    fn resolve_recipients(&self, recipients: &[Recipient]) -> Result<(Vec<User>, Vec<String>)> {
        let users = self.inner.store.users()?;
        let groups = self.inner.store.groups()?;
        let mut found: Vec<User> = Vec::new();
        let mut emails: BTreeSet<String> = BTreeSet::new();
        for r in recipients {
            let matched: Vec<&User> = match r {
                Recipient::User(n) => users
                    .iter()
                    .filter(|u| u.username == *n || u.badge_id.as_deref() == Some(n))
                    .collect(),
                Recipient::Badge(b) => users
                    .iter()
                    .filter(|u| u.badge_id.as_deref() == Some(b))
                    .collect(),
                Recipient::Email(e) => {
                    emails.insert(e.clone());
                    users
                        .iter()
                        .filter(|u| {
                            u.email
                                .as_deref()
                                .is_some_and(|m| m.eq_ignore_ascii_case(e))
                        })
                        .collect()
                }
                Recipient::Group(g) => match groups.iter().find(|x| x.name == *g) {
                    Some(group) => users
                        .iter()
                        .filter(|u| u.groups.contains(&group.id))
                        .collect(),
                    None => Vec::new(),
                },
            };
            for u in matched {
                if let Some(e) = &u.email {
                    emails.insert(e.clone());
                }
                if !found.iter().any(|f| f.id == u.id) {
                    found.push(u.clone());
                }
            }
        }
        Ok((found, emails.into_iter().collect()))
    }

    /// Email the local users (and addresses) `recipients` name, through the durable mail queue.
    /// Returns how many addresses were queued.
    pub fn notify_recipients(
        &self,
        recipients: &[Recipient],
        subject: String,
        body: String,
    ) -> Result<usize> {
        let (_, emails) = self.resolve_recipients(recipients)?;
        self.notify(&emails, subject, body)?;
        Ok(emails.len())
    }

    /// Queue one notification per address, so a refused address never holds up the others.
    fn notify(&self, to: &[String], subject: String, body: String) -> Result<()> {
        let mails = self.mails(to, subject, body);
        self.inner.store.atomically(|txn| {
            for m in &mails {
                txn.queue_push(MAIL_QUEUE, m)?;
            }
            Ok::<_, SharingError>(())
        })?;
        self.wake_mail(mails.len());
        Ok(())
    }

    /// One notification per address (queued by the caller, in its transaction).
    fn mails(&self, to: &[String], subject: String, body: String) -> Vec<MailMessage> {
        to.iter()
            .map(|address| MailMessage {
                to: vec![address.clone()],
                subject: subject.clone(),
                body: body.clone(),
            })
            .collect()
    }

    /// Wake the mail loop when `queued` mails were committed.
    fn wake_mail(&self, queued: usize) {
        if queued > 0 {
            self.inner.mail_wake.notify_one();
        }
    }

    /// The receipt of a share as it stands: what this node holds and what it went around.
    fn receipt_message(&self, share: &IncomingShare) -> Result<crate::records::OutboxMessage> {
        let receipt = Receipt {
            share: share.id,
            have: share.evidence_map.keys().copied().collect(),
            imported: share.local_case.is_some(),
            skipped: share
                .skipped
                .iter()
                .map(|(id, s)| (*id, s.reason.clone()))
                .collect(),
        };
        self.outbox_message(wire::KIND_RECEIPT, wire::encode(&receipt), Some(share.id))
    }

    fn send_receipt(&self, share: &IncomingShare) -> Result<()> {
        let msg = self.receipt_message(share)?;
        self.inner
            .store
            .atomically(|txn| Self::queue_in(txn, &share.sharer, &msg))?;
        self.wake_outbox();
        Ok(())
    }

    /// Create the copy if needed, then bring every item of the manifest into it. Idempotent: items
    /// already copied are skipped, so a retry or a restart continues where it stopped. An item the
    /// sharer refuses for good (deleted, out of scope) is recorded as skipped with the reason and
    /// the import goes on around it; any other failure ends this pass (and is retried).
    pub(crate) async fn sync_copy(&self, share_id: ShareId) -> Result<()> {
        let lock = self.import_lock(share_id);
        let _one_at_a_time = lock.lock().await;
        let id = share_id;
        let mut share = self.received_by_id(id)?;
        if share.status == ReceivedStatus::Stopped {
            return Ok(());
        }
        let g = decode_grant(&share.grant)?;
        grant::verify(&g, self.now(), Some(&OrgId(self.inner.me.clone())))
            .map_err(|e| SharingError::Forbidden(format!("grant refused: {e}")))?;
        let case_id = match share.local_case {
            Some(c) => c,
            None => self.create_copy(&mut share)?,
        };
        let sharer_actor = Actor::new(format!("org:{}", share.sharer_name), self.now());
        let todo: Vec<ManifestEvidence> = share
            .manifest
            .evidence
            .iter()
            .filter(|e| {
                !share.evidence_map.contains_key(&e.id) && !share.skipped.contains_key(&e.id)
            })
            .cloned()
            .collect();
        let peer: casemesh_net::PeerId = share
            .sharer
            .parse()
            .map_err(|_| SharingError::Invalid("bad sharer id".into()))?;
        let grant_bytes = g.to_bytes();
        let mut pending = todo.into_iter();
        let mut running = tokio::task::JoinSet::new();
        let mut failure = None;
        loop {
            while failure.is_none() && running.len() < PARALLEL_FETCHES {
                let Some(item) = pending.next() else { break };
                let (engine, grant_bytes) = (self.clone(), grant_bytes.clone());
                running.spawn(async move {
                    let r = engine.fetch_item(peer, &grant_bytes, &item).await;
                    (item, r)
                });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let (item, fetched) =
                done.map_err(|e| SharingError::Internal(format!("fetch task: {e}")))?;
            match fetched {
                // The pins keep the fetched blobs until the item's record references them.
                Ok((transcripts, _pins)) => {
                    self.record_item(id, case_id, &item, transcripts, &sharer_actor)?
                }
                Err(e) if is_refused_for_good(&e) => {
                    self.skip_item(id, case_id, &item, &e.to_string(), &sharer_actor)?
                }
                // Let the fetches in flight finish (their bytes are kept), then end the pass.
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let done_share = self.received_by_id(id)?;
        let mut finished = done_share.clone();
        if finished.status == ReceivedStatus::Importing {
            finished.status = ReceivedStatus::Imported;
        }
        let receipt = self.receipt_message(&finished)?;
        let done = self.inner.store.atomically(|txn| {
            let mut s: IncomingShare = txn
                .get(&RECEIVED, &id)?
                .ok_or_else(|| SharingError::NotFound(id.to_string()))?;
            if s.status == ReceivedStatus::Importing {
                s.status = ReceivedStatus::Imported;
            }
            s.last_error = None;
            txn.put(&RECEIVED, &id, &s)?;
            Self::queue_in(txn, &s.sharer, &receipt)?;
            Ok::<_, SharingError>(s)
        })?;
        self.wake_outbox();
        if let Err(e) = self.clean_partials() {
            tracing::warn!(error = %e, "could not clean partial downloads");
        }
        // Items the sharer sent while this import ran are picked up by a second pass.
        if done
            .manifest
            .evidence
            .iter()
            .any(|e| !done.evidence_map.contains_key(&e.id) && !done.skipped.contains_key(&e.id))
            && done.status != ReceivedStatus::Stopped
        {
            self.set_status(id, ReceivedStatus::Importing)?;
            self.spawn_sync(share_id);
        }
        Ok(())
    }

    /// Fetch an item's blob and its transcripts' blobs into the blob store (skipping blobs the
    /// store already holds). Returns the transcripts as stored and the pins that keep the blobs
    /// from garbage collection until the caller has recorded the item.
    async fn fetch_item(
        &self,
        peer: casemesh_net::PeerId,
        grant_bytes: &[u8],
        item: &ManifestEvidence,
    ) -> Result<(Vec<Transcript>, casemesh_store::BlobPins)> {
        let pins = self
            .inner
            .store
            .blobs()
            .pin(std::iter::once(item.hash).chain(item.transcripts.iter().map(|t| t.hash)));
        self.fetch_blob(peer, grant_bytes, item.hash, item.size)
            .await?;
        let mut transcripts = Vec::new();
        for t in &item.transcripts {
            self.fetch_blob(peer, grant_bytes, t.hash, t.size).await?;
            transcripts.push(Transcript {
                id: TranscriptId::random(),
                name: t.name.clone(),
                hash: t.hash,
                size: t.size,
            });
        }
        Ok((transcripts, pins))
    }

    /// Fetch one blob unless the store holds it. The caller has pinned it.
    async fn fetch_blob(
        &self,
        peer: casemesh_net::PeerId,
        grant_bytes: &[u8],
        hash: BlobHash,
        size: u64,
    ) -> Result<()> {
        if self.inner.store.blobs().contains(&hash) {
            return Ok(()); // stored once, whatever number of shares bring it
        }
        self.inner.store.blobs().check_space(size)?;
        let fetched = self
            .inner
            .net
            .fetch_blob(peer, grant_bytes.to_vec(), hash, Some(size))
            .await?;
        let blobs = self.inner.store.blobs().clone();
        let path = fetched.path.clone();
        tokio::task::spawn_blocking(move || blobs.adopt_verified(&path, &hash))
            .await
            .map_err(|e| SharingError::Internal(format!("store task: {e}")))??;
        tracing::info!(blob = %hash, size, resumed_from = fetched.resumed_from, skipped = fetched.skipped, "blob received");
        Ok(())
    }

    /// Add one received item to the copy, placed by the folder rules, and remember it: the
    /// evidence record, its audit entries and the share's progress commit together, so a crash
    /// can neither lose the item nor add it twice.
    fn record_item(
        &self,
        share_id: ShareId,
        case_id: CaseId,
        item: &ManifestEvidence,
        transcripts: Vec<Transcript>,
        actor: &Actor,
    ) -> Result<()> {
        let store = &self.inner.store;
        let ev_id = EvidenceId::random();
        let now = self.now();
        let meta = casemesh_meta::EvidenceMeta {
            name: item.name.clone(),
            display_id: item.display_id.clone(),
            description: item.description.clone(),
        };
        store.atomically(|txn| {
            let mut share: IncomingShare = txn
                .get(&RECEIVED, &share_id)?
                .ok_or_else(|| SharingError::NotFound(format!("received share {share_id}")))?;
            if share.evidence_map.contains_key(&item.id) {
                return Ok(());
            }
            let copy = txn
                .case(case_id)?
                .ok_or_else(|| SharingError::NotFound(format!("case {case_id}")))?;
            let folder = place_new_evidence(item.folder, &share.import_map, &copy);
            let ev = Evidence {
                id: ev_id,
                case: case_id,
                display_id: item.display_id.clone(),
                name: item.name.clone(),
                description: item.description.clone(),
                category: None,
                folder,
                hash: item.hash,
                size: item.size,
                media_type: item.media_type.clone(),
                added_at: now,
                added_by: actor.name.clone(),
                transcripts: transcripts.clone(),
            };
            txn.add_evidence(&ev, actor)?;
            txn.audit(
                case_id,
                actor,
                actions::CASE_SYNC,
                Some(ev.id),
                &format!(
                    "share {share_id}: sharer item {} into {:?}",
                    item.id,
                    copy.path_of(folder)
                ),
            )?;
            share.evidence_map.insert(item.id, ev.id);
            share.applied.track_evidence(item.id, &meta);
            txn.put(&RECEIVED, &share_id, &share)?;
            Ok::<_, SharingError>(())
        })
    }

    /// Record that an item was not copied because the sharer refused it for good.
    fn skip_item(
        &self,
        share_id: ShareId,
        case_id: CaseId,
        item: &ManifestEvidence,
        reason: &str,
        actor: &Actor,
    ) -> Result<()> {
        tracing::warn!(share = %share_id, item = %item.id, reason, "item skipped: the sharer refused it");
        let skipped = SkippedItem {
            name: item.name.clone(),
            reason: reason.to_owned(),
            at: self.now(),
        };
        self.inner.store.atomically(|txn| {
            let mut share: IncomingShare = txn
                .get(&RECEIVED, &share_id)?
                .ok_or_else(|| SharingError::NotFound(format!("received share {share_id}")))?;
            share.skipped.insert(item.id, skipped.clone());
            txn.put(&RECEIVED, &share_id, &share)?;
            txn.audit(
                case_id,
                actor,
                actions::CASE_SYNC_SKIP,
                None,
                &format!(
                    "share {share_id}: sharer item {} {:?} skipped: {reason}",
                    item.id, item.name
                ),
            )?;
            Ok::<_, SharingError>(())
        })
    }

    /// Remove partial downloads (`<hash>.part/.state/.blob` in the net layer's partial
    /// directory) that no import still needs, and serving outboards (`outboards/<hash>.obao`) of
    /// blobs nothing references any more. Runs at start (orphans of a crash or of a stopped
    /// share), after a share is stopped and after an import completes. Returns the files removed.
    pub(crate) fn clean_partials(&self) -> Result<usize> {
        let mut needed: BTreeSet<BlobHash> = BTreeSet::new();
        for s in self.received()? {
            if !matches!(
                s.status,
                ReceivedStatus::Importing | ReceivedStatus::Pending
            ) {
                continue;
            }
            for e in
                s.manifest.evidence.iter().filter(|e| {
                    !s.evidence_map.contains_key(&e.id) && !s.skipped.contains_key(&e.id)
                })
            {
                needed.insert(e.hash);
                needed.extend(e.transcripts.iter().map(|t| t.hash));
            }
        }
        let dir = self.inner.net.partial_dir().to_path_buf();
        let hash_of = |path: &std::path::Path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .and_then(|h| h.parse::<BlobHash>().ok())
        };
        let mut removed = 0;
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            if let Some(h) = hash_of(&path)
                && !needed.contains(&h)
                && std::fs::remove_file(&path).is_ok()
            {
                tracing::info!(file = %path.display(), "removed a partial download no import needs");
                removed += 1;
            }
        }
        for entry in std::fs::read_dir(dir.join("outboards"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if let Some(h) = hash_of(&path)
                && !self.inner.store.blob_referenced(&h)?
                && std::fs::remove_file(&path).is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Create the receiver's own copy of the case: folder tree synced once, retention from the
    /// receiver's default.
    fn create_copy(&self, share: &mut IncomingShare) -> Result<CaseId> {
        let store = &self.inner.store;
        let m = &share.manifest;
        let owner = share
            .resolved_users
            .first()
            .and_then(|n| store.user_by_name(n).ok().flatten())
            .or_else(|| {
                store.users().ok().and_then(|us| {
                    us.into_iter().find(|u| {
                        u.permissions
                            .contains(&casemesh_model::org::Permission::Administer)
                    })
                })
            })
            .ok_or_else(|| SharingError::NotFound("a local owner for the copy".into()))?;
        let now = self.now();
        let mut copy = Case::new(&m.case_number, &m.title, &m.description, owner.id, now);
        copy.retention = received_case_policy(self.settings().default_retention);
        copy.origin = Origin::Received {
            sharer: OrgId(share.sharer.clone()),
            sharer_name: share.sharer_name.clone(),
            share: share.id,
            source_case: m.source_case,
            received_at: share.received_at,
        };
        let g = decode_grant(&share.grant)?;
        let sharer = sharer_case(m);
        let folders_of_items: Vec<_> = m.evidence.iter().map(|e| e.folder).collect();
        let (folders, map) = initial_import(&sharer, &g.grant.scope, &folders_of_items, copy.id);
        copy.folders = folders;
        let actor = Actor::new(format!("org:{}", share.sharer_name), now);
        let id = share.id;
        let import_details = format!(
            "share {} from {} ({}), source case {}",
            share.id, share.sharer_name, share.sharer, m.source_case
        );
        // The copy, its audit entries and the share's link to it commit together: a crash can
        // never leave a copy the share does not know (which a retry would create again).
        let existing = store.atomically(|txn| {
            let mut s: IncomingShare = txn
                .get(&RECEIVED, &id)?
                .ok_or_else(|| SharingError::NotFound(format!("received share {id}")))?;
            if let Some(c) = s.local_case {
                return Ok(Some(c));
            }
            txn.create_case(&copy, &actor)?;
            txn.audit(copy.id, &actor, actions::CASE_IMPORT, None, &import_details)?;
            s.local_case = Some(copy.id);
            s.import_map = map.clone();
            txn.put(&RECEIVED, &id, &s)?;
            Ok::<_, SharingError>(None)
        })?;
        if let Some(c) = existing {
            return Ok(c);
        }
        share.local_case = Some(copy.id);
        share.import_map = map;
        tracing::info!(share = %share.id, copy = %copy.id, "copy created");
        Ok(copy.id)
    }
}
