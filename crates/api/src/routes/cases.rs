//! Case routes: create, list, show, edit, retention, and the folder tree.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::{Path, Query};
use crate::state::AppState;
use crate::views::{CaseSummary, CaseView, RetentionView};
use axum::extract::State;
use axum::http::StatusCode;
use casemesh_model::access::Visibility;
use casemesh_model::audit::actions;
use casemesh_model::case::Case;
use casemesh_model::names::{check_line, check_text, limits};
use casemesh_model::org::Action;
use casemesh_model::retention::RetentionPolicy;
use serde::Deserialize;
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};

/// Body of `POST /v1/cases`.
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only cases received from partners (true) or only local ones (false).
    pub external: Option<bool>,
}

/// Body of the folder routes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderRequest {
    /// The folder's path, e.g. `Interviews/Day 1`.
    pub path: String,
    /// For rename: the new name (one segment).
    pub new_name: Option<String>,
    /// For move: the new parent's path (`""` = root).
    pub new_parent: Option<String>,
}

/// A case number people can read, type and tell apart: one line, not empty, no spaces at
/// either end, no invisible characters (zero-width, bidirectional controls, BOM) that would make
/// two numbers look alike, and not shaped like a record id (a uuid), which every command
/// accepts in its place. Uniqueness ignores letter case (`casemesh_store::case_numbers`).
fn check_case_number(value: &str) -> ApiResult<()> {
    check_line("case_id", value, limits::CASE_NUMBER)?;
    if value.trim().is_empty() {
        return Err(ApiError::bad_request("case_id is empty"));
    }
    if value.trim() != value {
        return Err(ApiError::bad_request(format!(
            "case_id {value:?} has spaces at its start or end"
        )));
    }
    if let Some(c) = value.chars().find(|c| {
        matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
    }) {
        return Err(ApiError::bad_request(format!(
            "case_id contains the invisible character U+{:04X}",
            u32::from(c)
        )));
    }
    if value.parse::<casemesh_model::ids::CaseId>().is_ok() {
        return Err(ApiError::bad_request(
            "case_id may not look like a record id (a uuid): commands take both in one place",
        ));
    }
    Ok(())
}

/// The full view of a case (owner name, evidence).
pub(crate) fn case_view(state: &AppState, case: &Case) -> ApiResult<CaseView> {
    case_view_as(state, case, &Visibility::Whole)
}

/// The view of `case` for a caller who sees `vis` of it: a part shows only the evidence it
/// covers and the folders on the way to it.
pub(crate) fn case_view_as(state: &AppState, case: &Case, vis: &Visibility) -> ApiResult<CaseView> {
    let owner = state
        .store
        .user(case.owner)?
        .map(|u| u.username)
        .unwrap_or_else(|| case.owner.to_string());
    let mut evidence = state.store.case_evidence(case.id)?;
    if *vis == Visibility::Whole {
        return Ok(CaseView::new(case, &owner, &evidence));
    }
    evidence.retain(|e| vis.covers(e.id, e.folder, case));
    let mut shown = case.clone();
    shown.folders.retain(|f| {
        vis.shows_folder(f.id, case) || evidence.iter().any(|e| case.is_within(e.folder, f.id))
    });
    Ok(CaseView::new(&shown, &owner, &evidence))
}

/// Create a case.
#[utoipa::path(post, path = "/v1/cases", operation_id = "create_case", request_body = CreateCase, tag = "cases",
    responses((status = 201, body = CaseView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateCase>,
) -> ApiResult<(StatusCode, Json<CaseView>)> {
    caller.require(&state, Action::EditCase)?;
    check_case_number(&req.case_id)?;
    check_line("title", &req.title, limits::TITLE)?;
    check_text("description", &req.description, limits::CASE_DESCRIPTION)?;
    let now = state.clock.now();
    let mut case = Case::new(
        &req.case_id,
        &req.title,
        &req.description,
        caller.user.id,
        now,
    );
    if let Some(p) = state.settings().default_retention {
        case.retention = p;
    }
    state.store.create_case(&case, &caller.actor(&state))?;
    Ok((StatusCode::CREATED, Json(case_view(&state, &case)?)))
}

/// List cases.
#[utoipa::path(get, path = "/v1/cases", operation_id = "list_cases", params(ListQuery), tag = "cases", responses((status = 200, body = [CaseSummary])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<CaseSummary>>> {
    let mut out = Vec::new();
    for c in state.store.cases()? {
        if q.external.is_some_and(|x| x != c.is_external()) {
            continue;
        }
        // Only the cases the caller may see (issue #12); the rest do not exist for them.
        let vis = caller.visibility(&state, &c)?;
        if !vis.any() {
            continue;
        }
        // Counted over what the caller sees: a part of a case counts only its part.
        let evidence_count = state
            .store
            .case_evidence(c.id)?
            .iter()
            .filter(|e| vis.covers(e.id, e.folder, &c))
            .count();
        out.push(CaseSummary {
            id: c.id.to_string(),
            case_id: c.case_number.clone(),
            title: c.title.clone(),
            external: c.is_external(),
            evidence_count,
            created_at: c.created_at.to_string(),
        });
    }
    out.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.case_id.cmp(&b.case_id))
    });
    Ok(Json(out))
}

/// Show a case with its folders and evidence.
#[utoipa::path(get, path = "/v1/cases/{case}", operation_id = "get_case", tag = "cases",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<CaseView>> {
    let (case, vis) = caller.case(&state, &case)?;
    state
        .store
        .audit(case.id, &caller.actor(&state), actions::CASE_VIEW, None, "")?;
    Ok(Json(case_view_as(&state, &case, &vis)?))
}

/// Edit a case's fields.
#[utoipa::path(patch, path = "/v1/cases/{case}", operation_id = "edit_case", request_body = EditCase, tag = "cases",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CaseView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Json(req): Json<EditCase>,
) -> ApiResult<Json<CaseView>> {
    caller.require(&state, Action::EditCase)?;
    if let Some(n) = &req.case_id {
        check_case_number(n)?;
    }
    check_line("title", req.title.as_deref().unwrap_or(""), limits::TITLE)?;
    check_text(
        "description",
        req.description.as_deref().unwrap_or(""),
        limits::CASE_DESCRIPTION,
    )?;
    let id = caller.whole_case(&state, &case)?.id;
    let case = state
        .store
        .update_case(id, &caller.actor(&state), actions::CASE_EDIT, |c| {
            let mut changed = Vec::new();
            if let Some(v) = &req.case_id {
                c.case_number = v.clone();
                changed.push("case_id");
            }
            if let Some(v) = &req.title {
                c.title = v.clone();
                changed.push("title");
            }
            if let Some(v) = &req.description {
                c.description = v.clone();
                changed.push("description");
            }
            Ok::<_, ApiError>(format!("changed {}", changed.join(",")))
        })?;
    notify_partners(&state, case.id);
    Ok(Json(case_view(&state, &case)?))
}

/// Send metadata edits to partners holding a share of the case ("updates available" there).
pub(crate) fn notify_partners(state: &AppState, case: casemesh_model::ids::CaseId) {
    state.sharing.case_changed(case);
}

/// Set a case's retention policy (needs Edit Case Retention and Configurable Case Retention).
#[utoipa::path(put, path = "/v1/cases/{case}/retention", operation_id = "set_case_retention", request_body = RetentionView, tag = "cases",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_retention(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Json(req): Json<RetentionView>,
) -> ApiResult<Json<CaseView>> {
    caller.require(&state, Action::EditRetention)?;
    let id = caller.whole_case(&state, &case)?.id;
    let policy = RetentionPolicy::from(req);
    let case = state
        .store
        .update_case(id, &caller.actor(&state), actions::RETENTION_SET, |c| {
            let before = c.retention;
            c.retention = policy;
            Ok::<_, ApiError>(format!("{before} -> {policy}"))
        })?;
    Ok(Json(case_view(&state, &case)?))
}

/// Which folder operation a route performs.
#[derive(Debug, Clone, Copy)]
enum FolderOp {
    Create,
    Rename,
    Move,
    Delete,
}

async fn folder_op(
    state: AppState,
    caller: Caller,
    case: String,
    req: FolderRequest,
    op: FolderOp,
) -> ApiResult<Json<CaseView>> {
    caller.require(&state, Action::EditCase)?;
    let current = caller.whole_case(&state, &case)?;
    let occupied: BTreeSet<_> = state
        .store
        .case_evidence(current.id)?
        .iter()
        .filter_map(|e| e.folder)
        .collect();
    let case = state.store.update_case(
        current.id,
        &caller.actor(&state),
        actions::FOLDER_CHANGE,
        |c| {
            let p = req.path.as_str();
            Ok::<_, ApiError>(match op {
                FolderOp::Create => format!("create {p:?} ({})", c.create_folder(p)?),
                FolderOp::Rename => {
                    let new = req
                        .new_name
                        .as_deref()
                        .ok_or_else(|| ApiError::bad_request("new_name is required"))?;
                    format!("rename {p:?} to {new:?} ({})", c.rename_folder(p, new)?)
                }
                FolderOp::Move => {
                    let to = req
                        .new_parent
                        .as_deref()
                        .ok_or_else(|| ApiError::bad_request("new_parent is required"))?;
                    format!("move {p:?} into {to:?} ({})", c.move_folder(p, to)?)
                }
                FolderOp::Delete => format!(
                    "delete {p:?} ({} folders)",
                    c.delete_folder(p, &occupied)?.len()
                ),
            })
        },
    )?;
    Ok(Json(case_view(&state, &case)?))
}

/// Create a folder (and missing parents).
#[utoipa::path(post, path = "/v1/cases/{case}/folders", operation_id = "create_folder", request_body = FolderRequest, tag = "folders",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CaseView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn folder_create(
    State(s): State<AppState>,
    c: Caller,
    Path(case): Path<String>,
    Json(r): Json<FolderRequest>,
) -> ApiResult<Json<CaseView>> {
    folder_op(s, c, case, r, FolderOp::Create).await
}

/// Rename a folder (`path`, `new_name`).
#[utoipa::path(post, path = "/v1/cases/{case}/folders/rename", operation_id = "rename_folder", request_body = FolderRequest, tag = "folders",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CaseView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn folder_rename(
    State(s): State<AppState>,
    c: Caller,
    Path(case): Path<String>,
    Json(r): Json<FolderRequest>,
) -> ApiResult<Json<CaseView>> {
    folder_op(s, c, case, r, FolderOp::Rename).await
}

/// Move a folder (`path`, `new_parent`).
#[utoipa::path(post, path = "/v1/cases/{case}/folders/move", operation_id = "move_folder", request_body = FolderRequest, tag = "folders",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CaseView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn folder_move(
    State(s): State<AppState>,
    c: Caller,
    Path(case): Path<String>,
    Json(r): Json<FolderRequest>,
) -> ApiResult<Json<CaseView>> {
    folder_op(s, c, case, r, FolderOp::Move).await
}

/// Delete an empty folder and its (empty) subfolders.
#[utoipa::path(post, path = "/v1/cases/{case}/folders/delete", operation_id = "delete_folder", request_body = FolderRequest, tag = "folders",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn folder_delete(
    State(s): State<AppState>,
    c: Caller,
    Path(case): Path<String>,
    Json(r): Json<FolderRequest>,
) -> ApiResult<Json<CaseView>> {
    folder_op(s, c, case, r, FolderOp::Delete).await
}
