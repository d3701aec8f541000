//! Email notifications over SMTP, through a durable queue.
//!
//! This module owns the `[smtp]` configuration and the mail loop. `Engine::notify` queues one
//! message per address in the store's `mail` queue; the loop hands them to the mail server and
//! decides, message by message, what an answer means. A message leaves the queue only when the
//! server accepted it, or when it is recorded as failed (table [`crate::records::MAIL_FAILED`]), so a mail
//! server outage or a node restart loses nothing, and no message ever waits behind another.
//!
//! ```text
//!   notify ──► queue `mail` ──► mail loop: probe the relay ── unreachable ──► the whole queue waits
//!                 ▲                 │                                        (relay backoff)
//!                 │                 ▼ each message that is due (others are skipped)
//!                 │              send it ──► accepted ───────────────► remove
//!                 │                 ├──────► 5xx, unsendable address ─► record `mail_failed`, remove
//!                 └─ requeue ◄──────┴──────► 4xx, connection lost ────► attempts + 1, next_attempt_at
//!                    (or, past `give_up_after_secs`: record `mail_failed`, remove)
//! ```
//!
//! # The retry rule
//!
//! - **Temporary failure** of one message (a 4xx reply such as `451`, or the connection failing
//!   during that message): that message alone is retried. Retry *n* waits
//!   `retry_initial_secs · 2^(n-1)` seconds, capped at `retry_max_secs`, plus a random jitter of up
//!   to as much again (so messages deferred together do not come back together). Until then the
//!   message is skipped, and the messages behind it go out. A temporary failure more than
//!   `give_up_after_secs` after the message's first one ends its retries: it is recorded and
//!   dropped.
//! - **Permanent failure** (a 5xx reply, an address lettre cannot parse, a non-ASCII address when
//!   the server does not offer SMTPUTF8): retrying cannot help, so the message is recorded as
//!   failed and dropped at once.
//! - **Relay unreachable** (the connection or the greeting fails before any message): no message
//!   is charged; the whole queue waits with its own backoff (same delays) and nothing is sent until
//!   it ends, even when new notifications are queued meanwhile.
//!
//! The loop sleeps until the earliest due message, the end of the relay backoff, or a wake-up from
//! `notify`. Delivery is at least once: a crash between the server's acceptance and the removal
//! sends that message again at start-up.

use crate::Engine;
use crate::records::{MAIL_FAILED, MAIL_QUEUE, MailFailure, QueuedMail};
use casemesh_model::time::Timestamp;
use casemesh_store::StoreError;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Queues `mails` in the durable mail queue inside the caller's transaction (see
/// [`Engine::notification`]); the caller wakes the loop with [`Engine::mail_queued`] after the
/// commit.
///
/// # Errors
/// The store's error when the queue cannot be written; the transaction then commits nothing.
pub fn queue_mails(
    txn: &mut casemesh_store::Txn<'_, '_>,
    mails: &[crate::records::MailMessage],
) -> Result<(), StoreError> {
    for m in mails {
        txn.queue_push(MAIL_QUEUE, m)?;
    }
    Ok(())
}

/// How long the loop sleeps when nothing is due (new notifications wake it earlier).
const IDLE: Duration = Duration::from_secs(60);

/// `[smtp]` in the node's config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Mail server host.
    pub host: String,
    /// Port (default 25).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Sender address, e.g. `casemesh@metro-pd.example`.
    pub from: String,
    /// `none` (plain, for a local relay), `starttls` or `tls`. Default `starttls`.
    #[serde(default = "default_security")]
    pub security: String,
    /// Login, if the server needs one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password, if the server needs one.
    #[serde(default)]
    pub password: Option<String>,
    /// Pause before the first retry of a deferred message, and before the first new try of an
    /// unreachable relay; it doubles per attempt. Default 1 s: a short outage or a greylisting
    /// relay costs little time, and the doubling soon spaces the tries out.
    #[serde(
        default = "default_retry_initial",
        skip_serializing_if = "is_default_retry_initial"
    )]
    pub retry_initial_secs: u64,
    /// Cap on that pause (before jitter). Default 600 (10 minutes).
    #[serde(
        default = "default_retry_max",
        skip_serializing_if = "is_default_retry_max"
    )]
    pub retry_max_secs: u64,
    /// A message still deferred this long after its first temporary failure is recorded as failed
    /// and dropped. Default 172800 (2 days), in line with what mail servers keep trying.
    #[serde(
        default = "default_give_up_after",
        skip_serializing_if = "is_default_give_up_after"
    )]
    pub give_up_after_secs: u64,
}

/// Whether `address` is a mailbox address the SMTP client accepts (RFC 5321/5322, as `lettre`
/// parses it), e.g. for the intake address setting.
pub fn is_valid_address(address: &str) -> bool {
    address.parse::<lettre::Address>().is_ok()
}

fn default_port() -> u16 {
    25
}
fn default_security() -> String {
    "starttls".into()
}
fn default_retry_initial() -> u64 {
    1
}
fn is_default_retry_initial(v: &u64) -> bool {
    *v == default_retry_initial()
}
fn default_retry_max() -> u64 {
    600
}
fn is_default_retry_max(v: &u64) -> bool {
    *v == default_retry_max()
}
fn default_give_up_after() -> u64 {
    2 * 24 * 60 * 60
}
fn is_default_give_up_after(v: &u64) -> bool {
    *v == default_give_up_after()
}

impl SmtpConfig {
    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let builder = match self.security.as_str() {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host),
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host)
                .map_err(|e| e.to_string())?,
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host)
                .map_err(|e| e.to_string())?,
            other => {
                return Err(format!(
                    "smtp.security must be none, starttls or tls, not {other:?}"
                ));
            }
        };
        let mut builder = builder
            .port(self.port)
            .timeout(Some(Duration::from_secs(20)));
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(builder.build())
    }

    fn retry_policy(&self) -> RetryPolicy {
        let initial = Duration::from_secs(self.retry_initial_secs.max(1));
        RetryPolicy {
            initial,
            max: Duration::from_secs(self.retry_max_secs).max(initial),
            give_up_after: Duration::from_secs(self.give_up_after_secs),
        }
    }
}

/// When to try again after temporary failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RetryPolicy {
    /// The first pause.
    initial: Duration,
    /// The longest pause, before jitter.
    max: Duration,
    /// Retrying a message stops this long after its first temporary failure.
    give_up_after: Duration,
}

impl RetryPolicy {
    /// The pause after the `failures`-th failure in a row (1 = the first): exponential from
    /// `initial`, capped at `max`, plus a random jitter below the same amount again.
    fn delay(&self, failures: u32) -> Duration {
        crate::retry::delay(self.initial, self.max, failures)
    }

    /// Record a temporary failure of `mail` at `now`: returns whether to retry it (then
    /// `next_attempt_at` says when) or give up on it.
    fn defer(&self, mail: &mut QueuedMail, now: Timestamp, reason: String) -> bool {
        mail.attempts = mail.attempts.saturating_add(1);
        mail.last_error = Some(reason);
        let first = *mail.first_failed_at.get_or_insert(now);
        let give_up_ms = u64::try_from(self.give_up_after.as_millis()).unwrap_or(u64::MAX);
        if now.0.saturating_sub(first.0) >= give_up_ms {
            return false;
        }
        let pause_ms = u64::try_from(self.delay(mail.attempts).as_millis()).unwrap_or(u64::MAX);
        mail.next_attempt_at = Some(Timestamp(now.0.saturating_add(pause_ms)));
        true
    }
}

/// What the mail server's answer (or lettre) means for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Accepted.
    Sent,
    /// May succeed later: a 4xx reply, or the connection failed during this message
    /// (`relay_lost`: then the relay is treated as unreachable too).
    Temporary { reason: String, relay_lost: bool },
    /// Will never succeed: a 5xx reply, or an address this server cannot take.
    Permanent(String),
}

impl Outcome {
    fn of(error: &lettre::transport::smtp::Error) -> Outcome {
        let reason = error.to_string();
        if error.is_permanent() || error.is_client() {
            // `is_client`: lettre refused to send, e.g. a non-ASCII address to a server that does
            // not offer SMTPUTF8. The same server will refuse it again.
            Outcome::Permanent(reason)
        } else if error.is_transient() {
            Outcome::Temporary {
                reason,
                relay_lost: false,
            }
        } else {
            Outcome::Temporary {
                reason,
                relay_lost: true,
            }
        }
    }
}

/// The relay's reachability, kept by the loop (in memory: a restart tries at once).
#[derive(Debug, Default)]
struct Relay {
    /// Failed tries in a row.
    failures: u32,
    /// No try before this.
    retry_at: Option<Instant>,
}

impl Relay {
    /// How long the relay backoff still lasts, if it does.
    fn wait(&self) -> Option<Duration> {
        let left = self.retry_at?.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    fn unreachable(&mut self, policy: &RetryPolicy, error: &str) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let pause = policy.delay(self.failures);
        self.retry_at = Some(Instant::now() + pause);
        tracing::warn!(error = %error, failures = self.failures, retry_in_ms = pause.as_millis() as u64, "mail server unavailable; notifications stay queued");
        pause
    }

    fn reachable(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }
}

impl Engine {
    pub(crate) async fn mail_loop(self, shutdown: CancellationToken) {
        let mut relay = Relay::default();
        loop {
            let pause = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                pass = self.send_due_mail(&mut relay) => match pass {
                    Ok(pause) => pause,
                    Err(e) => {
                        tracing::error!(error = %e, "mail queue unreadable; notifications stay queued");
                        IDLE
                    }
                },
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = self.inner.mail_wake.notified() => {},
                _ = tokio::time::sleep(pause) => {},
            }
        }
    }

    /// One pass over the queue: send every message that is due. Returns how long to sleep.
    async fn send_due_mail(&self, relay: &mut Relay) -> Result<Duration, StoreError> {
        let store = &self.inner.store;
        let items: Vec<(u64, QueuedMail)> = store.queue_items(MAIL_QUEUE)?;
        if items.is_empty() {
            return Ok(IDLE);
        }
        let Some(smtp) = &self.inner.smtp else {
            for (seq, m) in items {
                tracing::info!(to = ?m.message.to, subject = %m.message.subject, "notification (no [smtp] configured, not sent)");
                store.queue_remove(MAIL_QUEUE, seq)?;
            }
            return Ok(IDLE);
        };
        if let Some(wait) = relay.wait() {
            return Ok(wait);
        }
        let policy = smtp.retry_policy();
        let now = self.now();
        let mut next_due: Option<Timestamp> = None;
        let mut due = Vec::new();
        for (seq, m) in items {
            match m.next_attempt_at {
                Some(at) if at > now => next_due = earliest(next_due, Some(at)),
                _ => due.push((seq, m)),
            }
        }
        if due.is_empty() {
            return Ok(pause_until(next_due, now));
        }

        // Probe first: an unreachable relay is nobody's message's fault.
        let connection = match (smtp.transport(), smtp.from.parse::<Mailbox>()) {
            (Ok(transport), Ok(from)) => match transport.test_connection().await {
                Ok(true) => Ok((transport, from)),
                Ok(false) => Err("the server did not answer NOOP".to_owned()),
                Err(e) => Err(e.to_string()),
            },
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(format!("smtp.from: {e}")),
        };
        let (transport, from) = match connection {
            Ok(c) => c,
            Err(e) => return Ok(relay.unreachable(&policy, &e)),
        };
        relay.reachable();

        for (seq, mut m) in due {
            let (outcome, dropped) = send_one(&transport, &from, &m).await;
            let now = self.now();
            if !dropped.is_empty() {
                let (to, reasons): (Vec<String>, Vec<String>) = dropped.into_iter().unzip();
                self.record_failure(seq, "unsendable", &m, to.clone(), reasons.join("; "), now)?;
                m.message.to.retain(|address| !to.contains(address));
            }
            match outcome {
                None => {}
                Some(Outcome::Sent) => {
                    tracing::info!(to = ?m.message.to, subject = %m.message.subject, attempts = m.attempts, "notification sent");
                }
                Some(Outcome::Permanent(reason)) => {
                    let to = m.message.to.clone();
                    self.record_failure(seq, "refused", &m, to, reason, now)?;
                }
                Some(Outcome::Temporary { reason, relay_lost }) => {
                    if policy.defer(&mut m, now, reason.clone()) {
                        tracing::info!(to = ?m.message.to, attempts = m.attempts, retry_at = ?m.next_attempt_at, reason = %reason, "mail server deferred a notification; it will be retried");
                        next_due = earliest(next_due, m.next_attempt_at);
                        // Push before remove: a crash in between sends it twice, never zero times.
                        store.queue_push(MAIL_QUEUE, &m)?;
                    } else {
                        let to = m.message.to.clone();
                        let reason =
                            format!("still deferred after {} attempts: {reason}", m.attempts);
                        self.record_failure(seq, "expired", &m, to, reason, now)?;
                    }
                    if relay_lost {
                        store.queue_remove(MAIL_QUEUE, seq)?;
                        return Ok(relay.unreachable(&policy, &reason));
                    }
                }
            }
            store.queue_remove(MAIL_QUEUE, seq)?;
        }
        Ok(pause_until(next_due, self.now()))
    }

    /// Keep a record of a notification that leaves the queue undelivered, and say so in the log.
    fn record_failure(
        &self,
        seq: u64,
        why: &str,
        mail: &QueuedMail,
        to: Vec<String>,
        reason: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let failure = MailFailure {
            to,
            subject: mail.message.subject.clone(),
            reason,
            attempts: mail.attempts,
            failed_at: now,
        };
        let id = format!("{:020}.{seq}.{why}", now.0);
        self.inner.store.put(&MAIL_FAILED, &id, &failure)?;
        tracing::warn!(to = ?failure.to, attempts = failure.attempts, reason = %failure.reason, why, record = %id, "notification not delivered; recorded as mail_failed and dropped");
        Ok(())
    }
}

/// Send `mail` to those of its addresses lettre can parse. Returns the server's outcome (`None`
/// when no address was left to send to) and the addresses that cannot be sent to at all, each
/// with why.
async fn send_one(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
    mail: &QueuedMail,
) -> (Option<Outcome>, Vec<(String, String)>) {
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .subject(mail.message.subject.clone());
    let mut dropped = Vec::new();
    let mut any = false;
    for to in &mail.message.to {
        match to.parse::<Mailbox>() {
            Ok(mb) => {
                builder = builder.to(mb);
                any = true;
            }
            Err(e) => dropped.push((to.clone(), format!("not a valid email address: {e}"))),
        }
    }
    if !any {
        return (None, dropped);
    }
    let outcome = match builder.body(mail.message.body.clone()) {
        Err(e) => Outcome::Permanent(format!("cannot build the message: {e}")),
        Ok(email) => match transport.send(email).await {
            Ok(_) => Outcome::Sent,
            Err(e) => Outcome::of(&e),
        },
    };
    (Some(outcome), dropped)
}

/// The earlier of two optional times (`None` = never).
fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long to sleep until `next_due` (at most [`IDLE`]).
fn pause_until(next_due: Option<Timestamp>, now: Timestamp) -> Duration {
    match next_due {
        Some(at) => Duration::from_millis(at.0.saturating_sub(now.0)).min(IDLE),
        None => IDLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::MailMessage;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(2 * 24 * 3600),
        }
    }

    fn queued() -> QueuedMail {
        serde_json::from_str(r#"{"to":["dana@county.example"],"subject":"s","body":"b"}"#)
            .expect("a bare MailMessage loads as a QueuedMail")
    }

    #[test]
    fn delays_double_with_jitter_up_to_the_cap() {
        let p = policy();
        for (failures, base) in [
            (1u32, 1u64),
            (2, 2),
            (3, 4),
            (10, 512),
            (11, 600),
            (500, 600),
        ] {
            let d = p.delay(failures);
            assert!(
                d >= Duration::from_secs(base) && d < Duration::from_secs(2 * base),
                "failure {failures}: {d:?} not in [{base}, {}) s",
                2 * base
            );
        }
    }

    #[test]
    fn old_and_fresh_queue_items_are_due_now() {
        let m = queued();
        assert_eq!(
            (m.attempts, m.next_attempt_at, m.first_failed_at),
            (0, None, None)
        );
        // And what the loop writes back still reads as a MailMessage.
        let json = serde_json::to_string(&m).expect("serializes");
        let back: MailMessage = serde_json::from_str(&json).expect("reads as a MailMessage");
        assert_eq!(back.to, m.message.to);
    }

    #[test]
    fn a_deferred_message_is_scheduled_then_given_up() {
        let p = policy();
        let mut m = queued();
        let t0 = Timestamp(1_000_000);
        assert!(p.defer(&mut m, t0, "451 try later".into()));
        assert_eq!(m.attempts, 1);
        assert_eq!(m.first_failed_at, Some(t0));
        let next = m.next_attempt_at.expect("scheduled").0;
        assert!((t0.0 + 1000..t0.0 + 2000).contains(&next), "{next}");

        let later = Timestamp(t0.0 + 3_600_000);
        assert!(p.defer(&mut m, later, "451 try later".into()));
        assert_eq!((m.attempts, m.first_failed_at), (2, Some(t0)));

        let expired = Timestamp(t0.0 + 2 * 24 * 3_600_000);
        assert!(!p.defer(&mut m, expired, "451 still".into()));
        assert_eq!(m.last_error.as_deref(), Some("451 still"));
    }

    #[test]
    fn pause_is_until_the_earliest_due_message() {
        let now = Timestamp(10_000);
        assert_eq!(pause_until(None, now), IDLE);
        assert_eq!(
            pause_until(Some(Timestamp(12_500)), now),
            Duration::from_millis(2500)
        );
        assert_eq!(pause_until(Some(Timestamp(5_000)), now), Duration::ZERO);
        assert_eq!(pause_until(Some(Timestamp(u64::MAX)), now), IDLE);
    }
}
