//! The application layer of a casemesh node, and the node as a library.
//!
//! [`Node::start`] opens the data directory's store, starts the sharing engine (libp2p, outbox,
//! mail queue, synchronization), the [links service](casemesh_links::Links), the retention
//! sweeper and the link-package cleaner, binds the admin endpoint and the public link server, and
//! returns the [`Node`] with the [`JoinHandle`] of its shutdown. The use cases are methods of the
//! services the node hands out — [`Node::users`] (token authentication, users, groups),
//! [`Node::cases`], [`Node::evidence`], [`Node::audit`], [`Node::access`], [`Node::shares`]
//! (partner shares sent), [`Node::received`] (shares received, onward sharing, updates review),
//! [`Node::partners`] (partners, policies, directory, peers), [`Node::admin`], [`Node::links`],
//! [`Node::retention`] — each taking the [`Caller`] and checking it itself, and they, not the HTTP
//! handlers, do what must follow a change
//! (evidence added → [`EvidenceService::add`] tells the sharing engine). Their errors are one
//! `#[non_exhaustive]` enum per family with a [`Disposition`] (refuse / not found / retry /
//! internal); `casemesh-api` maps them to HTTP statuses in one place. The store itself is not
//! handed out ([`Node`] keeps it and the sharing engine crate-private), so an adapter cannot
//! bypass a use case.
//!
//! ```text
//!  config + CancellationToken ──► Node::start ──► Node (cheap clone) ──► evidence() / links() /
//!                                      │                                 shares() / received() / …
//!                                      │ owns, joins at shutdown:
//!                                      ├─ admin endpoint   (routers from Config::frontend)
//!                                      ├─ public link server
//!                                      ├─ sharing engine tasks (net actor, outbox, mail, sync)
//!                                      ├─ link package builds (Links' task set)
//!                                      ├─ retention sweeper, link cleaner (periodic)
//!                                      └─ requests' blocking work (RequestTasks, Node::blocking)
//!  shutdown.cancel() ──► stop accepting, finish requests, wait for their blocking work, stop
//!                        jobs, wait for builds and the engine, remove admin.addr/link.addr,
//!                        flush the store ──► JoinHandle ends
//! ```
//!
//! The HTTP adapters live above this crate (`casemesh-api` depends on it), so the node does not
//! name them: the caller passes a [`Frontend`] that turns a started [`Node`] into the two routers
//! (the binary passes `casemesh_api::frontend`; a test may pass none and call use cases directly).
//!
//! ```no_run
//! # async fn demo(dir: &std::path::Path) -> anyhow::Result<()> {
//! use tokio_util::sync::CancellationToken;
//! let config = casemesh_service::Config::load(dir)?;
//! let shutdown = CancellationToken::new();
//! let (node, stopped) = casemesh_service::Node::start(config, shutdown.clone()).await?;
//! println!("admin endpoint on {}", node.admin_addr());
//! shutdown.cancel();
//! stopped.await??;
//! # Ok(()) }
//! ```

pub mod access;
pub mod admin;
pub mod audit;
pub mod caller;
pub mod cases;
pub mod config;
mod config_edit;
pub mod error;
pub mod evidence;
pub mod links;
pub mod listener;
pub mod metrics;
pub mod partners;
pub mod readiness;
pub mod received;
pub mod retention;
pub mod shares;
pub mod systemd;
pub mod tasks;
pub mod users;

pub use access::{AccessError, AccessService, InsideShare, InsideShared, InsideStopped};
pub use admin::{AdminError, AdminService, SettingsEdit, Space};
pub use audit::{AuditService, Verified};
pub use caller::Caller;
/// Longest download-link duration in days, for clients that check `--days` before asking.
pub use casemesh_links::MAX_DAYS as LINK_MAX_DAYS;
pub use casemesh_model::org::Settings;
pub use casemesh_store::Clock;
pub use cases::{
    CaseAccess, CaseDetail, CaseEdit, CaseError, CaseListing, CaseService, CaseSummary,
    FolderChange, Holder, InsideAccess, NewCase,
};
pub use error::Disposition;
pub use evidence::{Content, EvidenceEdit, EvidenceError, EvidenceService, NewEvidence};
pub use links::{DownloadLinkError, LinkService, PublicLinkError, PublicLinks};
pub use listener::{Limits, serve};
pub use partners::{Identity, NewPartner, NewPolicy, PartnerEdit, PartnerError, PartnerService};
pub use received::{
    ApplyChoice, OnwardShare, ReceivedError, ReceivedService, ReceivedShare, parse_mode,
};
pub use retention::{Removed, Retention, SweepError};
pub use shares::{NewShare, ShareDetail, ShareError, ShareService};
pub use tasks::RequestTasks;
pub use users::{CreatedUser, NewUser, UserEdit, UserError, UserService};

use anyhow::{Context as _, Result};
use casemesh_links::Links;
use casemesh_sharing::Engine;
use casemesh_store::{Store, StoreError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The two HTTP routers a node serves: the admin endpoint and the public link server.
pub struct Routers {
    /// `/healthz` and `/v1/*`.
    pub admin: axum::Router,
    /// `/l/<token>…`: what download-link recipients talk to.
    pub public: axum::Router,
}

/// Builds the node's HTTP routers once the node is up (the adapters over its use cases).
pub type Frontend = fn(&Node) -> Routers;

/// Where changed settings are persisted (the node writes them to `config.toml`).
pub trait SettingsSink: Send + Sync + 'static {
    /// Persist `settings`; an error leaves the running settings unchanged.
    fn save(&self, settings: &Settings) -> Result<(), String>;
}

/// Who this node is.
#[derive(Debug, Clone)]
pub struct OrgInfo {
    /// Display name.
    pub name: String,
    /// Its org id (PeerId text).
    pub id: casemesh_model::ids::OrgId,
}

/// What [`Node::start`] needs.
pub struct Config {
    /// The data directory (made by `casemesh init`: identity key, database, `config.toml`).
    pub data_dir: PathBuf,
    /// The contents of `config.toml`.
    pub file: config::Config,
    /// The clock (tests shift it to expire links and retention).
    pub clock: Clock,
    /// The HTTP adapters; `None` serves 404 on both listeners (use cases are still callable).
    pub frontend: Option<Frontend>,
}

impl Config {
    /// The configuration of the data directory `dir` (reads `config.toml`), with the real clock
    /// and no HTTP frontend.
    pub fn load(dir: &Path) -> Result<Config> {
        Ok(Config {
            data_dir: dir.to_path_buf(),
            file: config::Config::load(dir)?,
            clock: Clock::default(),
            frontend: None,
        })
    }

    /// Serve these HTTP adapters.
    pub fn with_frontend(mut self, frontend: Frontend) -> Config {
        self.frontend = Some(frontend);
        self
    }

    /// Use this clock.
    pub fn with_clock(mut self, clock: Clock) -> Config {
        self.clock = clock;
        self
    }
}

/// Persists settings changed through the API into `config.toml`.
struct ConfigFileSink {
    dir: PathBuf,
}

impl SettingsSink for ConfigFileSink {
    fn save(&self, settings: &Settings) -> Result<(), String> {
        let mut config = config::Config::load(&self.dir).map_err(|e| format!("{e:#}"))?;
        config.settings = settings.clone();
        config.save(&self.dir).map_err(|e| format!("{e:#}"))
    }
}

/// A running node: cheap to clone; every clone names the same node. Dropping it does not stop
/// the node: cancel the shutdown token given to [`Node::start`] and await its handle.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    sharing: Engine,
    links: LinkService,
    evidence: EvidenceService,
    cases: CaseService,
    users: UserService,
    audit: AuditService,
    admin: AdminService,
    shares: ShareService,
    received: ReceivedService,
    partners: PartnerService,
    access: AccessService,
    retention: Retention,
    org: OrgInfo,
    settings: Arc<RwLock<Settings>>,
    clock: Clock,
    data_dir: PathBuf,
    /// Where the evidence blobs live (`[storage]`, checked against the record at start).
    blob_location: config::BlobLocation,
    /// `[p2p] max_send_rate` in bytes per second (`None`: no bound).
    max_send_rate: Option<u64>,
    admin_addr: SocketAddr,
    link_addr: SocketAddr,
    p2p_addrs: Vec<String>,
    /// `/metrics`: the HTTP figures and the scrape-time collector (see [`metrics`]).
    metrics: metrics::Metrics,
    /// The node's shutdown token: a node shutting down is not ready (see [`readiness`]).
    cancel: CancellationToken,
    /// Blocking work requests start and responses stream from (see [`tasks`]); shutdown waits
    /// for it before the final store flush.
    request_tasks: RequestTasks,
}

impl Node {
    /// Start a node on `config.data_dir`; it runs until `shutdown` is cancelled. The returned
    /// handle ends once everything the node started has stopped and the store is flushed (the
    /// data directory is free again once the last [`Node`] clone is dropped too).
    pub async fn start(
        config: Config,
        shutdown: CancellationToken,
    ) -> Result<(Node, JoinHandle<Result<()>>)> {
        let Config {
            data_dir: dir,
            file,
            clock,
            frontend,
        } = config;
        let layout = config::Layout::new(&dir);
        let secret = config::load_identity(&dir)?;
        let store = match open_store(&dir, &file.storage) {
            Ok(s) => s,
            Err(StoreError::InUse(_)) => {
                anyhow::bail!(
                    "data directory {} is in use: another `casemesh run` is using it",
                    dir.display()
                )
            }
            Err(e) => return Err(e).context("open the store"),
        };
        // A bucket that does not answer, refuses the credentials or the region, or does not let
        // the key write stops the start here, with the object store's answer, instead of
        // failing every ingest later.
        store.blobs().check().await.with_context(|| {
            format!(
                "[storage] backend = \"{}\" in {}: the blob store is not usable",
                store.blobs().backend(),
                layout.config().display()
            )
        })?;
        // One bucket per node: another organization's bucket is refused, a new one is marked.
        let me = config::identity_org_id(&secret);
        store
            .blobs()
            .claim(me.as_str())
            .await
            .with_context(|| format!("[storage] in {}", layout.config().display()))?;
        // The blobs must be where [storage] says they are: a backend switched without `blobs
        // migrate` would start and show every blob as missing.
        check_blob_location(&dir, &file.storage, &store).await?;
        let settings = Arc::new(RwLock::new(file.settings.clone()));
        // Everything the node starts stops with this token: the caller's, or a failed server.
        let cancel = shutdown.child_token();
        // A start that fails half-way stops what it had started.
        let stop_on_error = cancel.clone().drop_guard();
        // Federation: the libp2p node and the sharing engine on top of it.
        let listen = file
            .p2p
            .listen
            .iter()
            .map(|a| {
                a.parse()
                    .with_context(|| format!("p2p.listen {a:?} is not a multiaddr"))
            })
            .collect::<Result<Vec<casemesh_net::Multiaddr>>>()?;
        // A taken port is an error at start (libp2p alone would share it silently).
        for addr in &listen {
            if let Some(port) = casemesh_net::config::port_taken(addr) {
                return Err(port_in_use(
                    "p2p",
                    &addr.to_string(),
                    port,
                    "p2p.listen",
                    &layout,
                ));
            }
        }
        // libp2p's metrics go into the node's registry (`/metrics`), recorded by the net actor.
        let mut metrics = metrics::Metrics::new();
        let net_metrics = metrics.register_net();
        let net_config = casemesh_net::Config::new(secret, layout.partial())
            .with_metrics(net_metrics)
            .with_listen_addrs(listen)
            .with_max_concurrent_fetches(file.p2p.max_concurrent_fetches.max(1))
            .with_max_send_rate(file.p2p.max_send_rate.map_or(0, |r| r.as_u64()))
            .with_agent_version(format!("casemesh/{}", env!("CARGO_PKG_VERSION")));
        let network = casemesh_sharing::Network::start(&store, &secret, clock, net_config, &cancel)
            .await
            .context("start peer-to-peer networking")?;
        let (sharing, engine_tasks) = casemesh_sharing::Engine::start(
            casemesh_sharing::EngineConfig {
                store: store.clone(),
                secret,
                org_name: file.org.name.clone(),
                settings: settings.clone(),
                clock,
                smtp: file.smtp.clone(),
                shutdown: cancel.clone(),
            },
            network,
        )
        .await
        .context("start the sharing engine")?;
        let org = OrgInfo {
            name: file.org.name.clone(),
            id: sharing.org_id().clone(),
        };
        let p2p_addrs = sharing.listen_addrs().await.unwrap_or_default();
        let links = Links::new(casemesh_links::Config {
            store: store.clone(),
            clock,
            packages_dir: layout.packages(),
            signing_key: ed25519_dalek::SigningKey::from_bytes(&secret),
            org_id: org.id.clone(),
            org_name: org.name.clone(),
            sharing: sharing.clone(),
            shutdown: cancel.clone(),
        });

        // The public download-link server: its own listener, apart from the admin endpoint.
        let link_listener = bind(file.link.listen, "link server", "link.listen", &layout).await?;
        let link_addr = link_listener.local_addr()?;
        links.set_trusted_proxies(
            casemesh_links::client::TrustedProxies::parse(&file.link.trusted_proxies)
                .context("link.trusted_proxies")?,
        );
        links.set_public_base(
            &file
                .link
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{link_addr}")),
        );
        let admin_listener =
            bind(file.admin.listen, "admin endpoint", "admin.listen", &layout).await?;
        let admin_addr = admin_listener.local_addr()?;
        if !admin_addr.ip().is_loopback() {
            tracing::warn!(addr = %admin_addr, "the admin endpoint listens on a non-loopback address");
        }

        // Blocking work of requests, owned by the node and joined at shutdown (see [`tasks`]).
        let request_tasks = RequestTasks::new();
        let cases = CaseService::new(store.clone(), sharing.clone(), settings.clone(), clock);
        let settings_sink: Arc<dyn SettingsSink> = Arc::new(ConfigFileSink { dir: dir.clone() });
        let node = Node {
            inner: Arc::new(Inner {
                evidence: EvidenceService::new(
                    store.clone(),
                    sharing.clone(),
                    cases.clone(),
                    clock,
                    request_tasks.clone(),
                ),
                users: UserService::new(
                    store.clone(),
                    settings.clone(),
                    clock,
                    request_tasks.clone(),
                ),
                audit: AuditService::new(store.clone(), sharing.clone(), cases.clone(), clock),
                admin: AdminService::new(
                    store.clone(),
                    settings.clone(),
                    settings_sink,
                    request_tasks.clone(),
                ),
                shares: ShareService::new(sharing.clone(), cases.clone(), settings.clone(), clock),
                access: AccessService::new(store.clone(), sharing.clone(), cases.clone(), clock),
                received: ReceivedService::new(sharing.clone(), cases.clone(), clock),
                partners: PartnerService::new(sharing.clone(), settings.clone()),
                links: LinkService::new(
                    links.clone(),
                    sharing.clone(),
                    cases.clone(),
                    clock,
                    request_tasks.clone(),
                ),
                cases,
                retention: Retention::new(store.clone(), settings.clone(), clock),
                store: store.clone(),
                sharing,
                org,
                settings,
                clock,
                data_dir: dir.clone(),
                blob_location: config::BlobLocation::of(&file.storage),
                max_send_rate: file
                    .p2p
                    .max_send_rate
                    .map(|r| r.as_u64())
                    .filter(|&r| r > 0),
                admin_addr,
                link_addr,
                p2p_addrs,
                metrics,
                cancel: cancel.clone(),
                request_tasks: request_tasks.clone(),
            }),
        };

        let mut jobs = JoinSet::new();
        spawn_periodic(&mut jobs, &cancel, file.retention.sweep_interval_secs, {
            let retention = node.retention().clone();
            move || {
                let retention = retention.clone();
                async move {
                    match retention.sweep().await {
                        Ok(r) if !r.is_empty() => {
                            tracing::info!(removed = r.len(), "retention sweep")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "retention sweep failed"),
                    }
                }
            }
        });
        if store.blobs().backend() != "fs" {
            spawn_periodic(&mut jobs, &cancel, STORAGE_SWEEP_EVERY.as_secs(), {
                let store = store.clone();
                move || {
                    let store = store.clone();
                    async move {
                        match store.blobs().sweep(STORAGE_SWEEP_AGE).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(removed = n, "object store sweep"),
                            Err(e) => tracing::error!(error = %e, "object store sweep failed"),
                        }
                    }
                }
            });
        }
        match links.resume_builds() {
            Ok(0) => {}
            Ok(n) => tracing::info!(builds = n, "resumed interrupted package builds"),
            Err(e) => tracing::error!(error = %e, "cannot resume package builds"),
        }
        spawn_periodic(&mut jobs, &cancel, file.link.clean_interval_secs, {
            let links = links.clone();
            move || {
                let links = links.clone();
                async move {
                    match tokio::task::spawn_blocking(move || links.clean()).await {
                        Ok(Ok(0)) => {}
                        Ok(Ok(n)) => tracing::info!(removed = n, "link package cleaner"),
                        Ok(Err(e)) => tracing::error!(error = %e, "link package cleaner failed"),
                        Err(e) => tracing::error!(error = %e, "link package cleaner panicked"),
                    }
                }
            }
        });

        let routers = match frontend {
            Some(f) => f(&node),
            None => Routers {
                admin: axum::Router::new(),
                public: axum::Router::new(),
            },
        };
        let routers = node.metrics().instrument_routers(routers);
        let mut servers = JoinSet::new();
        for (name, listener, router, request_timeout_secs) in [
            (
                "link server",
                link_listener,
                routers.public,
                file.link.request_timeout_secs,
            ),
            (
                "admin endpoint",
                admin_listener,
                routers.admin,
                file.admin.request_timeout_secs,
            ),
        ] {
            let cancel = cancel.clone();
            let limits = Limits::new(&file.http, request_timeout_secs);
            servers.spawn(async move {
                let served =
                    serve(listener, router, limits, cancel.clone().cancelled_owned()).await;
                // A server that fails takes the node down with it, as the daemon always did.
                cancel.cancel();
                served.with_context(|| format!("{name} failed"))
            });
        }

        // link.addr first: once admin.addr exists, clients may rely on both.
        config::write_atomic(&layout.link_addr(), link_addr.to_string().as_bytes(), 0o644)?;
        config::write_atomic(
            &layout.admin_addr(),
            admin_addr.to_string().as_bytes(),
            0o644,
        )?;
        tracing::info!(org = %node.org().name, org_id = %node.org().id, admin = %admin_addr, links = %link_addr, p2p = ?node.p2p_addrs(), data_dir = %dir.display(), "casemesh node running");

        let _ = stop_on_error.disarm();
        let stopped = tokio::spawn(stop(
            cancel,
            Running {
                servers,
                request_tasks,
                jobs,
                links,
                engine_tasks,
                store,
                layout,
            },
        ));
        Ok((node, stopped))
    }

    /// Evidence use cases (add: commit, then case synchronization; show, content, edit,
    /// delete, transcripts).
    pub fn evidence(&self) -> &EvidenceService {
        &self.inner.evidence
    }

    /// Case use cases (create, list, show, edit, retention, folders) and the rule of which case
    /// a reference names for a caller.
    pub fn cases(&self) -> &CaseService {
        &self.inner.cases
    }

    /// Organization use cases: token authentication, users, groups, tokens.
    pub fn users(&self) -> &UserService {
        &self.inner.users
    }

    /// Audit use cases: a case's trail, its verification, the custody timeline.
    pub fn audit(&self) -> &AuditService {
        &self.inner.audit
    }

    /// Partner shares sent: create, a case's shares, one share, add recipients, approve, stop.
    pub fn shares(&self) -> &ShareService {
        &self.inner.shares
    }

    /// Shares received from partners: list, import, contents, an item's bytes, onward sharing,
    /// the updates review of the copy.
    pub fn received(&self) -> &ReceivedService {
        &self.inner.received
    }

    /// Federation: this node's identity, partners, sharing policies, a partner's directory, the
    /// peers view.
    pub fn partners(&self) -> &PartnerService {
        &self.inner.partners
    }

    /// Node administration: settings, the blob store.
    pub fn admin(&self) -> &AdminService {
        &self.inner.admin
    }

    /// Case access use cases (sharing inside the agency).
    pub fn access(&self) -> &AccessService {
        &self.inner.access
    }

    /// Download-link use cases (create, list, show, revoke); the public link server's side is
    /// [`LinkService::public`].
    pub fn links(&self) -> &LinkService {
        &self.inner.links
    }

    /// The retention sweeper.
    pub fn retention(&self) -> &Retention {
        &self.inner.retention
    }

    /// The sharing engine, for the node's own readiness and metrics. Not for adapters: they
    /// reach partners, shares and received shares through [`Node::partners`], [`Node::shares`]
    /// and [`Node::received`], which check the caller.
    pub(crate) fn sharing(&self) -> &Engine {
        &self.inner.sharing
    }

    /// The store (records, blobs, audit). Crate-private on purpose: adapters reach records only
    /// through the use cases above, so no HTTP handler can touch the store.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Who this node is.
    pub fn org(&self) -> &OrgInfo {
        &self.inner.org
    }

    /// A snapshot of the run-time settings (feature flags, auto-import, default retention) as
    /// they are now. Read-only on purpose: a change goes through its use case,
    /// [`AdminService::edit_settings`] (checks the caller and the values, persists to
    /// `config.toml`, then takes effect for the engine and every service at once).
    pub fn settings(&self) -> Settings {
        self.inner
            .settings
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The node's clock.
    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Where the evidence blobs live: the data directory, or a bucket (endpoint and bucket; no
    /// credentials). For `casemesh status`.
    pub fn blob_location(&self) -> &config::BlobLocation {
        &self.inner.blob_location
    }

    /// `[p2p] max_send_rate` in bytes per second; `None`: no bound. For `casemesh status`.
    pub fn max_send_rate(&self) -> Option<u64> {
        self.inner.max_send_rate
    }

    /// The admin endpoint's bound address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.inner.admin_addr
    }

    /// The public link server's bound address.
    pub fn link_addr(&self) -> SocketAddr {
        self.inner.link_addr
    }

    /// The tracker for work an HTTP response streams from after its handler returned (a case
    /// view written item by item on a blocking thread): spawn it here, not bare, so shutdown
    /// waits for it before the store is flushed (issue #9: every spawned task owned and joined).
    /// The same tracker as [`Node::blocking`]'s ([`RequestTasks`]).
    pub fn response_tasks(&self) -> &TaskTracker {
        self.inner.request_tasks.tracker()
    }

    /// Run `work` on the blocking pool on the node's [`RequestTasks`] and wait for its result:
    /// for a request handler's blocking work (a store read off the async threads). Dropping the
    /// future (the request went away) does not stop `work` once started, and the node's shutdown
    /// waits for it before the final store flush.
    ///
    /// Errors: [`tokio::task::JoinError`] if `work` panicked.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, tokio::task::JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.inner.request_tasks.blocking(work).await
    }

    /// The peer-to-peer listen addresses bound at start (multiaddrs).
    pub fn p2p_addrs(&self) -> &[String] {
        &self.inner.p2p_addrs
    }
}

/// What the node's shutdown waits for.
struct Running {
    servers: JoinSet<Result<()>>,
    request_tasks: RequestTasks,
    jobs: JoinSet<()>,
    links: Links,
    engine_tasks: JoinSet<()>,
    store: Store,
    layout: config::Layout,
}

/// Wait for `cancel`, then shut down in order: stop accepting and finish in-flight requests,
/// wait for the work requests started ([`RequestTasks`]: blocking work, responses streamed from
/// a blocking thread), stop the periodic jobs, wait for the package builds and the sharing
/// engine, wait for the request work once more (anything spawned there since), remove
/// `admin.addr` and `link.addr`, flush the store.
async fn stop(cancel: CancellationToken, mut running: Running) -> Result<()> {
    cancel.cancelled().await;
    tracing::info!("shutting down");
    let mut served = Ok(());
    while let Some(r) = running.servers.join_next().await {
        let r = r.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = r {
            tracing::error!(error = %format!("{e:#}"), "server failed");
            if served.is_ok() {
                served = Err(e);
            }
        }
    }
    let requests = running.request_tasks.tracker();
    requests.close();
    requests.wait().await;
    while running.jobs.join_next().await.is_some() {}
    running.links.shutdown().await;
    while running.engine_tasks.join_next().await.is_some() {}
    // A `Node` clone held elsewhere (a test, a job) may have spawned more since: a closed tracker
    // still accepts tasks, and `wait` waits for them too.
    requests.wait().await;
    let _ = std::fs::remove_file(running.layout.admin_addr());
    let _ = std::fs::remove_file(running.layout.link_addr());
    running.store.flush().await.context("flush the store")?;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Bind one of the node's HTTP listeners (`what`, set by config key `key`); a taken port is
/// [`port_in_use`].
async fn bind(
    addr: SocketAddr,
    what: &str,
    key: &str,
    layout: &config::Layout,
) -> Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(port_in_use(
            what,
            &addr.to_string(),
            addr.port(),
            key,
            layout,
        )),
        Err(e) => Err(e).with_context(|| format!("bind the {what} on {addr} ({key})")),
    }
}

/// The start error for a listen address whose port another process holds (issue #15 item 4):
/// names the port, the address, the config key that sets it and the file it is in.
fn port_in_use(
    what: &str,
    addr: &str,
    port: u16,
    key: &str,
    layout: &config::Layout,
) -> anyhow::Error {
    anyhow::anyhow!(
        "the {what} port {port} ({addr}) is already in use by another process (another casemesh \
         node?): set a free address in `{key}` in {}",
        layout.config().display()
    )
}

/// How often leftovers of interrupted uploads are looked for in the bucket (`[storage]
/// backend = "s3"`).
const STORAGE_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Leftovers younger than this are left alone: an upload of another process (a `blobs
/// migrate` run, a second node on the bucket) may still be using them.
const STORAGE_SWEEP_AGE: Duration = Duration::from_secs(24 * 3600);

/// Compare where the blobs of `dir` are recorded to live ([`config::BlobLocation`]) with where
/// `storage` says, and refuse a mismatch while any record references a blob: the node would
/// start and show every blob as missing. With no record yet (a new node, or one from before
/// the record), or no blob referenced, the configured place is recorded, except when the
/// node is configured for a bucket while its blobs are still under `DIR/blobs` (a node that ran
/// on files before the record existed).
///
/// Errors: the mismatch, naming both places and the `casemesh blobs migrate` command that
/// moves the blobs; a record that cannot be read or written.
async fn check_blob_location(
    dir: &std::path::Path,
    storage: &config::StorageConfig,
    store: &Store,
) -> Result<()> {
    use config::BlobLocation;
    let configured = BlobLocation::of(storage);
    let recorded = BlobLocation::load(dir)?;
    if let Some(r) = &recorded
        && *r == configured
    {
        return Ok(());
    }
    let (store2, configured2, recorded2) = (store.clone(), configured.clone(), recorded.clone());
    // The database scan and, on s3, a HEAD: off the async threads.
    let blobs_elsewhere = tokio::task::spawn_blocking(move || -> Result<Option<BlobLocation>> {
        let referenced = store2.referenced_blobs()?;
        let Some(first) = referenced.first() else {
            return Ok(None);
        };
        Ok(match recorded2 {
            Some(r) if !r.same_place(&configured2) => Some(r),
            Some(_) => None,
            // No record: a node on files from before it. Its blobs are under DIR/blobs and not
            // in the bucket it is now configured for.
            None => (configured2.backend() == "s3"
                && store2.blobs().path_of(first).is_file()
                && !store2.blobs().contains(first))
            .then_some(BlobLocation::Fs),
        })
    })
    .await
    .context("blob location check")??;
    if let Some(actual) = blobs_elsewhere {
        let layout = config::Layout::new(dir);
        anyhow::bail!(
            "[storage] in {config} names {configured}, but this node's evidence blobs are in \
             {actual} (recorded in {record}); started like this it would show every blob as \
             missing. Either move them: keep the node stopped and run `casemesh --data-dir {dir} \
             blobs migrate --to {to}` with the new [storage] settings in place (it records the \
             new place once every blob has moved), then start the node; or set [storage] back to \
             {actual}",
            config = layout.config().display(),
            record = layout.blob_location().display(),
            dir = dir.display(),
            to = configured.backend(),
        );
    }
    configured.save(dir)?;
    if recorded.is_some() {
        tracing::info!(location = %configured, "blob location record updated");
    }
    Ok(())
}

/// Open the store on `dir` with its blobs where `[storage]` says: `DIR/blobs` (`fs`), or the
/// bucket (`s3`: settings resolved, credentials read; temp files in `DIR/blobs/tmp`).
/// Must be called inside the node's (multi-threaded) runtime: S3 calls run on it.
fn open_store(dir: &std::path::Path, storage: &config::StorageConfig) -> Result<Store, StoreError> {
    match storage {
        config::StorageConfig::Fs => Store::open(dir),
        config::StorageConfig::S3(settings) => Store::open_with_blobs(dir, || {
            // The settings' errors name `[storage]` and the key themselves.
            let invalid = |e: String| {
                StoreError::io("the blob store's settings")(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    e,
                ))
            };
            let s3 = casemesh_blobs_s3::S3Config::resolve(settings, dir, |k| std::env::var(k).ok())
                .map_err(|e| invalid(e.to_string()))?;
            let blobs =
                casemesh_blobs_s3::S3Blobs::connect(&s3).map_err(|e| invalid(e.to_string()))?;
            let backend = casemesh_blobs_s3::backend::S3Backend::new(
                blobs,
                tokio::runtime::Handle::current(),
            );
            tracing::info!(endpoint = %s3.endpoint, bucket = %s3.bucket, "evidence blobs in an S3 bucket");
            casemesh_store::BlobStore::open_object(&dir.join("blobs"), std::sync::Arc::new(backend))
        }),
        // Future backends are refused rather than silently falling back to files.
        #[allow(unreachable_patterns)]
        _ => Err(StoreError::io("[storage]")(std::io::Error::other(
            "unknown backend",
        ))),
    }
}

/// Run `job` every `every_secs` seconds (0 = never) until `cancel` fires.
fn spawn_periodic<F, Fut>(
    jobs: &mut JoinSet<()>,
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
