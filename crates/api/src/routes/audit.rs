//! Audit routes: read a case's trail, verify its chain. Adapters over `node.audit()`.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use axum::extract::State;
pub use casemesh_api_types::audit::{AuditTrail, AuditVerify};

/// Read a case's audit trail.
#[utoipa::path(get, path = "/v1/cases/{case}/audit", operation_id = "get_audit_trail", tag = "audit",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = AuditTrail), (status = 404, body = ErrorBody)))]
pub async fn trail(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<AuditTrail>> {
    let (entries, head) = state.node.audit().trail(&caller, &case)?;
    Ok(Json(AuditTrail { entries, head }))
}

/// Verify a case's audit chain: any edited, reordered or removed entry is reported.
#[utoipa::path(get, path = "/v1/cases/{case}/audit/verify", operation_id = "verify_audit_trail", tag = "audit",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = AuditVerify), (status = 404, body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<AuditVerify>> {
    let v = state.node.audit().verify(&caller, &case)?;
    Ok(Json(AuditVerify {
        ok: v.error.is_none(),
        entries: v.entries,
        error: v.error,
    }))
}
