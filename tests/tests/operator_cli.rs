//! Operator conventions of the `casemesh` binary (issue #16, item 1): the OpenAPI document is
//! valid for a standard validator and served on the admin listener, shell completions and man
//! pages come from the clap definitions, `--json` errors are one JSON object on stderr, and a
//! reader that closes the pipe (`casemesh … | head -1`) ends the CLI quietly.
//!
//! Build the binary first: `cargo build -p casemesh`. The validator test needs Python's
//! `openapi-spec-validator` (`scripts/test` installs it).

use casemesh_api_types::{CliError, CliErrorBody, CliErrorKind};
use casemesh_tests::{
    TestNode, casemesh, casemesh_ok, output_after_reading_one_byte, output_with_timeout,
    response_header, s, timeout,
};
use serde_json::Value;
use std::process::{Command, Output};

/// Exit status 0, or killed by SIGPIPE (141 in a shell), and no panic message.
fn assert_quiet_end(what: &str, out: &Output) {
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{what}: stderr after the reader went away:\n{stderr}"
    );
    assert!(
        out.status.success() || out.status.signal() == Some(13),
        "{what}: ended with {} (expected 0 or SIGPIPE):\n{stderr}",
        out.status
    );
}

/// The single JSON object a failed `--json` command writes to stderr, read as the CLI's type.
fn json_error(stderr: &str) -> CliError {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one JSON line on stderr, got:\n{stderr}"
    );
    let v: CliErrorBody = serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("stderr is not the CLI's error line ({e}):\n{stderr}"));
    assert!(!v.error.message.is_empty(), "no error.message in {stderr}");
    v.error
}

/// The document passes Python's `openapi-spec-validator` (the reproduction: 8 errors,
/// operation ids `list`, `create`, `show`, `edit` used by several operations).
#[test]
fn openapi_document_passes_the_openapi_spec_validator() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, casemesh_ok(&["openapi"])).unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "openapi_spec_validator"]).arg(&file);
    let out = output_with_timeout(cmd, timeout());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("No module named"),
        "Python's openapi-spec-validator is missing: run scripts/test (it installs it) or \
         `pip install openapi-spec-validator`\n{text}"
    );
    assert!(out.status.success(), "openapi-spec-validator:\n{text}");
    assert!(text.contains("OK"), "{text}");
}

/// `GET /openapi.json` on the admin listener answers without a token, with the same document as
/// `casemesh openapi`.
#[test]
fn openapi_document_is_served_on_the_admin_listener() {
    let node = TestNode::start("operator");
    let resp = node
        .http_anon()
        .get(node.url("/openapi.json"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = response_header(&resp, "content-type");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let served: Value = resp.json().unwrap();
    let printed: Value = serde_json::from_str(&casemesh_ok(&["openapi"])).unwrap();
    assert_eq!(served, printed);
    assert_eq!(
        served["paths"]["/v1/cases"]["get"]["operationId"], "list_cases",
        "operation ids name what they do"
    );
    assert_eq!(
        served["paths"]["/v1/cases/{case}/shares"]["post"]["operationId"],
        "create_share"
    );
}

/// `casemesh openapi | head -1`, `casemesh case list | head -1` (text and `--json`) and
/// `casemesh man | head -1` end quietly when the reader goes away.
#[test]
fn a_reader_that_closes_the_pipe_ends_the_cli_quietly() {
    let node = TestNode::start("pipes");
    let http = node.http();
    // Enough cases that the list is far larger than a pipe's buffer (64 KiB on Linux): the CLI
    // is still writing when the reader goes away.
    let title = "T".repeat(120);
    for i in 0..800 {
        let resp = http
            .post(node.url("/v1/cases"))
            .json(&serde_json::json!({"case_id": format!("PIPE-{i:04}"), "title": title}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().unwrap());
    }
    let listed = node.cli_ok(["case", "list"]);
    assert!(
        listed.len() > 96 << 10,
        "list is only {} bytes",
        listed.len()
    );

    for args in [
        &["case", "list"][..],
        &["--json", "case", "list"],
        &["openapi"],
        &["man"],
        &["completions", "bash"],
    ] {
        let mut cmd = casemesh();
        cmd.arg("--data-dir").arg(node.data_dir()).args(args);
        let out = output_after_reading_one_byte(cmd);
        assert_quiet_end(&format!("casemesh {}", args.join(" ")), &out);
    }
}

/// `casemesh completions SHELL` for every shell clap_complete knows, generated from the clap
/// definitions: they name the subcommands, and the bash script parses.
#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = casemesh_ok(&["completions", shell]);
        for word in ["evidence", "partner", "received", "data-dir"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bash = dir.path().join("casemesh.bash");
    std::fs::write(&bash, casemesh_ok(&["completions", "bash"])).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg("-n").arg(&bash);
    let out = output_with_timeout(cmd, timeout());
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = casemesh();
    cmd.args(["completions", "tcsh"]);
    assert!(!output_with_timeout(cmd, timeout()).status.success());
}

/// `casemesh man` is a roff page that `man`/groff read without warnings; `-o DIR` writes one page
/// per command and subcommand.
#[test]
fn man_pages_are_generated_from_the_clap_definitions() {
    let page = casemesh_ok(&["man"]);
    assert!(
        page.lines().any(|l| l.starts_with(".TH casemesh 1")),
        "no .TH line:\n{}",
        &page[..page.len().min(400)]
    );
    for word in ["SYNOPSIS", "evidence", "completions"] {
        assert!(page.contains(word), "the man page lacks {word}");
    }
    if which("groff") {
        // -ww: every warning; -z: parse and discard the output.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("casemesh.1");
        std::fs::write(&file, &page).unwrap();
        let mut cmd = Command::new("groff");
        cmd.args(["-man", "-Tutf8", "-ww", "-z"]).arg(&file);
        let out = output_with_timeout(cmd, timeout());
        assert!(out.status.success(), "groff failed");
        assert!(
            out.stderr.is_empty(),
            "groff warns:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if which("man") {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("casemesh.1");
        std::fs::write(&file, &page).unwrap();
        let mut cmd = Command::new("man");
        cmd.arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat");
        let out = output_with_timeout(cmd, timeout());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("SYNOPSIS"), "{text}");
    }

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let listed = casemesh_ok(&["man", "-o", s(&pages)]);
    for name in [
        "casemesh.1",
        "casemesh-case.1",
        "casemesh-case-list.1",
        "casemesh-man.1",
    ] {
        let file = pages.join(name);
        assert!(file.is_file(), "{name} not written; listed:\n{listed}");
        assert!(listed.contains(name), "{name} not listed:\n{listed}");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(".TH "), "{name} has no .TH");
    }
}

/// With `--json`, a failure is one JSON object on stderr and a non-zero exit: the node's answer
/// (HTTP status and error code), an unreachable node, a bad command line, a local failure.
/// Without `--json` the message stays `error: …`.
#[test]
fn json_errors_are_one_object_on_stderr() {
    let node = TestNode::start("errors");

    let (stderr, code) = node.cli_fail(["--json", "case", "show", "NO-SUCH-CASE"]);
    assert_eq!(code, 1);
    let v = json_error(&stderr);
    assert_eq!(
        (v.kind, v.status, v.code.as_deref()),
        (CliErrorKind::Api, Some(404), Some("not_found")),
        "{v:?}"
    );

    let (stderr, _) = node.cli_fail_as("not-a-token", ["--json", "case", "list"]);
    let v = json_error(&stderr);
    assert_eq!((v.kind, v.status), (CliErrorKind::Api, Some(401)), "{v:?}");

    let (stderr, code) = node.cli_fail(["case", "show", "NO-SUCH-CASE"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(serde_json::from_str::<Value>(stderr.trim()).is_err());

    // A port nothing listens on: bind one, then let it go.
    let port = casemesh_tests::free_port();
    let mut cmd = casemesh();
    cmd.args(["--json", "--token", "t", "--node"])
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["case", "list"]);
    let out = output_with_timeout(cmd, timeout());
    assert!(!out.status.success());
    let v = json_error(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        (v.kind, v.status),
        (CliErrorKind::Unreachable, None),
        "{v:?}"
    );

    let mut cmd = casemesh();
    cmd.args(["--json", "case", "no-such-subcommand"]);
    let out = output_with_timeout(cmd, timeout());
    assert_eq!(out.status.code(), Some(2));
    let v = json_error(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(v.kind, CliErrorKind::Usage, "{v:?}");

    let dir = tempfile::tempdir().unwrap();
    let mut cmd = casemesh();
    cmd.args(["verify", "--json"])
        .arg(dir.path().join("missing.zip"));
    let out = output_with_timeout(cmd, timeout());
    assert_eq!(out.status.code(), Some(1));
    let v = json_error(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(v.kind, CliErrorKind::Failed, "{v:?}");
    assert!(v.message.contains("missing.zip"), "{v:?}");
}

/// With `--json`, stderr holds only the error line, even for commands that print progress or
/// notes there otherwise: a `share create --wait` that times out while its partner is down
/// printed its progress lines before the JSON (a newcomer's attack on issue #9).
#[test]
fn json_mode_keeps_stderr_to_the_error_line() {
    let mut nodes = TestNode::start_many(&["json-sharer", "json-partner"]);
    casemesh_tests::partner(&nodes[0], &nodes[1]);
    nodes[1].stop();
    let a = &nodes[0];
    let share = |case: &'static str, json: bool| {
        a.cli_ok(["case", "create", "--case-id", case, "--title", "Progress"]);
        let mut args = vec![
            "share",
            "create",
            case,
            "--partner",
            "json-partner",
            "--to",
            "user:admin",
            "--wait",
            "--timeout",
            "2",
        ];
        if json {
            args.insert(0, "--json");
        }
        a.cli_fail(args)
    };
    // Without --json: the progress line, then the error.
    let (stderr, code) = share("J-1", false);
    assert_eq!(code, 1);
    assert!(stderr.contains("is not connected"), "{stderr}");
    let (stderr, code) = share("J-2", true);
    assert_eq!(code, 1);
    let v = json_error(&stderr);
    assert_eq!(v.kind, CliErrorKind::Failed, "{v:?}");
    assert!(v.message.contains("is not complete after 2 s"), "{v:?}");
}

/// Whether `program` is on PATH.
fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
