//! The ZIP container: streaming writer (Stored for media, Deflate for text, ZIP64 when needed)
//! and the reader `verify` uses.
//!
//! Entries are written in the order given, then `manifest.json` and `manifest.sig`. Each source
//! is copied in 128 KiB chunks that are hashed (BLAKE3) and written in the same pass; the
//! zip crate computes the CRC-32 on the same chunks and seeks back to patch each local header.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::custody::{AUDIT_TRAIL_PATH, MAX_AUDIT_TRAIL_BYTES};
use crate::manifest::{self, MANIFEST_NAME, SIGNATURE_NAME};
use crate::verify::{FileProblem, Found, Listing, Problem};
use crate::writeback::Writeback;
use crate::zip_structure;
use crate::{BuildOptions, COPY_BUF, Entry, PackageError, Source, Written, civil_utc};

/// Extensions of text-like files worth deflating.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "csv", "tsv", "json", "xml", "html", "htm", "md", "log", "srt", "vtt", "rtf", "yaml",
    "yml", "ndjson", "jsonl", "eml", "svg",
];

/// Copy chunk: read, BLAKE3, CRC-32 and write all touch it while it can still sit in the CPU's
/// L2 cache; large enough that per-call overhead is negligible.
const CHUNK: usize = 128 << 10;
/// Output buffer for headers and small files; smaller than [`CHUNK`] so chunks bypass it.
const ZIP_BUF: usize = 64 << 10;

/// Files smaller than this are stored: deflate cannot win much on a few bytes.
const MIN_DEFLATE: u64 = 256;
/// Text files larger than this are stored: keeps build time bounded and predictable.
const MAX_DEFLATE: u64 = 256 << 20;
/// Entries at or above this size need ZIP64 fields.
const ZIP64_THRESHOLD: u64 = u32::MAX as u64;

fn is_text_like(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((_, ext)) => TEXT_EXTENSIONS.iter().any(|t| t.eq_ignore_ascii_case(ext)),
        None => false,
    }
}

/// The compression an entry gets.
fn method_for(path: &str, size: u64) -> CompressionMethod {
    if (MIN_DEFLATE..=MAX_DEFLATE).contains(&size) && is_text_like(path) {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    }
}

fn options(opts: &BuildOptions, path: &str, size: u64) -> SimpleFileOptions {
    let (year, month, day, hour, minute, second) = civil_utc(opts.created_at_ms);
    let time = u16::try_from(year)
        .ok()
        .and_then(|y| zip::DateTime::from_date_and_time(y, month, day, hour, minute, second).ok())
        .unwrap_or_default();
    let method = method_for(path, size);
    let level = (method == CompressionMethod::Deflated).then_some(6);
    SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        .last_modified_time(time)
        .unix_permissions(0o644)
        .large_file(size >= ZIP64_THRESHOLD)
}

/// Writes the ZIP package to `tmp`.
pub(crate) fn write(
    entries: &[Entry],
    tmp: &Path,
    opts: &BuildOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<Written, PackageError> {
    let werr = |e| PackageError::write(tmp, e);
    let file = File::create(tmp).map_err(werr)?;
    let mut writeback = Writeback::start(&file);
    // Chunks at least as large as the buffer bypass it (no extra copy); small headers and small
    // files are batched.
    let mut zip = ZipWriter::new(BufWriter::with_capacity(ZIP_BUF, file));
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let mut done = 0u64;
    let mut buf = vec![0u8; CHUNK];
    let mut hashes = Vec::with_capacity(entries.len());
    progress(0, total);
    for entry in entries {
        if entry.is_folder() {
            // A directory entry `path/` (unix mode 0755): unzip, 7z and Explorer create it.
            zip.add_directory(
                entry.path.as_str(),
                options(opts, &entry.path, 0).unix_permissions(0o755),
            )
            .map_err(|e| PackageError::zip(&entry.path, e))?;
            continue;
        }
        zip.start_file(entry.path.as_str(), options(opts, &entry.path, entry.size))
            .map_err(|e| PackageError::zip(&entry.path, e))?;
        let mut hasher = blake3::Hasher::new();
        match &entry.source {
            Source::Bytes(bytes) => {
                hasher.update(bytes);
                zip.write_all(bytes).map_err(werr)?;
                done += entry.size;
                progress(done, total);
            }
            Source::Folder => {}
            Source::File(_) | Source::Reader(_) => {
                let src = match &entry.source {
                    Source::File(src) => src.clone(),
                    _ => std::path::PathBuf::from(&entry.path),
                };
                let src = &src;
                let mut input: Box<dyn Read + Send> = match &entry.source {
                    Source::Reader(r) => r.open(),
                    _ => File::open(src).map(|f| Box::new(f) as Box<dyn Read + Send>),
                }
                .map_err(|e| PackageError::source_read(src, e))?;
                let mut copied = 0u64;
                loop {
                    let n = read_full(&mut input, &mut buf)
                        .map_err(|e| PackageError::source_read(src, e))?;
                    if n == 0 {
                        break;
                    }
                    copied += n as u64;
                    if copied > entry.size {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    zip.write_all(&buf[..n]).map_err(werr)?;
                    writeback.wrote(n as u64);
                    done += n as u64;
                    progress(done, total);
                }
                if copied != entry.size {
                    return Err(PackageError::SizeMismatch {
                        path: entry.path.clone(),
                        expected: entry.size,
                        actual: copied,
                    });
                }
            }
        }
        hashes.push(hasher.finalize().to_hex().to_string());
    }
    let manifest = crate::make_manifest(entries, &hashes, opts);
    let manifest_bytes = manifest.to_bytes();
    let signature = manifest::sign(&opts.signing_key, &manifest_bytes);
    for (name, bytes) in [
        (MANIFEST_NAME, &manifest_bytes),
        (SIGNATURE_NAME, &signature),
    ] {
        zip.start_file(name, options(opts, name, bytes.len() as u64))
            .map_err(|e| PackageError::zip(name, e))?;
        zip.write_all(bytes).map_err(werr)?;
    }
    let writer = zip
        .finish()
        .map_err(|e| PackageError::zip("finishing archive", e))?;
    let file = writer.into_inner().map_err(|e| werr(e.into_error()))?;
    writeback.finish(&file).map_err(werr)?;
    let package_size = file.metadata().map_err(werr)?.len();
    Ok(Written {
        package_size,
        manifest,
        manifest_bytes,
    })
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Hashes everything `reader` yields; `Err` describes a read failure (corrupt data, CRC).
pub(crate) fn hash_stream(reader: &mut impl Read, buf: &mut [u8]) -> Result<(u64, String), String> {
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    loop {
        let n = read_full(reader, buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().to_hex().to_string()))
}

/// Reads every entry of the ZIP at `path`: hashes files, keeps the manifest and signature.
pub(crate) fn read(path: &Path) -> Result<Listing, PackageError> {
    let file = File::open(path).map_err(|e| PackageError::read(path, e))?;
    let mut archive = ZipArchive::new(BufReader::with_capacity(64 << 10, file))
        .map_err(|e| PackageError::zip("opening archive", e))?;
    let mut listing = Listing::default();
    let overlapping = structure(path, &mut listing)?;
    let mut buf = vec![0u8; COPY_BUF];
    for index in 0..archive.len() {
        let (name, is_dir, stored) = {
            let entry = archive
                .by_index_raw(index)
                .map_err(|e| PackageError::zip(format!("entry #{index}"), e))?;
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            (
                name,
                entry.is_dir(),
                entry.compression() == CompressionMethod::Stored,
            )
        };
        if is_dir {
            listing.dirs.push(name.trim_end_matches('/').to_string());
            continue;
        }
        if name == MANIFEST_NAME || name == SIGNATURE_NAME {
            let limit = if name == MANIFEST_NAME {
                manifest::MAX_MANIFEST_BYTES
            } else {
                manifest::SIGNATURE_FILE_LEN as u64 * 2
            };
            let bytes = match archive.by_index(index) {
                Ok(entry) => {
                    let mut bytes = Vec::new();
                    entry
                        .take(limit + 1)
                        .read_to_end(&mut bytes)
                        .ok()
                        .map(|_| bytes)
                }
                Err(_) => None,
            };
            let bytes = bytes.filter(|b| b.len() as u64 <= limit);
            listing.set_special(&name, bytes);
            continue;
        }
        if name == AUDIT_TRAIL_PATH {
            // Read whole (bounded) for the custody check; hashed from the same bytes.
            // Stored: raw, so an edited byte shows in the check rather than as a CRC error.
            let entry = if stored {
                archive.by_index_raw(index)
            } else {
                archive.by_index(index)
            };
            let read = entry.map_err(|e| e.to_string()).and_then(|entry| {
                let mut bytes = Vec::new();
                entry
                    .take(MAX_AUDIT_TRAIL_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| e.to_string())?;
                Ok(bytes)
            });
            let found = read.as_ref().map_err(Clone::clone).and_then(|bytes| {
                if bytes.len() as u64 > MAX_AUDIT_TRAIL_BYTES {
                    return Err("larger than an audit trail may be".to_string());
                }
                Ok((bytes.len() as u64, blake3::hash(bytes).to_hex().to_string()))
            });
            listing.set_special(&name, found.is_ok().then(|| read.unwrap_or_default()));
            listing.files.push((name, Found::from(found)));
            continue;
        }
        // An entry whose bytes lie inside another's is a layout problem already; reading it
        // too would let one large entry be read once per central record that points into it (a
        // newcomer's attack: 1,000 records on one 100 MB stream took 37 s).
        if overlapping.contains(&name) {
            listing
                .files
                .push((name, Found::Unreadable(SHARED_BYTES.into())));
            continue;
        }
        // Stored entries are read raw: a flipped byte then shows as a hash mismatch rather than
        // as the CRC error the checked reader would raise at the end.
        let result = if stored {
            archive
                .by_index_raw(index)
                .map_err(|e| e.to_string())
                .and_then(|mut entry| hash_stream(&mut entry, &mut buf))
        } else {
            archive
                .by_index(index)
                .map_err(|e| e.to_string())
                .and_then(|mut entry| hash_stream(&mut entry, &mut buf))
        };
        listing.files.push((name, Found::from(result)));
    }
    Ok(listing)
}

/// Checks the archive's layout ([`zip_structure::check`]) into `listing.structure`, and makes
/// every central-directory entry whose name bytes an earlier entry already has count: the zip
/// crate keeps only the last entry of a name, `unzip` extracts the first. A repeated file adds a
/// second [`Found`] for its path (so `compare` reports [`Problem::Duplicate`], or `Added`), a
/// repeated `manifest.json` or `manifest.sig` makes it untrustworthy, a repeated folder is a
/// `Duplicate` of its own. Returns the names of the entries whose bytes overlap another's or
/// have no local header ([`zip_structure::CentralEntry::overlaps`]): they are not read.
fn structure(path: &Path, listing: &mut Listing) -> Result<HashSet<String>, PackageError> {
    let found = zip_structure::check(path)?;
    let overlapping: HashSet<String> = found
        .entries
        .iter()
        .filter(|e| e.overlaps)
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    for (name, issue) in found.issues {
        listing.structure.push(FileProblem {
            path: name.unwrap_or_default(),
            problem: Problem::Archive(issue),
        });
    }
    let mut seen = HashSet::new();
    for entry in &found.entries {
        if seen.insert(entry.name.as_slice()) {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.name).into_owned();
        if name.ends_with('/') {
            listing.structure.push(FileProblem {
                path: name,
                problem: Problem::Duplicate,
            });
        } else {
            if [MANIFEST_NAME, SIGNATURE_NAME, AUDIT_TRAIL_PATH].contains(&name.as_str()) {
                listing.set_special(&name, None);
            }
            listing
                .files
                .push((name, Found::Unreadable(DUPLICATE.into())));
        }
    }
    Ok(overlapping)
}

/// Why a repeated entry's second [`Found`] is not read.
const DUPLICATE: &str = "another central-directory entry has the same name";

/// Why an entry whose bytes lie inside another's (or that has no local header) is not read.
const SHARED_BYTES: &str =
    "its bytes lie inside another entry's (or it has no local header): not read";

/// Whether `head` (the first bytes of a file) starts a ZIP archive.
pub(crate) fn sniff(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}
