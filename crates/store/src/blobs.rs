//! The content-addressed blob store: evidence bytes, stored once, addressed by BLAKE3.
//!
//! Layout: `blobs/<first two hex digits>/<64 hex digits>` for complete blobs and `blobs/tmp/` for
//! blobs being written. A blob is written to a temp file while it is hashed (one pass), fsynced,
//! and only then renamed to its address; if that address already exists the bytes were already
//! stored and the temp file is dropped (deduplication). The directory is fsynced after the rename,
//! so a crash at any point leaves either no blob or a complete one, plus possibly a temp file that
//! [`BlobStore::gc`] removes.
//!
//! Outboards: the hashing pass of an ingest is an [`OutboardBuilder`], so a blob larger than
//! [`OUTBOARD_MIN`] also gets its BLAKE3 outboard (the post-order hash tree partners are served
//! from, 64 bytes per 16 KiB) beside it as `<64 hex digits>.obao`, written to a temp file as it
//! is produced and fsynced and renamed into place *before* the blob: a blob's outboard is
//! complete or absent, never half-written. Serving a blob then starts without a second pass over
//! its bytes ([`BlobStore::outboard_of`]). Blobs received from partners (adopted or stored by
//! batch) and blobs stored before this have none; the net layer computes and caches theirs on
//! first use. [`BlobStore::gc`] removes an outboard with its blob (and one whose blob is gone);
//! [`BlobStore::verify`] checks it against the blob's bytes.
//!
//! Reading verifies: [`BlobStore::open_verified`] hashes the file before handing it out, so a
//! flipped byte on disk is reported as [`StoreError::BlobCorrupt`] instead of being served.
//!
//! Which blobs are in use is the repository's business (exact reference keys in the database).
//! Here, three things keep garbage collection away from bytes someone is about to use:
//! - the `gc_lock`: an ingest holds it shared from `finish` until its reference is recorded;
//!   garbage collection takes it exclusively for each blob it decides about, so it never blocks
//!   an ingest for longer than one decision;
//! - pins ([`BlobStore::pin`]): a package build or a transfer pins the blobs it reads;
//! - live temp files: the temp file of a writer still in use is never swept.
//!
//! Backends (`[storage]` in the node's config, issue #18): the files above (`fs`, the default),
//! or an S3-compatible bucket ([`BlobStore::open_s3`], `casemesh_blobs_s3::S3Blobs`, glue in
//! [`remote`]) with the same guarantees. Callers do not branch on the backend: they write through
//! [`BlobWriter`], read through [`BlobReader`] ([`BlobStore::open_verified`]), serve ranges
//! through [`BlobLocation`] ([`BlobStore::locate`]) and hand in verified partial files and
//! batches ([`BlobStore::adopt_verified`], [`BlobStore::put_verified_batch`]); listing, gc,
//! verification, pins and the ingest guard mean the same on both. Local space
//! ([`BlobStore::check_space`]) is always the data directory's: partial transfers and packages
//! stay local.

use crate::error::StoreError;
use crate::outboard::{OutboardBuilder, OutboardDigest, outboard_size};
use casemesh_model::ids::BlobHash;
pub use casemesh_model::pins::BlobPins;
use casemesh_model::pins::Pins;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::RwLock;

pub mod remote;
pub use remote::{BlobLocation, BlobReader, ObjectBlobs, ObjectWriter, RemoteBlob, RemoteReader};

/// Size of the write buffer and of read chunks.
pub const CHUNK: usize = 1 << 20;

/// Free space kept for the database and the audit trail: an ingest, fetch or package build that
/// would leave less than this free is refused before it starts (bytes).
pub const SPACE_RESERVE: u64 = 32 << 20;

/// Blobs larger than this (bytes) get an outboard file beside them at ingest. Smaller ones are
/// served from memory with an outboard computed on the spot (`casemesh_net`'s `SMALL_BLOB`, the
/// same 256 KiB), so a file would only cost small items one more create, fsync and rename.
pub const OUTBOARD_MIN: u64 = 256 * 1024;

/// Start write-back of dirty pages every this many bytes, so the final fsync has little left to do.
const WRITEBACK_EVERY: u64 = 64 << 20;

/// The blob store: files in the blob directory, or objects in an S3 bucket (see the module doc).
#[derive(Clone)]
pub struct BlobStore {
    /// The blob directory (`fs`), or the local directory of temp files and free-space checks (`s3`).
    root: PathBuf,
    /// The bucket, when `[storage] backend = "s3"`; then blobs live only there.
    s3: Option<Arc<dyn ObjectBlobs>>,
    /// Ingest finalization holds it shared, garbage collection exclusively (per blob).
    gc_lock: Arc<RwLock<()>>,
    /// Pinned blobs (shared with clones).
    pins: Pins,
    /// Temp files of writers that are still alive.
    live_tmp: Arc<Mutex<BTreeSet<PathBuf>>>,
}

/// A blob being written; see [`BlobStore::writer`]. Dropping it without [`BlobWriter::finish`]
/// stores nothing: the temp file is removed (`fs`), the multipart upload aborted (`s3`).
pub struct BlobWriter(WriterInner);

enum WriterInner {
    /// Boxed: the hasher and buffer make it ~2 KiB, the other variant is a pointer.
    Fs(Box<FsWriter>),
    Object(Box<dyn ObjectWriter>),
}

/// A blob being written to a temp file of the blob directory, with its outboard beside it.
struct FsWriter {
    file: Option<BufWriter<File>>,
    tmp: PathBuf,
    /// Hashes the bytes; its pairs are the outboard.
    builder: OutboardBuilder,
    /// Outboard bytes produced and not yet written to `ob_file` (all of them while the blob is
    /// at most [`OUTBOARD_MIN`]: a small blob gets no outboard file).
    ob_pending: Vec<u8>,
    /// The outboard's temp file, created once the blob outgrows [`OUTBOARD_MIN`].
    ob_file: Option<BufWriter<File>>,
    /// Its path: the blob's temp path with `.obao` appended.
    ob_tmp: PathBuf,
    size: u64,
    since_writeback: u64,
    /// The background write-back of the file's dirty pages (see [`start_writeback`]): at most
    /// one per writer, joined before the next starts, at finish and on drop.
    writeback: Option<std::thread::JoinHandle<()>>,
    root: PathBuf,
    live_tmp: Arc<Mutex<BTreeSet<PathBuf>>>,
}

impl BlobStore {
    /// Open the blob store rooted at `root`, creating it if needed.
    pub fn open(root: &Path) -> Result<BlobStore, StoreError> {
        fs::create_dir_all(root.join("tmp"))
            .map_err(StoreError::io(format!("create {}", root.display())))?;
        Ok(BlobStore {
            root: root.to_path_buf(),
            s3: None,
            gc_lock: Arc::new(RwLock::new(())),
            pins: Pins::default(),
            live_tmp: Arc::default(),
        })
    }

    /// A blob store whose blobs live in an object store (`[storage] backend = "s3"`:
    /// `casemesh_blobs_s3::backend::S3Backend`); `local` holds only temp files and is where
    /// free space is checked. Sends no request: call [`BlobStore::check`] at start.
    ///
    /// Errors: `Io` when `local` cannot be created.
    pub fn open_object(
        local: &Path,
        backend: Arc<dyn ObjectBlobs>,
    ) -> Result<BlobStore, StoreError> {
        let mut store = BlobStore::open(local)?;
        store.s3 = Some(backend);
        Ok(store)
    }

    /// The backend's name, as in `[storage] backend`: `"fs"` or `"s3"`.
    pub fn backend(&self) -> &'static str {
        if self.s3.is_some() { "s3" } else { "fs" }
    }

    /// Check that the backend answers: for `s3`, that the bucket exists, the credentials and
    /// region are accepted and the key may write (a listing, then a probe object put and
    /// deleted); nothing to check for `fs`. Called at start: a node whose bucket is
    /// unusable must not start.
    ///
    /// Errors: `Io` whose message says what the object store answered.
    pub async fn check(&self) -> Result<(), StoreError> {
        match &self.s3 {
            Some(s3) => s3.check().await,
            None => Ok(()),
        }
    }

    /// Whether the blobs can be reached now (the node's readiness): on `s3` a cheap request to
    /// the bucket answered within `within` (the answer is kept a few seconds: see
    /// [`ObjectBlobs::ready`]); on `fs` the blob directory is there.
    ///
    /// Errors: `Io` saying what failed.
    pub async fn ready(&self, within: std::time::Duration) -> Result<(), StoreError> {
        match &self.s3 {
            Some(s3) => s3.ready(within).await,
            None => fs::metadata(&self.root)
                .map(drop)
                .map_err(StoreError::io(format!(
                    "blob directory {}",
                    self.root.display()
                ))),
        }
    }

    /// Claim the object store for organization `me` (its org id), or refuse when another node's
    /// organization holds it (issue #18: one bucket per node, or `blobs gc` on one node deletes
    /// the other's evidence). Nothing to claim for `fs`: `DIR/blobs` belongs to its data
    /// directory. Called at start, after [`BlobStore::check`], and by `blobs migrate`.
    ///
    /// Errors: `Io` naming the owning organization, or what the object store answered.
    pub async fn claim(&self, me: &str) -> Result<(), StoreError> {
        match &self.s3 {
            Some(s3) => s3.claim(me).await,
            None => Ok(()),
        }
    }

    /// Remove what interrupted uploads left in the object store (staging objects and
    /// outboards without a blob) older than `older_than`; nothing to do for `fs` (its temp
    /// files go with [`BlobStore::gc`]). Returns the objects removed. Run periodically.
    pub async fn sweep(&self, older_than: std::time::Duration) -> Result<u64, StoreError> {
        match &self.s3 {
            Some(s3) => s3.sweep(older_than).await,
            None => Ok(0),
        }
    }

    /// Keep these blobs from garbage collection until the returned guard is dropped (a package
    /// build reading them, a transfer serving them). Pins live in memory: after a restart nothing
    /// is in progress, so nothing needs them.
    pub fn pin(&self, hashes: impl IntoIterator<Item = BlobHash>) -> BlobPins {
        match &self.s3 {
            Some(s3) => s3.pin(hashes.into_iter().collect()),
            None => self.pins.pin(hashes),
        }
    }

    fn is_pinned(&self, hash: &BlobHash) -> bool {
        self.pins.is_pinned(hash)
    }

    /// Refuse with [`StoreError::NoSpace`] unless `bytes` more fit on the blob store's file system
    /// with [`SPACE_RESERVE`] left free. Called before an ingest, fetch or package build of a
    /// known size; a write that still hits a full disk fails with the same error.
    pub fn check_space(&self, bytes: u64) -> Result<(), StoreError> {
        let available = self.available_space()?;
        let needed = bytes.saturating_add(SPACE_RESERVE);
        if available < needed {
            return Err(StoreError::NoSpace { needed, available });
        }
        Ok(())
    }

    /// [`BlobStore::check_space`] for a new blob of `bytes` that goes straight into the store
    /// (an ingest): on `fs` the blob takes local space; on `s3` it streams to the bucket and
    /// takes none, so nothing is refused here.
    pub fn check_blob_space(&self, bytes: u64) -> Result<(), StoreError> {
        match &self.s3 {
            Some(_) => Ok(()),
            None => self.check_space(bytes),
        }
    }

    /// Bytes free on the blob store's file system (for unprivileged users, as `df` shows).
    pub fn available_space(&self) -> Result<u64, StoreError> {
        fs4::available_space(&self.root).map_err(StoreError::io(format!(
            "free space of {}",
            self.root.display()
        )))
    }

    /// Where the blob with this hash lives (whether or not it exists) with the `fs` backend;
    /// backend-independent callers use [`BlobStore::locate`].
    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    /// Where the outboard of the blob with this hash lives with the `fs` backend, whether or not
    /// it exists (see the module doc).
    pub fn outboard_path_of(&self, hash: &BlobHash) -> PathBuf {
        outboard_path(&self.path_of(hash))
    }

    /// The stored outboard of a blob of `size` bytes, to serve it from (`fs` only): `Some` when
    /// the blob is larger than [`OUTBOARD_MIN`] and its outboard file exists. Not checked here:
    /// the net layer checks its size and its hash tree against the blob's hash before using it,
    /// and computes one otherwise. `None` with `s3` (its outboards are objects, reached through
    /// [`BlobLocation::Remote`]).
    pub fn outboard_of(&self, hash: &BlobHash, size: u64) -> Option<PathBuf> {
        if self.s3.is_some() || size <= OUTBOARD_MIN {
            return None;
        }
        Some(self.outboard_path_of(hash)).filter(|p| p.is_file())
    }

    /// The directory for temp files (same file system as the blobs, so renames are atomic).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Whether a complete blob with this hash is present (not verified). With `s3`, one HEAD;
    /// a store that cannot be asked counts as "not present" (the caller fetches or writes the
    /// blob again, which dedup makes harmless).
    pub fn contains(&self, hash: &BlobHash) -> bool {
        match &self.s3 {
            Some(s3) => match s3.stat(hash) {
                Ok(found) => found.is_some(),
                Err(e) => {
                    tracing::warn!(blob = %hash, error = %e, "object store: cannot tell whether a blob is stored");
                    false
                }
            },
            None => self.path_of(hash).is_file(),
        }
    }

    /// Where the blob's bytes are, to serve ranges of them or read them whole: `None` when it is
    /// not stored. Not verified here; readers of a [`BlobLocation::Remote`] get verified bytes
    /// only, readers of a file verify what they read (partners check every range they receive).
    ///
    /// Errors: `Io` when the file system or the object store cannot be asked.
    pub fn locate(&self, hash: &BlobHash) -> Result<Option<BlobLocation>, StoreError> {
        match &self.s3 {
            Some(s3) => Ok(s3
                .stat(hash)?
                .map(|size| BlobLocation::Remote(RemoteBlob::new(s3.clone(), *hash, size)))),
            None => {
                let path = self.path_of(hash);
                match fs::metadata(&path) {
                    Ok(m) => Ok(Some(BlobLocation::File {
                        path,
                        size: m.len(),
                    })),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(StoreError::io(format!("stat {}", path.display()))(e)),
                }
            }
        }
    }

    /// Start writing a new blob.
    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        self.writer_sized(None)
    }

    /// Start writing a new blob whose final size is known (`size_hint`, bytes): with `s3` it
    /// sizes the multipart upload's parts so any size fits within S3's 10 000 parts (without
    /// it, up to 10 000 × the part size, 78 GiB at 8 MiB). Ignored by `fs`.
    pub fn writer_sized(&self, size_hint: Option<u64>) -> Result<BlobWriter, StoreError> {
        if let Some(s3) = &self.s3 {
            return Ok(BlobWriter(WriterInner::Object(s3.writer(size_hint))));
        }
        let tmp = self.tmp_path()?;
        let ob_tmp = outboard_path(&tmp);
        let file =
            File::create(&tmp).map_err(StoreError::io(format!("create {}", tmp.display())))?;
        {
            let mut live = self.live_tmp.lock().unwrap_or_else(|p| p.into_inner());
            live.insert(tmp.clone());
            live.insert(ob_tmp.clone());
        }
        Ok(BlobWriter(WriterInner::Fs(Box::new(FsWriter {
            // Through the page cache, not `casemesh_seqfile`'s O_DIRECT writer (which the
            // receiver's partial files use): a blob written past the cache is cold when a share
            // first reads it, and that made a share right after ingest about twice as slow
            // (docs/benchmarks.md, 2026-12-01), more than O_DIRECT saved at ingest.
            file: Some(BufWriter::with_capacity(CHUNK, file)),
            tmp,
            builder: OutboardBuilder::new(),
            ob_pending: Vec::new(),
            ob_file: None,
            ob_tmp,
            size: 0,
            since_writeback: 0,
            writeback: None,
            root: self.root.clone(),
            live_tmp: self.live_tmp.clone(),
        }))))
    }

    /// Hold this while turning a finished blob into a database reference; garbage collection
    /// cannot run meanwhile.
    pub async fn ingest_guard(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        match &self.s3 {
            Some(s3) => s3.ingest_guard().await,
            None => self.gc_lock.clone().read_owned().await,
        }
    }

    /// Finish `w` (see [`BlobWriter::finish`]) with the blob pinned before it lands in the store,
    /// so no garbage collection can remove it before the caller's transaction references it;
    /// the pins hold until dropped. For writers that are not ingests under
    /// [`BlobStore::ingest_guard`] (e.g. a share's item list).
    pub fn finish_pinned(&self, w: BlobWriter) -> Result<(BlobHash, u64, BlobPins), StoreError> {
        match (&w.0, &self.s3) {
            (WriterInner::Fs(f), _) => {
                let pins = self.pin([f.hash()]);
                let (hash, size) = w.finish()?;
                Ok((hash, size, pins))
            }
            (WriterInner::Object(_), Some(s3)) => {
                // The hash is known only once the upload is complete: the ingest guard keeps
                // gc away from the new object until the pin holds it.
                let _guard = futures::executor::block_on(s3.ingest_guard());
                let (hash, size) = w.finish()?;
                Ok((hash, size, self.pin([hash])))
            }
            (WriterInner::Object(_), None) => Err(StoreError::Corrupt(
                "an object-store writer finished by a file store".into(),
            )),
        }
    }

    /// Move a complete file that the caller already verified against `hash` (for example a
    /// transfer's partial file) into the store. Consumes `file`: renamed into the blob
    /// directory (`fs`), or uploaded to the blob's address, completed only if its bytes hash to
    /// `hash`, then removed (`s3`; nothing is uploaded when the blob is stored already).
    ///
    /// Errors: `BlobCorrupt` (s3: the file does not hash to `hash`), `Io`.
    pub fn adopt_verified(&self, file: &Path, hash: &BlobHash) -> Result<(), StoreError> {
        if let Some(s3) = &self.s3 {
            return match s3.put_verified_file(file, *hash) {
                Ok(()) => fs::remove_file(file)
                    .or_else(|e| match e.kind() {
                        std::io::ErrorKind::NotFound => Ok(()),
                        _ => Err(e),
                    })
                    .map_err(StoreError::io(format!("remove {}", file.display()))),
                // The other import of the same blob moved the shared partial file in already.
                Err(_) if !file.exists() && self.contains(hash) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let dest = self.path_of(hash);
        match self.adopt_inner(file, &dest) {
            // Two imports that fetched the same blob share one partial file: the first moved it
            // into place, so the second finds it gone and the blob stored. Not an error.
            Err(_) if dest.is_file() && !file.exists() => Ok(()),
            other => other.map(drop),
        }
    }

    fn adopt_inner(&self, file: &Path, dest: &Path) -> Result<PathBuf, StoreError> {
        if dest.is_file() {
            fs::remove_file(file).map_err(StoreError::io(format!("remove {}", file.display())))?;
            return Ok(dest.to_path_buf());
        }
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(StoreError::io(format!("create {}", dir.display())))?;
        File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(StoreError::io(format!("fsync {}", file.display())))?;
        fs::rename(file, dest)
            .map_err(StoreError::io(format!("rename into {}", dest.display())))?;
        sync_dir(&dir)?;
        Ok(dest.to_path_buf())
    }

    /// Store many small blobs whose bytes are in memory (a batch fetched from a partner), with
    /// one flush to disk for the whole batch instead of two per blob. Each blob is checked
    /// against its hash first (a mismatch stores nothing and is [`StoreError::BlobCorrupt`]).
    /// Blobs the store already holds are skipped.
    ///
    /// Durability is that of [`BlobWriter::finish`], grouped: every new blob is written to a
    /// temp file, all of them are made durable with one `syncfs(2)` of the blob store's file
    /// system, then renamed to their addresses, and one more `syncfs` makes the renames
    /// durable. When this returns `Ok`, every blob is complete and durable at its address; a
    /// crash before that leaves, for each blob, either nothing at its address or the complete
    /// blob (plus temp files that [`BlobStore::gc`] removes). Where `syncfs` is not available,
    /// each file and each directory is fsynced instead. The caller pins the blobs (or holds
    /// [`BlobStore::ingest_guard`]) until its records reference them.
    pub fn put_verified_batch(&self, blobs: &[(BlobHash, &[u8])]) -> Result<(), StoreError> {
        for (hash, bytes) in blobs {
            if BlobHash::from(blake3::hash(bytes)) != *hash {
                tracing::error!(blob = %hash, "batch blob does not match its hash; nothing stored");
                return Err(StoreError::BlobCorrupt { hash: *hash });
            }
        }
        if let Some(s3) = &self.s3 {
            return s3.put_verified_batch(blobs);
        }
        let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
        let guard = TmpFiles {
            files: Vec::new(),
            live_tmp: self.live_tmp.clone(),
        };
        let mut guard = guard;
        for (hash, bytes) in blobs {
            let dest = self.path_of(hash);
            if dest.is_file() || staged.iter().any(|(_, d)| *d == dest) {
                continue;
            }
            let tmp = self.tmp_path()?;
            self.live_tmp
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(tmp.clone());
            guard.files.push(tmp.clone());
            fs::write(&tmp, bytes).map_err(StoreError::io(format!("write {}", tmp.display())))?;
            staged.push((tmp, dest));
        }
        if staged.is_empty() {
            return Ok(());
        }
        let dirs: BTreeSet<PathBuf> = staged
            .iter()
            .filter_map(|(_, d)| d.parent().map(Path::to_path_buf))
            .collect();
        for dir in &dirs {
            fs::create_dir_all(dir).map_err(StoreError::io(format!("create {}", dir.display())))?;
        }
        // The bytes first: no blob reaches its address before its bytes are on disk.
        if !self.sync_fs() {
            for (tmp, _) in &staged {
                File::open(tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(StoreError::io(format!("fsync {}", tmp.display())))?;
            }
        }
        for (tmp, dest) in &staged {
            fs::rename(tmp, dest)
                .map_err(StoreError::io(format!("rename into {}", dest.display())))?;
        }
        // Then the names (and any shard directory created for them).
        if !self.sync_fs() {
            for dir in &dirs {
                sync_dir(dir)?;
            }
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// `syncfs(2)` of the blob store's file system: every written byte and name on it is
    /// durable when this returns true. False when the call failed (then fsync file by file).
    fn sync_fs(&self) -> bool {
        match File::open(&self.root).and_then(|d| rustix::fs::syncfs(&d).map_err(Into::into)) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "syncfs failed; fsyncing file by file");
                false
            }
        }
    }

    fn tmp_path(&self) -> Result<PathBuf, StoreError> {
        let mut name = [0u8; 16];
        getrandom::fill(&mut name)
            .map_err(|e| StoreError::io("random temp name")(std::io::Error::other(e)))?;
        Ok(self.tmp_dir().join(format!("{}.tmp", hex::encode(name))))
    }

    /// Open a blob for reading, verified, with its size in bytes. `fs`: the file, after checking
    /// all of its bytes against the hash, positioned at the start. `s3`: a stream of verified
    /// windows (each checked against the hash with the stored outboard before it is handed
    /// out; memory flat in the blob's size): corruption in the first window is `BlobCorrupt`
    /// here, further on a read error.
    ///
    /// Errors: `BlobMissing`, `BlobCorrupt`, `Io`.
    pub fn open_verified(&self, hash: &BlobHash) -> Result<(BlobReader, u64), StoreError> {
        if let Some(s3) = &self.s3 {
            let size = s3
                .stat(hash)?
                .ok_or(StoreError::BlobMissing { hash: *hash })?;
            let reader = RemoteBlob::new(s3.clone(), *hash, size)
                .reader()
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => StoreError::BlobMissing { hash: *hash },
                    std::io::ErrorKind::InvalidData => StoreError::BlobCorrupt { hash: *hash },
                    _ => StoreError::io(format!("object store: read blob {hash}"))(e),
                })?;
            return Ok((reader, size));
        }
        let (file, size) = self.open_file_verified(hash)?;
        Ok((BlobReader::File(file), size))
    }

    /// Check a blob whole: present, its bytes hash to its address (and, on `s3`, the outboard
    /// beside it is the one its bytes give). Returns its size. Reads every byte once, memory
    /// flat in its size. Source of `casemesh blobs verify`.
    ///
    /// Errors: `BlobMissing`, `BlobCorrupt`, `Io`.
    ///
    /// On `fs`, a blob with an outboard file is read through an [`OutboardBuilder`] and the file
    /// must be the outboard its bytes give (right size, same bytes). The outboard is derived
    /// data (the net layer computes one when it serves a blob without it), so a damaged or
    /// stale one whose blob's bytes are intact is not evidence damage: it is removed, with a
    /// warning naming the file, and the blob verifies. (It was never served meanwhile: the net
    /// layer checks an outboard's hash tree before serving from it.)
    pub fn verify(&self, hash: &BlobHash) -> Result<u64, StoreError> {
        if let Some(s3) = &self.s3 {
            return s3.verify(hash);
        }
        let ob_path = self.outboard_path_of(hash);
        if !ob_path.is_file() {
            return self.open_file_verified(hash).map(|(_, size)| size);
        }
        let (path, file) = self.open_blob_file(hash)?;
        let (size, root, computed) =
            outboard_of_reader(file).map_err(StoreError::io(format!("read {}", path.display())))?;
        if BlobHash::from(root) != *hash {
            tracing::error!(blob = %hash, "blob corrupted on disk: hash mismatch");
            return Err(StoreError::BlobCorrupt { hash: *hash });
        }
        let (stored_hash, stored_len) = File::open(&ob_path)
            .and_then(|mut f| hash_reader(&mut f))
            .map_err(StoreError::io(format!("read {}", ob_path.display())))?;
        if stored_len != outboard_size(size) || stored_hash.0 != *computed.as_bytes() {
            tracing::warn!(blob = %hash, outboard = %ob_path.display(), "the blob's outboard file is not the one its bytes give; the blob's bytes are intact, the outboard is removed (it is computed again when the blob is next served)");
            remove_if_there(&ob_path)?;
        }
        Ok(size)
    }

    /// The blob's file, opened for reading, and its path. Errors: `BlobMissing`, `Io`.
    fn open_blob_file(&self, hash: &BlobHash) -> Result<(PathBuf, File), StoreError> {
        let path = self.path_of(hash);
        match File::open(&path) {
            Ok(f) => Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::BlobMissing { hash: *hash })
            }
            Err(e) => Err(StoreError::io(format!("open {}", path.display()))(e)),
        }
    }

    fn open_file_verified(&self, hash: &BlobHash) -> Result<(File, u64), StoreError> {
        let (path, mut file) = self.open_blob_file(hash)?;
        let (actual, size) =
            hash_reader(&mut file).map_err(StoreError::io(format!("read {}", path.display())))?;
        if actual != *hash {
            tracing::error!(blob = %hash, "blob corrupted on disk: hash mismatch");
            return Err(StoreError::BlobCorrupt { hash: *hash });
        }
        file.seek(SeekFrom::Start(0))
            .map_err(StoreError::io(format!("seek {}", path.display())))?;
        Ok((file, size))
    }

    /// Every complete blob with its size, sorted by hash (on disk, or in the bucket).
    pub fn list(&self) -> Result<Vec<(BlobHash, u64)>, StoreError> {
        if let Some(s3) = &self.s3 {
            return s3.list();
        }
        let mut out: Vec<(BlobHash, u64)> = self
            .shard_entries("")?
            .into_iter()
            .map(|(hash, entry)| (hash, entry.metadata().map(|m| m.len()).unwrap_or(0)))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Delete every blob that is not pinned and for which `in_use` is false, and every leftover
    /// temp file of a writer that is gone. Returns the number of blobs removed and the bytes
    /// freed. The exclusive lock is taken per blob, so ingests go on meanwhile.
    pub async fn gc(
        &self,
        in_use: impl Fn(&BlobHash) -> Result<bool, StoreError> + Send + Sync,
    ) -> Result<(u64, u64), StoreError> {
        let (removed, mut freed) = match &self.s3 {
            Some(s3) => s3.gc(&in_use).await?,
            None => self.gc_files(&in_use).await?,
        };
        if let Ok(rd) = fs::read_dir(self.tmp_dir()) {
            let live = self
                .live_tmp
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for e in rd.flatten().filter(|e| !live.contains(&e.path())) {
                freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = fs::remove_file(e.path());
            }
        }
        Ok((removed, freed))
    }

    async fn gc_files(
        &self,
        in_use: &impl Fn(&BlobHash) -> Result<bool, StoreError>,
    ) -> Result<(u64, u64), StoreError> {
        let (mut removed, mut freed) = (0u64, 0u64);
        for (hash, size) in self.list()? {
            let _exclusive = self.gc_lock.write().await;
            if !self.is_pinned(&hash) && !in_use(&hash)? {
                let path = self.path_of(&hash);
                fs::remove_file(&path)
                    .map_err(StoreError::io(format!("remove {}", path.display())))?;
                freed += size + remove_outboard(&self.outboard_path_of(&hash));
                tracing::info!(blob = %hash, size, "garbage-collected unreferenced blob");
                removed += 1;
            }
        }
        // Outboards whose blob is gone: a crash between the two renames of an ingest, or an
        // ingest racing this gc (then the blob is served by computing its outboard).
        for (hash, ob) in self.outboard_files()? {
            let _exclusive = self.gc_lock.write().await;
            if !self.path_of(&hash).is_file() {
                freed += remove_outboard(&ob);
                tracing::info!(blob = %hash, "removed an outboard without its blob");
            }
        }
        Ok((removed, freed))
    }

    /// Every outboard file in the blob directory, with the hash it belongs to.
    fn outboard_files(&self) -> Result<Vec<(BlobHash, PathBuf)>, StoreError> {
        Ok(self
            .shard_entries(".obao")?
            .into_iter()
            .map(|(hash, entry)| (hash, entry.path()))
            .collect())
    }

    /// The entries of the shard directories named `<64 hex digits><suffix>`, with that hash
    /// (`""`: the blobs themselves; `".obao"`: their outboards).
    fn shard_entries(&self, suffix: &str) -> Result<Vec<(BlobHash, fs::DirEntry)>, StoreError> {
        let mut out = Vec::new();
        for shard in self.shards()? {
            for entry in fs::read_dir(&shard)
                .map_err(StoreError::io("list blob shard"))?
                .flatten()
            {
                let hash = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(suffix))
                    .and_then(|n| n.parse::<BlobHash>().ok());
                if let Some(hash) = hash {
                    out.push((hash, entry));
                }
            }
        }
        Ok(out)
    }

    /// The shard directories (`blobs/<two hex digits>`).
    fn shards(&self) -> Result<Vec<PathBuf>, StoreError> {
        let rd = fs::read_dir(&self.root)
            .map_err(StoreError::io(format!("list {}", self.root.display())))?;
        Ok(rd
            .flatten()
            .filter(|e| e.file_name().len() == 2 && e.path().is_dir())
            .map(|e| e.path())
            .collect())
    }
}

impl BlobWriter {
    /// Append bytes, hashing them on the way (and, with `s3`, uploading them: waits while the
    /// upload's parts in flight are at their limit).
    ///
    /// Errors: `Io` (disk or object store); after an error the writer stores nothing.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        match &mut self.0 {
            WriterInner::Fs(f) => f.write(bytes),
            WriterInner::Object(w) => w.write(bytes),
        }
    }

    /// The hash of the bytes written so far, when the backend knows it before the end (`fs`);
    /// `None` for `s3` (known at [`BlobWriter::finish`]).
    pub fn hash(&self) -> Option<BlobHash> {
        match &self.0 {
            WriterInner::Fs(f) => Some(f.hash()),
            WriterInner::Object(_) => None,
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        match &self.0 {
            WriterInner::Fs(f) => f.size,
            WriterInner::Object(w) => w.size(),
        }
    }

    /// Make the blob durable at its address (`fs`: fsynced and renamed; `s3`: confirmed by the
    /// object store). Returns its hash and size. Call while holding
    /// [`BlobStore::ingest_guard`] until the reference is recorded.
    ///
    /// Errors: `NoSpace`/`Io` (fs), `Io` (object store unreachable: nothing is stored).
    pub fn finish(self) -> Result<(BlobHash, u64), StoreError> {
        match self.0 {
            WriterInner::Fs(f) => f.finish(),
            WriterInner::Object(w) => w.finish(),
        }
    }
}

impl FsWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| StoreError::Corrupt("blob writer already finished".into()))?;
        self.builder.update(bytes, &mut self.ob_pending);
        file.write_all(bytes)
            .map_err(StoreError::io(format!("write {}", self.tmp.display())))?;
        self.size += bytes.len() as u64;
        self.since_writeback += bytes.len() as u64;
        if self.since_writeback >= WRITEBACK_EVERY {
            self.since_writeback = 0;
            join_writeback(&mut self.writeback);
            self.writeback = start_writeback(file.get_ref());
        }
        if self.size > OUTBOARD_MIN {
            self.write_outboard()?;
        }
        Ok(())
    }

    /// Move the outboard bytes produced so far to the outboard's temp file (created on first use).
    fn write_outboard(&mut self) -> Result<(), StoreError> {
        if self.ob_file.is_none() {
            let f = File::create(&self.ob_tmp)
                .map_err(StoreError::io(format!("create {}", self.ob_tmp.display())))?;
            self.ob_file = Some(BufWriter::with_capacity(64 * 1024, f));
        }
        if let Some(f) = self.ob_file.as_mut() {
            f.write_all(&self.ob_pending)
                .map_err(StoreError::io(format!("write {}", self.ob_tmp.display())))?;
        }
        self.ob_pending.clear();
        Ok(())
    }

    /// The hash of the bytes written so far: lets a caller pin the blob before it lands.
    fn hash(&self) -> BlobHash {
        BlobHash::from(self.builder.clone().finish(&mut Vec::new()))
    }

    fn finish(mut self) -> Result<(BlobHash, u64), StoreError> {
        let result = self.finish_inner();
        if result.is_err() {
            // Nothing half-written stays behind (a full disk fails the fsync or the rename).
            let _ = fs::remove_file(&self.tmp);
            let _ = fs::remove_file(&self.ob_tmp);
        }
        result
    }

    fn finish_inner(&mut self) -> Result<(BlobHash, u64), StoreError> {
        join_writeback(&mut self.writeback);
        let file = self
            .file
            .take()
            .ok_or_else(|| StoreError::Corrupt("blob writer already finished".into()))?;
        let file = file
            .into_inner()
            .map_err(|e| StoreError::io(format!("flush {}", self.tmp.display()))(e.into_error()))?;
        file.sync_all()
            .map_err(StoreError::io(format!("fsync {}", self.tmp.display())))?;
        drop(file);
        let hash = BlobHash::from(std::mem::take(&mut self.builder).finish(&mut self.ob_pending));
        let has_outboard = self.size > OUTBOARD_MIN;
        if has_outboard {
            // Durable before it gets its name, and named before the blob gets its own.
            self.write_outboard()?;
            if let Some(f) = self.ob_file.take() {
                f.into_inner()
                    .map_err(|e| {
                        StoreError::io(format!("flush {}", self.ob_tmp.display()))(e.into_error())
                    })?
                    .sync_data()
                    .map_err(StoreError::io(format!("fsync {}", self.ob_tmp.display())))?;
            }
        }
        let hex = hash.to_hex();
        let dir = self.root.join(&hex[..2]);
        let dest = dir.join(&hex);
        let ob_dest = outboard_path(&dest);
        if dest.is_file() {
            fs::remove_file(&self.tmp)
                .map_err(StoreError::io(format!("remove {}", self.tmp.display())))?;
            if has_outboard && !ob_dest.is_file() {
                // A blob stored without one (received from a partner) gets this one.
                fs::rename(&self.ob_tmp, &ob_dest)
                    .map_err(StoreError::io(format!("rename into {}", ob_dest.display())))?;
                sync_dir(&dir)?;
            } else if has_outboard {
                fs::remove_file(&self.ob_tmp)
                    .map_err(StoreError::io(format!("remove {}", self.ob_tmp.display())))?;
            }
        } else {
            fs::create_dir_all(&dir)
                .map_err(StoreError::io(format!("create {}", dir.display())))?;
            if has_outboard {
                fs::rename(&self.ob_tmp, &ob_dest)
                    .map_err(StoreError::io(format!("rename into {}", ob_dest.display())))?;
            }
            fs::rename(&self.tmp, &dest)
                .map_err(StoreError::io(format!("rename into {}", dest.display())))?;
            sync_dir(&dir)?;
        }
        Ok((hash, self.size))
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        join_writeback(&mut self.writeback);
        if self.file.is_some() {
            self.file = None;
            self.ob_file = None;
            let _ = fs::remove_file(&self.tmp);
            let _ = fs::remove_file(&self.ob_tmp);
        }
        let mut live = self.live_tmp.lock().unwrap_or_else(|p| p.into_inner());
        live.remove(&self.tmp);
        live.remove(&self.ob_tmp);
    }
}

/// Remove an outboard file for gc; returns the bytes freed. An outboard is derived data, so one
/// that cannot be removed (something else under its name, such as a directory; no permission)
/// is logged and skipped: it never stops the collection of blobs (a directory named
/// `<hash>.obao` made every `blobs gc` fail, found by a newcomer's attack).
fn remove_outboard(path: &Path) -> u64 {
    match remove_if_there(path) {
        Ok(freed) => freed,
        Err(e) => {
            tracing::warn!(outboard = %path.display(), error = %e, "cannot remove an outboard file; left in place");
            0
        }
    }
}

/// The outboard file that belongs to the blob (or blob temp file) at `blob`: `<blob>.obao`.
fn outboard_path(blob: &Path) -> PathBuf {
    let mut name = blob.as_os_str().to_owned();
    name.push(".obao");
    PathBuf::from(name)
}

/// Remove `path` if it exists; returns the bytes freed.
fn remove_if_there(path: &Path) -> Result<u64, StoreError> {
    let size = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(format!("stat {}", path.display()))(e)),
    };
    match fs::remove_file(path) {
        Ok(()) => Ok(size),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(StoreError::io(format!("remove {}", path.display()))(e)),
    }
}

/// Read everything `r` yields through an [`OutboardDigest`]: the byte count, the BLAKE3 hash
/// and the BLAKE3 hash of the outboard the bytes give.
fn outboard_of_reader(mut r: impl Read) -> std::io::Result<(u64, blake3::Hash, blake3::Hash)> {
    let mut digest = OutboardDigest::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
    }
    Ok(digest.finish())
}

/// Temp files of a batch: removed (if still there) and forgotten as live when dropped.
struct TmpFiles {
    files: Vec<PathBuf>,
    live_tmp: Arc<Mutex<BTreeSet<PathBuf>>>,
}

impl Drop for TmpFiles {
    fn drop(&mut self) {
        let mut live = self.live_tmp.lock().unwrap_or_else(|p| p.into_inner());
        for f in &self.files {
            // After a rename the temp name is gone and this fails harmlessly.
            let _ = fs::remove_file(f);
            live.remove(f);
        }
    }
}

/// Hash everything `r` yields; returns the hash and the byte count.
pub fn hash_reader(r: &mut impl Read) -> std::io::Result<(BlobHash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update_rayon(&buf[..n]);
        total += n as u64;
    }
    Ok((BlobHash::from(hasher.finalize()), total))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(format!("fsync {}", dir.display())))
}

/// Start writing dirty pages to disk in the background (a `sync_data` on a cloned handle in a
/// short-lived thread), so the disk works while more bytes arrive and the final fsync is short.
/// The writer owns the thread and joins it ([`join_writeback`]); its outcome does not matter,
/// the final fsync is what makes the blob durable.
fn start_writeback(file: &File) -> Option<std::thread::JoinHandle<()>> {
    let clone = file.try_clone().ok()?;
    std::thread::Builder::new()
        .name("blob-writeback".into())
        .spawn(move || {
            let _ = clone.sync_data();
        })
        .ok()
}

/// Wait for the running write-back, if any (a writer keeps at most one in flight, so a disk
/// slower than the incoming bytes slows the writer instead of piling up threads).
fn join_writeback(writeback: &mut Option<std::thread::JoinHandle<()>>) {
    if let Some(thread) = writeback.take() {
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(&dir.path().join("blobs")).unwrap();
        (dir, s)
    }

    fn put(s: &BlobStore, bytes: &[u8]) -> BlobHash {
        let mut w = s.writer().unwrap();
        for chunk in bytes.chunks(7919) {
            w.write(chunk).unwrap();
        }
        w.finish().unwrap().0
    }

    /// Threads of this process with the write-back thread's name.
    fn writeback_threads() -> usize {
        fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|t| {
                fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "blob-writeback")
            })
            .count()
    }

    /// The write-back thread a large blob starts is owned by its writer: none is left running
    /// after `finish` (it was a detached thread per 64 MiB).
    #[test]
    fn no_write_back_thread_outlives_its_writer() {
        let (_d, s) = store();
        let mut w = s.writer().unwrap();
        let piece = vec![7u8; 1 << 20];
        for _ in 0..(WRITEBACK_EVERY >> 20) * 2 + 1 {
            w.write(&piece).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(writeback_threads(), 0);
    }

    #[test]
    fn writes_by_hash_and_dedups() {
        let (_d, s) = store();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let h = put(&s, &data);
        assert_eq!(h, BlobHash::of(&data));
        assert_eq!(put(&s, &data), h);
        assert_eq!(s.list().unwrap(), vec![(h, data.len() as u64)]);
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
        let (mut f, size) = s.open_verified(&h).unwrap();
        let mut back = Vec::new();
        f.read_to_end(&mut back).unwrap();
        assert_eq!((back, size), (data.clone(), data.len() as u64));
    }

    #[test]
    fn flipped_byte_is_reported_not_served() {
        let (_d, s) = store();
        let h = put(&s, b"the original evidence bytes");
        let path = s.path_of(&h);
        let mut bytes = fs::read(&path).unwrap();
        bytes[3] ^= 0x01;
        fs::write(&path, bytes).unwrap();
        assert!(matches!(
            s.open_verified(&h),
            Err(StoreError::BlobCorrupt { .. })
        ));
    }

    #[test]
    fn missing_blob_is_reported() {
        let (_d, s) = store();
        assert!(matches!(
            s.open_verified(&BlobHash::of(b"nope")),
            Err(StoreError::BlobMissing { .. })
        ));
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let (_d, s) = store();
        let mut w = s.writer().unwrap();
        w.write(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn a_second_adoption_of_a_partial_file_already_moved_in_is_not_an_error() {
        let (d, s) = store();
        let partial = d.path().join("partial.blob");
        fs::write(&partial, b"fetched bytes").unwrap();
        let hash = BlobHash::of(b"fetched bytes");
        s.adopt_verified(&partial, &hash).unwrap();
        assert!(s.path_of(&hash).is_file());
        // The other import of the same blob finds the partial file gone and the blob stored.
        s.adopt_verified(&partial, &hash).unwrap();
        // Without the blob stored, a missing partial file is still an error.
        let other = BlobHash::of(b"never fetched");
        assert!(s.adopt_verified(&partial, &other).is_err());
    }

    #[test]
    fn a_batch_lands_whole_skips_what_is_stored_and_leaves_no_temp_files() {
        let (_d, s) = store();
        let already = put(&s, b"already stored");
        let items: Vec<Vec<u8>> = (0..50u32)
            .map(|i| i.to_le_bytes().repeat(i as usize + 1))
            .collect();
        let mut batch: Vec<(BlobHash, &[u8])> = items
            .iter()
            .map(|b| (BlobHash::of(b), b.as_slice()))
            .collect();
        batch.push((already, b"already stored"));
        // The same blob twice in one batch is stored once.
        batch.push((BlobHash::of(&items[3]), &items[3]));
        s.put_verified_batch(&batch).unwrap();
        for b in &items {
            let (mut f, size) = s.open_verified(&BlobHash::of(b)).unwrap();
            let mut back = Vec::new();
            f.read_to_end(&mut back).unwrap();
            assert_eq!((&back, size), (b, b.len() as u64));
        }
        assert_eq!(s.list().unwrap().len(), items.len() + 1);
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
        assert!(s.live_tmp.lock().unwrap().is_empty());
    }

    #[test]
    fn a_batch_with_a_blob_that_does_not_match_its_hash_stores_nothing() {
        let (_d, s) = store();
        let good = b"good bytes".to_vec();
        let batch: Vec<(BlobHash, &[u8])> = vec![
            (BlobHash::of(&good), good.as_slice()),
            (BlobHash::of(b"claimed"), b"other bytes"),
        ];
        assert!(matches!(
            s.put_verified_batch(&batch),
            Err(StoreError::BlobCorrupt { .. })
        ));
        assert!(s.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }

    /// Bytes of a blob that gets an outboard file (more than [`OUTBOARD_MIN`], not a whole
    /// number of chunk groups).
    fn big() -> Vec<u8> {
        (0..(OUTBOARD_MIN as u32) * 3 + 5)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect()
    }

    fn expected_outboard(data: &[u8]) -> Vec<u8> {
        let block = bao_tree::BlockSize::from_chunk_log(crate::outboard::CHUNK_LOG);
        bao_tree::io::outboard::PostOrderMemOutboard::create(data, block).data
    }

    #[test]
    fn an_ingested_blob_has_its_outboard_beside_it_and_a_small_one_none() {
        let (_d, s) = store();
        let data = big();
        let h = put(&s, &data);
        let ob = s.outboard_path_of(&h);
        assert_eq!(ob, s.path_of(&h).with_extension("obao"));
        assert_eq!(fs::read(&ob).unwrap(), expected_outboard(&data));
        assert_eq!(s.outboard_of(&h, data.len() as u64), Some(ob.clone()));
        // Storing it again changes nothing and leaves no temp file.
        assert_eq!(put(&s, &data), h);
        assert_eq!(fs::read(&ob).unwrap(), expected_outboard(&data));
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
        assert_eq!(s.list().unwrap(), vec![(h, data.len() as u64)]);
        assert_eq!(s.verify(&h).unwrap(), data.len() as u64);

        let small = &data[..OUTBOARD_MIN as usize];
        let hs = put(&s, small);
        assert!(!s.outboard_path_of(&hs).exists());
        assert_eq!(s.outboard_of(&hs, small.len() as u64), None);
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn a_received_blob_has_no_outboard_until_it_is_ingested_again() {
        let (d, s) = store();
        let data = big();
        let h = BlobHash::of(&data);
        let partial = d.path().join("partial.blob");
        fs::write(&partial, &data).unwrap();
        s.adopt_verified(&partial, &h).unwrap();
        assert_eq!(s.outboard_of(&h, data.len() as u64), None);
        assert_eq!(put(&s, &data), h);
        assert_eq!(
            fs::read(s.outboard_path_of(&h)).unwrap(),
            expected_outboard(&data)
        );
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn a_dropped_writer_of_a_large_blob_leaves_nothing() {
        let (_d, s) = store();
        let mut w = s.writer().unwrap();
        w.write(&big()).unwrap();
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 2);
        drop(w);
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
        assert!(s.live_tmp.lock().unwrap().is_empty());
    }

    #[test]
    fn verify_removes_a_damaged_or_short_outboard_and_the_blob_verifies() {
        let (_d, s) = store();
        let data = big();
        let h = put(&s, &data);
        let ob = s.outboard_path_of(&h);
        let good = fs::read(&ob).unwrap();
        let mut bad = good.clone();
        bad[100] ^= 0x01;
        fs::write(&ob, &bad).unwrap();
        assert_eq!(s.verify(&h).unwrap(), data.len() as u64);
        assert!(!ob.exists(), "the damaged outboard is removed");
        fs::write(&ob, &good[..good.len() - 64]).unwrap();
        assert_eq!(s.verify(&h).unwrap(), data.len() as u64);
        assert!(!ob.exists(), "the short outboard is removed");
        // A good one stays.
        fs::write(&ob, &good).unwrap();
        assert_eq!(s.verify(&h).unwrap(), data.len() as u64);
        assert_eq!(fs::read(&ob).unwrap(), good);
        // Damaged bytes of the blob itself are still a finding.
        let path = s.path_of(&h);
        let mut bytes = fs::read(&path).unwrap();
        bytes[5] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(s.verify(&h), Err(StoreError::BlobCorrupt { .. })));
    }

    /// Something that is not a file under an outboard's name is skipped, and gc still collects.
    #[tokio::test]
    async fn a_directory_named_like_an_outboard_does_not_stop_gc() {
        let (_d, s) = store();
        let drop_me = put(&s, &big());
        let squatter = s.outboard_path_of(&BlobHash::of(b"nobody"));
        fs::create_dir_all(squatter.join("inside")).unwrap();
        fs::remove_file(s.outboard_path_of(&drop_me)).unwrap();
        fs::create_dir_all(s.outboard_path_of(&drop_me)).unwrap();
        let (removed, _) = s.gc(|_| Ok(false)).await.unwrap();
        assert_eq!(removed, 1);
        assert!(!s.contains(&drop_me));
        assert!(squatter.is_dir(), "left alone");
    }

    #[tokio::test]
    async fn gc_removes_a_blob_with_its_outboard_and_outboards_without_a_blob() {
        let (_d, s) = store();
        let data = big();
        let keep = put(&s, &data[1..]);
        let drop_me = put(&s, &data);
        let orphan = s.outboard_path_of(&BlobHash::of(b"gone"));
        fs::create_dir_all(orphan.parent().unwrap()).unwrap();
        fs::write(&orphan, [0u8; 64]).unwrap();
        let (removed, freed) = s.gc(|h| Ok(*h == keep)).await.unwrap();
        assert_eq!(removed, 1);
        let ob_size = crate::outboard::outboard_size(data.len() as u64);
        assert_eq!(freed, data.len() as u64 + ob_size + 64);
        assert!(!s.contains(&drop_me) && !s.outboard_path_of(&drop_me).exists());
        assert!(!orphan.exists());
        assert!(s.contains(&keep) && s.outboard_path_of(&keep).is_file());
    }

    #[tokio::test]
    async fn gc_removes_only_unreferenced_blobs_and_temp_files() {
        let (_d, s) = store();
        let keep = put(&s, b"keep");
        let drop_me = put(&s, b"drop");
        fs::write(s.tmp_dir().join("leftover.tmp"), b"x").unwrap();
        let (removed, _) = s.gc(|h| Ok(*h == keep)).await.unwrap();
        assert_eq!(removed, 1);
        assert!(s.contains(&keep) && !s.contains(&drop_me));
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }
}
