//! [`CaseDoc`]: a case's metadata as an Automerge document.
//!
//! Layout of the document (schema `casemesh-case-meta/2`; `/1` documents, written before
//! issue #14, hold every value as a plain string and are still read and written):
//!
//! ```text
//! ROOT
//! ├── "schema":   "casemesh-case-meta/2"
//! ├── "case":     map { "case_number": str, "title": text, "description": text }
//! ├── "evidence_text": bool (true: evidence names and descriptions are text, else str)
//! ├── "evidence": map { "<evidence uuid>": map { "name": text|str, "display_id": str,
//! │                                               "description": text|str }, … }
//! ├── "stamps":   map { "<field path>": map { "by": str, "at": int (unix ms) }, … }
//! └── "refused":  map { "<field path>": map { "value": str, "reason": str, "by": str,
//!                                             "at": int (unix ms) }, … }
//! ```
//!
//! Both organizations of an access-mode share may write the document (issue #14 item 4), so
//! free-text fields (title, name, descriptions) are Automerge **Text** objects: concurrent edits
//! merge character by character (Automerge's sequence CRDT: both insertions are kept, deletions
//! win over nothing, and every replica that has the same changes holds the same text whatever
//! order they arrived in). Identifiers (case number, display id) are whole-value registers:
//! merging two concurrent case numbers character-wise would make a third that neither side
//! wrote, so concurrent writes resolve by Automerge's rule for maps (the change with the greater
//! (counter, actor) wins, the same on every replica). `stamps` records who last wrote a field
//! and when (a register per field, so concurrent stamps resolve the same way). `refused` records,
//! per field, the last partner edit the sharer refused and took back (see [`Refusal`]): written
//! by the sharer only, read by both sides (the partner lists it in its `received updates`).
//!
//! Anything in a received document that does not fit this layout is ignored when reading.

use crate::fields::{CaseMeta, EvidenceMeta, Field, FieldRef, Target};
use automerge::transaction::Transactable;
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, PatchAction, Prop, ROOT, ReadDoc,
};
use casemesh_model::ids::EvidenceId;
use casemesh_model::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The largest saved document [`CaseDoc::load`] accepts.
pub const MAX_DOC_BYTES: usize = 64 * 1024 * 1024;
/// The largest batch of changes [`CaseDoc::apply_changes`] accepts.
pub const MAX_CHANGES_BYTES: usize = 16 * 1024 * 1024;
/// The schema marker of documents written now (text fields are Automerge Text).
pub const SCHEMA: &str = "casemesh-case-meta/2";
/// The schema marker of documents written before issue #14 (every value a plain string).
pub const SCHEMA_V1: &str = "casemesh-case-meta/1";

/// Who last wrote a field, and when: a row's "changed by … at …" in the review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The person or organization, as the writing node names it (`"alice (Metro PD)"`).
    pub by: String,
    /// When, on the writing node's clock (UTC, milliseconds).
    pub at: Timestamp,
}

/// A partner's edit the sharer refused and took back with a counter-change (docs/sharing.md §5,
/// "A refused partner edit"): kept in the document so both sides can show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The field.
    pub field: FieldRef,
    /// The value the partner's edit produced (the merged value; empty when it removed the
    /// field).
    pub value: String,
    /// Why the sharer refused it (policy, item not covered, invalid value).
    pub reason: String,
    /// Who wrote the refused edit (the partner organization's name).
    pub by: String,
    /// When the sharer refused it (its clock, UTC milliseconds).
    pub at: Timestamp,
}

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// Input larger than the limit.
    #[error("{len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not an Automerge document / changes, or Automerge refused the operation.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// A loaded document lacks the case-metadata layout.
    #[error("not a case-metadata document")]
    Schema,
    /// The field does not exist on that target.
    #[error("{field:?} is not a field of {target:?}")]
    NoSuchField {
        /// The target.
        target: Target,
        /// The field.
        field: Field,
    },
    /// No such evidence item in the document.
    #[error("no evidence {0} in the document")]
    UnknownEvidence(EvidenceId),
    /// Encoded changes are not a sequence of length-framed chunks.
    #[error("bad framing of encoded changes")]
    Frame,
    /// A change chunk does not parse or fails its checksum.
    #[error("bad change: {0}")]
    Change(#[from] automerge::LoadChangeError),
    /// Encoded heads are not a whole number of 32-byte hashes.
    #[error("bad heads encoding")]
    Heads,
}

/// A case's metadata document.
#[derive(Debug, Clone)]
pub struct CaseDoc {
    doc: AutoCommit,
}

/// Whether a field is free text (an Automerge Text object in `/2` documents, merged
/// character-wise) rather than an identifier (a whole-value register).
pub fn is_text(field: Field) -> bool {
    matches!(field, Field::Title | Field::Description | Field::Name)
}

impl CaseDoc {
    /// A new document holding `meta` (on the sharer's node, when the case is first shared), for
    /// a share only the sharer writes: case title and description are Text, evidence fields
    /// registers. Errors only if Automerge refuses an operation.
    pub fn new(meta: &CaseMeta) -> Result<CaseDoc, MetaError> {
        CaseDoc::with_text(meta, false)
    }

    /// A new document for a share both organizations write (access mode with `edit_metadata`):
    /// evidence names and descriptions are Text too, so concurrent edits merge character-wise.
    /// Costs about one Automerge operation per character of those fields, so a copy-mode share
    /// of 100,000 items does not use it.
    pub fn new_shared(meta: &CaseMeta) -> Result<CaseDoc, MetaError> {
        CaseDoc::with_text(meta, true)
    }

    fn with_text(meta: &CaseMeta, evidence_text: bool) -> Result<CaseDoc, MetaError> {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "schema", SCHEMA)?;
        doc.put(ROOT, "evidence_text", evidence_text)?;
        let case = doc.put_object(ROOT, "case", ObjType::Map)?;
        doc.put_object(ROOT, "evidence", ObjType::Map)?;
        doc.put_object(ROOT, "stamps", ObjType::Map)?;
        let mut this = CaseDoc { doc };
        for f in Field::CASE {
            this.write(&case, f, meta.get(FieldRef::case(f)).unwrap_or_default())?;
        }
        for (n, (id, e)) in meta.evidence.iter().enumerate() {
            this.add_evidence_meta(*id, e)?;
            // A change per thousand items: one change holding every item of a large case kept
            // ~190 MiB of pending operations at 100,000 items (39 MiB this way).
            if n % 1_000 == 999 {
                this.doc.commit();
            }
        }
        this.doc.commit();
        Ok(this)
    }

    fn map(&self, key: &str) -> Option<ObjId> {
        match self.doc.get(ROOT, key).ok()?? {
            (automerge::Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        }
    }

    fn evidence_obj(&self, id: EvidenceId) -> Option<ObjId> {
        let evidence = self.map("evidence")?;
        match self.doc.get(&evidence, id.to_string()).ok()?? {
            (automerge::Value::Object(ObjType::Map), obj) => Some(obj),
            _ => None,
        }
    }

    fn target_obj(&self, target: Target) -> Option<ObjId> {
        match target {
            Target::Case => self.map("case"),
            Target::Evidence(id) => self.evidence_obj(id),
        }
    }

    /// Whether a missing text field of `obj` becomes a Text object: never in `/1` documents;
    /// case fields always in `/2`; evidence fields when the document was made with
    /// [`CaseDoc::new_shared`].
    fn wants_text(&self, obj: &ObjId) -> bool {
        if self.read_str(&ROOT, "schema").as_deref() != Some(SCHEMA) {
            return false;
        }
        if self.map("case").as_ref() == Some(obj) {
            return true;
        }
        matches!(
            self.doc.get(ROOT, "evidence_text"),
            Ok(Some((automerge::Value::Scalar(v), _))) if v.as_bool() == Some(true)
        )
    }

    /// Write `value` into `field` of `obj`: a Text object is updated in place by a character
    /// diff (Automerge's `update_text`: only the inserted and deleted characters become
    /// operations); a missing text field of a `/2` document becomes a new Text object; anything
    /// else is a register write.
    fn write(&mut self, obj: &ObjId, field: Field, value: &str) -> Result<(), MetaError> {
        match self.doc.get(obj, field.key())? {
            Some((automerge::Value::Object(ObjType::Text), text)) => {
                self.doc.update_text(&text, value)?;
            }
            _ if is_text(field) && self.wants_text(obj) => {
                let text = self.doc.put_object(obj, field.key(), ObjType::Text)?;
                self.doc.splice_text(&text, 0, 0, value)?;
            }
            _ => self.doc.put(obj, field.key(), value)?,
        }
        Ok(())
    }

    /// Returns whether the value changed.
    fn put_if_changed(
        &mut self,
        obj: &ObjId,
        field: Field,
        value: &str,
    ) -> Result<bool, MetaError> {
        let current = self.read_str(obj, field.key());
        if current.as_deref() == Some(value) {
            return Ok(false);
        }
        self.write(obj, field, value)?;
        Ok(true)
    }

    /// A string register, or the content of a Text object.
    fn read_str(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.doc.get(obj, key).ok()?? {
            (automerge::Value::Object(ObjType::Text), text) => self.doc.text(&text).ok(),
            (value, _) => value.as_str().map(str::to_owned),
        }
    }

    /// Use `actor` (any bytes; the node's org id) for the changes made from now on. Each node
    /// writes under one stable actor per document, so a change's author is known (see
    /// [`CaseDoc::changes_since_excluding`]) and the document's actor table stays small.
    pub fn set_actor(&mut self, actor: &[u8]) {
        self.doc.set_actor(ActorId::from(actor));
    }

    /// Set a field and record who wrote it and when, in one change; writing the current value
    /// records nothing. Returns whether the value changed. Errors as [`CaseDoc::set`].
    pub fn set_stamped(
        &mut self,
        r: FieldRef,
        value: &str,
        stamp: &Stamp,
    ) -> Result<bool, MetaError> {
        let changed = self.set_changed(r, value)?;
        if changed {
            let stamps = match self.map("stamps") {
                Some(m) => m,
                None => self.doc.put_object(ROOT, "stamps", ObjType::Map)?,
            };
            let s = self.doc.put_object(&stamps, r.to_string(), ObjType::Map)?;
            self.doc.put(&s, "by", stamp.by.as_str())?;
            self.doc
                .put(&s, "at", i64::try_from(stamp.at.0).unwrap_or(i64::MAX))?;
        }
        Ok(changed)
    }

    /// Record a refused partner edit (see [`Refusal`]), replacing the one recorded for the same
    /// field. Written by the sharer in the same Automerge change as its counter-change.
    pub fn record_refusal(&mut self, refusal: &Refusal) -> Result<(), MetaError> {
        let refused = match self.map("refused") {
            Some(m) => m,
            None => self.doc.put_object(ROOT, "refused", ObjType::Map)?,
        };
        let r = self
            .doc
            .put_object(&refused, refusal.field.to_string(), ObjType::Map)?;
        self.doc.put(&r, "value", refusal.value.as_str())?;
        self.doc.put(&r, "reason", refusal.reason.as_str())?;
        self.doc.put(&r, "by", refusal.by.as_str())?;
        self.doc
            .put(&r, "at", i64::try_from(refusal.at.0).unwrap_or(i64::MAX))?;
        Ok(())
    }

    /// Forget the refusal recorded for a field (a later edit of it was accepted). Returns
    /// whether one was recorded.
    pub fn clear_refusal(&mut self, r: FieldRef) -> Result<bool, MetaError> {
        let Some(refused) = self.map("refused") else {
            return Ok(false);
        };
        let key = r.to_string();
        if self.doc.get(&refused, key.as_str())?.is_none() {
            return Ok(false);
        }
        self.doc.delete(&refused, key.as_str())?;
        Ok(true)
    }

    /// The refused partner edits recorded in the document, in field-path order (one per field:
    /// the latest). Entries that do not parse are skipped.
    pub fn refusals(&self) -> Vec<Refusal> {
        let Some(refused) = self.map("refused") else {
            return Vec::new();
        };
        let entries: Vec<(String, ObjId)> = self
            .doc
            .map_range(&refused, ..)
            .filter(|it| matches!(it.value, automerge::ValueRef::Object(ObjType::Map)))
            .map(|it| (it.key.to_string(), it.id()))
            .collect();
        entries
            .into_iter()
            .filter_map(|(key, obj)| {
                let (at, _) = self.doc.get(&obj, "at").ok()??;
                Some(Refusal {
                    field: key.parse().ok()?,
                    value: self.read_str(&obj, "value")?,
                    reason: self.read_str(&obj, "reason")?,
                    by: self.read_str(&obj, "by")?,
                    at: Timestamp(at.as_i64().and_then(|v| u64::try_from(v).ok())?),
                })
            })
            .collect()
    }

    /// The value a field had at `heads` (an earlier state of this document), `None` if it was
    /// absent then. Reads only that field: the cost does not grow with the document.
    pub fn get_at(&self, r: FieldRef, heads: &[ChangeHash]) -> Option<String> {
        if !r.field.applies_to(r.target) {
            return None;
        }
        let map_at = |obj: &ObjId, key: &str| match self.doc.get_at(obj, key, heads).ok()?? {
            (automerge::Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        };
        let obj = match r.target {
            Target::Case => map_at(&ROOT, "case")?,
            Target::Evidence(id) => map_at(&map_at(&ROOT, "evidence")?, &id.to_string())?,
        };
        match self.doc.get_at(&obj, r.field.key(), heads).ok()?? {
            (automerge::Value::Object(ObjType::Text), text) => self.doc.text_at(&text, heads).ok(),
            (value, _) => value.as_str().map(str::to_owned),
        }
    }

    /// Remove an evidence item from the document (the sharer taking back an item a partner's
    /// edit added). Returns whether it was there.
    pub fn remove_evidence(&mut self, id: EvidenceId) -> Result<bool, MetaError> {
        let Some(evidence) = self.map("evidence") else {
            return Ok(false);
        };
        if self.evidence_obj(id).is_none() {
            return Ok(false);
        }
        self.doc.delete(&evidence, id.to_string())?;
        Ok(true)
    }

    /// Who last wrote a field and when, if recorded.
    pub fn stamp(&self, r: FieldRef) -> Option<Stamp> {
        let stamps = self.map("stamps")?;
        let s = match self.doc.get(&stamps, r.to_string()).ok()?? {
            (automerge::Value::Object(ObjType::Map), id) => id,
            _ => return None,
        };
        let by = self.read_str(&s, "by")?;
        let (at, _) = self.doc.get(&s, "at").ok()??;
        let at = at.as_i64().and_then(|v| u64::try_from(v).ok())?;
        Some(Stamp {
            by,
            at: Timestamp(at),
        })
    }

    /// Whether the document still has its layout (a known schema marker, the `case` and
    /// `evidence` maps): a merged change from another organization must not break it.
    pub fn layout_ok(&self) -> bool {
        matches!(
            self.read_str(&ROOT, "schema").as_deref(),
            Some(SCHEMA | SCHEMA_V1)
        ) && self.map("case").is_some()
            && self.map("evidence").is_some()
    }

    /// Whether the document holds an evidence item.
    pub fn has_evidence(&self, id: EvidenceId) -> bool {
        self.evidence_obj(id).is_some()
    }

    /// Set a case field (sharer side). Writing the current value records nothing.
    pub fn set_case_field(&mut self, field: Field, value: &str) -> Result<(), MetaError> {
        self.set(FieldRef::case(field), value)
    }

    /// Set an evidence field (sharer side). Writing the current value records nothing.
    pub fn set_evidence_field(
        &mut self,
        id: EvidenceId,
        field: Field,
        value: &str,
    ) -> Result<(), MetaError> {
        self.set(FieldRef::evidence(id, field), value)
    }

    /// Set any field (no stamp). Errors: [`MetaError::NoSuchField`] for a field the target
    /// lacks, [`MetaError::UnknownEvidence`] for an item not in the document.
    pub fn set(&mut self, r: FieldRef, value: &str) -> Result<(), MetaError> {
        self.set_changed(r, value).map(|_| ())
    }

    fn set_changed(&mut self, r: FieldRef, value: &str) -> Result<bool, MetaError> {
        if !r.field.applies_to(r.target) {
            return Err(MetaError::NoSuchField {
                target: r.target,
                field: r.field,
            });
        }
        let obj = self.target_obj(r.target).ok_or(match r.target {
            Target::Case => MetaError::Schema,
            Target::Evidence(id) => MetaError::UnknownEvidence(id),
        })?;
        self.put_if_changed(&obj, r.field, value)
    }

    /// Add (or overwrite) an evidence item's metadata (sharer side, when evidence is shared).
    pub fn add_evidence_meta(
        &mut self,
        id: EvidenceId,
        meta: &EvidenceMeta,
    ) -> Result<(), MetaError> {
        let obj = match self.evidence_obj(id) {
            Some(obj) => obj,
            None => {
                let evidence = self.map("evidence").ok_or(MetaError::Schema)?;
                self.doc
                    .put_object(&evidence, id.to_string(), ObjType::Map)?
            }
        };
        self.put_if_changed(&obj, Field::Name, &meta.name)?;
        self.put_if_changed(&obj, Field::DisplayId, &meta.display_id)?;
        self.put_if_changed(&obj, Field::Description, &meta.description)?;
        Ok(())
    }

    /// The current value of a field, `None` if absent.
    pub fn get(&self, r: FieldRef) -> Option<String> {
        if !r.field.applies_to(r.target) {
            return None;
        }
        self.read_str(&self.target_obj(r.target)?, r.field.key())
    }

    /// The evidence items in the document.
    pub fn evidence_ids(&self) -> Vec<EvidenceId> {
        let Some(evidence) = self.map("evidence") else {
            return Vec::new();
        };
        self.doc
            .keys(&evidence)
            .filter_map(|k| k.parse().ok())
            .collect()
    }

    /// A plain snapshot of the document.
    pub fn meta(&self) -> CaseMeta {
        let case = |f| self.get(FieldRef::case(f)).unwrap_or_default();
        let mut meta = CaseMeta {
            case_number: case(Field::CaseNumber),
            title: case(Field::Title),
            description: case(Field::Description),
            ..CaseMeta::default()
        };
        let Some(evidence) = self.map("evidence") else {
            return meta;
        };
        // One pass over the evidence map (a lookup per item would search the map again each
        // time: ~0.5 s for 10,000 items).
        let items: Vec<(EvidenceId, ObjId)> = self
            .doc
            .map_range(&evidence, ..)
            .filter(|it| matches!(it.value, automerge::ValueRef::Object(ObjType::Map)))
            .filter_map(|it| Some((it.key.parse().ok()?, it.id())))
            .collect();
        for (id, obj) in items {
            let ev = |f: Field| self.read_str(&obj, f.key()).unwrap_or_default();
            meta.evidence.insert(
                id,
                EvidenceMeta {
                    name: ev(Field::Name),
                    display_id: ev(Field::DisplayId),
                    description: ev(Field::Description),
                },
            );
        }
        meta
    }

    /// The whole document, compressed.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Load a saved document (at most [`MAX_DOC_BYTES`]) and check its layout.
    pub fn load(bytes: &[u8]) -> Result<CaseDoc, MetaError> {
        if bytes.len() > MAX_DOC_BYTES {
            return Err(MetaError::TooLarge {
                len: bytes.len(),
                max: MAX_DOC_BYTES,
            });
        }
        let this = CaseDoc {
            doc: AutoCommit::load(bytes)?,
        };
        let schema = this.read_str(&ROOT, "schema");
        if !matches!(schema.as_deref(), Some(SCHEMA | SCHEMA_V1)) || this.map("case").is_none() {
            return Err(MetaError::Schema);
        }
        Ok(this)
    }

    /// The changes made or merged since `heads`, in Automerge's incremental-save format (not
    /// framed like [`CaseDoc::changes_since`]; read back with [`CaseDoc::load_incremental`]):
    /// what a node appends to its stored copy instead of saving the whole document again. The
    /// size grows with those changes, not with the document; nothing changed gives no bytes.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Add a [`CaseDoc::save_after`] (or [`CaseDoc::save`]) output to a loaded document: how a
    /// stored base document and its increments become the document again. Errors: bytes that
    /// are not Automerge chunks ([`MetaError::Automerge`]), or more than [`MAX_DOC_BYTES`].
    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<(), MetaError> {
        if bytes.len() > MAX_DOC_BYTES {
            return Err(MetaError::TooLarge {
                len: bytes.len(),
                max: MAX_DOC_BYTES,
            });
        }
        self.doc.load_incremental(bytes)?;
        Ok(())
    }

    /// The document's heads: what a peer sends to say "I have everything up to here".
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The encoded changes a peer at `heads` lacks (empty heads: everything): each Automerge
    /// change chunk (compressed when large) framed by a big-endian `u32` length; no changes encode
    /// as no bytes. The size grows with what changed since `heads`, not with the document.
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        let mut out = Vec::new();
        for mut change in self.doc.get_changes(heads) {
            let bytes = change.bytes();
            // A single change cannot approach 4 GiB: apply_changes refuses over 16 MiB anyway.
            out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// As [`CaseDoc::changes_since`], leaving out the changes written by `actor` (the peer's
    /// own changes, which the peer holds already): what one side of a two-writer document sends
    /// the other. The size grows with the changes sent, not with the document.
    pub fn changes_since_excluding(&mut self, heads: &[ChangeHash], actor: &[u8]) -> Vec<u8> {
        let peer = ActorId::from(actor);
        let mut out = Vec::new();
        for mut change in self.doc.get_changes(heads) {
            if *change.actor_id() == peer {
                continue;
            }
            let bytes = change.bytes();
            out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// Apply [`CaseDoc::changes_since`] output from the sharer (at most [`MAX_CHANGES_BYTES`]);
    /// returns the fields whose value changed. Every change is parsed and checksum-verified before
    /// any is applied, so bad input changes nothing. Changes whose dependencies are missing wait
    /// inside Automerge until those arrive (see [`CaseDoc::missing_deps`]). Applying the same
    /// changes twice is harmless.
    pub fn apply_changes(&mut self, bytes: &[u8]) -> Result<BTreeSet<FieldRef>, MetaError> {
        self.apply_changes_waiting(bytes)
            .map(|(changed, _)| changed)
    }

    /// [`CaseDoc::apply_changes`], also returning the hashes of the given changes that did not
    /// apply because a change they depend on has not arrived (they wait inside Automerge, in
    /// memory only; a saved document drops them). Empty when everything applied.
    pub fn apply_changes_waiting(
        &mut self,
        bytes: &[u8],
    ) -> Result<(BTreeSet<FieldRef>, Vec<ChangeHash>), MetaError> {
        if bytes.len() > MAX_CHANGES_BYTES {
            return Err(MetaError::TooLarge {
                len: bytes.len(),
                max: MAX_CHANGES_BYTES,
            });
        }
        let mut changes = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (len, tail) = rest.split_at_checked(4).ok_or(MetaError::Frame)?;
            let mut n = [0u8; 4];
            n.copy_from_slice(len);
            let (chunk, tail) = tail
                .split_at_checked(u32::from_be_bytes(n) as usize)
                .ok_or(MetaError::Frame)?;
            changes.push(Change::try_from(chunk)?);
            rest = tail;
        }
        let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
        // Index the changes as they are applied (Automerge's diff cursor), so the field diff
        // below reads the patches of these changes instead of scanning every op of the document:
        // the cost of taking in a change grows with the change, not with the document.
        self.doc.update_diff_cursor();
        let before = self.heads();
        self.doc.apply_changes(changes)?;
        let after = self.heads();
        let waiting = hashes
            .into_iter()
            .filter(|h| self.doc.get_change_by_hash(h).is_none())
            .collect();
        Ok((self.changed_fields(&before, &after), waiting))
    }

    /// Hashes of changes that were referenced but have not arrived.
    pub fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }

    /// The fields whose value differs between two states of the document, from Automerge's diff
    /// (`PutMap` / `DeleteMap` patches on the case map or an evidence map; a new evidence map
    /// counts all of its fields).
    pub fn changed_fields(
        &mut self,
        before: &[ChangeHash],
        after: &[ChangeHash],
    ) -> BTreeSet<FieldRef> {
        let mut out = BTreeSet::new();
        if before == after {
            return out;
        }
        for patch in self.doc.diff(before, after) {
            let mut path: Vec<&str> = patch
                .path
                .iter()
                .filter_map(|(_, p)| match p {
                    Prop::Map(k) => Some(k.as_str()),
                    Prop::Seq(_) => None,
                })
                .collect();
            let key = match &patch.action {
                PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => key.as_str(),
                // An edit inside a Text object: the field is the last key of its path.
                PatchAction::SpliceText { .. } | PatchAction::DeleteSeq { .. } => {
                    match path.pop() {
                        Some(k) => k,
                        None => continue,
                    }
                }
                _ => continue,
            };
            match path.as_slice() {
                ["case"] => {
                    if let Some(f) = Field::from_key(key).filter(|f| f.applies_to(Target::Case)) {
                        out.insert(FieldRef::case(f));
                    }
                }
                ["evidence"] => {
                    if let Ok(id) = key.parse::<EvidenceId>() {
                        out.extend(Field::EVIDENCE.map(|f| FieldRef::evidence(id, f)));
                    }
                }
                ["evidence", id] => {
                    if let (Ok(id), Some(f)) = (id.parse::<EvidenceId>(), Field::from_key(key))
                        && Field::EVIDENCE.contains(&f)
                    {
                        out.insert(FieldRef::evidence(id, f));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// Encode heads for the wire: 32 bytes each, concatenated.
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

/// Decode [`encode_heads`] output.
pub fn decode_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>, MetaError> {
    if !bytes.len().is_multiple_of(32) || bytes.len() > MAX_CHANGES_BYTES {
        return Err(MetaError::Heads);
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h)
        })
        .collect())
}
