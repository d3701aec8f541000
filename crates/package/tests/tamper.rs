//! Tampered packages: `verify` names exactly the files concerned and what is wrong with them.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::path::Path;
use std::process::Command;

use casemesh_package::{Format, Problem, VerifyReport, build, verify};
use common::*;

const TARGET: &str = "Evidence/Interviews/clip.mp4";

fn built(
    format: Format,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::collections::BTreeMap<String, Vec<u8>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let (entries, expected) = fixture(dir.path());
    let out = dir.path().join(format!("case.{}", format.as_str()));
    build(entries, &out, &options(format), &|_, _| {}).unwrap();
    assert!(verify(&out).unwrap().is_ok());
    (dir, out, expected)
}

/// Flips one byte in the middle of `original`'s bytes inside the package file.
fn flip_byte_of(package: &Path, original: &[u8]) {
    let mut bytes = std::fs::read(package).unwrap();
    let mid = original.len() / 2;
    let needle = &original[mid..mid + 64];
    let at = bytes
        .windows(64)
        .position(|w| w == needle)
        .expect("file bytes not found in package");
    bytes[at + 10] ^= 0x55;
    std::fs::write(package, bytes).unwrap();
}

fn only_file_problem(v: &VerifyReport) -> (&str, &Problem) {
    assert_eq!(v.problems.len(), 1, "{v:?}");
    (v.problems[0].path.as_str(), &v.problems[0].problem)
}

#[test]
fn zip_flipped_byte_is_reported_as_altered() {
    let (_dir, out, expected) = built(Format::Zip);
    flip_byte_of(&out, &expected[TARGET]);
    let v = verify(&out).unwrap();
    assert!(!v.is_ok());
    assert!(v.signature_valid);
    assert_eq!(v.altered, vec![TARGET.to_string()]);
    assert!(v.missing.is_empty() && v.added.is_empty());
    assert_eq!(only_file_problem(&v), (TARGET, &Problem::HashMismatch));
    assert_eq!(v.files_ok, expected.len() - 1);
    // The CRC no longer matches either: the standard tool agrees something is wrong.
    assert!(
        !Command::new("unzip")
            .arg("-t")
            .arg("-q")
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn zip_removed_entry_is_reported_as_missing() {
    let (_dir, out, expected) = built(Format::Zip);
    run(Command::new("zip")
        .arg("-q")
        .arg("-d")
        .arg(&out)
        .arg(TARGET));
    let v = verify(&out).unwrap();
    assert!(v.signature_valid && !v.is_ok());
    assert_eq!(v.missing, vec![TARGET.to_string()]);
    assert!(v.altered.is_empty() && v.added.is_empty());
    assert_eq!(v.files_ok, expected.len() - 1);
}

#[test]
fn zip_added_entry_is_reported_as_added() {
    let (dir, out, expected) = built(Format::Zip);
    let extra = out_dir(dir.path(), "extra");
    std::fs::create_dir_all(extra.join("Evidence")).unwrap();
    std::fs::write(extra.join("Evidence/planted.jpg"), b"not evidence").unwrap();
    run(Command::new("zip")
        .current_dir(&extra)
        .arg("-q")
        .arg(&out)
        .arg("Evidence/planted.jpg"));
    let v = verify(&out).unwrap();
    assert!(v.signature_valid && !v.is_ok());
    assert_eq!(v.added, vec!["Evidence/planted.jpg".to_string()]);
    assert!(v.altered.is_empty() && v.missing.is_empty());
    assert_eq!(v.files_ok, expected.len());
}

#[test]
fn zip_replaced_entry_with_other_size_is_altered() {
    let (dir, out, _) = built(Format::Zip);
    let extra = out_dir(dir.path(), "extra");
    std::fs::create_dir_all(extra.join("Evidence/Photos")).unwrap();
    std::fs::write(extra.join("Evidence/Photos/scene 2.jpg"), b"xy").unwrap();
    run(Command::new("zip")
        .current_dir(&extra)
        .arg("-q")
        .arg(&out)
        .arg("Evidence/Photos/scene 2.jpg"));
    let v = verify(&out).unwrap();
    assert_eq!(
        only_file_problem(&v),
        (
            "Evidence/Photos/scene 2.jpg",
            &Problem::SizeMismatch {
                expected: 1,
                actual: 2
            }
        )
    );
}

#[test]
fn zip_corrupt_signature_or_manifest_is_reported() {
    let (dir, out, expected) = built(Format::Zip);
    let x = out_dir(dir.path(), "x");
    run(Command::new("unzip")
        .arg("-q")
        .arg(&out)
        .arg("manifest.sig")
        .arg("manifest.json")
        .arg("-d")
        .arg(&x));

    // A signature by another key.
    let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let manifest = std::fs::read(x.join("manifest.json")).unwrap();
    let forged = casemesh_package::manifest::sign(&other, &manifest);
    std::fs::write(x.join("manifest.sig"), forged).unwrap();
    let copy = dir.path().join("forged.zip");
    std::fs::copy(&out, &copy).unwrap();
    run(Command::new("zip")
        .current_dir(&x)
        .arg("-q")
        .arg(&copy)
        .arg("manifest.sig"));
    let v = verify(&copy).unwrap();
    assert!(!v.signature_valid && !v.is_ok());
    assert!(
        v.problems.is_empty() && v.files_ok == expected.len(),
        "{v:?}"
    );

    // One flipped hex digit in the signature.
    let mut sig = std::fs::read(&out)
        .ok()
        .map(|_| casemesh_package::manifest::sign(&options(Format::Zip).signing_key, &manifest))
        .unwrap();
    sig[0] = if sig[0] == b'0' { b'1' } else { b'0' };
    std::fs::write(x.join("manifest.sig"), sig).unwrap();
    let copy = dir.path().join("flipped.zip");
    std::fs::copy(&out, &copy).unwrap();
    run(Command::new("zip")
        .current_dir(&x)
        .arg("-q")
        .arg(&copy)
        .arg("manifest.sig"));
    assert!(!verify(&copy).unwrap().signature_valid);

    // A manifest edited to bless a replaced file: the signature no longer matches.
    let text = String::from_utf8(manifest)
        .unwrap()
        .replace("\"size\":1,", "\"size\":2,");
    std::fs::write(x.join("manifest.json"), text).unwrap();
    let copy = dir.path().join("edited.zip");
    std::fs::copy(&out, &copy).unwrap();
    run(Command::new("zip")
        .current_dir(&x)
        .arg("-q")
        .arg(&copy)
        .arg("manifest.json"));
    let v = verify(&copy).unwrap();
    assert!(!v.signature_valid);
    assert_eq!(v.altered, vec!["Evidence/Photos/scene 2.jpg".to_string()]);

    // No signature at all.
    let copy = dir.path().join("unsigned.zip");
    std::fs::copy(&out, &copy).unwrap();
    run(Command::new("zip")
        .arg("-q")
        .arg("-d")
        .arg(&copy)
        .arg("manifest.sig"));
    let v = verify(&copy).unwrap();
    assert!(!v.signature_valid && v.problems.is_empty());

    // No manifest: an error, nothing can be said about the files.
    let copy = dir.path().join("nomanifest.zip");
    std::fs::copy(&out, &copy).unwrap();
    run(Command::new("zip")
        .arg("-q")
        .arg("-d")
        .arg(&copy)
        .arg("manifest.json"));
    assert!(matches!(
        verify(&copy),
        Err(casemesh_package::PackageError::Manifest { .. })
    ));
}

#[test]
fn iso_flipped_byte_is_reported_as_altered() {
    let (_dir, out, expected) = built(Format::Iso);
    flip_byte_of(&out, &expected[TARGET]);
    let v = verify(&out).unwrap();
    assert!(v.signature_valid && !v.is_ok());
    assert_eq!(only_file_problem(&v), (TARGET, &Problem::HashMismatch));
    assert_eq!(v.files_ok, expected.len() - 1);
}

#[test]
fn iso_altered_manifest_breaks_the_signature() {
    let (_dir, out, _) = built(Format::Iso);
    let mut bytes = std::fs::read(&out).unwrap();
    let at = bytes
        .windows(17)
        .position(|w| w == b"\"created_at_ms\":1")
        .unwrap();
    bytes[at + 16] = b'2';
    std::fs::write(&out, bytes).unwrap();
    let v = verify(&out).unwrap();
    assert!(!v.signature_valid && v.problems.is_empty(), "{v:?}");
    assert_eq!(v.created_at_ms, 2_700_000_000_000);
}

#[test]
fn garbage_is_not_a_package() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.bin");
    std::fs::write(&p, random_bytes(1, 100_000)).unwrap();
    assert!(matches!(
        verify(&p),
        Err(casemesh_package::PackageError::UnknownFormat { .. })
    ));
}
