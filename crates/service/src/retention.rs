//! The retention sweeper: removes evidence past its case's retention and records each removal in
//! the case's audit trail, then collects the freed blobs. The node runs it periodically
//! (`[retention] sweep_interval_secs`); an administrator runs it on demand
//! ([`Retention::sweep_as`], behind `POST /v1/retention/sweep`).

use crate::caller::Caller;
use casemesh_model::audit::actions;
use casemesh_model::ids::{CaseId, EvidenceId};
use casemesh_model::org::{Action, Denied, Settings};
use casemesh_model::retention::{effective_policy, is_expired};
use casemesh_model::time::Timestamp;
use casemesh_store::{Actor, Clock, Store, StoreError};
use std::sync::{Arc, RwLock};

/// One evidence item the sweeper removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Case record id.
    pub case: CaseId,
    /// Evidence id.
    pub evidence: EvidenceId,
    /// Evidence name.
    pub name: String,
}

/// Why a sweep stopped. Items removed before the failure stay removed (each removal commits with
/// its audit entry); the next sweep carries on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// The caller may not run the sweeper (it needs the `administer` permission); nothing was
    /// removed.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The store failed: retry later.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sweeper: cheap to clone.
#[derive(Clone)]
pub struct Retention {
    store: Store,
    settings: Arc<RwLock<Settings>>,
    clock: Clock,
}

impl Retention {
    /// A sweeper over `store`, reading the feature flags from `settings`.
    pub fn new(store: Store, settings: Arc<RwLock<Settings>>, clock: Clock) -> Retention {
        Retention {
            store,
            settings,
            clock,
        }
    }

    /// [`Retention::sweep`] on behalf of `caller`, who must administer this node (the
    /// `administer` permission, with the organization's feature flags): `Err(Denied)` and
    /// nothing removed otherwise.
    pub async fn sweep_as(&self, caller: &Caller) -> Result<Vec<Removed>, SweepError> {
        let features = self
            .settings
            .read()
            .map(|s| s.features.clone())
            .unwrap_or_default();
        caller.require(&features, Action::Administer)?;
        self.sweep().await
    }

    /// Remove every evidence item past retention now, as the system (the periodic sweeper). With
    /// Configurable Case Retention disabled nothing is ever removed.
    pub async fn sweep(&self) -> Result<Vec<Removed>, SweepError> {
        let configurable = self
            .settings
            .read()
            .map(|s| s.features.configurable_retention)
            .unwrap_or_default();
        let now = self.clock.now();
        let actor = Actor::new("system", now);
        let store = &self.store;
        let mut removed = Vec::new();
        for case in store.cases()? {
            let policy = effective_policy(case.retention, configurable);
            // Not even an item added at the epoch would be expired: nothing in this case is, and
            // its items need not be read (most cases keep evidence until manually deleted).
            if !is_expired(case.retention, configurable, Timestamp(0), now) {
                continue;
            }
            let expired: Vec<_> = store
                .case_evidence_iter(case.id)?
                .filter(|ev| {
                    ev.as_ref().map_or(true, |ev| {
                        is_expired(case.retention, configurable, ev.added_at, now)
                    })
                })
                .collect::<Result<_, _>>()?;
            for ev in expired {
                store.delete_evidence(
                    ev.id,
                    &actor,
                    actions::RETENTION_SWEEP,
                    &format!("past retention ({policy})"),
                )?;
                tracing::info!(case = %case.id, evidence = %ev.id, "removed by retention");
                removed.push(Removed {
                    case: case.id,
                    evidence: ev.id,
                    name: ev.name,
                });
            }
        }
        if !removed.is_empty() {
            store.flush().await?;
            store.gc().await?;
        }
        Ok(removed)
    }
}
