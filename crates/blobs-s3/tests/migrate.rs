//! `migrate_to_s3` / `migrate_to_fs` against a real single-node Garage (started per test by
//! `support`) and a real local blob directory: the round trip is byte-identical; a migration
//! killed with SIGKILL in a child process (this test binary run again, see
//! `child_migration`) resumes, skipping what was done and duplicating nothing; a tampered
//! destination copy and a corrupt source are errors, not skips.

#![allow(clippy::unwrap_used)]

mod support;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::Mutex,
    time::Duration,
};

use casemesh_blobs_s3::{
    Credentials, OutboardState, S3Blobs, S3Config,
    migrate::{MigrateError, Migrated, Progress, migrate_to_fs, migrate_to_s3},
    store::{blob_key, outboard_key},
};
use casemesh_model::ids::BlobHash;
use casemesh_store::BlobStore;
use object_store::{ObjectStoreExt, PutPayload};
use support::{Garage, fill, keys};

/// Sizes of the blobs of a test node: empty, tiny, around one 16 KiB group, around one 8 MiB
/// part, and multipart ones.
const SIZES: &[usize] = &[
    0,
    17,
    16 << 10,
    (16 << 10) + 1,
    1 << 20,
    (3 << 20) + 5,
    8 << 20,
    (8 << 20) + 1,
    20 << 20,
    (26 << 20) + 12345,
];

/// Write `size` pseudo-random bytes seeded by `seed` into `local` as one blob, piece by piece.
fn add_blob(local: &BlobStore, seed: u64, size: usize) -> (BlobHash, u64) {
    let mut w = local.writer().expect("writer");
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0usize;
    while at < size {
        let n = (size - at).min(buf.len());
        fill(seed * (1 << 40) + at as u64, &mut buf[..n]);
        w.write(&buf[..n]).expect("write");
        at += n;
    }
    w.finish().expect("finish")
}

/// A local blob directory holding a blob of every size in `SIZES`, plus `extra` blobs of 1 MiB.
fn populated(dir: &std::path::Path, extra: usize) -> (BlobStore, Vec<(BlobHash, u64)>) {
    let local = BlobStore::open(&dir.join("blobs")).expect("open blob store");
    let mut blobs: Vec<_> = SIZES
        .iter()
        .enumerate()
        .map(|(i, s)| add_blob(&local, i as u64 + 1, *s))
        .collect();
    for i in 0..extra {
        blobs.push(add_blob(&local, 1000 + i as u64, 1 << 20));
    }
    blobs.sort();
    assert_eq!(local.list().expect("list"), blobs);
    (local, blobs)
}

/// Every progress report, in order.
#[derive(Default)]
struct Reports(Mutex<Vec<Progress>>);

impl Reports {
    fn record(&self) -> impl Fn(&Progress) + Send + Sync + '_ {
        |p| self.0.lock().unwrap().push(*p)
    }

    /// The reports never go backwards and end at the totals.
    fn check(&self, blobs: &[(BlobHash, u64)]) {
        let all = self.0.lock().unwrap();
        let total: u64 = blobs.iter().map(|(_, s)| s).sum();
        for w in all.windows(2) {
            assert!(w[1].blobs_done >= w[0].blobs_done && w[1].bytes_done >= w[0].bytes_done);
        }
        let last = all.last().expect("progress reported");
        assert_eq!(
            *last,
            Progress {
                blobs_done: blobs.len() as u64,
                blobs_total: blobs.len() as u64,
                bytes_done: total,
                bytes_total: total,
            }
        );
        // A 26 MiB blob moves in pieces: the bar moves while it is copied.
        assert!(all.len() > blobs.len() + 10, "{} reports", all.len());
    }
}

/// The bytes of every blob file in `a` and `b` are the same, and both hold the same blobs.
fn same_files(a: &BlobStore, b: &BlobStore) {
    let list = a.list().unwrap();
    assert_eq!(list, b.list().unwrap());
    for (h, _) in list {
        assert_eq!(
            std::fs::read(a.path_of(&h)).unwrap(),
            std::fs::read(b.path_of(&h)).unwrap(),
            "blob {h}"
        );
    }
}

/// Every blob of `expected` is in the bucket, verifies with its outboard, and nothing else is
/// under `blobs/` (no duplicate, no stray outboard).
async fn bucket_holds_exactly(s3: &S3Blobs, expected: &[(BlobHash, u64)]) {
    assert_eq!(s3.list().await.unwrap(), expected);
    let mut want = Vec::new();
    for (h, size) in expected {
        let v = s3.verify(h).await.unwrap();
        assert_eq!(v.size, *size);
        if *size > 16 << 10 {
            assert_eq!(v.outboard, OutboardState::Ok, "blob {h}");
            want.push(outboard_key(h).to_string());
        } else {
            assert_eq!(v.outboard, OutboardState::NotNeeded, "blob {h}");
        }
        want.push(blob_key(h).to_string());
    }
    want.sort();
    let mut got = keys(s3, "blobs").await;
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_to_s3_to_fs_is_byte_identical_and_a_second_run_copies_nothing() {
    let Some(g) = Garage::start() else { return };
    let s3 = g.blobs().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, blobs) = populated(&dir.path().join("a"), 3);
    let total: u64 = blobs.iter().map(|(_, s)| s).sum();

    let reports = Reports::default();
    let up = migrate_to_s3(&a, &s3, reports.record()).await.unwrap();
    assert_eq!(
        up,
        Migrated {
            copied: blobs.len() as u64,
            skipped: 0,
            bytes_copied: total,
            bytes_skipped: 0,
            outboards_rebuilt: 0,
        }
    );
    reports.check(&blobs);
    bucket_holds_exactly(&s3, &blobs).await;
    assert!(keys(&s3, "staging").await.is_empty());
    assert_eq!(g.unfinished_uploads(), 0);
    // The source is left as it was.
    assert_eq!(a.list().unwrap(), blobs);

    // Again: everything is found verified at the destination; not one write request.
    let writes = g.s3_writes();
    let again = migrate_to_s3(&a, &s3, |_| {}).await.unwrap();
    assert_eq!((again.copied, again.skipped), (0, blobs.len() as u64));
    assert_eq!(again.bytes_skipped, total);
    assert_eq!(g.s3_writes(), writes, "a second run wrote to the bucket");

    // And back into an empty blob directory: the same files, byte for byte.
    let b = BlobStore::open(&dir.path().join("b/blobs")).unwrap();
    let reports = Reports::default();
    let down = migrate_to_fs(&s3, &b, reports.record()).await.unwrap();
    assert_eq!((down.copied, down.skipped), (blobs.len() as u64, 0));
    assert_eq!(down.bytes_copied, total);
    reports.check(&blobs);
    same_files(&a, &b);
    assert!(
        std::fs::read_dir(b.tmp_dir()).unwrap().next().is_none(),
        "no temp file left"
    );
    // The bucket is left as it was.
    bucket_holds_exactly(&s3, &blobs).await;

    let again = migrate_to_fs(&s3, &b, |_| {}).await.unwrap();
    assert_eq!((again.copied, again.skipped), (0, blobs.len() as u64));
}

/// The test binary re-run as a child: migrates as told by `CASEMESH_MIGRATE_CHILD`
/// (`to_s3` or `to_fs`) and prints one `progress BLOBS BYTES` line per report. A no-op in a
/// normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_migration() {
    let Ok(mode) = std::env::var("CASEMESH_MIGRATE_CHILD") else {
        return;
    };
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
    let config = S3Config {
        endpoint: env("CHILD_ENDPOINT"),
        bucket: support::BUCKET.into(),
        region: support::REGION.into(),
        path_style: true,
        credentials: Credentials {
            access_key_id: env("CHILD_KEY_ID"),
            secret_access_key: env("CHILD_SECRET"),
        },
        part_size: 5 << 20,
        upload_concurrency: 1,
        retry_timeout: Duration::from_secs(5),
    };
    let s3 = S3Blobs::connect(&config).unwrap();
    let local = BlobStore::open(std::path::Path::new(&env("CHILD_BLOBS"))).unwrap();
    // Peak anonymous memory of this process (heap and buffers; file pages are page cache),
    // sampled at every progress report.
    let peak = std::sync::atomic::AtomicU64::new(0);
    let print = |p: &Progress| {
        peak.fetch_max(rss_anon_kib(), std::sync::atomic::Ordering::Relaxed);
        println!("progress {} {}", p.blobs_done, p.bytes_done);
    };
    match mode.as_str() {
        "to_s3" => migrate_to_s3(&local, &s3, print).await.unwrap(),
        "to_fs" => migrate_to_fs(&s3, &local, print).await.unwrap(),
        other => panic!("unknown mode {other}"),
    };
    println!(
        "finished {}",
        peak.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// `RssAnon` of this process in KiB.
fn rss_anon_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("RssAnon")
}

/// This test binary again, running only `child_migration` in `mode` (`to_s3` or `to_fs`)
/// against `g`, with the local blob store at `blobs_dir`.
fn child_command(g: &Garage, mode: &str, blobs_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_migration",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("CASEMESH_MIGRATE_CHILD", mode)
    .env("CHILD_ENDPOINT", g.endpoint())
    .env("CHILD_KEY_ID", &g.key.access_key_id)
    .env("CHILD_SECRET", &g.key.secret_access_key)
    .env("CHILD_BLOBS", blobs_dir);
    cmd
}

/// Run `child_migration` in a child process to the end; returns its peak anonymous memory (KiB).
fn child_to_end(g: &Garage, mode: &str, blobs_dir: &std::path::Path) -> u64 {
    let out = child_command(g, mode, blobs_dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("run child");
    assert!(out.status.success(), "child migration {mode} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("finished "))
        .and_then(|v| v.trim().parse().ok())
        .expect("child reported its peak memory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_in_blob_size_both_ways() {
    let Some(g) = Garage::start() else { return };
    let s3 = g.blobs().await;
    let dir = tempfile::tempdir().unwrap();
    let local = BlobStore::open(&dir.path().join("a/blobs")).unwrap();
    // One 384 MiB blob: holding it (or a fraction of it) in memory would show.
    let (hash, size) = add_blob(&local, 77, 384 << 20);
    let up = child_to_end(&g, "to_s3", &dir.path().join("a/blobs"));
    assert_eq!(s3.stat(&hash).await.unwrap(), Some(size));
    let down = child_to_end(&g, "to_fs", &dir.path().join("b/blobs"));
    let b = BlobStore::open(&dir.path().join("b/blobs")).unwrap();
    assert_eq!(b.verify(&hash).unwrap(), size);
    eprintln!("peak anonymous memory: to_s3 {up} KiB, to_fs {down} KiB for a 384 MiB blob");
    // The child's parts in flight (5 MiB, one at a time) and 4 MiB write batches, plus the test
    // binary's own footprint: far below the blob.
    for (mode, kib) in [("to_s3", up), ("to_fs", down)] {
        assert!(kib < 96 << 10, "{mode}: {kib} KiB peak for a 384 MiB blob");
    }
}

/// Run `child_migration` in a child process and SIGKILL it once it reported `kill_at` bytes
/// done. Returns the blobs it reported done before the kill.
fn kill_child_midway(g: &Garage, mode: &str, blobs_dir: &std::path::Path, kill_at: u64) -> u64 {
    let mut child = child_command(g, mode, blobs_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut done = 0;
    for line in out.lines() {
        let line = line.unwrap();
        assert!(
            !line.starts_with("finished"),
            "the child finished before it was killed"
        );
        let Some(rest) = line.strip_prefix("progress ") else {
            continue;
        };
        let mut it = rest.split(' ').map(|n| n.parse::<u64>().unwrap());
        let (blobs, bytes) = (it.next().unwrap(), it.next().unwrap());
        done = blobs;
        if bytes >= kill_at {
            child.kill().expect("SIGKILL");
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed: {status:?}");
    done
}

fn random_fraction() -> f64 {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    // Between 30 % and 80 % of the bytes.
    0.3 + 0.5 * f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_killed_midway_resumes_in_both_directions() {
    let Some(g) = Garage::start() else { return };
    let s3 = g.blobs().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, blobs) = populated(&dir.path().join("a"), 20);
    let total: u64 = blobs.iter().map(|(_, s)| s).sum();

    // fs → s3, killed at a random point (most bytes are in the large blobs, moved last).
    let fraction = random_fraction();
    let kill_at = (total as f64 * fraction) as u64;
    let reported = kill_child_midway(&g, "to_s3", &dir.path().join("a/blobs"), kill_at);
    eprintln!("to_s3 killed at {fraction:.2} of the bytes, {reported} blobs reported done");
    // Nothing half-stored is visible: every blob at an address is complete and verifies.
    let present = s3.list().await.unwrap();
    assert!(
        present.len() as u64 >= reported,
        "reported blobs are stored"
    );
    assert!(present.len() < blobs.len(), "killed before the end");
    for (h, size) in &present {
        assert_eq!(s3.verify(h).await.unwrap().size, *size);
    }

    let resumed = migrate_to_s3(&a, &s3, |_| {}).await.unwrap();
    assert_eq!(
        resumed.skipped,
        present.len() as u64,
        "what was done is skipped"
    );
    assert_eq!(resumed.copied, (blobs.len() - present.len()) as u64);
    assert_eq!(resumed.bytes_copied + resumed.bytes_skipped, total);
    bucket_holds_exactly(&s3, &blobs).await;
    // A multipart upload cut by the kill is invisible; Garage's cleanup (the bucket's lifecycle
    // rule in production) aborts it. No staging key is left after a sweep.
    s3.sweep(Duration::ZERO).await.unwrap();
    assert!(keys(&s3, "staging").await.is_empty());
    g.cli(&[
        "bucket",
        "cleanup-incomplete-uploads",
        "--older-than",
        "0s",
        support::BUCKET,
    ]);
    assert_eq!(g.unfinished_uploads(), 0);

    // s3 → fs, killed at another random point, then resumed.
    let b_dir = dir.path().join("b/blobs");
    let b = BlobStore::open(&b_dir).unwrap();
    let fraction = random_fraction();
    let reported = kill_child_midway(&g, "to_fs", &b_dir, (total as f64 * fraction) as u64);
    eprintln!("to_fs killed at {fraction:.2} of the bytes, {reported} blobs reported done");
    let present = b.list().unwrap();
    assert!(present.len() as u64 >= reported && present.len() < blobs.len());
    for (h, size) in &present {
        assert_eq!(b.verify(h).unwrap(), *size, "a blob on disk is complete");
    }
    let resumed = migrate_to_fs(&s3, &b, |_| {}).await.unwrap();
    assert_eq!(resumed.skipped, present.len() as u64);
    assert_eq!(resumed.copied, (blobs.len() - present.len()) as u64);
    same_files(&a, &b);
    // The killed run's temp file is the node's blob gc's to remove (nothing references it).
    let (removed, _) = b.gc(|_| Ok(true)).await.unwrap();
    assert_eq!(removed, 0);
    assert!(std::fs::read_dir(b.tmp_dir()).unwrap().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_destination_or_a_corrupt_source_is_an_error_not_a_skip() {
    let Some(g) = Garage::start() else { return };
    let s3 = g.blobs().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, blobs) = populated(&dir.path().join("a"), 0);
    migrate_to_s3(&a, &s3, |_| {}).await.unwrap();
    let sizes: BTreeMap<_, _> = blobs.iter().copied().collect();
    let (big, big_size) = *blobs.iter().find(|(_, s)| *s == 20 << 20).unwrap();

    // Someone flips one byte of a stored object: the next run stops at it.
    let mut bytes = std::fs::read(a.path_of(&big)).unwrap();
    bytes[(5 << 20) + 3] ^= 0x40;
    s3.object_store()
        .put(&blob_key(&big), PutPayload::from(bytes))
        .await
        .unwrap();
    let (hash, error) = only_failure(migrate_to_s3(&a, &s3, |_| {}).await);
    assert_eq!(hash, big);
    assert!(
        matches!(error, MigrateError::DestinationCorrupt { .. }),
        "{error}"
    );
    // The operator deletes the bad copy; the next run copies it again.
    s3.delete(&big).await.unwrap();
    let m = migrate_to_s3(&a, &s3, |_| {}).await.unwrap();
    assert_eq!((m.copied, m.bytes_copied), (1, big_size));

    // A truncated outboard beside good bytes is rebuilt from them, not an error.
    s3.object_store()
        .put(&outboard_key(&big), PutPayload::from(vec![0u8; 64]))
        .await
        .unwrap();
    let m = migrate_to_s3(&a, &s3, |_| {}).await.unwrap();
    assert_eq!((m.copied, m.outboards_rebuilt), (0, 1));
    bucket_holds_exactly(&s3, &blobs).await;

    // Down to disk, then a local copy is damaged: the next run stops at it.
    let b = BlobStore::open(&dir.path().join("b/blobs")).unwrap();
    migrate_to_fs(&s3, &b, |_| {}).await.unwrap();
    let (small, _) = *blobs.iter().find(|(_, s)| *s == 17).unwrap();
    std::fs::write(b.path_of(&small), b"a short statemenT").unwrap();
    let (hash, error) = only_failure(migrate_to_fs(&s3, &b, |_| {}).await);
    assert_eq!(hash, small);
    assert!(
        matches!(error, MigrateError::DestinationCorrupt { .. }),
        "{error}"
    );

    // A corrupt source blob is refused and nothing of it reaches the bucket (its multipart
    // upload, sent straight to the address, is aborted).
    let (mid, mid_size) = *blobs
        .iter()
        .find(|(_, s)| *s == (26 << 20) + 12345)
        .unwrap();
    s3.delete(&mid).await.unwrap();
    let mut bytes = std::fs::read(a.path_of(&mid)).unwrap();
    bytes[100] ^= 1;
    std::fs::write(a.path_of(&mid), &bytes).unwrap();
    let (hash, error) = only_failure(migrate_to_s3(&a, &s3, |_| {}).await);
    assert_eq!(hash, mid);
    assert!(
        matches!(error, MigrateError::SourceCorrupt { .. }),
        "{error}"
    );
    assert_eq!(s3.stat(&mid).await.unwrap(), None);
    assert_eq!(sizes[&mid], mid_size);

    // The other way: a tampered object in the bucket is refused as a corrupt source, and
    // nothing lands at its address on disk (its temp file is gone too).
    let mut bytes = std::fs::read(b.path_of(&big)).unwrap();
    bytes[(12 << 20) + 7] ^= 0x02;
    s3.object_store()
        .put(&blob_key(&big), PutPayload::from(bytes))
        .await
        .unwrap();
    let c = BlobStore::open(&dir.path().join("c/blobs")).unwrap();
    let (hash, error) = only_failure(migrate_to_fs(&s3, &c, |_| {}).await);
    assert_eq!(hash, big);
    assert!(
        matches!(error, MigrateError::SourceCorrupt { .. }),
        "{error}"
    );
    assert!(!c.contains(&big));
    assert!(std::fs::read_dir(c.tmp_dir()).unwrap().next().is_none());
    s3.settle().await;
    assert_eq!(g.unfinished_uploads(), 0, "the refused upload was aborted");
    assert!(g.s3_requests("CreateMultipartUpload") > 0);
}

/// The one blob a run could not migrate, and why (the run went on with the others).
fn only_failure(res: Result<Migrated, MigrateError>) -> (BlobHash, MigrateError) {
    match res {
        Err(MigrateError::Incomplete { mut failed, .. }) if failed.len() == 1 => {
            let f = failed.remove(0);
            (f.hash, f.error)
        }
        other => panic!("expected one blob not migrated, got {other:?}"),
    }
}

/// The CLI may run `migrate_to_fs` on any runtime thread (`tokio::spawn`).
#[allow(dead_code)]
fn migrate_to_fs_is_send(s3: &S3Blobs, local: &BlobStore) {
    fn send<T: Send>(_: &T) {}
    send(&migrate_to_fs(s3, local, |_| {}));
}

/// Both directions may run on any runtime thread (`tokio::spawn`), and so may finishing a blob
/// writer: none of these futures may hold a multipart upload (not `Sync`) by reference across
/// an await.
#[allow(dead_code)]
fn migrate_to_s3_and_writer_finish_are_send(
    s3: &S3Blobs,
    local: &BlobStore,
    w: casemesh_blobs_s3::S3BlobWriter,
) {
    fn send<T: Send>(_: &T) {}
    send(&migrate_to_s3(local, s3, |_| {}));
    send(&w.finish());
}
