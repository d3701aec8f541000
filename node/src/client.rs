//! The HTTP client the CLI subcommands use to talk to a node's admin API.
//!
//! It owns three things: finding the node (`--node`/`--token`, or the `admin.addr` and
//! `admin.token` files that `casemesh run --data-dir DIR` writes), turning API error bodies
//! (`{"error":{"code","message"}}`) into one-line messages, and moving evidence bytes as streams:
//! uploads are read from the file in 1 MiB chunks and downloads go to `FILE.part`, are checked
//! against the expected BLAKE3 hash, synced and only then renamed, so a failed or corrupted
//! transfer never leaves a file that looks complete.
//!
//! How long it waits for the node (`--request-timeout SECS`, else `CASEMESH_REQUEST_TIMEOUT`, default
//! [`DEFAULT_TIMEOUT`]; 0 waits forever): an ordinary request fails when the node sends nothing
//! for that long (reqwest's `read_timeout`: from the request until the answer's headers, then
//! between two reads of its body), so a node that hangs (stopped with SIGSTOP, deadlocked, its
//! disk stuck) ends the command with a message instead of a wait without end. Requests whose answer
//! comes only after work that grows with the store ([`Client::get_long`],
//! [`Client::post_empty_long`]: `blobs verify`, `blobs gc`, `retention sweep`) wait without that
//! bound. An upload fails when the node takes no byte of it for that long (it may then take as
//! long as it needs to verify and sync); a download's answer may take as long as the node needs
//! to verify the blob, then each read of its body is bounded.

use crate::commands::Context;
use anyhow::{Context as _, anyhow, bail};
use casemesh_api_types::{ErrorBody, MAX_MESSAGE_CHARS, clip};
use casemesh_model::ids::BlobHash;
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url, header};
use serde::Serialize;
use serde_json::Value;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Size of the chunks read from disk and sent on the wire: large enough that per-chunk overhead
/// disappears next to the disk and the hash, small enough to keep memory flat.
const CHUNK: usize = 1 << 20;

/// Transfers smaller than this get no progress bar: they finish before one would be readable.
const PROGRESS_THRESHOLD: u64 = 4 << 20;

/// How long the client waits for the node to send something before it gives up, unless
/// `--request-timeout` or `CASEMESH_REQUEST_TIMEOUT` says otherwise (see the module doc).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variable for `--request-timeout` (seconds, 0: forever). Read here rather than
/// by clap, so that a bad value fails only the client commands that use it, never `init`/`run`.
pub(crate) const REQUEST_TIMEOUT_ENV: &str = "CASEMESH_REQUEST_TIMEOUT";

/// The per-read bound for ordinary requests: `flag` (`--request-timeout SECS`) if given, else
/// `env` (the value of [`REQUEST_TIMEOUT_ENV`], if set), else [`DEFAULT_TIMEOUT`]; 0 means
/// `None` (wait forever).
///
/// # Errors
/// `env` is used and is not a whole number of seconds; the message names the variable.
pub(crate) fn request_timeout(
    flag: Option<u64>,
    env: Option<std::ffi::OsString>,
) -> anyhow::Result<Option<Duration>> {
    let secs = match (flag, env) {
        (Some(secs), _) => secs,
        (None, Some(value)) => value
            .to_str()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                anyhow!(
                    "{REQUEST_TIMEOUT_ENV}={:?}: not a number of seconds",
                    value.to_string_lossy()
                )
            })?,
        (None, None) => DEFAULT_TIMEOUT.as_secs(),
    };
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

/// A connection to one node's admin API, with the bearer token to present.
pub(crate) struct Client {
    /// Ordinary requests: bounded by [`Client::timeout`] per read.
    http: reqwest::Client,
    /// Uploads, downloads and the long synchronous requests: no read bound of reqwest's (the
    /// callers bound what they can, see the module doc).
    http_long: reqwest::Client,
    /// How long the node may send nothing (`None`: forever).
    timeout: Option<Duration>,
    base: Url,
    token: Option<String>,
    /// Whether progress bars may be drawn (stderr is a terminal and `--json` is off).
    progress: bool,
}

impl Client {
    /// Find the node and token from the global flags: `--node`/`--token` (or their environment
    /// variables) win; otherwise `DIR/admin.addr` and `DIR/admin.token` under `--data-dir DIR`.
    pub(crate) fn from_context(ctx: &Context) -> anyhow::Result<Client> {
        let timeout = request_timeout(ctx.request_timeout, std::env::var_os(REQUEST_TIMEOUT_ENV))?;
        let base = match (&ctx.node, &ctx.data_dir) {
            (Some(node), _) => node.clone(),
            (None, Some(dir)) => {
                let file = dir.join("admin.addr");
                match std::fs::read_to_string(&file) {
                    Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
                    Ok(_) => bail!("{} is empty: is `casemesh run` starting?", file.display()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                        "no node address: is `casemesh run --data-dir {}` running?",
                        dir.display()
                    ),
                    Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
                }
            }
            (None, None) => bail!(
                "no node address: pass --data-dir DIR (of a running node) or --node URL --token TOKEN"
            ),
        };
        let token = match (&ctx.token, &ctx.data_dir) {
            (Some(token), _) => Some(token.trim().to_owned()),
            (None, Some(dir)) => {
                let file = dir.join("admin.token");
                match std::fs::read_to_string(&file) {
                    Ok(text) => Some(text.trim().to_owned()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
                }
            }
            (None, None) => None,
        };
        Client::new(
            &base,
            token,
            !ctx.json && std::io::stderr().is_terminal(),
            timeout,
        )
    }

    /// A client for the node at `base` (`http://host:port` or just `host:port`) that gives up on
    /// a node that sends nothing for `timeout` (`None`: waits forever; see the module doc).
    pub(crate) fn new(
        base: &str,
        token: Option<String>,
        progress: bool,
        timeout: Option<Duration>,
    ) -> anyhow::Result<Client> {
        let with_scheme = if base.contains("://") {
            base.to_owned()
        } else {
            format!("http://{base}")
        };
        let base = Url::parse(&with_scheme).with_context(|| {
            format!("invalid node address {base:?} (expected http://HOST:PORT)")
        })?;
        if base.cannot_be_a_base() {
            bail!("invalid node address {base} (expected http://HOST:PORT)");
        }
        // Refused here, as a mistake on this side, rather than reported later as a connection
        // that "broke off": this client speaks plain HTTP only (the admin endpoint listens on
        // loopback without TLS), and a token is sent in an HTTP header.
        if base.scheme() != "http" {
            bail!(
                "invalid node address {base}: the admin endpoint is plain http://HOST:PORT \
                 (this client has no TLS; reach a remote node through an SSH tunnel)"
            );
        }
        if let Some(t) = &token
            && reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).is_err()
        {
            bail!(
                "the API token holds a character an HTTP header cannot carry (a control \
                 character or a line break): check --token, CASEMESH_TOKEN or DIR/admin.token"
            );
        }
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("casemesh-cli/", env!("CARGO_PKG_VERSION")))
        };
        let http = match timeout {
            Some(t) => builder().read_timeout(t),
            None => builder(),
        }
        .build()
        .context("building the HTTP client")?;
        let http_long = builder().build().context("building the HTTP client")?;
        Ok(Client {
            http,
            http_long,
            timeout,
            base,
            token,
            progress,
        })
    }

    /// The URL of `segments` under the base, each segment percent-encoded (so case numbers and
    /// display ids with `/`, `?` or spaces stay one path segment).
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.authorized(self.http.request(method, url))
    }

    /// A request without reqwest's read bound (see [`Client::http_long`]).
    fn request_long(&self, method: Method, url: Url) -> RequestBuilder {
        self.authorized(self.http_long.request(method, url))
    }

    fn authorized(&self, req: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// Send, and turn both connection failures and API error responses into messages.
    async fn send(&self, req: RequestBuilder) -> anyhow::Result<Response> {
        let resp = req.send().await.map_err(|e| self.connect_error(e))?;
        check(resp).await
    }

    fn connect_error(&self, e: reqwest::Error) -> anyhow::Error {
        let message = if e.is_timeout() && !e.is_connect() {
            self.silent_node_message()
        } else if e.is_connect() {
            format!(
                "cannot reach the node at {}: is `casemesh run` running? ({e})",
                self.base
            )
        } else {
            // reqwest's own text ("error sending request for url …") does not say why: its
            // causes do (a connection reset or a broken pipe when the node died mid-upload).
            let mut causes = String::new();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let text = c.to_string();
                if !text.is_empty() && !causes.contains(&text) && !e.to_string().contains(&text) {
                    causes.push_str(": ");
                    causes.push_str(&text);
                }
                cause = c.source();
            }
            format!(
                "request to {} failed: {e}{causes} (the connection to the node broke off: is \
                 `casemesh run` still running?)",
                self.base
            )
        };
        RequestError::Transport {
            connect: e.is_connect(),
            message,
        }
        .into()
    }

    /// What the client says when the node sent nothing for [`Client::timeout`].
    fn silent_node_message(&self) -> String {
        let secs = self.timeout.map_or(0, |t| t.as_secs());
        format!(
            "the node at {} did not answer in {secs} s: it may be stopped (e.g. `kill -STOP`), \
             hung or overloaded; check the `casemesh run` process and its log, or wait longer \
             with --request-timeout SECS (or {REQUEST_TIMEOUT_ENV}; 0 waits forever)",
            self.base
        )
    }

    /// The transport error for a node that sent nothing for [`Client::timeout`].
    fn silent_node(&self) -> anyhow::Error {
        RequestError::Transport {
            connect: false,
            message: self.silent_node_message(),
        }
        .into()
    }

    /// The JSON body of a successful answer; `null` when it is empty (204 and friends). A body
    /// that stops coming for [`Client::timeout`] is the node's silence, said so.
    async fn json_body(&self, resp: Response) -> anyhow::Result<Value> {
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => return Err(self.silent_node()),
            Err(e) => return Err(e).context("reading the node's answer"),
        };
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).context("the node's answer is not valid JSON")
    }

    /// `GET` a JSON document whose answer comes only after work that grows with the store
    /// (`blobs verify`): no read bound, the node may take as long as it needs.
    pub(crate) async fn get_long(&self, segments: &[&str]) -> anyhow::Result<Value> {
        let req = self.request_long(Method::GET, self.url(segments));
        self.json_body(self.send(req).await?).await
    }

    /// `POST` with no body whose answer comes only after work that grows with the store (`blobs
    /// gc`, `retention sweep`): no read bound.
    pub(crate) async fn post_empty_long(&self, segments: &[&str]) -> anyhow::Result<Value> {
        let req = self.request_long(Method::POST, self.url(segments));
        self.json_body(self.send(req).await?).await
    }

    /// `GET` a JSON document.
    pub(crate) async fn get(&self, segments: &[&str]) -> anyhow::Result<Value> {
        self.get_query(segments, &[]).await
    }

    /// `GET` a JSON document with query parameters.
    pub(crate) async fn get_query(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> anyhow::Result<Value> {
        let req = self.request(Method::GET, self.url(segments)).query(query);
        self.json_body(self.send(req).await?).await
    }

    /// Send `body` as JSON with `method` and return the JSON answer (`null` for 204).
    pub(crate) async fn send_json(
        &self,
        method: Method,
        segments: &[&str],
        body: &impl Serialize,
    ) -> anyhow::Result<Value> {
        let req = self.request(method, self.url(segments)).json(body);
        self.json_body(self.send(req).await?).await
    }

    /// `POST` with no body.
    pub(crate) async fn post_empty(&self, segments: &[&str]) -> anyhow::Result<Value> {
        let req = self.request(Method::POST, self.url(segments));
        self.json_body(self.send(req).await?).await
    }

    /// `POST` with no body and a query string.
    pub(crate) async fn post_query(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let req = self.request(Method::POST, self.url(segments)).query(query);
        self.json_body(self.send(req).await?).await
    }

    /// `DELETE`; returns the JSON answer, or `null` for an empty one.
    pub(crate) async fn delete(&self, segments: &[&str]) -> anyhow::Result<Value> {
        let req = self.request(Method::DELETE, self.url(segments));
        self.json_body(self.send(req).await?).await
    }

    /// Stream the file at `path` as the raw body of a `POST`; returns the JSON answer and the
    /// BLAKE3 of what was sent, for the caller to compare with what the node says it stored.
    ///
    /// The file is read in [`CHUNK`]-sized pieces and hashed as it goes.
    pub(crate) async fn upload(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        path: &Path,
    ) -> anyhow::Result<Uploaded> {
        self.upload_with(segments, query, path, None).await
    }

    /// [`upload`](Self::upload) for one file of a batch: the bytes sent are counted on `bar`,
    /// a progress bar the caller owns for the whole batch, and no bar of the file's own is drawn.
    pub(crate) async fn upload_counted(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        path: &Path,
        bar: &ProgressBar,
    ) -> anyhow::Result<Uploaded> {
        self.upload_with(segments, query, path, Some(bar)).await
    }

    /// The upload itself: with `shared` the bytes are counted on that bar; without, on a bar of
    /// this file's own (drawn for large files only).
    async fn upload_with(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        path: &Path,
        shared: Option<&ProgressBar>,
    ) -> anyhow::Result<Uploaded> {
        // Checked before opening: opening a FIFO would wait for a writer forever.
        let kind = tokio::fs::metadata(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        if !kind.is_file() {
            bail!("{} is not a regular file", path.display());
        }
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let meta = file
            .metadata()
            .await
            .with_context(|| format!("reading the size of {}", path.display()))?;
        if !meta.is_file() {
            bail!("{} is not a regular file", path.display());
        }
        let len = meta.len();
        // Ask first: a node without room answers 507 now, before any byte is streamed (a refusal
        // in the middle of a large upload can reach the client only as a broken connection).
        let space = self
            .request(Method::GET, self.url(&["v1", "blobs", "space"]))
            .query(&[("bytes", len)]);
        self.send(space).await?;
        let own = shared.is_none();
        let bar = match shared {
            Some(bar) => bar.clone(),
            None => self.bar(len, "uploading"),
        };
        let hasher = std::sync::Arc::new(std::sync::Mutex::new(blake3::Hasher::new()));
        // Bytes the connection has taken so far, for the stall guard.
        let taken = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stream = {
            let bar = bar.clone();
            let hasher = hasher.clone();
            let taken = taken.clone();
            tokio_util::io::ReaderStream::with_capacity(file, CHUNK).inspect_ok(move |chunk| {
                if let Ok(mut h) = hasher.lock() {
                    h.update(chunk);
                }
                taken.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                bar.inc(chunk.len() as u64);
                if own && bar.position() >= len {
                    bar.set_message("sent; node verifying and syncing");
                }
            })
        };
        let req = self
            .request_long(Method::POST, self.url(segments))
            .query(query)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream));
        let result = self.stall_guarded(self.send(req), &taken, len).await;
        if own {
            bar.finish_and_clear();
        }
        let answer = self.json_body(result?).await?;
        let sent = hasher
            .lock()
            .map_err(|_| anyhow!("upload hasher poisoned"))?
            .finalize();
        Ok(Uploaded {
            answer,
            hash: sent.into(),
        })
    }

    /// Await `exchange` (an upload), failing with [`Client::silent_node`] when the connection
    /// takes no byte of the body for [`Client::timeout`] while some of its `len` bytes are still
    /// to be sent (`taken` counts those handed over). Once every byte is sent, the node may take
    /// as long as it needs to verify and sync what it received.
    async fn stall_guarded(
        &self,
        exchange: impl std::future::Future<Output = anyhow::Result<Response>>,
        taken: &std::sync::atomic::AtomicU64,
        len: u64,
    ) -> anyhow::Result<Response> {
        let Some(limit) = self.timeout else {
            return exchange.await;
        };
        let mut exchange = std::pin::pin!(exchange);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let (mut seen, mut since) = (u64::MAX, tokio::time::Instant::now());
        loop {
            tokio::select! {
                r = &mut exchange => return r,
                _ = tick.tick() => {
                    let now = taken.load(std::sync::atomic::Ordering::Relaxed);
                    if now != seen || now >= len {
                        (seen, since) = (now, tokio::time::Instant::now());
                    } else if since.elapsed() >= limit {
                        return Err(self.silent_node());
                    }
                }
            }
        }
    }

    /// Stream the body of a `GET` to `dest`: written to `dest.part`, checked against
    /// `expected_hash` (BLAKE3) when given, synced, then renamed onto `dest`.
    /// On any failure the partial file is removed and `dest` is left untouched.
    pub(crate) async fn download(
        &self,
        segments: &[&str],
        dest: &Path,
        expected_hash: Option<&BlobHash>,
    ) -> anyhow::Result<Download> {
        // The node verifies the blob before it answers (as long as that takes); each read of the
        // body is then bounded (`write_body`).
        let req = self.request_long(Method::GET, self.url(segments));
        // Ask before creating anything, so an error answer (e.g. a corrupt blob) leaves no file.
        let resp = self.send(req).await?;
        let part = part_path(dest);
        let result = tokio::select! {
            r = self.write_body(resp, &part, expected_hash) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted (nothing was kept)")),
        };
        match result {
            Ok(done) => {
                tokio::fs::rename(&part, dest).await.with_context(|| {
                    format!("renaming {} to {}", part.display(), dest.display())
                })?;
                Ok(done)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }

    async fn write_body(
        &self,
        resp: Response,
        part: &Path,
        expected_hash: Option<&BlobHash>,
    ) -> anyhow::Result<Download> {
        let len = resp.content_length();
        let mut file = tokio::fs::File::create(part)
            .await
            .with_context(|| format!("creating {}", part.display()))?;
        let bar = self.bar(len.unwrap_or(0), "downloading");
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let mut body = resp.bytes_stream();
        loop {
            let next = match self.timeout {
                Some(t) => tokio::time::timeout(t, body.next())
                    .await
                    .map_err(|_| self.silent_node())?,
                None => body.next().await,
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| {
                anyhow!("the download was cut off after {size} bytes: {e} (nothing was kept)")
            })?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .with_context(|| format!("writing {}", part.display()))?;
            size += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        if let Some(len) = len
            && len != size
        {
            bail!("the download was cut off: got {size} of {len} bytes (nothing was kept)");
        }
        let hash = BlobHash::from(hasher.finalize());
        if let Some(expected) = expected_hash
            && *expected != hash
        {
            bail!(
                "the bytes received are corrupt: they hash to {hash}, not {expected} (nothing was kept)"
            );
        }
        file.sync_all()
            .await
            .with_context(|| format!("syncing {}", part.display()))?;
        Ok(Download { size, hash })
    }

    fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.progress || len < PROGRESS_THRESHOLD {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }
}

/// The answer to an upload, and what was sent.
#[derive(Debug)]
pub(crate) struct Uploaded {
    /// The node's JSON answer.
    pub(crate) answer: Value,
    /// BLAKE3 of the bytes sent.
    pub(crate) hash: BlobHash,
}

impl Uploaded {
    /// Fail unless `stored` (the hash the node reports) is the hash of the bytes sent.
    pub(crate) fn check_hash(&self, stored: Option<&BlobHash>, path: &Path) -> anyhow::Result<()> {
        match stored {
            Some(h) if *h == self.hash => Ok(()),
            Some(h) => bail!(
                "the node stored hash {h} but the file sent hashes to {}: did {} change during the upload?",
                self.hash,
                path.display()
            ),
            None => bail!("the node's answer carries no hash for {}", path.display()),
        }
    }
}

/// What a finished download wrote.
#[derive(Debug)]
pub(crate) struct Download {
    /// Bytes written.
    pub(crate) size: u64,
    /// BLAKE3 of the bytes written.
    pub(crate) hash: BlobHash,
}

/// `FILE` → `FILE.part`, in the same directory so the final rename is atomic.
fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Why a request to the node failed, kept typed so that `--json` can report the HTTP status and
/// the API's error code apart from the message (`main` looks for it in the error's chain).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// No answer: the connection could not be made (`connect`) or broke during the exchange.
    #[error("{message}")]
    Transport {
        /// The node could not be reached at all (nothing was sent).
        connect: bool,
        /// The one-line message, naming the node's address.
        message: String,
    },
    /// The node answered with an error status.
    #[error("{line}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The API's stable error code (`not_found`, `forbidden`, …) when the body carried one.
        code: Option<String>,
        /// `<message> (<code>, HTTP <status>)`, as [`api_error_message`] words it.
        line: String,
    },
}

/// Most bytes of an error answer's body the client reads: an API error body is far smaller; a
/// proxy's page or a hostile server's endless body is not read further.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Pass successful responses through; turn error responses into
/// `<message> (<code>, HTTP <status>)`, reading at most [`MAX_ERROR_BODY`] bytes of the body.
async fn check(mut resp: Response) -> anyhow::Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    let text = String::from_utf8_lossy(&body);
    let (code, _) = api_error_fields(&text);
    Err(RequestError::Api {
        status,
        code,
        line: api_error_message(status, &text),
    }
    .into())
}

/// The `code` and `message` of an API error body ([`ErrorBody`]: `{"error":{"code","message"}}`),
/// when the body is one (a proxy's HTML page, say, is not).
fn api_error_fields(text: &str) -> (Option<String>, Option<String>) {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => (Some(body.error.code), Some(body.error.message)),
        Err(_) => (None, None),
    }
}

/// The one-line message for an error answer with `status` and body `text`. A body that is no
/// API error (another server's page: `--node` names something else) is not repeated whole: its
/// first line, cut to 200 characters, and a hint.
pub(crate) fn api_error_message(status: StatusCode, text: &str) -> String {
    let (code, message) = api_error_fields(text);
    let message = message.map(|m| clip(&m, MAX_MESSAGE_CHARS));
    let code = code.map(|c| clip(&c, 64));
    let status = status.as_u16();
    match (message.as_deref(), code.as_deref()) {
        (Some(m), Some(c)) => format!("{m} ({c}, HTTP {status})"),
        (Some(m), None) => format!("{m} (HTTP {status})"),
        (None, Some(c)) => format!("{c} (HTTP {status})"),
        (None, None) if text.trim().is_empty() => format!("the node answered HTTP {status}"),
        (None, None) => format!(
            "{} (HTTP {status}; not an answer of casemesh's admin API: does --node name the \
             node's admin address?)",
            clip(text.trim().lines().next().unwrap_or_default(), 200)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_each_segment() {
        let c = Client::new("127.0.0.1:7070", None, false, None).unwrap();
        let url = c.url(&["v1", "cases", "2024/17 a?b", "evidence"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:7070/v1/cases/2024%2F17%20a%3Fb/evidence"
        );
        let c = Client::new("http://localhost:1/", None, false, None).unwrap();
        assert_eq!(c.url(&["healthz"]).as_str(), "http://localhost:1/healthz");
    }

    /// Mistakes on this side are refused before anything is sent, with what to fix (they were
    /// reported as a connection that "broke off", or a node "not running"): another scheme than
    /// http, and a token an HTTP header cannot carry.
    #[test]
    fn a_bad_scheme_or_token_is_refused_up_front() {
        for node in ["https://127.0.0.1:7070", "ftp://127.0.0.1:7070"] {
            let e = Client::new(node, None, false, None)
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains("plain http://")),
                "{node}: {e:?}"
            );
        }
        for token in ["\u{1b}[31m", "a\nb", "tok\r"] {
            let e = Client::new("127.0.0.1:7070", Some(token.into()), false, None)
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains("HTTP header")),
                "{token:?}: {e:?}"
            );
        }
        assert!(Client::new("127.0.0.1:7070", Some("abc123".into()), false, None).is_ok());
    }

    #[test]
    fn api_errors_read_as_one_line() {
        let body = r#"{"error":{"code":"forbidden","message":"needs case_edit"}}"#;
        assert_eq!(
            api_error_message(StatusCode::FORBIDDEN, body),
            "needs case_edit (forbidden, HTTP 403)"
        );
        assert_eq!(
            api_error_message(StatusCode::BAD_GATEWAY, ""),
            "the node answered HTTP 502"
        );
    }

    /// Another server's text is repeated in part, never whole: a 5 MiB body made a 5 MiB
    /// message (a newcomer's attack on issue #9).
    #[test]
    fn long_or_foreign_error_bodies_are_cut() {
        let long = format!(
            r#"{{"error":{{"code":"not_found","message":"case {} not found"}}}}"#,
            "x".repeat(100_000)
        );
        let line = api_error_message(StatusCode::NOT_FOUND, &long);
        assert!(line.chars().count() < 1_100, "{}", line.len());
        assert!(line.ends_with("… (not_found, HTTP 404)"), "{line}");
        let html = format!(
            "<!DOCTYPE html>\n<html><body>{}</body></html>",
            "y".repeat(1_000_000)
        );
        let line = api_error_message(StatusCode::NOT_FOUND, &html);
        assert!(
            line.starts_with("<!DOCTYPE html> (HTTP 404; not an answer"),
            "{line}"
        );
        assert!(line.len() < 400, "{}", line.len());
    }

    #[test]
    fn part_file_sits_next_to_the_target() {
        assert_eq!(
            part_path(Path::new("/tmp/x/a.bin")),
            PathBuf::from("/tmp/x/a.bin.part")
        );
    }

    #[test]
    fn the_request_timeout_comes_from_the_flag_then_the_environment() {
        let env = |v: &str| Some(std::ffi::OsString::from(v));
        assert_eq!(request_timeout(None, None).unwrap(), Some(DEFAULT_TIMEOUT));
        assert_eq!(
            request_timeout(None, env("7")).unwrap(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(request_timeout(None, env("0")).unwrap(), None);
        assert_eq!(
            request_timeout(Some(3), env("abc")).unwrap(),
            Some(Duration::from_secs(3))
        );
        let e = request_timeout(None, env("abc")).unwrap_err().to_string();
        assert_eq!(
            e,
            r#"CASEMESH_REQUEST_TIMEOUT="abc": not a number of seconds"#
        );
    }

    #[test]
    fn missing_address_file_says_to_run_the_node() {
        let dir = std::env::temp_dir().join(format!("casemesh-client-test-{}", std::process::id()));
        let ctx = Context {
            data_dir: Some(dir.clone()),
            node: None,
            token: None,
            json: false,
            request_timeout: None,
        };
        let err = Client::from_context(&ctx).err().unwrap().to_string();
        assert!(err.contains("no node address"), "{err}");
        assert!(err.contains(&dir.display().to_string()), "{err}");
    }
}
