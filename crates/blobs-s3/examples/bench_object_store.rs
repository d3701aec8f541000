//! Ingest throughput of [`S3Blobs`] next to a plain multipart upload of the same file through
//! the same `object_store` client (the ceiling), in one run against one bucket. Driven by
//! `scripts/bench-object-store`, which starts Garage and passes the settings:
//!
//! ```text
//! BENCH_ENDPOINT=http://127.0.0.1:3900 BENCH_BUCKET=b BENCH_REGION=garage \
//! AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… \
//!   bench_object_store FILE RUNS
//! ```
//!
//! Each run measures, in this order (every stored object deleted after its run, so nothing
//! dedups):
//! - `plain`: `WriteMultipart` of the file to one key, 8 MiB parts, 4 in flight (the ceiling);
//! - `put_file`: [`S3Blobs::put_file`] (hash the file locally, then upload it straight to its
//!   address with its outboard, hashing again on the way);
//! - `writer`: [`S3Blobs::writer`] fed 1 MiB pieces (what an ingest of a stream does: to a
//!   staging key while hashing, outboard, server-side copy to the address).
//!
//! Prints one `RESULT name median_seconds mib_per_s` line each, then `RESULT peak_rss_kib N`
//! (`VmHWM`, which counts the page cache `put_file` maps to hash the file) and
//! `RESULT peak_anon_kib N` (anonymous memory, sampled every 10 ms: buffers and parts in flight).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, sync::Arc, time::Instant};

use casemesh_blobs_s3::{Credentials, S3Blobs, S3Config};
use object_store::{ObjectStoreExt, WriteMultipart, path::Path};
use tokio::io::AsyncReadExt;

const PART: usize = 8 << 20;
const IN_FLIGHT: usize = 4;

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A field of `/proc/self/status` in KiB (0 when unreadable).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn plain(store: &Arc<dyn object_store::ObjectStore>, file: &std::path::Path) -> f64 {
    let key = Path::from("bench/plain");
    let t = Instant::now();
    let upload = store.put_multipart(&key).await.expect("start upload");
    let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut f = tokio::fs::File::open(file).await.expect("open");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        w.wait_for_capacity(IN_FLIGHT).await.expect("part");
        w.write(&buf[..n]);
    }
    w.finish().await.expect("complete");
    let secs = t.elapsed().as_secs_f64();
    store.delete(&key).await.expect("delete");
    secs
}

async fn put_file(blobs: &S3Blobs, file: &std::path::Path) -> f64 {
    let t = Instant::now();
    let s = blobs.put_file(file).await.expect("put_file");
    let secs = t.elapsed().as_secs_f64();
    assert!(s.written, "nothing may dedup in a benchmark run");
    blobs.delete(&s.hash).await.expect("delete");
    secs
}

async fn writer(blobs: &S3Blobs, file: &std::path::Path, size: u64) -> f64 {
    let t = Instant::now();
    let mut w = blobs.writer(Some(size));
    let mut f = tokio::fs::File::open(file).await.expect("open");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        w.write(&buf[..n]).await.expect("write");
    }
    let s = w.finish().await.expect("finish");
    let secs = t.elapsed().as_secs_f64();
    assert!(s.written, "nothing may dedup in a benchmark run");
    blobs.delete(&s.hash).await.expect("delete");
    secs
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = PathBuf::from(args.get(1).expect("usage: bench_object_store FILE RUNS"));
    let runs: usize = args.get(2).map_or(3, |r| r.parse().expect("RUNS"));
    let size = std::fs::metadata(&file).expect("file").len();
    let config = S3Config {
        endpoint: env("BENCH_ENDPOINT"),
        bucket: env("BENCH_BUCKET"),
        region: env("BENCH_REGION"),
        path_style: true,
        credentials: Credentials {
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
        },
        part_size: PART,
        upload_concurrency: IN_FLIGHT,
        retry_timeout: std::time::Duration::from_secs(60),
    };
    let blobs = S3Blobs::connect(&config).expect("connect");
    blobs.check().await.expect("bucket answers");
    if runs == 0 {
        return; // `RUNS = 0`: only check that the bucket answers.
    }
    let store = blobs.object_store().clone();
    // Peak anonymous memory (heap, buffers), sampled every 10 ms: `VmHWM` also counts the
    // file-backed pages of `put_file`'s memory-mapped hashing pass, which are page cache.
    let peak_anon = Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let peak = peak_anon.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(status_kib("RssAnon:"), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        });
    }
    let (mut p, mut f, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        p.push(plain(&store, &file).await);
        f.push(put_file(&blobs, &file).await);
        w.push(writer(&blobs, &file, size).await);
        eprintln!(
            "run {}: plain {:.2} s, put_file {:.2} s, writer {:.2} s",
            run + 1,
            p[run],
            f[run],
            w[run]
        );
    }
    let mib = size as f64 / (1 << 20) as f64;
    for (name, v) in [("plain", p), ("put_file", f), ("writer", w)] {
        let m = median(v);
        println!("RESULT {name} {m:.3} {:.1}", mib / m);
    }
    println!("RESULT peak_rss_kib {}", status_kib("VmHWM:"));
    println!(
        "RESULT peak_anon_kib {}",
        peak_anon.load(std::sync::atomic::Ordering::Relaxed)
    );
}
