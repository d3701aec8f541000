//! The mail queue never lets one notification block the others (issue #10, item 6 and failing
//! input 5): a deferred address (`451`) is retried on its own with backoff while the others go out,
//! an address the relay cannot take (non-ASCII without SMTPUTF8) is recorded as failed and dropped,
//! retrying stops after `give_up_after_secs`, and a relay that is down loses nothing.
//!
//! Each test runs a sharer and a receiver whose `[smtp]` points at a real SMTP server (aiosmtpd)
//! with short retry delays; the receiver notifies each recipient address of a share by email.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    SHARING_LOG, ShareView, SmtpServer, TestNode, add_random_evidence, create_case, free_port,
    header, partner, smtp_config, wait_copy, wait_until,
};
use std::fs;
use std::path::Path;
use std::time::Duration;

/// How long shares and notifications get to arrive.
const LIMIT: Duration = Duration::from_secs(30);

/// Retries after 1 s, then 2 s (plus jitter), so a test sees several within seconds.
const FAST_RETRIES: &str = "retry_initial_secs = 1\nretry_max_secs = 2\n";

/// The log line of a notification that left the queue undelivered.
const DROPPED: &str = "recorded as mail_failed and dropped";

/// A sharer and a receiver (`county-da`) whose mail goes to 127.0.0.1:`port`, partnered.
/// `smtp_extra` is appended to the receiver's `[smtp]` table.
fn mail_nodes(port: u16, smtp_extra: &str) -> (TestNode, TestNode) {
    let a = TestNode::start("metro-pd");
    let b = TestNode::builder("county-da")
        .env("RUST_LOG", SHARING_LOG)
        .config_append(format!("{}{smtp_extra}", smtp_config(port)))
        .start();
    partner(&a, &b);
    (a, b)
}

/// Share a new case `case_id` (one evidence item) with `county-da`, naming each address as an
/// `email:` recipient; returns once the receiver has the copy (its notifications are queued).
/// Each address is a user of the receiving organization (a partner's `email:` recipient is only
/// mailed when a local user has it, issue #12).
fn share_to(a: &TestNode, b: &TestNode, case_id: &str, addresses: &[&str]) {
    for addr in addresses {
        let name: String = addr
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        // Already there from an earlier share of the same test: fine.
        let _ = b.cli(["user", "add", &name, "--full-name", &name, "--email", addr]);
    }
    let work = tempfile::tempdir().unwrap();
    let case = create_case(a, case_id);
    let file = work.path().join("evidence.bin");
    add_random_evidence(a, &case, &file, 3000, case_id.len() as u64, &[]);
    let mut args = vec!["share", "create", &case, "--partner", "county-da"];
    let to: Vec<String> = addresses.iter().map(|a| format!("email:{a}")).collect();
    for t in &to {
        args.extend(["--to", t]);
    }
    let share: ShareView = a.cli_typed(&args);
    wait_copy(b, &share.id.to_string(), 1, LIMIT);
}

/// The envelope recipient of each delivered message (lowercase), with its subject.
fn delivered(server: &SmtpServer) -> Vec<(String, String)> {
    server
        .messages()
        .iter()
        .map(|m| {
            (
                header(m, "X-RcptTo").unwrap_or_default().to_lowercase(),
                header(m, "Subject").unwrap_or_default(),
            )
        })
        .collect()
}

fn delivered_to(server: &SmtpServer, address: &str) -> usize {
    delivered(server)
        .iter()
        .filter(|(to, _)| to == address)
        .count()
}

/// Write a Python module `name`.py with an aiosmtpd handler class into `dir` and start the server
/// with `name.<class>`.
fn start_custom(port: u16, dir: &Path, name: &str, class: &str, code: &str) -> SmtpServer {
    fs::write(dir.join(format!("{name}.py")), code).unwrap();
    SmtpServer::start_with(
        port,
        &dir.join("Maildir"),
        &format!("{name}.{class}"),
        Some(dir),
    )
}

/// Lines of the receiver's log that contain every one of `needles`.
fn log_lines(node: &TestNode, needles: &[&str]) -> Vec<String> {
    node.log()
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
        .collect()
}

/// Refuses `busy@…` with a temporary `451` for its first three tries, then accepts it.
const GREYLIST: &str = r#"
from aiosmtpd.handlers import Mailbox

class Greylist(Mailbox):
    refused = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("busy@") and Greylist.refused < 3:
            Greylist.refused += 1
            return "451 4.3.0 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

#[test]
/// `busy@` sorts first in the queue; its `451` must not hold back the two good addresses, and it
/// is delivered itself once the relay takes it (after three deferrals, a few seconds of backoff).
fn a_deferred_address_is_retried_alone_while_the_others_go_out() {
    let port = free_port();
    let mail = tempfile::tempdir().unwrap();
    let server = start_custom(port, mail.path(), "greylist", "Greylist", GREYLIST);
    let (a, b) = mail_nodes(port, FAST_RETRIES);
    share_to(
        &a,
        &b,
        "GREY-1",
        &[
            "busy@county.example",
            "dana@county.example",
            "records@county.example",
        ],
    );

    wait_until("the two good addresses' notifications", LIMIT, || {
        (delivered_to(&server, "dana@county.example") == 1
            && delivered_to(&server, "records@county.example") == 1)
            .then_some(())
    });
    assert_eq!(
        delivered_to(&server, "busy@county.example"),
        0,
        "the good addresses went out while busy@ was still deferred: {:?}",
        delivered(&server)
    );

    wait_until("busy@'s notification after its retries", LIMIT, || {
        (delivered_to(&server, "busy@county.example") == 1).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let all = delivered(&server);
    assert_eq!(all.len(), 3, "one notification per address: {all:?}");
    assert!(all.iter().all(|(_, subject)| subject.contains("GREY-1")));
    let deferrals = log_lines(&b, &["deferred a notification", "busy@county.example"]);
    assert_eq!(
        deferrals.len(),
        3,
        "three 451s, three retries: {deferrals:#?}"
    );
    assert!(
        log_lines(&b, &[DROPPED]).is_empty(),
        "nothing was dropped:\n{}",
        b.log_tail(40)
    );
}

#[test]
/// `jürgen@` (a non-ASCII local part) cannot go through a relay without SMTPUTF8; it sorts before
/// `records@`, which must still arrive. The refused one is recorded as failed, not retried.
fn an_address_the_relay_cannot_take_is_recorded_and_dropped() {
    let port = free_port();
    let mail = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(port, &mail.path().join("Maildir"));
    let (a, b) = mail_nodes(port, FAST_RETRIES);
    share_to(
        &a,
        &b,
        "UTF-1",
        &[
            "dana@county.example",
            "jürgen@county.example",
            "records@county.example",
        ],
    );

    wait_until("the two ASCII addresses' notifications", LIMIT, || {
        (delivered_to(&server, "dana@county.example") == 1
            && delivered_to(&server, "records@county.example") == 1)
            .then_some(())
    });
    let dropped = wait_until(
        "jürgen@'s notification to be recorded as failed",
        LIMIT,
        || {
            let lines = log_lines(&b, &[DROPPED, "jürgen@county.example"]);
            (!lines.is_empty()).then_some(lines)
        },
    );
    assert!(
        dropped[0].contains("SMTPUTF8"),
        "the reason names the missing extension: {dropped:?}"
    );
    // Dropped for good: no retry follows.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(log_lines(&b, &[DROPPED, "jürgen@county.example"]).len(), 1);
    assert!(log_lines(&b, &["deferred a notification"]).is_empty());
    assert_eq!(delivered(&server).len(), 2, "{:?}", delivered(&server));
}

/// Always defers `busy@…`.
const ALWAYS_BUSY: &str = r#"
from aiosmtpd.handlers import Mailbox

class AlwaysBusy(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("busy@"):
            return "451 4.3.0 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

#[test]
/// A relay that defers `busy@` forever: the others arrive, and once `give_up_after_secs` has
/// passed since its first deferral, busy@'s notification is recorded as failed and leaves the queue.
fn a_message_deferred_too_long_is_given_up() {
    let port = free_port();
    let mail = tempfile::tempdir().unwrap();
    let server = start_custom(port, mail.path(), "always_busy", "AlwaysBusy", ALWAYS_BUSY);
    let (a, b) = mail_nodes(port, &format!("{FAST_RETRIES}give_up_after_secs = 4\n"));
    share_to(
        &a,
        &b,
        "GIVEUP-1",
        &[
            "busy@county.example",
            "dana@county.example",
            "records@county.example",
        ],
    );
    wait_until("the two good addresses' notifications", LIMIT, || {
        (delivered_to(&server, "dana@county.example") == 1
            && delivered_to(&server, "records@county.example") == 1)
            .then_some(())
    });
    let dropped = wait_until("busy@ to be given up", LIMIT, || {
        let lines = log_lines(&b, &[DROPPED, "busy@county.example"]);
        (!lines.is_empty()).then_some(lines)
    });
    assert!(dropped[0].contains("still deferred"), "{dropped:?}");
    let retries = log_lines(&b, &["deferred a notification", "busy@county.example"]).len();
    assert!(
        retries >= 2,
        "retried at least twice within 4 s before giving up: {retries}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        log_lines(&b, &["deferred a notification", "busy@county.example"]).len(),
        retries,
        "no retry after giving up"
    );
    assert_eq!(delivered_to(&server, "busy@county.example"), 0);
}

#[test]
/// The relay is down while two shares notify three addresses each: the node backs off (it does
/// not hammer the relay, and no message is charged or dropped), then delivers all six once the
/// relay is up.
fn nothing_is_lost_while_the_relay_is_down() {
    let port = free_port();
    let (a, b) = mail_nodes(port, FAST_RETRIES);
    let addresses = [
        "busy@county.example",
        "dana@county.example",
        "records@county.example",
    ];
    share_to(&a, &b, "DOWN-1", &addresses);
    wait_until("the node to find the mail server down", LIMIT, || {
        (!log_lines(&b, &["mail server unavailable"]).is_empty()).then_some(())
    });
    share_to(&a, &b, "DOWN-2", &addresses);
    std::thread::sleep(Duration::from_secs(3));
    let probes = log_lines(&b, &["mail server unavailable"]).len();
    assert!(
        probes <= 8,
        "backed off instead of hammering the relay: {probes} tries\n{}",
        b.log_tail(40)
    );

    let mail = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(port, &mail.path().join("Maildir"));
    wait_until("all six notifications", LIMIT, || {
        (delivered(&server).len() >= 6).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let all = delivered(&server);
    assert_eq!(all.len(), 6, "{all:?}");
    for case in ["DOWN-1", "DOWN-2"] {
        for address in addresses {
            assert_eq!(
                all.iter()
                    .filter(|(to, subject)| to == address && subject.contains(case))
                    .count(),
                1,
                "{address} notified once about {case}: {all:?}"
            );
        }
    }
    assert!(log_lines(&b, &[DROPPED]).is_empty(), "nothing dropped");
    assert!(
        log_lines(&b, &["deferred a notification"]).is_empty(),
        "an unreachable relay is no message's fault"
    );
}
