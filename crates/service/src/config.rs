//! The node's configuration file, `DIR/config.toml`, and the data directory's fixed layout.
//! (The file format is the operators': keep it compatible.)
//!
//! Every field has a documented default, so a minimal file (`[org] name = "…"`) is a valid
//! configuration. Unknown keys are refused, so a typo is an error at start-up instead of a silently
//! ignored setting. Settings an administrator changes through the API are written back here.

use anyhow::{Context as _, Result, bail};
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
    /// Outgoing mail for notifications; absent = notifications are logged, not sent.
    #[serde(default)]
    pub smtp: Option<casemesh_sharing::SmtpConfig>,
    /// Run-time settings (feature flags, default retention, auto-import); changed through the API.
    #[serde(default = "default_settings")]
    pub settings: Settings,
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
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            listen: default_p2p_listen(),
            max_concurrent_fetches: default_fetches(),
        }
    }
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
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: default_admin_listen(),
        }
    }
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
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            listen: default_link_listen(),
            public_url: None,
            clean_interval_secs: default_link_clean_interval(),
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
            },
            log: LogConfig::default(),
            retention: RetentionConfig::default(),
            link: LinkConfig::default(),
            p2p: P2pConfig::default(),
            smtp: None,
            settings: default_settings(),
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
        if config.org.name.trim().is_empty() {
            bail!(
                "invalid configuration in {}: org.name is empty",
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

    /// Write atomically (temp file, fsync, rename).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).context("encode configuration")?;
        write_atomic(&Layout::new(dir).config(), text.as_bytes(), 0o644)
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

/// Write a file atomically with the given mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
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
