//! The metadata fields that travel as Automerge changes, and plain snapshots of them.

use casemesh_model::case::{Case, Evidence};
use casemesh_model::ids::EvidenceId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// What a field belongs to: the case (the review dialog's Case tab) or an evidence item (its
/// Evidence tab). Evidence is named by the **sharer's** evidence id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Target {
    /// Case-level information.
    Case,
    /// One evidence item's metadata.
    Evidence(EvidenceId),
}

/// A metadata field. Case fields: case number, title, description. Evidence fields: name, display
/// id, description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The case's "Case ID" (`Case::case_number`).
    CaseNumber,
    /// The case title.
    Title,
    /// The case's or the evidence item's description.
    Description,
    /// The evidence item's name.
    Name,
    /// The evidence item's display id.
    DisplayId,
}

impl Field {
    /// The fields of a case, in review order.
    pub const CASE: [Field; 3] = [Field::CaseNumber, Field::Title, Field::Description];
    /// The fields of an evidence item, in review order.
    pub const EVIDENCE: [Field; 3] = [Field::Name, Field::DisplayId, Field::Description];

    /// The key used in the Automerge document and in field paths.
    pub fn key(self) -> &'static str {
        match self {
            Field::CaseNumber => "case_number",
            Field::Title => "title",
            Field::Description => "description",
            Field::Name => "name",
            Field::DisplayId => "display_id",
        }
    }

    /// The field with this key.
    pub fn from_key(key: &str) -> Option<Field> {
        [
            Field::CaseNumber,
            Field::Title,
            Field::Description,
            Field::Name,
            Field::DisplayId,
        ]
        .into_iter()
        .find(|f| f.key() == key)
    }

    /// Whether this field exists on `target`.
    pub fn applies_to(self, target: Target) -> bool {
        match target {
            Target::Case => Field::CASE.contains(&self),
            Target::Evidence(_) => Field::EVIDENCE.contains(&self),
        }
    }
}

/// One field of one target. Its text form (`case/title`, `evidence/<uuid>/name`) is how the API
/// names a selection of updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FieldRef {
    /// Case or evidence item.
    pub target: Target,
    /// Which field.
    pub field: Field,
}

impl FieldRef {
    /// A case field.
    pub fn case(field: Field) -> FieldRef {
        FieldRef {
            target: Target::Case,
            field,
        }
    }

    /// An evidence field.
    pub fn evidence(id: EvidenceId, field: Field) -> FieldRef {
        FieldRef {
            target: Target::Evidence(id),
            field,
        }
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target {
            Target::Case => write!(f, "case/{}", self.field.key()),
            Target::Evidence(id) => write!(f, "evidence/{id}/{}", self.field.key()),
        }
    }
}

/// Text that is not a field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a metadata field: {0:?}")]
pub struct FieldParseError(pub String);

impl FromStr for FieldRef {
    type Err = FieldParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || FieldParseError(s.chars().take(80).collect());
        let parts: Vec<&str> = s.split('/').collect();
        let r = match parts.as_slice() {
            ["case", key] => FieldRef::case(Field::from_key(key).ok_or_else(err)?),
            ["evidence", id, key] => FieldRef::evidence(
                id.parse().map_err(|_| err())?,
                Field::from_key(key).ok_or_else(err)?,
            ),
            _ => return Err(err()),
        };
        if r.field.applies_to(r.target) {
            Ok(r)
        } else {
            Err(err())
        }
    }
}

/// An evidence item's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EvidenceMeta {
    /// Name.
    pub name: String,
    /// Display id, e.g. `EV-0001`.
    pub display_id: String,
    /// Description.
    pub description: String,
}

impl EvidenceMeta {
    /// The metadata of an evidence record.
    pub fn of(e: &Evidence) -> EvidenceMeta {
        EvidenceMeta {
            name: e.name.clone(),
            display_id: e.display_id.clone(),
            description: e.description.clone(),
        }
    }

    fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::Name => Some(&self.name),
            Field::DisplayId => Some(&self.display_id),
            Field::Description => Some(&self.description),
            Field::CaseNumber | Field::Title => None,
        }
    }

    fn slot(&mut self, field: Field) -> Option<&mut String> {
        match field {
            Field::Name => Some(&mut self.name),
            Field::DisplayId => Some(&mut self.display_id),
            Field::Description => Some(&mut self.description),
            Field::CaseNumber | Field::Title => None,
        }
    }
}

/// A plain snapshot of a case's metadata: what a [`crate::CaseDoc`] holds, and the receiver's own
/// current values of its copy. Evidence is keyed by the sharer's evidence id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaseMeta {
    /// The case's "Case ID".
    pub case_number: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Evidence metadata by (sharer) evidence id.
    pub evidence: BTreeMap<EvidenceId, EvidenceMeta>,
}

impl CaseMeta {
    /// The metadata of a case and its evidence records (keyed by their ids; a receiver whose copy
    /// gives evidence new ids must key by the sharer's ids instead).
    pub fn from_case<'a>(
        case: &Case,
        evidence: impl IntoIterator<Item = &'a Evidence>,
    ) -> CaseMeta {
        CaseMeta {
            case_number: case.case_number.clone(),
            title: case.title.clone(),
            description: case.description.clone(),
            evidence: evidence
                .into_iter()
                .map(|e| (e.id, EvidenceMeta::of(e)))
                .collect(),
        }
    }

    /// The value of a field; `None` for an unknown evidence item or a field the target lacks.
    pub fn get(&self, r: FieldRef) -> Option<&str> {
        match r.target {
            Target::Case => match r.field {
                Field::CaseNumber => Some(&self.case_number),
                Field::Title => Some(&self.title),
                Field::Description => Some(&self.description),
                Field::Name | Field::DisplayId => None,
            },
            Target::Evidence(id) => self.evidence.get(&id)?.get(r.field),
        }
    }

    /// Set a field; `false` (and no change) for an unknown evidence item or a field the target
    /// lacks.
    pub fn set(&mut self, r: FieldRef, value: &str) -> bool {
        let slot = match r.target {
            Target::Case => match r.field {
                Field::CaseNumber => Some(&mut self.case_number),
                Field::Title => Some(&mut self.title),
                Field::Description => Some(&mut self.description),
                Field::Name | Field::DisplayId => None,
            },
            Target::Evidence(id) => self.evidence.get_mut(&id).and_then(|e| e.slot(r.field)),
        };
        match slot {
            Some(s) => {
                value.clone_into(s);
                true
            }
            None => false,
        }
    }

    /// Every field with its value: case fields first, then evidence by id.
    pub fn fields(&self) -> Vec<(FieldRef, &str)> {
        let mut out: Vec<(FieldRef, &str)> = Field::CASE
            .iter()
            .filter_map(|f| Some((FieldRef::case(*f), self.get(FieldRef::case(*f))?)))
            .collect();
        for (id, e) in &self.evidence {
            for f in Field::EVIDENCE {
                if let Some(v) = e.get(f) {
                    out.push((FieldRef::evidence(*id, f), v));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_roundtrip() {
        let id = EvidenceId::random();
        for r in [
            FieldRef::case(Field::Title),
            FieldRef::case(Field::CaseNumber),
            FieldRef::evidence(id, Field::DisplayId),
        ] {
            assert_eq!(r.to_string().parse::<FieldRef>(), Ok(r));
        }
        assert_eq!(FieldRef::case(Field::Title).to_string(), "case/title");
        for bad in [
            "case/name",
            "evidence/x/name",
            "evidence/title",
            "case/title/x",
            "",
        ] {
            assert!(bad.parse::<FieldRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn snapshot_get_and_set() {
        let id = EvidenceId::random();
        let mut m = CaseMeta::default();
        m.evidence.insert(id, EvidenceMeta::default());
        assert!(m.set(FieldRef::evidence(id, Field::Name), "clip.mp4"));
        assert_eq!(m.get(FieldRef::evidence(id, Field::Name)), Some("clip.mp4"));
        assert!(!m.set(FieldRef::evidence(id, Field::Title), "x"));
        assert!(!m.set(FieldRef::evidence(EvidenceId::random(), Field::Name), "x"));
        assert_eq!(m.fields().len(), 6);
    }
}
