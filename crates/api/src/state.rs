//! Shared state of the API handlers: the store, the organization's identity and settings, the
//! clock.

pub use casemesh_model::org::Settings;
pub use casemesh_store::Clock;
use casemesh_store::Store;
use std::sync::{Arc, RwLock};

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
    /// PeerId text.
    pub id: String,
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Records and blobs.
    pub store: Store,
    /// This organization.
    pub org: OrgInfo,
    /// Run-time settings.
    pub settings: Arc<RwLock<Settings>>,
    /// Persists settings changes.
    pub settings_sink: Arc<dyn SettingsSink>,
    /// The clock.
    pub clock: Clock,
    /// The admin endpoint's bound address, for `/v1/node`.
    pub admin_addr: Arc<RwLock<String>>,
    /// The node's data directory (`packages/` lives below it).
    pub data_dir: std::path::PathBuf,
    /// Download links: package builds, public URLs, the failed-guess limiter (holds the org key
    /// that signs package manifests).
    pub links: crate::links::Links,
    /// The sharing engine (partners, shares, sync); `None` when federation is not running.
    pub sharing: Option<casemesh_sharing::Engine>,
}

impl AppState {
    /// A snapshot of the settings.
    pub fn settings(&self) -> Settings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }
}
