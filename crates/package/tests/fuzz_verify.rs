//! Fuzz targets for `casemesh verify`'s entry point, [`casemesh_package::verify`], on ZIP and
//! ISO input (issue #16 item 3): a package comes from outside (a partner, a court, a USB stick)
//! and is read before anything about it is trusted.
//!
//! Properties, checked on every input:
//! - `verify` never panics: it returns an error, or a report that says what is wrong;
//! - memory held while verifying stays under [`PEAK_LIMIT`] whatever the headers claim (sizes,
//!   counts, extents): packages are streamed, never loaded whole;
//! - a package whose bytes were changed never verifies as intact with the original's manifest
//!   *and* different contents: a report that `is_ok()` lists exactly the original files.
//!
//! Inputs: raw bytes (with the ZIP or ISO signature in front, so they reach the format
//! readers), and mutations (flip, cut, insert, overwrite with large numbers) of a small valid
//! ZIP and ISO built here with [`casemesh_package::build`].
//!
//! These are [bolero](https://camshaft.github.io/bolero/) targets. Under plain `cargo test`
//! (stable) each runs its corpus (`tests/__fuzz__/<target>/corpus`, if any) and random inputs
//! for [`BUDGET`]. Longer: `BOLERO_RANDOM_TEST_TIME_MS=600000 cargo test -p casemesh-package
//! --test fuzz_verify -- iso_mutations`; coverage-guided: `cargo bolero test -p
//! casemesh-package --test fuzz_verify iso_mutations` (cargo-bolero, nightly).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use casemesh_model::fuzzing::{EditKinds, mutate};
use casemesh_package::{BuildOptions, Entry, Format, build, verify};

/// Random-input budget of each target under `cargo test`.
const BUDGET: Duration = Duration::from_secs(6);
/// Most memory one verification may hold at once, whatever the package claims.
const PEAK_LIMIT: u64 = 64 * 1024 * 1024;

fn options(format: Format) -> BuildOptions {
    BuildOptions {
        format,
        signing_key: ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]),
        created_at_ms: 1_700_000_000_000,
    }
}

/// A small valid package: a few files in folders, one empty, one compressible.
fn package(format: Format, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("seed.{}", format.as_str()));
    let entries = vec![
        Entry::bytes(
            "Evidence/Photos/scene 1.jpg",
            (0..3000u32).map(|i| (i * 7) as u8).collect(),
        ),
        Entry::bytes("Evidence/Docs/notes.txt", b"interview notes\n".repeat(40)),
        Entry::bytes("Evidence/empty.bin", Vec::new()),
        Entry::bytes(
            "audit trail.csv",
            b"at,actor,action\n1,alice,add\n".to_vec(),
        ),
    ];
    build(entries, &out, &options(format), &|_, _| {}).unwrap();
    std::fs::read(&out).unwrap()
}

/// Verify `bytes` as a file; check the properties.
fn check(dir: &Path, bytes: &[u8], original: Option<&[u8]>) {
    let path = dir.join("input");
    std::fs::write(&path, bytes).unwrap();
    let mut res = None;
    let info = allocation_counter::measure(|| res = Some(verify(&path)));
    assert!(
        info.bytes_max <= PEAK_LIMIT,
        "verifying {} bytes held {} bytes at peak",
        bytes.len(),
        info.bytes_max
    );
    if let (Some(Ok(report)), Some(original)) = (res, original)
        && report.is_ok()
        && bytes != original
    {
        // Bytes changed where nothing is checked (padding, timestamps, unused fields) are
        // fine; the contents the report vouches for must still be the original's.
        assert_eq!(
            report.files_ok, 4,
            "an altered package verified with {report:?}"
        );
    }
}

fn mutations(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let base = package(format, dir.path());
    bolero::check!()
        .with_test_time(BUDGET)
        .with_type::<Vec<(u32, u8)>>()
        .for_each(|edits| {
            check(
                dir.path(),
                &mutate(&base, edits, EditKinds::BINARY),
                Some(&base),
            )
        });
}

#[test]
fn zip_mutations() {
    mutations(Format::Zip);
}

#[test]
fn iso_mutations() {
    mutations(Format::Iso);
}

/// Raw bytes behind a ZIP local-header signature, so they reach the ZIP reader.
#[test]
fn zip_bytes() {
    let dir = tempfile::tempdir().unwrap();
    bolero::check!()
        .with_test_time(BUDGET)
        .for_each(|input: &[u8]| {
            let mut bytes = b"PK\x03\x04".to_vec();
            bytes.extend_from_slice(input);
            check(dir.path(), &bytes, None);
        });
}

/// Raw bytes as the volume descriptors of an ISO (after the 32 KiB system area), so they
/// reach the ISO reader.
#[test]
fn iso_bytes() {
    let dir = tempfile::tempdir().unwrap();
    bolero::check!()
        .with_test_time(BUDGET)
        .for_each(|input: &[u8]| {
            let mut bytes = vec![0u8; 32 * 1024];
            bytes.extend_from_slice(&[1, b'C', b'D', b'0', b'0', b'1', 1]);
            bytes.extend_from_slice(input);
            check(dir.path(), &bytes, None);
        });
}

#[test]
fn the_seed_packages_verify() {
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Zip, Format::Iso] {
        let bytes = package(format, dir.path());
        let path = dir.path().join("seed");
        std::fs::write(&path, &bytes).unwrap();
        let report = verify(&path).unwrap();
        assert!(report.is_ok(), "{format:?}: {report:?}");
        assert_eq!(report.files_ok, 4);
    }
}
