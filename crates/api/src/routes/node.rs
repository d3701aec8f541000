//! Node-wide routes: health, node identity, settings, blob store, retention sweep.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Query};
use crate::state::{AppState, Settings};
use crate::views::RetentionView;
use axum::extract::State;
use casemesh_model::org::Action;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the node answers.
    pub status: String,
}

/// Who this node is.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeInfo {
    /// Organization name.
    pub org_name: String,
    /// Organization id (libp2p PeerId).
    pub org_id: String,
    /// casemesh version.
    pub version: String,
    /// The admin endpoint's address.
    pub admin_addr: String,
}

/// Settings as the API shows them.
#[derive(Debug, Serialize, ToSchema)]
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

/// Body of `PATCH /v1/settings`: any subset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditSettings {
    /// Feature flags to change, by name (`{"case_share_links": false}`).
    #[schema(value_type = Object)]
    pub features: Option<serde_json::Map<String, serde_json::Value>>,
    /// New default retention; JSON null clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<RetentionView>)]
    pub default_retention: Option<Option<RetentionView>>,
    /// Auto-import received shares.
    pub auto_import: Option<bool>,
    /// Let partners look up users and groups.
    pub share_directory: Option<bool>,
    /// The intake address for partner-named addresses not in the directory; `""` clears it.
    pub intake_address: Option<String>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<RetentionView>>, D::Error> {
    Option::<RetentionView>::deserialize(d).map(Some)
}

/// Blob store statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlobStats {
    /// Blobs on disk.
    pub count: u64,
    /// Their total size.
    pub bytes: u64,
}

/// Result of garbage collection.
#[derive(Debug, Serialize, ToSchema)]
pub struct GcReport {
    /// Blobs removed.
    pub removed: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
}

/// Result of `GET /v1/blobs/verify`: every referenced blob checked against its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlobVerifyReport {
    /// Referenced blobs present and intact.
    pub ok: u64,
    /// Referenced blobs whose file is gone (BLAKE3 hex).
    pub missing: Vec<String>,
    /// Referenced blobs whose bytes no longer match their hash (BLAKE3 hex).
    pub corrupt: Vec<String>,
    /// Blobs on disk that no record references (what `gc` would remove).
    pub unreferenced: u64,
}

/// Query of `GET /v1/blobs/space`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SpaceQuery {
    /// Bytes the caller is about to upload.
    pub bytes: u64,
}

/// Free space for evidence, from `GET /v1/blobs/space`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpaceView {
    /// Bytes free on the blob store's file system.
    pub available: u64,
    /// Bytes kept free for the database and audit trail (an upload may not eat into them).
    pub reserve: u64,
}

/// Whether an upload of `bytes` fits: 200 with the free space, or 507 `insufficient_storage`
/// (nothing changes either way). The CLI asks before it streams a file, so a full disk is
/// reported before any byte is sent; the upload itself checks again.
#[utoipa::path(get, path = "/v1/blobs/space", operation_id = "check_blob_space", tag = "node", params(SpaceQuery),
    responses((status = 200, body = SpaceView), (status = 507, body = ErrorBody)))]
pub async fn blob_space(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<SpaceQuery>,
) -> ApiResult<Json<SpaceView>> {
    state.store.blobs().check_space(q.bytes)?;
    let available = state.store.blobs().available_space()?;
    Ok(Json(SpaceView {
        available,
        reserve: casemesh_store::blobs::SPACE_RESERVE,
    }))
}

/// One evidence item the sweeper removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Removed {
    /// Case record id.
    pub case: String,
    /// Evidence id.
    pub evidence: String,
    /// Evidence name.
    pub name: String,
}

impl From<casemesh_service::Removed> for Removed {
    fn from(r: casemesh_service::Removed) -> Removed {
        Removed {
            case: r.case.to_string(),
            evidence: r.evidence.to_string(),
            name: r.name,
        }
    }
}

/// Result of a retention sweep.
#[derive(Debug, Serialize, ToSchema)]
pub struct SweepReport {
    /// Evidence removed.
    pub removed: Vec<Removed>,
}

/// Liveness (no token needed).
#[utoipa::path(get, path = "/healthz", operation_id = "get_health", tag = "node", security(()), responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// One part of `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyPart {
    /// `store`, `sharing` or `net`.
    pub part: String,
    /// Whether it answered.
    pub ok: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
}

/// `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ok`, or `unavailable` (HTTP 503).
    pub status: String,
    /// The parts that did not answer, e.g. `["net"]`.
    pub failing: Vec<String>,
    /// Every part checked.
    pub parts: Vec<ReadyPart>,
}

/// Readiness (no token needed): 200 when the store, the sharing engine and the net actor each
/// answer within 2 s, else 503 naming the failing parts. A node shutting down is not ready.
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
    caller.require(&state, Action::Administer)?;
    let mut s = state.settings();
    if let Some(changes) = req.features {
        let mut flags =
            serde_json::to_value(&s.features).map_err(|e| ApiError::internal(e.to_string()))?;
        for (k, v) in changes {
            let Some(slot) = flags.get_mut(&k) else {
                return Err(ApiError::bad_request(format!("unknown feature {k:?}")));
            };
            if !v.is_boolean() {
                return Err(ApiError::bad_request(format!(
                    "feature {k:?} must be true or false"
                )));
            }
            *slot = v;
        }
        s.features =
            serde_json::from_value(flags).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    if let Some(r) = req.default_retention {
        s.default_retention = r.map(Into::into);
    }
    if let Some(d) = req.share_directory {
        s.share_directory = d;
    }
    if let Some(a) = req.auto_import {
        s.auto_import = a;
    }
    if let Some(i) = &req.intake_address {
        let i = i.trim();
        if !i.is_empty() && !casemesh_sharing::mail::is_valid_address(i) {
            return Err(ApiError::bad_request(format!(
                "intake address {i:?} is not an email address"
            )));
        }
        s.intake_address = (!i.is_empty()).then(|| i.to_owned());
    }
    state
        .settings_sink
        .save(&s)
        .map_err(|e| ApiError::internal(format!("saving settings: {e}")))?;
    if let Ok(mut cur) = state.settings.write() {
        *cur = s.clone();
    }
    tracing::info!(by = %caller.user.username, "settings changed");
    Ok(Json(SettingsView::from(&s)))
}

/// Blob store statistics.
#[utoipa::path(get, path = "/v1/blobs", operation_id = "get_blob_stats", tag = "node", responses((status = 200, body = BlobStats)))]
pub async fn blob_stats(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<BlobStats>> {
    let list = state.store.blobs().list()?;
    Ok(Json(BlobStats {
        count: list.len() as u64,
        bytes: list.iter().map(|(_, s)| s).sum(),
    }))
}

/// Remove blobs no record references (administrators).
#[utoipa::path(post, path = "/v1/blobs/gc", operation_id = "collect_blob_garbage", tag = "node", responses((status = 200, body = GcReport), (status = 403, body = ErrorBody)))]
pub async fn blob_gc(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<GcReport>> {
    caller.require(&state, Action::Administer)?;
    let (removed, bytes_freed) = state.store.gc().await?;
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
    caller.require(&state, Action::Administer)?;
    let store = state.store.clone();
    let report = tokio::task::spawn_blocking(move || store.verify_blobs())
        .await
        .map_err(|e| ApiError::internal(format!("verify task: {e}")))??;
    Ok(Json(BlobVerifyReport {
        ok: report.ok,
        missing: report.missing.iter().map(|h| h.to_string()).collect(),
        corrupt: report.corrupt.iter().map(|h| h.to_string()).collect(),
        unreferenced: report.unreferenced,
    }))
}

/// Run the retention sweeper now (administrators); it also runs periodically.
#[utoipa::path(post, path = "/v1/retention/sweep", operation_id = "sweep_retention", tag = "node", responses((status = 200, body = SweepReport), (status = 403, body = ErrorBody)))]
pub async fn retention_sweep(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SweepReport>> {
    caller.require(&state, Action::Administer)?;
    let removed = state.node.retention().sweep().await?;
    Ok(Json(SweepReport {
        removed: removed.into_iter().map(Removed::from).collect(),
    }))
}
