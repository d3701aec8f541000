//! The blob protocol: blobs travel as BLAKE3-verified bao streams (bao-tree) and land in
//! resumable partial files. Version 2 (`/casemesh/blob/2`) carries many requests per stream;
//! version 1 (`/casemesh/blob/1`, one per stream) is still served and spoken as a fallback.
//!
//! ```text
//!  requester                                          server
//!  fetch ──lane (lane.rs)── BlobRequest{hash, offset, grant} ──► serve_lane (serve.rs): a slot,
//!        │  more requests follow on the same lane               BlobServer::open(peer, grant, hash)
//!        │  without waiting; answers come in order               │ refused → Refused header
//!        ◄── Ok{size, start, chunk_log} ◄─────────────────────────┘
//!        ◄── bao stream: parents (64 B) + 16 KiB chunk groups from `start`, pre-order
//!  decode thread: verify each group against the tree, write verified bytes to <hash>.part,
//!  checkpoint <hash>.state every CHECKPOINT bytes (fdatasync first); after the last group hand
//!  the lane to the next request, then fsync and rename to <hash>.blob.
//! ```
//!
//! Version 3 (`/casemesh/blob/3`) adds a batched request: many whole small blobs under one
//! grant, one answer per hash in order ([`fetch_batch`]); each answer is verified into memory
//! and the caller makes the batch durable at once (one flush instead of two per blob).
//!
//! Modules: this one holds the public types, the fetch and its decode thread and the partial
//! files; `lane` the requester's lanes; `serve` the serving side, its limits and the outboards;
//! `inbound` the path of inbound streams to the accept loop. CPU work (hashing, file I/O) runs
//! on blocking threads that talk to the libp2p stream through small blocking adapters, so the
//! async runtime keeps moving packets meanwhile.

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{
        Arc, LazyLock, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bao_tree::{
    BaoTree, BlockSize, ChunkNum, ChunkRanges,
    io::{BaoContentItem, DecodeError, Leaf, sync::DecodeResponseIter},
};
use casemesh_model::ids::BlobHash;
use libp2p::PeerId;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::{
    error::{NetError, Refusal},
    lane::{LaneReader, Lanes, Request, Turn, UNKNOWN_SIZE_LOAD},
    serve::ServeLimits,
    stats::{Counters, Stats},
    wire::{
        BlobBatchRequest, BlobRequest, BlobResponseHeader, CHUNK_GROUP_BYTES, CHUNK_LOG,
        MAX_BATCH_HASHES, MAX_GRANT_LEN,
    },
};
use casemesh_seqfile::SeqWriter;

/// How the node answers "may this peer read this blob?" — asked on **every** blob request.
pub trait BlobServer: Send + Sync + 'static {
    /// Check `grant` for `peer` and `hash`; return the verified blob file to serve, or a
    /// refusal that goes back to the requester. Called on a blocking thread: it may do I/O.
    fn open(&self, peer: &PeerId, grant: &[u8], hash: &BlobHash) -> Result<BlobSource, Refusal>;

    /// [`BlobServer::open`] for every hash of a batched request (`/casemesh/blob/3`): one answer
    /// per hash, in order. A node can check the grant once and record what it serves in one
    /// transaction here; the default asks [`BlobServer::open`] for each hash.
    fn open_batch(
        &self,
        peer: &PeerId,
        grant: &[u8],
        hashes: &[BlobHash],
    ) -> Vec<Result<BlobSource, Refusal>> {
        hashes.iter().map(|h| self.open(peer, grant, h)).collect()
    }
}

/// Positioned reads of a blob that is not a local file (an object in an S3 bucket, issue #18),
/// for [`BlobSource::remote`]. Called on blocking threads; reads come in windows of
/// [`REMOTE_WINDOW`] bytes, so each may be one ranged request.
pub trait RangeRead: Send + Sync + 'static {
    /// Read bytes from `pos` into `buf`: fewer at the end of the blob, 0 at or past it. Bytes
    /// handed out should be verified against the blob's hash already (the requester checks
    /// them again).
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Copy the blob's post-order outboard (16 KiB chunk groups, the layout served here) into
    /// `out`, if the backend keeps one: `Ok(false)` when it does not (then it is computed from
    /// one sequential read of the blob). A wrong one is caught: its size is checked, and the
    /// requester verifies every range against the hash.
    fn copy_outboard(&self, out: &mut dyn io::Write) -> io::Result<bool> {
        let _ = out;
        Ok(false)
    }
}

/// Bytes per read of a [`RangeRead`] source while serving it (one ranged request each).
pub const REMOTE_WINDOW: usize = 4 << 20;

/// A blob the node allows to be served: a local file (`path`), or a [`RangeRead`] source
/// ([`BlobSource::remote`]), with the outboard its store keeps beside it, if any
/// ([`BlobSource::with_outboard`]).
///
/// ```
/// # use casemesh_net::{BlobSource, CancellationToken};
/// let share_stopped = CancellationToken::new();
/// let source = BlobSource::new("/var/lib/casemesh/blobs/ab/cd…", 4096)
///     .with_cancel(share_stopped.child_token());
/// // later, when the share is stopped: every transfer of its blobs ends within moments
/// share_stopped.cancel();
/// # assert!(source.cancel.unwrap().is_cancelled());
/// ```
#[derive(Clone)]
pub struct BlobSource {
    /// The node's verified blob file (empty for a remote source).
    pub path: PathBuf,
    /// Where the bytes are read from instead of `path` (`None`: the file, the fast path).
    pub remote: Option<Arc<dyn RangeRead>>,
    /// Its size in bytes.
    pub size: u64,
    /// Cancelled = stop serving this blob now (the grant was revoked, the share stopped).
    ///
    /// Checked before the answer starts (then the request is refused with
    /// [`crate::RefusalCode::Forbidden`], "the share was stopped") and between the pieces of
    /// the answer, also while a write waits for the requester's flow control: once cancelled,
    /// no further byte of this blob is sent. An answer already under way cannot be ended
    /// inside the stream framing, so its stream (lane) is closed; see `docs/protocol.md`.
    /// `None`: served to the end.
    pub cancel: Option<CancellationToken>,
    /// The blob's post-order outboard as its store keeps it (16 KiB chunk groups, no size
    /// suffix: `casemesh_store::outboard`), written when the blob was ingested. Served from in
    /// place, never copied or deleted, when its size is the blob's outboard size and its hash
    /// tree hashes up to the blob's hash (one read of 1/256 of the blob, no pass over the blob);
    /// otherwise, and when `None`, the outboard is computed from the blob's bytes once and cached
    /// in the partial directory. Not used for blobs of at most 256 KiB (served from memory).
    pub outboard: Option<PathBuf>,
}

impl std::fmt::Debug for BlobSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobSource")
            .field("path", &self.path)
            .field("remote", &self.remote.is_some())
            .field("size", &self.size)
            .field("cancel", &self.cancel)
            .field("outboard", &self.outboard)
            .finish()
    }
}

impl BlobSource {
    /// A source served to its end (no cancellation signal).
    pub fn new(path: impl Into<PathBuf>, size: u64) -> Self {
        Self {
            path: path.into(),
            remote: None,
            size,
            cancel: None,
            outboard: None,
        }
    }

    /// A source of `size` bytes read through `reader` (not a local file).
    pub fn remote(reader: Arc<dyn RangeRead>, size: u64) -> Self {
        Self {
            path: PathBuf::new(),
            remote: Some(reader),
            size,
            cancel: None,
            outboard: None,
        }
    }

    /// Serve from this stored outboard when it checks out (see [`BlobSource::outboard`]);
    /// `None` leaves the source as it is.
    pub fn with_outboard(mut self, outboard: Option<PathBuf>) -> Self {
        self.outboard = outboard;
        self
    }

    /// Serve this source only until `token` is cancelled (e.g. a child token of its share).
    pub fn with_cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Whether serving this source must stop now.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }
}

/// A complete, verified, fsynced blob file in the partial directory, for the caller to rename
/// into its blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedBlob {
    /// Path of the complete file (`<partial_dir>/<hash>.blob`).
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Offset this fetch started at: 0 for a fresh download, > 0 after a resume, `size` when
    /// skipped.
    pub resumed_from: u64,
    /// True when a complete verified file already existed and nothing was transferred.
    pub skipped: bool,
}

/// Bytes between durable checkpoints of a partial download.
const CHECKPOINT: u64 = 128 * 1024 * 1024;
/// Buffer of the sequential writer and the read-ahead of the server.
pub(crate) const IO_BUF: usize = 1024 * 1024;
/// Buffer between the stream and the bao encoder/decoder (one per lane at the requester).
pub(crate) const STREAM_BUF: usize = 256 * 1024;
/// A peer that sends or accepts nothing for this long is given up on.
pub(crate) const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Magic of the `.state` file (format version 1).
const STATE_MAGIC: &[u8; 8] = b"CMPART01";
/// An answer the requester no longer wants (cancelled fetch, size mismatch) is read to its end
/// and discarded when at most this many blob bytes remain, which keeps the lane usable; a
/// longer one closes the lane instead.
const DRAIN_MAX: u64 = 4 * 1024 * 1024;

/// State shared by fetch and serve tasks.
pub(crate) struct BlobCtx {
    pub(crate) partial_dir: PathBuf,
    pub(crate) fetch_permits: Arc<Semaphore>,
    pub(crate) serve_limits: Arc<ServeLimits>,
    pub(crate) stats: Arc<Stats>,
    /// The node-wide send-rate limit of served blob bytes (`None`: none).
    pub(crate) send_rate: Option<Arc<crate::throttle::SendRate>>,
    /// Every task the net layer spawns: the actor, the inbound accept loop, and the fetch
    /// exchanges that outlive a dropped caller (see [`fetch`]). [`crate::NetHandle::stopped`]
    /// waits for them all at shutdown; nothing is spawned bare.
    pub(crate) tasks: tokio_util::task::TaskTracker,
}

impl BlobCtx {
    pub(crate) fn outboard_dir(&self) -> PathBuf {
        self.partial_dir.join("outboards")
    }
}

pub(crate) fn tree(size: u64) -> BaoTree {
    BaoTree::new(size, BlockSize::from_chunk_log(CHUNK_LOG))
}

pub(crate) fn ranges_from(start: u64) -> ChunkRanges {
    ChunkRanges::from(ChunkNum(start / 1024)..)
}

/// Round down to a chunk group; never past the last group of the blob.
pub(crate) fn aligned_start(offset: u64, size: u64) -> u64 {
    let last = size.saturating_sub(1);
    offset.min(last) / CHUNK_GROUP_BYTES * CHUNK_GROUP_BYTES
}

/// Make `verified` bytes of `writer`'s file durable, then record them in the checkpoint.
fn checkpoint(writer: &mut SeqWriter, paths: &Paths, size: u64, verified: u64) -> io::Result<()> {
    writer.flush()?;
    writer.file().sync_data()?;
    write_state(paths, PartState { size, verified })
}

/// Bytes written behind the last sync before the [`Flusher`] syncs again.
const SYNC_STEP: u64 = 32 * 1024 * 1024;

/// Makes a partial file durable behind its writer, on a thread of its own: whenever
/// [`SYNC_STEP`] more bytes have been written it `fdatasync`s the file, and once the synced
/// bytes are [`CHECKPOINT`] past the last checkpoint it records them in `<hash>.state`.
///
/// Why: the kernel starts writing dirty pages back only past `dirty_background_ratio` (10 % of
/// memory: gigabytes), so a 128 MiB checkpoint `fdatasync` on the decode thread wrote 128 MiB
/// while no byte was received (~0.1 s per checkpoint, 0.7 s per GiB on the dev machine, with
/// the final `fsync` still holding whatever came after the last one). Syncing in steps on
/// another thread keeps the disk writing while the network delivers, and the final `fsync`
/// finds little left. The rule of a checkpoint is unchanged: it claims only bytes that were
/// written before an `fdatasync` that returned.
struct Flusher {
    shared: Arc<(Mutex<FlushState>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    step: u64,
}

/// How often a [`Flusher`] syncs and checkpoints, in bytes ([`SYNC_STEP`], [`CHECKPOINT`]).
#[derive(Clone, Copy)]
struct FlushSteps {
    sync: u64,
    checkpoint: u64,
}

const FLUSH_STEPS: FlushSteps = FlushSteps {
    sync: SYNC_STEP,
    checkpoint: CHECKPOINT,
};

#[derive(Default)]
struct FlushState {
    /// End of the bytes the writer has handed to the file.
    written: u64,
    /// The writer is done: stop.
    stop: bool,
    /// The first failure of the thread (then it has stopped).
    failed: Option<io::Error>,
}

impl Flusher {
    /// Start syncing `file` (a handle on the partial file) whose bytes up to `synced` are
    /// durable and checkpointed already.
    fn start(
        file: File,
        paths: &Paths,
        size: u64,
        synced: u64,
        steps: FlushSteps,
    ) -> io::Result<Self> {
        let shared = Arc::new((Mutex::new(FlushState::default()), std::sync::Condvar::new()));
        let state_path = Paths {
            part: paths.part.clone(),
            state: paths.state.clone(),
            blob: paths.blob.clone(),
        };
        let inner = shared.clone();
        let thread = std::thread::Builder::new()
            .name("casemesh-blob-sync".into())
            .spawn(move || {
                let (lock, wake) = &*inner;
                let (mut synced, mut checkpointed) = (synced, synced);
                loop {
                    let target = {
                        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
                        while !st.stop && st.written < synced + steps.sync {
                            st = wake.wait(st).unwrap_or_else(|e| e.into_inner());
                        }
                        if st.stop {
                            return;
                        }
                        st.written
                    };
                    let res = file.sync_data().and_then(|()| {
                        if target - checkpointed >= steps.checkpoint {
                            write_state(
                                &state_path,
                                PartState {
                                    size,
                                    verified: target,
                                },
                            )?;
                            checkpointed = target;
                        }
                        Ok(())
                    });
                    synced = target;
                    if let Err(e) = res {
                        lock.lock().unwrap_or_else(|e| e.into_inner()).failed = Some(e);
                        return;
                    }
                }
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
            step: steps.sync,
        })
    }

    /// The writer has handed bytes up to `written` to the file. Fails with the thread's error
    /// if syncing failed.
    fn written(&self, written: u64) -> io::Result<()> {
        let (lock, wake) = &*self.shared;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = st.failed.take() {
            return Err(e);
        }
        if written >= st.written + self.step / 4 {
            st.written = written;
            wake.notify_one();
        }
        Ok(())
    }

    /// Stop the thread and wait for it (a sync under way finishes first), so the caller's own
    /// checkpoint is the last one written.
    fn stop(mut self) -> io::Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> io::Result<()> {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        match lock.lock().unwrap_or_else(|e| e.into_inner()).failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

// ---------------------------------------------------------------------------------------------
// fetching

/// Files of one hash in the partial directory.
struct Paths {
    part: PathBuf,
    state: PathBuf,
    blob: PathBuf,
}

impl Paths {
    fn new(dir: &Path, hash: &BlobHash) -> Self {
        let hex = hash.to_hex();
        Self {
            part: dir.join(format!("{hex}.part")),
            state: dir.join(format!("{hex}.state")),
            blob: dir.join(format!("{hex}.blob")),
        }
    }
}

/// Checkpoint of a partial download: `CMPART01 | size u64 BE | verified u64 BE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PartState {
    size: u64,
    verified: u64,
}

fn read_state(paths: &Paths) -> Option<PartState> {
    let bytes = fs::read(&paths.state).ok()?;
    if bytes.len() != 24 || &bytes[..8] != STATE_MAGIC {
        return None;
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&bytes[8..16]);
    let size = u64::from_be_bytes(a);
    a.copy_from_slice(&bytes[16..24]);
    let verified = u64::from_be_bytes(a);
    let part_len = fs::metadata(&paths.part).ok()?.len();
    if verified > size || part_len < verified {
        return None;
    }
    Some(PartState { size, verified })
}

/// Durably record the checkpoint (write a temporary file, fsync it, rename over the old one).
/// The caller has fsynced the data up to `verified` before.
fn write_state(paths: &Paths, state: PartState) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(24);
    bytes.extend_from_slice(STATE_MAGIC);
    bytes.extend_from_slice(&state.size.to_be_bytes());
    bytes.extend_from_slice(&state.verified.to_be_bytes());
    let tmp = paths.state.with_extension("state.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_data()?;
    fs::rename(&tmp, &paths.state)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// One lock per target file across the whole process, so two fetches of the same hash (even
/// from two node instances sharing a partial directory) never write the same partial file.
fn path_lock(path: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Weak<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let mut map = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lock) = map.get(path).and_then(Weak::upgrade) {
        return lock;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    map.insert(path.to_path_buf(), Arc::downgrade(&lock));
    lock
}

/// Sets the flag when the fetch future is dropped, which stops the decode thread.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Parameters of one fetch.
pub(crate) struct FetchArgs {
    pub(crate) peer: PeerId,
    pub(crate) grant: Vec<u8>,
    pub(crate) hash: BlobHash,
    pub(crate) expected_size: Option<u64>,
    pub(crate) progress: Option<watch::Sender<u64>>,
}

/// Fetch a blob into the partial directory, resuming and verifying; see the module docs.
pub(crate) async fn fetch(
    ctx: Arc<BlobCtx>,
    lanes: Arc<Lanes>,
    args: FetchArgs,
) -> Result<FetchedBlob, NetError> {
    let FetchArgs {
        peer,
        grant,
        hash,
        expected_size,
        progress,
    } = args;
    if grant.len() > MAX_GRANT_LEN {
        return Err(NetError::TooLarge {
            size: grant.len(),
            limit: MAX_GRANT_LEN,
        });
    }
    tokio::fs::create_dir_all(&ctx.partial_dir).await?;
    let paths = Paths::new(&ctx.partial_dir, &hash);
    let lock = path_lock(&paths.blob).lock_owned().await;

    if let Ok(md) = tokio::fs::metadata(&paths.blob).await {
        let size = md.len();
        if let Some(expected) = expected_size.filter(|e| *e != size) {
            return Err(NetError::SizeMismatch {
                hash,
                expected,
                announced: size,
            });
        }
        tracing::debug!(hash = %hash, "complete blob already present; fetch skipped");
        return Ok(FetchedBlob {
            path: paths.blob,
            size,
            resumed_from: size,
            skipped: true,
        });
    }

    let permit = ctx
        .fetch_permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| NetError::Shutdown)?;

    let mut state = read_state(&paths);
    if let (Some(st), Some(expected)) = (state, expected_size)
        && st.size != expected
    {
        state = None;
    }
    let offset = state.map_or(0, |s| aligned_start(s.verified, s.size));
    let request = BlobRequest {
        hash,
        offset,
        grant,
    };
    if request.grant.len() > MAX_GRANT_LEN {
        return Err(NetError::TooLarge {
            size: request.grant.len(),
            limit: MAX_GRANT_LEN,
        });
    }
    let announced = expected_size.map_or(UNKNOWN_SIZE_LOAD, |s| s.saturating_sub(offset));

    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let job = Receive {
        peer,
        hash,
        offset,
        expected_size,
        state,
        cancel: cancel.clone(),
        progress,
        counters: ctx.stats.peer(&peer),
    };
    let dir = ctx.partial_dir.clone();
    // Once the request is on a lane its answer must be read to the end (or the lane closed),
    // even if the caller drops this future, or the requests queued behind it would wait for
    // nothing: the exchange runs in a task of its own, which also keeps the fetch permit and
    // the file lock until it is done.
    let exchange = ctx.tasks.spawn(async move {
        let _permit = permit;
        let turn = lanes
            .send(peer, Request::One(&request), announced, &cancel)
            .await?
            .ok_or_else(|| NetError::Interrupted("no lane for a single request".into()))?;
        tokio::task::spawn_blocking(move || {
            let _lock = lock;
            job.run(turn, &paths, &dir)
        })
        .await
        .map_err(|e| NetError::Io(io::Error::other(e)))?
    });
    let (path, size, start) = exchange
        .await
        .map_err(|e| NetError::Io(io::Error::other(e)))??;
    tracing::info!(peer = %peer, hash = %hash, size, resumed_from = start, "blob fetched");
    Ok(FetchedBlob {
        path,
        size,
        resumed_from: start,
        skipped: false,
    })
}

/// Largest blob a batched fetch takes ([`NetHandle::fetch_small_blobs`]): whole, verified, in
/// memory.
///
/// [`NetHandle::fetch_small_blobs`]: crate::NetHandle::fetch_small_blobs
pub const MAX_BATCH_BLOB: u64 = 256 * 1024;
/// Largest sum of blob sizes of one batched fetch: what one batch may hold in memory, and
/// what a batch cut short (its fetch dropped) still reads to keep its lane usable.
pub const MAX_BATCH_BYTES: u64 = DRAIN_MAX;

/// The result of one blob of a batched fetch: its verified bytes, or why it did not come.
pub type BatchItem = Result<Vec<u8>, NetError>;

/// Fetch many small whole blobs from `peer` under one grant: one batched request on a
/// `/casemesh/blob/3` lane (one fetch permit, one grant check and one audit transaction at
/// the sharer), each blob verified against its hash as it arrives and returned in memory, in
/// the order asked. Nothing is written to disk: the caller makes the batch durable at once.
/// With a partner that lacks version 3, each blob is fetched on its own instead.
///
/// `Err` means nothing was asked (an invalid batch, no stream); otherwise one result per blob.
pub(crate) async fn fetch_batch(
    ctx: Arc<BlobCtx>,
    lanes: Arc<Lanes>,
    peer: PeerId,
    grant: Vec<u8>,
    blobs: Vec<(BlobHash, u64)>,
) -> Result<Vec<BatchItem>, NetError> {
    check_batch(&grant, &blobs)?;
    if lanes.may_batch(&peer) {
        let permit = ctx
            .fetch_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| NetError::Shutdown)?;
        let counters = ctx.stats.peer(&peer);
        let total: u64 = blobs.iter().map(|(_, s)| s).sum();
        let request = BlobBatchRequest {
            hashes: blobs.iter().map(|(h, _)| *h).collect(),
            grant: grant.clone(),
        };
        let wanted = blobs.clone();
        let lanes = lanes.clone();
        // As for a single fetch, the exchange outlives a dropped caller: the batch is read to
        // its end (at most MAX_BATCH_BYTES), so the requests behind it keep their lane.
        let exchange = ctx.tasks.spawn(async move {
            let _permit = permit;
            let never = AtomicBool::new(false);
            let Some(turn) = lanes
                .send(peer, Request::Batch(&request), total, &never)
                .await?
            else {
                return Ok(None);
            };
            tokio::task::spawn_blocking(move || {
                let _transfer = counters.transfer();
                Some(read_batch(turn, peer, &wanted))
            })
            .await
            .map_err(|e| NetError::Io(io::Error::other(e)))
        });
        let answered = exchange
            .await
            .map_err(|e| NetError::Io(io::Error::other(e)))??;
        if let Some(results) = answered {
            tracing::debug!(peer = %peer, count = results.len(), bytes = total, "blob batch fetched");
            return Ok(results);
        }
    }
    // The partner lacks version 3: one request per blob, through the partial files.
    let mut out = Vec::with_capacity(blobs.len());
    for (hash, size) in blobs {
        let args = FetchArgs {
            peer,
            grant: grant.clone(),
            hash,
            expected_size: Some(size),
            progress: None,
        };
        let got = match fetch(ctx.clone(), lanes.clone(), args).await {
            Ok(f) => tokio::fs::read(&f.path)
                .await
                .map_err(NetError::Io)
                .and_then(|bytes| {
                    // The partial file was verified; re-check what was read back.
                    if BlobHash(*blake3::hash(&bytes).as_bytes()) == hash {
                        Ok(bytes)
                    } else {
                        Err(NetError::Interrupted("partial file changed on disk".into()))
                    }
                }),
            Err(e) => Err(e),
        };
        if got.is_ok() {
            let _ = tokio::fs::remove_file(Paths::new(&ctx.partial_dir, &hash).blob).await;
        }
        out.push(got);
    }
    Ok(out)
}

/// Refuse a batch the protocol or the memory bound does not allow.
fn check_batch(grant: &[u8], blobs: &[(BlobHash, u64)]) -> Result<(), NetError> {
    if grant.len() > MAX_GRANT_LEN {
        return Err(NetError::TooLarge {
            size: grant.len(),
            limit: MAX_GRANT_LEN,
        });
    }
    if blobs.is_empty() || blobs.len() > MAX_BATCH_HASHES {
        return Err(NetError::TooLarge {
            size: blobs.len(),
            limit: MAX_BATCH_HASHES,
        });
    }
    let total: u64 = blobs.iter().map(|(_, s)| s).sum();
    if let Some((_, big)) = blobs.iter().find(|(_, s)| *s > MAX_BATCH_BLOB) {
        return Err(NetError::TooLarge {
            size: *big as usize,
            limit: MAX_BATCH_BLOB as usize,
        });
    }
    if total > MAX_BATCH_BYTES {
        return Err(NetError::TooLarge {
            size: total as usize,
            limit: MAX_BATCH_BYTES as usize,
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(blobs.len());
    if !blobs.iter().all(|(h, _)| seen.insert(*h)) {
        return Err(NetError::Config("a batch names a blob twice".into()));
    }
    Ok(())
}

/// Read the answers to a batch, one per blob, in order; pass the lane on after the last one
/// (or close it when an answer leaves it mid-stream: the blobs after it fail, resumable).
fn read_batch(turn: Turn, peer: PeerId, blobs: &[(BlobHash, u64)]) -> Vec<BatchItem> {
    let Turn {
        mut reader,
        handoff,
    } = turn;
    let mut out = Vec::with_capacity(blobs.len());
    for (hash, size) in blobs {
        match read_whole(&mut reader, peer, *hash, *size) {
            Ok(bytes) => out.push(Ok(bytes)),
            Err(stopped) => {
                let (e, lane) = *stopped;
                out.push(Err(e));
                if let LaneState::Lost = lane {
                    handoff.abandon();
                    while out.len() < blobs.len() {
                        out.push(Err(NetError::Interrupted(
                            "blob stream closed in the middle of a batch".into(),
                        )));
                    }
                    return out;
                }
            }
        }
    }
    handoff.finish(reader);
    out
}

/// Read one whole answer into memory, verifying every chunk group against `hash`.
fn read_whole(
    reader: &mut LaneReader,
    peer: PeerId,
    hash: BlobHash,
    expected: u64,
) -> Result<Vec<u8>, Stopped> {
    let lost = |e: NetError| Box::new((e, LaneState::Lost));
    let (size, start) = match read_header(reader, peer).map_err(lost)? {
        Ok(header) => header,
        Err(refusal) => {
            return Err(Box::new((
                NetError::Refused { peer, refusal },
                LaneState::Boundary,
            )));
        }
    };
    if size != expected {
        let e = NetError::SizeMismatch {
            hash,
            expected,
            announced: size,
        };
        let lane = if drain(reader, hash, size, start) {
            LaneState::Boundary
        } else {
            LaneState::Lost
        };
        return Err(Box::new((e, lane)));
    }
    if start != 0 {
        return Err(lost(NetError::Protocol {
            peer,
            reason: format!("server started at {start}, asked for 0"),
        }));
    }
    let mut data = vec![0u8; size as usize];
    let root = blake3::Hash::from_bytes(hash.0);
    let ranges = ranges_from(0);
    let mut verified = 0u64;
    for item in DecodeResponseIter::new(root, tree(size), &mut *reader, &ranges) {
        match item {
            Ok(BaoContentItem::Parent(_)) => {}
            Ok(BaoContentItem::Leaf(Leaf { offset, data: leaf })) => {
                let end = offset + leaf.len() as u64;
                if end > size {
                    return Err(lost(NetError::Protocol {
                        peer,
                        reason: "chunk beyond the end of the blob".into(),
                    }));
                }
                data[offset as usize..end as usize].copy_from_slice(&leaf);
                verified = end;
            }
            Err(e) => return Err(lost(decode_error(peer, hash, e, verified, size))),
        }
    }
    if verified != size {
        return Err(lost(NetError::Interrupted(format!(
            "stream ended at {verified} of {size} bytes"
        ))));
    }
    Ok(data)
}

/// An answer's header: `(size, start)`, or the server's refusal.
fn read_header(
    reader: &mut LaneReader,
    peer: PeerId,
) -> Result<Result<(u64, u64), Refusal>, NetError> {
    let mut io = futures::io::AllowStdIo::new(&mut *reader);
    let header =
        futures::executor::block_on(BlobResponseHeader::read(&mut io)).map_err(|e| {
            match e.kind() {
                io::ErrorKind::TimedOut => NetError::Interrupted("no response header".into()),
                _ => NetError::Protocol {
                    peer,
                    reason: format!("bad response header: {e}"),
                },
            }
        })?;
    match header {
        BlobResponseHeader::Refused(refusal) => Ok(Err(refusal)),
        BlobResponseHeader::Ok {
            size,
            start,
            chunk_log,
        } => {
            if chunk_log != CHUNK_LOG {
                return Err(NetError::Protocol {
                    peer,
                    reason: format!("unsupported chunk group size 2^{chunk_log} KiB"),
                });
            }
            Ok(Ok((size, start)))
        }
    }
}

/// Read and discard an unwanted answer if it is short; false when the lane must close.
fn drain(reader: &mut LaneReader, hash: BlobHash, size: u64, start: u64) -> bool {
    if size.saturating_sub(start) > DRAIN_MAX {
        return false;
    }
    let root = blake3::Hash::from_bytes(hash.0);
    let ranges = ranges_from(start);
    let mut iter = DecodeResponseIter::new(root, tree(size), &mut *reader, &ranges);
    iter.all(|item| item.is_ok())
}

fn decode_error(
    peer: PeerId,
    hash: BlobHash,
    e: DecodeError,
    verified: u64,
    size: u64,
) -> NetError {
    match e {
        DecodeError::ParentHashMismatch(node) => {
            let offset = node.chunk_range().start.to_bytes();
            tracing::warn!(peer = %peer, hash = %hash, offset, "verification failed");
            NetError::Verification { peer, hash, offset }
        }
        DecodeError::LeafHashMismatch(chunk) => {
            let offset = chunk.to_bytes();
            tracing::warn!(peer = %peer, hash = %hash, offset, "verification failed");
            NetError::Verification { peer, hash, offset }
        }
        DecodeError::ParentNotFound(_) | DecodeError::LeafNotFound(_) => {
            NetError::Interrupted(format!("stream ended at {verified} of {size} bytes"))
        }
        DecodeError::Io(e) => NetError::Interrupted(format!("at {verified} of {size} bytes: {e}")),
    }
}

/// Where a lane stands after an answer was (partly) read.
enum LaneState {
    /// At the end of the answer: the next request's answer comes next.
    Boundary,
    /// Mid-answer or untrusted: the lane must be closed.
    Lost,
}

/// Why a decode stopped early, and where that leaves the lane.
type Stopped = Box<(NetError, LaneState)>;

/// The decode side of one fetch, run on a blocking thread.
struct Receive {
    peer: PeerId,
    hash: BlobHash,
    /// What was asked for.
    offset: u64,
    expected_size: Option<u64>,
    /// The checkpoint the request was based on.
    state: Option<PartState>,
    cancel: Arc<AtomicBool>,
    progress: Option<watch::Sender<u64>>,
    counters: Arc<Counters>,
}

impl Receive {
    /// Read the answer from the lane, verify and store it, pass the lane on, and make the
    /// complete file durable. Returns the path, the size and where the transfer started.
    fn run(self, turn: Turn, paths: &Paths, dir: &Path) -> Result<(PathBuf, u64, u64), NetError> {
        let Turn {
            mut reader,
            handoff,
        } = turn;
        let (size, start) = match self.header(&mut reader) {
            Ok(Ok(header)) => header,
            Ok(Err(refusal)) => {
                handoff.finish(reader);
                return Err(NetError::Refused {
                    peer: self.peer,
                    refusal,
                });
            }
            Err(e) => {
                handoff.abandon();
                return Err(e);
            }
        };
        if let Err(e) = self.check(size, start) {
            if self.drain(&mut reader, size, start) {
                handoff.finish(reader);
            } else {
                handoff.abandon();
            }
            return Err(e);
        }
        let _transfer = self.counters.transfer();
        let writer = match self.decode(&mut reader, paths, size, start) {
            Ok(writer) => {
                // The answer is read: the next request on this lane can go ahead while this
                // thread makes the file durable.
                handoff.finish(reader);
                writer
            }
            Err(stopped) => {
                let (e, lane) = *stopped;
                match lane {
                    LaneState::Boundary => handoff.finish(reader),
                    LaneState::Lost => handoff.abandon(),
                }
                return Err(e);
            }
        };
        let file = writer.into_file()?;
        file.set_len(size)?;
        file.sync_all()?;
        if let Some(p) = &self.progress {
            p.send_replace(size);
        }
        fs::rename(&paths.part, &paths.blob)?;
        let _ = fs::remove_file(&paths.state);
        sync_dir(dir)?;
        Ok((paths.blob.clone(), size, start))
    }

    /// The answer's header: `(size, start)`, or the server's refusal.
    fn header(&self, reader: &mut LaneReader) -> Result<Result<(u64, u64), Refusal>, NetError> {
        read_header(reader, self.peer)
    }

    /// Whether an `Ok` header fits what was asked.
    fn check(&self, size: u64, start: u64) -> Result<(), NetError> {
        if let Some(expected) = self.expected_size.filter(|e| *e != size) {
            return Err(NetError::SizeMismatch {
                hash: self.hash,
                expected,
                announced: size,
            });
        }
        let resume_ok = self.state.is_some_and(|s| s.size == size);
        if !start.is_multiple_of(CHUNK_GROUP_BYTES)
            || start > self.offset
            || (start > 0 && !resume_ok)
        {
            return Err(NetError::Protocol {
                peer: self.peer,
                reason: format!("server started at {start}, asked for {}", self.offset),
            });
        }
        Ok(())
    }

    /// Read and discard an unwanted answer if it is short; false when the lane must close.
    fn drain(&self, reader: &mut LaneReader, size: u64, start: u64) -> bool {
        drain(reader, self.hash, size, start)
    }

    /// Verify the bao stream group by group into the partial file.
    fn decode(
        &self,
        reader: &mut LaneReader,
        paths: &Paths,
        size: u64,
        start: u64,
    ) -> Result<SeqWriter, Stopped> {
        let local = |e: io::Error| Box::new((NetError::Io(e), LaneState::Lost));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&paths.part)
            .map_err(local)?;
        if start == 0 {
            file.set_len(0).map_err(local)?;
        }
        // Whole blocks go past the page cache where the file system allows (crates/seqfile).
        let mut writer = SeqWriter::direct(file, &paths.part, start, IO_BUF);
        // A checkpoint on disk may claim bytes this transfer rewrites: restate it first. A
        // fresh download without one skips that fsync: until the first checkpoint, a restart
        // begins at 0 anyway.
        if start > 0 || paths.state.exists() {
            checkpoint(&mut writer, paths, size, start).map_err(local)?;
        }
        let root = blake3::Hash::from_bytes(self.hash.0);
        let ranges = ranges_from(start);
        let iter = DecodeResponseIter::new(root, tree(size), &mut *reader, &ranges);
        let mut verified = start;
        let mut reported = start;
        let mut cancelled = false;
        // Durability runs behind the writes (see `Flusher`); small answers need none of it.
        let mut flusher = None;
        if size - start > SYNC_STEP {
            let handle = writer.file().try_clone().map_err(local)?;
            let started = Flusher::start(handle, paths, size, start, FLUSH_STEPS);
            flusher = Some(started.map_err(local)?);
        }
        // Stop the flusher before a checkpoint of our own, so that ours is the last one.
        let halt = |flusher: &mut Option<Flusher>| -> Result<(), Stopped> {
            flusher.take().map_or(Ok(()), Flusher::stop).map_err(local)
        };
        for item in iter {
            if !cancelled && self.cancel.load(Ordering::Relaxed) {
                halt(&mut flusher)?;
                checkpoint(&mut writer, paths, size, verified).map_err(local)?;
                if size - verified > DRAIN_MAX {
                    tracing::debug!(hash = %self.hash, verified, size, "fetch cancelled; lane closed");
                    let e = NetError::Interrupted("fetch cancelled".into());
                    return Err(Box::new((e, LaneState::Lost)));
                }
                // Read the short rest of the answer so that the lane stays usable.
                tracing::debug!(hash = %self.hash, verified, size, "fetch cancelled; rest of the answer drained");
                cancelled = true;
            }
            match item {
                Ok(BaoContentItem::Parent(_)) => {}
                Ok(BaoContentItem::Leaf(_)) if cancelled => {}
                Ok(BaoContentItem::Leaf(Leaf { offset, data })) => {
                    writer.write_at(offset, &data).map_err(local)?;
                    verified = offset + data.len() as u64;
                    if let Some(f) = &flusher {
                        f.written(writer.written()).map_err(local)?;
                    }
                    if verified - reported >= IO_BUF as u64 {
                        if let Some(p) = &self.progress {
                            p.send_replace(verified);
                        }
                        reported = verified;
                    }
                }
                Err(e) => {
                    if !cancelled {
                        halt(&mut flusher)?;
                        checkpoint(&mut writer, paths, size, verified).map_err(local)?;
                    }
                    return Err(Box::new((
                        self.decode_error(e, verified, size),
                        LaneState::Lost,
                    )));
                }
            }
        }
        halt(&mut flusher)?;
        if cancelled {
            let e = NetError::Interrupted("fetch cancelled".into());
            return Err(Box::new((e, LaneState::Boundary)));
        }
        if verified != size {
            checkpoint(&mut writer, paths, size, verified).map_err(local)?;
            let e = NetError::Interrupted(format!("stream ended at {verified} of {size} bytes"));
            return Err(Box::new((e, LaneState::Lost)));
        }
        Ok(writer)
    }

    fn decode_error(&self, e: DecodeError, verified: u64, size: u64) -> NetError {
        decode_error(self.peer, self.hash, e, verified, size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_start_rounds_down_and_clamps() {
        let g = CHUNK_GROUP_BYTES;
        assert_eq!(aligned_start(0, 100), 0);
        assert_eq!(aligned_start(g + 5, 10 * g), g);
        assert_eq!(aligned_start(10 * g, 10 * g), 9 * g);
        assert_eq!(aligned_start(0, 0), 0);
    }

    /// The flusher checkpoints while the writer keeps writing (what a crash mid-transfer
    /// resumes from), and a checkpoint never claims bytes not yet written.
    #[test]
    fn the_flusher_checkpoints_behind_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path(), &BlobHash([7; 32]));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&paths.part)
            .unwrap();
        let size = 4 << 20;
        let steps = FlushSteps {
            sync: 64 << 10,
            checkpoint: 256 << 10,
        };
        let flusher = Flusher::start(file.try_clone().unwrap(), &paths, size, 0, steps).unwrap();
        let mut writer = SeqWriter::new(file, 0, IO_BUF);
        let piece = vec![0xa5u8; 16 << 10];
        let mut offset = 0;
        while offset < size / 2 {
            writer.write_at(offset, &piece).unwrap();
            offset += piece.len() as u64;
            flusher.written(writer.written()).unwrap();
        }
        writer.flush().unwrap();
        flusher.written(writer.written()).unwrap();
        // The writer has not stopped: the checkpoint comes from the flusher alone.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let state = loop {
            if let Some(st) = read_state(&paths).filter(|st| st.verified >= steps.checkpoint) {
                break st;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint written"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(state.size, size);
        assert!(state.verified <= writer.written());
        flusher.stop().unwrap();
    }
}
