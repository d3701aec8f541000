//! A real single-node Garage (S3-compatible object store) for the node tests with `[storage]
//! backend = "s3"` (issue #18): config written in a temp dir, `garage server` started on free
//! loopback ports, layout, keys and buckets created with Garage's own CLI, the process killed on
//! drop. The server itself is the blob backend's own test support
//! (`crates/blobs-s3/tests/support/mod.rs`, included here by path, so the two test suites start
//! Garage with one piece of code); this adds what node tests need: a bucket per node, the
//! `[storage]` TOML for it, and raw access to the bucket's objects to check where blobs went and
//! to damage one. [`GarageCluster`] does the same for a three-server cluster with replication
//! factor 3 (the backend's own cluster starter), with servers to stop and start again.
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
        storage_table(&self.endpoint(), bucket, &self.key, self.creds.path())
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

    /// Kill the server (SIGKILL): the bucket stops answering.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Start the server again on the same data and ports (after [`Garage::kill`]).
    pub fn restart(&mut self) {
        self.server.restart();
    }
}

/// The `[storage]` table of a node keeping its blobs in `bucket` at `endpoint`, with `key`
/// written to a 0600 credentials file in `creds_dir`.
fn storage_table(
    endpoint: &str,
    bucket: &str,
    key: &Credentials,
    creds_dir: &std::path::Path,
) -> String {
    let creds = creds_dir.join(format!("{bucket}-credentials.toml"));
    std::fs::write(
        &creds,
        format!(
            "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            key.access_key_id, key.secret_access_key
        ),
    )
    .expect("write credentials");
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    format!(
        "\n[storage]\nbackend = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"{bucket}\"\n\
         region = \"{REGION}\"\npath_style = true\ncredentials_file = \"{}\"\n",
        creds.display()
    )
}

/// A real Garage cluster of `n` servers on loopback with replication factor `n` (the blob
/// backend's own [`support::GarageCluster`]: one zone, consistent mode, so with three servers
/// writes and reads need two and one may be down), holding one bucket ([`GarageCluster::BUCKET`])
/// for one casemesh node. Each server serves the S3 API on its own port; a node is pointed at
/// one of them ([`GarageCluster::storage_toml`]). Killed on drop.
pub struct GarageCluster {
    cluster: support::GarageCluster,
    creds: tempfile::TempDir,
}

impl GarageCluster {
    /// The bucket the cluster holds (created at start, with [`GarageCluster::key`] allowed).
    pub const BUCKET: &str = support::BUCKET;

    /// Start `n` servers with replication factor `n`, one layout, the bucket and a key; `None`
    /// when Garage is not installed (a panic with `CASEMESH_REQUIRE_TOOLS=1`).
    pub fn start(n: usize) -> Option<GarageCluster> {
        Some(GarageCluster {
            cluster: support::GarageCluster::start(n)?,
            creds: tempfile::tempdir().expect("temp dir"),
        })
    }

    /// The key allowed on [`GarageCluster::BUCKET`].
    pub fn key(&self) -> &Credentials {
        &self.cluster.key
    }

    /// The `[storage]` table of a node keeping its blobs in [`GarageCluster::BUCKET`] through
    /// server `via`'s S3 API, once the bucket answers there.
    pub fn storage_toml(&self, via: usize) -> String {
        runtime().block_on(self.cluster.blobs(via));
        let endpoint = self.cluster.config(via).endpoint;
        storage_table(
            &endpoint,
            Self::BUCKET,
            &self.cluster.key,
            self.creds.path(),
        )
    }

    /// Kill server `node` (SIGKILL) and wait for it.
    pub fn stop(&mut self, node: usize) {
        self.cluster.stop(node);
    }

    /// Start server `node` again on its data and ports, and wait until server 0 sees every
    /// server up.
    pub fn restart(&mut self, node: usize) {
        self.cluster.restart(node);
        self.cluster.wait_all_up(0);
    }

    /// Garage's log of server `node`.
    pub fn log(&self, node: usize) -> String {
        self.cluster.log(node)
    }

    /// The blob hashes (64 hex) in the bucket, listed through server `via`, sorted.
    pub fn blob_hashes(&self, via: usize) -> Vec<String> {
        use futures::TryStreamExt;
        let store = S3Blobs::connect(&self.cluster.config(via))
            .expect("connect")
            .object_store()
            .clone();
        let mut hashes: Vec<String> = runtime()
            .block_on(async {
                store
                    .list(Some(&Key::from("blobs")))
                    .try_collect::<Vec<_>>()
                    .await
            })
            .expect("list bucket")
            .into_iter()
            .filter_map(|m| {
                let name = m.location.to_string().strip_prefix("blobs/")?.to_owned();
                (name.len() == 64).then_some(name)
            })
            .collect();
        hashes.sort();
        hashes
    }
}
