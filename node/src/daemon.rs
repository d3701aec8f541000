//! `casemesh run`: the node daemon.
//!
//! Start-up: read the config, start logging, open the store (a data directory held by another
//! process is a clear error), bind the admin endpoint and the public download-link server, start
//! the retention sweeper, the link package cleaner and any interrupted package builds, write
//! `DIR/link.addr` then `DIR/admin.addr`. Then serve until SIGINT or SIGTERM, and shut down in
//! order: stop accepting, finish in-flight requests, stop background jobs, flush the store, remove
//! `admin.addr` and `link.addr`.

use crate::config::{Config, Layout, write_atomic};
use crate::init::{load_identity, org_id};
use anyhow::{Context as _, Result};
use casemesh_api::state::{AppState, Clock, OrgInfo, Settings, SettingsSink};
use casemesh_store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Arguments of `casemesh run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Log format, overriding the config: `human` or `json`.
    #[arg(long)]
    log_format: Option<String>,
}

/// Persists settings changed through the API into `config.toml`.
struct ConfigFileSink {
    dir: PathBuf,
}

impl SettingsSink for ConfigFileSink {
    fn save(&self, settings: &Settings) -> Result<(), String> {
        let mut config = Config::load(&self.dir).map_err(|e| format!("{e:#}"))?;
        config.settings = settings.clone();
        config.save(&self.dir).map_err(|e| format!("{e:#}"))
    }
}

fn init_tracing(format: &str, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
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

/// Run `job` every `every_secs` seconds (0 = never) until `cancel` fires.
fn spawn_periodic<F, Fut>(
    jobs: &mut tokio::task::JoinSet<()>,
    cancel: &CancellationToken,
    every_secs: u64,
    job: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    if every_secs == 0 {
        return;
    }
    let cancel = cancel.clone();
    jobs.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every_secs));
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = tick.tick() => job().await,
            }
        }
    });
}

/// Run the daemon in the foreground until a shutdown signal.
pub(crate) async fn run(dir: &Path, args: &RunArgs) -> Result<()> {
    let config = Config::load(dir)?;
    let format = args
        .log_format
        .clone()
        .unwrap_or_else(|| config.log.format.clone());
    init_tracing(&format, &config.log.level);

    let layout = Layout::new(dir);
    let secret = load_identity(dir)?;
    let org = OrgInfo {
        name: config.org.name.clone(),
        id: org_id(&secret)?,
    };
    let store = match Store::open(dir) {
        Ok(s) => s,
        Err(StoreError::InUse(_)) => {
            anyhow::bail!(
                "data directory {} is in use: another `casemesh run` is using it",
                dir.display()
            )
        }
        Err(e) => return Err(e).context("open the store"),
    };
    let offset_ms = std::env::var("CASEMESH_CLOCK_OFFSET_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let settings = Arc::new(RwLock::new(config.settings.clone()));
    let clock = Clock { offset_ms };
    let cancel = CancellationToken::new();
    // Federation: the libp2p node and the sharing engine on top of it.
    let listen = config
        .p2p
        .listen
        .iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("p2p.listen {a:?} is not a multiaddr"))
        })
        .collect::<Result<Vec<casemesh_net::Multiaddr>>>()?;
    let net_config = casemesh_net::Config::new(secret, dir.join("partial"))
        .with_listen_addrs(listen)
        .with_max_concurrent_fetches(config.p2p.max_concurrent_fetches.max(1))
        .with_agent_version(format!("casemesh/{}", env!("CARGO_PKG_VERSION")));
    let (sharing, mut engine_tasks) =
        casemesh_sharing::Engine::start(casemesh_sharing::EngineConfig {
            store: store.clone(),
            secret,
            org_name: config.org.name.clone(),
            settings: settings.clone(),
            clock,
            net: net_config,
            smtp: config.smtp.clone(),
            shutdown: cancel.clone(),
        })
        .await
        .context("start peer-to-peer networking")?;
    let p2p_addrs = sharing.listen_addrs().await.unwrap_or_default();
    let state = AppState {
        sharing: Some(sharing),
        store: store.clone(),
        org: org.clone(),
        settings,
        settings_sink: Arc::new(ConfigFileSink {
            dir: dir.to_path_buf(),
        }),
        clock,
        admin_addr: Arc::new(RwLock::new(String::new())),
        data_dir: dir.to_path_buf(),
        links: casemesh_api::links::Links::new(
            layout.packages(),
            ed25519_dalek::SigningKey::from_bytes(&secret),
        ),
    };

    // The public download-link server: its own listener, apart from the admin endpoint.
    let link_listener = tokio::net::TcpListener::bind(config.link.listen)
        .await
        .with_context(|| format!("bind the link server on {}", config.link.listen))?;
    let link_bound = link_listener.local_addr()?;
    state.links.set_public_base(
        &config
            .link
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{link_bound}")),
    );

    let listener = tokio::net::TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("bind the admin endpoint on {}", config.admin.listen))?;
    let bound = listener.local_addr()?;
    if let Ok(mut a) = state.admin_addr.write() {
        *a = bound.to_string();
    }
    if !bound.ip().is_loopback() {
        tracing::warn!(addr = %bound, "the admin endpoint listens on a non-loopback address");
    }

    let mut jobs = tokio::task::JoinSet::new();
    spawn_periodic(&mut jobs, &cancel, config.retention.sweep_interval_secs, {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move {
                match casemesh_api::retention::sweep(&state).await {
                    Ok(r) if !r.is_empty() => tracing::info!(removed = r.len(), "retention sweep"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e.message, "retention sweep failed"),
                }
            }
        }
    });

    match casemesh_api::links::resume_builds(&state) {
        Ok(0) => {}
        Ok(n) => tracing::info!(builds = n, "resumed interrupted package builds"),
        Err(e) => tracing::error!(error = %e.message, "cannot resume package builds"),
    }
    spawn_periodic(&mut jobs, &cancel, config.link.clean_interval_secs, {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move {
                match tokio::task::spawn_blocking(move || casemesh_api::links::clean(&state)).await
                {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(removed = n, "link package cleaner"),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e.message, "link package cleaner failed")
                    }
                    Err(e) => tracing::error!(error = %e, "link package cleaner panicked"),
                }
            }
        }
    });
    let link_server = {
        let cancel = cancel.clone();
        let router = casemesh_api::links::public::public_router(state.clone());
        tokio::spawn(casemesh_api::serve(link_listener, router, async move {
            cancel.cancelled().await
        }))
    };

    // link.addr first: once admin.addr exists, clients may rely on both.
    write_atomic(
        &layout.link_addr(),
        link_bound.to_string().as_bytes(),
        0o644,
    )?;
    write_atomic(&layout.admin_addr(), bound.to_string().as_bytes(), 0o644)?;
    tracing::info!(org = %org.name, org_id = %org.id, admin = %bound, links = %link_bound, p2p = ?p2p_addrs, data_dir = %dir.display(), "casemesh node running");

    let server_cancel = cancel.clone();
    let served = casemesh_api::serve(listener, casemesh_api::admin_router(state), async move {
        tokio::select! {
            _ = shutdown_signal() => {},
            _ = server_cancel.cancelled() => {},
        }
    })
    .await;
    tracing::info!("shutting down");
    cancel.cancel();
    while jobs.join_next().await.is_some() {}
    while engine_tasks.join_next().await.is_some() {}
    match link_server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "link server failed"),
        Err(e) => tracing::error!(error = %e, "link server task failed"),
    }
    let _ = std::fs::remove_file(layout.admin_addr());
    let _ = std::fs::remove_file(layout.link_addr());
    store.flush().await.context("flush the store")?;
    served.context("admin endpoint failed")?;
    tracing::info!("stopped");
    Ok(())
}
