//! A hostile partner for integration tests: a libp2p node that holds a registered partner's
//! identity key (read from that partner's stopped data directory) and sends crafted control
//! messages to a node under test, the way a compromised or misbehaving partner could. Nothing of
//! the casemesh sharing engine runs here: only the transport, so every message is exactly what
//! the test built.

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
