//! A node on a real three-server Garage cluster with replication factor 3 (issue #18, "stop one
//! Garage node during an ingest and a share, nothing is lost and everything completes"), between
//! real `casemesh` processes.
//!
//! `a_garage_server_down_during_ingest_and_share_loses_nothing`: the sharer keeps its blobs in
//! the cluster's bucket and talks to server 0's S3 API; the receiver is on files. Server 2 is
//! killed (SIGKILL) while `casemesh evidence add` ingests several items one after another (large
//! ones in several multipart parts, small ones in one PUT), and, once it is back, server 1 is
//! killed while a partner share by copy of the case is being delivered. Every `evidence add`
//! succeeds on its first try, the share becomes Complete, the receiver's copy holds every item
//! with the right hash and the same bytes, and `casemesh blobs verify` at the sharer passes with
//! the server still down and after it is back; the bucket, listed through the server that was
//! down, holds every blob.
//!
//! Which server is stopped: never server 0. A node is configured with one S3 endpoint, and here
//! that endpoint is server 0's own S3 API, so stopping it is "the object store is unreachable"
//! (the node's requests fail until it is back; object_store retries them for up to 180 s), not
//! "one replica is down". A deployment that must survive the loss of the server it talks to puts
//! a load balancer or a Garage gateway in front of the cluster; what the cluster itself
//! guarantees (with three copies, writes and reads need two) is what this test exercises.
//!
//! Without Garage the test is skipped with a message (`CASEMESH_REQUIRE_TOOLS=1` makes that a
//! failure).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::garage::GarageCluster;
use casemesh_tests::{
    EvidenceView, SHARING_LOG, TestNode, assert_blobs_sound, create_case, hash_file, logged_node,
    partner, random_file, s, share_case, share_view, wait_copy, wait_share_complete,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

/// How long the share gets to complete (one Garage server down, debug build, loaded machine).
const LIMIT: Duration = Duration::from_secs(120);

/// Items ingested and shared.
const N: u64 = 8;

/// Item `i`'s size: every other one 12 MiB + `i` (two 8 MiB multipart parts at the node's
/// default part size), the others 300 KiB + `i` (one PUT).
fn size_of(i: u64) -> u64 {
    if i.is_multiple_of(2) {
        12 * MIB + i
    } else {
        300 * 1024 + i
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Poll `done` every 5 ms until it reaches `n` (or `limit` passes: a panic naming `what`).
fn wait_count(what: &str, done: &AtomicUsize, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while done.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "{what}: still below {n}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_garage_server_down_during_ingest_and_share_loses_nothing() {
    let Some(mut garage) = GarageCluster::start(3) else {
        return;
    };
    let a = TestNode::builder("sharer-s3")
        .config_append(garage.storage_toml(0))
        .env("RUST_LOG", SHARING_LOG)
        .start();
    let b = logged_node("receiver-fs", SHARING_LOG);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "S3-CLUSTER-1");
    let files: Vec<PathBuf> = (0..N)
        .map(|i| {
            let path = work.path().join(format!("item-{i}.bin"));
            random_file(&path, size_of(i), 1800 + i);
            path
        })
        .collect();
    let want = sorted(files.iter().map(|f| hash_file(f).to_string()).collect());

    // Ingest, one `evidence add` after another in a thread; server 2 is killed once two items
    // are acknowledged, in the middle of the third.
    let acked = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let ingest = {
        let (cli, case, files, acked) =
            (a.cli_handle(), case.clone(), files.clone(), acked.clone());
        std::thread::spawn(move || {
            files
                .iter()
                .map(|f| {
                    let v = cli
                        .try_json(["evidence", "add", &case, s(f)])
                        .unwrap_or_else(|e| panic!("an ingest failed with server 2 down: {e}"));
                    acked.fetch_add(1, Ordering::SeqCst);
                    casemesh_tests::json_as::<EvidenceView>(&v)
                })
                .collect::<Vec<_>>()
        })
    };
    wait_count("items ingested", &acked, 2, LIMIT);
    garage.stop(2);
    let at_stop = acked.load(Ordering::SeqCst);
    let added = ingest.join().expect("ingest thread");
    eprintln!(
        "server 2 stopped after {at_stop} of {N} items were acknowledged; ingest done in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert!(
        at_stop < N as usize,
        "server 2 was stopped during the ingest"
    );
    for (e, f) in added.iter().zip(&files) {
        assert_eq!(e.hash, hash_file(f), "{}", e.name);
    }
    assert_eq!(garage.blob_hashes(0), want, "every blob in the bucket");
    assert_blobs_sound(&a);

    // Server 2 back; server 1 is killed as soon as the share is created, while the sharer
    // reads the items from the bucket and sends them (about two seconds here). The share is
    // still Processing after the kill: the kill came before it completed.
    let t = Instant::now();
    garage.restart(2);
    eprintln!("server 2 back in {:.1} s", t.elapsed().as_secs_f64());
    partner(&a, &b);
    let share = share_case(&a, &case, b.name(), &[]).id;
    garage.stop(1);
    let at_stop = share_view(&a, &share.to_string());
    eprintln!(
        "server 1 stopped with the share {} ({} of {N} items delivered)",
        at_stop.status, at_stop.items_delivered
    );
    assert_eq!(
        at_stop.status, "Processing",
        "server 1 was stopped during the share: {at_stop:?}"
    );
    let done = wait_share_complete(&a, &share.to_string(), LIMIT);
    assert_eq!(done.items_delivered, N as usize, "{done:?}");
    let copy = wait_copy(&b, &share.to_string(), N as usize, LIMIT);
    assert_eq!(
        sorted(copy.evidence.iter().map(|e| e.hash.to_string()).collect()),
        want,
        "the copy's items"
    );
    assert_eq!(
        sorted(
            b.blob_files()
                .iter()
                .map(|p| hash_file(p).to_string())
                .collect()
        ),
        want,
        "the receiver's blob files hold the same bytes"
    );
    assert_blobs_sound(&b);
    assert_blobs_sound(&a);

    // Server 1 back: the sharer's blobs still verify, and the server that was down lists them.
    garage.restart(1);
    assert_blobs_sound(&a);
    assert_eq!(garage.blob_hashes(1), want, "listed through server 1");
}
