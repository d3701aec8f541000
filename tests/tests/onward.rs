//! Onward sharing and cascading revocation between three real nodes (issue #13, items 1–2;
//! seed "Onward sharing of a received case" and "Stop sharing a case"): A shares with B, B
//! shares the received case onward with C under a child grant. C's copy is byte-identical; A's
//! custody timeline shows the hop B → C with B's signature; a policy without onward sharing is
//! refused at B; A's stop ends B's and C's access, their copies stay, and C learns of it after
//! being offline during the stop.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::ids::{BlobHash, ShareId};
use casemesh_tests::{
    SHARING_LOG, ShareView, TestNode, add_random_evidence, case_view, create_case, custody_events,
    partner, received_count, received_view, share_case, share_view, signed_by, try_received_view,
    wait_share_complete, wait_until,
};
use std::collections::BTreeSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn node(name: &str) -> TestNode {
    TestNode::builder(name)
        .fixed_p2p_port()
        .env("RUST_LOG", SHARING_LOG)
        .start()
}

fn add(node: &TestNode, case: &str, dir: &std::path::Path, name: &str, seed: u64) -> BlobHash {
    add_random_evidence(node, case, &dir.join(name), 5000 + seed * 7, seed, &[]).hash
}

/// The local copy's case id of the received share of `node` that came as `share` (its id is
/// the grant id), once imported.
fn received(node: &TestNode, share: &str) -> Option<String> {
    try_received_view(node, share)?
        .local_case
        .map(|c| c.to_string())
}

/// Hashes of the evidence of `case` on `node`.
fn hashes(node: &TestNode, case: &str) -> BTreeSet<BlobHash> {
    case_view(node, case)
        .evidence
        .into_iter()
        .map(|e| e.hash)
        .collect()
}

/// `share create` as typed by the sharer.
fn share(node: &TestNode, case: &str, partner: &str) -> String {
    share_case(node, case, partner, &[]).id.to_string()
}

#[test]
fn a_case_shared_onward_reaches_c_intact_and_a_stop_at_the_origin_ends_the_whole_chain() {
    let a = node("metro-pd");
    let b = node("county-da");
    let mut c = node("state-lab");
    partner(&a, &b);
    partner(&b, &c);
    let work = tempfile::tempdir().unwrap();

    // Under the default policy, onward sharing is refused at B, with the reason.
    let plain = create_case(&a, "ONW-1");
    add(&a, &plain, work.path(), "plain.jpg", 1);
    let s1 = share(&a, &plain, "county-da");
    wait_share_complete(&a, &s1, LIMIT);
    wait_until("the first copy", LIMIT, || received(&b, &s1));
    let (msg, code) = b.cli_fail([
        "received",
        "share",
        &s1,
        "--partner",
        "state-lab",
        "--to",
        "user:admin",
    ]);
    assert_ne!(code, 0);
    assert!(msg.contains("share_onward"), "{msg}");
    let (msg, code) = b.cli_fail(["received", "share", &s1, "--inside", "--to", "user:admin"]);
    assert_ne!(code, 0);
    assert!(msg.contains("share_onward"), "{msg}");
    // Nor can B hand it outside as a download link.
    let copy1 = received(&b, &s1).unwrap();
    let (msg, code) = b.cli_fail(["link", "create", &copy1, "--format", "zip"]);
    assert_ne!(code, 0);
    assert!(msg.contains("share_onward"), "{msg}");
    assert_eq!(received_count(&c), 0);

    // A policy that allows it.
    casemesh_tests::give_partner_policy(
        &a,
        "county-da",
        "Onward",
        &[
            "view",
            "download",
            "import",
            "receive_updates",
            "share_onward",
            "share_onward_external",
        ],
    );
    let case = create_case(&a, "ONW-2");
    let sent: BTreeSet<BlobHash> = [("cctv.mkv", 2), ("notes.pdf", 3)]
        .into_iter()
        .map(|(n, seed)| add(&a, &case, work.path(), n, seed))
        .collect();
    let s2 = share(&a, &case, "county-da");
    wait_share_complete(&a, &s2, LIMIT);
    let at_b = wait_until("B's copy", LIMIT, || received(&b, &s2));
    assert_eq!(hashes(&b, &at_b), sent);

    // B shares onward to C; C's copy holds exactly A's bytes.
    let onward: ShareView = b.cli_typed([
        "received",
        "share",
        &s2,
        "--partner",
        "state-lab",
        "--to",
        "user:admin",
        "--message",
        "for analysis",
    ]);
    let s3 = onward.id;
    assert_eq!(onward.onward_of, Some(s2.parse::<ShareId>().unwrap()));
    wait_share_complete(&b, &s3.to_string(), LIMIT);
    let at_c = wait_until("C's copy", LIMIT, || received(&c, &s3.to_string()));
    assert_eq!(hashes(&c, &at_c), sent);

    // Sharing it onward to C again adds to the same onward share: C keeps one copy.
    let again: ShareView = b.cli_typed([
        "received",
        "share",
        &s2,
        "--partner",
        "state-lab",
        "--to",
        "user:admin",
    ]);
    assert_eq!(again.id, s3, "{again:?}");
    // Evidence the origin adds later travels on through B to C.
    let late = add(&a, &case, work.path(), "late.txt", 4);
    let copy_c = at_c.clone();
    wait_until("the late item at C", LIMIT, || {
        hashes(&c, &copy_c).contains(&late).then_some(())
    });
    assert_eq!(received_count(&c), 1);
    let mut sent = sent;
    sent.insert(late);

    // C's custody timeline names the origin too, proven by A's own signed grant.
    let theirs = custody_events(&c, &at_c);
    let upstream = theirs
        .iter()
        .find(|e| e.kind == "shared_upstream")
        .unwrap_or_else(|| panic!("no upstream event: {theirs:?}"));
    assert_eq!(signed_by(upstream), Some(a.org_id()), "{upstream:?}");

    // The origin is told of the hop, with B's signature as proof.
    let status = wait_until("the hop at A", LIMIT, || {
        let v = share_view(&a, &s2);
        (!v.hops.is_empty()).then_some(v)
    });
    let hop = &status.hops[0];
    assert_eq!(hop.share, s3);
    assert_eq!(hop.from.as_str(), b.org_id());
    assert_eq!(hop.to.as_str(), c.org_id());
    assert_eq!(hop.to_name, "state-lab");
    let custody = custody_events(&a, &case);
    let event = custody
        .iter()
        .find(|e| e.kind == "onward")
        .unwrap_or_else(|| panic!("no onward event: {custody:?}"));
    assert_eq!(event.org, "county-da");
    assert_eq!(signed_by(event), Some(b.org_id()), "signed by B: {event:?}");

    // An inside onward share at B is reported too.
    b.cli_ok(["received", "share", &s2, "--inside", "--to", "user:admin"]);
    wait_until("the inside hop at A", LIMIT, || {
        share_view(&a, &s2)
            .hops
            .iter()
            .any(|h| h.to.as_str() == b.org_id())
            .then_some(())
    });

    // A stops while C is offline: B's onward share is stopped at once, and C learns it when
    // it comes back. Every copy stays with its owner.
    c.stop();
    a.cli_ok(["share", "stop", &s2, "--yes"]);
    wait_until("B's received share stopped", LIMIT, || {
        (received_view(&b, &s2).status == "Stopped").then_some(())
    });
    wait_until("B's onward share stopped", LIMIT, || {
        (share_view(&b, &s3.to_string()).status == "Stopped").then_some(())
    });
    // B can no longer share it onward.
    let (msg, code) = b.cli_fail([
        "received",
        "share",
        &s2,
        "--partner",
        "state-lab",
        "--to",
        "user:admin",
    ]);
    assert_ne!(code, 0);
    assert!(msg.contains("stopped"), "{msg}");
    c.start_again();
    wait_until("C's received share stopped", LIMIT, || {
        (received_view(&c, &s3.to_string()).status == "Stopped").then_some(())
    });
    assert_eq!(hashes(&c, &at_c), sent);
    assert_eq!(hashes(&b, &at_b), sent);
}
