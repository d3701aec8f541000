//! The JSON shapes of the admin API (requests and responses), with their OpenAPI schemas.
//!
//! Views are built from model records and are the API's stable contract: field names here are
//! what the CLI's `--json` prints and what scripts rely on. Rename nothing; add freely.

use casemesh_model::case::{Case, Evidence, Origin};
use casemesh_model::org::{Group, User};
use casemesh_model::retention::RetentionPolicy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A retention policy: `{"kind":"until_manually_deleted"}` or `{"kind":"days","days":30}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
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

/// Where a case came from.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OriginView {
    /// Created here.
    Local,
    /// Received from a partner organization.
    Received {
        /// Sharing organization's id.
        sharer: String,
        /// Sharing organization's name.
        sharer_name: String,
        /// The share it arrived under.
        share: String,
        /// The case's id at the sharer.
        source_case: String,
        /// When it arrived (RFC 3339).
        received_at: String,
    },
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
                sharer: sharer.to_string(),
                sharer_name: sharer_name.clone(),
                share: share.to_string(),
                source_case: source_case.to_string(),
                received_at: received_at.to_string(),
            },
        }
    }
}

/// A transcript of an evidence item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TranscriptView {
    /// Id.
    pub id: String,
    /// File name.
    pub name: String,
    /// BLAKE3, lowercase hex.
    pub hash: String,
    /// Bytes.
    pub size: u64,
}

/// An evidence item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceView {
    /// Record id.
    pub id: String,
    /// The case's record id.
    pub case: String,
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
    pub hash: String,
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

impl EvidenceView {
    /// The view of `ev`, whose folder path is resolved in `case`.
    pub fn new(ev: &Evidence, case: &Case) -> EvidenceView {
        EvidenceView {
            id: ev.id.to_string(),
            case: ev.case.to_string(),
            display_id: ev.display_id.clone(),
            name: ev.name.clone(),
            description: ev.description.clone(),
            category: ev.category.clone(),
            folder: case.path_of(ev.folder),
            hash: ev.hash.to_hex(),
            size: ev.size,
            media_type: ev.media_type.clone(),
            added_at: ev.added_at.to_string(),
            added_by: ev.added_by.clone(),
            transcripts: ev
                .transcripts
                .iter()
                .map(|t| TranscriptView {
                    id: t.id.to_string(),
                    name: t.name.clone(),
                    hash: t.hash.to_hex(),
                    size: t.size,
                })
                .collect(),
            do_not_disclose: ev.do_not_disclose,
        }
    }
}

/// A case with its folders and evidence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseView {
    /// Record id.
    pub id: String,
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

impl CaseView {
    /// The view of a case, its owner's name and its evidence.
    pub fn new(case: &Case, owner: &str, evidence: &[Evidence]) -> CaseView {
        CaseView {
            id: case.id.to_string(),
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
}

/// A case in a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseSummary {
    /// Record id.
    pub id: String,
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

/// A user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Email.
    pub email: Option<String>,
    /// Badge ID.
    pub badge_id: Option<String>,
    /// Permissions held directly.
    pub permissions: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// A disabled user's tokens open nothing.
    pub disabled: bool,
}

impl UserView {
    /// The view of a user, naming its groups.
    pub fn new(u: &User, groups: &[Group]) -> UserView {
        UserView {
            id: u.id.to_string(),
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            email: u.email.clone(),
            badge_id: u.badge_id.clone(),
            permissions: u.permissions.iter().map(|p| p.name().to_owned()).collect(),
            groups: groups
                .iter()
                .filter(|g| u.groups.contains(&g.id))
                .map(|g| g.name.clone())
                .collect(),
            disabled: u.disabled,
        }
    }
}

/// A group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Permissions of every member.
    pub permissions: Vec<String>,
}

impl From<&Group> for GroupView {
    fn from(g: &Group) -> Self {
        GroupView {
            id: g.id.to_string(),
            name: g.name.clone(),
            permissions: g.permissions.iter().map(|p| p.name().to_owned()).collect(),
        }
    }
}
