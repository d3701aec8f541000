//! In-process tests of the node as a library: each starts a [`Node`] on a temporary data directory
//! (every listener on 127.0.0.1 port 0) and calls its use cases directly, without HTTP.
//!
//! - `evidence_added_to_a_shared_case_goes_to_the_partner`: `node.evidence().add` itself tells
//!   the sharing engine; the share's next item list is queued for the partner.
//! - `link_create_builds_the_package`: `node.links().create` records the link and its build, run
//!   in the service's task set, ends Ready with the package on disk.
//! - `shutdown_joins_everything_and_frees_the_data_directory`: after the handle ends, a second
//!   node starts on the same directory.

#![allow(clippy::unwrap_used)] // test helpers, like the tests, fail by panicking

use bytes::Bytes;
use casemesh_links::{LinkStatus, NewLink, PackageFormat};
use casemesh_model::case::Case;
use casemesh_model::org::{Permission, User};
use casemesh_service::config::{Config as FileConfig, Layout, write_atomic};
use casemesh_service::{Config, NewEvidence, Node};
use casemesh_store::{Actor, Store};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What `casemesh init` writes: identity key, database with an administrator, `config.toml`
/// (admin endpoint, link server and p2p on loopback, free ports).
fn init(dir: &Path, org: &str) -> User {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    write_atomic(&Layout::new(dir).identity(), &secret, 0o600).unwrap();
    let store = Store::open(dir).unwrap();
    let mut admin = User::new("admin", "Administrator");
    admin.permissions = Permission::ALL.into_iter().collect();
    store.create_user(&admin).unwrap();
    drop(store);
    let mut file = FileConfig::new(org, "127.0.0.1:0".parse().unwrap());
    file.link.listen = "127.0.0.1:0".parse().unwrap();
    file.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    file.save(dir).unwrap();
    admin
}

struct Running {
    node: Node,
    stopped: JoinHandle<anyhow::Result<()>>,
    shutdown: CancellationToken,
}

impl Running {
    async fn start(dir: &Path) -> Running {
        let shutdown = CancellationToken::new();
        let (node, stopped) = Node::start(Config::load(dir).unwrap(), shutdown.clone())
            .await
            .unwrap();
        Running {
            node,
            stopped,
            shutdown,
        }
    }

    /// Cancel, wait for every task, drop the node.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.stopped)
            .await
            .expect("the node stops within a minute")
            .expect("the shutdown task does not panic")
            .expect("the node stops cleanly");
        drop(self.node);
    }

    fn actor(&self) -> Actor {
        Actor::new("admin", self.node.clock().now())
    }

    fn create_case(&self, admin: &User, number: &str) -> Case {
        let case = Case::new(number, "Burglary", "", admin.id, self.node.clock().now());
        self.node.store().create_case(&case, &self.actor()).unwrap();
        case
    }

    async fn add_evidence(&self, case: &str, name: &str, bytes: &[u8]) {
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
                new,
                &self.actor(),
                futures::stream::iter(chunks),
                Some(bytes.len() as u64),
            )
            .await
            .unwrap();
        assert_eq!(ev.size, bytes.len() as u64);
        assert_eq!(ev.hash.to_hex(), blake3::hash(bytes).to_hex().to_string());
    }
}

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_added_to_a_shared_case_goes_to_the_partner() {
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    let case = n.create_case(&admin, "C-1");
    n.add_evidence("C-1", "first.bin", b"first item").await;

    // A partner that is not running: what the node sends it waits in the outbox.
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let partner_id =
        casemesh_model::grant::org_id_from_public_key(key.verifying_key().as_bytes()).0;
    let sharing = n.node.sharing();
    sharing
        .add_partner("police", &partner_id, vec![], None)
        .await
        .unwrap();
    let share = sharing
        .create_share(
            &n.actor(),
            &casemesh_sharing::ShareRequest {
                case: case.id,
                partner: "police".into(),
                recipients: vec![casemesh_sharing::parse_recipient("user:admin").unwrap()],
                folders: vec![],
                evidence: vec![],
                message: None,
            },
        )
        .unwrap();
    assert_eq!(share.items_sent, 1);

    // The use case, not its caller, tells the sharing engine: the new item is queued.
    n.add_evidence("C-1", "second.bin", b"second item").await;
    let id = share.id.to_string();
    let after = wait_for("the new item to be queued for the partner", || {
        let s = sharing.share(&id).unwrap();
        (s.items_sent == 2).then_some(s)
    })
    .await;
    assert!(after.seq > share.seq, "a new item list was sent");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_create_builds_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    n.create_case(&admin, "C-7");
    n.add_evidence("C-7", "photo.jpg", &vec![42u8; 300_000])
        .await;

    let links = n.node.links();
    let created = links
        .create(NewLink::whole_case("C-7", PackageFormat::Zip), &n.actor())
        .unwrap();
    assert_eq!(
        created.link.status(n.node.clock().now()),
        LinkStatus::Processing
    );
    let link_addr = n.node.link_addr();
    assert!(
        created.url.starts_with(&format!("http://{link_addr}/l/")),
        "{}",
        created.url
    );
    let id = created.link.id.to_string();
    let ready = wait_for("the package build", || {
        let l = links.get(&id).unwrap();
        (l.status(n.node.clock().now()) != LinkStatus::Processing).then_some(l)
    })
    .await;
    assert_eq!(
        ready.status(n.node.clock().now()),
        LinkStatus::Ready,
        "{:?}",
        ready.build
    );
    let package = links.package_path(&ready);
    assert_eq!(
        std::fs::metadata(&package).unwrap().len(),
        ready.package_size()
    );
    // The token opens the link; a wrong one does not.
    let token = created.url.rsplit('/').next().unwrap();
    assert_eq!(links.find_by_token(token).unwrap().unwrap().id, ready.id);
    assert!(links.find_by_token(&"0".repeat(64)).unwrap().is_none());
    // Errors say what to do.
    let err = links
        .create(
            NewLink::whole_case("no-such-case", PackageFormat::Zip),
            &n.actor(),
        )
        .unwrap_err();
    assert_eq!(err.disposition(), casemesh_links::Disposition::NotFound);
    let mut too_long = NewLink::whole_case("C-7", PackageFormat::Iso);
    too_long.days = casemesh_links::MAX_DAYS + 1;
    let err = links.create(too_long, &n.actor()).unwrap_err();
    assert_eq!(err.disposition(), casemesh_links::Disposition::Refuse);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_joins_everything_and_frees_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let layout = Layout::new(dir.path());
    let n = Running::start(dir.path()).await;
    assert_ne!(n.node.admin_addr().port(), 0);
    assert_ne!(n.node.link_addr().port(), 0);
    assert_eq!(
        std::fs::read_to_string(layout.admin_addr()).unwrap(),
        n.node.admin_addr().to_string()
    );
    // A second node on the same directory is refused while the first runs.
    let refused = Node::start(Config::load(dir.path()).unwrap(), CancellationToken::new()).await;
    let refused = refused.err().expect("the data directory is in use");
    assert!(format!("{refused:#}").contains("is in use"), "{refused:#}");

    // Stop with a package build in flight: it is joined, not left behind.
    n.create_case(&admin, "C-9");
    n.add_evidence("C-9", "a.bin", &vec![1u8; 1 << 20]).await;
    n.node
        .links()
        .create(NewLink::whole_case("C-9", PackageFormat::Zip), &n.actor())
        .unwrap();
    let links = n.node.links().clone();
    n.stop().await;
    assert_eq!(links.builds_in_flight(), 0);
    drop(links);
    assert!(!layout.admin_addr().exists());
    assert!(!layout.link_addr().exists());

    // The directory is free again: a new node starts on it and sees what the first stored.
    let again = Running::start(dir.path()).await;
    assert_eq!(
        again
            .node
            .store()
            .case_evidence(again.node.store().resolve_case("C-9").unwrap().id)
            .unwrap()
            .len(),
        1
    );
    again.stop().await;
}
