//! A real single-node Garage for the tests: config written in a temp dir, `garage server`
//! started on free loopback ports, layout, key and bucket created with Garage's own CLI, the
//! process killed on drop. `Garage::start()` is `None` (and says why) when no `garage` binary is
//! installed (`cargo install garage --version 2.5.0 --locked`, or set `GARAGE_BIN`).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use casemesh_blobs_s3::{Credentials, S3Blobs, S3Config};

pub const REGION: &str = "garage";
pub const BUCKET: &str = "casemesh-test";
/// The name of the key [`Garage::start`] and [`GarageCluster::start`] create.
pub const KEY_NAME: &str = "casemesh-test";

pub struct Garage {
    child: Child,
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub s3_port: u16,
    pub admin_port: u16,
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

/// A server's `garage.toml`: data under `dir`, sqlite metadata, `replication` copies, every API
/// on loopback.
fn server_config(
    dir: &Path,
    replication: usize,
    rpc: u16,
    s3: u16,
    admin: u16,
    secret: &[u8; 32],
) -> String {
    format!(
        r#"metadata_dir = "{p}/meta"
data_dir = "{p}/data"
db_engine = "sqlite"
replication_factor = {replication}
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
        p = dir.display(),
        secret = hex::encode(secret),
    )
}

/// Create [`BUCKET`] and the key [`KEY_NAME`] allowed on it, through `cli` (a `garage` command
/// on a node whose layout is applied); the key's credentials.
fn key_and_bucket(cli: impl Fn(&[&str]) -> String) -> Credentials {
    cli(&["bucket", "create", BUCKET]);
    let key: serde_json::Value = serde_json::from_str(&cli(&[
        "json-api",
        "CreateKey",
        &format!(r#"{{"name":"{KEY_NAME}"}}"#),
    ]))
    .expect("CreateKey answer");
    cli(&[
        "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", KEY_NAME,
    ]);
    Credentials {
        access_key_id: key["accessKeyId"].as_str().expect("key id").into(),
        secret_access_key: key["secretAccessKey"].as_str().expect("secret").into(),
    }
}

/// Run `garage -c CONFIG ARGS…` (its own logging at `error` only).
fn run_garage(bin: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .arg("-c")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("run garage")
}

/// Stdout then stderr of a command, as text.
fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Garage {
    /// Start a fresh single-node Garage, or `None` when Garage is not installed.
    pub fn start() -> Option<Garage> {
        let bin = garage_or_skip()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("random");
        let path = dir.path();
        let config = server_config(path, 1, rpc, s3, admin, &secret);
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
            admin_port: admin,
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
        while !self.try_cli(&["status"]).0 {
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
        self.key = key_and_bucket(|args| self.cli(args));
    }

    fn try_cli(&self, args: &[&str]) -> (bool, String) {
        let out = run_garage(&self.bin, &self.dir.path().join("garage.toml"), args);
        (out.status.success(), all_output(&out))
    }

    /// Run a `garage` CLI command against this instance; panics with its output on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = run_garage(&self.bin, &self.dir.path().join("garage.toml"), args);
        assert!(
            out.status.success(),
            "garage {args:?} failed: {}",
            all_output(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: self.endpoint(),
            bucket: BUCKET.into(),
            region: REGION.into(),
            path_style: true,
            credentials: self.key.clone(),
            part_size: 8 << 20,
            upload_concurrency: 4,
            retry_timeout: Duration::from_secs(5),
        }
    }

    /// The store under test, once the bucket answers (the layout takes a moment to apply).
    pub async fn blobs(&self) -> S3Blobs {
        self.blobs_with(self.config()).await
    }

    pub async fn blobs_with(&self, config: S3Config) -> S3Blobs {
        let blobs = S3Blobs::connect(&config).expect("connect");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match blobs.check().await {
                Ok(()) => return blobs,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("bucket never answered: {e}\n{}", self.log()),
            }
        }
    }

    /// Unfinished multipart uploads in the bucket, as Garage counts them.
    pub fn unfinished_uploads(&self) -> i64 {
        let info: serde_json::Value = serde_json::from_str(&self.cli(&[
            "json-api",
            "GetBucketInfo",
            &format!(r#"{{"globalAlias":"{BUCKET}"}}"#),
        ]))
        .expect("GetBucketInfo answer");
        info["unfinishedMultipartUploads"]
            .as_i64()
            .expect("unfinishedMultipartUploads")
    }

    /// S3 requests Garage served for this API endpoint (`PutObject`, `UploadPart`, …), from its
    /// Prometheus metrics on the admin port.
    pub fn s3_requests(&self, endpoint: &str) -> u64 {
        let mut s = TcpStream::connect(("127.0.0.1", self.admin_port)).expect("admin port");
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("request");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("metrics");
        let needle = format!("api_endpoint=\"{endpoint}\"");
        text.lines()
            .filter(|l| l.starts_with("api_s3_request_counter") && l.contains(&needle))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Every S3 write request served so far (object puts, parts, copies, completions).
    pub fn s3_writes(&self) -> u64 {
        [
            "PutObject",
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
            "CopyObject",
        ]
        .iter()
        .map(|e| self.s3_requests(e))
        .sum()
    }

    /// Start the server again on the same data and ports (after [`Garage::kill`]).
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("garage.log"))
            .expect("log");
        self.child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("restart garage server");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.try_cli(&["status"]).0 {
            assert!(
                Instant::now() < deadline,
                "garage did not come back: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kill the server (SIGKILL) and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Deterministic pseudo-random bytes for offset `at` (`xorshift` of the 8-byte block index), so
/// a large blob can be produced piece by piece without holding it.
pub fn fill(at: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let x = (at + i as u64) / 8;
        let mut v = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x0005_DEEC_E66D;
        v ^= v >> 29;
        v = v.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        *b = (v >> (8 * ((at + i as u64) % 8))) as u8;
    }
}

pub fn bytes(at: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(at, &mut v);
    v
}

/// The object keys (full paths, e.g. `blobs/ab…`) in `blobs`' bucket under `prefix`, in the
/// order the store lists them; panics when listing fails.
pub async fn keys(blobs: &S3Blobs, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let p = object_store::path::Path::from(prefix);
    let metas: Vec<_> = blobs
        .object_store()
        .list(Some(&p))
        .try_collect()
        .await
        .expect("list");
    metas.into_iter().map(|m| m.location.to_string()).collect()
}

/// The `garage` binary, or `None` (skip) when it is not installed; panics instead when
/// `CASEMESH_REQUIRE_TOOLS=1` (CI: the S3 tests must run).
fn garage_or_skip() -> Option<PathBuf> {
    let bin = find_garage();
    if bin.is_none() {
        assert!(
            std::env::var_os("CASEMESH_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
            "no `garage` binary and CASEMESH_REQUIRE_TOOLS=1: the S3 tests must run"
        );
        eprintln!(
            "SKIPPED: no `garage` binary (install it with `cargo install garage --version 2.5.0 \
             --locked`, or set GARAGE_BIN); the S3 tests need a real Garage"
        );
    }
    bin
}

/// One server of a [`GarageCluster`].
pub struct ClusterNode {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
    pub s3_port: u16,
    pub rpc_port: u16,
}

/// A real multi-node Garage cluster on loopback (one zone, every node 1 GB of capacity) with
/// `replication_factor = N` and the default consistent mode: writes and reads need a quorum of
/// ⌊N/2⌋+1 nodes, so with three nodes one may be down. Each node serves the S3 API on its own
/// port; [`GarageCluster::config`] points a client at one of them. Killed on drop.
pub struct GarageCluster {
    nodes: Vec<ClusterNode>,
    /// Each server's `ID@HOST:PORT`, for `garage node connect`.
    ids: Vec<String>,
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub key: Credentials,
}

impl GarageCluster {
    /// Start `n` nodes with replication factor `n`, connect them, apply one layout with all
    /// of them, create the bucket and a key allowed on it. `None` when Garage is not installed.
    pub fn start(n: usize) -> Option<GarageCluster> {
        let bin = garage_or_skip()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("random");
        let mut nodes = Vec::new();
        for i in 0..n {
            let (rpc, s3, admin) = (free_port(), free_port(), free_port());
            let p = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&p).expect("node dir");
            let config = server_config(&p, n, rpc, s3, admin, &secret);
            std::fs::write(p.join("garage.toml"), config).expect("write garage.toml");
            nodes.push(ClusterNode {
                child: None,
                config: p.join("garage.toml"),
                log: p.join("garage.log"),
                s3_port: s3,
                rpc_port: rpc,
            });
        }
        let mut c = GarageCluster {
            nodes,
            ids: Vec::new(),
            dir,
            bin,
            key: Credentials {
                access_key_id: String::new(),
                secret_access_key: String::new(),
            },
        };
        for i in 0..n {
            c.restart(i);
        }
        c.setup();
        Some(c)
    }

    fn setup(&mut self) {
        let ids: Vec<String> = (0..self.nodes.len())
            .map(|i| self.cli(i, &["node", "id", "-q"]).trim().to_string())
            .collect();
        for id in &ids[1..] {
            self.cli(0, &["node", "connect", id]);
        }
        for id in &ids {
            let short = id.split('@').next().expect("node id");
            self.cli(0, &["layout", "assign", "-z", "dc1", "-c", "1G", short]);
        }
        self.cli(0, &["layout", "apply", "--version", "1"]);
        self.key = key_and_bucket(|args| self.cli(0, args));
        self.ids = ids;
    }

    fn try_cli(&self, node: usize, args: &[&str]) -> (bool, String) {
        let out = run_garage(&self.bin, &self.nodes[node].config, args);
        (out.status.success(), all_output(&out))
    }

    /// Run a `garage` CLI command against node `node`; panics with its output on failure.
    pub fn cli(&self, node: usize, args: &[&str]) -> String {
        let (ok, text) = self.try_cli(node, args);
        assert!(ok, "garage {args:?} on node {node} failed: {text}");
        text
    }

    pub fn log(&self, node: usize) -> String {
        std::fs::read_to_string(&self.nodes[node].log).unwrap_or_default()
    }

    /// Client settings pointing at node `node`'s S3 API.
    pub fn config(&self, node: usize) -> S3Config {
        S3Config {
            endpoint: format!("http://127.0.0.1:{}", self.nodes[node].s3_port),
            bucket: BUCKET.into(),
            region: REGION.into(),
            path_style: true,
            credentials: self.key.clone(),
            part_size: 5 << 20,
            upload_concurrency: 4,
            retry_timeout: Duration::from_secs(10),
        }
    }

    /// A store talking to node `node`, once the bucket answers there.
    pub async fn blobs(&self, node: usize) -> S3Blobs {
        let blobs = S3Blobs::connect(&self.config(node)).expect("connect");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match blobs.check().await {
                Ok(()) => return blobs,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("bucket never answered: {e}\n{}", self.log(node)),
            }
        }
    }

    /// Kill node `node` (SIGKILL) and wait for it.
    pub fn stop(&mut self, node: usize) {
        if let Some(mut c) = self.nodes[node].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// (Re)start node `node` on its data and ports, and wait until its CLI answers.
    pub fn restart(&mut self, node: usize) {
        self.stop(node);
        let n = &self.nodes[node];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .expect("log");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&n.config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start garage server");
        self.nodes[node].child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.try_cli(node, &["status"]).0 {
            assert!(
                Instant::now() < deadline,
                "garage node {node} did not come up: {}",
                self.log(node)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Wait until node `node` sees every other node up (`garage status` lists no failed node).
    /// While one is missing, `node` is told to connect to it (`garage node connect`) rather
    /// than left to its own reconnection backoff, which takes tens of seconds.
    pub fn wait_all_up(&self, node: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (ok, text) = self.try_cli(node, &["status"]);
            if ok && !text.contains("FAILED") && !text.contains("Failed") {
                return;
            }
            for (i, id) in self.ids.iter().enumerate() {
                if i != node {
                    let _ = self.try_cli(node, &["node", "connect", id]);
                }
            }
            assert!(
                Instant::now() < deadline,
                "cluster never whole again: {text}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for GarageCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i);
        }
        let _ = &self.dir;
    }
}
