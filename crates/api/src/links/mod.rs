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
pub use casemesh_api_types::links::{CreateLink, LinkView};
pub use casemesh_links::{LinkError, LinkRecord, LinkStatus, Links, PackageFormat};
use casemesh_model::case::Case;

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
        format: req.format.into(),
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
    let id = casemesh_service::links::parse_link_id(&link)?;
    let (link, case) = state.node.links().get(&caller, id)?;
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
    let links = state.node.links();
    let id = links.revoke_id(&caller, &link)?;
    let (updated, case) = links.revoke(&caller, id)?;
    Ok(Json(view(&state, &updated, case.as_ref())))
}
