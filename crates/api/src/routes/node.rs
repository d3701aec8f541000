//! Node-wide routes: health, node identity, settings, blob store, retention sweep. Adapters over
//! `node.admin()` and `node.retention()`: extract, call, map the error.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::State;
pub use casemesh_api_types::node::{
    BlobStats, BlobVerifyReport, EditSettings, GcReport, Health, NodeInfo, Ready, ReadyPart,
    Removed, SettingsView, SpaceQuery, SpaceView, StorageView, SweepReport,
};
use casemesh_service::SettingsEdit;
use casemesh_service::config::BlobLocation;

/// Whether an upload of `bytes` fits: 200 with the free space, or 507 `insufficient_storage`
/// (nothing changes either way). The CLI asks before it streams a file, so a full disk is
/// reported before any byte is sent; the upload itself checks again. With `[storage] backend =
/// "s3"` the blob goes to the bucket and nothing is refused for local space (`available` is
/// still the data directory's).
#[utoipa::path(get, path = "/v1/blobs/space", operation_id = "check_blob_space", tag = "node", params(SpaceQuery),
    responses((status = 200, body = SpaceView), (status = 507, body = ErrorBody)))]
pub async fn blob_space(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<SpaceQuery>,
) -> ApiResult<Json<SpaceView>> {
    let space = state.node.admin().check_space(q.bytes)?;
    Ok(Json(SpaceView {
        available: space.available,
        reserve: space.reserve,
    }))
}

/// Liveness (no token needed).
#[utoipa::path(get, path = "/healthz", operation_id = "get_health", tag = "node", security(()), responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness (no token needed): 200 when the store, the sharing engine, the net actor and the
/// blob store (the blob directory, or the bucket) each answer within 2 s, else 503 naming the
/// failing parts. A node shutting down is not ready.
#[utoipa::path(get, path = "/readyz", operation_id = "get_readiness", tag = "node", security(()),
    responses((status = 200, body = Ready), (status = 503, body = Ready)))]
pub async fn readyz(State(state): State<AppState>) -> (axum::http::StatusCode, Json<Ready>) {
    let r = state.node.readiness().await;
    let status = if r.is_ready() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    let ready = Ready {
        status: if r.is_ready() { "ok" } else { "unavailable" }.into(),
        failing: r.failing().map(|p| p.part.to_owned()).collect(),
        parts: r
            .parts
            .into_iter()
            .map(|p| ReadyPart {
                part: p.part.to_owned(),
                ok: p.error.is_none(),
                error: p.error,
            })
            .collect(),
    };
    (status, Json(ready))
}

/// Prometheus metrics in OpenMetrics text (no token needed; the admin listener is on loopback
/// by default). Figure names and labels: docs/operations.md.
#[utoipa::path(get, path = "/metrics", operation_id = "get_metrics", tag = "node", security(()),
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            casemesh_service::metrics::CONTENT_TYPE,
        )],
        state.node.render_metrics().await,
    )
}

/// This node's identity.
#[utoipa::path(get, path = "/v1/node", operation_id = "get_node_info", tag = "node", responses((status = 200, body = NodeInfo), (status = 401, body = ErrorBody)))]
pub async fn info(State(state): State<AppState>, _caller: Caller) -> Json<NodeInfo> {
    Json(NodeInfo {
        org_name: state.org.name.clone(),
        org_id: state.org.id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        admin_addr: state
            .admin_addr
            .read()
            .map(|a| a.clone())
            .unwrap_or_default(),
        storage: match state.node.blob_location() {
            BlobLocation::Fs => StorageView {
                backend: "fs".into(),
                endpoint: None,
                bucket: None,
            },
            BlobLocation::S3 { endpoint, bucket } => StorageView {
                backend: "s3".into(),
                endpoint: Some(endpoint.clone()),
                bucket: Some(bucket.clone()),
            },
        },
        max_send_rate: state.node.max_send_rate(),
    })
}

/// Read the organization's settings.
#[utoipa::path(get, path = "/v1/settings", operation_id = "get_settings", tag = "node", responses((status = 200, body = SettingsView)))]
pub async fn settings(State(state): State<AppState>, _caller: Caller) -> Json<SettingsView> {
    Json(SettingsView::from(&state.settings()))
}

/// Change settings (administrators); persisted to the node's config file.
#[utoipa::path(patch, path = "/v1/settings", operation_id = "edit_settings", request_body = EditSettings, tag = "node",
    responses((status = 200, body = SettingsView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn edit_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<EditSettings>,
) -> ApiResult<Json<SettingsView>> {
    let edit = SettingsEdit {
        features: req.features.unwrap_or_default().into_iter().collect(),
        default_retention: req.default_retention.map(|r| r.map(Into::into)),
        auto_import: req.auto_import,
        share_directory: req.share_directory,
        intake_address: req.intake_address,
    };
    let s = state.node.admin().edit_settings(&caller, &edit)?;
    Ok(Json(SettingsView::from(&s)))
}

/// Blob store statistics.
#[utoipa::path(get, path = "/v1/blobs", operation_id = "get_blob_stats", tag = "node", responses((status = 200, body = BlobStats)))]
pub async fn blob_stats(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<BlobStats>> {
    let (count, bytes) = state.node.admin().blob_stats()?;
    Ok(Json(BlobStats { count, bytes }))
}

/// Remove blobs no record references (administrators).
#[utoipa::path(post, path = "/v1/blobs/gc", operation_id = "collect_blob_garbage", tag = "node", responses((status = 200, body = GcReport), (status = 403, body = ErrorBody)))]
pub async fn blob_gc(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<GcReport>> {
    let (removed, bytes_freed) = state.node.admin().gc(&caller).await?;
    Ok(Json(GcReport {
        removed,
        bytes_freed,
    }))
}

/// Check every blob any record references: present, and hashing to its name (reads every
/// referenced byte). Administrators. Always 200; the report says what is wrong.
#[utoipa::path(get, path = "/v1/blobs/verify", operation_id = "verify_blobs", tag = "node", responses((status = 200, body = BlobVerifyReport), (status = 403, body = ErrorBody)))]
pub async fn blob_verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<BlobVerifyReport>> {
    let report = state.node.admin().verify_blobs(&caller).await?;
    Ok(Json(BlobVerifyReport {
        ok: report.ok,
        missing: report.missing,
        corrupt: report.corrupt,
        unreferenced: report.unreferenced,
    }))
}

/// Run the retention sweeper now (administrators); it also runs periodically.
#[utoipa::path(post, path = "/v1/retention/sweep", operation_id = "sweep_retention", tag = "node", responses((status = 200, body = SweepReport), (status = 403, body = ErrorBody)))]
pub async fn retention_sweep(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SweepReport>> {
    let removed = state.node.retention().sweep_as(&caller).await?;
    Ok(Json(SweepReport {
        removed: removed.into_iter().map(Removed::from).collect(),
    }))
}
