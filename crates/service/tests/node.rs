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
//! - `shutdown_waits_for_blocking_work_a_request_left_behind`: blocking work run through
//!   `Node::blocking` (as every request handler's is) whose request was dropped keeps the node's
//!   shutdown from ending, and from its final store flush, until the work has ended.
//! - `a_token_becomes_a_caller`: `node.users().authenticate` (the start of every admin request)
//!   accepts an issued token and refuses an unknown or revoked one.
//! - `a_case_the_caller_may_not_see_answers_like_a_missing_one`: `node.cases().resolve`, list,
//!   create and `node.evidence().add` check the caller themselves; a refused add stores nothing;
//!   `node.access().share` gives access inside the organization until it is stopped.
//! - `evidence_use_cases_audit_what_they_do`: show, content (verified bytes), delete and reading
//!   the trail each leave their audit entry, written by the use case, not by its caller.
//! - `settings_edits_are_checked_then_persisted`: `node.admin().edit_settings` refuses unknown
//!   features and non-administrators, and a change reaches `config.toml`;
//!   `node.retention().sweep_as` refuses non-administrators.
//! - `partner_share_and_link_use_cases_check_the_caller`: `node.partners()` (add, peers, policies)
//!   refuses non-administrators and bad policies; `node.shares()` refuses share create without the
//!   permission or the feature, hides a case's shares from who does not see the case, and refuses
//!   stop / add recipients / approve (and `node.access().stop` of the inside share) to who sees
//!   the case without the share permissions;
//!   `node.links()` refuses create and revoke without the link permissions.
//! - `received_shares_answer_recipients_only_and_later_recipients_change_nothing`: two nodes; at
//!   the receiver, `node.received()` answers "not found" to a user who is not a recipient, and a
//!   recipient added later is refused applying, dismissing and reviewing updates, the metadata
//!   and onward sharing (she sees part of the share).

#![allow(clippy::unwrap_used)] // test helpers, like the tests, fail by panicking

use bytes::Bytes;
use casemesh_links::{LinkStatus, NewLink, PackageFormat};
use casemesh_model::org::User;
use casemesh_service::config::{Config as FileConfig, Layout};
use casemesh_service::{Caller, Config, NewCase, NewEvidence, Node};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod common;
use common::{Running, init, init_with_token, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_added_to_a_shared_case_goes_to_the_partner() {
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    let case = n.create_case(&admin, "C-1");
    n.add_evidence(&admin, "C-1", "first.bin", b"first item")
        .await;

    // A partner that is not running: what the node sends it waits in the outbox.
    n.node
        .partners()
        .add(&n.admin(&admin), &absent_partner("police"))
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
    let shares = n.node.shares();
    assert!(
        shares
            .of_case(&n.admin(&admin), &case.id.to_string())
            .unwrap()
            .is_empty()
    );
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
    let id = share.id;
    let after = wait_for("the new item to be queued for the partner", || {
        let s = shares.get(&n.admin(&admin), id).unwrap().share;
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

    let boss = n.admin(&admin);
    let links = n.node.links();
    let created = links
        .create(&boss, NewLink::whole_case("C-7", PackageFormat::Zip))
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
    let id = created.link.id;
    let ready = wait_for("the package build", || {
        let (l, _) = links.get(&boss, id).unwrap();
        (l.status(n.node.clock().now()) != LinkStatus::Processing).then_some(l)
    })
    .await;
    assert_eq!(
        ready.status(n.node.clock().now()),
        LinkStatus::Ready,
        "{:?}",
        ready.build
    );
    let package = links.public().package_path(&ready);
    assert_eq!(
        std::fs::metadata(&package).unwrap().len(),
        ready.package_size()
    );
    // The token opens the link; a wrong one does not.
    let token = created.url.rsplit('/').next().unwrap();
    let public = links.public();
    let client = casemesh_links::client::ClientKey::of("127.0.0.1".parse().unwrap());
    assert_eq!(public.admit(client, token).await.unwrap().id, ready.id);
    assert!(matches!(
        public.admit(client, &"0".repeat(64)).await,
        Err(casemesh_service::PublicLinkError::NotFound)
    ));
    // Errors say what to do.
    let err = links
        .create(
            &boss,
            NewLink::whole_case("no-such-case", PackageFormat::Zip),
        )
        .unwrap_err();
    assert_eq!(err.disposition(), casemesh_service::Disposition::NotFound);
    let mut too_long = NewLink::whole_case("C-7", PackageFormat::Iso);
    too_long.days = casemesh_links::MAX_DAYS + 1;
    let err = links.create(&boss, too_long).unwrap_err();
    assert_eq!(err.disposition(), casemesh_service::Disposition::Refuse);
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
        .create(
            &n.admin(&admin),
            NewLink::whole_case("C-9", PackageFormat::Zip),
        )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_blocking_work_a_request_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "Prosecutor");
    let layout = Layout::new(dir.path());
    let n = Running::start(dir.path()).await;
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    // What the job saw when it ended: whether shutdown had already removed admin.addr (the step
    // right before the final store flush).
    let (ended_tx, ended_rx) = std::sync::mpsc::channel::<bool>();
    // A request handler's blocking work, as `Node::blocking` runs it for every handler.
    let request = tokio::spawn({
        let node = n.node.clone();
        let admin_addr = layout.admin_addr();
        async move {
            node.blocking(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                ended_tx.send(admin_addr.exists()).unwrap();
            })
            .await
            .unwrap();
        }
    });
    started_rx.await.unwrap();
    // The request goes away (client gone, or shutdown's deadline for requests) while its work
    // runs on the blocking pool, and shutdown begins.
    request.abort();
    n.shutdown.cancel();
    let mut stopped = n.stopped;
    assert!(
        tokio::time::timeout(Duration::from_secs(3), &mut stopped)
            .await
            .is_err(),
        "the node stopped (and flushed its store) while a request's blocking work still ran"
    );
    release_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(60), stopped)
        .await
        .expect("the node stops once the work ended")
        .unwrap()
        .unwrap();
    assert!(
        ended_rx.recv().unwrap(),
        "admin.addr was gone when the work ended: shutdown had reached its final flush"
    );
    assert!(!layout.admin_addr().exists());
    drop(n.node);
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

    // Running the retention sweeper on demand is administration too: the use case checks it.
    let err = n.node.retention().sweep_as(&bob).await.unwrap_err();
    assert!(
        matches!(err, casemesh_service::SweepError::Denied(_)),
        "{err:?}"
    );
    assert!(
        n.node
            .retention()
            .sweep_as(&n.admin(&admin))
            .await
            .unwrap()
            .is_empty()
    );
    n.stop().await;
}

/// A user with `permissions` (names), created through the use case.
fn add_user(n: &Running, admin: &User, name: &str, permissions: &[&str]) -> Caller {
    let created = n
        .node
        .users()
        .create(
            &n.admin(admin),
            &casemesh_service::NewUser {
                username: name.to_owned(),
                full_name: name.to_owned(),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            },
        )
        .unwrap();
    n.node.users().authenticate(&created.token).unwrap()
}

/// A partner organization that is not running (what the node sends it waits in the outbox).
fn absent_partner(name: &str) -> casemesh_service::NewPartner {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    casemesh_service::NewPartner {
        name: name.to_owned(),
        peer_id: casemesh_model::grant::org_id_from_public_key(key.verifying_key().as_bytes()),
        addrs: vec![],
        policy: None,
    }
}

/// Whether `err` is a refusal for a missing permission or feature (`Denied`) carried by a
/// `CaseError`.
fn case_denied(err: &casemesh_service::CaseError) -> bool {
    matches!(err, casemesh_service::CaseError::Denied(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_share_and_link_use_cases_check_the_caller() {
    use casemesh_service::{
        Disposition, DownloadLinkError, NewPolicy, NewShare, PartnerError, SettingsEdit, ShareError,
    };
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    let boss = n.admin(&admin);
    n.create_case(&admin, "C-1");
    n.add_evidence(&admin, "C-1", "a.bin", b"item a").await;
    let clerk = add_user(&n, &admin, "clerk", &[]);

    // Partners, policies and the peers view: administrators only.
    let partners = n.node.partners();
    let err = partners
        .add(&clerk, &absent_partner("police"))
        .await
        .unwrap_err();
    assert!(matches!(err, PartnerError::Denied(_)), "{err:?}");
    assert_eq!(err.disposition(), Disposition::Refuse);
    assert!(
        partners.list(&boss).unwrap().is_empty(),
        "nothing was added"
    );
    assert!(matches!(
        partners.peers(&clerk).await.unwrap_err(),
        PartnerError::Denied(_)
    ));
    let policy = NewPolicy {
        name: "Narrow".into(),
        allow: vec!["view".into()],
        ..Default::default()
    };
    assert!(matches!(
        partners.put_policy(&clerk, &policy).unwrap_err(),
        PartnerError::Denied(_)
    ));
    let bad = NewPolicy {
        allow: vec!["share_onward_external".into()],
        ..policy.clone()
    };
    let err = partners.put_policy(&boss, &bad).unwrap_err();
    assert!(matches!(err, PartnerError::Invalid(_)), "{err:?}");
    assert!(partners.policy(&boss, "Narrow").is_err(), "nothing stored");
    partners.put_policy(&boss, &policy).unwrap();
    partners
        .add(&boss, &absent_partner("police"))
        .await
        .unwrap();
    assert_eq!(partners.list(&clerk).unwrap().len(), 1);

    // Share create: the permission, then the organization's feature.
    let new = NewShare {
        partner: "police".into(),
        to: vec!["user:someone".into()],
        ..Default::default()
    };
    let shares = n.node.shares();
    let err = shares.create(&clerk, "C-1", &new).unwrap_err();
    assert!(
        matches!(&err, ShareError::Case(e) if case_denied(e)),
        "{err:?}"
    );
    let feature = |on: bool| SettingsEdit {
        features: vec![("case_share_by_copy".into(), serde_json::Value::Bool(on))],
        ..Default::default()
    };
    n.node
        .admin()
        .edit_settings(&boss, &feature(false))
        .unwrap();
    let err = shares.create(&boss, "C-1", &new).unwrap_err();
    assert!(
        matches!(
            &err,
            ShareError::Case(casemesh_service::CaseError::Denied(
                casemesh_model::org::Denied::FeatureDisabled(_)
            ))
        ),
        "{err:?}"
    );
    n.node.admin().edit_settings(&boss, &feature(true)).unwrap();
    let share = shares.create(&boss, "C-1", &new).unwrap();
    let id = share.id;

    // A user who does not see the case does not see its shares: as if there were none.
    for err in [
        shares.get(&clerk, id).unwrap_err(),
        shares.stop(&clerk, id).unwrap_err(),
        shares
            .add_recipients(&clerk, id, &["user:x".into()], None)
            .unwrap_err(),
    ] {
        assert_eq!(err.disposition(), Disposition::NotFound, "{err:?}");
    }
    assert!(shares.of_case(&clerk, "C-1").is_err());

    // One who sees the case (an inside share) but lacks the share permissions may read the
    // share, not change it: stop, add recipients, approve are refused.
    let (inside, _) = n
        .node
        .access()
        .share(&boss, "C-1", &["user:clerk".into()], vec![], vec![], None)
        .unwrap();
    // Nor may they stop the inside share that gave them access.
    let err = n.node.access().stop(&clerk, inside.id).unwrap_err();
    assert!(
        matches!(&err, casemesh_service::AccessError::Case(e) if case_denied(e)),
        "{err:?}"
    );
    let err = casemesh_service::access::parse_share_id("not-a-share").unwrap_err();
    assert_eq!(err.disposition(), Disposition::NotFound, "{err:?}");
    assert_eq!(shares.get(&clerk, id).unwrap().share.id, share.id);
    assert_eq!(shares.of_case(&clerk, "C-1").unwrap().len(), 1);
    for err in [
        shares.stop(&clerk, id).unwrap_err(),
        shares
            .add_recipients(&clerk, id, &["user:x".into()], None)
            .unwrap_err(),
        shares.approve(&clerk, id).unwrap_err(),
        // Text that is not a share id answers as an unknown id does: approve checks the
        // permission first.
        shares.approve_id(&clerk, "not-a-share").unwrap_err(),
    ] {
        assert!(
            matches!(&err, ShareError::Case(e) if case_denied(e)),
            "{err:?}"
        );
    }
    let err = shares.approve_id(&boss, "not-a-share").unwrap_err();
    assert_eq!(err.disposition(), Disposition::NotFound, "{err:?}");
    assert_eq!(err.to_string(), "share \"not-a-share\" not found");
    let unknown = casemesh_model::ids::ShareId::random();
    let err = shares.get(&boss, unknown).unwrap_err();
    assert_eq!(err.to_string(), format!("share \"{unknown}\" not found"));
    let still = shares.get(&boss, id).unwrap().share;
    assert_ne!(
        still.status,
        casemesh_sharing::records::ShareStatus::Stopped
    );
    assert_eq!(still.recipients.len(), 1, "no recipient was added");

    // Download links: the link permission of the selection, named in the refusal.
    let links = n.node.links();
    let err = links
        .create(&clerk, NewLink::whole_case("C-1", PackageFormat::Zip))
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadLinkError::LinkDenied {
                needs: "case_share_links",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        links.list(&boss, "C-1").unwrap().1.is_empty(),
        "no link made"
    );
    let created = links
        .create(&boss, NewLink::whole_case("C-1", PackageFormat::Zip))
        .unwrap();
    let link = created.link.id;
    // Text that is not a link id answers as an unknown id does: revoke checks the permission
    // first.
    for err in [
        links.revoke(&clerk, link).unwrap_err(),
        links.revoke_id(&clerk, "not-a-link").unwrap_err(),
    ] {
        assert!(
            matches!(&err, DownloadLinkError::Case(e) if case_denied(e)),
            "{err:?}"
        );
    }
    let err = links.revoke_id(&boss, "not-a-link").unwrap_err();
    assert_eq!(err.disposition(), Disposition::NotFound, "{err:?}");
    assert_eq!(
        links.revoke_id(&boss, &link.to_string()).unwrap(),
        link,
        "a link id parses"
    );
    assert!(links.get(&boss, link).unwrap().0.revoked_at.is_none());
    let (revoked, _) = links.revoke(&boss, link).unwrap();
    assert!(revoked.revoked_at.is_some());
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_shares_answer_recipients_only_and_later_recipients_change_nothing() {
    use casemesh_service::{
        ApplyChoice, CaseError, Disposition, NewPartner, NewShare, OnwardShare, ReceivedError,
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let admin_a = init(dir_a.path(), "Metro PD");
    let admin_b = init(dir_b.path(), "County DA");
    let a = Running::start(dir_a.path()).await;
    let b = Running::start(dir_b.path()).await;
    let (boss_a, boss_b) = (a.admin(&admin_a), b.admin(&admin_b));
    let dana = add_user(&b, &admin_b, "dana", &[]);
    let carol = add_user(&b, &admin_b, "carol", &["case_edit"]);
    let erin = add_user(
        &b,
        &admin_b,
        "erin",
        &["case_edit", "case_share", "case_share_by_copy"],
    );
    let partner = |n: &Running, name: &str| NewPartner {
        name: name.to_owned(),
        peer_id: n.node.org().id.clone(),
        addrs: n.node.p2p_addrs().to_vec(),
        policy: None,
    };
    a.node
        .partners()
        .add(&boss_a, &partner(&b, "county-da"))
        .await
        .unwrap();
    b.node
        .partners()
        .add(&boss_b, &partner(&a, "metro-pd"))
        .await
        .unwrap();
    a.create_case(&admin_a, "R-1");
    a.add_evidence(&admin_a, "R-1", "scene.jpg", b"scene photo")
        .await;
    let new = NewShare {
        partner: "county-da".into(),
        to: vec!["user:dana".into()],
        ..Default::default()
    };
    let share = a.node.shares().create(&boss_a, "R-1", &new).unwrap();
    let id = share.id.to_string();
    let received = b.node.received();
    wait_for("the copy at the receiver", || {
        let s = received.show(&boss_b, &id).ok()?.share;
        (s.local_case.is_some() && s.items_imported == 1).then_some(())
    })
    .await;

    // Not a recipient, and not seeing the copy: the share does not exist for carol.
    assert!(received.list(&carol, None).unwrap().is_empty());
    let refused = [
        received.show(&carol, &id).unwrap_err(),
        received.updates(&carol, &id).unwrap_err(),
        received.meta(&carol, &id).unwrap_err(),
        received.import(&carol, &id).unwrap_err(),
        received
            .apply_updates(
                &carol,
                &id,
                &ApplyChoice {
                    all: true,
                    ..Default::default()
                },
            )
            .unwrap_err(),
        received.contents(&carol, &id).await.unwrap_err(),
    ];
    for err in refused {
        assert_eq!(err.disposition(), Disposition::NotFound, "{err:?}");
    }
    // dana, named by the sharer, sees it and may review; changing the copy needs case_edit.
    assert_eq!(received.list(&dana, None).unwrap().len(), 1);
    assert_eq!(received.show(&dana, &id).unwrap().share.id, share.id);
    received.updates(&dana, &id).unwrap();
    let err = received
        .apply_updates(
            &dana,
            &id,
            &ApplyChoice {
                all: true,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, ReceivedError::Case(CaseError::Denied(_))),
        "{err:?}"
    );
    let err = received
        .apply_updates(
            &boss_b,
            &id,
            &ApplyChoice {
                all: true,
                tab: Some("case".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, ReceivedError::Invalid(_)), "{err:?}");

    // erin is named later: she sees only what comes after, so what acts on the whole share
    // (apply, dismiss, review, metadata, onward sharing) refuses her as seeing part of it.
    a.node
        .shares()
        .add_recipients(&boss_a, share.id, &["user:erin".into()], None)
        .unwrap();
    wait_for("the receiver to resolve erin", || {
        let s = received.show(&boss_b, &id).ok()?.share;
        s.resolved_users.iter().any(|u| u == "erin").then_some(())
    })
    .await;
    received.show(&erin, &id).unwrap();
    let onward = OnwardShare {
        partner: "metro-pd".into(),
        to: vec!["user:x".into()],
        message: None,
    };
    let refused = [
        received
            .apply_updates(
                &erin,
                &id,
                &ApplyChoice {
                    all: true,
                    ..Default::default()
                },
            )
            .unwrap_err(),
        received
            .dismiss_updates(&erin, &id, &["case/title".into()])
            .unwrap_err(),
        received.updates(&erin, &id).unwrap_err(),
        received.meta(&erin, &id).unwrap_err(),
        received
            .edit_meta(&erin, &id, "case/title", "x")
            .unwrap_err(),
        received.share_onward(&erin, &id, &onward).unwrap_err(),
    ];
    for err in refused {
        assert!(
            matches!(err, ReceivedError::Case(CaseError::PartOnly)),
            "{err:?}"
        );
        assert_eq!(err.disposition(), Disposition::Refuse);
    }
    // The skipped-items list is not shown to a caller who sees part of the share.
    assert!(received.show(&erin, &id).unwrap().skipped.is_empty());
    a.stop().await;
    b.stop().await;
}

/// `show_listing` (the streamed case view, issue #11) names the same evidence in the same order
/// and the same folders as `show`, for the owner (whole case) and for a user who sees only the
/// items shared with them inside the organization.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_listing_shows_what_show_shows() {
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    let case = n.create_case(&admin, "C-9");
    let owner = n.admin(&admin);
    for f in ["Photos", "Photos/Scene", "Reports"] {
        n.node
            .cases()
            .change_folders(
                &owner,
                "C-9",
                &casemesh_service::FolderChange::Create { path: f.into() },
            )
            .unwrap();
    }
    for i in 0..12 {
        let bytes = format!("bytes {i}");
        let new = NewEvidence {
            case: "C-9".into(),
            name: format!("item-{i}.txt"),
            folder: (i % 4 != 0)
                .then(|| ["", "Photos", "Photos/Scene", "Reports"][i % 4].to_owned()),
            ..NewEvidence::default()
        };
        let chunks = vec![Ok::<_, std::io::Error>(Bytes::from(
            bytes.clone().into_bytes(),
        ))];
        n.node
            .evidence()
            .add(
                &owner,
                new,
                futures::stream::iter(chunks),
                Some(bytes.len() as u64),
            )
            .await
            .unwrap();
    }
    let (bob, _) = add_plain_user(&n, &admin, "bob");
    let ids: Vec<String> = n
        .node
        .cases()
        .show(&owner, "C-9")
        .unwrap()
        .evidence
        .iter()
        .step_by(3)
        .map(|e| e.id.to_string())
        .collect();
    n.node
        .access()
        .share(&owner, "C-9", &["bob".into()], vec![], ids.clone(), None)
        .unwrap();
    for (who, caller) in [("owner", &owner), ("bob", &bob)] {
        let detail = n.node.cases().show(caller, "C-9").unwrap();
        let listing = n.node.cases().show_listing(caller, "C-9").unwrap();
        let streamed: Vec<_> = listing.items().map(|e| e.unwrap()).collect();
        assert_eq!(
            streamed, detail.evidence,
            "{who}: the same items in the same order"
        );
        assert_eq!(listing.order.len(), detail.evidence.len());
        assert_eq!(
            listing.case.folders, detail.case.folders,
            "{who}: the same folders"
        );
        assert_eq!(listing.owner, detail.owner);
    }
    assert_eq!(
        n.node
            .cases()
            .show_listing(&bob, "C-9")
            .unwrap()
            .order
            .len(),
        ids.len(),
        "bob sees only what was shared with him"
    );
    let _ = case;
    n.stop().await;
}

/// A display id set by hand (add or edit) that another item of the case has is refused with a
/// conflict and changes nothing (the newcomer's finding: `evidence edit --display-id EV-0003`
/// made two items EV-0003, after which neither could be named by it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_id_already_taken_is_refused() {
    use casemesh_service::{EvidenceEdit, EvidenceError};
    use casemesh_store::StoreError;
    let dir = tempfile::tempdir().unwrap();
    let admin = init(dir.path(), "Prosecutor");
    let n = Running::start(dir.path()).await;
    n.create_case(&admin, "C-7");
    n.add_evidence(&admin, "C-7", "a.txt", b"first").await;
    n.add_evidence(&admin, "C-7", "b.txt", b"second").await;
    let owner = n.admin(&admin);
    let ev = n.node.evidence();
    let edit = |d: &str| EvidenceEdit {
        display_id: Some(d.to_owned()),
        ..EvidenceEdit::default()
    };
    let err = ev
        .edit(&owner, "C-7", "EV-0002", &edit("EV-0001"))
        .unwrap_err();
    assert!(
        matches!(err, EvidenceError::Store(StoreError::Conflict(_))),
        "{err:?}"
    );
    // Nothing changed: both still answer to their own display ids.
    assert_eq!(ev.show(&owner, "C-7", "EV-0001").unwrap().0.name, "a.txt");
    assert_eq!(ev.show(&owner, "C-7", "EV-0002").unwrap().0.name, "b.txt");
    // Its own display id, or a free one, is fine.
    ev.edit(&owner, "C-7", "EV-0002", &edit("EV-0002")).unwrap();
    ev.edit(&owner, "C-7", "EV-0002", &edit("EXHIBIT-B"))
        .unwrap();
    // Adding with a taken display id is refused before any byte is stored.
    let new = NewEvidence {
        case: "C-7".into(),
        name: "c.txt".into(),
        display_id: Some("EV-0001".into()),
        ..NewEvidence::default()
    };
    let chunks = vec![Ok::<_, std::io::Error>(Bytes::from_static(b"third"))];
    let err = ev
        .add(&owner, new, futures::stream::iter(chunks), Some(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EvidenceError::Store(StoreError::Conflict(_))),
        "{err:?}"
    );
    assert_eq!(n.node.admin().blob_stats().unwrap().0, 2, "no third blob");
    n.stop().await;
}
