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

use crate::Engine;
use crate::error::{Result, SharingError};
use crate::records::{
    IncomingShare, OutgoingShare, RECEIVED_APPLIED, RECEIVED_DOCS, RECEIVED_ITEMS, ReceivedItem,
    SHARE_DOCS, SHARE_ITEMS, SHARES, ShareDoc, ShareStatus,
};
use crate::wire::{self, Carried, MetaChanges};
use casemesh_meta::{
    CaseDoc, CaseMeta, Choice, EvidenceMeta, Field, FieldRef, FieldUpdate, ReviewRow, Stamp, Target,
};
use casemesh_model::audit::actions;
use casemesh_model::grant::{ShareMode, SignedGrant};
use casemesh_model::ids::{CaseId, EvidenceId, ShareId};
use casemesh_model::policy::{PolicyAction, SharedData, SharingPolicy};
use casemesh_store::{Actor, Table};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Changes that arrived before the changes they depend on (Automerge keeps them in memory only;
/// a saved document drops them): kept here, hex of framed changes, and applied again with the
/// next message of the share.
const META_PENDING: Table<ShareId, String> = Table::new("meta.pending");

/// Serializes read-modify-write of the metadata documents (the synchronization pass, a partner's
/// edit arriving, a local edit): a document is loaded, changed and saved by one at a time.
static DOC_LOCK: Mutex<()> = Mutex::new(());

fn doc_lock() -> std::sync::MutexGuard<'static, ()> {
    DOC_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A partner's metadata changes that do not decode or apply: a refusal.
fn meta_err(e: impl std::fmt::Display) -> SharingError {
    SharingError::Invalid(format!("metadata document: {e}"))
}

/// This node's own stored metadata document (or its heads) failing to load or change: an
/// internal fault, never a refusal of the partner's message or the user's request.
fn stored_meta_err(e: impl std::fmt::Display) -> SharingError {
    SharingError::Internal(format!("stored metadata document: {e}"))
}

pub(crate) fn load_doc(hex_text: &str) -> Result<CaseDoc> {
    CaseDoc::load(&hex::decode(hex_text).map_err(stored_meta_err)?).map_err(stored_meta_err)
}

/// The Automerge actor of an organization in metadata documents: the first 16 bytes of the
/// BLAKE3 hash of its org id (the same on every node, so each side can tell the other's changes).
pub(crate) fn actor_of(org: &str) -> Vec<u8> {
    blake3::hash(org.as_bytes()).as_bytes()[..16].to_vec()
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

/// Frame-level concatenation of two `changes_since` outputs.
fn concat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out
}

impl Engine {
    /// The current metadata of the part of `case` that `share` covers: the items sent under it,
    /// or exactly `items` (a share being created, whose items are not recorded yet).
    fn share_meta(&self, share: &OutgoingShare, items: Option<&[EvidenceId]>) -> Result<CaseMeta> {
        let store = &self.inner.store;
        let case = store
            .case(share.case)?
            .ok_or_else(|| SharingError::NotFound(format!("case {}", share.case)))?;
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
            let _guard = doc_lock();
            let id = share.id;
            let Some(rec) = self.inner.store.get(&SHARE_DOCS, &id)? else {
                continue;
            };
            let mut doc = load_doc(&rec.doc)?;
            doc.set_actor(&actor_of(self.org_id()));
            self.record_case_edits(&share, &mut doc)?;
            let sent = casemesh_meta::decode_heads(
                &hex::decode(&rec.sent_heads).map_err(stored_meta_err)?,
            )
            .map_err(stored_meta_err)?;
            let heads = doc.heads();
            if heads == sent {
                continue;
            }
            // The partner's own changes (merged here from `case.edit/1`) are not sent back.
            let changes = doc.changes_since_excluding(&sent, &actor_of(&share.partner));
            let record = ShareDoc {
                doc: hex::encode(doc.save()),
                sent_heads: hex::encode(casemesh_meta::encode_heads(&heads)),
            };
            if changes.is_empty() {
                self.inner.store.put(&SHARE_DOCS, &id, &record)?;
                continue;
            }
            let changes = self.carry(changes)?;
            let msg = self.outbox_message(
                &wire::Message::Meta(MetaChanges {
                    share: share.id,
                    changes: changes.carried.clone(),
                }),
                Some(share.id),
            )?;
            // The document's new heads and the changes sent commit together.
            self.inner.store.atomically(|txn| {
                let Some(mut s) = txn.get(&SHARES, &id)? else {
                    return Ok(());
                };
                changes.hold(txn, &mut s)?;
                txn.put(&SHARES, &id, &s)?;
                txn.put(&SHARE_DOCS, &id, &record)?;
                Self::queue_in(txn, &share.partner, &msg)
            })?;
            self.wake_outbox();
        }
        Ok(())
    }

    /// Apply framed changes to `doc` together with the share's pending ones; returns the fields
    /// that changed and the pending bytes to keep (empty when nothing waits for a dependency).
    fn merge_pending(
        &self,
        id: ShareId,
        doc: &mut CaseDoc,
        bytes: &[u8],
    ) -> Result<(BTreeSet<FieldRef>, Vec<u8>)> {
        let pending = match self.inner.store.get(&META_PENDING, &id)? {
            Some(h) => hex::decode(h).map_err(stored_meta_err)?,
            None => Vec::new(),
        };
        let all = concat(&pending, bytes);
        let changed = doc.apply_changes(&all).map_err(meta_err)?;
        let keep = if doc.missing_deps().is_empty() {
            Vec::new()
        } else {
            all
        };
        Ok((changed, keep))
    }

    /// `case.update/2` from a sharer: merge the changes into the upstream document.
    pub(crate) async fn on_meta_changes(&self, peer: &str, msg: MetaChanges) -> Result<()> {
        let id = msg.share;
        let share = self.received_by_id(id)?;
        if share.sharer != peer {
            return Err(SharingError::Forbidden(
                "update for a share from another organization".into(),
            ));
        }
        if share.status == crate::records::ReceivedStatus::Stopped {
            return Err(SharingError::Forbidden("this share was stopped".into()));
        }
        let g = self.check_grant(peer, &share.grant)?;
        let policy = &g.grant.policy;
        if !policy.allows(PolicyAction::ReceiveUpdates)
            && !policy.allows(PolicyAction::EditMetadata)
        {
            return Err(SharingError::Forbidden(
                "the sharing policy does not allow updates for this share".into(),
            ));
        }
        let bytes = self.carried_bytes(peer, &g, &msg.changes).await?;
        let _guard = doc_lock();
        let store = &self.inner.store;
        let Some(up) = store.get(&RECEIVED_DOCS, &id)? else {
            return Err(SharingError::Invalid(
                "no metadata document for this share".into(),
            ));
        };
        let mut doc = load_doc(&up)?;
        let (_, keep) = self.merge_pending(id, &mut doc, &bytes)?;
        let saved = hex::encode(doc.save());
        store.atomically(|txn| {
            txn.put(&RECEIVED_DOCS, &id, &saved)?;
            if keep.is_empty() {
                txn.delete(&META_PENDING, &id)?;
            } else {
                txn.put(&META_PENDING, &id, &hex::encode(&keep))?;
            }
            Ok::<_, SharingError>(())
        })?;
        Ok(())
    }

    /// `case.edit/1` from a partner: its edits to an access-mode share whose policy allows
    /// `edit_metadata`. Refused (nothing changes) when the share is not that partner's, stopped,
    /// not access mode or the policy lacks `edit_metadata`, when the changes touch an item or a
    /// field outside the share (or one the policy withholds), or when a merged value is not a
    /// valid value of its field. Otherwise the sharer's own pending edits are recorded in the
    /// document first, the changes merged, and the merged values written to the case, audited
    /// as the partner organization (`case.partner.edit`); the sharer's changes the partner lacks
    /// go out with the next synchronization pass.
    pub(crate) fn on_case_edit(&self, peer: &str, msg: MetaChanges) -> Result<()> {
        let id = msg.share;
        let share = self.share(&id.to_string())?;
        if share.partner != peer {
            return Err(SharingError::Forbidden(
                "edit for a share with another organization".into(),
            ));
        }
        if matches!(
            share.status,
            ShareStatus::Stopped | ShareStatus::PendingApproval
        ) {
            return Err(SharingError::Forbidden("this share is not active".into()));
        }
        if !Self::both_edit(&share) {
            return Err(SharingError::Forbidden(
                "the sharing policy does not allow `edit_metadata` for this share (access mode \
                 only)"
                    .into(),
            ));
        }
        let Carried::Inline(h) = &msg.changes else {
            return Err(SharingError::Invalid(
                "a partner's edits travel inline".into(),
            ));
        };
        let bytes = hex::decode(h).map_err(meta_err)?;
        let _guard = doc_lock();
        let store = &self.inner.store;
        let rec = store
            .get(&SHARE_DOCS, &id)?
            .ok_or_else(|| SharingError::Invalid("no metadata document for this share".into()))?;
        let mut doc = load_doc(&rec.doc)?;
        doc.set_actor(&actor_of(self.org_id()));
        // The sharer's own edits not yet in the document go in first, so the merge keeps them.
        self.record_case_edits(&share, &mut doc)?;
        let covered = doc.meta();
        let (changed, keep) = self.merge_pending(id, &mut doc, &bytes)?;
        if !doc.layout_ok() {
            return Err(SharingError::Forbidden(
                "the edit breaks the metadata document's layout".into(),
            ));
        }
        let merged = doc.meta();
        let mut writes = Vec::new();
        for r in changed {
            if let Target::Evidence(e) = r.target {
                // The item must be in the document, still sent under this share, of this case
                // and not marked "do not disclose" since (those never leave, nor take edits).
                let live = covered.evidence.contains_key(&e)
                    && store.get(&crate::records::SHARE_ITEMS, &(id, e))?.is_some()
                    && store
                        .evidence(e)?
                        .is_some_and(|ev| ev.case == share.case && !ev.do_not_disclose);
                if !live {
                    return Err(SharingError::Forbidden(format!(
                        "the edit touches evidence {e}, which this share does not cover"
                    )));
                }
            }
            if !discloses(&share.policy, r) {
                return Err(SharingError::Forbidden(format!(
                    "the sharing policy withholds {r}: a partner may not write it"
                )));
            }
            let value = merged
                .get(r)
                .ok_or_else(|| SharingError::Invalid(format!("the edit removes {r}")))?;
            casemesh_meta::check_value(r, value)
                .map_err(|e| SharingError::Invalid(format!("{r}: {e}")))?;
            if covered.get(r) != Some(value) {
                writes.push((r, value.to_owned()));
            }
        }
        let actor = Actor::new(format!("org:{}", share.partner_name), self.now());
        for (r, value) in &writes {
            let details = format!("{r} edited by {} (share {id})", share.partner_name);
            match r.target {
                Target::Case => {
                    store.update_case(share.case, &actor, actions::CASE_PARTNER_EDIT, |c| {
                        match r.field {
                            Field::CaseNumber => c.case_number.clone_from(value),
                            Field::Title => c.title.clone_from(value),
                            _ => c.description.clone_from(value),
                        }
                        Ok::<_, SharingError>(details.clone())
                    })?;
                }
                Target::Evidence(e) => {
                    store.update_evidence(e, &actor, actions::CASE_PARTNER_EDIT, |ev| {
                        match r.field {
                            Field::Name => ev.name.clone_from(value),
                            Field::DisplayId => ev.display_id.clone_from(value),
                            _ => ev.description.clone_from(value),
                        }
                        Ok::<_, SharingError>(details.clone())
                    })?;
                }
            }
        }
        let record = ShareDoc {
            doc: hex::encode(doc.save()),
            sent_heads: rec.sent_heads.clone(),
        };
        store.atomically(|txn| {
            txn.put(&SHARE_DOCS, &id, &record)?;
            if keep.is_empty() {
                txn.delete(&META_PENDING, &id)?;
            } else {
                txn.put(&META_PENDING, &id, &hex::encode(&keep))?;
            }
            Ok::<_, SharingError>(())
        })?;
        // Other shares of the case get the partner's edit; this share gets the sharer's own
        // edits the partner lacks.
        self.case_changed(share.case);
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
            .map_err(|e| SharingError::Invalid(e.to_string()))?;
        Ok(grant.grant.policy)
    }
}

/// The sharing error for a refused apply: a tab the policy forbids is forbidden, anything else
/// is invalid input.
fn refused(e: casemesh_meta::ApplyError) -> SharingError {
    match e {
        casemesh_meta::ApplyError::NotPermitted { .. } => SharingError::Forbidden(e.to_string()),
        other => SharingError::Invalid(other.to_string()),
    }
}

fn parse_fields(fields: &[String]) -> Result<Vec<FieldRef>> {
    fields
        .iter()
        .map(|f| {
            f.parse::<FieldRef>()
                .map_err(|e| SharingError::Invalid(e.to_string()))
        })
        .collect()
}

impl Engine {
    /// The updates available for a received share's copy.
    pub fn updates(&self, id: &str) -> Result<Vec<FieldUpdate>> {
        Ok(self
            .update_review(id)?
            .into_iter()
            .map(|r| r.update)
            .collect())
    }

    /// The review rows of a received share's copy (empty before import and for access-mode
    /// shares, which have no copy): every available update, with whether the sharer's grant
    /// policy allows applying it (and why not), whether it conflicts with the receiver's own
    /// edit, and who changed it at the sharer and when.
    pub fn update_review(&self, id: &str) -> Result<Vec<ReviewRow>> {
        let share = self.received_share(id)?;
        let up = self.inner.store.get(&RECEIVED_DOCS, &share.id)?;
        let (Some(up), Some((local, applied))) = (up, self.local_meta(&share)?) else {
            return Ok(Vec::new());
        };
        let policy = Self::grant_policy(&share)?;
        Ok(casemesh_meta::review(
            &load_doc(&up)?,
            &applied,
            &local,
            &policy,
        ))
    }

    /// Apply updates to the copy: the named `fields` (a conflicting field is applied only when
    /// named), or with `choice` = [`Choice::All`] / [`Choice::Tab`] every allowed row that is
    /// not a conflict. All or nothing: a selected field the sharer's policy forbids (its tab's
    /// `apply_case_updates` / `apply_evidence_updates`) is [`SharingError::Forbidden`], one
    /// without an update (or a selection of nothing) [`SharingError::Invalid`], a share not
    /// imported [`SharingError::Conflict`]. Each applied field is audited (`case.update.apply`,
    /// a custody-timeline event) with the old and new value and the sharer's stamp. Returns
    /// what was applied.
    pub fn apply_updates(
        &self,
        actor: &Actor,
        id: &str,
        fields: &[String],
        choice: Option<Choice>,
    ) -> Result<Vec<FieldUpdate>> {
        let share = self.received_share(id)?;
        let case = share
            .local_case
            .ok_or_else(|| SharingError::Conflict("the share has not been imported yet".into()))?;
        let store = &self.inner.store;
        let up = load_doc(
            &store
                .get(&RECEIVED_DOCS, &share.id)?
                .ok_or_else(|| SharingError::Conflict("no updates for this share".into()))?,
        )?;
        let (mut local, mut applied) = self
            .local_meta(&share)?
            .ok_or_else(|| SharingError::NotFound("the local copy".into()))?;
        let policy = Self::grant_policy(&share)?;
        let choice = match choice {
            Some(c) if fields.is_empty() => c,
            Some(_) => {
                return Err(SharingError::Invalid(
                    "name fields, or choose all or a tab, not both".into(),
                ));
            }
            None => Choice::Fields(parse_fields(fields)?),
        };
        let rows = casemesh_meta::review(&up, &applied, &local, &policy);
        let chosen = casemesh_meta::select(&rows, &choice).map_err(refused)?;
        if chosen.is_empty() {
            return Err(SharingError::Invalid(
                "select updates to apply (--field, --tab or --all)".into(),
            ));
        }
        let done = casemesh_meta::apply(&up, &chosen, &policy, &mut applied, &mut local)
            .map_err(refused)?;
        // The sharer's values are partner input: the same rules as a value typed here, checked
        // before anything is written.
        for u in &done {
            casemesh_meta::check_value(u.field_ref(), &u.proposed).map_err(|e| {
                SharingError::Invalid(format!("the sharer's {}: {e}", u.field_ref()))
            })?;
        }
        self.write_local(actor, case, &share, &up, &done)?;
        // What was applied joins the values taken in before (the import values stay with the
        // items).
        store.update(&RECEIVED_APPLIED, &share.id, |s| {
            let mut s = s.unwrap_or_default();
            for u in &done {
                s.record(u.field_ref(), &u.proposed);
            }
            Ok::<_, SharingError>(Some(s))
        })?;
        Ok(done)
    }

    /// Dismiss updates: the named fields stop showing until the sharer changes them again; the
    /// copy is unchanged. All or nothing: a field without an update is
    /// [`SharingError::Invalid`]. Audited on the copy (`case.update.dismiss`).
    pub fn dismiss_updates(
        &self,
        actor: &Actor,
        id: &str,
        fields: &[String],
    ) -> Result<Vec<FieldUpdate>> {
        let share = self.received_share(id)?;
        let case = share
            .local_case
            .ok_or_else(|| SharingError::Conflict("the share has not been imported yet".into()))?;
        let chosen = parse_fields(fields)?;
        if chosen.is_empty() {
            return Err(SharingError::Invalid("name the fields to dismiss".into()));
        }
        let store = &self.inner.store;
        let up = load_doc(
            &store
                .get(&RECEIVED_DOCS, &share.id)?
                .ok_or_else(|| SharingError::Conflict("no updates for this share".into()))?,
        )?;
        let (local, mut applied) = self
            .local_meta(&share)?
            .ok_or_else(|| SharingError::NotFound("the local copy".into()))?;
        let done = casemesh_meta::dismiss(&up, &chosen, &mut applied, &local).map_err(refused)?;
        let details = done
            .iter()
            .map(|u| format!("{} (sharer's value {:?})", u.field_ref(), u.proposed))
            .collect::<Vec<_>>()
            .join(", ");
        store.update_case(case, actor, actions::CASE_UPDATE_DISMISS, |_| {
            Ok::<_, SharingError>(format!(
                "dismissed updates from {}: {details}",
                share.sharer_name
            ))
        })?;
        store.update(&RECEIVED_APPLIED, &share.id, |s| {
            let mut s = s.unwrap_or_default();
            for u in &done {
                s.record(u.field_ref(), &u.proposed);
            }
            Ok::<_, SharingError>(Some(s))
        })?;
        Ok(done)
    }

    fn write_local(
        &self,
        actor: &Actor,
        case: CaseId,
        share: &IncomingShare,
        up: &CaseDoc,
        done: &[FieldUpdate],
    ) -> Result<()> {
        let store = &self.inner.store;
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
            match u.target {
                Target::Case => {
                    store.update_case(case, actor, actions::CASE_UPDATE_APPLY, |c| {
                        match u.field {
                            Field::CaseNumber => c.case_number.clone_from(&u.proposed),
                            Field::Title => c.title.clone_from(&u.proposed),
                            Field::Description => c.description.clone_from(&u.proposed),
                            _ => {}
                        }
                        Ok::<_, SharingError>(details.clone())
                    })?;
                }
                Target::Evidence(sharer_id) => {
                    let local: EvidenceId = store
                        .get(&RECEIVED_ITEMS, &(share.id, sharer_id))?
                        .and_then(|i| i.local)
                        .ok_or_else(|| {
                            SharingError::NotFound(format!("evidence {sharer_id} in the copy"))
                        })?;
                    store.update_evidence(local, actor, actions::CASE_UPDATE_APPLY, |e| {
                        match u.field {
                            Field::Name => e.name.clone_from(&u.proposed),
                            Field::DisplayId => e.display_id.clone_from(&u.proposed),
                            Field::Description => e.description.clone_from(&u.proposed),
                            _ => {}
                        }
                        Ok::<_, SharingError>(details.clone())
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The metadata of a received share as this node holds it (the sharer's document with every
    /// change merged in, including this organization's own edits of an access-mode share), keyed
    /// by the sharer's evidence ids; `None` before the offer's document arrived.
    pub fn received_meta(&self, id: &str) -> Result<Option<CaseMeta>> {
        let share = self.received_share(id)?;
        Ok(match self.inner.store.get(&RECEIVED_DOCS, &share.id)? {
            Some(up) => Some(load_doc(&up)?.meta()),
            None => None,
        })
    }

    /// Edit a field of an access-mode share in the sharer's system (issue #14 item 4), as
    /// `actor`: written into this node's copy of the share's document at once and sent to the
    /// sharer as `case.edit/1` through the outbox (an offline sharer gets it when it is back),
    /// where it merges with the sharer's own edits by Automerge's rules. Refused
    /// ([`SharingError::Forbidden`]) when the share is stopped, not access mode, or the grant's
    /// policy lacks `edit_metadata` (the sharer checks again); [`SharingError::Invalid`] for a
    /// value its field does not accept or a field the share does not hold. Returns the
    /// document's values after the edit.
    pub fn edit_received(
        &self,
        actor: &Actor,
        id: &str,
        field: &str,
        value: &str,
    ) -> Result<CaseMeta> {
        let share = self.received_share(id)?;
        if share.status == crate::records::ReceivedStatus::Stopped {
            return Err(SharingError::Forbidden("this share was stopped".into()));
        }
        let policy = Self::grant_policy(&share)?;
        if share.mode != ShareMode::Access || !policy.allows(PolicyAction::EditMetadata) {
            return Err(SharingError::Forbidden(
                "the sharing policy does not allow `edit_metadata` for this share (access mode \
                 only)"
                    .into(),
            ));
        }
        let r: FieldRef = field
            .parse()
            .map_err(|e: casemesh_meta::fields::FieldParseError| {
                SharingError::Invalid(e.to_string())
            })?;
        casemesh_meta::check_value(r, value)
            .map_err(|e| SharingError::Invalid(format!("{r}: {e}")))?;
        let _guard = doc_lock();
        let store = &self.inner.store;
        let up = store
            .get(&RECEIVED_DOCS, &share.id)?
            .ok_or_else(|| SharingError::Conflict("no metadata document for this share".into()))?;
        let mut doc = load_doc(&up)?;
        if doc.get(r).is_none() {
            return Err(SharingError::Invalid(format!(
                "this share has no field {r}"
            )));
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
        let saved = hex::encode(doc.save());
        store.atomically(|txn| {
            txn.put(&RECEIVED_DOCS, &share.id, &saved)?;
            Self::queue_in(txn, &share.sharer, &msg)?;
            Ok::<_, SharingError>(())
        })?;
        self.wake_outbox();
        Ok(doc.meta())
    }
}
