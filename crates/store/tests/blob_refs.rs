//! Blob references against a model (issue #10, "exact blob references").
//!
//! Random sequences of: add an item (bytes from a small pool, so identical and empty contents
//! recur), receive an item from a partner (recorded with its transcripts at once), add a
//! transcript (possibly the item's own bytes, possibly twice), delete an item, expire one by
//! retention, garbage-collect. After every step, every blob a live item or transcript names must be present
//! and intact; after a gc, every blob nothing names must be gone. The model is a `Vec` of live
//! items with their hashes: the simplest thing that can be right.
//!
//! Also: a data directory written with the first layout (reference *counts* under `blobref/`)
//! opens, migrates to exact keys, and garbage collection then keeps exactly the referenced blobs.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use casemesh_model::case::{Case, Evidence, Transcript};
use casemesh_model::ids::{BlobHash, EvidenceId, TranscriptId, UserId};
use casemesh_model::time::Timestamp;
use casemesh_store::{Actor, Store};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// The contents blobs are made of: the empty file and a few small ones.
const POOL: [&[u8]; 4] = [b"", b"alpha", b"beta", b"gamma gamma"];

#[derive(Debug, Clone)]
enum Op {
    Add(usize),
    /// An item received from a partner: recorded with its transcripts in one go.
    Receive {
        content: usize,
        transcripts: Vec<usize>,
    },
    /// The retention sweeper removing an item.
    Expire(usize),
    Transcript {
        item: usize,
        content: usize,
    },
    Delete(usize),
    Gc,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..POOL.len()).prop_map(Op::Add),
        2 => (0..POOL.len(), prop::collection::vec(0..POOL.len(), 0..3))
            .prop_map(|(content, transcripts)| Op::Receive { content, transcripts }),
        1 => (0..8usize).prop_map(Op::Expire),
        3 => (0..8usize, 0..POOL.len()).prop_map(|(item, content)| Op::Transcript { item, content }),
        2 => (0..8usize).prop_map(Op::Delete),
        2 => Just(Op::Gc),
    ]
}

fn put_blob(store: &Store, bytes: &[u8]) -> BlobHash {
    let mut w = store.blobs().writer().unwrap();
    w.write(bytes).unwrap();
    w.finish().unwrap().0
}

fn evidence(case: &Case, hash: BlobHash, n: usize) -> Evidence {
    Evidence {
        id: EvidenceId::random(),
        case: case.id,
        display_id: format!("EV-{n:04}"),
        name: format!("item-{n}"),
        description: String::new(),
        category: None,
        folder: None,
        hash,
        size: 0,
        media_type: "application/octet-stream".into(),
        added_at: Timestamp(n as u64),
        added_by: "alice".into(),
        transcripts: vec![],
        do_not_disclose: false,
        received_seq: None,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn gc_never_removes_a_referenced_blob_and_removes_every_other(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let actor = Actor::new("alice", Timestamp(1));
        let case = Case::new("C-1", "t", "", UserId::random(), Timestamp(1));
        store.create_case(&case, &actor).unwrap();
        let rt = rt();
        // The model: live items and every hash each names.
        let mut live: Vec<(EvidenceId, Vec<BlobHash>)> = Vec::new();
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Add(c) => {
                    let hash = put_blob(&store, POOL[c]);
                    let ev = evidence(&case, hash, n);
                    store.add_evidence(&ev, &actor).unwrap();
                    live.push((ev.id, vec![hash]));
                }
                Op::Receive { content, transcripts } => {
                    let hash = put_blob(&store, POOL[content]);
                    let mut ev = evidence(&case, hash, n);
                    let mut hashes = vec![hash];
                    for t in transcripts {
                        let th = put_blob(&store, POOL[t]);
                        ev.transcripts.push(Transcript { id: TranscriptId::random(), name: "t.txt".into(), hash: th, size: 0 });
                        hashes.push(th);
                    }
                    store.add_evidence(&ev, &Actor::new("org:Partner", Timestamp(1))).unwrap();
                    live.push((ev.id, hashes));
                }
                Op::Expire(item) if !live.is_empty() => {
                    let (id, _) = live.remove(item % live.len());
                    store.delete_evidence(id, &actor, "retention.sweep", "expired").unwrap();
                }
                Op::Transcript { item, content } if !live.is_empty() => {
                    let i = item % live.len();
                    let hash = put_blob(&store, POOL[content]);
                    let t = Transcript { id: TranscriptId::random(), name: "t.txt".into(), hash, size: 0 };
                    store.add_transcript(live[i].0, &t, &actor).unwrap();
                    live[i].1.push(hash);
                }
                Op::Delete(item) if !live.is_empty() => {
                    let (id, _) = live.remove(item % live.len());
                    store.delete_evidence(id, &actor, "evidence.delete", "").unwrap();
                }
                Op::Gc => {
                    rt.block_on(store.gc()).unwrap();
                    let wanted: BTreeSet<BlobHash> = live.iter().flat_map(|(_, h)| h.iter().copied()).collect();
                    let on_disk: BTreeSet<BlobHash> = store.blobs().list().unwrap().into_iter().map(|(h, _)| h).collect();
                    prop_assert_eq!(&on_disk, &wanted, "after gc, exactly the referenced blobs remain");
                }
                _ => {}
            }
            for (_, hashes) in &live {
                for h in hashes {
                    prop_assert!(store.blobs().open_verified(h).is_ok(), "referenced blob {h} lost");
                }
            }
            let report = store.verify_blobs().unwrap();
            prop_assert!(report.is_ok(), "verify: {report:?}");
        }
    }
}

/// A blob pinned (a package being built) survives gc even when nothing references it; once the
/// pin is dropped, gc removes it. A writer's temp file is not swept while the writer lives.
#[test]
fn pinned_blobs_and_live_writers_survive_gc() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let hash = put_blob(&store, b"pinned");
    let pin = store.blobs().pin([hash]);
    let mut live = store.blobs().writer().unwrap();
    live.write(b"half an upload").unwrap();
    let rt = rt();
    rt.block_on(store.gc()).unwrap();
    assert!(store.blobs().contains(&hash));
    live.write(b", the rest").unwrap();
    let (second, _) = live.finish().unwrap();
    assert!(store.blobs().contains(&second));
    drop(pin);
    let (removed, _) = rt.block_on(store.gc()).unwrap();
    assert_eq!(removed, 2);
    assert!(!store.blobs().contains(&hash));
}

/// Durability: a committed change is on disk when the call returns, without a flush, so a
/// process that dies right after (here: the store is forgotten without `Drop`) keeps it.
#[test]
fn a_committed_change_survives_without_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let case = Case::new("C-9", "kept", "", UserId::random(), Timestamp(1));
    let child = std::thread::spawn({
        let data = data.clone();
        let case = case.clone();
        move || {
            let store = Store::open(&data).unwrap();
            store
                .create_case(&case, &Actor::new("alice", Timestamp(1)))
                .unwrap();
            // No flush, no drop: as if the process were killed now.
            std::mem::forget(store);
        }
    });
    child.join().unwrap();
    // sled's own file lock belongs to this process, so reopening needs a copy of the files as a
    // crash would leave them on disk.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&data.join("db"), &copy.path().join("db"));
    let store = Store::open(copy.path()).unwrap();
    assert_eq!(store.resolve_case("C-9").unwrap().title, "kept");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A data directory of layout 1 (reference counts, no `schema` key) opens, is migrated, and its
/// references are exact afterwards: the empty-transcript case that lost bytes under counts.
#[test]
fn layout_1_data_directory_migrates_to_exact_references() {
    let dir = tempfile::tempdir().unwrap();
    let case = Case::new("C-1", "t", "", UserId::random(), Timestamp(1));
    let (a, b) = {
        let blobs = casemesh_store::BlobStore::open(&dir.path().join("blobs")).unwrap();
        let put = |bytes: &[u8]| {
            let mut w = blobs.writer().unwrap();
            w.write(bytes).unwrap();
            w.finish().unwrap().0
        };
        (put(b"first item"), put(b""))
    };
    let empty = b;
    let mut ev1 = evidence(&case, a, 1);
    ev1.transcripts.push(Transcript {
        id: TranscriptId::random(),
        name: "t.txt".into(),
        hash: empty,
        size: 0,
    });
    let mut ev2 = evidence(&case, empty, 2);
    ev2.transcripts.push(Transcript {
        id: TranscriptId::random(),
        name: "t.txt".into(),
        hash: empty,
        size: 0,
    });
    {
        // Written the way layout 1 did: one tree, JSON values, counts under blobref/.
        let db = sled::open(dir.path().join("db")).unwrap();
        let tree = db.open_tree("casemesh").unwrap();
        let json = |v: &dyn erased::Json| v.to_json();
        tree.insert(format!("case/{}", case.id), json(&case))
            .unwrap();
        for ev in [&ev1, &ev2] {
            tree.insert(format!("ev/{}", ev.id), json(ev)).unwrap();
            tree.insert(format!("caseev/{}/{}", case.id, ev.id), json(&ev.id))
                .unwrap();
        }
        // A count the old code had already got wrong: 1 for bytes three references share.
        tree.insert(format!("blobref/{a}"), b"1".to_vec()).unwrap();
        tree.insert(format!("blobref/{empty}"), b"1".to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.blob_refs(&a).unwrap(), 1);
    assert_eq!(store.blob_refs(&empty).unwrap(), 2);
    store
        .delete_evidence(
            ev1.id,
            &Actor::new("alice", Timestamp(2)),
            "evidence.delete",
            "",
        )
        .unwrap();
    rt().block_on(store.gc()).unwrap();
    assert!(!store.blobs().contains(&a));
    assert!(store.blobs().open_verified(&empty).is_ok());
    assert!(store.verify_blobs().unwrap().is_ok());
    drop(store);
    // Opening again is a no-op (already at the current layout).
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.blob_refs(&empty).unwrap(), 1);
}

/// serde_json for the layout-1 writer above without naming each type.
mod erased {
    pub(crate) trait Json {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}
