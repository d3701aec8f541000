//! The object-store side of [`super::BlobStore`] (`[storage] backend = "s3"`, issue #18): the
//! interface an object-store backend implements ([`ObjectBlobs`], [`ObjectWriter`]; the S3 one is
//! `casemesh_blobs_s3::backend::S3Backend`, which depends on this crate, not the other way
//! round), and the reader types callers get instead of a file ([`BlobReader`],
//! [`BlobLocation`], [`RemoteBlob`]).
//!
//! The store's callers are synchronous and run on blocking threads (`spawn_blocking`), a few on
//! the runtime's worker threads: the synchronous methods below block until the object store
//! answered (an implementation bridges to its async client; see the S3 one). Memory stays flat
//! in the blob's size: reads are verified windows of a few MiB, writes a streaming upload.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use casemesh_model::ids::BlobHash;
use casemesh_model::pins::BlobPins;
use futures::{StreamExt, future::BoxFuture, stream::BoxStream};

use crate::error::StoreError;

/// What an object-store backend gives the blob store. Blocking methods may be called from a
/// blocking thread or a worker thread of a multi-threaded tokio runtime; the async ones from
/// async code. Every read hands out verified bytes only; every write counts only once the
/// object store confirmed it.
pub trait ObjectBlobs: Send + Sync + 'static {
    /// Check that the bucket answers, the credentials and region are accepted and the key may
    /// write there (called at start).
    ///
    /// Errors: `Io` saying what the object store answered.
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Whether the object store answers now, for the node's readiness (`/readyz`): a cheap
    /// request (a listing of at most a page), answered within `within`, its result kept for a
    /// few seconds so that frequent probes cost nothing. Unlike [`ObjectBlobs::check`] it
    /// writes nothing.
    ///
    /// Errors: `Io` saying what the object store answered, or that it did not answer in time.
    fn ready(&self, within: std::time::Duration) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Claim the object store for organization `me` (an org id), or refuse when another
    /// organization's node uses it: two nodes on one bucket would delete each other's blobs in
    /// gc.
    ///
    /// Errors: `Io` saying who owns it, or what the object store answered.
    fn claim<'a>(&'a self, me: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Remove leftovers of interrupted uploads older than `older_than`; returns their number.
    fn sweep(&self, older_than: std::time::Duration) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Keep these blobs from garbage collection until the guard is dropped.
    fn pin(&self, hashes: Vec<BlobHash>) -> BlobPins;

    /// Held shared from a writer's finish until its reference is recorded; gc takes it
    /// exclusively per blob.
    fn ingest_guard(&self) -> BoxFuture<'_, tokio::sync::OwnedRwLockReadGuard<()>>;

    /// Blocking: the stored size of a blob, `None` when absent (not verified).
    fn stat(&self, hash: &BlobHash) -> Result<Option<u64>, StoreError>;

    /// Start a streaming upload of a blob whose hash is not known yet (`size_hint`: its exact
    /// size when known).
    fn writer(&self, size_hint: Option<u64>) -> Box<dyn ObjectWriter>;

    /// Blocking: store the file at `path`, completed only if its bytes hash to `hash`
    /// (`BlobCorrupt` otherwise); nothing is uploaded when the blob is stored already. The file
    /// is left in place.
    fn put_verified_file(&self, path: &Path, hash: BlobHash) -> Result<(), StoreError>;

    /// Blocking: store small blobs already checked against their hashes.
    fn put_verified_batch(&self, blobs: &[(BlobHash, &[u8])]) -> Result<(), StoreError>;

    /// Blocking: a stream of the blob's verified windows (at most a few MiB each). An item is
    /// `Err` at the first window that does not verify (`InvalidData`), and the stream ends there.
    fn stream(&self, hash: &BlobHash) -> io::Result<BoxStream<'static, io::Result<Bytes>>>;

    /// Blocking: one verified ranged read of `hash` (of `size` bytes) from `pos` into `buf`.
    fn read_at(&self, hash: &BlobHash, size: u64, pos: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Blocking: copy the blob's stored outboard (bao-tree post order, 16 KiB chunk groups) into
    /// `out`; `false` when none is stored.
    fn copy_outboard(&self, hash: &BlobHash, out: &mut dyn Write) -> io::Result<bool>;

    /// Blocking: read the whole blob and check it (and its outboard); returns its size.
    ///
    /// Errors: `BlobMissing`, `BlobCorrupt`, `Io`.
    fn verify(&self, hash: &BlobHash) -> Result<u64, StoreError>;

    /// Blocking: every stored blob with its size, sorted by hash.
    fn list(&self) -> Result<Vec<(BlobHash, u64)>, StoreError>;

    /// Delete every blob neither pinned nor `in_use`; returns (blobs removed, bytes freed).
    fn gc<'a>(
        &'a self,
        in_use: &'a (dyn Fn(&BlobHash) -> Result<bool, StoreError> + Send + Sync),
    ) -> BoxFuture<'a, Result<(u64, u64), StoreError>>;

    /// Blocking: the next item of a stream from [`ObjectBlobs::stream`] (for [`RemoteReader`]).
    fn block_on_next(
        &self,
        stream: &mut BoxStream<'static, io::Result<Bytes>>,
    ) -> Option<io::Result<Bytes>>;
}

/// A streaming upload to an object store; dropping it without [`ObjectWriter::finish`] stores
/// nothing.
pub trait ObjectWriter: Send {
    /// Blocking: append bytes (hashed and uploaded).
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Bytes written so far.
    fn size(&self) -> u64;
    /// Blocking: complete the upload; returns the blob's hash and size once the store
    /// confirmed it.
    fn finish(self: Box<Self>) -> Result<(BlobHash, u64), StoreError>;
}

/// A verified blob to read, from [`super::BlobStore::open_verified`]: a local file (checked
/// whole against its hash before it is handed out, positioned at its start) or a stream of
/// verified windows from the object store (each window checked before its bytes are handed
/// out; a window that does not verify ends the read with `InvalidData`).
pub enum BlobReader {
    /// The blob's file.
    File(std::fs::File),
    /// Verified windows from the object store.
    Remote(RemoteReader),
}

/// Blocking `Read` over a stream of verified windows.
pub struct RemoteReader {
    stream: BoxStream<'static, io::Result<Bytes>>,
    backend: Arc<dyn ObjectBlobs>,
    buf: Bytes,
}

impl Read for RemoteReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.backend.block_on_next(&mut self.stream) {
                None => return Ok(0),
                Some(piece) => self.buf = piece?,
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        let _ = self.buf.split_to(n);
        Ok(n)
    }
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobReader::File(file) => f.debug_tuple("File").field(file).finish(),
            BlobReader::Remote(_) => f.write_str("Remote"),
        }
    }
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            BlobReader::File(f) => f.read(out),
            BlobReader::Remote(r) => r.read(out),
        }
    }
}

impl BlobReader {
    /// The blob as an async stream of pieces (for an HTTP body): the file read 1 MiB at a
    /// time, or the object store's verified windows as they arrive (no blocking thread).
    pub fn into_stream(self) -> BoxStream<'static, io::Result<Bytes>> {
        match self {
            BlobReader::File(f) => tokio_util::io::ReaderStream::with_capacity(
                tokio::fs::File::from_std(f),
                super::CHUNK,
            )
            .boxed(),
            BlobReader::Remote(r) => {
                let rest = r.buf;
                let head = futures::stream::iter((!rest.is_empty()).then_some(Ok(rest)));
                head.chain(r.stream).boxed()
            }
        }
    }
}

/// Where a blob's bytes are, for serving ranges of them (partners) or reading them whole
/// (packages): [`super::BlobStore::locate`].
pub enum BlobLocation {
    /// A local file (the fast path: positioned reads, the kernel's read-ahead).
    File {
        /// The blob's file.
        path: std::path::PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// An object in the bucket, read by verified ranges.
    Remote(RemoteBlob),
}

impl BlobLocation {
    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            BlobLocation::File { size, .. } => *size,
            BlobLocation::Remote(r) => r.size,
        }
    }
}

/// A blob in the object store, read by verified ranged reads from synchronous code. Cheap to
/// clone.
#[derive(Clone)]
pub struct RemoteBlob {
    backend: Arc<dyn ObjectBlobs>,
    hash: BlobHash,
    size: u64,
}

impl RemoteBlob {
    pub(crate) fn new(backend: Arc<dyn ObjectBlobs>, hash: BlobHash, size: u64) -> Self {
        RemoteBlob {
            backend,
            hash,
            size,
        }
    }

    /// Its hash.
    pub fn hash(&self) -> BlobHash {
        self.hash
    }

    /// Its size in bytes (as stored; every read is verified against the hash).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Read bytes from `pos` into `buf` (fewer at the end of the blob, 0 at or past it): one
    /// verified ranged read of at most `buf.len()` bytes (callers use windows of a few MiB).
    ///
    /// Errors: `InvalidData` when the bytes do not verify, `NotFound` when the blob is gone,
    /// other kinds when the store is unreachable.
    pub fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        if pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        self.backend.read_at(&self.hash, self.size, pos, buf)
    }

    /// Copy the blob's stored outboard (bao-tree post order, 16 KiB groups) into `out`;
    /// `Ok(false)` when the store keeps none for it (small blobs, or a missing outboard).
    pub fn copy_outboard(&self, out: &mut dyn Write) -> io::Result<bool> {
        self.backend.copy_outboard(&self.hash, out)
    }

    /// The whole blob as a blocking reader of verified windows (call off the async threads).
    /// The first window is fetched and verified here: a blob missing or corrupt from its start
    /// is an error of this call (`NotFound`, `InvalidData`), which a caller can still report
    /// with a status and code, rather than of a response already under way.
    pub fn reader(&self) -> io::Result<BlobReader> {
        let mut stream = self.backend.stream(&self.hash)?;
        let buf = match self.backend.block_on_next(&mut stream) {
            None => Bytes::new(),
            Some(first) => first?,
        };
        Ok(BlobReader::Remote(RemoteReader {
            stream,
            backend: self.backend.clone(),
            buf,
        }))
    }
}
