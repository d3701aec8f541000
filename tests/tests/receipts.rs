//! Signed custody statements between real nodes (issue #13, item 3): the receiving node signs a
//! holding receipt naming the BLAKE3 root of every item it holds, the sharer checks it against
//! what it sent and shows it, and a stop is answered by a signed acknowledgement. The statements
//! are checked here the way a court would: decoded from their wire form and verified against the
//! partner's key, with no node involved.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::custody::{HoldingReceipt, RootsDigest, Signed, StopAck};
use casemesh_model::ids::{BlobHash, EvidenceId};
use casemesh_model::timeline::Proof;
use casemesh_tests::{
    EvidenceView, ReceivedView, ShareView, TestNode, add_random_evidence, create_case,
    custody_events, in_folder, partner, share_case, share_view, signed_by, wait_share_complete,
    wait_until,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn add(
    node: &TestNode,
    case: &str,
    dir: &std::path::Path,
    name: &str,
    folder: &str,
) -> EvidenceView {
    let (size, seed) = (3000 + name.len() as u64 * 101, name.len() as u64);
    add_random_evidence(node, case, &dir.join(name), size, seed, &in_folder(folder))
}

#[test]
fn the_receiver_signs_for_exactly_the_roots_sent_and_acknowledges_the_stop() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "CUST-1");
    a.cli_ok(["folder", "create", &case, "Shared"]);
    let mut sent: Vec<(EvidenceId, BlobHash)> = ["one.jpg", "second.pdf"]
        .iter()
        .map(|n| {
            let ev = add(&a, &case, work.path(), n, "Shared");
            (ev.id, ev.hash)
        })
        .collect();
    // Not in the shared folder: it never leaves, so no receipt may name it.
    add(&a, &case, work.path(), "elsewhere.mp4", "");

    let share: ShareView = share_case(&a, &case, "county-da", &["--folder", "Shared"]);
    let share_id = share.id;
    wait_share_complete(&a, &share_id.to_string(), LIMIT);
    let receipt = wait_until("a signed receipt", LIMIT, || {
        share_view(&a, &share_id.to_string()).receipt
    });
    assert_eq!(receipt.signed_by.as_str(), b.org_id(), "{receipt:?}");
    assert!(receipt.matches_sent, "{receipt:?}");
    assert_eq!(receipt.items, 2);

    // The roots listed are exactly those sent, in ascending evidence-id order.
    sent.sort_by_key(|(id, _)| id.0.into_bytes());
    let evidence = receipt
        .evidence
        .clone()
        .expect("the status lists the evidence");
    let roots = receipt.roots.clone().expect("the status lists the roots");
    assert_eq!(evidence, sent.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    assert_eq!(roots, sent.iter().map(|(_, h)| *h).collect::<Vec<_>>());

    // Offline: the wire form verifies against the receiver's key and signs those roots.
    let wire = hex::decode(&receipt.wire).unwrap();
    let signed = Signed::<HoldingReceipt>::from_bytes(&wire).unwrap();
    signed.verify().expect("the receipt's signature verifies");
    assert_eq!(signed.statement.holder.as_str(), b.org_id());
    assert_eq!(signed.statement.share, share_id);
    let mut digest = RootsDigest::new();
    for (id, root) in evidence.iter().zip(&roots) {
        digest.push(*id, root).unwrap();
    }
    assert_eq!(digest.finish(), signed.statement.roots);
    assert_eq!(hex::encode(signed.statement.roots), receipt.digest);
    // The audit trail of the case records it.
    let audit = a.cli_ok(["audit", "show", &case]);
    assert!(audit.contains("share.receipt"), "{audit}");
    // The text view says it.
    let text = a.cli_ok(["share", "status", &share_id.to_string()]);
    assert!(text.contains("exactly the items sent"), "{text}");

    // Stop sharing: the partner signs that it took the stop in.
    a.cli_ok(["share", "stop", &share_id.to_string(), "--yes"]);
    let ack = wait_until("a signed stop acknowledgement", LIMIT, || {
        share_view(&a, &share_id.to_string()).stop_ack
    });
    assert_eq!(ack.signed_by.as_str(), b.org_id());
    let wire = hex::decode(&ack.wire).unwrap();
    let signed = Signed::<StopAck>::from_bytes(&wire).unwrap();
    signed
        .verify()
        .expect("the stop acknowledgement's signature verifies");
    assert_eq!(signed.statement.share, share_id);
    // A receipt's bytes never pass as a stop acknowledgement, nor the other way round.
    assert!(Signed::<HoldingReceipt>::from_bytes(&wire).is_err());
    let audit = a.cli_ok(["audit", "show", &case]);
    assert!(audit.contains("share.stop.ack"), "{audit}");

    // The custody timeline: the sharer's events, with the partner's signed statements as proof.
    let events = custody_events(&a, &case);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "ingest", "share", "serve", "receipt", "complete", "stop", "stop_ack",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let ingest = events.iter().find(|e| e.kind == "ingest").unwrap();
    assert_eq!(ingest.org, "metro-pd");
    assert!(ingest.user.is_some(), "{ingest:?}");
    assert!(matches!(ingest.proof, Proof::Audit { .. }), "{ingest:?}");
    for kind in ["receipt", "stop_ack"] {
        let e = events.iter().rev().find(|e| e.kind == kind).unwrap();
        assert_eq!(e.org, "county-da", "{e:?}");
        assert_eq!(signed_by(e), Some(b.org_id()), "{e:?}");
    }
    // The receiver's copy opens with the sharer's signed grant, then its import.
    let copy = wait_until("the copy", LIMIT, || {
        let list: Vec<ReceivedView> = b.cli_typed(["received", "list"]);
        list.into_iter().next()?.local_case
    });
    let events = custody_events(&b, &copy.to_string());
    let received = events.iter().find(|e| e.kind == "received").unwrap();
    assert_eq!(received.org, "metro-pd");
    assert_eq!(signed_by(received), Some(a.org_id()));
    assert!(events.iter().any(|e| e.kind == "import"), "{events:?}");

    // The export is JSON-LD in the CASE/UCO ontology: a real JSON-LD parser reads it, one
    // investigative action per event.
    let out = work.path().join("custody.jsonld");
    a.cli_ok(["custody", "export", &case, "-o", out.to_str().unwrap()]);
    let (msg, code) = a.cli_fail(["custody", "export", &case, "-o", out.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(msg.contains("--force"), "{msg}");
    let count = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, rdflib\n\
             g = rdflib.Graph().parse(sys.argv[1], format='json-ld')\n\
             A = rdflib.URIRef('https://ontology.caseontology.org/case/investigation/InvestigativeAction')\n\
             print(len(set(g.subjects(rdflib.RDF.type, A))))",
            out.to_str().unwrap(),
        ])
        .output()
        .expect("python3 runs (scripts/test installs python3-rdflib)");
    assert!(
        count.status.success(),
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    let actions: usize = String::from_utf8_lossy(&count.stdout)
        .trim()
        .parse()
        .unwrap();
    // Reading the timeline is itself audited but is no custody event: the counts agree.
    assert_eq!(actions, custody_events(&a, &case).len());
}
