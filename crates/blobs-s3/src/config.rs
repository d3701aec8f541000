//! The `[storage]` table of `config.toml` and the S3 settings resolved from it (credentials read
//! from the environment or from a file only its owner can read).
//!
//! ```toml
//! [storage]
//! backend = "s3"                       # "fs" (default): blobs in DIR/blobs, as before
//! endpoint = "http://127.0.0.1:3900"   # http:// only for loopback or a trusted network
//! bucket = "casemesh-evidence"
//! region = "garage"                    # what the store expects in signatures
//! path_style = true                    # https://host/bucket/key (Garage, MinIO) vs bucket.host
//! credentials_file = "/etc/casemesh/s3-credentials.toml"   # optional; mode 0600
//! ```
//!
//! The credentials file is TOML with `access_key_id` and `secret_access_key`. Without
//! `credentials_file`, `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are read from the
//! environment.

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

/// Default part size of multipart uploads (bytes). S3 wants at least 5 MiB per part except the
/// last, and at most 10 000 parts: 8 MiB parts reach 78 GiB; a writer told the size of a larger
/// blob uses larger parts.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;

/// Default number of parts uploaded at once per blob. Memory of an upload is at most
/// `(upload_concurrency + 1) * part_size` whatever the blob's size.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;

/// Default time object_store keeps retrying a failed request (connection refused, 5xx, timeout)
/// before the error reaches the caller as [`crate::Action::Retry`]: object_store's own default.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(180);

/// `[storage]`: where evidence blobs live. Absent = [`StorageConfig::Fs`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StorageConfig {
    /// Files under `DIR/blobs` (today's behaviour).
    #[default]
    Fs,
    /// An S3-compatible object store.
    S3(S3Settings),
}

/// The keys of `[storage]` when `backend = "s3"`, as written (credentials not read yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Base URL of the S3 API, e.g. `https://s3.example.org` or `http://127.0.0.1:3900`.
    pub endpoint: String,
    /// Bucket holding the blobs (created beforehand by the store's administrator).
    pub bucket: String,
    /// Region used in request signatures (Garage: its `s3_region`; AWS: the bucket's region).
    pub region: String,
    /// Path-style requests (`endpoint/bucket/key`) instead of virtual-hosted (`bucket.endpoint/key`).
    /// Garage and MinIO deployments usually need `true`.
    #[serde(default)]
    pub path_style: bool,
    /// File holding the credentials (TOML: `access_key_id`, `secret_access_key`); must not be
    /// readable by group or others (mode 0600 or 0400). Relative paths are relative to the
    /// data directory. None: the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

impl StorageConfig {
    /// Whether this is the default, [`StorageConfig::Fs`] (the node's config leaves the table
    /// out when it writes itself back).
    pub fn is_fs(&self) -> bool {
        matches!(self, StorageConfig::Fs)
    }
}

/// A key pair for the object store. `Debug` does not show the secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The access key id (not secret; appears in logs of the store).
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Everything needed to talk to the bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// See [`S3Settings::endpoint`].
    pub endpoint: String,
    /// See [`S3Settings::bucket`].
    pub bucket: String,
    /// See [`S3Settings::region`].
    pub region: String,
    /// See [`S3Settings::path_style`].
    pub path_style: bool,
    /// The key pair.
    pub credentials: Credentials,
    /// Multipart part size for blobs up to 10 000 parts (bytes, ≥ 5 MiB).
    pub part_size: usize,
    /// Parts in flight per upload.
    pub upload_concurrency: usize,
    /// How long one request is retried before its error is returned.
    pub retry_timeout: Duration,
}

/// Why the `[storage]` settings cannot be used: the node refuses to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML does not have the expected shape.
    #[error("[storage]: {0}")]
    Parse(String),
    /// A setting has an unusable value.
    #[error("[storage] {key}: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither a credentials file nor both environment variables.
    #[error(
        "[storage] backend = \"s3\" needs credentials: set credentials_file (mode 0600) or the \
         environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials,
    /// The credentials file can be read by others.
    #[error(
        "{path}: credentials file has mode {mode:04o}; it must not be readable by group or \
         others (chmod 600 {path})"
    )]
    CredentialsFileMode {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The credentials file cannot be read or parsed.
    #[error("{path}: {reason}")]
    CredentialsFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Parse the `[storage]` table out of a whole `config.toml` text (absent table = `Fs`).
pub fn storage_from_toml(text: &str) -> Result<StorageConfig, ConfigError> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        storage: StorageConfig,
    }
    // Other tables belong to the node's own config; only [storage] is read here.
    let value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let storage = value.get("storage").cloned();
    let file: File = toml::Value::Table(
        storage
            .map(|s| toml::Table::from_iter([("storage".to_string(), s)]))
            .unwrap_or_default(),
    )
    .try_into()
    .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
    Ok(file.storage)
}

/// The bucket settings of the `[storage]` table whatever its `backend` says: `Some` when the
/// table holds them (`backend = "s3"`, or `backend = "fs"` beside the keys of a bucket a
/// migration moves to or from), `None` when it holds no `endpoint` and no `bucket`. For `casemesh
/// blobs migrate`, which must reach the bucket while the node still runs on files (`--to s3`) or
/// once it was switched back (`--to fs`).
///
/// Errors: [`ConfigError::Parse`] when the keys are there but incomplete or misspelt.
pub fn s3_settings_from_toml(text: &str) -> Result<Option<S3Settings>, ConfigError> {
    let value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let Some(toml::Value::Table(mut storage)) = value.get("storage").cloned() else {
        return Ok(None);
    };
    if !storage.contains_key("endpoint") && !storage.contains_key("bucket") {
        return Ok(None);
    }
    storage.remove("backend");
    toml::Value::Table(storage)
        .try_into()
        .map(Some)
        .map_err(|e: toml::de::Error| ConfigError::Parse(e.message().to_string()))
}

impl S3Config {
    /// Resolve `settings`: check the values and read the credentials (from the file, relative to
    /// `data_dir`, or else through `env`, normally `|k| std::env::var(k).ok()`).
    ///
    /// Errors: [`ConfigError`] saying which key to fix; the node must not start.
    pub fn resolve(
        settings: &S3Settings,
        data_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Config, ConfigError> {
        let endpoint = settings.endpoint.trim_end_matches('/').to_string();
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                key: "endpoint",
                reason: format!("{endpoint:?} is not an http:// or https:// URL"),
            });
        }
        if settings.bucket.is_empty() {
            return Err(ConfigError::Invalid {
                key: "bucket",
                reason: "empty".into(),
            });
        }
        if settings.region.is_empty() {
            return Err(ConfigError::Invalid {
                key: "region",
                reason: "empty (Garage: its s3_region, e.g. \"garage\")".into(),
            });
        }
        let credentials = match &settings.credentials_file {
            Some(p) => read_credentials_file(&data_dir.join(p))?,
            None => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Credentials {
                    access_key_id: id,
                    secret_access_key: secret,
                },
                _ => return Err(ConfigError::NoCredentials),
            },
        };
        Ok(S3Config {
            endpoint,
            bucket: settings.bucket.clone(),
            region: settings.region.clone(),
            path_style: settings.path_style,
            credentials,
            part_size: DEFAULT_PART_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
        })
    }
}

/// Read a credentials file, refusing one that group or others can read.
fn read_credentials_file(path: &Path) -> Result<Credentials, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display().to_string();
    let err = |reason: String| ConfigError::CredentialsFile {
        path: shown.clone(),
        reason,
    };
    let md = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::CredentialsFileMode {
            path: shown.clone(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let c: Credentials = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
    if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
        return Err(err(
            "access_key_id and secret_access_key must not be empty".into()
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const S3: &str = r#"
        [org]
        name = "x"
        [storage]
        backend = "s3"
        endpoint = "http://127.0.0.1:3900/"
        bucket = "evidence"
        region = "garage"
        path_style = true
    "#;

    fn settings(text: &str) -> S3Settings {
        match storage_from_toml(text).unwrap() {
            StorageConfig::S3(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absent_or_fs_is_the_file_system() {
        assert_eq!(
            storage_from_toml("[org]\nname = \"x\"").unwrap(),
            StorageConfig::Fs
        );
        assert_eq!(
            storage_from_toml("[storage]\nbackend = \"fs\"").unwrap(),
            StorageConfig::Fs
        );
    }

    #[test]
    fn s3_table_parses_and_typos_are_refused() {
        let s = settings(S3);
        assert_eq!((s.bucket.as_str(), s.path_style), ("evidence", true));
        assert!(storage_from_toml(&S3.replace("path_style", "pathstyle")).is_err());
        assert!(storage_from_toml("[storage]\nbackend = \"ftp\"").is_err());
        assert!(storage_from_toml("[storage]\nbackend = \"s3\"\nbucket = \"b\"").is_err());
    }

    #[test]
    fn bucket_settings_are_read_whatever_the_backend() {
        let fs_with_bucket = S3.replace("backend = \"s3\"", "backend = \"fs\"");
        assert_eq!(
            storage_from_toml(&fs_with_bucket).unwrap(),
            StorageConfig::Fs
        );
        let s = s3_settings_from_toml(&fs_with_bucket).unwrap().unwrap();
        assert_eq!(s, settings(S3));
        assert_eq!(
            s3_settings_from_toml("[storage]\nbackend = \"fs\"").unwrap(),
            None
        );
        assert_eq!(s3_settings_from_toml("[org]\nname = \"x\"").unwrap(), None);
        assert!(s3_settings_from_toml("[storage]\nbucket = \"b\"").is_err());
    }

    #[test]
    fn credentials_from_the_environment() {
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("GKabc".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("s3cr3t".to_string()),
            _ => None,
        };
        let c = S3Config::resolve(&settings(S3), Path::new("/nonexistent"), env).unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:3900");
        assert_eq!(c.credentials.access_key_id, "GKabc");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(matches!(
            S3Config::resolve(&settings(S3), Path::new("/"), |_| None),
            Err(ConfigError::NoCredentials)
        ));
    }

    #[test]
    fn credentials_file_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s3.toml");
        std::fs::write(
            &file,
            "access_key_id = \"GKfile\"\nsecret_access_key = \"fromfile\"\n",
        )
        .unwrap();
        let text = format!("{S3}credentials_file = \"s3.toml\"\n");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = S3Config::resolve(&settings(&text), dir.path(), |_| None).unwrap_err();
        assert!(
            matches!(e, ConfigError::CredentialsFileMode { mode: 0o644, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("chmod 600"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        // The file wins over the environment.
        let c = S3Config::resolve(&settings(&text), dir.path(), |_| Some("env".into())).unwrap();
        assert_eq!(c.credentials.secret_access_key, "fromfile");
    }
}
