//! Batched blob requests (`/casemesh/blob/3`, issue #11 "small items cost no more than their
//! bytes"): many small blobs under one grant check, each verified, one answer per hash; a
//! refused or withdrawn blob costs only itself; hostile batches are refused before anything
//! is asked.

#![allow(clippy::unwrap_used)]

mod common;

use casemesh_model::ids::BlobHash;
use casemesh_net::{CancellationToken, NetError, RefusalCode, wire::MAX_BATCH_HASHES};
use common::*;

/// `n` small random files served by `a`; returns their hashes and sizes.
fn serve_small(a: &TestNode, dir: &std::path::Path, n: usize, seed: u64) -> Vec<(BlobHash, u64)> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let size = 1 + (i as u64 * 977) % 20_000;
            let path = dir.join(format!("s{i}.bin"));
            let hash = write_random(&path, size, seed + i as u64);
            a.server.add(hash, &path, size);
            (hash, size)
        })
        .collect()
}

fn refusal_code(r: &Result<Vec<u8>, NetError>) -> Option<RefusalCode> {
    match r {
        Err(NetError::Refused { refusal, .. }) => Some(refusal.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_serves_every_blob_but_the_one_refused_and_checks_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(131, &dir.path().join("a")).await;
    let mut b = node(132, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let mut blobs = serve_small(&a, &dir.path().join("src"), 40, 31_000);
    // One hash the server does not have, in the middle of the batch.
    let unknown = (BlobHash::of(b"not served"), 10);
    blobs.insert(17, unknown);
    let got = b
        .handle
        .fetch_small_blobs(a.handle.local_peer_id(), GOOD_GRANT.to_vec(), blobs.clone())
        .await
        .unwrap();
    assert_eq!(got.len(), blobs.len());
    for (i, ((hash, size), r)) in blobs.iter().zip(&got).enumerate() {
        if i == 17 {
            assert_eq!(refusal_code(r), Some(RefusalCode::NotFound), "{r:?}");
        } else {
            let bytes = r.as_ref().unwrap();
            assert_eq!(bytes.len() as u64, *size);
            assert_eq!(BlobHash::of(bytes), *hash);
        }
    }
    // One grant check for the whole batch.
    assert_eq!(*a.server.batches.lock().unwrap(), 1);
    // The lane is still in step: a single fetch and a second batch go through.
    let (hash, size) = blobs[0];
    let single = b
        .handle
        .fetch_blob(
            a.handle.local_peer_id(),
            GOOD_GRANT.to_vec(),
            hash,
            Some(size),
        )
        .await
        .unwrap();
    assert_eq!(single.size, size);
    let again = b
        .handle
        .fetch_small_blobs(
            a.handle.local_peer_id(),
            GOOD_GRANT.to_vec(),
            blobs[20..].to_vec(),
        )
        .await
        .unwrap();
    assert!(again.iter().all(Result::is_ok));
    // Nothing of a batch is left in the partial directory: the caller stores the bytes.
    let leftovers = std::fs::read_dir(&b.partial)
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0);
    assert_eq!(leftovers, 1, "only the single fetch's file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_grant_refuses_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(133, &dir.path().join("a")).await;
    let mut b = node(134, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let blobs = serve_small(&a, &dir.path().join("src"), 5, 32_000);
    let got = b
        .handle
        .fetch_small_blobs(a.handle.local_peer_id(), b"forged".to_vec(), blobs)
        .await
        .unwrap();
    assert!(
        got.iter()
            .all(|r| refusal_code(r) == Some(RefusalCode::Forbidden))
    );
}

/// A share stopped while its batch waits: the stopped share's blobs are refused (`Forbidden`,
/// nothing of them sent), the other share's blobs in the same batch are served, and the lane
/// stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_cut_by_share_stop_serves_nothing_of_the_stopped_share() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(135, &dir.path().join("a")).await;
    let mut b = node(136, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let blobs = serve_small(&a, &dir.path().join("src"), 30, 33_000);
    let stopped = CancellationToken::new();
    for (i, (hash, _)) in blobs.iter().enumerate() {
        if i % 2 == 1 {
            let source = a.server.blobs.lock().unwrap()[hash].clone();
            a.server
                .add_source(*hash, source.with_cancel(stopped.child_token()));
        }
    }
    stopped.cancel();
    let got = b
        .handle
        .fetch_small_blobs(a.handle.local_peer_id(), GOOD_GRANT.to_vec(), blobs.clone())
        .await
        .unwrap();
    for (i, r) in got.iter().enumerate() {
        if i % 2 == 1 {
            assert_eq!(refusal_code(r), Some(RefusalCode::Forbidden), "{r:?}");
        } else {
            assert!(r.is_ok(), "{r:?}");
        }
    }
    let again = b
        .handle
        .fetch_small_blobs(
            a.handle.local_peer_id(),
            GOOD_GRANT.to_vec(),
            vec![blobs[0]],
        )
        .await
        .unwrap();
    assert!(again[0].is_ok());
}

/// Batches the protocol or the memory bound does not allow are refused before anything is
/// asked: too many hashes, a hash named twice, a blob too large to hold in memory, too many
/// bytes in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_batches_are_refused_before_anything_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(137, &dir.path().join("a")).await;
    let mut b = node(138, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let peer = a.handle.local_peer_id();
    let h = |i: u32| BlobHash::of(&i.to_le_bytes());
    let too_many: Vec<_> = (0..=MAX_BATCH_HASHES as u32).map(|i| (h(i), 1)).collect();
    let twice = vec![(h(1), 1), (h(2), 1), (h(1), 1)];
    let oversize = vec![(h(1), casemesh_net::MAX_BATCH_BLOB + 1)];
    let too_much: Vec<_> = (0..20u32)
        .map(|i| (h(i), casemesh_net::MAX_BATCH_BLOB))
        .collect();
    for (what, batch) in [
        ("too many", too_many),
        ("twice", twice),
        ("oversize", oversize),
        ("too much", too_much),
        ("empty", vec![]),
    ] {
        let r = b
            .handle
            .fetch_small_blobs(peer, GOOD_GRANT.to_vec(), batch)
            .await;
        assert!(r.is_err(), "{what} was asked");
    }
    assert_eq!(*a.server.batches.lock().unwrap(), 0);
    assert_eq!(*a.server.opens.lock().unwrap(), 0);
}

/// A partner whose lanes stop at version 2 (here: no lanes at all, version 1) still gets the
/// blobs of a batch, one request each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_to_a_partner_without_version_3_falls_back_to_single_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(139, &dir.path().join("a")).await;
    let mut b = node_with(140, &dir.path().join("b"), |c| {
        c.with_blob_lanes_per_peer(0)
    })
    .await;
    pair(&mut a, &mut b).await;
    let blobs = serve_small(&a, &dir.path().join("src"), 6, 34_000);
    let got = b
        .handle
        .fetch_small_blobs(a.handle.local_peer_id(), GOOD_GRANT.to_vec(), blobs.clone())
        .await
        .unwrap();
    for ((hash, _), r) in blobs.iter().zip(&got) {
        assert_eq!(BlobHash::of(r.as_ref().unwrap()), *hash);
    }
    assert_eq!(*a.server.batches.lock().unwrap(), 0);
    assert_eq!(*a.server.opens.lock().unwrap(), 6);
}
