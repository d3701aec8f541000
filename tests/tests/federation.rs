//! Federation between real nodes: partners connect over libp2p, unregistered or removed peers are
//! refused by the connection gate, large evidence crosses byte-identical, an interrupted transfer
//! resumes from its checkpoint after a crash, and control messages to an offline partner wait in
//! the durable outbox until it is back.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    CaseView, PartnerView, SHARING_NET_LOG, ShareView, TestNode, add_evidence_file, add_partner,
    add_random_evidence, case_view, create_case, downloaded_hash, external_cases, hash_file,
    logged_node, node_identity, partner, peer_view, random_file, received_count, share_case,
    share_view, wait_connected, wait_share_complete, wait_until,
};
use std::fs;
use std::time::Duration;

const MIB: u64 = 1 << 20;
/// The receiver's checkpoint interval (`CHECKPOINT` in `crates/net/src/blob.rs`).
const CHECKPOINT: u64 = 128 * MIB;

/// How long small shares get to arrive (nodes connect, offer, fetch, import, receipt).
const SHORT: Duration = Duration::from_secs(60);
/// How long hundreds of MiB get to cross (debug builds; BLAKE3 and Noise are optimized).
const LONG: Duration = Duration::from_secs(240);

/// A node that partners reach again after it restarts.
fn node_on_fixed_port(name: &str) -> TestNode {
    TestNode::builder(name)
        .fixed_p2p_port()
        .env("RUST_LOG", SHARING_NET_LOG)
        .start()
}

/// The one case shared with `node`, once it holds `evidence` items.
fn wait_external_case(node: &TestNode, evidence: usize, limit: Duration) -> CaseView {
    wait_until(
        &format!("an external case with {evidence} items on {}", node.name()),
        limit,
        || {
            let cases = external_cases(node);
            let shown = case_view(node, &cases.first()?.id.to_string());
            (shown.evidence.len() == evidence).then_some(shown)
        },
    )
}

/// `(size, verified)` of every `.state` checkpoint in the node's partial directory.
fn checkpoints(node: &TestNode) -> Vec<(u64, u64)> {
    let Ok(dir) = fs::read_dir(node.data_dir().join("partial")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".state"))
        .filter_map(|e| fs::read(e.path()).ok())
        .filter(|b| b.len() == 24 && &b[..8] == b"CMPART01")
        .map(|b| {
            (
                u64::from_be_bytes(b[8..16].try_into().unwrap()),
                u64::from_be_bytes(b[16..24].try_into().unwrap()),
            )
        })
        .collect()
}

/// Every `resumed_from=N` value the node logged.
fn resumed_from_values(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.split("resumed_from=").nth(1))
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .collect()
}

#[test]
fn registered_partners_connect() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let b = logged_node("county-da", SHARING_NET_LOG);
    partner(&a, &b);
    let seen = wait_connected(&a, "county-da", true, SHORT);
    let (b_peer, _) = node_identity(&b);
    assert_eq!(seen.peer_id.as_str(), b_peer.as_str());
    assert_eq!(seen.outbox_queued, 0);
    let seen = wait_connected(&b, "metro-pd", true, SHORT);
    assert_eq!(seen.peer_id.as_str(), a.org_id());
    // Identify ran: the partner's protocol version is known.
    wait_until("the partner's protocol version", SHORT, || {
        let p = peer_view(&a, "county-da");
        p.protocol_version
    });
}

#[test]
fn unregistered_peer_is_refused() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let c = logged_node("stranger", SHARING_NET_LOG);
    // The stranger registers metro-pd; metro-pd does not know it.
    add_partner(&c, &a);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&c, "S-1");
    add_random_evidence(&c, &case, &work.path().join("a.bin"), 4_113, 1, &[]);
    let share = share_case(&c, &case, "metro-pd", &[]);
    let share_id = &share.id.to_string();

    let (c_peer, _) = node_identity(&c);
    wait_until("metro-pd to refuse the stranger", SHORT, || {
        a.log()
            .lines()
            .any(|l| l.contains("refused connection from unregistered peer") && l.contains(&c_peer))
            .then_some(())
    });
    // Give the stranger's outbox a few retries, then check that nothing got through.
    std::thread::sleep(Duration::from_secs(4));
    assert!(external_cases(&a).is_empty(), "nothing arrives at metro-pd");
    assert_eq!(received_count(&a), 0, "no share was received");
    assert_eq!(share_view(&c, share_id).status, "Processing");
    let view = peer_view(&c, "metro-pd");
    assert!(!view.connected, "{view:?}");
    assert!(
        view.outbox_queued > 0,
        "the offer waits in the stranger's outbox: {view:?}"
    );
}

#[test]
fn two_hundred_mib_arrive_byte_identical() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let b = logged_node("county-da", SHARING_NET_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("interview.mp4");
    random_file(&src, 200 * MIB, 200);
    let expected = hash_file(&src);
    let case = create_case(&a, "BIG-1");
    let ev = add_evidence_file(&a, &case, &src, &[]);
    assert_eq!(ev.hash, expected);
    fs::remove_file(&src).unwrap();

    let share = share_case(&a, &case, "county-da", &[]);
    let done: ShareView = wait_share_complete(&a, &share.id.to_string(), LONG);
    assert_eq!(done.items_delivered, 1);
    let copy = wait_external_case(&b, 1, SHORT);
    let item = &copy.evidence[0];
    assert_eq!(item.hash, expected);
    assert_eq!(item.size, 200 * MIB);
    let got = downloaded_hash(&b, &copy.id.to_string(), &item.id.to_string(), work.path());
    assert_eq!(got, expected, "the receiver's bytes differ");
}

#[test]
fn killed_receiver_resumes_the_transfer() {
    const SIZE: u64 = 400 * MIB;
    // The sharer serves at most 64 MiB/s: the transfer takes at least 5 s, so the kill below
    // lands between the first checkpoint and the end on any machine.
    let a = TestNode::builder("metro-pd")
        .env("RUST_LOG", SHARING_NET_LOG)
        .max_send_rate("64 MiB")
        .start();
    let mut b = node_on_fixed_port("county-da");
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("cctv.mkv");
    random_file(&src, SIZE, 400);
    let expected = hash_file(&src);
    let case = create_case(&a, "BIG-2");
    add_evidence_file(&a, &case, &src, &[]);
    fs::remove_file(&src).unwrap();

    let share = share_case(&a, &case, "county-da", &[]);
    let share_id = &share.id.to_string();
    // Crash the receiver once a checkpoint covers some data, well before the end.
    let (size, verified) = wait_until("a checkpoint of at least 128 MiB", LONG, || {
        checkpoints(&b)
            .into_iter()
            .find(|&(size, verified)| size == SIZE && verified >= CHECKPOINT)
    });
    b.kill();
    assert!(verified < size, "the transfer finished before the kill");
    let part_len = fs::read_dir(b.data_dir().join("partial"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .map(|e| e.metadata().unwrap().len())
        .expect("the killed receiver left a .part file");
    assert!(part_len >= verified, "{part_len} < {verified}");
    let log_before = b.log().len();

    b.start_again();
    wait_share_complete(&a, share_id, LONG);
    let copy = wait_external_case(&b, 1, SHORT);
    let item = &copy.evidence[0];
    assert_eq!(item.hash, expected);

    let after_restart = b.log()[log_before..].to_owned();
    let resumed = resumed_from_values(&after_restart);
    assert!(
        resumed.iter().any(|&r| r > 0 && r <= verified),
        "the restarted receiver resumed from the checkpoint ({verified}): resumed_from {resumed:?}"
    );
    let got = downloaded_hash(&b, &copy.id.to_string(), &item.id.to_string(), work.path());
    assert_eq!(got, expected, "the resumed copy differs");
    let leftovers: Vec<_> = fs::read_dir(b.data_dir().join("partial"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part") || n.ends_with(".state"))
        .collect();
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
}

#[test]
fn outbox_waits_for_an_offline_partner() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let mut b = node_on_fixed_port("county-da");
    partner(&a, &b);
    wait_connected(&a, "county-da", true, SHORT);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "OUT-1");
    for i in 0..3 {
        add_random_evidence(
            &a,
            &case,
            &work.path().join(format!("e{i}.bin")),
            4096 + i * 17,
            i,
            &[],
        );
    }

    b.stop();
    wait_connected(&a, "county-da", false, SHORT);
    let share = share_case(&a, &case, "county-da", &[]);
    let share_id = &share.id.to_string();
    assert_eq!(share.status, "Processing");
    let view = peer_view(&a, "county-da");
    assert!(
        view.outbox_queued >= 1,
        "the offer waits in the outbox: {view:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(share_view(&a, share_id).status, "Processing");

    b.start_again();
    let done: ShareView = wait_share_complete(&a, share_id, SHORT);
    assert_eq!(done.items_delivered, 3);
    wait_until("the outbox to drain", SHORT, || {
        (peer_view(&a, "county-da").outbox_queued == 0).then_some(())
    });
    let copy = wait_external_case(&b, 3, SHORT);
    assert!(copy.external);
    // Retries never apply twice: one copy, three items.
    std::thread::sleep(Duration::from_secs(2));
    let cases = external_cases(&b);
    assert_eq!(cases.len(), 1, "exactly one copy: {cases:?}");
    assert_eq!(received_count(&b), 1);
    assert_eq!(case_view(&b, &copy.id.to_string()).evidence.len(), 3);
}

#[test]
fn removed_partner_can_no_longer_connect() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let b = logged_node("county-da", SHARING_NET_LOG);
    partner(&a, &b);
    wait_connected(&a, "county-da", true, SHORT);
    wait_connected(&b, "metro-pd", true, SHORT);
    let (b_peer, _) = node_identity(&b);

    a.cli_ok(["partner", "remove", "county-da", "--yes"]);
    assert!(
        a.cli_typed::<Vec<PartnerView>, _, _>(["partner", "list"])
            .is_empty(),
        "the partner is gone"
    );
    wait_connected(&b, "metro-pd", false, SHORT);
    // county-da still knows metro-pd and keeps trying; metro-pd refuses it.
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&b, "R-1");
    add_random_evidence(&b, &case, &work.path().join("x.bin"), 4_249, 9, &[]);
    let share = share_case(&b, &case, "metro-pd", &[]);
    wait_until("metro-pd to refuse the removed partner", SHORT, || {
        a.log()
            .lines()
            .any(|l| l.contains("refused connection from unregistered peer") && l.contains(&b_peer))
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(!peer_view(&b, "metro-pd").connected);
    assert!(external_cases(&a).is_empty(), "nothing arrives");
    assert_eq!(share_view(&b, &share.id.to_string()).status, "Processing");
}
