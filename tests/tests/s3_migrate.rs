//! `casemesh blobs migrate --to s3|fs` (issue #18 item 4) on real node data directories and a
//! real single-node Garage ([`casemesh_tests::garage`]): the CLI a stopped node's operator runs.
//!
//! - `migrate_round_trip_through_the_cli`: a node on files ingests three items; while it runs,
//!   the migration is refused (the data directory is in use) and the bucket stays empty; stopped,
//!   `--to s3` copies every blob into the bucket, a second run copies nothing; the node started on
//!   `backend = "s3"` with its local blobs removed serves byte-identical downloads and `blobs
//!   verify` is clean; `--to fs` brings every blob back, and the node on files is whole again.
//! - `a_killed_migration_resumes`: `--to s3` killed (SIGKILL) while large blobs are going up;
//!   run again, it completes, counting what the first run finished as already there; the node
//!   then runs on the bucket with every blob sound.
//! - `migrate_without_bucket_settings_is_refused`: a node with no `[storage]` bucket gets a clear
//!   error and nothing changes.
//! - `migrating_into_another_nodes_bucket_is_refused`: a bucket another organization's node has
//!   claimed (`casemesh-owner`) is refused before anything is copied.
//! - `switching_the_backend_without_migrating_is_refused`: the start compares `[storage]` with
//!   where the node's blobs are recorded to live (`DIR/blob-location.json`).
//! - `migrate_goes_on_past_bad_blobs_and_lists_them`: two corrupt source blobs are
//!   listed with why, the others copied, exit non-zero, and a re-run resumes; the bucket's keys
//!   are read while `backend` still says "fs".
//!
//! Without Garage they are skipped with a message (`CASEMESH_REQUIRE_TOOLS=1` makes that a
//! failure).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::ids::BlobHash;
use casemesh_tests::garage::Garage;
use casemesh_tests::{
    EvidenceView, TestNode, add_random_evidence, append_config, blobs_verify, casemesh_bin,
    create_case, distinct_hashes, downloaded_hash, files_under, run_refused, s,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

/// Ingest `sizes` as items of a new case; their evidence records.
fn ingest(node: &TestNode, dir: &Path, sizes: &[u64]) -> (String, Vec<EvidenceView>) {
    let case = create_case(node, "MIG-1");
    let items = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| {
            let src = dir.join(format!("item{i}.bin"));
            add_random_evidence(node, &case, &src, *size, 900 + i as u64, &[])
        })
        .collect();
    (case, items)
}

/// Run `blobs migrate --to DEST` on the node's data directory; stdout, or the failure.
fn migrate(node: &TestNode, dest: &str) -> Result<String, String> {
    let out = node.cli(["blobs", "migrate", "--to", dest]);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Switch the node's `[storage] backend` (the table must exist).
fn set_backend(node: &TestNode, backend: &str) {
    let path = node.data_dir().join("config.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for line in config.lines() {
        if line.trim_start().starts_with("backend") {
            out.push_str(&format!("backend = \"{backend}\"\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(&path, out).unwrap();
}

/// The blob files under `DIR/blobs` (64-hex names anywhere below it), sorted by path.
fn local_blob_files(node: &TestNode) -> Vec<PathBuf> {
    files_under(&node.data_dir().join("blobs"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .collect()
}

/// The names (hashes) of [`local_blob_files`], sorted.
fn local_blobs(node: &TestNode) -> Vec<String> {
    let mut out: Vec<String> = local_blob_files(node)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

fn remove_local_blobs(node: &TestNode) {
    for path in local_blob_files(node) {
        std::fs::remove_file(path).unwrap();
    }
}

/// Every item downloads byte-identical from `node`.
fn assert_downloads(node: &TestNode, case: &str, items: &[EvidenceView], dir: &Path) {
    for ev in items {
        let hash = downloaded_hash(node, case, &ev.id.to_string(), dir);
        assert_eq!(hash, ev.hash, "{} differs", ev.name);
    }
}

fn assert_verify_clean(node: &TestNode) {
    let v = blobs_verify(node);
    assert!(
        v.missing.is_empty() && v.corrupt.is_empty() && v.exit_code == 0,
        "blobs verify: missing {:?}, corrupt {:?}",
        v.missing,
        v.corrupt
    );
}

#[test]
fn migrate_round_trip_through_the_cli() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start("metro-pd");
    let (case, items) = ingest(&node, dir.path(), &[3 * MIB, 200 * 1024, 10]);
    let storage = garage.storage_toml("metro-pd");
    append_config(node.data_dir(), &storage);
    set_backend(&node, "s3");

    // A running node keeps its data directory: refused, nothing copied.
    let err = migrate(&node, "s3").expect_err("migration while the node runs");
    assert!(err.contains("stop the node"), "{err}");
    assert!(garage.blob_hashes("metro-pd").is_empty());

    node.stop();
    let first = migrate(&node, "s3").unwrap();
    assert!(first.contains("3 blobs copied"), "{first}");
    assert_eq!(garage.blob_hashes("metro-pd"), distinct_hashes(&items));
    let again = migrate(&node, "s3").unwrap();
    assert!(
        again.contains("0 blobs copied") && again.contains("3 already there"),
        "{again}"
    );

    // On the bucket, with no local copy left: everything is there.
    remove_local_blobs(&node);
    node.start_again();
    assert_downloads(&node, &case, &items, dir.path());
    assert_verify_clean(&node);
    node.stop();

    // And back to files.
    let back = migrate(&node, "fs").unwrap();
    assert!(back.contains("3 blobs copied"), "{back}");
    assert_eq!(local_blobs(&node), distinct_hashes(&items));
    set_backend(&node, "fs");
    node.start_again();
    assert_downloads(&node, &case, &items, dir.path());
    assert_verify_clean(&node);
}

#[test]
fn a_killed_migration_resumes() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start("harbor-pd");
    let (case, items) = ingest(
        &node,
        dir.path(),
        &[48 * MIB, 48 * MIB, 48 * MIB, 64 * 1024],
    );
    append_config(node.data_dir(), &garage.storage_toml("harbor-pd"));
    node.stop();

    // Kill the migration once the first blob is in the bucket (or after 20 s at most).
    let mut child = Command::new(casemesh_bin())
        .args([
            "--data-dir",
            s(node.data_dir()),
            "blobs",
            "migrate",
            "--to",
            "s3",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while garage.blob_hashes("harbor-pd").is_empty() && start.elapsed() < Duration::from_secs(20) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let before = garage.blob_hashes("harbor-pd");
    println!(
        "killed after {:?} with {} of {} blobs in the bucket",
        start.elapsed(),
        before.len(),
        items.len()
    );
    assert!(
        before.len() < items.len(),
        "the migration finished before it could be killed; use larger blobs"
    );

    let resumed = migrate(&node, "s3").unwrap();
    assert!(
        resumed.contains(&format!("{} already there", before.len())),
        "what the killed run finished counts as there: {resumed}"
    );
    assert_eq!(garage.blob_hashes("harbor-pd"), distinct_hashes(&items));

    remove_local_blobs(&node);
    set_backend(&node, "s3");
    node.start_again();
    assert_verify_clean(&node);
    assert_downloads(&node, &case, &items, dir.path());
}

#[test]
fn migrate_without_bucket_settings_is_refused() {
    let mut node = TestNode::start("county-pd");
    let dir = tempfile::tempdir().unwrap();
    let (_case, items) = ingest(&node, dir.path(), &[1000]);
    node.stop();
    let err = migrate(&node, "s3").expect_err("no bucket configured");
    assert!(err.contains("[storage] has no bucket"), "{err}");
    assert_eq!(local_blobs(&node), distinct_hashes(&items));
}

/// A migration into a bucket another organization's node uses is refused before anything is
/// copied: that node's `blobs gc` would delete what arrived, and this node's would delete that
/// node's evidence.
#[test]
fn migrating_into_another_nodes_bucket_is_refused() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let storage = garage.storage_toml("taken");
    let owner = TestNode::builder("metro-pd")
        .config_append(storage.clone())
        .start();
    let (_case, theirs) = ingest(&owner, dir.path(), &[2000]);
    let mut node = TestNode::start("county-da");
    let (_case, ours) = ingest(&node, dir.path(), &[3000]);
    append_config(node.data_dir(), &storage);
    node.stop();
    let err = migrate(&node, "s3").expect_err("another node's bucket");
    assert!(err.contains("belongs to another node"), "{err}");
    assert_eq!(garage.blob_hashes("taken"), distinct_hashes(&theirs));
    assert_eq!(local_blobs(&node), distinct_hashes(&ours));
}

/// A node whose blobs are on files, switched to a bucket without migrating, is refused at start
/// with the command that moves them (before, it started and showed every blob missing); also
/// when it has no record of where its blobs live yet (a node from before the record). After
/// `blobs migrate --to s3` it starts on the bucket; switched back to `fs` without migrating
/// back, it is refused again, naming the bucket.
#[test]
fn switching_the_backend_without_migrating_is_refused() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start("metro-pd");
    let (case, items) = ingest(&node, dir.path(), &[300 * 1024, 10]);
    node.stop();
    let record = node.data_dir().join("blob-location.json");
    assert!(
        record.is_file(),
        "the first start recorded where the blobs live"
    );
    append_config(node.data_dir(), &garage.storage_toml("metro-pd"));

    let err = run_refused(node.data_dir());
    assert!(
        err.contains("blobs migrate --to s3") && err.contains("the data directory"),
        "says where the blobs are and what to run: {err}"
    );
    // A node from before the record: its blobs under DIR/blobs, none in the bucket.
    std::fs::remove_file(&record).unwrap();
    let err = run_refused(node.data_dir());
    assert!(err.contains("blobs migrate --to s3"), "{err}");
    assert!(garage.blob_hashes("metro-pd").is_empty());

    migrate(&node, "s3").unwrap();
    node.start_again();
    assert_downloads(&node, &case, &items, dir.path());
    node.stop();

    set_backend(&node, "fs");
    let err = run_refused(node.data_dir());
    assert!(
        err.contains("bucket metro-pd") && err.contains("blobs migrate --to fs"),
        "{err}"
    );
}

/// `blobs migrate` goes on past blobs it cannot copy (a source file with a flipped byte, a
/// truncated one),
/// copies the others, lists every blob it could not copy with why and exits non-zero; run again
/// it resumes (what was copied is skipped). It reads the bucket's settings while `backend` is
/// still "fs" (before, it said there was no bucket).
#[test]
fn migrate_goes_on_past_bad_blobs_and_lists_them() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut node = TestNode::start("harbor-pd");
    let (_case, items) = ingest(&node, dir.path(), &[200 * 1024, 3 * MIB, 5000, 70_000]);
    node.stop();
    append_config(node.data_dir(), &garage.storage_toml("harbor-pd"));
    set_backend(&node, "fs");
    let path_of = |hash| node.blob_path(hash);
    let (corrupt, truncated) = (&items[1].hash, &items[2].hash);
    let mut bytes = std::fs::read(path_of(corrupt)).unwrap();
    bytes[1 << 20] ^= 0x10;
    std::fs::write(path_of(corrupt), bytes).unwrap();
    let bytes = std::fs::read(path_of(truncated)).unwrap();
    std::fs::write(path_of(truncated), &bytes[..4000]).unwrap();

    let out = node.cli(["blobs", "migrate", "--to", "s3"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("{corrupt}: source blob {corrupt} is corrupt")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{truncated}: source blob {truncated} is corrupt")),
        "{stdout}"
    );
    assert!(
        stderr.contains("2 of 4 blobs could not be migrated"),
        "{stderr}"
    );
    assert!(!stdout.contains("Some("), "no debug text: {stdout}");
    let mut good = vec![items[0].hash.to_string(), items[3].hash.to_string()];
    good.sort();
    assert_eq!(garage.blob_hashes("harbor-pd"), good);

    // Run again: the good ones are skipped, the bad ones listed again.
    let again = node.cli(["--json", "blobs", "migrate", "--to", "s3"]);
    assert!(!again.status.success());
    let out: casemesh_tests::MigrationReport = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(out.skipped, 2, "{out:?}");
    let failed: Vec<BlobHash> = out.failed.iter().map(|f| f.hash).collect();
    let mut bad = vec![*corrupt, *truncated];
    bad.sort();
    assert_eq!(failed, bad);
}
