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
//!   the recipient is emailed.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    TestNode, assert_http_status, casemesh, create_case, external_cases, id_of, node_identity,
    partner, s, share_case, wait_until,
};
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn cases(node: &TestNode) -> Vec<Value> {
    node.cli_json(["case", "list"]).as_array().unwrap().clone()
}

fn add_file(node: &TestNode, case: &str, dir: &Path, name: &str, bytes: &[u8]) -> Value {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    node.cli_json(["evidence", "add", case, s(&path)])
}

fn evidence_count(node: &TestNode, case: &str) -> usize {
    node.cli_json(["evidence", "list", case])
        .as_array()
        .unwrap()
        .len()
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
    let shown = node.cli_json(["case", "show", &second]);
    assert_eq!(shown["case_id"], "2026-CR-0043", "the number is unchanged");
    // Every command naming the case by number still works.
    assert_eq!(
        node.cli_json(["case", "show", "2026-CR-0042"])["id"],
        first.as_str()
    );
    // Renaming to a free number, and the freed number, work.
    node.cli_ok(["case", "edit", &second, "--case-id", "2026-CR-0044"]);
    node.cli_ok(["case", "edit", &first, "--case-id", "2026-CR-0043"]);
    assert_eq!(
        node.cli_json(["case", "show", "2026-CR-0043"])["id"],
        first.as_str()
    );
}

#[test]
fn a_received_copy_does_not_shadow_a_local_case_number() {
    let police = TestNode::start("Metro Police");
    let prosecutor = TestNode::start("County Prosecutor");
    partner(&police, &prosecutor);
    let ours = prosecutor.cli_json([
        "case",
        "create",
        "--case-id",
        "C-7",
        "--title",
        "Our own case",
    ]);
    let theirs = create_case(&police, "C-7");
    share_case(&police, &theirs, "County Prosecutor", &[]);
    let copy = wait_until("the copy at the prosecutor", LIMIT, || {
        external_cases(&prosecutor).into_iter().next()
    });
    assert_eq!(copy["case_id"], "C-7");

    // The number names the local case; the copy is reached by its record id.
    let shown = prosecutor.cli_json(["case", "show", "C-7"]);
    assert_eq!(shown["id"], ours["id"]);
    assert_eq!(shown["title"], "Our own case");
    let copy_id = id_of(&copy);
    assert_eq!(
        prosecutor.cli_json(["case", "show", copy_id])["origin"]["kind"],
        "received"
    );
    // Evidence added by number goes to the local case.
    let work = tempfile::tempdir().unwrap();
    add_file(&prosecutor, "C-7", work.path(), "note.txt", b"ours");
    assert_eq!(evidence_count(&prosecutor, id_of(&ours)), 1);
    assert_eq!(evidence_count(&prosecutor, copy_id), 0);

    // A new local case cannot take the number a copy has either.
    let theirs_too = create_case(&police, "C-8");
    share_case(&police, &theirs_too, "County Prosecutor", &[]);
    let copy8 = wait_until("the second copy", LIMIT, || {
        external_cases(&prosecutor)
            .into_iter()
            .find(|c| c["case_id"] == "C-8")
    });
    let (stderr, code) =
        prosecutor.cli_fail(["case", "create", "--case-id", "C-8", "--title", "Mine"]);
    assert_eq!(code, 1);
    assert_http_status(&stderr, 409);
    assert!(
        stderr.contains(id_of(&copy8)) && stderr.contains("received from Metro Police"),
        "{stderr}"
    );
    assert_eq!(cases(&prosecutor).len(), 3);
}

// ---- item 4: taken ports --------------------------------------------------------------------

/// `casemesh init` a data directory in `dir` with these listen addresses.
fn init(dir: &Path, name: &str, admin: &str, p2p: &str) -> std::path::PathBuf {
    let data = dir.join(name);
    let out = casemesh()
        .args(["init", "--data-dir", s(&data), "--org", name])
        .args(["--admin-addr", admin, "--link-addr", "127.0.0.1:0"])
        .args(["--p2p-listen", p2p])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
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
        node.cli_json(["case", "show", &case])["retention"]["kind"],
        "until_manually_deleted"
    );
    assert!(
        node.cli_json(["user", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "bob")
    );
    assert_eq!(node.blob_files().len(), blobs_before);

    // With --yes they do what they say.
    node.cli_ok(["evidence", "delete", &case, "EV-0001", "--yes"]);
    node.cli_ok(["case", "retention", &case, "0", "--yes"]);
    let swept = node.cli_json(["retention", "sweep", "--yes"]);
    assert_eq!(swept["removed"].as_array().unwrap().len(), 1);
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
    assert!(
        node.cli_json(["link", "list", &case])
            .as_array()
            .unwrap()
            .is_empty(),
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
