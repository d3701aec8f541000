//! Case routes: create, list, show, edit, retention, and the folder tree. Adapters over
//! `node.cases()` (`casemesh_service::cases`): extract, call, map the error.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::{Path, Query};
use crate::state::AppState;
use crate::views::{CaseSummary, CaseView, RetentionView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
pub use casemesh_api_types::cases::{CreateCase, EditCase, FolderRequest, ListQuery};
use casemesh_model::retention::RetentionPolicy;
use casemesh_service::{CaseEdit, FolderChange, NewCase};

/// The view of a case as the use case returned it.
fn view(d: &casemesh_service::CaseDetail) -> CaseView {
    CaseView::new(&d.case, &d.owner, &d.evidence)
}

/// Create a case.
#[utoipa::path(post, path = "/v1/cases", operation_id = "create_case", request_body = CreateCase, tag = "cases",
    responses((status = 201, body = CaseView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateCase>,
) -> ApiResult<(StatusCode, Json<CaseView>)> {
    let new = NewCase {
        case_number: req.case_id,
        title: req.title,
        description: req.description,
    };
    let created = state.node.cases().create(&caller, &new)?;
    Ok((StatusCode::CREATED, Json(view(&created))))
}

/// List cases.
#[utoipa::path(get, path = "/v1/cases", operation_id = "list_cases", params(ListQuery), tag = "cases", responses((status = 200, body = [CaseSummary])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<CaseSummary>>> {
    let cases = state.node.cases().list(&caller, q.external)?;
    Ok(Json(
        cases
            .into_iter()
            .map(|s| CaseSummary {
                id: s.case.id,
                case_id: s.case.case_number.clone(),
                title: s.case.title.clone(),
                external: s.case.is_external(),
                evidence_count: s.evidence_count,
                created_at: s.case.created_at.to_string(),
            })
            .collect(),
    ))
}

/// Show a case with its folders and evidence.
#[utoipa::path(get, path = "/v1/cases/{case}", operation_id = "get_case", tag = "cases",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<axum::response::Response> {
    let node = state.node.clone();
    let listing = state
        .node
        .blocking(move || node.cases().show_listing(&caller, &case))
        .await
        .map_err(|e| crate::error::ApiError::internal(format!("case view task: {e}")))??;
    Ok(streamed_case_view(state.node.response_tasks(), listing))
}

/// Bytes per chunk of a streamed case view.
const VIEW_CHUNK: usize = 64 * 1024;

/// A [`CaseView`] written item by item: the same JSON document `Json(CaseView)` gives (evidence
/// is its last field), produced on a blocking thread that reads one evidence item at a time and
/// hands 64 KiB chunks to the response, so a case of any size costs the server a few chunks of
/// memory, not the whole view (issue #11). A store error mid-way ends the body early (logged); the
/// client sees a truncated document, never a wrong one. The writer runs on `tasks` (the node's
/// [`casemesh_service::Node::response_tasks`]), so shutdown waits for it.
fn streamed_case_view(
    tasks: &tokio_util::task::TaskTracker,
    listing: casemesh_service::CaseListing,
) -> axum::response::Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    tasks.spawn_blocking(move || {
        let mut out = ChunkWriter {
            buf: Vec::with_capacity(VIEW_CHUNK),
            tx,
        };
        let written =
            CaseView::write_streamed(&listing.case, &listing.owner, listing.items(), &mut out);
        match written.and_then(|()| out.send()) {
            Ok(()) => {}
            // The client went away: nothing is wrong with the node.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                tracing::debug!(case = %listing.case.id, "case view: client gone");
            }
            Err(e) => {
                tracing::warn!(case = %listing.case.id, error = %e, "case view ended early");
                let _ = out.tx.blocking_send(Err(e));
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// Collects bytes and sends them to the response in chunks of [`VIEW_CHUNK`]; a client gone
/// makes the next write fail, which ends the listing.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(VIEW_CHUNK));
        self.tx
            .blocking_send(Ok(chunk.into()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= VIEW_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
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
    let edit = CaseEdit {
        case_number: req.case_id,
        title: req.title,
        description: req.description,
    };
    Ok(Json(view(&state.node.cases().edit(&caller, &case, &edit)?)))
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
    let policy = RetentionPolicy::from(req);
    Ok(Json(view(
        &state.node.cases().set_retention(&caller, &case, policy)?,
    )))
}

async fn folder_op(
    state: AppState,
    caller: Caller,
    case: String,
    change: FolderChange,
) -> ApiResult<Json<CaseView>> {
    Ok(Json(view(
        &state.node.cases().change_folders(&caller, &case, &change)?,
    )))
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
    folder_op(s, c, case, FolderChange::Create { path: r.path }).await
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
    folder_op(
        s,
        c,
        case,
        FolderChange::Rename {
            path: r.path,
            new_name: r.new_name,
        },
    )
    .await
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
    folder_op(
        s,
        c,
        case,
        FolderChange::Move {
            path: r.path,
            new_parent: r.new_parent,
        },
    )
    .await
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
    folder_op(s, c, case, FolderChange::Delete { path: r.path }).await
}
