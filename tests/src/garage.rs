//! A real single-node Garage (S3-compatible object store) for the node tests with `[storage]
//! backend = "s3"` (issue #18): config written in a temp dir, `garage server` started on free
//! loopback ports, layout, keys and buckets created with Garage's own CLI, the process killed on
//! drop. The server itself is the blob backend's own test support
//! (`crates/blobs-s3/tests/support/mod.rs`, included here by path, so the two test suites start
//! Garage with one piece of code); this adds what node tests need: a bucket per node, the
//! `[storage]` TOML for it, and raw access to the bucket's objects to check where blobs went and
//! to damage one.
//!
//! [`Garage::start`] is `None` (and says why) when no `garage` binary is installed (`cargo
//! install garage --version 2.5.0 --locked`, or set `GARAGE_BIN`); with
//! `CASEMESH_REQUIRE_TOOLS=1` (CI) it panics instead, so the S3 tests cannot be skipped silently.
//!
//! ```no_run
//! let Some(garage) = casemesh_tests::garage::Garage::start() else { return };
//! let storage = garage.storage_toml("metro-pd");   // creates bucket `metro-pd`
//! let node = casemesh_tests::TestNode::builder("metro-pd").config_append(storage).start();
//! assert!(garage.keys("metro-pd").is_empty());
//! # drop(node);
//! ```

use std::{os::unix::fs::PermissionsExt, sync::Arc, time::Duration};

use casemesh_blobs_s3::{Credentials, S3Blobs, S3Config};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as Key};

#[path = "../../crates/blobs-s3/tests/support/mod.rs"]
mod support;

pub use support::REGION;

/// A running single-node Garage with a key; killed when dropped.
pub struct Garage {
    server: support::Garage,
    /// Where the credentials files of [`Garage::storage_toml`] go.
    creds: tempfile::TempDir,
    /// The key every bucket made by [`Garage::bucket`] allows.
    pub key: Credentials,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

impl Garage {
    /// Start a fresh single-node Garage with a key, or `None` when Garage is not installed (a
    /// panic with `CASEMESH_REQUIRE_TOOLS=1`).
    pub fn start() -> Option<Garage> {
        let server = support::Garage::start()?;
        let key = server.key.clone();
        Some(Garage {
            server,
            creds: tempfile::tempdir().expect("temp dir"),
            key,
        })
    }

    /// Run a `garage` CLI command against this instance; panics with its output on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        self.server.cli(args)
    }

    /// Garage's own log so far.
    pub fn log(&self) -> String {
        self.server.log()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Create bucket `name`, readable and writable with [`Garage::key`], and wait until it
    /// answers.
    pub fn bucket(&self, name: &str) {
        self.cli(&["bucket", "create", name]);
        self.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            name,
            "--key",
            support::KEY_NAME,
        ]);
        let config = S3Config {
            bucket: name.into(),
            ..self.server.config()
        };
        runtime().block_on(self.server.blobs_with(config));
    }

    /// Create bucket `bucket` ([`Garage::bucket`]) and return the `[storage]` table a node
    /// needs to keep its blobs there, with the key in a 0600 credentials file.
    pub fn storage_toml(&self, bucket: &str) -> String {
        self.bucket(bucket);
        let creds = self.creds.path().join(format!("{bucket}-credentials.toml"));
        std::fs::write(
            &creds,
            format!(
                "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
                self.key.access_key_id, self.key.secret_access_key
            ),
        )
        .expect("write credentials");
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 600");
        format!(
            "\n[storage]\nbackend = \"s3\"\nendpoint = \"{}\"\nbucket = \"{bucket}\"\n\
             region = \"{REGION}\"\npath_style = true\ncredentials_file = \"{}\"\n",
            self.endpoint(),
            creds.display()
        )
    }

    /// An [`S3Blobs`] on `bucket` (for tests that look at what a node stored).
    pub fn blobs(&self, bucket: &str) -> S3Blobs {
        S3Blobs::connect(&S3Config {
            bucket: bucket.into(),
            retry_timeout: Duration::from_secs(5),
            ..self.server.config()
        })
        .expect("connect")
    }

    fn raw(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        self.blobs(bucket).object_store().clone()
    }

    /// Every object key in `bucket`, sorted (blobs, outboards, staging keys).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        use futures::TryStreamExt;
        let store = self.raw(bucket);
        let mut keys: Vec<String> = runtime()
            .block_on(async { store.list(None).try_collect::<Vec<_>>().await })
            .expect("list bucket")
            .into_iter()
            .map(|m| m.location.to_string())
            .collect();
        keys.sort();
        keys
    }

    /// The blob hashes (64 hex) stored in `bucket`, sorted.
    pub fn blob_hashes(&self, bucket: &str) -> Vec<String> {
        self.keys(bucket)
            .into_iter()
            .filter_map(|k| {
                let name = k.strip_prefix("blobs/")?;
                (name.len() == 64).then(|| name.to_owned())
            })
            .collect()
    }

    /// The bytes of object `key` in `bucket`.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let store = self.raw(bucket);
        runtime()
            .block_on(async { store.get(&Key::from(key)).await?.bytes().await })
            .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e}"))
            .to_vec()
    }

    /// Overwrite object `key` in `bucket` with `bytes` (to damage a stored blob).
    pub fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let store = self.raw(bucket);
        runtime()
            .block_on(async { store.put(&Key::from(key), PutPayload::from(bytes)).await })
            .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e}"));
    }
}
