//! The ISO 9660 container (level 3, Joliet, Rock Ridge) on top of `hadris-iso`, and the reader
//! `verify` uses.
//!
//! One pass, streaming: `hadris-iso` plans the image (where every file's extents go), then writes
//! it front to back, reading each source file in 64 KiB chunks. It writes through
//! [`HashingDevice`], our block device, which knows the planned extents and feeds the bytes that
//! land in a file's extents to that file's BLAKE3 hasher — so every source is read once and
//! hashed from the very bytes written. `manifest.json` and `manifest.sig` are planned with
//! placeholder contents of their exact final length (hashes are fixed-width hex, sizes are known
//! up front) and overwritten in place once all hashes are known. Then the file is fsynced.
//!
//! Reading uses `hadris-iso`'s reader for the directory tree (Rock Ridge names, relocated deep
//! folders, multi-extent files) and plain positioned reads with a 1 MiB buffer for file data.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use hadris_fs::sync::FileSystem;
use hadris_fs::{Content, DirCursor, Extent, FileType, MountOptions, Node, NodeId, Tree};
use hadris_io::ErrorType;
use hadris_iso::sync::IsoFs;
use hadris_iso::{IsoId, IsoLevel, IsoOptions, Namespace, Relocation};
use hadris_storage::{BlockIndex, BlockSize};

use crate::custody::{AUDIT_TRAIL_PATH, MAX_AUDIT_TRAIL_BYTES};
use crate::manifest::{self, MANIFEST_NAME, SIGNATURE_NAME};
use crate::verify::{ExtentKey, FileProblem, Found, IsoTree, Listing, Problem, TreeListing};
use crate::writeback::Writeback;
use crate::{BuildOptions, COPY_BUF, Entry, PackageError, Source, Written};

const SECTOR: u64 = 2048;
const BLOCK: BlockSize = match BlockSize::new(SECTOR as u32) {
    Some(size) => size,
    None => panic!("2048 is not zero"),
};
/// Byte offset of the first volume descriptor's standard identifier (`CD001`).
const DESCRIPTOR_ID_OFFSET: u64 = 16 * SECTOR + 1;
/// Deepest folder nesting the reader follows (Rock Ridge has no limit of its own).
const MAX_DEPTH: usize = 256;

fn iso_err(context: impl Into<String>) -> impl FnOnce(hadris_fs::PathError) -> PackageError {
    let context = context.into();
    move |e| PackageError::iso(context, e)
}

fn options(opts: &BuildOptions) -> IsoOptions {
    let secs = i64::try_from(opts.created_at_ms / 1000).unwrap_or(i64::MAX);
    let time = hadris_fs::DateTime::from_unix_seconds(secs).unwrap_or(hadris_fs::NoClock::TIME);
    IsoOptions::new()
        .with_level(IsoLevel::L3)
        .with_joliet()
        .with_rock_ridge()
        // Folders deeper than ISO 9660's 8 levels move to a hidden `.rr_moved` (Rock Ridge
        // readers put them back in place; the folder stays empty for them).
        .with_relocation(Relocation::DotRrMoved)
        .with_id(IsoId::Volume, "CASEMESH")
        .with_id(IsoId::Application, "CASEMESH")
        .with_time(time)
}

/// A byte range of the image that holds part of entry `entry`, from `file_offset`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    end: u64,
    entry: usize,
    file_offset: u64,
}

/// The output device: a buffered file that hashes the bytes written into planned file extents.
struct HashingDevice<'a> {
    out: BufWriter<File>,
    /// Background fsync of `out` as it grows.
    writeback: Writeback,
    /// Where the next byte written to `out` goes.
    pos: u64,
    /// Bytes in the image so far.
    len: u64,
    spans: Vec<Span>,
    /// First span that may still receive bytes (writes come in ascending order).
    cursor: usize,
    hashers: Vec<blake3::Hasher>,
    hashed: Vec<u64>,
    /// A write that did not follow the plan's order: a bug, reported after the write.
    out_of_order: bool,
    done: u64,
    total: u64,
    progress: &'a dyn Fn(u64, u64),
}

impl HashingDevice<'_> {
    fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        if offset != self.pos {
            self.out.seek(SeekFrom::Start(offset))?;
            self.pos = offset;
        }
        Ok(())
    }

    /// Feeds the part of `data` (at image offset `at`) that falls into file extents to hashers.
    fn hash(&mut self, at: u64, data: &[u8]) {
        let end = at + data.len() as u64;
        while self.cursor < self.spans.len() && self.spans[self.cursor].end <= at {
            self.cursor += 1;
        }
        let mut fed = 0u64;
        let mut i = self.cursor;
        while let Some(span) = self.spans.get(i).copied() {
            if span.start >= end {
                break;
            }
            let from = span.start.max(at);
            let to = span.end.min(end);
            if from < to {
                let offset_in_file = span.file_offset + (from - span.start);
                if offset_in_file != self.hashed[span.entry] {
                    self.out_of_order = true;
                } else {
                    let slice = &data[(from - at) as usize..(to - at) as usize];
                    self.hashers[span.entry].update(slice);
                    self.hashed[span.entry] += slice.len() as u64;
                    fed += slice.len() as u64;
                }
            }
            i += 1;
        }
        if fed > 0 {
            self.done += fed;
            (self.progress)(self.done, self.total);
        }
    }
}

fn dev_err(e: io::Error, what: &'static str) -> hadris_io::Error<io::Error> {
    hadris_io::Error::device(e, what)
}

impl ErrorType for HashingDevice<'_> {
    type Error = io::Error;
}

impl hadris_storage::sync::BlockDevice for HashingDevice<'_> {
    fn block_size(&self) -> BlockSize {
        BLOCK
    }

    fn block_count(&self) -> u64 {
        self.len / SECTOR
    }

    fn max_block_count(&self) -> u64 {
        u64::MAX / SECTOR
    }

    fn writable(&self) -> bool {
        true
    }

    fn read_blocks(
        &mut self,
        first: BlockIndex,
        buf: &mut [u8],
    ) -> Result<(), hadris_io::Error<io::Error>> {
        let offset = first.get() * SECTOR;
        self.out
            .flush()
            .map_err(|e| dev_err(e, "flushing the image failed"))?;
        let file = self.out.get_mut();
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(buf))
            .map_err(|e| dev_err(e, "reading the image failed"))?;
        self.pos = offset + buf.len() as u64;
        Ok(())
    }

    fn write_blocks(
        &mut self,
        first: BlockIndex,
        buf: &[u8],
    ) -> Result<(), hadris_io::Error<io::Error>> {
        let offset = first.get() * SECTOR;
        self.seek_to(offset)
            .map_err(|e| dev_err(e, "seeking the image failed"))?;
        self.out
            .write_all(buf)
            .map_err(|e| dev_err(e, "writing the image failed"))?;
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        self.writeback.wrote(buf.len() as u64);
        self.hash(offset, buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), hadris_io::Error<io::Error>> {
        self.out
            .flush()
            .map_err(|e| dev_err(e, "flushing the image failed"))
    }
}

/// Temp copies of [`Source::Reader`] entries, removed when dropped.
struct Staged(Vec<std::path::PathBuf>);

impl Drop for Staged {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The manifest with zero hashes: same length as the final one.
fn placeholder_manifest(entries: &[Entry], opts: &BuildOptions) -> Vec<u8> {
    // One hash per file; `make_manifest` skips folder entries.
    let zeros = vec!["0".repeat(64); entries.len()];
    crate::make_manifest(entries, &zeros, opts).to_bytes()
}

/// Writes the ISO package to `tmp`.
pub(crate) fn write(
    entries: &[Entry],
    tmp: &Path,
    opts: &BuildOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<Written, PackageError> {
    let werr = |e| PackageError::write(tmp, e);
    let mut tree = Tree::new();
    // Folders first: inserting a folder that a file's path already made would fail.
    for entry in entries.iter().filter(|e| e.is_folder()) {
        tree.insert(entry.path.as_str(), Node::dir())
            .map_err(iso_err(&entry.path))?;
    }
    // Reader sources are copied to temp files beside the package first (hadris reads host
    // files only); removed when this returns.
    let mut staged = Staged(Vec::new());
    for (index, entry) in entries.iter().enumerate() {
        let content = match &entry.source {
            Source::Folder => continue,
            Source::File(_) | Source::Reader(_) => {
                let src = match &entry.source {
                    Source::Reader(r) => {
                        let path = tmp.with_extension(format!("stage-{index}"));
                        staged.0.push(path.clone());
                        let copy = || -> std::io::Result<()> {
                            let mut input = r.open()?;
                            let mut out = std::fs::File::create(&path)?;
                            std::io::copy(&mut input, &mut out)?;
                            Ok(())
                        };
                        copy().map_err(|e| PackageError::source_read(&path, e))?;
                        path
                    }
                    Source::File(src) => src.clone(),
                    _ => continue,
                };
                let src = &src;
                let content = hadris_fs::host::file(src).map_err(iso_err(&entry.path))?;
                if content.len() != entry.size {
                    return Err(PackageError::SizeMismatch {
                        path: entry.path.clone(),
                        expected: entry.size,
                        actual: content.len(),
                    });
                }
                content
            }
            Source::Bytes(bytes) => Content::bytes(bytes.clone()),
        };
        tree.insert(entry.path.as_str(), Node::file(content))
            .map_err(iso_err(&entry.path))?;
    }
    let placeholder = placeholder_manifest(entries, opts);
    let manifest_len = placeholder.len();
    tree.insert(MANIFEST_NAME, Node::file(Content::bytes(placeholder)))
        .map_err(iso_err(MANIFEST_NAME))?;
    tree.insert(
        SIGNATURE_NAME,
        Node::file(Content::bytes(vec![b'0'; manifest::SIGNATURE_FILE_LEN])),
    )
    .map_err(iso_err(SIGNATURE_NAME))?;

    let iso_opts = options(opts);
    let plan = hadris_iso::plan(&tree, &iso_opts).map_err(iso_err("planning the image"))?;
    let mut spans = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        // The report lists a file's extents in file order but leaves `file_offset` at 0.
        let mut file_offset = 0;
        for extent in plan.extents(&entry.path).unwrap_or(&[]) {
            spans.push(Span {
                start: extent.offset(),
                end: extent.end(),
                entry: index,
                file_offset,
            });
            file_offset += extent.len();
        }
    }
    spans.sort_by_key(|s| s.start);
    let region = |name: &str| -> Result<Extent, PackageError> {
        match plan.extents(name) {
            Some([extent]) => Ok(*extent),
            _ => Err(PackageError::Internal("manifest not planned as one extent")),
        }
    };
    let (manifest_at, signature_at) = (region(MANIFEST_NAME)?, region(SIGNATURE_NAME)?);

    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(werr)?;
    let total: u64 = entries.iter().map(|e| e.size).sum();
    progress(0, total);
    let mut device = HashingDevice {
        writeback: Writeback::start(&file),
        out: BufWriter::with_capacity(COPY_BUF, file),
        pos: 0,
        len: 0,
        spans,
        cursor: 0,
        hashers: vec![blake3::Hasher::new(); entries.len()],
        hashed: vec![0; entries.len()],
        out_of_order: false,
        done: 0,
        total,
        progress,
    };
    let report = hadris_iso::sync::write(&mut device, &tree, &iso_opts)
        .map_err(iso_err("writing the image"))?;
    if device.out_of_order || report.size() != plan.size() {
        return Err(PackageError::Internal(
            "the image was not written as planned",
        ));
    }
    let mut hashes = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        if device.hashed[index] != entry.size {
            return Err(PackageError::Internal("a file was not hashed completely"));
        }
        if entry.is_folder() {
            continue;
        }
        hashes.push(device.hashers[index].finalize().to_hex().to_string());
    }
    let manifest = crate::make_manifest(entries, &hashes, opts);
    let manifest_bytes = manifest.to_bytes();
    let signature = manifest::sign(&opts.signing_key, &manifest_bytes);
    if manifest_bytes.len() != manifest_len || manifest_at.len() != manifest_len as u64 {
        return Err(PackageError::Internal("manifest length changed"));
    }
    for (extent, bytes) in [(manifest_at, &manifest_bytes), (signature_at, &signature)] {
        device.seek_to(extent.offset()).map_err(werr)?;
        device.out.write_all(bytes).map_err(werr)?;
        device.pos += bytes.len() as u64;
    }
    let HashingDevice { out, writeback, .. } = device;
    let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
    writeback.finish(&file).map_err(werr)?;
    let package_size = file.metadata().map_err(werr)?.len();
    Ok(Written {
        package_size,
        manifest,
        manifest_bytes,
    })
}

/// Whether `file` holds an ISO 9660 volume descriptor at sector 16.
pub(crate) fn sniff(file: &mut File) -> io::Result<bool> {
    let mut id = [0u8; 5];
    file.seek(SeekFrom::Start(DESCRIPTOR_ID_OFFSET))?;
    match file.read_exact(&mut id) {
        Ok(()) => Ok(&id == b"CD001"),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// One entry of a directory tree, as [`walk`] found it.
struct Walked {
    /// Package path in this tree (`/`-separated, no leading `/`).
    path: String,
    node: NodeId,
    kind: FileType,
    len: u64,
    /// Top level: `manifest.json` and `manifest.sig` only count there.
    depth: usize,
    /// A folder the walk did not enter, and why (the report's reason): its directory was
    /// entered before by another path ([`DIRECTORY_LOOP`]), or its directory's own `.` record
    /// disagrees with the record that leads to it ([`DOT_MISMATCH`]). `build` writes neither.
    refused: Option<&'static str>,
}

/// Why a folder reached a second time is a problem, as the report says.
const DIRECTORY_LOOP: &str = "folder points at a directory already listed elsewhere in the image (a loop or a shared subtree)";

/// Why a folder whose directory's `.` record names another extent or length is a problem.
/// ISO 9660 (ECMA-119 9.1, 6.8.2.2) has a directory's first record, `.`, describe the directory
/// itself; readers differ in which one they follow (`hadris-iso` lists the extent and length
/// the `.` record gives, isoinfo, 7-Zip, xorriso and Linux the ones the parent's record gives),
/// so an image where the two disagree shows different contents to different readers: verified
/// bytes in one, forged ones in the other (found by a newcomer's attack).
const DOT_MISMATCH: &str = "folder's directory does not describe itself: its '.' record names another extent or length than the record that leads to it, so readers of the image would list different contents";

/// Lists every entry of the tree `iso` is mounted on, depth first. Folders deeper than
/// [`MAX_DEPTH`] are listed but not entered, and so is a folder whose directory was entered
/// before or does not describe itself ([`Walked::refused`]): an image is untrusted input, and a
/// record pointing back at its own directory, or two records sharing one subtree, would
/// otherwise make the listing (and the memory it holds) grow with the depth limit or
/// exponentially, not with the image; a directory whose `.` record points elsewhere would be
/// listed from other bytes than other readers list. Each directory is read once, and only at the
/// extent and length the record leading to it gives, so the listing is bounded by the records
/// the image holds. A root whose `.` record disagrees with the volume descriptor is listed as one
/// refused folder `.`, nothing under it.
fn walk(
    iso: &mut IsoFs<hadris_storage::host::FileDevice>,
    raw: &mut RawDirs,
) -> Result<Vec<Walked>, PackageError> {
    let mut walked = Vec::new();
    let root = iso.root();
    if !raw.describes_itself(root.get(), raw.root_len(root.get())) {
        walked.push(Walked {
            path: ".".into(),
            node: root,
            kind: FileType::Dir,
            len: 0,
            depth: 0,
            refused: Some(DOT_MISMATCH),
        });
        return Ok(walked);
    }
    // A directory's node id is where its extent starts, so two records for one directory
    // share it.
    let mut entered = std::collections::HashSet::from([root]);
    // Explicit stack: (directory node, its package path, depth).
    let mut stack: Vec<(NodeId, String, usize)> = vec![(root, String::new(), 0)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        // The lengths the records of this directory give its sub-directories, by extent.
        let children = raw.child_lengths(dir.get());
        let mut cursor = DirCursor::START;
        loop {
            let entry = iso.readdir(dir, cursor).map_err(|e| {
                PackageError::iso(format!("listing {prefix:?}"), hadris_fs::PathError::from(e))
            })?;
            let Some(entry) = entry else { break };
            cursor = entry.next_cursor();
            let name = String::from_utf8_lossy(entry.name().as_bytes()).into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type();
            let refused = if kind != FileType::Dir {
                None
            } else if !entered.insert(entry.node()) {
                Some(DIRECTORY_LOOP)
            } else {
                // A Rock Ridge child link (CL) leads here through a file record of no length:
                // only the extent can be checked then (the relocated directory's own record,
                // under `.rr_moved`, is checked where the primary tree lists it).
                let lens = children.get(&entry.node().get()).map(Vec::as_slice);
                let ok = match lens {
                    Some(lens) => lens
                        .iter()
                        .all(|&len| raw.describes_itself(entry.node().get(), Some(len))),
                    None => raw.describes_itself(entry.node().get(), None),
                };
                (!ok).then_some(DOT_MISMATCH)
            };
            if kind == FileType::Dir && refused.is_none() && depth < MAX_DEPTH {
                stack.push((entry.node(), path.clone(), depth + 1));
            }
            walked.push(Walked {
                path,
                node: entry.node(),
                kind,
                len: entry.metadata().len(),
                depth,
                refused,
            });
        }
    }
    Ok(walked)
}

/// The image's directory records read as bytes, apart from `hadris-iso`, to hold each directory
/// against the record that leads to it ([`DOT_MISMATCH`]). Layout of a directory record
/// (ECMA-119 9.1): byte 0 its length, 2..6 the extent's first block (little-endian), 10..14 the
/// data length, 25 the flags (bit 1: directory), 32 the name's length, 33.. the name (`.` is the
/// one byte 0x00, `..` 0x01). Records do not cross a block; a zero length byte ends a block's
/// records. Every read is bounded: one block per `.` record, a directory's own length (capped
/// at the image) for its records.
struct RawDirs {
    file: File,
    image_len: u64,
    /// The logical block size (bytes), from the primary volume descriptor.
    block: u64,
    /// Each volume descriptor's root record: extent start (bytes) → data length.
    roots: std::collections::HashMap<u64, u32>,
}

impl RawDirs {
    fn open(path: &Path) -> Result<Self, PackageError> {
        let file = File::open(path).map_err(|e| PackageError::read(path, e))?;
        let image_len = file
            .metadata()
            .map_err(|e| PackageError::read(path, e))?
            .len();
        let mut raw = RawDirs {
            file,
            image_len,
            block: SECTOR,
            roots: std::collections::HashMap::new(),
        };
        // Volume descriptors from sector 16 to the set terminator (type 255): the primary (1)
        // and supplementary ones (2, Joliet) each hold a root record at byte 156.
        let mut first = true;
        for sector in 16..16 + 64 {
            let Some(d) = raw.bytes(sector * SECTOR, SECTOR as usize) else {
                break;
            };
            if &d[1..6] != b"CD001" || d[0] == 255 {
                break;
            }
            if d[0] == 1 && first {
                let block = u64::from(u16::from_le_bytes([d[128], d[129]]));
                if block.is_power_of_two() && (512..=SECTOR).contains(&block) {
                    raw.block = block;
                }
                first = false;
            }
            if d[0] == 1 || d[0] == 2 {
                let r = &d[156..156 + 34];
                let extent = u64::from(u32::from_le_bytes([r[2], r[3], r[4], r[5]]));
                let len = u32::from_le_bytes([r[10], r[11], r[12], r[13]]);
                raw.roots.insert(extent * raw.block, len);
            }
        }
        Ok(raw)
    }

    /// `len` bytes at `offset`, or `None` past the image or on a read error.
    fn bytes(&mut self, offset: u64, len: usize) -> Option<Vec<u8>> {
        if offset.checked_add(len as u64)? > self.image_len {
            return None;
        }
        let mut buf = vec![0u8; len];
        self.file.seek(SeekFrom::Start(offset)).ok()?;
        self.file.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    /// The data length the volume descriptors give the root directory at `extent`.
    fn root_len(&self, extent: u64) -> Option<u32> {
        self.roots.get(&extent).copied()
    }

    /// Whether the directory at `extent` (bytes) begins with a `.` record naming `extent`
    /// itself and, when `len` is given, that length.
    fn describes_itself(&mut self, extent: u64, len: Option<u32>) -> bool {
        let Some(r) = self.bytes(extent, 34) else {
            return false;
        };
        let dot = usize::from(r[0]) >= 34 && r[32] == 1 && r[33] == 0 && r[25] & 2 != 0;
        let at = u64::from(u32::from_le_bytes([r[2], r[3], r[4], r[5]])) * self.block;
        let own_len = u32::from_le_bytes([r[10], r[11], r[12], r[13]]);
        dot && at == extent && len.is_none_or(|len| len == own_len)
    }

    /// The directory at `extent`: the extent (bytes) and length its records give each of its
    /// sub-directories (`.` and `..` left out), as this directory's own `.` record bounds it.
    /// Empty when the directory cannot be read (the listing then reports that itself).
    fn child_lengths(&mut self, extent: u64) -> std::collections::HashMap<u64, Vec<u32>> {
        let mut children: std::collections::HashMap<u64, Vec<u32>> = Default::default();
        let Some(dot) = self.bytes(extent, 34) else {
            return children;
        };
        let size = u64::from(u32::from_le_bytes([dot[10], dot[11], dot[12], dot[13]]))
            .min(self.image_len.saturating_sub(extent));
        let block = self.block;
        let mut start = 0;
        while start < size {
            let take = block.min(size - start);
            let Some(b) = self.bytes(extent + start, take as usize) else {
                break;
            };
            let mut pos = 0usize;
            while pos + 34 <= b.len() {
                let len = usize::from(b[pos]);
                if len == 0 {
                    break; // the rest of this block is padding
                }
                if len < 34 || pos + len > b.len() {
                    break; // malformed: hadris-iso refuses the directory itself
                }
                let r = &b[pos..pos + len];
                let name_len = usize::from(r[32]);
                let special = name_len == 1 && (r[33] == 0 || r[33] == 1);
                if r[25] & 2 != 0 && !special {
                    let at = u64::from(u32::from_le_bytes([r[2], r[3], r[4], r[5]])) * block;
                    let dlen = u32::from_le_bytes([r[10], r[11], r[12], r[13]]);
                    children.entry(at).or_default().push(dlen);
                }
                pos += len;
            }
            start += take;
        }
        children
    }
}

/// Reads the ISO image at `path`: walks the preferred tree (Rock Ridge when the image has it),
/// hashes every file's extents, and lists every other tree the image carries (primary, Joliet,
/// enhanced) with each file's extents, for `verify` to hold them against the manifest too.
pub(crate) fn read(path: &Path) -> Result<Listing, PackageError> {
    let device =
        hadris_storage::host::FileDevice::open(path).map_err(|e| PackageError::read(path, e))?;
    let mut iso = IsoFs::mount(device, MountOptions::new())
        .map_err(|e| PackageError::iso("mounting the image", e))?;
    let main = iso.namespace();
    let namespaces = iso.namespaces();
    let mut data = File::open(path).map_err(|e| PackageError::read(path, e))?;
    let image_len = data
        .metadata()
        .map_err(|e| PackageError::read(path, e))?
        .len();
    let mut listing = Listing::default();
    let mut buf = vec![0u8; COPY_BUF];
    let mut raw = RawDirs::open(path)?;
    let walked = walk(&mut iso, &mut raw)?;
    let mut hashing = Hashing::default();
    for Walked {
        path,
        node,
        kind,
        len,
        depth,
        refused,
    } in walked
    {
        match kind {
            FileType::Dir if refused.is_some() => listing.structure.push(FileProblem {
                path,
                problem: Problem::Unreadable(refused.unwrap_or(DIRECTORY_LOOP).into()),
            }),
            FileType::Dir => listing.dirs.push(path),
            FileType::File => {
                let found = match extents(&mut iso, node) {
                    Ok(extents) => {
                        let key = extent_key(&extents, len);
                        listing.extents.insert(path.clone(), key.clone());
                        hashing.found(key, &extents, &mut data, image_len, len, &mut buf)
                    }
                    Err(e) => Found::Unreadable(e),
                };
                if depth == 0 && (path == MANIFEST_NAME || path == SIGNATURE_NAME) {
                    let limit = if path == MANIFEST_NAME {
                        manifest::MAX_MANIFEST_BYTES
                    } else {
                        manifest::SIGNATURE_FILE_LEN as u64 * 2
                    };
                    let bytes = (len <= limit)
                        .then(|| read_small(&mut iso, &mut data, node, len))
                        .and_then(Result::ok);
                    listing.set_special(&path, bytes);
                } else {
                    if path == AUDIT_TRAIL_PATH {
                        let bytes = (len <= MAX_AUDIT_TRAIL_BYTES)
                            .then(|| read_small(&mut iso, &mut data, node, len))
                            .and_then(Result::ok);
                        listing.set_special(&path, bytes);
                    }
                    listing.files.push((path, found));
                }
            }
            // Symlinks and devices are never written by `build`: list them as added files.
            _ => listing
                .files
                .push((path, Found::Unreadable("not a regular file".into()))),
        }
    }
    // Every other tree: the same files must be there, under the names that tree gives them,
    // pointing at the very same extents.
    let mut device = iso.into_inner();
    for namespace in namespaces.iter() {
        if namespace == main {
            continue;
        }
        let Some(tree) = tree_of(namespace) else {
            continue;
        };
        let mut iso = IsoFs::mount_namespace(device, MountOptions::new(), namespace)
            .map_err(|e| PackageError::iso(format!("mounting the {tree} tree"), e))?;
        let mut other = TreeListing {
            tree,
            files: Vec::new(),
            dirs: Vec::new(),
            others: Vec::new(),
        };
        for w in walk(&mut iso, &mut raw)? {
            match w.kind {
                FileType::Dir if w.refused.is_some() => other.others.push(w.path),
                FileType::Dir => other.dirs.push(w.path),
                FileType::File => {
                    let key = extents(&mut iso, w.node)
                        .map(|e| extent_key(&e, w.len))
                        .unwrap_or_default();
                    other.files.push((w.path, key));
                }
                _ => other.others.push(w.path),
            }
        }
        listing.trees.push(other);
        device = iso.into_inner();
    }
    Ok(listing)
}

/// What identifies a file's bytes in the image: its size and every `(offset, length)` extent,
/// in file order (empty extents, which hold no byte, left out).
fn extent_key(extents: &[Extent], len: u64) -> ExtentKey {
    ExtentKey {
        len,
        extents: extents
            .iter()
            .filter(|e| !e.is_empty())
            .map(|e| (e.offset(), e.len()))
            .collect(),
    }
}

/// The extents of `node`, in file order.
fn extents(
    iso: &mut IsoFs<hadris_storage::host::FileDevice>,
    node: NodeId,
) -> Result<Vec<Extent>, String> {
    let mut all = Vec::new();
    let mut out = [Extent::new(0, 0); 64];
    let mut from = 0u64;
    loop {
        let n = iso
            .extents(node, from, &mut out)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(all);
        }
        for extent in &out[..n] {
            from = extent.file_offset() + extent.len();
            all.push(*extent);
        }
    }
}

/// Why a file is not hashed: the files' extents add up to more than the image.
const EXTENTS_EXCEED_IMAGE: &str = "the files' extents add up to more bytes than the image holds: records overlap other files' bytes, which build never writes";

/// The files of one image hashed so far. Records with the same extents ([`ExtentKey`]) are
/// hashed once; and since `build` gives every file its own bytes, the distinct extents of a
/// genuine image add up to at most its length. An image whose records reach the same bytes
/// again and again (a newcomer's attack: 60,000 records over the whole image took 47 s) would
/// otherwise cost records × image bytes of hashing; past the image's length, further files are
/// not read ([`EXTENTS_EXCEED_IMAGE`]), so verify reads each image at most about twice.
#[derive(Default)]
struct Hashing {
    /// What each distinct set of extents hashed to.
    done: std::collections::HashMap<ExtentKey, Found>,
    /// Bytes hashed so far (distinct extent sets only).
    bytes: u64,
}

impl Hashing {
    /// The size and BLAKE3 of the file whose extents are `extents` (`key` their [`ExtentKey`],
    /// `len` its directory length in bytes), or why they could not be read.
    fn found(
        &mut self,
        key: ExtentKey,
        extents: &[Extent],
        data: &mut File,
        image_len: u64,
        len: u64,
        buf: &mut [u8],
    ) -> Found {
        if let Some(found) = self.done.get(&key) {
            return found.clone();
        }
        let size: u64 = extents.iter().map(Extent::len).sum();
        if self.bytes.saturating_add(size) > image_len {
            return Found::Unreadable(EXTENTS_EXCEED_IMAGE.into());
        }
        self.bytes += size;
        let found = hash_extents(extents, data, image_len, len, buf);
        self.done.insert(key, found.clone());
        found
    }
}

/// Size and BLAKE3 of the bytes `extents` cover, checked against the directory's `len`.
fn hash_extents(
    extents: &[Extent],
    data: &mut File,
    image_len: u64,
    len: u64,
    buf: &mut [u8],
) -> Found {
    let result = (|| {
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        for extent in extents {
            if extent.end() > image_len {
                return Err("extent lies outside the image".to_string());
            }
            data.seek(SeekFrom::Start(extent.offset()))
                .map_err(|e| e.to_string())?;
            let mut left = extent.len();
            while left > 0 {
                let take = left.min(buf.len() as u64) as usize;
                data.read_exact(&mut buf[..take])
                    .map_err(|e| e.to_string())?;
                hasher.update(&buf[..take]);
                left -= take as u64;
            }
            size += extent.len();
        }
        if size != len {
            return Err(format!("extents hold {size} bytes, directory says {len}"));
        }
        Ok((size, hasher.finalize().to_hex().to_string()))
    })();
    Found::from(result)
}

fn read_small(
    iso: &mut IsoFs<hadris_storage::host::FileDevice>,
    data: &mut File,
    node: NodeId,
    len: u64,
) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(len as usize);
    for extent in extents(iso, node)? {
        data.seek(SeekFrom::Start(extent.offset()))
            .map_err(|e| e.to_string())?;
        let mut chunk = vec![0u8; extent.len() as usize];
        data.read_exact(&mut chunk).map_err(|e| e.to_string())?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The tree `namespace` names, as a report calls it.
fn tree_of(namespace: Namespace) -> Option<IsoTree> {
    match namespace {
        Namespace::Primary => Some(IsoTree::Primary),
        Namespace::RockRidge => Some(IsoTree::RockRidge),
        Namespace::Joliet => Some(IsoTree::Joliet),
        Namespace::Enhanced => Some(IsoTree::Enhanced),
        _ => None,
    }
}

/// Longest primary-tree file identifier before `;1` (ECMA-119 7.5.1, levels 2 and 3: 30
/// characters, name, `.` and extension together).
const PRIMARY_MAX: usize = 30;

/// The ISO 9660 identifier the writer gives the file `name` in the primary tree, as a reader
/// lists it (without `;1`, and without the `.` that ends a name with no extension), in full:
/// `(base, extension with its dot or "")`. Level 3 (see [`options`]) uses level 2 identifiers;
/// every character outside the d-characters `A–Z 0–9 _` becomes `_`, lowercase letters become
/// uppercase (ECMA-119 7.4.1 allows d-characters only), the base is cut first so that the
/// extension stays (hadris-iso 3.0.0-rc.2 `convert_l2`, `NameCase::Upper`).
fn primary_identifier(name: &str) -> (String, String) {
    let convert = |part: &str, max: usize| -> String {
        part.chars()
            .take(max)
            .map(|c| match c {
                'a'..='z' => c.to_ascii_uppercase(),
                'A'..='Z' | '0'..='9' | '_' => c,
                _ => '_',
            })
            .collect()
    };
    match name.rsplit_once('.') {
        Some((base, ext)) => {
            let ext_len = ext.chars().count().min(PRIMARY_MAX - 2);
            (
                convert(base, PRIMARY_MAX - 1 - ext_len),
                format!(".{}", convert(ext, ext_len)),
            )
        }
        None => (convert(name, PRIMARY_MAX), String::new()),
    }
}

/// Whether `found`, a file identifier the primary tree lists (version stripped), is the one the
/// writer gives the package file named `name`: exactly [`primary_identifier`], or that with
/// the `_n` the writer inserts before the extension when two names convert alike (the base cut
/// so the whole stays within 30 characters). Compared byte for byte, as ECMA-119 9.3 orders
/// and tells identifiers apart: `readme.txt` is not `README.TXT` (and not an identifier at
/// all: lowercase letters are not d-characters).
pub(crate) fn primary_name_matches(name: &str, found: &str) -> bool {
    let (base, ext) = primary_identifier(name);
    let Some(found_base) = found.strip_suffix(ext.as_str()) else {
        return false;
    };
    if found_base == base {
        return true;
    }
    let Some((prefix, digits)) = found_base.rsplit_once('_') else {
        return false;
    };
    let limit = (PRIMARY_MAX - ext.len().max(1)).saturating_sub(1 + digits.len());
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && prefix.len() == base.len().min(limit)
        && base.starts_with(prefix)
}

/// The primary-tree path the writer gives the folder path `path` where Rock Ridge relocation
/// leaves its placeholder: every segment as a directory identifier (31 d-characters,
/// ECMA-119 7.6.3, uppercase; hadris-iso `primary_directory`).
pub(crate) fn primary_folder_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.chars()
                .take(PRIMARY_MAX + 1)
                .map(|c| match c {
                    'a'..='z' => c.to_ascii_uppercase(),
                    'A'..='Z' | '0'..='9' | '_' => c,
                    _ => '_',
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_identifiers_are_the_writers_and_compare_exactly() {
        assert!(primary_name_matches("report.txt", "REPORT.TXT"));
        assert!(!primary_name_matches("report.txt", "report.txt"));
        assert!(!primary_name_matches("report.txt", "Report.TXT"));
        assert!(primary_name_matches("README", "README"));
        assert!(primary_name_matches(
            "r\u{e9}sum\u{e9} 1.pdf",
            "R_SUM__1.PDF"
        ));
        assert!(primary_name_matches("a-b.txt", "A_B_1.TXT"));
        assert!(!primary_name_matches("a-b.txt", "A_B_.TXT"));
        assert!(!primary_name_matches("a-b.txt", "A_C_1.TXT"));
        let long = format!("{}.mp4", "v".repeat(40));
        assert!(primary_name_matches(
            &long,
            &format!("{}.MP4", "V".repeat(26))
        ));
        assert!(primary_name_matches(
            &long,
            &format!("{}_2.MP4", "V".repeat(24))
        ));
        assert!(!primary_name_matches(
            &long,
            &format!("{}.MP4", "V".repeat(25))
        ));
    }
}
