//! Shared helpers of the integration tests: in-process nodes on 127.0.0.1 port 0, a map-backed
//! `BlobServer`, seeded random files.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::{
    collections::HashMap,
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use casemesh_model::ids::BlobHash;
use casemesh_net::{
    BlobServer, BlobSource, Config, Event, NetHandle, Partner, PeerId, Refusal, start,
};
use tokio::sync::mpsc;

/// The grant the test server accepts.
pub const GOOD_GRANT: &[u8] = b"grant-ok";

/// Serves registered files; accepts only [`GOOD_GRANT`].
#[derive(Default)]
pub struct MapServer {
    pub blobs: Mutex<HashMap<BlobHash, BlobSource>>,
    pub opens: Mutex<u32>,
    /// Batched requests checked ([`BlobServer::open_batch`]).
    pub batches: Mutex<u32>,
    /// How long each permission check takes (a slow disk or database under load); zero by
    /// default. Holds every lane and serve slot that long.
    pub open_delay: Mutex<std::time::Duration>,
    /// Permission checks that ran to their end (after the delay).
    pub opens_done: Mutex<u32>,
}

impl MapServer {
    pub fn add(&self, hash: BlobHash, path: &Path, size: u64) {
        self.add_source(hash, BlobSource::new(path, size));
    }

    /// Serve `source` (e.g. one carrying a cancellation token) for `hash`.
    pub fn add_source(&self, hash: BlobHash, source: BlobSource) {
        self.blobs.lock().unwrap().insert(hash, source);
    }
}

impl BlobServer for MapServer {
    fn open(&self, _peer: &PeerId, grant: &[u8], hash: &BlobHash) -> Result<BlobSource, Refusal> {
        *self.opens.lock().unwrap() += 1;
        let delay = *self.open_delay.lock().unwrap();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        *self.opens_done.lock().unwrap() += 1;
        if grant != GOOD_GRANT {
            return Err(Refusal::forbidden("grant does not cover this blob"));
        }
        self.blobs
            .lock()
            .unwrap()
            .get(hash)
            .cloned()
            .ok_or_else(|| Refusal::not_found("no such blob"))
    }

    fn open_batch(
        &self,
        peer: &PeerId,
        grant: &[u8],
        hashes: &[BlobHash],
    ) -> Vec<Result<BlobSource, Refusal>> {
        *self.batches.lock().unwrap() += 1;
        hashes.iter().map(|h| self.open(peer, grant, h)).collect()
    }
}

pub struct TestNode {
    pub handle: NetHandle,
    pub events: mpsc::Receiver<Event>,
    pub server: Arc<MapServer>,
    pub partial: PathBuf,
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub async fn node(seed: u8, partial: &Path) -> TestNode {
    node_with(seed, partial, |c| c).await
}

/// [`node`] with a config adjusted by `tune` (e.g. more concurrent fetches).
pub async fn node_with(seed: u8, partial: &Path, tune: impl FnOnce(Config) -> Config) -> TestNode {
    init_tracing();
    let server = Arc::new(MapServer::default());
    let config = tune(
        Config::new([seed; 32], partial)
            .with_reconnect_backoff(Duration::from_millis(100), Duration::from_secs(2)),
    );
    let (handle, events) = start(config, server.clone()).await.expect("start node");
    TestNode {
        handle,
        events,
        server,
        partial: partial.to_path_buf(),
    }
}

pub async fn partner_of(node: &TestNode, name: &str) -> Partner {
    Partner {
        peer_id: node.handle.local_peer_id(),
        addrs: node.handle.listen_addrs().await.expect("addrs"),
        name: name.to_string(),
    }
}

/// Register two nodes as each other's partners and wait until they are connected.
pub async fn pair(a: &mut TestNode, b: &mut TestNode) {
    let pa = partner_of(a, "a").await;
    let pb = partner_of(b, "b").await;
    a.handle.add_partner(pb).await.unwrap();
    b.handle.add_partner(pa).await.unwrap();
    wait_connected(&a.handle, b.handle.local_peer_id()).await;
    wait_connected(&b.handle, a.handle.local_peer_id()).await;
}

pub async fn wait_connected(h: &NetHandle, peer: PeerId) {
    for _ in 0..200 {
        let peers = h.peers().await.unwrap();
        if peers.iter().any(|p| p.peer_id == peer && p.connected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{peer} never connected");
}

/// Write `size` pseudo-random bytes (BLAKE3 XOF seeded by `seed`) and return their hash.
pub fn write_random(path: &Path, size: u64, seed: u64) -> BlobHash {
    let mut xof = blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof();
    let mut hasher = blake3::Hasher::new();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        xof.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
    BlobHash::from(hasher.finalize())
}

pub fn hash_file(path: &Path) -> BlobHash {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(std::fs::File::open(path).unwrap())
        .unwrap();
    BlobHash::from(hasher.finalize())
}

/// Byte-for-byte comparison, streaming.
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    let mut fa = std::io::BufReader::new(std::fs::File::open(a).unwrap());
    let mut fb = std::io::BufReader::new(std::fs::File::open(b).unwrap());
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    n
}

/// Answer every control request with `Ok` and the same payload, in a background task.
pub fn echo_control(mut events: mpsc::Receiver<Event>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Event::ControlRequest { request, reply, .. } = event {
                let _ = reply.send(casemesh_net::ControlResponse::ok(
                    request.msg_id,
                    request.payload,
                ));
            }
        }
    })
}

/// Events whose message says an inbound stream was dropped.
pub static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// A tracing layer counting [`DROPPED`] events (libp2p-stream's "dropping inbound stream").
pub struct DropCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for DropCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" && value.contains("dropping inbound stream") {
                    self.0 = true;
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message"
                    && format!("{value:?}").contains("dropping inbound stream")
                {
                    self.0 = true;
                }
            }
        }
        let mut message = Message(false);
        event.record(&mut message);
        if message.0 {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}
