//! Deterministic packages and the audit-trail attachment (issue #13, item 5): the same entries and
//! options give the same bytes whenever they are built, and `verify` checks the attachment's
//! chain and signed head, naming an edited entry.
#![allow(clippy::unwrap_used)]

mod common;

use casemesh_model::audit::{AuditEntry, ChainError, ChainHead, NewEntry};
use casemesh_model::ids::CaseId;
use casemesh_model::time::Timestamp;
use casemesh_package::{
    AUDIT_TRAIL_PATH, AuditProblem, AuditTrail, Entry, Format, build, signer_of, verify,
};
use common::*;

fn trail(n: u64) -> Vec<AuditEntry> {
    let mut head = ChainHead::default();
    (0..n)
        .map(|i| {
            let (e, h) = head.append(NewEntry {
                time: Timestamp(1_700_000_000_000 + i),
                actor: "ada".into(),
                action: "evidence.add".into(),
                evidence: None,
                details: format!("item {i}"),
            });
            head = h;
            e
        })
        .collect()
}

fn case() -> CaseId {
    CaseId(uuid::Uuid::from_bytes([7; 16]))
}

/// The fixture's entries plus an audit attachment built from `attachment`.
fn entries_with(dir: &std::path::Path, attachment: &AuditTrail) -> Vec<Entry> {
    let (mut entries, _) = fixture(dir);
    entries.push(Entry::bytes(AUDIT_TRAIL_PATH, attachment.to_bytes()));
    entries
}

#[test]
fn the_same_entries_and_options_give_the_same_bytes_whenever_built() {
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Zip, Format::Iso] {
        let opts = options(format);
        let mut built = Vec::new();
        for round in 0..2 {
            // A second apart: a clock read anywhere would show in the bytes.
            if round == 1 {
                std::thread::sleep(std::time::Duration::from_millis(1_100));
            }
            let attachment = AuditTrail::new(case(), "C-1", trail(6), &opts.signing_key);
            let out = dir.path().join(format!("p{round}.{}", format.as_str()));
            let report = build(
                entries_with(dir.path(), &attachment),
                &out,
                &opts,
                &|_, _| {},
            )
            .unwrap();
            built.push((std::fs::read(&out).unwrap(), report.manifest_blake3));
            let v = verify(&out).unwrap();
            assert!(v.is_ok(), "{v:?}");
            let audit = v.audit.expect("the attachment is checked");
            assert_eq!((audit.entries, audit.signed_len), (6, 6));
            assert_eq!(audit.signer, signer_of(&opts.signing_key).0);
        }
        assert_eq!(built[0].1, built[1].1, "{format:?} manifest hash");
        assert!(built[0].0 == built[1].0, "{format:?}: package bytes differ");
    }
}

#[test]
fn an_edited_audit_entry_fails_verify_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Zip, Format::Iso] {
        let opts = options(format);
        // Edited after the head was signed, then packaged and signed as a whole: the manifest
        // matches, the chain does not.
        let mut attachment = AuditTrail::new(case(), "C-1", trail(6), &opts.signing_key);
        attachment.entries[3].details = "item 3, nothing to see".into();
        let out = dir.path().join(format!("edited.{}", format.as_str()));
        build(
            entries_with(dir.path(), &attachment),
            &out,
            &opts,
            &|_, _| {},
        )
        .unwrap();
        let v = verify(&out).unwrap();
        assert!(!v.is_ok(), "{format:?}");
        assert!(v.signature_valid && v.altered.is_empty(), "{v:?}");
        let problem = v.audit.unwrap().problem.unwrap();
        assert_eq!(
            problem,
            AuditProblem::Chain(ChainError::Altered { seq: 3 }),
            "{format:?}"
        );
        assert!(problem.to_string().contains("entry 3"), "{problem}");

        // A head signed by another key than the manifest's.
        let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let foreign = AuditTrail::new(case(), "C-1", trail(2), &other);
        let out = dir.path().join(format!("foreign.{}", format.as_str()));
        build(entries_with(dir.path(), &foreign), &out, &opts, &|_, _| {}).unwrap();
        let v = verify(&out).unwrap();
        assert!(!v.is_ok());
        assert!(matches!(
            v.audit.unwrap().problem,
            Some(AuditProblem::OtherSigner { .. })
        ));
    }
}
