//! ZIP layout tampering: a package built by the crate's writer, rewritten byte by byte in Rust
//! (duplicate central entries, a local-only entry, a renamed local header, trailing bytes, an
//! archive comment). `verify` must fail each with the right problem; the untouched package and
//! a faithful re-assembly of it still pass.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use casemesh_package::{ArchiveIssue, Entry, Format, Problem, VerifyReport, build, verify};
use common::options;

const DUP: &str = "Evidence/dup.txt";
const GENUINE: &[u8] = b"The witness saw the blue car at 21:40.\n";
const FORGED: &[u8] = b"The witness saw the red  car at 23:10.\n";

/// One entry of the archive: its local record (header, name, extra, data) and central record.
#[derive(Clone)]
struct Rec {
    local: Vec<u8>,
    central: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// CRC-32 (ISO 3309, as ZIP uses), bitwise.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Splits a small (non-ZIP64, no comment) archive into its records.
fn parse(bytes: &[u8]) -> Vec<Rec> {
    let eocd = &bytes[bytes.len() - 22..];
    assert_eq!(&eocd[..4], b"PK\x05\x06");
    let (count, cd_offset) = (u16_at(eocd, 10), u32_at(eocd, 16));
    let mut at = cd_offset;
    let mut recs = Vec::new();
    for _ in 0..count {
        let c = &bytes[at..];
        assert_eq!(&c[..4], b"PK\x01\x02");
        assert_eq!(u16_at(c, 8) & 8, 0, "writer uses no data descriptors");
        let clen = 46 + u16_at(c, 28) + u16_at(c, 30) + u16_at(c, 32);
        let (csize, local_at) = (u32_at(c, 20), u32_at(c, 42));
        let l = &bytes[local_at..];
        let llen = 30 + u16_at(l, 26) + u16_at(l, 28) + csize;
        recs.push(Rec {
            local: l[..llen].to_vec(),
            central: c[..clen].to_vec(),
        });
        at += clen;
    }
    recs
}

/// Lays `recs` out end to end, with `hidden` bytes (listed nowhere) before record `index`.
fn assemble(recs: &[Rec], hidden: Option<(usize, &[u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (i, rec) in recs.iter().enumerate() {
        match hidden {
            Some((at, bytes)) if at == i => out.extend_from_slice(bytes),
            _ => {}
        }
        let mut c = rec.central.clone();
        c[42..46].copy_from_slice(&u32::try_from(out.len()).unwrap().to_le_bytes());
        central.extend_from_slice(&c);
        out.extend_from_slice(&rec.local);
    }
    let cd_offset = u32::try_from(out.len()).unwrap();
    out.extend_from_slice(&central);
    let n = u16::try_from(recs.len()).unwrap().to_le_bytes();
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&n);
    out.extend_from_slice(&n);
    out.extend_from_slice(&u32::try_from(central.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A copy of the Stored record `rec` with `data` (same length) and its CRC-32.
fn with_data(rec: &Rec, data: &[u8]) -> Rec {
    let mut r = rec.clone();
    assert_eq!(u16_at(&r.central, 10), 0, "stored");
    let data_at = r.local.len() - data.len();
    r.local[data_at..].copy_from_slice(data);
    let crc = crc32(data).to_le_bytes();
    r.local[14..18].copy_from_slice(&crc);
    r.central[16..20].copy_from_slice(&crc);
    r
}

/// A real package: two small text files (stored), a folder, the manifest and its signature.
fn package(dir: &Path) -> (PathBuf, Vec<Rec>) {
    let out = dir.join("case.zip");
    let entries = vec![
        Entry::folder("Evidence"),
        Entry::bytes(DUP, GENUINE.to_vec()),
        Entry::bytes("Evidence/other.txt", b"other\n".to_vec()),
    ];
    build(entries, &out, &options(Format::Zip), &|_, _| {}).unwrap();
    let report = verify(&out).unwrap();
    assert!(report.is_ok(), "{report:?}");
    let recs = parse(&std::fs::read(&out).unwrap());
    (out, recs)
}

fn index_of(recs: &[Rec], name: &str) -> usize {
    recs.iter()
        .position(|r| &r.central[46..46 + u16_at(&r.central, 28)] == name.as_bytes())
        .unwrap()
}

/// Writes `bytes` next to the package (also into `$CASEMESH_KEEP_TAMPERED` when set, to run an
/// older `casemesh verify` on) and verifies it.
fn write_and_verify(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, VerifyReport) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    if let Some(keep) = std::env::var_os("CASEMESH_KEEP_TAMPERED") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(Path::new(&keep).join(name), bytes).unwrap();
    }
    let report = verify(&path).unwrap();
    assert!(!report.is_ok() || name == "reassembled.zip", "{report:?}");
    (path, report)
}

fn has(report: &VerifyReport, path: &str, want: impl Fn(&Problem) -> bool) -> bool {
    report
        .problems
        .iter()
        .any(|p| p.path == path && want(&p.problem))
}

fn unzip_list(path: &Path) -> Option<String> {
    let out = Command::new("unzip").arg("-l").arg(path).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_faithful_reassembly_still_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (out, recs) = package(dir.path());
    let again = assemble(&recs, None);
    assert_eq!(again, std::fs::read(&out).unwrap(), "the helper is exact");
    let (_, report) = write_and_verify(dir.path(), "reassembled.zip", &again);
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn a_duplicate_name_fails_whichever_copy_comes_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_, recs) = package(dir.path());
    let at = index_of(&recs, DUP);
    let forged = with_data(&recs[at], FORGED);
    for (name, forged_first) in [("dup-first.zip", true), ("dup-last.zip", false)] {
        let mut tampered = recs.clone();
        tampered.insert(if forged_first { at } else { at + 1 }, forged.clone());
        let (path, report) = write_and_verify(dir.path(), name, &assemble(&tampered, None));
        assert!(
            has(&report, DUP, |p| *p == Problem::Duplicate),
            "{name}: {report:?}"
        );
        assert!(report.altered.contains(&DUP.to_string()), "{report:?}");
        // The standard tool sees both entries.
        if let Some(list) = unzip_list(&path) {
            assert_eq!(list.matches(DUP).count(), 2, "{list}");
        }
    }
}

#[test]
fn a_duplicate_folder_entry_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_, recs) = package(dir.path());
    let at = index_of(&recs, "Evidence/");
    let mut tampered = recs.clone();
    tampered.insert(at + 1, recs[at].clone());
    let (_, report) = write_and_verify(dir.path(), "dup-folder.zip", &assemble(&tampered, None));
    assert!(
        has(&report, "Evidence/", |p| *p == Problem::Duplicate),
        "{report:?}"
    );
}

#[test]
fn a_local_only_entry_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_, recs) = package(dir.path());
    let at = index_of(&recs, DUP);
    let hidden = with_data(&recs[at], FORGED).local;
    let (_, report) = write_and_verify(
        dir.path(),
        "local-only.zip",
        &assemble(&recs, Some((at + 1, &hidden))),
    );
    let gap_at: usize = recs[..=at].iter().map(|r| r.local.len()).sum();
    assert!(
        has(&report, "", |p| *p
            == Problem::Archive(ArchiveIssue::Unlisted {
                offset: gap_at as u64,
                len: hidden.len() as u64,
            })),
        "{report:?}"
    );
    // Every file still hashes right: only the layout check catches it.
    assert_eq!(report.files_ok, 2, "{report:?}");
}

#[test]
fn a_local_name_other_than_the_central_name_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_, recs) = package(dir.path());
    let at = index_of(&recs, DUP);
    let evil = "../../../pwn.txt";
    assert_eq!(evil.len(), DUP.len());
    let mut tampered = recs.clone();
    tampered[at].local[30..30 + evil.len()].copy_from_slice(evil.as_bytes());
    let (path, report) = write_and_verify(dir.path(), "local-name.zip", &assemble(&tampered, None));
    assert!(
        has(&report, DUP, |p| *p
            == Problem::Archive(ArchiveIssue::LocalName {
                local: evil.to_string()
            })),
        "{report:?}"
    );
    // The central directory, which `unzip -l` lists, still says the innocent name.
    if let Some(list) = unzip_list(&path) {
        assert!(list.contains(DUP) && !list.contains("pwn"), "{list}");
    }
}

#[test]
fn trailing_bytes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = package(dir.path());
    let mut bytes = std::fs::read(&out).unwrap();
    let len = bytes.len() as u64;
    let appended = b"PK\x03\x04 appended payload";
    bytes.extend_from_slice(appended);
    let (_, report) = write_and_verify(dir.path(), "trailing.zip", &bytes);
    assert!(
        has(&report, "", |p| *p
            == Problem::Archive(ArchiveIssue::Trailing {
                offset: len,
                len: appended.len() as u64,
            })),
        "{report:?}"
    );
}

#[test]
fn an_archive_comment_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = package(dir.path());
    let mut bytes = std::fs::read(&out).unwrap();
    let comment = b"signed and sealed, trust me";
    let n = bytes.len();
    bytes[n - 2..].copy_from_slice(&u16::try_from(comment.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(comment);
    let (_, report) = write_and_verify(dir.path(), "comment.zip", &bytes);
    assert!(
        has(&report, "", |p| *p
            == Problem::Archive(ArchiveIssue::Comment {
                len: comment.len() as u64
            })),
        "{report:?}"
    );
}

/// `bytes` (a small archive) with one more central record per name in `aliases` (each as long
/// as `name`), copies of `name`'s record pointing at its local header.
fn with_aliases(bytes: &[u8], name: &str, aliases: &[String]) -> Vec<u8> {
    let eocd = &bytes[bytes.len() - 22..];
    let (count, cd_size, cd_offset) = (u16_at(eocd, 10), u32_at(eocd, 12), u32_at(eocd, 16));
    let mut central = bytes[cd_offset..cd_offset + cd_size].to_vec();
    let mut at = 0;
    let original = loop {
        let c = &central[at..];
        let clen = 46 + u16_at(c, 28) + u16_at(c, 30) + u16_at(c, 32);
        if &c[46..46 + u16_at(c, 28)] == name.as_bytes() {
            break c[..clen].to_vec();
        }
        at += clen;
    };
    for alias in aliases {
        assert_eq!(alias.len(), name.len());
        let mut c = original.clone();
        c[46..46 + alias.len()].copy_from_slice(alias.as_bytes());
        central.extend_from_slice(&c);
    }
    let mut out = bytes[..cd_offset].to_vec();
    out.extend_from_slice(&central);
    let n = u16::try_from(count + aliases.len()).unwrap().to_le_bytes();
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&n);
    out.extend_from_slice(&n);
    out.extend_from_slice(&u32::try_from(central.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&u32::try_from(cd_offset).unwrap().to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A newcomer's attack: many central records pointing at one large entry's local header. Every
/// one of them was read (1,000 records on one 100 MB stream: 37 s); an entry whose bytes lie
/// inside another's is a layout problem already ([`ArchiveIssue::Overlap`]) and is not read
/// again.
#[test]
fn central_records_sharing_one_entrys_bytes_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("case.zip");
    let big = "Evidence/big.bin";
    let entries = vec![Entry::bytes(big, common::random_bytes(7, 4 << 20))];
    build(entries, &out, &options(Format::Zip), &|_, _| {}).unwrap();
    let aliases: Vec<String> = (0..200).map(|i| format!("Evidence/{i:03}.bin")).collect();
    let bytes = with_aliases(&std::fs::read(&out).unwrap(), big, &aliases);
    let path = dir.path().join("aliases.zip");
    std::fs::write(&path, &bytes).unwrap();
    let (report, read) = common::verify_reading(&path);
    assert!(!report.is_ok());
    for alias in &aliases {
        assert!(
            has(&report, alias, |p| *p
                == Problem::Archive(ArchiveIssue::Overlap)),
            "{alias}: {report:?}"
        );
    }
    // The archive once, plus each record's local header read through a buffer (64 KiB).
    let bound = 2 * bytes.len() as u64 + aliases.len() as u64 * (128 << 10);
    assert!(
        read < bound,
        "verify read {read} bytes of a {}-byte archive",
        bytes.len()
    );
}
