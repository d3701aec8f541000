//! ZIP packages read back with the real tools: `unzip -t`, `unzip`, and our own `verify`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::process::Command;

use casemesh_package::{Format, build, verify};
use common::*;

#[test]
fn zip_extracts_with_unzip_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, expected) = fixture(dir.path());
    let out = dir.path().join("case.zip");
    let progress = std::cell::Cell::new((0u64, 0u64));
    let report = build(entries, &out, &options(Format::Zip), &|d, t| {
        progress.set((d, t))
    })
    .unwrap();
    let total: u64 = expected.values().map(|b| b.len() as u64).sum();
    assert_eq!(progress.get(), (total, total));
    assert_eq!(report.content_bytes, total);
    assert_eq!(report.manifest.files.len(), expected.len());

    run(Command::new("unzip").arg("-t").arg("-q").arg(&out));
    let x = out_dir(dir.path(), "x");
    run(Command::new("unzip").arg("-q").arg(&out).arg("-d").arg(&x));
    assert_extracted(&read_tree(&x), &expected);

    // Text files are deflated, media stored.
    let listing = run(Command::new("unzip").arg("-v").arg(&out));
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap()
            .to_string()
    };
    assert!(
        line("audit trail.csv").contains("Defl"),
        "{}",
        line("audit trail.csv")
    );
    assert!(line("call.wav").contains("Stored"), "{}", line("call.wav"));

    let v = verify(&out).unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.files_ok, expected.len());
    assert_eq!(v.format, Format::Zip);
    let signing_key = options(Format::Zip).signing_key;
    assert_eq!(v.signer, casemesh_package::signer_of(&signing_key).0);
    assert!(v.signer_matches_key);
    let key = signing_key.verifying_key();
    assert!(v.signed_by(&key));
    let other = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]).verifying_key();
    assert!(!v.signed_by(&other));
}

#[test]
fn build_replaces_atomically_and_cleans_up_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.zip");
    std::fs::write(&out, b"old").unwrap();
    // A source whose size differs from the announced size fails and leaves `out` untouched.
    let src = dir.path().join("s");
    std::fs::write(&src, b"12345").unwrap();
    let mut entry = casemesh_package::Entry::file("s.bin", &src).unwrap();
    entry.size = 3;
    let err = build(vec![entry], &out, &options(Format::Zip), &|_, _| {}).unwrap_err();
    assert!(
        matches!(err, casemesh_package::PackageError::SizeMismatch { .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 2, "temporary file left behind");
    // Unsanitized paths are refused.
    let err = build(
        vec![casemesh_package::Entry::bytes("../x", vec![1])],
        &out,
        &options(Format::Zip),
        &|_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, casemesh_package::PackageError::InvalidPath { .. }),
        "{err}"
    );
}

#[test]
fn empty_package_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Zip, Format::Iso] {
        let out = dir.path().join(format!("empty.{}", format.as_str()));
        build(vec![], &out, &options(format), &|_, _| {}).unwrap();
        let v = verify(&out).unwrap();
        assert!(v.is_ok() && v.files_ok == 0, "{v:?}");
    }
}
