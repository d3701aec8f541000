//! Readiness: whether the node can do its work now (`GET /readyz`), as opposed to liveness
//! (`GET /healthz`: the process answers HTTP).
//!
//! Three parts are asked, side by side, each within [`PROBE_TIMEOUT`]:
//! - `store`: a read of the database (the users table), on a blocking thread;
//! - `sharing`: the sharing engine answers: it is not shut down and reads its partners and their
//!   outbox queues through its own API;
//! - `net`: the libp2p actor answers a command over its channel (its listen addresses): a stuck
//!   or ended actor times out or errors;
//! - `blobs`: where the evidence blobs live can be reached: the blob directory is there
//!   (`[storage] backend = "fs"`), or the bucket answers a listing of at most a page (`"s3"`;
//!   the answer is kept [`casemesh_blobs_s3::backend::READY_KEPT`] so that frequent probes do
//!   not each ask the object store, and a store that does not answer fails the part within
//!   [`PROBE_TIMEOUT`]).
//!
//! A node that is shutting down is not ready (every part says so), so a load balancer stops
//! sending to it first. The answer names each failing part and why ([`Readiness::failing`]).

use crate::Node;
use std::future::Future;
use std::time::Duration;

/// How long one part may take to answer before it counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The parts `/readyz` checks, in the order they are reported.
pub const PARTS: [&str; 4] = ["store", "sharing", "net", "blobs"];

/// What one part said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartStatus {
    /// `store`, `sharing`, `net` or `blobs`.
    pub part: &'static str,
    /// `None` when it answered well; else why not.
    pub error: Option<String>,
}

/// The readiness of the node: every part's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// One entry per part, in [`PARTS`] order.
    pub parts: Vec<PartStatus>,
}

impl Readiness {
    /// Whether every part answered.
    pub fn is_ready(&self) -> bool {
        self.parts.iter().all(|p| p.error.is_none())
    }

    /// The parts that did not answer.
    pub fn failing(&self) -> impl Iterator<Item = &PartStatus> {
        self.parts.iter().filter(|p| p.error.is_some())
    }
}

/// Run one probe within `timeout`: its error, a timeout or a panic all count as down.
pub async fn probe<F, E>(part: &'static str, timeout: Duration, check: F) -> PartStatus
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let error = match tokio::time::timeout(timeout, check).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("did not answer within {} ms", timeout.as_millis())),
    };
    PartStatus { part, error }
}

impl Node {
    /// Ask the store, the sharing engine, the net actor and the blob store (see
    /// [`crate::readiness`]).
    pub async fn readiness(&self) -> Readiness {
        if self.inner.cancel.is_cancelled() {
            return Readiness {
                parts: PARTS
                    .iter()
                    .map(|&part| PartStatus {
                        part,
                        error: Some("the node is shutting down".to_owned()),
                    })
                    .collect(),
            };
        }
        let store = probe("store", PROBE_TIMEOUT, {
            let store = self.store().clone();
            let tasks = self.inner.request_tasks.clone();
            async move {
                tasks
                    .blocking(move || store.users().map(drop).map_err(|e| e.to_string()))
                    .await
                    .map_err(|e| format!("read task failed: {e}"))?
            }
        });
        let sharing = probe("sharing", PROBE_TIMEOUT, {
            let node = self.clone();
            async move {
                node.clone()
                    .blocking(move || {
                        let engine = node.sharing();
                        for p in engine.partners().map_err(|e| e.to_string())? {
                            engine.dead_letters(&p.peer_id).map_err(|e| e.to_string())?;
                        }
                        Ok::<_, String>(())
                    })
                    .await
                    .map_err(|e| format!("engine task failed: {e}"))?
            }
        });
        let net = probe("net", PROBE_TIMEOUT, async {
            self.sharing().listen_addrs().await.map(drop)
        });
        let blobs = probe("blobs", PROBE_TIMEOUT, {
            let blobs = self.store().blobs().clone();
            // A little less than the probe's bound, so that the store's own message (what it
            // answered, or that it did not in time) is what the part reports.
            async move { blobs.ready(PROBE_TIMEOUT.mul_f32(0.9)).await }
        });
        let (store, sharing, net, blobs) = tokio::join!(store, sharing, net, blobs);
        Readiness {
            parts: vec![store, sharing, net, blobs],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_part_that_errs_or_hangs_is_named_as_failing() {
        let ok = probe("store", PROBE_TIMEOUT, async { Ok::<_, String>(()) }).await;
        let err = probe("sharing", PROBE_TIMEOUT, async {
            Err::<(), _>("the engine is stopped")
        })
        .await;
        let hung = probe(
            "net",
            Duration::from_millis(20),
            std::future::pending::<Result<(), String>>(),
        )
        .await;
        assert_eq!(ok.error, None);
        assert_eq!(err.error.as_deref(), Some("the engine is stopped"));
        assert_eq!(hung.error.as_deref(), Some("did not answer within 20 ms"));
        let r = Readiness {
            parts: vec![ok.clone(), err, hung],
        };
        assert!(!r.is_ready());
        assert_eq!(
            r.failing().map(|p| p.part).collect::<Vec<_>>(),
            ["sharing", "net"]
        );
        assert!(Readiness { parts: vec![ok] }.is_ready());
    }
}
