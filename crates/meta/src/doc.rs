//! [`CaseDoc`]: a case's metadata as an Automerge document.
//!
//! Layout of the document:
//!
//! ```text
//! ROOT
//! ├── "schema":   "casemesh-case-meta/1"
//! ├── "case":     map { "case_number": str, "title": str, "description": str }
//! └── "evidence": map { "<evidence uuid>": map { "name": str, "display_id": str,
//!                                                 "description": str }, … }
//! ```
//!
//! Values are plain Automerge strings (whole-value registers), not text objects: only the sharer
//! writes this document, and the receiver reviews whole-field updates, so character-level merging
//! buys nothing. Anything in a received document that does not fit this layout is ignored when
//! reading.

use crate::fields::{CaseMeta, EvidenceMeta, Field, FieldRef, Target};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ChangeHash, ObjId, ObjType, PatchAction, Prop, ROOT, ReadDoc};
use casemesh_model::ids::EvidenceId;
use std::collections::BTreeSet;

/// The largest saved document [`CaseDoc::load`] accepts.
pub const MAX_DOC_BYTES: usize = 64 * 1024 * 1024;
/// The largest batch of changes [`CaseDoc::apply_changes`] accepts.
pub const MAX_CHANGES_BYTES: usize = 16 * 1024 * 1024;
/// The schema marker at the document root.
pub const SCHEMA: &str = "casemesh-case-meta/1";

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

impl CaseDoc {
    /// A new document holding `meta` (on the sharer's node, when the case is first shared).
    pub fn new(meta: &CaseMeta) -> Result<CaseDoc, MetaError> {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "schema", SCHEMA)?;
        let case = doc.put_object(ROOT, "case", ObjType::Map)?;
        for f in Field::CASE {
            doc.put(
                &case,
                f.key(),
                meta.get(FieldRef::case(f)).unwrap_or_default(),
            )?;
        }
        doc.put_object(ROOT, "evidence", ObjType::Map)?;
        let mut this = CaseDoc { doc };
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

    fn put_if_changed(&mut self, obj: &ObjId, field: Field, value: &str) -> Result<(), MetaError> {
        let current = self.read_str(obj, field.key());
        if current.as_deref() != Some(value) {
            self.doc.put(obj, field.key(), value)?;
        }
        Ok(())
    }

    fn read_str(&self, obj: &ObjId, key: &str) -> Option<String> {
        let (value, _) = self.doc.get(obj, key).ok()??;
        value.as_str().map(str::to_owned)
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

    /// Set any field.
    pub fn set(&mut self, r: FieldRef, value: &str) -> Result<(), MetaError> {
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
        self.put_if_changed(&obj, Field::Description, &meta.description)
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
        for id in self.evidence_ids() {
            let ev = |f| self.get(FieldRef::evidence(id, f)).unwrap_or_default();
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
        if schema.as_deref() != Some(SCHEMA) || this.map("case").is_none() {
            return Err(MetaError::Schema);
        }
        Ok(this)
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

    /// Apply [`CaseDoc::changes_since`] output from the sharer (at most [`MAX_CHANGES_BYTES`]);
    /// returns the fields whose value changed. Every change is parsed and checksum-verified before
    /// any is applied, so bad input changes nothing. Changes whose dependencies are missing wait
    /// inside Automerge until those arrive (see [`CaseDoc::missing_deps`]). Applying the same
    /// changes twice is harmless.
    pub fn apply_changes(&mut self, bytes: &[u8]) -> Result<BTreeSet<FieldRef>, MetaError> {
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
        let before = self.heads();
        self.doc.apply_changes(changes)?;
        let after = self.heads();
        Ok(self.changed_fields(&before, &after))
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
            let key = match &patch.action {
                PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => key.as_str(),
                _ => continue,
            };
            let path: Vec<&str> = patch
                .path
                .iter()
                .filter_map(|(_, p)| match p {
                    Prop::Map(k) => Some(k.as_str()),
                    Prop::Seq(_) => None,
                })
                .collect();
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
