//! Packages with a file over 4 GiB: ZIP64 in ZIP, multi-extent files in ISO.
//!
//! slow: run with --ignored in release (`cargo test -p casemesh-package --release -- --ignored`);
//! each test writes a 4+ GiB package (the source is a sparse file of zeros).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::process::Command;

use casemesh_package::{Entry, Format, build, verify};
use common::*;

const BIG: u64 = (4 << 30) + (3 << 20) + 123;

fn big_package(format: Format) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let src = dir.path().join("huge.bin");
    std::fs::File::create(&src).unwrap().set_len(BIG).unwrap();
    let small = dir.path().join("small.bin");
    std::fs::write(&small, random_bytes(5, 70_000)).unwrap();
    let entries = vec![
        Entry::file("Evidence/huge video.mp4", &src).unwrap(),
        Entry::file("Evidence/after.bin", &small).unwrap(),
    ];
    let out = dir.path().join(format!("big.{}", format.as_str()));
    build(entries, &out, &options(format), &|_, _| {}).unwrap();
    std::fs::remove_file(&src).unwrap();
    (dir, out)
}

// slow: run with --ignored in release
#[test]
#[ignore]
fn zip64_over_4_gib() {
    let (_dir, out) = big_package(Format::Zip);
    run(Command::new("unzip").arg("-t").arg("-q").arg(&out));
    let listing = run(Command::new("7z").arg("l").arg(&out));
    assert!(listing.contains(&BIG.to_string()), "{listing}");
    let v = verify(&out).unwrap();
    assert!(v.is_ok(), "{v:?}");
}

// slow: run with --ignored in release
#[test]
#[ignore]
fn iso_multi_extent_over_4_gib() {
    let (_dir, out) = big_package(Format::Iso);
    let listing = run(Command::new("xorriso")
        .args(["-abort_on", "FAILURE", "-indev"])
        .arg(&out)
        .args(["-find", "/Evidence", "-type", "f", "-exec", "lsdl"]));
    assert!(listing.contains(&BIG.to_string()), "{listing}");
    let listing = run(Command::new("7z").arg("l").arg(&out));
    assert!(listing.contains(&BIG.to_string()), "{listing}");
    run(Command::new("7z").arg("t").arg(&out));
    // isoinfo (Debian's genisoimage 1.1.11) does not join extents: it lists one record per
    // extent, under the same name, in both the Rock Ridge and the Joliet tree. They must add up.
    for tree in ["-R", "-J"] {
        let listing = run(Command::new("isoinfo").args([tree, "-l", "-i"]).arg(&out));
        let sizes: Vec<u64> = listing
            .lines()
            .filter(|l| l.trim_end().ends_with("huge video.mp4"))
            .filter_map(|l| l.split_whitespace().nth(4)?.parse().ok())
            .collect();
        assert!(sizes.len() >= 2, "isoinfo {tree}:\n{listing}");
        assert_eq!(sizes.iter().sum::<u64>(), BIG, "isoinfo {tree}:\n{listing}");
    }
    let v = verify(&out).unwrap();
    assert!(v.is_ok(), "{v:?}");
}
