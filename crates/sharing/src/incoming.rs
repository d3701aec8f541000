//! The receiver's side: accept a partner's offer (grant checked), notify recipients, import a copy
//! (automatically, or when someone presses Import), keep the copy in sync with new evidence by the
//! folder rules, honour a revocation, and report receipts to the sharer.
//!
//! The copy belongs to the receiver: its retention is the receiver's default (else "Until
//! Manually Deleted"), every item's category is None, and nothing the receiver does to its folders
//! or metadata is touched by synchronization.

use crate::Engine;
use crate::custody;
use crate::error::{Bad, Clash, Missing, NotAllowed, Result, SharingError};
use crate::manifest::sharer_case;
use crate::received_lifecycle::{self as lifecycle, Effect, Event, Refused};
use crate::recipients;
use crate::records::{
    IncomingShare, MAIL_QUEUE, MailMessage, RECEIVED, RECEIVED_APPLIED, RECEIVED_BY_LOCAL_CASE,
    RECEIVED_DOCS, RECEIVED_ITEMS, RECEIVED_TODO, ReceivedItem, ReceivedStatus, SkippedItem,
};
use crate::wire::{
    self, Carried, ItemList, ManifestEvidence, ManifestHead, ManifestUpdate, Offer, Receipt,
    RevocationNotice,
};
use casemesh_model::access::AccessEntry;
use casemesh_model::audit::actions;
use casemesh_model::case::{Case, Evidence, Origin, Transcript};
use casemesh_model::custody::{HoldingReceipt, Signed, StopAck};
use casemesh_model::folder_sync::{initial_import, place_new_evidence};
use casemesh_model::grant::{self, Recipient, Scope, ShareMode, SignedGrant, SignedRevocation};
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, OrgId, ShareId, TranscriptId};
use casemesh_model::names::{TextError, check_line, check_text, limits, validate_name};
use casemesh_model::org::User;
use casemesh_model::policy::PolicyAction;
use casemesh_model::retention::received_case_policy;
use casemesh_store::Actor;
use std::collections::BTreeSet;

/// Blob fetches in flight per import (the net layer bounds the whole node as well).
const PARALLEL_FETCHES: usize = 8;

/// Blobs per batched fetch (within the net layer's `MAX_BATCH_HASHES`): small enough that a
/// page of items makes several batches, which run side by side.
const BATCH_BLOBS: usize = 128;

/// Items of the to-do list taken up at once: the fetches of a page run side by side and the
/// next page starts when they are all done, so a page holds many batches (memory: one entry per
/// item of the page, a few hundred bytes each).
const FETCH_PAGE: usize = 4_096;

/// Items read from an item list into rows per transaction.
const ITEMS_PER_TXN: usize = 256;

/// Fetched items recorded into the copy per transaction (see [`Engine::record_items`]): each
/// item writes about seven rows (its received row, evidence, case index, blob reference, audit
/// entries, to-do removal), and sled keeps a transaction's pages in memory until it commits.
const RECORD_PER_TXN: usize = 128;

/// How often an import in progress tells the sharer how many items it holds.
const PROGRESS_RECEIPT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Largest metadata document or change set fetched as a blob (bytes).
const MAX_CARRIED: u64 = 256 * 1024 * 1024;

/// A unit of an import's fetching: one item, or a batch of small ones.
enum FetchJob {
    One(ManifestEvidence),
    Batch(Vec<ManifestEvidence>),
}

/// The blobs of an item (its file, then its transcripts) with their sizes.
fn item_blobs(item: &ManifestEvidence) -> impl Iterator<Item = (BlobHash, u64)> + '_ {
    std::iter::once((item.hash, item.size)).chain(item.transcripts.iter().map(|t| (t.hash, t.size)))
}

/// Group a page of items into fetch jobs: items whose blobs are all small go in batches within
/// the net layer's limits (blob count, bytes); larger items go one by one.
fn fetch_jobs(items: Vec<ManifestEvidence>) -> Vec<FetchJob> {
    let mut jobs = Vec::new();
    let (mut batch, mut blobs, mut bytes) = (Vec::new(), 0usize, 0u64);
    for item in items {
        let (n, size) = item_blobs(&item).fold((0usize, 0u64), |(n, s), (_, b)| (n + 1, s + b));
        let small = item_blobs(&item).all(|(_, s)| s <= casemesh_net::MAX_BATCH_BLOB)
            && n <= BATCH_BLOBS
            && size <= casemesh_net::MAX_BATCH_BYTES;
        if !small {
            jobs.push(FetchJob::One(item));
            continue;
        }
        if blobs + n > BATCH_BLOBS || bytes + size > casemesh_net::MAX_BATCH_BYTES {
            jobs.push(FetchJob::Batch(std::mem::take(&mut batch)));
            (blobs, bytes) = (0, 0);
        }
        batch.push(item);
        blobs += n;
        bytes += size;
    }
    if !batch.is_empty() {
        jobs.push(FetchJob::Batch(batch));
    }
    jobs
}

/// A copy of a net error for each item that shares the failed blob.
fn copy_net_error(e: &casemesh_net::NetError) -> casemesh_net::NetError {
    match e {
        casemesh_net::NetError::Refused { peer, refusal } => casemesh_net::NetError::Refused {
            peer: *peer,
            refusal: refusal.clone(),
        },
        other => casemesh_net::NetError::Interrupted(other.to_string()),
    }
}

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

/// The line a notice carries when it goes to the intake address: which addresses the partner
/// named that this organization does not know.
fn intake_note(r: &recipients::Resolution) -> String {
    if r.to_intake.is_empty() {
        String::new()
    } else {
        let mut out = String::from(
            "Sent to this organization's intake address: the partner addressed it to these addresses, which are not in this directory:\n",
        );
        for a in &r.to_intake {
            out.push_str("  ");
            out.push_str(a);
            out.push('\n');
        }
        out
    }
}

/// A partner's manifest head is checked like user input before anything is built from it: its
/// folder tree within the limits a local case has (depth, count, names, no cycle), and it names
/// the grant's share and case.
fn check_head(m: &ManifestHead, g: &SignedGrant) -> Result<()> {
    Case::check_folder_tree(&m.folders).map_err(Bad::ManifestFolders)?;
    let text = |r: std::result::Result<(), TextError>| r.map_err(Bad::ManifestText);
    text(check_line(
        "case_number",
        &m.case_number,
        limits::CASE_NUMBER,
    ))?;
    if let Some(why) = casemesh_model::names::case_number_problem(&m.case_number) {
        return Err(Bad::ManifestCaseNumber(why).into());
    }
    text(check_line("title", &m.title, limits::TITLE))?;
    text(check_text(
        "description",
        &m.description,
        limits::CASE_DESCRIPTION,
    ))?;
    if let Some(msg) = &g.grant.message {
        text(check_text("message", msg, limits::MESSAGE))?;
    }
    if m.share != g.grant.id || m.source_case != g.grant.source_case {
        return Err(Bad::ManifestNotOfGrant { share: g.grant.id }.into());
    }
    Ok(())
}

/// A partner's item entry is checked like user input: names as the local rules have them, text
/// within its limits and without control characters.
fn check_item(e: &ManifestEvidence) -> Result<()> {
    let item = e.id;
    validate_name(&e.name).map_err(|error| Bad::ItemName { item, error })?;
    check_line("display_id", &e.display_id, limits::LABEL)
        .and_then(|()| check_text("description", &e.description, limits::EVIDENCE_DESCRIPTION))
        .and_then(|()| check_line("media_type", &e.media_type, limits::LABEL))
        .map_err(|error| Bad::ItemText { item, error })?;
    for t in &e.transcripts {
        validate_name(&t.name).map_err(|error| Bad::TranscriptName { item, error })?;
    }
    Ok(())
}

/// Write the items of an inline list (or of one page of a blob list) as rows of `share`, with
/// sequence number `seq`: a new item is also put on the to-do list; an item already known keeps
/// its state. Returns how many were new.
fn add_items(
    txn: &mut casemesh_store::Txn<'_, '_>,
    share: ShareId,
    seq: u64,
    items: &[ManifestEvidence],
) -> Result<u64> {
    let mut new = 0;
    for e in items {
        check_item(e)?;
        let key = (share, e.id);
        if let Some(mut row) = txn.get(&RECEIVED_ITEMS, &key)? {
            // Sent again because it gained transcripts (issue #15 item 9): the new ones are
            // fetched and attached to the item already in the copy.
            let gained = e
                .transcripts
                .iter()
                .any(|t| !row.entry.transcripts.iter().any(|have| have.hash == t.hash));
            if gained && row.local.is_some() && row.skipped.is_none() {
                row.entry.transcripts = e.transcripts.clone();
                txn.put(&RECEIVED_ITEMS, &key, &row)?;
                txn.put(&RECEIVED_TODO, &key, &1u8)?;
            }
            continue;
        }
        txn.put(
            &RECEIVED_ITEMS,
            &key,
            &ReceivedItem {
                entry: e.clone(),
                seq,
                local: None,
                skipped: None,
            },
        )?;
        txn.put(&RECEIVED_TODO, &key, &1u8)?;
        new += 1;
    }
    Ok(new)
}

/// A step of the received share `share`'s machine refused: the engine's error for it.
fn refusal(share: ShareId, e: Refused) -> SharingError {
    match e {
        Refused::Stopped => NotAllowed::ReceivedStopped { share }.into(),
        Refused::StoppedBeforeImport => NotAllowed::StoppedBeforeImport { share }.into(),
        Refused::AlreadyOffered => Clash::AlreadyOffered { share }.into(),
        Refused::CopyExists(copy) => Clash::CopyExists { share, copy }.into(),
        Refused::BadPass { .. } => SharingError::Internal(e.to_string()),
    }
}

/// How [`Engine::after_commit`] carries out a step's receipt.
enum ReceiptIn {
    /// It was queued in the step's transaction: only wake the outbox.
    Txn,
    /// Queue it now, with the items skipped in the pass that sends it and the signed stop
    /// acknowledgement (wire form, hex) when it answers a stop.
    Now {
        skipped: Vec<(EvidenceId, String)>,
        stop_ack: Option<String>,
    },
}

pub(crate) fn decode_grant(hex_text: &str) -> Result<SignedGrant> {
    let bytes = hex::decode(hex_text).map_err(Bad::GrantNotHex)?;
    Ok(SignedGrant::from_bytes(&bytes).map_err(Bad::Grant)?)
}

impl Engine {
    /// Verify a grant received from `peer`: signature chain, addressed to us, not expired, issued
    /// by the sender.
    pub(crate) fn check_grant(&self, peer: &OrgId, hex_text: &str) -> Result<SignedGrant> {
        let g = decode_grant(hex_text)?;
        grant::verify(&g, self.now(), Some(&self.inner.me)).map_err(|error| {
            NotAllowed::GrantRefused {
                share: g.grant.id,
                error,
            }
        })?;
        if g.grant.issuer != *peer {
            return Err(NotAllowed::GrantNotFromSender {
                share: g.grant.id,
                issuer: g.grant.issuer.clone(),
                sender: peer.clone(),
            }
            .into());
        }
        Ok(g)
    }

    /// Every share received from partners.
    pub fn received(&self) -> Result<Vec<IncomingShare>> {
        let mut all: Vec<IncomingShare> = self.inner.store.all(&RECEIVED)?;
        all.sort_by_key(|s| s.received_at);
        Ok(all)
    }

    /// The received share a local case is the copy of (`None` for a case of this organization).
    pub fn received_of_copy(&self, case: CaseId) -> Result<Option<IncomingShare>> {
        Ok(self
            .inner
            .store
            .by_index(&RECEIVED, &RECEIVED_BY_LOCAL_CASE, &case.to_string())?
            .into_iter()
            .next())
    }

    /// Received share `id`.
    ///
    /// # Errors
    /// [`SharingError::NotFound`] when this node received no share `id`.
    pub fn received_share(&self, id: ShareId) -> Result<IncomingShare> {
        self.inner
            .store
            .get(&RECEIVED, &id)?
            .ok_or(SharingError::NotFound(Missing::ReceivedShare(id)))
    }

    /// The received share a reference as a user types it names: a share id, the local copy's
    /// case id, or the sharer's case number (as the import details show it). A reference, not
    /// an id, so text: what resolves it is this function.
    ///
    /// # Errors
    /// [`SharingError::NotFound`] when nothing matches; [`SharingError::Conflict`] when several
    /// received shares have the case number.
    pub fn find_received(&self, reference: &str) -> Result<IncomingShare> {
        if let Ok(sid) = reference.parse::<ShareId>()
            && let Some(s) = self.inner.store.get(&RECEIVED, &sid)?
        {
            return Ok(s);
        }
        if let Ok(case) = reference.parse::<CaseId>()
            && let Some(s) = self.received_of_copy(case)?
        {
            return Ok(s);
        }
        // The sharer's case number (as the import details show it), even when a local case
        // has the same number; refused when several received shares have it.
        let by_number: Vec<IncomingShare> = self
            .received()?
            .into_iter()
            .filter(|s| s.head.case_number == reference)
            .collect();
        match by_number.len() {
            1 => return Ok(by_number.into_iter().next().expect("one")),
            0 => {}
            _ => {
                return Err(Clash::CaseNumberAmbiguous {
                    case_number: reference.to_owned(),
                    shares: by_number.iter().map(|s| s.id).collect(),
                }
                .into());
            }
        }
        Err(SharingError::NotFound(Missing::ReceivedShareText(
            reference.to_owned(),
        )))
    }

    /// The items of a received share that were skipped (the sharer refused them for good), with
    /// why; at most the first 10,000. Reads the share's item rows only when it skipped any.
    pub fn skipped_items(&self, share: &IncomingShare) -> Result<Vec<(EvidenceId, SkippedItem)>> {
        let mut out = Vec::new();
        if share.items_skipped == 0 {
            return Ok(out);
        }
        self.for_each_received_item(share.id, |id, item| {
            if let Some(s) = item.skipped
                && out.len() < 10_000
            {
                out.push((id, s));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// One received share, by share id.
    pub(crate) fn received_by_id(&self, id: ShareId) -> Result<IncomingShare> {
        self.inner
            .store
            .get(&RECEIVED, &id)?
            .ok_or(SharingError::NotFound(Missing::ReceivedShare(id)))
    }

    pub(crate) async fn on_offer(&self, peer: &OrgId, offer: Offer) -> Result<()> {
        let g = self.check_grant(peer, &offer.grant)?;
        check_head(&offer.head, &g)?;
        let id = g.grant.id;
        if self.inner.store.get(&RECEIVED, &id)?.is_some() {
            return Ok(()); // the same share offered twice: keep the first
        }
        let partner = self
            .partner_by_id(peer)?
            .ok_or_else(|| NotAllowed::NotAPartner(peer.clone()))?;
        // Recipients are this organization's own users, groups and addresses: an unknown one is
        // a mistake the sharer must hear about (nothing is stored), an unknown address goes to
        // the intake address, never to the address itself (see `recipients`).
        let resolved = self.resolve_partner_recipients(&g.grant.recipients)?;
        if let Some(why) = resolved.refusal() {
            tracing::warn!(share = %g.grant.id, from = %partner.name, reason = %why, "share refused");
            return Err(why.into());
        }
        let intake_note = intake_note(&resolved);
        let (users, emails) = (resolved.users, Vec::from_iter(resolved.addresses));
        let mut share = IncomingShare {
            id: g.grant.id,
            sharer: peer.clone(),
            sharer_name: partner.name.clone(),
            grant: offer.grant.clone(),
            head: offer.head.clone(),
            seq: 0,
            lists: Default::default(),
            done_seq: None,
            items_imported: 0,
            items_skipped: 0,
            recipients: g.grant.recipients.clone(),
            resolved_users: users.iter().map(|u| u.username.clone()).collect(),
            recipients_since: Vec::new(),
            received_at: self.now(),
            local_case: None,
            import_map: Default::default(),
            status: ReceivedStatus::Pending,
            last_error: None,
            mode: g.grant.mode,
        };
        // The metadata document: fetched now if it came as a blob, so the share is whole once
        // the offer is acknowledged.
        let (upstream, applied) = match &offer.meta_doc {
            Some(c) => {
                let bytes = self.carried_bytes(peer, &g, c).await?;
                let doc = casemesh_meta::CaseDoc::load(&bytes)
                    .map_err(|e| Bad::MalformedMetaDocument(Box::new(e)))?;
                // Case fields taken in at import; each item's values stay with the item.
                // (Read field by field: the whole metadata snapshot holds every item.)
                let mut applied = casemesh_meta::AppliedState::default();
                for f in casemesh_meta::Field::CASE {
                    let r = casemesh_meta::FieldRef::case(f);
                    if let Some(v) = doc.get(r) {
                        applied.record(r, &v);
                    }
                }
                (Some(hex::encode(&bytes)), applied)
            }
            None => (None, Default::default()),
        };
        // An access-mode share makes no copy by itself: its users fetch what they open, on
        // demand (`access.rs`); an Import (when the policy allows it) makes one.
        let auto = self.settings().auto_import
            && g.grant.policy.allows(PolicyAction::Import)
            && g.grant.mode == ShareMode::Copy;
        let effects = lifecycle::step(
            &mut share,
            Event::Offered {
                items: &offer.items,
                auto_import: auto,
            },
        )
        .map_err(|e| refusal(id, e))?;
        let mails = self.mails(
            &emails,
            format!("Case {} shared with you by {}", offer.head.case_number, partner.name),
            format!(
                "{} shared the case {} \"{}\" with you ({} evidence items).\n{}{}\nShare id: {}\nOpen it with: casemesh case list --external\n",
                partner.name,
                offer.head.case_number,
                offer.head.title,
                offer.items.count(),
                g.grant.message.as_deref().map(|m| format!("Message: {m}\n")).unwrap_or_default(),
                intake_note,
                id
            ),
        );
        let receipt = match effects
            .iter()
            .any(|e| matches!(e, Effect::SendReceipt { .. }))
        {
            true => Some(self.receipt_message(&share, Vec::new(), false, None)?),
            false => None,
        };
        // The share, its items, its notifications and (without auto-import) the receipt commit
        // together.
        let stored = self.inner.store.atomically(|txn| {
            if txn.get(&RECEIVED, &id)?.is_some() {
                return Ok(false);
            }
            txn.put(&RECEIVED, &id, &share)?;
            if let Some(up) = &upstream {
                txn.put(&RECEIVED_DOCS, &id, up)?;
                txn.put(&RECEIVED_APPLIED, &id, &applied)?;
            }
            for effect in &effects {
                match effect {
                    Effect::AddItems { seq } => {
                        if let ItemList::Inline(v) = &offer.items {
                            add_items(txn, id, *seq, v)?;
                        }
                    }
                    Effect::Notify => {
                        for m in &mails {
                            txn.queue_push(MAIL_QUEUE, m)?;
                        }
                    }
                    Effect::SendReceipt { .. } => {
                        if let Some(r) = &receipt {
                            Self::queue_in(txn, &share.sharer, r)?;
                        }
                    }
                    _ => {}
                }
            }
            Ok::<_, SharingError>(true)
        })?;
        if !stored {
            return Ok(());
        }
        tracing::info!(share = %id, from = %partner.name, items = offer.items.count(), "share received");
        self.mail_queued(mails.len());
        self.after_commit(&share, &effects, ReceiptIn::Txn)
    }

    /// The bytes a message carries: inline, or fetched (verified) from the sharer under the grant.
    pub(crate) async fn carried_bytes(
        &self,
        peer: &OrgId,
        g: &SignedGrant,
        c: &Carried,
    ) -> Result<Vec<u8>> {
        match c {
            Carried::Inline(h) => Ok(hex::decode(h).map_err(Bad::CarriedNotHex)?),
            Carried::Blob(b) => {
                if b.size > MAX_CARRIED {
                    return Err(Bad::CarriedTooLarge {
                        size: b.size,
                        max: MAX_CARRIED,
                    }
                    .into());
                }
                let peer: casemesh_net::PeerId = peer
                    .as_str()
                    .parse()
                    .map_err(|_| Bad::SharerId(peer.clone()))?;
                let _pin = self.inner.store.blobs().pin([b.hash]);
                self.fetch_blob(peer, &g.to_bytes(), b.hash, b.size).await?;
                let (mut file, _) = self.inner.store.blobs().open_verified(&b.hash)?;
                let mut out = Vec::with_capacity(b.size as usize);
                std::io::Read::read_to_end(&mut file, &mut out)
                    .map_err(|e| SharingError::Internal(format!("read carried blob: {e}")))?;
                Ok(out)
            }
        }
    }

    pub(crate) async fn on_update(&self, peer: &OrgId, update: ManifestUpdate) -> Result<()> {
        let g = self.check_grant(peer, &update.grant)?;
        let id = g.grant.id;
        let current = self.received_by_id(id)?;
        if current.sharer != *peer {
            return Err(NotAllowed::UpdateFromOther {
                share: id,
                from: peer.clone(),
            }
            .into());
        }
        if current.status == ReceivedStatus::Stopped {
            return Err(NotAllowed::ReceivedStopped { share: id }.into());
        }
        check_head(&update.head, &g)?;
        if update.seq <= current.seq {
            return Ok(()); // already applied (the outbox delivers in order, exactly once)
        }
        // Recipients added later are checked the same way; an unknown one is not notified and
        // gets no access, and the receipt that answers this update names it, with why (the
        // evidence still arrives: refusing the update would stop case synchronization).
        let resolved = self.resolve_partner_recipients(&g.grant.recipients)?;
        if let Some(why) = resolved.refusal() {
            tracing::warn!(share = %id, reason = %why, "update names recipients this organization does not know; they are not notified, and the sharer is told in the receipt");
        }
        // Every receipt names the recipients unknown here (see `receipt_message`): the grant's.
        let refused = resolved.refused();
        let (users, emails) = (resolved.users, Vec::from_iter(resolved.addresses));
        let new_items = update.items.count();
        let mails = if new_items > 0 {
            self.mails(
                &emails,
                format!("Case {} updated by {}", update.head.case_number, current.sharer_name),
                format!("{} added {new_items} evidence items to the shared case {} \"{}\".\nShare id: {id}\n", current.sharer_name, update.head.case_number, update.head.title),
            )
        } else {
            Vec::new()
        };
        let resolved: Vec<String> = users.iter().map(|u| u.username.clone()).collect();
        let (all_users, all_groups) = (self.inner.store.users()?, self.inner.store.groups()?);
        let now = self.now();
        let updated = self.inner.store.atomically(|txn| {
            let Some(mut s) = txn.get(&RECEIVED, &id)? else {
                return Ok(None);
            };
            let effects = lifecycle::step(
                &mut s,
                Event::Updated(lifecycle::Update {
                    seq: update.seq,
                    grant: &update.grant,
                    head: &update.head,
                    items: &update.items,
                    new_items,
                    recipients: &g.grant.recipients,
                    resolved_users: &resolved,
                    receive_updates: g.grant.policy.allows(PolicyAction::ReceiveUpdates),
                }),
            )
            .map_err(|e| refusal(id, e))?;
            if effects.is_empty() {
                return Ok(None); // already applied
            }
            for effect in &effects {
                match effect {
                    Effect::GrantAccess {
                        recipients: added,
                        since,
                    } => {
                        let Some(copy) = s.local_case else { continue };
                        let owner = txn
                            .case(copy)?
                            .ok_or(SharingError::NotFound(Missing::Case(copy)))?
                            .owner;
                        let (principals, _) =
                            recipients::principals(added, &all_users, &all_groups);
                        for p in principals {
                            // A principal the share already gave the copy to keeps what it has.
                            if txn.case_access_entry(copy, p, id)?.is_none() {
                                let entry =
                                    AccessEntry::new(p, Scope::EntireCase, owner, now, Some(id))
                                        .since(*since);
                                txn.grant_case_access(copy, &entry)?;
                            }
                        }
                    }
                    Effect::AddItems { seq } => {
                        if let ItemList::Inline(v) = &update.items {
                            add_items(txn, id, *seq, v)?;
                        }
                    }
                    Effect::Notify => {
                        for m in &mails {
                            txn.queue_push(MAIL_QUEUE, m)?;
                        }
                    }
                    // The receipt commits with the update it answers.
                    Effect::SendReceipt { .. } => {
                        let r = self.unsigned_receipt(&s, refused.clone())?;
                        Self::queue_in(txn, &s.sharer, &r)?;
                    }
                    _ => {}
                }
            }
            txn.put(&RECEIVED, &id, &s)?;
            Ok::<_, SharingError>(Some((s, effects)))
        })?;
        let Some((share, effects)) = updated else {
            return Ok(());
        };
        self.mail_queued(mails.len());
        self.after_commit(&share, &effects, ReceiptIn::Txn)
    }

    pub(crate) fn on_revocation(&self, peer: &OrgId, notice: RevocationNotice) -> Result<()> {
        let bytes = hex::decode(&notice.revocation).map_err(Bad::RevocationNotHex)?;
        let rev = SignedRevocation::from_bytes(&bytes).map_err(Bad::Revocation)?;
        let share = match self.received_by_id(rev.revocation.grant_id) {
            Ok(s) => s,
            // A share stopped before its offer left the sharer's outbox: nothing to stop here.
            Err(SharingError::NotFound(_)) => {
                tracing::info!(share = %rev.revocation.grant_id, "revocation of a share never received");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if share.sharer != *peer {
            return Err(NotAllowed::RevocationFromOther {
                share: share.id,
                from: peer.clone(),
            }
            .into());
        }
        let g = decode_grant(&share.grant)?;
        grant::verify_revocation(&rev, &g).map_err(|error| NotAllowed::RevocationRefused {
            share: share.id,
            error,
        })?;
        let id = share.id;
        let (share, effects) = self.step_received(id, Event::Stopped)?;
        // The sharer's record says what this node kept, signed, with the signed acknowledgement.
        let ack = StopAck {
            share: id,
            revocation_hash: custody::revocation_hash(&bytes),
            holder: OrgId(String::new()),
            holder_key: [0; 32],
            at: self.now(),
        };
        let ack = hex::encode(Signed::sign(ack, &self.inner.key).to_bytes());
        tracing::info!(share = %id, "sharer stopped sharing; the copy stays");
        // Stop sharing ends the transfer at once, not after the item in flight; stopping a share
        // revokes its whole subtree: every onward share of it ends too (each partner hears it
        // through the durable outbox, also after being offline).
        self.after_commit(
            &share,
            &effects,
            ReceiptIn::Now {
                skipped: Vec::new(),
                stop_ack: Some(ack),
            },
        )
    }

    /// Carry out the effects of a [`lifecycle::step`] that follow its commit, in order: start or
    /// end the share's import, send its receipt (`how`: already queued in the step's
    /// transaction, or queued now with the items skipped and the stop acknowledgement), stop its
    /// onward shares, sweep partial downloads. The transactional effects were carried out in
    /// the step's transaction.
    fn after_commit(
        &self,
        share: &IncomingShare,
        effects: &[Effect],
        how: ReceiptIn,
    ) -> Result<()> {
        let mut how = how;
        for effect in effects {
            match effect {
                Effect::SendReceipt { sign, .. } => match &mut how {
                    ReceiptIn::Txn => self.wake_outbox(),
                    ReceiptIn::Now { skipped, stop_ack } => self.send_receipt_with(
                        share,
                        std::mem::take(skipped),
                        *sign,
                        stop_ack.take(),
                    )?,
                },
                Effect::StartImport => self.spawn_sync(share.id),
                Effect::CancelImport => self.cancel_import(share.id),
                Effect::StopOnward => self.stop_onward_of(share)?,
                Effect::CleanPartials => {
                    if let Err(e) = self.clean_partials() {
                        tracing::warn!(error = %e, "could not clean partial downloads");
                    }
                }
                Effect::AddItems { .. } | Effect::Notify | Effect::GrantAccess { .. } => {}
            }
        }
        Ok(())
    }

    /// Stop every onward share this node made of received share `parent`: they are shares of
    /// its local copy (found through the shares-by-case index, not a scan of every share).
    fn stop_onward_of(&self, parent: &IncomingShare) -> Result<()> {
        let Some(copy) = parent.local_case else {
            return Ok(());
        };
        let system = Actor::new("system", self.now());
        for s in self.shares(Some(copy))? {
            if s.onward.is_some_and(|o| o.parent == parent.id)
                && s.status != crate::records::ShareStatus::Stopped
            {
                self.stop_share(&system, s.id)?;
                tracing::info!(share = %s.id, parent = %parent.id, "onward share stopped with its parent");
            }
        }
        Ok(())
    }

    /// Apply `event` to received share `id` in one transaction, for an event whose effects all
    /// follow the commit. Returns the record as written and the effects to carry out.
    fn step_received(&self, id: ShareId, event: Event<'_>) -> Result<(IncomingShare, Vec<Effect>)> {
        self.inner.store.atomically(|txn| {
            let mut s: IncomingShare = txn
                .get(&RECEIVED, &id)?
                .ok_or(SharingError::NotFound(Missing::ReceivedShare(id)))?;
            let effects = lifecycle::step(&mut s, event.clone()).map_err(|e| refusal(id, e))?;
            txn.put(&RECEIVED, &id, &s)?;
            Ok::<_, SharingError>((s, effects))
        })
    }

    /// Import a received share now (when auto-import is off, or to retry).
    pub fn import(&self, id: ShareId) -> Result<IncomingShare> {
        let share = self.received_share(id)?;
        // Refused before the grant is looked at (a stopped share's grant may have expired).
        lifecycle::step(&mut share.clone(), Event::ImportRequested).map_err(|e| refusal(id, e))?;
        let g = decode_grant(&share.grant)?;
        grant::verify(&g, self.now(), Some(&self.inner.me))
            .map_err(|error| NotAllowed::GrantRefused { share: id, error })?;
        if !g.grant.policy.allows(PolicyAction::Import) {
            return Err(NotAllowed::ImportByPolicy { share: id }.into());
        }
        let (now, effects) = self.step_received(share.id, Event::ImportRequested)?;
        self.after_commit(&now, &effects, ReceiptIn::Txn)?;
        self.received_share(id)
    }

    /// A partner's recipients resolved against this organization's directory and intake
    /// address ([`recipients::resolve`]).
    fn resolve_partner_recipients(
        &self,
        recipients: &[Recipient],
    ) -> Result<recipients::Resolution> {
        let users = self.inner.store.users()?;
        let groups = self.inner.store.groups()?;
        let intake = self.settings().intake_address;
        Ok(recipients::resolve(
            recipients,
            &users,
            &groups,
            intake.as_deref(),
        ))
    }

    /// Users this organization resolves the recipients *its own users* name to, and the email
    /// addresses to notify (any address: a local user chose it, e.g. a download link's
    /// recipient). A partner's recipients go through [`Engine::resolve_partner_recipients`].
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

    /// The email notifications for the local users (and addresses) `recipients` name: one mail
    /// per address (so a refused address never holds up the others; empty when nobody named has
    /// an address). Nothing is queued here: the caller queues them with
    /// [`queue_mails`](crate::queue_mails) in the
    /// transaction of the change they announce, so the change and its notifications commit
    /// together or not at all, then calls [`Engine::mail_queued`].
    ///
    /// # Errors
    /// [`SharingError::Store`] when the users or groups cannot be read.
    pub fn notification(
        &self,
        recipients: &[Recipient],
        subject: String,
        body: String,
    ) -> Result<Vec<MailMessage>> {
        let (_, emails) = self.resolve_recipients(recipients)?;
        Ok(self.mails(&emails, subject, body))
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

    /// Wakes the mail loop after a transaction queued `queued` mails
    /// ([`queue_mails`](crate::queue_mails)); nothing
    /// happens for 0.
    pub fn mail_queued(&self, queued: usize) {
        if queued > 0 {
            self.inner.mail_wake.notify_one();
        }
    }

    /// The receipt of a share as it stands: what this node holds, and the items it went around in
    /// the pass that sends it. With `sign`, it carries this organization's signed holding
    /// receipt for the items held from lists up to `done_seq` ([`custody::held_digest`]: one
    /// pass over the share's item rows, so only the receipt that ends an import pass, or answers
    /// a stop, is signed), and `stop_ack`, when given, rides along. Every receipt names the
    /// share's recipients this organization does not know now ([`recipients::Resolution::refused`]),
    /// so a recipient added later, or one added to the directory since, is reported as it stands.
    fn receipt_message(
        &self,
        share: &IncomingShare,
        mut skipped: Vec<(EvidenceId, String)>,
        sign: bool,
        stop_ack: Option<String>,
    ) -> Result<crate::records::OutboxMessage> {
        skipped.truncate(wire::MAX_SKIPPED_PER_RECEIPT);
        let signed = match share.done_seq {
            Some(upto) if sign => Some(self.sign_holding_receipt(share, upto)?),
            _ => None,
        };
        let refused = self
            .resolve_partner_recipients(&share.recipients)?
            .refused();
        self.receipt_of(share, skipped, signed, stop_ack, refused)
    }

    /// An unsigned receipt of `share` with nothing skipped, built from `refused` (the share's
    /// recipients this organization does not know) without reading the store: it can be queued
    /// in the transaction that changes the share.
    fn unsigned_receipt(
        &self,
        share: &IncomingShare,
        refused: Vec<(Recipient, String)>,
    ) -> Result<crate::records::OutboxMessage> {
        self.receipt_of(share, Vec::new(), None, None, refused)
    }

    /// The receipt message of `share` from its parts.
    fn receipt_of(
        &self,
        share: &IncomingShare,
        skipped: Vec<(EvidenceId, String)>,
        signed: Option<String>,
        stop_ack: Option<String>,
        refused: Vec<(Recipient, String)>,
    ) -> Result<crate::records::OutboxMessage> {
        let receipt = Receipt {
            share: share.id,
            seq: share.done_seq,
            have: share.items_imported,
            imported: share.local_case.is_some(),
            skipped_total: share.items_skipped,
            skipped,
            signed,
            stop_ack,
            refused_recipients: Some(refused),
        };
        self.outbox_message(&wire::Message::Receipt(receipt), Some(share.id))
    }

    /// This organization's signed holding receipt for the items of `share` held from lists up
    /// to `upto`, wire form, hex.
    fn sign_holding_receipt(&self, share: &IncomingShare, upto: u64) -> Result<String> {
        let digest = custody::held_digest(&self.inner.store, share.id, upto)?;
        let statement = HoldingReceipt {
            share: share.id,
            grant_hash: decode_grant(&share.grant)?.hash(),
            holder: OrgId(String::new()),
            holder_key: [0; 32],
            seq: upto,
            items: digest.count(),
            roots: digest.finish(),
            at: self.now(),
        };
        Ok(hex::encode(
            Signed::sign(statement, &self.inner.key).to_bytes(),
        ))
    }

    fn send_receipt(
        &self,
        share: &IncomingShare,
        skipped: Vec<(EvidenceId, String)>,
    ) -> Result<()> {
        self.send_receipt_with(share, skipped, false, None)
    }

    fn send_receipt_with(
        &self,
        share: &IncomingShare,
        skipped: Vec<(EvidenceId, String)>,
        sign: bool,
        stop_ack: Option<String>,
    ) -> Result<()> {
        let msg = self.receipt_message(share, skipped, sign, stop_ack)?;
        self.inner
            .store
            .atomically(|txn| Self::queue_in(txn, &share.sharer, &msg))?;
        self.wake_outbox();
        Ok(())
    }

    /// Create the copy if needed, read the item lists that came as blobs, then bring every item
    /// on the to-do list into the copy. Idempotent: items already copied are not on it, so a
    /// retry or a restart continues where it stopped. An item the sharer refuses for good
    /// (deleted, out of scope) is recorded as skipped with the reason and the import goes on
    /// around it; any other failure ends this pass (and is retried). Memory holds one page of
    /// the to-do list, whatever the share's size. The caller holds the share's import turn
    /// (`Engine::spawn_sync`): one pass at a time writes a share's copy.
    pub(crate) async fn sync_copy(&self, share_id: ShareId) -> Result<()> {
        let id = share_id;
        let mut share = self.received_by_id(id)?;
        if share.status == ReceivedStatus::Stopped {
            return Ok(());
        }
        let g = decode_grant(&share.grant)?;
        grant::verify(&g, self.now(), Some(&self.inner.me))
            .map_err(|error| NotAllowed::GrantRefused { share: id, error })?;
        let peer = crate::partners::peer_of(&share.sharer)?;
        let grant_bytes = g.to_bytes();
        // Everything received up to here is what this pass completes.
        let upto = share.seq;
        self.read_lists(peer, &grant_bytes, &share).await?;
        let case_id = match share.local_case {
            Some(c) => c,
            None => self.create_copy(&mut share)?,
        };
        let sharer_actor = Actor::new(format!("org:{}", share.sharer_name), self.now());
        let mut skipped_now: Vec<(EvidenceId, String)> = Vec::new();
        // Progress receipts: at most one per PROGRESS_RECEIPT_EVERY, when items were recorded.
        let (mut unreported, mut last_receipt) = (false, std::time::Instant::now());
        let prefix = format!("{id}/");
        let mut after: Option<String> = None;
        let mut failure = None;
        'pages: loop {
            let page =
                self.inner
                    .store
                    .page(&RECEIVED_TODO, &prefix, after.as_deref(), FETCH_PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let mut pending = Vec::with_capacity(page.len());
            for (key, _) in page {
                if let Some(item) = self.todo_row(id, &key)? {
                    pending.push(item.entry);
                }
            }
            // Small items travel in batches (one request, one grant check and one audit
            // transaction at the sharer, one flush here); the others one by one.
            let mut pending = fetch_jobs(pending).into_iter();
            let mut running = tokio::task::JoinSet::new();
            loop {
                while failure.is_none() && running.len() < PARALLEL_FETCHES {
                    let Some(job) = pending.next() else { break };
                    let (engine, grant_bytes) = (self.clone(), grant_bytes.clone());
                    running.spawn(async move {
                        match job {
                            FetchJob::One(item) => {
                                let r = engine.fetch_item(peer, &grant_bytes, &item).await;
                                vec![(item, r)]
                            }
                            FetchJob::Batch(items) => {
                                engine.fetch_small_items(peer, &grant_bytes, items).await
                            }
                        }
                    });
                }
                // Waiting on a long fetch, the sharer still hears of what arrived meanwhile.
                let first =
                    match tokio::time::timeout(PROGRESS_RECEIPT_EVERY, running.join_next()).await {
                        Ok(Some(done)) => done,
                        Ok(None) => break,
                        Err(_) => {
                            if unreported {
                                let now = self.received_by_id(id)?;
                                self.send_receipt(&now, std::mem::take(&mut skipped_now))?;
                                (unreported, last_receipt) = (false, std::time::Instant::now());
                            }
                            continue;
                        }
                    };
                // Record every fetch that has finished by now in one transaction.
                let mut finished = vec![first];
                while let Some(more) = running.try_join_next() {
                    finished.push(more);
                }
                let mut fetched = Vec::new();
                let mut refused = Vec::new();
                let finished = finished
                    .into_iter()
                    .map(|done| {
                        done.map_err(|e| SharingError::Internal(format!("fetch task: {e}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                for (item, r) in finished.into_iter().flatten() {
                    match r {
                        // The pins keep the fetched blobs until the items' records reference
                        // them.
                        Ok((transcripts, pins)) => fetched.push((item, transcripts, pins)),
                        Err(e) if is_refused_for_good(&e) => refused.push((item, e.to_string())),
                        // Let the fetches in flight finish (their bytes are kept), then end.
                        Err(e) => failure = failure.or(Some(e)),
                    }
                }
                self.record_items(id, case_id, &fetched, &refused, &sharer_actor)?;
                if !fetched.is_empty() {
                    // The copy changed: its onward shares (if any) carry the new items on.
                    self.case_changed(case_id);
                }
                unreported |= !fetched.is_empty() || !refused.is_empty();
                skipped_now.extend(refused.into_iter().map(|(i, why)| (i.id, why)));
                // The sharer sees the import progress, not only its end.
                if unreported && last_receipt.elapsed() >= PROGRESS_RECEIPT_EVERY {
                    let now = self.received_by_id(id)?;
                    self.send_receipt(&now, std::mem::take(&mut skipped_now))?;
                    (unreported, last_receipt) = (false, std::time::Instant::now());
                }
            }
            if failure.is_some() {
                break 'pages;
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let more_to_do = self.inner.store.page(&RECEIVED_TODO, &prefix, None, 1)?;
        // Imported; everything up to `upto` held when nothing is left to fetch; a second pass
        // when the sharer sent items while this one ran (all in the machine).
        let (done, effects) = self.step_received(
            id,
            Event::PassFinished {
                upto,
                todo_empty: more_to_do.is_empty(),
            },
        )?;
        self.after_commit(
            &done,
            &effects,
            ReceiptIn::Now {
                skipped: skipped_now,
                stop_ack: None,
            },
        )
    }

    /// The item row behind a to-do key (`<share>/<sharer evidence id>`) of `share`.
    fn todo_row(&self, share: ShareId, key: &str) -> Result<Option<ReceivedItem>> {
        let Some(item) = key
            .split_once('/')
            .and_then(|(_, ev)| ev.parse::<EvidenceId>().ok())
        else {
            return Ok(None);
        };
        Ok(self.inner.store.get(&RECEIVED_ITEMS, &(share, item))?)
    }

    /// Fetch and read, in order, the item lists of `share` that came as blobs: their items become
    /// rows (and to-do entries), [`ITEMS_PER_TXN`] at a time; the list is dropped from the share
    /// in the transaction of its last page. A crash re-reads a list; rows already there stay.
    pub(crate) async fn read_lists(
        &self,
        peer: casemesh_net::PeerId,
        grant_bytes: &[u8],
        share: &IncomingShare,
    ) -> Result<()> {
        let id = share.id;
        for (seq, list) in share.lists.clone() {
            let ItemList::Blob { list, count } = list else {
                continue;
            };
            let _pin = self.inner.store.blobs().pin([list.hash]);
            self.fetch_blob(peer, grant_bytes, list.hash, list.size)
                .await?;
            let store = self.inner.store.clone();
            self.blocking("list", move || -> Result<()> {
                let (file, _) = store.blobs().open_verified(&list.hash)?;
                let mut batch = Vec::with_capacity(ITEMS_PER_TXN);
                let flush = |batch: &mut Vec<ManifestEvidence>| -> Result<()> {
                    store.atomically(|txn| add_items(txn, id, seq, batch))?;
                    batch.clear();
                    Ok(())
                };
                crate::manifest::read_list(file, count, |e| {
                    batch.push(e);
                    if batch.len() >= ITEMS_PER_TXN {
                        flush(&mut batch)?;
                    }
                    Ok(())
                })?;
                store.atomically(|txn| {
                    add_items(txn, id, seq, &batch)?;
                    let Some(mut s) = txn.get(&RECEIVED, &id)? else {
                        return Ok(());
                    };
                    lifecycle::step(&mut s, Event::ListRead { seq }).map_err(|e| refusal(id, e))?;
                    txn.put(&RECEIVED, &id, &s)?;
                    Ok::<_, SharingError>(())
                })?;
                tracing::info!(share = %id, seq, items = count, "item list read");
                Ok(())
            })
            .await?;
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

    /// Fetch the blobs of many small items in one batched request and store them with one
    /// flush (see [`casemesh_net::NetHandle::fetch_small_blobs`] and
    /// [`casemesh_store::BlobStore::put_verified_batch`]). Returns each item's outcome as
    /// [`Engine::fetch_item`] does: an item is `Ok` only when every blob it needs is verified
    /// and durable in the store, so recording it can never outrun its bytes.
    async fn fetch_small_items(
        &self,
        peer: casemesh_net::PeerId,
        grant_bytes: &[u8],
        items: Vec<ManifestEvidence>,
    ) -> Vec<(
        ManifestEvidence,
        Result<(Vec<Transcript>, casemesh_store::BlobPins)>,
    )> {
        let blobs = self.inner.store.blobs().clone();
        let pins: Vec<_> = items
            .iter()
            .map(|i| blobs.pin(item_blobs(i).map(|(h, _)| h)))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let wanted: Vec<(BlobHash, u64)> = items
            .iter()
            .flat_map(item_blobs)
            .filter(|(h, _)| seen.insert(*h) && !blobs.contains(h))
            .collect();
        let mut failed: std::collections::HashMap<BlobHash, casemesh_net::NetError> =
            Default::default();
        let mut whole_batch: Option<SharingError> = None;
        if !wanted.is_empty() {
            let total: u64 = wanted.iter().map(|(_, s)| s).sum();
            let fetched = match blobs.check_space(total) {
                Ok(()) => self
                    .inner
                    .net
                    .fetch_small_blobs(peer, grant_bytes.to_vec(), wanted.clone())
                    .await
                    .map_err(SharingError::from),
                Err(e) => Err(e.into()),
            };
            match fetched {
                Ok(results) => {
                    let mut good = Vec::with_capacity(results.len());
                    for ((hash, _), r) in wanted.iter().zip(results) {
                        match r {
                            Ok(bytes) => good.push((*hash, bytes)),
                            Err(e) => {
                                failed.insert(*hash, e);
                            }
                        }
                    }
                    let count = good.len();
                    let store = blobs.clone();
                    let stored = self
                        .blocking("store", move || {
                            let refs: Vec<(BlobHash, &[u8])> =
                                good.iter().map(|(h, b)| (*h, b.as_slice())).collect();
                            Ok(store.put_verified_batch(&refs)?)
                        })
                        .await;
                    match stored {
                        Ok(()) => {
                            tracing::info!(blobs = count, bytes = total, "blob batch received")
                        }
                        Err(e) => whole_batch = Some(e),
                    }
                }
                Err(e) => whole_batch = Some(e),
            }
        }
        items
            .into_iter()
            .zip(pins)
            .map(|(item, pins)| {
                let failure = item_blobs(&item).find_map(|(h, _)| failed.get(&h));
                let outcome = if let Some(e) = failure {
                    Err(SharingError::from(copy_net_error(e)))
                } else if let Some(e) = whole_batch.take() {
                    Err(e)
                } else if item_blobs(&item).any(|(h, _)| !blobs.contains(&h)) {
                    // The batch (or its flush) failed: nothing of it counts.
                    Err(SharingError::Net(Box::new(
                        casemesh_net::NetError::Interrupted(
                            "the batch holding this item was not stored".into(),
                        ),
                    )))
                } else {
                    let transcripts = item
                        .transcripts
                        .iter()
                        .map(|t| Transcript {
                            id: TranscriptId::random(),
                            name: t.name.clone(),
                            hash: t.hash,
                            size: t.size,
                        })
                        .collect();
                    Ok((transcripts, pins))
                };
                (item, outcome)
            })
            .collect()
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
        self.blocking("store", move || Ok(blobs.adopt_verified(&path, &hash)?))
            .await?;
        tracing::info!(blob = %hash, size, resumed_from = fetched.resumed_from, skipped = fetched.skipped, "blob received");
        Ok(())
    }

    /// Add received items to the copy, placed by the folder rules, and record the ones the
    /// sharer refused for good as skipped: every evidence record, audit entry and item state
    /// commits in one transaction, so a crash can neither lose an item nor add it twice.
    fn record_items(
        &self,
        share_id: ShareId,
        case_id: CaseId,
        fetched: &[(ManifestEvidence, Vec<Transcript>, casemesh_store::BlobPins)],
        refused: &[(ManifestEvidence, String)],
        actor: &Actor,
    ) -> Result<()> {
        if fetched.is_empty() && refused.is_empty() {
            return Ok(());
        }
        let now = self.now();
        for (item, reason) in refused {
            tracing::warn!(share = %share_id, item = %item.id, reason, "item skipped: the sharer refused it");
        }
        // A bounded number of items per transaction: sled holds a transaction's whole write set
        // (and a copy of every page it touches) in memory until it commits, so one transaction
        // for every fetch finished at once (up to PARALLEL_FETCHES × BATCH_BLOBS items) was the
        // receiver's peak memory (docs/benchmarks.md, "Memory with many items"). Each chunk is
        // whole on its own: an item's row, its evidence, its audit entry and the share's counts.
        let mut fetched = fetched;
        let mut refused = refused;
        while !fetched.is_empty() || !refused.is_empty() {
            let (f, rest_f) = fetched.split_at(fetched.len().min(RECORD_PER_TXN));
            let (r, rest_r) = refused.split_at(refused.len().min(RECORD_PER_TXN - f.len()));
            self.record_chunk(share_id, case_id, f, r, actor, now)?;
            (fetched, refused) = (rest_f, rest_r);
        }
        Ok(())
    }

    /// One transaction of [`Engine::record_items`]: at most [`RECORD_PER_TXN`] items.
    fn record_chunk(
        &self,
        share_id: ShareId,
        case_id: CaseId,
        fetched: &[(ManifestEvidence, Vec<Transcript>, casemesh_store::BlobPins)],
        refused: &[(ManifestEvidence, String)],
        actor: &Actor,
        now: casemesh_model::time::Timestamp,
    ) -> Result<()> {
        let new_ids: Vec<EvidenceId> = fetched.iter().map(|_| EvidenceId::random()).collect();
        self.inner.store.atomically(|txn| {
            let (mut imported, mut skipped) = (0u64, 0u64);
            let mut share: IncomingShare = txn
                .get(&RECEIVED, &share_id)?
                .ok_or(SharingError::NotFound(Missing::ReceivedShare(share_id)))?;
            let copy = txn
                .case(case_id)?
                .ok_or(SharingError::NotFound(Missing::Case(case_id)))?;
            for ((item, transcripts, _pins), ev_id) in fetched.iter().zip(&new_ids) {
                let key = (share_id, item.id);
                let Some(mut row) = txn.get(&RECEIVED_ITEMS, &key)? else {
                    continue;
                };
                if row.skipped.is_some() {
                    continue;
                }
                if let Some(local) = row.local {
                    // In the copy already: this pass brought transcripts added since.
                    let added = match txn.add_transcripts(local, transcripts, actor) {
                        Ok(n) => n,
                        // Deleted from the copy by its owner meanwhile: nothing to attach to.
                        Err(casemesh_store::StoreError::NotFound(_)) => 0,
                        Err(e) => return Err(e.into()),
                    };
                    txn.delete(&RECEIVED_TODO, &key)?;
                    if added > 0 {
                        txn.audit(
                            case_id,
                            actor,
                            actions::CASE_SYNC,
                            Some(local),
                            &format!(
                                "share {share_id}: {added} transcripts of sharer item {}",
                                item.id
                            ),
                        )?;
                    }
                    continue;
                }
                let folder = place_new_evidence(item.folder, &share.import_map, &copy);
                let ev = Evidence {
                    id: *ev_id,
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
                    do_not_disclose: false,
                    received_seq: Some(row.seq),
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
                row.local = Some(ev.id);
                txn.put(&RECEIVED_ITEMS, &key, &row)?;
                txn.delete(&RECEIVED_TODO, &key)?;
                imported += 1;
            }
            for (item, reason) in refused {
                let key = (share_id, item.id);
                let Some(mut row) = txn.get(&RECEIVED_ITEMS, &key)? else {
                    continue;
                };
                if row.local.is_some() || row.skipped.is_some() {
                    continue;
                }
                row.skipped = Some(SkippedItem {
                    name: item.name.clone(),
                    reason: reason.clone(),
                    at: now,
                });
                txn.put(&RECEIVED_ITEMS, &key, &row)?;
                txn.delete(&RECEIVED_TODO, &key)?;
                skipped += 1;
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
            }
            lifecycle::step(&mut share, Event::ItemsRecorded { imported, skipped })
                .map_err(|e| refusal(share_id, e))?;
            txn.put(&RECEIVED, &share_id, &share)?;
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
            for list in s.lists.values() {
                if let ItemList::Blob { list, .. } = list {
                    needed.insert(list.hash);
                }
            }
            self.inner
                .store
                .for_each(&RECEIVED_TODO, &format!("{}/", s.id), |key, _: u8| {
                    if let Some(row) = self.todo_row(s.id, key)? {
                        needed.insert(row.entry.hash);
                        needed.extend(row.entry.transcripts.iter().map(|t| t.hash));
                    }
                    Ok::<_, SharingError>(())
                })?;
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
        let m = &share.head;
        // The owner is the first user the offer named; never a recipient added later (they see
        // only later updates, and an owner sees everything), else an administrator.
        let from_offer: Vec<Recipient> = share
            .recipients
            .iter()
            .filter(|r| !share.recipients_since.iter().any(|(x, _)| x == *r))
            .cloned()
            .collect();
        let owner = recipients::resolve(&from_offer, &store.users()?, &store.groups()?, None)
            .users
            .into_iter()
            .next()
            .or_else(|| {
                store.users().ok().and_then(|us| {
                    us.into_iter().find(|u| {
                        u.permissions
                            .contains(&casemesh_model::org::Permission::Administer)
                    })
                })
            })
            .ok_or(SharingError::NotFound(Missing::CopyOwner))?;
        let now = self.now();
        let mut copy = Case::new(&m.case_number, &m.title, &m.description, owner.id, now);
        copy.retention = received_case_policy(self.settings().default_retention);
        copy.origin = Origin::Received {
            sharer: share.sharer.clone(),
            sharer_name: share.sharer_name.clone(),
            share: share.id,
            source_case: m.source_case,
            received_at: share.received_at,
        };
        let g = decode_grant(&share.grant)?;
        let sharer = sharer_case(m);
        // The folders that hold items of the share (a set: bounded by the folder limit).
        let mut folders_of_items: BTreeSet<Option<casemesh_model::ids::FolderId>> = BTreeSet::new();
        self.for_each_received_item(share.id, |_, item| {
            folders_of_items.insert(item.entry.folder);
            Ok(())
        })?;
        let folders_of_items: Vec<_> = folders_of_items.into_iter().collect();
        let (folders, map) = initial_import(&sharer, &g.grant.scope, &folders_of_items, copy.id);
        copy.folders = folders;
        let actor = Actor::new(format!("org:{}", share.sharer_name), now);
        let id = share.id;
        // The recipients the sharer named get the copy on their access list (a group as the
        // group, so access follows its membership); the owner sees it anyway.
        // Recipients the sharer added later see the updates from the one that named them on
        // (issue #12 item 5); a principal named from the start as well sees everything.
        let (users, groups) = (store.users()?, store.groups()?);
        let since_of = |r: &Recipient| {
            share
                .recipients_since
                .iter()
                .find(|(x, _)| x == r)
                .map(|(_, seq)| *seq)
        };
        let mut access: Vec<AccessEntry> = Vec::new();
        for r in &g.grant.recipients {
            let (found, _) = recipients::principals(std::slice::from_ref(r), &users, &groups);
            for principal in found {
                let entry =
                    AccessEntry::new(principal, Scope::EntireCase, owner.id, now, Some(share.id));
                let entry = match since_of(r) {
                    Some(seq) => entry.since(seq),
                    None => entry,
                };
                match access.iter_mut().find(|e| e.principal == principal) {
                    // Named twice (say as user and as email): the wider of the two.
                    Some(e) => {
                        e.since_seq = match (e.since_seq, entry.since_seq) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            _ => None,
                        }
                    }
                    None => access.push(entry),
                }
            }
        }
        let import_details = format!(
            "share {} from {} ({}), source case {}",
            share.id, share.sharer_name, share.sharer, m.source_case
        );
        // The copy, its audit entries and the share's link to it commit together: a crash can
        // never leave a copy the share does not know (which a retry would create again).
        let existing = store.atomically(|txn| {
            let mut s: IncomingShare = txn
                .get(&RECEIVED, &id)?
                .ok_or(SharingError::NotFound(Missing::ReceivedShare(id)))?;
            match lifecycle::step(
                &mut s,
                Event::CopyCreated {
                    case: copy.id,
                    map: &map,
                },
            ) {
                Ok(_) => {}
                Err(Refused::CopyExists(c)) => return Ok(Some(c)),
                Err(e) => return Err(refusal(id, e)),
            }
            txn.create_case(&copy, &actor)?;
            for e in &access {
                txn.grant_case_access(copy.id, e)?;
            }
            txn.audit(copy.id, &actor, actions::CASE_IMPORT, None, &import_details)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use casemesh_model::ids::BlobHash;

    fn item() -> ManifestEvidence {
        ManifestEvidence {
            id: EvidenceId::random(),
            display_id: "EV-0001".into(),
            name: "photo.jpg".into(),
            description: "taken at\nthe scene".into(),
            folder: None,
            hash: BlobHash::of(b"x"),
            size: 1,
            media_type: "image/jpeg".into(),
            transcripts: vec![],
        }
    }

    #[test]
    fn a_partners_hostile_item_entries_are_refused() {
        check_item(&item()).unwrap();
        let cases: Vec<fn(&mut ManifestEvidence)> = vec![
            |e| e.name = "../../etc/passwd".into(),
            |e| e.name = "a\u{1b}[2J".into(),
            |e| e.name = String::new(),
            |e| e.display_id = "EV\r\n1".into(),
            |e| e.description = "\u{1b}]0;pwned\u{7}".into(),
            |e| e.description = "x".repeat(limits::EVIDENCE_DESCRIPTION + 1),
            |e| e.media_type = "text/plain\nX-Injected: 1".into(),
            |e| {
                e.transcripts.push(crate::wire::ManifestTranscript {
                    name: "..".into(),
                    hash: BlobHash::of(b"t"),
                    size: 1,
                })
            },
        ];
        for (n, spoil) in cases.into_iter().enumerate() {
            let mut e = item();
            spoil(&mut e);
            assert!(
                matches!(
                    check_item(&e),
                    Err(SharingError::Invalid(
                        Bad::ItemName { .. } | Bad::ItemText { .. } | Bad::TranscriptName { .. }
                    ))
                ),
                "case {n} was accepted"
            );
        }
    }
}
