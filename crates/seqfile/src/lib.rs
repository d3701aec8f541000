//! A sequential writer for large files: it buffers pieces that come (almost always) in order
//! into large positioned writes, and — for a file written once and not read again soon, a blob a
//! partner sends (`crates/net`, the receiver's partial file: [`SeqWriter::direct`]) — writes
//! whole aligned blocks with `O_DIRECT`, past the page cache, where the file system allows it.
//! The blob store's ingest (`crates/store`) does not use it: a share may read an ingested blob
//! soon, and serving a cold blob was measured to cost more than `O_DIRECT` saved at ingest
//! (docs/benchmarks.md, 2026-12-01).
//!
//! Why `O_DIRECT` (issue #11): on the development VM (ext4 on virtio), writing 1 GiB through the
//! page cache and `fdatasync`ing it cost 2.7–3.4 s of kernel CPU and 3.6–4.2 s of wall time
//! (`dd bs=1M conv=fdatasync`), the same with `oflag=direct` 0.5–0.65 s and 1.2–1.5 s: the copy
//! into the page cache and its write-back were the largest single cost of a receiver (about 30 %
//! of its CPU in `perf`, docs/protocol.md, "Where the time of a large transfer goes"). A received
//! blob is not read again soon (it is renamed into place and served later), so caching its pages
//! buys nothing. A file of at most one buffer (most small evidence items) is written through the
//! page cache alone: the `O_DIRECT` handle is opened when the first full buffer goes out.
//!
//! Rules of `O_DIRECT` (open(2)): the memory, the file offset and the length of each write are
//! multiples of the block size ([`DIRECT_ALIGN`]). The writer keeps every byte at a memory
//! address congruent to its file offset modulo that size, writes the unaligned head (after a
//! resume or a checkpoint) and the short tail through the ordinary handle, and the whole blocks
//! between them through the `O_DIRECT` handle. A file system without `O_DIRECT` (tmpfs refuses
//! the open) or a write it refuses with `EINVAL` makes the writer fall back to the page cache
//! for the rest of the file; nothing else changes. Durability is unchanged: `fdatasync` on the
//! ordinary handle covers the file's data and size whichever handle wrote them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Alignment of an `O_DIRECT` write, in bytes: of its memory address, file offset and length.
/// The page size, and a multiple of the logical block size of the disks this runs on.
pub const DIRECT_ALIGN: usize = 4096;

/// Buffers positioned writes that are (almost always) sequential into writes of up to
/// `capacity` bytes; see the module doc for how they reach the file.
pub struct SeqWriter {
    /// The file, through the page cache: unaligned heads and tails, `fdatasync`.
    file: File,
    /// The same file opened with `O_DIRECT`, once a full buffer went out; `None` before, and
    /// where the file system has no `O_DIRECT` or refused an aligned write.
    direct: Option<File>,
    /// Where to open [`Self::direct`] from, until it is opened (or given up).
    direct_path: Option<PathBuf>,
    /// File offset of the first buffered byte: the end of what was handed to the file.
    pos: u64,
    /// The buffer: `capacity` bytes plus room to place the first byte at the memory offset
    /// congruent to `pos`.
    storage: Box<[u8]>,
    /// Index in `storage` of the first buffered byte.
    start: usize,
    /// Buffered bytes.
    len: usize,
    /// Bytes buffered before a write.
    capacity: usize,
}

impl SeqWriter {
    /// A writer through the page cache only.
    ///
    /// # Panics
    /// When `capacity` is less than two blocks ([`DIRECT_ALIGN`]): a full buffer must hold a
    /// whole block whatever its head.
    pub fn new(file: File, pos: u64, capacity: usize) -> Self {
        assert!(capacity >= 2 * DIRECT_ALIGN, "buffer of {capacity} bytes");
        let mut writer = Self {
            file,
            direct: None,
            direct_path: None,
            pos,
            storage: vec![0; capacity + 2 * DIRECT_ALIGN].into_boxed_slice(),
            start: 0,
            len: 0,
            capacity,
        };
        writer.place();
        writer
    }

    /// A writer that writes whole blocks of `file` (opened from `path`) with `O_DIRECT` once a
    /// full buffer goes out, when the file system allows it; through the page cache otherwise.
    /// A file system without `O_DIRECT` is not an error.
    ///
    /// # Panics
    /// As [`SeqWriter::new`].
    pub fn direct(file: File, path: &Path, pos: u64, capacity: usize) -> Self {
        let mut writer = Self::new(file, pos, capacity);
        writer.direct_path = Some(path.to_path_buf());
        writer
    }

    /// The file, through the page cache (to `fdatasync` it: that covers the bytes either
    /// handle wrote, and the file's size).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Whether whole blocks go past the page cache (from the first full buffer on).
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Set `start` for an empty buffer so that memory and file offsets agree modulo
    /// [`DIRECT_ALIGN`].
    fn place(&mut self) {
        let aligned = self.storage.as_ptr().align_offset(DIRECT_ALIGN);
        self.start = aligned + (self.pos % DIRECT_ALIGN as u64) as usize;
        self.len = 0;
    }

    /// Write `data` at `offset`. Sequential pieces are buffered; a piece elsewhere first
    /// writes out what is buffered.
    ///
    /// # Errors
    /// The file's write error.
    pub fn write_at(&mut self, offset: u64, mut data: &[u8]) -> io::Result<()> {
        if offset != self.pos + self.len as u64 {
            self.flush()?;
            self.pos = offset;
            self.place();
        }
        while !data.is_empty() {
            let n = (self.capacity - self.len).min(data.len());
            let at = self.start + self.len;
            self.storage[at..at + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
            if self.len == self.capacity {
                self.write_out(false)?;
            }
        }
        Ok(())
    }

    /// Hand every buffered byte to the file.
    ///
    /// # Errors
    /// The file's write error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_out(true)
    }

    /// Write the buffer out: whole aligned blocks with `O_DIRECT` when there is such a handle;
    /// the head before the first block boundary and, when `all`, the tail after the last one
    /// through the page cache. A tail not written stays buffered, at the front.
    fn write_out(&mut self, all: bool) -> io::Result<()> {
        if !all && let Some(path) = self.direct_path.take() {
            // The first full buffer: worth a handle past the page cache.
            self.direct = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(&path)
                .ok();
        }
        let Some(direct) = self.direct.take() else {
            return self.write_cached(self.len);
        };
        let kept = self.write_blocks(&direct, all);
        if !matches!(kept, Ok(false)) {
            self.direct = Some(direct);
        }
        kept.map(|_| ())
    }

    /// [`Self::write_out`] with the `O_DIRECT` handle. `Ok(false)`: the file system refused an
    /// aligned write (`EINVAL`); everything was written through the page cache instead and
    /// `direct` is not to be used again.
    fn write_blocks(&mut self, direct: &File, all: bool) -> io::Result<bool> {
        let align = DIRECT_ALIGN as u64;
        let head = (((align - self.pos % align) % align) as usize).min(self.len);
        let blocks = (self.len - head) / DIRECT_ALIGN * DIRECT_ALIGN;
        if blocks == 0 {
            // Less than a block: buffer on unless everything must go out. (A full buffer
            // always holds a block: `capacity` ≥ 2 blocks and `head` < 1.)
            if all {
                self.write_cached(self.len)?;
            }
            return Ok(true);
        }
        self.write_cached(head)?;
        let at = self.start;
        let mut kept = true;
        match direct.write_all_at(&self.storage[at..at + blocks], self.pos) {
            Ok(()) => self.consume(blocks),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::debug!(error = %e, "O_DIRECT write refused; writing through the page cache");
                kept = false;
                self.write_cached(blocks)?;
            }
            Err(e) => return Err(e),
        }
        if all || !kept {
            self.write_cached(self.len)?;
        } else {
            // The tail (maybe empty) starts on a block boundary now: move it to the front.
            let (from, len) = (self.start, self.len);
            self.place();
            self.storage.copy_within(from..from + len, self.start);
            self.len = len;
        }
        Ok(kept)
    }

    /// Write the first `n` buffered bytes through the page cache.
    fn write_cached(&mut self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.file
                .write_all_at(&self.storage[self.start..self.start + n], self.pos)?;
            self.consume(n);
        }
        if self.len == 0 {
            self.place();
        }
        Ok(())
    }

    /// The first `n` buffered bytes are in the file.
    fn consume(&mut self, n: usize) {
        self.pos += n as u64;
        self.start += n;
        self.len -= n;
    }

    /// Write out everything and return the page-cache handle.
    ///
    /// # Errors
    /// The file's write error.
    pub fn into_file(mut self) -> io::Result<File> {
        self.flush()?;
        Ok(self.file)
    }

    /// End of the bytes handed to the file so far (written, not yet necessarily durable).
    pub fn written(&self) -> u64 {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    /// A directory on the file system of the source tree (a disk's: ext4 here, `O_DIRECT`;
    /// `/tmp` may be tmpfs), removed when dropped.
    fn disk_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(".seqwrite-test")
            .tempdir_in(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
    }

    /// [`disk_dir`], and one on tmpfs when there is one (no `O_DIRECT`: the fallback).
    fn dirs() -> Vec<tempfile::TempDir> {
        let mut dirs = vec![disk_dir()];
        if let Ok(d) = tempfile::tempdir_in("/dev/shm") {
            dirs.push(d);
        }
        dirs
    }

    fn open(path: &Path) -> File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap()
    }

    /// Pieces written in order (from `start`, with flushes in between, as checkpoints do) and
    /// restarts at earlier offsets (as a resume does) leave exactly the bytes written, whichever
    /// handle wrote them.
    fn check(pieces: &[(usize, bool)], start: usize, capacity: usize) {
        let total: usize = pieces.iter().map(|p| p.0).sum();
        let mut want = vec![0u8; start + total];
        let mut fill = 1u8;
        for dir in dirs() {
            let path = dir.path().join("part");
            let file = open(&path);
            file.set_len(start as u64).unwrap();
            let mut w = SeqWriter::direct(file, &path, start as u64, capacity);
            let mut offset = start;
            for &(len, flush) in pieces {
                let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                fill = fill.wrapping_add(7);
                w.write_at(offset as u64, &data).unwrap();
                want[offset..offset + len].copy_from_slice(&data);
                offset += len;
                if flush {
                    w.flush().unwrap();
                    assert_eq!(w.written(), offset as u64);
                }
            }
            let file = w.into_file().unwrap();
            file.sync_all().unwrap();
            let mut got = Vec::new();
            open(&path).read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), want.len());
            assert!(got == want, "contents differ in {}", dir.path().display());
        }
    }

    #[test]
    fn a_disk_file_gets_direct_writes() {
        let dir = disk_dir();
        let path = dir.path().join("part");
        let mut w = SeqWriter::direct(open(&path), &path, 0, 64 << 10);
        w.write_at(0, &[1; 60 << 10]).unwrap();
        w.flush().unwrap();
        // A file of at most one buffer never opens the handle.
        assert!(!w.is_direct());
        w.write_at(60 << 10, &[2; 70 << 10]).unwrap();
        // ext4, xfs and btrfs have O_DIRECT; this checks the flag reaches the file system.
        assert!(w.is_direct(), "no O_DIRECT on {}", dir.path().display());
    }

    #[test]
    fn whole_megabytes_and_odd_tails() {
        check(
            &[(1 << 20, false), (3 << 20, false), (12_345, true)],
            0,
            1 << 20,
        );
        check(&[(16 << 10, false); 200], 0, 1 << 20);
        check(
            &[(1, true), (4095, false), (4097, true), (70_000, false)],
            0,
            64 << 10,
        );
    }

    #[test]
    fn a_resume_at_an_unaligned_offset() {
        // A resume starts on a chunk group (16 KiB), a checkpoint may end anywhere.
        check(
            &[(5000, true), (300_000, false), (3, true), (9000, false)],
            16 << 10,
            64 << 10,
        );
        check(&[(8192, false), (100, true)], 100, 8192);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn any_pieces_any_start(
            pieces in proptest::collection::vec((1usize..40_000, proptest::bool::weighted(0.2)), 1..24),
            start in 0usize..20_000,
            blocks in 2usize..20,
        ) {
            check(&pieces, start, blocks * DIRECT_ALIGN);
        }
    }
}
