//! Test harness that runs real `casemesh` node processes on loopback ports.
//!
//! Each [`TestNode`] owns a temporary data directory, runs `casemesh init` on it, then keeps a
//! `casemesh run` process alive until the node is dropped. Tests drive the node the way an
//! operator would: through the CLI ([`TestNode::cli`], [`TestNode::cli_json`],
//! [`TestNode::cli_fail`]) and through raw HTTP against the admin API ([`TestNode::http`],
//! [`TestNode::url`]). Nodes can be killed (`SIGKILL`), stopped (`SIGTERM`) and restarted on the
//! same data directory.
//!
//! ```no_run
//! use casemesh_tests::TestNode;
//! let node = TestNode::start("prosecutor");
//! let case = node.cli_json(&["case", "create", "--case-id", "C-1", "--title", "Burglary"]);
//! assert!(case["id"].is_string());
//! // Several nodes, with extra flags for `init`:
//! let police = TestNode::builder("police")
//!     .init_args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0"])
//!     .start();
//! # drop(police);
//! ```
//!
//! The binary is found through `CASEMESH_BIN`, else next to the test executable's directory
//! (`target/<profile>/casemesh`); build it first with `cargo build -p casemesh`.
//!
//! Besides the node itself:
//! - [`NodeCli`] ([`TestNode::cli_handle`]) runs CLI commands from another thread while the
//!   `TestNode` is killed and restarted elsewhere (the crash harness);
//! - [`SplitMix64`] makes seeded, replayable test data and scenarios ([`random_file`],
//!   [`random_file_in`]); [`add_random_evidence`] writes such a file and adds it to a case
//!   ([`add_evidence_file`] adds one that exists; [`in_folder`] gives the `--folder` flags);
//!   [`files_under`] lists a directory tree;
//! - nodes with the sharing engine's debug log ([`logged_node`], [`SHARING_LOG`],
//!   [`SHARING_NET_LOG`]); a data directory made by hand ([`init_data_dir`]) whose start must
//!   fail ([`run_refused`]); long CLI commands ([`TestNode::cli_ok_within`]) and node-less
//!   ones ([`casemesh_ok`]);
//! - cases and partner shares as several test files drive them ([`create_case`],
//!   [`share_case`], [`wait_share_complete`], [`wait_copy`], [`peer_view`], …);
//! - typed answers: [`TestNode::cli_typed`] / [`json_as`] read the CLI's `--json` output as
//!   the API's own types (`casemesh_api_types`: [`CaseView`], [`ShareView`], …), so a test
//!   asserts on fields the compiler checks; [`case_view`], [`share_view`], [`received_view`]
//!   and [`error_code`] are the common reads; [`received_list`], [`evidence_list`],
//!   [`partner_list`], [`user_list`], [`settings_view`], [`blob_stats`], [`sorted_folders`] and
//!   [`add_user`] / [`add_user_with`] (a user and its token) more; the updates review ([`received_updates`], [`wait_updates`],
//!   [`review_updates`]) and an access share's metadata ([`try_received_meta`]);
//! - download links ([`create_link`], [`download_link`], [`link_package`], as
//!   [`LinkView`]), their offline check ([`verify_package`], [`verify_report`] as
//!   [`PackageVerifyReport`], [`assert_package_verifies`]), their extraction ([`extract_package`],
//!   [`unzip_to`], [`xorriso_extract`]) and external tools ([`run_ok`], [`output_text`]);
//! - downloads and damage: [`downloaded_hash`] / [`try_downloaded_hash`], [`distinct_hashes`],
//!   [`damage_byte`]; an HTTP answer's header as text ([`response_header`]);
//! - integrity checks: [`blobs_verify`] / [`assert_blobs_sound`] (`blobs verify --json`) and
//!   [`assert_audit_verifies`] (`audit verify CASE`);
//! - a real single-node Garage for nodes with `[storage] backend = "s3"` ([`garage`]).
//!
//! While a test panics, dropping its nodes prints the tail of each node's log (the daemon's
//! stdout and stderr, kept in `DATA_DIR/casemesh-run.log`). Set `CASEMESH_KEEP_TEST_DIRS=1` to
//! keep the data directories for a post-mortem.

pub mod browser;
pub mod garage;
pub mod hostile;

/// The admin API's types (`casemesh_api_types`), for tests to read answers with
/// ([`TestNode::cli_typed`], [`json_as`]).
pub use casemesh_api_types::*;
use casemesh_model::ids::BlobHash;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Send `signal` (a name without `SIG`: `TERM`, `STOP`, `CONT`) to process `pid` with kill(1);
/// true when it was delivered.
pub fn signal(pid: impl std::fmt::Display, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

/// Environment variables of the CLI that must not leak from the developer's shell into tests.
const CLI_ENV: [&str; 4] = [
    "CASEMESH_DATA_DIR",
    "CASEMESH_NODE",
    "CASEMESH_TOKEN",
    "CASEMESH_REQUEST_TIMEOUT",
];

/// `RUST_LOG` for nodes whose sharing steps (offers, fetches, imports, receipts) a failing
/// test's log should show.
pub const SHARING_LOG: &str = "info,casemesh_sharing=debug";

/// [`SHARING_LOG`] plus connection gating and blob transfers (`casemesh_net`).
pub const SHARING_NET_LOG: &str = "info,casemesh_sharing=debug,casemesh_net=debug";

/// A node started with `RUST_LOG=log` (e.g. [`SHARING_LOG`]) and otherwise the defaults of
/// [`TestNode::start`].
pub fn logged_node(name: &str, log: &str) -> TestNode {
    TestNode::builder(name).env("RUST_LOG", log).start()
}

/// How long a node gets to come up, and a CLI command to finish (override with
/// `CASEMESH_TEST_TIMEOUT_SECS`; unoptimized builds moving hundreds of MiB need a while).
pub fn timeout() -> Duration {
    let secs = std::env::var("CASEMESH_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// Path of the `casemesh` binary under test: `CASEMESH_BIN`, else `target/<profile>/casemesh`
/// (the test executable lives in `target/<profile>/deps/`).
pub fn casemesh_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CASEMESH_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "CASEMESH_BIN={} does not exist",
            bin.display()
        );
        return bin;
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is in target/<profile>/deps/");
    let bin = profile_dir.join(format!("casemesh{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the casemesh binary is missing at {}: build it with `cargo build -p casemesh` \
         (same profile as the tests) or point CASEMESH_BIN at it",
        bin.display()
    );
    bin
}

/// A `Command` for the `casemesh` binary with the CLI's environment variables cleared.
pub fn casemesh() -> Command {
    let mut cmd = Command::new(casemesh_bin());
    for var in CLI_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// Run `cmd` to completion, capturing stdout and stderr; panic if it takes longer than `limit`
/// (the process is killed first).
pub fn output_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    child_output_with_timeout(child, limit, &format!("{cmd:?}"))
}

/// Wait for `child` and collect what is left of its stdout and stderr (each piped, or already
/// taken: then empty), killing it after `limit`. Panics, naming `what` and showing its stderr,
/// when it is still running then.
pub fn child_output_with_timeout(mut child: Child, limit: Duration, what: &str) -> Output {
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child process") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "{what} still running after {limit:?}; killed it. stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Run `cmd`, read one byte of its stdout and close the pipe, as `cmd | head -c 1` does; then
/// wait for it as [`child_output_with_timeout`] (its `stdout` in the result is empty). Panics
/// when the command prints nothing or runs past [`timeout`].
pub fn output_after_reading_one_byte(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut one = [0u8; 1];
    stdout
        .read_exact(&mut one)
        .unwrap_or_else(|e| panic!("{cmd:?} printed nothing: {e}"));
    drop(stdout);
    child_output_with_timeout(child, timeout(), &format!("{cmd:?}"))
}

fn read_in_background<R: Read + Send + 'static>(
    pipe: Option<R>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// Configures a [`TestNode`] before it starts: extra flags for `casemesh init` and
/// `casemesh run`, and extra environment for the daemon.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    name: String,
    init_args: Vec<OsString>,
    run_args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    config_append: Vec<String>,
    /// `(table, key, TOML value)` set in `config.toml` after `init` (tables `init` writes).
    config_keys: Vec<(String, String, String)>,
    /// Where the node's temporary directory goes (default: the system's temp dir).
    parent: Option<PathBuf>,
}

impl NodeBuilder {
    /// Append TOML text (e.g. an `[smtp]` table) to `DATA_DIR/config.toml` after `init`, before
    /// the daemon first starts.
    pub fn config_append(mut self, text: impl Into<String>) -> Self {
        self.config_append.push(text.into());
        self
    }

    /// Set `key = value` (`value` as TOML) in table `[table]` of `config.toml` after `init`,
    /// before the daemon first starts (for tables `init` writes, where appending would repeat
    /// the table header).
    pub fn config_key(mut self, table: &str, key: &str, value: &str) -> Self {
        self.config_keys
            .push((table.to_owned(), key.to_owned(), value.to_owned()));
        self
    }

    /// Serve partners at most `rate` per second (`[p2p] max_send_rate`, e.g. `"32 MiB"`): a test
    /// whose premise is "a transfer is still under way" gets it on any machine, however fast
    /// (at 32 MiB/s, 256 MiB take 8 s).
    pub fn max_send_rate(self, rate: &str) -> Self {
        self.config_key("p2p", "max_send_rate", &format!("\"{rate}\""))
    }

    /// Add flags to `casemesh init` (after `--data-dir D --org NAME --admin-addr 127.0.0.1:0`),
    /// e.g. `["--p2p-listen", "/ip4/127.0.0.1/tcp/0"]`.
    pub fn init_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.init_args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Add flags to `casemesh run` (after `--data-dir D`); they are kept for restarts.
    pub fn run_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Set an environment variable for the daemon (e.g. `RUST_LOG`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Listen for partners on a loopback port chosen now and kept across restarts, so partners
    /// reach the node again after [`TestNode::kill`] / [`TestNode::stop`] and a restart (with the
    /// default port 0 every start binds a new port that partners do not know).
    pub fn fixed_p2p_port(self) -> Self {
        let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
        self.init_args(["--p2p-listen", listen.as_str()])
    }

    /// Put the node's temporary directory (and so its data directory) under `dir`, e.g. on a
    /// small file system of its own.
    pub fn temp_parent(mut self, dir: &Path) -> Self {
        self.parent = Some(dir.to_owned());
        self
    }

    /// Initialize the data directory, start `casemesh run` and wait until the admin API answers.
    pub fn start(self) -> TestNode {
        let prefix = format!("casemesh-{}-", self.name);
        let mut tmp = tempfile::Builder::new();
        tmp.prefix(&prefix);
        let tmp = match &self.parent {
            Some(parent) => tmp.tempdir_in(parent),
            None => tmp.tempdir(),
        }
        .expect("creating a temporary directory");
        let data_dir = tmp.path().join("data");
        let mut init = casemesh();
        init.arg("init")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--org")
            .arg(&self.name)
            .arg("--admin-addr")
            .arg("127.0.0.1:0")
            .args(&self.init_args);
        // Nodes run side by side: the public link server takes any free port too.
        if !self.init_args.iter().any(|a| a == "--link-addr") {
            init.arg("--link-addr").arg("127.0.0.1:0");
        }
        // …and so does the peer-to-peer listener (loopback only, any free port).
        if !self.init_args.iter().any(|a| a == "--p2p-listen") {
            init.arg("--p2p-listen").arg("/ip4/127.0.0.1/tcp/0");
        }
        let out = output_with_timeout(init, timeout());
        assert!(
            out.status.success(),
            "casemesh init for {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let org_id = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_owned();
        for text in &self.config_append {
            append_config(&data_dir, text);
        }
        for (table, key, value) in &self.config_keys {
            set_config_key(&data_dir, table, key, value);
        }
        let token = fs::read_to_string(data_dir.join("admin.token"))
            .unwrap_or_else(|e| panic!("init wrote no admin.token in {}: {e}", data_dir.display()))
            .trim()
            .to_owned();
        let mut node = TestNode {
            name: self.name,
            tmp: Some(tmp),
            data_dir,
            child: None,
            org_id,
            token,
            admin_addr: String::new(),
            run_args: self.run_args,
            env: self.env,
        };
        node.spawn();
        node
    }
}

/// One running `casemesh` node (a `casemesh run` process on a temporary data directory).
/// Dropping it kills the process and removes the directory.
#[derive(Debug)]
pub struct TestNode {
    name: String,
    /// Owns the directory's lifetime; `None` once kept for a post-mortem.
    tmp: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    child: Option<Child>,
    org_id: String,
    token: String,
    /// `host:port` of the admin API, from `admin.addr` (changes on restart: port 0).
    admin_addr: String,
    run_args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl TestNode {
    /// Start a node for organization `name` with default flags.
    pub fn start(name: &str) -> TestNode {
        TestNode::builder(name).start()
    }

    /// Start several nodes with default flags, one per name.
    pub fn start_many(names: &[&str]) -> Vec<TestNode> {
        names.iter().map(|n| TestNode::start(n)).collect()
    }

    /// A builder for a node that needs extra `init`/`run` flags.
    pub fn builder(name: &str) -> NodeBuilder {
        NodeBuilder {
            name: name.to_owned(),
            init_args: Vec::new(),
            run_args: Vec::new(),
            env: Vec::new(),
            config_append: Vec::new(),
            config_keys: Vec::new(),
            parent: None,
        }
    }

    /// The organization name given to `init`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The org id `init` printed (its last word of output).
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// The data directory (`--data-dir`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The admin's bearer token (`DATA_DIR/admin.token`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `host:port` of the admin API.
    pub fn admin_addr(&self) -> &str {
        &self.admin_addr
    }

    /// `host:port` of the public download-link server (`DATA_DIR/link.addr`, written before
    /// `admin.addr`, so it is there once the node is up).
    pub fn link_addr(&self) -> String {
        fs::read_to_string(self.data_dir.join("link.addr"))
            .unwrap_or_else(|e| panic!("node {} has no link.addr: {e}", self.name))
            .trim()
            .to_owned()
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Where the daemon's stdout and stderr go.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("casemesh-run.log")
    }

    /// Everything the daemon has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `http://host:port` + `path` (e.g. `/v1/cases`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// A blocking HTTP client that sends the admin token.
    pub fn http(&self) -> reqwest::blocking::Client {
        http_client(Some(&self.token))
    }

    /// A blocking HTTP client that sends `token` (any string, valid or not).
    pub fn http_with_token(&self, token: &str) -> reqwest::blocking::Client {
        http_client(Some(token))
    }

    /// A blocking HTTP client that sends no token.
    pub fn http_anon(&self) -> reqwest::blocking::Client {
        http_client(None)
    }

    /// `casemesh --data-dir D ARGS…`, whatever its outcome.
    pub fn cli<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        cli_in(&self.data_dir, args)
    }

    /// A handle that runs CLI commands against this node from another thread, while this
    /// `TestNode` (its process) is killed and restarted elsewhere: the CLI finds the node through
    /// the data directory on every call.
    pub fn cli_handle(&self) -> NodeCli {
        NodeCli {
            name: self.name.clone(),
            data_dir: self.data_dir.clone(),
        }
    }

    /// `casemesh --data-dir D --token TOKEN ARGS…` (acting as another user), whatever its outcome.
    pub fn cli_as<I, S>(&self, token: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = casemesh();
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--token")
            .arg(token)
            .args(args);
        output_with_timeout(cmd, timeout())
    }

    /// `casemesh --data-dir D ARGS…`, asserting success; returns stdout.
    pub fn cli_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = collect(args);
        let out = self.cli(&args);
        self.assert_success(&args, &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// [`TestNode::cli_ok`] allowed `limit` instead of [`timeout`]: for commands that take
    /// long by design (a bulk ingest of thousands of files, a GiB-sized item); panics when the
    /// command fails or is still running after `limit`.
    pub fn cli_ok_within<I, S>(&self, limit: Duration, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = collect(args);
        let mut cmd = casemesh();
        cmd.arg("--data-dir").arg(&self.data_dir).args(&args);
        let out = output_with_timeout(cmd, limit);
        self.assert_success(&args, &out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `casemesh --data-dir D --json ARGS…`, asserting success; returns stdout parsed as JSON.
    pub fn cli_json<I, S>(&self, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all = vec![OsString::from("--json")];
        all.extend(collect(args));
        let out = self.cli(&all);
        self.assert_success(&all, &out);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "`casemesh {}` printed no JSON ({e}):\n{}",
                show_args(&all),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `casemesh --data-dir D --token TOKEN --json ARGS…` (acting as another user), asserting
    /// success; returns stdout parsed as JSON.
    pub fn cli_json_as<I, S>(&self, token: &str, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all = vec![OsString::from("--json")];
        all.extend(collect(args));
        let out = self.cli_as(token, &all);
        self.assert_success(&all, &out);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "`casemesh {}` printed no JSON ({e}):\n{}",
                show_args(&all),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `casemesh --data-dir D --json ARGS…`, asserting success; returns stdout read as the API
    /// type `T` (e.g. `node.cli_typed::<CaseView>(["case", "show", id])`). Panics naming the
    /// command and `T` when the output does not have that shape.
    pub fn cli_typed<T, I, S>(&self, args: I) -> T
    where
        T: DeserializeOwned,
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        json_as(&self.cli_json(args))
    }

    /// [`TestNode::cli_typed`] acting as another user (`--token TOKEN`).
    pub fn cli_typed_as<T, I, S>(&self, token: &str, args: I) -> T
    where
        T: DeserializeOwned,
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        json_as(&self.cli_json_as(token, args))
    }

    /// `casemesh --data-dir D ARGS…`, asserting failure; returns (stderr, exit code).
    pub fn cli_fail<I, S>(&self, args: I) -> (String, i32)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = collect(args);
        let out = self.cli(&args);
        assert_failure(&args, &out)
    }

    /// `casemesh --data-dir D --token TOKEN ARGS…`, asserting failure; returns (stderr, code).
    pub fn cli_fail_as<I, S>(&self, token: &str, args: I) -> (String, i32)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = collect(args);
        let out = self.cli_as(token, &args);
        assert_failure(&args, &out)
    }

    fn assert_success(&self, args: &[OsString], out: &Output) {
        assert!(
            out.status.success(),
            "`casemesh {}` failed ({}) on node {}:\nstdout:\n{}\nstderr:\n{}",
            show_args(args),
            out.status,
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A `casemesh run --data-dir D …` command for this data directory (not started), e.g. to
    /// check that a second daemon is refused.
    pub fn run_command(&self) -> Command {
        let mut cmd = casemesh();
        cmd.arg("run")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.run_args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Kill the daemon with `SIGKILL` (a crash: no clean shutdown) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop the daemon with `SIGTERM` and wait for it to exit; returns its exit status.
    /// Panics if it does not exit within [`timeout`].
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        assert!(
            signal(child.id(), "TERM"),
            "kill -TERM {} failed",
            child.id()
        );
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the daemon") {
                return Some(status);
            }
            if start.elapsed() > timeout() {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node {} did not stop within {:?} of SIGTERM; log:\n{}",
                    self.name,
                    timeout(),
                    self.log_tail(100)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Set an environment variable for the daemon from its next start on (e.g.
    /// `CASEMESH_CLOCK_OFFSET_MS` to play time forward or back across a restart).
    pub fn set_env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.as_ref().to_owned()));
    }

    /// Stop the daemon (cleanly) if it runs, then start it again on the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Start `casemesh run` again after [`TestNode::kill`] or [`TestNode::stop`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "node {} is still running", self.name);
        self.spawn();
    }

    /// Spawn the daemon and wait until `admin.addr` exists and `/healthz` answers.
    fn spawn(&mut self) {
        // A killed daemon leaves its admin.addr behind; remove it so that we wait for the new
        // process's address (another test's node may have taken the old port meanwhile).
        let addr_file = self.data_dir.join("admin.addr");
        let _ = fs::remove_file(&addr_file);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("opening the node's log file");
        let mut log_err = log.try_clone().expect("cloning the log file handle");
        let _ = writeln!(log_err, "=== casemesh run ({}) ===", self.name);
        let mut cmd = self.run_command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        if !self.env.iter().any(|(k, _)| k == "RUST_LOG") && std::env::var_os("RUST_LOG").is_none()
        {
            cmd.env("RUST_LOG", "info");
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        self.child = Some(child);

        let start = Instant::now();
        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("building an HTTP client");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().expect("polling the daemon")
            {
                self.child = None;
                panic!(
                    "casemesh run for {} exited with {status} during start-up; log:\n{}",
                    self.name,
                    self.log_tail(100)
                );
            }
            if let Ok(addr) = fs::read_to_string(&addr_file) {
                let addr = addr.trim();
                if !addr.is_empty()
                    && probe
                        .get(format!("http://{addr}/healthz"))
                        .send()
                        .is_ok_and(|r| r.status().is_success())
                {
                    self.admin_addr = addr.to_owned();
                    return;
                }
            }
            if start.elapsed() > timeout() {
                self.kill();
                panic!(
                    "node {} not ready within {:?} (admin.addr + /healthz); log:\n{}",
                    self.name,
                    timeout(),
                    self.log_tail(100)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `lines` lines of the daemon's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The blob files on disk (`DATA_DIR/blobs/xx/<64 hex>`), sorted.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let root = self.data_dir.join("blobs");
        let Ok(prefixes) = fs::read_dir(&root) else {
            return found;
        };
        for prefix in prefixes.flatten() {
            let Ok(files) = fs::read_dir(prefix.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                let name = name.to_string_lossy();
                if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    found.push(file.path());
                }
            }
        }
        found.sort();
        found
    }

    /// Where the blob `hash` is stored (`blobs/<first two hex digits>/<hex>`).
    pub fn blob_path(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.data_dir.join("blobs").join(&hex[..2]).join(hex)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "----- node {} ({}) log tail -----\n{}\n----- end of {} log -----",
                self.name,
                self.data_dir.display(),
                self.log_tail(200),
                self.name
            );
        }
        if std::env::var_os("CASEMESH_KEEP_TEST_DIRS").is_some()
            && let Some(tmp) = self.tmp.take()
        {
            eprintln!("kept data dir of {}: {}", self.name, tmp.keep().display());
        }
    }
}

/// Runs `casemesh --data-dir D …` for one node; see [`TestNode::cli_handle`]. Cheap to clone and
/// `Send`, so a scenario thread can drive a node that another thread kills and restarts.
#[derive(Debug, Clone)]
pub struct NodeCli {
    name: String,
    data_dir: PathBuf,
}

impl NodeCli {
    /// The node's organization name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `casemesh --data-dir D ARGS…`, whatever its outcome.
    pub fn cli<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        cli_in(&self.data_dir, args)
    }

    /// `casemesh --data-dir D --json ARGS…`: the JSON it printed on success, else a one-line
    /// account of the failure (exit status and stderr), for a caller that retries.
    pub fn try_json<I, S>(&self, args: I) -> Result<Value, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all = vec![OsString::from("--json")];
        all.extend(collect(args));
        let out = self.cli(&all);
        if !out.status.success() {
            return Err(format!(
                "`casemesh {}` on {}: {}: {}",
                show_args(&all),
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "`casemesh {}` on {} printed no JSON ({e}): {}",
                show_args(&all),
                self.name,
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

fn cli_in<I, S>(data_dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = casemesh();
    cmd.arg("--data-dir").arg(data_dir).args(args);
    output_with_timeout(cmd, timeout())
}

fn http_client(token: Option<&str>) -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .expect("token is a valid header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::blocking::Client::builder()
        .default_headers(headers)
        .timeout(timeout())
        .build()
        .expect("building an HTTP client")
}

fn collect<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter().map(|a| a.as_ref().to_owned()).collect()
}

fn show_args(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_failure(args: &[OsString], out: &Output) -> (String, i32) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "`casemesh {}` should have failed but succeeded:\nstdout:\n{}\nstderr:\n{stderr}",
        show_args(args),
        String::from_utf8_lossy(&out.stdout),
    );
    (stderr, out.status.code().unwrap_or(-1))
}

/// An unsigned number from the environment variable `name`, if set (panics on a non-number: a
/// typo must not silently change a test's scenario).
pub fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

/// The seed of a crash test: `CRASH_SEED`, else a fresh one. Print it, so a failing run can be
/// replayed with `CRASH_SEED=…`.
pub fn crash_seed() -> u64 {
    env_number("CRASH_SEED").unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        SplitMix64::new(nanos ^ u64::from(std::process::id())).next_u64()
    })
}

/// A small deterministic pseudo-random generator (splitmix64): test data and seeded scenarios
/// (the crash harness) replay exactly from a printed seed.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose output is fixed by `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// Write `size` bytes of pseudo-random data (splitmix64 from `seed`) to `path`. Different seeds
/// give different contents, hence different blobs.
pub fn random_file(path: &Path, size: u64, seed: u64) {
    let mut file = std::io::BufWriter::with_capacity(
        1 << 20,
        fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display())),
    );
    let mut rng = SplitMix64::new(seed);
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            word.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n]).expect("writing test data");
        left -= n as u64;
    }
    file.flush().expect("flushing test data");
}

/// `evidence add CASE PATH EXTRA…` on `node` for the file that is already at `path` (`extra`
/// holds flags such as `--folder F`, `--name N`, `--display-id D`); returns the new item.
/// Panics, showing the command's output, when the CLI fails or prints no [`EvidenceView`].
pub fn add_evidence_file(node: &TestNode, case: &str, path: &Path, extra: &[&str]) -> EvidenceView {
    let mut args = vec!["evidence", "add", case, s(path)];
    args.extend_from_slice(extra);
    node.cli_typed(&args)
}

/// Write `size` bytes of seeded pseudo-random data to `path` ([`random_file`]: the same `seed`
/// gives the same bytes) and add that file to `case` on `node` with
/// [`add_evidence_file`]`(node, case, path, extra)`; returns the new item. Panics when the file
/// cannot be written or the CLI fails.
pub fn add_random_evidence(
    node: &TestNode,
    case: &str,
    path: &Path,
    size: u64,
    seed: u64,
    extra: &[&str],
) -> EvidenceView {
    random_file(path, size, seed);
    add_evidence_file(node, case, path, extra)
}

/// The `evidence add` flags that put an item in case folder `folder`: `["--folder", folder]`,
/// or none for `""` (the case's root).
pub fn in_folder(folder: &str) -> Vec<&str> {
    if folder.is_empty() {
        Vec::new()
    } else {
        vec!["--folder", folder]
    }
}

/// Write `size` bytes of seeded pseudo-random data ([`random_file`]) to `dir/name`; returns that
/// path.
pub fn random_file_in(dir: &Path, name: &str, size: u64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    random_file(&path, size, seed);
    path
}

/// Every file below `dir` (not the directories themselves; symbolic links are followed), at any
/// depth, sorted by path. An unreadable or missing directory counts as empty.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, &mut found);
    found.sort();
    found
}

/// Damage the file at `path` in place: XOR the byte at `offset` with `mask` (non-zero), after
/// making the file writable (stored blobs are read-only), and sync it to disk. Panics when the
/// file cannot be opened or is shorter than `offset + 1` bytes.
pub fn damage_byte(path: &Path, offset: u64, mask: u8) {
    use std::io::{Seek, SeekFrom};
    assert_ne!(mask, 0, "a zero mask changes nothing");
    let mut perms = fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).expect("seeking");
    f.read_exact(&mut byte)
        .unwrap_or_else(|e| panic!("{} has no byte at {offset}: {e}", path.display()));
    f.seek(SeekFrom::Start(offset)).expect("seeking");
    f.write_all(&[byte[0] ^ mask])
        .expect("writing the damaged byte");
    f.sync_all().expect("syncing the damaged file");
}

/// The BLAKE3 of the file at `path`, as the API names blobs.
pub fn hash_file(path: &Path) -> BlobHash {
    let mut hasher = blake3::Hasher::new();
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    hasher
        .update_reader(file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    hasher.finalize().into()
}

/// A path as `&str` for CLI arguments (test paths are always UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Append TOML text to `data_dir/config.toml` (takes effect at the daemon's next start).
pub fn append_config(data_dir: &Path, text: &str) {
    let path = data_dir.join("config.toml");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    writeln!(file, "\n{text}").unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for a node that must keep its address
/// across restarts: `--p2p-listen /ip4/127.0.0.1/tcp/PORT`, or a server a test starts).
///
/// Chosen below the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`, 32768
/// and up by default), never from it: a port the kernel hands out for `bind(0)` or an outgoing
/// connection could be taken by another node while this one is stopped, and its restart would
/// then fail with "port in use" (seen when many tests run at once).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let ephemeral_low: u64 = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let low = (ephemeral_low / 2).max(1024);
    let span = ephemeral_low.saturating_sub(low).max(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let mut rng = SplitMix64::new(u64::from(std::process::id()) << 32 ^ nanos);
    for _ in 0..1_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low + (rng.next_u64() ^ n) % span;
        let port = u16::try_from(port).expect("a port below the ephemeral range fits in u16");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range ({low}..{ephemeral_low})");
}

/// Poll `probe` every 100 ms until it returns `Some`, or panic after `limit` saying `what`.
pub fn wait_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// This node's PeerId and first listen address, from `casemesh id --json`.
pub fn node_identity(node: &TestNode) -> (String, String) {
    let id: IdView = node.cli_typed(["id"]);
    let addr = id
        .addrs
        .first()
        .unwrap_or_else(|| panic!("node {} has no listen address: {id:?}", node.name()))
        .clone();
    (id.peer_id.to_string(), addr)
}

/// `node`'s case `number` ("State v. Example", described "Burglary at 5 Main St") with one
/// evidence item `clip.mp4` (4,000 seeded random bytes written in `dir`); returns (case id,
/// evidence id). The updates-review scenarios (issue #14) start from it.
pub fn case_with_item(node: &TestNode, dir: &Path, number: &str) -> (String, String) {
    let case: CaseView = node.cli_typed([
        "case",
        "create",
        "--case-id",
        number,
        "--title",
        "State v. Example",
        "--description",
        "Burglary at 5 Main St",
    ]);
    let path = dir.join("clip.mp4");
    random_file(&path, 4_000, 7);
    let case_id = case.id.to_string();
    let ev: EvidenceView = node.cli_typed(["evidence", "add", &case_id, s(&path)]);
    (case_id, ev.id.to_string())
}

/// `received updates SHARE` on `node`, typed: the updates waiting for review.
pub fn received_updates(node: &TestNode, share: &str) -> Vec<UpdateView> {
    node.cli_typed(["received", "updates", share])
}

/// Wait (up to `limit`) until `node` lists exactly `n` updates for `share`; returns them.
pub fn wait_updates(node: &TestNode, share: &str, n: usize, limit: Duration) -> Vec<UpdateView> {
    wait_until(&format!("{n} updates on {}", node.name()), limit, || {
        let list = received_updates(node, share);
        (list.len() == n).then_some(list)
    })
}

/// `received apply SHARE ARGS…` (or `dismiss`, as `action`) on `node`, typed: the updates it
/// applied (dismissed).
pub fn review_updates(
    node: &TestNode,
    action: &str,
    share: &str,
    args: &[&str],
) -> Vec<UpdateView> {
    let mut all = vec!["received", action, share];
    all.extend_from_slice(args);
    node.cli_typed(&all)
}

/// `received meta SHARE` on `node`, typed: the metadata of an access-mode share as it holds it;
/// `None` while the command fails (the node is stopped or restarting, or has not the share yet).
pub fn try_received_meta(node: &TestNode, share: &str) -> Option<MetaView> {
    let meta = node
        .cli_handle()
        .try_json(["received", "meta", share])
        .ok()?;
    Some(json_as(&meta))
}

/// Create (or replace) `node`'s sharing policy `policy` allowing exactly `allow` (the CLI's
/// `--allow` names, e.g. `view`, `import`, `share_onward`), then give it to `node`'s partner
/// `partner` (`policy set`, then `partner update --policy`).
pub fn give_partner_policy(node: &TestNode, partner: &str, policy: &str, allow: &[&str]) {
    let mut args = vec!["policy", "set", policy];
    for a in allow {
        args.extend(["--allow", a]);
    }
    node.cli_ok(&args);
    node.cli_ok(["partner", "update", partner, "--policy", policy]);
}

/// Give `node`'s partner `partner` the sharing policy "EvidenceOnly": it may view, download,
/// import and receive updates, and apply evidence updates but not case updates (issue #14's
/// per-tab refusal), creating the policy.
pub fn allow_evidence_updates_only(node: &TestNode, partner: &str) {
    give_partner_policy(
        node,
        partner,
        "EvidenceOnly",
        &[
            "view",
            "download",
            "import",
            "receive_updates",
            "apply_evidence_updates",
        ],
    );
}

/// Give `node`'s partner `partner` the sharing policy "CoEdit" (view, download and edit
/// metadata: issue #14's co-editing of an access share), creating the policy.
pub fn allow_co_edit(node: &TestNode, partner: &str) {
    give_partner_policy(
        node,
        partner,
        "CoEdit",
        &["view", "download", "edit_metadata"],
    );
}

/// Register `other` as a partner of `node`, under `other`'s organization name.
pub fn add_partner(node: &TestNode, other: &TestNode) {
    let (peer, addr) = node_identity(other);
    node.cli_ok([
        "partner",
        "add",
        "--name",
        other.name(),
        "--peer-id",
        &peer,
        "--addr",
        &addr,
    ]);
}

/// Register `a` and `b` as partners of each other (each under the other's organization name).
pub fn partner(a: &TestNode, b: &TestNode) {
    add_partner(a, b);
    add_partner(b, a);
}

// ---------------------------------------------------------------------------------------------
// Cases and partner shares, driven the way several test files need them.

/// `value` (the CLI's `--json` output, or an API answer) read as the API type `T`; panics
/// naming `T` and showing the JSON when it does not have that shape.
pub fn json_as<T: DeserializeOwned>(value: &Value) -> T {
    T::deserialize(value)
        .unwrap_or_else(|e| panic!("not a {} ({e}):\n{value:#}", std::any::type_name::<T>()))
}

/// `case show CASE` on `node`, typed.
pub fn case_view(node: &TestNode, case: &str) -> CaseView {
    node.cli_typed(["case", "show", case])
}

/// `audit show CASE` on `node`, typed: the entries oldest first and the chain's head.
pub fn audit_trail(node: &TestNode, case: &str) -> AuditTrail {
    node.cli_typed(["audit", "show", case])
}

/// The custody timeline of `case` on `node` (`custody CASE`): its events, oldest first.
pub fn custody_events(node: &TestNode, case: &str) -> Vec<casemesh_model::timeline::CustodyEvent> {
    node.cli_typed::<CustodyTimeline, _, _>(["custody", case])
        .events
}

/// The organization whose signed statement proves custody event `e`; `None` for an event
/// proven by this node's audit trail.
pub fn signed_by(e: &casemesh_model::timeline::CustodyEvent) -> Option<&str> {
    match &e.proof {
        casemesh_model::timeline::Proof::Signed { signed_by, .. } => Some(signed_by),
        casemesh_model::timeline::Proof::Audit { .. } => None,
    }
}

/// How many shares partners shared with `node` that it lists (`received list`).
pub fn received_count(node: &TestNode) -> usize {
    received_list(node).len()
}

/// `share status SHARE` on `node` (the sharer), typed.
pub fn share_view(node: &TestNode, share: &str) -> ShareView {
    node.cli_typed(["share", "status", share])
}

/// `received show SHARE` on `node` (the receiver), typed.
pub fn received_view(node: &TestNode, share: &str) -> ReceivedView {
    node.cli_typed(["received", "show", share])
}

/// [`received_view`], or `None` while `node` has not heard of `share` yet (the answer is
/// `not_found`): for waits that start right after the sharer created the share, when its offer
/// may still be on its way. Any other failure panics.
pub fn try_received_view(node: &TestNode, share: &str) -> Option<ReceivedView> {
    match node.cli_handle().try_json(["received", "show", share]) {
        Ok(v) => Some(json_as(&v)),
        Err(e) if e.contains("\"not_found\"") => None,
        Err(e) => panic!("{e}"),
    }
}

/// `received list` on `node`, typed: every share partners shared with it.
pub fn received_list(node: &TestNode) -> Vec<ReceivedView> {
    node.cli_typed(["received", "list"])
}

/// `evidence list CASE` on `node`, typed.
pub fn evidence_list(node: &TestNode, case: &str) -> Vec<EvidenceView> {
    node.cli_typed(["evidence", "list", case])
}

/// The folder paths of `case` (as `case show` lists them), sorted.
pub fn sorted_folders(case: &CaseView) -> Vec<String> {
    let mut folders = case.folders.clone();
    folders.sort();
    folders
}

/// How many evidence items `evidence list CASE` shows on `node`.
pub fn evidence_count(node: &TestNode, case: &str) -> usize {
    evidence_list(node, case).len()
}

/// `user add USERNAME --full-name FULL_NAME --permission P…` on `node` (one `--permission` per
/// entry of `permissions`; an entry may itself be a comma-separated list); returns the new
/// user's API token. Panics as [`add_user_with`] does.
pub fn add_user(node: &TestNode, username: &str, full_name: &str, permissions: &[&str]) -> String {
    let mut extra = Vec::new();
    for p in permissions {
        extra.extend(["--permission", p]);
    }
    add_user_with(node, username, full_name, &extra)
}

/// `user add USERNAME --full-name FULL_NAME EXTRA…` on `node` (`extra`: any of the command's
/// flags, e.g. `--email`, `--group`, `--permission`); returns the new user's API token. Panics
/// when the command fails or its answer names another username.
pub fn add_user_with(node: &TestNode, username: &str, full_name: &str, extra: &[&str]) -> String {
    let mut args = vec!["user", "add", username, "--full-name", full_name];
    args.extend_from_slice(extra);
    let created: CreatedUser = node.cli_typed(&args);
    assert_eq!(
        created.user.username, username,
        "`user add` answered for another user"
    );
    created.token
}

/// `blobs stats` on `node`: (blobs on disk, their total bytes).
pub fn blob_stats(node: &TestNode) -> (u64, u64) {
    let stats: BlobStats = node.cli_typed(["blobs", "stats"]);
    (stats.count, stats.bytes)
}

/// The value of HTTP header `name` in `resp` as text, `""` when the response has none; panics
/// when the value is not visible ASCII.
pub fn response_header(resp: &reqwest::blocking::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| {
            v.to_str()
                .unwrap_or_else(|e| panic!("header {name}: {e}"))
                .to_owned()
        })
        .unwrap_or_default()
}

/// The stable `error.code` of an admin API error answer (`{"error":{"code","message"}}`),
/// consuming the response; panics if the body is not an [`ErrorBody`].
pub fn error_code(resp: reqwest::blocking::Response) -> String {
    let status = resp.status();
    let body: ErrorBody = resp
        .json()
        .unwrap_or_else(|e| panic!("HTTP {status}: the body is not an error body ({e})"));
    body.error.code
}

/// Create a case with case number `case_id`; returns its record id as text, for command lines.
pub fn create_case(node: &TestNode, case_id: &str) -> String {
    let case: CaseView = node.cli_typed([
        "case",
        "create",
        "--case-id",
        case_id,
        "--title",
        "Shared case",
    ]);
    case.id.to_string()
}

/// `share create CASE --partner county-da --mode access --to user:dana` on `a`; returns the
/// share id once `b` lists it for `dana` (token) among its access shares (waits up to 60 s).
pub fn access_share(a: &TestNode, b: &TestNode, dana: &str, case: &str) -> String {
    let share: ShareView = a.cli_typed([
        "share",
        "create",
        case,
        "--partner",
        "county-da",
        "--mode",
        "access",
        "--to",
        "user:dana",
    ]);
    assert_eq!(share.mode, "access", "{share:?}");
    let id = share.id;
    wait_until(
        "B receives the access share",
        Duration::from_secs(60),
        || {
            let list: Vec<ReceivedView> =
                b.cli_typed_as(dana, ["received", "list", "--mode", "access"]);
            list.iter().any(|s| s.id == id).then_some(())
        },
    );
    id.to_string()
}

/// `share create CASE --partner PARTNER --to user:admin EXTRA…` on `node`; returns the share.
pub fn share_case(node: &TestNode, case: &str, partner: &str, extra: &[&str]) -> ShareView {
    node.cli_typed(share_create_args(case, partner, extra))
}

/// The arguments of `share create CASE --partner PARTNER --to user:admin EXTRA…` (for
/// [`share_case`], and for tests that read the command's text or failure).
pub fn share_create_args<'a>(case: &'a str, partner: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "share",
        "create",
        case,
        "--partner",
        partner,
        "--to",
        "user:admin",
    ];
    args.extend_from_slice(extra);
    args
}

/// Wait until the sharer reports the share Complete (panics if it was stopped meanwhile).
pub fn wait_share_complete(node: &TestNode, share: &str, limit: Duration) -> ShareView {
    wait_until(&format!("share {share} to become Complete"), limit, || {
        let v = share_view(node, share);
        assert_ne!(v.status, "Stopped", "share stopped unexpectedly: {v:?}");
        (v.status == "Complete").then_some(v)
    })
}

/// The cases partners shared with `node` (`case list --external`).
pub fn external_cases(node: &TestNode) -> Vec<CaseSummary> {
    node.cli_typed(["case", "list", "--external"])
}

/// The local copy (`case show`) of the received share `share` on `node`, once it holds `count`
/// items.
pub fn wait_copy(node: &TestNode, share: &str, count: usize, limit: Duration) -> CaseView {
    wait_until(
        &format!(
            "{count} items in the copy of share {share} on {}",
            node.name()
        ),
        limit,
        || {
            let local = try_received_view(node, share)?.local_case?;
            let copy = case_view(node, &local.to_string());
            (copy.evidence.len() == count).then_some(copy)
        },
    )
}

/// `partner list` on `node`, typed: its registered partners.
pub fn partner_list(node: &TestNode) -> Vec<PartnerView> {
    node.cli_typed(["partner", "list"])
}

/// `user list` on `node`, typed.
pub fn user_list(node: &TestNode) -> Vec<UserView> {
    node.cli_typed(["user", "list"])
}

/// `settings show` on `node`, typed.
pub fn settings_view(node: &TestNode) -> SettingsView {
    node.cli_typed(["settings", "show"])
}

/// `node`'s peers view (`peers`) of the partner registered under `name`.
pub fn peer_view(node: &TestNode, name: &str) -> PeerView {
    node.cli_typed::<Vec<PeerView>, _, _>(["peers"])
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{} has no partner named {name}", node.name()))
}

/// Wait until `node` sees the partner `name` connected (or disconnected).
pub fn wait_connected(node: &TestNode, name: &str, connected: bool, limit: Duration) -> PeerView {
    wait_until(
        &format!("{} to see {name} connected={connected}", node.name()),
        limit,
        || {
            let p = peer_view(node, name);
            (p.connected == connected).then_some(p)
        },
    )
}

/// Download evidence `ev` of `case` from `node` (`evidence get`, which checks the hash) into
/// `dir` and return the copy's BLAKE3 (the copy is removed again); panics with the
/// CLI's stderr when the download fails (see [`try_downloaded_hash`]).
pub fn downloaded_hash(node: &TestNode, case: &str, ev: &str, dir: &Path) -> BlobHash {
    try_downloaded_hash(node, case, ev, dir)
        .unwrap_or_else(|stderr| panic!("evidence get {case} {ev} on {}: {stderr}", node.name()))
}

/// [`downloaded_hash`] for a download that may fail: `Err(stderr of evidence get)` when it does.
pub fn try_downloaded_hash(
    node: &TestNode,
    case: &str,
    ev: &str,
    dir: &Path,
) -> Result<BlobHash, String> {
    let out = dir.join(format!("download-{ev}"));
    let o = node.cli(["evidence", "get", case, ev, "-o", s(&out)]);
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let hash = hash_file(&out);
    fs::remove_file(&out).unwrap_or_else(|e| panic!("removing {}: {e}", out.display()));
    Ok(hash)
}

/// The distinct hashes of `items` as hex text, sorted (items with the same bytes share one blob):
/// what a blob store lists as its keys or file names.
pub fn distinct_hashes(items: &[EvidenceView]) -> Vec<String> {
    let mut hashes: Vec<String> = items.iter().map(|e| e.hash.to_string()).collect();
    hashes.sort();
    hashes.dedup();
    hashes
}

/// Assert that a CLI error names the HTTP status the node answered with.
pub fn assert_http_status(stderr: &str, status: u16) {
    assert!(
        stderr.contains(&format!("HTTP {status}")),
        "expected an HTTP {status} error, got: {stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Integrity checks (issue #10, "Nothing lost").

/// What `casemesh blobs verify --json` reports: referenced blobs that are gone or no longer match
/// their hash, and how many blobs nothing references. It exits 1 when any referenced blob is
/// missing or corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobsVerify {
    /// Hashes of referenced blobs with no file.
    pub missing: Vec<BlobHash>,
    /// Hashes of referenced blobs whose bytes no longer hash to their name.
    pub corrupt: Vec<BlobHash>,
    /// Blob files no record references (garbage for `blobs gc`, not an error).
    pub unreferenced: u64,
    /// The command's exit code.
    pub exit_code: i32,
}

/// Run `blobs verify --json` on `node` and read its report (whatever the exit code).
pub fn blobs_verify(node: &TestNode) -> BlobsVerify {
    let out = node.cli(["--json", "blobs", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: BlobVerifyReport = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "`casemesh --json blobs verify` on {} printed no report ({e}); {}\n\
             stdout:\n{stdout}\nstderr:\n{}",
            node.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    BlobsVerify {
        missing: report.missing,
        corrupt: report.corrupt,
        unreferenced: report.unreferenced,
        exit_code: out.status.code().unwrap_or(-1),
    }
}

/// Assert that every blob `node` references is on disk with the right bytes.
pub fn assert_blobs_sound(node: &TestNode) {
    let report = blobs_verify(node);
    assert!(
        report.missing.is_empty() && report.corrupt.is_empty(),
        "{}: referenced blobs missing or corrupt: {report:?}",
        node.name()
    );
    assert_eq!(
        report.exit_code,
        0,
        "{}: blobs verify failed although it names nothing: {report:?}",
        node.name()
    );
}

/// Assert that `audit verify CASE` passes on `node`.
pub fn assert_audit_verifies(node: &TestNode, case: &str) {
    let out = node.cli(["audit", "verify", case]);
    assert!(
        out.status.success(),
        "{}: audit verify {case} failed ({}):\n{}{}",
        node.name(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// A real SMTP server for the notification tests.

/// `python3 -m aiosmtpd` on 127.0.0.1:`port`, delivering into a Maildir (no SMTPUTF8, as
/// aiosmtpd's default); killed on drop. Install it with `python3 -m pip install aiosmtpd`.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    maildir: PathBuf,
}

impl SmtpServer {
    /// A server that accepts every message.
    pub fn start(port: u16, maildir: &Path) -> SmtpServer {
        SmtpServer::start_with(port, maildir, "aiosmtpd.handlers.Mailbox", None)
    }

    /// With the handler class `handler` (a Python class path, constructed with the Maildir path),
    /// importable from `python_path`.
    pub fn start_with(
        port: u16,
        maildir: &Path,
        handler: &str,
        python_path: Option<&Path>,
    ) -> SmtpServer {
        let mut cmd = Command::new("python3");
        if let Some(p) = python_path {
            cmd.env("PYTHONPATH", p);
        }
        let child = cmd
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", handler])
            .arg(maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting aiosmtpd (pip install aiosmtpd)");
        let mut server = SmtpServer {
            child,
            maildir: maildir.to_owned(),
        };
        wait_until("the SMTP server to listen", Duration::from_secs(30), || {
            if let Some(status) = server.child.try_wait().expect("polling aiosmtpd") {
                panic!("aiosmtpd exited with {status}: is it installed (pip install aiosmtpd)?");
            }
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        server
    }

    /// Every message delivered so far (raw RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        let mut all = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(dir) = fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in dir.flatten() {
                if let Ok(text) = fs::read_to_string(entry.path()) {
                    all.push(text);
                }
            }
        }
        all
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A header's value (unfolded), case-insensitive name.
pub fn header(message: &str, name: &str) -> Option<String> {
    let head = message
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .replace('\r', "");
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// An `[smtp]` table for a plain relay on 127.0.0.1:`port` (more `[smtp]` keys may follow it).
pub fn smtp_config(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"casemesh@county.example\"\nsecurity = \"none\"\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Download-link packages, driven the way several test files need them.

/// A blocking HTTP client that sends no token, with the test [`timeout`]: for the public
/// download-link server.
pub fn plain_http() -> reqwest::blocking::Client {
    http_client(None)
}

/// `link create CASE ARGS… --wait` on `node`, asserting the link is Ready and has its public
/// URL (`…/l/TOKEN`); read the URL with [`link_url`].
pub fn create_link(node: &TestNode, case: &str, args: &[&str]) -> LinkView {
    let mut all = vec!["link", "create", case];
    all.extend_from_slice(args);
    all.push("--wait");
    let link: LinkView = node.cli_typed(&all);
    assert_eq!(link.status, LinkStatus::Ready, "{link:#?}");
    assert!(link_url(&link).contains("/l/"), "{link:#?}");
    link
}

/// The public URL of a link as [`create_link`] returned it (only the creation answer has it).
pub fn link_url(link: &LinkView) -> String {
    link.url
        .clone()
        .unwrap_or_else(|| panic!("a new link has its url: {link:#?}"))
}

/// Download the package of `link` (from [`create_link`]) to `dest`, asserting HTTP 200.
pub fn download_link(link: &LinkView, dest: &Path) {
    let url = link_url(link);
    let mut resp = plain_http()
        .get(format!("{url}/download"))
        .send()
        .expect("download the package");
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    let mut file = std::fs::File::create(dest).expect("create the package file");
    resp.copy_to(&mut file).expect("write the package file");
}

/// `link show ID` on `node`: the link as the API shows it now (without its URL).
pub fn link_show(node: &TestNode, id: &str) -> LinkView {
    node.cli_typed(["link", "show", id])
}

/// `link list CASE` on `node`: the case's download links, oldest first.
pub fn link_list(node: &TestNode, case: &str) -> Vec<LinkView> {
    node.cli_typed(["link", "list", case])
}

/// `link create CASE ARGS… --wait` on `node` ([`create_link`]), then download its package to
/// `dest` ([`download_link`]). Returns the link (with its `url`).
pub fn link_package(node: &TestNode, case: &str, args: &[&str], dest: &Path) -> LinkView {
    let link = create_link(node, case, args);
    download_link(&link, dest);
    link
}

/// Run an external tool (`unzip`, `xorriso`, `curl`, …) to completion within [`timeout`],
/// asserting it succeeded (else panics showing its stdout and stderr); returns its stdout.
pub fn run_ok(cmd: Command) -> String {
    let desc = format!("{cmd:?}");
    let out = output_with_timeout(cmd, timeout());
    assert!(
        out.status.success(),
        "{desc} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `casemesh ARGS…` without a node (no `--data-dir`), through [`run_ok`]: asserts it succeeded
/// within [`timeout`] (else panics showing its output); returns its stdout as text.
pub fn casemesh_ok(args: &[&str]) -> String {
    let mut cmd = casemesh();
    cmd.args(args);
    run_ok(cmd)
}

/// `casemesh init --data-dir DATA --org ORG --admin-addr ADMIN --link-addr 127.0.0.1:0
/// --p2p-listen P2P`, by hand, for a node the harness must not start (one whose start is meant to
/// fail); asserts `init` succeeded within [`timeout`]. `admin` is `HOST:PORT`, `p2p` a multiaddr.
pub fn init_data_dir(data: &Path, org: &str, admin: &str, p2p: &str) {
    let mut init = casemesh();
    init.args(["init", "--data-dir", s(data), "--org", org])
        .args(["--admin-addr", admin, "--link-addr", "127.0.0.1:0"])
        .args(["--p2p-listen", p2p]);
    let out = output_with_timeout(init, timeout());
    assert!(
        out.status.success(),
        "casemesh init {}: {out:?}",
        data.display()
    );
}

/// `casemesh run --data-dir DATA`, expected to be refused at start: asserts it exits with a
/// failure within [`timeout`] (panics with its stderr when it exits 0, and when it is still
/// running, i.e. it started); returns its stderr.
pub fn run_refused(data: &Path) -> String {
    let mut run = casemesh();
    run.args(["run", "--data-dir", s(data)]);
    let out = output_with_timeout(run, timeout());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the node started: {stderr}");
    stderr
}

/// `unzip -q PACKAGE -d DIR` through [`run_ok`]: extracts a ZIP package into `dir`; panics
/// with unzip's output when it fails.
pub fn unzip_to(package: &Path, dir: &Path) {
    let mut cmd = Command::new("unzip");
    cmd.args(["-q", s(package), "-d", s(dir)]);
    run_ok(cmd);
}

/// `xorriso -osirrox on -indev PACKAGE -extract / DIR` through [`run_ok`]: extracts an ISO 9660
/// package into `dir`; panics with xorriso's output when it fails.
pub fn xorriso_extract(package: &Path, dir: &Path) {
    let mut cmd = Command::new("xorriso");
    cmd.args([
        "-osirrox",
        "on",
        "-indev",
        s(package),
        "-extract",
        "/",
        s(dir),
    ]);
    run_ok(cmd);
}

/// Extract a download-link package of `format` (`"zip"`: [`unzip_to`]; `"iso"`:
/// [`xorriso_extract`]) into `dir`; panics on another format.
pub fn extract_package(package: &Path, format: &str, dir: &Path) {
    match format {
        "zip" => unzip_to(package, dir),
        "iso" => xorriso_extract(package, dir),
        other => panic!("no extractor for package format {other:?}"),
    }
}

/// `casemesh verify ARGS…` without a node (global flags such as `--data-dir` go in `args`).
pub fn verify_package(args: &[&str]) -> Output {
    let mut cmd = casemesh();
    cmd.arg("verify").args(args);
    output_with_timeout(cmd, timeout())
}

/// `casemesh verify --org-key ORG_KEY PACKAGE` (no node): asserts the package at `package`
/// verifies as signed by `org_key` (an org id, e.g. [`TestNode::org_id`]); panics with the
/// command's output when it does not.
pub fn assert_package_verifies(package: &Path, org_key: &str) {
    let out = verify_package(&["--org-key", org_key, s(package)]);
    assert!(
        out.status.success(),
        "{} does not verify as signed by {org_key}:\n{}",
        package.display(),
        output_text(&out)
    );
}

/// `casemesh verify ARGS… --json`: the process's output (exit code 1 when the package fails)
/// and its report as the typed [`PackageVerifyReport`]; panics with the output when stdout holds
/// no such report.
pub fn verify_report(args: &[&str]) -> (Output, PackageVerifyReport) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = verify_package(&all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "`casemesh verify {}` printed no report ({e}):\n{}",
            all.join(" "),
            output_text(&out)
        )
    });
    (out, report)
}

/// A process's stdout then stderr, as text (for assertion messages and `contains` checks).
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// Config keys in tables `casemesh init` already wrote (appending a second `[link]` table would be
// invalid TOML).

/// Set `key = value` (TOML) in table `[table]` of `data_dir/config.toml`, replacing the key if it
/// is there and adding the table if it is not (takes effect at the daemon's next start).
pub fn set_config_key(data_dir: &Path, table: &str, key: &str, value: &str) {
    let path = data_dir.join("config.toml");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let header = format!("[{table}]");
    let line = format!("{key} = {value}");
    let mut out = Vec::new();
    let (mut inside, mut found) = (false, false);
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            if inside && !found {
                out.push(line.clone());
                found = true;
            }
            inside = t == header;
        } else if inside && t.split('=').next().map(str::trim) == Some(key) {
            continue;
        }
        out.push(l.to_owned());
    }
    if inside && !found {
        out.push(line.clone());
        found = true;
    }
    if !found {
        out.push(header);
        out.push(line);
    }
    fs::write(&path, out.join("\n") + "\n")
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
