//! Multi-node tests over real TCP on 127.0.0.1 (port 0): gating, control protocol, verified
//! and resumable blob transfer, refusals, concurrency.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use casemesh_net::{
    ControlRequest, ControlStatus, Event, MessageKind, NetError, RefusalCode, wire,
};
use common::*;
use tokio::sync::watch;

const MIB: u64 = 1024 * 1024;

fn request(kind: MessageKind, payload: Vec<u8>) -> ControlRequest {
    ControlRequest {
        msg_id: rand_id(),
        kind: kind.as_str().to_string(),
        payload,
    }
}

fn rand_id() -> [u8; 16] {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut id = [0u8; 16];
    id.copy_from_slice(&blake3::hash(&t.to_le_bytes()).as_bytes()[..16]);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_connect_and_unregistered_peer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(1, &dir.path().join("a")).await;
    let mut b = node(2, &dir.path().join("b")).await;
    let c = node(3, &dir.path().join("c")).await;
    pair(&mut a, &mut b).await;

    // C believes A is its partner; A has never heard of C.
    c.handle
        .add_partner(partner_of(&a, "a").await)
        .await
        .unwrap();
    let res = c
        .handle
        .send_control(a.handle.local_peer_id(), request(MessageKind::Ping, vec![]))
        .await;
    assert!(res.is_err(), "unregistered peer got through: {res:?}");

    // A saw the refusal and never got a control request.
    let mut refused = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, a.events.recv()).await {
        match ev {
            Event::ConnectionRefused { peer } if peer == c.handle.local_peer_id() => {
                refused = true;
                break;
            }
            Event::ControlRequest { peer, .. } => panic!("control request from {peer}"),
            _ => {}
        }
    }
    assert!(refused, "A did not report refusing C");
    let peers = a.handle.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].peer_id, b.handle.local_peer_id());
    assert!(peers[0].connected);
    assert!(!c.handle.peers().await.unwrap()[0].connected);
    assert!(
        !a.handle
            .listen_addrs()
            .await
            .unwrap()
            .iter()
            .any(|addr| addr.to_string().ends_with("/tcp/0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_roundtrip_and_operator_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(11, &dir.path().join("a")).await;
    let mut b = node(12, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let b_peer = b.handle.local_peer_id();
    let _echo = echo_control(std::mem::replace(
        &mut b.events,
        tokio::sync::mpsc::channel(1).1,
    ));

    let req = request(MessageKind::GrantOffer, b"signed grant bytes".to_vec());
    let resp = a.handle.send_control(b_peer, req.clone()).await.unwrap();
    assert_eq!(resp.msg_id, req.msg_id);
    assert_eq!(resp.status, ControlStatus::Ok);
    assert_eq!(resp.payload, req.payload);

    // identify and ping fill the operator view
    let mut info = None;
    for _ in 0..100 {
        let peers = a.handle.peers().await.unwrap();
        let p = peers.into_iter().find(|p| p.peer_id == b_peer).unwrap();
        if p.agent_version.is_some() && p.rtt.is_some() {
            info = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let info = info.expect("identify/ping never arrived");
    assert_eq!(info.name, "b");
    assert!(info.connected);
    assert!(info.last_seen_ms.is_some());
    assert_eq!(
        info.protocol_version.as_deref(),
        Some(wire::IDENTIFY_PROTOCOL_VERSION)
    );
    assert!(info.protocols.iter().any(|p| p == wire::CONTROL_PROTOCOL));
    assert!(info.protocols.iter().any(|p| p == wire::BLOB_PROTOCOL));
    assert_eq!(info.messages_sent, 1);
    assert_eq!(info.messages_received, 1);
    assert!(info.bytes_sent > 0 && info.bytes_received > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_control_message_is_rejected_and_node_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(21, &dir.path().join("a")).await;
    let mut b = node(22, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let b_peer = b.handle.local_peer_id();
    let _echo = echo_control(std::mem::replace(
        &mut b.events,
        tokio::sync::mpsc::channel(1).1,
    ));

    let big = request(
        MessageKind::CaseManifest,
        vec![7u8; wire::MAX_CONTROL_REQUEST],
    );
    match a.handle.send_control(b_peer, big).await {
        Err(NetError::TooLarge { size, limit }) => {
            assert!(size > limit);
            assert_eq!(limit, wire::MAX_CONTROL_REQUEST);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Just under the limit goes through, and the node still answers.
    let fits = request(
        MessageKind::CaseManifest,
        vec![1u8; wire::MAX_CONTROL_REQUEST - 16 - 2 - MessageKind::CaseManifest.as_str().len()],
    );
    let resp = a.handle.send_control(b_peer, fits).await.unwrap();
    assert!(resp.payload.len() + 100 > wire::MAX_CONTROL_REQUEST);
    let resp = a
        .handle
        .send_control(b_peer, request(MessageKind::Ping, b"still there?".to_vec()))
        .await
        .unwrap();
    assert_eq!(resp.payload, b"still there?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_200_mib_moves_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(31, &dir.path().join("a")).await;
    let mut b = node(32, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let size = 200 * MIB;
    let src = dir.path().join("src.bin");
    let hash = write_random(&src, size, 31);
    a.server.add(hash, &src, size);

    let (tx, rx) = watch::channel(0u64);
    let fetched = b
        .handle
        .fetch_blob_with_progress(
            a.handle.local_peer_id(),
            GOOD_GRANT.to_vec(),
            hash,
            Some(size),
            tx,
        )
        .await
        .unwrap();
    assert_eq!(fetched.size, size);
    assert_eq!(fetched.resumed_from, 0);
    assert!(!fetched.skipped);
    assert_eq!(*rx.borrow(), size);
    assert!(fetched.path.starts_with(&b.partial));
    assert!(same_bytes(&src, &fetched.path));
    assert_eq!(hash_file(&fetched.path), hash);
    // no leftovers besides the complete file
    let hex = hash.to_hex();
    assert!(!b.partial.join(format!("{hex}.part")).exists());
    assert!(!b.partial.join(format!("{hex}.state")).exists());
    let info = b.handle.peers().await.unwrap();
    assert!(info[0].bytes_received >= size);
    assert_eq!(info[0].transfers_in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_fetch_resumes_on_a_fresh_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(41, &dir.path().join("a")).await;
    let b_dir = dir.path().join("b");
    let mut b = node(42, &b_dir).await;
    pair(&mut a, &mut b).await;
    let size = 96 * MIB + 12_345;
    let src = dir.path().join("src.bin");
    let hash = write_random(&src, size, 41);
    a.server.add(hash, &src, size);
    let a_peer = a.handle.local_peer_id();

    let (tx, mut rx) = watch::channel(0u64);
    let h = b.handle.clone();
    let task = tokio::spawn(async move {
        h.fetch_blob_with_progress(a_peer, GOOD_GRANT.to_vec(), hash, Some(size), tx)
            .await
    });
    while *rx.borrow_and_update() < 20 * MIB {
        rx.changed()
            .await
            .expect("fetch ended before the interruption");
    }
    // Kill the receiving node mid-transfer.
    task.abort();
    b.handle.shutdown();
    drop(b);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut b2 = node(42, &b_dir).await;
    pair(&mut a, &mut b2).await;
    let fetched = b2
        .handle
        .fetch_blob(a_peer, GOOD_GRANT.to_vec(), hash, Some(size))
        .await
        .unwrap();
    assert!(fetched.resumed_from > 0, "did not resume");
    assert_eq!(fetched.resumed_from % wire::CHUNK_GROUP_BYTES, 0);
    assert!(fetched.resumed_from < size);
    assert!(same_bytes(&src, &fetched.path));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_server_is_caught_and_leaves_no_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(51, &dir.path().join("a")).await;
    let mut b = node(52, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let size = 8 * MIB;
    let real = dir.path().join("real.bin");
    let fake = dir.path().join("fake.bin");
    let hash = write_random(&real, size, 1);
    write_random(&fake, size, 2);
    a.server.add(hash, &fake, size);

    let err = b
        .handle
        .fetch_blob(a.handle.local_peer_id(), GOOD_GRANT.to_vec(), hash, None)
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Verification { .. }), "{err:?}");
    assert!(!b.partial.join(format!("{}.blob", hash.to_hex())).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_mid_file_is_caught_within_one_chunk_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(61, &dir.path().join("a")).await;
    let mut b = node(62, &dir.path().join("b")).await;
    let mut c = node(63, &dir.path().join("c")).await;
    pair(&mut a, &mut b).await;
    pair(&mut a, &mut c).await;
    let size = 16 * MIB;
    let src = dir.path().join("src.bin");
    let hash = write_random(&src, size, 61);
    a.server.add(hash, &src, size);
    // A good transfer makes A cache the outboard of the true bytes...
    b.handle
        .fetch_blob(
            a.handle.local_peer_id(),
            GOOD_GRANT.to_vec(),
            hash,
            Some(size),
        )
        .await
        .unwrap();
    // ...then one byte of A's file rots at 5 MiB + 100.
    let bad_at = 5 * MIB + 100;
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&src).unwrap();
        let mut byte = [0u8; 1];
        f.read_exact_at(&mut byte, bad_at).ok();
        let f2 = std::fs::File::open(&src).unwrap();
        f2.read_exact_at(&mut byte, bad_at).unwrap();
        f.write_all_at(&[byte[0] ^ 0xff], bad_at).unwrap();
    }
    let err = c
        .handle
        .fetch_blob(
            a.handle.local_peer_id(),
            GOOD_GRANT.to_vec(),
            hash,
            Some(size),
        )
        .await
        .unwrap_err();
    match err {
        NetError::Verification { offset, .. } => {
            let group = bad_at / wire::CHUNK_GROUP_BYTES * wire::CHUNK_GROUP_BYTES;
            assert_eq!(offset, group, "caught at the wrong place");
        }
        other => panic!("expected verification error, got {other:?}"),
    }
    assert!(!c.partial.join(format!("{}.blob", hash.to_hex())).exists());
    // the verified prefix is kept for a later resume, and it is all correct
    let part = c.partial.join(format!("{}.part", hash.to_hex()));
    let len = std::fs::metadata(&part).unwrap().len();
    assert!(len <= bad_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_request_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(71, &dir.path().join("a")).await;
    let mut b = node(72, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let size = 2 * MIB;
    let src = dir.path().join("src.bin");
    let hash = write_random(&src, size, 71);
    a.server.add(hash, &src, size);

    let err = b
        .handle
        .fetch_blob(a.handle.local_peer_id(), b"forged".to_vec(), hash, None)
        .await
        .unwrap_err();
    match err {
        NetError::Refused { refusal, .. } => {
            assert_eq!(refusal.code, RefusalCode::Forbidden);
            assert!(refusal.reason.contains("grant"));
        }
        other => panic!("expected refusal, got {other:?}"),
    }
    let unknown = casemesh_model::ids::BlobHash([9u8; 32]);
    let err = b
        .handle
        .fetch_blob(a.handle.local_peer_id(), GOOD_GRANT.to_vec(), unknown, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NetError::Refused { refusal, .. } if refusal.code == RefusalCode::NotFound),
        "{err:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&b.partial)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "refused fetch wrote {leftovers:?}");
    assert_eq!(
        *a.server.opens.lock().unwrap(),
        2,
        "open must be asked every time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_and_skip_when_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(81, &dir.path().join("a")).await;
    let mut b = node(82, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    let a_peer = a.handle.local_peer_id();
    let mut blobs = Vec::new();
    for i in 0..2u64 {
        let size = 24 * MIB + i * 777;
        let src = dir.path().join(format!("src{i}.bin"));
        let hash = write_random(&src, size, 80 + i);
        a.server.add(hash, &src, size);
        blobs.push((src, hash, size));
    }
    let (r0, r1) = tokio::join!(
        b.handle
            .fetch_blob(a_peer, GOOD_GRANT.to_vec(), blobs[0].1, Some(blobs[0].2)),
        b.handle
            .fetch_blob(a_peer, GOOD_GRANT.to_vec(), blobs[1].1, Some(blobs[1].2)),
    );
    for (res, (src, _, _)) in [r0, r1].into_iter().zip(&blobs) {
        let fetched = res.unwrap();
        assert!(!fetched.skipped);
        assert!(same_bytes(src, &fetched.path));
    }
    let opens_before = *a.server.opens.lock().unwrap();
    let again = b
        .handle
        .fetch_blob(a_peer, GOOD_GRANT.to_vec(), blobs[0].1, Some(blobs[0].2))
        .await
        .unwrap();
    assert!(again.skipped);
    assert_eq!(again.resumed_from, blobs[0].2);
    assert_eq!(
        *a.server.opens.lock().unwrap(),
        opens_before,
        "skip must not transfer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_and_empty_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = node(91, &dir.path().join("a")).await;
    let mut b = node(92, &dir.path().join("b")).await;
    pair(&mut a, &mut b).await;
    for (i, size) in [0u64, 1, 1024, 16 * 1024, 16 * 1024 + 1]
        .into_iter()
        .enumerate()
    {
        let src = dir.path().join(format!("t{i}.bin"));
        let hash = write_random(&src, size, 900 + i as u64);
        a.server.add(hash, &src, size);
        let fetched = b
            .handle
            .fetch_blob(
                a.handle.local_peer_id(),
                GOOD_GRANT.to_vec(),
                hash,
                Some(size),
            )
            .await
            .unwrap_or_else(|e| panic!("size {size}: {e}"));
        assert!(same_bytes(&src, &fetched.path), "size {size}");
    }
    // prepare_blob caches the outboard of a matching file and refuses a mismatching one
    let src = dir.path().join("prep.bin");
    let hash = write_random(&src, 3 * MIB, 999);
    let source = casemesh_net::BlobSource::new(&src, 3 * MIB);
    assert!(a.handle.prepare_blob(hash, source.clone()).await.unwrap());
    let wrong = casemesh_model::ids::BlobHash([1u8; 32]);
    assert!(!a.handle.prepare_blob(wrong, source).await.unwrap());
}
