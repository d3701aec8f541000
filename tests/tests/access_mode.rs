//! Access in place for partners (issue #12 item 3), between real node processes: a partner share
//! in access mode makes no copy; the partner's user lists and downloads items through the
//! partner's node (fetched on demand under the grant), the sharer's audit trail names the
//! partner organization and user, a stop ends access at once, and a policy without `download`
//! is refused by both nodes.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::ids::{BlobHash, EvidenceId};
use casemesh_net::{NetError, Partner, PeerId, RefusalCode};
use casemesh_tests::{
    CaseSummary, CaseView, ReceivedContentsView, ReceivedView, TestNode, access_share,
    add_random_evidence, add_user, assert_http_status, audit_trail, create_case, hash_file,
    in_folder, node_identity, partner, received_view, s, wait_until,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A's case with two items (one in `Shared`); returns (case, [(evidence id, hash, path)]).
fn case_with_items(a: &TestNode, dir: &std::path::Path) -> (String, Vec<(EvidenceId, BlobHash)>) {
    let case = create_case(a, "AM-1");
    a.cli_ok(["folder", "create", &case, "Shared"]);
    let mut items = Vec::new();
    for (name, folder, size) in [("one.bin", "Shared", 70_000u64), ("two.bin", "", 3_000)] {
        let path = dir.join(name);
        let ev = add_random_evidence(a, &case, &path, size, size, &in_folder(folder));
        items.push((ev.id, hash_file(&path)));
    }
    (case, items)
}

#[test]
fn a_partner_user_lists_and_downloads_in_place_and_a_stop_ends_it() {
    let work = tempfile::tempdir().unwrap();
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let dana = add_user(&b, "dana", "dana", &[]);
    let (case, items) = case_with_items(&a, work.path());
    let share = access_share(&a, &b, &dana, &case);

    // Listed as an access share, not a copy one; nothing imported (auto-import is on).
    let copies: Vec<ReceivedView> = b.cli_typed_as(&dana, ["received", "list", "--mode", "copy"]);
    assert!(copies.is_empty(), "{copies:?}");
    let shown: ReceivedView = b.cli_typed_as(&dana, ["received", "show", &share]);
    assert_eq!(shown.status, "Access", "{shown:?}");
    assert_eq!(shown.access_level, "access", "{shown:?}");

    // The user lists the sharer's folders and items.
    let view: ReceivedContentsView = b.cli_typed_as(&dana, ["received", "view", &share]);
    assert_eq!(view.folders, ["Shared"], "{view:?}");
    let listed = &view.evidence;
    assert_eq!(listed.len(), 2, "{view:?}");
    for (id, hash) in &items {
        let e = listed.iter().find(|e| e.id == *id).unwrap();
        assert_eq!(e.hash, *hash, "{e:?}");
    }
    let one = listed.iter().find(|e| e.name == "one.bin").unwrap();
    assert_eq!(one.folder.as_deref(), Some("Shared"));

    // … and downloads one, byte-identical.
    let (ev, hash) = &items[0];
    let ev = &ev.to_string();
    let out = work.path().join("got.bin");
    b.cli_json_as(&dana, ["received", "get", &share, ev, "-o", s(&out)]);
    assert_eq!(&hash_file(&out), hash);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(work.path().join("one.bin")).unwrap()
    );
    // An existing FILE needs --force.
    let (err, code) = b.cli_fail_as(&dana, ["received", "get", &share, ev, "-o", s(&out)]);
    assert_ne!(code, 0);
    assert!(err.contains("--force"), "{err}");
    b.cli_json_as(
        &dana,
        [
            "received",
            "get",
            &share,
            "two.bin",
            "-o",
            s(&out),
            "--force",
        ],
    );
    assert_eq!(&hash_file(&out), &items[1].1);

    // The sharer's audit trail names the partner organization and user.
    wait_until("A audits dana's download", LIMIT, || {
        audit_trail(&a, &case)
            .entries
            .iter()
            .any(|e| {
                e.action == "evidence.download"
                    && e.actor == "org:county-da"
                    && e.evidence.is_some_and(|id| id.to_string() == *ev)
                    && e.details.contains("\"dana\"")
            })
            .then_some(())
    });
    assert!(
        audit_trail(&a, &case)
            .entries
            .iter()
            .any(|e| e.action == "case.view" && e.details.contains("\"dana\"")),
        "the view is audited too"
    );

    // No copy exists on the receiver: no case, no imported item, no stored blob.
    let shown = received_view(&b, &share);
    assert!(shown.local_case.is_none(), "{shown:?}");
    assert_eq!(shown.items_imported, 0);
    assert!(
        b.cli_typed::<Vec<CaseSummary>, _, _>(["case", "list", "--external"])
            .is_empty()
    );
    for (_, hash) in &items {
        assert!(!b.blob_path(hash).exists(), "B stored {hash}");
    }

    // Stop: the next get is refused.
    a.cli_json(["share", "stop", &share, "--yes"]);
    wait_until("B takes in the stop", LIMIT, || {
        (received_view(&b, &share).status == "Stopped").then_some(())
    });
    let again = work.path().join("again.bin");
    let (err, code) = b.cli_fail_as(&dana, ["received", "get", &share, ev, "-o", s(&again)]);
    assert_ne!(code, 0);
    assert_http_status(&err, 403);
    assert!(!again.exists());
    let (err, _) = b.cli_fail_as(&dana, ["received", "view", &share]);
    assert_http_status(&err, 403);
}

/// Issue #12 item 3: "An Import action makes the receiver's own copy when the policy allows it
/// (and is the same path as auto-import for copy shares)"; without `import` it is refused.
#[test]
fn import_of_an_access_share_makes_a_copy_only_when_the_policy_allows_it() {
    let work = tempfile::tempdir().unwrap();
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let dana = add_user(&b, "dana", "dana", &[]);
    let (case, items) = case_with_items(&a, work.path());

    // A policy without import: the receiver refuses the Import and makes nothing.
    casemesh_tests::give_partner_policy(&a, "county-da", "Look", &["view", "download"]);
    let refused = access_share(&a, &b, &dana, &case);
    let (err, code) = b.cli_fail(["received", "import", &refused]);
    assert_ne!(code, 0);
    assert_http_status(&err, 403);
    assert!(err.contains("import"), "{err}");
    assert!(received_view(&b, &refused).local_case.is_none());

    // With import allowed, Import makes the receiver's own copy with every item, verified.
    casemesh_tests::give_partner_policy(&a, "county-da", "Work", &["view", "download", "import"]);
    let case2 = create_case(&a, "AM-2");
    let path = work.path().join("three.bin");
    add_random_evidence(&a, &case2, &path, 5_000, 5, &[]);
    let allowed = access_share(&a, &b, &dana, &case2);
    b.cli_json(["received", "import", &allowed]);
    let copy = wait_until("the access share is imported", LIMIT, || {
        let d = received_view(&b, &allowed);
        (d.items_imported == 1).then(|| d.local_case.unwrap())
    });
    let shown: CaseView = b.cli_typed_as(&dana, ["case", "show", &copy.to_string()]);
    let evidence = &shown.evidence;
    assert_eq!(evidence.len(), 1, "{shown:?}");
    assert_eq!(evidence[0].hash, hash_file(&path));
    assert!(b.blob_path(&hash_file(&path)).exists());
    // The first share's items never reached B's blob store.
    for (_, hash) in &items {
        assert!(!b.blob_path(hash).exists(), "B stored {hash}");
    }
}

#[test]
fn without_download_view_works_and_both_nodes_refuse_the_bytes() {
    let work = tempfile::tempdir().unwrap();
    let a = TestNode::start("metro-pd");
    let mut b = TestNode::start("county-da");
    partner(&a, &b);
    casemesh_tests::give_partner_policy(&a, "county-da", "Look", &["view"]);
    let dana = add_user(&b, "dana", "dana", &[]);
    let (case, items) = case_with_items(&a, work.path());
    let share = access_share(&a, &b, &dana, &case);

    let view: ReceivedContentsView = b.cli_typed_as(&dana, ["received", "view", &share]);
    assert_eq!(view.evidence.len(), 2, "{view:?}");
    let out = work.path().join("got.bin");
    let (err, code) = b.cli_fail_as(
        &dana,
        [
            "received",
            "get",
            &share,
            &items[0].0.to_string(),
            "-o",
            s(&out),
        ],
    );
    assert_ne!(code, 0);
    assert_http_status(&err, 403);
    assert!(err.contains("download"), "{err}");
    assert!(!out.exists());

    // The sharer refuses too: B's identity presents the grant directly, as a modified node
    // that skipped its own check would.
    let grant = hex::decode(received_view(&b, &share).grant).unwrap();
    let (a_peer, a_addr) = node_identity(&a);
    b.stop();
    let key: [u8; 32] = std::fs::read(b.data_dir().join("identity.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let hash: BlobHash = items[0].1;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let config = casemesh_net::Config::new(key, dir.path().join("partial"))
            .with_listen_addrs(vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]);
        let (net, mut events) = casemesh_net::start(config, std::sync::Arc::new(NoBlobs))
            .await
            .unwrap();
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let target: PeerId = a_peer.parse().unwrap();
        net.add_partner(Partner {
            peer_id: target,
            addrs: vec![a_addr.parse().unwrap()],
            name: "metro-pd".into(),
        })
        .await
        .unwrap();
        let mut last = None;
        for _ in 0..50 {
            match net.fetch_blob(target, grant.clone(), hash, None).await {
                Err(NetError::Refused { refusal, .. }) => return Some(refusal),
                Ok(_) => return None,
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("could not reach A: {last:?}");
    });
    let refusal = refused.expect("A served the bytes under a view-only policy");
    assert_eq!(refusal.code, RefusalCode::Forbidden, "{refusal:?}");
    assert!(refusal.reason.contains("download"), "{refusal:?}");
}

/// Serves nothing (the raw node only fetches).
struct NoBlobs;

impl casemesh_net::BlobServer for NoBlobs {
    fn open(
        &self,
        _: &PeerId,
        _: &[u8],
        _: &BlobHash,
    ) -> Result<casemesh_net::BlobSource, casemesh_net::Refusal> {
        Err(casemesh_net::Refusal::forbidden("nothing is served here"))
    }
}
