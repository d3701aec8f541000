//! "Check for and apply updates" (seed 002) and both organizations editing an access-mode share
//! (issue #14): case-level fields (Case ID, title, description) and evidence metadata (name,
//! display id, description) travel as Automerge changes; new evidence files never go this way
//! (they sync).
//!
//! The sharer keeps one metadata document per share holding only what that share covers (the case
//! fields and the items sent under it), so a partner never learns the names of evidence it was
//! not given. The first document travels with the offer; later edits go out as the changes since
//! the heads last sent (`case.update/2`), leaving out the partner's own changes, so the bytes
//! sent grow with the edit, not with the case.
//!
//! **Copy mode (review).** The receiver keeps the sharer's document (upstream) and, per field, the
//! upstream value it last took in; its own edits to the copy are never overwritten unless chosen.
//! [`Engine::update_review`] lists the rows (tab, field, current, proposed, allowed + reason under
//! the sharer's grant policy, conflict, who changed it and when); [`Engine::apply_updates`]
//! applies named fields, a tab or all (conflicts only when named); [`Engine::dismiss_updates`]
//! hides rows until the sharer changes those fields again. Applying and dismissing are audited
//! (`case.update.apply` is a custody-timeline event).
//!
//! **Access mode, both editing.** When the grant's policy allows `edit_metadata`, the partner
//! writes the upstream document itself ([`Engine::edit_received`]) and sends its change to the
//! sharer (`case.edit/1`, through the durable outbox, so an offline sharer gets it later); the
//! sharer checks it (policy, fields inside the share, values valid), merges it into the share's
//! document after recording its own pending edits there, and writes the merged values to its case
//! (audited as the partner organization). Both documents then hold the same changes, so both
//! sides read the same values whatever order the changes arrived in (Automerge: merging is
//! commutative, associative and idempotent; text fields merge character-wise).
//!
//! Each node writes under one stable Automerge actor per document (derived from its org id),
//! which is how a side leaves the other's own changes out of what it sends.
//!
//! **A refused partner edit** (docs/sharing.md §5): a well-formed `case.edit/1` is always merged
//! whole, because Automerge changes depend on their predecessors: leaving one out would strand
//! every later change of the partner. A changed field the sharer does not accept (withheld by
//! the policy, an item the share no longer covers, an invalid merged value, a removed field, a
//! case number another case has) is taken back by a counter-change of the sharer (the value it
//! had before the merge) together with a [`casemesh_meta::Refusal`] record, both in the
//! document; the next synchronization pass sends them to the partner, so both documents
//! converge on the sharer's value and the partner's `received updates` lists the refusal with
//! its reason. Only a message that cannot be merged at all (not changes, a broken layout, or
//! changes depending on changes this node never received) is refused whole: the sender's outbox
//! moves it to its dead letters with the reason. Nothing waits for a dependency.
//!
//! **Storage** (issue #14 items 2 and 3): a document is stored as a base (the whole saved
//! document: [`SHARE_DOCS`] / [`RECEIVED_DOCS`]) plus increments ([`META_INCR`], Automerge's
//! `save_after` of the changes since the last write), and kept loaded in a small per-engine LRU
//! ([`DocCache`]), so taking in one edit costs the edit, not the document. The increments are
//! folded into a new base once they outgrow it (amortized: still proportional to the changes).
//! Every write of a document commits in one store transaction with what it causes (the case's
//! new values and their audit entries, the outbox message, the sent heads), so a crash leaves
//! all or nothing; the cached copy is dropped on any failure and read again from the store.

use crate::Engine;
use crate::error::{Bad, Clash, Missing, NotAllowed, Result, SharingError};
use crate::records::{
    IncomingShare, OutgoingShare, RECEIVED_APPLIED, RECEIVED_DOCS, RECEIVED_ITEMS, ReceivedItem,
    SHARE_DOCS, SHARE_ITEMS, SHARES, ShareDoc, ShareStatus,
};
use crate::wire::{self, Carried, MetaChanges};
use casemesh_meta::{
    CaseDoc, CaseMeta, ChangeHash, Choice, EvidenceMeta, Field, FieldRef, FieldUpdate, Refusal,
    ReviewRow, Stamp, Target,
};
use casemesh_model::audit::actions;
use casemesh_model::grant::{ShareMode, SignedGrant};
use casemesh_model::ids::{CaseId, EvidenceId, OrgId, ShareId};
use casemesh_model::policy::{PolicyAction, SharedData, SharingPolicy};
use casemesh_store::{Actor, Table};
use std::collections::{HashMap, VecDeque};

/// Changes that arrived before the changes they depend on, kept by nodes before the rule "nothing
/// waits" (hex of framed changes): merged once with the share's next message, then deleted.
const META_PENDING: Table<ShareId, String> = Table::new("meta.pending");

/// Increments of stored metadata documents, keyed `<side>/<share>/<seq, 16 hex digits>`
/// (`s`: the sharer's document of an outgoing share, `r`: a received share's), each the hex of an
/// Automerge `save_after` since the previous write. Read after the base, in sequence order.
pub(crate) const META_INCR: Table<str, String> = Table::new("meta.incr");

/// The heads of an outgoing share's document last sent to the partner (hex of
/// [`casemesh_meta::encode_heads`]); over [`ShareDoc::sent_heads`], which is only rewritten
/// with a new base.
pub(crate) const META_SENT: Table<ShareId, String> = Table::new("meta.sent");

/// Documents kept loaded per engine (most recently used). A document of a 10,000-item case
/// holds tens of MB in memory, so few.
const DOC_CACHE_ENTRIES: usize = 8;

/// Increments after which they are folded into a new base even if small.
const MAX_INCREMENTS: usize = 256;

/// Which stored document of a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The sharer's document of an outgoing share ([`SHARE_DOCS`]).
    Sharer,
    /// The upstream document of a received share ([`RECEIVED_DOCS`]).
    Received,
}

impl Side {
    fn tag(self) -> &'static str {
        match self {
            Side::Sharer => "s",
            Side::Received => "r",
        }
    }
}

/// A loaded document and what is stored of it.
pub(crate) struct Loaded {
    doc: CaseDoc,
    /// The heads of what the store holds (base and increments).
    stored: Vec<ChangeHash>,
    /// Sequence numbers of the stored increments, ascending.
    incr: Vec<u64>,
    /// Bytes of the stored increments (hex decoded) and of the base.
    incr_bytes: usize,
    base_bytes: usize,
    /// Outgoing shares: the heads last sent to the partner (hex).
    sent: String,
}

/// The per-engine bounded LRU of loaded documents. A document is taken out while it is worked
/// on and put back only when its changes are stored, so a failed write never leaves a cached
/// copy ahead of (or behind) the store. (Thirty lines of our own rather than a cache crate:
/// the take-out/put-back rule is the point, and a general cache hands out shared values.)
#[derive(Default)]
pub(crate) struct DocCache {
    entries: VecDeque<((Side, ShareId), Loaded)>,
}

impl DocCache {
    fn take(&mut self, side: Side, id: ShareId) -> Option<Loaded> {
        let i = self.entries.iter().position(|(k, _)| *k == (side, id))?;
        self.entries.remove(i).map(|(_, l)| l)
    }

    fn put(&mut self, side: Side, id: ShareId, loaded: Loaded) {
        self.entries.push_back(((side, id), loaded));
        while self.entries.len() > DOC_CACHE_ENTRIES {
            self.entries.pop_front();
        }
    }
}

/// How a document's new state is written: its changes appended, or a new base.
enum SavePlan {
    /// Nothing changed.
    Nothing,
    /// Append one increment.
    Append { seq: u64, bytes: Vec<u8> },
    /// A new base replacing the base and every increment.
    Base { bytes: Vec<u8> },
}

fn incr_key(side: Side, id: ShareId, seq: u64) -> String {
    format!("{}/{id}/{seq:016x}", side.tag())
}

/// Audit action of a partner's metadata edit the sharer refused and took back (the trail of
/// the sharer's case).
pub(crate) const PARTNER_EDIT_REFUSED: &str = "case.partner.edit.refused";

/// A partner's metadata changes that do not decode or apply: a refusal.
fn meta_err(e: casemesh_meta::MetaError) -> SharingError {
    Bad::MetaDocument(Box::new(e)).into()
}

/// This node's own stored metadata document (or its heads) failing to load or change: an
/// internal fault, never a refusal of the partner's message or the user's request.
fn stored_meta_err(e: impl std::fmt::Display) -> SharingError {
    SharingError::Internal(format!("stored metadata document: {e}"))
}

/// The Automerge actor of an organization in metadata documents: the first 16 bytes of the
/// BLAKE3 hash of its org id (the same on every node, so each side can tell the other's changes).
pub(crate) fn actor_of(org: &OrgId) -> Vec<u8> {
    blake3::hash(org.as_str().as_bytes()).as_bytes()[..16].to_vec()
}

/// Whether a policy lets this field's value leave the sharer at all (a withheld field travels
/// empty, so a partner may not write it either).
fn discloses(policy: &SharingPolicy, r: FieldRef) -> bool {
    policy.discloses(match (r.target, r.field) {
        (Target::Case, Field::CaseNumber) => SharedData::CaseNumber,
        (Target::Case, Field::Title) => SharedData::CaseTitle,
        (Target::Case, _) => SharedData::CaseDescription,
        (Target::Evidence(_), Field::Name) => SharedData::EvidenceName,
        (Target::Evidence(_), Field::DisplayId) => SharedData::EvidenceDisplayId,
        (Target::Evidence(_), _) => SharedData::EvidenceDescription,
    })
}

impl Loaded {
    /// What to write for the changes since the last write (the caller writes it with
    /// [`write_plan`] in its transaction, then calls [`Loaded::saved`]): an increment, or a new
    /// base once the increments would outgrow the base (or number [`MAX_INCREMENTS`]).
    fn plan(&mut self) -> SavePlan {
        let heads = self.doc.heads();
        if heads == self.stored {
            return SavePlan::Nothing;
        }
        let bytes = self.doc.save_after(&self.stored);
        if self.incr.len() >= MAX_INCREMENTS || self.incr_bytes + bytes.len() > self.base_bytes {
            return SavePlan::Base {
                bytes: self.doc.save(),
            };
        }
        SavePlan::Append {
            seq: self.incr.last().map_or(0, |s| s + 1),
            bytes,
        }
    }

    /// Record that `plan` was committed.
    fn saved(&mut self, plan: SavePlan) {
        match plan {
            SavePlan::Nothing => return,
            SavePlan::Append { seq, bytes } => {
                self.incr.push(seq);
                self.incr_bytes += bytes.len();
            }
            SavePlan::Base { bytes } => {
                self.incr.clear();
                self.incr_bytes = 0;
                self.base_bytes = bytes.len();
            }
        }
        self.stored = self.doc.heads();
    }
}

/// Write `plan` (and, for an outgoing share, the sent heads `l.sent`) inside a transaction.
fn write_plan(
    txn: &mut casemesh_store::Txn<'_, '_>,
    side: Side,
    id: ShareId,
    l: &Loaded,
    plan: &SavePlan,
) -> Result<()> {
    match plan {
        SavePlan::Nothing => {}
        SavePlan::Append { seq, bytes } => {
            txn.put(&META_INCR, &incr_key(side, id, *seq), &hex::encode(bytes))?;
        }
        SavePlan::Base { bytes } => {
            let doc = hex::encode(bytes);
            match side {
                Side::Sharer => txn.put(
                    &SHARE_DOCS,
                    &id,
                    &ShareDoc {
                        doc,
                        sent_heads: l.sent.clone(),
                    },
                )?,
                Side::Received => txn.put(&RECEIVED_DOCS, &id, &doc)?,
            }
            for seq in &l.incr {
                txn.delete(&META_INCR, &incr_key(side, id, *seq))?;
            }
        }
    }
    if side == Side::Sharer {
        txn.put(&META_SENT, &id, &l.sent)?;
    }
    Ok(())
}

impl Engine {
    /// Serializes read-modify-write of this engine's metadata documents (the synchronization
    /// pass, a partner's edit arriving, a local edit): a document is loaded, changed and saved
    /// by one at a time.
    fn doc_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner
            .doc_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn doc_cache(&self) -> std::sync::MutexGuard<'_, DocCache> {
        self.inner
            .meta_docs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Read a share's document from the store: the base, then its increments in order.
    /// `None` when the share has no document.
    fn load_stored(&self, side: Side, id: ShareId) -> Result<Option<Loaded>> {
        let store = &self.inner.store;
        let (base, sent) = match side {
            Side::Sharer => match store.get(&SHARE_DOCS, &id)? {
                Some(r) => {
                    let sent = store.get(&META_SENT, &id)?.unwrap_or(r.sent_heads);
                    (r.doc, sent)
                }
                None => return Ok(None),
            },
            Side::Received => match store.get(&RECEIVED_DOCS, &id)? {
                Some(d) => (d, String::new()),
                None => return Ok(None),
            },
        };
        let base = hex::decode(base).map_err(stored_meta_err)?;
        let mut doc = CaseDoc::load(&base).map_err(stored_meta_err)?;
        let mut parts: Vec<(u64, String)> = Vec::new();
        store.for_each(
            &META_INCR,
            &format!("{}/{id}/", side.tag()),
            |key, hex_bytes: String| {
                let seq = key
                    .rsplit('/')
                    .next()
                    .and_then(|s| u64::from_str_radix(s, 16).ok())
                    .ok_or_else(|| stored_meta_err(format!("increment key {key}")))?;
                parts.push((seq, hex_bytes));
                Ok::<_, SharingError>(())
            },
        )?;
        parts.sort_by_key(|(seq, _)| *seq);
        let mut incr_bytes = 0;
        for (_, h) in &parts {
            let bytes = hex::decode(h).map_err(stored_meta_err)?;
            incr_bytes += bytes.len();
            doc.load_incremental(&bytes).map_err(stored_meta_err)?;
        }
        let stored = doc.heads();
        Ok(Some(Loaded {
            doc,
            stored,
            incr: parts.into_iter().map(|(seq, _)| seq).collect(),
            incr_bytes,
            base_bytes: base.len(),
            sent,
        }))
    }

    /// Work on a share's document: taken from the cache (or read from the store), handed to
    /// `f`, and put back only when `f` succeeds; `f` writes its changes itself, in its own
    /// transaction ([`Loaded::plan`], [`write_plan`], [`Loaded::saved`]). `None` when the share
    /// has no document. The caller holds [`doc_lock`].
    fn with_doc<T>(
        &self,
        side: Side,
        id: ShareId,
        f: impl FnOnce(&mut Loaded) -> Result<T>,
    ) -> Result<Option<T>> {
        let taken = self.doc_cache().take(side, id);
        let mut loaded = match taken {
            Some(l) => l,
            None => match self.load_stored(side, id)? {
                Some(l) => l,
                None => return Ok(None),
            },
        };
        let out = f(&mut loaded)?;
        self.doc_cache().put(side, id, loaded);
        Ok(Some(out))
    }

    /// Read a share's document (see [`Engine::with_doc`]); `None` when it has none.
    fn read_doc<T>(
        &self,
        side: Side,
        id: ShareId,
        f: impl FnOnce(&mut CaseDoc) -> Result<T>,
    ) -> Result<Option<T>> {
        let _guard = self.doc_lock();
        self.with_doc(side, id, |l| f(&mut l.doc))
    }

    /// A copy of a received share's upstream document, `None` without one or when it cannot be
    /// read (for listings that show names from it).
    pub(crate) fn received_doc(&self, id: ShareId) -> Option<CaseDoc> {
        self.read_doc(Side::Received, id, |d| Ok(d.clone()))
            .ok()
            .flatten()
    }

    /// Merge changes into `doc`, after a share's leftover pending changes (written before the
    /// rule "nothing waits"; those are tried once and dropped). Refuses, changing nothing that
    /// is stored, when any of `bytes` depends on a change this node never received.
    fn merge(&self, id: ShareId, doc: &mut CaseDoc, bytes: &[u8], from: &str) -> Result<()> {
        if let Some(h) = self.inner.store.get(&META_PENDING, &id)? {
            let old = hex::decode(h).map_err(stored_meta_err)?;
            if let Err(e) = doc.apply_changes(&old) {
                tracing::warn!(share = %id, error = %e, "dropping unreadable pending metadata changes");
            }
        }
        let (_, waiting) = doc.apply_changes_waiting(bytes).map_err(meta_err)?;
        if !waiting.is_empty() {
            return Err(Bad::MissingChanges {
                from: from.to_owned(),
                changes: waiting.len(),
            }
            .into());
        }
        Ok(())
    }
}

impl Engine {
    /// The current metadata of the part of `case` that `share` covers: the items sent under it,
    /// or exactly `items` (a share being created, whose items are not recorded yet).
    fn share_meta(&self, share: &OutgoingShare, items: Option<&[EvidenceId]>) -> Result<CaseMeta> {
        let store = &self.inner.store;
        let case = store
            .case(share.case)?
            .ok_or(SharingError::NotFound(Missing::Case(share.case)))?;
        let only: Option<std::collections::HashSet<EvidenceId>> =
            items.map(|ids| ids.iter().copied().collect());
        let mut evidence = Vec::new();
        for ev in store.case_evidence_iter(case.id)? {
            let ev = ev?;
            let sent = match &only {
                Some(set) => set.contains(&ev.id),
                None => crate::outgoing::is_sent(
                    store.get(&SHARE_ITEMS, &(share.id, ev.id))?.as_ref(),
                    share,
                ),
            };
            if sent && !ev.do_not_disclose {
                evidence.push(crate::manifest::disclosed(&ev, &share.policy));
            }
        }
        // Only what the policy lets leave goes into the document (the same values the manifest
        // carries).
        let mut meta = CaseMeta::from_case(&case, &evidence);
        (meta.case_number, meta.title, meta.description) =
            crate::manifest::disclosed_case_fields(share.id, &case, &share.policy);
        Ok(meta)
    }

    /// Whether both organizations write this share's document.
    fn both_edit(share: &OutgoingShare) -> bool {
        share.mode == ShareMode::Access && share.policy.allows(PolicyAction::EditMetadata)
    }

    /// Create a share's metadata document over `items`: returns it saved for the offer, and the
    /// record to store with the share (in the same transaction). A share both organizations
    /// edit gets text evidence fields ([`CaseDoc::new_shared`]).
    pub(crate) fn start_share_doc(
        &self,
        share: &OutgoingShare,
        items: &[EvidenceId],
    ) -> Result<(Vec<u8>, ShareDoc)> {
        let meta = self.share_meta(share, Some(items))?;
        let mut doc = if Self::both_edit(share) {
            CaseDoc::new_shared(&meta)
        } else {
            CaseDoc::new(&meta)
        }
        .map_err(stored_meta_err)?;
        let saved = doc.save();
        let heads = hex::encode(casemesh_meta::encode_heads(&doc.heads()));
        Ok((
            saved.clone(),
            ShareDoc {
                doc: hex::encode(saved),
                sent_heads: heads,
            },
        ))
    }

    /// Who last edited each target of `case` and when, from its audit trail (`None`: the case
    /// fields).
    fn editors(&self, case: CaseId) -> Result<HashMap<Option<EvidenceId>, (String, u64)>> {
        let (entries, _) = self.inner.store.audit_trail(case)?;
        let mut out = HashMap::new();
        for e in entries {
            let target = match e.action.as_str() {
                actions::CASE_EDIT | actions::CASE_PARTNER_EDIT if e.evidence.is_none() => None,
                actions::EVIDENCE_EDIT | actions::CASE_PARTNER_EDIT if e.evidence.is_some() => {
                    e.evidence
                }
                _ => continue,
            };
            out.insert(target, (e.actor.clone(), e.time.as_millis()));
        }
        Ok(out)
    }

    /// Write the case's current values into a share's document, stamped with who edited them
    /// (from the audit trail, read only when something differs). Returns whether anything
    /// changed.
    fn record_case_edits(&self, share: &OutgoingShare, doc: &mut CaseDoc) -> Result<bool> {
        let now_meta = self.share_meta(share, None)?;
        let before = doc.meta();
        let mut editors = None;
        let mut changed = false;
        for (r, value) in now_meta.fields() {
            match r.target {
                Target::Evidence(eid) if !before.evidence.contains_key(&eid) => {
                    if let Some(m) = now_meta.evidence.get(&eid) {
                        doc.add_evidence_meta(eid, m).map_err(stored_meta_err)?;
                        changed = true;
                    }
                }
                _ if before.get(r) != Some(value) => {
                    if editors.is_none() {
                        editors = Some(self.editors(share.case)?);
                    }
                    let key = match r.target {
                        Target::Case => None,
                        Target::Evidence(id) => Some(id),
                    };
                    let (by, at) = editors
                        .as_ref()
                        .and_then(|m| m.get(&key).cloned())
                        .unwrap_or_else(|| ("system".into(), self.now().as_millis()));
                    let by = match by.strip_prefix("org:") {
                        Some(org) => org.to_owned(),
                        None => format!("{by} ({})", self.inner.org_name),
                    };
                    let stamp = Stamp {
                        by,
                        at: casemesh_model::time::Timestamp(at),
                    };
                    doc.set_stamped(r, value, &stamp).map_err(stored_meta_err)?;
                    changed = true;
                }
                _ => {}
            }
        }
        Ok(changed)
    }

    /// Bring every active share's document of `case` up to date with the case and send the
    /// changes. Called after case or evidence metadata edits and after new items were sent.
    pub fn metadata_changed(&self, case: CaseId) -> Result<()> {
        // Like new evidence, metadata changes go only to shares that still send and whose
        // policy allows updates (or that both organizations edit).
        for share in self.shares(Some(case))?.into_iter().filter(|s| {
            s.status.sends()
                && (s.policy.allows(PolicyAction::ReceiveUpdates) || Self::both_edit(s))
        }) {
            let _guard = self.doc_lock();
            let id = share.id;
            self.with_doc(Side::Sharer, id, |l| {
                l.doc.set_actor(&actor_of(self.org_id()));
                self.record_case_edits(&share, &mut l.doc)?;
                let sent =
                    casemesh_meta::decode_heads(&hex::decode(&l.sent).map_err(stored_meta_err)?)
                        .map_err(stored_meta_err)?;
                let heads = l.doc.heads();
                if heads == sent {
                    return Ok(());
                }
                // The partner's own changes (merged here from `case.edit/1`) are not sent back.
                let changes = l
                    .doc
                    .changes_since_excluding(&sent, &actor_of(&share.partner));
                let new_sent = hex::encode(casemesh_meta::encode_heads(&heads));
                let msg = if changes.is_empty() {
                    None
                } else {
                    let changes = self.carry(changes)?;
                    let msg = self.outbox_message(
                        &wire::Message::Meta(MetaChanges {
                            share: share.id,
                            changes: changes.carried.clone(),
                        }),
                        Some(share.id),
                    )?;
                    Some((changes, msg))
                };
                // (On failure the loaded copy is dropped, so `sent` is not ahead of the store.)
                l.sent = new_sent;
                let plan = l.plan();
                // The document's changes, its new sent heads and the changes sent commit
                // together.
                self.inner.store.atomically(|txn| {
                    if let Some((changes, msg)) = &msg
                        && let Some(mut s) = txn.get(&SHARES, &id)?
                    {
                        changes.hold(txn, &mut s)?;
                        txn.put(&SHARES, &id, &s)?;
                        Self::queue_in(txn, &share.partner, msg)?;
                    }
                    write_plan(txn, Side::Sharer, id, l, &plan)
                })?;
                l.saved(plan);
                Ok(())
            })?;
            self.wake_outbox();
        }
        Ok(())
    }

    /// `case.update/2` from a sharer: merge the changes into the upstream document.
    pub(crate) async fn on_meta_changes(&self, peer: &OrgId, msg: MetaChanges) -> Result<()> {
        let id = msg.share;
        let share = self.received_by_id(id)?;
        if share.sharer != *peer {
            return Err(NotAllowed::UpdateFromOther {
                share: id,
                from: peer.clone(),
            }
            .into());
        }
        if share.status == crate::records::ReceivedStatus::Stopped {
            return Err(NotAllowed::ReceivedStopped { share: id }.into());
        }
        let g = self.check_grant(peer, &share.grant)?;
        let policy = &g.grant.policy;
        if !policy.allows(PolicyAction::ReceiveUpdates)
            && !policy.allows(PolicyAction::EditMetadata)
        {
            return Err(NotAllowed::UpdatesByPolicy { share: id }.into());
        }
        let bytes = self.carried_bytes(peer, &g, &msg.changes).await?;
        let _guard = self.doc_lock();
        let store = &self.inner.store;
        self.with_doc(Side::Received, id, |l| {
            self.merge(id, &mut l.doc, &bytes, &share.sharer_name)?;
            let plan = l.plan();
            store.atomically(|txn| {
                write_plan(txn, Side::Received, id, l, &plan)?;
                txn.delete(&META_PENDING, &id)?;
                Ok::<_, SharingError>(())
            })?;
            l.saved(plan);
            Ok(())
        })?
        .ok_or_else(|| Bad::NoMetaDocument { share: id }.into())
    }

    /// Whether a partner may write field `r` of share `share` with `value` (the merged value,
    /// `None` when its edit removed the field; `existed`: the field was in the document before
    /// the merge): `Err(reason)` when not. `live` caches, per item, whether the share still
    /// covers it.
    fn partner_may_write(
        &self,
        share: &OutgoingShare,
        r: FieldRef,
        existed: bool,
        value: Option<&str>,
        live: &mut HashMap<EvidenceId, bool>,
    ) -> Result<std::result::Result<(), String>> {
        let store = &self.inner.store;
        if let Target::Evidence(e) = r.target {
            // The item must have been in the document, still be sent under this share, of this
            // case and not marked "do not disclose" since (those never leave, nor take edits).
            let ok = match live.get(&e) {
                Some(ok) => *ok,
                None => {
                    let ok = store
                        .get(&crate::records::SHARE_ITEMS, &(share.id, e))?
                        .is_some()
                        && store
                            .evidence(e)?
                            .is_some_and(|ev| ev.case == share.case && !ev.do_not_disclose);
                    live.insert(e, ok);
                    ok
                }
            };
            if !ok || !existed {
                return Ok(Err(format!(
                    "the edit touches evidence {e}, which this share does not cover"
                )));
            }
        }
        if !discloses(&share.policy, r) {
            return Ok(Err(format!(
                "the sharing policy withholds {r}: a partner may not write it"
            )));
        }
        let Some(value) = value else {
            return Ok(Err(format!("the edit removes {r}")));
        };
        if let Err(e) = casemesh_meta::check_value(r, value) {
            return Ok(Err(format!("{r}: {e}")));
        }
        if r == FieldRef::case(Field::CaseNumber)
            && store
                .cases_numbered(value)?
                .iter()
                .any(|c| c.id != share.case)
        {
            return Ok(Err(format!(
                "case number {value:?} belongs to another case here"
            )));
        }
        Ok(Ok(()))
    }

    /// `case.edit/1` from a partner: its edits to an access-mode share whose policy allows
    /// `edit_metadata`. Refused whole (nothing changes) when the share is not that partner's,
    /// stopped, not access mode or the policy lacks `edit_metadata`, or when the changes cannot
    /// be merged (not changes, a broken layout, or depending on changes this node never
    /// received). Otherwise the sharer's own pending edits are recorded in the document first
    /// and the changes merged whole; each changed field the partner may write
    /// ([`Engine::partner_may_write`]) is written to the case, audited as the partner
    /// organization (`case.partner.edit`); each it may not is taken back by a counter-change to
    /// its value before the merge, recorded as a [`Refusal`] in the document and audited
    /// (`case.partner.edit.refused`). The case's new values, the audit entries and the
    /// document commit in one transaction. The sharer's changes the partner lacks (the
    /// counter-changes too) go out with the next synchronization pass.
    pub(crate) fn on_case_edit(&self, peer: &OrgId, msg: MetaChanges) -> Result<()> {
        let id = msg.share;
        let share = self.share(id)?;
        if share.partner != *peer {
            return Err(NotAllowed::EditFromOther {
                share: id,
                from: peer.clone(),
            }
            .into());
        }
        if matches!(
            share.status,
            ShareStatus::Stopped | ShareStatus::PendingApproval
        ) {
            return Err(NotAllowed::NotActive {
                share: id,
                status: share.status,
            }
            .into());
        }
        if !Self::both_edit(&share) {
            return Err(NotAllowed::EditByPolicy { share: id }.into());
        }
        let Carried::Inline(h) = &msg.changes else {
            return Err(Bad::EditNotInline { share: id }.into());
        };
        let bytes = hex::decode(h).map_err(Bad::MetaDocumentNotHex)?;
        let _guard = self.doc_lock();
        let store = &self.inner.store;
        let now = self.now();
        let partner = Actor::new(format!("org:{}", share.partner_name), now);
        self.with_doc(Side::Sharer, id, |l| {
            let doc = &mut l.doc;
            doc.set_actor(&actor_of(self.org_id()));
            // The sharer's own edits not yet in the document go in first, so the merge keeps
            // them.
            self.record_case_edits(&share, doc)?;
            let before = doc.heads();
            self.merge(id, doc, &bytes, &share.partner_name)?;
            if !doc.layout_ok() {
                return Err(NotAllowed::EditBreaksLayout { share: id }.into());
            }
            let after = doc.heads();
            let mut writes = Vec::new();
            let mut refused = Vec::new();
            let mut live = HashMap::new();
            for r in doc.changed_fields(&before, &after) {
                let old = doc.get_at(r, &before);
                let new = doc.get(r);
                if old == new {
                    continue;
                }
                match self.partner_may_write(&share, r, old.is_some(), new.as_deref(), &mut live)?
                {
                    Ok(()) => writes.push((r, new.unwrap_or_default())),
                    Err(reason) => refused.push((r, old, new, reason)),
                }
            }
            for (r, _) in &writes {
                doc.clear_refusal(*r).map_err(stored_meta_err)?;
            }
            self.take_back(&share, doc, &before, &refused, now)?;
            let plan = l.plan();
            store.atomically(|txn| {
                for (r, value) in &writes {
                    let details = format!("{r} edited by {} (share {id})", share.partner_name);
                    match r.target {
                        Target::Case => {
                            txn.update_case(
                                share.case,
                                &partner,
                                actions::CASE_PARTNER_EDIT,
                                &details,
                                |c| match r.field {
                                    Field::CaseNumber => c.case_number.clone_from(value),
                                    Field::Title => c.title.clone_from(value),
                                    _ => c.description.clone_from(value),
                                },
                            )?;
                        }
                        Target::Evidence(e) => {
                            txn.update_evidence(
                                e,
                                &partner,
                                actions::CASE_PARTNER_EDIT,
                                &details,
                                |ev| match r.field {
                                    Field::Name => ev.name.clone_from(value),
                                    Field::DisplayId => ev.display_id.clone_from(value),
                                    _ => ev.description.clone_from(value),
                                },
                            )?;
                        }
                    }
                }
                for (r, _, new, reason) in &refused {
                    let evidence = match r.target {
                        Target::Evidence(e) if live.get(&e) == Some(&true) => Some(e),
                        _ => None,
                    };
                    txn.audit(
                        share.case,
                        &partner,
                        PARTNER_EDIT_REFUSED,
                        evidence,
                        &format!(
                            "refused {r} = {:?} from {} (share {id}) and took it back: {reason}",
                            new.as_deref().unwrap_or(""),
                            share.partner_name
                        ),
                    )?;
                }
                write_plan(txn, Side::Sharer, id, l, &plan)?;
                txn.delete(&META_PENDING, &id)?;
                Ok::<_, SharingError>(())
            })?;
            l.saved(plan);
            if !refused.is_empty() {
                tracing::warn!(share = %id, partner = %share.partner_name, refused = refused.len(), "partner metadata edit partly refused and taken back");
            }
            Ok(())
        })?
        .ok_or(Bad::NoMetaDocument { share: id })?;
        // Other shares of the case get the partner's edit; this share gets the sharer's own
        // edits and counter-changes the partner lacks.
        self.case_changed(share.case);
        Ok(())
    }

    /// The counter-changes of refused fields (`(field, value before the merge, merged value,
    /// reason)`): each field back to its value at `before` (an item the edit added is removed,
    /// one it removed is put back), stamped as the sharer's, with a [`Refusal`] record.
    fn take_back(
        &self,
        share: &OutgoingShare,
        doc: &mut CaseDoc,
        before: &[ChangeHash],
        refused: &[(FieldRef, Option<String>, Option<String>, String)],
        now: casemesh_model::time::Timestamp,
    ) -> Result<()> {
        let stamp = Stamp {
            by: format!(
                "{} (refused an edit of {})",
                self.inner.org_name, share.partner_name
            ),
            at: now,
        };
        for (r, old, new, reason) in refused {
            match (r.target, old) {
                (Target::Evidence(e), None) => {
                    doc.remove_evidence(e).map_err(stored_meta_err)?;
                }
                (Target::Evidence(e), Some(_)) if !doc.has_evidence(e) => {
                    let at = |f| doc.get_at(FieldRef::evidence(e, f), before);
                    let meta = EvidenceMeta {
                        name: at(Field::Name).unwrap_or_default(),
                        display_id: at(Field::DisplayId).unwrap_or_default(),
                        description: at(Field::Description).unwrap_or_default(),
                    };
                    doc.add_evidence_meta(e, &meta).map_err(stored_meta_err)?;
                }
                (_, Some(old)) => {
                    doc.set_stamped(*r, old, &stamp).map_err(stored_meta_err)?;
                }
                (Target::Case, None) => {}
            }
            doc.record_refusal(&Refusal {
                field: *r,
                value: new.clone().unwrap_or_default(),
                reason: reason.clone(),
                by: share.partner_name.clone(),
                at: now,
            })
            .map_err(stored_meta_err)?;
        }
        Ok(())
    }

    /// The items of a received share that are in the copy: (the sharer's id, the item), one page
    /// at a time through `f`.
    pub(crate) fn for_each_received_item(
        &self,
        share: ShareId,
        mut f: impl FnMut(EvidenceId, ReceivedItem) -> Result<()>,
    ) -> Result<()> {
        self.inner.store.for_each(
            &RECEIVED_ITEMS,
            &format!("{share}/"),
            |_, item: ReceivedItem| f(item.entry.id, item),
        )
    }

    /// The copy's own current metadata, keyed by the sharer's evidence ids, and the upstream
    /// values taken in: each item's values at import, then the fields applied since.
    fn local_meta(
        &self,
        share: &IncomingShare,
    ) -> Result<Option<(CaseMeta, casemesh_meta::AppliedState)>> {
        let store = &self.inner.store;
        let Some(case) = share.local_case.and_then(|c| store.case(c).ok().flatten()) else {
            return Ok(None);
        };
        let mut meta = CaseMeta::from_case(&case, std::iter::empty());
        let mut applied = casemesh_meta::AppliedState::default();
        self.for_each_received_item(share.id, |sharer_id, item| {
            if let Some(local) = item.local
                && let Some(ev) = store.evidence(local)?
            {
                meta.evidence.insert(sharer_id, EvidenceMeta::of(&ev));
                applied.track_evidence(
                    sharer_id,
                    &EvidenceMeta {
                        name: item.entry.name.clone(),
                        display_id: item.entry.display_id.clone(),
                        description: item.entry.description.clone(),
                    },
                );
            }
            Ok(())
        })?;
        if let Some(since) = store.get(&RECEIVED_APPLIED, &share.id)? {
            applied.overlay(&since);
        }
        Ok(Some((meta, applied)))
    }

    /// The sharer's grant policy of a received share (what counts for applying updates).
    fn grant_policy(share: &IncomingShare) -> Result<SharingPolicy> {
        let grant = SignedGrant::from_bytes(&hex::decode(&share.grant).map_err(stored_meta_err)?)
            .map_err(|error| Bad::ReceivedGrant {
            share: share.id,
            error,
        })?;
        Ok(grant.grant.policy)
    }
}

/// The sharing error for a refused apply: a tab the policy forbids is forbidden, anything else
/// is invalid input.
fn refused(e: casemesh_meta::ApplyError) -> SharingError {
    match e {
        casemesh_meta::ApplyError::NotPermitted { .. } => NotAllowed::Apply(e).into(),
        other => Bad::Apply(other).into(),
    }
}

fn parse_fields(fields: &[String]) -> Result<Vec<FieldRef>> {
    fields
        .iter()
        .map(|f| {
            f.parse::<FieldRef>()
                .map_err(|e| SharingError::from(Bad::Field(e)))
        })
        .collect()
}

impl Engine {
    /// The updates available for a received share's copy.
    pub fn updates(&self, id: ShareId) -> Result<Vec<FieldUpdate>> {
        Ok(self
            .update_review(id)?
            .into_iter()
            .map(|r| r.update)
            .collect())
    }

    /// The review rows of a received share: for a copy, every available update, with whether
    /// the sharer's grant policy allows applying it (and why not), whether it conflicts with
    /// the receiver's own edit, and who changed it at the sharer and when (empty before import).
    /// For an access-mode share this organization edits (no copy), the edits of its own the
    /// sharer refused and took back: `current` is the value both documents hold now,
    /// `proposed` the refused value, never `allowed`, `reason` why (see docs/sharing.md §5).
    pub fn update_review(&self, id: ShareId) -> Result<Vec<ReviewRow>> {
        let share = self.received_share(id)?;
        let policy = Self::grant_policy(&share)?;
        if share.mode == ShareMode::Access {
            return Ok(self
                .read_doc(Side::Received, share.id, |up| {
                    Ok(refusal_rows(up, &share.sharer_name))
                })?
                .unwrap_or_default());
        }
        let Some((local, applied)) = self.local_meta(&share)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .read_doc(Side::Received, share.id, |up| {
                Ok(casemesh_meta::review(up, &applied, &local, &policy))
            })?
            .unwrap_or_default())
    }

    /// Apply updates to the copy: the named `fields` (a conflicting field is applied only when
    /// named), or with `choice` = [`Choice::All`] / [`Choice::Tab`] every allowed row that is
    /// not a conflict. All or nothing: a selected field the sharer's policy forbids (its tab's
    /// `apply_case_updates` / `apply_evidence_updates`) is [`SharingError::Forbidden`], one
    /// without an update (or a selection of nothing) [`SharingError::Invalid`], a share not
    /// imported [`SharingError::Conflict`]. Each applied field is audited (`case.update.apply`,
    /// a custody-timeline event) with the old and new value and the sharer's stamp; the fields
    /// and the values taken in are written in one transaction (a crash applies all or none).
    /// Returns what was applied.
    pub fn apply_updates(
        &self,
        actor: &Actor,
        id: ShareId,
        fields: &[String],
        choice: Option<Choice>,
    ) -> Result<Vec<FieldUpdate>> {
        let share = self.received_share(id)?;
        let case = share.local_case.ok_or(Clash::NotImported { share: id })?;
        let (mut local, mut applied) = self
            .local_meta(&share)?
            .ok_or(SharingError::NotFound(Missing::Copy(share.id)))?;
        let policy = Self::grant_policy(&share)?;
        let choice = match choice {
            Some(c) if fields.is_empty() => c,
            Some(_) => {
                return Err(Bad::FieldsAndChoice.into());
            }
            None => Choice::Fields(parse_fields(fields)?),
        };
        self.read_doc(Side::Received, share.id, |up| {
            let rows = casemesh_meta::review(up, &applied, &local, &policy);
            let chosen = casemesh_meta::select(&rows, &choice).map_err(refused)?;
            if chosen.is_empty() {
                return Err(Bad::NothingSelected.into());
            }
            let done = casemesh_meta::apply(up, &chosen, &policy, &mut applied, &mut local)
                .map_err(refused)?;
            // The sharer's values are partner input: the same rules as a value typed here,
            // checked before anything is written.
            for u in &done {
                casemesh_meta::check_value(u.field_ref(), &u.proposed).map_err(|why| {
                    Bad::SharerValue {
                        field: u.field_ref(),
                        why,
                    }
                })?;
            }
            self.write_local(actor, case, &share, up, &done)?;
            Ok(done)
        })?
        .ok_or_else(|| Clash::NoUpdates { share: id }.into())
    }

    /// Dismiss updates: the named fields stop showing until the sharer changes them again; the
    /// copy is unchanged. All or nothing: a field without an update is
    /// [`SharingError::Invalid`]. Audited on the copy (`case.update.dismiss`), in the same
    /// transaction as the values recorded as taken in.
    pub fn dismiss_updates(
        &self,
        actor: &Actor,
        id: ShareId,
        fields: &[String],
    ) -> Result<Vec<FieldUpdate>> {
        let share = self.received_share(id)?;
        let case = share.local_case.ok_or(Clash::NotImported { share: id })?;
        let chosen = parse_fields(fields)?;
        if chosen.is_empty() {
            return Err(Bad::NoFieldsToDismiss.into());
        }
        let (local, mut applied) = self
            .local_meta(&share)?
            .ok_or(SharingError::NotFound(Missing::Copy(share.id)))?;
        let done = self
            .read_doc(Side::Received, share.id, |up| {
                casemesh_meta::dismiss(up, &chosen, &mut applied, &local).map_err(refused)
            })?
            .ok_or(Clash::NoUpdates { share: id })?;
        let details = done
            .iter()
            .map(|u| format!("{} (sharer's value {:?})", u.field_ref(), u.proposed))
            .collect::<Vec<_>>()
            .join(", ");
        let details = format!("dismissed updates from {}: {details}", share.sharer_name);
        self.inner.store.atomically(|txn| {
            if txn.case(case)?.is_none() {
                return Err(SharingError::NotFound(Missing::Case(case)));
            }
            txn.audit(case, actor, actions::CASE_UPDATE_DISMISS, None, &details)?;
            record_taken_in(txn, share.id, &done)
        })?;
        Ok(done)
    }

    /// Write applied updates to the copy and record them as taken in, in one transaction.
    fn write_local(
        &self,
        actor: &Actor,
        case: CaseId,
        share: &IncomingShare,
        up: &CaseDoc,
        done: &[FieldUpdate],
    ) -> Result<()> {
        let store = &self.inner.store;
        let mut rows = Vec::with_capacity(done.len());
        for u in done {
            let by = up
                .stamp(u.field_ref())
                .map(|s| format!(", changed by {} at {} ms", s.by, s.at.as_millis()))
                .unwrap_or_default();
            let details = format!(
                "applied update {} from {}{by}: {:?} -> {:?}",
                u.field_ref(),
                share.sharer_name,
                u.current,
                u.proposed
            );
            let local = match u.target {
                Target::Case => None,
                Target::Evidence(sharer_id) => Some(
                    store
                        .get(&RECEIVED_ITEMS, &(share.id, sharer_id))?
                        .and_then(|i| i.local)
                        .ok_or({
                            SharingError::NotFound(Missing::CopyEvidence {
                                share: share.id,
                                evidence: sharer_id,
                            })
                        })?,
                ),
            };
            rows.push((u, local, details));
        }
        store.atomically(|txn| {
            for (u, local, details) in &rows {
                match local {
                    None => {
                        txn.update_case(case, actor, actions::CASE_UPDATE_APPLY, details, |c| {
                            match u.field {
                                Field::CaseNumber => c.case_number.clone_from(&u.proposed),
                                Field::Title => c.title.clone_from(&u.proposed),
                                Field::Description => c.description.clone_from(&u.proposed),
                                _ => {}
                            }
                        })?;
                    }
                    Some(local) => {
                        txn.update_evidence(
                            *local,
                            actor,
                            actions::CASE_UPDATE_APPLY,
                            details,
                            |e| match u.field {
                                Field::Name => e.name.clone_from(&u.proposed),
                                Field::DisplayId => e.display_id.clone_from(&u.proposed),
                                Field::Description => e.description.clone_from(&u.proposed),
                                _ => {}
                            },
                        )?;
                    }
                }
            }
            // What was applied joins the values taken in before (the import values stay with
            // the items).
            record_taken_in(txn, share.id, done)
        })
    }

    /// The metadata of a received share as this node holds it (the sharer's document with every
    /// change merged in, including this organization's own edits of an access-mode share), keyed
    /// by the sharer's evidence ids; `None` before the offer's document arrived.
    pub fn received_meta(&self, id: ShareId) -> Result<Option<CaseMeta>> {
        let share = self.received_share(id)?;
        self.read_doc(Side::Received, share.id, |up| Ok(up.meta()))
    }

    /// Edit a field of an access-mode share in the sharer's system (issue #14 item 4), as
    /// `actor`: written into this node's copy of the share's document at once and sent to the
    /// sharer as `case.edit/1` through the outbox (an offline sharer gets it when it is back),
    /// where it merges with the sharer's own edits by Automerge's rules (a field the sharer
    /// refuses comes back taken back, listed by [`Engine::update_review`]). Refused
    /// ([`SharingError::Forbidden`]) when the share is stopped, not access mode, or the grant's
    /// policy lacks `edit_metadata` (the sharer checks again); [`SharingError::Invalid`] for a
    /// value its field does not accept or a field the share does not hold. Returns the
    /// document's values after the edit.
    pub fn edit_received(
        &self,
        actor: &Actor,
        id: ShareId,
        field: &str,
        value: &str,
    ) -> Result<CaseMeta> {
        let share = self.received_share(id)?;
        if share.status == crate::records::ReceivedStatus::Stopped {
            return Err(NotAllowed::ReceivedStopped { share: id }.into());
        }
        let policy = Self::grant_policy(&share)?;
        if share.mode != ShareMode::Access || !policy.allows(PolicyAction::EditMetadata) {
            return Err(NotAllowed::EditByPolicy { share: id }.into());
        }
        let r: FieldRef = field.parse().map_err(Bad::Field)?;
        casemesh_meta::check_value(r, value).map_err(|why| Bad::Value { field: r, why })?;
        let _guard = self.doc_lock();
        let store = &self.inner.store;
        let edited = self.with_doc(Side::Received, share.id, |l| {
            let doc = &mut l.doc;
            if doc.get(r).is_none() {
                return Err(Bad::NoSuchField {
                    share: share.id,
                    field: r,
                }
                .into());
            }
            doc.set_actor(&actor_of(self.org_id()));
            let before = doc.heads();
            let stamp = Stamp {
                by: format!("{} ({})", actor.name, self.inner.org_name),
                at: actor.now,
            };
            doc.set_stamped(r, value, &stamp).map_err(stored_meta_err)?;
            let changes = doc.changes_since(&before);
            if changes.is_empty() {
                return Ok(doc.meta());
            }
            let msg = self.outbox_message(
                &wire::Message::Edit(MetaChanges {
                    share: share.id,
                    changes: Carried::Inline(hex::encode(&changes)),
                }),
                Some(share.id),
            )?;
            let meta = doc.meta();
            let plan = l.plan();
            // The document's change and the message carrying it commit together.
            store.atomically(|txn| {
                write_plan(txn, Side::Received, share.id, l, &plan)?;
                Self::queue_in(txn, &share.sharer, &msg)?;
                Ok::<_, SharingError>(())
            })?;
            l.saved(plan);
            Ok(meta)
        })?;
        let meta = edited.ok_or(Clash::NoMetaDocument { share: id })?;
        self.wake_outbox();
        Ok(meta)
    }
}

/// Record fields as taken in (applied or dismissed) in a received share's applied state.
fn record_taken_in(
    txn: &mut casemesh_store::Txn<'_, '_>,
    share: ShareId,
    done: &[FieldUpdate],
) -> Result<()> {
    let mut s = txn.get(&RECEIVED_APPLIED, &share)?.unwrap_or_default();
    for u in done {
        s.record(u.field_ref(), &u.proposed);
    }
    txn.put(&RECEIVED_APPLIED, &share, &s)?;
    Ok(())
}

/// The review rows of refused edits of this organization in an access-mode share's document
/// (see [`Engine::update_review`]).
fn refusal_rows(up: &CaseDoc, sharer_name: &str) -> Vec<ReviewRow> {
    up.refusals()
        .into_iter()
        .map(|f| {
            let current = up.get(f.field).unwrap_or_default();
            ReviewRow {
                update: FieldUpdate {
                    target: f.field.target,
                    field: f.field.field,
                    current,
                    proposed: f.value,
                },
                base: None,
                conflict: false,
                allowed: false,
                reason: Some(format!(
                    "{sharer_name} refused this edit and took it back: {}",
                    f.reason
                )),
                changed: Some(Stamp {
                    by: sharer_name.to_owned(),
                    at: f.at,
                }),
            }
        })
        .collect()
}
