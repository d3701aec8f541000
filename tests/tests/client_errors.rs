//! How the `casemesh` client ends when its peers go away (issue #9): SIGPIPE stays ignored for
//! every command, so a write to a dead node's socket is an error the client reports, and a write
//! to a closed stdout ends the command quietly.
//!
//! - `a_node_killed_during_an_upload_is_reported`: `kill -STOP`, then `kill -9` of the node
//!   while `evidence add` streams a large file: the client exits 1 with `error: request to … failed … broke off`
//!   on stderr, not killed by SIGPIPE (status 141 in a shell) without a word.
//! - `a_reader_that_closes_json_output_ends_the_cli_quietly`: `casemesh --json case list |
//!   head -c 1` ends with status 0 (or SIGPIPE) and no panic message on stderr.
//!
//! Build the binary first: `cargo build -p casemesh`.

use casemesh_tests::{TestNode, casemesh, wait_until};
use std::io::Read;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(500));
    node.kill();
    let out = wait_with_timeout(child, Duration::from_secs(60));
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
fn a_reader_that_closes_json_output_ends_the_cli_quietly() {
    let node = TestNode::start("json-pipe");
    let http = node.http();
    // More than a pipe's buffer (64 KiB on Linux) of JSON: the CLI is still writing when the
    // reader goes away.
    let title = "T".repeat(200);
    for i in 0..600 {
        let resp = http
            .post(node.url("/v1/cases"))
            .json(&serde_json::json!({"case_id": format!("PIPE-{i:04}"), "title": title}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().unwrap());
    }
    let mut cmd = casemesh();
    cmd.arg("--data-dir")
        .arg(node.data_dir())
        .args(["--json", "case", "list"]);
    let out = with_stdout_closed_after_one_byte(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "stderr after the reader went away:\n{stderr}"
    );
    assert!(
        out.status.success() || out.status.signal() == Some(13),
        "ended with {} (expected 0 or SIGPIPE):\n{stderr}",
        out.status
    );
}

/// Run `cmd`, read one byte of its stdout and close the pipe, as `cmd | head -c 1` does.
fn with_stdout_closed_after_one_byte(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning casemesh");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut one = [0u8; 1];
    stdout
        .read_exact(&mut one)
        .expect("the command printed something");
    drop(stdout);
    wait_with_timeout(child, Duration::from_secs(60))
}

/// Wait for `child` (stdout and stderr piped), killing it after `limit`.
fn wait_with_timeout(child: std::process::Child, limit: Duration) -> Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("waiting for casemesh"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("casemesh (pid {id}) did not end within {limit:?}");
        }
    }
}
