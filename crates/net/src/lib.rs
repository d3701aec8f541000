//! casemesh-net: the transport and trust layer between partner organizations.
//!
//! Every node has one ed25519 key; its libp2p PeerId is the org id. Nodes talk over
//! TCP + Noise + Yamux and only with registered partners: a connection from anyone else is
//! denied as soon as Noise has proven the remote's identity, before any casemesh protocol runs.
//! On top run identify, ping, and two casemesh protocols (specified in `docs/protocol.md`):
//!
//! - `/casemesh/control/1` — request-response carrying an opaque envelope
//!   ([`ControlRequest`] → [`ControlResponse`]) whose `kind` the node interprets
//!   (registry: [`MessageKind`]).
//! - `/casemesh/blob/3` — long-lived streams ("lanes", a few per partner) carrying pipelined
//!   blob requests; blobs travel as BLAKE3-verified bao streams, with a per-request permission
//!   check ([`BlobServer`]) and resumable, verified fetches; a batched request fetches many
//!   small blobs under one permission check ([`NetHandle::fetch_small_blobs`]).
//!   `/casemesh/blob/2` (lanes without batches) and `/casemesh/blob/1` (one transfer per
//!   stream) are still served, and spoken to partners that lack the newer versions.
//!
//! Layout: [`config`] (settings and connection limits), `handle` ([`start`], [`NetHandle`], [`Event`]), `actor` (the
//! swarm event loop), `gate` (allow list), `control` (codec), `blob` (fetch, partial files),
//! `lane` (the requester's lanes), `serve` (serving, per-partner limits, outboards), `inbound`
//! (inbound blob streams, without loss), `stats` (traffic counters, [`NetMetrics`]), `throttle` (the send-rate limit), [`wire`] (formats and limits), [`error`].
//!
//! ```no_run
//! # async fn demo(server: std::sync::Arc<dyn casemesh_net::BlobServer>) -> Result<(), casemesh_net::NetError> {
//! use casemesh_net::{Config, Partner, start};
//! let (net, mut events) = start(Config::new([7u8; 32], "/var/lib/casemesh/partial"), server).await?;
//! net.set_partners(vec![/* Partner { peer_id, addrs, name } */]).await?;
//! while let Some(event) = events.recv().await {
//!     // answer Event::ControlRequest through its `reply`
//! }
//! # Ok(()) }
//! ```

mod actor;
mod blob;
pub mod config;
mod control;
pub mod error;
mod fair;
mod gate;
mod handle;
mod inbound;
mod lane;
mod muxer;
mod serve;
mod stats;
mod throttle;
pub mod wire;

pub use blob::{
    BatchItem, BlobServer, BlobSource, FetchedBlob, MAX_BATCH_BLOB, MAX_BATCH_BYTES, REMOTE_WINDOW,
    RangeRead,
};
pub use config::{Config, ConnectionLimits};
pub use error::{NetError, Refusal, RefusalCode};
pub use handle::{Event, NetHandle, Partner, PeerInfo, peer_id_from_secret, start};
pub use libp2p::{Multiaddr, PeerId};
pub use stats::NetMetrics;
pub use tokio_util::sync::CancellationToken;
pub use wire::{ControlRequest, ControlResponse, ControlStatus, MessageKind};
