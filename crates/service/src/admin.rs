//! Node administration use cases, reached as `node.admin()`: the blob store (statistics, garbage
//! collection, verification, free space) and the organization's settings (feature flags, default
//! retention, auto-import, directory sharing, intake address), persisted to `config.toml` before
//! they take effect.

use crate::SettingsSink;
use crate::caller::Caller;
use crate::error::{Disposition, of_store};
use crate::tasks::RequestTasks;
use casemesh_model::org::{Action, Denied, Settings};
use casemesh_store::{BlobReport, Store, StoreError};
use std::sync::{Arc, RwLock};

/// Why an administration use case refused or failed; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The caller lacks a permission (administer).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The request is refused as given (an unknown feature, a bad intake address).
    #[error("{0}")]
    Invalid(String),
    /// The store refused (no space) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of this node (a task died, the settings could not be saved).
    #[error("{0}")]
    Internal(String),
}

impl AdminError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            AdminError::Denied(_) | AdminError::Invalid(_) => Disposition::Refuse,
            AdminError::Store(e) => of_store(e),
            AdminError::Internal(_) => Disposition::Internal,
        }
    }
}

/// Changes to the settings; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct SettingsEdit {
    /// Feature flags to change, by name (`case_share_links` → `false`); each value must be a
    /// JSON boolean.
    pub features: Vec<(String, serde_json::Value)>,
    /// New default retention (`Some(None)` clears it).
    pub default_retention: Option<Option<casemesh_model::retention::RetentionPolicy>>,
    /// Auto-import received shares.
    pub auto_import: Option<bool>,
    /// Let partners look up users and groups.
    pub share_directory: Option<bool>,
    /// Intake address for partner-named addresses not in the directory; `""` clears it.
    pub intake_address: Option<String>,
}

/// Free space for evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes free on the blob store's file system.
    pub available: u64,
    /// Bytes kept free for the database and audit trail.
    pub reserve: u64,
}

/// The administration use cases: cheap to clone.
#[derive(Clone)]
pub struct AdminService {
    store: Store,
    settings: Arc<RwLock<Settings>>,
    sink: Arc<dyn SettingsSink>,
    tasks: RequestTasks,
}

impl AdminService {
    /// Administration over `store`; settings changes go to `sink` then to `settings`; blob
    /// checks run on `tasks` (the node's, joined at shutdown).
    pub fn new(
        store: Store,
        settings: Arc<RwLock<Settings>>,
        sink: Arc<dyn SettingsSink>,
        tasks: RequestTasks,
    ) -> AdminService {
        AdminService {
            store,
            settings,
            sink,
            tasks,
        }
    }

    /// A snapshot of the settings.
    pub fn settings(&self) -> Settings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn administer(&self, caller: &Caller) -> Result<(), AdminError> {
        Ok(caller.require(&self.settings().features, Action::Administer)?)
    }

    /// Whether `caller` administers this node (the `administer` permission, directly or through
    /// a group, with the organization's feature flags): the rule every administration use case
    /// checks, for a UI that shows administration only to administrators.
    pub fn may_administer(&self, caller: &Caller) -> bool {
        self.administer(caller).is_ok()
    }

    /// `Err(Denied)` unless `caller` administers this node (the rule of [`Self::may_administer`]),
    /// for administration screens that show data any user may read (the partner and policy
    /// lists) only to administrators.
    pub fn require_admin(&self, caller: &Caller) -> Result<(), AdminError> {
        self.administer(caller)
    }

    /// A snapshot of the settings for an administrator's settings screen: `Denied` unless
    /// `caller` administers the node (the JSON API's `GET /v1/settings` stays open to every
    /// authenticated user; this one is the administration view).
    pub fn settings_for_admin(&self, caller: &Caller) -> Result<Settings, AdminError> {
        self.administer(caller)?;
        Ok(self.settings())
    }

    /// Change settings (administrators): checked, saved to `config.toml`, then in effect.
    /// Returns the new settings.
    pub fn edit_settings(
        &self,
        caller: &Caller,
        edit: &SettingsEdit,
    ) -> Result<Settings, AdminError> {
        self.administer(caller)?;
        let mut s = self.settings();
        if !edit.features.is_empty() {
            let mut flags = serde_json::to_value(&s.features)
                .map_err(|e| AdminError::Internal(e.to_string()))?;
            for (k, v) in &edit.features {
                let Some(slot) = flags.get_mut(k) else {
                    return Err(AdminError::Invalid(format!("unknown feature {k:?}")));
                };
                if !v.is_boolean() {
                    return Err(AdminError::Invalid(format!(
                        "feature {k:?} must be true or false"
                    )));
                }
                *slot = v.clone();
            }
            s.features =
                serde_json::from_value(flags).map_err(|e| AdminError::Invalid(e.to_string()))?;
        }
        if let Some(r) = edit.default_retention {
            s.default_retention = r;
        }
        if let Some(d) = edit.share_directory {
            s.share_directory = d;
        }
        if let Some(a) = edit.auto_import {
            s.auto_import = a;
        }
        if let Some(i) = &edit.intake_address {
            let i = i.trim();
            if !i.is_empty() && !casemesh_sharing::mail::is_valid_address(i) {
                return Err(AdminError::Invalid(format!(
                    "intake address {i:?} is not an email address"
                )));
            }
            s.intake_address = (!i.is_empty()).then(|| i.to_owned());
        }
        self.sink
            .save(&s)
            .map_err(|e| AdminError::Internal(format!("saving settings: {e}")))?;
        if let Ok(mut cur) = self.settings.write() {
            *cur = s.clone();
        }
        tracing::info!(by = %caller.user.username, "settings changed");
        Ok(s)
    }

    /// Blobs on disk and their total size in bytes (any authenticated user).
    pub fn blob_stats(&self) -> Result<(u64, u64), AdminError> {
        let list = self.store.blobs().list()?;
        Ok((list.len() as u64, list.iter().map(|(_, s)| s).sum()))
    }

    /// Whether an upload of `bytes` fits (any authenticated user): the free space of the data
    /// directory's file system, or `Store(NoSpace)` (nothing changes either way). The same
    /// question as the ingest itself asks ([`casemesh_store::BlobStore::check_blob_space`]): on
    /// `[storage] backend = "s3"` the blob goes to the bucket and takes no local space, so
    /// nothing is refused for it.
    pub fn check_space(&self, bytes: u64) -> Result<Space, AdminError> {
        self.store.blobs().check_blob_space(bytes)?;
        Ok(Space {
            available: self.store.blobs().available_space()?,
            reserve: casemesh_store::blobs::SPACE_RESERVE,
        })
    }

    /// Remove blobs no record references (administrators): `(removed, bytes freed)`.
    pub async fn gc(&self, caller: &Caller) -> Result<(u64, u64), AdminError> {
        self.administer(caller)?;
        Ok(self.store.gc().await?)
    }

    /// Check every referenced blob: present and hashing to its name (administrators; reads
    /// every referenced byte, off the async threads).
    pub async fn verify_blobs(&self, caller: &Caller) -> Result<BlobReport, AdminError> {
        self.administer(caller)?;
        let store = self.store.clone();
        Ok(self
            .tasks
            .blocking(move || store.verify_blobs())
            .await
            .map_err(|e| AdminError::Internal(format!("verify task: {e}")))??)
    }
}
