//! Hostile and colliding names in real packages, read back by real readers: names equal after
//! case folding or Unicode normalization (one file on Windows and macOS), names equal in an ISO's
//! Joliet tree (64-character cut, emoji as `_`), names equal after sanitizing, and names meant to
//! escape the extraction folder (`..`, absolute, backslashes, drive letters, NUL, control and
//! escape characters). Every file must come out at its own path, inside the target folder, with
//! its own bytes; the names each reader shows must be unique under `collision_key`; `verify`
//! must pass.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;

use casemesh_package::names::{collision_key, joliet_key};
use casemesh_package::{Entry, Format, NameAllocator, build, verify};
use common::*;

/// (folders, display name) as a partner or a user might send them.
fn hostile_requests() -> Vec<(Vec<&'static str>, String)> {
    let long = "Interview with the witness recorded at the police station in Rotterdam";
    let r = |folders: &[&'static str], name: &str| (folders.to_vec(), name.to_string());
    vec![
        // One name on NTFS / APFS / HFS+.
        r(&[], "caf\u{e9}.txt"),
        r(&[], "cafe\u{301}.txt"),
        r(&[], "CAF\u{c9}.TXT"),
        r(&[], "Stra\u{df}e.pdf"),
        r(&[], "STRASSE.pdf"),
        r(&["Caf\u{e9}"], "a.txt"),
        r(&["CAFE\u{301}"], "a.txt"),
        r(&[], "notes"),
        r(&["NOTES"], "inside.txt"),
        // One name after sanitizing.
        r(&[], "a:b.txt"),
        r(&[], "a?b.txt"),
        r(&[], "a|b.txt"),
        // One name in the Joliet tree (cut to 64 characters; emoji become `_`).
        r(&[], &format!("{long} part one.mp4")),
        r(&[], &format!("{} part two.mp4", long.to_uppercase())),
        r(&[], "\u{1F600}.txt"),
        r(&[], "\u{1F601}.txt"),
        // Meant to escape or break extraction.
        r(&[], "../../../../tmp/escaped.txt"),
        r(&["..", "..", "etc"], "passwd"),
        r(&[], "/etc/shadow"),
        r(&[], "..\\..\\windows\\win.ini"),
        r(&[], "C:\\autoexec.bat"),
        r(&[], "nul\u{0}byte.txt"),
        r(&[], "bell\u{7}\r\nforged line.txt"),
        r(&[], "\u{1b}]52;c;cGF5bG9hZA==\u{7}\u{1b}[31mred.txt"),
        r(&[], "CON.txt"),
        r(&[], ".."),
        r(&[], "   "),
    ]
}

/// The entries (each file its own bytes) and what every reader must show.
fn hostile_fixture() -> (Vec<Entry>, BTreeMap<String, Vec<u8>>) {
    let mut names = NameAllocator::new();
    let mut entries = Vec::new();
    let mut expected = BTreeMap::new();
    for (i, (folders, name)) in hostile_requests().into_iter().enumerate() {
        let path = names.allocate(&folders, &name);
        let bytes = random_bytes(i as u64, 100 + i);
        entries.push(Entry::bytes(path.clone(), bytes.clone()));
        assert!(expected.insert(path, bytes).is_none());
    }
    (entries, expected)
}

/// Asserts that `names` (file paths a reader shows) are unique under `key`.
fn assert_unique(reader: &str, names: &[String], key: fn(&str) -> String) {
    let mut seen = HashSet::new();
    for name in names {
        assert!(
            seen.insert(key(name)),
            "{reader} shows {name:?} and another name that is the same file on Windows/macOS:\n\
             {names:#?}"
        );
    }
}

/// Asserts the extraction folder's parent holds nothing but the package and the output folders:
/// no reader wrote outside its target.
fn assert_nothing_escaped(dir: &Path, allowed: &[&str]) {
    let mut top: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    let mut want: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        top, want,
        "something was written outside the extraction folders"
    );
    assert!(!Path::new("/tmp/escaped.txt").exists());
}

/// The allocator's names are unique under both keys: a plain check of the fixture itself.
#[test]
fn allocated_names_are_unique_under_every_equivalence() {
    let (_, expected) = hostile_fixture();
    let paths: Vec<String> = expected.keys().cloned().collect();
    assert_eq!(paths.len(), hostile_requests().len());
    assert_unique("the allocator", &paths, collision_key);
    assert_unique("the allocator (Joliet view)", &paths, joliet_key);
    for p in &paths {
        assert!(
            !p.starts_with('/') && !p.split('/').any(|s| s == ".."),
            "{p}"
        );
        assert!(!p.chars().any(|c| c.is_control() || c == '\\'), "{p:?}");
    }
    // Deterministic: the same requests give the same names.
    assert_eq!(
        hostile_fixture().1.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
}

#[test]
fn zip_with_hostile_names_extracts_every_file_in_place_with_unzip_python_and_7z() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, expected) = hostile_fixture();
    let out = dir.path().join("case.zip");
    build(entries, &out, &options(Format::Zip), &|_, _| {}).unwrap();
    let report = verify(&out).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.files_ok, expected.len());

    // The names as the readers list them: unique on a case-insensitive, normalizing FS.
    let listed: Vec<String> = run(Command::new("unzip").arg("-Z1").arg(&out))
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(listed.len(), expected.len() + 2, "{listed:#?}");
    assert_unique("unzip -Z1", &listed, collision_key);

    let u = out_dir(dir.path(), "unzip");
    run(Command::new("unzip").arg("-q").arg(&out).arg("-d").arg(&u));
    assert_extracted(&read_tree(&u), &expected);

    let p = out_dir(dir.path(), "python");
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  z.extractall(sys.argv[2])\n\
                  print('\\n'.join(z.namelist()))";
    let names = run(Command::new("python3")
        .args(["-c", script])
        .arg(&out)
        .arg(&p));
    assert_unique(
        "python zipfile",
        &names.lines().map(str::to_string).collect::<Vec<_>>(),
        collision_key,
    );
    assert_extracted(&read_tree(&p), &expected);

    let s = out_dir(dir.path(), "7z");
    run(Command::new("7z")
        .args(["x", "-y", "-bd"])
        .arg(format!("-o{}", s.display()))
        .arg(&out));
    assert_extracted(&read_tree(&s), &expected);

    assert_nothing_escaped(dir.path(), &["case.zip", "unzip", "python", "7z"]);
}

#[test]
fn iso_with_hostile_names_shows_unique_names_in_rock_ridge_and_joliet() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, expected) = hostile_fixture();
    let out = dir.path().join("case.iso");
    build(entries, &out, &options(Format::Iso), &|_, _| {}).unwrap();
    let report = verify(&out).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.files_ok, expected.len());

    // Rock Ridge (Linux mount, xorriso, isoinfo -R, macOS): the full names, each unique.
    let iso_files = |tree: &str| -> Vec<String> {
        let listing = run(Command::new("isoinfo").args([tree, "-f", "-i"]).arg(&out));
        // `-f` lists folders too: keep the paths no other path lies under.
        let all: Vec<String> = listing
            .lines()
            .map(|l| l.trim_start_matches('/').to_string())
            .collect();
        all.iter()
            .filter(|p| !all.iter().any(|q| q.starts_with(&format!("{p}/"))))
            .cloned()
            .collect()
    };
    let rock_ridge = iso_files("-R");
    let mut want: Vec<String> = expected.keys().cloned().collect();
    want.extend(["manifest.json".to_string(), "manifest.sig".to_string()]);
    let mut got = rock_ridge.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "isoinfo -R shows other names than the manifest");
    assert_unique("isoinfo -R", &rock_ridge, collision_key);

    // Joliet (Windows Explorer, 7-Zip): cut names, but still one per file on Windows.
    let joliet = iso_files("-J");
    assert_eq!(joliet.len(), want.len(), "{joliet:#?}");
    assert_unique("isoinfo -J", &joliet, collision_key);

    // xorriso extracts the Rock Ridge tree: every file at its manifest path.
    let x = out_dir(dir.path(), "xorriso");
    run(Command::new("xorriso")
        .args(["-abort_on", "FAILURE", "-osirrox", "on", "-indev"])
        .arg(&out)
        .arg("-extract")
        .arg("/")
        .arg(&x));
    assert_extracted(&read_tree(&x), &expected);

    // 7z reads the Joliet tree: as many files as packed, each with its own bytes.
    let s = out_dir(dir.path(), "7z");
    run(Command::new("7z")
        .args(["x", "-y", "-bd"])
        .arg(format!("-o{}", s.display()))
        .arg(&out));
    let seven = read_tree(&s);
    let names: Vec<String> = seven.keys().cloned().collect();
    assert_unique("7z x (Joliet)", &names, collision_key);
    let mut got: Vec<&Vec<u8>> = seven
        .iter()
        .filter(|(k, _)| *k != "manifest.json" && *k != "manifest.sig")
        .map(|(_, v)| v)
        .collect();
    let mut want_bytes: Vec<&Vec<u8>> = expected.values().collect();
    got.sort();
    want_bytes.sort();
    assert!(got == want_bytes, "7z extracted other contents: {names:#?}");

    assert_nothing_escaped(dir.path(), &["case.iso", "xorriso", "7z"]);
}

/// A package built by someone else (a hostile or buggy partner), correctly signed, whose files
/// collide on Windows/macOS or would escape the extraction folder: `verify` names each of them
/// and does not pass it.
#[test]
fn verify_refuses_a_signed_zip_with_colliding_or_unsafe_names() {
    use casemesh_package::manifest::{self, MANIFEST_FORMAT, MANIFEST_VERSION};
    use casemesh_package::{Manifest, ManifestFile, Problem, signer_of};
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hostile.zip");
    let key = options(Format::Zip).signing_key;
    let names = [
        "a.txt",
        "A.txt",
        "caf\u{e9}.txt",
        "cafe\u{301}.txt",
        "notes",
        "NOTES/inside.txt",
        "../evil.txt",
        "dir\\x.txt",
    ];
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&out).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut files = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let bytes = random_bytes(i as u64, 10 + i);
        zip.start_file(*name, stored).unwrap();
        zip.write_all(&bytes).unwrap();
        files.push(ManifestFile {
            path: name.to_string(),
            size: bytes.len() as u64,
            blake3: blake3::hash(&bytes).to_hex().to_string(),
        });
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: MANIFEST_VERSION,
        container: "zip".into(),
        signer: signer_of(&key).0,
        public_key: hex::encode(key.verifying_key().to_bytes()),
        created_at_ms: 1_700_000_000_000,
        files,
        folders: Vec::new(),
    }
    .to_bytes();
    zip.start_file("manifest.json", stored).unwrap();
    zip.write_all(&manifest).unwrap();
    zip.start_file("manifest.sig", stored).unwrap();
    zip.write_all(&manifest::sign(&key, &manifest)).unwrap();
    zip.finish().unwrap();

    let report = verify(&out).unwrap();
    assert!(report.signature_valid && report.signer_matches_key);
    assert!(!report.is_ok(), "{report:#?}");
    let problem = |path: &str| {
        report
            .problems
            .iter()
            .find(|p| p.path == path)
            .map(|p| p.problem.clone())
    };
    // Sorted by bytes: `A.txt` < `NOTES/…` < `a.txt` < `cafe\u{301}` < `café` < `notes`.
    assert_eq!(
        problem("a.txt"),
        Some(Problem::Collides {
            with: "A.txt".into()
        })
    );
    assert_eq!(
        problem("caf\u{e9}.txt"),
        Some(Problem::Collides {
            with: "cafe\u{301}.txt".into()
        })
    );
    assert_eq!(
        problem("notes"),
        Some(Problem::Collides {
            with: "NOTES".into()
        })
    );
    assert_eq!(problem("../evil.txt"), Some(Problem::UnsafePath));
    // Not NFC: not a name casemesh writes.
    assert_eq!(problem("cafe\u{301}.txt"), Some(Problem::UnsafePath));
    assert_eq!(problem("dir\\x.txt"), Some(Problem::UnsafePath));
    assert_eq!(report.problems.len(), 6, "{:#?}", report.problems);
    assert_eq!(report.files_ok, 2);
}
