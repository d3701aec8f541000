//! Updates review between real node processes (issue #14, seed 002 "Check for and apply
//! updates"): the sharer's case and evidence-metadata edits show in the receiver's Case and
//! Evidence tabs and are applied one by one; a policy allowing only evidence updates lists the
//! case update as not allowed and `apply` refuses it; the receiver's own edit of the same field
//! is a conflict resolved only by naming it; two organizations editing one access-mode case
//! (one offline during the edits) converge to the same merged values; a dismissed update stays
//! hidden until the sharer changes that field again; a partner edit the sharer refuses is taken
//! back on both sides without stranding the partner's later edits.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    TestNode, UpdateView, allow_co_edit, assert_http_status, audit_trail, case_view,
    case_with_item, custody_events, partner, received_updates, review_updates, share_case,
    try_received_meta, wait_copy, wait_until, wait_updates,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

/// Share `case` by copy with county-da and wait for B's copy; returns (share id, local case).
fn shared_copy(a: &TestNode, b: &TestNode, case: &str) -> (String, String) {
    let share = share_case(a, case, "county-da", &[]);
    let share = share.id.to_string();
    let copy = wait_copy(b, &share, 1, LIMIT);
    (share, copy.id.to_string())
}

fn row<'a>(list: &'a [UpdateView], tab: &str) -> &'a UpdateView {
    list.iter()
        .find(|u| u.tab == tab)
        .unwrap_or_else(|| panic!("no {tab} row in {list:?}"))
}

/// Two restartable nodes (fixed p2p ports) where metro-pd shares its case `number` (one item,
/// [`case_with_item`]) with county-da in access mode under the "CoEdit" policy, once county-da
/// holds the share's metadata.
struct CoEdit {
    work: tempfile::TempDir,
    a: TestNode,
    b: TestNode,
    case: String,
    item: String,
    share: String,
}

fn co_edit_access_share(number: &str) -> CoEdit {
    let work = tempfile::tempdir().unwrap();
    let a = TestNode::builder("metro-pd").fixed_p2p_port().start();
    let b = TestNode::builder("county-da").fixed_p2p_port().start();
    partner(&a, &b);
    allow_co_edit(&a, "county-da");
    let (case, item) = case_with_item(&a, work.path(), number);
    let share = share_case(&a, &case, "county-da", &["--mode", "access"]);
    let share = share.id.to_string();
    wait_until("B holds the access share's metadata", LIMIT, || {
        let m = try_received_meta(&b, &share)?;
        (m.get("case/description") == Some("Burglary at 5 Main St")).then_some(())
    });
    CoEdit {
        work,
        a,
        b,
        case,
        item,
        share,
    }
}

fn pair() -> (TestNode, TestNode) {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    (a, b)
}

#[test]
fn sharer_edits_show_one_update_per_tab_and_apply_one_by_one() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let (case, ev) = case_with_item(&a, work.path(), "UR-1");
    let (share, copy) = shared_copy(&a, &b, &case);
    assert!(received_updates(&b, &share).is_empty());

    a.cli_ok(["evidence", "edit", &case, &ev, "--name", "front-door.mp4"]);
    a.cli_ok(["case", "edit", &case, "--description", "Burglary, 3 counts"]);
    let list = wait_updates(&b, &share, 2, LIMIT);
    let name = row(&list, "evidence");
    assert_eq!(name.field, format!("evidence/{ev}/name"), "{name:?}");
    assert_eq!(name.current, "clip.mp4");
    assert_eq!(name.proposed, "front-door.mp4");
    assert_eq!(name.allowed, Some(true));
    assert_eq!(name.conflict, Some(false));
    assert_eq!(
        name.changed_by.as_deref(),
        Some("admin (metro-pd)"),
        "{name:?}"
    );
    assert!(
        name.changed_at.as_deref().unwrap().ends_with('Z'),
        "{name:?}"
    );
    let desc = row(&list, "case");
    assert_eq!(desc.field, "case/description");
    assert_eq!(desc.current, "Burglary at 5 Main St");
    assert_eq!(desc.proposed, "Burglary, 3 counts");

    // Apply the evidence one: the copy's item is renamed, the case one stays available.
    let done = review_updates(&b, "apply", &share, &["--field", &name.field]);
    assert_eq!(done.len(), 1, "{done:?}");
    let shown = case_view(&b, &copy);
    assert_eq!(shown.evidence[0].name, "front-door.mp4", "{shown:?}");
    assert_eq!(shown.description, "Burglary at 5 Main St");
    let left = received_updates(&b, &share);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].field, "case/description");

    // Audited, and in the copy's custody timeline with the user who applied it.
    let custody = custody_events(&b, &copy);
    let applied: Vec<_> = custody
        .iter()
        .filter(|e| e.kind == "apply_update")
        .collect();
    assert_eq!(applied.len(), 1, "{custody:?}");
    assert_eq!(applied[0].user.as_deref(), Some("admin"));
    let details = &applied[0].details;
    assert!(details.contains("front-door.mp4"), "{details}");
    b.cli_ok(["audit", "verify", &copy]);
}

#[test]
fn a_policy_allowing_only_evidence_updates_refuses_the_case_update() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    casemesh_tests::allow_evidence_updates_only(&a, "county-da");
    let (case, ev) = case_with_item(&a, work.path(), "UR-2");
    let (share, copy) = shared_copy(&a, &b, &case);

    a.cli_ok(["case", "edit", &case, "--description", "Burglary, 3 counts"]);
    a.cli_ok([
        "evidence",
        "edit",
        &case,
        &ev,
        "--description",
        "Body camera",
    ]);
    let list = wait_updates(&b, &share, 2, LIMIT);
    let desc = row(&list, "case");
    assert_eq!(desc.allowed, Some(false), "{desc:?}");
    let reason = desc.reason.as_deref().unwrap();
    assert!(reason.contains("apply_case_updates"), "{reason}");
    assert_eq!(row(&list, "evidence").allowed, Some(true));

    // Refused by name and by tab, at the receiver; nothing changes.
    let (err, _) = b.cli_fail(["received", "apply", &share, "--field", "case/description"]);
    assert_http_status(&err, 403);
    assert!(err.contains("apply_case_updates"), "{err}");
    let (err, _) = b.cli_fail(["received", "apply", &share, "--tab", "case"]);
    assert_http_status(&err, 403);
    // "All" takes what the policy allows; the case row stays listed.
    let done = review_updates(&b, "apply", &share, &["--all"]);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].tab, "evidence");
    let shown = case_view(&b, &copy);
    assert_eq!(shown.description, "Burglary at 5 Main St");
    assert_eq!(shown.evidence[0].description, "Body camera");
    let left = received_updates(&b, &share);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].allowed, Some(false));
}

#[test]
fn the_receivers_own_edit_is_a_conflict_applied_only_by_name() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let (case, _) = case_with_item(&a, work.path(), "UR-3");
    let (share, copy) = shared_copy(&a, &b, &case);

    b.cli_ok(["case", "edit", &copy, "--description", "Our notes"]);
    a.cli_ok(["case", "edit", &case, "--description", "Burglary, 3 counts"]);
    let list = wait_updates(&b, &share, 1, LIMIT);
    assert_eq!(list[0].conflict, Some(true), "{:?}", list[0]);
    assert_eq!(list[0].current, "Our notes");
    assert_eq!(list[0].proposed, "Burglary, 3 counts");
    assert_eq!(list[0].base.as_deref(), Some("Burglary at 5 Main St"));

    // Neither --all nor --tab overwrite the receiver's edit.
    for args in [vec!["--all"], vec!["--tab", "case"]] {
        let mut cmd = vec!["received", "apply", share.as_str()];
        cmd.extend(args);
        let (err, _) = b.cli_fail(&cmd);
        assert_http_status(&err, 400);
        assert!(err.contains("conflict"), "{err}");
    }
    assert_eq!(case_view(&b, &copy).description, "Our notes");

    // Naming it is the explicit choice: resolved.
    review_updates(&b, "apply", &share, &["--field", "case/description"]);
    assert_eq!(case_view(&b, &copy).description, "Burglary, 3 counts");
    assert!(received_updates(&b, &share).is_empty());
}

#[test]
fn two_orgs_editing_an_access_case_converge_with_one_offline() {
    let CoEdit {
        work: _work,
        mut a,
        mut b,
        case,
        item: ev,
        share,
    } = co_edit_access_share("UR-4");
    let name = format!("evidence/{ev}/name");

    // A edits while B is offline.
    b.stop();
    a.cli_ok([
        "case",
        "edit",
        &case,
        "--description",
        "Burglary at 5 Main St, at night",
    ]);
    a.cli_ok(["evidence", "edit", &case, &ev, "--name", "clip-front.mp4"]);
    // Let A's synchronization pass queue the change for B, then B edits while A is offline.
    std::thread::sleep(Duration::from_secs(2));
    a.stop();
    b.start_again();
    b.cli_ok([
        "received",
        "edit",
        &share,
        "--field",
        "case/description",
        "--value",
        "Armed burglary at 5 Main St",
    ]);
    b.cli_ok([
        "received",
        "edit",
        &share,
        "--field",
        "case/title",
        "--value",
        "State v. Sample",
    ]);
    a.start_again();

    // Both deliver on reconnect; both sides read the same merged values: both description edits
    // kept character-wise, the title from B, the name from A.
    let expected = "Armed burglary at 5 Main St, at night";
    let merged = wait_until("both nodes converge", Duration::from_secs(180), || {
        let at_a = case_view(&a, &case);
        let f = try_received_meta(&b, &share)?;
        (at_a.description == expected
            && f.get("case/description") == Some(expected)
            && at_a.title == "State v. Sample"
            && f.get("case/title") == Some("State v. Sample")
            && f.get(&name) == Some("clip-front.mp4")
            && at_a.evidence.first().map(|e| e.name.as_str()) == Some("clip-front.mp4"))
        .then_some(at_a)
    });
    assert_eq!(merged.case_id, "UR-4");
    // The sharer's audit trail names the partner organization for its edits.
    let audit = audit_trail(&a, &case);
    let partner_edits: Vec<_> = audit
        .entries
        .iter()
        .filter(|e| e.action == "case.partner.edit")
        .collect();
    assert_eq!(partner_edits.len(), 2, "{audit:?}");
    assert_eq!(partner_edits[0].actor, "org:county-da");
    a.cli_ok(["audit", "verify", &case]);
}

/// Issue #14 gap 1: a partner edit the sharer refuses (here two concurrent title edits that
/// merge, character-wise, into a title over the 1,000-character limit) must not strand the
/// partner's later edits. The sharer merges the message, takes the title back with a
/// counter-change, writes the later description edit, and both documents converge; the partner's
/// `received updates` lists the refused edit with its reason. (Before: the title message was
/// refused whole and the description edit, which depends on it, waited forever.)
#[test]
fn a_refused_partner_edit_is_taken_back_and_later_edits_still_arrive() {
    let CoEdit {
        work: _work,
        mut a,
        mut b,
        case,
        share,
        ..
    } = co_edit_access_share("UR-6");
    // Two 600-character titles written apart: merged, they make 1,200 characters.
    let long = |word: &str| {
        std::iter::repeat_n(word, 100)
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(600)
            .collect::<String>()
    };
    let a_title = long("alpha");
    let b_title = long("bravo");
    b.stop();
    a.cli_ok(["case", "edit", &case, "--title", &a_title]);
    std::thread::sleep(Duration::from_secs(2));
    a.stop();
    b.start_again();
    b.cli_ok([
        "received",
        "edit",
        &share,
        "--field",
        "case/title",
        "--value",
        &b_title,
    ]);
    b.cli_ok([
        "received",
        "edit",
        &share,
        "--field",
        "case/description",
        "--value",
        "Burglary at 5 Main St (seen by B)",
    ]);
    a.start_again();

    // The later description edit arrives; the title is the sharer's on both sides.
    wait_until("both nodes converge", Duration::from_secs(120), || {
        let at_a = case_view(&a, &case);
        let f = try_received_meta(&b, &share)?;
        (at_a.description == "Burglary at 5 Main St (seen by B)"
            && f.get("case/description") == Some("Burglary at 5 Main St (seen by B)")
            && at_a.title == a_title
            && f.get("case/title") == Some(a_title.as_str()))
        .then_some(())
    });
    // The partner sees the refusal, with the reason, and cannot apply it.
    let rows = received_updates(&b, &share);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].field, "case/title");
    assert_eq!(rows[0].tab, "case");
    assert_eq!(rows[0].allowed, Some(false));
    assert_eq!(rows[0].current, a_title);
    let reason = rows[0].reason.as_deref().unwrap();
    assert!(reason.contains("refused"), "{reason}");
    assert!(reason.contains("title"), "{reason}");
    // The sharer's trail records the refusal and the accepted edit, and verifies.
    let audit = audit_trail(&a, &case);
    let actions: Vec<&str> = audit.entries.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"case.partner.edit.refused"),
        "{actions:?}"
    );
    assert!(actions.contains(&"case.partner.edit"), "{actions:?}");
    a.cli_ok(["audit", "verify", &case]);
    // A later title edit of the partner's is accepted and clears the refusal.
    b.cli_ok([
        "received",
        "edit",
        &share,
        "--field",
        "case/title",
        "--value",
        "State v. Sample",
    ]);
    wait_until(
        "the new title reaches A and the refusal clears",
        LIMIT,
        || {
            let at_a = case_view(&a, &case);
            (at_a.title == "State v. Sample" && received_updates(&b, &share).is_empty())
                .then_some(())
        },
    );
}

#[test]
fn a_dismissed_update_stays_hidden_until_the_sharer_changes_it_again() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let (case, _) = case_with_item(&a, work.path(), "UR-5");
    let (share, copy) = shared_copy(&a, &b, &case);

    a.cli_ok(["case", "edit", &case, "--title", "State v. Sample"]);
    wait_updates(&b, &share, 1, LIMIT);
    let dismissed = review_updates(&b, "dismiss", &share, &["--field", "case/title"]);
    assert_eq!(dismissed[0].field, "case/title", "{dismissed:?}");
    assert!(received_updates(&b, &share).is_empty());
    assert_eq!(case_view(&b, &copy).title, "State v. Example");
    // Dismissing again: nothing to dismiss.
    let (err, _) = b.cli_fail(["received", "dismiss", &share, "--field", "case/title"]);
    assert_http_status(&err, 400);
    // An unrelated change of the sharer's does not bring it back …
    a.cli_ok(["case", "edit", &case, "--description", "Burglary, 3 counts"]);
    let list = wait_updates(&b, &share, 1, LIMIT);
    assert_eq!(list[0].field, "case/description");
    // … a new value of that field does.
    a.cli_ok(["case", "edit", &case, "--title", "State v. Other"]);
    let list = wait_updates(&b, &share, 2, LIMIT);
    let title = list.iter().find(|u| u.field == "case/title").unwrap();
    assert_eq!(title.proposed, "State v. Other");
    assert_eq!(title.current, "State v. Example");
}
