//! A hostile partner for integration tests: a libp2p node that holds a registered partner's
//! identity key (read from that partner's stopped data directory) and sends crafted control
//! messages to a node under test, the way a compromised or misbehaving partner could. Nothing of
//! the casemesh sharing engine runs here: only the transport, so every message is exactly what
//! the test built.
//!
//! Two programs: [`HostilePartner`] speaks through casemesh's own net layer (well-formed control
//! envelopes with crafted payloads); [`RawPartner`] is a bare libp2p node (TCP + Noise + Yamux
//! and libp2p-stream, nothing else) that opens blob and control streams and writes whatever
//! bytes the test wants, at whatever pace, reads them or not, and opens extra connections.

use casemesh_net::{
    BlobServer, BlobSource, ControlRequest, ControlStatus, Multiaddr, NetHandle, Partner, PeerId,
    Refusal,
};
use std::path::Path;
use std::sync::Arc;

/// A transport-only node speaking as a registered partner.
pub struct HostilePartner {
    rt: tokio::runtime::Runtime,
    net: NetHandle,
    target: PeerId,
    _dir: tempfile::TempDir,
}

/// Serves nothing.
struct NoBlobs;

impl BlobServer for NoBlobs {
    fn open(
        &self,
        _: &PeerId,
        _: &[u8],
        _: &casemesh_model::ids::BlobHash,
    ) -> Result<BlobSource, Refusal> {
        Err(Refusal::forbidden("nothing is served here"))
    }
}

impl HostilePartner {
    /// Start a node with the identity key of the partner whose data directory is `identity_of`
    /// (its daemon must be stopped) and register `target` (peer id, address) as its partner.
    ///
    /// # Panics
    /// When the key cannot be read or the node cannot start (a test failure).
    pub fn start(identity_of: &Path, target_peer: &str, target_addr: &str) -> HostilePartner {
        let key = std::fs::read(identity_of.join("identity.key")).expect("reading identity.key");
        let secret: [u8; 32] = key.try_into().expect("a 32-byte identity key");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let target: PeerId = target_peer.parse().expect("a peer id");
        let addr: Multiaddr = target_addr.parse().expect("a multiaddr");
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().expect("a multiaddr");
        let config = casemesh_net::Config::new(secret, dir.path().join("partial"))
            .with_listen_addrs(vec![listen]);
        let net = rt.block_on(async {
            let (net, mut events) = casemesh_net::start(config, Arc::new(NoBlobs))
                .await
                .expect("the hostile node starts");
            // Events are not looked at; drained so the transport never waits on them.
            tokio::spawn(async move { while events.recv().await.is_some() {} });
            net.add_partner(Partner {
                peer_id: target,
                addrs: vec![addr],
                name: "target".into(),
            })
            .await
            .expect("registering the target");
            net
        });
        HostilePartner {
            rt,
            net,
            target,
            _dir: dir,
        }
    }

    /// Send one control message of `kind` with `payload` (the bytes as they are) and return the
    /// target's answer.
    ///
    /// # Panics
    /// When nothing could be delivered within 30 s (a test failure).
    pub fn send(&self, kind: &str, payload: Vec<u8>) -> ControlStatus {
        let mut msg_id = [0u8; 16];
        msg_id.copy_from_slice(&uuid_bytes());
        let request = ControlRequest {
            msg_id,
            kind: kind.to_owned(),
            payload,
        };
        self.rt.block_on(async {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                match self.net.send_control(self.target, request.clone()).await {
                    Ok(response) => return response.status,
                    Err(e) if std::time::Instant::now() < deadline => {
                        eprintln!("hostile partner: send failed ({e}); retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    }
                    Err(e) => panic!("the hostile partner could not deliver {kind}: {e}"),
                }
            }
        })
    }
}

impl Drop for HostilePartner {
    fn drop(&mut self) {
        self.net.shutdown();
    }
}

/// 16 bytes that differ between calls (message ids).
fn uuid_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&t.to_be_bytes());
    out[8..].copy_from_slice(&n.to_be_bytes());
    out
}

/// A bare libp2p node with a registered partner's identity: no gate, no identify, no casemesh
/// protocol of its own. It opens streams to the target with any protocol id (the target
/// negotiates blob and control protocols on them), and extra connections, so tests can drip
/// bytes, never read, open streams by the hundred and send oversize or malformed frames.
pub struct RawPartner {
    rt: tokio::runtime::Runtime,
    control: libp2p_stream::Control,
    target: PeerId,
    /// Connections to the target currently established (as this side sees them).
    connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Connections to the target that were established and closed since the start.
    closed: Arc<std::sync::atomic::AtomicUsize>,
    dial: tokio::sync::mpsc::Sender<()>,
    /// Sent (or dropped) to stop the swarm task.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// An open stream to the target.
pub type RawStream = libp2p::Stream;

impl RawPartner {
    /// Start a raw node with the identity key of the partner whose data directory is
    /// `identity_of` (its daemon must be stopped) and connect it to `target` (peer id, address).
    ///
    /// # Panics
    /// When the key cannot be read, the node cannot start or no connection is up within 30 s.
    pub fn start(identity_of: &Path, target_peer: &str, target_addr: &str) -> RawPartner {
        use futures::StreamExt;
        use libp2p::swarm::SwarmEvent;
        use std::sync::atomic::Ordering;
        let key = std::fs::read(identity_of.join("identity.key")).expect("reading identity.key");
        let mut secret: [u8; 32] = key.try_into().expect("a 32-byte identity key");
        let keypair =
            libp2p::identity::Keypair::ed25519_from_bytes(&mut secret).expect("an ed25519 key");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let target: PeerId = target_peer.parse().expect("a peer id");
        let addr: Multiaddr = target_addr.parse().expect("a multiaddr");
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (dial, mut dials) = tokio::sync::mpsc::channel::<()>(64);
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let control = rt.block_on(async {
            let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
                .with_tokio()
                .with_tcp(
                    libp2p::tcp::Config::default().nodelay(true),
                    libp2p::noise::Config::new,
                    libp2p::yamux::Config::default,
                )
                .expect("the TCP transport")
                .with_behaviour(|_| libp2p_stream::Behaviour::new())
                .expect("the behaviour")
                .with_swarm_config(|c| {
                    c.with_idle_connection_timeout(std::time::Duration::from_secs(3600))
                })
                .build();
            swarm.add_peer_address(target, addr.clone());
            let control = swarm.behaviour().new_control();
            let (up, down) = (connections.clone(), closed.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        Some(()) = dials.recv() => {
                            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(target)
                                .addresses(vec![addr.clone()])
                                .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                                .build();
                            if let Err(e) = swarm.dial(opts) {
                                eprintln!("raw partner: dial not started: {e}");
                            }
                        }
                        event = swarm.select_next_some() => match event {
                            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == target => {
                                up.fetch_add(1, Ordering::SeqCst);
                            }
                            SwarmEvent::ConnectionClosed { peer_id, .. } if peer_id == target => {
                                up.fetch_sub(1, Ordering::SeqCst);
                                down.fetch_add(1, Ordering::SeqCst);
                            }
                            _ => {}
                        },
                    }
                }
            });
            control
        });
        let raw = RawPartner {
            rt,
            control,
            target,
            connections,
            closed,
            dial,
            stop: Some(stop_tx),
        };
        raw.dial_extra(1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while raw.connections() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the raw partner could not connect to the target"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        raw
    }

    /// Run a future on this node's runtime (to drive [`RawStream`]s).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Spawn a future on this node's runtime.
    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.spawn(f)
    }

    /// Open one stream to the target with `protocol` (e.g. `/casemesh/blob/3`).
    ///
    /// # Panics
    /// When the target does not accept a stream within 30 s.
    pub fn open(&self, protocol: &'static str) -> RawStream {
        let mut control = self.control.clone();
        let target = self.target;
        self.rt.block_on(async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(30),
                control.open_stream(target, libp2p::StreamProtocol::new(protocol)),
            )
            .await
            .expect("opening a stream timed out")
            .expect("opening a stream")
        })
    }

    /// Open `n` streams at once (concurrently, not one after the other); returns those the
    /// target negotiated (a target may refuse some).
    pub fn open_many(&self, protocol: &'static str, n: usize) -> Vec<RawStream> {
        let target = self.target;
        let opens = (0..n).map(|_| {
            let mut control = self.control.clone();
            async move {
                tokio::time::timeout(
                    std::time::Duration::from_secs(30),
                    control.open_stream(target, libp2p::StreamProtocol::new(protocol)),
                )
                .await
                .ok()
                .and_then(Result::ok)
            }
        });
        self.rt
            .block_on(futures::future::join_all(opens))
            .into_iter()
            .flatten()
            .collect()
    }

    /// Dial the target `n` more times, each a new connection whatever is open already.
    pub fn dial_extra(&self, n: usize) {
        for _ in 0..n {
            self.dial.try_send(()).expect("the swarm task is running");
        }
    }

    /// Connections to the target established now, as this side sees them.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections to the target closed since the start.
    pub fn closed_connections(&self) -> usize {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The target's peer id.
    pub fn target(&self) -> PeerId {
        self.target
    }
}

/// What a [`RawPartner::flood_control`] flood got back so far.
#[derive(Debug, Default)]
pub struct FloodCounts {
    /// Requests answered.
    pub answered: std::sync::atomic::AtomicU64,
    /// Of those, answered `Busy`.
    pub busy: std::sync::atomic::AtomicU64,
    /// Streams that failed (refused, reset, timed out).
    pub failed: std::sync::atomic::AtomicU64,
}

/// A running flood of control requests; stops when dropped.
pub struct ControlFlood {
    /// What came back so far.
    pub counts: Arc<FloodCounts>,
    stop: casemesh_net::CancellationToken,
}

impl Drop for ControlFlood {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl RawPartner {
    /// Floods the target with control requests (`/casemesh/control/1`): `workers` loops, each
    /// opening a stream, writing one request of `kind` with `payload`, reading the answer, and
    /// starting over at once, until the returned [`ControlFlood`] is dropped.
    pub fn flood_control(&self, workers: usize, kind: &str, payload: Vec<u8>) -> ControlFlood {
        use futures::{AsyncReadExt as _, AsyncWriteExt as _};
        let counts = Arc::new(FloodCounts::default());
        let stop = casemesh_net::CancellationToken::new();
        for _ in 0..workers {
            let mut control = self.control.clone();
            let (target, counts, stop) = (self.target, counts.clone(), stop.clone());
            let (kind, payload) = (kind.to_owned(), payload.clone());
            self.rt.spawn(async move {
                use std::sync::atomic::Ordering::Relaxed;
                while !stop.is_cancelled() {
                    let request = ControlRequest {
                        msg_id: uuid_bytes(),
                        kind: kind.clone(),
                        payload: payload.clone(),
                    };
                    let one = async {
                        let mut stream = control
                            .open_stream(target, libp2p::StreamProtocol::new("/casemesh/control/1"))
                            .await
                            .map_err(|e| std::io::Error::other(e.to_string()))?;
                        let body = request.encode()?;
                        casemesh_net::wire::write_frame(
                            &mut stream,
                            &body,
                            casemesh_net::wire::MAX_CONTROL_REQUEST,
                        )
                        .await?;
                        stream.close().await?;
                        let mut answer = Vec::new();
                        stream.read_to_end(&mut answer).await?;
                        let body = answer.get(4..).unwrap_or_default();
                        casemesh_net::ControlResponse::decode(body)
                    };
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        r = tokio::time::timeout(std::time::Duration::from_secs(30), one) => match r {
                            Ok(Ok(response)) => {
                                counts.answered.fetch_add(1, Relaxed);
                                if response.status == ControlStatus::Busy {
                                    counts.busy.fetch_add(1, Relaxed);
                                }
                            }
                            _ => {
                                counts.failed.fetch_add(1, Relaxed);
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            }
                        },
                    }
                }
            });
        }
        ControlFlood { counts, stop }
    }
}

impl Drop for RawPartner {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
