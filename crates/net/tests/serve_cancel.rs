//! Issue "`share stop` ends transfers of that share in flight at once", the sharer's side: a
//! blob whose `BlobSource::cancel` token is cancelled mid-transfer stops being sent. Two
//! in-process nodes; the sharer serves a 256 MiB blob handed out with a token and a second blob
//! without one. The token is cancelled while the large blob streams: its fetch must end with an
//! error within 1 s, the serving side must stop, and the second transfer to the same peer must
//! still complete byte-identical — on its own lane (default lanes), queued behind the cancelled
//! answer on the same lane (one lane: it is sent again on a new one), and over version 1
//! streams. Afterwards the withdrawn blob is refused `Forbidden` before any byte is sent.
//! Before the fix the large fetch ran to its end and succeeded.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use casemesh_net::{BlobSource, CancellationToken, NetError, RefusalCode};
use common::*;
use tokio::sync::{Mutex, watch};

const MIB: u64 = 1024 * 1024;
/// The withdrawn blob.
const BIG: u64 = 256 * MIB;
/// The blob that keeps going.
const OTHER: u64 = 64 * MIB;
/// The deadline from the cancel to the end of the withdrawn fetch.
const DEADLINE: Duration = Duration::from_secs(1);

/// The tests move hundreds of MiB each on a 2-core machine: one at a time, so the deadline
/// measures the protocol, not the neighbours.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// How the fetcher reaches the sharer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lanes {
    /// The default: a few `/casemesh/blob/2` lanes; the second fetch takes another lane.
    Default,
    /// One lane: the second request is queued behind the withdrawn answer.
    One,
    /// No lanes: one `/casemesh/blob/1` stream per fetch.
    V1,
}

/// Wait until the progress `rx` reports at least `bytes`.
async fn progress_reaches(rx: &mut watch::Receiver<u64>, bytes: u64, what: &str) {
    while *rx.borrow_and_update() < bytes {
        rx.changed()
            .await
            .unwrap_or_else(|_| panic!("{what} ended before {bytes} bytes"));
    }
}

async fn stop_mid_transfer(seed: u8, lanes: Lanes) {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(seed, &dir.path().join("a")).await;
    let mut b = node_with(seed + 1, &dir.path().join("b"), |c| match lanes {
        Lanes::Default => c,
        Lanes::One => c.with_blob_lanes_per_peer(1),
        Lanes::V1 => c.with_blob_lanes_per_peer(0),
    })
    .await;
    pair(&mut a, &mut b).await;
    let a_peer = a.handle.local_peer_id();

    let big_path = dir.path().join("big.bin");
    let big_hash = write_random(&big_path, BIG, u64::from(seed));
    let other_path = dir.path().join("other.bin");
    let other_hash = write_random(&other_path, OTHER, u64::from(seed) + 1);
    let stop = CancellationToken::new();
    let big = BlobSource::new(&big_path, BIG).with_cancel(stop.child_token());
    // Outboards ready, so both answers stream at once.
    assert!(a.handle.prepare_blob(big_hash, big.clone()).await.unwrap());
    let other = BlobSource::new(&other_path, OTHER);
    assert!(
        a.handle
            .prepare_blob(other_hash, other.clone())
            .await
            .unwrap()
    );
    a.server.add_source(big_hash, big);
    a.server.add_source(other_hash, other);

    let (tx, mut big_progress) = watch::channel(0u64);
    let h = b.handle.clone();
    let mut big_fetch = tokio::spawn(async move {
        h.fetch_blob_with_progress(a_peer, GOOD_GRANT.to_vec(), big_hash, Some(BIG), tx)
            .await
    });
    progress_reaches(&mut big_progress, 8 * MIB, "the large fetch").await;

    let (tx, mut other_progress) = watch::channel(0u64);
    let h = b.handle.clone();
    let other_fetch = tokio::spawn(async move {
        h.fetch_blob_with_progress(a_peer, GOOD_GRANT.to_vec(), other_hash, Some(OTHER), tx)
            .await
    });
    if lanes == Lanes::One {
        // Queued behind the large answer: give the request time to go out on the lane.
        tokio::time::sleep(Duration::from_millis(50)).await;
    } else {
        // Both stream side by side when the share is stopped.
        progress_reaches(&mut other_progress, MIB, "the second fetch").await;
    }

    let cancelled_at = *big_progress.borrow();
    let t0 = Instant::now();
    stop.cancel();
    let ended = tokio::time::timeout(DEADLINE, &mut big_fetch).await;
    let took = t0.elapsed();
    let res = match ended {
        Ok(joined) => joined.unwrap(),
        Err(_) => {
            let at = *big_progress.borrow();
            big_fetch.abort();
            panic!(
                "{lanes:?}: the withdrawn fetch still ran {DEADLINE:?} after the cancel \
                 ({cancelled_at} → {at} of {BIG} bytes)"
            );
        }
    };
    match res {
        Err(NetError::Interrupted(reason)) => {
            println!("{lanes:?}: withdrawn fetch ended after {took:?}: {reason}");
        }
        other => panic!("{lanes:?}: the withdrawn fetch must end interrupted, got {other:?}"),
    }

    // The other transfer to the same peer completes, byte-identical.
    let fetched = other_fetch.await.unwrap().unwrap();
    assert!(same_bytes(&other_path, &fetched.path), "{lanes:?}");

    // The sharer stops serving: no transfer left, no byte more sent.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let info = a.handle.peers().await.unwrap();
        if info[0].transfers_in_flight == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{lanes:?}: the sharer still serves"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = a.handle.peers().await.unwrap()[0].bytes_sent;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        a.handle.peers().await.unwrap()[0].bytes_sent,
        sent,
        "{lanes:?}"
    );
    assert!(sent < BIG + OTHER, "{lanes:?}: {sent} bytes sent");

    // Asked again (a resume of the partial file), the withdrawn blob is refused up front.
    match b
        .handle
        .fetch_blob(a_peer, GOOD_GRANT.to_vec(), big_hash, Some(BIG))
        .await
    {
        Err(NetError::Refused { refusal, .. }) => {
            assert_eq!(refusal.code, RefusalCode::Forbidden, "{lanes:?}");
            assert_eq!(refusal.reason, "the share was stopped", "{lanes:?}");
        }
        other => panic!("{lanes:?}: expected a refusal, got {other:?}"),
    }
    // ... and the lane that carried the refusal still serves.
    std::fs::remove_file(&fetched.path).unwrap();
    let again = b
        .handle
        .fetch_blob(a_peer, GOOD_GRANT.to_vec(), other_hash, Some(OTHER))
        .await
        .unwrap();
    assert!(same_bytes(&other_path, &again.path), "{lanes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_stop_ends_a_transfer_in_flight_and_spares_the_other_lanes() {
    stop_mid_transfer(161, Lanes::Default).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_stop_ends_a_transfer_in_flight_and_the_request_queued_behind_it_completes() {
    stop_mid_transfer(163, Lanes::One).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_stop_ends_a_transfer_in_flight_over_version_1() {
    stop_mid_transfer(165, Lanes::V1).await;
}
