//! The retention sweeper: removes evidence past its case's retention and records each removal in
//! the case's audit trail, then collects the freed blobs.

use crate::error::ApiResult;
use crate::state::AppState;
use casemesh_model::audit::actions;
use casemesh_model::retention::{effective_policy, is_expired};
use casemesh_model::time::Timestamp;
use casemesh_store::Actor;
use serde::Serialize;
use utoipa::ToSchema;

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

/// Remove every evidence item past retention now. With Configurable Case Retention disabled
/// nothing is ever removed.
pub async fn sweep(state: &AppState) -> ApiResult<Vec<Removed>> {
    let configurable = state.settings().features.configurable_retention;
    let now = state.clock.now();
    let actor = Actor::new("system", now);
    let mut removed = Vec::new();
    for case in state.store.cases()? {
        let policy = effective_policy(case.retention, configurable);
        // Not even an item added at the epoch would be expired: nothing in this case is, and
        // its items need not be read (most cases keep evidence until manually deleted).
        if !is_expired(case.retention, configurable, Timestamp(0), now) {
            continue;
        }
        let expired: Vec<_> = state
            .store
            .case_evidence_iter(case.id)?
            .filter(|ev| {
                ev.as_ref().map_or(true, |ev| {
                    is_expired(case.retention, configurable, ev.added_at, now)
                })
            })
            .collect::<Result<_, _>>()?;
        for ev in expired {
            state.store.delete_evidence(
                ev.id,
                &actor,
                actions::RETENTION_SWEEP,
                &format!("past retention ({policy})"),
            )?;
            tracing::info!(case = %case.id, evidence = %ev.id, "removed by retention");
            removed.push(Removed {
                case: case.id.to_string(),
                evidence: ev.id.to_string(),
                name: ev.name,
            });
        }
    }
    if !removed.is_empty() {
        state.store.flush().await?;
        state.store.gc().await?;
    }
    Ok(removed)
}
