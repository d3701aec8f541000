//! Two-person approval between real nodes (issue #13, item 7): a partner share under a policy
//! with two-person approval waits as `PendingApproval` — nothing reaches the partner — until a
//! second user with the `share_approve` permission approves it; the approver is in the custody
//! timeline.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    TestNode, create_case, partner, random_file, wait_share_complete, wait_until,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn user(node: &TestNode, name: &str, permissions: &str) -> String {
    let v = node.cli_json([
        "user",
        "add",
        name,
        "--full-name",
        name,
        "--permission",
        permissions,
    ]);
    v["token"].as_str().unwrap().to_owned()
}

#[test]
fn a_share_under_two_person_approval_leaves_only_when_a_second_person_approves() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    a.cli_ok([
        "policy",
        "set",
        "Supervised",
        "--allow",
        "view",
        "--allow",
        "download",
        "--allow",
        "import",
        "--two-person-approval",
    ]);
    let shown = a.cli_json(["policy", "show", "Supervised"]);
    assert_eq!(shown["two_person_approval"], true, "{shown}");
    a.cli_ok(["partner", "update", "county-da", "--policy", "Supervised"]);
    let alice = user(
        &a,
        "alice",
        "case_share,case_share_by_copy,evidence_share_external,all_cases",
    );
    let carol = user(
        &a,
        "carol",
        "case_share,case_share_by_copy,evidence_share_external,all_cases",
    );
    let bob = user(&a, "bob", "share_approve,all_cases");
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "APPR-1");
    let file = work.path().join("statement.pdf");
    random_file(&file, 4000, 9);
    a.cli_ok(["evidence", "add", &case, file.to_str().unwrap()]);

    let share = a.cli_json_as(
        &alice,
        [
            "share",
            "create",
            &case,
            "--partner",
            "county-da",
            "--to",
            "user:admin",
        ],
    );
    let id = share["id"].as_str().unwrap().to_owned();
    assert_eq!(share["status"], "PendingApproval", "{share}");
    // Nothing leaves while it waits.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        b.cli_json(["received", "list"])
            .as_array()
            .unwrap()
            .is_empty(),
        "the partner got a share that waits for approval"
    );
    // The creator cannot approve it, nor can a user without share_approve.
    let (msg, code) = a.cli_fail_as(&alice, ["share", "approve", &id]);
    assert_ne!(code, 0);
    assert!(msg.contains("share_approve"), "{msg}");
    let (msg, code) = a.cli_fail_as(&carol, ["share", "approve", &id]);
    assert_ne!(code, 0);
    assert!(msg.contains("share_approve"), "{msg}");
    // An administrator who created a share cannot approve their own either.
    let own = a.cli_json([
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:admin",
    ]);
    assert_eq!(own["status"], "PendingApproval");
    let (msg, code) = a.cli_fail(["share", "approve", own["id"].as_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(msg.contains("second person"), "{msg}");
    a.cli_ok(["share", "stop", own["id"].as_str().unwrap(), "--yes"]);

    // A second person approves: the share leaves and completes.
    let approved = a.cli_json_as(&bob, ["share", "approve", &id]);
    assert_eq!(approved["status"], "Processing", "{approved}");
    wait_share_complete(&a, &id, LIMIT);
    wait_until("the partner's copy", LIMIT, || {
        let list = b.cli_json(["received", "list"]);
        let first = list.as_array()?.first()?.clone();
        first["local_case"].is_string().then_some(())
    });
    let (msg, code) = a.cli_fail_as(&bob, ["share", "approve", &id]);
    assert_ne!(code, 0);
    assert!(msg.contains("waiting for approval"), "{msg}");
    // An approved share is not widened without a second person: more recipients, or sharing
    // the case again (which would add to it), are refused and change nothing.
    for args in [
        vec!["share", "add-recipients", id.as_str(), "--to", "user:dana"],
        vec![
            "share",
            "create",
            &case,
            "--partner",
            "county-da",
            "--to",
            "user:dana",
        ],
    ] {
        let (msg, code) = a.cli_fail_as(&alice, &args);
        assert_ne!(code, 0);
        assert!(msg.contains("two-person approval"), "{msg}");
    }
    let status = a.cli_json(["share", "status", &id]);
    assert_eq!(
        status["recipients"].as_array().unwrap().len(),
        1,
        "{status}"
    );
    // The custody timeline names the approver.
    let custody = a.cli_json(["custody", &case]);
    let event = custody["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "approve")
        .unwrap_or_else(|| panic!("no approve event: {custody}"))
        .clone();
    assert_eq!(event["user"], "bob", "{event}");
    assert_eq!(event["org"], "metro-pd");
}
