//! Download links as the admin API shows them: `POST /v1/cases/{case}/links` ([`CreateLink`]),
//! `GET /v1/cases/{case}/links`, `GET /v1/links/{link}`, `POST /v1/links/{link}/revoke` (each a
//! [`LinkView`]). The server's records are `casemesh_links::LinkRecord`; the conversion is in
//! [`crate::server`]. Source: "Download links" in the first product document.

use casemesh_model::ids::{CaseId, EvidenceId, LinkId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Container format of a link's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    /// ZIP archive (ZIP64 past 4 GiB).
    Zip,
    /// ISO 9660 image (Joliet + Rock Ridge).
    Iso,
}

/// The status of a link as people see it: revoked and expired win over the build state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum LinkStatus {
    /// The package is being built.
    Processing,
    /// Downloadable.
    Ready,
    /// The build failed (see [`LinkView::error`]).
    Failed,
    /// Past its expiry.
    Expired,
    /// Revoked by a user.
    Revoked,
}

/// What goes into a link's package (fixed when the link is created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkOptions {
    /// Include the case's audit trail and each item's, as CSV and JSON.
    pub audit_trail: bool,
    /// Include each item's transcripts.
    pub transcripts: bool,
    /// Include a table of contents (HTML and CSV).
    pub toc: bool,
    /// Keep the case's folder structure; else a flat layout with collision-free names.
    pub keep_folders: bool,
    /// Selected folders (paths as given); with `evidence` empty too, the entire case.
    pub folders: Vec<String>,
    /// Selected evidence items (record ids, resolved at creation).
    #[schema(value_type = Vec<String>, format = "uuid")]
    pub evidence: Vec<EvidenceId>,
}

/// Build progress of a link: bytes of content written so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// Bytes written.
    pub done: u64,
    /// Bytes to write.
    pub total: u64,
}

/// A download link as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LinkView {
    /// Link id.
    #[schema(value_type = String, format = "uuid")]
    pub id: LinkId,
    /// The case's record id.
    #[schema(value_type = String, format = "uuid")]
    pub case: CaseId,
    /// The case's Case ID.
    pub case_id: String,
    /// `Processing`, `Ready`, `Failed`, `Expired` or `Revoked`.
    pub status: LinkStatus,
    /// The public URL with the token: only in the creation response, never again.
    pub url: Option<String>,
    /// `zip` or `iso`.
    pub format: PackageFormat,
    /// Package contents options.
    pub options: LinkOptions,
    /// Recipient as given.
    pub recipient: Option<String>,
    /// Message to the recipient.
    pub message: String,
    /// Creator's username.
    pub created_by: String,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// Expiry time (RFC 3339, UTC).
    pub expires_at: String,
    /// Revocation time (RFC 3339, UTC), if revoked.
    pub revoked_at: Option<String>,
    /// Package size in bytes, once built.
    pub package_size: Option<u64>,
    /// Files in the package (without manifest and signature), once built.
    pub files: Option<usize>,
    /// BLAKE3 of the package's `manifest.json` (hex), once built.
    pub manifest_blake3: Option<String>,
    /// Why the build failed.
    pub error: Option<String>,
    /// Downloads started (each run of a client's requests for the package counts once).
    pub downloads: u64,
    /// Build progress while Processing.
    pub progress: Option<Progress>,
}

/// Body of `POST /v1/cases/{case}/links`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    /// `zip` or `iso`.
    pub format: PackageFormat,
    /// Days the link stays valid, 1 to 3650 (anything else is refused with 400); default 7.
    #[serde(default = "default_days")]
    #[schema(minimum = 1, maximum = 3650)]
    pub days: u32,
    /// Include audit trails (CSV and JSON).
    #[serde(default)]
    pub audit_trail: bool,
    /// Include transcripts.
    #[serde(default)]
    pub transcripts: bool,
    /// Include a table of contents (HTML and CSV).
    #[serde(default)]
    pub toc: bool,
    /// Retain the folder structure; else a flat layout.
    #[serde(default)]
    pub keep_folders: bool,
    /// Only these folders (and their subfolders).
    #[serde(default)]
    pub folders: Vec<String>,
    /// Only these evidence items (record ids or display ids).
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Recipient: an email address, or a user or group inside the agency or of a partner agency.
    pub to: Option<String>,
    /// Optional message shown to the recipient.
    pub message: Option<String>,
}

/// Days a link stays valid when the request names none.
pub const DEFAULT_DAYS: u32 = 7;

fn default_days() -> u32 {
    DEFAULT_DAYS
}
