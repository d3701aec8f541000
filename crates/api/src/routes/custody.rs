//! Custody route: a case's custody timeline (issue #13, item 4).

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use axum::extract::State;
use casemesh_model::audit::actions;
use casemesh_model::timeline::CustodyEvent;
use serde::Serialize;
use utoipa::ToSchema;

/// A case's custody timeline: every event that moved or exposed its evidence, across
/// organizations, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustodyTimeline {
    /// The case's record id.
    pub case: String,
    /// Its Case ID (case number).
    pub case_id: String,
    /// Events, oldest first: `kind`, `org`, `user` (null for a system or another organization's
    /// node), `at` (RFC 3339, UTC), `evidence`, `details`, and `proof` — `{type: "audit", seq,
    /// hash}` (an entry of this node's hash-chained audit trail) or `{type: "signed",
    /// signed_by, signature, wire}` (a statement signed by that organization: a grant, a holding
    /// receipt or a stop acknowledgement).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<CustodyEvent>,
}

/// A case's custody timeline. Reading it is written to the case's audit trail (`audit.view`).
#[utoipa::path(get, path = "/v1/cases/{case}/custody", operation_id = "get_custody_timeline", tag = "audit",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CustodyTimeline), (status = 404, body = ErrorBody)))]
pub async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<CustodyTimeline>> {
    let case = caller.whole_case(&state, &case)?;
    let events = state.sharing.custody_timeline(case.id)?;
    state.store.audit(
        case.id,
        &caller.actor(&state),
        actions::AUDIT_VIEW,
        None,
        "custody timeline",
    )?;
    Ok(Json(CustodyTimeline {
        case: case.id.to_string(),
        case_id: case.case_number.clone(),
        events,
    }))
}
