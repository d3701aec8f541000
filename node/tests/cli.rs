//! Smoke tests of the `casemesh` binary itself. Besides checking the entry points, this file makes
//! `cargo test --workspace` build the binary that the multi-process tests in `tests/` start.

use std::process::Command;

fn casemesh() -> Command {
    Command::new(env!("CARGO_BIN_EXE_casemesh"))
}

#[test]
fn version_and_help_list_the_commands() {
    let out = casemesh().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("casemesh "));
    let help = casemesh().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for cmd in [
        "init", "run", "case", "evidence", "audit", "partner", "peers", "share", "link", "verify",
        "id",
    ] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
}

#[test]
fn init_refuses_an_initialized_directory_and_prints_the_org_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let first = casemesh()
        .args([
            "init",
            "--org",
            "Metro PD",
            "--admin-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let org_id = String::from_utf8_lossy(&first.stdout).trim().to_owned();
    assert!(org_id.starts_with("12D3KooW"), "org id {org_id:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data.join("identity.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "identity key must be private");
    let again = casemesh()
        .args(["init", "--org", "Other", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialized"));
}

#[test]
fn run_without_a_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = casemesh()
        .args(["run", "--data-dir"])
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("casemesh init"));
}

#[test]
fn openapi_command_prints_the_document() {
    let out = casemesh().arg("openapi").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"]["/v1/cases"].is_object());
}

/// `casemesh … | head -1`: when the reader closes the pipe, the CLI ends quietly (killed by
/// SIGPIPE, as Unix tools are) instead of panicking with a backtrace. Found by attack.
#[test]
fn a_closed_stdout_pipe_ends_the_cli_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = casemesh()
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe while the CLI still has most of the document to write.
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
