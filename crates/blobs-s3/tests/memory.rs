//! A 64 MiB blob through a real Garage: the process's peak RSS grows by a bounded amount (the
//! parts in flight), not by the blob's size, on the way in and on the verified way out: the same
//! as for a 16 MiB blob. Alone in its own test binary so no other test's allocations show in the
//! figures.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod support;

use std::time::Instant;

use casemesh_blobs_s3::S3Blobs;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use support::{Garage, fill};

/// Resident set and its peak (VmRSS, VmHWM) in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Reset the peak (VmHWM) to the current RSS (Linux: `5` to /proc/self/clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Upload `size` bytes through a writer and read them back verified; returns the peak RSS growth
/// (KiB) of each, their throughput (MiB/s) and the hash.
async fn round_trip(blobs: &S3Blobs, size: u64, seed: u64) -> (u64, u64, f64, f64) {
    let mut buf = vec![0u8; 1 << 20];
    fill(seed, &mut buf);
    let mut expected = blake3::Hasher::new();
    reset_peak();
    let (before, _) = rss();
    let t0 = Instant::now();
    let mut w = blobs.writer(None);
    let mut at = 0;
    while at < size {
        // Distinct pieces without generating them in the timed loop (the test is unoptimized).
        buf[..8].copy_from_slice(&at.to_le_bytes());
        expected.update(&buf);
        w.write(&buf).await.unwrap();
        at += buf.len() as u64;
    }
    let stored = w.finish().await.unwrap();
    let put_secs = t0.elapsed().as_secs_f64();
    let (_, peak) = rss();
    assert_eq!(stored.hash, expected.finalize().into());
    assert_eq!(stored.size, size);
    let put_growth = peak.saturating_sub(before);

    reset_peak();
    let (before, _) = rss();
    let t1 = Instant::now();
    let mut stream = blobs.reader(&stored.hash, None).await.unwrap();
    let mut check = blake3::Hasher::new();
    let mut n = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.unwrap();
        check.update(&piece);
        n += piece.len() as u64;
    }
    let get_secs = t1.elapsed().as_secs_f64();
    let (_, peak) = rss();
    assert_eq!(
        (n, check.finalize()),
        (size, blake3::Hash::from(stored.hash.0))
    );
    let mib = size as f64 / (1 << 20) as f64;
    (
        put_growth,
        peak.saturating_sub(before),
        mib / put_secs,
        mib / get_secs,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_round_trip_keeps_memory_flat() {
    let Some(g) = Garage::start() else { return };
    let mut config = g.config();
    config.part_size = 8 << 20;
    config.upload_concurrency = 2;
    let blobs = g.blobs_with(config).await;

    // Warm up the client (connection pool, allocator arenas), then the 64 MiB blob, then three
    // times as much to show the peak does not follow the size.
    let mut w = blobs.writer(None);
    w.write(b"warm-up").await.unwrap();
    w.finish().await.unwrap();
    let (put64, get64, put_rate, get_rate) = round_trip(&blobs, 64 << 20, 1).await;
    let (put192, get192, _, _) = round_trip(&blobs, 192 << 20, 2).await;

    // The ceiling: the same bytes through the same client as a plain multipart upload (same
    // part size and parts in flight, no hashing, no outboard, no copy to an address).
    let mut buf = vec![0u8; 1 << 20];
    fill(3, &mut buf);
    let t2 = Instant::now();
    let upload = blobs
        .object_store()
        .put_multipart(&object_store::path::Path::from("plain/64mib"))
        .await
        .unwrap();
    let mut plain = object_store::WriteMultipart::new_with_chunk_size(upload, 8 << 20);
    let mut at = 0u64;
    while at < 64 << 20 {
        buf[..8].copy_from_slice(&at.to_le_bytes());
        plain.wait_for_capacity(2).await.unwrap();
        plain.write(&buf);
        at += buf.len() as u64;
    }
    plain.finish().await.unwrap();
    let plain_rate = 64.0 / t2.elapsed().as_secs_f64();

    eprintln!(
        "peak RSS growth: put 64 MiB +{} MiB, 192 MiB +{} MiB; verified read 64 MiB +{} MiB, 192 MiB +{} MiB",
        put64 / 1024,
        put192 / 1024,
        get64 / 1024,
        get192 / 1024
    );
    eprintln!(
        "64 MiB: put {put_rate:.0} MiB/s, verified read {get_rate:.0} MiB/s, plain multipart upload \
         through object_store (ceiling) {plain_rate:.0} MiB/s"
    );
    // Flat: the peak is the parts in flight (one buffered + 2 sent, 8 MiB each, plus freed parts
    // the allocator keeps: ~40 MiB measured) on the way in and 4 windows of 4 MiB on the way
    // out, the same bound for 64 MiB and for three times as much.
    for (what, at64, at192) in [("put", put64, put192), ("read", get64, get192)] {
        for (size, grew) in [(64, at64), (192, at192)] {
            assert!(
                grew < 56 * 1024,
                "{what}: peak RSS grew {grew} KiB for a {size} MiB blob"
            );
        }
    }
}
