//! Issue #11 item 1: blob fetches under load. Two in-process nodes; the receiver fetches 2,000
//! small blobs (1–64 KiB) with 32 in flight while a 256 MiB blob streams alongside. Every fetch
//! must succeed the first time — no error, no retry (the serving node is asked exactly once per
//! blob) — every blob must arrive byte-identical, and the serving node must drop no inbound
//! stream. A drop is what libp2p-stream logs as "Channel is full, dropping inbound stream"; a
//! tracing layer counts every event with that text, from libp2p-stream or from this crate.
//! Before the fix the first test failed with 469 of 2,001 fetches failed (89 streams dropped,
//! the rest refused `Busy`).
//!
//! Also: the same without lanes (one version 1 stream per fetch: nothing lost, excess waits),
//! and cancelled fetches on a shared lane (the lane stays usable).

#![allow(clippy::unwrap_used)]

mod common;

use std::{
    path::PathBuf,
    sync::{OnceLock, atomic::Ordering},
    time::{Duration, Instant},
};

use casemesh_model::ids::BlobHash;
use common::*;
use futures::StreamExt;
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, filter::Targets, layer::SubscriberExt, util::SubscriberInitExt,
};

const MIB: u64 = 1024 * 1024;
/// Small blobs per test.
const SMALL: usize = 2_000;
/// Fetches in flight at once.
const IN_FLIGHT: usize = 32;

/// The usual test output (`RUST_LOG`, default `warn`) plus the drop counter, which sees
/// libp2p-stream's debug events whatever `RUST_LOG` says. Installed before the first node, so
/// `common::init_tracing` finds a subscriber and leaves it alone.
fn install_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let fmt = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()));
        let drops = DropCounter.with_filter(
            Targets::new()
                .with_target("libp2p_stream", Level::DEBUG)
                .with_target("casemesh_net", Level::DEBUG),
        );
        tracing_subscriber::registry().with(fmt).with(drops).init();
    });
}

/// A size in 1 KiB ..= 64 KiB, spread pseudo-randomly over `i`.
fn small_size(i: usize) -> u64 {
    let h = blake3::hash(&(i as u64).to_le_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    1024 + u64::from_le_bytes(b) % (63 * 1024 + 1)
}

/// One load run: `small` blobs of 1–64 KiB fetched [`IN_FLIGHT`] at a time while one blob of
/// `big` bytes streams alongside; `lanes` blob lanes per partner at the fetcher (0 = one
/// version 1 stream per fetch); each permission check at the serving node takes `open_delay`.
struct Load {
    seed: u8,
    small: usize,
    big: u64,
    lanes: usize,
    open_delay: Duration,
}

async fn run_load(load: Load) {
    let Load {
        seed,
        small,
        big,
        lanes,
        open_delay,
    } = load;
    install_tracing();
    let drops_before = DROPPED.load(Ordering::Relaxed);
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(seed, &dir.path().join("a")).await;
    let mut b = node_with(seed + 1, &dir.path().join("b"), |c| {
        c.with_max_concurrent_fetches(IN_FLIGHT + 1)
            .with_blob_lanes_per_peer(lanes)
    })
    .await;
    pair(&mut a, &mut b).await;
    *a.server.open_delay.lock().unwrap() = open_delay;
    let a_peer = a.handle.local_peer_id();

    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut items: Vec<(PathBuf, BlobHash, u64)> = Vec::with_capacity(small);
    for i in 0..small {
        let size = small_size(i);
        let path = src.join(format!("s{i}.bin"));
        let hash = write_random(&path, size, 10_000 + i as u64);
        a.server.add(hash, &path, size);
        items.push((path, hash, size));
    }
    let big_path = src.join("big.bin");
    let big_hash = write_random(&big_path, big, 77);
    a.server.add(big_hash, &big_path, big);

    let t0 = Instant::now();
    let h = b.handle.clone();
    let big_fetch = tokio::spawn(async move {
        h.fetch_blob(a_peer, GOOD_GRANT.to_vec(), big_hash, Some(big))
            .await
    });
    let fetched: Vec<_> = futures::stream::iter(items.iter().cloned())
        .map(|(path, hash, size)| {
            let h = b.handle.clone();
            async move {
                let res = h
                    .fetch_blob(a_peer, GOOD_GRANT.to_vec(), hash, Some(size))
                    .await;
                (path, res)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let small_done = t0.elapsed();
    let big_res = big_fetch.await.unwrap();
    let all_done = t0.elapsed();

    let errors: Vec<String> = fetched
        .iter()
        .filter_map(|(_, r)| r.as_ref().err().map(|e| e.to_string()))
        .chain(big_res.as_ref().err().map(|e| format!("large blob: {e}")))
        .collect();
    let drops = DROPPED.load(Ordering::Relaxed) - drops_before;
    let small_bytes: u64 = items.iter().map(|(_, _, s)| s).sum();
    println!(
        "lanes {lanes}: {small} small blobs ({:.1} MiB) in {:.2} s ({:.0} items/s), {} MiB blob \
         done at {:.2} s; errors {}, dropped streams {drops}",
        small_bytes as f64 / MIB as f64,
        small_done.as_secs_f64(),
        small as f64 / small_done.as_secs_f64(),
        big / MIB,
        all_done.as_secs_f64(),
        errors.len(),
    );
    assert!(
        errors.is_empty(),
        "{} of {} fetches failed, e.g. {:?}",
        errors.len(),
        small + 1,
        &errors[..errors.len().min(5)]
    );
    assert_eq!(drops, 0, "the serving node dropped {drops} inbound streams");
    assert_eq!(
        *a.server.opens.lock().unwrap() as usize,
        small + 1,
        "every blob is asked for exactly once: no retry"
    );
    for (src, res) in &fetched {
        let fetched = res.as_ref().unwrap();
        assert!(!fetched.skipped);
        assert!(
            std::fs::read(src).unwrap() == std::fs::read(&fetched.path).unwrap(),
            "{} differs",
            src.display()
        );
    }
    let fetched = big_res.unwrap();
    assert!(same_bytes(&big_path, &fetched.path));
    let info = b.handle.peers().await.unwrap();
    assert_eq!(info[0].transfers_in_flight, 0);
}

/// The issue's scenario: 2,000 small blobs, 32 in flight, and a 256 MiB blob alongside, on the
/// default lanes (about 15 s in a debug build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_11_many_small_blobs_and_a_256_mib_blob_under_load() {
    run_load(Load {
        seed: 111,
        small: SMALL,
        big: 256 * MIB,
        lanes: 4,
        open_delay: Duration::ZERO,
    })
    .await;
}

/// The inbound side queues instead of dropping: without lanes every fetch opens its own
/// `/casemesh/blob/1` stream (the pattern that lost streams before), 32 at a time, and the
/// serving node, which serves 4 requests of one partner at once and 16 of its lanes, makes the
/// rest wait rather than refusing or losing them. Each permission check takes 5 ms, as on a
/// loaded node, so the 33 streams are all open at once: before lanes over the cap waited, this
/// failed every time with about 470 of 601 fetches answered "Busy: too many blob streams from
/// this partner" (CI saw 5 on a loaded machine without the delay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_11_one_version_1_stream_per_fetch_loses_none() {
    run_load(Load {
        seed: 113,
        small: 600,
        big: 16 * MIB,
        lanes: 0,
        open_delay: Duration::from_millis(5),
    })
    .await;
}

/// Fetches cancelled while queued on a lane or in the middle of their answer leave the lane
/// usable: with a single lane shared by everything, every other fetch succeeds, and each
/// cancelled blob is fetched completely afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_fetches_leave_a_shared_lane_usable() {
    install_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(115, &dir.path().join("a")).await;
    let mut b = node_with(116, &dir.path().join("b"), |c| {
        c.with_max_concurrent_fetches(IN_FLIGHT)
            .with_blob_lanes_per_peer(1)
    })
    .await;
    pair(&mut a, &mut b).await;
    let a_peer = a.handle.local_peer_id();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut items = Vec::new();
    for i in 0..300usize {
        let size = small_size(i) * 4; // 4–256 KiB: long enough to be cut mid-answer
        let path = src.join(format!("c{i}.bin"));
        let hash = write_random(&path, size, 20_000 + i as u64);
        a.server.add(hash, &path, size);
        items.push((path, hash, size));
    }
    let mut tasks = Vec::new();
    for (i, (_, hash, size)) in items.iter().enumerate() {
        let (h, hash, size) = (b.handle.clone(), *hash, *size);
        let task = tokio::spawn(async move {
            h.fetch_blob(a_peer, GOOD_GRANT.to_vec(), hash, Some(size))
                .await
        });
        tasks.push((i % 7 == 3, task));
    }
    for (i, (cancel, task)) in tasks.iter().enumerate() {
        if *cancel {
            tokio::time::sleep(std::time::Duration::from_micros((i as u64 * 37) % 3000)).await;
            task.abort();
        }
    }
    let mut cancelled = Vec::new();
    for ((path, hash, size), (cancel, task)) in items.iter().zip(tasks) {
        match task.await {
            Ok(Ok(fetched)) => {
                assert!(std::fs::read(path).unwrap() == std::fs::read(&fetched.path).unwrap());
            }
            Ok(Err(e)) => panic!("a fetch that was not cancelled failed: {e}"),
            Err(e) => {
                assert!(cancel && e.is_cancelled(), "{e}");
                cancelled.push((path, *hash, *size));
            }
        }
    }
    assert!(!cancelled.is_empty(), "no fetch was cancelled in flight");
    for (path, hash, size) in cancelled {
        let fetched = b
            .handle
            .fetch_blob(a_peer, GOOD_GRANT.to_vec(), hash, Some(size))
            .await
            .unwrap();
        assert!(std::fs::read(path).unwrap() == std::fs::read(&fetched.path).unwrap());
    }
    assert_eq!(DROPPED.load(Ordering::Relaxed), 0);
}
