//! Mistakes caught where they are made (issue #15): each input a user can get wrong, tried on real
//! node processes, refused with a message that says what to do and a non-zero exit code, with
//! nothing changed — or done as the user meant, and said so.
//!
//! - item 2: a case number that is taken (`case create`, `case edit --case-id`) is refused with
//!   409 naming the case that has it; a copy received from a partner with the number of a local
//!   case does not shadow it.
//! - item 4: a node whose p2p or admin port is taken fails at start, naming the port and the
//!   config key.
//! - item 7: commands that delete data refuse without `--yes` when stdin is not a terminal;
//!   `evidence get -o FILE` does not overwrite FILE without `--force`.
//! - item 8: `link create --days 0` (or negative, or absurd) is refused; `link create --to` says
//!   the recipient is emailed; the links API refuses them too (400).
//! - item 3: a second share of a case to the same partner adds to the existing share (one copy,
//!   every item once); a scope that cannot join is refused; `received show CASE-NUMBER` works and
//!   shows the sender's message; `evidence add` names the display id (item 10).
//! - item 6: `share create --wait --timeout` names the share first and gives up naming what is
//!   missing; repeating the command creates no duplicate.
//! - item 5: a partner registered on one side only shows as such in `peers`, without flapping.
//! - `--help` lists a command's own options before the global ones.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::ids::BlobHash;
use casemesh_tests::{
    CaseSummary, CaseView, EvidenceView, OriginView, PartnerView, RetentionView, SettingsView,
    ShareView, SweepReport, TestNode, UserView, add_evidence_file, assert_http_status, case_view,
    casemesh, create_case, evidence_count, external_cases, init_data_dir, node_identity, partner,
    peer_view, received_list, received_view, s, share_case, share_create_args, share_view,
    wait_copy, wait_share_complete, wait_until,
};
use std::fs;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn cases(node: &TestNode) -> Vec<CaseSummary> {
    node.cli_typed(["case", "list"])
}

fn add_file(node: &TestNode, case: &str, dir: &Path, name: &str, bytes: &[u8]) -> EvidenceView {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    add_evidence_file(node, case, &path, &[])
}

// ---- item 2: case numbers -------------------------------------------------------------------

#[test]
fn a_taken_case_number_is_refused_on_create_and_on_edit() {
    let node = TestNode::start("case-numbers");
    let first = create_case(&node, "2026-CR-0042");

    let (stderr, code) = node.cli_fail([
        "case",
        "create",
        "--case-id",
        "2026-CR-0042",
        "--title",
        "Again",
    ]);
    assert_eq!(code, 1);
    assert_http_status(&stderr, 409);
    assert!(
        stderr.contains("\"2026-CR-0042\" is already used by case") && stderr.contains(&first),
        "{stderr}"
    );
    assert_eq!(cases(&node).len(), 1, "no second case");

    let second = create_case(&node, "2026-CR-0043");
    let (stderr, code) = node.cli_fail(["case", "edit", &second, "--case-id", "2026-CR-0042"]);
    assert_eq!(code, 1);
    assert_http_status(&stderr, 409);
    assert!(stderr.contains(&first), "{stderr}");
    let shown = case_view(&node, &second);
    assert_eq!(shown.case_id, "2026-CR-0043", "the number is unchanged");
    // Every command naming the case by number still works.
    assert_eq!(case_view(&node, "2026-CR-0042").id.to_string(), first);
    // Renaming to a free number, and the freed number, work.
    node.cli_ok(["case", "edit", &second, "--case-id", "2026-CR-0044"]);
    node.cli_ok(["case", "edit", &first, "--case-id", "2026-CR-0043"]);
    assert_eq!(case_view(&node, "2026-CR-0043").id.to_string(), first);
}

#[test]
fn a_received_copy_does_not_shadow_a_local_case_number() {
    let police = TestNode::start("Metro Police");
    let prosecutor = TestNode::start("County Prosecutor");
    partner(&police, &prosecutor);
    let ours: CaseView = prosecutor.cli_typed([
        "case",
        "create",
        "--case-id",
        "C-7",
        "--title",
        "Our own case",
    ]);
    let theirs = create_case(&police, "C-7");
    share_case(&police, &theirs, "County Prosecutor", &[]);
    let copy: CaseSummary = wait_until("the copy at the prosecutor", LIMIT, || {
        external_cases(&prosecutor).into_iter().next()
    });
    assert_eq!(copy.case_id, "C-7");

    // The number names the local case; the copy is reached by its record id.
    let shown = case_view(&prosecutor, "C-7");
    assert_eq!(shown.id, ours.id);
    assert_eq!(shown.title, "Our own case");
    let copy_id = &copy.id.to_string();
    assert!(
        matches!(
            case_view(&prosecutor, copy_id).origin,
            OriginView::Received { .. }
        ),
        "the copy is received"
    );
    // Evidence added by number goes to the local case.
    let work = tempfile::tempdir().unwrap();
    add_file(&prosecutor, "C-7", work.path(), "note.txt", b"ours");
    assert_eq!(evidence_count(&prosecutor, &ours.id.to_string()), 1);
    assert_eq!(evidence_count(&prosecutor, copy_id), 0);

    // A new local case cannot take the number a copy has either.
    let theirs_too = create_case(&police, "C-8");
    share_case(&police, &theirs_too, "County Prosecutor", &[]);
    let copy8 = wait_until("the second copy", LIMIT, || {
        external_cases(&prosecutor)
            .into_iter()
            .find(|c| c.case_id == "C-8")
    });
    let (stderr, code) =
        prosecutor.cli_fail(["case", "create", "--case-id", "C-8", "--title", "Mine"]);
    assert_eq!(code, 1);
    assert_http_status(&stderr, 409);
    assert!(
        stderr.contains(&copy8.id.to_string()) && stderr.contains("received from Metro Police"),
        "{stderr}"
    );
    assert_eq!(cases(&prosecutor).len(), 3);
}

// ---- item 4: taken ports --------------------------------------------------------------------

/// `casemesh init` a data directory in `dir` with these listen addresses.
fn init(dir: &Path, name: &str, admin: &str, p2p: &str) -> std::path::PathBuf {
    let data = dir.join(name);
    init_data_dir(&data, name, admin, p2p);
    data
}

/// Run `casemesh run` on `data` and return its output once it exits; `None` (after killing it)
/// when it is still running after `limit`, i.e. it started.
fn run_until_exit(data: &Path, limit: Duration) -> Option<Output> {
    let mut child = casemesh()
        .args(["run", "--data-dir", s(data)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    None
}

#[test]
fn a_taken_p2p_or_admin_port_fails_at_start_naming_the_port_and_key() {
    let first = TestNode::builder("first").fixed_p2p_port().start();
    let (_, p2p) = node_identity(&first);
    let port = p2p.rsplit('/').next().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();

    let second = init(work.path(), "second", "127.0.0.1:0", &p2p);
    let out = run_until_exit(&second, Duration::from_secs(30))
        .expect("a node on a taken p2p port must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("p2p port {port}"))
            && stderr.contains("already in use")
            && stderr.contains("p2p.listen"),
        "{stderr}"
    );
    assert!(!second.join("admin.addr").exists(), "it never served");

    let third = init(
        work.path(),
        "third",
        first.admin_addr(),
        "/ip4/127.0.0.1/tcp/0",
    );
    let out = run_until_exit(&third, Duration::from_secs(30))
        .expect("a node on a taken admin port must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let admin_port = first.admin_addr().rsplit(':').next().unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("admin endpoint port {admin_port}"))
            && stderr.contains("admin.listen"),
        "{stderr}"
    );
    // The first node is untouched.
    first.cli_ok(["status"]);
}

// ---- item 7: destructive commands -----------------------------------------------------------

#[test]
fn deleting_commands_refuse_without_yes_when_nobody_can_confirm() {
    let node = TestNode::start("destructive");
    let case = create_case(&node, "C-1");
    let work = tempfile::tempdir().unwrap();
    add_file(&node, &case, work.path(), "a.txt", b"first item");
    add_file(&node, &case, work.path(), "b.txt", b"second item");
    node.cli_ok([
        "user",
        "add",
        "bob",
        "--full-name",
        "Bob",
        "--permission",
        "case_edit",
    ]);
    let blobs_before = node.blob_files().len();

    for args in [
        vec!["evidence", "delete", &case, "EV-0001"],
        vec!["case", "retention", &case, "0"],
        vec!["retention", "sweep"],
        vec!["blobs", "gc"],
        vec!["user", "delete", "bob"],
    ] {
        let (stderr, code) = node.cli_fail(&args);
        assert_eq!(code, 1, "{args:?}");
        assert!(
            stderr.contains("pass --yes") && stderr.contains("nothing was changed"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(evidence_count(&node, &case), 2);
    assert_eq!(
        case_view(&node, &case).retention,
        RetentionView::UntilManuallyDeleted
    );
    assert!(
        node.cli_typed::<Vec<UserView>, _, _>(["user", "list"])
            .iter()
            .any(|u| u.username == "bob")
    );
    assert_eq!(node.blob_files().len(), blobs_before);

    // With --yes they do what they say.
    node.cli_ok(["evidence", "delete", &case, "EV-0001", "--yes"]);
    node.cli_ok(["case", "retention", &case, "0", "--yes"]);
    let swept: SweepReport = node.cli_typed(["retention", "sweep", "--yes"]);
    assert_eq!(swept.removed.len(), 1);
    assert_eq!(evidence_count(&node, &case), 0);
    node.cli_ok(["user", "delete", "bob", "-y"]);
    // `manual` deletes nothing: no question.
    node.cli_ok(["case", "retention", &case, "manual"]);
}

#[test]
fn evidence_get_does_not_overwrite_a_file_without_force() {
    let node = TestNode::start("overwrite");
    let case = create_case(&node, "C-1");
    let work = tempfile::tempdir().unwrap();
    add_file(&node, &case, work.path(), "a.txt", b"evidence bytes");
    add_file(&node, &case, work.path(), "t.txt", b"a transcript");
    node.cli_ok([
        "evidence",
        "transcript",
        "add",
        &case,
        "EV-0001",
        s(&work.path().join("t.txt")),
    ]);
    let out = work.path().join("mine.txt");
    fs::write(&out, b"my own file").unwrap();

    let (stderr, code) = node.cli_fail(["evidence", "get", &case, "EV-0001", "-o", s(&out)]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    let (stderr, code) = node.cli_fail([
        "evidence",
        "transcript",
        "get",
        &case,
        "EV-0001",
        "t.txt",
        "-o",
        s(&out),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(fs::read(&out).unwrap(), b"my own file", "left alone");
    assert!(!work.path().join("mine.txt.part").exists());

    node.cli_ok([
        "evidence",
        "get",
        &case,
        "EV-0001",
        "-o",
        s(&out),
        "--force",
    ]);
    assert_eq!(fs::read(&out).unwrap(), b"evidence bytes");
}

// ---- item 8: download links -----------------------------------------------------------------

#[test]
fn link_days_must_be_one_to_ten_years_and_to_says_the_mail_is_sent() {
    let node = TestNode::start("link-days");
    let case = create_case(&node, "C-1");
    let work = tempfile::tempdir().unwrap();
    add_file(&node, &case, work.path(), "a.txt", b"evidence bytes");
    for (days, says) in [
        ("0", "at least 1 day"),
        ("-3", "at least 1 day"),
        ("3651", "at most 3650 days"),
        ("99999999999", "at most 3650 days"),
    ] {
        let (stderr, code) =
            node.cli_fail(["link", "create", &case, "--format", "zip", "--days", days]);
        assert_ne!(code, 0, "--days {days}");
        assert!(stderr.contains(says), "--days {days}: {stderr}");
    }
    // A recipient that does not parse is refused before anything is stored: the link used to be
    // saved (with its audit entry) and the answer was still 400.
    for to in ["user:", "group: ", "email:"] {
        let (stderr, code) =
            node.cli_fail(["link", "create", &case, "--format", "zip", "--to", to]);
        assert_ne!(code, 0, "--to {to:?}");
        assert!(
            stderr.contains("a name must follow the colon"),
            "--to {to:?}: {stderr}"
        );
    }
    assert!(
        casemesh_tests::link_list(&node, &case).is_empty(),
        "no link was made"
    );

    let out = node.cli([
        "link",
        "create",
        &case,
        "--format",
        "zip",
        "--to",
        "reviewer@court.example",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("not available"), "{stderr}");
    assert!(
        stderr.contains("reviewer@court.example is emailed the URL"),
        "{stderr}"
    );
}

// ---- item 3 (and 6, 10): the same case to the same partner again ------------------------------

/// `share create CASE --partner P --to user:admin EXTRA…` as text: (stdout, stderr, exit code).
fn share_text(node: &TestNode, case: &str, partner: &str, extra: &[&str]) -> (String, String, i32) {
    let out = node.cli(share_create_args(case, partner, extra));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn shares_of(node: &TestNode, case: &str) -> Vec<ShareView> {
    node.cli_typed(["share", "list", case])
}

#[test]
fn sharing_the_same_case_again_adds_to_the_one_copy() {
    let police = TestNode::start("Metro Police");
    let prosecutor = TestNode::start("County Prosecutor");
    partner(&police, &prosecutor);
    let case = create_case(&police, "2026-CR-0042");
    let work = tempfile::tempdir().unwrap();
    // `evidence add` names the display id people refer to (item 10), beside the id and hash.
    let path = work.path().join("statement.txt");
    fs::write(&path, b"first statement").unwrap();
    let out = police.cli(["evidence", "add", &case, s(&path)]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        2,
        "id and hash stay on stdout: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("added EV-0001 \"statement.txt\""),
        "{stderr}"
    );
    police.cli_ok(["folder", "create", &case, "Interviews"]);
    add_file(&police, &case, work.path(), "photo.jpg", b"a photo");
    add_file(&police, &case, work.path(), "video.mp4", b"a video");

    let first: ShareView = share_case(
        &police,
        &case,
        "County Prosecutor",
        &[
            "--evidence",
            "EV-0001",
            "--message",
            "First statement, more to come",
        ],
    );
    let share = first.id;
    wait_copy(&prosecutor, &share.to_string(), 1, LIMIT);

    // A folder selection cannot join an evidence share: refused, nothing changed.
    let (_, stderr, code) = share_text(
        &police,
        &case,
        "County Prosecutor",
        &["--folder", "Interviews"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_http_status(&stderr, 409);
    assert!(
        stderr.contains(&format!("share {share} already shares selected evidence"))
            && stderr.contains("folders cannot be added"),
        "{stderr}"
    );
    let listed = shares_of(&police, &case);
    assert_eq!(listed.len(), 1);
    assert_eq!(share_view(&police, &share.to_string()).scope, first.scope);
    assert_eq!(share_view(&police, &share.to_string()).items_sent, 1);

    // The entire case to the same partner: added to the share, not a second copy.
    let (stdout, stderr, code) = share_text(&police, &case, "County Prosecutor", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "Share {share} already shares this case with County Prosecutor: added"
        )) && stdout.contains("2 new items")
            && stdout.contains("the partner keeps one copy"),
        "{stdout}"
    );
    assert_eq!(shares_of(&police, &case).len(), 1, "no second share");
    wait_share_complete(&police, &share.to_string(), LIMIT);
    let copy: CaseView = wait_copy(&prosecutor, &share.to_string(), 3, LIMIT);
    assert_eq!(
        external_cases(&prosecutor).len(),
        1,
        "one copy at the receiver"
    );
    let mut hashes: Vec<BlobHash> = copy.evidence.iter().map(|e| e.hash).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 3, "every item once: {copy:?}");
    assert_eq!(received_list(&prosecutor).len(), 1);

    // `received show CASE-NUMBER` finds the one copy and shows the sender's message (item 10).
    let shown = prosecutor.cli_ok(["received", "show", "2026-CR-0042"]);
    assert!(shown.contains(&share.to_string()), "{shown}");
    assert!(
        shown.contains("Message:              First statement, more to come"),
        "{shown}"
    );

    // The same command again (say, after Ctrl-C): nothing added, no duplicate (item 6).
    let (stdout, stderr, code) = share_text(&police, &case, "County Prosecutor", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("nothing added, no second copy made"),
        "{stdout}"
    );
    assert_eq!(shares_of(&police, &case).len(), 1);
    assert_eq!(share_view(&police, &share.to_string()).items_sent, 3);
    assert_eq!(external_cases(&prosecutor).len(), 1);
}

// ---- item 6: share create --wait ------------------------------------------------------------

#[test]
fn share_create_wait_names_the_share_first_and_gives_up_after_timeout() {
    let police = TestNode::start("Metro Police");
    let mut prosecutor = TestNode::start("County Prosecutor");
    partner(&police, &prosecutor);
    let case = create_case(&police, "2026-CR-0050");
    let work = tempfile::tempdir().unwrap();
    add_file(&police, &case, work.path(), "a.txt", b"evidence bytes");
    prosecutor.stop();

    let started = Instant::now();
    let (stdout, stderr, code) = share_text(
        &police,
        &case,
        "County Prosecutor",
        &["--wait", "--timeout", "3"],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let share = shares_of(&police, &case)[0].id;
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with(&format!("Share {share} created"))),
        "the share id comes first: {stdout}"
    );
    assert!(
        stderr.contains(&format!("share {share} is not complete after 3 s"))
            && stderr.contains("1 of 1 items not yet confirmed by County Prosecutor")
            && stderr.contains("County Prosecutor is not connected"),
        "{stderr}"
    );

    // Again, as after Ctrl-C: the existing share, no duplicate.
    let (stdout, _, code) = share_text(&police, &case, "County Prosecutor", &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("Share {share} already shares this case"))
            && stdout.contains("nothing added"),
        "{stdout}"
    );
    assert_eq!(shares_of(&police, &case).len(), 1);
}

// ---- item 5: a partner registered on one side only ------------------------------------------

#[test]
fn a_one_sided_partnership_shows_as_such_and_is_not_dialed_in_a_loop() {
    let police = TestNode::start("Metro Police");
    let prosecutor = TestNode::start("County Prosecutor");
    // Only the police register the prosecutor.
    casemesh_tests::add_partner(&police, &prosecutor);
    wait_until("the one-sided state in peers", LIMIT, || {
        let p = peer_view(&police, "County Prosecutor");
        (p.state == "not registered by the partner (its gate refuses this node)").then_some(p)
    });
    let table = police.cli_ok(["peers"]);
    assert!(table.contains("not registered by the partner"), "{table}");
    assert!(!table.contains("offline"), "{table}");
    std::thread::sleep(Duration::from_secs(8));
    let log = police.log();
    let flaps =
        log.matches("partner connected").count() + log.matches("partner disconnected").count();
    assert_eq!(flaps, 0, "no connected/disconnected flapping: {log}");
    let refused = prosecutor
        .log()
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("unregistered peer"))
        .count();
    assert_eq!(
        refused,
        1,
        "one warning per peer per minute:\n{}",
        prosecutor.log()
    );
    assert!(
        !peer_view(&police, "County Prosecutor").connected,
        "the one-sided partner never shows as connected"
    );
}

// ---- item 8 (API): link days ------------------------------------------------------------------

#[test]
fn the_links_api_refuses_zero_or_too_many_days() {
    let node = TestNode::start("link-api-days");
    let case = create_case(&node, "C-1");
    let work = tempfile::tempdir().unwrap();
    add_file(&node, &case, work.path(), "a.txt", b"evidence bytes");
    for days in [0, 3651] {
        let resp = node
            .http()
            .post(node.url(&format!("/v1/cases/{case}/links")))
            .json(&serde_json::json!({"format": "zip", "days": days}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "days {days}");
        let body = resp.text().unwrap();
        assert!(
            body.contains("days must be 1 to 3650"),
            "days {days}: {body}"
        );
    }
    assert!(
        casemesh_tests::link_list(&node, &case).is_empty(),
        "no link was made"
    );
}

// ---- help: each command's own options first ---------------------------------------------------

#[test]
fn help_lists_a_commands_own_options_before_the_global_ones() {
    let out = casemesh()
        .args(["share", "create", "--help"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    let own = help.find("--partner").unwrap();
    let timeout = help.find("--timeout").unwrap();
    let global = help
        .find("Global options:")
        .expect("a Global options heading");
    let data_dir = help.find("--data-dir").unwrap();
    assert!(
        own < global && timeout < global && global < data_dir,
        "{help}"
    );
}

/// Item 9: a transcript added to evidence after the share reaches the partner's copy, attached
/// to the item it already has (no second item), like new evidence (case synchronization).
#[test]
fn a_transcript_added_after_the_share_reaches_the_partners_copy() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "TRANS-1");
    let ev = add_file(&a, &case, work.path(), "interview.wav", b"RIFF audio bytes");
    let share: ShareView = share_case(&a, &case, "county-da", &[]);
    let share_id = share.id;
    wait_share_complete(&a, &share_id.to_string(), LIMIT);
    let copy: CaseView = wait_copy(&b, &share_id.to_string(), 1, LIMIT);
    let copy_id = copy.id;
    assert_eq!(copy.evidence[0].transcripts.len(), 0);

    let text = work.path().join("interview.txt");
    fs::write(&text, "Q: Where were you on the night of the 4th?").unwrap();
    a.cli_ok([
        "evidence",
        "transcript",
        "add",
        &case,
        &ev.id.to_string(),
        s(&text),
        "--name",
        "interview.txt",
    ]);
    let item = wait_until("the transcript at the partner", LIMIT, || {
        let items = case_view(&b, &copy_id.to_string()).evidence;
        let first = items.first()?.clone();
        (items.len() == 1 && first.transcripts.len() == 1).then_some(first)
    });
    // The bytes arrived intact, and the share still counts one item.
    let got = work.path().join("got.txt");
    b.cli_ok([
        "evidence",
        "transcript",
        "get",
        &copy_id.to_string(),
        &item.id.to_string(),
        "interview.txt",
        "-o",
        s(&got),
    ]);
    assert_eq!(
        fs::read_to_string(&got).unwrap(),
        "Q: Where were you on the night of the 4th?"
    );
    wait_share_complete(&a, &share_id.to_string(), LIMIT);
    let status = share_view(&a, &share_id.to_string());
    assert_eq!(status.items_sent, 1, "{status:?}");
    assert_eq!(evidence_count(&b, &copy_id.to_string()), 1);
}

/// Item 2, siblings: numbers that differ only in letter case or spaces are the same number;
/// invisible characters and record-id look-alikes are refused; nothing is created.
#[test]
fn case_numbers_that_only_look_different_are_refused() {
    let a = TestNode::start("metro-pd");
    create_case(&a, "2026-CR-0042");
    let before = cases(&a).len();
    for (number, why) in [
        ("2026-cr-0042", "already used"),
        (" 2026-CR-0042", "spaces"),
        ("2026-CR-0042 ", "spaces"),
        ("2026-CR-\u{200B}0042", "invisible"),
        ("7f0c1e2a-2b1c-4f6e-9d2a-0b1c2d3e4f50", "record id"),
    ] {
        let (msg, code) = a.cli_fail(["case", "create", "--case-id", number, "--title", "T"]);
        assert_ne!(code, 0, "{number:?}");
        assert!(msg.contains(why), "{number:?}: {msg}");
    }
    assert_eq!(cases(&a).len(), before, "nothing was created");
    // Typed in another letter case, the number still finds the case.
    let shown = case_view(&a, "2026-cr-0042");
    assert_eq!(shown.case_id, "2026-CR-0042");
}

/// `received show NUMBER` finds the received share even when a local case has that number.
#[test]
fn received_show_finds_a_copy_whose_number_a_local_case_has() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    create_case(&b, "Y-1");
    let case = create_case(&a, "Y-1");
    let work = tempfile::tempdir().unwrap();
    add_file(&a, &case, work.path(), "y.txt", b"y");
    let share: ShareView = share_case(&a, &case, "county-da", &[]);
    wait_share_complete(&a, &share.id.to_string(), LIMIT);
    let shown = received_view(&b, "Y-1");
    assert_eq!(shown.id, share.id);
}

/// Item 7, siblings: commands that cut someone off (stop a share, remove a partner, disable a
/// user, replace or revoke tokens) or make the sweeper delete (a default retention of 0 days)
/// refuse without --yes when nobody can confirm, and change nothing.
#[test]
fn commands_that_cut_someone_off_need_yes_without_a_terminal() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    a.cli_ok(["user", "add", "alice", "--full-name", "Alice"]);
    let case = create_case(&a, "CUT-1");
    let work = tempfile::tempdir().unwrap();
    add_file(&a, &case, work.path(), "a.txt", b"a");
    let share: ShareView = share_case(&a, &case, "county-da", &[]);
    let id = share.id.to_string();
    for args in [
        vec!["share", "stop", id.as_str()],
        vec!["partner", "remove", "county-da"],
        vec!["user", "disable", "alice"],
        vec!["user", "token", "alice"],
        vec!["user", "token", "alice", "--revoke"],
        vec!["settings", "set", "--default-retention", "0"],
    ] {
        let (msg, code) = a.cli_fail(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(msg.contains("--yes"), "{args:?}: {msg}");
    }
    // Nothing changed.
    assert_ne!(share_view(&a, &id).status, "Stopped");
    assert_eq!(
        a.cli_typed::<Vec<PartnerView>, _, _>(["partner", "list"])
            .len(),
        1
    );
    let users: Vec<UserView> = a.cli_typed(["user", "list"]);
    let alice = users.iter().find(|u| u.username == "alice").unwrap();
    assert!(!alice.disabled, "{alice:?}");
    assert_ne!(
        a.cli_typed::<SettingsView, _, _>(["settings", "show"])
            .default_retention,
        Some(RetentionView::Days { days: 0 })
    );
    // With --yes they go ahead.
    assert_eq!(
        a.cli_typed::<ShareView, _, _>(["share", "stop", &id, "--yes"])
            .status,
        "Stopped"
    );
}

/// `casemesh init` checks every argument before it writes anything: a refused command line
/// leaves no data directory behind (before, a bad `--p2p-listen` left an identity key, a
/// database with the administrator and a token, and every later init failed with "user admin
/// already exists"). A directory whose init stopped before its configuration was written is
/// completed by running init again, with the same identity.
#[test]
fn a_refused_init_writes_nothing_and_an_interrupted_one_completes() {
    let work = tempfile::tempdir().unwrap();
    let init = |dir: &std::path::Path, extra: &[&str]| {
        casemesh()
            .args(["--json", "init", "--data-dir"])
            .arg(dir)
            .args(["--admin-addr", "127.0.0.1:0", "--link-addr", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused: [&[&str]; 4] = [
        &["--org", "Org N", "--p2p-listen", "garbage"],
        &["--org", "Evil\u{1b}[31m"],
        &["--org", "   "],
        &["--org", "Org N", "--admin-user", "a/b"],
    ];
    for args in refused {
        let dir = work.path().join("refused");
        let out = init(&dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(msg.contains("nothing was written"), "{args:?}: {msg}");
        assert!(!dir.exists(), "{args:?} left {dir:?} behind");
    }

    let dir = work.path().join("n");
    let first = init(&dir, &["--org", "Org N"]);
    assert!(first.status.success(), "{first:?}");
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    // Interrupted after the database, before the configuration.
    std::fs::remove_file(dir.join("config.toml")).unwrap();
    let again = init(&dir, &["--org", "Org N"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["org_id"], first["org_id"], "the identity is kept");
    assert!(dir.join("config.toml").exists());
}

/// Siblings found by a newcomer: one port for both listeners, a policy whose external onward
/// sharing could never work, and man pages written over existing files are refused up front.
#[test]
fn setup_mistakes_are_refused_where_they_are_made() {
    let work = tempfile::tempdir().unwrap();
    let out = casemesh()
        .args(["init", "--data-dir"])
        .arg(work.path().join("n"))
        .args([
            "--org",
            "Org N",
            "--admin-addr",
            "127.0.0.1:47311",
            "--link-addr",
            "127.0.0.1:47311",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("two ports"), "{msg}");
    assert!(!work.path().join("n").join("config.toml").exists());

    let a = TestNode::start("metro-pd");
    let (msg, code) = a.cli_fail(["policy", "set", "Ext", "--allow", "share_onward_external"]);
    assert_ne!(code, 0);
    assert!(msg.contains("needs share_onward"), "{msg}");

    let pages = work.path().join("man");
    let first = casemesh()
        .arg("man")
        .arg("-o")
        .arg(&pages)
        .output()
        .unwrap();
    assert!(first.status.success());
    let again = casemesh()
        .arg("man")
        .arg("-o")
        .arg(&pages)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = casemesh()
        .arg("man")
        .arg("-o")
        .arg(&pages)
        .arg("--force")
        .output()
        .unwrap();
    assert!(forced.status.success());
}
