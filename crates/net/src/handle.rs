//! The public face of the net layer: [`start`] builds the swarm and spawns the actor;
//! [`NetHandle`] is the cheap, cloneable handle the node uses; [`Event`]s come out of the
//! returned receiver; [`Partner`] and [`PeerInfo`] describe partners.

use std::{sync::Arc, time::Duration};

use casemesh_model::ids::BlobHash;
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, identify, identity, noise, ping, request_response,
    swarm::SwarmEvent, tcp,
};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::{
    actor::{Behaviour, Command, NetActor},
    blob::{self, BlobCtx, BlobServer, BlobSource, FetchArgs, FetchedBlob},
    config::Config,
    control::ControlCodec,
    error::NetError,
    gate::Gate,
    inbound::{self, Inbound},
    lane::Lanes,
    serve::{self, ServeLimits},
    stats::Stats,
    wire::{CONTROL_PROTOCOL, ControlRequest, ControlResponse, IDENTIFY_PROTOCOL_VERSION},
};

/// A registered partner organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// The partner's PeerId (its org id).
    pub peer_id: PeerId,
    /// Where to reach it. May be empty if the partner only dials us.
    pub addrs: Vec<Multiaddr>,
    /// Display name, for operators.
    pub name: String,
}

/// Operator view of one partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The partner's PeerId.
    pub peer_id: PeerId,
    /// Display name as registered.
    pub name: String,
    /// Whether at least one connection is open and confirmed (the partner ran identify on it).
    pub connected: bool,
    /// Whether the partner's gate closed this node's last connection before any protocol ran:
    /// it has not registered this node as a partner (issue #15 item 5). False while connected
    /// and once a dial fails outright (then it is offline).
    pub refused_by_partner: bool,
    /// Registered addresses.
    pub addrs: Vec<Multiaddr>,
    /// Last activity (connection change, identify, ping, message), ms since the Unix epoch.
    pub last_seen_ms: Option<u64>,
    /// Last ping round-trip time.
    pub rtt: Option<Duration>,
    /// Identify agent version, e.g. `casemesh/0.1.0`.
    pub agent_version: Option<String>,
    /// Identify protocol version, e.g. `/casemesh/1`.
    pub protocol_version: Option<String>,
    /// Protocols the partner supports (from identify).
    pub protocols: Vec<String>,
    /// Control messages sent (requests and responses).
    pub messages_sent: u64,
    /// Control messages received (requests and responses).
    pub messages_received: u64,
    /// Bytes sent (control frames and blob streams).
    pub bytes_sent: u64,
    /// Bytes received (control frames and blob streams).
    pub bytes_received: u64,
    /// Blob transfers in progress with this partner, both directions.
    pub transfers_in_flight: u64,
}

/// What the net layer tells the node.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A partner sent a control request. Answer through `reply`; dropping it answers
    /// `Failed`. Requests pile up in the actor until answered, so answer promptly.
    ControlRequest {
        /// The sender.
        peer: PeerId,
        /// The request.
        request: ControlRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<ControlResponse>,
    },
    /// The first connection to a partner opened.
    PeerConnected {
        /// The partner.
        peer: PeerId,
    },
    /// The last connection to a partner closed (a reconnect is scheduled).
    PeerDisconnected {
        /// The partner.
        peer: PeerId,
    },
    /// A connection with an unregistered peer was refused.
    ConnectionRefused {
        /// The refused peer.
        peer: PeerId,
    },
}

/// Cloneable handle to a running net node. The node shuts down when the last handle is
/// dropped or when the config's shutdown token is cancelled.
#[derive(Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    lanes: Arc<Lanes>,
    blob: Arc<BlobCtx>,
    local_peer_id: PeerId,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for NetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetHandle")
            .field("local_peer_id", &self.local_peer_id)
            .finish_non_exhaustive()
    }
}

/// The PeerId (org id) that a 32-byte ed25519 secret yields.
pub fn peer_id_from_secret(secret: &[u8; 32]) -> Result<PeerId, NetError> {
    Ok(keypair(secret)?.public().to_peer_id())
}

fn keypair(secret: &[u8; 32]) -> Result<identity::Keypair, NetError> {
    let mut bytes = *secret;
    identity::Keypair::ed25519_from_bytes(&mut bytes)
        .map_err(|e| NetError::Config(format!("bad ed25519 secret: {e}")))
}

/// Build the swarm, listen, and spawn the actor and the blob accept loop.
///
/// Returns once every listen address is bound (so [`NetHandle::listen_addrs`] shows the real
/// ports). Must be called inside a tokio runtime.
///
/// # Errors
/// [`NetError::Config`] for a bad key or a listen address whose port another process already
/// listens on ([`crate::config::port_taken`]); [`NetError::Transport`] when listening fails.
pub async fn start(
    config: Config,
    blob_server: Arc<dyn BlobServer>,
) -> Result<(NetHandle, mpsc::Receiver<Event>), NetError> {
    let keypair = keypair(&config.secret_key)?;
    let local_peer_id = keypair.public().to_peer_id();
    let ping_interval = config.ping_interval;
    let control_timeout = config.control_timeout;
    let agent = config.agent_version.clone();
    let (blob_inbound, incoming) = inbound::Behaviour::new();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            crate::muxer::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|key| Behaviour {
            gate: Gate::default(),
            limits: libp2p::connection_limits::Behaviour::new(config.connection_limits.to_libp2p()),
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_string(), key.public())
                    .with_agent_version(agent),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(ping_interval)),
            control: request_response::Behaviour::with_codec(
                ControlCodec,
                [(
                    StreamProtocol::new(CONTROL_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default().with_request_timeout(control_timeout),
            ),
            stream: libp2p_stream::Behaviour::new(),
            blob_inbound,
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();

    let mut pending = std::collections::HashSet::new();
    for addr in &config.listen_addrs {
        // libp2p would share a taken port silently (SO_REUSEPORT): refuse it here.
        if let Some(port) = crate::config::port_taken(addr) {
            return Err(NetError::Config(format!(
                "listen address {addr}: port {port} is already in use by another process"
            )));
        }
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Transport(format!("listen on {addr}: {e}")))?;
        pending.insert(id);
    }
    let mut listen_addrs = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pending.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| NetError::Transport("timed out waiting for listeners".into()))?;
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                pending.remove(&listener_id);
                listen_addrs.push(address);
            }
            SwarmEvent::ListenerError { error, .. } => {
                return Err(NetError::Transport(error.to_string()));
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                return Err(NetError::Transport(format!("listener closed: {reason:?}")));
            }
            _ => {}
        }
    }
    tracing::info!(peer = %local_peer_id, addrs = ?listen_addrs, "net node listening");

    let stats = Arc::new(Stats::default());
    let blob = Arc::new(BlobCtx {
        partial_dir: config.partial_dir.clone(),
        fetch_permits: Arc::new(Semaphore::new(config.max_concurrent_fetches.max(1))),
        serve_limits: ServeLimits::new(config.max_concurrent_serves, config.max_serves_per_peer),
        stats: stats.clone(),
        send_rate: config.max_send_rate.map(|rate| {
            Arc::new(crate::throttle::SendRate::new(
                rate,
                crate::blob::STREAM_BUF,
            ))
        }),
        tasks: tokio_util::task::TaskTracker::new(),
    });
    // Outbound blob streams go through libp2p-stream; inbound ones through `inbound`, which
    // never drops a stream (see that module for why libp2p-stream's accept is not used).
    let lanes = Arc::new(Lanes::new(
        swarm.behaviour().stream.new_control(),
        config.blob_lanes_per_peer,
        stats.clone(),
    ));
    let tasks = config.shutdown.child_token();
    blob.tasks.spawn(accept_loop(
        incoming,
        blob.clone(),
        blob_server,
        tasks.clone(),
    ));

    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (event_tx, event_rx) = mpsc::channel(config.event_capacity.max(1));
    let actor = NetActor::new(
        swarm,
        cmd_rx,
        event_tx,
        stats,
        lanes.clone(),
        config.shutdown.clone(),
        tasks,
        listen_addrs,
        (config.reconnect_initial, config.reconnect_max),
    )
    .with_metrics(config.metrics.clone());
    blob.tasks.spawn(actor.run());
    Ok((
        NetHandle {
            commands: cmd_tx,
            lanes,
            blob,
            local_peer_id,
            shutdown: config.shutdown,
        },
        event_rx,
    ))
}

/// Hand every inbound blob stream to a lane task; the tasks end with their streams, and are
/// aborted when the node stops (an answer's blocking work already started is on the net
/// layer's tracker and runs to its end: `serve.rs`).
async fn accept_loop(
    mut incoming: mpsc::Receiver<Inbound>,
    ctx: Arc<BlobCtx>,
    server: Arc<dyn BlobServer>,
    stop: CancellationToken,
) {
    let mut lanes = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(_) = lanes.join_next(), if !lanes.is_empty() => {}
            next = incoming.recv() => match next {
                Some((peer, stream, version)) => {
                    lanes.spawn(serve::serve_lane(
                        ctx.clone(),
                        server.clone(),
                        peer,
                        stream,
                        version,
                        stop.clone(),
                    ));
                }
                None => break,
            },
        }
    }
}

impl NetHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NetError::Shutdown)?;
        rx.await.map_err(|_| NetError::Shutdown)
    }

    /// Wait until every task the net layer spawned has ended: the actor, the inbound blob
    /// accept loop with its lanes, and fetch exchanges still reading an answer for a caller that
    /// went away. They end once the shutdown token of [`crate::Config`] is cancelled (the actor
    /// and the accept loop stop; exchanges end with their lanes). Call it at shutdown, after
    /// cancelling, so nothing the net layer started outlives the node.
    pub async fn stopped(&self) {
        self.blob.tasks.close();
        self.blob.tasks.wait().await;
    }

    /// This node's PeerId (its org id).
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The addresses this node listens on, with resolved ports.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|reply| Command::ListenAddrs { reply }).await
    }

    /// Replace the whole partner set: peers not in `partners` are disconnected and refused
    /// from now on; new partners are dialed.
    pub async fn set_partners(&self, partners: Vec<Partner>) -> Result<(), NetError> {
        self.ask(|reply| Command::SetPartners { partners, reply })
            .await
    }

    /// Register (or update) one partner and dial it.
    pub async fn add_partner(&self, partner: Partner) -> Result<(), NetError> {
        self.ask(|reply| Command::AddPartner { partner, reply })
            .await
    }

    /// Unregister a partner and close its connections. Returns whether it was registered.
    pub async fn remove_partner(&self, peer: PeerId) -> Result<bool, NetError> {
        self.ask(|reply| Command::RemovePartner { peer, reply })
            .await
    }

    /// Send a control request to a partner and wait for its response (dialing if needed).
    /// See [`NetError`] for what remains uncertain when this fails.
    pub async fn send_control(
        &self,
        peer: PeerId,
        request: ControlRequest,
    ) -> Result<ControlResponse, NetError> {
        self.ask(|reply| Command::SendControl {
            peer,
            request,
            reply,
        })
        .await?
    }

    /// The operator view of every registered partner.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Fetch a blob from a partner into the partial directory: verified chunk group by chunk
    /// group, resumed from the last checkpoint, skipped if a complete file is already there.
    /// Returns the complete, fsynced file for the caller to rename into its blob store.
    pub async fn fetch_blob(
        &self,
        peer: PeerId,
        grant: Vec<u8>,
        hash: BlobHash,
        expected_size: Option<u64>,
    ) -> Result<FetchedBlob, NetError> {
        self.fetch(peer, grant, hash, expected_size, None).await
    }

    /// [`NetHandle::fetch_blob`], reporting the verified byte count through `progress`
    /// (about every MiB).
    pub async fn fetch_blob_with_progress(
        &self,
        peer: PeerId,
        grant: Vec<u8>,
        hash: BlobHash,
        expected_size: Option<u64>,
        progress: watch::Sender<u64>,
    ) -> Result<FetchedBlob, NetError> {
        self.fetch(peer, grant, hash, expected_size, Some(progress))
            .await
    }

    async fn fetch(
        &self,
        peer: PeerId,
        grant: Vec<u8>,
        hash: BlobHash,
        expected_size: Option<u64>,
        progress: Option<watch::Sender<u64>>,
    ) -> Result<FetchedBlob, NetError> {
        if self.commands.is_closed() {
            return Err(NetError::Shutdown);
        }
        let args = FetchArgs {
            peer,
            grant,
            hash,
            expected_size,
            progress,
        };
        blob::fetch(self.blob.clone(), self.lanes.clone(), args).await
    }

    /// Fetch many small whole blobs (each at most [`crate::MAX_BATCH_BLOB`] bytes, together
    /// at most [`crate::MAX_BATCH_BYTES`], at most [`crate::wire::MAX_BATCH_HASHES`], none
    /// twice) from `peer` under one grant, in one batched request (`/casemesh/blob/3`; one
    /// request per blob with a partner that lacks it). Each blob is verified against its hash;
    /// the verified bytes come back in memory, in the order asked, for the caller to make
    /// durable together. `Err`: nothing was asked; otherwise one result per blob.
    pub async fn fetch_small_blobs(
        &self,
        peer: PeerId,
        grant: Vec<u8>,
        blobs: Vec<(BlobHash, u64)>,
    ) -> Result<Vec<crate::BatchItem>, NetError> {
        if self.commands.is_closed() {
            return Err(NetError::Shutdown);
        }
        blob::fetch_batch(self.blob.clone(), self.lanes.clone(), peer, grant, blobs).await
    }

    /// Compute and cache the BLAKE3 outboard of a blob this node will serve (one sequential
    /// read), so the first request for it streams at once. Optional: serving computes it on
    /// demand otherwise. Call it when a blob enters the store. Returns false (and caches
    /// nothing) when the file does not hash to `hash`.
    /// Blobs of at most 256 KiB need nothing: serving hashes them in memory (a cached outboard
    /// would cost a file write and an fsync per small item, for nothing).
    pub async fn prepare_blob(&self, hash: BlobHash, source: BlobSource) -> Result<bool, NetError> {
        if source.size <= serve::SMALL_BLOB {
            return Ok(true);
        }
        let dir = self.blob.partial_dir.join("outboards");
        // Tracked: a caller that goes away leaves the outboard file write to finish before the
        // net layer counts as stopped.
        let ob = (self.blob.tasks)
            .spawn_blocking(move || serve::ensure_outboard(&dir, &hash, &source))
            .await
            .map_err(|e| NetError::Io(std::io::Error::other(e)))??;
        if ob.temporary {
            let _ = tokio::fs::remove_file(&ob.path).await;
        }
        Ok(!ob.temporary)
    }

    /// Where partial and freshly fetched blobs live.
    pub fn partial_dir(&self) -> &std::path::Path {
        &self.blob.partial_dir
    }

    /// Stop the node (same as cancelling the config's shutdown token).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::blob::BlobSource;
    use crate::error::Refusal;

    struct RefuseAll;
    impl BlobServer for RefuseAll {
        fn open(&self, _: &PeerId, _: &[u8], _: &BlobHash) -> Result<BlobSource, Refusal> {
            Err(Refusal::forbidden("test"))
        }
    }

    /// The actor and the accept loop belong to the net layer's task tracker: `stopped` waits
    /// for them while the node runs and returns once the shutdown token is cancelled.
    #[tokio::test]
    async fn stopped_waits_for_every_spawned_task_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let config = Config::new([5u8; 32], dir.path())
            .with_listen_addrs(vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()])
            .with_shutdown(shutdown.clone());
        let (net, _events) = start(config, Arc::new(RefuseAll)).await.unwrap();
        assert_eq!(net.blob.tasks.len(), 2, "the actor and the accept loop");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), net.stopped())
                .await
                .is_err(),
            "the tasks run until shutdown"
        );
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), net.stopped())
            .await
            .expect("every net task ends after shutdown");
        assert!(net.blob.tasks.is_empty());
    }
}
