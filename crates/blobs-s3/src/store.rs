//! [`S3Blobs`]: evidence blobs in a bucket, with the guarantees of the local blob store
//! (`casemesh_store::blobs`).
//!
//! Keys:
//! - `blobs/<64 hex BLAKE3>`: a complete blob; the only key readers look at.
//! - `blobs/<64 hex>.obao`: its outboard (bao-tree post order, 16 KiB groups, see
//!   [`crate::outboard`]), for blobs larger than one group; written before the blob's key.
//! - `staging/<32 hex>` and `staging/<32 hex>.obao`: an upload whose hash is not known yet.
//!
//! Writing ([`S3BlobWriter`]): the bytes are hashed (and their outboard built) while they are
//! uploaded. A blob that fits in one part (8 MiB) stays in memory and is PUT once at its address,
//! after a HEAD found it absent (dedup without any upload). A larger one goes as a multipart
//! upload to a staging key, which is invisible until completed; then the outboard is stored, the
//! blob is copied server-side to its address unless a HEAD finds it there already, the staging key
//! is deleted, and a HEAD of the address confirms the size. Only then is the blob "stored". A
//! writer told the hash in advance ([`S3Blobs::writer_for`], [`S3Blobs::put_file`]) checks the
//! address first and uploads straight to it, completing the upload only when the bytes hashed to
//! what was announced ([`S3Blobs::put_verified_file`] does that for a transfer's partial file,
//! [`S3Blobs::put_verified_batch`] for small blobs in memory). A dropped or failed writer aborts its multipart upload; a staging object
//! left by a crash between completion and copy is removed by [`S3Blobs::sweep`].
//!
//! Reading verifies: [`S3Blobs::get`] checks a whole object against its hash before returning it;
//! [`S3Blobs::read_range`] and [`S3Blobs::reader`] fetch chunk-group-aligned windows with ranged
//! GETs plus the few outboard pairs that prove them, and hand out only verified bytes.
//!
//! Garbage collection, pins and the ingest guard work as in the local store: in-memory pins and
//! a lock that ingests hold shared and gc takes exclusively per blob.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Range,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use casemesh_model::ids::BlobHash;
pub use casemesh_model::pins::BlobPins;
use casemesh_model::pins::Pins;
use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, aws::AmazonS3Builder, path::Path,
};
use tokio::{io::AsyncReadExt, sync::RwLock};
use tokio_util::task::TaskTracker;

use crate::{
    config::S3Config,
    error::S3Error,
    outboard::{self, GROUP, OutboardBuilder, OutboardDigest},
    upload::{Finished, Upload},
};

/// Bytes per verified window of [`S3Blobs::reader`] (a multiple of the 16 KiB group).
pub const READ_WINDOW: u64 = 4 << 20;

/// Windows fetched at once by [`S3Blobs::reader`]: memory ≈ `READ_AHEAD * READ_WINDOW`.
pub const READ_AHEAD: usize = 4;

/// Largest range [`S3Blobs::read_range`] returns in one piece, and largest blob [`S3Blobs::get`]
/// reads into memory (bytes); use [`S3Blobs::reader`] beyond.
pub const MAX_IN_MEMORY: u64 = 64 << 20;

/// Prefix of complete blobs and their outboards.
const BLOBS: &str = "blobs";
/// Prefix of uploads whose hash is not known yet.
const STAGING: &str = "staging";

/// Prefix of the write probes of [`S3Blobs::check`] (each deleted right after it is written);
/// outside `blobs/` and `staging/`, so listings, gc, verify, stats and sweeps never see it.
pub const PROBE_PREFIX: &str = "casemesh-probe";

/// The object naming the organization a bucket belongs to (its org id and a newline); outside
/// `blobs/`, so listings, gc and sweeps never see it. See [`S3Blobs::claim`].
pub const OWNER_KEY: &str = "casemesh-owner";

/// The key of a blob.
pub fn blob_key(hash: &BlobHash) -> Path {
    Path::from(format!("{BLOBS}/{}", hash.to_hex()))
}

/// The key of a blob's outboard.
pub fn outboard_key(hash: &BlobHash) -> Path {
    Path::from(format!("{BLOBS}/{}.obao", hash.to_hex()))
}

/// A blob confirmed by the object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its BLAKE3 hash (its address).
    pub hash: BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// False when the blob was already there (dedup): nothing was written at its address.
    pub written: bool,
}

/// What [`S3Blobs::verify`] found for a blob that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Its size in bytes.
    pub size: u64,
    /// State of the outboard beside it.
    pub outboard: OutboardState,
}

/// The outboard beside a blob whose bytes verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboardState {
    /// Present and equal to the one computed from the bytes.
    Ok,
    /// Not needed (a blob of at most 16 KiB).
    NotNeeded,
    /// Absent: ranged reads fail with `OutboardMissing` until [`S3Blobs::rebuild_outboard`].
    Missing,
    /// Present but different: ranged reads fail as corrupt until rebuilt.
    Mismatch,
}

/// What [`S3Blobs::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Staging objects (uploads completed but never moved to an address: a crash).
    pub staging: u64,
    /// Outboards whose blob is gone.
    pub orphan_outboards: u64,
}

/// The blob store on an S3 bucket. Cheap to clone; clones share pins, locks and cleanups.
#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    /// The bucket's name and the signing region, for messages (empty when unknown:
    /// [`S3Blobs::with_store`]).
    bucket: Arc<str>,
    region: Option<Arc<str>>,
    part_size: usize,
    upload_concurrency: usize,
    /// Ingest finalization holds it shared, garbage collection exclusively (per blob).
    gc_lock: Arc<RwLock<()>>,
    /// Pinned blobs (shared with clones).
    pins: Pins,
    /// Staging keys of writers alive in this process (never swept).
    live_staging: Arc<Mutex<BTreeSet<Path>>>,
    /// Aborts of multipart uploads whose writer was dropped.
    cleanups: TaskTracker,
}

fn random_id() -> String {
    let mut id = [0u8; 16];
    // getrandom only fails without an OS random source; a clock-derived name is still unique
    // enough for a staging key (it is never an address).
    if getrandom::fill(&mut id).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        id = t.to_le_bytes();
    }
    hex::encode(id)
}

impl S3Blobs {
    /// A store on the bucket of `config` (no request is sent; see [`S3Blobs::check`]).
    ///
    /// Errors: [`S3Error::Invalid`] when object_store rejects the settings.
    pub fn connect(config: &S3Config) -> Result<S3Blobs, S3Error> {
        let s3 = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_allow_http(config.endpoint.starts_with("http://"))
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_access_key_id(&config.credentials.access_key_id)
            .with_secret_access_key(&config.credentials.secret_access_key)
            .with_retry(RetryConfig {
                retry_timeout: config.retry_timeout,
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| S3Error::Invalid(format!("[storage]: {e}")))?;
        let mut blobs =
            S3Blobs::with_store(Arc::new(s3), config.part_size, config.upload_concurrency);
        blobs.bucket = Arc::from(config.bucket.as_str());
        blobs.region = Some(Arc::from(config.region.as_str()));
        Ok(blobs)
    }

    /// A store on any object_store backend (`part_size` ≥ 5 MiB for S3).
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        part_size: usize,
        upload_concurrency: usize,
    ) -> S3Blobs {
        S3Blobs {
            store,
            bucket: Arc::from(""),
            region: None,
            part_size,
            upload_concurrency,
            gc_lock: Arc::new(RwLock::new(())),
            pins: Pins::default(),
            live_staging: Arc::default(),
            cleanups: TaskTracker::new(),
        }
    }

    /// The bucket's name (empty for a store made by [`S3Blobs::with_store`]).
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The underlying object store (for tools and tests that look at raw keys).
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Check that the bucket exists, answers, accepts the credentials and the region, and lets
    /// the key write: one listing of at most a page under `blobs/`, then a small probe object
    /// put and deleted under [`PROBE_PREFIX`] (outside `blobs/` and `staging/`, so listings,
    /// gc, verify, stats and sweeps never see it). A listing, not a HEAD of some key: S3 answers
    /// a HEAD with 404 both for a missing key and for a missing bucket (or a bucket addressed in
    /// the wrong style, `path_style`), so a HEAD would let a node start on a bucket that is not
    /// there. The probe, because a read-only key lists fine and would fail every ingest later.
    /// Call at start-up.
    ///
    /// Errors: `Denied` (credentials or permissions), `WrongRegion` (the store signs for
    /// another region), `ReadOnly` (the key may not write or delete), `Unavailable`
    /// (unreachable), `Store` (no such bucket, or an answer that is not a listing).
    pub async fn check(&self) -> Result<(), S3Error> {
        self.check_readable().await?;
        self.probe_write().await
    }

    /// The listing of [`S3Blobs::check`] alone (the node's readiness asks it, cheaply).
    ///
    /// Errors: as [`S3Blobs::check`], except `ReadOnly`.
    pub async fn check_readable(&self) -> Result<(), S3Error> {
        let prefix = Path::from(BLOBS);
        let Err(e) = self.store.list_with_delimiter(Some(&prefix)).await else {
            return Ok(());
        };
        let answer = crate::error::Answer::of(&e);
        let no_bucket = answer.status == Some(404)
            || answer.code.as_deref() == Some("NoSuchBucket")
            || matches!(e, object_store::Error::NotFound { .. });
        Err(if no_bucket {
            S3Error::Store {
                op: "list",
                key: BLOBS.to_owned(),
                detail: format!(
                    "no such bucket, or not addressed in its style (see path_style): {}",
                    answer.describe()
                ),
            }
        } else {
            self.with_region(S3Error::store("list", BLOBS, e))
        })
    }

    /// Put then delete a small object under [`PROBE_PREFIX`]: proves the key may write and
    /// delete in the bucket.
    async fn probe_write(&self) -> Result<(), S3Error> {
        let key = Path::from(format!("{PROBE_PREFIX}/{}", random_id()));
        let read_only = |e: S3Error| match e {
            S3Error::Denied { op, detail, .. } => S3Error::ReadOnly {
                bucket: self.bucket.to_string(),
                detail: format!("{op} refused: {detail}"),
            },
            e => self.with_region(e),
        };
        self.store
            .put(&key, PutPayload::from_static(b"casemesh write probe\n"))
            .await
            .map_err(|e| read_only(S3Error::store("put", key.as_ref(), e)))?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(read_only(S3Error::store("delete", key.as_ref(), e))),
        }
    }

    /// Name the configured region in a `WrongRegion`.
    fn with_region(&self, e: S3Error) -> S3Error {
        match e {
            S3Error::WrongRegion {
                region: None,
                op,
                key,
                detail,
            } => S3Error::WrongRegion {
                region: self.region.as_deref().map(str::to_string),
                op,
                key,
                detail,
            },
            e => e,
        }
    }

    /// Claim the bucket for organization `me`, or refuse when another organization has: the
    /// object [`OWNER_KEY`] holds the owner's organization id. Absent (a new bucket, or one
    /// written before markers existed) it is written; the same id is fine; another id is
    /// [`S3Error::OwnedByAnother`]. One bucket per node: two nodes sharing one would each
    /// see the other's blobs as unreferenced and delete them in `blobs gc`. Call at start-up
    /// and before a migration, after [`S3Blobs::check`].
    ///
    /// Errors: [`S3Error::OwnedByAnother`]; `Denied`, `Unavailable` or `Store` from the
    /// object store.
    pub async fn claim(&self, me: &str) -> Result<(), S3Error> {
        let key = Path::from(OWNER_KEY);
        let read = |e| S3Error::store("get", OWNER_KEY, e);
        let owner = match self.store.get(&key).await {
            Ok(got) => Some(got.bytes().await.map_err(read)?),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(read(e)),
        };
        match owner {
            Some(bytes) => {
                let owner = String::from_utf8_lossy(&bytes).trim().to_string();
                if owner == me {
                    Ok(())
                } else {
                    Err(S3Error::OwnedByAnother {
                        owner,
                        me: me.to_string(),
                    })
                }
            }
            None => {
                self.store
                    .put(&key, PutPayload::from(format!("{me}\n")))
                    .await
                    .map_err(|e| S3Error::store("put", OWNER_KEY, e))?;
                Ok(())
            }
        }
    }

    /// Wait for the background aborts of dropped writers.
    pub async fn settle(&self) {
        self.cleanups.close();
        self.cleanups.wait().await;
        self.cleanups.reopen();
    }

    /// Keep these blobs from garbage collection until the guard is dropped.
    pub fn pin(&self, hashes: impl IntoIterator<Item = BlobHash>) -> BlobPins {
        self.pins.pin(hashes)
    }

    fn is_pinned(&self, hash: &BlobHash) -> bool {
        self.pins.is_pinned(hash)
    }

    /// Hold this while turning a stored blob into a database reference; gc waits meanwhile.
    pub async fn ingest_guard(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.gc_lock.clone().read_owned().await
    }

    /// The size of the blob if it is stored (a HEAD; not verified).
    pub async fn stat(&self, hash: &BlobHash) -> Result<Option<u64>, S3Error> {
        let key = blob_key(hash);
        match self.store.head(&key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(S3Error::store("head", key.as_ref(), e)),
        }
    }

    /// Start writing a blob whose hash is not known yet. `size_hint` (if known) picks a part
    /// size that keeps within S3's 10 000 parts; without it a blob may be up to
    /// 10 000 × the configured part size (78 GiB at 8 MiB).
    pub fn writer(&self, size_hint: Option<u64>) -> S3BlobWriter {
        let id = random_id();
        let data_key = Path::from(format!("{STAGING}/{id}"));
        let ob_key = Path::from(format!("{STAGING}/{id}.obao"));
        self.new_writer(data_key, ob_key, None, size_hint)
    }

    /// Start writing a blob the caller knows the hash and size of (a transfer, a migration):
    /// `None` when it is already stored. The upload goes straight to the blob's address and is
    /// completed only if the bytes hash to `hash` ([`S3Error::Mismatch`] otherwise).
    pub async fn writer_for(
        &self,
        hash: BlobHash,
        size: u64,
    ) -> Result<Option<S3BlobWriter>, S3Error> {
        match self.stat(&hash).await? {
            Some(s) if s == size => return Ok(None),
            Some(s) => {
                tracing::warn!(blob = %hash, stored = s, size, "stored object has the wrong size; writing it again");
            }
            None => {}
        }
        Ok(Some(self.new_writer(
            blob_key(&hash),
            outboard_key(&hash),
            Some((hash, size)),
            Some(size),
        )))
    }

    fn new_writer(
        &self,
        data_key: Path,
        ob_key: Path,
        expected: Option<(BlobHash, u64)>,
        size_hint: Option<u64>,
    ) -> S3BlobWriter {
        let part = self.part_size.max(min_part(size_hint));
        let staging_keys = if expected.is_none() {
            vec![data_key.clone(), ob_key.clone()]
        } else {
            Vec::new()
        };
        self.live_staging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(staging_keys.iter().cloned());
        S3BlobWriter {
            data: Some(Upload::new(
                self.store.clone(),
                data_key,
                part,
                self.upload_concurrency,
                self.cleanups.clone(),
            )),
            outboard: Some(Upload::new(
                self.store.clone(),
                ob_key,
                self.part_size,
                self.upload_concurrency,
                self.cleanups.clone(),
            )),
            builder: OutboardBuilder::new(),
            pairs: Vec::new(),
            expected,
            staging_keys,
            blobs: self.clone(),
        }
    }

    /// Store the file at `path`: hash it locally first (one read, all cores), and upload it only
    /// if no blob with that hash is stored (dedup with one HEAD). The file is hashed again while
    /// it is uploaded; if it changed meanwhile nothing is stored ([`S3Error::Mismatch`]).
    pub async fn put_file(&self, path: &std::path::Path) -> Result<Stored, S3Error> {
        let p = path.to_path_buf();
        let local = |e: std::io::Error| S3Error::Invalid(format!("{}: {e}", path.display()));
        let (hash, size) = tokio::task::spawn_blocking(move || {
            let mut h = blake3::Hasher::new();
            h.update_mmap_rayon(&p)?;
            Ok::<_, std::io::Error>((BlobHash::from(h.finalize()), h.count()))
        })
        .await
        .map_err(|e| local(std::io::Error::other(e)))?
        .map_err(local)?;
        let Some(w) = self.writer_for(hash, size).await? else {
            return Ok(Stored {
                hash,
                size,
                written: false,
            });
        };
        self.stream_file(path, w).await
    }

    /// Store a file the caller already verified against `hash` (a partner transfer's partial
    /// file): uploaded straight to the blob's address unless it is there already, and completed
    /// only if the bytes still hash to `hash` ([`S3Error::Mismatch`] otherwise). The file is left
    /// in place; the caller removes it once this returns `Ok`.
    pub async fn put_verified_file(
        &self,
        path: &std::path::Path,
        hash: BlobHash,
    ) -> Result<Stored, S3Error> {
        let local = |e: std::io::Error| S3Error::Invalid(format!("{}: {e}", path.display()));
        let size = tokio::fs::metadata(path).await.map_err(local)?.len();
        let Some(w) = self.writer_for(hash, size).await? else {
            return Ok(Stored {
                hash,
                size,
                written: false,
            });
        };
        self.stream_file(path, w).await
    }

    async fn stream_file(
        &self,
        path: &std::path::Path,
        mut w: S3BlobWriter,
    ) -> Result<Stored, S3Error> {
        let local = |e: std::io::Error| S3Error::Invalid(format!("{}: {e}", path.display()));
        let mut file = tokio::fs::File::open(path).await.map_err(local)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).await.map_err(local)?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n]).await?;
        }
        w.finish().await
    }

    /// Store small blobs whose bytes are in memory (a batch fetched from a partner), each
    /// checked against its hash first: a mismatch stores nothing and is [`S3Error::Mismatch`].
    /// Blobs already stored are skipped (a HEAD each); the others are PUT (outboard first) with
    /// up to `upload_concurrency` requests at once. When this returns `Ok`, every blob is
    /// confirmed at its address. The caller pins the blobs until its records reference them.
    pub async fn put_verified_batch(
        &self,
        blobs: &[(BlobHash, Bytes)],
    ) -> Result<Vec<Stored>, S3Error> {
        for (hash, bytes) in blobs {
            let actual = BlobHash::from(blake3::hash(bytes));
            if actual != *hash {
                return Err(S3Error::Mismatch {
                    expected: *hash,
                    expected_size: bytes.len() as u64,
                    actual,
                    actual_size: bytes.len() as u64,
                });
            }
        }
        futures::stream::iter(blobs.iter().cloned())
            .map(|(hash, bytes)| async move {
                let size = bytes.len() as u64;
                if self.stat(&hash).await? == Some(size) {
                    return Ok(Stored {
                        hash,
                        size,
                        written: false,
                    });
                }
                if size > GROUP {
                    let mut ob = Vec::with_capacity(outboard::outboard_size(size) as usize);
                    let mut b = OutboardBuilder::new();
                    b.update(&bytes, &mut ob);
                    b.finish(&mut ob);
                    let k = outboard_key(&hash);
                    self.store
                        .put(&k, PutPayload::from(ob))
                        .await
                        .map_err(|e| S3Error::store("put", k.as_ref(), e))?;
                }
                let k = blob_key(&hash);
                self.store
                    .put(&k, PutPayload::from_bytes(bytes))
                    .await
                    .map_err(|e| S3Error::store("put", k.as_ref(), e))?;
                Ok(Stored {
                    hash,
                    size,
                    written: true,
                })
            })
            .buffered(self.upload_concurrency.max(1))
            .try_collect()
            .await
    }

    /// Read a whole blob of at most [`MAX_IN_MEMORY`] bytes, checked against its hash.
    ///
    /// Errors: `Missing`; `Corrupt` (never returns unverified bytes); `Invalid` for a larger blob.
    pub async fn get(&self, hash: &BlobHash) -> Result<Bytes, S3Error> {
        let key = blob_key(hash);
        let res = self
            .store
            .get(&key)
            .await
            .map_err(|e| self.read_err(hash, &key, e))?;
        if res.meta.size > MAX_IN_MEMORY {
            return Err(S3Error::Invalid(format!(
                "blob {hash} has {} bytes; read it with reader()",
                res.meta.size
            )));
        }
        let bytes = res
            .bytes()
            .await
            .map_err(|e| self.read_err(hash, &key, e))?;
        if BlobHash::from(blake3::hash(&bytes)) != *hash {
            tracing::error!(blob = %hash, "object does not match its hash; refused");
            return Err(S3Error::Corrupt {
                hash: *hash,
                detail: "whole object does not hash to its address".into(),
            });
        }
        Ok(bytes)
    }

    fn read_err(&self, hash: &BlobHash, key: &Path, e: object_store::Error) -> S3Error {
        match e {
            object_store::Error::NotFound { .. } => S3Error::Missing { hash: *hash },
            e => S3Error::store("get", key.as_ref(), e),
        }
    }

    async fn size_of(&self, hash: &BlobHash) -> Result<u64, S3Error> {
        self.stat(hash)
            .await?
            .ok_or(S3Error::Missing { hash: *hash })
    }

    /// Read `range` of a blob (at most [`MAX_IN_MEMORY`] bytes), verified: one ranged GET of the
    /// 16 KiB-aligned window around it and one of the outboard pairs that prove it.
    ///
    /// Errors: `Missing`, `OutboardMissing`, `Corrupt` (the window or the pairs do not hash up
    /// to the blob's hash), `Invalid` (range outside the blob or too large).
    pub async fn read_range(&self, hash: &BlobHash, range: Range<u64>) -> Result<Bytes, S3Error> {
        let size = self.size_of(hash).await?;
        if range.end > size || range.start > range.end {
            return Err(S3Error::Invalid(format!(
                "bytes {}..{} are outside blob {hash} of {size} bytes",
                range.start, range.end
            )));
        }
        if range.end - range.start > MAX_IN_MEMORY {
            return Err(S3Error::Invalid(format!(
                "range of {} bytes; read it with reader()",
                range.end - range.start
            )));
        }
        self.read_verified(hash, size, range).await
    }

    /// Stream `range` (None = the whole blob) as verified pieces of at most [`READ_WINDOW`]
    /// bytes, [`READ_AHEAD`] windows fetched at once: memory flat in the blob's size. An item
    /// is `Err` at the first window that does not verify, and the stream ends there.
    pub async fn reader(
        &self,
        hash: &BlobHash,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, S3Error>>, S3Error> {
        let size = self.size_of(hash).await?;
        let range = range.unwrap_or(0..size);
        if range.end > size || range.start > range.end {
            return Err(S3Error::Invalid(format!(
                "bytes {}..{} are outside blob {hash} of {size} bytes",
                range.start, range.end
            )));
        }
        let mut pieces = Vec::new();
        let mut at = range.start;
        while at < range.end {
            let end = ((at / READ_WINDOW + 1) * READ_WINDOW).min(range.end);
            pieces.push(at..end);
            at = end;
        }
        let this = self.clone();
        let hash = *hash;
        let mut failed = false;
        Ok(futures::stream::iter(pieces)
            .map(move |r| {
                let this = this.clone();
                async move { this.read_verified(&hash, size, r).await }
            })
            .buffered(READ_AHEAD)
            .take_while(move |r| {
                let go = !failed;
                failed |= r.is_err();
                futures::future::ready(go)
            })
            .boxed())
    }

    async fn read_verified(
        &self,
        hash: &BlobHash,
        size: u64,
        range: Range<u64>,
    ) -> Result<Bytes, S3Error> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        if size <= GROUP {
            let all = self.get(hash).await?;
            return Ok(all.slice(range.start as usize..range.end as usize));
        }
        let window = outboard::aligned_window(&range, size);
        let key = blob_key(hash);
        let ob_key = outboard_key(hash);
        let ob_ranges = outboard::outboard_ranges(size, &window);
        let (data, pairs) = tokio::try_join!(
            async {
                self.store
                    .get_range(&key, window.clone())
                    .await
                    .map_err(|e| self.read_err(hash, &key, e))
            },
            async {
                match self.store.get_ranges(&ob_key, &ob_ranges).await {
                    Ok(parts) => Ok(parts),
                    Err(object_store::Error::NotFound { .. }) => {
                        Err(S3Error::OutboardMissing { hash: *hash })
                    }
                    Err(e) => Err(self.outboard_read_err(hash, size, &ob_key, e).await),
                }
            },
        )?;
        let parts: Vec<(u64, Bytes)> = ob_ranges.iter().map(|r| r.start).zip(pairs).collect();
        let root = blake3::Hash::from_bytes(hash.0);
        let w = window.clone();
        let checked = data.clone();
        tokio::task::spawn_blocking(move || outboard::verify_window(root, size, &w, &checked, &parts))
            .await
            .map_err(|e| S3Error::Invalid(format!("verification task failed: {e}")))?
            .map_err(|e| {
                tracing::error!(blob = %hash, window = ?window, error = %e, "range does not verify; refused");
                S3Error::Corrupt {
                    hash: *hash,
                    detail: format!("bytes {}..{}: {e}", window.start, window.end),
                }
            })?;
        let from = (range.start - window.start) as usize;
        Ok(data.slice(from..from + (range.end - range.start) as usize))
    }

    /// Classify a failed read of an outboard: a short (truncated) outboard answers ranges past
    /// its end with an error that looks transient; a HEAD tells it apart.
    async fn outboard_read_err(
        &self,
        hash: &BlobHash,
        size: u64,
        key: &Path,
        e: object_store::Error,
    ) -> S3Error {
        let expected = outboard::outboard_size(size);
        match self.store.head(key).await {
            Ok(meta) if meta.size != expected => {
                tracing::error!(blob = %hash, outboard = meta.size, expected, "outboard has the wrong size; refused");
                S3Error::Corrupt {
                    hash: *hash,
                    detail: format!("outboard has {} bytes, not {expected}", meta.size),
                }
            }
            _ => S3Error::store("get", key.as_ref(), e),
        }
    }

    /// Read the whole blob (one streaming GET) and check it against its hash, and its outboard
    /// against the one the bytes give. Memory flat in the blob's size.
    ///
    /// Errors: `Missing`; `Corrupt` when the bytes do not hash to the address.
    pub async fn verify(&self, hash: &BlobHash) -> Result<Verified, S3Error> {
        let (size, computed) = self.hash_object(hash).await?;
        if size <= GROUP {
            return Ok(Verified {
                size,
                outboard: OutboardState::NotNeeded,
            });
        }
        let ob_key = outboard_key(hash);
        let state = match self.store.get(&ob_key).await {
            Err(object_store::Error::NotFound { .. }) => OutboardState::Missing,
            Err(e) => return Err(S3Error::store("get", ob_key.as_ref(), e)),
            Ok(res) => {
                let mut stream = res.into_stream();
                let mut h = blake3::Hasher::new();
                while let Some(piece) = stream.next().await {
                    h.update(&piece.map_err(|e| S3Error::store("get", ob_key.as_ref(), e))?);
                }
                if h.finalize() == computed {
                    OutboardState::Ok
                } else {
                    OutboardState::Mismatch
                }
            }
        };
        Ok(Verified {
            size,
            outboard: state,
        })
    }

    /// Stream the whole object; returns its size and the BLAKE3 hash of its outboard, after
    /// checking the bytes against `hash`.
    async fn hash_object(&self, hash: &BlobHash) -> Result<(u64, blake3::Hash), S3Error> {
        let (size, root, ob) = self.scan_object(hash).await?;
        if BlobHash::from(root) != *hash {
            tracing::error!(blob = %hash, "object does not match its hash");
            return Err(S3Error::Corrupt {
                hash: *hash,
                detail: "whole object does not hash to its address".into(),
            });
        }
        Ok((size, ob))
    }

    /// Stream the object through an [`OutboardBuilder`]: its size, root and outboard's hash.
    async fn scan_object(
        &self,
        hash: &BlobHash,
    ) -> Result<(u64, blake3::Hash, blake3::Hash), S3Error> {
        let key = blob_key(hash);
        let res = self
            .store
            .get(&key)
            .await
            .map_err(|e| self.read_err(hash, &key, e))?;
        let mut stream = res.into_stream();
        let mut digest = OutboardDigest::new();
        while let Some(piece) = stream.next().await {
            digest.update(&piece.map_err(|e| S3Error::store("get", key.as_ref(), e))?);
        }
        Ok(digest.finish())
    }

    /// Stream the stored outboard of a blob as it is (bao-tree post order, 16 KiB groups, the
    /// layout `crates/net` serves from): `None` when there is none (a blob of at most 16 KiB,
    /// or one whose outboard is missing). Not verified here: every range read through it is
    /// checked against the blob's hash by whoever uses it (a partner verifies what it receives).
    pub async fn outboard_stream(
        &self,
        hash: &BlobHash,
    ) -> Result<Option<BoxStream<'static, Result<Bytes, S3Error>>>, S3Error> {
        let key = outboard_key(hash);
        match self.store.get(&key).await {
            Ok(res) => {
                let k = key.to_string();
                Ok(Some(
                    res.into_stream()
                        .map_err(move |e| S3Error::store("get", &k, e))
                        .boxed(),
                ))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(S3Error::store("get", key.as_ref(), e)),
        }
    }

    /// Compute a blob's outboard from its bytes (one streaming GET) and store it beside it.
    ///
    /// Errors: `Missing`; `Corrupt` when the bytes do not hash to the address (nothing written).
    pub async fn rebuild_outboard(&self, hash: &BlobHash) -> Result<(), S3Error> {
        // The outboard (1/256 of the blob) stays in memory up to one part, beyond that it goes
        // through a multipart upload to a staging key first.
        let staging = Path::from(format!("{STAGING}/{}.obao", random_id()));
        let mut up = Upload::new(
            self.store.clone(),
            staging.clone(),
            self.part_size,
            self.upload_concurrency,
            self.cleanups.clone(),
        );
        let key = blob_key(hash);
        let res = self
            .store
            .get(&key)
            .await
            .map_err(|e| self.read_err(hash, &key, e))?;
        let mut stream = res.into_stream();
        let mut b = OutboardBuilder::new();
        let mut pairs = Vec::new();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| S3Error::store("get", key.as_ref(), e))?;
            b.update(&piece, &mut pairs);
            up.write(&pairs)
                .await
                .map_err(|e| S3Error::store("put", staging.as_ref(), e))?;
            pairs.clear();
        }
        let root = b.finish(&mut pairs);
        if BlobHash::from(root) != *hash {
            up.abort().await;
            return Err(S3Error::Corrupt {
                hash: *hash,
                detail: "whole object does not hash to its address".into(),
            });
        }
        up.write(&pairs)
            .await
            .map_err(|e| S3Error::store("put", staging.as_ref(), e))?;
        let fin = up
            .finish()
            .await
            .map_err(|e| S3Error::store("put", staging.as_ref(), e))?;
        self.land_outboard(hash, fin).await
    }

    async fn land_outboard(&self, hash: &BlobHash, fin: Finished) -> Result<(), S3Error> {
        let dest = outboard_key(hash);
        match fin {
            Finished::Buffered(bytes) => {
                self.store
                    .put(&dest, PutPayload::from_bytes(bytes))
                    .await
                    .map_err(|e| S3Error::store("put", dest.as_ref(), e))?;
            }
            Finished::Completed(key) if key == dest => {}
            Finished::Completed(key) => {
                let res = self.store.copy(&key, &dest).await;
                self.delete_quietly(&key).await;
                res.map_err(|e| S3Error::store("copy", dest.as_ref(), e))?;
            }
        }
        Ok(())
    }

    async fn delete_quietly(&self, key: &Path) {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(%key, error = %e, "removing a staging object failed; sweep removes it")
            }
        }
    }

    /// Every stored blob with its size, sorted by hash (outboards and staging keys left out).
    pub async fn list(&self) -> Result<Vec<(BlobHash, u64)>, S3Error> {
        let (blobs, _) = self.list_blobs_and_outboards().await?;
        Ok(blobs.into_iter().map(|(h, (s, _))| (h, s)).collect())
    }

    #[allow(clippy::type_complexity)]
    async fn list_blobs_and_outboards(
        &self,
    ) -> Result<
        (
            BTreeMap<BlobHash, (u64, object_store::ObjectMeta)>,
            BTreeMap<BlobHash, object_store::ObjectMeta>,
        ),
        S3Error,
    > {
        let prefix = Path::from(BLOBS);
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| S3Error::store("list", BLOBS, e))?;
        let (mut blobs, mut obs) = (BTreeMap::new(), BTreeMap::new());
        for m in metas {
            let Some(name) = m.location.filename() else {
                continue;
            };
            if let Some(h) = name
                .strip_suffix(".obao")
                .and_then(|n| n.parse::<BlobHash>().ok())
            {
                obs.insert(h, m);
            } else if let Ok(h) = name.parse::<BlobHash>() {
                blobs.insert(h, (m.size, m));
            }
        }
        Ok((blobs, obs))
    }

    /// Delete a blob and its outboard (the blob first, so no blob is ever left without an
    /// outboard by a failure here). Deleting a blob that is not stored is not an error.
    pub async fn delete(&self, hash: &BlobHash) -> Result<(), S3Error> {
        for key in [blob_key(hash), outboard_key(hash)] {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(S3Error::store("delete", key.as_ref(), e)),
            }
        }
        Ok(())
    }

    /// Delete every blob that is not pinned and for which `in_use` is false. Returns the number
    /// of blobs removed and the bytes freed. The exclusive lock is taken per blob.
    pub async fn gc(
        &self,
        in_use: impl Fn(&BlobHash) -> Result<bool, S3Error>,
    ) -> Result<(u64, u64), S3Error> {
        let (mut removed, mut freed) = (0u64, 0u64);
        for (hash, size) in self.list().await? {
            let _exclusive = self.gc_lock.write().await;
            if !self.is_pinned(&hash) && !in_use(&hash)? {
                self.delete(&hash).await?;
                tracing::info!(blob = %hash, size, "garbage-collected unreferenced blob");
                removed += 1;
                freed += size;
            }
        }
        Ok((removed, freed))
    }

    /// Remove staging objects older than `older_than` (uploads a crash left between completion
    /// and the move to an address) and outboards older than that whose blob is gone. Never
    /// touches a writer alive in this process.
    pub async fn sweep(&self, older_than: Duration) -> Result<Swept, S3Error> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut swept = Swept::default();
        let prefix = Path::from(STAGING);
        let staged: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| S3Error::store("list", STAGING, e))?;
        for m in staged {
            let live = self
                .live_staging
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&m.location);
            if !live && std::time::SystemTime::from(m.last_modified) <= cutoff {
                self.delete_quietly(&m.location).await;
                tracing::info!(key = %m.location, "removed a leftover staging object");
                swept.staging += 1;
            }
        }
        let (blobs, obs) = self.list_blobs_and_outboards().await?;
        for (hash, m) in obs {
            let old = std::time::SystemTime::from(m.last_modified) <= cutoff;
            if !blobs.contains_key(&hash) && old && !self.is_pinned(&hash) {
                let _exclusive = self.gc_lock.write().await;
                self.delete_quietly(&m.location).await;
                swept.orphan_outboards += 1;
            }
        }
        Ok(swept)
    }
}

fn min_part(size_hint: Option<u64>) -> usize {
    // Keep within 9 000 parts (S3 allows 10 000), in whole MiB.
    let min = size_hint.map_or(0, |s| s.div_ceil(9_000)) as usize;
    min.next_multiple_of(1 << 20)
}

/// A blob being uploaded; see [`S3Blobs::writer`]. Dropping it without [`S3BlobWriter::finish`]
/// stores nothing and aborts the multipart upload in the background.
pub struct S3BlobWriter {
    data: Option<Upload>,
    outboard: Option<Upload>,
    builder: OutboardBuilder,
    /// Outboard bytes produced by the last write (reused buffer).
    pairs: Vec<u8>,
    /// Hash and size announced by the caller ([`S3Blobs::writer_for`]).
    expected: Option<(BlobHash, u64)>,
    /// The staging keys registered as live (forgotten on drop).
    staging_keys: Vec<Path>,
    blobs: S3Blobs,
}

impl S3BlobWriter {
    /// Append bytes: hashed, added to the outboard and uploaded (waits while the upload's
    /// parts in flight are at their limit).
    ///
    /// Errors: `Unavailable` (retry the whole blob later: nothing is stored), `Denied`.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), S3Error> {
        let res = self.write_inner(bytes).await;
        if res.is_err() {
            // Unusable now: dropping the uploads aborts them (in the background).
            self.data = None;
            self.outboard = None;
        }
        res
    }

    async fn write_inner(&mut self, bytes: &[u8]) -> Result<(), S3Error> {
        let (Some(data), Some(ob)) = (self.data.as_mut(), self.outboard.as_mut()) else {
            return Err(S3Error::Invalid(
                "blob writer already finished or failed".into(),
            ));
        };
        self.builder.update(bytes, &mut self.pairs);
        data.write(bytes)
            .await
            .map_err(|e| S3Error::store("put", data.key().as_ref(), e))?;
        if !self.pairs.is_empty() {
            ob.write(&self.pairs)
                .await
                .map_err(|e| S3Error::store("put", ob.key().as_ref(), e))?;
            self.pairs.clear();
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.builder.size()
    }

    /// Store the blob: outboard first, then the blob at its address (unless already there),
    /// confirmed by a HEAD. Call under [`S3Blobs::ingest_guard`] (or pin the hash) until the
    /// reference is recorded.
    ///
    /// Errors: `Mismatch` (announced hash or size differ; nothing stored), `Unavailable` (retry;
    /// nothing half-stored is visible), `Corrupt` (the store confirmed another size).
    pub async fn finish(mut self) -> Result<Stored, S3Error> {
        let (Some(data), Some(ob)) = (self.data.take(), self.outboard.take()) else {
            return Err(S3Error::Invalid(
                "blob writer already finished or failed".into(),
            ));
        };
        let builder = std::mem::take(&mut self.builder);
        let size = builder.size();
        let mut pairs = std::mem::take(&mut self.pairs);
        let hash = BlobHash::from(builder.finish(&mut pairs));
        if let Some((expected, expected_size)) = self.expected
            && (expected != hash || expected_size != size)
        {
            data.abort().await;
            ob.abort().await;
            return Err(S3Error::Mismatch {
                expected,
                expected_size,
                actual: hash,
                actual_size: size,
            });
        }
        let staging = self.staging_keys.clone();
        let res = Self::land(&self.blobs, hash, size, data, ob, pairs).await;
        if res.is_err() {
            for k in &staging {
                self.blobs.delete_quietly(k).await;
            }
        }
        res
    }

    /// Takes the store, not `&self`: a writer holds a multipart upload, which is not `Sync`, so a
    /// future borrowing the writer across an await would not be `Send` (nor could `finish` run
    /// inside `tokio::spawn`).
    async fn land(
        blobs: &S3Blobs,
        hash: BlobHash,
        size: u64,
        data: Upload,
        mut ob: Upload,
        pairs: Vec<u8>,
    ) -> Result<Stored, S3Error> {
        let key = blob_key(&hash);
        let put_err = |k: &Path| {
            let k = k.to_string();
            move |e| S3Error::store("put", &k, e)
        };
        // 1. The outboard, so that a blob at its address always has one.
        if size > GROUP {
            let k = ob.key().clone();
            ob.write(&pairs).await.map_err(put_err(&k))?;
            let fin = ob.finish().await.map_err(put_err(&k))?;
            blobs.land_outboard(&hash, fin).await?;
        } else {
            drop(ob);
        }
        // 2. The blob at its address.
        let k = data.key().clone();
        let written = match data.finish().await.map_err(put_err(&k))? {
            Finished::Buffered(bytes) => {
                if blobs.stat(&hash).await? == Some(size) {
                    false
                } else {
                    blobs
                        .store
                        .put(&key, PutPayload::from_bytes(bytes))
                        .await
                        .map_err(put_err(&key))?;
                    true
                }
            }
            Finished::Completed(done) if done == key => true,
            Finished::Completed(staged) => {
                let written = if blobs.stat(&hash).await? == Some(size) {
                    false
                } else {
                    blobs
                        .store
                        .copy(&staged, &key)
                        .await
                        .map_err(|e| S3Error::store("copy", key.as_ref(), e))?;
                    true
                };
                blobs.delete_quietly(&staged).await;
                written
            }
        };
        // 3. Confirmed by the store.
        match blobs.stat(&hash).await? {
            Some(s) if s == size => Ok(Stored {
                hash,
                size,
                written,
            }),
            other => Err(S3Error::Corrupt {
                hash,
                detail: match other {
                    Some(s) => format!("the store holds {s} bytes after {size} were written"),
                    None => format!("the store holds nothing after {size} bytes were written"),
                },
            }),
        }
    }
}

impl Drop for S3BlobWriter {
    fn drop(&mut self) {
        // Dropping the uploads aborts their multipart uploads (see upload.rs).
        let mut live = self
            .blobs
            .live_staging
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for k in &self.staging_keys {
            live.remove(k);
        }
    }
}
