//! The byte layout of a ZIP package, checked against its central directory.
//!
//! The zip crate keeps one entry per name (the last) and reads nothing that the central directory
//! does not point at; streaming extractors read the local headers instead. [`check`] walks every
//! central-directory entry by index (APPNOTE.TXT 6.3.10, §4.3.12) and holds the file to what that
//! directory says, as `casemesh`'s writer lays it out (`zip_package::write`): local headers with
//! the central name, laid end to end from offset 0 with no gap or overlap up to the central
//! directory, which is followed only by the end record (ZIP64 record and locator allowed, §4.3.14–
//! 4.3.16), with no archive comment and no byte after it.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::PackageError;
use crate::verify::ArchiveIssue;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const EOCD_LEN: u64 = 22;
const LOCAL_LEN: u64 = 30;
const CENTRAL_LEN: usize = 46;
/// Longest archive comment (its length is a u16).
const MAX_COMMENT: u64 = u16::MAX as u64;
/// Largest central directory read into memory (about 4 million entries of short names).
const MAX_CENTRAL: u64 = 256 << 20;

/// One central-directory entry, as far as the layout check needs it.
#[derive(Debug, Clone)]
pub(crate) struct CentralEntry {
    /// The name bytes, exactly as stored.
    pub(crate) name: Vec<u8>,
    /// Offset of the local header, bytes from the start of the file.
    local_offset: u64,
    /// Compressed size, bytes.
    compressed: u64,
    /// General-purpose flag bit 3: a data descriptor follows the data.
    descriptor: bool,
    /// The entry carries ZIP64 sizes (descriptor sizes are 8 bytes).
    zip64: bool,
    /// Its bytes (local header to end of data) begin inside an earlier entry's or run into the
    /// central directory ([`ArchiveIssue::Overlap`]), or it has no local header
    /// ([`ArchiveIssue::BadLocalHeader`]): `verify` does not read it, so bytes shared by many
    /// entries are read once, not once per entry.
    pub(crate) overlaps: bool,
}

/// What [`check`] found: every central entry in directory order, and the layout problems with the
/// central name they concern (`None`: the archive as a whole).
#[derive(Debug, Default)]
pub(crate) struct Structure {
    pub(crate) entries: Vec<CentralEntry>,
    pub(crate) issues: Vec<(Option<String>, ArchiveIssue)>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn read_at(file: &mut BufReader<File>, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

fn name_text(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Checks the layout of the ZIP at `path` (see the module doc). Reads the end of the file, the
/// central directory and each local header (30 bytes plus name and extra field); never the data.
///
/// # Errors
/// Only when the file cannot be read; a malformed layout is an [`ArchiveIssue`] in the result.
pub(crate) fn check(path: &Path) -> Result<Structure, PackageError> {
    let rerr = |e| PackageError::read(path, e);
    let mut file = BufReader::with_capacity(8 << 10, File::open(path).map_err(rerr)?);
    let len = file.get_ref().metadata().map_err(rerr)?.len();
    let mut out = Structure::default();
    let malformed = |out: &mut Structure, why: &str| {
        out.issues
            .push((None, ArchiveIssue::Malformed(why.to_string())));
    };

    // The end record: exactly the last 22 bytes, or found further back (comment, trailing bytes).
    let window = len.min(EOCD_LEN + MAX_COMMENT + (1 << 16));
    let tail = read_at(&mut file, len - window, window as usize).map_err(rerr)?;
    let Some(eocd_in_tail) = (0..tail.len().saturating_sub(EOCD_LEN as usize - 1))
        .rev()
        .find(|&i| u32_at(&tail, i) == EOCD_SIG)
    else {
        malformed(&mut out, "no end of central directory record");
        return Ok(out);
    };
    let eocd_at = len - window + eocd_in_tail as u64;
    let eocd = &tail[eocd_in_tail..eocd_in_tail + EOCD_LEN as usize];
    let comment = u64::from(u16_at(eocd, 20));
    if comment > 0 {
        out.issues
            .push((None, ArchiveIssue::Comment { len: comment }));
    }
    let end = eocd_at + EOCD_LEN + comment;
    if end < len {
        out.issues.push((
            None,
            ArchiveIssue::Trailing {
                offset: end,
                len: len - end,
            },
        ));
    } else if end > len {
        malformed(
            &mut out,
            "the archive comment runs past the end of the file",
        );
    }
    let mut total = u64::from(u16_at(eocd, 10));
    let mut cd_size = u64::from(u32_at(eocd, 12));
    let mut cd_offset = u64::from(u32_at(eocd, 16));
    // Where the central directory must end: the ZIP64 record if there is one, else the end record.
    let mut cd_end = eocd_at;
    if eocd_at >= 20 {
        let locator = read_at(&mut file, eocd_at - 20, 20).map_err(rerr)?;
        if u32_at(&locator, 0) == ZIP64_LOCATOR_SIG {
            let record_at = u64_at(&locator, 8);
            let record = if record_at.saturating_add(56) <= eocd_at - 20 {
                read_at(&mut file, record_at, 56).ok()
            } else {
                None
            };
            match record.filter(|r| u32_at(r, 0) == ZIP64_EOCD_SIG) {
                None => malformed(&mut out, "the ZIP64 locator points at no ZIP64 record"),
                Some(r) => {
                    if u64_at(&r, 4)
                        .checked_add(12)
                        .and_then(|n| n.checked_add(record_at))
                        != Some(eocd_at - 20)
                    {
                        malformed(&mut out, "bytes between the ZIP64 record and its locator");
                    }
                    total = u64_at(&r, 32);
                    cd_size = u64_at(&r, 40);
                    cd_offset = u64_at(&r, 48);
                    cd_end = record_at;
                }
            }
        }
    }
    if cd_offset.checked_add(cd_size) != Some(cd_end) {
        malformed(
            &mut out,
            "the central directory does not end where its end record begins",
        );
        if cd_offset.saturating_add(cd_size) > cd_end {
            return Ok(out);
        }
    }
    if cd_size > MAX_CENTRAL {
        malformed(&mut out, "central directory too large");
        return Ok(out);
    }

    // Every central entry, by index.
    let central = read_at(&mut file, cd_offset, cd_size as usize).map_err(rerr)?;
    let mut at = 0usize;
    while at < central.len() {
        if central.len() - at < CENTRAL_LEN || u32_at(&central, at) != CENTRAL_SIG {
            malformed(&mut out, "unparsable central directory entry");
            return Ok(out);
        }
        let h = &central[at..];
        let (n, e, c) = (
            usize::from(u16_at(h, 28)),
            usize::from(u16_at(h, 30)),
            usize::from(u16_at(h, 32)),
        );
        if h.len() < CENTRAL_LEN + n + e + c {
            malformed(&mut out, "central directory entry runs past the directory");
            return Ok(out);
        }
        let name = h[CENTRAL_LEN..CENTRAL_LEN + n].to_vec();
        let mut compressed = u64::from(u32_at(h, 20));
        let uncompressed = u64::from(u32_at(h, 24));
        let mut local_offset = u64::from(u32_at(h, 42));
        let mut zip64 = false;
        // The ZIP64 extended-information field (§4.5.3): each value present only when its 32-bit
        // field is 0xFFFFFFFF, in the order uncompressed, compressed, offset.
        let mut extra = &h[CENTRAL_LEN + n..CENTRAL_LEN + n + e];
        while extra.len() >= 4 {
            let (id, size) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
            let Some(data) = extra.get(4..4 + size) else {
                break;
            };
            if id == 1 {
                zip64 = true;
                let mut fields = data.chunks_exact(8).map(|x| u64_at(x, 0));
                if uncompressed == 0xFFFF_FFFF {
                    fields.next();
                }
                if compressed == 0xFFFF_FFFF {
                    compressed = fields.next().unwrap_or(compressed);
                }
                if local_offset == 0xFFFF_FFFF {
                    local_offset = fields.next().unwrap_or(local_offset);
                }
            }
            extra = &extra[4 + size..];
        }
        out.entries.push(CentralEntry {
            name,
            local_offset,
            compressed,
            descriptor: u16_at(h, 8) & 0x8 != 0,
            zip64,
            overlaps: false,
        });
        at += CENTRAL_LEN + n + e + c;
    }
    if out.entries.len() as u64 != total {
        malformed(
            &mut out,
            "the end record counts another number of entries than the central directory holds",
        );
    }

    // The local headers, end to end from offset 0 up to the central directory.
    let mut order: Vec<usize> = (0..out.entries.len()).collect();
    order.sort_by_key(|&i| out.entries[i].local_offset);
    let mut next = 0u64;
    let mut overlapping = Vec::new();
    for i in order {
        let entry = &out.entries[i];
        let label = Some(name_text(&entry.name));
        if entry.local_offset > next {
            out.issues.push((
                None,
                ArchiveIssue::Unlisted {
                    offset: next,
                    len: entry.local_offset - next,
                },
            ));
        } else if entry.local_offset < next {
            out.issues.push((label.clone(), ArchiveIssue::Overlap));
            overlapping.push(i);
        }
        let header = match read_at(&mut file, entry.local_offset, LOCAL_LEN as usize) {
            Ok(h) if u32_at(&h, 0) == LOCAL_SIG && entry.local_offset < cd_offset => h,
            _ => {
                out.issues.push((label, ArchiveIssue::BadLocalHeader));
                overlapping.push(i);
                next = next.max(entry.local_offset);
                continue;
            }
        };
        let (n, e) = (
            u64::from(u16_at(&header, 26)),
            u64::from(u16_at(&header, 28)),
        );
        let local_name =
            read_at(&mut file, entry.local_offset + LOCAL_LEN, n as usize).unwrap_or_default();
        if local_name != entry.name {
            out.issues.push((
                label.clone(),
                ArchiveIssue::LocalName {
                    local: name_text(&local_name),
                },
            ));
        }
        let mut end = (entry.local_offset + LOCAL_LEN + n + e).saturating_add(entry.compressed);
        if entry.descriptor {
            // Optional signature, CRC-32, then 4- or 8-byte sizes (§4.3.9).
            let sig = read_at(&mut file, end, 4).unwrap_or_default();
            if sig.len() == 4 && u32_at(&sig, 0) == DESCRIPTOR_SIG {
                end = end.saturating_add(4);
            }
            end = end.saturating_add(if entry.zip64 { 20 } else { 12 });
        }
        if end > cd_offset {
            out.issues.push((label, ArchiveIssue::Overlap));
            overlapping.push(i);
        }
        next = next.max(end);
    }
    for i in overlapping {
        out.entries[i].overlaps = true;
    }
    if next < cd_offset {
        out.issues.push((
            None,
            ArchiveIssue::Unlisted {
                offset: next,
                len: cd_offset - next,
            },
        ));
    }
    Ok(out)
}
