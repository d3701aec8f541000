//! Evidence routes: streamed upload, metadata, verified download, transcripts.
//!
//! Uploads are the request body itself (`application/octet-stream`): chunks flow through a bounded
//! channel to a blocking writer that hashes and writes them in one pass (see
//! `casemesh_store::blobs`), so memory stays flat whatever the file size. Downloads are verified
//! against the hash before the first byte goes out, then streamed from disk.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::{Path, Query};
use crate::state::AppState;
use crate::views::EvidenceView;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use casemesh_model::audit::actions;
use casemesh_model::case::Transcript;
use casemesh_model::ids::{BlobHash, TranscriptId};
use casemesh_model::names::validate_name;
use casemesh_model::org::Action;
use casemesh_service::NewEvidence;
use casemesh_service::evidence::check_evidence_text;
use casemesh_store::Store;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Query of the upload route.
#[derive(Debug, Deserialize, IntoParams)]
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
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Deserialize, IntoParams)]
pub struct TranscriptQuery {
    /// Transcript file name.
    pub name: String,
}

/// Stream a request body into the blob store (see `casemesh_service::evidence::ingest`).
pub async fn ingest(
    store: &Store,
    body: Body,
) -> ApiResult<(BlobHash, u64, tokio::sync::OwnedRwLockReadGuard<()>)> {
    let exact = axum::body::HttpBody::size_hint(&body).exact();
    Ok(casemesh_service::evidence::ingest(store, body.into_data_stream(), exact).await?)
}

/// A response streaming a verified blob.
pub async fn blob_response(
    store: &Store,
    hash: BlobHash,
    media_type: &str,
    file_name: &str,
) -> ApiResult<Response> {
    let blobs = store.blobs().clone();
    let (file, size) = tokio::task::spawn_blocking(move || blobs.open_verified(&hash))
        .await
        .map_err(|e| ApiError::internal(format!("reader task: {e}")))??;
    let stream =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 1 << 20);
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file_name.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, media_type.to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Add evidence: the body is the file's bytes.
#[utoipa::path(post, path = "/v1/cases/{case}/evidence", operation_id = "add_evidence", tag = "evidence",
    params(("case" = String, Path, description = "record id or Case ID"), AddQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = EvidenceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Query(q): Query<AddQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<EvidenceView>)> {
    caller.require(&state, Action::EditCase)?;
    let exact = axum::body::HttpBody::size_hint(&body).exact();
    let case = caller.whole_case(&state, &case)?.id.to_string();
    let new = NewEvidence {
        case,
        name: q.name,
        folder: q.folder,
        display_id: q.display_id,
        description: q.description,
        media_type: q.media_type,
    };
    let (ev, case) = state
        .node
        .evidence()
        .add(new, &caller.actor(&state), body.into_data_stream(), exact)
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
    let (case, vis) = caller.case(&state, &case)?;
    let ev = caller.evidence(&state, &case, &vis, &evidence)?;
    state.store.audit(
        case.id,
        &caller.actor(&state),
        actions::EVIDENCE_VIEW,
        Some(ev.id),
        "",
    )?;
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
    let (case, vis) = caller.case(&state, &case)?;
    let ev = caller.evidence(&state, &case, &vis, &evidence)?;
    let response = blob_response(&state.store, ev.hash, &ev.media_type, &ev.name).await;
    let details = match &response {
        Ok(_) => format!("blake3={}", ev.hash),
        Err(e) => format!("refused: {}", e.message),
    };
    state.store.audit(
        case.id,
        &caller.actor(&state),
        actions::EVIDENCE_DOWNLOAD,
        Some(ev.id),
        &details,
    )?;
    response
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
    caller.require(&state, Action::EditCase)?;
    let case = caller.whole_case(&state, &case)?;
    let ev = state.store.resolve_evidence(case.id, &evidence)?;
    if let Some(n) = &req.name {
        validate_name(n)?;
    }
    if let Some(d) = &req.display_id {
        validate_name(d)?;
    }
    check_evidence_text(req.description.as_deref(), req.category.as_deref(), None)?;
    let folder = req.folder.as_deref().map(|p| case.resolve(p)).transpose()?;
    let ev =
        state
            .store
            .update_evidence(ev.id, &caller.actor(&state), actions::EVIDENCE_EDIT, |e| {
                let mut changed = Vec::new();
                if let Some(v) = &req.name {
                    e.name = v.clone();
                    changed.push("name");
                }
                if let Some(v) = &req.display_id {
                    e.display_id = v.clone();
                    changed.push("display_id");
                }
                if let Some(v) = &req.description {
                    e.description = v.clone();
                    changed.push("description");
                }
                if let Some(v) = &req.category {
                    e.category = (!v.is_empty()).then(|| v.clone());
                    changed.push("category");
                }
                if let Some(f) = folder {
                    e.folder = f;
                    changed.push("folder");
                }
                if let Some(d) = req.do_not_disclose {
                    e.do_not_disclose = d;
                    changed.push(if d {
                        "do_not_disclose=on"
                    } else {
                        "do_not_disclose=off"
                    });
                }
                Ok::<_, ApiError>(format!("changed {}", changed.join(",")))
            })?;
    crate::routes::cases::notify_partners(&state, case.id);
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
    caller.require(&state, Action::EditCase)?;
    let case = caller.whole_case(&state, &case)?;
    let ev = state.store.resolve_evidence(case.id, &evidence)?;
    state.store.delete_evidence(
        ev.id,
        &caller.actor(&state),
        actions::EVIDENCE_DELETE,
        "deleted by user",
    )?;
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
    caller.require(&state, Action::EditCase)?;
    validate_name(&q.name)?;
    let case = caller.whole_case(&state, &case)?;
    let ev = state.store.resolve_evidence(case.id, &evidence)?;
    let (hash, size, _guard) = ingest(&state.store, body).await?;
    let t = Transcript {
        id: TranscriptId::random(),
        name: q.name.clone(),
        hash,
        size,
    };
    let ev = state
        .store
        .add_transcript(ev.id, &t, &caller.actor(&state))?;
    state.store.flush().await?;
    // A transcript added after a share follows the item to the partner (issue #15 item 9).
    super::cases::notify_partners(&state, case.id);
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
    let (case, vis) = caller.case(&state, &case)?;
    let ev = caller.evidence(&state, &case, &vis, &evidence)?;
    let t = ev
        .transcripts
        .iter()
        .find(|t| t.id.to_string() == transcript || t.name == transcript)
        .ok_or_else(|| ApiError::not_found(format!("transcript {transcript:?}")))?;
    state.store.audit(
        case.id,
        &caller.actor(&state),
        actions::EVIDENCE_DOWNLOAD,
        Some(ev.id),
        &format!("transcript {:?}", t.name),
    )?;
    blob_response(&state.store, t.hash, "text/plain", &t.name).await
}
