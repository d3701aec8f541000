//! Shared fixtures for the package tests: a nested tree of files with random contents, the
//! entries that package it, and helpers to run the real archive tools.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use casemesh_package::{BuildOptions, Entry, Format, NameAllocator};

/// Deterministic pseudo-random bytes (splitmix64): enough to defeat compression.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn options(format: Format) -> BuildOptions {
    BuildOptions {
        format,
        signing_key: ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]),
        created_at_ms: 1_700_000_000_000,
    }
}

/// A name longer than Joliet's 64 characters.
pub const LONG_NAME: &str = "Interview with witness number seven recorded at the central station on the night of March 3rd.mp4";
/// A name that needs Unicode (Rock Ridge / Joliet) to survive.
pub const UNICODE_NAME: &str = "Zeugenaussage – Müller 証拠 ✓.txt";

/// The fixture: ~20 files in nested folders (depth 10 included), varied sizes, some a few MiB
/// of random bytes, text files, generated (in-memory) files, Unicode and long names.
/// Returns the entries and the expected package contents (path → bytes).
pub fn fixture(dir: &Path) -> (Vec<Entry>, BTreeMap<String, Vec<u8>>) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut names = NameAllocator::new();
    let mut entries = Vec::new();
    let mut expected = BTreeMap::new();
    let deep: Vec<String> = (1..=10).map(|i| format!("level{i}")).collect();
    let deep: Vec<&str> = deep.iter().map(String::as_str).collect();
    let files: Vec<(Vec<&str>, &str, usize)> = vec![
        (vec!["Evidence", "Interviews"], "clip.mp4", 3 << 20),
        (vec!["Evidence", "Interviews"], "clip.mp4", 5 << 20),
        (vec!["Evidence", "Interviews"], "CLIP.mp4", 1000),
        (vec!["Evidence", "Interviews"], LONG_NAME, 2 << 20),
        (vec!["Evidence", "Photos"], "scene 1.jpg", 700_000),
        (vec!["Evidence", "Photos"], "scene 2.jpg", 1),
        (vec!["Evidence", "Photos"], "empty.bin", 0),
        (vec!["Evidence", "Docs"], UNICODE_NAME, 12_345),
        (vec!["Evidence", "Docs"], "notes?.txt", 4096),
        (vec!["Evidence", "Docs"], "CON", 10),
        (vec!["Evidence", "Docs"], "../../etc/passwd", 20),
        (vec![], "readme.bin", 2048),
        (vec![], "exactly one sector.bin", 2048),
        (vec![], "one more.bin", 2049),
        (deep.clone(), "deep file.bin", 33_000),
        (deep[..5].to_vec(), "middle.bin", 5000),
        (vec!["Audio"], "call.wav", 1 << 20),
    ];
    for (i, (folders, name, size)) in files.into_iter().enumerate() {
        let path = names.allocate(&folders, name);
        let bytes = random_bytes(i as u64, size);
        let file = src.join(format!("blob{i}"));
        std::fs::write(&file, &bytes).unwrap();
        entries.push(Entry::file(path.clone(), file).unwrap());
        expected.insert(path, bytes);
    }
    // Generated files: text (deflated in ZIP) and CSV.
    let toc: String = expected
        .keys()
        .map(|p| format!("{p}\n"))
        .collect::<String>()
        .repeat(20);
    let csv: String = (0..2000)
        .map(|i| format!("{i},view,user{i},2026-11-23T08:12:00Z\n"))
        .collect();
    for (folders, name, bytes) in [
        (vec![], "Table of contents.txt", toc.into_bytes()),
        (vec!["Audit"], "audit trail.csv", csv.into_bytes()),
        (vec!["Audit"], "audit trail.json", b"[]".to_vec()),
    ] {
        let path = names.allocate(&folders, name);
        entries.push(Entry::bytes(path.clone(), bytes.clone()));
        expected.insert(path, bytes);
    }
    (entries, expected)
}

/// Runs a command, panicking with its output if it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every regular file under `root`, by `/`-separated relative path.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(rel.join("/"), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Asserts that `extracted` holds exactly the expected files plus the manifest and signature.
pub fn assert_extracted(
    extracted: &BTreeMap<String, Vec<u8>>,
    expected: &BTreeMap<String, Vec<u8>>,
) {
    let mut want: Vec<&String> = expected.keys().collect();
    want.sort();
    let got: Vec<&String> = extracted
        .keys()
        .filter(|k| *k != "manifest.json" && *k != "manifest.sig")
        .collect();
    assert_eq!(got, want, "extracted paths differ");
    for (path, bytes) in expected {
        assert!(extracted[path] == *bytes, "{path}: extracted bytes differ");
    }
    assert!(extracted.contains_key("manifest.json") && extracted.contains_key("manifest.sig"));
}

pub fn tool_exists(name: &str) -> bool {
    Command::new("which")
        .arg(name)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub fn out_dir(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Bytes the calling thread has read so far through read system calls (`rchar` of
/// `/proc/thread-self/io`, page cache hits included): what a piece of work read, measured around
/// it on one thread, apart from the tests running beside it.
pub fn thread_read_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `verify(path)` and the bytes this thread read doing it.
pub fn verify_reading(path: &Path) -> (casemesh_package::VerifyReport, u64) {
    let before = thread_read_bytes();
    let report = casemesh_package::verify(path).unwrap();
    (report, thread_read_bytes() - before)
}
