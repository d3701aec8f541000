//! The node's configuration file, `DIR/config.toml`, and the data directory's fixed layout.
//! (The file format is the operators': keep it compatible.)
//!
//! Every field has a documented default, so a minimal file (`[org] name = "…"`) is a valid
//! configuration. Unknown keys are refused, so a typo is an error at start-up instead of a silently
//! ignored setting. Settings an administrator changes through the API are written back here.

use anyhow::{Context as _, Result, bail};
pub use casemesh_blobs_s3::StorageConfig;
use casemesh_model::org::Settings;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `DIR/config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this organization is.
    pub org: OrgConfig,
    /// The local admin endpoint.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The retention sweeper.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// The public download-link server.
    #[serde(default)]
    pub link: LinkConfig,
    /// Peer-to-peer networking with partner organizations.
    #[serde(default)]
    pub p2p: P2pConfig,
    /// Limits of both HTTP listeners (admin endpoint and link server).
    #[serde(default)]
    pub http: HttpConfig,
    /// Outgoing mail for notifications; absent = notifications are logged, not sent.
    #[serde(default)]
    pub smtp: Option<casemesh_sharing::SmtpConfig>,
    /// Run-time settings (feature flags, default retention, auto-import); changed through the API.
    #[serde(default = "default_settings")]
    pub settings: Settings,
    /// `[storage]`: where evidence blobs live: `backend = "fs"` (default: files under
    /// `DIR/blobs`, as before) or `"s3"` (an S3-compatible bucket; keys in
    /// `casemesh_blobs_s3::config`, documented in docs/operations.md). Checked at start: a
    /// bucket that does not answer, refuses the credentials or the region, or does not let the
    /// key write stops the node, and so does a place other than the one the node's blobs are
    /// recorded in ([`BlobLocation`]).
    #[serde(default, skip_serializing_if = "StorageConfig::is_fs")]
    pub storage: StorageConfig,
}

/// `[p2p]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pConfig {
    /// Multiaddrs to listen on for partner nodes. Default `/ip4/0.0.0.0/tcp/4001`; `tcp/0` picks
    /// a free port (see `casemesh id`).
    #[serde(default = "default_p2p_listen")]
    pub listen: Vec<String>,
    /// Blob transfers from partners in flight at once; default 4.
    #[serde(default = "default_fetches")]
    pub max_concurrent_fetches: usize,
    /// Blob bytes per second served to all partners together, as a size per second
    /// (`"20 MiB"`, `"20 MiB/s"`, `"100 MB"`; `bytesize` syntax, rounded up to whole KiB/s).
    /// Absent or `"0"`: no limit. Keeps a large share from filling the agency's uplink; control
    /// messages (grants, receipts, stops) are not counted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "per_second",
        serialize_with = "per_second_text"
    )]
    pub max_send_rate: Option<bytesize::ByteSize>,
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            listen: default_p2p_listen(),
            max_concurrent_fetches: default_fetches(),
            max_send_rate: None,
        }
    }
}

/// A size per second: a `bytesize` size, optionally followed by `/s`.
fn per_second<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<bytesize::ByteSize>, D::Error> {
    let text = String::deserialize(de)?;
    let size = text.trim().strip_suffix("/s").unwrap_or(&text);
    size.trim()
        .parse::<bytesize::ByteSize>()
        .map(Some)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a size per second, such as \"20 MiB\" ({e})"
            ))
        })
}

/// A size per second written back exactly (bytesize's own text rounds to one decimal, so
/// `"100 MB"` would come back as `"95.4 MiB"`): whole GiB, MiB or KiB when it divides, else bytes.
fn per_second_text<S: serde::Serializer>(
    rate: &Option<bytesize::ByteSize>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    let bytes = rate.map_or(0, |r| r.as_u64());
    let text = [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        .into_iter()
        .find(|(unit, _)| bytes != 0 && bytes.is_multiple_of(*unit))
        .map_or_else(
            || format!("{bytes} B"),
            |(unit, name)| format!("{} {name}", bytes / unit),
        );
    ser.serialize_str(&text)
}

fn default_p2p_listen() -> Vec<String> {
    vec!["/ip4/0.0.0.0/tcp/4001".into()]
}
fn default_fetches() -> usize {
    4
}

/// `[org]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// Display name of the organization, e.g. "Metro Police Department".
    pub name: String,
}

/// `[admin]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin endpoint. Default `127.0.0.1:7070`; port 0 picks a free port. The
    /// bound address is written to `DIR/admin.addr`.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
    /// Seconds a request may take until its answer starts (evidence uploads are read within
    /// it); default 3600. 0 = no limit.
    #[serde(default = "default_admin_request_timeout")]
    pub request_timeout_secs: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: default_admin_listen(),
            request_timeout_secs: default_admin_request_timeout(),
        }
    }
}

/// `[http]`: limits of both HTTP listeners, each applied per listener (issue #16 item 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds a client has to send a request's line and headers (also the longest idle time of
    /// a kept-alive connection); default 10. Slower clients are disconnected.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may stall between two pieces; default 60. 0 = no limit.
    #[serde(default = "default_body_idle_timeout")]
    pub body_idle_timeout_secs: u64,
    /// Open connections per listener; more wait in the kernel's accept queue. Default 512.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests handled at once per listener (until their answer starts); more wait. Default 128.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Seconds shutdown waits for requests in flight before closing their connections; default
    /// 10.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_secs: default_header_read_timeout(),
            body_idle_timeout_secs: default_body_idle_timeout(),
            max_connections: default_max_connections(),
            max_concurrent_requests: default_max_concurrent_requests(),
            shutdown_grace_secs: default_shutdown_grace(),
        }
    }
}

fn default_admin_request_timeout() -> u64 {
    3600
}
fn default_link_request_timeout() -> u64 {
    30
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_body_idle_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    512
}
fn default_max_concurrent_requests() -> usize {
    128
}
fn default_shutdown_grace() -> u64 {
    10
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` (default) or `json`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// An `EnvFilter` directive, default `info`; `RUST_LOG` overrides it.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

/// `[retention]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Seconds between two sweeps; default 3600. 0 turns the periodic sweep off (the API's
    /// `POST /v1/retention/sweep` still works).
    #[serde(default = "default_sweep_interval")]
    pub sweep_interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            sweep_interval_secs: default_sweep_interval(),
        }
    }
}

/// `[link]`: the public server download links point at.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Address of the public link server, separate from the admin endpoint. Default
    /// `127.0.0.1:7071`; port 0 picks a free port. The bound address is written to
    /// `DIR/link.addr`.
    #[serde(default = "default_link_listen")]
    pub listen: SocketAddr,
    /// Base of the URLs handed out, e.g. `https://links.example.org` (behind a reverse proxy).
    /// Default: `http://<bound address>`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Seconds between two runs of the cleaner that deletes the packages of expired and revoked
    /// links; default 300.
    #[serde(default = "default_link_clean_interval")]
    pub clean_interval_secs: u64,
    /// Seconds a request may take until its answer starts (a download's bytes are not limited);
    /// default 30. 0 = no limit.
    #[serde(default = "default_link_request_timeout")]
    pub request_timeout_secs: u64,
    /// Reverse proxies (addresses or networks such as `10.0.0.0/8`) whose `X-Forwarded-For`
    /// names the client for the failed-guess limit and the audit; default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            listen: default_link_listen(),
            public_url: None,
            clean_interval_secs: default_link_clean_interval(),
            request_timeout_secs: default_link_request_timeout(),
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_link_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7071))
}
fn default_link_clean_interval() -> u64 {
    300
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7070))
}
fn default_log_format() -> String {
    "human".into()
}
fn default_log_level() -> String {
    "info".into()
}
fn default_sweep_interval() -> u64 {
    3600
}
fn default_settings() -> Settings {
    Settings::default()
}

impl Config {
    /// A new configuration with defaults.
    pub fn new(org_name: &str, admin_listen: SocketAddr) -> Config {
        Config {
            org: OrgConfig {
                name: org_name.to_owned(),
            },
            admin: AdminConfig {
                listen: admin_listen,
                ..AdminConfig::default()
            },
            log: LogConfig::default(),
            retention: RetentionConfig::default(),
            link: LinkConfig::default(),
            p2p: P2pConfig::default(),
            http: HttpConfig::default(),
            smtp: None,
            settings: default_settings(),
            storage: StorageConfig::Fs,
        }
    }

    /// Read and validate `DIR/config.toml`.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = Layout::new(dir).config();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("cannot read {}: is {} a casemesh data directory? (create one with `casemesh init`)", path.display(), dir.display())
        })?;
        let config: Config = toml::from_str(&text)
            .with_context(|| format!("invalid configuration in {}", path.display()))?;
        // Only blank is refused here: a name with control characters written by hand into an
        // existing data directory still starts the node (logs escape it; `init` refuses one,
        // see [`check_org_name`]).
        if config.org.name.trim().is_empty() {
            bail!(
                "invalid configuration in {}: org.name is empty",
                path.display()
            );
        }
        if let Err(e) = casemesh_links::client::TrustedProxies::parse(&config.link.trusted_proxies)
        {
            bail!(
                "invalid configuration in {}: link.trusted_proxies: {e}",
                path.display()
            );
        }
        if !matches!(config.log.format.as_str(), "human" | "json") {
            bail!(
                "invalid configuration in {}: log.format must be \"human\" or \"json\"",
                path.display()
            );
        }
        Ok(config)
    }

    /// Write atomically (temp file, fsync, rename), keeping the comments and layout of the file
    /// already there and touching only the keys whose meaning changed; mode 0600 when the file
    /// holds a secret (see `config_edit.rs`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::config_edit::write_back(&Layout::new(dir).config(), self)
    }
}

/// Where this node's evidence blobs live, as recorded in the data directory
/// ([`Layout::blob_location`], `DIR/blob-location.json`): written at the first start (the
/// `[storage]` then configured) and by `casemesh blobs migrate` once every blob has moved.
/// The start compares it with `[storage]`: a node whose blobs are in one place and whose
/// config names another is refused (it would start and show every blob as missing) until the
/// blobs are migrated or `[storage]` is set back. Credentials are never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum BlobLocation {
    /// Files under `DIR/blobs`.
    Fs,
    /// A bucket of an S3-compatible object store.
    S3 {
        /// The store's endpoint URL (for messages; a change of endpoint alone is not a move).
        endpoint: String,
        /// The bucket.
        bucket: String,
    },
}

impl BlobLocation {
    /// The place `[storage]` names.
    pub fn of(storage: &StorageConfig) -> BlobLocation {
        match storage {
            StorageConfig::S3(s) => BlobLocation::S3 {
                endpoint: s.endpoint.trim_end_matches('/').to_string(),
                bucket: s.bucket.clone(),
            },
            _ => BlobLocation::Fs,
        }
    }

    /// Whether both name the same place: the same backend and, on S3, the same bucket (the
    /// endpoint may change, e.g. to a new host name of the same store).
    pub fn same_place(&self, other: &BlobLocation) -> bool {
        match (self, other) {
            (BlobLocation::Fs, BlobLocation::Fs) => true,
            (BlobLocation::S3 { bucket: a, .. }, BlobLocation::S3 { bucket: b, .. }) => a == b,
            _ => false,
        }
    }

    /// `fs` or `s3`, as in `[storage] backend` and `blobs migrate --to`.
    pub fn backend(&self) -> &'static str {
        match self {
            BlobLocation::Fs => "fs",
            BlobLocation::S3 { .. } => "s3",
        }
    }

    /// The record of data directory `dir`; `None` when there is none yet (a new node, or one
    /// from before the record existed).
    ///
    /// Errors: the file cannot be read or is not a record.
    pub fn load(dir: &Path) -> Result<Option<BlobLocation>> {
        let path = Layout::new(dir).blob_location();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{} is not a blob location record", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// Record this as the place of the blobs of data directory `dir` (a temp file, fsync,
    /// rename: a crash leaves the old record or the new one).
    ///
    /// Errors: the file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        use std::io::Write as _;
        let path = Layout::new(dir).blob_location();
        let tmp = path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().with_context(|| format!("write {}", path.display()))
    }
}

impl std::fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobLocation::Fs => f.write_str("the data directory (backend = \"fs\", DIR/blobs)"),
            BlobLocation::S3 { endpoint, bucket } => {
                write!(f, "bucket {bucket} at {endpoint} (backend = \"s3\")")
            }
        }
    }
}

/// The fixed layout of a data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout of the data directory `dir`.
    pub fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// `identity.key`: the 32-byte ed25519 secret (mode 0600).
    pub fn identity(&self) -> PathBuf {
        self.dir.join("identity.key")
    }
    /// `admin.token`: the first administrator's API token (mode 0600).
    pub fn admin_token(&self) -> PathBuf {
        self.dir.join("admin.token")
    }
    /// `admin.addr`: the admin endpoint's bound address, while the node runs.
    pub fn admin_addr(&self) -> PathBuf {
        self.dir.join("admin.addr")
    }
    /// `link.addr`: the public link server's bound address, while the node runs.
    pub fn link_addr(&self) -> PathBuf {
        self.dir.join("link.addr")
    }
    /// `packages/`: the packages of download links, `<link id>.zip|.iso`.
    pub fn packages(&self) -> PathBuf {
        self.dir.join("packages")
    }
    /// `partial/`: blob transfers from partners under way.
    pub fn partial(&self) -> PathBuf {
        self.dir.join("partial")
    }
    /// `blob-location.json`: where the evidence blobs live ([`BlobLocation`]).
    pub fn blob_location(&self) -> PathBuf {
        self.dir.join("blob-location.json")
    }
}

/// Check an organization's display name (`[org] name`, `casemesh init --org`): not blank, one
/// line of at most [`casemesh_model::names::limits::ORG_NAME`] bytes without control characters
/// or bidirectional overrides. It is shown in every partner's lists, audit trails and mails.
/// The error text names the field (`org.name …`).
pub fn check_org_name(name: &str) -> Result<(), casemesh_model::names::TextError> {
    use casemesh_model::names::{TextError, check_line, limits};
    if name.trim().is_empty() {
        return Err(TextError::Empty { field: "org.name" });
    }
    check_line("org.name", name, limits::ORG_NAME)
}

/// Read `DIR/identity.key`, the organization's 32-byte ed25519 secret.
pub fn load_identity(dir: &Path) -> Result<[u8; 32]> {
    let path = Layout::new(dir).identity();
    let bytes =
        std::fs::read(&path).with_context(|| format!("read identity key {}", path.display()))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("identity key {} is not 32 bytes", path.display()))
}

/// The organization id (libp2p PeerId text) of the identity key `secret` ([`load_identity`]).
pub fn identity_org_id(secret: &[u8; 32]) -> casemesh_model::ids::OrgId {
    casemesh_model::grant::org_id_from_public_key(
        ed25519_dalek::SigningKey::from_bytes(secret)
            .verifying_key()
            .as_bytes(),
    )
}

/// Write a file atomically with the given mode: a temporary file beside it (mode set before any
/// byte is written, so a secret is never readable by others), fsync, rename.
///
/// # Errors
/// The I/O failure, naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    // `mode` above only applies to a new file: a leftover temp file keeps its own.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_defaults() {
        let c: Config = toml::from_str("[org]\nname = \"Metro PD\"\n").unwrap();
        assert_eq!(c.admin.listen, default_admin_listen());
        assert!(c.settings.auto_import);
        assert!(c.settings.features.case_share_links);
        assert_eq!(c.retention.sweep_interval_secs, 3600);
        assert_eq!(c.http.header_read_timeout_secs, 10);
        assert_eq!(c.http.shutdown_grace_secs, 10);
        assert_eq!(c.link.request_timeout_secs, 30);
        assert_eq!(c.admin.request_timeout_secs, 3600);
        assert!(c.link.trusted_proxies.is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("[org]\nname = \"x\"\nnmae = 1\n").is_err());
        assert!(
            toml::from_str::<Config>(
                "[org]\nname = \"x\"\n[settings.features]\ncase_shar = true\n"
            )
            .is_err()
        );
    }

    /// `[p2p] max_send_rate` reads sizes as people write them; a value that is no size is
    /// refused with the key named, and nothing starts.
    #[test]
    fn send_rate_is_a_size_per_second() {
        let rate = |v: &str| {
            toml::from_str::<Config>(&format!(
                "[org]\nname = \"x\"\n[p2p]\nmax_send_rate = {v}\n"
            ))
            .map(|c| c.p2p.max_send_rate.map(|r| r.as_u64()))
            .map_err(|e| e.to_string())
        };
        assert_eq!(rate("\"20 MiB\""), Ok(Some(20 << 20)));
        assert_eq!(rate("\"100MB\""), Ok(Some(100_000_000)));
        assert_eq!(rate("\"0\""), Ok(Some(0)));
        let minimal: Config = toml::from_str("[org]\nname = \"x\"\n").unwrap();
        assert_eq!(minimal.p2p.max_send_rate, None);
        assert_eq!(rate("\"20 MiB/s\""), Ok(Some(20 << 20)));
        // Written back exactly, whatever unit it was written in.
        for v in [
            "\"100 MB\"",
            "\"20 MiB\"",
            "\"1 GiB\"",
            "\"1500 B\"",
            "\"3 KiB\"",
        ] {
            let mut c: Config = toml::from_str(&format!(
                "[org]\nname = \"x\"\n[p2p]\nmax_send_rate = {v}\n"
            ))
            .unwrap();
            let text = toml::to_string_pretty(&c).unwrap();
            let back: Config = toml::from_str(&text).unwrap();
            assert_eq!(back.p2p.max_send_rate, c.p2p.max_send_rate, "{v}: {text}");
            c.p2p.max_send_rate = None;
            assert!(
                !toml::to_string_pretty(&c)
                    .unwrap()
                    .contains("max_send_rate")
            );
        }
        for bad in ["\"fast\"", "\"-5 MiB\"", "\"20 MiB/h\"", "20"] {
            let err = rate(bad).expect_err(bad);
            assert!(err.contains("max_send_rate"), "{bad}: {err}");
        }
    }

    #[test]
    fn roundtrips() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::new("Metro PD", "127.0.0.1:0".parse().unwrap());
        c.save(dir.path()).unwrap();
        let back = Config::load(dir.path()).unwrap();
        assert_eq!(back.org.name, "Metro PD");
        assert_eq!(back.settings, c.settings);
    }
}
