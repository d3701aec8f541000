//! How the `casemesh` client ends when its peers go away (issue #9): SIGPIPE stays ignored for
//! every command, so a write to a dead node's socket is an error the client reports, and a write
//! to a closed stdout ends a read-only command quietly (tested in `operator_cli.rs`,
//! `a_reader_that_closes_the_pipe_ends_the_cli_quietly`).
//!
//! - `a_node_killed_during_an_upload_is_reported`: `kill -STOP`, then `kill -9` of the node
//!   while `evidence add` streams a large file: the client exits 1 with `error: request to … failed … broke off`
//!   on stderr, not killed by SIGPIPE (status 141 in a shell) without a word.
//! - `a_closed_pipe_does_not_cut_a_change_short`: a command that changes state (a bulk
//!   `evidence add DIR --recursive`, `user token`) whose reader goes away after the first line
//!   runs to its end (every file added; the token issued), then exits 1 saying its changes were
//!   made but output was lost. Exiting 0 (as a read-only command may) claimed the whole answer
//!   arrived: a newcomer's attack found a 450-file ingest stopped after one file with status 0,
//!   and a new token lost with status 0.
//! - `a_closed_stderr_changes_neither_the_work_nor_the_status`: with stderr closed, a failing
//!   command exits 1 (not 101, a panic), and a working one still does its work and exits 0.
//!
//! - `a_node_whose_log_pipe_closed_keeps_serving`: `casemesh run` with its stderr (the log) a
//!   pipe nobody reads any more (`casemesh run 2>&1 | tee log` after tee died) goes on serving
//!   and stops with status 0. tracing-subscriber reported the failed log write with `eprintln!`,
//!   which panicked on the same stderr: a request died mid-way (the item stored, the client told
//!   the connection broke) or the node exited 101 at start.
//!
//! - `a_malformed_upload_is_refused_not_retried`: an `evidence` upload whose chunked body is not
//!   valid HTTP (chunk size `ZZZ`) answers 400 `bad_request`, not 503 "retry", and stores nothing.
//!
//! - `a_broken_off_upload_is_logged_once_as_a_warning`: a client that closes the connection in
//!   the middle of an upload is a condition to retry, not a fault of the node: one WARN line, no
//!   ERROR (it was logged at ERROR twice, by the API's error and by tower-http's trace layer).
//!
//! - `a_wrong_method_answers_with_a_body`: a route asked with a method it does not have answers
//!   405 with the API's JSON error body (`method_not_allowed`) and the `Allow` header, on the admin
//!   API; with the error page on the web UI and the public link server (all three had an empty
//!   body).
//! - `a_wrong_content_type_answers_415_with_its_own_code`: a JSON route sent `text/plain` answers
//!   415 `unsupported_media_type` (it said `bad_request`).
//! - `a_failed_link_build_does_not_say_to_forward_a_url`: `link create --wait` whose package build
//!   fails prints no URL and no longer tells the user to forward one; it says the link opens
//!   nothing and how to go on.
//! - `output_to_a_full_disk_is_an_error_for_help_too`: `--help`, `--version` and a subcommand's
//!   `--help` written to `/dev/full` exit 1 with `error: writing to standard output` (clap's exit
//!   ignored the failed write: status 0), as a read-only command does; a closed pipe still ends
//!   them quietly with status 0.
//! - `a_stopped_node_is_given_up_on`: a node stopped with SIGSTOP answers nothing; a CLI command
//!   with `--request-timeout 2` (or `CASEMESH_REQUEST_TIMEOUT`) exits 1 within seconds saying the
//!   node did not answer in 2 s and what to do (it waited forever: only the connection had a
//!   bound; the flag was `--timeout`, which clap merged with `share … --wait --timeout`).
//! - `the_request_timeout_does_not_cut_a_share_wait_short`: `share create --wait` and `share
//!   status --wait` with a partner that never answers still wait after 5 s under a 2 s request
//!   timeout (the old global `--timeout` default of 60 s was the wait's limit, and
//!   `--timeout 18446744073709551615` panicked adding it to the clock).
//! - `a_bad_request_timeout_fails_only_client_commands`: `CASEMESH_REQUEST_TIMEOUT=abc` fails a
//!   client command with a message naming the variable, and does not stop `init`.
//! - `dash_is_standard_output_or_refused`: `custody export -o -` prints the document; `evidence
//!   get -o -` and `man -o -` are refused; no file named `-` is made (one was).
//! - `custody_export_refuses_a_device_or_pipe`: `custody export -o /dev/full --force` (and at a
//!   FIFO) is refused as not a regular file, as `evidence get` is (it wrote into the device, and
//!   blocked on the FIFO).
//!
//! Build the binary first: `cargo build -p casemesh`.

use casemesh_api_types::error::ErrorBody;
use casemesh_tests::{
    CaseSummary, TestNode, add_random_evidence, add_user, casemesh, child_output_with_timeout,
    create_case, evidence_list, output_after_reading_one_byte, partner, s, share_create_args,
    signal, timeout, wait_until,
};
use std::io::Read;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use std::time::Instant;

/// Bytes of the regular files under `dir`, recursively (what the node has written so far).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_node_killed_during_an_upload_is_reported() {
    let mut node = TestNode::start("upload-killed");
    node.cli_ok(["case", "create", "--case-id", "KILL-1", "--title", "Upload"]);
    let dir = tempfile::tempdir().unwrap();
    // Sparse: 256 MiB to send, nothing on disk here; the node is killed long before the end.
    let big = dir.path().join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let before = bytes_under(node.data_dir());
    let mut add = casemesh();
    add.arg("--data-dir")
        .arg(node.data_dir())
        .args(["evidence", "add", "KILL-1"])
        .arg(&big)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = add.spawn().expect("spawning casemesh evidence add");
    // Kill once the upload is under way: the node has written some MiB of it.
    wait_until("the upload to start", Duration::from_secs(60), || {
        (bytes_under(node.data_dir()) > before + (8 << 20)).then_some(())
    });
    // Stopped first, the node reads no more: the client fills the socket's buffers and waits
    // to write, as when a node hangs and dies; then `kill -9`. (Killed while reading, it drew
    // a reset the client read first just as often.)
    let pid = node.pid().expect("the node runs").to_string();
    assert!(signal(&pid, "STOP"));
    std::thread::sleep(Duration::from_millis(500));
    node.kill();
    let out = child_output_with_timeout(child, timeout(), "casemesh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "the client was killed by signal {:?} (13 = SIGPIPE: status 141 in a shell, no message); stderr:\n{stderr}",
        out.status.signal()
    );
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("error: request to http://") && stderr.contains("broke off"),
        "no clear error on stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_closed_pipe_does_not_cut_a_change_short() {
    let node = TestNode::start("pipe-change");
    node.cli_ok(["case", "create", "--case-id", "BULK-1", "--title", "Bulk"]);
    let dir = tempfile::tempdir().unwrap();
    let files = 40;
    for i in 0..files {
        std::fs::write(dir.path().join(format!("f{i:03}.txt")), format!("item {i}")).unwrap();
    }
    // One line per file added, as each is added: the reader takes one byte and goes away.
    let mut cmd = casemesh();
    cmd.arg("--data-dir")
        .arg(node.data_dir())
        .args(["evidence", "add", "BULK-1"])
        .arg(dir.path())
        .arg("--recursive");
    let out = output_after_reading_one_byte(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "bulk add into a closed pipe:\n{stderr}"
    );
    assert!(
        stderr.contains("changes were made") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let count = evidence_list(&node, "BULK-1").len();
    assert_eq!(
        count, files,
        "every file is added although the reader went away"
    );

    // A new token into a pipe nobody reads: issued (the old one revoked), and said so.
    let old_token = add_user(&node, "bob", "Bob", &[]);
    let mut cmd = casemesh();
    cmd.arg("--data-dir")
        .arg(node.data_dir())
        .args(["user", "token", "bob", "--yes"])
        .stdout(Stdio::piped());
    let mut child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // closed before anything is written, as `| true` may
    let out = child_output_with_timeout(child, timeout(), "casemesh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "user token into a closed pipe:\n{stderr}"
    );
    assert!(stderr.contains("part of its output was lost"), "{stderr}");
    let revoked = node.cli_as(&old_token, ["case", "list"]);
    assert!(
        !revoked.status.success(),
        "the token was issued: bob's old one is revoked"
    );
}

#[test]
fn a_closed_stderr_changes_neither_the_work_nor_the_status() {
    let node = TestNode::start("stderr-closed");
    let run = |args: &[&str]| {
        let mut cmd = casemesh();
        cmd.arg("--data-dir").arg(node.data_dir()).args(args);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        child_output_with_timeout(child, timeout(), "casemesh")
    };
    // An error message nobody can read: still exit 1, not a panic (101).
    let out = run(&["case", "show", "NOPE"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "case show NOPE with stderr closed"
    );
    // Work that prints notes on stderr still happens, with status 0.
    node.cli_ok(["case", "create", "--case-id", "ERR-1", "--title", "Stderr"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.txt");
    std::fs::write(&file, b"one").unwrap();
    let out = run(&["evidence", "add", "ERR-1", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "evidence add with stderr closed"
    );
    let listed = node.cli_ok(["evidence", "list", "ERR-1"]);
    assert!(listed.contains("one.txt"), "{listed}");
}

#[test]
fn a_node_whose_log_pipe_closed_keeps_serving() {
    let mut node = TestNode::start("log-closed");
    node.cli_ok(["case", "create", "--case-id", "LOG-1", "--title", "Log"]);
    node.stop();
    let addr_file = node.data_dir().join("admin.addr");
    let _ = std::fs::remove_file(&addr_file);
    let mut child = node
        .run_command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the log's reader is gone before the first line
    wait_until("the node to listen again", Duration::from_secs(30), || {
        addr_file.exists().then_some(())
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.txt");
    std::fs::write(&file, b"one").unwrap();
    for _ in 0..3 {
        node.cli_ok(["evidence", "add", "LOG-1", file.to_str().unwrap()]);
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the node is still running"
    );
    assert!(signal(child.id(), "TERM"));
    let out = child_output_with_timeout(child, timeout(), "casemesh");
    assert_eq!(out.status.code(), Some(0), "the node stops cleanly");
}

#[test]
fn a_malformed_upload_is_refused_not_retried() {
    use std::io::Write as _;
    let node = TestNode::start("malformed-upload");
    node.cli_ok([
        "case",
        "create",
        "--case-id",
        "BAD-1",
        "--title",
        "Malformed",
    ]);
    let mut tcp = std::net::TcpStream::connect(node.admin_addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        tcp,
        "POST /v1/cases/BAD-1/evidence?name=x.bin HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n\
         4\r\nabcd\r\nZZZ\r\nmore\r\n0\r\n\r\n",
        node.admin_addr(),
        node.token()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    let status = answer.lines().next().unwrap_or_default();
    assert!(
        status.contains(" 400 "),
        "answer to a malformed chunked body:\n{answer}"
    );
    assert!(answer.contains("bad_request"), "{answer}");
    let listed = node.cli_ok(["evidence", "list", "BAD-1"]);
    assert!(!listed.contains("x.bin"), "nothing is stored: {listed}");
}

#[test]
fn a_broken_off_upload_is_logged_once_as_a_warning() {
    use std::io::Write as _;
    let node = TestNode::start("broken-upload");
    node.cli_ok(["case", "create", "--case-id", "CUT-1", "--title", "Cut"]);
    let mut tcp = std::net::TcpStream::connect(node.admin_addr()).unwrap();
    write!(
        tcp,
        "POST /v1/cases/CUT-1/evidence?name=cut.bin HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {}\r\nContent-Length: 1048576\r\n\r\n",
        node.admin_addr(),
        node.token()
    )
    .unwrap();
    tcp.write_all(&[7u8; 4096]).unwrap();
    drop(tcp); // the client goes away 4 KiB into a 1 MiB upload
    let log = wait_until("the broken-off upload in the log", timeout(), || {
        let log = node.log();
        log.contains("upload interrupted").then_some(log)
    });
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("upload interrupted") || l.contains("ERROR"))
        .collect();
    assert_eq!(lines.len(), 1, "one line, no ERROR:\n{}", lines.join("\n"));
    assert!(lines[0].contains("WARN"), "{}", lines[0]);
    let listed = node.cli_ok(["evidence", "list", "CUT-1"]);
    assert!(!listed.contains("cut.bin"), "nothing is stored: {listed}");
}

#[test]
fn a_wrong_method_answers_with_a_body() {
    let node = TestNode::start("wrong-method");
    let http = node.http();
    // The admin API: GET-only and POST-only routes asked otherwise.
    for (method, path) in [
        (reqwest::Method::DELETE, "/v1/node"),
        (reqwest::Method::GET, "/v1/retention/sweep"),
        (reqwest::Method::PUT, "/healthz"),
    ] {
        let resp = http.request(method.clone(), node.url(path)).send().unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{method} {path}");
        assert!(
            resp.headers().contains_key("allow"),
            "{method} {path}: no Allow header"
        );
        let text = resp.text().unwrap();
        let body: ErrorBody = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not the JSON error body ({e}): {text:?}"));
        assert_eq!(body.error.code, "method_not_allowed", "{method} {path}");
        assert!(body.error.message.contains(path), "{}", body.error.message);
    }
    // The web UI: a form's target asked with GET, a page asked with DELETE.
    for (method, path) in [
        (reqwest::Method::GET, "/ui/sign-out"),
        (reqwest::Method::DELETE, "/ui/cases"),
    ] {
        let resp = node
            .http_anon()
            .request(method.clone(), node.url(path))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{method} {path}");
        let text = resp.text().unwrap();
        assert!(
            text.contains("<html") && text.contains("405"),
            "{method} {path}: not the error page: {text:?}"
        );
    }
    // The public link server.
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://{}/l/abc", node.link_addr()))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let text = resp.text().unwrap();
    assert!(text.contains("Method not allowed"), "{text:?}");
}

#[test]
fn a_wrong_content_type_answers_415_with_its_own_code() {
    let node = TestNode::start("wrong-type");
    let resp = node
        .http()
        .post(node.url("/v1/cases"))
        .header("content-type", "text/plain")
        .body(r#"{"case_number":"T-1","title":"x"}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let text = resp.text().unwrap();
    let body: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(body.error.code, "unsupported_media_type");
    assert!(body.error.message.contains("application/json"), "{text}");
    // Nothing was created.
    let cases: Vec<CaseSummary> = node.cli_typed(["case", "list"]);
    assert!(cases.is_empty(), "{cases:?}");
}

#[test]
fn a_failed_link_build_does_not_say_to_forward_a_url() {
    let node = TestNode::start("link-failed");
    node.cli_ok(["case", "create", "--case-id", "LF-1", "--title", "Link"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.bin");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    node.cli_ok(["evidence", "add", "LF-1", file.to_str().unwrap()]);
    // A blob corrupted on the node's disk fails the package build.
    let blob = node.blob_path(&casemesh_model::ids::BlobHash::of(&bytes));
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    let mut stored = std::fs::read(&blob).unwrap();
    stored[7] ^= 1;
    std::fs::write(&blob, &stored).unwrap();
    let out = node.cli(["link", "create", "LF-1", "--format", "zip", "--wait"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "a URL was printed: {:?}", out.stdout);
    assert!(stderr.contains("build failed"), "{stderr}");
    assert!(
        !stderr.contains("forward the URL"),
        "tells the user to forward a URL it did not print: {stderr}"
    );
    assert!(
        stderr.contains("opens nothing") && stderr.contains("casemesh link revoke"),
        "{stderr}"
    );
}

/// `casemesh ARGS` with stdout on `/dev/full` (every write fails with ENOSPC).
fn to_dev_full(args: &[&str], data_dir: Option<&Path>) -> std::process::Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("opening /dev/full");
    let mut cmd = casemesh();
    if let Some(dir) = data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    let child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning casemesh");
    child_output_with_timeout(child, timeout(), &format!("casemesh {args:?}"))
}

#[test]
fn output_to_a_full_disk_is_an_error_for_help_too() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["-h"],
        &["case", "--help"],
        &["case", "list", "--help"],
        &["help", "case"],
        &["openapi"],
    ] {
        let out = to_dev_full(args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: stderr {stderr}");
        assert!(
            stderr.contains("error: writing to standard output") && stderr.contains("space"),
            "{args:?}: {stderr}"
        );
    }
    // A read-only client command does the same.
    let node = TestNode::start("dev-full");
    node.cli_ok(["case", "create", "--case-id", "F-1", "--title", "Full"]);
    for args in [
        &["case", "list"][..],
        &["status"],
        &["case", "list", "--json"],
    ] {
        let out = to_dev_full(args, Some(node.data_dir()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: stderr {stderr}");
        // `--json` reports it as its JSON error object.
        assert!(
            stderr.contains("error: writing to standard output")
                || stderr.contains(r#""message":"writing to standard output"#),
            "{args:?}: {stderr}"
        );
    }
    // A closed pipe still ends help quietly, with status 0.
    let mut help = casemesh();
    help.arg("--help");
    let out = output_after_reading_one_byte(help);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends SIGCONT to a stopped process when dropped, so a failing assertion never leaves the node
/// stopped (its `TestNode` could not stop it then).
struct Continue(String);

impl Drop for Continue {
    fn drop(&mut self) {
        signal(&self.0, "CONT");
    }
}

#[test]
fn a_stopped_node_is_given_up_on() {
    let node = TestNode::start("stopped-node");
    node.cli_ok(["case", "create", "--case-id", "S-1", "--title", "Stopped"]);
    let pid = node.pid().expect("the node runs").to_string();
    assert!(signal(&pid, "STOP"));
    let resume = Continue(pid);
    let started = Instant::now();
    let mut list = casemesh();
    list.arg("--data-dir")
        .arg(node.data_dir())
        .args(["--request-timeout", "2", "case", "list"]);
    // The kernel still accepts the connection for the stopped process: only a read bound ends it.
    let out = casemesh_tests::output_with_timeout(list, Duration::from_secs(30));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        stderr.contains("did not answer in 2 s")
            && stderr.contains("--request-timeout SECS (or CASEMESH_REQUEST_TIMEOUT"),
        "{stderr}"
    );
    // The same through the environment, with --json: a transport error.
    let mut show = casemesh();
    show.arg("--data-dir")
        .arg(node.data_dir())
        .env("CASEMESH_REQUEST_TIMEOUT", "1")
        .args(["--json", "case", "show", "S-1"]);
    let out = casemesh_tests::output_with_timeout(show, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(r#""kind":"transport""#) && stderr.contains("did not answer in 1 s"),
        "{stderr}"
    );
    drop(resume);
    // Resumed, the node answers again.
    node.cli_ok(["case", "show", "S-1"]);
}

/// Spawn `casemesh --data-dir DIR ARGS` with `env` set, its output piped.
fn spawn_on(node: &TestNode, env: &[(&str, &str)], args: &[&str]) -> std::process::Child {
    let mut cmd = casemesh();
    cmd.arg("--data-dir").arg(node.data_dir()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning casemesh")
}

#[test]
fn the_request_timeout_does_not_cut_a_share_wait_short() {
    let police = TestNode::start("Metro Police");
    let mut prosecutor = TestNode::start("County Prosecutor");
    partner(&police, &prosecutor);
    let case = create_case(&police, "2026-CR-0070");
    let work = tempfile::tempdir().unwrap();
    add_random_evidence(&police, &case, &work.path().join("a.bin"), 1000, 7, &[]);
    // The partner never answers: nothing is delivered, the share stays Processing.
    prosecutor.stop();
    let share: casemesh_tests::ShareView =
        police.cli_typed(share_create_args(&case, "County Prosecutor", &[]));
    let mut create = share_create_args(&case, "County Prosecutor", &[]);
    create.push("--wait");
    let mut with_flag = vec!["--request-timeout", "2"];
    with_flag.extend_from_slice(&create);
    let huge = u64::MAX.to_string();
    let mut children = vec![
        // No --timeout: the wait has no limit, whatever the request timeout.
        (
            "create --wait, env",
            spawn_on(&police, &[("CASEMESH_REQUEST_TIMEOUT", "2")], &create),
        ),
        ("create --wait, flag", spawn_on(&police, &[], &with_flag)),
        // A limit past what the clock holds is no limit (it panicked).
        (
            "status --wait --timeout MAX",
            spawn_on(
                &police,
                &[("CASEMESH_REQUEST_TIMEOUT", "2")],
                &[
                    "share",
                    "status",
                    &share.id.to_string(),
                    "--wait",
                    "--timeout",
                    &huge,
                ],
            ),
        ),
        (
            "create --wait --timeout MAX",
            spawn_on(&police, &[], &{
                let mut a = create.clone();
                a.extend_from_slice(&["--timeout", &huge]);
                a
            }),
        ),
    ];
    std::thread::sleep(Duration::from_secs(5));
    for (what, child) in &mut children {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("{what} ended after 5 s ({status}): {stderr}");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // The wait's own limit still works with a short request timeout.
    let mut limited = create.clone();
    limited.extend_from_slice(&["--timeout", "1"]);
    let child = spawn_on(&police, &[("CASEMESH_REQUEST_TIMEOUT", "30")], &limited);
    let out = child_output_with_timeout(child, timeout(), "share create --wait --timeout 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not complete after 1 s"), "{stderr}");
}

#[test]
fn a_bad_request_timeout_fails_only_client_commands() {
    let node = TestNode::start("bad-timeout");
    let child = spawn_on(
        &node,
        &[("CASEMESH_REQUEST_TIMEOUT", "abc")],
        &["case", "list"],
    );
    let out = child_output_with_timeout(child, timeout(), "case list");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(r#"CASEMESH_REQUEST_TIMEOUT="abc": not a number of seconds"#),
        "{stderr}"
    );
    // The flag wins over the variable.
    let child = spawn_on(
        &node,
        &[("CASEMESH_REQUEST_TIMEOUT", "abc")],
        &["--request-timeout", "5", "case", "list"],
    );
    let out = child_output_with_timeout(child, timeout(), "case list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `init` does not use it, and is not stopped by it.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut init = casemesh();
    init.env("CASEMESH_REQUEST_TIMEOUT", "abc")
        .args(["init", "--data-dir", s(&data), "--org", "Bad Timeout Org"])
        .args(["--admin-addr", "127.0.0.1:0", "--link-addr", "127.0.0.1:0"])
        .args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0"]);
    let out = casemesh_tests::output_with_timeout(init, timeout());
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dash_is_standard_output_or_refused() {
    let node = TestNode::start("dash-output");
    let case = create_case(&node, "D-1");
    let work = tempfile::tempdir().unwrap();
    let ev = add_random_evidence(&node, &case, &work.path().join("a.bin"), 100, 3, &[]);
    let cwd = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = casemesh();
        cmd.current_dir(cwd.path())
            .arg("--data-dir")
            .arg(node.data_dir())
            .args(args);
        casemesh_tests::output_with_timeout(cmd, timeout())
    };
    for flag in ["-o", "--output"] {
        let out = run(&["custody", "export", &case, flag, "-"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(doc.get("@context").is_some(), "{doc}");
        let out = run(&["evidence", "get", &case, &ev.id.to_string(), flag, "-"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{stderr}"
        );
    }
    let out = run(&["man", "-o", "-"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("leave -o out"), "{stderr}");
    assert!(
        !cwd.path().join("-").exists(),
        "no file or directory named `-`"
    );
}

#[test]
fn custody_export_refuses_a_device_or_pipe() {
    let node = TestNode::start("custody-device");
    let case = create_case(&node, "F-1");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for target in [Path::new("/dev/full"), fifo.as_path()] {
        for force in [true, false] {
            let mut args = vec!["custody", "export", &case, "-o", s(target)];
            if force {
                args.push("--force");
            }
            let child = spawn_on(&node, &[], &args);
            let out = child_output_with_timeout(child, timeout(), &format!("{args:?}"));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(
                stderr.contains("is not a regular file"),
                "{args:?}: {stderr}"
            );
        }
    }
}
