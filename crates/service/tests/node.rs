//! In-process tests of the node as a library: each starts a [`Node`] on a temporary data directory
//! (every listener on 127.0.0.1 port 0) and calls its use cases directly, without HTTP.
//!
//! - `evidence_added_to_a_shared_case_goes_to_the_partner`: `node.shares().create` refuses a bad
//!   mode before the engine sees it, then shares; `node.evidence().add` itself tells the sharing
//!   engine, and the share's next item list is queued for the partner.
//! - `link_create_builds_the_package`: `node.links().create` records the link and its build, run
//!   in the service's task set, ends Ready with the package on disk.
//! - `shutdown_joins_everything_and_frees_the_data_directory`: after the handle ends, a second
//!   node starts on the same directory.
//! - `a_token_becomes_a_caller`: `node.users().authenticate` (the start of every admin request)
//!   accepts an issued token and refuses an unknown or revoked one.
//! - `a_case_the_caller_may_not_see_answers_like_a_missing_one`: `node.cases().resolve`, list,
//!   create and `node.evidence().add` check the caller themselves; a refused add stores nothing;
//!   `node.access().share` gives access inside the organization until it is stopped.
//! - `evidence_use_cases_audit_what_they_do`: show, content (verified bytes), delete and reading
//!   the trail each leave their audit entry, written by the use case, not by its caller.
//! - `settings_edits_are_checked_then_persisted`: `node.admin().edit_settings` refuses unknown
//!   features and non-administrators, and a change reaches `config.toml`.

#![allow(clippy::unwrap_used)] // test helpers, like the tests, fail by panicking

use bytes::Bytes;
use casemesh_links::{LinkStatus, NewLink, PackageFormat};
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
fn init(dir: &Path, org: &str) -> User {
    init_with_token(dir, org).0
}

/// [`init`], also returning the administrator's API token (as `admin.token`).
fn init_with_token(dir: &Path, org: &str) -> (User, String) {
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

    /// The administrator as a caller of the use cases.
    fn admin(&self, admin: &User) -> Caller {
        Caller {
            user: admin.clone(),
            groups: Vec::new(),
        }
    }

    fn create_case(&self, admin: &User, number: &str) -> Case {
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

    async fn add_evidence(&self, admin: &User, case: &str, name: &str, bytes: &[u8]) {
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
    n.add_evidence(&admin, "C-1", "first.bin", b"first item")
        .await;

    // A partner that is not running: what the node sends it waits in the outbox.
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let partner_id =
        casemesh_model::grant::org_id_from_public_key(key.verifying_key().as_bytes()).0;
    let sharing = n.node.sharing();
    sharing
        .add_partner("police", &partner_id, vec![], None)
        .await
        .unwrap();
    // The share use case checks the caller and the mode before the engine sees anything.
    let mut new = casemesh_service::NewShare {
        partner: "police".into(),
        to: vec!["user:admin".into()],
        mode: Some("bogus".into()),
        ..Default::default()
    };
    let err = n
        .node
        .shares()
        .create(&n.admin(&admin), "C-1", &new)
        .unwrap_err();
    assert!(
        matches!(err, casemesh_service::ShareError::Invalid(_)),
        "{err:?}"
    );
    assert_eq!(err.disposition(), casemesh_service::Disposition::Refuse);
    assert!(sharing.shares(Some(case.id)).unwrap().is_empty());
    new.mode = None;
    let share = n
        .node
        .shares()
        .create(&n.admin(&admin), "C-1", &new)
        .unwrap();
    assert_eq!(share.items_sent, 1);

    // The use case, not its caller, tells the sharing engine: the new item is queued.
    n.add_evidence(&admin, "C-1", "second.bin", b"second item")
        .await;
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
    n.add_evidence(&admin, "C-7", "photo.jpg", &vec![42u8; 300_000])
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
    n.add_evidence(&admin, "C-9", "a.bin", &vec![1u8; 1 << 20])
        .await;
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
            .cases()
            .show(&again.admin(&admin), "C-9")
            .unwrap()
            .evidence
            .len(),
        1
    );
    again.stop().await;
}

/// A user with no permission, created through the use case; returns it as a caller and its token.
fn add_plain_user(n: &Running, admin: &User, name: &str) -> (Caller, String) {
    let created = n
        .node
        .users()
        .create(
            &n.admin(admin),
            &casemesh_service::NewUser {
                username: name.to_owned(),
                full_name: name.to_owned(),
                ..Default::default()
            },
        )
        .unwrap();
    let caller = n.node.users().authenticate(&created.token).unwrap();
    (caller, created.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_becomes_a_caller() {
    use casemesh_service::{Disposition, UserError};
    let dir = tempfile::tempdir().unwrap();
    let (admin, token) = init_with_token(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    let users = n.node.users();
    let caller = users.authenticate(&token).unwrap();
    assert_eq!(caller.user.id, admin.id);
    let err = users.authenticate(&"0".repeat(64)).unwrap_err();
    assert!(matches!(err, UserError::Unauthenticated), "{err:?}");
    assert_eq!(err.disposition(), Disposition::Refuse);

    let (bob, bob_token) = add_plain_user(&n, &admin, "bob");
    assert_eq!(bob.user.username, "bob");
    // Only administrators manage users; a missing user is NotFound, not a refusal.
    let err = users.revoke_tokens(&bob, "admin").unwrap_err();
    assert!(matches!(err, UserError::Denied(_)), "{err:?}");
    let err = users.revoke_tokens(&caller, "nobody").unwrap_err();
    assert_eq!(err.disposition(), Disposition::NotFound);
    // Revoked: the token opens nothing any more.
    assert_eq!(users.revoke_tokens(&caller, "bob").unwrap(), 1);
    assert!(matches!(
        users.authenticate(&bob_token).unwrap_err(),
        UserError::Unauthenticated
    ));
    // Nobody deletes themselves.
    let err = users.delete(&caller, "admin").unwrap_err();
    assert!(matches!(err, UserError::Invalid(_)), "{err:?}");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_the_caller_may_not_see_answers_like_a_missing_one() {
    use casemesh_service::{CaseError, Disposition, EvidenceError};
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    n.create_case(&admin, "C-2");
    let (bob, _) = add_plain_user(&n, &admin, "bob");
    let cases = n.node.cases();

    let hidden = cases.resolve(&bob, "C-2").unwrap_err();
    let missing = cases.resolve(&bob, "C-404").unwrap_err();
    assert!(matches!(hidden, CaseError::NotFound(_)), "{hidden:?}");
    assert_eq!(hidden.disposition(), Disposition::NotFound);
    assert_eq!(
        hidden.to_string().replace("C-2", "X"),
        missing.to_string().replace("C-404", "X"),
        "a hidden case and a missing one read the same"
    );
    assert!(cases.list(&bob, None).unwrap().is_empty());
    assert_eq!(cases.list(&n.admin(&admin), None).unwrap().len(), 1);

    // Creating needs Edit Case: refused, nothing written.
    let err = cases
        .create(
            &bob,
            &NewCase {
                case_number: "C-3".into(),
                title: "t".into(),
                description: String::new(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, CaseError::Denied(_)), "{err:?}");
    assert_eq!(err.disposition(), Disposition::Refuse);
    // A bad case number is refused by the use case itself.
    let err = cases
        .create(
            &n.admin(&admin),
            &NewCase {
                case_number: " C-4".into(),
                title: "t".into(),
                description: String::new(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, CaseError::Invalid(_)), "{err:?}");

    // Adding evidence checks the caller before any byte is stored.
    let new = NewEvidence {
        case: "C-2".into(),
        name: "x.bin".into(),
        ..NewEvidence::default()
    };
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"secret"))];
    let err = n
        .node
        .evidence()
        .add(&bob, new, futures::stream::iter(chunks), Some(6))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EvidenceError::Case(CaseError::Denied(_))),
        "{err:?}"
    );
    assert_eq!(n.node.admin().blob_stats().unwrap(), (0, 0));
    assert!(
        cases
            .show(&n.admin(&admin), "C-2")
            .unwrap()
            .evidence
            .is_empty()
    );

    // Bob may not share inside; the owner may, and then bob sees the case until it stops.
    let err = n
        .node
        .access()
        .share(&bob, "C-2", &["bob".into()], vec![], vec![], None)
        .unwrap_err();
    assert!(
        matches!(err, casemesh_service::AccessError::Case(_)),
        "{err:?}"
    );
    let (done, to) = n
        .node
        .access()
        .share(
            &n.admin(&admin),
            "C-2",
            &["bob".into()],
            vec![],
            vec![],
            None,
        )
        .unwrap();
    assert_eq!(
        to,
        vec![casemesh_model::grant::Recipient::User("bob".into())]
    );
    let (seen, _) = cases.resolve(&bob, "C-2").unwrap();
    assert_eq!(seen.id, done.case);
    let actor = n.actor();
    n.node.access().stop_inside(done.id, &actor).unwrap();
    assert!(matches!(
        cases.resolve(&bob, "C-2").unwrap_err(),
        CaseError::NotFound(_)
    ));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_use_cases_audit_what_they_do() {
    use casemesh_model::audit::actions;
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    let me = n.admin(&admin);
    n.create_case(&admin, "C-5");
    let bytes = vec![9u8; 70_000];
    n.add_evidence(&admin, "C-5", "scene.jpg", &bytes).await;
    let evidence = n.node.evidence();

    let (ev, _) = evidence.show(&me, "C-5", "EV-0001").unwrap();
    let mut content = evidence.content(&me, "C-5", "EV-0001").await.unwrap();
    assert_eq!(content.size, bytes.len() as u64);
    let mut read = Vec::new();
    content.file.read_to_end(&mut read).unwrap();
    assert_eq!(read, bytes);
    let err = evidence
        .transcript_content(&me, "C-5", "EV-0001", "none.txt")
        .await
        .unwrap_err();
    assert_eq!(err.disposition(), casemesh_service::Disposition::NotFound);
    evidence.delete(&me, "C-5", "EV-0001").unwrap();

    let (entries, head) = n.node.audit().trail(&me, "C-5").unwrap();
    let trail: Vec<(&str, Option<_>)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.evidence))
        .collect();
    assert_eq!(
        trail,
        vec![
            (actions::CASE_CREATE, None),
            (actions::EVIDENCE_ADD, Some(ev.id)),
            (actions::EVIDENCE_VIEW, Some(ev.id)),
            (actions::EVIDENCE_DOWNLOAD, Some(ev.id)),
            (actions::EVIDENCE_DELETE, Some(ev.id)),
            (actions::AUDIT_VIEW, None),
        ]
    );
    assert_eq!(entries[3].details, format!("blake3={}", ev.hash));
    assert_eq!(head.len, entries.len() as u64);
    let verified = n.node.audit().verify(&me, "C-5").unwrap();
    assert_eq!(verified.error, None);
    assert_eq!(verified.entries, entries.len() as u64);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_edits_are_checked_then_persisted() {
    use casemesh_service::{AdminError, SettingsEdit};
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    let (bob, _) = add_plain_user(&n, &admin, "bob");
    let off = SettingsEdit {
        auto_import: Some(false),
        ..SettingsEdit::default()
    };
    assert!(matches!(
        n.node.admin().edit_settings(&bob, &off).unwrap_err(),
        AdminError::Denied(_)
    ));
    let unknown = SettingsEdit {
        features: vec![("no_such_feature".into(), serde_json::Value::Bool(true))],
        ..SettingsEdit::default()
    };
    let err = n
        .node
        .admin()
        .edit_settings(&n.admin(&admin), &unknown)
        .unwrap_err();
    assert!(matches!(err, AdminError::Invalid(_)), "{err:?}");
    assert!(n.node.admin().settings().auto_import, "nothing changed");

    let s = n
        .node
        .admin()
        .edit_settings(&n.admin(&admin), &off)
        .unwrap();
    assert!(!s.auto_import);
    assert!(!n.node.admin().settings().auto_import);
    assert!(
        !FileConfig::load(dir.path()).unwrap().settings.auto_import,
        "written to config.toml"
    );
    n.stop().await;
}
