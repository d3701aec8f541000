//! Shared state of the API handlers: the store, the organization's identity and settings, the
//! clock.

use casemesh_model::org::FeatureFlags;
use casemesh_model::retention::RetentionPolicy;
use casemesh_model::time::Timestamp;
use casemesh_store::Store;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

/// Organization settings an administrator changes at run time (persisted by the node in its
/// config file through [`SettingsSink`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Feature flags.
    pub features: FeatureFlags,
    /// The default retention policy of new and received cases; none ⇒ "Until Manually Deleted".
    pub default_retention: Option<RetentionPolicy>,
    /// Import received partner shares automatically (the seeds' default), else wait for Import.
    pub auto_import: bool,
}

impl Default for Settings {
    /// Every feature on, no default retention, auto-import on (the seeds' default).
    fn default() -> Self {
        Settings {
            features: FeatureFlags::default(),
            default_retention: None,
            auto_import: true,
        }
    }
}

/// Where changed settings are persisted (the node writes them to `config.toml`).
pub trait SettingsSink: Send + Sync + 'static {
    /// Persist `settings`; an error leaves the running settings unchanged.
    fn save(&self, settings: &Settings) -> Result<(), String>;
}

/// The wall clock, with an offset tests and operators can set (`CASEMESH_CLOCK_OFFSET_MS`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// Added to the system time, in milliseconds.
    pub offset_ms: i64,
}

impl Clock {
    /// Now.
    pub fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms.saturating_add(self.offset_ms).max(0) as u64)
    }
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
}

impl AppState {
    /// A snapshot of the settings.
    pub fn settings(&self) -> Settings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }
}
