//! In-process node helpers shared by the node's library tests (`crates/service/tests/node.rs`)
//! and the admin API's HTTP tests (`crates/api/tests/http.rs`, which includes this file by
//! path): write a data directory as `casemesh init` does, start a [`Node`] on it, call it as the
//! administrator, stop it and wait for every task.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    reason = "each test binary uses a part (public for its test file); helpers fail by panicking"
)]

use bytes::Bytes;
use casemesh_model::case::Case;
use casemesh_model::org::{Permission, User};
use casemesh_service::config::{Config as FileConfig, Layout, write_atomic};
use casemesh_service::{Caller, Config, NewCase, NewEvidence, Node};
use casemesh_store::{Actor, Store};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What `casemesh init` writes: identity key, database with an administrator, `config.toml`
/// (admin endpoint, link server and p2p on loopback, free ports).
pub fn init(dir: &Path, org: &str) -> User {
    init_with_token(dir, org).0
}

/// [`init`], also returning the administrator's API token (as `admin.token`).
pub fn init_with_token(dir: &Path, org: &str) -> (User, String) {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    write_atomic(&Layout::new(dir).identity(), &secret, 0o600).unwrap();
    let store = Store::open(dir).unwrap();
    let mut admin = User::new("admin", "Administrator");
    admin.permissions = Permission::ALL.into_iter().collect();
    store.create_user(&admin).unwrap();
    let token = store
        .issue_token(admin.id, casemesh_model::time::Timestamp(0))
        .unwrap();
    drop(store);
    let mut file = FileConfig::new(org, "127.0.0.1:0".parse().unwrap());
    file.link.listen = "127.0.0.1:0".parse().unwrap();
    file.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    file.save(dir).unwrap();
    (admin, token)
}

/// A node started in-process: the handle `Node::start` returned and its shutdown token.
pub struct Running {
    pub node: Node,
    pub stopped: JoinHandle<anyhow::Result<()>>,
    pub shutdown: CancellationToken,
}

impl Running {
    pub async fn start(dir: &Path) -> Running {
        Running::start_with(Config::load(dir).unwrap()).await
    }

    /// Start a node with `config` (e.g. one with the admin API's frontend).
    pub async fn start_with(config: Config) -> Running {
        let shutdown = CancellationToken::new();
        let (node, stopped) = Node::start(config, shutdown.clone()).await.unwrap();
        Running {
            node,
            stopped,
            shutdown,
        }
    }

    /// Cancel, wait for every task, drop the node.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.stopped)
            .await
            .expect("the node stops within a minute")
            .expect("the shutdown task does not panic")
            .expect("the node stops cleanly");
        drop(self.node);
    }

    pub fn actor(&self) -> Actor {
        Actor::new("admin", self.node.clock().now())
    }

    /// The administrator as a caller of the use cases.
    pub fn admin(&self, admin: &User) -> Caller {
        Caller {
            user: admin.clone(),
            groups: Vec::new(),
        }
    }

    pub fn create_case(&self, admin: &User, number: &str) -> Case {
        let new = NewCase {
            case_number: number.to_owned(),
            title: "Burglary".to_owned(),
            description: String::new(),
        };
        self.node
            .cases()
            .create(&self.admin(admin), &new)
            .unwrap()
            .case
    }

    pub async fn add_evidence(&self, admin: &User, case: &str, name: &str, bytes: &[u8]) {
        let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
            .chunks(4096)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let new = NewEvidence {
            case: case.to_owned(),
            name: name.to_owned(),
            ..NewEvidence::default()
        };
        let (ev, _) = self
            .node
            .evidence()
            .add(
                &self.admin(admin),
                new,
                futures::stream::iter(chunks),
                Some(bytes.len() as u64),
            )
            .await
            .unwrap();
        assert_eq!(ev.size, bytes.len() as u64);
        assert_eq!(ev.hash.to_hex(), blake3::hash(bytes).to_hex().to_string());
    }
}

pub async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
