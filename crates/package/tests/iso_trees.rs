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

/// The start of the primary (and Rock Ridge) directory record of the folder whose ECMA-119
/// identifier is `ident`: the record (9.1) with that identifier and the directory flag, not the
/// path table records that name it too.
fn folder_record(image: &[u8], ident: &str) -> usize {
    let hits: Vec<usize> = image
        .windows(ident.len())
        .enumerate()
        .filter(|(at, w)| {
            *w == ident.as_bytes()
                && *at >= 33
                && image[at - 1] as usize == ident.len()
                && image[at - 33 + 25] & 2 != 0
                && image[at - 33] as usize >= 33 + ident.len()
        })
        .map(|(at, _)| record_of(at))
        .collect();
    assert_eq!(hits.len(), 1, "{ident}");
    hits[0]
}

/// The `..` record of the directory the folder record `record` points at: it carries the
/// parent's extent (ECMA-119 6.8.2.2: the second record of a directory).
fn dot_dot(image: &[u8], record: usize) -> usize {
    let lba = u32::from_le_bytes(image[record + 2..record + 6].try_into().unwrap());
    let dir = lba as usize * 2048;
    dir + image[dir] as usize
}

/// Points the folder record `from` at the directory of the folder record `to` (extent location
/// and data length, both byte orders: ECMA-119 9.1.3, 9.1.4).
fn redirect(image: &mut [u8], from: usize, to: usize) {
    let target: Vec<u8> = image[to + 2..to + 18].to_vec();
    image[from + 2..from + 18].copy_from_slice(&target);
}

/// Verifies `path` on another thread; panics if that takes a minute (a walk that does not end)
/// or holds more than `limit` bytes at once.
fn verify_bounded(path: &Path, limit: u64) -> VerifyReport {
    let path = path.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut report = None;
        let info = allocation_counter::measure(|| report = Some(verify(&path)));
        let _ = tx.send((info.bytes_max, report));
    });
    let (peak, report) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("verify did not finish within a minute");
    assert!(peak <= limit, "verify held {peak} bytes at peak");
    report.unwrap().unwrap()
}

const LOOP: &str = "folder points at a directory already listed elsewhere";

/// The paths whose problem is `Unreadable` with a reason starting with `reason`.
fn unreadable_at<'a>(report: &'a VerifyReport, reason: &str) -> Vec<&'a str> {
    report
        .problems
        .iter()
        .filter(|p| matches!(&p.problem, Problem::Unreadable(r) if r.starts_with(reason)))
        .map(|p| p.path.as_str())
        .collect()
}

fn loops_at(report: &VerifyReport) -> Vec<&str> {
    unreadable_at(report, LOOP)
}

/// A package whose folder records were patched after signing into a loop (a folder pointing
/// back at its parent) or a shared subtree (two folders pointing at one directory): the image is
/// untrusted input, and its tree is a graph, not necessarily a tree. Found by `fuzz_verify`'s
/// `iso_mutations` (`BOLERO_RANDOM_SEED=320482703862472611454065457465656567079`: one flipped
/// byte made the root's `.` record a folder named with 59 bytes of system-use data: the walk
/// followed it 256 levels deep and held 71 MB). Each directory is listed once; a folder reached
/// again is a problem at its path, and memory stays small.
#[test]
fn folders_that_loop_or_share_a_directory_fail_verify_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("case.iso");
    let long = "a folder name long enough to make every level of a loop cost memory ".repeat(2);
    let long = long.trim_end();
    let entries = vec![
        Entry::bytes(
            format!("Evidence/{long}/Photos/a.jpg"),
            random_bytes(1, 100),
        ),
        Entry::bytes(format!("Evidence/{long}/Docs/b.txt"), random_bytes(2, 100)),
    ];
    build(entries, &out, &options(Format::Iso), &|_, _| {}).unwrap();
    assert!(verify(&out).unwrap().is_ok());
    let good = std::fs::read(&out).unwrap();
    let (photos, docs) = (folder_record(&good, "PHOTOS"), folder_record(&good, "DOCS"));
    let parent = dot_dot(&good, photos);

    // Photos → its own parent folder: a loop.
    let mut image = good.clone();
    redirect(&mut image, photos, parent);
    std::fs::write(&out, &image).unwrap();
    let v = verify_bounded(&out, 4 << 20);
    assert!(!v.is_ok());
    assert_eq!(loops_at(&v), [format!("Evidence/{long}/Photos")], "{v:#?}");
    assert!(v.missing.contains(&format!("Evidence/{long}/Photos/a.jpg")));

    // Photos → Docs' directory: one subtree under two names.
    let mut image = good.clone();
    redirect(&mut image, photos, docs);
    std::fs::write(&out, &image).unwrap();
    let v = verify_bounded(&out, 4 << 20);
    assert!(!v.is_ok());
    assert_eq!(loops_at(&v).len(), 1, "{v:#?}");

    // Both → their parent: each level doubles, 2^256 paths to an unbounded walk.
    let mut image = good;
    redirect(&mut image, photos, parent);
    redirect(&mut image, docs, parent);
    std::fs::write(&out, &image).unwrap();
    let v = verify_bounded(&out, 4 << 20);
    assert!(!v.is_ok());
    assert_eq!(loops_at(&v).len(), 2, "{v:#?}");
}

const DOT_MISMATCH: &str = "folder's directory does not describe itself";

fn mismatches_at(report: &VerifyReport) -> Vec<&str> {
    unreadable_at(report, DOT_MISMATCH)
}

/// A forged copy of the `Evidence` directory appended to the image, the root's `Evidence` record
/// pointing at it, and the copy's `.` record still naming the genuine directory (extent and
/// length as signed). `edit` changes the copy's records (offsets are within the copy). Returns
/// the forged image. ECMA-119 6.8.2.2 has a directory's `.` record describe the directory
/// itself; `hadris-iso` lists a directory from its `.` record, isoinfo, 7-Zip, xorriso and Linux
/// from the record that leads to it, so the two would list different contents.
fn forged_evidence_copy(good: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let evidence = folder_record(good, "EVIDENCE");
    let lba = u32::from_le_bytes(good[evidence + 2..evidence + 6].try_into().unwrap()) as usize;
    let len = u32::from_le_bytes(good[evidence + 10..evidence + 14].try_into().unwrap()) as usize;
    let mut copy = good[lba * 2048..lba * 2048 + len].to_vec();
    edit(&mut copy);
    let mut image = good.to_vec();
    image.resize(image.len().next_multiple_of(2048), 0);
    let new_lba = (image.len() / 2048) as u32;
    image.extend_from_slice(&copy);
    image.resize(image.len().next_multiple_of(2048), 0);
    image[evidence + 2..evidence + 6].copy_from_slice(&new_lba.to_le_bytes());
    image[evidence + 6..evidence + 10].copy_from_slice(&new_lba.to_be_bytes());
    image
}

/// The offset in `dir` (one directory's bytes) of the record whose identifier is `ident`.
fn record_in(dir: &[u8], ident: &[u8]) -> usize {
    let mut pos = 0;
    while pos < dir.len() && dir[pos] != 0 {
        let n = dir[pos + 32] as usize;
        if &dir[pos + 33..pos + 33 + n] == ident {
            return pos;
        }
        pos += dir[pos] as usize;
    }
    panic!("no record {:?}", String::from_utf8_lossy(ident));
}

/// A newcomer's attack (both HIGH): the `Evidence` folder's record points at a forged copy of its
/// directory whose `.` record names the genuine one. Real readers list the copy: in it
/// `report.txt` shows `other.txt`'s bytes, or a file the manifest never held is added; verify
/// used to list the genuine directory through the `.` record and passed both images (exit 0).
#[test]
fn a_folder_whose_dot_record_names_another_directory_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let out = two_files(dir.path());
    let good = std::fs::read(&out).unwrap();

    // Other bytes: the copy's report.txt record points at other.txt's extent.
    let image = forged_evidence_copy(&good, |copy| {
        let report = record_in(copy, b"REPORT.TXT;1");
        let other = record_in(copy, b"OTHER.TXT;1");
        let location: Vec<u8> = copy[other + 2..other + 10].to_vec();
        copy[report + 2..report + 10].copy_from_slice(&location);
    });
    std::fs::write(&out, &image).unwrap();
    let x = Command::new("isoinfo")
        .args(["-R", "-i"])
        .arg(&out)
        .args(["-x", "/Evidence/report.txt"])
        .output()
        .unwrap();
    assert_eq!(x.stdout, random_bytes(1, 100), "readers get forged bytes");
    let v = verify_bounded(&out, 4 << 20);
    assert!(!v.is_ok(), "{v:#?}");
    assert_eq!(mismatches_at(&v), ["Evidence"], "{v:#?}");

    // An added file: a copy of report.txt's record (Rock Ridge name and all) renamed, in the
    // block's free space.
    let image = forged_evidence_copy(&good, |copy| {
        let report = record_in(copy, b"REPORT.TXT;1");
        let mut added = copy[report..report + copy[report] as usize].to_vec();
        let end = {
            let mut pos = 0;
            while copy[pos] != 0 {
                pos += copy[pos] as usize;
            }
            pos
        };
        let swap = |rec: &mut Vec<u8>, from: &[u8], to: &[u8]| {
            let at = rec.windows(from.len()).position(|w| w == from).unwrap();
            rec[at..at + to.len()].copy_from_slice(to);
        };
        swap(&mut added, b"REPORT.TXT;1", b"ZDDED1.TXT;1");
        swap(&mut added, b"report.txt", b"zdded1.txt");
        copy[end..end + added.len()].copy_from_slice(&added);
    });
    std::fs::write(&out, &image).unwrap();
    let listed = isoinfo(&["-R", "-f"], &out);
    assert!(listed.contains("/Evidence/zdded1.txt"), "{listed}");
    let v = verify_bounded(&out, 4 << 20);
    assert!(!v.is_ok(), "{v:#?}");
    assert_eq!(mismatches_at(&v), ["Evidence"], "{v:#?}");
}

/// A newcomer's attack: many empty folders whose directories' `.` records all name the root.
/// Listing each from its `.` record listed the whole root under every folder: `n` folders made
/// `n²` paths (2,000 folders in a 5 MB image held 3.4 GB for a minute). Each is refused and
/// memory stays small.
#[test]
fn folders_whose_dot_records_name_the_root_fail_verify_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("case.iso");
    let n = 400;
    let mut entries: Vec<Entry> = (0..n)
        .map(|i| {
            Entry::folder(format!(
                "F{i:04} with a name that makes each listed path cost"
            ))
        })
        .collect();
    entries.push(Entry::bytes("Evidence/report.txt", random_bytes(2, 100)));
    build(entries, &out, &options(Format::Iso), &|_, _| {}).unwrap();
    assert!(verify(&out).unwrap().is_ok());
    let mut image = std::fs::read(&out).unwrap();
    // The root's own `.` record (ECMA-119 8.4.18: the primary volume descriptor's root record,
    // at byte 156 of sector 16).
    let pvd_root = 16 * 2048 + 156;
    let root_lba = u32::from_le_bytes(image[pvd_root + 2..pvd_root + 6].try_into().unwrap());
    let root_at = root_lba as usize * 2048;
    let root_dot: Vec<u8> = image[root_at + 2..root_at + 18].to_vec();
    let root_len =
        u32::from_le_bytes(image[pvd_root + 10..pvd_root + 14].try_into().unwrap()) as usize;
    // Every folder record in the root (records do not cross a block; a zero length byte ends a
    // block's records), `.` and `..` left out.
    let mut folders = Vec::new();
    for block in (root_at..root_at + root_len).step_by(2048) {
        let mut pos = block;
        while pos < block + 2048 && image[pos] != 0 {
            let special = image[pos + 32] == 1 && image[pos + 33] <= 1;
            if image[pos + 25] & 2 != 0 && !special {
                folders.push(pos);
            }
            pos += image[pos] as usize;
        }
    }
    assert!(folders.len() > n, "{}", folders.len());
    for record in folders {
        let lba = u32::from_le_bytes(image[record + 2..record + 6].try_into().unwrap());
        let dot = lba as usize * 2048;
        image[dot + 2..dot + 18].copy_from_slice(&root_dot);
    }
    std::fs::write(&out, &image).unwrap();
    let v = verify_bounded(&out, 16 << 20);
    assert!(!v.is_ok());
    assert_eq!(mismatches_at(&v).len(), n + 1, "{v:#?}");
}

/// A newcomer's attack: many file records over one large file's bytes (here each with another
/// length, so no two are alike). Hashing each record's extents read the large file once per
/// record (60,000 records over a whole image: 47 s). A genuine image's files never share bytes,
/// so their distinct extents add up to at most the image: past that, files are not read, and
/// verify reads the image about twice at most.
#[test]
fn file_records_over_the_same_bytes_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("case.iso");
    let n = 200;
    let mut entries = vec![Entry::bytes("Evidence/big.bin", random_bytes(7, 2 << 20))];
    for i in 0..n {
        entries.push(Entry::bytes(
            format!("Evidence/f{i:03}.bin"),
            random_bytes(i, 10),
        ));
    }
    build(entries, &out, &options(Format::Iso), &|_, _| {}).unwrap();
    let mut image = std::fs::read(&out).unwrap();
    let big = record_of(only(&image, b"BIG.BIN;1"));
    let big_len = u32::from_le_bytes(image[big + 10..big + 14].try_into().unwrap());
    for i in 0..n {
        let record = record_of(only(&image, format!("F{i:03}.BIN;1").as_bytes()));
        let extent: Vec<u8> = image[big + 2..big + 10].to_vec();
        image[record + 2..record + 10].copy_from_slice(&extent);
        let len = big_len - (i as u32 + 1) * 2048;
        image[record + 10..record + 14].copy_from_slice(&len.to_le_bytes());
        image[record + 14..record + 18].copy_from_slice(&len.to_be_bytes());
    }
    std::fs::write(&out, &image).unwrap();
    let (v, read) = verify_reading(&out);
    assert!(!v.is_ok());
    let image_len = image.len() as u64;
    assert!(
        read < 3 * image_len,
        "verify read {read} bytes of a {image_len}-byte image"
    );
    let unread = unreadable_at(&v, "the files' extents add up").len();
    assert!(unread >= n as usize - 2, "{v:#?}");
}
