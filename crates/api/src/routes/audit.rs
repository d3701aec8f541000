//! Audit routes: read a case's trail, verify its chain.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use axum::extract::State;
use casemesh_model::audit::{AuditEntry, ChainHead, actions};
use serde::Serialize;
use utoipa::ToSchema;

/// A case's audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrail {
    /// Entries, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<AuditEntry>,
    /// The recorded end of the chain (`len`, `hash`).
    #[schema(value_type = Object)]
    pub head: ChainHead,
}

/// Result of verifying a trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerify {
    /// The chain is intact.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// The first break found, if any.
    pub error: Option<String>,
}

/// Read a case's audit trail.
#[utoipa::path(get, path = "/v1/cases/{case}/audit", operation_id = "get_audit_trail", tag = "audit",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = AuditTrail), (status = 404, body = ErrorBody)))]
pub async fn trail(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<AuditTrail>> {
    let case = caller.whole_case(&state, &case)?;
    state.store.audit(
        case.id,
        &caller.actor(&state),
        actions::AUDIT_VIEW,
        None,
        "",
    )?;
    let (entries, head) = state.store.audit_trail(case.id)?;
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
    let case = caller.whole_case(&state, &case)?;
    let (entries, result) = state.store.verify_audit(case.id)?;
    Ok(Json(AuditVerify {
        ok: result.is_ok(),
        entries,
        error: result.err().map(|e| e.to_string()),
    }))
}
