//! Issue #9 ("every spawned task is owned and joined at shutdown"), the serving side: when the
//! node stops while it answers a blob request, the lane task is aborted, but the answer's
//! blocking work — the permission check `BlobServer::open`, which in the node writes audit
//! entries, then the bytes — runs to its end, and `NetHandle::stopped` returns only after it, so
//! the node's final store flush never runs beside it. Before the fix the answer ran on a bare
//! `spawn_blocking`: `stopped` returned while the permission check was still under way.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use casemesh_net::CancellationToken;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_waits_for_a_blob_answer_under_way() {
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let mut a = node_with(41, &dir.path().join("a"), |c| c.with_shutdown(stop.clone())).await;
    let mut b = node(42, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let path = dir.path().join("blob.bin");
    let hash = write_random(&path, 64 * 1024, 41);
    a.server.add(hash, &path, 64 * 1024);
    // A slow permission check (a database under load): the answer is under way for 1.5 s.
    *a.server.open_delay.lock().unwrap() = Duration::from_millis(1500);

    let (h, peer) = (b.handle.clone(), a.handle.local_peer_id());
    let fetch = tokio::spawn(async move {
        h.fetch_blob(peer, GOOD_GRANT.to_vec(), hash, Some(64 * 1024))
            .await
    });
    // Wait until the check has started, then stop the serving node.
    for _ in 0..500 {
        if *a.server.opens.lock().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        *a.server.opens.lock().unwrap(),
        1,
        "the request never arrived"
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), a.handle.stopped())
        .await
        .expect("the net layer stopped");
    assert_eq!(
        *a.server.opens_done.lock().unwrap(),
        1,
        "the net layer counted as stopped while a blob answer's blocking work still ran"
    );
    fetch.abort();
}
