//! systemd service notifications (`Type=notify`, see `dist/casemesh.service`).
//!
//! The daemon says `READY=1` once [`crate::Node::start`] has returned (the store is open, the
//! admin and link listeners are bound and serving, the p2p listeners are up), `STOPPING=1` when
//! its shutdown begins, and, when the unit sets `WatchdogSec=`, pings `WATCHDOG=1` at half the
//! interval systemd passes in `WATCHDOG_USEC`. The pings come from a task on the node's runtime,
//! so a runtime that stops making progress stops them too, and systemd restarts the service.
//!
//! Without `NOTIFY_SOCKET` (not started by systemd) every call does nothing. A failed send is
//! logged, never fatal: the node works the same without a service manager.

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

fn send(state: &[NotifyState<'_>], what: &str) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot notify systemd ({what})");
    }
}

/// `READY=1` with a one-line `STATUS=`.
pub fn notify_ready(status: &str) {
    send(
        &[NotifyState::Ready, NotifyState::Status(status)],
        "READY=1",
    );
}

/// `STOPPING=1`.
pub fn notify_stopping() {
    send(
        &[NotifyState::Stopping, NotifyState::Status("shutting down")],
        "STOPPING=1",
    );
}

/// When systemd asked for watchdog pings (`WATCHDOG_USEC` set for this process), ping at half
/// the interval until `cancel` fires. `None` when no watchdog is asked for.
#[must_use = "the pings stop when the handle is dropped"]
pub fn spawn_watchdog(cancel: CancellationToken) -> Option<AbortOnDropHandle<()>> {
    let every = sd_notify::watchdog_enabled()? / 2;
    tracing::info!(
        every_ms = every.as_millis() as u64,
        "systemd watchdog enabled"
    );
    Some(AbortOnDropHandle::new(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = tick.tick() => send(&[NotifyState::Watchdog], "WATCHDOG=1"),
            }
        }
    })))
}
