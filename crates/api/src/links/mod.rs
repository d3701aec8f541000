//! Download links, the admin side: `/v1/cases/{case}/links`, `/v1/links/{link}`, `…/revoke`.
//! Thin adapters over the link use cases (`node.links()`, `casemesh_service::LinkService`, which
//! checks the caller's permissions and the case): extract the request, call the use case, map a
//! `DownloadLinkError` to a status (in `crate::error`). The public server recipients download
//! from is [`public`].

pub mod public;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
pub use casemesh_links::{
    BuildState, LinkError, LinkOptions, LinkRecord, LinkStatus, Links, PackageFormat, Progress,
};
use casemesh_model::case::Case;
use casemesh_model::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A link as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkView {
    /// Link id.
    pub id: String,
    /// The case's record id.
    pub case: String,
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
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry time (RFC 3339).
    pub expires_at: String,
    /// Revocation time (RFC 3339), if revoked.
    pub revoked_at: Option<String>,
    /// Package size in bytes, once built.
    pub package_size: Option<u64>,
    /// Files in the package (without manifest and signature), once built.
    pub files: Option<usize>,
    /// BLAKE3 of the package's `manifest.json`, once built.
    pub manifest_blake3: Option<String>,
    /// Why the build failed.
    pub error: Option<String>,
    /// Downloads started.
    pub downloads: u64,
    /// Build progress while Processing.
    pub progress: Option<Progress>,
}

impl LinkView {
    /// The view of `link` (of `case`) at `now`; `progress` is asked of the build only while
    /// the link is Processing.
    pub fn new(
        link: &LinkRecord,
        case: Option<&Case>,
        now: Timestamp,
        progress: impl FnOnce(casemesh_model::ids::LinkId) -> Option<Progress>,
    ) -> Self {
        let status = link.status(now);
        let (package_size, files, manifest_blake3, error) = match &link.build {
            BuildState::Ready {
                size,
                files,
                manifest_blake3,
            } => (
                Some(*size),
                Some(*files),
                Some(manifest_blake3.clone()),
                None,
            ),
            BuildState::Failed { reason } => (None, None, None, Some(reason.clone())),
            BuildState::Processing => (None, None, None, None),
        };
        LinkView {
            id: link.id.to_string(),
            case: link.case.to_string(),
            case_id: case.map(|c| c.case_number.clone()).unwrap_or_default(),
            status,
            url: None,
            format: link.format,
            options: link.options.clone(),
            recipient: link.recipient.clone(),
            message: link.message.clone(),
            created_by: link.created_by.clone(),
            created_at: link.created_at.to_string(),
            expires_at: link.expires_at.to_string(),
            revoked_at: link.revoked_at.map(|t| t.to_string()),
            package_size,
            files,
            manifest_blake3,
            error,
            downloads: link.downloads,
            progress: (status == LinkStatus::Processing)
                .then(|| progress(link.id))
                .flatten(),
        }
    }
}

/// Body of `POST /v1/cases/{case}/links`.
#[derive(Debug, Deserialize, ToSchema)]
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

fn default_days() -> u32 {
    casemesh_links::DEFAULT_DAYS
}

/// The view of `link` of `case` now, with its build progress.
fn view(state: &AppState, link: &LinkRecord, case: Option<&Case>) -> LinkView {
    let links = state.node.links();
    LinkView::new(link, case, state.clock.now(), |id| links.progress(id))
}

/// Create a download link: the package builds in the background (status `Processing`, then
/// `Ready` or `Failed`). The response's `url` carries the token; it is shown only here.
#[utoipa::path(post, path = "/v1/cases/{case}/links", operation_id = "create_link", request_body = CreateLink, tag = "links",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 201, body = LinkView), (status = 400, body = ErrorBody), (status = 403, description = "missing share-external-download-links permissions or feature", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Json(req): Json<CreateLink>,
) -> ApiResult<(StatusCode, Json<LinkView>)> {
    let req = casemesh_links::NewLink {
        case,
        format: req.format,
        days: req.days,
        audit_trail: req.audit_trail,
        transcripts: req.transcripts,
        toc: req.toc,
        keep_folders: req.keep_folders,
        folders: req.folders,
        evidence: req.evidence,
        to: req.to,
        message: req.message,
    };
    let created = state.node.links().create(&caller, req)?;
    let mut v = view(&state, &created.link, Some(&created.case));
    v.url = Some(created.url);
    Ok((StatusCode::CREATED, Json(v)))
}

/// List a case's download links (tokens are never shown again).
#[utoipa::path(get, path = "/v1/cases/{case}/links", operation_id = "list_links", tag = "links",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = Vec<LinkView>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<Vec<LinkView>>> {
    let (case, links) = state.node.links().list(&caller, &case)?;
    Ok(Json(
        links.iter().map(|l| view(&state, l, Some(&case))).collect(),
    ))
}

/// Show one download link.
#[utoipa::path(get, path = "/v1/links/{link}", operation_id = "get_link", tag = "links",
    params(("link" = String, Path, description = "link id")),
    responses((status = 200, body = LinkView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(link): Path<String>,
) -> ApiResult<Json<LinkView>> {
    let (link, case) = state.node.links().get(&caller, &link)?;
    Ok(Json(view(&state, &link, case.as_ref())))
}

/// Revoke a download link: it answers 410 from now on and its package is deleted. Needs the
/// link permissions, or administer (so links can be revoked after the feature is switched off).
#[utoipa::path(post, path = "/v1/links/{link}/revoke", operation_id = "revoke_link", tag = "links",
    params(("link" = String, Path, description = "link id")),
    responses((status = 200, body = LinkView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(link): Path<String>,
) -> ApiResult<Json<LinkView>> {
    let (updated, case) = state.node.links().revoke(&caller, &link)?;
    Ok(Json(view(&state, &updated, case.as_ref())))
}
