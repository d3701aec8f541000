//! A hostile partner misbehaving on blob and control streams (issue #16 item 3): B's identity
//! key, held by a bare libp2p node (`casemesh_tests::hostile::RawPartner`), with a valid grant
//! for an 8 MiB item A shared with B. Against A, a real node process, it sends oversize and
//! malformed frames, opens extra connections, requests the big item on lanes it never reads,
//! drips a request one byte per second, and opens hundreds of streams at once, all at the same
//! time. Meanwhile A shares a case with C, an honest partner.
//!
//! Asserted: every malformed frame gets a refusal or a closed stream (never a hang); A keeps at
//! most its per-peer connection limit with B; C's share completes promptly; the stalled and
//! dripping lanes are closed and B's serve slots freed by A's timeouts while the attacker still
//! holds them open; A stays up and logs no panic; once the attacker lets go, B's identity is
//! served normally again (no lane or slot leaked). libp2p's metrics are in A's `/metrics`.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use std::time::{Duration, Instant};

use casemesh_model::ids::BlobHash;
use casemesh_net::wire::{BlobBatchRequest, BlobRequest, BlobResponseHeader, LaneRequest};
use casemesh_net::{Refusal, RefusalCode};
use casemesh_tests::hostile::{RawPartner, RawStream};
use casemesh_tests::{
    TestNode, add_random_evidence, create_case, node_identity, partner, peer_view, received_view,
    share_case, wait_share_complete, wait_until,
};
use futures::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);
const V3: &str = "/casemesh/blob/3";
const V1: &str = "/casemesh/blob/1";
const CONTROL: &str = "/casemesh/control/1";
/// How long any answer to a malformed frame may take.
const ANSWER: Duration = Duration::from_secs(10);
/// The big item: far more than a stream's flow-control window, so a lane that is never read
/// stalls its server.
const BIG: u64 = 8 << 20;

/// What the server did with a stream after `send`: the answers it wrote, then whether it
/// closed the stream (EOF or reset) within [`ANSWER`].
struct Outcome {
    answers: Vec<BlobResponseHeader>,
    closed: bool,
}

/// Write `bytes` on `stream` (closing the write side when `fin`), then read answer headers
/// until the stream ends or nothing more comes within [`ANSWER`]. Only refusals are expected
/// (a header `Ok` would be followed by a bao stream, which this does not read).
async fn exchange(mut stream: RawStream, bytes: &[u8], fin: bool) -> Outcome {
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
    if fin {
        let _ = stream.close().await;
    }
    let mut answers = Vec::new();
    loop {
        match tokio::time::timeout(ANSWER, BlobResponseHeader::read(&mut stream)).await {
            Ok(Ok(h @ BlobResponseHeader::Refused(_))) => answers.push(h),
            Ok(Ok(h)) => panic!("a malformed request was answered {h:?}"),
            Ok(Err(_)) => {
                return Outcome {
                    answers,
                    closed: true,
                };
            }
            Err(_) => {
                return Outcome {
                    answers,
                    closed: false,
                };
            }
        }
    }
}

fn refused(h: &BlobResponseHeader, code: RefusalCode) -> bool {
    matches!(h, BlobResponseHeader::Refused(Refusal { code: c, .. }) if *c == code)
}

/// B's view at A: `transfers_in_flight` of the partner named county-da.
fn b_in_flight(a: &TestNode) -> u64 {
    peer_view(a, "county-da").transfers_in_flight
}

#[test]
fn blob_stream_attacks_leave_the_node_serving_its_other_partners() {
    let a = TestNode::start("metro-pd");
    let mut b = TestNode::start("county-da");
    let c = TestNode::start("state-lab");
    partner(&a, &b);
    partner(&a, &c);

    // An 8 MiB item shared with B: the hostile B holds a valid grant for it.
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("interview.mp4");
    let case = create_case(&a, "STREAMS-1");
    add_random_evidence(&a, &case, &big, BIG, 11, &[]);
    let hash = BlobHash(*blake3::hash(&std::fs::read(&big).unwrap()).as_bytes());
    let share = share_case(&a, &case, "county-da", &[]);
    let share = share.id;
    wait_share_complete(&a, &share.to_string(), LIMIT);
    let grant = wait_until("B's grant", LIMIT, || {
        let v = received_view(&b, &share.to_string());
        (!v.grant.is_empty()).then(|| hex::decode(&v.grant).unwrap())
    });
    let (a_peer, a_addr) = node_identity(&a);
    b.stop();
    let raw = RawPartner::start(b.data_dir(), &a_peer, &a_addr);
    let request = |offset: u64| {
        LaneRequest::One(BlobRequest {
            hash,
            offset,
            grant: grant.clone(),
        })
        .encode()
        .unwrap()
    };

    // (d) Oversize and malformed frames: each answered with a refusal and closed, or closed;
    //     never left hanging, never an answer with data.
    let oversize = raw.block_on(exchange(raw.open(V3), &[0xff, 0xff, 0xff, 0xff, 1], false));
    assert!(oversize.closed, "an oversize frame left the lane open");
    assert!(refused(&oversize.answers[0], RefusalCode::BadRequest));
    let unknown_kind = raw.block_on(exchange(raw.open(V3), &[0, 0, 0, 1, 9], false));
    assert!(unknown_kind.closed && refused(&unknown_kind.answers[0], RefusalCode::BadRequest));
    let truncated = raw.block_on(exchange(raw.open(V3), &[0, 0, 0, 100, 0, 1, 2], true));
    assert!(truncated.closed && truncated.answers.is_empty());
    let twice = BlobBatchRequest {
        hashes: vec![hash, hash],
        grant: grant.clone(),
    }
    .encode_unchecked()
    .unwrap();
    let batch = raw.block_on(exchange(raw.open(V3), &twice, true));
    assert_eq!(
        batch.answers.len(),
        2,
        "each hash of a bad batch is answered"
    );
    assert!(
        batch
            .answers
            .iter()
            .all(|h| refused(h, RefusalCode::BadRequest))
    );
    let garbage: Vec<u8> = (0..100_000u32).map(|i| (i * 131 % 251) as u8).collect();
    let junk = raw.block_on(exchange(raw.open(V1), &garbage, false));
    assert!(
        junk.closed,
        "100 KB of garbage left a version 1 stream open"
    );
    let mut s = raw.open(CONTROL);
    let control = raw.block_on(async {
        let _ = s.write_all(&[0xff, 0xff, 0xff, 0xff, 0]).await;
        let mut buf = Vec::new();
        tokio::time::timeout(ANSWER, s.read_to_end(&mut buf))
            .await
            .is_ok()
    });
    assert!(control, "an oversize control frame left the stream open");

    // Connections: eight more from B at once. A keeps at most its per-peer limit (4).
    raw.dial_extra(8);
    wait_until("A to settle B's extra connections", LIMIT, || {
        (raw.connections() + raw.closed_connections() >= 9).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        raw.connections() <= 4,
        "A keeps {} connections with one partner",
        raw.connections()
    );

    // (b) Four lanes (B's serve slots at A) request the big item and never read.
    let attack_start = Instant::now();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = raw.open(V3);
        raw.block_on(s.write_all(&request(0))).unwrap();
        held.push(s);
    }
    // (a) Two lanes drip a valid request, one byte per second; each records when A closed it
    //     (its read side ends).
    let drips: Vec<_> = (0..2)
        .map(|_| {
            let stream = raw.open(V3);
            let bytes = request(0);
            raw.spawn(async move {
                let start = Instant::now();
                let (mut read, mut write) = stream.split();
                let drip = async move {
                    for byte in bytes {
                        if write.write_all(&[byte]).await.is_err() || write.flush().await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    std::future::pending::<()>().await;
                };
                let mut sink = Vec::new();
                tokio::select! {
                    _ = drip => None,
                    _ = read.read_to_end(&mut sink) => Some(start.elapsed()),
                    _ = tokio::time::sleep(Duration::from_secs(90)) => None,
                }
            })
        })
        .collect();
    // (c) Three hundred streams at once, held open.
    let many = raw.open_many(V3, 300);
    eprintln!("{} of 300 streams negotiated", many.len());
    // A control stream dripping too.
    let mut control_drip = raw.open(CONTROL);
    raw.block_on(control_drip.write_all(&[0, 0])).unwrap();
    wait_until("B's stalled transfers at A", LIMIT, || {
        (b_in_flight(&a) > 0).then_some(())
    });
    let stalled_secs = attack_start.elapsed().as_secs_f64();

    // Meanwhile C, an honest partner, gets a share from A promptly.
    let small = create_case(&a, "HONEST-1");
    for n in 0..3u64 {
        let f = work.path().join(format!("photo{n}.jpg"));
        add_random_evidence(&a, &small, &f, 300_000 + n, 20 + n, &[]);
    }
    let t0 = Instant::now();
    let honest = share_case(&a, &small, "state-lab", &[]);
    wait_share_complete(&a, &honest.id.to_string(), Duration::from_secs(30));
    let honest_secs = t0.elapsed().as_secs_f64();
    eprintln!("C's share completed in {honest_secs:.1} s during the attack");

    // A's timeouts free B's slots and close the dripping lanes while the attacker still holds
    // every stream open: 30 s without progress on an answer, 20 s for a whole request.
    wait_until(
        "B's serve slots at A freed",
        Duration::from_secs(45),
        || (b_in_flight(&a) == 0).then_some(()),
    );
    let freed_secs = attack_start.elapsed().as_secs_f64();
    eprintln!(
        "B's stalled transfers counted after {stalled_secs:.1} s, freed after {freed_secs:.1} s"
    );
    for drip in drips {
        let closed = raw.block_on(drip).unwrap();
        let closed = closed.expect("A never closed a dripping lane");
        assert!(
            closed <= Duration::from_secs(30),
            "a dripping lane was kept {closed:?}"
        );
    }

    // A is up, and logged no panic.
    assert!(a.pid().is_some(), "A exited");
    a.cli_ok(["peers"]);
    let log = a.log();
    assert!(!log.contains("panicked"), "A panicked:\n{}", a.log_tail(40));

    // libp2p's own figures are in A's /metrics, next to casemesh's.
    let metrics = a
        .http()
        .get(a.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("casemesh_libp2p_swarm_connections_established_total"),
        "no libp2p metrics in /metrics"
    );

    // The attacker lets go: B's identity is served normally again (nothing leaked).
    drop((held, many, control_drip));
    let fetched = wait_until("an honest fetch as B", LIMIT, || {
        let mut s = raw.open(V1);
        raw.block_on(async {
            s.write_all(
                &BlobRequest {
                    hash,
                    offset: 0,
                    grant: grant.clone(),
                }
                .encode()
                .unwrap(),
            )
            .await
            .ok()?;
            let header = BlobResponseHeader::read(&mut s).await.ok()?;
            let BlobResponseHeader::Ok { size, .. } = header else {
                eprintln!("refused: {header:?}");
                return None;
            };
            let mut rest = Vec::new();
            tokio::time::timeout(LIMIT, s.read_to_end(&mut rest))
                .await
                .ok()?
                .ok()?;
            Some((size, rest.len() as u64))
        })
    });
    assert_eq!(fetched.0, BIG);
    assert!(fetched.1 >= BIG, "the answer was cut short: {fetched:?}");
}

/// One shared control queue no more (issue #16 item 2): H, a registered partner turned
/// hostile, floods A with control requests from 400 concurrent streams, without pause, for the
/// whole test. Meanwhile B, an honest partner, shares a case with A. Asserted: B's share
/// completes promptly and B never hears `Busy` (its outbox would log "partner could not take …
/// Busy" and retry later) while H's requests keep being answered.
#[test]
fn a_partner_flooding_control_messages_does_not_make_another_busy() {
    let a = TestNode::start("metro-pd");
    let mut h = TestNode::start("rogue-unit");
    let b = TestNode::start("county-da");
    partner(&a, &h);
    partner(&a, &b);
    let (a_peer, a_addr) = node_identity(&a);
    h.stop();
    let raw = RawPartner::start(h.data_dir(), &a_peer, &a_addr);
    // Four connections (the per-peer limit), so the flood is not capped by one connection's
    // 100 concurrent request-response streams.
    raw.dial_extra(3);
    wait_until("H's four connections", LIMIT, || {
        (raw.connections() >= 4).then_some(())
    });
    let flood = raw.flood_control(800, "flood.test/1", vec![b'x'; 16 << 10]);
    let counts = flood.counts.clone();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    wait_until("H's flood under way", LIMIT, || {
        (load(&counts.answered) > 500).then_some(())
    });
    let before = (
        load(&counts.answered),
        load(&counts.busy),
        load(&counts.failed),
    );
    eprintln!("H's flood under way: (answered, busy, failed) = {before:?}");

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("statement.pdf");
    let case = create_case(&b, "FLOOD-1");
    add_random_evidence(&b, &case, &file, 256 << 10, 5, &[]);
    let started = Instant::now();
    let share = share_case(&b, &case, "metro-pd", &[]);
    let share = share.id;
    wait_share_complete(&b, &share.to_string(), LIMIT);
    let took = started.elapsed();
    let (answered, busy, failed) = (
        load(&counts.answered),
        load(&counts.busy),
        load(&counts.failed),
    );
    eprintln!(
        "B's share complete in {took:?} under a flood of {answered} answered control requests \
         from H ({busy} Busy, {failed} failed streams)"
    );
    assert!(
        took < Duration::from_secs(20),
        "B's share took {took:?} under H's flood"
    );
    let log = b.log();
    assert!(
        !log.contains("Busy"),
        "B was answered Busy while H flooded:\n{log}"
    );
    assert!(answered > before.0, "H's flood went on during the share");
    drop(flood);
    a.cli_ok(["id"]);
}
