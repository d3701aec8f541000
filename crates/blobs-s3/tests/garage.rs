//! The S3 blob store against a real single-node Garage (started per test by `support`):
//! dedup, tampering refused, verified ranged reads, interrupted uploads leaving nothing,
//! sweep, gc, and the retry/refuse classification of errors.

mod support;

use std::time::Duration;

use bytes::Bytes;
use casemesh_blobs_s3::{
    Action, OutboardState, S3Blobs, S3Error,
    store::{blob_key, outboard_key},
};
use casemesh_model::ids::BlobHash;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload, path::Path};
use support::{Garage, bytes, keys};

async fn put(blobs: &S3Blobs, data: &[u8]) -> casemesh_blobs_s3::Stored {
    let mut w = blobs.writer(Some(data.len() as u64));
    for piece in data.chunks(1 << 20) {
        w.write(piece).await.expect("write");
    }
    w.finish().await.expect("finish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_put_of_the_same_bytes_uploads_nothing() {
    let Some(g) = Garage::start() else { return };
    let blobs = g.blobs().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("video.bin");
    let data = bytes(0, 20 << 20);
    std::fs::write(&file, &data).unwrap();

    let first = blobs.put_file(&file).await.unwrap();
    assert!(first.written);
    assert_eq!(first.hash, BlobHash::of(&data));
    let writes = g.s3_writes();
    assert!(
        writes >= 3,
        "a 20 MiB blob is a multipart upload: {writes} writes"
    );

    let second = blobs.put_file(&file).await.unwrap();
    assert_eq!((second.hash, second.written), (first.hash, false));
    assert_eq!(
        g.s3_writes(),
        writes,
        "second put_file sent no write request"
    );

    // A small blob through a writer whose hash is not known: HEAD, no PUT the second time.
    let small = put(&blobs, b"a short statement").await;
    assert!(small.written);
    let writes = g.s3_writes();
    let again = put(&blobs, b"a short statement").await;
    assert_eq!((again.hash, again.written), (small.hash, false));
    assert_eq!(
        g.s3_writes(),
        writes,
        "second small put sent no write request"
    );

    // A large blob through a writer: uploaded to staging (the hash is not known before the end),
    // but not copied to its address again, and the staging key is gone.
    let big = put(&blobs, &data).await;
    assert_eq!((big.hash, big.written), (first.hash, false));
    assert!(keys(&blobs, "staging").await.is_empty());
    assert_eq!(
        blobs.list().await.unwrap(),
        vec![(small.hash, 17), (first.hash, data.len() as u64)]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(g.unfinished_uploads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_object_is_refused_and_the_rest_still_verifies() {
    let Some(g) = Garage::start() else { return };
    let blobs = g.blobs().await;
    let data = bytes(7, (3 << 20) + 4321);
    let s = put(&blobs, &data).await;
    assert_eq!(blobs.get(&s.hash).await.unwrap(), Bytes::from(data.clone()));
    assert_eq!(
        blobs.verify(&s.hash).await.unwrap().outboard,
        OutboardState::Ok
    );

    // Someone with write access to the bucket flips one byte at 1 MiB + 5.
    let mut bad = data.clone();
    bad[(1 << 20) + 5] ^= 0x01;
    let store = blobs.object_store();
    store
        .put(&blob_key(&s.hash), PutPayload::from(bad))
        .await
        .unwrap();

    let corrupt = |r: Result<Bytes, S3Error>| match r {
        Err(e @ S3Error::Corrupt { .. }) => assert_eq!(e.action(), Action::Refuse),
        other => panic!("expected Corrupt, got {:?}", other.map(|b| b.len())),
    };
    corrupt(blobs.get(&s.hash).await);
    corrupt(blobs.read_range(&s.hash, (1 << 20)..(1 << 20) + 10).await);
    corrupt(blobs.read_range(&s.hash, 0..data.len() as u64).await);
    assert!(matches!(
        blobs.verify(&s.hash).await,
        Err(S3Error::Corrupt { .. })
    ));
    // The stream hands out the verified windows before the tampered one, then the error.
    let pieces: Vec<Result<Bytes, S3Error>> = blobs
        .reader(&s.hash, None)
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    assert!(matches!(pieces.last(), Some(Err(S3Error::Corrupt { .. }))));
    assert!(pieces.iter().filter(|p| p.is_ok()).count() < pieces.len());
    // Bytes far from the flip still verify and are served.
    let far = (2 << 20)..(2 << 20) + 100;
    assert_eq!(
        &blobs.read_range(&s.hash, far.clone()).await.unwrap()[..],
        &data[far.start as usize..far.end as usize]
    );

    // The object restored but the outboard tampered: ranges are refused, verify says so, and a
    // rebuild from the (verified) bytes repairs it.
    store
        .put(&blob_key(&s.hash), PutPayload::from(data.clone()))
        .await
        .unwrap();
    let ob = store
        .get(&outboard_key(&s.hash))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut ob = ob.to_vec();
    let last = ob.len() - 1;
    ob[last] ^= 0x80; // the root's right child pair: on every range's path
    store
        .put(&outboard_key(&s.hash), PutPayload::from(ob))
        .await
        .unwrap();
    corrupt(blobs.read_range(&s.hash, 0..100).await);
    assert_eq!(
        blobs.verify(&s.hash).await.unwrap().outboard,
        OutboardState::Mismatch
    );
    // A truncated outboard is corrupt too (not an "unavailable, retry" error).
    store
        .put(&outboard_key(&s.hash), PutPayload::from(vec![0u8; 64]))
        .await
        .unwrap();
    corrupt(blobs.read_range(&s.hash, (3 << 20)..(3 << 20) + 1).await);
    blobs.rebuild_outboard(&s.hash).await.unwrap();
    assert_eq!(
        blobs.verify(&s.hash).await.unwrap().outboard,
        OutboardState::Ok
    );
    assert_eq!(
        &blobs.read_range(&s.hash, 0..100).await.unwrap()[..],
        &data[..100]
    );
}

use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranged_reads_are_verified_and_exact() {
    let Some(g) = Garage::start() else { return };
    let blobs = g.blobs().await;
    let n = (10 << 20) + 123;
    let data = bytes(99, n);
    let s = put(&blobs, &data).await;
    let n = n as u64;
    for r in [
        0..1,
        0..16384,
        16383..16385,
        (5 << 20) + 17..(5 << 20) + 70_000,
        n - 1..n,
        n - 100_000..n,
        4_000_000..9_000_000,
        0..n,
        500..500,
    ] {
        let got = blobs.read_range(&s.hash, r.clone()).await.unwrap();
        assert_eq!(&got[..], &data[r.start as usize..r.end as usize], "{r:?}");
    }
    assert!(matches!(
        blobs.read_range(&s.hash, n - 1..n + 1).await,
        Err(S3Error::Invalid(_))
    ));
    // The whole blob as a stream of verified windows.
    let mut back = Vec::new();
    let mut stream = blobs.reader(&s.hash, None).await.unwrap();
    while let Some(piece) = stream.next().await {
        back.extend_from_slice(&piece.unwrap());
    }
    assert!(back == data, "streamed blob differs");
    // A part of it, unaligned.
    let r = 1_234_567..8_765_432u64;
    let part: Vec<Bytes> = blobs
        .reader(&s.hash, Some(r.clone()))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(part.concat() == data[r.start as usize..r.end as usize]);

    // A blob of one chunk group has no outboard; its ranges are checked against the hash.
    let tiny = put(&blobs, &data[..5000]).await;
    assert!(
        keys(&blobs, &format!("blobs/{}.obao", tiny.hash))
            .await
            .is_empty()
    );
    assert_eq!(
        &blobs.read_range(&tiny.hash, 10..20).await.unwrap()[..],
        &data[10..20]
    );

    // Without its outboard a large blob's ranges are refused, not served unverified.
    blobs
        .object_store()
        .delete(&outboard_key(&s.hash))
        .await
        .unwrap();
    assert!(matches!(
        blobs.read_range(&s.hash, 0..10).await,
        Err(S3Error::OutboardMissing { .. })
    ));
    assert_eq!(
        blobs.verify(&s.hash).await.unwrap().outboard,
        OutboardState::Missing
    );
    // Missing blob.
    assert!(matches!(
        blobs.read_range(&BlobHash::of(b"never stored"), 0..1).await,
        Err(S3Error::Missing { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_leaves_nothing_and_sweep_removes_leftovers() {
    let Some(g) = Garage::start() else { return };
    let blobs = g.blobs().await;
    let data = bytes(3, 30 << 20);

    // Dropped mid-way, after several parts went out.
    let mut w = blobs.writer(None);
    for piece in data[..(25 << 20)].chunks(1 << 20) {
        w.write(piece).await.unwrap();
    }
    assert_eq!(
        g.unfinished_uploads(),
        1,
        "parts went out as a multipart upload"
    );
    drop(w);
    blobs.settle().await;
    assert!(blobs.list().await.unwrap().is_empty());
    assert!(keys(&blobs, "").await.is_empty(), "no object at all");
    assert_eq!(
        g.unfinished_uploads(),
        0,
        "the multipart upload was aborted"
    );

    // Bytes that do not hash to what the caller announced: nothing at the address.
    let claimed = BlobHash::of(b"something else");
    let mut w = blobs
        .writer_for(claimed, data.len() as u64)
        .await
        .unwrap()
        .expect("not stored yet");
    for piece in data.chunks(1 << 20) {
        w.write(piece).await.unwrap();
    }
    let e = w.finish().await.unwrap_err();
    assert!(matches!(e, S3Error::Mismatch { .. }), "{e}");
    assert_eq!(e.action(), Action::Refuse);
    assert!(keys(&blobs, "").await.is_empty());
    assert_eq!(g.unfinished_uploads(), 0);

    // A crash between completing the staging upload and moving it leaves a staging object; an
    // outboard can be left without its blob. The sweep removes them once old enough.
    let store = blobs.object_store();
    store
        .put(
            &Path::from("staging/0123abcd"),
            PutPayload::from(data[..1000].to_vec()),
        )
        .await
        .unwrap();
    let orphan = BlobHash::of(b"blob that never landed");
    store
        .put(&outboard_key(&orphan), PutPayload::from(vec![0u8; 64]))
        .await
        .unwrap();
    // A writer in progress is never swept, whatever its age.
    let mut live = blobs.writer(None);
    for piece in data[..(9 << 20)].chunks(1 << 20) {
        live.write(piece).await.unwrap();
    }
    let kept = blobs.sweep(Duration::from_secs(600)).await.unwrap();
    assert_eq!((kept.staging, kept.orphan_outboards), (0, 0));
    let swept = blobs.sweep(Duration::ZERO).await.unwrap();
    assert_eq!((swept.staging, swept.orphan_outboards), (1, 1));
    assert!(keys(&blobs, "").await.is_empty());
    // The live writer still finishes.
    let s = live.finish().await.unwrap();
    assert_eq!(s.hash, BlobHash::of(&data[..(9 << 20)]));
    assert_eq!(keys(&blobs, "staging").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_only_unreferenced_unpinned_blobs() {
    let Some(g) = Garage::start() else { return };
    let blobs = g.blobs().await;
    let keep = put(&blobs, &bytes(1, 100_000)).await.hash;
    let pinned = put(&blobs, &bytes(2, 200_000)).await.hash;
    let garbage = put(&blobs, &bytes(3, 300_000)).await.hash;
    let pins = blobs.pin([pinned]);
    let (removed, freed) = blobs.gc(|h| Ok(*h == keep)).await.unwrap();
    assert_eq!((removed, freed), (1, 300_000));
    let mut left: Vec<BlobHash> = blobs
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    left.sort();
    let mut want = vec![keep, pinned];
    want.sort();
    assert_eq!(left, want);
    assert!(
        keys(&blobs, &format!("blobs/{garbage}")).await.is_empty(),
        "outboard gone too"
    );
    assert!(matches!(
        blobs.get(&garbage).await,
        Err(S3Error::Missing { .. })
    ));
    drop(pins);
    let (removed, _) = blobs.gc(|h| Ok(*h == keep)).await.unwrap();
    assert_eq!(removed, 1);
    assert_eq!(blobs.list().await.unwrap().len(), 1);
    // An explicit delete of a blob that is not there is not an error.
    blobs.delete(&garbage).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_whether_to_retry_or_refuse() {
    let Some(mut g) = Garage::start() else { return };
    let blobs = g.blobs().await;
    // Wrong secret: refused, not retried.
    let mut wrong = g.config();
    wrong.credentials.secret_access_key = "0".repeat(64);
    let denied = S3Blobs::connect(&wrong).unwrap().check().await.unwrap_err();
    assert_eq!(denied.action(), Action::Refuse, "{denied}");
    assert!(matches!(denied, S3Error::Denied { .. }), "{denied}");
    // Another region than the store signs for: a configuration error naming the region, not
    // "unavailable, retry".
    let mut regional = g.config();
    regional.region = "eu-west-9".into();
    let e = S3Blobs::connect(&regional)
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert_eq!(e.action(), Action::Refuse, "{e}");
    assert!(matches!(e, S3Error::WrongRegion { .. }), "{e}");
    assert!(e.to_string().contains("region \"eu-west-9\""), "{e}");
    // The text tells each cause once (object_store's own errors repeat their chain).
    assert_eq!(std::error::Error::source(&e).map(|s| s.to_string()), None);
    // Garage gone mid-upload: the error says retry, and nothing is stored.
    let data = bytes(5, 20 << 20);
    let mut w = blobs.writer(None);
    w.write(&data[..(10 << 20)]).await.unwrap();
    g.kill();
    let mut err = None;
    for piece in data[(10 << 20)..].chunks(1 << 20) {
        if let Err(e) = w.write(piece).await {
            err = Some(e);
            break;
        }
    }
    let e = match err {
        Some(e) => {
            drop(w);
            e
        }
        None => w.finish().await.unwrap_err(),
    };
    assert_eq!(e.action(), Action::Retry, "{e}");
    assert!(matches!(e, S3Error::Unavailable { .. }));
    blobs.settle().await;

    // Back up: nothing is visible, not at an address, not under staging. The parts sent before
    // the crash stay as an unfinished multipart upload (the abort could not reach a dead
    // server) until the bucket's cleanup removes them, as docs/operations.md says.
    g.restart();
    let blobs = g.blobs().await;
    assert!(blobs.list().await.unwrap().is_empty());
    assert!(keys(&blobs, "").await.is_empty(), "no object at all");
    if g.unfinished_uploads() > 0 {
        g.cli(&[
            "bucket",
            "cleanup-incomplete-uploads",
            "--older-than",
            "0s",
            support::BUCKET,
        ]);
    }
    assert_eq!(g.unfinished_uploads(), 0);
    // And the same blob then goes through.
    let mut w = blobs.writer(None);
    w.write(&data).await.unwrap();
    assert_eq!(w.finish().await.unwrap().hash, BlobHash::of(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_verified_files_are_checked_before_anything_is_stored() {
    let Some(g) = Garage::start() else { return };
    let blobs = g.blobs().await;
    let items: Vec<(BlobHash, Bytes)> = (0..20u64)
        .map(|i| {
            let b = Bytes::from(bytes(i * 1000, 1000 + (i as usize) * 3000));
            (BlobHash::of(&b), b)
        })
        .collect();
    // One wrong hash in the batch: nothing at all is stored.
    let mut bad = items.clone();
    bad[7].0 = BlobHash::of(b"not these bytes");
    assert!(matches!(
        blobs.put_verified_batch(&bad).await,
        Err(S3Error::Mismatch { .. })
    ));
    assert!(keys(&blobs, "").await.is_empty());
    let stored = blobs.put_verified_batch(&items).await.unwrap();
    assert!(stored.iter().all(|s| s.written));
    let writes = g.s3_writes();
    let again = blobs.put_verified_batch(&items).await.unwrap();
    assert!(again.iter().all(|s| !s.written));
    assert_eq!(g.s3_writes(), writes, "a second batch writes nothing");
    for (h, b) in &items {
        assert_eq!(&blobs.read_range(h, 0..b.len() as u64).await.unwrap(), b);
    }

    // A partial file verified by a transfer, moved into the store.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("partial.blob");
    let data = bytes(11, (9 << 20) + 1);
    std::fs::write(&file, &data).unwrap();
    let hash = BlobHash::of(&data);
    let s = blobs.put_verified_file(&file, hash).await.unwrap();
    assert!(s.written);
    assert_eq!(
        blobs.verify(&hash).await.unwrap().outboard,
        OutboardState::Ok
    );
    // The same path claimed for another hash: refused, nothing stored there.
    let other = BlobHash::of(b"other");
    assert!(matches!(
        blobs.put_verified_file(&file, other).await,
        Err(S3Error::Mismatch { .. })
    ));
    assert_eq!(blobs.stat(&other).await.unwrap(), None);
    assert_eq!(g.unfinished_uploads(), 0);
}
