//! Log lines no user or partner string can forge (issue #16 item 3): a real node whose
//! organization name holds CR/LF, an OSC window-title sequence, BEL and a C1 CSI logs it, in
//! the human and the JSON format, as one line of inert text.
//!
//! The name comes from the config file (`[org] name`, written by hand: `init` and every API
//! validate names), and the node logs it at start-up (`casemesh node running org=…`). The
//! escaping is done once in the subscriber (`node/src/log_escape.rs`), so the same holds for
//! case numbers, titles, partner names and reasons from any call site.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use std::fs;
use std::time::{Duration, Instant};

use casemesh_tests::TestNode;

/// A TOML basic string: `Org` CR LF `FAKE LINE level=ERROR` ESC `]0;x` BEL, C1 CSI `31m`.
const FORGED_TOML: &str = r#""Org\r\nFAKE LINE level=ERROR \u001B]0;x\u0007 \u009B31m""#;

/// The log written since the last `=== casemesh run` marker, once the node said it runs.
fn log_after_restart(node: &TestNode) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = node.log();
        let last = log
            .rsplit("=== casemesh run")
            .next()
            .unwrap_or("")
            .to_string();
        if last.contains("casemesh node running") {
            return last;
        }
        assert!(Instant::now() < deadline, "no start-up line:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn restart_with(node: &mut TestNode, format: &str) -> String {
    node.stop();
    let config = node.data_dir().join("config.toml");
    let text = fs::read_to_string(&config).unwrap();
    let mut out = String::new();
    let mut section = "";
    for line in text.lines() {
        if line.starts_with('[') {
            section = line;
        }
        if section == "[org]" && line.starts_with("name =") {
            out.push_str(&format!("name = {FORGED_TOML}\n"));
        } else if section == "[log]" && line.starts_with("format =") {
            out.push_str(&format!("format = \"{format}\"\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    fs::write(&config, out).unwrap();
    node.start_again();
    log_after_restart(node)
}

fn assert_inert(log: &str) {
    for line in log.lines() {
        assert!(
            !line.trim_start().starts_with("FAKE LINE"),
            "a forged line:\n{log}"
        );
    }
    for c in ['\u{1b}', '\u{7}', '\r', '\u{9b}'] {
        assert!(!log.contains(c), "raw {c:?} in the log:\n{log:?}");
    }
}

#[test]
fn control_characters_in_logged_values_are_escaped_in_both_formats() {
    let mut node = TestNode::start("logesc");

    let human = restart_with(&mut node, "human");
    assert_inert(&human);
    let line = human
        .lines()
        .find(|l| l.contains("casemesh node running"))
        .unwrap();
    assert!(
        line.contains(r"Org\r\nFAKE LINE level=ERROR \x1b]0;x\x07 \u{9b}31m"),
        "{line}"
    );

    let json = restart_with(&mut node, "json");
    assert_inert(&json);
    let line = json
        .lines()
        .find(|l| l.contains("casemesh node running"))
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
    assert_eq!(
        value["fields"]["org"], "Org\r\nFAKE LINE level=ERROR \u{1b}]0;x\u{7} \u{9b}31m",
        "the JSON value decodes to the very name"
    );
    node.stop();
}
