//! Per-peer traffic counters shared between the actor (control messages) and the blob
//! transfer tasks (stream bytes, transfers in flight). Lock-free on the hot path: a transfer
//! looks its counters up once and then only touches atomics. Also [`NetMetrics`]: libp2p's own
//! metrics, registered in the node's Prometheus registry.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use libp2p::PeerId;

/// Counters of one peer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) msgs_sent: AtomicU64,
    pub(crate) msgs_received: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) transfers_in_flight: AtomicU64,
}

impl Counters {
    pub(crate) fn add(field: &AtomicU64, n: u64) {
        field.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(field: &AtomicU64) -> u64 {
        field.load(Ordering::Relaxed)
    }

    /// Count a transfer as in flight until the returned guard drops.
    pub(crate) fn transfer(self: &Arc<Self>) -> TransferGuard {
        self.transfers_in_flight.fetch_add(1, Ordering::Relaxed);
        TransferGuard(self.clone())
    }
}

/// Decrements the in-flight count on drop.
pub(crate) struct TransferGuard(Arc<Counters>);

impl Drop for TransferGuard {
    fn drop(&mut self) {
        self.0.transfers_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// All peers' counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    peers: Mutex<HashMap<PeerId, Arc<Counters>>>,
}

impl Stats {
    pub(crate) fn peer(&self, peer: &PeerId) -> Arc<Counters> {
        let mut map = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(*peer).or_default().clone()
    }
}

/// libp2p's own metrics of a node (the `libp2p-metrics` crate): connections established and
/// closed (with durations), dial and listen errors, incoming connection errors, identify and ping
/// figures. Recorded by the swarm actor as it sees the events, rendered by the registry they
/// were registered in (the node's `/metrics`, under `<prefix>_libp2p_*`).
///
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct NetMetrics(pub(crate) std::sync::Arc<libp2p::metrics::Metrics>);

impl NetMetrics {
    /// Register libp2p's metric families in `registry` (as a `libp2p` sub-registry) and return
    /// the recorder to hand to [`crate::Config::with_metrics`]. Register once per registry:
    /// a second registration would repeat the family names.
    pub fn register(registry: &mut prometheus_client::registry::Registry) -> NetMetrics {
        NetMetrics(std::sync::Arc::new(libp2p::metrics::Metrics::new(registry)))
    }

    /// Record one event the swarm reported.
    pub(crate) fn record<E>(&self, event: &E)
    where
        libp2p::metrics::Metrics: libp2p::metrics::Recorder<E>,
    {
        libp2p::metrics::Recorder::record(&*self.0, event);
    }
}

impl std::fmt::Debug for NetMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetMetrics").finish_non_exhaustive()
    }
}
