//! Many small items against one blob of the same total size (issue #11 items 1 and 3): two
//! in-process nodes over TCP + Noise + Yamux on 127.0.0.1; the fetcher pulls `items` blobs of
//! 1–64 KiB with `in_flight` fetches at once, then one blob as large as all of them together.
//! Every blob is verified while streaming and fsynced at the receiver, as in production. Failed
//! fetches are fetched again at once (as the sharing engine would, minus its backoff) and counted;
//! so are inbound streams the serving node dropped (the "dropping inbound stream" log event).
//!
//! ```text
//! cargo run --release -p casemesh-net --example bench_items -- [items] [in_flight] [runs] [dir]
//!     defaults: 1000 items, 4 in flight (the sharing engine's PARALLEL_FETCHES), 3 runs, /tmp
//! ```
//! Prints one `ITEMS` and one `BLOB` line per run. Run 1 is cold (the server computes outboards
//! unless prepared); every blob is prepared with `prepare_blob` first, as the sharing engine does
//! when a blob enters the store, so all runs measure the transfer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, atomic::Ordering},
    time::{Duration, Instant},
};

use casemesh_model::ids::BlobHash;
use casemesh_net::{BlobServer, BlobSource, Config, Partner, PeerId, Refusal, start};
use common::{DROPPED, DropCounter, write_random};
use futures::StreamExt;
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, filter::Targets, layer::SubscriberExt, util::SubscriberInitExt,
};

const GRANT: &[u8] = b"bench-grant";
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Default)]
struct MapServer(Mutex<HashMap<BlobHash, BlobSource>>);

impl BlobServer for MapServer {
    fn open(&self, _: &PeerId, grant: &[u8], hash: &BlobHash) -> Result<BlobSource, Refusal> {
        if grant != GRANT {
            return Err(Refusal::forbidden("bad grant"));
        }
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .cloned()
            .ok_or_else(|| Refusal::not_found("unknown blob"))
    }
}

fn small_size(i: usize) -> u64 {
    let h = blake3::hash(&(i as u64).to_le_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    1024 + u64::from_le_bytes(b) % (63 * 1024 + 1)
}

fn main() {
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()));
    let drops = DropCounter.with_filter(
        Targets::new()
            .with_target("libp2p_stream", Level::DEBUG)
            .with_target("casemesh_net", Level::DEBUG),
    );
    tracing_subscriber::registry().with(fmt).with(drops).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let items: usize = args.first().map_or(1000, |a| a.parse().unwrap());
    let in_flight: usize = args.get(1).map_or(4, |a| a.parse().unwrap());
    let runs: usize = args.get(2).map_or(3, |a| a.parse().unwrap());
    let dir = PathBuf::from(args.get(3).map_or("/tmp", String::as_str));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(items, in_flight, runs, &dir));
}

async fn bench(items: usize, in_flight: usize, runs: usize, dir: &Path) {
    let work = tempfile::Builder::new()
        .prefix("bench-items-")
        .tempdir_in(dir)
        .unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let server = Arc::new(MapServer::default());
    let mut blobs = Vec::with_capacity(items);
    let mut total = 0;
    for i in 0..items {
        let size = small_size(i);
        let path = src.join(format!("s{i}.bin"));
        let hash = write_random(&path, size, i as u64);
        blobs.push((hash, size, BlobSource::new(path, size)));
        total += size;
    }
    let big_path = src.join("big.bin");
    let big_hash = write_random(&big_path, total, u64::MAX);
    let big = BlobSource::new(big_path, total);
    {
        let mut map = server.0.lock().unwrap();
        for (hash, _, source) in &blobs {
            map.insert(*hash, source.clone());
        }
        map.insert(big_hash, big.clone());
    }

    let (a, _a_events) = start(Config::new([41; 32], work.path().join("a")), server.clone())
        .await
        .unwrap();
    let fetcher_config =
        Config::new([42; 32], work.path().join("b")).with_max_concurrent_fetches(in_flight);
    let (b, _b_events) = start(fetcher_config, Arc::new(MapServer::default()))
        .await
        .unwrap();
    for (hash, _, source) in &blobs {
        assert!(a.prepare_blob(*hash, source.clone()).await.unwrap());
    }
    assert!(a.prepare_blob(big_hash, big.clone()).await.unwrap());
    a.add_partner(Partner {
        peer_id: b.local_peer_id(),
        addrs: b.listen_addrs().await.unwrap(),
        name: "b".into(),
    })
    .await
    .unwrap();
    b.add_partner(Partner {
        peer_id: a.local_peer_id(),
        addrs: a.listen_addrs().await.unwrap(),
        name: "a".into(),
    })
    .await
    .unwrap();
    while !b.peers().await.unwrap()[0].connected {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a_peer = a.local_peer_id();
    println!(
        "{items} items of 1-64 KiB ({:.1} MiB), {in_flight} in flight, vs one {:.1} MiB blob",
        total as f64 / MIB,
        total as f64 / MIB
    );

    for run in 1..=runs {
        let drops_before = DROPPED.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let mut todo: Vec<(BlobHash, u64)> = blobs.iter().map(|(h, s, _)| (*h, *s)).collect();
        let mut errors = 0;
        let mut fetched = Vec::with_capacity(items);
        while !todo.is_empty() {
            let results: Vec<_> = futures::stream::iter(todo.drain(..))
                .map(|(hash, size)| {
                    let b = b.clone();
                    async move {
                        let res = b.fetch_blob(a_peer, GRANT.to_vec(), hash, Some(size)).await;
                        (hash, size, res)
                    }
                })
                .buffer_unordered(in_flight)
                .collect()
                .await;
            for (hash, size, res) in results {
                match res {
                    Ok(f) => fetched.push(f.path),
                    Err(e) => {
                        tracing::debug!(error = %e, "fetch failed; fetching again");
                        errors += 1;
                        todo.push((hash, size));
                    }
                }
            }
        }
        let items_secs = t0.elapsed().as_secs_f64();
        let drops = DROPPED.load(Ordering::Relaxed) - drops_before;
        println!(
            "ITEMS run {run}: {items_secs:.3} s, {:.0} items/s, {:.1} MiB/s, {errors} failed fetches \
             (fetched again), {drops} dropped streams",
            items as f64 / items_secs,
            total as f64 / MIB / items_secs
        );
        for path in fetched {
            std::fs::remove_file(path).unwrap();
        }

        let t0 = Instant::now();
        let one = b
            .fetch_blob(a_peer, GRANT.to_vec(), big_hash, Some(total))
            .await
            .unwrap();
        let blob_secs = t0.elapsed().as_secs_f64();
        println!(
            "BLOB  run {run}: {blob_secs:.3} s, {:.1} MiB/s; items / blob time = {:.2}",
            total as f64 / MIB / blob_secs,
            items_secs / blob_secs
        );
        std::fs::remove_file(one.path).unwrap();
    }
    a.shutdown();
    b.shutdown();
}
