//! The S3 blob store against a real three-node Garage cluster with replication factor 3
//! (`support::GarageCluster`): one Garage node is killed during a multi-blob ingest and another
//! during verified reads. Nothing acknowledged is lost (every stored blob reads back verified
//! with the node still down and after it restarted) and everything completes (a blob whose
//! store answered `Action::Retry` is stored again; nothing else is retried).

#![allow(clippy::unwrap_used)]

mod support;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use casemesh_blobs_s3::{Action, OutboardState, S3Blobs, S3Error, Stored};
use casemesh_model::ids::BlobHash;
use futures::TryStreamExt;
use support::{GarageCluster, fill};

/// Blob `i`: 1 MiB + i bytes for most, 12 MiB + i (multipart, 5 MiB parts) for every third.
fn size_of(i: u64) -> u64 {
    if i.is_multiple_of(3) {
        (12 << 20) + i
    } else {
        (1 << 20) + i
    }
}

fn write_file(dir: &std::path::Path, i: u64) -> std::path::PathBuf {
    let path = dir.join(format!("item{i}.bin"));
    let mut data = vec![0u8; size_of(i) as usize];
    fill(i << 40, &mut data);
    std::fs::write(&path, data).expect("write item");
    path
}

/// Run `op` until it succeeds; an error whose action is `Retry` is retried (for up to two
/// minutes), any other fails the test. Returns the result and the retries it took.
async fn retrying<T, F, Fut>(what: &str, mut op: F) -> (T, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S3Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut retries = 0;
    loop {
        match op().await {
            Ok(v) => return (v, retries),
            Err(e) if e.action() == Action::Retry && Instant::now() < deadline => {
                eprintln!("{what}: retrying after {e}");
                retries += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("{what}: {e} ({:?})", e.action()),
        }
    }
}

/// Every blob verifies whole (bytes against the hash, outboard beside it) and a ranged read
/// across a 16 KiB group boundary returns the right bytes.
async fn all_verified(blobs: &S3Blobs, stored: &[Stored]) {
    for s in stored {
        let (v, _) = retrying("verify", || blobs.verify(&s.hash)).await;
        assert_eq!(v.size, s.size);
        assert_eq!(v.outboard, OutboardState::Ok, "blob {}", s.hash);
        let at = s.size / 2 - 100;
        let (got, _) = retrying("read_range", || blobs.read_range(&s.hash, at..at + 200)).await;
        let i = stored.iter().position(|x| x.hash == s.hash).unwrap() as u64;
        let mut want = vec![0u8; 200];
        fill((i << 40) + at, &mut want);
        assert_eq!(&got[..], &want[..], "blob {} bytes {at}..", s.hash);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garage_node_down_during_ingest_and_reads_loses_nothing() {
    let Some(mut cluster) = GarageCluster::start(3) else {
        return;
    };
    // The client talks to node 0; nodes 2 then 1 are killed.
    let blobs = cluster.blobs(0).await;
    let dir = tempfile::tempdir().unwrap();
    const N: u64 = 12;
    let files: Vec<_> = (0..N).map(|i| write_file(dir.path(), i)).collect();

    // Ingest: files through put_file, every other one through a streaming writer. Node 2 is
    // killed once three blobs are acknowledged.
    // Polled side by side in this task, not spawned: `S3BlobWriter::finish`'s future is not
    // `Send` (it holds `&S3BlobWriter` across awaits).
    let acked: Mutex<Vec<Stored>> = Mutex::default();
    let ingest = async {
        let mut retries = 0;
        for (i, f) in files.iter().enumerate() {
            let (s, r) = if i % 2 == 0 {
                retrying("put_file", || blobs.put_file(f)).await
            } else {
                retrying("writer", || async {
                    let data = tokio::fs::read(f).await.expect("read item");
                    let mut w = blobs.writer(Some(data.len() as u64));
                    for piece in data.chunks(256 << 10) {
                        w.write(piece).await?;
                    }
                    w.finish().await
                })
                .await
            };
            retries += r;
            acked.lock().unwrap().push(s);
        }
        retries
    };
    let kill = async {
        while acked.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cluster.stop(2);
        acked.lock().unwrap().len()
    };
    let (retries, in_flight_at_kill) = tokio::join!(ingest, kill);
    let stored = acked.lock().unwrap().clone();
    eprintln!(
        "node 2 killed after {in_flight_at_kill} of {N} blobs; ingest completed with {retries} retries"
    );
    assert_eq!(stored.len() as u64, N, "every blob stored");
    for (i, s) in stored.iter().enumerate() {
        assert_eq!(s.hash, BlobHash::of(&std::fs::read(&files[i]).unwrap()));
        assert_eq!(s.size, size_of(i as u64));
    }

    // With node 2 still down, every acknowledged blob reads back verified.
    all_verified(&blobs, &stored).await;
    let listed = blobs.list().await.unwrap();
    assert_eq!(listed.len() as u64, N);

    // Node 2 back; then node 1 is killed in the middle of streaming every blob through the
    // verified reader.
    cluster.restart(2);
    cluster.wait_all_up(0);
    let reads_done = Arc::new(Mutex::new(0usize));
    let reads = {
        let (blobs, stored, files, done) = (
            blobs.clone(),
            stored.clone(),
            files.clone(),
            reads_done.clone(),
        );
        tokio::spawn(async move {
            let mut read = 0u64;
            for (i, s) in stored.iter().enumerate() {
                let (bytes, _) = retrying("reader", || async {
                    let stream = blobs.reader(&s.hash, None).await?;
                    let pieces: Vec<_> = stream.try_collect().await?;
                    Ok(pieces.concat())
                })
                .await;
                assert_eq!(bytes, std::fs::read(&files[i]).unwrap(), "blob {i}");
                read += bytes.len() as u64;
                *done.lock().unwrap() += 1;
            }
            read
        })
    };
    while *reads_done.lock().unwrap() < stored.len() / 2 {
        assert!(!reads.is_finished(), "reads ended early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.stop(1);
    let read = reads.await.unwrap();
    assert_eq!(read, stored.iter().map(|s| s.size).sum::<u64>());
    all_verified(&blobs, &stored).await;

    // Node 1 back: still all there, and a client on a node that was down reads them too.
    cluster.restart(1);
    cluster.wait_all_up(0);
    all_verified(&blobs, &stored).await;
    let via_2 = cluster.blobs(2).await;
    all_verified(&via_2, &stored).await;
    assert!(
        blobs
            .object_store()
            .list(Some(&object_store::path::Path::from("staging")))
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .is_empty(),
        "no staging key left"
    );
}
