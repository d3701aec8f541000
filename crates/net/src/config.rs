//! [`Config`] of the net layer, with documented, safe defaults and `with_*` setters.

use std::{path::PathBuf, time::Duration};

use libp2p::Multiaddr;
use tokio_util::sync::CancellationToken;

/// Configuration of a casemesh network node.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node's 32-byte ed25519 secret key. The PeerId (= org id) derives from it.
    /// Default: a fresh random key (a throwaway identity; a real node always sets its own).
    pub secret_key: [u8; 32],
    /// Addresses to listen on. Default: `/ip4/127.0.0.1/tcp/0` (localhost only, any port),
    /// so a misconfigured node is not reachable from outside.
    pub listen_addrs: Vec<Multiaddr>,
    /// Where partial and freshly completed downloads live (`<hash>.part`, `<hash>.state`,
    /// `<hash>.blob`) and the cached BLAKE3 outboards of served blobs (`outboards/`).
    /// Default: `./casemesh-partial`.
    pub partial_dir: PathBuf,
    /// How many blob fetches may run at once; more wait. Default: 4.
    pub max_concurrent_fetches: usize,
    /// How many blob requests this node serves at once, across partners. More wait, first
    /// come first served, and are answered `Busy` after 30 s. Default: 16.
    pub max_concurrent_serves: usize,
    /// How many blob requests of one partner this node serves at once (its share of
    /// `max_concurrent_serves`); its further requests wait for its own slots, so one partner
    /// cannot hold or crowd out every slot. Default: 4.
    pub max_serves_per_peer: usize,
    /// Long-lived blob streams ("lanes") this node keeps to each partner it fetches from;
    /// fetches are pipelined on them, a new one going to an idle or the least loaded lane.
    /// 0 = no lanes: one `/casemesh/blob/1` stream per fetch. A serving node serves at most
    /// 16 lanes of one partner at once (more wait their turn). Default: 4.
    pub blob_lanes_per_peer: usize,
    /// Blob bytes per second this node serves to all partners together (rounded up to whole
    /// KiB/s; bursts of one second pass at once). Control messages are not counted. `None`:
    /// no limit. Default: `None`.
    pub max_send_rate: Option<std::num::NonZeroU64>,
    /// How long a connection to a non-partner (or after partner removal) may stay idle.
    /// Partner connections are kept alive. Default: 60 s.
    pub idle_connection_timeout: Duration,
    /// Timeout of one control request-response exchange. Default: 60 s.
    pub control_timeout: Duration,
    /// First reconnect delay to a partner; doubles on every failure. Default: 1 s.
    pub reconnect_initial: Duration,
    /// Upper bound of the reconnect delay. Default: 60 s.
    pub reconnect_max: Duration,
    /// Ping interval (RTT measurement and liveness). Default: 15 s.
    pub ping_interval: Duration,
    /// Agent version announced via identify. Default: `casemesh/<crate version>`.
    pub agent_version: String,
    /// Capacity of the event channel handed to the node. Default: 256.
    pub event_capacity: usize,
    /// Cancelling this token shuts the node down (as does dropping the last handle).
    pub shutdown: CancellationToken,
    /// Bounds on libp2p connections, enforced by libp2p's `connection_limits` behaviour before
    /// any casemesh protocol runs. Default: [`ConnectionLimits::default`].
    pub connection_limits: ConnectionLimits,
    /// Where libp2p's own metrics (connections, dials, identify, ping) are recorded, if anywhere:
    /// see [`crate::NetMetrics`]. Default: none.
    pub metrics: Option<crate::NetMetrics>,
}

/// Bounds on the libp2p connections of a node (issue #16 item 2: "libp2p connection limits per
/// peer and in total"). A connection over a bound is denied when it is established (per peer,
/// totals) or when it is accepted (pending), and counts as a failed dial at the other end.
///
/// Why these defaults: a partner needs one connection, two when both sides dialed at the same
/// moment; a handful more cover a restart that left a half-closed one behind. A node has
/// dozens of partners, not thousands. Non-partners are denied by the gate anyway, but their
/// handshakes cost CPU, so the pending bounds cap how many are in progress at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Established connections with one peer. Default: 4.
    pub max_established_per_peer: u32,
    /// Established connections in total, both directions. Default: 512.
    pub max_established: u32,
    /// Incoming connections still in the transport handshake (TCP + Noise + Yamux). Default: 64.
    pub max_pending_incoming: u32,
    /// Outgoing dials in progress. Default: 64.
    pub max_pending_outgoing: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_established_per_peer: 4,
            max_established: 512,
            max_pending_incoming: 64,
            max_pending_outgoing: 64,
        }
    }
}

impl ConnectionLimits {
    /// The libp2p form of these limits.
    pub(crate) fn to_libp2p(self) -> libp2p::connection_limits::ConnectionLimits {
        libp2p::connection_limits::ConnectionLimits::default()
            .with_max_established_per_peer(Some(self.max_established_per_peer.max(1)))
            .with_max_established(Some(self.max_established.max(1)))
            .with_max_pending_incoming(Some(self.max_pending_incoming.max(1)))
            .with_max_pending_outgoing(Some(self.max_pending_outgoing.max(1)))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            secret_key: random_secret(),
            listen_addrs: vec![default_listen_addr()],
            partial_dir: PathBuf::from("casemesh-partial"),
            max_concurrent_fetches: 4,
            max_concurrent_serves: 16,
            max_serves_per_peer: 4,
            blob_lanes_per_peer: 4,
            max_send_rate: None,
            idle_connection_timeout: Duration::from_secs(60),
            control_timeout: Duration::from_secs(60),
            reconnect_initial: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            ping_interval: Duration::from_secs(15),
            agent_version: concat!("casemesh/", env!("CARGO_PKG_VERSION")).to_string(),
            event_capacity: 256,
            shutdown: CancellationToken::new(),
            connection_limits: ConnectionLimits::default(),
            metrics: None,
        }
    }
}

fn random_secret() -> [u8; 32] {
    let secret = libp2p::identity::ed25519::SecretKey::generate();
    let mut out = [0u8; 32];
    out.copy_from_slice(&secret.as_ref()[..32]);
    out
}

fn default_listen_addr() -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    Multiaddr::empty()
        .with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
        .with(Protocol::Tcp(0))
}

impl Config {
    /// A default config with this secret key and partial directory.
    pub fn new(secret_key: [u8; 32], partial_dir: impl Into<PathBuf>) -> Self {
        Self {
            secret_key,
            partial_dir: partial_dir.into(),
            ..Self::default()
        }
    }

    /// Set the secret key.
    pub fn with_secret_key(mut self, key: [u8; 32]) -> Self {
        self.secret_key = key;
        self
    }

    /// Set the listen addresses.
    pub fn with_listen_addrs(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.listen_addrs = addrs;
        self
    }

    /// Set the partial-download directory.
    pub fn with_partial_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.partial_dir = dir.into();
        self
    }

    /// Set the bound on concurrent fetches (at least 1).
    pub fn with_max_concurrent_fetches(mut self, n: usize) -> Self {
        self.max_concurrent_fetches = n.max(1);
        self
    }

    /// Set the bound on concurrently served blob requests (at least 1).
    pub fn with_max_concurrent_serves(mut self, n: usize) -> Self {
        self.max_concurrent_serves = n.max(1);
        self
    }

    /// Set how many blob requests of one partner are served at once (at least 1).
    pub fn with_max_serves_per_peer(mut self, n: usize) -> Self {
        self.max_serves_per_peer = n.max(1);
        self
    }

    /// Set the number of blob lanes per partner (0 = one version 1 stream per fetch).
    pub fn with_blob_lanes_per_peer(mut self, n: usize) -> Self {
        self.blob_lanes_per_peer = n;
        self
    }

    /// Set the bound on served blob bytes per second (`0` = no limit).
    pub fn with_max_send_rate(mut self, bytes_per_sec: u64) -> Self {
        self.max_send_rate = std::num::NonZeroU64::new(bytes_per_sec);
        self
    }

    /// Set the idle-connection timeout.
    pub fn with_idle_connection_timeout(mut self, d: Duration) -> Self {
        self.idle_connection_timeout = d;
        self
    }

    /// Set the control request timeout.
    pub fn with_control_timeout(mut self, d: Duration) -> Self {
        self.control_timeout = d;
        self
    }

    /// Set the reconnect backoff bounds.
    pub fn with_reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.reconnect_initial = initial;
        self.reconnect_max = max.max(initial);
        self
    }

    /// Set the ping interval.
    pub fn with_ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }

    /// Set the identify agent version.
    pub fn with_agent_version(mut self, v: impl Into<String>) -> Self {
        self.agent_version = v.into();
        self
    }

    /// Set the event channel capacity (at least 1).
    pub fn with_event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n.max(1);
        self
    }

    /// Set the connection limits.
    pub fn with_connection_limits(mut self, limits: ConnectionLimits) -> Self {
        self.connection_limits = limits;
        self
    }

    /// Record libp2p's metrics into `metrics` (see [`crate::NetMetrics::register`]).
    pub fn with_metrics(mut self, metrics: crate::NetMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Use this token (or a child of the node's token tree) for shutdown.
    pub fn with_shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }
}

/// The TCP port of listen address `addr` when another socket already listens on it, else `None`
/// (port 0, a free port, a non-TCP address, or an address this host does not have: the real
/// listen reports those).
///
/// Why this check exists: libp2p's TCP transport binds its listeners with `SO_REUSEPORT` (so
/// outgoing connections can reuse the listening port), and on Linux a second process doing the
/// same binds the *same* port without an error: two nodes would silently share one port and
/// each get a random half of the incoming connections (issue #15 item 4). A plain bind (no
/// `SO_REUSEPORT`) of the same address fails with `AddrInUse` while anyone listens there. A
/// short window remains between this probe and the real listen.
pub fn port_taken(addr: &Multiaddr) -> Option<u16> {
    use libp2p::multiaddr::Protocol;
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (ip, port) = (ip?, port.filter(|p| *p != 0)?);
    match std::net::TcpListener::bind((ip, port)) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Some(port),
        _ => None,
    }
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn a_port_someone_listens_on_is_taken_and_port_zero_never_is() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
        assert_eq!(port_taken(&addr), Some(port));
        // The wildcard address covers loopback: taken too.
        let any: Multiaddr = format!("/ip4/0.0.0.0/tcp/{port}").parse().unwrap();
        assert_eq!(port_taken(&any), Some(port));
        drop(held);
        assert_eq!(port_taken(&addr), None);
        assert_eq!(port_taken(&"/ip4/127.0.0.1/tcp/0".parse().unwrap()), None);
    }
}
