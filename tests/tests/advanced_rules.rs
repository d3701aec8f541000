//! The seeds' remaining advanced-sharing rules (issue #12, item 5), between real node processes:
//! - a recipient added to an existing partner share sees only the updates sent after they were
//!   added (seed 000, "Recipients of shared cases will not receive updates from previous
//!   shares"), in a copy share and in an access-mode share, while the first recipients see all;
//! - a share of selected evidence is gated by the Evidence Management permissions, a share of the
//!   case by the Cases ones (seed 000, "Prerequisites"), for partner shares, inside shares and
//!   download links alike.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    CaseView, EvidenceView, ReceivedContentsView, ShareView, TestNode, add_random_evidence,
    add_user, assert_http_status, case_view, create_case, json_as, partner, received_view, s,
    wait_copy, wait_until,
};
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Add a file named `name` of `size` bytes to `case`; returns its evidence id.
fn add(node: &TestNode, case: &str, dir: &Path, name: &str, size: u64) -> String {
    add_random_evidence(
        node,
        case,
        &dir.join(name),
        size,
        size ^ name.len() as u64,
        &[],
    )
    .id
    .to_string()
}

/// The names of the evidence items `case` shows to the holder of `token`.
fn names_seen(node: &TestNode, token: &str, case: &str) -> Vec<String> {
    let shown: CaseView = json_as(&node.cli_json_as(token, ["case", "show", case]));
    let mut names: Vec<String> = shown.evidence.into_iter().map(|e| e.name).collect();
    names.sort();
    names
}

/// Two partnered nodes; county-da has users dana and erin; metro-pd's case `number` holds
/// `before-share.bin` and is shared in `mode` with dana only.
struct Scene {
    work: tempfile::TempDir,
    a: TestNode,
    b: TestNode,
    dana: String,
    erin: String,
    case: String,
    share: String,
}

fn scene(number: &str, mode: &str) -> Scene {
    let work = tempfile::tempdir().unwrap();
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let dana = add_user(&b, "dana", "dana", &[]);
    let erin = add_user(&b, "erin", "erin", &[]);
    let case = create_case(&a, number);
    add(&a, &case, work.path(), "before-share.bin", 2_000);
    let share = a
        .cli_typed::<ShareView, _, _>([
            "share",
            "create",
            &case,
            "--partner",
            "county-da",
            "--mode",
            mode,
            "--to",
            "user:dana",
        ])
        .id
        .to_string();
    Scene {
        work,
        a,
        b,
        dana,
        erin,
        case,
        share,
    }
}

#[test]
fn a_recipient_added_later_sees_only_later_updates_of_a_copy() {
    let Scene {
        work,
        a,
        b,
        dana,
        erin,
        case,
        share,
    } = scene("LATE-1", "copy");
    let copy = wait_copy(&b, &share, 1, LIMIT).id;
    // The receiving organization adds an item of its own to the copy. It is numbered after the
    // copy's items — EV-0002, the number the sharer gives its next item — so once that item
    // arrives, two items of the copy have one display id (a user cannot make that by hand: a
    // display id already taken is refused).
    let note = add(&b, &copy.to_string(), work.path(), "local-note.bin", 500);
    add(&a, &case, work.path(), "first-update.bin", 3_000);
    wait_copy(&b, &share, 3, LIMIT);

    // erin is named now; then one more update.
    a.cli_json(["share", "add-recipients", &share, "--to", "user:erin"]);
    wait_until("B knows erin is a recipient", LIMIT, || {
        received_view(&b, &share)
            .recipients
            .iter()
            .any(|r| r == "user:erin")
            .then_some(())
    });
    add(&a, &case, work.path(), "after-erin.bin", 4_000);
    wait_copy(&b, &share, 4, LIMIT);

    // dana, named at the offer, sees everything; erin only what came after she was named, and
    // what the receiving organization adds itself (its own work, not an update).
    assert_eq!(
        names_seen(&b, &dana, &copy.to_string()),
        [
            "after-erin.bin",
            "before-share.bin",
            "first-update.bin",
            "local-note.bin"
        ]
    );
    assert_eq!(
        names_seen(&b, &erin, &copy.to_string()),
        ["after-erin.bin", "local-note.bin"]
    );
    // The earlier items do not exist for her: 404 on download, by id and by display id.
    let earlier = case_view(&b, &copy.to_string())
        .evidence
        .into_iter()
        .find(|e| e.name == "first-update.bin")
        .unwrap();
    let out = work.path().join("got.bin");
    // (Its display id names, for her, the local item that has the same one: below.)
    let (err, _) = b.cli_fail_as(
        &erin,
        [
            "evidence",
            "get",
            &copy.to_string(),
            &earlier.id.to_string(),
            "-o",
            s(&out),
        ],
    );
    assert_http_status(&err, 404);
    assert!(!out.exists());
    // Nor can she reach them through what acts on the whole share: sharing it onward, the
    // updates review, the metadata document (403: she sees part of it).
    b.cli_ok([
        "user",
        "edit",
        "erin",
        "--permission",
        "case_share,case_share_by_copy",
    ]);
    for args in [
        vec![
            "received",
            "share",
            &share,
            "--partner",
            "metro-pd",
            "--to",
            "user:x",
        ],
        vec!["received", "updates", &share],
        vec!["received", "meta", &share],
    ] {
        let (err, _) = b.cli_fail_as(&erin, &args);
        assert_http_status(&err, 403);
    }
    // dana, named from the start, may review.
    b.cli_json_as(&dana, ["received", "updates", &share]);
    // The display id the local item shares with a hidden one names, for erin, the one she sees:
    // the answer never reveals the hidden item (no "2 items have display id").
    let shared_id = earlier.display_id.as_str();
    let local: EvidenceView = b.cli_typed(["evidence", "show", &copy.to_string(), &note]);
    assert_eq!(local.display_id, shared_id, "the collision this test needs");
    b.cli_json_as(
        &erin,
        [
            "evidence",
            "get",
            &copy.to_string(),
            shared_id,
            "-o",
            s(&out),
        ],
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 500);
    let (err, _) = b.cli_fail_as(
        &dana,
        [
            "evidence",
            "get",
            &copy.to_string(),
            shared_id,
            "-o",
            s(&work.path().join("d.bin")),
        ],
    );
    assert_http_status(&err, 409);
}

#[test]
fn a_recipient_added_later_sees_only_later_updates_in_place() {
    let Scene {
        work,
        a,
        b,
        dana,
        erin,
        case,
        share,
    } = scene("LATE-2", "access");
    let listed = |token: &str, count: usize| {
        wait_until(&format!("{count} items listed"), LIMIT, || {
            let v: ReceivedContentsView =
                json_as(&b.cli_json_as(token, ["received", "view", &share]));
            let mut names: Vec<String> = v.evidence.into_iter().map(|e| e.name).collect();
            names.sort();
            (names.len() == count).then_some(names)
        })
    };
    listed(&dana, 1);
    a.cli_json(["share", "add-recipients", &share, "--to", "user:erin"]);
    add(&a, &case, work.path(), "after-erin.bin", 3_000);
    assert_eq!(listed(&dana, 2), ["after-erin.bin", "before-share.bin"]);
    assert_eq!(listed(&erin, 1), ["after-erin.bin"]);
    let out = work.path().join("got.bin");
    let (err, _) = b.cli_fail_as(
        &erin,
        ["received", "get", &share, "before-share.bin", "-o", s(&out)],
    );
    assert_http_status(&err, 404);
    assert!(!out.exists());
    b.cli_json_as(
        &erin,
        ["received", "get", &share, "after-erin.bin", "-o", s(&out)],
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 3_000);
}

#[test]
fn evidence_shares_need_the_evidence_permissions_and_case_shares_the_case_ones() {
    let work = tempfile::tempdir().unwrap();
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    add_user(&b, "dana", "dana", &[]);
    add_user(&a, "colleague", "colleague", &[]);
    let evidence_clerk = add_user(
        &a,
        "evclerk",
        "evclerk",
        &["all_cases,evidence_share,evidence_share_external,evidence_share_links"],
    );
    let case_clerk = add_user(
        &a,
        "caseclerk",
        "caseclerk",
        &["all_cases,case_share,case_share_by_copy,case_share_links"],
    );
    let case = create_case(&a, "PERM-2");
    let ev = add(&a, &case, work.path(), "item.bin", 1_000);

    let partner_share = |extra: &[&str]| {
        let mut v = vec!["share", "create", &case, "--partner", "county-da"];
        v.extend(["--to", "user:dana"]);
        v.extend(extra.iter().copied());
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let inside_share = |extra: &[&str]| {
        let mut v = vec![
            "share",
            "create",
            &case,
            "--inside",
            "--to",
            "user:colleague",
        ];
        v.extend(extra.iter().copied());
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let link = |extra: &[&str]| {
        let mut v = vec!["link", "create", &case, "--format", "zip"];
        v.extend(extra.iter().copied());
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let whole: &[&str] = &[];
    let selected: &[&str] = &["--evidence", &ev];
    for make in [
        &partner_share as &dyn Fn(&[&str]) -> Vec<String>,
        &inside_share,
        &link,
    ] {
        // The evidence clerk may share the item but not the case …
        let (err, _) = a.cli_fail_as(&evidence_clerk, make(whole));
        assert_http_status(&err, 403);
        assert!(err.contains("case_share"), "{err}");
        a.cli_json_as(&evidence_clerk, make(selected));
        // … the case clerk the case but not a selection of items.
        let (err, _) = a.cli_fail_as(&case_clerk, make(selected));
        assert_http_status(&err, 403);
        assert!(err.contains("evidence_share"), "{err}");
        a.cli_json_as(&case_clerk, make(whole));
    }
    // The partner share is now of the whole case: sharing "selected evidence" again with the same
    // partner would add recipients to it, which the evidence permissions do not cover.
    let (err, _) = a.cli_fail_as(&evidence_clerk, partner_share(selected));
    assert_http_status(&err, 403);
    assert!(err.contains("case_share"), "{err}");
}
