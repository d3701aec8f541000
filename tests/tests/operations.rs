//! Operator conventions (issue #16 item 1): what an agency's IT expects of a service on its
//! hosts, checked against real `casemesh run` processes.
//!
//! - `/metrics` is OpenMetrics text that the Prometheus project's own parser (Python's
//!   `prometheus_client`, installed by scripts/test) accepts, and its figures move with the work
//!   the node does (evidence added, a share to a partner, HTTP requests);
//! - `/readyz` answers 200 naming every part it checked (a failing part's 503 is unit-tested in
//!   `casemesh_service::readiness`, as no outside action stalls the net actor on purpose);
//! - systemd's `Type=notify`: with `NOTIFY_SOCKET` pointing at a datagram socket the test binds,
//!   the node sends `READY=1`, `WATCHDOG=1` pings when `WATCHDOG_USEC` asks for them, and
//!   `STOPPING=1` on SIGTERM;
//! - CLI output escapes control characters in what it prints (`case list`, `case show`);
//! - settings written back into `config.toml` keep the operator's comments, and the file is
//!   0600 when it holds a secret.

use casemesh_tests::{
    Ready, SettingsView, TestNode, add_random_evidence, casemesh, create_case, output_with_timeout,
    partner, response_header, share_case, timeout, wait_share_complete, wait_until,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Parse `text` with Python's `prometheus_client` OpenMetrics parser (strict: it rejects a
/// malformed line, a missing `# EOF`, a counter sample without `_total`, …) and return every
/// sample as `name{label="value",…}` (labels sorted) → value.
fn parse_openmetrics(text: &str) -> BTreeMap<String, f64> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(sample.labels.items()))
        out[sample.name + ("{" + labels + "}" if labels else "")] = sample.value
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("python3's stdin")
        .write_all(text.as_bytes())
        .expect("writing to python3");
    let out = child.wait_with_output().expect("python3 ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "Python's prometheus_client is missing: run scripts/test (it installs it) or \
         `pip install prometheus-client`\n{stderr}"
    );
    assert!(
        out.status.success(),
        "prometheus_client refused the metrics:\n{stderr}\n--- text ---\n{text}"
    );
    serde_json::from_slice(&out.stdout).expect("the parser's JSON")
}

/// `GET /metrics` without a token: the content type and the parsed samples.
fn scrape(node: &TestNode) -> BTreeMap<String, f64> {
    let resp = node
        .http_anon()
        .get(node.url("/metrics"))
        .send()
        .expect("GET /metrics");
    assert_eq!(resp.status().as_u16(), 200, "GET /metrics");
    let content_type = response_header(&resp, "content-type");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    parse_openmetrics(&resp.text().expect("the metrics text"))
}

fn sample(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {samples:#?}"))
}

#[test]
fn metrics_parse_as_openmetrics_and_move_with_the_work() {
    let nodes = TestNode::start_many(&["metro-pd", "county-da"]);
    let (a, b) = (&nodes[0], &nodes[1]);
    partner(a, b);
    let b_peer = b.org_id().to_owned();

    let before = scrape(a);
    assert_eq!(sample(&before, "casemesh_partners"), 1.0);
    assert_eq!(
        sample(&before, "casemesh_shares_outgoing{status=\"complete\"}"),
        0.0
    );
    assert_eq!(sample(&before, "casemesh_cases{origin=\"local\"}"), 0.0);
    let blob_bytes = sample(&before, "casemesh_store_blob_bytes");
    assert!(sample(&before, "casemesh_store_free_bytes") > 0.0);

    let case = create_case(a, "2026-OPS-1");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cctv.bin");
    add_random_evidence(a, &case, &file, 300_000, 16, &[]);
    let share = share_case(a, &case, "county-da", &[]);
    wait_share_complete(a, &share.id.to_string(), timeout());

    let after = scrape(a);
    assert_eq!(sample(&after, "casemesh_cases{origin=\"local\"}"), 1.0);
    assert!(
        sample(&after, "casemesh_store_blob_bytes") >= blob_bytes + 300_000.0,
        "blob bytes did not grow: {after:#?}"
    );
    assert_eq!(
        sample(&after, "casemesh_shares_outgoing{status=\"complete\"}"),
        1.0
    );
    let partner_label = format!("{{partner=\"{b_peer}\"}}");
    assert!(
        sample(
            &after,
            &format!("casemesh_p2p_sent_bytes_total{partner_label}")
        ) >= 300_000.0,
        "{after:#?}"
    );
    assert_eq!(
        sample(&after, &format!("casemesh_outbox_messages{partner_label}")),
        0.0
    );
    assert_eq!(
        sample(
            &after,
            &format!("casemesh_partner_connected{partner_label}")
        ),
        1.0
    );
    // HTTP: counted by route template, never by the concrete path.
    let uploads = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with("casemesh_http_requests_total{")
                && k.contains("route=\"/v1/cases/{case}/evidence\"")
                && k.contains("method=\"POST\"")
                && (k.contains("status=\"201\"") || k.contains("status=\"200\""))
        })
        .map(|(_, v)| *v)
        .sum::<f64>();
    assert_eq!(uploads, 1.0, "{after:#?}");
    assert!(
        !after.keys().any(|k| k.contains(&case)),
        "a case id leaked into a label"
    );
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("casemesh_http_request_duration_seconds_bucket{")),
        "{after:#?}"
    );
    // The receiver counts what it got.
    let at_b = scrape(b);
    assert!(
        sample(
            &at_b,
            &format!(
                "casemesh_p2p_received_bytes_total{{partner=\"{}\"}}",
                a.org_id()
            )
        ) >= 300_000.0
    );
    assert!(sample(&at_b, "casemesh_cases{origin=\"received\"}") >= 0.0);
}

#[test]
fn readyz_names_every_part_and_healthz_stays_liveness() {
    let node = TestNode::start("ready");
    let resp = node.http_anon().get(node.url("/readyz")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Ready = resp.json().unwrap();
    assert_eq!(v.status, "ok", "{v:?}");
    assert!(v.failing.is_empty(), "{v:?}");
    let parts: Vec<&str> = v
        .parts
        .iter()
        .map(|p| {
            assert!(p.ok, "{p:?}");
            p.part.as_str()
        })
        .collect();
    assert_eq!(parts, ["store", "sharing", "net", "blobs"]);
    let health = node.http_anon().get(node.url("/healthz")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn systemd_hears_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut node = TestNode::builder("systemd")
        .env("NOTIFY_SOCKET", &path)
        // 400 ms: a ping every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .start();
    let mut heard = String::new();
    let receive = |heard: &mut String| {
        let mut buf = [0u8; 4096];
        if let Ok(n) = socket.recv(&mut buf) {
            heard.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    wait_until("READY=1 and WATCHDOG=1 from the node", timeout(), || {
        receive(&mut heard);
        (heard.contains("READY=1\n") && heard.contains("WATCHDOG=1\n")).then_some(())
    });
    // READY=1 is sent once the listeners are bound: the admin endpoint answers by now.
    assert!(heard.find("READY=1").unwrap() < heard.find("WATCHDOG=1").unwrap());
    assert!(heard.contains("STATUS=admin 127.0.0.1:"), "{heard}");
    node.stop();
    let mut rest = String::new();
    for _ in 0..25 {
        receive(&mut rest);
        if rest.contains("STOPPING=1") {
            break;
        }
    }
    assert!(
        rest.contains("STOPPING=1\n"),
        "no STOPPING=1 after SIGTERM: {rest:?}"
    );
}

/// A stand-in for the admin API that answers `GET /v1/cases` and `GET /v1/cases/{id}` with
/// `list` and `case`: the printing is the CLI's, whatever a node (or its partners) let in, so
/// the hostile strings need not pass a node's validation first.
fn fake_admin_api(list: Value, case: Value) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            let (status, body) = match path {
                "/v1/cases" => ("200 OK", list.to_string()),
                p if p.starts_with("/v1/cases/") => ("200 OK", case.to_string()),
                _ => (
                    "404 Not Found",
                    r#"{"error":{"code":"not_found","message":"no such route"}}"#.to_owned(),
                ),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn titles_with_escape_sequences_print_escaped() {
    // Window title (OSC 0), colour (CSI), clipboard (OSC 52), a C1 CSI, and a CR/LF that would
    // forge a line of output.
    let title = "Burglary\u{1b}]0;pwned\u{7}\u{1b}[31m RED\u{1b}]52;c;ZXZpbA==\u{7}\r\n\
                 2026-CR-9999  FORGED\u{9b}2J";
    let case = serde_json::json!({
        "id": "0b8c7a4e-0000-4000-8000-000000000001",
        "case_id": "2026-CR-0042\r\nX",
        "title": title,
        "description": "line one\nline two\u{1b}[2J",
        "owner": "admin",
        "created_at": "2026-11-23T08:41:02.987Z",
        "evidence_count": 0,
        "external": false,
        "origin": {"kind": "local"},
        "retention": {"kind": "until_manually_deleted"},
        "retention_text": "Until Manually Deleted",
        "folders": [],
        "evidence": [],
    });
    let base = fake_admin_api(serde_json::json!([case.clone()]), case);
    for args in [&["case", "list"][..], &["case", "show", "2026-CR-0042"]] {
        let mut cmd = casemesh();
        cmd.args(["--node", &base, "--token", "t"]).args(args);
        let out = output_with_timeout(cmd, timeout());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !stdout
                .chars()
                .any(|c| c != '\n' && (c.is_control() || c == '\u{9b}')),
            "{args:?} printed a control character: {stdout:?}"
        );
        assert!(
            stdout.contains(
                "Burglary\\x1b]0;pwned\\x07\\x1b[31m RED\\x1b]52;c;ZXZpbA==\\x07\\r\\n\
                 2026-CR-9999  FORGED\\u{9b}2J"
            ),
            "{args:?}: {stdout}"
        );
        assert!(stdout.contains("2026-CR-0042\\r\\nX"), "{args:?}: {stdout}");
        assert!(
            !stdout.lines().any(|l| l.starts_with("2026-CR-9999")),
            "{args:?}: a forged line: {stdout}"
        );
    }
}

#[test]
fn settings_written_back_keep_comments_and_a_secret_file_is_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut node = TestNode::builder("write-back")
        .config_append(
            "# Relay for share notices; ticket OPS-7 (ask the mail team before changing)\n\
             [smtp]\n\
             host = \"127.0.0.1\"\n\
             port = 2525   # the local relay\n\
             from = \"casemesh@metro.example\"\n\
             security = \"none\"\n\
             username = \"casemesh\"\n\
             password = \"s3cret\"\n",
        )
        .start();
    let path = node.data_dir().join("config.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    node.cli_ok(["settings", "set", "--auto-import", "off"]);
    let text = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# Relay for share notices; ticket OPS-7 (ask the mail team before changing)",
        "port = 2525   # the local relay",
        "password = \"s3cret\"",
    ] {
        assert!(text.contains(kept), "{kept:?} lost in\n{text}");
    }
    assert!(text.contains("auto_import = false"), "{text}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "config.toml holds the SMTP password");
    // The node starts again from the file it wrote, with the setting changed.
    node.restart();
    let settings: SettingsView = node.cli_typed(["settings", "show"]);
    assert!(!settings.auto_import, "{settings:?}");
}
