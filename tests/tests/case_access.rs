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
    AccessEntry, CaseSummary, CaseView, CreatedUser, InsideShareView, LinkView, ReceivedView,
    ShareView, TestNode, add_random_evidence, add_user, assert_http_status, case_view, create_case,
    partner, s, share_case, wait_copy,
};
use std::fs;
use std::time::Duration;

fn case_ids(node: &TestNode, token: &str) -> Vec<String> {
    node.cli_typed_as::<Vec<CaseSummary>, _, _>(token, ["case", "list"])
        .into_iter()
        .map(|c| c.case_id)
        .collect()
}

/// The names of the evidence items `token`'s user sees in `case`.
fn evidence_names(node: &TestNode, token: &str, case: &str) -> Vec<String> {
    let c: CaseView = node.cli_typed_as(token, ["case", "show", case]);
    c.evidence.into_iter().map(|e| e.name).collect()
}

#[test]
fn a_case_exists_only_for_the_people_on_its_access_list() {
    let a = TestNode::start("metro-pd");
    let eve = add_user(&a, "eve", "Eve Polastri", &[]);
    a.cli_ok(["group", "add", "Trial team"]);
    let work = tempfile::tempdir().unwrap();
    let case: CaseView = a.cli_typed([
        "case",
        "create",
        "--case-id",
        "ACC-1",
        "--title",
        "Access test",
    ]);
    let case = case.id.to_string();
    a.cli_ok(["folder", "create", &case, "Photos"]);
    let file = work.path().join("photo.jpg");
    let photo = add_random_evidence(&a, &case, &file, 4000, 1, &["--folder", "Photos"]);
    let other = work.path().join("memo.pdf");
    let memo = add_random_evidence(&a, &case, &other, 3000, 2, &[]);
    let (photo_id, memo_id) = (photo.id.to_string(), memo.id.to_string());
    let out = work.path().join("got.bin");

    // Nobody gave eve access: the case does not exist for her.
    let (stderr, _) = a.cli_fail_as(&eve, ["case", "show", "ACC-1"]);
    assert_http_status(&stderr, 404);
    let (stderr, _) = a.cli_fail_as(&eve, ["case", "show", &case]);
    assert_http_status(&stderr, 404);
    let (stderr, _) = a.cli_fail_as(&eve, ["evidence", "get", &case, &photo_id, "-o", s(&out)]);
    assert_http_status(&stderr, 404);
    assert!(case_ids(&a, &eve).is_empty());

    // Shared with a group she is not in: still nothing.
    let shared: InsideShareView = a.cli_typed([
        "share",
        "create",
        &case,
        "--inside",
        "--to",
        "group:Trial team",
        "--message",
        "For trial prep",
    ]);
    assert_eq!(shared.scope, "entire_case", "{shared:?}");
    let (stderr, _) = a.cli_fail_as(&eve, ["case", "show", &case]);
    assert_http_status(&stderr, 404);

    // She joins the group: she sees the case and downloads its evidence byte-identically.
    a.cli_ok(["user", "edit", "eve", "--group", "Trial team"]);
    assert_eq!(evidence_names(&a, &eve, "ACC-1").len(), 2);
    let got = a.cli_as(&eve, ["evidence", "get", &case, &photo_id, "-o", s(&out)]);
    assert!(got.status.success(), "{got:?}");
    assert_eq!(fs::read(&out).unwrap(), fs::read(&file).unwrap());
    assert_eq!(case_ids(&a, &eve), ["ACC-1"]);

    // `share access` names everyone, the owner marked, with full names.
    let access: Vec<AccessEntry> = a.cli_typed(["share", "access", &case]);
    assert_eq!(access[0].kind, "owner", "{access:?}");
    assert!(
        access
            .iter()
            .any(|r| r.kind == "group" && r.who == "Trial team"),
        "{access:?}"
    );

    // She leaves the group: the case is gone for her again.
    a.cli_ok(["user", "edit", "eve", "--no-groups"]);
    let (stderr, _) = a.cli_fail_as(&eve, ["case", "show", &case]);
    assert_http_status(&stderr, 404);
    fs::remove_file(&out).unwrap();
    let (stderr, _) = a.cli_fail_as(&eve, ["evidence", "get", &case, &photo_id, "-o", s(&out)]);
    assert_http_status(&stderr, 404);

    // A folder share to one user: that folder's evidence only; the rest answers 404, and
    // changing the case is refused.
    let frank = add_user(&a, "frank", "Frank Castle", &[]);
    let photos_share: InsideShareView = a.cli_typed([
        "share",
        "create",
        &case,
        "--inside",
        "--to",
        "user:frank",
        "--folder",
        "Photos",
    ]);
    assert_eq!(evidence_names(&a, &frank, &case), ["photo.jpg"]);
    let (stderr, _) = a.cli_fail_as(&frank, ["evidence", "get", &case, &memo_id, "-o", s(&out)]);
    assert_http_status(&stderr, 404);
    let (stderr, _) = a.cli_fail_as(&frank, ["share", "access", &case]);
    assert_http_status(&stderr, 403);
    // The case list counts only what frank sees.
    let listed: Vec<CaseSummary> = a.cli_typed_as(&frank, ["case", "list"]);
    assert_eq!(listed[0].evidence_count, 1, "{listed:?}");
    // A link of the case is not his to see or revoke (404, as if it did not exist).
    let link: LinkView = a.cli_typed(["link", "create", &case, "--format", "zip"]);
    let link_id = &link.id.to_string();
    let linker = a
        .cli_typed::<CreatedUser, _, _>([
            "user",
            "add",
            "linker",
            "--full-name",
            "Link Maker",
            "--permission",
            "case_share_links,evidence_share_links",
        ])
        .token;
    for who in [&frank, &eve, &linker] {
        let (stderr, _) = a.cli_fail_as(who, ["link", "show", link_id]);
        assert_http_status(&stderr, 404);
    }
    let (stderr, _) = a.cli_fail_as(&linker, ["link", "revoke", link_id, "--yes"]);
    assert_http_status(&stderr, 404);
    assert_ne!(
        casemesh_tests::link_show(&a, link_id).status,
        casemesh_tests::LinkStatus::Revoked
    );
    // A second inside share adds its part; stopping one takes back only its own.
    let memo_share: InsideShareView = a.cli_typed([
        "share",
        "create",
        &case,
        "--inside",
        "--to",
        "user:frank",
        "--evidence",
        &memo_id,
    ]);
    assert_eq!(evidence_names(&a, &frank, &case).len(), 2);
    let access: Vec<AccessEntry> = a.cli_typed(["share", "access", &case]);
    let franks = access
        .iter()
        .filter(|r| r.who == "frank" && r.full_name.as_deref() == Some("Frank Castle"))
        .count();
    assert_eq!(franks, 2, "one line per inside share: {access:?}");
    a.cli_ok(["share", "stop", &photos_share.id.to_string(), "--yes"]);
    assert_eq!(evidence_names(&a, &frank, &case), ["memo.pdf"]);
    a.cli_ok(["share", "stop", &memo_share.id.to_string(), "--yes"]);
    let (stderr, _) = a.cli_fail_as(&frank, ["case", "show", &case]);
    assert_http_status(&stderr, 404);
    let access: Vec<AccessEntry> = a.cli_typed(["share", "access", &case]);
    assert!(
        !access.iter().any(|r| r.who == "frank"),
        "stopped shares give no access: {access:?}"
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
    assert_eq!(
        a.cli_typed::<Vec<AccessEntry>, _, _>(["share", "access", &case]),
        access
    );
}

/// A received copy is on the access list of the recipients the sharer named (here a user), and
/// of nobody else but its owner and the administrators.
#[test]
fn a_received_copy_is_visible_to_its_recipients_only() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let dana = add_user(&b, "dana", "Dana Scully", &[]);
    let eve = add_user(&b, "eve", "Eve Polastri", &[]);
    let case = create_case(&a, "RCV-1");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("statement.pdf");
    add_random_evidence(&a, &case, &file, 2000, 3, &[]);
    let sh: ShareView = a.cli_typed([
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:dana",
    ]);
    let copy: CaseView = wait_copy(&b, &sh.id.to_string(), 1, Duration::from_secs(30));
    let copy_id = &copy.id.to_string();
    assert_eq!(case_ids(&b, &dana), ["RCV-1"]);
    b.cli_typed_as::<CaseView, _, _>(&dana, ["case", "show", copy_id]);
    assert!(case_ids(&b, &eve).is_empty());
    let (stderr, _) = b.cli_fail_as(&eve, ["case", "show", copy_id]);
    assert_http_status(&stderr, 404);
    // Nor the import details, the updates or the received list (issue #12, found by a review).
    assert_eq!(
        b.cli_typed_as::<Vec<ReceivedView>, _, _>(&dana, ["received", "list"])
            .len(),
        1
    );
    assert!(
        b.cli_typed_as::<Vec<ReceivedView>, _, _>(&eve, ["received", "list"])
            .is_empty()
    );
    for args in [
        vec!["received", "show", &sh.id.to_string()],
        vec!["received", "show", copy_id],
        vec!["received", "updates", &sh.id.to_string()],
    ] {
        let (stderr, _) = b.cli_fail_as(&eve, &args);
        assert_http_status(&stderr, 404);
    }
    b.cli_typed_as::<ReceivedView, _, _>(&dana, ["received", "show", &sh.id.to_string()]);

    // Evidence of which none may leave is refused at once, not a share that never completes.
    let ev = case_view(&a, &case).evidence[0].id;
    a.cli_ok([
        "evidence",
        "edit",
        &case,
        &ev.to_string(),
        "--do-not-disclose",
        "on",
    ]);
    let (stderr, _) = a.cli_fail([
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:dana",
        "--evidence",
        &ev.to_string(),
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
    let plain = add_user(&a, "plain", "Plain User", &[]);
    let case = create_case(&a, "ACC-9");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("x.bin");
    add_random_evidence(&a, &case, &file, 1000, 3, &[]);
    let share: ShareView = share_case(&a, &case, "county-da", &[]);
    let id = &share.id.to_string();
    let (stderr, _) = a.cli_fail_as(&plain, ["share", "status", id]);
    assert!(stderr.contains("404"), "{stderr}");
    let (stderr, _) = a.cli_fail_as(&plain, ["peers"]);
    assert!(stderr.contains("403"), "{stderr}");
    // The administrator still sees both.
    a.cli_ok(["share", "status", id]);
    a.cli_ok(["peers"]);
}
