//! Download links, as a service: a ZIP or ISO package of a case (or a selection of it) that
//! anyone holding the link's unguessable URL may download until the link expires or is revoked.
//!
//! This crate owns the link record and its lifecycle and every use case on it: create (validate,
//! record with its audit entry, email the recipient, start the build), list/show, revoke, the
//! background package builds (and resuming the ones a stopped node left), the cleaner, token
//! lookup, download accounting and the failed-guess [`limiter`]. It knows nothing of HTTP: the
//! admin routes and the public link server in `casemesh-api` extract a request, call a method of
//! [`Links`] and map a [`LinkError`] to a status in one place.
//!
//! ```text
//!  Links::create ──► record (Processing) ──► build task (≤ MAX_BUILDS at once, in the service's
//!                          │                      │          task set, joined at shutdown)
//!                          │                      │ spawn_blocking: verify blobs,
//!                          │                      │ casemesh_package::build
//!                          ▼                      ▼
//!  Links::revoke ──► Revoked, package deleted   Ready { size, manifest } | Failed { reason }
//!  clock passes expires_at ──► Expired; Links::clean deletes the package
//! ```
//!
//! Tokens: 256 random bits, shown once (in the URL [`Links::create`] returns), stored only as
//! their BLAKE3 hash (index [`LINKS_BY_TOKEN`]); [`Links::find_by_token`] compares hashes in
//! constant time. Package layout: [`contents`].
//!
//! ```no_run
//! # async fn demo(links: casemesh_links::Links, actor: casemesh_store::Actor) -> Result<(), casemesh_links::LinkError> {
//! use casemesh_links::{NewLink, PackageFormat};
//! let created = links.create(NewLink::whole_case("C-1", PackageFormat::Zip), &actor)?;
//! println!("{} -> {}", created.link.id, created.url);
//! links.shutdown().await; // waits for the builds in flight
//! # Ok(()) }
//! ```

pub mod client;
pub mod contents;
pub mod downloads;
pub mod limiter;
pub mod range;

use casemesh_model::audit::actions;
use casemesh_model::case::{Case, FolderError};
use casemesh_model::ids::{CaseId, EvidenceId, LinkId, OrgId};
use casemesh_model::time::Timestamp;
use casemesh_sharing::{Engine, SharingError};
use casemesh_store::{Actor, Clock, Index, Store, StoreError, Table};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;

/// Links by the BLAKE3 hex of their token (the token itself is never stored).
pub const LINKS_BY_TOKEN: Index<LinkRecord> =
    Index::new("link.token", |l| Some(l.token_hash.clone()));
/// Links by the case they package.
pub const LINKS_BY_CASE: Index<LinkRecord> = Index::new("link.case", |l| Some(l.case.to_string()));
/// Download links in the store, by link id; found by token and by case.
pub const LINKS: Table<LinkId, LinkRecord> =
    Table::new("link").with_indexes(&[LINKS_BY_TOKEN, LINKS_BY_CASE]);
/// Package builds running at once; more wait for a slot.
pub const MAX_BUILDS: usize = 2;
/// Longest link duration, in days (ten years).
pub const MAX_DAYS: u32 = 3650;
/// Longest message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Default link duration, in days.
pub const DEFAULT_DAYS: u32 = 7;

/// What went wrong with a link use case. [`LinkError::disposition`] says what the caller should
/// do about it; nothing was changed unless the variant says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The request is refused as given (bad days, message, recipient, empty selection).
    #[error("{0}")]
    Refused(String),
    /// No such link.
    #[error("{0}")]
    NotFound(String),
    /// A folder of the selection does not resolve.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The store refused (no such case or item, no space) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sharing engine refused the recipient or failed to queue the email.
    #[error(transparent)]
    Sharing(#[from] SharingError),
    /// A fault of this node (no randomness).
    #[error("{0}")]
    Internal(String),
}

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Refuse with the reason: trying again unchanged gives the same answer.
    Refuse,
    /// Something named does not exist.
    NotFound,
    /// A temporary condition (disk full, store busy): the same request may succeed later.
    Retry,
    /// A fault of this node.
    Internal,
}

impl LinkError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            LinkError::Refused(_) => Disposition::Refuse,
            LinkError::NotFound(_) => Disposition::NotFound,
            LinkError::Folder(FolderError::NotFound(_)) => Disposition::NotFound,
            LinkError::Folder(_) => Disposition::Refuse,
            LinkError::Store(StoreError::NotFound(_)) => Disposition::NotFound,
            LinkError::Store(StoreError::Conflict(_)) => Disposition::Refuse,
            LinkError::Store(StoreError::NoSpace { .. }) => Disposition::Retry,
            LinkError::Store(_) => Disposition::Internal,
            LinkError::Sharing(SharingError::NotFound(_)) => Disposition::NotFound,
            LinkError::Sharing(e) if e.is_refusal() => Disposition::Refuse,
            LinkError::Sharing(_) => Disposition::Retry,
            LinkError::Internal(_) => Disposition::Internal,
        }
    }
}

/// Result of the link use cases.
pub type Result<T, E = LinkError> = std::result::Result<T, E>;

/// Container format of a link's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    /// ZIP archive.
    Zip,
    /// ISO 9660 image (Joliet + Rock Ridge).
    Iso,
}

impl PackageFormat {
    /// File extension, `zip` or `iso`.
    pub fn extension(self) -> &'static str {
        match self {
            PackageFormat::Zip => "zip",
            PackageFormat::Iso => "iso",
        }
    }

    fn package(self) -> casemesh_package::Format {
        match self {
            PackageFormat::Zip => casemesh_package::Format::Zip,
            PackageFormat::Iso => casemesh_package::Format::Iso,
        }
    }
}

/// What goes into a link's package (fixed when the link is created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkOptions {
    /// Include the case's audit trail and each item's, as CSV and JSON.
    pub audit_trail: bool,
    /// Include each item's transcripts.
    pub transcripts: bool,
    /// Include a table of contents (HTML and CSV).
    pub toc: bool,
    /// Keep the case's folder structure; else a flat layout with collision-free names.
    pub keep_folders: bool,
    /// Selected folders (paths as given); with `evidence` empty too, the entire case.
    pub folders: Vec<String>,
    /// Selected evidence items (record ids, resolved at creation).
    #[schema(value_type = Vec<String>)]
    pub evidence: Vec<EvidenceId>,
}

/// Where a link's package build stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum BuildState {
    /// Queued or being built.
    Processing,
    /// Built: `DIR/packages/<link id>.<ext>`.
    Ready {
        /// Package size in bytes.
        size: u64,
        /// Files in the package (without the manifest and signature).
        files: usize,
        /// BLAKE3 of the package's `manifest.json`.
        manifest_blake3: String,
    },
    /// The build failed; the reason names the item at fault.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A download link as stored (in [`LINKS`], by link id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkRecord {
    /// Stable id.
    pub id: LinkId,
    /// The case packaged.
    pub case: CaseId,
    /// BLAKE3 of the token, hex; the token itself is never stored.
    pub token_hash: String,
    /// ZIP or ISO.
    pub format: PackageFormat,
    /// What the package holds.
    pub options: LinkOptions,
    /// The recipient as given: an email address, or a user or group (of this agency or a
    /// partner's).
    pub recipient: Option<String>,
    /// The sender's message, shown on the landing page.
    pub message: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// The build.
    pub build: BuildState,
    /// Downloads: each run of a client's requests for the package counts once (see
    /// [`downloads`]).
    pub downloads: u64,
}

/// The status of a link as people see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum LinkStatus {
    /// The package is being built.
    Processing,
    /// Downloadable.
    Ready,
    /// The build failed (see `error`).
    Failed,
    /// Past its expiry.
    Expired,
    /// Revoked by a user.
    Revoked,
}

impl LinkRecord {
    /// The status at `now`: revoked and expired win over the build state.
    pub fn status(&self, now: Timestamp) -> LinkStatus {
        if self.revoked_at.is_some() {
            LinkStatus::Revoked
        } else if now >= self.expires_at {
            LinkStatus::Expired
        } else {
            match self.build {
                BuildState::Processing => LinkStatus::Processing,
                BuildState::Ready { .. } => LinkStatus::Ready,
                BuildState::Failed { .. } => LinkStatus::Failed,
            }
        }
    }

    /// The package's strong entity tag (quotes included): changes whenever the package's bytes
    /// could (a rebuild with another manifest or size). `None` until built.
    pub fn etag(&self) -> Option<String> {
        match &self.build {
            BuildState::Ready {
                size,
                manifest_blake3,
                ..
            } => {
                let mut h = blake3::Hasher::new();
                h.update(self.id.as_bytes());
                h.update(manifest_blake3.as_bytes());
                h.update(&size.to_le_bytes());
                Some(format!("\"{}\"", &h.finalize().to_hex()[..32]))
            }
            _ => None,
        }
    }

    /// The package's size once built, else 0.
    pub fn package_size(&self) -> u64 {
        match self.build {
            BuildState::Ready { size, .. } => size,
            _ => 0,
        }
    }
}

/// Build progress of a link, bytes of content written so far.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Progress {
    /// Bytes written.
    pub done: u64,
    /// Bytes to write.
    pub total: u64,
}

/// A request to create a link: references as the user gave them, resolved by [`Links::create`].
#[derive(Debug, Clone)]
pub struct NewLink {
    /// The case: record id or Case ID.
    pub case: String,
    /// ZIP or ISO.
    pub format: PackageFormat,
    /// Days the link stays valid: 1 to [`MAX_DAYS`]; anything else is refused
    /// ([`LinkError::Refused`]).
    pub days: u32,
    /// Include audit trails.
    pub audit_trail: bool,
    /// Include transcripts.
    pub transcripts: bool,
    /// Include a table of contents.
    pub toc: bool,
    /// Retain the folder structure.
    pub keep_folders: bool,
    /// Only these folders (and their subfolders).
    pub folders: Vec<String>,
    /// Only these evidence items (record ids or display ids).
    pub evidence: Vec<String>,
    /// Recipient: an email address, or a user or group; emailed the URL.
    pub to: Option<String>,
    /// Message shown to the recipient.
    pub message: Option<String>,
}

impl NewLink {
    /// A link to the whole case, valid [`DEFAULT_DAYS`], without attachments or recipient.
    pub fn whole_case(case: &str, format: PackageFormat) -> NewLink {
        NewLink {
            case: case.to_owned(),
            format,
            days: DEFAULT_DAYS,
            audit_trail: false,
            transcripts: false,
            toc: false,
            keep_folders: false,
            folders: Vec::new(),
            evidence: Vec::new(),
            to: None,
            message: None,
        }
    }
}

/// A link just created.
#[derive(Debug, Clone)]
pub struct Created {
    /// The record (status Processing unless it expired at once).
    pub link: LinkRecord,
    /// The case packaged.
    pub case: Case,
    /// The public URL with the token: returned here only, never stored.
    pub url: String,
    /// Email notifications queued for the recipient.
    pub emailed: usize,
}

/// What the links service needs.
pub struct Config {
    /// The store (link records, cases, evidence, audit, blobs).
    pub store: Store,
    /// The clock.
    pub clock: Clock,
    /// `DIR/packages`.
    pub packages_dir: PathBuf,
    /// The org key that signs package manifests.
    pub signing_key: ed25519_dalek::SigningKey,
    /// The org id (PeerId) of `signing_key`; a build refuses to sign when they differ
    /// (manifests name the key's own org id as their signer).
    pub org_id: OrgId,
    /// The org's display name (in recipients' emails).
    pub org_name: String,
    /// The sharing engine: resolves recipients and queues their emails.
    pub sharing: Engine,
    /// Cancelled at shutdown: builds waiting for a slot give up (they resume at the next start).
    pub shutdown: CancellationToken,
}

/// The links service: cheap to clone; every clone shares the builds and the limiter.
#[derive(Clone)]
pub struct Links {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    /// `DIR/packages`.
    packages_dir: PathBuf,
    /// The org key that signs package manifests.
    signing_key: ed25519_dalek::SigningKey,
    /// The org id of `signing_key`, checked before each build.
    org_id: OrgId,
    /// Named in recipients' emails.
    org_name: String,
    /// Recipients and their emails.
    sharing: Engine,
    /// Caps concurrent builds at [`MAX_BUILDS`].
    builds: Arc<tokio::sync::Semaphore>,
    /// The build tasks; closed and waited for by [`Links::shutdown`].
    tasks: TaskTracker,
    /// Cancelled at shutdown.
    shutdown: CancellationToken,
    /// Base of public URLs, e.g. `http://127.0.0.1:7071` (set once the link server is bound, or
    /// from configuration).
    public_base: RwLock<String>,
    /// Progress of running builds.
    progress: Mutex<HashMap<LinkId, Progress>>,
    /// Failed-token-guess limiter of the public server.
    limiter: limiter::RateLimiter,
    /// Downloads under way (audited and counted once each).
    sessions: downloads::Sessions,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`[link] trusted_proxies`).
    trusted_proxies: RwLock<client::TrustedProxies>,
}

impl Links {
    /// The links service; nothing runs until a link is created or [`Links::resume_builds`].
    pub fn new(config: Config) -> Links {
        Links {
            inner: Arc::new(Inner {
                store: config.store,
                clock: config.clock,
                packages_dir: config.packages_dir,
                signing_key: config.signing_key,
                org_id: config.org_id,
                org_name: config.org_name,
                sharing: config.sharing,
                builds: Arc::new(tokio::sync::Semaphore::new(MAX_BUILDS)),
                tasks: TaskTracker::new(),
                shutdown: config.shutdown,
                public_base: RwLock::new("http://127.0.0.1:7071".to_owned()),
                progress: Mutex::new(HashMap::new()),
                limiter: limiter::RateLimiter::new(
                    limiter::MAX_FAILURES,
                    limiter::WINDOW,
                    limiter::MAX_TRACKED_CLIENTS,
                ),
                sessions: downloads::Sessions::new(
                    downloads::SESSION_IDLE,
                    downloads::MAX_SESSIONS,
                ),
                trusted_proxies: RwLock::new(client::TrustedProxies::default()),
            }),
        }
    }

    /// Set the base of public URLs (`http://host:port`, no trailing slash).
    pub fn set_public_base(&self, base: &str) {
        if let Ok(mut b) = self.inner.public_base.write() {
            *b = base.trim_end_matches('/').to_owned();
        }
    }

    /// The public URL of a token.
    pub fn url(&self, token: &str) -> String {
        let base = self
            .inner
            .public_base
            .read()
            .map(|b| b.clone())
            .unwrap_or_default();
        format!("{base}/l/{token}")
    }

    /// Where the package of `link` lives.
    pub fn package_path(&self, link: &LinkRecord) -> PathBuf {
        self.inner
            .packages_dir
            .join(format!("{}.{}", link.id, link.format.extension()))
    }

    /// The packages directory.
    pub fn packages_dir(&self) -> &Path {
        &self.inner.packages_dir
    }

    /// The failed-guess limiter.
    pub fn limiter(&self) -> &limiter::RateLimiter {
        &self.inner.limiter
    }

    /// Trust these reverse proxies' `X-Forwarded-For` (see [`client`]).
    pub fn set_trusted_proxies(&self, proxies: client::TrustedProxies) {
        if let Ok(mut t) = self.inner.trusted_proxies.write() {
            *t = proxies;
        }
    }

    /// The key of the client of a request from `peer` carrying these `X-Forwarded-For` values.
    pub fn client_key<'a>(
        &self,
        peer: std::net::SocketAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> client::ClientKey {
        match self.inner.trusted_proxies.read() {
            Ok(t) => t.client_key(peer, forwarded_for),
            Err(_) => client::ClientKey::of(peer.ip()),
        }
    }

    /// The time now, by the service's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Progress of a build under way.
    pub fn progress(&self, id: LinkId) -> Option<Progress> {
        self.inner
            .progress
            .lock()
            .ok()
            .and_then(|p| p.get(&id).copied())
    }

    fn set_progress(&self, id: LinkId, progress: Option<Progress>) {
        if let Ok(mut p) = self.inner.progress.lock() {
            match progress {
                Some(v) => p.insert(id, v),
                None => p.remove(&id),
            };
        }
    }

    /// Builds queued or running now.
    pub fn builds_in_flight(&self) -> usize {
        self.inner.tasks.len()
    }

    /// Create a download link: validate (a bad recipient, an empty selection, days out of range
    /// refuse with nothing stored), record it with its audit entry and the recipient's email
    /// (one transaction), start the package build (status `Processing`, then `Ready`
    /// or `Failed`).
    pub fn create(&self, req: NewLink, actor: &Actor) -> Result<Created> {
        let store = &self.inner.store;
        let case = store.resolve_case(&req.case)?;
        // A link valid for 0 days would be expired before anyone could use it (issue #15 item 8).
        if req.days == 0 || req.days > MAX_DAYS {
            return Err(LinkError::Refused(format!(
                "days must be 1 to {MAX_DAYS} (the link's lifetime in days; got {}): nothing was created",
                req.days
            )));
        }
        let message = req.message.clone().unwrap_or_default();
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(LinkError::Refused(format!(
                "message is longer than {MAX_MESSAGE_BYTES} bytes"
            )));
        }
        let recipient = req
            .to
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if recipient
            .as_deref()
            .is_some_and(|r| r.len() > 320 || r.chars().any(char::is_control))
        {
            return Err(LinkError::Refused("invalid recipient".into()));
        }
        for folder in &req.folders {
            case.resolve(folder)?;
        }
        let mut evidence = Vec::new();
        for reference in &req.evidence {
            let ev = store.resolve_evidence(case.id, reference)?;
            if !evidence.contains(&ev.id) {
                evidence.push(ev.id);
            }
        }
        let options = LinkOptions {
            audit_trail: req.audit_trail,
            transcripts: req.transcripts,
            toc: req.toc,
            keep_folders: req.keep_folders,
            folders: req.folders.clone(),
            evidence,
        };
        // Refuse an empty selection now rather than building an empty package.
        let selected = contents::select(store, &case, &options)?;
        if selected.is_empty() {
            return Err(LinkError::Refused(
                "the selection holds no evidence: nothing to package".into(),
            ));
        }

        let token = new_token()?;
        let now = self.inner.clock.now();
        let link = LinkRecord {
            id: LinkId::random(),
            case: case.id,
            token_hash: token_hash(&token),
            format: req.format,
            options,
            recipient: recipient.clone(),
            message,
            created_by: actor.name.clone(),
            created_at: now,
            expires_at: now.plus_days(req.days),
            revoked_at: None,
            build: BuildState::Processing,
            downloads: 0,
        };
        let details = format!(
            "link={} format={} days={} items={} recipient={:?}",
            link.id,
            link.format.extension(),
            req.days,
            selected.len(),
            recipient.as_deref().unwrap_or("")
        );
        // The recipient is emailed the URL through the durable mail queue (an email address, or
        // a local user or group with addresses). The token is a bearer secret: it stays out of
        // the logs. A recipient that does not parse is refused before anything is stored.
        let url = self.url(&token);
        let mails = match &recipient {
            Some(r) => {
                let to = casemesh_sharing::parse_recipient(r)?;
                let body = format!(
                    "{} shared the case {} \"{}\" with you as a download link.\n{}\nDownload: {url}\nThe link expires in {} days. Verify the package offline with: casemesh verify PACKAGE\n",
                    self.inner.org_name,
                    case.case_number,
                    case.title,
                    if link.message.is_empty() {
                        String::new()
                    } else {
                        format!("Message: {}\n", link.message)
                    },
                    req.days
                );
                self.inner.sharing.notification(
                    &[to],
                    format!("Download link for case {}", case.case_number),
                    body,
                )?
            }
            None => Vec::new(),
        };
        // The link, its index keys, its audit entry and its email commit together (and
        // durably): no link without its email, no email for a link that was not stored.
        store.atomically(|txn| {
            txn.put(&LINKS, &link.id, &link)?;
            txn.audit(case.id, actor, actions::LINK_CREATE, None, &details)?;
            casemesh_sharing::queue_mails(txn, &mails)
        })?;
        let emailed = mails.len();
        self.inner.sharing.mail_queued(emailed);
        tracing::info!(link = %link.id, case = %case.id, recipient = recipient.as_deref().unwrap_or("-"), emailed, "download link created");
        if link.status(now) == LinkStatus::Processing {
            self.spawn_build(link.id);
        }
        Ok(Created {
            link,
            case,
            url,
            emailed,
        })
    }

    /// The links of case `case`, oldest first (none for a case that has none or does not
    /// exist).
    pub fn list(&self, case: CaseId) -> Result<Vec<LinkRecord>> {
        let mut links = self
            .inner
            .store
            .by_index(&LINKS, &LINKS_BY_CASE, &case.to_string())?;
        links.sort_by_key(|l| l.created_at);
        Ok(links)
    }

    /// Link `link`.
    ///
    /// # Errors
    /// [`LinkError::NotFound`] when there is no link `link`.
    pub fn get(&self, link: LinkId) -> Result<LinkRecord> {
        self.inner
            .store
            .get(&LINKS, &link)?
            .ok_or_else(|| LinkError::NotFound(format!("no link \"{link}\"")))
    }

    /// The case a link packages, if it still exists.
    pub fn case_of(&self, link: &LinkRecord) -> Result<Option<Case>> {
        Ok(self.inner.store.case(link.case)?)
    }

    /// Revoke a link: it answers 410 from now on and its package is deleted. The revocation and
    /// its audit entry commit together; revoking twice records it once.
    pub fn revoke(&self, link: LinkId, actor: &Actor) -> Result<LinkRecord> {
        let link = self.get(link)?;
        let now = self.inner.clock.now();
        let id = link.id;
        let updated = self.inner.store.atomically(|txn| {
            let mut l: LinkRecord = txn
                .get(&LINKS, &id)?
                .ok_or_else(|| LinkError::NotFound("no such link".into()))?;
            if l.revoked_at.is_none() {
                l.revoked_at = Some(now);
                txn.put(&LINKS, &id, &l)?;
                txn.audit(
                    l.case,
                    actor,
                    actions::LINK_REVOKE,
                    None,
                    &format!("link={id}"),
                )?;
            }
            Ok::<_, LinkError>(l)
        })?;
        if link.revoked_at.is_none() {
            tracing::info!(link = %link.id, case = %link.case, "download link revoked");
        }
        self.remove_package(&updated);
        Ok(updated)
    }

    fn remove_package(&self, link: &LinkRecord) {
        let path = self.package_path(link);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(link = %link.id, "package deleted"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(link = %link.id, error = %e, "cannot delete package"),
        }
    }

    /// Build the package of `id` in the background, in the service's task set (waits for one of
    /// the [`MAX_BUILDS`] slots; gives up waiting at shutdown).
    fn spawn_build(&self, id: LinkId) {
        let links = self.clone();
        self.inner.tasks.spawn(async move {
            let permit = tokio::select! {
                biased;
                _ = links.inner.shutdown.cancelled() => return,
                permit = links.inner.builds.clone().acquire_owned() => permit,
            };
            let Ok(_permit) = permit else { return };
            // A build under way runs to its end even at shutdown (packaging cannot be
            // interrupted); its outcome is recorded, so it is not built twice.
            let result = {
                let links = links.clone();
                tokio::task::spawn_blocking(move || contents::build_package(&links, id)).await
            };
            links.finish_build(id, result).await;
        });
    }

    async fn finish_build(
        &self,
        id: LinkId,
        result: std::result::Result<
            std::result::Result<contents::Built, String>,
            tokio::task::JoinError,
        >,
    ) {
        let outcome = match result {
            Ok(Ok(built)) => BuildState::Ready {
                size: built.package_size,
                files: built.files,
                manifest_blake3: built.manifest_blake3,
            },
            Ok(Err(reason)) => BuildState::Failed { reason },
            Err(e) => BuildState::Failed {
                reason: format!("build task failed: {e}"),
            },
        };
        self.set_progress(id, None);
        match &outcome {
            BuildState::Ready { size, .. } => {
                tracing::info!(link = %id, size, "package ready")
            }
            BuildState::Failed { reason } => {
                tracing::error!(link = %id, reason = %reason, "package build failed")
            }
            BuildState::Processing => {}
        }
        let store = &self.inner.store;
        let updated = store.update::<_, _, StoreError>(&LINKS, &id, |cur| {
            Ok(cur.map(|mut l| {
                l.build = outcome.clone();
                l
            }))
        });
        match updated {
            Ok(Some(l)) => {
                // Revoked or expired while building: the package must not outlive the link.
                if matches!(
                    l.status(self.inner.clock.now()),
                    LinkStatus::Revoked | LinkStatus::Expired | LinkStatus::Failed
                ) {
                    self.remove_package(&l);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(link = %id, error = %e, "cannot record the build"),
        }
        let _ = store.flush().await;
    }

    /// Restart the builds of links left `Processing` by a stopped node (call once at start-up).
    pub fn resume_builds(&self) -> Result<usize> {
        let now = self.inner.clock.now();
        let pending: Vec<LinkId> = self
            .inner
            .store
            .all(&LINKS)?
            .into_iter()
            .filter(|l| l.status(now) == LinkStatus::Processing)
            .map(|l| l.id)
            .collect();
        for id in &pending {
            self.spawn_build(*id);
        }
        Ok(pending.len())
    }

    /// Delete the packages of expired and revoked links, leftover partial files and packages of
    /// links that no longer exist; prune the rate limiter. Returns how many files were deleted.
    /// Blocking: run it on a blocking thread.
    pub fn clean(&self) -> Result<usize> {
        self.limiter().prune();
        self.inner.sessions.prune();
        let now = self.inner.clock.now();
        let links = self.inner.store.all(&LINKS)?;
        let mut keep = std::collections::HashSet::new();
        for l in &links {
            let path = self.package_path(l);
            match l.status(now) {
                LinkStatus::Ready | LinkStatus::Processing => {
                    keep.insert(path);
                }
                _ => {}
            }
        }
        let building = links
            .iter()
            .any(|l| l.status(now) == LinkStatus::Processing);
        let mut removed = 0;
        let Ok(dir) = std::fs::read_dir(self.packages_dir()) else {
            return Ok(0);
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let partial = entry.file_name().to_string_lossy().starts_with('.');
            // Partial files belong to a running build; only remove them when nothing builds.
            if keep.contains(&path) || (partial && building) {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                tracing::info!(file = %path.display(), "removed package of an expired, revoked or unknown link");
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The link a token opens, if any. The index lookup is by hash (its timing reveals nothing
    /// about the token); the stored hash is then compared in constant time. Blocking.
    pub fn find_by_token(&self, token: &str) -> Result<Option<LinkRecord>> {
        // Tokens are 64 hex characters; anything else cannot match (and never reaches the store).
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let hash = token_hash(token);
        let Some(link) = self
            .inner
            .store
            .by_index(&LINKS, &LINKS_BY_TOKEN, &hash)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let same: bool = link.token_hash.as_bytes().ct_eq(hash.as_bytes()).into();
        Ok(same.then_some(link))
    }

    /// A `GET` of `link`'s package (version `etag`) by `client` is answered with bytes (200 or
    /// 206, `range` as asked): when it starts a download (see [`downloads`]), record
    /// `link.download` in the case's audit trail and count it. Returns whether it did. A download
    /// that cannot be recorded must be refused (and its next request tries again).
    pub fn record_download(
        &self,
        link: &LinkRecord,
        client: client::ClientKey,
        etag: &str,
        range: Option<&str>,
        status: u16,
    ) -> Result<bool> {
        if !self.inner.sessions.touch(link.id, client, etag) {
            return Ok(false);
        }
        let details = format!(
            "link={} client={client} range={} status={status}",
            link.id,
            range.unwrap_or("full"),
        );
        let actor = Actor::new(format!("link:{}", link.id), self.inner.clock.now());
        if let Err(e) =
            self.inner
                .store
                .audit(link.case, &actor, actions::LINK_DOWNLOAD, None, &details)
        {
            self.inner.sessions.forget(link.id, client, etag);
            return Err(e.into());
        }
        self.count_download(link.id);
        Ok(true)
    }

    fn count_download(&self, id: LinkId) {
        let r = self
            .inner
            .store
            .update::<_, _, StoreError>(&LINKS, &id, |cur| {
                Ok(cur.map(|mut l| {
                    l.downloads += 1;
                    l
                }))
            });
        if let Err(e) = r {
            tracing::warn!(link = %id, error = %e, "cannot count a download");
        }
    }

    /// Stop: builds waiting for a slot give up, builds under way finish and are recorded. Returns
    /// once every build task has ended (the shutdown token must be cancelled first, else this
    /// waits for the queued builds too).
    pub async fn shutdown(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

/// A fresh token: 32 random bytes as 64 hex characters.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| LinkError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// BLAKE3 of a token, hex.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires: u64) -> LinkRecord {
        LinkRecord {
            id: LinkId::random(),
            case: CaseId::random(),
            token_hash: token_hash("t"),
            format: PackageFormat::Zip,
            options: LinkOptions {
                audit_trail: false,
                transcripts: false,
                toc: false,
                keep_folders: false,
                folders: vec![],
                evidence: vec![],
            },
            recipient: None,
            message: String::new(),
            created_by: "a".into(),
            created_at: Timestamp(0),
            expires_at: Timestamp(expires),
            revoked_at: None,
            build: BuildState::Processing,
            downloads: 0,
        }
    }

    #[test]
    fn status_precedence() {
        let mut l = record(100);
        assert_eq!(l.status(Timestamp(5)), LinkStatus::Processing);
        assert_eq!(l.status(Timestamp(100)), LinkStatus::Expired);
        l.build = BuildState::Failed { reason: "x".into() };
        assert_eq!(l.status(Timestamp(5)), LinkStatus::Failed);
        l.revoked_at = Some(Timestamp(6));
        assert_eq!(l.status(Timestamp(7)), LinkStatus::Revoked);
        assert_eq!(l.status(Timestamp(700)), LinkStatus::Revoked);
    }

    #[test]
    fn tokens_are_256_bit_hex_and_distinct() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            LinkError::Refused("x".into()).disposition(),
            Disposition::Refuse
        );
        assert_eq!(
            LinkError::NotFound("x".into()).disposition(),
            Disposition::NotFound
        );
        assert_eq!(
            LinkError::Internal("x".into()).disposition(),
            Disposition::Internal
        );
    }
}
