//! Node-wide bodies: health and readiness, node identity, settings, blob store, retention sweep.

use crate::cases::RetentionView;
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, OrgId};
use casemesh_model::org::Settings;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the node answers.
    pub status: String,
}

/// One part of `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReadyPart {
    /// `store`, `sharing`, `net` or `blobs`.
    pub part: String,
    /// Whether it answered.
    pub ok: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
}

/// `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ok`, or `unavailable` (HTTP 503).
    pub status: String,
    /// The parts that did not answer, e.g. `["net"]`.
    pub failing: Vec<String>,
    /// Every part checked.
    pub parts: Vec<ReadyPart>,
}

/// Who this node is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeInfo {
    /// Organization name.
    pub org_name: String,
    /// Organization id (libp2p PeerId).
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub org_id: OrgId,
    /// casemesh version.
    pub version: String,
    /// The admin endpoint's address.
    pub admin_addr: String,
    /// Where the evidence blobs live (`[storage]`). Absent in answers of nodes from before it.
    #[serde(default)]
    pub storage: StorageView,
    /// The bound on evidence bytes per second this node serves to all partners together
    /// (`[p2p] max_send_rate`); absent: no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_send_rate: Option<u64>,
}

/// Where a node keeps its evidence blobs, as `casemesh status` shows it. Never credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StorageView {
    /// `fs` (files under the data directory) or `s3` (a bucket of an S3-compatible store).
    pub backend: String,
    /// The object store's endpoint URL (`s3` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The bucket (`s3` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
}

/// What `casemesh blobs migrate --to s3|fs --json` prints (issue #18 item 4): the blobs copied
/// and those already at the destination and verified there, with their bytes; on a run that
/// could not migrate every blob, `failed` names each one with why (the command then exits 1).
/// CLI output, not an API body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// The destination: `s3` or `fs`.
    pub to: String,
    /// Blobs copied.
    pub copied: u64,
    /// Blobs already at the destination, verified, not copied again.
    pub skipped: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Bytes of the blobs skipped.
    pub bytes_skipped: u64,
    /// Outboards (hash trees) rebuilt at the destination.
    pub outboards_rebuilt: u64,
    /// The blobs not migrated, sorted by hash; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<MigrationFailure>,
}

/// A blob `blobs migrate` could not copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationFailure {
    /// BLAKE3 of the blob, lowercase hex.
    pub hash: BlobHash,
    /// Why, and what to do about it.
    pub reason: String,
}

/// Settings as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SettingsView {
    /// Feature flags by name.
    #[schema(value_type = Object)]
    pub features: casemesh_model::org::FeatureFlags,
    /// Default retention of new and received cases; null = Until Manually Deleted.
    pub default_retention: Option<RetentionView>,
    /// Import received partner shares automatically.
    pub auto_import: bool,
    /// Partners may look up this organization's users and groups.
    pub share_directory: bool,
    /// Where notices of received shares go for `email:` recipients no local user has; null =
    /// such shares are refused, naming the address.
    pub intake_address: Option<String>,
}

/// Body of `PATCH /v1/settings`: any subset.
// Serialized by clients: fields left `None` are not sent (they stay as they are), except
// `features` (sent as null, read as absent); `default_retention: Some(None)` is sent as JSON null
// and clears the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditSettings {
    /// Feature flags to change, by name (`{"case_share_links": false}`).
    #[schema(value_type = Object)]
    pub features: Option<serde_json::Map<String, serde_json::Value>>,
    /// New default retention; JSON null clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<RetentionView>)]
    pub default_retention: Option<Option<RetentionView>>,
    /// Auto-import received shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_import: Option<bool>,
    /// Let partners look up users and groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_directory: Option<bool>,
    /// The intake address for partner-named addresses not in the directory; `""` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake_address: Option<String>,
}

/// Blob store statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlobStats {
    /// Blobs on disk.
    pub count: u64,
    /// Their total size.
    pub bytes: u64,
}

/// Result of garbage collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GcReport {
    /// Blobs removed.
    pub removed: u64,
    /// Bytes of disk freed: the blobs and, on `fs`, their outboard files (`<hash>.obao`).
    pub bytes_freed: u64,
}

/// Result of `GET /v1/blobs/verify`: every referenced blob checked against its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlobVerifyReport {
    /// Referenced blobs present and intact.
    pub ok: u64,
    /// Referenced blobs whose file is gone (BLAKE3 hex).
    #[schema(value_type = Vec<String>, pattern = "^[0-9a-f]{64}$")]
    pub missing: Vec<BlobHash>,
    /// Referenced blobs whose bytes no longer match their hash (BLAKE3 hex).
    #[schema(value_type = Vec<String>, pattern = "^[0-9a-f]{64}$")]
    pub corrupt: Vec<BlobHash>,
    /// Blobs on disk that no record references (what `gc` would remove).
    pub unreferenced: u64,
}

/// Query of `GET /v1/blobs/space`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
pub struct SpaceQuery {
    /// Bytes the caller is about to upload.
    pub bytes: u64,
}

/// Free space for evidence, from `GET /v1/blobs/space`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpaceView {
    /// Bytes free on the blob store's file system.
    pub available: u64,
    /// Bytes kept free for the database and audit trail (an upload may not eat into them).
    pub reserve: u64,
}

/// One evidence item the sweeper removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Removed {
    /// Case record id.
    #[schema(value_type = String, format = "uuid")]
    pub case: CaseId,
    /// Evidence id.
    #[schema(value_type = String, format = "uuid")]
    pub evidence: EvidenceId,
    /// Evidence name.
    pub name: String,
}

/// Result of a retention sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SweepReport {
    /// Evidence removed.
    pub removed: Vec<Removed>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<RetentionView>>, D::Error> {
    Option::<RetentionView>::deserialize(d).map(Some)
}

impl From<&Settings> for SettingsView {
    fn from(s: &Settings) -> Self {
        SettingsView {
            features: s.features.clone(),
            default_retention: s.default_retention.map(RetentionView::from),
            auto_import: s.auto_import,
            share_directory: s.share_directory,
            intake_address: s.intake_address.clone(),
        }
    }
}
