//! Cases, folders and evidence: `/v1/cases/*` and `/v1/cases/{case}/evidence/*` bodies.

use casemesh_model::case::{Case, Evidence, Origin};
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, OrgId, ShareId, TranscriptId};
use casemesh_model::retention::RetentionPolicy;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A retention policy: `{"kind":"until_manually_deleted"}` or `{"kind":"days","days":30}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RetentionView {
    /// Kept until someone deletes it.
    UntilManuallyDeleted,
    /// Removed this many days after being added.
    Days {
        /// Days.
        days: u32,
    },
}

/// Where a case came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OriginView {
    /// Created here.
    Local,
    /// Received from a partner organization.
    Received {
        /// Sharing organization's id.
        #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
        sharer: OrgId,
        /// Sharing organization's name.
        sharer_name: String,
        /// The share it arrived under.
        #[schema(value_type = String, format = "uuid")]
        share: ShareId,
        /// The case's id at the sharer.
        #[schema(value_type = String, format = "uuid")]
        source_case: CaseId,
        /// When it arrived (RFC 3339).
        received_at: String,
    },
}

/// A transcript of an evidence item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptView {
    /// Id.
    #[schema(value_type = String, format = "uuid")]
    pub id: TranscriptId,
    /// File name.
    pub name: String,
    /// BLAKE3, lowercase hex.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub hash: BlobHash,
    /// Bytes.
    pub size: u64,
}

/// One file of `casemesh evidence add CASE PATH... --json` (a batch prints a list of them, in
/// the order the files were taken): a file added, or skipped because the same name with the same
/// hash was already in that folder (issue #11 item 4). CLI output, not an API body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchEntry {
    /// Evidence id (of the item added, or of the one already present).
    pub id: EvidenceId,
    /// BLAKE3 of the bytes, lowercase hex.
    pub hash: BlobHash,
    /// Evidence name (the file's name).
    pub name: String,
    /// Folder path (`/` between names); `""` for the case's root.
    pub folder: String,
    /// `true` when the file was already present and nothing was sent; absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// An evidence item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    /// Record id.
    #[schema(value_type = String, format = "uuid")]
    pub id: EvidenceId,
    /// The case's record id.
    #[schema(value_type = String, format = "uuid")]
    pub case: CaseId,
    /// Display id, e.g. `EV-0001`.
    pub display_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category; null = uncategorized.
    pub category: Option<String>,
    /// Folder path; `""` for the case root.
    pub folder: String,
    /// BLAKE3 of the bytes, lowercase hex.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub hash: BlobHash,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// When it was added (RFC 3339).
    pub added_at: String,
    /// Who added it.
    pub added_by: String,
    /// Transcripts.
    pub transcripts: Vec<TranscriptView>,
    /// Marked "do not disclose": never shared with partners nor packaged into links.
    pub do_not_disclose: bool,
}

/// A case with its folders and evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseView {
    /// Record id.
    #[schema(value_type = String, format = "uuid")]
    pub id: CaseId,
    /// The "Case ID" people use.
    pub case_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Owner's username.
    pub owner: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Retention policy.
    pub retention: RetentionView,
    /// Retention policy as text, e.g. "Until Manually Deleted".
    pub retention_text: String,
    /// Received from a partner (an External case).
    pub external: bool,
    /// Where it came from.
    pub origin: OriginView,
    /// Every folder path, sorted.
    pub folders: Vec<String>,
    /// Evidence items.
    pub evidence: Vec<EvidenceView>,
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseSummary {
    /// Record id.
    #[schema(value_type = String, format = "uuid")]
    pub id: CaseId,
    /// Case ID.
    pub case_id: String,
    /// Title.
    pub title: String,
    /// Received from a partner.
    pub external: bool,
    /// Number of evidence items.
    pub evidence_count: usize,
    /// Created (RFC 3339).
    pub created_at: String,
}

/// Body of `POST /v1/cases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCase {
    /// The Case ID people use, e.g. `2026-CR-0042`.
    pub case_id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// Body of `PATCH /v1/cases/{case}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditCase {
    /// New Case ID.
    pub case_id: Option<String>,
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// Query of `GET /v1/cases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only cases received from partners (true) or only local ones (false).
    pub external: Option<bool>,
}

/// Body of the folder routes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderRequest {
    /// The folder's path, e.g. `Interviews/Day 1`.
    pub path: String,
    /// For rename: the new name (one segment).
    pub new_name: Option<String>,
    /// For move: the new parent's path (`""` = root).
    pub new_parent: Option<String>,
}

/// Query of the upload route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
pub struct AddQuery {
    /// Evidence name (one path segment), usually the file name.
    pub name: String,
    /// Folder path; empty or absent = case root.
    pub folder: Option<String>,
    /// Display id; default `EV-0001`, `EV-0002`, … in order of addition.
    pub display_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Media type; default guessed from the name.
    pub media_type: Option<String>,
}

/// Body of `PATCH …/evidence/{evidence}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditEvidence {
    /// New name.
    pub name: Option<String>,
    /// New display id.
    pub display_id: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New category (empty string = none).
    pub category: Option<String>,
    /// Move to this folder path (`""` = root).
    pub folder: Option<String>,
    /// Mark (`true`) or unmark "do not disclose": a marked item never leaves the organization.
    pub do_not_disclose: Option<bool>,
}

/// Query of the transcript upload route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
pub struct TranscriptQuery {
    /// Transcript file name.
    pub name: String,
}

impl From<RetentionPolicy> for RetentionView {
    fn from(p: RetentionPolicy) -> Self {
        match p {
            RetentionPolicy::UntilManuallyDeleted => RetentionView::UntilManuallyDeleted,
            RetentionPolicy::Days(days) => RetentionView::Days { days },
        }
    }
}

impl From<RetentionView> for RetentionPolicy {
    fn from(v: RetentionView) -> Self {
        match v {
            RetentionView::UntilManuallyDeleted => RetentionPolicy::UntilManuallyDeleted,
            RetentionView::Days { days } => RetentionPolicy::Days(days),
        }
    }
}

impl From<&Origin> for OriginView {
    fn from(o: &Origin) -> Self {
        match o {
            Origin::Local => OriginView::Local,
            Origin::Received {
                sharer,
                sharer_name,
                share,
                source_case,
                received_at,
            } => OriginView::Received {
                sharer: sharer.clone(),
                sharer_name: sharer_name.clone(),
                share: *share,
                source_case: *source_case,
                received_at: received_at.to_string(),
            },
        }
    }
}

impl EvidenceView {
    /// The view of `ev`, whose folder path is resolved in `case`.
    pub fn new(ev: &Evidence, case: &Case) -> EvidenceView {
        EvidenceView {
            id: ev.id,
            case: ev.case,
            display_id: ev.display_id.clone(),
            name: ev.name.clone(),
            description: ev.description.clone(),
            category: ev.category.clone(),
            folder: case.path_of(ev.folder),
            hash: ev.hash,
            size: ev.size,
            media_type: ev.media_type.clone(),
            added_at: ev.added_at.to_string(),
            added_by: ev.added_by.clone(),
            transcripts: ev
                .transcripts
                .iter()
                .map(|t| TranscriptView {
                    id: t.id,
                    name: t.name.clone(),
                    hash: t.hash,
                    size: t.size,
                })
                .collect(),
            do_not_disclose: ev.do_not_disclose,
        }
    }
}

impl CaseView {
    /// The view of a case, its owner's name and its evidence.
    pub fn new(case: &Case, owner: &str, evidence: &[Evidence]) -> CaseView {
        CaseView {
            id: case.id,
            case_id: case.case_number.clone(),
            title: case.title.clone(),
            description: case.description.clone(),
            owner: owner.to_owned(),
            created_at: case.created_at.to_string(),
            retention: case.retention.into(),
            retention_text: case.retention.to_string(),
            external: case.is_external(),
            origin: (&case.origin).into(),
            folders: case.folder_paths(),
            evidence: evidence
                .iter()
                .map(|e| EvidenceView::new(e, case))
                .collect(),
        }
    }

    /// Write the same JSON document as `serde_json::to_writer(out, &CaseView::new(case, owner,
    /// evidence))`, taking the evidence one item at a time from `items`, so that memory does not
    /// grow with the case (issue #11). `evidence` is the view's last field: the head is written
    /// first, then each item. Errors: `out` failed, or an item could not be read (`items` gave
    /// an error): the document is then incomplete, and the caller must end its output there.
    pub fn write_streamed<E: std::fmt::Display>(
        case: &Case,
        owner: &str,
        items: impl Iterator<Item = Result<Evidence, E>>,
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        let head = serde_json::to_vec(&CaseView::new(case, owner, &[]))?;
        let open = head
            .strip_suffix(b"]}")
            .filter(|h| h.ends_with(b"\"evidence\":["))
            .ok_or_else(|| std::io::Error::other("CaseView must end with its evidence"))?;
        out.write_all(open)?;
        for (i, ev) in items.enumerate() {
            let ev = ev.map_err(|e| std::io::Error::other(e.to_string()))?;
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &EvidenceView::new(&ev, case))?;
        }
        out.write_all(b"]}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casemesh_model::ids::{BlobHash, EvidenceId, UserId};
    use casemesh_model::time::Timestamp;

    /// A case whose text fields hold what JSON must escape (and the text the streamed writer
    /// looks for), with `n` items in two folders.
    fn case_with(n: usize) -> (Case, Vec<Evidence>) {
        let mut case = Case::new(
            "C-1 \"quoted\" \\",
            "\"evidence\":[]}",
            "line\nbreak \u{7}",
            UserId::random(),
            Timestamp(1_700_000_000_000),
        );
        let a = case.create_folder("Photos/Scene \"A\"").unwrap();
        let evidence = (0..n)
            .map(|i| Evidence {
                id: EvidenceId::random(),
                case: case.id,
                display_id: format!("EV-{i:04}"),
                name: format!("item \"{i}\".jpg"),
                description: "]}".into(),
                category: (i % 2 == 0).then(|| "Photo".into()),
                folder: (i % 3 == 0).then_some(a),
                hash: BlobHash::of(&i.to_le_bytes()),
                size: i as u64,
                media_type: "image/jpeg".into(),
                added_at: Timestamp(1_700_000_000_000 + i as u64),
                added_by: "ada".into(),
                transcripts: Vec::new(),
                do_not_disclose: i == 1,
                received_seq: None,
            })
            .collect();
        (case, evidence)
    }

    #[test]
    fn the_streamed_view_is_the_same_document() {
        for n in [0, 1, 2, 50] {
            let (case, evidence) = case_with(n);
            let whole = serde_json::to_vec(&CaseView::new(&case, "ada", &evidence)).unwrap();
            let mut streamed = Vec::new();
            CaseView::write_streamed(
                &case,
                "ada",
                evidence.iter().cloned().map(Ok::<_, String>),
                &mut streamed,
            )
            .unwrap();
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                String::from_utf8(whole).unwrap(),
                "{n} items"
            );
        }
    }

    #[test]
    fn a_read_error_mid_way_ends_the_document_with_an_error() {
        let (case, evidence) = case_with(3);
        let items = evidence.into_iter().enumerate().map(|(i, e)| {
            if i == 2 {
                Err("disk".to_owned())
            } else {
                Ok(e)
            }
        });
        let mut out = Vec::new();
        let err = CaseView::write_streamed(&case, "ada", items, &mut out).unwrap_err();
        assert!(err.to_string().contains("disk"));
        assert!(
            serde_json::from_slice::<CaseView>(&out).is_err(),
            "never a complete document"
        );
    }
}
