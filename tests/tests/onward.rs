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

use casemesh_tests::{
    TestNode, create_case, partner, random_file, share_case, wait_share_complete, wait_until,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn node(name: &str) -> TestNode {
    TestNode::builder(name)
        .fixed_p2p_port()
        .env("RUST_LOG", "info,casemesh_sharing=debug")
        .start()
}

fn add(node: &TestNode, case: &str, dir: &std::path::Path, name: &str, seed: u64) -> String {
    let path = dir.join(name);
    random_file(&path, 5000 + seed * 7, seed);
    node.cli_json(["evidence", "add", case, path.to_str().unwrap()])["hash"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The received share of `node` that came as `share` (its id is the grant id), once imported.
fn received(node: &TestNode, share: &str) -> Option<Value> {
    let v = node.cli_json(["received", "show", share]);
    v["local_case"].is_string().then_some(v)
}

/// Hashes of the evidence of `case` on `node`.
fn hashes(node: &TestNode, case: &str) -> BTreeSet<String> {
    node.cli_json(["case", "show", case])["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["hash"].as_str().unwrap().to_owned())
        .collect()
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
    let s1 = share_case(&a, &plain, "county-da", &[]);
    let s1 = s1["id"].as_str().unwrap().to_owned();
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
    let copy1 = received(&b, &s1).unwrap()["local_case"]
        .as_str()
        .unwrap()
        .to_owned();
    let (msg, code) = b.cli_fail(["link", "create", &copy1, "--format", "zip"]);
    assert_ne!(code, 0);
    assert!(msg.contains("share_onward"), "{msg}");
    assert!(
        c.cli_json(["received", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A policy that allows it.
    a.cli_ok([
        "policy",
        "set",
        "Onward",
        "--allow",
        "view",
        "--allow",
        "download",
        "--allow",
        "import",
        "--allow",
        "receive_updates",
        "--allow",
        "share_onward",
        "--allow",
        "share_onward_external",
    ]);
    a.cli_ok(["partner", "update", "county-da", "--policy", "Onward"]);
    let case = create_case(&a, "ONW-2");
    let sent: BTreeSet<String> = [("cctv.mkv", 2), ("notes.pdf", 3)]
        .into_iter()
        .map(|(n, seed)| add(&a, &case, work.path(), n, seed))
        .collect();
    let s2 = share_case(&a, &case, "county-da", &[]);
    let s2 = s2["id"].as_str().unwrap().to_owned();
    wait_share_complete(&a, &s2, LIMIT);
    let at_b = wait_until("B's copy", LIMIT, || received(&b, &s2));
    assert_eq!(hashes(&b, at_b["local_case"].as_str().unwrap()), sent);

    // B shares onward to C; C's copy holds exactly A's bytes.
    let onward = b.cli_json([
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
    let s3 = onward["id"].as_str().unwrap().to_owned();
    assert_eq!(onward["onward_of"], s2.as_str());
    wait_share_complete(&b, &s3, LIMIT);
    let at_c = wait_until("C's copy", LIMIT, || received(&c, &s3));
    assert_eq!(hashes(&c, at_c["local_case"].as_str().unwrap()), sent);

    // Sharing it onward to C again adds to the same onward share: C keeps one copy.
    let again = b.cli_json([
        "received",
        "share",
        &s2,
        "--partner",
        "state-lab",
        "--to",
        "user:admin",
    ]);
    assert_eq!(again["id"], s3.as_str(), "{again}");
    // Evidence the origin adds later travels on through B to C.
    let late = add(&a, &case, work.path(), "late.txt", 4);
    let copy_c = at_c["local_case"].as_str().unwrap().to_owned();
    wait_until("the late item at C", LIMIT, || {
        hashes(&c, &copy_c).contains(&late).then_some(())
    });
    assert_eq!(
        c.cli_json(["received", "list"]).as_array().unwrap().len(),
        1
    );
    let mut sent = sent;
    sent.insert(late);

    // C's custody timeline names the origin too, proven by A's own signed grant.
    let theirs = c.cli_json(["custody", at_c["local_case"].as_str().unwrap()]);
    let upstream = theirs["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "shared_upstream")
        .unwrap_or_else(|| panic!("no upstream event: {theirs}"))
        .clone();
    assert_eq!(upstream["proof"]["signed_by"], a.org_id(), "{upstream}");

    // The origin is told of the hop, with B's signature as proof.
    let status = wait_until("the hop at A", LIMIT, || {
        let v = a.cli_json(["share", "status", &s2]);
        (!v["hops"].as_array()?.is_empty()).then_some(v)
    });
    let hop = &status["hops"][0];
    assert_eq!(hop["share"], s3.as_str());
    assert_eq!(hop["from"], b.org_id());
    assert_eq!(hop["to"], c.org_id());
    assert_eq!(hop["to_name"], "state-lab");
    let custody = a.cli_json(["custody", &case]);
    let event = custody["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "onward")
        .unwrap_or_else(|| panic!("no onward event: {custody}"))
        .clone();
    assert_eq!(event["org"], "county-da");
    assert_eq!(event["proof"]["type"], "signed");
    assert_eq!(event["proof"]["signed_by"], b.org_id());

    // An inside onward share at B is reported too.
    b.cli_ok(["received", "share", &s2, "--inside", "--to", "user:admin"]);
    wait_until("the inside hop at A", LIMIT, || {
        let v = a.cli_json(["share", "status", &s2]);
        v["hops"]
            .as_array()?
            .iter()
            .any(|h| h["to"] == b.org_id())
            .then_some(())
    });

    // A stops while C is offline: B's onward share is stopped at once, and C learns it when
    // it comes back. Every copy stays with its owner.
    c.stop();
    a.cli_ok(["share", "stop", &s2, "--yes"]);
    wait_until("B's received share stopped", LIMIT, || {
        (b.cli_json(["received", "show", &s2])["status"] == "Stopped").then_some(())
    });
    wait_until("B's onward share stopped", LIMIT, || {
        (b.cli_json(["share", "status", &s3])["status"] == "Stopped").then_some(())
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
        (c.cli_json(["received", "show", &s3])["status"] == "Stopped").then_some(())
    });
    assert_eq!(hashes(&c, at_c["local_case"].as_str().unwrap()), sent);
    assert_eq!(hashes(&b, at_b["local_case"].as_str().unwrap()), sent);
}
