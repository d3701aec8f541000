//! Evidence routes: streamed upload, metadata, verified download, transcripts. Adapters over
//! `node.evidence()` (`casemesh_service::evidence`, where "what happens when evidence is added"
//! is one function): extract, call, map the error.
//!
//! Uploads are the request body itself (`application/octet-stream`), handed to the use case as a
//! stream: chunks flow through a bounded channel to a blocking writer that hashes and writes them
//! in one pass (`casemesh_service::evidence::ingest`), so memory stays flat whatever the file
//! size. Downloads are verified against the hash before the first byte goes out, then streamed
//! from disk.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::{Path, Query};
use crate::state::AppState;
use crate::views::EvidenceView;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use casemesh_api_types::cases::{AddQuery, EditEvidence, TranscriptQuery};
use casemesh_service::{Content, NewEvidence};

/// A response streaming verified bytes (the use case checked the hash before handing them out).
fn content_response(c: Content) -> Response {
    let stream = c.file.into_stream();
    let disposition = format!(
        "attachment; filename=\"{}\"",
        c.name.replace(['"', '\\'], "_")
    );
    (
        [
            (header::CONTENT_TYPE, c.media_type),
            (header::CONTENT_LENGTH, c.size.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Add evidence: the body is the file's bytes.
#[utoipa::path(post, path = "/v1/cases/{case}/evidence", operation_id = "add_evidence", tag = "evidence",
    params(("case" = String, Path, description = "record id or Case ID"), AddQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = EvidenceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, description = "unavailable: the upload broke off before its end; nothing was kept, send it again", body = ErrorBody), (status = 507, description = "insufficient_storage: the disk is full; nothing was stored", body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Query(q): Query<AddQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<EvidenceView>)> {
    let exact = axum::body::HttpBody::size_hint(&body).exact();
    let new = NewEvidence {
        case,
        name: q.name,
        folder: q.folder,
        display_id: q.display_id,
        description: q.description,
        media_type: q.media_type,
        create_folder: false,
    };
    let (ev, case) = state
        .node
        .evidence()
        .add(&caller, new, body.into_data_stream(), exact)
        .await?;
    Ok((StatusCode::CREATED, Json(EvidenceView::new(&ev, &case))))
}

/// Show an evidence item's metadata.
#[utoipa::path(get, path = "/v1/cases/{case}/evidence/{evidence}", operation_id = "get_evidence", tag = "evidence",
    params(("case" = String, Path, description = "record id or Case ID"), ("evidence" = String, Path, description = "evidence id or display id")),
    responses((status = 200, body = EvidenceView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, evidence)): Path<(String, String)>,
) -> ApiResult<Json<EvidenceView>> {
    let (ev, case) = state.node.evidence().show(&caller, &case, &evidence)?;
    Ok(Json(EvidenceView::new(&ev, &case)))
}

/// Download an evidence item's bytes (verified against its hash first).
#[utoipa::path(get, path = "/v1/cases/{case}/evidence/{evidence}/content", operation_id = "get_evidence_content", tag = "evidence",
    params(("case" = String, Path, description = "record id or Case ID"), ("evidence" = String, Path, description = "evidence id or display id")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody), (status = 500, description = "blob_corrupt: the stored bytes no longer match the hash", body = ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, evidence)): Path<(String, String)>,
) -> ApiResult<Response> {
    let content = state
        .node
        .evidence()
        .content(&caller, &case, &evidence)
        .await?;
    Ok(content_response(content))
}

/// Edit an evidence item's metadata or move it to another folder.
#[utoipa::path(patch, path = "/v1/cases/{case}/evidence/{evidence}", operation_id = "edit_evidence", request_body = EditEvidence, tag = "evidence",
    params(("case" = String, Path, description = "record id or Case ID"), ("evidence" = String, Path, description = "evidence id or display id")),
    responses((status = 200, body = EvidenceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, evidence)): Path<(String, String)>,
    Json(req): Json<EditEvidence>,
) -> ApiResult<Json<EvidenceView>> {
    let edit = casemesh_service::EvidenceEdit {
        name: req.name,
        display_id: req.display_id,
        description: req.description,
        category: req.category,
        folder: req.folder,
        do_not_disclose: req.do_not_disclose,
    };
    let (ev, case) = state
        .node
        .evidence()
        .edit(&caller, &case, &evidence, &edit)?;
    Ok(Json(EvidenceView::new(&ev, &case)))
}

/// Delete an evidence item (its bytes go at the next garbage collection if nothing else uses them).
#[utoipa::path(delete, path = "/v1/cases/{case}/evidence/{evidence}", operation_id = "delete_evidence", tag = "evidence",
    params(("case" = String, Path, description = "record id or Case ID"), ("evidence" = String, Path, description = "evidence id or display id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, evidence)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.node.evidence().delete(&caller, &case, &evidence)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Attach a transcript: the body is the transcript file.
#[utoipa::path(post, path = "/v1/cases/{case}/evidence/{evidence}/transcripts", operation_id = "add_transcript", tag = "evidence",
    params(("case" = String, Path, description = "record id or Case ID"), ("evidence" = String, Path, description = "evidence id or display id"), TranscriptQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = EvidenceView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_transcript(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, evidence)): Path<(String, String)>,
    Query(q): Query<TranscriptQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<EvidenceView>)> {
    let exact = axum::body::HttpBody::size_hint(&body).exact();
    let (ev, case) = state
        .node
        .evidence()
        .add_transcript(
            &caller,
            &case,
            &evidence,
            &q.name,
            body.into_data_stream(),
            exact,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(EvidenceView::new(&ev, &case))))
}

/// Download a transcript.
#[utoipa::path(get, path = "/v1/cases/{case}/evidence/{evidence}/transcripts/{transcript}/content", operation_id = "get_transcript_content", tag = "evidence",
    params(("case" = String, Path, description = "record id or Case ID"), ("evidence" = String, Path, description = "evidence id or display id"), ("transcript" = String, Path, description = "transcript id")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn transcript_content(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, evidence, transcript)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let content = state
        .node
        .evidence()
        .transcript_content(&caller, &case, &evidence, &transcript)
        .await?;
    Ok(content_response(content))
}
