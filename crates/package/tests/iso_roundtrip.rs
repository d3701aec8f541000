//! ISO packages read back with the real tools: xorriso, isoinfo, 7z, and our own `verify`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::process::Command;

use casemesh_package::{Format, build, verify};
use common::*;

#[test]
fn iso_lists_and_extracts_with_xorriso_isoinfo_and_7z() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, expected) = fixture(dir.path());
    let out = dir.path().join("case.iso");
    build(entries, &out, &options(Format::Iso), &|_, _| {}).unwrap();

    // xorriso reads the Rock Ridge tree: every name, long and Unicode ones included.
    let listing = run(Command::new("xorriso")
        .args(["-abort_on", "FAILURE", "-indev"])
        .arg(&out)
        .args(["-find", "/", "-type", "f"]));
    for path in expected.keys() {
        assert!(
            listing.contains(&format!("'/{path}'")),
            "xorriso does not list {path}:\n{listing}"
        );
    }
    let x = out_dir(dir.path(), "xorriso");
    run(Command::new("xorriso")
        .args(["-abort_on", "FAILURE", "-osirrox", "on", "-indev"])
        .arg(&out)
        .arg("-extract")
        .arg("/")
        .arg(&x));
    assert_extracted(&read_tree(&x), &expected);

    // isoinfo shows Rock Ridge names too.
    let info = run(Command::new("isoinfo")
        .arg("-R")
        .arg("-l")
        .arg("-i")
        .arg(&out));
    assert!(info.contains(LONG_NAME), "{info}");
    assert!(info.contains(UNICODE_NAME), "{info}");
    assert!(info.contains("level10"), "{info}");

    // 7z extracts every byte.
    let z = out_dir(dir.path(), "7z");
    run(Command::new("7z")
        .arg("x")
        .arg("-y")
        .arg(format!("-o{}", z.display()))
        .arg(&out));
    let got = read_tree(&z);
    if got.keys().any(|k| k.contains(LONG_NAME)) {
        assert_extracted(&got, &expected);
    } else {
        // 7z reads the Joliet tree, where names are cut at 64 characters: everything else is
        // exact, and every byte is there.
        for (path, bytes) in &expected {
            if path.split('/').all(|s| s.chars().count() <= 64) {
                assert!(
                    got.get(path) == Some(bytes),
                    "7z: {path} missing or different"
                );
            } else {
                assert!(
                    got.values().any(|b| b == bytes),
                    "7z: contents of {path} missing"
                );
            }
        }
        assert_eq!(got.len(), expected.len() + 2);
    }

    let v = verify(&out).unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.files_ok, expected.len());
    assert_eq!(v.format, Format::Iso);
}

#[test]
fn iso_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, _) = fixture(dir.path());
    let a = dir.path().join("a.iso");
    let b = dir.path().join("b.iso");
    build(entries.clone(), &a, &options(Format::Iso), &|_, _| {}).unwrap();
    build(entries, &b, &options(Format::Iso), &|_, _| {}).unwrap();
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
}
