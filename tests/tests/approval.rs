//! Two-person approval between real nodes (issue #13, item 7): a partner share under a policy
//! with two-person approval waits as `PendingApproval` — nothing reaches the partner — until a
//! second user with the `share_approve` permission approves it; the approver is in the custody
//! timeline.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    PolicyView, ShareView, TestNode, add_random_evidence, add_user, create_case, custody_events,
    partner, received_list, share_case, share_create_args, share_view, wait_share_complete,
    wait_until,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

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
    let shown: PolicyView = a.cli_typed(["policy", "show", "Supervised"]);
    assert!(shown.two_person_approval, "{shown:?}");
    a.cli_ok(["partner", "update", "county-da", "--policy", "Supervised"]);
    let alice = add_user(
        &a,
        "alice",
        "alice",
        &["case_share,case_share_by_copy,evidence_share_external,all_cases"],
    );
    let carol = add_user(
        &a,
        "carol",
        "carol",
        &["case_share,case_share_by_copy,evidence_share_external,all_cases"],
    );
    let bob = add_user(&a, "bob", "bob", &["share_approve,all_cases"]);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "APPR-1");
    let file = work.path().join("statement.pdf");
    add_random_evidence(&a, &case, &file, 4000, 9, &[]);

    let share: ShareView = a.cli_typed_as(&alice, share_create_args(&case, "county-da", &[]));
    let id = share.id.to_string();
    assert_eq!(share.status, "PendingApproval", "{share:?}");
    // Nothing leaves while it waits.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        received_list(&b).is_empty(),
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
    let own: ShareView = share_case(&a, &case, "county-da", &[]);
    assert_eq!(own.status, "PendingApproval");
    let (msg, code) = a.cli_fail(["share", "approve", &own.id.to_string()]);
    assert_ne!(code, 0);
    assert!(msg.contains("second person"), "{msg}");
    a.cli_ok(["share", "stop", &own.id.to_string(), "--yes"]);

    // A second person approves: the share leaves and completes.
    let approved: ShareView = a.cli_typed_as(&bob, ["share", "approve", &id]);
    assert_eq!(approved.status, "Processing", "{approved:?}");
    wait_share_complete(&a, &id, LIMIT);
    wait_until("the partner's copy", LIMIT, || {
        let list = received_list(&b);
        list.first()?.local_case.is_some().then_some(())
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
    let status = share_view(&a, &id);
    assert_eq!(status.recipients.len(), 1, "{status:?}");
    // The custody timeline names the approver.
    let custody = custody_events(&a, &case);
    let event = custody
        .iter()
        .find(|e| e.kind == "approve")
        .unwrap_or_else(|| panic!("no approve event: {custody:?}"));
    assert_eq!(event.user.as_deref(), Some("bob"), "{event:?}");
    assert_eq!(event.org, "metro-pd");
}
