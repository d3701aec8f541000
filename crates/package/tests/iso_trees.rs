//! Every directory tree of an ISO is held against the manifest (issue #16 item 5), and empty
//! folders survive packaging (ZIP directory entries, ISO directories) on the real readers.
//!
//! The hostile ISOs are casemesh packages with bytes patched after signing, the way a forger
//! would: the Rock Ridge tree (what `verify` used to read alone) stays intact while the Joliet
//! tree (Windows Explorer, 7-Zip) or the primary ISO 9660 tree (plain ISO readers) shows another
//! name or other bytes. `isoinfo` shows each time that a real reader of that tree sees the forgery.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use casemesh_package::{
    Entry, FileProblem, Format, IsoTree, Problem, TreeIssue, VerifyReport, build, verify,
};
use common::*;

/// An ISO package of two 100-byte files with different bytes; returns its path.
fn two_files(dir: &Path) -> PathBuf {
    let out = dir.join("case.iso");
    let entries = vec![
        Entry::bytes("Evidence/other.txt", random_bytes(1, 100)),
        Entry::bytes("Evidence/report.txt", random_bytes(2, 100)),
    ];
    build(entries, &out, &options(Format::Iso), &|_, _| {}).unwrap();
    let v = verify(&out).unwrap();
    assert!(v.is_ok(), "{v:#?}");
    out
}

fn ucs2(name: &str) -> Vec<u8> {
    name.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// The one offset of `needle` in `image` (panics unless there is exactly one).
fn only(image: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> = image
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "{:?}", String::from_utf8_lossy(needle));
    hits[0]
}

/// The start of the directory record whose file identifier starts at `name_at`
/// (ECMA-119 9.1: the identifier follows 33 bytes of header).
fn record_of(name_at: usize) -> usize {
    name_at - 33
}

fn problem_of<'a>(report: &'a VerifyReport, path: &str) -> Vec<&'a Problem> {
    report
        .problems
        .iter()
        .filter(|p| p.path == path)
        .map(|FileProblem { problem, .. }| problem)
        .collect()
}

fn in_tree(tree: IsoTree, issue: TreeIssue) -> Problem {
    Problem::InTree { tree, issue }
}

fn isoinfo(args: &[&str], image: &Path) -> String {
    run(Command::new("isoinfo").args(args).arg("-i").arg(image))
}

#[test]
fn a_name_only_the_joliet_tree_shows_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let out = two_files(dir.path());
    let mut image = std::fs::read(&out).unwrap();
    let at = only(&image, &ucs2("report.txt"));
    image[at..at + 2].copy_from_slice(&ucs2("x"));
    std::fs::write(&out, &image).unwrap();

    // Windows Explorer and 7-Zip read the Joliet tree: they would extract `xeport.txt`.
    let joliet = isoinfo(&["-J", "-f"], &out);
    assert!(joliet.contains("/Evidence/xeport.txt"), "{joliet}");
    let rock_ridge = isoinfo(&["-R", "-f"], &out);
    assert!(rock_ridge.contains("/Evidence/report.txt"), "{rock_ridge}");

    let v = verify(&out).unwrap();
    assert!(!v.is_ok(), "{v:#?}");
    assert!(v.signature_valid);
    assert_eq!(
        problem_of(&v, "Evidence/report.txt"),
        [&in_tree(
            IsoTree::Joliet,
            TreeIssue::OtherName {
                found: "Evidence/xeport.txt".into()
            }
        )],
        "{v:#?}"
    );
    assert!(v.altered.contains(&"Evidence/report.txt".to_string()));
}

#[test]
fn a_joliet_record_pointing_at_other_bytes_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let out = two_files(dir.path());
    let mut image = std::fs::read(&out).unwrap();
    let report = record_of(only(&image, &ucs2("report.txt")));
    let other = record_of(only(&image, &ucs2("other.txt")));
    // Extent location, both byte orders (ECMA-119 9.1.3): report.txt now shows other.txt's bytes.
    let location: Vec<u8> = image[other + 2..other + 10].to_vec();
    assert_ne!(image[report + 2..report + 10], location[..]);
    image[report + 2..report + 10].copy_from_slice(&location);
    std::fs::write(&out, &image).unwrap();

    let x = |tree: &str| {
        let out = Command::new("isoinfo")
            .args([tree, "-i"])
            .arg(&out)
            .args(["-x", "/Evidence/report.txt"])
            .output()
            .unwrap();
        out.stdout
    };
    assert_eq!(
        x("-J"),
        random_bytes(1, 100),
        "Joliet readers get other.txt's bytes"
    );
    assert_eq!(x("-R"), random_bytes(2, 100));

    let v = verify(&out).unwrap();
    assert!(!v.is_ok(), "{v:#?}");
    assert_eq!(
        problem_of(&v, "Evidence/report.txt"),
        [&in_tree(IsoTree::Joliet, TreeIssue::OtherBytes)],
        "{v:#?}"
    );
    assert!(v.altered.contains(&"Evidence/report.txt".to_string()));
}

/// ECMA-119 7.5.1 and 7.4.1: a level 2/3 file identifier is made of d-characters (`A–Z 0–9 _`)
/// and compared as it stands. The writer gives `report.txt` the identifier `REPORT.TXT;1`; a
/// primary tree naming it `report.txt;1` or `REPORX.TXT;1` is not what was signed.
#[test]
fn a_primary_identifier_other_than_the_writers_fails_verify_compared_exactly() {
    for forged in ["report.txt;1", "REPORX.TXT;1", "Report.TXT;1"] {
        let dir = tempfile::tempdir().unwrap();
        let out = two_files(dir.path());
        let mut image = std::fs::read(&out).unwrap();
        let at = only(&image, b"REPORT.TXT;1");
        image[at..at + forged.len()].copy_from_slice(forged.as_bytes());
        std::fs::write(&out, &image).unwrap();

        // A plain ISO 9660 reader lists the forged identifier; Rock Ridge still says report.txt.
        let primary = isoinfo(&["-f"], &out);
        assert!(
            primary.contains(&format!("/EVIDENCE/{forged}")),
            "{primary}"
        );
        assert!(isoinfo(&["-R", "-f"], &out).contains("/Evidence/report.txt"));

        let v = verify(&out).unwrap();
        assert!(!v.is_ok(), "{forged}: {v:#?}");
        let shown = forged.trim_end_matches(";1");
        assert_eq!(
            problem_of(&v, "Evidence/report.txt"),
            [&in_tree(
                IsoTree::Primary,
                TreeIssue::OtherName {
                    found: format!("EVIDENCE/{shown}")
                }
            )],
            "{forged}: {v:#?}"
        );
    }
}

/// Empty folders of the folder structure: kept in both formats, listed in the manifest, seen by
/// unzip, 7z, isoinfo (Rock Ridge and Joliet) and xorriso, and checked by verify.
#[test]
fn empty_folders_are_kept_and_verified() {
    for format in [Format::Zip, Format::Iso] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(format!("case.{}", format.as_str()));
        let entries = vec![
            Entry::folder("Evidence/Empty"),
            Entry::folder("Evidence/Outer/Inner empty"),
            Entry::bytes("Evidence/Outer/file.txt", b"x".to_vec()),
            Entry::bytes("Evidence/report.txt", b"report".to_vec()),
        ];
        let report = build(entries, &out, &options(format), &|_, _| {}).unwrap();
        assert_eq!(
            report.manifest.folders,
            ["Evidence/Empty", "Evidence/Outer/Inner empty"]
        );
        assert_eq!(report.manifest.files.len(), 2);
        let v = verify(&out).unwrap();
        assert!(v.is_ok(), "{format:?}: {v:#?}");
        assert_eq!(v.files_ok, 2);

        let extract = |tool: &str| -> PathBuf {
            let to = out_dir(dir.path(), tool);
            match tool {
                "unzip" => run(Command::new("unzip").arg("-q").arg(&out).arg("-d").arg(&to)),
                "7z" => run(Command::new("7z")
                    .args(["x", "-y"])
                    .arg(format!("-o{}", to.display()))
                    .arg(&out)),
                _ => run(Command::new("xorriso")
                    .args(["-abort_on", "FAILURE", "-osirrox", "on", "-indev"])
                    .arg(&out)
                    .args(["-extract", "/"])
                    .arg(&to)),
            };
            to
        };
        let tools: &[&str] = match format {
            Format::Zip => &["unzip", "7z"],
            Format::Iso => &["7z", "xorriso"],
        };
        for tool in tools {
            let to = extract(tool);
            for folder in ["Evidence/Empty", "Evidence/Outer/Inner empty"] {
                let path = to.join(folder);
                assert!(path.is_dir(), "{format:?} {tool}: {folder} not extracted");
                assert_eq!(std::fs::read_dir(&path).unwrap().count(), 0);
            }
        }
        if format == Format::Iso {
            for tree in ["-R", "-J"] {
                let listing = isoinfo(&[tree, "-f"], &out);
                for folder in ["/Evidence/Empty", "/Evidence/Outer/Inner empty"] {
                    assert!(
                        listing.lines().any(|l| l == folder),
                        "isoinfo {tree}:\n{listing}"
                    );
                }
            }
        }
    }
}

/// A ZIP with an empty folder its manifest does not list, or a manifest listing a folder the
/// ZIP does not hold: verify names the folder.
#[test]
fn unlisted_or_missing_empty_folders_fail_verify() {
    use casemesh_package::manifest::{self, MANIFEST_FORMAT, MANIFEST_VERSION};
    use casemesh_package::{Manifest, ManifestFile, signer_of};
    use std::io::Write;

    let key = options(Format::Zip).signing_key;
    let dir = tempfile::tempdir().unwrap();
    let craft = |name: &str, in_zip: &str, listed: &str| -> VerifyReport {
        let out = dir.path().join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&out).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.add_directory(in_zip, stored).unwrap();
        zip.start_file("a.txt", stored).unwrap();
        zip.write_all(b"a").unwrap();
        let manifest = Manifest {
            format: MANIFEST_FORMAT.to_string(),
            version: MANIFEST_VERSION,
            container: "zip".into(),
            signer: signer_of(&key).0,
            public_key: hex::encode(key.verifying_key().to_bytes()),
            created_at_ms: 1_700_000_000_000,
            files: vec![ManifestFile {
                path: "a.txt".into(),
                size: 1,
                blake3: blake3::hash(b"a").to_hex().to_string(),
            }],
            folders: vec![listed.to_string()],
        }
        .to_bytes();
        zip.start_file("manifest.json", stored).unwrap();
        zip.write_all(&manifest).unwrap();
        zip.start_file("manifest.sig", stored).unwrap();
        zip.write_all(&manifest::sign(&key, &manifest)).unwrap();
        zip.finish().unwrap();
        verify(&out).unwrap()
    };
    let good = craft("good.zip", "Kept/", "Kept");
    assert!(good.is_ok(), "{good:#?}");
    let bad = craft("bad.zip", "Other/", "Kept");
    assert!(!bad.is_ok());
    assert_eq!(bad.missing, ["Kept/"], "{bad:#?}");
    assert_eq!(bad.added, ["Other/"], "{bad:#?}");
}
