//! Updates review of a received share (seed 002 "Check for and apply updates", issue #14): the
//! rows of `GET /v1/received/{share}/updates` and the answers of `POST …/updates/apply` and
//! `…/updates/dismiss` ([`UpdateView`]), and the metadata of an access-mode share both
//! organizations edit (`GET`/`POST …/meta`, [`MetaView`]). The server builds them from
//! `casemesh_meta` review rows (`casemesh-api`'s `routes/updates.rs`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One update available for a received case: a field whose value at the sharer changed (a row of
/// the review's Case or Evidence tab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpdateView {
    /// Field path, e.g. `case/title` or `evidence/<sharer evidence id>/name` (use it to select).
    pub field: String,
    /// `case` or `evidence` (the Case tab or the Evidence tab).
    pub tab: String,
    /// The copy's current value.
    pub current: String,
    /// The sharer's value.
    pub proposed: String,
    /// The sharer's value this node last took in (at import, apply or dismiss), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Whether the sharer's policy lets this node apply it (`apply_case_updates` for the Case
    /// tab, `apply_evidence_updates` for the Evidence tab). Absent on apply/dismiss answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    /// Why it cannot be applied, when not allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// This node changed the field itself since it last took the sharer's value in: `current`
    /// is its own edit, `proposed` the sharer's. Applied only when named (`fields`), never by
    /// `all` or `tab`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<bool>,
    /// Who changed it at the sharer (`user (Org)`, or the organization).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// When it was changed at the sharer (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
}

/// The metadata of a received share as this node holds it (sharer's changes and this
/// organization's own edits merged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MetaView {
    /// Case fields by path (`case/title`, …) and evidence fields
    /// (`evidence/<sharer evidence id>/name`, …) with their values.
    pub fields: BTreeMap<String, String>,
}

impl MetaView {
    /// The value of field `path` (`case/title`, `evidence/<id>/name`, …), if the share has it.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.fields.get(path).map(String::as_str)
    }
}
