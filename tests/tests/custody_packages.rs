//! Packages a court can check offline: deterministic bytes, a signed audit chain, and a verifier
//! that says whom it checked the signature against.
//!
//! - `issue13_two_links_of_an_unchanged_case_give_identical_packages`: ZIP and ISO with every
//!   attachment, built twice with reads in between, are byte-identical and dated by the case's
//!   last change; a change gives a new package.
//! - `issue13_an_edited_audit_trail_fails_verify_naming_the_entry`: an entry edited inside an
//!   extracted ZIP, re-zipped: `verify` fails and names the entry.
//! - `issue16_verify_pins_the_signer_and_refuses_a_package_re_signed_in_another_name`: unpinned
//!   fails unless `--allow-unpinned`; `--data-dir` pins against the node itself and its partners;
//!   a file swapped, the manifest re-hashed and re-signed with a fresh key still naming the
//!   original organization fails every way it is verified.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    TestNode, add_partner, add_random_evidence, audit_trail, create_case, in_folder, link_package,
    output_text as text, run_ok, s, unzip_to, verify_package, verify_report,
};
use ed25519_dalek::Signer as _;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;

/// A node with a case: two items in folders, one with a transcript. Returns (node, work dir,
/// case record id).
fn fixture(name: &str) -> (TestNode, tempfile::TempDir, String) {
    let node = TestNode::start(name);
    let case = create_case(&node, "2026-CR-0013");
    node.cli_ok(["folder", "create", &case, "Interviews"]);
    let work = tempfile::tempdir().unwrap();
    for (i, (file, folder)) in [("clip.mp4", "Interviews"), ("photo.jpg", "")]
        .into_iter()
        .enumerate()
    {
        let path = work.path().join(file);
        let (size, seed) = (150_000 + i as u64, 1300 + i as u64);
        add_random_evidence(&node, &case, &path, size, seed, &in_folder(folder));
    }
    let transcript = work.path().join("transcript.txt");
    fs::write(&transcript, "Q: Where were you?\nA: At home.\n").unwrap();
    node.cli_json([
        "evidence",
        "transcript",
        "add",
        &case,
        "EV-0001",
        s(&transcript),
    ]);
    (node, work, case)
}

/// Zip the contents of `dir` into `out` (the way a person re-packs an extracted package).
fn rezip(dir: &Path, out: &Path) {
    let mut c = Command::new("zip");
    c.current_dir(dir).args(["-q", "-X", "-r", s(out), "."]);
    run_ok(c);
}

#[test]
fn issue13_two_links_of_an_unchanged_case_give_identical_packages() {
    let (node, work, case) = fixture("custody-det");
    let org = node.org_id().to_owned();
    for format in ["zip", "iso"] {
        let args = [
            "--format",
            format,
            "--keep-folders",
            "--audit-trail",
            "--transcripts",
            "--toc",
        ];
        let first = work.path().join(format!("first.{format}"));
        link_package(&node, &case, &args, &first);
        // Reads between the two links (views, the audit trail, an item's bytes) leave the case as
        // it was; so do the links themselves and their downloads.
        node.cli_ok(["case", "show", &case]);
        audit_trail(&node, &case);
        let copy = work.path().join(format!("copy-{format}"));
        node.cli_ok(["evidence", "get", &case, "EV-0002", "-o", s(&copy)]);
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        let second = work.path().join(format!("second.{format}"));
        link_package(&node, &case, &args, &second);
        assert!(
            fs::read(&first).unwrap() == fs::read(&second).unwrap(),
            "{format}: two links of an unchanged case differ"
        );
        let (out, report) = verify_report(&["--org-key", &org, s(&second)]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(report.audit.as_ref().unwrap().ok, "{report:#?}");
        // Dated by the case's last change (the transcript), not by the link.
        let last_change = audit_trail(&node, &case)
            .entries
            .iter()
            .rfind(|e| e.action == "transcript.add")
            .unwrap()
            .time;
        assert_eq!(report.created_at_ms, last_change.0, "{report:#?}");
    }
    // A change to the case gives a new package.
    let before = fs::read(work.path().join("first.zip")).unwrap();
    node.cli_json(["case", "edit", &case, "--title", "State v. Doe (amended)"]);
    let after = work.path().join("after.zip");
    link_package(
        &node,
        &case,
        &[
            "--format",
            "zip",
            "--keep-folders",
            "--audit-trail",
            "--transcripts",
            "--toc",
        ],
        &after,
    );
    assert!(
        before != fs::read(&after).unwrap(),
        "a changed case must give other bytes"
    );
}

#[test]
fn issue13_an_edited_audit_trail_fails_verify_naming_the_entry() {
    let (node, work, case) = fixture("custody-audit");
    let org = node.org_id().to_owned();
    let pkg = work.path().join("case.zip");
    link_package(&node, &case, &["--format", "zip", "--audit-trail"], &pkg);
    let (ok, report) = verify_report(&["--org-key", &org, s(&pkg)]);
    assert!(ok.status.success(), "{}", text(&ok));
    let audit = report.audit.unwrap();
    assert!(audit.ok, "{audit:#?}");
    assert_eq!(audit.signed_by, org);
    assert!(audit.entries >= 5, "{audit:#?}");

    // Extract, rewrite who added an item, re-zip.
    let x = work.path().join("x");
    unzip_to(&pkg, &x);
    let path = x.join("Audit trail/Case audit trail.json");
    let mut trail: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let entry = trail["entries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["action"] == "evidence.add")
        .unwrap();
    let seq = entry["seq"].as_u64().unwrap();
    entry["actor"] = "someone-else".into();
    fs::write(&path, serde_json::to_vec_pretty(&trail).unwrap()).unwrap();
    let edited = work.path().join("edited.zip");
    rezip(&x, &edited);

    let out = verify_package(&["--org-key", &org, s(&edited)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains(&format!("entry {seq} was altered")), "{all}");
    let (_, report) = verify_report(&["--org-key", &org, s(&edited)]);
    assert!(!report.ok);
    let audit = report.audit.unwrap();
    assert!(!audit.ok);
    assert!(
        audit
            .problem
            .as_deref()
            .unwrap()
            .contains(&format!("entry {seq}")),
        "{audit:#?}"
    );
}

#[test]
fn issue16_verify_pins_the_signer_and_refuses_a_package_re_signed_in_another_name() {
    let (node, work, case) = fixture("custody-pin");
    let partner = TestNode::start("custody-pin-partner");
    add_partner(&partner, &node);
    let org = node.org_id().to_owned();
    let pkg = work.path().join("case.zip");
    link_package(&node, &case, &["--format", "zip", "--keep-folders"], &pkg);

    // The genuine package: a valid signature by an unknown key is not enough by default.
    let out = verify_package(&[s(&pkg)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not pinned"), "{}", text(&out));
    let (_, report) = verify_report(&[s(&pkg)]);
    assert!(!report.signer_pinned);
    assert!(report.signature_valid);
    assert!(!report.ok);
    let out = verify_package(&["--allow-unpinned", s(&pkg)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("UNPINNED"), "{}", text(&out));
    // Pinned by a data directory: the node's own key, and a partner's registered one.
    for (dir, who) in [
        (node.data_dir(), "this node"),
        (partner.data_dir(), "registered partner"),
    ] {
        let (out, report) = verify_report(&["--data-dir", s(dir), s(&pkg)]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(report.signer_pinned);
        assert!(
            report.pinned_as.as_deref().unwrap().contains(who),
            "{report:#?}"
        );
    }

    // Swap a file, re-hash it in the manifest, re-sign with a fresh key, keep the signer.
    let x = work.path().join("x");
    unzip_to(&pkg, &x);
    let swapped = b"not the evidence that was packaged".to_vec();
    fs::write(x.join("Evidence/Interviews/clip.mp4"), &swapped).unwrap();
    let mut manifest: Value =
        serde_json::from_slice(&fs::read(x.join("manifest.json")).unwrap()).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == "Evidence/Interviews/clip.mp4" {
            f["size"] = swapped.len().into();
            f["blake3"] = blake3::hash(&swapped).to_hex().to_string().into();
        }
    }
    let fresh = ed25519_dalek::SigningKey::from_bytes(&[0x5a; 32]);
    manifest["public_key"] = hex::encode(fresh.verifying_key().to_bytes()).into();
    assert_eq!(manifest["signer"], org.as_str());
    let mut bytes = serde_json::to_vec(&manifest).unwrap();
    bytes.push(b'\n');
    let mut message = b"casemesh-package-manifest-v1\n".to_vec();
    message.extend_from_slice(&bytes);
    let signature = format!("{}\n", hex::encode(fresh.sign(&message).to_bytes()));
    fs::write(x.join("manifest.json"), &bytes).unwrap();
    fs::write(x.join("manifest.sig"), signature).unwrap();
    let forged = work.path().join("forged.zip");
    rezip(&x, &forged);

    let node_dir = s(node.data_dir()).to_owned();
    for args in [
        vec![],
        vec!["--allow-unpinned"],
        vec!["--org-key", org.as_str()],
        vec!["--data-dir", node_dir.as_str()],
    ] {
        let mut all = args.clone();
        all.push(s(&forged));
        let out = verify_package(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("but was signed with the key of"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let (_, report) = verify_report(&["--allow-unpinned", s(&forged)]);
    assert!(report.signature_valid, "{report:#?}");
    assert!(!report.signer_matches_key);
    assert!(!report.signer_pinned);
    assert_eq!(report.altered.len(), 0);
    assert!(!report.ok);
}
