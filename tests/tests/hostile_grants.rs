//! Forged onward grants from a registered partner (issue #13: "a child grant wider than its
//! parent, or beyond the depth limit, is refused by C"). A receives a case from nobody: A shares
//! a folder of a case with B under a policy that allows onward sharing; then B's identity key is
//! used by a hostile transport-only node (`casemesh_tests::hostile`) to offer C child grants that
//! B's own node would never sign: a wider scope, a wider policy, a chain longer than the limit,
//! and a child of someone else's grant. C refuses each with the reason and keeps nothing.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::grant::{Grant, Recipient, Scope, SignedGrant, org_id_from_public_key};
use casemesh_model::ids::{CaseId, OrgId, ShareId};
use casemesh_model::policy::PolicyAction;
use casemesh_model::time::Timestamp;
use casemesh_net::ControlStatus;
use casemesh_sharing::wire::{ItemList, ManifestHead, Offer};
use casemesh_tests::hostile::HostilePartner;
use casemesh_tests::{
    ShareView, TestNode, add_random_evidence, create_case, node_identity, partner, received_list,
    received_view, share_case, wait_share_complete, wait_until,
};
use ed25519_dalek::SigningKey;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    )
}

/// A child of `parent` issued by `key` to `audience`, as B's node would sign it (then altered).
fn child(parent: &SignedGrant, key: &SigningKey, audience: &str) -> Grant {
    let p = &parent.grant;
    Grant {
        id: ShareId::random(),
        version: 1,
        issuer: org_id_from_public_key(&key.verifying_key().to_bytes()),
        issuer_key: key.verifying_key().to_bytes(),
        audience: OrgId(audience.to_owned()),
        recipients: vec![Recipient::User("admin".into())],
        source_case: p.source_case,
        scope: p.scope.clone(),
        mode: p.mode,
        policy: p.policy.clone(),
        issued_at: now(),
        expires_at: p.expires_at,
        message: None,
        parent: Some(Box::new(parent.clone())),
    }
}

fn offer(grant: &SignedGrant, source_case: CaseId) -> Vec<u8> {
    let offer = Offer {
        grant: hex::encode(grant.to_bytes()),
        head: ManifestHead {
            share: grant.grant.id,
            source_case,
            case_number: "FORGED-1".into(),
            title: "forged".into(),
            description: String::new(),
            folders: vec![],
            items: 0,
            made_at: now(),
        },
        items: ItemList::Inline(vec![]),
        sharer_name: "county-da".into(),
        meta_doc: None,
    };
    serde_json::to_vec(&offer).unwrap()
}

fn rejected(status: &ControlStatus, why: &str) {
    match status {
        ControlStatus::Rejected(reason) => {
            assert!(
                reason.contains(why),
                "refused, but for {reason:?} (expected {why:?})"
            );
        }
        other => panic!("the forged grant was not refused: {other:?}"),
    }
}

#[test]
fn forged_child_grants_are_refused_by_the_next_organization() {
    let a = TestNode::start("metro-pd");
    let mut b = TestNode::start("county-da");
    let c = TestNode::start("state-lab");
    partner(&a, &b);
    partner(&b, &c);
    casemesh_tests::give_partner_policy(
        &a,
        "county-da",
        "Onward",
        &["view", "import", "share_onward", "share_onward_external"],
    );
    let case = create_case(&a, "FORGE-1");
    a.cli_ok(["folder", "create", &case, "Shared"]);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("photo.jpg");
    add_random_evidence(&a, &case, &file, 3000, 5, &["--folder", "Shared"]);
    let share: ShareView = share_case(&a, &case, "county-da", &["--folder", "Shared"]);
    let share = share.id;
    wait_share_complete(&a, &share.to_string(), LIMIT);
    let received = wait_until("B's copy", LIMIT, || {
        let v = received_view(&b, &share.to_string());
        (!v.grant.is_empty()).then_some(v)
    });
    let parent = SignedGrant::from_bytes(&hex::decode(&received.grant).unwrap()).unwrap();
    let source_case = parent.grant.source_case;
    let b_key = SigningKey::from_bytes(
        &std::fs::read(b.data_dir().join("identity.key"))
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let (c_peer, c_addr) = node_identity(&c);
    b.stop();
    let hostile = HostilePartner::start(b.data_dir(), &c_peer, &c_addr);

    // 1. A wider scope than the parent's (the whole case instead of one folder).
    let mut wide = child(&parent, &b_key, &c_peer);
    wide.scope = Scope::EntireCase;
    let status = hostile.send(
        "grant.offer/2",
        offer(&SignedGrant::sign(wide, &b_key), source_case),
    );
    rejected(&status, "widens the parent's scope");

    // 2. A wider policy than the parent's (an action A never allowed).
    let mut wider = child(&parent, &b_key, &c_peer);
    wider.policy.allowed.insert(PolicyAction::ApplyCaseUpdates);
    let status = hostile.send(
        "grant.offer/2",
        offer(&SignedGrant::sign(wider, &b_key), source_case),
    );
    rejected(&status, "widens the parent's policy");

    // 3. A chain longer than the limit: eight self-made links between A's grant and C.
    let mut chain = parent.clone();
    let mut issuer = b_key.clone();
    for n in 0..8u8 {
        let next = SigningKey::from_bytes(&[n + 1; 32]);
        let audience = org_id_from_public_key(&next.verifying_key().to_bytes()).0;
        chain = SignedGrant::sign(child(&chain, &issuer, &audience), &issuer);
        issuer = next;
    }
    let last = SignedGrant::sign(child(&chain, &issuer, &c_peer), &issuer);
    let status = hostile.send("grant.offer/2", offer(&last, source_case));
    assert!(
        matches!(&status, ControlStatus::Rejected(_)),
        "a chain of {} grants was not refused: {status:?}",
        last.depth()
    );

    // 4. A child of a root that claims to be A's but was signed with B's key (A's grant to B
    //    widened to the whole case, then "re-signed").
    let mut fake = parent.grant.clone();
    fake.scope = Scope::EntireCase;
    let signature = ed25519_dalek::Signer::sign(&b_key, &fake.canonical_bytes()).to_bytes();
    let fake_root = SignedGrant {
        grant: fake,
        signature,
    };
    let status = hostile.send(
        "grant.offer/2",
        offer(
            &SignedGrant::sign(child(&fake_root, &b_key, &c_peer), &b_key),
            source_case,
        ),
    );
    rejected(&status, "parent grant invalid");

    // C kept nothing of any of them.
    assert!(received_list(&c).is_empty(), "C kept a forged share");
    drop(hostile);
}

/// A control message of a kind the node does not handle — a newer partner's, or one retired
/// (docs/protocol.md, "Message kinds") — is answered `UnknownKind`, so the sender's outbox
/// files it as such; a known kind with a malformed payload is `Rejected` with the reason.
/// Before, both were `Rejected` ("unsupported message kind"), and `UnknownKind` was never sent.
#[test]
fn an_unknown_kind_is_answered_unknown_kind_and_a_malformed_payload_rejected() {
    let a = TestNode::start("metro-pd");
    let mut b = TestNode::start("county-da");
    partner(&a, &b);
    let (a_peer, a_addr) = node_identity(&a);
    b.stop();
    let hostile = HostilePartner::start(b.data_dir(), &a_peer, &a_addr);
    for kind in ["case.future/1", "grant.offer/1", "grant.offer/9"] {
        assert_eq!(
            hostile.send(kind, b"{}".to_vec()),
            ControlStatus::UnknownKind,
            "{kind}"
        );
    }
    match hostile.send("grant.revoke/1", b"{".to_vec()) {
        ControlStatus::Rejected(reason) => assert!(reason.contains("malformed"), "{reason}"),
        other => panic!("a malformed payload was answered {other:?}"),
    }
    assert!(
        a.log().contains("answered UnknownKind"),
        "A says in its log what it did"
    );
}
