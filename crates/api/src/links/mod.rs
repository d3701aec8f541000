//! Download links: a ZIP or ISO package of a case (or a selection of it) that anyone holding the
//! link's unguessable URL may download until the link expires or is revoked.
//!
//! This module owns the link record and its lifecycle, the admin routes (`/v1/cases/{case}/links`,
//! `/v1/links/{link}`, `…/revoke`), the background package builds and the cleaner. The package's
//! contents are assembled in [`contents`]; the public server that recipients talk to is
//! [`public`].
//!
//! ```text
//!  POST /v1/cases/{case}/links ──► record (Processing) ──► build task (≤ MAX_BUILDS at once)
//!                                        │                      │ spawn_blocking: verify blobs,
//!                                        │                      │ casemesh_package::build
//!                                        ▼                      ▼
//!  revoke ──► Revoked, package deleted   Ready { size, manifest } | Failed { reason }
//!  clock passes expires_at ──► Expired; the cleaner deletes the package
//! ```
//!
//! Tokens: 256 random bits, shown once (in the creation response's `url`), stored only as their
//! BLAKE3 hash under an index record `link-token/<hash hex>`; the public server compares hashes in
//! constant time.

pub mod contents;
pub mod public;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use casemesh_model::audit::actions;
use casemesh_model::case::Case;
use casemesh_model::ids::{CaseId, EvidenceId, LinkId};
use casemesh_model::org::Action;
use casemesh_model::time::Timestamp;
use casemesh_store::{Index, Table};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use subtle::ConstantTimeEq;
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
    /// Downloads started (GET requests answered with the package's first byte).
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
}

/// Build progress of a link, bytes of content written so far.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Progress {
    /// Bytes written.
    pub done: u64,
    /// Bytes to write.
    pub total: u64,
}

/// A link as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkView {
    /// Link id.
    pub id: String,
    /// The case's record id.
    pub case: String,
    /// The case's Case ID.
    pub case_id: String,
    /// `Processing`, `Ready`, `Failed`, `Expired` or `Revoked`.
    pub status: LinkStatus,
    /// The public URL with the token: only in the creation response, never again.
    pub url: Option<String>,
    /// `zip` or `iso`.
    pub format: PackageFormat,
    /// Package contents options.
    pub options: LinkOptions,
    /// Recipient as given.
    pub recipient: Option<String>,
    /// Message to the recipient.
    pub message: String,
    /// Creator's username.
    pub created_by: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry time (RFC 3339).
    pub expires_at: String,
    /// Revocation time (RFC 3339), if revoked.
    pub revoked_at: Option<String>,
    /// Package size in bytes, once built.
    pub package_size: Option<u64>,
    /// Files in the package (without manifest and signature), once built.
    pub files: Option<usize>,
    /// BLAKE3 of the package's `manifest.json`, once built.
    pub manifest_blake3: Option<String>,
    /// Why the build failed.
    pub error: Option<String>,
    /// Downloads started.
    pub downloads: u64,
    /// Build progress while Processing.
    pub progress: Option<Progress>,
}

impl LinkView {
    /// The view of `link` (of `case`) at `now`.
    pub fn new(link: &LinkRecord, case: Option<&Case>, now: Timestamp, links: &Links) -> Self {
        let status = link.status(now);
        let (package_size, files, manifest_blake3, error) = match &link.build {
            BuildState::Ready {
                size,
                files,
                manifest_blake3,
            } => (
                Some(*size),
                Some(*files),
                Some(manifest_blake3.clone()),
                None,
            ),
            BuildState::Failed { reason } => (None, None, None, Some(reason.clone())),
            BuildState::Processing => (None, None, None, None),
        };
        LinkView {
            id: link.id.to_string(),
            case: link.case.to_string(),
            case_id: case.map(|c| c.case_number.clone()).unwrap_or_default(),
            status,
            url: None,
            format: link.format,
            options: link.options.clone(),
            recipient: link.recipient.clone(),
            message: link.message.clone(),
            created_by: link.created_by.clone(),
            created_at: link.created_at.to_string(),
            expires_at: link.expires_at.to_string(),
            revoked_at: link.revoked_at.map(|t| t.to_string()),
            package_size,
            files,
            manifest_blake3,
            error,
            downloads: link.downloads,
            progress: (status == LinkStatus::Processing)
                .then(|| links.progress(link.id))
                .flatten(),
        }
    }
}

/// Body of `POST /v1/cases/{case}/links`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    /// `zip` or `iso`.
    pub format: PackageFormat,
    /// Days the link stays valid (0 = expired at once); default 7.
    #[serde(default = "default_days")]
    pub days: u32,
    /// Include audit trails (CSV and JSON).
    #[serde(default)]
    pub audit_trail: bool,
    /// Include transcripts.
    #[serde(default)]
    pub transcripts: bool,
    /// Include a table of contents (HTML and CSV).
    #[serde(default)]
    pub toc: bool,
    /// Retain the folder structure; else a flat layout.
    #[serde(default)]
    pub keep_folders: bool,
    /// Only these folders (and their subfolders).
    #[serde(default)]
    pub folders: Vec<String>,
    /// Only these evidence items (record ids or display ids).
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Recipient: an email address, or a user or group inside the agency or of a partner agency.
    pub to: Option<String>,
    /// Optional message shown to the recipient.
    pub message: Option<String>,
}

fn default_days() -> u32 {
    7
}

/// The link machinery's run-time state, shared by the admin and public routers.
#[derive(Clone)]
pub struct Links {
    inner: Arc<LinksInner>,
}

struct LinksInner {
    /// `DIR/packages`.
    packages_dir: PathBuf,
    /// The org key that signs package manifests.
    signing_key: ed25519_dalek::SigningKey,
    /// Caps concurrent builds at [`MAX_BUILDS`].
    builds: Arc<tokio::sync::Semaphore>,
    /// Base of public URLs, e.g. `http://127.0.0.1:7071` (set once the link server is bound, or
    /// from configuration).
    public_base: RwLock<String>,
    /// Progress of running builds.
    progress: Mutex<HashMap<LinkId, Progress>>,
    /// Failed-token-guess limiter of the public server.
    limiter: public::RateLimiter,
}

impl Links {
    /// Link machinery storing packages in `packages_dir`, signing with `signing_key`.
    pub fn new(packages_dir: PathBuf, signing_key: ed25519_dalek::SigningKey) -> Links {
        Links {
            inner: Arc::new(LinksInner {
                packages_dir,
                signing_key,
                builds: Arc::new(tokio::sync::Semaphore::new(MAX_BUILDS)),
                public_base: RwLock::new("http://127.0.0.1:7071".to_owned()),
                progress: Mutex::new(HashMap::new()),
                limiter: public::RateLimiter::new(
                    public::MAX_FAILURES,
                    public::WINDOW,
                    public::MAX_TRACKED_CLIENTS,
                ),
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
    pub fn packages_dir(&self) -> &std::path::Path {
        &self.inner.packages_dir
    }

    /// The failed-guess limiter.
    pub fn limiter(&self) -> &public::RateLimiter {
        &self.inner.limiter
    }

    fn progress(&self, id: LinkId) -> Option<Progress> {
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
}

/// A fresh token: 32 random bytes as 64 hex characters.
fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// BLAKE3 of a token, hex.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// The link a token opens, if any. The index lookup is by hash (its timing reveals nothing about
/// the token); the stored hash is then compared in constant time.
pub fn find_by_token(state: &AppState, token: &str) -> Result<Option<LinkRecord>, ApiError> {
    // Tokens are 64 hex characters; anything else cannot match (and never reaches the store).
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = token_hash(token);
    let Some(link) = state
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

fn load(state: &AppState, link: &str) -> ApiResult<LinkRecord> {
    let id: LinkId = link
        .parse()
        .map_err(|_| ApiError::not_found(format!("no link {link:?}")))?;
    state
        .store
        .get(&LINKS, &id)?
        .ok_or_else(|| ApiError::not_found(format!("no link {link:?}")))
}

fn view(state: &AppState, link: &LinkRecord) -> ApiResult<LinkView> {
    let case = state.store.case(link.case)?;
    Ok(LinkView::new(
        link,
        case.as_ref(),
        state.clock.now(),
        &state.links,
    ))
}

/// Create a download link: the package builds in the background (status `Processing`, then
/// `Ready` or `Failed`). The response's `url` carries the token; it is shown only here.
#[utoipa::path(post, path = "/v1/cases/{case}/links", request_body = CreateLink, tag = "links",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 201, body = LinkView), (status = 400, body = ErrorBody), (status = 403, description = "missing share-external-download-links permissions or feature", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Json(req): Json<CreateLink>,
) -> ApiResult<(StatusCode, Json<LinkView>)> {
    caller.require(&state, Action::CreateLink).map_err(|e| {
        ApiError::forbidden(format!(
            "creating download links needs the case_share_links and evidence_share_links \
             permissions and features: {}",
            e.message
        ))
    })?;
    let case = state.store.resolve_case(&case)?;
    if req.days > MAX_DAYS {
        return Err(ApiError::bad_request(format!(
            "days must be at most {MAX_DAYS}"
        )));
    }
    let message = req.message.clone().unwrap_or_default();
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::bad_request(format!(
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
        return Err(ApiError::bad_request("invalid recipient"));
    }
    for folder in &req.folders {
        case.resolve(folder)?;
    }
    let mut evidence = Vec::new();
    for reference in &req.evidence {
        let ev = state.store.resolve_evidence(case.id, reference)?;
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
    let selected = contents::select(&state.store, &case, &options)?;
    if selected.is_empty() {
        return Err(ApiError::bad_request(
            "the selection holds no evidence: nothing to package",
        ));
    }

    let token = new_token()?;
    let now = state.clock.now();
    let link = LinkRecord {
        id: LinkId::random(),
        case: case.id,
        token_hash: token_hash(&token),
        format: req.format,
        options,
        recipient: recipient.clone(),
        message,
        created_by: caller.user.username.clone(),
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
    let actor = caller.actor(&state);
    // The link, its index keys and its audit entry commit together (and durably).
    state.store.atomically(|txn| {
        txn.put(&LINKS, &link.id, &link)?;
        txn.audit(case.id, &actor, actions::LINK_CREATE, None, &details)
    })?;
    // The recipient is emailed the URL through the durable mail queue (an email address, or a
    // local user or group with addresses). The token is a bearer secret: it stays out of the logs.
    let url = state.links.url(&token);
    let notified = match (&recipient, &state.sharing) {
        (Some(r), Some(engine)) => {
            let to = casemesh_sharing::parse_recipient(r)?;
            let body = format!(
                "{} shared the case {} \"{}\" with you as a download link.\n{}\nDownload: {url}\nThe link expires in {} days. Verify the package offline with: casemesh verify PACKAGE\n",
                state.org.name,
                case.case_number,
                case.title,
                if link.message.is_empty() {
                    String::new()
                } else {
                    format!("Message: {}\n", link.message)
                },
                req.days
            );
            engine.notify_recipients(
                &[to],
                format!("Download link for case {}", case.case_number),
                body,
            )?
        }
        _ => 0,
    };
    tracing::info!(link = %link.id, case = %case.id, recipient = recipient.as_deref().unwrap_or("-"), emailed = notified, "download link created");
    if link.status(now) == LinkStatus::Processing {
        spawn_build(state.clone(), link.id);
    }
    let mut v = view(&state, &link)?;
    v.url = Some(url);
    Ok((StatusCode::CREATED, Json(v)))
}

/// List a case's download links (tokens are never shown again).
#[utoipa::path(get, path = "/v1/cases/{case}/links", tag = "links",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = Vec<LinkView>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<Vec<LinkView>>> {
    let case = state.store.resolve_case(&case)?;
    let now = state.clock.now();
    let mut links = state
        .store
        .by_index(&LINKS, &LINKS_BY_CASE, &case.id.to_string())?;
    links.sort_by_key(|l| l.created_at);
    Ok(Json(
        links
            .iter()
            .map(|l| LinkView::new(l, Some(&case), now, &state.links))
            .collect(),
    ))
}

/// Show one download link.
#[utoipa::path(get, path = "/v1/links/{link}", tag = "links",
    params(("link" = String, Path, description = "link id")),
    responses((status = 200, body = LinkView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    Path(link): Path<String>,
) -> ApiResult<Json<LinkView>> {
    let link = load(&state, &link)?;
    Ok(Json(view(&state, &link)?))
}

/// Revoke a download link: it answers 410 from now on and its package is deleted. Needs the
/// link permissions, or administer (so links can be revoked after the feature is switched off).
#[utoipa::path(post, path = "/v1/links/{link}/revoke", tag = "links",
    params(("link" = String, Path, description = "link id")),
    responses((status = 200, body = LinkView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(link): Path<String>,
) -> ApiResult<Json<LinkView>> {
    if let Err(e) = caller.require(&state, Action::CreateLink) {
        caller.require(&state, Action::Administer).map_err(|_| e)?;
    }
    let link = load(&state, &link)?;
    let now = state.clock.now();
    let actor = caller.actor(&state);
    let id = link.id;
    // The revocation and its audit entry commit together; revoking twice records it once.
    let updated = state.store.atomically(|txn| {
        let mut l: LinkRecord = txn
            .get(&LINKS, &id)?
            .ok_or_else(|| ApiError::not_found("no such link"))?;
        if l.revoked_at.is_none() {
            l.revoked_at = Some(now);
            txn.put(&LINKS, &id, &l)?;
            txn.audit(
                l.case,
                &actor,
                actions::LINK_REVOKE,
                None,
                &format!("link={id}"),
            )?;
        }
        Ok::<_, ApiError>(l)
    })?;
    if link.revoked_at.is_none() {
        tracing::info!(link = %link.id, case = %link.case, "download link revoked");
    }
    remove_package(&state, &updated);
    Ok(Json(view(&state, &updated)?))
}

fn remove_package(state: &AppState, link: &LinkRecord) {
    let path = state.links.package_path(link);
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::info!(link = %link.id, "package deleted"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(link = %link.id, error = %e, "cannot delete package"),
    }
}

/// Build the package of `link` in the background (waits for one of the [`MAX_BUILDS`] slots).
pub fn spawn_build(state: AppState, id: LinkId) {
    tokio::spawn(async move {
        let permit = state.links.inner.builds.clone().acquire_owned().await;
        let Ok(_permit) = permit else { return };
        let result = {
            let state = state.clone();
            tokio::task::spawn_blocking(move || contents::build_package(&state, id)).await
        };
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
        state.links.set_progress(id, None);
        match &outcome {
            BuildState::Ready { size, .. } => {
                tracing::info!(link = %id, size, "package ready")
            }
            BuildState::Failed { reason } => {
                tracing::error!(link = %id, reason = %reason, "package build failed")
            }
            BuildState::Processing => {}
        }
        let updated = state.store.update::<_, _, ApiError>(&LINKS, &id, |cur| {
            Ok(cur.map(|mut l| {
                l.build = outcome.clone();
                l
            }))
        });
        match updated {
            Ok(Some(l)) => {
                // Revoked or expired while building: the package must not outlive the link.
                if matches!(
                    l.status(state.clock.now()),
                    LinkStatus::Revoked | LinkStatus::Expired | LinkStatus::Failed
                ) {
                    remove_package(&state, &l);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(link = %id, error = %e.message, "cannot record the build"),
        }
        let _ = state.store.flush().await;
    });
}

/// Restart the builds of links left `Processing` by a stopped node (call once at start-up).
pub fn resume_builds(state: &AppState) -> Result<usize, ApiError> {
    let now = state.clock.now();
    let pending: Vec<LinkId> = state
        .store
        .all(&LINKS)?
        .into_iter()
        .filter(|l| l.status(now) == LinkStatus::Processing)
        .map(|l| l.id)
        .collect();
    for id in &pending {
        spawn_build(state.clone(), *id);
    }
    Ok(pending.len())
}

/// Delete the packages of expired and revoked links, leftover partial files and packages of
/// links that no longer exist; prune the rate limiter. Returns how many files were deleted.
pub fn clean(state: &AppState) -> Result<usize, ApiError> {
    state.links.limiter().prune();
    let now = state.clock.now();
    let links = state.store.all(&LINKS)?;
    let mut keep = std::collections::HashSet::new();
    for l in &links {
        let path = state.links.package_path(l);
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
    let Ok(dir) = std::fs::read_dir(state.links.packages_dir()) else {
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

/// Record one download start (called by the public server).
pub(crate) fn count_download(state: &AppState, id: LinkId) {
    let r = state.store.update::<_, _, ApiError>(&LINKS, &id, |cur| {
        Ok(cur.map(|mut l| {
            l.downloads += 1;
            l
        }))
    });
    if let Err(e) = r {
        tracing::warn!(link = %id, error = %e.message, "cannot count a download");
    }
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
}
