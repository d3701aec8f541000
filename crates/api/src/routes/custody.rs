//! Custody route: a case's custody timeline (issue #13, item 4). An adapter over
//! `node.audit().custody`.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use axum::extract::State;
pub use casemesh_api_types::audit::CustodyTimeline;

/// A case's custody timeline. Reading it is written to the case's audit trail (`audit.view`).
#[utoipa::path(get, path = "/v1/cases/{case}/custody", operation_id = "get_custody_timeline", tag = "audit",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = CustodyTimeline), (status = 404, body = ErrorBody)))]
pub async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<CustodyTimeline>> {
    let (case, events) = state.node.audit().custody(&caller, &case)?;
    Ok(Json(CustodyTimeline {
        case: case.id,
        case_id: case.case_number.clone(),
        events,
    }))
}
