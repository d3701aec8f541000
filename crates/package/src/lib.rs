//! ZIP and ISO 9660 packages of a case, with a signed manifest and offline verification.
//!
//! This is the packaging layer behind download links. The node hands [`build`] a list of
//! [`Entry`]s (package path + where the bytes come from); `build` streams every file once into
//! the package, hashing it with BLAKE3 on the way, then adds `manifest.json` (paths, sizes,
//! hashes, signer, public key) and `manifest.sig` (ed25519 signature by the org key). Memory
//! stays flat whatever the size of the evidence. [`verify`] opens a ZIP or ISO (detected by
//! content), checks the signature and every file, and names what is missing, added or altered.
//!
//! Layout:
//! - [`names`]: [`sanitize_segment`], [`sanitize_path`], [`NameAllocator`] — safe, unique names
//! - [`manifest`]: the manifest format, canonical bytes, signing
//! - `zip_package` / `iso_package`: the two container writers and readers
//! - [`custody`]: the audit-trail attachment ([`AuditTrail`]) and its offline check
//! - `verify`: the offline verifier and [`VerifyReport`]
//!
//! ```no_run
//! use casemesh_package::{build, verify, BuildOptions, Entry, Format, NameAllocator, Source};
//! # fn main() -> Result<(), casemesh_package::PackageError> {
//! let mut names = NameAllocator::new();
//! let entries = vec![
//!     Entry::file(names.allocate(&["Evidence", "Interviews"], "clip.mp4"), "/data/blobs/ab12")?,
//!     Entry::bytes(names.allocate(&[], "Table of contents.txt"), b"1. clip.mp4\n".to_vec()),
//! ];
//! let opts = BuildOptions {
//!     format: Format::Zip,
//!     signing_key: ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
//!     created_at_ms: 1_700_000_000_000,
//! };
//! build(entries, "case.zip".as_ref(), &opts, &|done, total| eprintln!("{done}/{total}"))?;
//! assert!(verify("case.zip".as_ref())?.is_ok());
//! # Ok(()) }
//! ```

pub mod custody;
mod error;
mod iso_package;
pub mod manifest;
pub mod names;
mod verify;
mod writeback;
mod zip_package;
mod zip_structure;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

pub use custody::{AUDIT_TRAIL_PATH, AuditCheck, AuditProblem, AuditTrail};
pub use error::PackageError;
pub use manifest::{MANIFEST_NAME, Manifest, ManifestFile, SIGNATURE_NAME};
pub use names::{NameAllocator, sanitize_path, sanitize_segment};
pub use verify::{
    ArchiveIssue, FileProblem, IsoTree, Problem, TreeIssue, VerifyReport, detect, verify,
};

/// Size of the copy buffer: big enough that per-call overhead vanishes, small enough to be
/// irrelevant for peak memory.
pub(crate) const COPY_BUF: usize = 1 << 20;

/// Container format of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// ZIP (Stored for media, Deflate for text), ZIP64 when needed.
    Zip,
    /// ISO 9660 level 3 with Joliet and Rock Ridge; files ≥ 4 GiB as multi-extent files.
    Iso,
}

impl Format {
    /// `"zip"` or `"iso"`: the manifest's `container` field and the usual file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Iso => "iso",
        }
    }
}

/// Where an entry's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk, streamed (evidence blobs).
    File(PathBuf),
    /// Small generated contents: table of contents, audit trail CSV/JSON, transcripts.
    Bytes(Vec<u8>),
    /// Bytes read from an opener, e.g. a blob in an object store (`[storage] backend = "s3"`):
    /// streamed into a ZIP; an ISO copies them to a temp file beside the package first (its
    /// writer reads host files only) and removes it when the image is written.
    Reader(Reader),
    /// No bytes: the entry is a folder, kept in the package although it holds nothing (an
    /// empty case folder when the folder structure is retained). Listed in the manifest's
    /// [`folders`](Manifest::folders).
    Folder,
}

/// Opens a fresh sequential reader of an entry's bytes ([`Source::Reader`]); called once per
/// build of the entry. Cheap to clone.
#[derive(Clone)]
pub struct Reader(
    std::sync::Arc<dyn Fn() -> std::io::Result<Box<dyn std::io::Read + Send>> + Send + Sync>,
);

impl Reader {
    /// A reader made by `open`.
    pub fn new(
        open: impl Fn() -> std::io::Result<Box<dyn std::io::Read + Send>> + Send + Sync + 'static,
    ) -> Self {
        Reader(std::sync::Arc::new(open))
    }

    /// Open the bytes from their start.
    pub fn open(&self) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        (self.0)()
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

impl PartialEq for Reader {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Reader {}

/// One file to put into a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Package-relative path with `/` separators, e.g. `Evidence/Interviews/clip.mp4`; must be
    /// sanitized already ([`sanitize_path`] / [`NameAllocator`]), `build` refuses anything else.
    pub path: String,
    /// Where the bytes come from.
    pub source: Source,
    /// Size in bytes; `build` fails if the source turns out to have another size.
    pub size: u64,
}

impl Entry {
    /// An entry streamed from the file at `source`; its size is taken now.
    pub fn file(path: impl Into<String>, source: impl Into<PathBuf>) -> Result<Self, PackageError> {
        let source = source.into();
        let size = std::fs::metadata(&source)
            .map_err(|e| PackageError::source_read(&source, e))?
            .len();
        Ok(Self {
            path: path.into(),
            source: Source::File(source),
            size,
        })
    }

    /// An entry of `size` bytes read through `reader` ([`Source::Reader`]); `build` fails if
    /// the reader yields another number of bytes.
    pub fn reader(path: impl Into<String>, size: u64, reader: Reader) -> Self {
        Self {
            path: path.into(),
            source: Source::Reader(reader),
            size,
        }
    }

    /// An empty folder at `path` ([`Source::Folder`], size 0), kept in the package as a ZIP
    /// directory entry or an ISO directory and listed in the manifest's
    /// [`folders`](Manifest::folders). A folder that also gets files needs no entry.
    pub fn folder(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            source: Source::Folder,
            size: 0,
        }
    }

    /// Whether this entry is a folder ([`Entry::folder`]).
    pub fn is_folder(&self) -> bool {
        self.source == Source::Folder
    }

    /// An entry with in-memory contents.
    pub fn bytes(path: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            path: path.into(),
            size: bytes.len() as u64,
            source: Source::Bytes(bytes),
        }
    }
}

/// How to build a package.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// ZIP or ISO.
    pub format: Format,
    /// The org key that signs the manifest. The manifest's `signer` is the org id (PeerId text)
    /// of this key, so the two can never disagree.
    pub signing_key: ed25519_dalek::SigningKey,
    /// Time of the content packaged, ms since the Unix epoch (UTC): the manifest's
    /// `created_at_ms`, the ZIP entries' modification times and the ISO volume dates. Give the
    /// time of the data's state, not the wall clock, and the same entries and options always give
    /// the same package bytes (issue #13, item 5: deterministic packages).
    pub created_at_ms: u64,
}

/// What [`build`] produced.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Size of the package file in bytes.
    pub package_size: u64,
    /// Sum of the entries' sizes.
    pub content_bytes: u64,
    /// The manifest written into the package (with every file's BLAKE3 hash).
    pub manifest: Manifest,
    /// BLAKE3 of `manifest.json` as stored (a short handle for the whole package content).
    pub manifest_blake3: String,
}

/// Builds a package of `entries` at `out`, replacing it atomically when done.
///
/// The package is written to a temporary file next to `out`, fsynced and renamed, so `out`
/// is either the old file or the complete new package. Every source is read exactly once and
/// hashed on the way. `progress(done, total)` is called as content bytes are written.
pub fn build(
    entries: Vec<Entry>,
    out: &Path,
    opts: &BuildOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<BuildReport, PackageError> {
    validate(&entries, opts.format)?;
    let tmp = temp_path(out);
    let result = match opts.format {
        Format::Zip => zip_package::write(&entries, &tmp, opts, progress),
        Format::Iso => iso_package::write(&entries, &tmp, opts, progress),
    };
    let written = match result {
        Ok(written) => written,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&tmp, out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(PackageError::write(out, e));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename durable too; not every platform can open a directory, so best effort.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(BuildReport {
        package_size: written.package_size,
        content_bytes: entries.iter().map(|e| e.size).sum(),
        manifest_blake3: blake3::hash(&written.manifest_bytes).to_hex().to_string(),
        manifest: written.manifest,
    })
}

/// What a container writer hands back to [`build`].
pub(crate) struct Written {
    pub(crate) package_size: u64,
    pub(crate) manifest: Manifest,
    pub(crate) manifest_bytes: Vec<u8>,
}

fn temp_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "package".into());
    out.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Checks that entry paths are sanitized, not reserved, and unique under
/// [`names::collision_key`] (case folding and Unicode normalization; also against folders: `a`
/// cannot be a file and a folder), and for ISO also under [`names::joliet_key`], so no file
/// shadows another on a case-insensitive or normalizing file system or in the Joliet tree.
fn validate(entries: &[Entry], format: Format) -> Result<(), PackageError> {
    check_unique(entries, names::collision_key, "")?;
    if format == Format::Iso {
        check_unique(
            entries,
            names::joliet_key,
            " in the ISO's Joliet tree (names cut to 64 characters)",
        )?;
    }
    Ok(())
}

/// [`validate`] under one equivalence: `key` of a `/`-separated path.
fn check_unique(
    entries: &[Entry],
    key: fn(&str) -> String,
    tree: &str,
) -> Result<(), PackageError> {
    let invalid = |path: &str, reason: &str| PackageError::InvalidPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let mut files: HashSet<String> = [MANIFEST_NAME, SIGNATURE_NAME]
        .iter()
        .map(|n| key(n))
        .collect();
    let mut folders: HashSet<String> = HashSet::new();
    // Keys of the folder entries: one entry per folder.
    let mut folder_entries: HashSet<String> = HashSet::new();
    for entry in entries {
        let path = entry.path.as_str();
        if sanitize_path(path) != path {
            return Err(invalid(
                path,
                "not a sanitized package path (use sanitize_path)",
            ));
        }
        if entry.is_folder() && entry.size != 0 {
            return Err(invalid(path, "a folder has no size"));
        }
        if let Source::Bytes(bytes) = &entry.source
            && bytes.len() as u64 != entry.size
        {
            return Err(PackageError::SizeMismatch {
                path: path.to_string(),
                expected: entry.size,
                actual: bytes.len() as u64,
            });
        }
        let folded = key(path);
        if entry.is_folder() {
            if files.contains(&folded) || !folder_entries.insert(folded.clone()) {
                return Err(invalid(
                    path,
                    &format!("duplicate folder or a file's name{tree}"),
                ));
            }
            let segments: Vec<&str> = path.split('/').collect();
            for depth in 1..=segments.len() {
                let prefix = key(&segments[..depth].join("/"));
                if files.contains(&prefix) {
                    return Err(invalid(
                        path,
                        &format!("a folder has the name of a file{tree}"),
                    ));
                }
                folders.insert(prefix);
            }
            continue;
        }
        if files.contains(&folded) || folders.contains(&folded) {
            return Err(PackageError::InvalidPath {
                path: path.to_string(),
                reason: format!(
                    "duplicate or reserved path{tree} (names equal after case folding and \
                     Unicode normalization collide on Windows and macOS)"
                ),
            });
        }
        let segments: Vec<&str> = path.split('/').collect();
        for depth in 1..segments.len() {
            let prefix = key(&segments[..depth].join("/"));
            if files.contains(&prefix) {
                return Err(PackageError::InvalidPath {
                    path: path.to_string(),
                    reason: format!("a parent folder has the name of a file{tree}"),
                });
            }
            folders.insert(prefix);
        }
        files.insert(folded);
    }
    Ok(())
}

/// Builds the manifest for `entries` with `hashes` (hex, one per file entry in entry order;
/// folder entries have none).
pub(crate) fn make_manifest(entries: &[Entry], hashes: &[String], opts: &BuildOptions) -> Manifest {
    Manifest {
        format: manifest::MANIFEST_FORMAT.to_string(),
        version: manifest::MANIFEST_VERSION,
        container: opts.format.as_str().to_string(),
        signer: signer_of(&opts.signing_key).0,
        public_key: hex::encode(opts.signing_key.verifying_key().to_bytes()),
        created_at_ms: opts.created_at_ms,
        files: entries
            .iter()
            .filter(|e| !e.is_folder())
            .zip(hashes)
            .map(|(e, h)| ManifestFile {
                path: e.path.clone(),
                size: e.size,
                blake3: h.clone(),
            })
            .collect(),
        folders: entries
            .iter()
            .filter(|e| e.is_folder())
            .map(|e| e.path.clone())
            .collect(),
    }
}

/// The org id (libp2p PeerId) of an org signing key: what a manifest names as its signer (the
/// manifest's `signer` field holds its text, [`OrgId::as_str`](casemesh_model::ids::OrgId::as_str)).
pub fn signer_of(key: &ed25519_dalek::SigningKey) -> casemesh_model::ids::OrgId {
    casemesh_model::grant::org_id_from_public_key(&key.verifying_key().to_bytes())
}

/// UTC civil time of `ms` since the epoch: (year, month, day, hour, minute, second).
pub(crate) fn civil_utc(ms: u64) -> (i32, u8, u8, u8, u8, u8) {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        i32::try_from(year).unwrap_or(i32::MAX),
        month,
        day,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_utc(1_700_000_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(civil_utc(951_782_400_000), (2000, 2, 29, 0, 0, 0));
    }

    #[test]
    fn validate_rejects_bad_paths() {
        let e = |p: &str| Entry::bytes(p, vec![]);
        assert!(validate(&[e("a/b.txt"), e("A/c.txt")], Format::Zip).is_ok());
        for bad in [
            vec![e("../x")],
            vec![e("/x")],
            vec![e("CON")],
            vec![e("a"), e("A")],
            vec![e("a"), e("a/b")],
            vec![e("a/b"), e("a")],
            vec![e("Manifest.json")],
            vec![e("x/")],
        ] {
            assert!(validate(&bad, Format::Zip).is_err(), "{bad:?}");
        }
        // Equal after Unicode normalization or case folding: refused in both formats.
        for twins in [
            ["caf\u{e9}", "CAF\u{c9}"],
            ["Stra\u{df}e", "STRASSE"],
            ["d/caf\u{e9}", "D/CAF\u{c9}/x"],
        ] {
            for format in [Format::Zip, Format::Iso] {
                assert!(
                    validate(&[e(twins[0]), e(twins[1])], format).is_err(),
                    "{twins:?}"
                );
            }
        }
        // Equal in the Joliet tree only: refused for ISO.
        let long = "x".repeat(70);
        let twins = [
            e(&format!("{long}1")),
            e(&format!("{}2", long.to_uppercase())),
        ];
        assert!(validate(&twins, Format::Zip).is_ok());
        assert!(validate(&twins, Format::Iso).is_err());
    }
}
