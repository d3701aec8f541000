//! Per-case access and sharing inside the agency (issue #12 items 1 and 2; seed 002 "Share case
//! access"), between real CLI calls and a real node: a case exists only for the people on its
//! access list (404 otherwise, on show, on evidence download and in the case list), a group share
//! follows the group's membership, a folder share shows that folder only, and `share access`
//! names everyone with full names, the owner marked.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    TestNode, assert_http_status, create_case, id_of, partner, random_file, s, wait_copy,
};
use serde_json::Value;
use std::fs;
use std::time::Duration;

fn user(node: &TestNode, name: &str, full: &str) -> String {
    let v = node.cli_json(["user", "add", name, "--full-name", full]);
    v["token"]
        .as_str()
        .expect("user add prints a token")
        .to_owned()
}

fn case_ids(node: &TestNode, token: &str) -> Vec<String> {
    node.cli_json_as(token, ["case", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_case_exists_only_for_the_people_on_its_access_list() {
    let a = TestNode::start("metro-pd");
    let eve = user(&a, "eve", "Eve Polastri");
    a.cli_ok(["group", "add", "Trial team"]);
    let work = tempfile::tempdir().unwrap();
    let case = a.cli_json([
        "case",
        "create",
        "--case-id",
        "ACC-1",
        "--title",
        "Access test",
    ]);
    let case = id_of(&case).to_owned();
    a.cli_ok(["folder", "create", &case, "Photos"]);
    let file = work.path().join("photo.jpg");
    random_file(&file, 4000, 1);
    let photo = a.cli_json(["evidence", "add", &case, s(&file), "--folder", "Photos"]);
    let other = work.path().join("memo.pdf");
    random_file(&other, 3000, 2);
    let memo = a.cli_json(["evidence", "add", &case, s(&other)]);
    let out = work.path().join("got.bin");

    // Nobody gave eve access: the case does not exist for her.
    let (stderr, _) = a.cli_fail_as(&eve, ["case", "show", "ACC-1"]);
    assert_http_status(&stderr, 404);
    let (stderr, _) = a.cli_fail_as(&eve, ["case", "show", &case]);
    assert_http_status(&stderr, 404);
    let (stderr, _) = a.cli_fail_as(
        &eve,
        ["evidence", "get", &case, id_of(&photo), "-o", s(&out)],
    );
    assert_http_status(&stderr, 404);
    assert!(case_ids(&a, &eve).is_empty());

    // Shared with a group she is not in: still nothing.
    let shared = a.cli_json([
        "share",
        "create",
        &case,
        "--inside",
        "--to",
        "group:Trial team",
        "--message",
        "For trial prep",
    ]);
    assert_eq!(shared["scope"], "entire_case", "{shared}");
    let (stderr, _) = a.cli_fail_as(&eve, ["case", "show", &case]);
    assert_http_status(&stderr, 404);

    // She joins the group: she sees the case and downloads its evidence byte-identically.
    a.cli_ok(["user", "edit", "eve", "--group", "Trial team"]);
    let shown = a.cli_json_as(&eve, ["case", "show", "ACC-1"]);
    assert_eq!(shown["evidence"].as_array().unwrap().len(), 2);
    let got = a.cli_as(
        &eve,
        ["evidence", "get", &case, id_of(&photo), "-o", s(&out)],
    );
    assert!(got.status.success(), "{got:?}");
    assert_eq!(fs::read(&out).unwrap(), fs::read(&file).unwrap());
    assert_eq!(case_ids(&a, &eve), ["ACC-1"]);

    // `share access` names everyone, the owner marked, with full names.
    let access = a.cli_json(["share", "access", &case]);
    let rows = access.as_array().unwrap();
    assert_eq!(rows[0]["kind"], "owner", "{access}");
    assert!(
        rows.iter()
            .any(|r| r["kind"] == "group" && r["who"] == "Trial team"),
        "{access}"
    );

    // She leaves the group: the case is gone for her again.
    a.cli_ok(["user", "edit", "eve", "--no-groups"]);
    let (stderr, _) = a.cli_fail_as(&eve, ["case", "show", &case]);
    assert_http_status(&stderr, 404);
    fs::remove_file(&out).unwrap();
    let (stderr, _) = a.cli_fail_as(
        &eve,
        ["evidence", "get", &case, id_of(&photo), "-o", s(&out)],
    );
    assert_http_status(&stderr, 404);

    // A folder share to one user: that folder's evidence only; the rest answers 404, and
    // changing the case is refused.
    let frank = user(&a, "frank", "Frank Castle");
    let photos_share = a.cli_json([
        "share",
        "create",
        &case,
        "--inside",
        "--to",
        "user:frank",
        "--folder",
        "Photos",
    ]);
    let part: Value = a.cli_json_as(&frank, ["case", "show", &case]);
    let names: Vec<&str> = part["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["photo.jpg"], "{part}");
    let (stderr, _) = a.cli_fail_as(
        &frank,
        ["evidence", "get", &case, id_of(&memo), "-o", s(&out)],
    );
    assert_http_status(&stderr, 404);
    let (stderr, _) = a.cli_fail_as(&frank, ["share", "access", &case]);
    assert_http_status(&stderr, 403);
    // The case list counts only what frank sees.
    let listed = a.cli_json_as(&frank, ["case", "list"]);
    assert_eq!(listed[0]["evidence_count"], 1, "{listed}");
    // A link of the case is not his to see or revoke (404, as if it did not exist).
    let link = a.cli_json(["link", "create", &case, "--format", "zip"]);
    let link_id = id_of(&link);
    let linker = a.cli_json([
        "user",
        "add",
        "linker",
        "--full-name",
        "Link Maker",
        "--permission",
        "case_share_links,evidence_share_links",
    ])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for who in [&frank, &eve, &linker] {
        let (stderr, _) = a.cli_fail_as(who, ["link", "show", link_id]);
        assert_http_status(&stderr, 404);
    }
    let (stderr, _) = a.cli_fail_as(&linker, ["link", "revoke", link_id, "--yes"]);
    assert_http_status(&stderr, 404);
    assert_ne!(a.cli_json(["link", "show", link_id])["status"], "Revoked");
    // A second inside share adds its part; stopping one takes back only its own.
    let memo_share = a.cli_json([
        "share",
        "create",
        &case,
        "--inside",
        "--to",
        "user:frank",
        "--evidence",
        id_of(&memo),
    ]);
    let both = a.cli_json_as(&frank, ["case", "show", &case]);
    assert_eq!(both["evidence"].as_array().unwrap().len(), 2, "{both}");
    let access = a.cli_json(["share", "access", &case]);
    let franks = access
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["who"] == "frank" && r["full_name"] == "Frank Castle")
        .count();
    assert_eq!(franks, 2, "one line per inside share: {access}");
    a.cli_ok(["share", "stop", id_of(&photos_share), "--yes"]);
    let left = a.cli_json_as(&frank, ["case", "show", &case]);
    let names: Vec<&str> = left["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["memo.pdf"], "{left}");
    a.cli_ok(["share", "stop", id_of(&memo_share), "--yes"]);
    let (stderr, _) = a.cli_fail_as(&frank, ["case", "show", &case]);
    assert_http_status(&stderr, 404);
    let access = a.cli_json(["share", "access", &case]);
    assert!(
        !access
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["who"] == "frank"),
        "stopped shares give no access: {access}"
    );

    // Unknown people are refused, naming them, and nothing changes.
    let (stderr, _) = a.cli_fail([
        "share",
        "create",
        &case,
        "--inside",
        "--to",
        "user:ghost",
        "--to",
        "group:Nobody",
    ]);
    assert!(
        stderr.contains("user:ghost") && stderr.contains("group:Nobody"),
        "{stderr}"
    );
    assert_eq!(a.cli_json(["share", "access", &case]), access);
}

/// A received copy is on the access list of the recipients the sharer named (here a user), and
/// of nobody else but its owner and the administrators.
#[test]
fn a_received_copy_is_visible_to_its_recipients_only() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let dana = user(&b, "dana", "Dana Scully");
    let eve = user(&b, "eve", "Eve Polastri");
    let case = create_case(&a, "RCV-1");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("statement.pdf");
    random_file(&file, 2000, 3);
    a.cli_json(["evidence", "add", &case, s(&file)]);
    let sh = a.cli_json([
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:dana",
    ]);
    let copy = wait_copy(&b, id_of(&sh), 1, Duration::from_secs(30));
    let copy_id = id_of(&copy);
    assert_eq!(case_ids(&b, &dana), ["RCV-1"]);
    b.cli_json_as(&dana, ["case", "show", copy_id]);
    assert!(case_ids(&b, &eve).is_empty());
    let (stderr, _) = b.cli_fail_as(&eve, ["case", "show", copy_id]);
    assert_http_status(&stderr, 404);
    // Nor the import details, the updates or the received list (issue #12, found by a review).
    assert_eq!(
        b.cli_json_as(&dana, ["received", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        b.cli_json_as(&eve, ["received", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    for args in [
        vec!["received", "show", id_of(&sh)],
        vec!["received", "show", copy_id],
        vec!["received", "updates", id_of(&sh)],
    ] {
        let (stderr, _) = b.cli_fail_as(&eve, &args);
        assert_http_status(&stderr, 404);
    }
    b.cli_json_as(&dana, ["received", "show", id_of(&sh)]);

    // Evidence of which none may leave is refused at once, not a share that never completes.
    let ev = a.cli_json(["case", "show", &case])["evidence"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.cli_ok(["evidence", "edit", &case, &ev, "--do-not-disclose", "on"]);
    let (stderr, _) = a.cli_fail([
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:dana",
        "--evidence",
        &ev,
    ]);
    assert!(stderr.contains("do not disclose"), "{stderr}");
}

/// A user who does not see a case does not see its shares either (404, as if they did not
/// exist), and the operator view of partners is for administrators.
#[test]
fn shares_and_peers_are_not_shown_to_users_without_access() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let plain = user(&a, "plain", "Plain User");
    let case = create_case(&a, "ACC-9");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("x.bin");
    random_file(&file, 1000, 3);
    a.cli_ok(["evidence", "add", &case, s(&file)]);
    let share = a.cli_json([
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:admin",
    ]);
    let id = id_of(&share);
    let (stderr, _) = a.cli_fail_as(&plain, ["share", "status", id]);
    assert!(stderr.contains("404"), "{stderr}");
    let (stderr, _) = a.cli_fail_as(&plain, ["peers"]);
    assert!(stderr.contains("403"), "{stderr}");
    // The administrator still sees both.
    a.cli_ok(["share", "status", id]);
    a.cli_ok(["peers"]);
}
