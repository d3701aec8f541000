//! A real single-node Garage (S3-compatible object store) for the node tests with `[storage]
//! backend = "s3"` (issue #18): config written in a temp dir, `garage server` started on free
//! loopback ports, layout, keys and buckets created with Garage's own CLI, the process killed on
//! drop. Moved here from `crates/blobs-s3/tests/support/mod.rs` (the crate's own tests keep their
//! copy, which also counts requests and restarts the server) and cut to what node tests need:
//! a bucket per node, the `[storage]` TOML for it, and raw access to the bucket's objects to
//! check where blobs went and to damage one.
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

use std::{
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use casemesh_blobs_s3::{Credentials, S3Blobs, S3Config};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as Key};

/// The region Garage signs with (its `s3_region`).
pub const REGION: &str = "garage";

/// A running single-node Garage; killed when dropped.
pub struct Garage {
    child: Child,
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Port of its S3 API on 127.0.0.1.
    pub s3_port: u16,
    /// The key every bucket made by [`Garage::bucket`] allows.
    pub key: Credentials,
}

fn find_garage() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GARAGE_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("garage"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

impl Garage {
    /// Start a fresh single-node Garage with a key (no bucket yet), or `None` when Garage is
    /// not installed (a panic with `CASEMESH_REQUIRE_TOOLS=1`).
    pub fn start() -> Option<Garage> {
        let Some(bin) = find_garage() else {
            assert!(
                std::env::var_os("CASEMESH_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
                "no `garage` binary and CASEMESH_REQUIRE_TOOLS=1: the S3 tests must run"
            );
            eprintln!(
                "SKIPPED: no `garage` binary (install it with `cargo install garage --version 2.5.0 \
                 --locked`, or set GARAGE_BIN); the S3 tests need a real Garage"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let mut secret = [0u8; 32];
        for (i, b) in blake3::hash(format!("{:?}{rpc}{s3}", Instant::now()).as_bytes())
            .as_bytes()
            .iter()
            .enumerate()
        {
            secret[i] = *b;
        }
        let path = dir.path();
        let config = format!(
            r#"metadata_dir = "{p}/meta"
data_dir = "{p}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
            p = path.display(),
            secret = hex::encode(secret),
        );
        std::fs::write(path.join("garage.toml"), config).expect("write garage.toml");
        let log = std::fs::File::create(path.join("garage.log")).expect("log");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(path.join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start garage server");
        let mut g = Garage {
            child,
            dir,
            bin,
            s3_port: s3,
            key: Credentials {
                access_key_id: String::new(),
                secret_access_key: String::new(),
            },
        };
        g.setup();
        Some(g)
    }

    fn setup(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.try_cli(&["status"]) {
            assert!(
                Instant::now() < deadline,
                "garage did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let id = self.cli(&["node", "id", "-q"]);
        let id = id.trim().split('@').next().expect("node id").to_string();
        self.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]);
        self.cli(&["layout", "apply", "--version", "1"]);
        let key: serde_json::Value = serde_json::from_str(&self.cli(&[
            "json-api",
            "CreateKey",
            r#"{"name":"casemesh-test"}"#,
        ]))
        .expect("CreateKey answer");
        self.key = Credentials {
            access_key_id: key["accessKeyId"].as_str().expect("key id").into(),
            secret_access_key: key["secretAccessKey"].as_str().expect("secret").into(),
        };
    }

    fn try_cli(&self, args: &[&str]) -> bool {
        Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Run a `garage` CLI command against this instance; panics with its output on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .output()
            .expect("run garage");
        assert!(
            out.status.success(),
            "garage {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Garage's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
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
            "casemesh-test",
        ]);
        let blobs = self.blobs(name);
        let deadline = Instant::now() + Duration::from_secs(30);
        runtime().block_on(async {
            loop {
                match blobs.check().await {
                    Ok(()) => return,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("bucket {name} never answered: {e}\n{}", self.log()),
                }
            }
        });
    }

    /// Create bucket `bucket` ([`Garage::bucket`]) and return the `[storage]` table a node
    /// needs to keep its blobs there, with the key in a 0600 credentials file.
    pub fn storage_toml(&self, bucket: &str) -> String {
        self.bucket(bucket);
        let creds = self.dir.path().join(format!("{bucket}-credentials.toml"));
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
            endpoint: self.endpoint(),
            bucket: bucket.into(),
            region: REGION.into(),
            path_style: true,
            credentials: self.key.clone(),
            part_size: 8 << 20,
            upload_concurrency: 4,
            retry_timeout: Duration::from_secs(5),
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

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
