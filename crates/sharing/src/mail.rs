//! Email notifications over SMTP, through a durable queue: a notification is queued in the store
//! first and removed only once the mail server accepted it, so a mail server outage loses nothing.

use crate::Engine;
use crate::records::{MAIL_QUEUE, MailMessage};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
}

fn default_port() -> u16 {
    25
}
fn default_security() -> String {
    "starttls".into()
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
}

impl Engine {
    pub(crate) async fn mail_loop(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let delay = match self.send_queued_mail().await {
                Ok(()) => {
                    failures = 0;
                    Duration::from_secs(30)
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "mail server unavailable; notifications stay queued");
                    Duration::from_secs(u64::from(failures.min(6)) * 2)
                }
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = self.inner.mail_wake.notified() => {},
                _ = tokio::time::sleep(delay) => {},
            }
        }
    }

    async fn send_queued_mail(&self) -> Result<(), String> {
        let items: Vec<(u64, MailMessage)> = self
            .inner
            .store
            .queue_items(MAIL_QUEUE)
            .map_err(|e| e.to_string())?;
        if items.is_empty() {
            return Ok(());
        }
        let Some(smtp) = &self.inner.smtp else {
            for (seq, m) in items {
                tracing::info!(to = ?m.to, subject = %m.subject, "notification (no [smtp] configured, not sent)");
                self.inner
                    .store
                    .queue_remove(MAIL_QUEUE, seq)
                    .map_err(|e| e.to_string())?;
            }
            return Ok(());
        };
        let transport = smtp.transport()?;
        let from: Mailbox = smtp.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
        for (seq, m) in items {
            let mut builder = lettre::Message::builder()
                .from(from.clone())
                .subject(m.subject.clone());
            let mut any = false;
            for to in &m.to {
                match to.parse::<Mailbox>() {
                    Ok(mb) => {
                        builder = builder.to(mb);
                        any = true;
                    }
                    Err(e) => {
                        tracing::warn!(to = %to, error = %e, "skipping an invalid recipient address")
                    }
                }
            }
            if any {
                let email = builder.body(m.body.clone()).map_err(|e| e.to_string())?;
                match transport.send(email).await {
                    Ok(_) => tracing::info!(to = ?m.to, subject = %m.subject, "notification sent"),
                    // A permanent refusal (5xx: unknown mailbox, rejected sender) will not change
                    // on retry: drop that message so the queue behind it moves on.
                    Err(e) if e.is_permanent() => {
                        tracing::warn!(to = ?m.to, subject = %m.subject, error = %e, "mail server refused a notification permanently; dropped")
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            self.inner
                .store
                .queue_remove(MAIL_QUEUE, seq)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
