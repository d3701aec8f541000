//! Offline verification: [`verify`] and [`VerifyReport`].
//!
//! The container readers (`zip_package::read`, `iso_package::read`) list every file with its size
//! and BLAKE3 hash (one streaming pass, no extraction) and hand over the bytes of
//! `manifest.json` and `manifest.sig`. This module checks the signature and compares the listing
//! with the manifest; it also checks that the manifest's signer is the org id of its key, and the
//! audit-trail attachment ([`crate::custody`]) when the package has one. A damaged package is a *result* (`is_ok() == false` with the names of the
//! files concerned), not an error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::custody::{self, AUDIT_TRAIL_PATH, AuditCheck};
use crate::manifest::{self, MANIFEST_NAME, Manifest, SIGNATURE_NAME};
use crate::names::{collision_key, joliet_key, joliet_name};
use crate::{Format, PackageError, iso_package, sanitize_path, zip_package};

/// What the reader found for one file of the package.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// Size and BLAKE3 hex of the contents.
    Read { size: u64, blake3: String },
    /// The contents could not be read back (corrupt deflate stream, extent outside the image).
    Unreadable(String),
}

impl From<Result<(u64, String), String>> for Found {
    fn from(result: Result<(u64, String), String>) -> Self {
        match result {
            Ok((size, blake3)) => Found::Read { size, blake3 },
            Err(reason) => Found::Unreadable(reason),
        }
    }
}

/// Everything a container reader found.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Package path and what was found, in container order (a path may repeat in a ZIP).
    pub(crate) files: Vec<(String, Found)>,
    /// `manifest.json` bytes; `Some(None)` when present but unreadable or too large.
    pub(crate) manifest: Option<Option<Vec<u8>>>,
    /// `manifest.sig` bytes, as for `manifest`.
    pub(crate) signature: Option<Option<Vec<u8>>>,
    /// The bytes of [`AUDIT_TRAIL_PATH`] (also listed in `files`), as for `manifest`.
    pub(crate) audit_trail: Option<Option<Vec<u8>>>,
    /// Every folder the container holds (ZIP: directory entries, `/` stripped; ISO: directories
    /// of the tree read for `files`).
    pub(crate) dirs: Vec<String>,
    /// ISO: where each file of `files` (and the manifest and signature) lies in the image.
    pub(crate) extents: HashMap<String, ExtentKey>,
    /// ISO: every other directory tree of the image.
    pub(crate) trees: Vec<TreeListing>,
    /// ZIP: problems with the archive's layout ([`Problem::Archive`], [`Problem::Duplicate`] of a
    /// folder entry), each with its path (`""` for the archive as a whole).
    pub(crate) structure: Vec<FileProblem>,
}

/// Where a file's bytes lie in an ISO image: its size and its `(offset, length)` extents in
/// file order, in bytes. Two directory records with equal keys show the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct ExtentKey {
    pub(crate) len: u64,
    pub(crate) extents: Vec<(u64, u64)>,
}

/// One more directory tree of an ISO image, as its reader lists it.
#[derive(Debug)]
pub(crate) struct TreeListing {
    pub(crate) tree: IsoTree,
    /// Path in this tree and where its bytes lie.
    pub(crate) files: Vec<(String, ExtentKey)>,
    /// Every folder of this tree.
    pub(crate) dirs: Vec<String>,
    /// Entries that are neither file nor folder.
    pub(crate) others: Vec<String>,
}

/// One of the directory trees of an ISO image. A reader shows one of them: Linux and xorriso
/// the Rock Ridge tree, Windows Explorer and 7-Zip the Joliet tree, a plain ISO 9660 reader the
/// primary tree. `verify` holds each against the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IsoTree {
    /// The ISO 9660 tree with its own identifiers (`REPORT.TXT`; ECMA-119).
    Primary,
    /// The primary tree's records with Rock Ridge (IEEE P1282) names.
    RockRidge,
    /// The Joliet tree (UCS-2 names of up to 64 characters).
    Joliet,
    /// The ISO 9660:1999 enhanced tree.
    Enhanced,
}

impl std::fmt::Display for IsoTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IsoTree::Primary => "ISO 9660 primary",
            IsoTree::RockRidge => "Rock Ridge",
            IsoTree::Joliet => "Joliet",
            IsoTree::Enhanced => "ISO 9660:1999 enhanced",
        })
    }
}

/// How one ISO directory tree disagrees with the manifest for one file or folder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeIssue {
    /// The manifest's file or folder is not in this tree under the name it must have there.
    Missing,
    /// This tree holds a file or folder (the problem's path is its path in this tree) that no
    /// manifest entry accounts for: a reader of this tree would extract it.
    Added,
    /// The file is there under its name, but its record points at other bytes than the tree
    /// the hashes were checked in.
    OtherBytes,
    /// The file's bytes are there under another name than the one this tree must give it.
    OtherName {
        /// The name found, its path in this tree.
        found: String,
    },
}

impl Listing {
    pub(crate) fn set_special(&mut self, name: &str, bytes: Option<Vec<u8>>) {
        let slot = if name == MANIFEST_NAME {
            &mut self.manifest
        } else if name == AUDIT_TRAIL_PATH {
            &mut self.audit_trail
        } else {
            &mut self.signature
        };
        // A second copy of the manifest or signature makes both untrustworthy.
        *slot = match slot {
            None => Some(bytes),
            Some(_) => Some(None),
        };
    }
}

/// What is wrong with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Listed in the manifest, absent from the package.
    Missing,
    /// Present in the package, not listed in the manifest.
    Added,
    /// The size differs from the manifest's.
    SizeMismatch {
        /// Size in the manifest.
        expected: u64,
        /// Size found.
        actual: u64,
    },
    /// Same size, different BLAKE3 hash.
    HashMismatch,
    /// The package holds the path more than once (ZIP: two central-directory entries with the
    /// same name bytes; `unzip` extracts the first, the zip crate reads the last).
    Duplicate,
    /// The contents could not be read (for instance a corrupt compressed stream).
    Unreadable(String),
    /// The manifest lists this path and `with` (listed earlier), which are one file on a
    /// case-insensitive or normalizing file system ([`collision_key`]: Windows, macOS) or, in an
    /// ISO, one name in the Joliet tree ([`joliet_key`]): extracting one overwrites or shadows
    /// the other. `casemesh` never builds such a package.
    Collides {
        /// The earlier manifest path it collides with.
        with: String,
    },
    /// The path is not safe to extract as it stands (it is not what [`sanitize_path`] makes of
    /// it: `..`, an absolute path, a backslash, a control character, a device name, a name not
    /// in Unicode NFC, …).
    UnsafePath,
    /// In an ISO, another directory tree than the one read for the hashes (see
    /// [`IsoTree`]) disagrees with the manifest: a reader of that tree would see other names,
    /// other bytes or other files.
    InTree {
        /// The tree concerned.
        tree: IsoTree,
        /// What is wrong there.
        issue: TreeIssue,
    },
    /// In a ZIP, the bytes of the archive are not exactly what its central directory says:
    /// a streaming extractor (which reads local headers) would see something else than the
    /// files verified. The problem's path is the central-directory name concerned, or `""` for
    /// the archive as a whole.
    Archive(ArchiveIssue),
}

/// How the layout of a ZIP disagrees with its central directory (APPNOTE.TXT §4.3). `casemesh`
/// writes local headers end to end from offset 0, then the central directory, then the end
/// record(s), no comment, nothing after.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveIssue {
    /// `len` bytes at `offset` (bytes from the start of the file) before the central directory
    /// that no central entry accounts for: a hidden local entry, or padding.
    Unlisted {
        /// Start, bytes from the start of the file.
        offset: u64,
        /// Length in bytes.
        len: u64,
    },
    /// The entry's data overlaps another entry's or the central directory.
    Overlap,
    /// No local file header (signature `PK\x03\x04`) where the central entry points.
    BadLocalHeader,
    /// The local header names the entry otherwise than the central directory does: a streaming
    /// extractor would write it under `local`.
    LocalName {
        /// The name in the local header (lossy UTF-8).
        local: String,
    },
    /// The end record carries an archive comment of `len` bytes.
    Comment {
        /// Length in bytes.
        len: u64,
    },
    /// `len` bytes follow the end record (and its comment) at `offset`.
    Trailing {
        /// Start, bytes from the start of the file.
        offset: u64,
        /// Length in bytes.
        len: u64,
    },
    /// The end records or the central directory cannot be made sense of (the reason).
    Malformed(String),
}

impl std::fmt::Display for ArchiveIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveIssue::Unlisted { offset, len } => write!(
                f,
                "{len} bytes at offset {offset} that the central directory does not list (a hidden entry?)"
            ),
            ArchiveIssue::Overlap => f.write_str("overlaps another entry or the central directory"),
            ArchiveIssue::BadLocalHeader => {
                f.write_str("no local file header where the central directory points")
            }
            ArchiveIssue::LocalName { local } => {
                write!(
                    f,
                    "local header names it {local:?} (streaming extractors use that name)"
                )
            }
            ArchiveIssue::Comment { len } => write!(f, "archive comment of {len} bytes"),
            ArchiveIssue::Trailing { offset, len } => {
                write!(
                    f,
                    "{len} bytes after the end of the archive at offset {offset}"
                )
            }
            ArchiveIssue::Malformed(why) => write!(f, "malformed archive: {why}"),
        }
    }
}

/// One file with a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// Package path.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// ZIP or ISO.
    pub format: Format,
    /// Whether `manifest.sig` is a valid ed25519 signature of `manifest.json` by
    /// [`public_key`](Self::public_key). Says nothing about *who* holds that key: compare it with
    /// the expected org key ([`signed_by`](Self::signed_by)).
    pub signature_valid: bool,
    /// The manifest's `signer` (org id text), as claimed by the manifest.
    pub signer: String,
    /// Whether `signer` is the org id of `public_key`. A manifest re-signed with another key
    /// while still naming the original organization fails here.
    pub signer_matches_key: bool,
    /// The manifest's public key, hex.
    pub public_key: String,
    /// The manifest's `created_at_ms`: time of the content's state, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// Files present with the size and hash the manifest lists.
    pub files_ok: usize,
    /// Listed in the manifest, absent from the package (sorted).
    pub missing: Vec<String>,
    /// Present in the package, not in the manifest (sorted).
    pub added: Vec<String>,
    /// Present but with another size or hash, unreadable, or duplicated, or listed under an
    /// unsafe or colliding name ([`Problem::UnsafePath`], [`Problem::Collides`]) (sorted).
    pub altered: Vec<String>,
    /// Every problem with details, sorted by path.
    pub problems: Vec<FileProblem>,
    /// The check of the audit-trail attachment ([`AUDIT_TRAIL_PATH`]); `None` when the package
    /// has none.
    pub audit: Option<AuditCheck>,
}

impl VerifyReport {
    /// Signature valid, signer consistent with its key, every file exactly as the manifest lists
    /// it, and the audit trail (if any) chained up to a head signed by the same key. Says nothing
    /// about *who* holds the key: see [`signed_by`](Self::signed_by).
    pub fn is_ok(&self) -> bool {
        self.signature_valid
            && self.signer_matches_key
            && self.audit.as_ref().is_none_or(AuditCheck::is_ok)
            && self.missing.is_empty()
            && self.added.is_empty()
            && self.altered.is_empty()
    }

    /// Whether the package is intact *and* signed by `expected` (the org key the recipient
    /// knows for the sender, e.g. from the partner registry).
    pub fn signed_by(&self, expected: &ed25519_dalek::VerifyingKey) -> bool {
        self.is_ok() && self.public_key == hex::encode(expected.to_bytes())
    }
}

/// Detects the container of the file at `path` from its content.
pub fn detect(path: &Path) -> Result<Format, PackageError> {
    let mut file = File::open(path).map_err(|e| PackageError::read(path, e))?;
    let mut head = [0u8; 4];
    let n = file
        .read(&mut head)
        .map_err(|e| PackageError::read(path, e))?;
    if zip_package::sniff(&head[..n]) {
        return Ok(Format::Zip);
    }
    if iso_package::sniff(&mut file).map_err(|e| PackageError::read(path, e))? {
        return Ok(Format::Iso);
    }
    Err(PackageError::UnknownFormat {
        path: path.to_path_buf(),
    })
}

/// Verifies the package at `path` offline (ZIP or ISO, detected by content).
///
/// Reads the whole package once, streaming. Fails only when the file cannot be read, is neither
/// ZIP nor ISO, or has no parsable `manifest.json`; a damaged package gives an `Ok` report with
/// `is_ok() == false` naming the files concerned.
pub fn verify(path: &Path) -> Result<VerifyReport, PackageError> {
    let format = detect(path)?;
    let listing = match format {
        Format::Zip => zip_package::read(path)?,
        Format::Iso => iso_package::read(path)?,
    };
    compare(format, listing)
}

fn compare(format: Format, mut listing: Listing) -> Result<VerifyReport, PackageError> {
    let manifest_bytes = match listing.manifest.take() {
        None => return Err(PackageError::manifest("the package has no manifest.json")),
        Some(None) => {
            return Err(PackageError::manifest(
                "manifest.json is duplicated, unreadable or too large",
            ));
        }
        Some(Some(bytes)) => bytes,
    };
    let manifest = Manifest::parse(&manifest_bytes)?;
    let signature_valid = match &listing.signature {
        Some(Some(sig)) => manifest::check_signature(&manifest.public_key, &manifest_bytes, sig),
        _ => false,
    };

    let mut found: BTreeMap<&str, Vec<&Found>> = BTreeMap::new();
    for (path, f) in &listing.files {
        found.entry(path.as_str()).or_default().push(f);
    }
    let mut problems = Vec::new();
    let mut files_ok = 0;
    let mut listed = HashSet::new();
    let mut names = Names::new(collision_key);
    let mut joliet_names = Names::new(joliet_key);
    for file in &manifest.files {
        if !listed.insert(file.path.as_str()) {
            return Err(PackageError::manifest(format!(
                "manifest lists {:?} twice",
                file.path
            )));
        }
        // Recorded whatever the path, so a later twin of an unsafe path is named too.
        let joliet = match format {
            Format::Iso => joliet_names.add(&file.path),
            Format::Zip => None,
        };
        let collision = names.add(&file.path).or(joliet);
        let name_problem = if sanitize_path(&file.path) != file.path {
            Some(Problem::UnsafePath)
        } else {
            collision
        };
        if let Some(problem) = name_problem {
            problems.push(FileProblem {
                path: file.path.clone(),
                problem,
            });
            continue;
        }
        let problem = match found.get(file.path.as_str()).map(Vec::as_slice) {
            None | Some([]) => Some(Problem::Missing),
            Some([Found::Unreadable(reason)]) => Some(Problem::Unreadable(reason.clone())),
            Some([Found::Read { size, blake3 }]) => {
                if *size != file.size {
                    Some(Problem::SizeMismatch {
                        expected: file.size,
                        actual: *size,
                    })
                } else if !blake3.eq_ignore_ascii_case(&file.blake3) {
                    Some(Problem::HashMismatch)
                } else {
                    None
                }
            }
            Some(_) => Some(Problem::Duplicate),
        };
        match problem {
            None => files_ok += 1,
            Some(problem) => problems.push(FileProblem {
                path: file.path.clone(),
                problem,
            }),
        }
    }
    problems.append(&mut listing.structure);
    check_folders(&listing, &manifest, &mut problems);
    check_trees(&listing, &manifest, &mut problems);
    for path in found.keys() {
        if !listed.contains(path) && *path != MANIFEST_NAME && *path != SIGNATURE_NAME {
            problems.push(FileProblem {
                path: path.to_string(),
                problem: Problem::Added,
            });
        }
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    let pick = |want: &dyn Fn(&Problem) -> bool| -> Vec<String> {
        problems
            .iter()
            .filter(|p| want(&p.problem))
            .map(|p| p.path.clone())
            .collect()
    };
    let added_to = |p: &Problem| {
        matches!(
            p,
            Problem::Added
                | Problem::InTree {
                    issue: TreeIssue::Added,
                    ..
                }
        )
    };
    let missing = pick(&|p| matches!(p, Problem::Missing));
    let added = pick(&added_to);
    let altered = pick(&|p| !matches!(p, Problem::Missing) && !added_to(p));
    let signer_matches_key = signer_matches(&manifest.signer, &manifest.public_key);
    let audit = listing
        .audit_trail
        .as_ref()
        .map(|bytes| custody::check(bytes.as_deref(), &manifest.public_key));
    Ok(VerifyReport {
        format,
        signature_valid,
        signer_matches_key,
        audit,
        signer: manifest.signer,
        public_key: manifest.public_key,
        created_at_ms: manifest.created_at_ms,
        files_ok,
        missing,
        added,
        altered,
        problems,
    })
}

/// The folders a package holds that nothing is in: `dirs` that are no prefix of any path in
/// `files` or `dirs`.
fn empty_folders<'a>(
    files: impl Iterator<Item = &'a str>,
    dirs: &'a [String],
) -> impl Iterator<Item = &'a str> {
    let mut parents = HashSet::new();
    for path in files.chain(dirs.iter().map(String::as_str)) {
        let mut at = path;
        while let Some((parent, _)) = at.rsplit_once('/') {
            if !parents.insert(parent) {
                break;
            }
            at = parent;
        }
    }
    dirs.iter()
        .map(String::as_str)
        .filter(move |d| !parents.contains(d))
}

/// A folder's name in a report: its path and `/`, so it never reads as a file.
fn folder_label(path: &str) -> String {
    format!("{path}/")
}

/// The manifest's (empty) folders against the folders of the container (the tree read for the
/// hashes, in an ISO): each listed folder must be there, and every folder that holds nothing
/// must be listed. Folders that hold files need no listing: the files' paths make them.
fn check_folders(listing: &Listing, manifest: &Manifest, problems: &mut Vec<FileProblem>) {
    let mut present: HashSet<&str> = listing.dirs.iter().map(String::as_str).collect();
    let all = listing.files.iter().map(|(p, _)| p.as_str());
    for path in all.chain(listing.dirs.iter().map(String::as_str)) {
        let mut at = path;
        while let Some((parent, _)) = at.rsplit_once('/') {
            present.insert(parent);
            at = parent;
        }
    }
    let mut listed = HashSet::new();
    for folder in &manifest.folders {
        let problem = if sanitize_path(folder) != *folder
            || manifest.files.iter().any(|f| f.path == *folder)
            || !listed.insert(folder.as_str())
        {
            Some(Problem::UnsafePath)
        } else if !present.contains(folder.as_str()) {
            Some(Problem::Missing)
        } else {
            None
        };
        if let Some(problem) = problem {
            problems.push(FileProblem {
                path: folder_label(folder),
                problem,
            });
        }
    }
    for dir in empty_folders(listing.files.iter().map(|(p, _)| p.as_str()), &listing.dirs) {
        if !listed.contains(dir) {
            problems.push(FileProblem {
                path: folder_label(dir),
                problem: Problem::Added,
            });
        }
    }
}

/// The path the ISO tree `tree` gives the package path `path`, or `None` for the primary tree,
/// whose identifiers the writer derives with a counter on clashes ([`iso_package::primary_name_matches`]).
fn tree_path(tree: IsoTree, path: &str) -> Option<String> {
    match tree {
        IsoTree::Joliet => Some(
            path.split('/')
                .map(joliet_name)
                .collect::<Vec<_>>()
                .join("/"),
        ),
        IsoTree::Primary => None,
        IsoTree::RockRidge | IsoTree::Enhanced => Some(path.to_string()),
    }
}

fn leaf(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Holds every other directory tree of an ISO against the manifest. Each file the manifest
/// lists (and the manifest and signature) must be in the tree exactly once, under the name that
/// tree gives it ([`tree_path`]; compared byte for byte), pointing at the very extents whose
/// hash was checked in the main tree; each manifest folder must be there; and the tree must hold
/// nothing else, so every reader extracts what the signature covers and nothing more.
fn check_trees(listing: &Listing, manifest: &Manifest, problems: &mut Vec<FileProblem>) {
    let wanted: Vec<&str> = manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain([MANIFEST_NAME, SIGNATURE_NAME])
        .collect();
    for tree in &listing.trees {
        let problem = |path: &str, issue| FileProblem {
            path: path.to_string(),
            problem: Problem::InTree {
                tree: tree.tree,
                issue,
            },
        };
        let mut used = vec![false; tree.files.len()];
        let mut by_key: HashMap<&ExtentKey, Vec<usize>> = HashMap::new();
        let mut by_path: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, (path, key)) in tree.files.iter().enumerate() {
            by_key.entry(key).or_default().push(i);
            by_path.entry(path.as_str()).or_default().push(i);
        }
        for path in &wanted {
            // Not in the main tree: reported there already.
            let Some(key) = listing.extents.get(*path) else {
                continue;
            };
            let expected = tree_path(tree.tree, path);
            let name_ok = |i: usize| {
                let found = &tree.files[i].0;
                match &expected {
                    Some(want) => found == want,
                    None => iso_package::primary_name_matches(leaf(path), leaf(found)),
                }
            };
            let same_bytes: Vec<usize> = by_key
                .get(key)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&i| !used[i])
                .collect();
            let issue = if let Some(&i) = same_bytes.iter().find(|&&i| name_ok(i)) {
                used[i] = true;
                None
            } else if let Some(&i) = same_bytes.first() {
                used[i] = true;
                Some(TreeIssue::OtherName {
                    found: tree.files[i].0.clone(),
                })
            } else if let Some(i) = expected
                .as_deref()
                .and_then(|want| by_path.get(want))
                .into_iter()
                .flatten()
                .copied()
                .find(|&i| !used[i])
            {
                used[i] = true;
                Some(TreeIssue::OtherBytes)
            } else {
                Some(TreeIssue::Missing)
            };
            if let Some(issue) = issue {
                problems.push(problem(path, issue));
            }
        }
        // Past 8 levels, Rock Ridge moves a folder away and leaves a file record in its place
        // in the primary tree (IEEE P1282 4.1.5.1, `CL`; hadris-iso points it at one 2048-byte
        // block): not an added file.
        let placeholders: HashSet<String> = match tree.tree {
            IsoTree::Primary => listing
                .dirs
                .iter()
                .map(|d| iso_package::primary_folder_path(d))
                .collect(),
            _ => HashSet::new(),
        };
        for (i, (path, key)) in tree.files.iter().enumerate() {
            let placeholder = key.len <= 2048 && placeholders.contains(path.as_str());
            if !used[i] && !placeholder {
                problems.push(problem(path, TreeIssue::Added));
            }
        }
        for path in &tree.others {
            problems.push(problem(path, TreeIssue::Added));
        }
        // Folder names: the primary tree's are derived with counters and moved under
        // `rr_moved` past 8 levels, so only the trees with names of their own are held to them.
        if tree.tree == IsoTree::Primary {
            continue;
        }
        let dirs: HashSet<&str> = tree.dirs.iter().map(String::as_str).collect();
        let mut expected_folders = HashSet::new();
        for folder in &manifest.folders {
            let Some(want) = tree_path(tree.tree, folder) else {
                continue;
            };
            if !dirs.contains(want.as_str()) {
                problems.push(problem(&folder_label(folder), TreeIssue::Missing));
            }
            expected_folders.insert(want);
        }
        for dir in empty_folders(tree.files.iter().map(|(p, _)| p.as_str()), &tree.dirs) {
            if !expected_folders.contains(dir) {
                problems.push(problem(&folder_label(dir), TreeIssue::Added));
            }
        }
    }
}

/// The manifest paths seen so far under one equivalence ([`collision_key`] or [`joliet_key`]),
/// for [`Problem::Collides`].
struct Names {
    key: fn(&str) -> String,
    /// Key of each file path → the path.
    files: HashMap<String, String>,
    /// Key of each folder (every proper prefix of a file path) → the folder path.
    folders: HashMap<String, String>,
}

impl Names {
    fn new(key: fn(&str) -> String) -> Self {
        let files = [MANIFEST_NAME, SIGNATURE_NAME]
            .iter()
            .map(|n| (key(n), n.to_string()))
            .collect();
        Self {
            key,
            files,
            folders: HashMap::new(),
        }
    }

    /// Records `path`; the earlier file or folder it is one name with, if any.
    fn add(&mut self, path: &str) -> Option<Problem> {
        let mut clash = None;
        let segments: Vec<&str> = path.split('/').collect();
        for depth in 1..segments.len() {
            let folder = segments[..depth].join("/");
            let key = (self.key)(&folder);
            if let Some(file) = self.files.get(&key) {
                clash.get_or_insert_with(|| file.clone());
            }
            self.folders.entry(key).or_insert(folder);
        }
        let key = (self.key)(path);
        if let Some(other) = self.files.get(&key).or_else(|| self.folders.get(&key)) {
            clash.get_or_insert_with(|| other.clone());
        } else {
            self.files.insert(key, path.to_string());
        }
        clash.map(|with| Problem::Collides { with })
    }
}

/// Whether `signer` is the org id (PeerId text) of the ed25519 key `public_key_hex`.
fn signer_matches(signer: &str, public_key_hex: &str) -> bool {
    let mut key = [0u8; 32];
    hex::decode_to_slice(public_key_hex, &mut key).is_ok()
        && casemesh_model::grant::org_id_from_public_key(&key).0 == signer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_must_be_the_org_id_of_the_key() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let pk = hex::encode(key.verifying_key().to_bytes());
        assert!(signer_matches(crate::signer_of(&key).as_str(), &pk));
        // A manifest re-signed with a fresh key while naming the original organization.
        assert!(!signer_matches(crate::signer_of(&other).as_str(), &pk));
        assert!(!signer_matches("org-1", &pk));
        assert!(!signer_matches(crate::signer_of(&key).as_str(), "zz"));
    }
}
