//! `casemesh run`: the node daemon, a thin shell around [`casemesh_service::Node`].
//!
//! Read the config, start logging, start the node (it opens the store — a data directory held by
//! another process is a clear error —, binds the admin endpoint and the public download-link
//! server, starts its background jobs and writes `DIR/link.addr` then `DIR/admin.addr`), then
//! wait for SIGINT or SIGTERM and shut the node down: it stops accepting, finishes in-flight
//! requests, stops its jobs, flushes the store and removes `admin.addr` and `link.addr`.

use anyhow::{Context as _, Result};
use casemesh_service::{Clock, Node, systemd};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Arguments of `casemesh run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Log format, overriding the config: `human` or `json`.
    #[arg(long)]
    log_format: Option<String>,
}

/// Logs to stderr, `human` or `json`, with every field value and message escaped so that no
/// user or partner string can forge a line or reach the terminal raw ([`crate::log_escape`]).
fn init_tracing(format: &str, level: &str) {
    use crate::log_escape::{EscapedFields, JsonEscaping};
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::format::DefaultFields;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A failed log write (stderr closed: `casemesh run 2>&1 | tee log` after tee died, a
    // restarted journald) is dropped. tracing-subscriber would report it with `eprintln!`, which
    // panics on that same stderr: a request handler died mid-request (the item stored, the client
    // told the connection broke) and the node exited 101 at start-up.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .log_internal_errors(false);
    if format == "json" {
        builder
            .json()
            .with_writer(JsonEscaping(std::io::stderr))
            .init();
    } else {
        builder
            .fmt_fields(EscapedFields::<DefaultFields>::default())
            .with_writer(std::io::stderr)
            .init();
    }
}

/// Resolve on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Run the daemon in the foreground until a shutdown signal.
pub(crate) async fn run(dir: &Path, args: &RunArgs) -> Result<()> {
    let config = casemesh_service::Config::load(dir)?;
    let format = args
        .log_format
        .clone()
        .unwrap_or_else(|| config.file.log.format.clone());
    init_tracing(&format, &config.file.log.level);
    // Tests move the clock forward to expire links and retention.
    let offset_ms = std::env::var("CASEMESH_CLOCK_OFFSET_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let config = config
        .with_clock(Clock { offset_ms })
        .with_frontend(casemesh_api::frontend);

    let shutdown = CancellationToken::new();
    let (node, mut stopped) = Node::start(config, shutdown.clone()).await?;
    // Listeners are bound and serving: tell systemd (Type=notify), and ping its watchdog.
    systemd::notify_ready(&format!(
        "admin {} links {}",
        node.admin_addr(),
        node.link_addr()
    ));
    let _watchdog = systemd::spawn_watchdog(shutdown.clone());
    // The node stops on a signal, or by itself when one of its servers fails.
    let result = tokio::select! {
        _ = shutdown_signal() => {
            systemd::notify_stopping();
            shutdown.cancel();
            (&mut stopped).await
        }
        r = &mut stopped => r,
    };
    drop(node);
    result.context("the node's shutdown task failed")?
}
