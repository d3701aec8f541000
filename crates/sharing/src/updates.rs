//! "Check for and apply updates": case-level fields (Case ID, title, description) and evidence
//! metadata (name, display id, description) travel from the sharer to the partner as Automerge
//! changes; the partner reviews a per-field diff and applies what it chooses, where the policy
//! allows `apply_updates`. New evidence files do not go this way (they sync).
//!
//! The sharer keeps one metadata document per share holding only what that share covers (the case
//! fields and the items sent under it), so a partner never learns the names of evidence it was
//! not given. The first document travels with the offer; later edits go out as the changes since
//! the heads last sent. The receiver keeps the sharer's document (upstream) and, per field, the
//! upstream value it last took in; its own edits to the copy are never overwritten unless chosen.

use crate::Engine;
use crate::error::{Result, SharingError};
use crate::records::{
    IncomingShare, OutgoingShare, RECEIVED_APPLIED, RECEIVED_DOCS, RECEIVED_ITEMS, ReceivedItem,
    SHARE_DOCS, SHARE_ITEMS, SHARES, ShareDoc, ShareStatus,
};
use crate::wire::{self, MetaChanges};
use casemesh_meta::{CaseDoc, CaseMeta, EvidenceMeta, Field, FieldRef, FieldUpdate, Target};
use casemesh_model::audit::actions;
use casemesh_model::grant::SignedGrant;
use casemesh_model::ids::{CaseId, EvidenceId, ShareId};
use casemesh_store::Actor;

fn meta_err(e: impl std::fmt::Display) -> SharingError {
    SharingError::Invalid(format!("metadata document: {e}"))
}

pub(crate) fn load_doc(hex_text: &str) -> Result<CaseDoc> {
    CaseDoc::load(&hex::decode(hex_text).map_err(meta_err)?).map_err(meta_err)
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

    /// Create a share's metadata document over `items`: returns it saved for the offer, and the
    /// record to store with the share (in the same transaction).
    pub(crate) fn start_share_doc(
        &self,
        share: &OutgoingShare,
        items: &[EvidenceId],
    ) -> Result<(Vec<u8>, ShareDoc)> {
        let mut doc = CaseDoc::new(&self.share_meta(share, Some(items))?).map_err(meta_err)?;
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

    /// Bring every active share's document of `case` up to date with the case and send the
    /// changes. Called after case or evidence metadata edits and after new items were sent.
    pub fn metadata_changed(&self, case: CaseId) -> Result<()> {
        for share in self.shares(Some(case))?.into_iter().filter(|s| {
            s.status != ShareStatus::Stopped && s.status != ShareStatus::PendingApproval
        }) {
            let id = share.id;
            let Some(rec) = self.inner.store.get(&SHARE_DOCS, &id)? else {
                continue;
            };
            let mut doc = load_doc(&rec.doc)?;
            let now_meta = self.share_meta(&share, None)?;
            let before = doc.meta();
            for (r, value) in now_meta.fields() {
                match r.target {
                    Target::Evidence(eid) if !before.evidence.contains_key(&eid) => {
                        if let Some(m) = now_meta.evidence.get(&eid) {
                            doc.add_evidence_meta(eid, m).map_err(meta_err)?;
                        }
                    }
                    _ if before.get(r) != Some(value) => doc.set(r, value).map_err(meta_err)?,
                    _ => {}
                }
            }
            let sent =
                casemesh_meta::decode_heads(&hex::decode(&rec.sent_heads).map_err(meta_err)?)
                    .map_err(meta_err)?;
            let changes = doc.changes_since(&sent);
            let heads = doc.heads();
            if heads == sent {
                continue;
            }
            let record = ShareDoc {
                doc: hex::encode(doc.save()),
                sent_heads: hex::encode(casemesh_meta::encode_heads(&heads)),
            };
            let changes = self.carry(changes)?;
            let msg = self.outbox_message(
                wire::KIND_META,
                wire::encode(&MetaChanges {
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
        let bytes = self.carried_bytes(peer, &g, &msg.changes).await?;
        let store = &self.inner.store;
        store.atomically(|txn| {
            let Some(up) = txn.get(&RECEIVED_DOCS, &id)? else {
                return Err(SharingError::Invalid(
                    "no metadata document for this share".into(),
                ));
            };
            let mut doc = load_doc(&up)?;
            doc.apply_changes(&bytes).map_err(meta_err)?;
            txn.put(&RECEIVED_DOCS, &id, &hex::encode(doc.save()))?;
            Ok::<_, SharingError>(())
        })?;
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
}

/// The sharing error for a refused apply: a tab the policy forbids is forbidden, anything else
/// is invalid input.
fn refused(e: casemesh_meta::ApplyError) -> SharingError {
    match e {
        casemesh_meta::ApplyError::NotPermitted { .. } => SharingError::Forbidden(e.to_string()),
        other => SharingError::Invalid(other.to_string()),
    }
}

impl Engine {
    /// The updates available for a received share's copy.
    pub fn updates(&self, id: &str) -> Result<Vec<FieldUpdate>> {
        let share = self.received_share(id)?;
        let up = self.inner.store.get(&RECEIVED_DOCS, &share.id)?;
        let (Some(up), Some((local, applied))) = (up, self.local_meta(&share)?) else {
            return Ok(Vec::new());
        };
        Ok(casemesh_meta::updates_available(
            &load_doc(&up)?,
            &applied,
            &local,
        ))
    }

    /// Apply the selected updates (all available ones when `selection` is empty and `all`), where
    /// the sharing policy allows it, to the copy. Returns what was applied.
    pub fn apply_updates(
        &self,
        actor: &Actor,
        id: &str,
        selection: &[String],
        all: bool,
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
        let grant = SignedGrant::from_bytes(&hex::decode(&share.grant).map_err(meta_err)?)
            .map_err(|e| SharingError::Invalid(e.to_string()))?;
        let policy = &grant.grant.policy;
        let chosen: Vec<FieldRef> = if all {
            // "Select all" selects what the policy lets this node apply; a tab it forbids stays
            // listed with its reason.
            let available = casemesh_meta::updates_available(&up, &applied, &local);
            let allowed: Vec<FieldRef> = available
                .iter()
                .map(FieldUpdate::field_ref)
                .filter(|r| policy.allows(casemesh_meta::action_for(r.target)))
                .collect();
            if allowed.is_empty()
                && let Some(u) = available.first()
            {
                return Err(refused(casemesh_meta::ApplyError::NotPermitted {
                    action: casemesh_meta::action_for(u.target),
                }));
            }
            allowed
        } else {
            selection
                .iter()
                .map(|f| {
                    f.parse::<FieldRef>()
                        .map_err(|e| SharingError::Invalid(e.to_string()))
                })
                .collect::<Result<_>>()?
        };
        if chosen.is_empty() {
            return Err(SharingError::Invalid(
                "select updates to apply (field names, or all)".into(),
            ));
        }
        let done = casemesh_meta::apply(&up, &chosen, policy, &mut applied, &mut local)
            .map_err(refused)?;
        self.write_local(actor, case, &share, &done)?;
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

    fn write_local(
        &self,
        actor: &Actor,
        case: CaseId,
        share: &IncomingShare,
        done: &[FieldUpdate],
    ) -> Result<()> {
        let store = &self.inner.store;
        for u in done {
            let details = format!(
                "applied update {} from {}: {:?} -> {:?}",
                u.field_ref(),
                share.sharer_name,
                u.current,
                u.proposed
            );
            match u.target {
                Target::Case => {
                    store.update_case(case, actor, actions::CASE_EDIT, |c| {
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
                    store.update_evidence(local, actor, actions::EVIDENCE_EDIT, |e| {
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
}
