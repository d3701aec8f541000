//! Updates review of received shares (seed 002 "Check for and apply updates", issue #14): the
//! review rows (`GET /v1/received/{share}/updates`), apply (`…/updates/apply`), dismiss
//! (`…/updates/dismiss`), and, for access-mode shares whose policy allows `edit_metadata`, the
//! shared metadata both organizations edit (`GET`/`POST /v1/received/{share}/meta`).
//!
//! Adapters over `node.received()` (`casemesh_service::ReceivedService`), which checks the caller
//! (the whole share, `edit_case` to change the copy) and the request.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use axum::extract::State;
use casemesh_api_types::{MetaView, UpdateView};
use casemesh_meta::{FieldUpdate, ReviewRow, Tab, Target};
use serde::Deserialize;
use utoipa::ToSchema;

fn tab(target: Target) -> String {
    Tab::of(target).name().to_owned()
}

/// The review row of a plain update (apply and dismiss answers: no policy or conflict data).
fn update_view(u: FieldUpdate) -> UpdateView {
    UpdateView {
        field: u.field_ref().to_string(),
        tab: tab(u.target),
        current: u.current,
        proposed: u.proposed,
        base: None,
        allowed: None,
        reason: None,
        conflict: None,
        changed_by: None,
        changed_at: None,
    }
}

/// The review row of the updates list (with allowed/reason, conflict and who changed it).
fn review_view(r: ReviewRow) -> UpdateView {
    let (changed_by, changed_at) = match r.changed {
        Some(s) => (Some(s.by), Some(s.at.to_string())),
        None => (None, None),
    };
    UpdateView {
        base: r.base,
        allowed: Some(r.allowed),
        reason: r.reason,
        conflict: Some(r.conflict),
        changed_by,
        changed_at,
        ..update_view(r.update)
    }
}

/// Body of `POST /v1/received/{share}/updates/apply`: exactly one of `fields`, `all`, `tab`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyUpdates {
    /// Field paths to apply (from the updates list); a conflicting field is applied only this way.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Apply every allowed update that is not a conflict.
    #[serde(default)]
    pub all: bool,
    /// Apply every allowed update of one tab (`case` or `evidence`) that is not a conflict.
    #[serde(default)]
    pub tab: Option<String>,
}

/// Body of `POST /v1/received/{share}/updates/dismiss`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissUpdates {
    /// Field paths to dismiss (hidden until the sharer changes them again).
    pub fields: Vec<String>,
}

/// Body of `POST /v1/received/{share}/meta`: one field of an access-mode share to edit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMeta {
    /// Field path, e.g. `case/description` or `evidence/<sharer evidence id>/name`.
    pub field: String,
    /// The new value.
    pub value: String,
}

/// The review of updates available for a received case: case-level fields (tab `case`) and
/// evidence metadata (tab `evidence`), each with allowed/reason, conflict and who changed it.
#[utoipa::path(get, path = "/v1/received/{share}/updates", operation_id = "list_received_updates", tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id")),
    responses((status = 200, body = [UpdateView]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<Vec<UpdateView>>> {
    Ok(Json(
        state
            .node
            .received()
            .updates(&caller, &share)?
            .into_iter()
            .map(review_view)
            .collect(),
    ))
}

/// Apply named fields, one tab, or all updates to the copy, where the sharer's policy allows it
/// (403 otherwise; nothing is applied). `all` and `tab` skip conflicts.
#[utoipa::path(post, path = "/v1/received/{share}/updates/apply", operation_id = "apply_received_updates", request_body = ApplyUpdates, tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id")),
    responses((status = 200, body = [UpdateView]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    Json(req): Json<ApplyUpdates>,
) -> ApiResult<Json<Vec<UpdateView>>> {
    let choice = casemesh_service::ApplyChoice {
        fields: req.fields,
        all: req.all,
        tab: req.tab,
    };
    let done = state
        .node
        .received()
        .apply_updates(&caller, &share, &choice)?;
    Ok(Json(done.into_iter().map(update_view).collect()))
}

/// Dismiss updates: they stop showing until the sharer changes those fields again.
#[utoipa::path(post, path = "/v1/received/{share}/updates/dismiss", operation_id = "dismiss_received_updates", request_body = DismissUpdates, tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id")),
    responses((status = 200, body = [UpdateView]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn dismiss(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    Json(req): Json<DismissUpdates>,
) -> ApiResult<Json<Vec<UpdateView>>> {
    let done = state
        .node
        .received()
        .dismiss_updates(&caller, &share, &req.fields)?;
    Ok(Json(done.into_iter().map(update_view).collect()))
}

fn meta_view(meta: Option<casemesh_meta::CaseMeta>) -> MetaView {
    MetaView {
        fields: meta
            .map(|m| {
                m.fields()
                    .into_iter()
                    .map(|(r, v)| (r.to_string(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The received share's metadata as this node holds it.
#[utoipa::path(get, path = "/v1/received/{share}/meta", operation_id = "get_received_meta", tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id")),
    responses((status = 200, body = MetaView), (status = 404, body = ErrorBody)))]
pub async fn meta(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<MetaView>> {
    Ok(Json(meta_view(
        state.node.received().meta(&caller, &share)?,
    )))
}

/// Edit a field of an access-mode share in the sharer's system (policy `edit_metadata`): merged
/// with the sharer's concurrent edits by Automerge's rules on both nodes.
#[utoipa::path(post, path = "/v1/received/{share}/meta", operation_id = "edit_received_meta", request_body = EditMeta, tag = "sharing",
    params(("share" = String, Path, description = "share id")),
    responses((status = 200, body = MetaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit_meta(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    Json(req): Json<EditMeta>,
) -> ApiResult<Json<MetaView>> {
    let meta = state
        .node
        .received()
        .edit_meta(&caller, &share, &req.field, &req.value)?;
    Ok(Json(meta_view(Some(meta))))
}
