//! The `/casemesh/blob/1` protocol: serving blobs as BLAKE3-verified streams (bao-tree) and
//! fetching them into resumable partial files.
//!
//! ```text
//!  requester                                   server
//!  fetch ──open stream──► BlobRequest{hash, offset, grant} ──► BlobServer::open(peer, grant, hash)
//!                                                               │ refused → Refused header, close
//!        ◄── Ok{size, start, chunk_log} ◄──────────────────────┘
//!        ◄── bao stream: parents (64 B) + 16 KiB chunk groups from `start`, pre-order
//!  decode thread: verify each group against the tree, write verified bytes to <hash>.part,
//!  checkpoint <hash>.state every CHECKPOINT bytes (fdatasync first), at the end fsync and
//!  rename to <hash>.blob.
//! ```
//!
//! The server computes the post-order outboard of a blob once (one sequential read) and caches
//! it under `<partial_dir>/outboards/<hash>.obao`; later requests only read the data.
//! CPU work (hashing, file I/O) runs on blocking threads that talk to the libp2p stream through
//! small blocking adapters, so the async runtime keeps moving packets meanwhile.

use std::{
    cell::RefCell,
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{self, BufReader, BufWriter, Read, Write},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{
        Arc, LazyLock, Mutex, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bao_tree::{
    BaoTree, BlockSize, ChunkNum, ChunkRanges,
    io::{
        BaoContentItem, DecodeError, Leaf,
        outboard::PostOrderOutboard,
        sync::{DecodeResponseIter, ReadAt, Size, encode_ranges, outboard_post_order},
    },
};
use casemesh_model::ids::BlobHash;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, Stream, StreamProtocol};
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use crate::{
    error::{NetError, Refusal, RefusalCode},
    stats::{Counters, Stats},
    wire::{BLOB_PROTOCOL, BlobRequest, BlobResponseHeader, CHUNK_GROUP_BYTES, CHUNK_LOG},
};

/// How the node answers "may this peer read this blob?" — asked on **every** blob request.
pub trait BlobServer: Send + Sync + 'static {
    /// Check `grant` for `peer` and `hash`; return the verified blob file to serve, or a
    /// refusal that goes back to the requester. Called on a blocking thread: it may do I/O.
    fn open(&self, peer: &PeerId, grant: &[u8], hash: &BlobHash) -> Result<BlobSource, Refusal>;
}

/// A blob file the node allows to be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSource {
    /// The node's verified blob file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
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
const IO_BUF: usize = 1024 * 1024;
/// Buffer between the stream and the bao encoder/decoder.
const STREAM_BUF: usize = 256 * 1024;
/// A peer that sends or accepts nothing for this long is given up on.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Magic of the `.state` file (format version 1).
const STATE_MAGIC: &[u8; 8] = b"CMPART01";

/// State shared by fetch and serve tasks.
pub(crate) struct BlobCtx {
    pub(crate) partial_dir: PathBuf,
    pub(crate) fetch_permits: Arc<Semaphore>,
    pub(crate) serve_permits: Arc<Semaphore>,
    pub(crate) stats: Arc<Stats>,
}

impl BlobCtx {
    fn outboard_dir(&self) -> PathBuf {
        self.partial_dir.join("outboards")
    }
}

pub(crate) fn protocol() -> StreamProtocol {
    StreamProtocol::new(BLOB_PROTOCOL)
}

fn tree(size: u64) -> BaoTree {
    BaoTree::new(size, BlockSize::from_chunk_log(CHUNK_LOG))
}

fn ranges_from(start: u64) -> ChunkRanges {
    ChunkRanges::from(ChunkNum(start / 1024)..)
}

/// Round down to a chunk group; never past the last group of the blob.
fn aligned_start(offset: u64, size: u64) -> u64 {
    let last = size.saturating_sub(1);
    offset.min(last) / CHUNK_GROUP_BYTES * CHUNK_GROUP_BYTES
}

// ---------------------------------------------------------------------------------------------
// blocking adapters over the async stream

/// Sync `Read` over the libp2p stream, for a blocking thread; counts bytes; times out stalls.
struct BlockingRead {
    stream: Stream,
    rt: tokio::runtime::Handle,
    counters: Arc<Counters>,
}

impl Read for BlockingRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .rt
            .block_on(tokio::time::timeout(STALL_TIMEOUT, self.stream.read(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "peer stalled"))??;
        Counters::add(&self.counters.bytes_received, n as u64);
        Ok(n)
    }
}

/// Sync `Write` over the libp2p stream, for a blocking thread; counts bytes; times out stalls.
struct BlockingWrite {
    stream: Stream,
    rt: tokio::runtime::Handle,
    counters: Arc<Counters>,
}

impl Write for BlockingWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self
            .rt
            .block_on(tokio::time::timeout(STALL_TIMEOUT, self.stream.write(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "peer stalled"))??;
        Counters::add(&self.counters.bytes_sent, n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.rt.block_on(self.stream.flush())
    }
}

impl BlockingWrite {
    fn close(mut self) -> io::Result<()> {
        self.rt.block_on(self.stream.close())
    }
}

/// Positioned reads of a file with a 1 MiB read-ahead window, so the encoder's 16 KiB reads
/// become few large ones.
struct ReadAhead {
    file: File,
    size: u64,
    window: RefCell<(u64, Vec<u8>)>,
}

impl ReadAhead {
    fn new(file: File, size: u64) -> Self {
        Self {
            file,
            size,
            window: RefCell::new((0, Vec::with_capacity(IO_BUF))),
        }
    }
}

impl ReadAt for ReadAhead {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut w = self.window.borrow_mut();
        let (start, data) = &mut *w;
        let in_window = pos >= *start && pos + buf.len() as u64 <= *start + data.len() as u64;
        if !in_window {
            if pos >= self.size {
                return Ok(0);
            }
            let want = (self.size - pos).min(IO_BUF.max(buf.len()) as u64) as usize;
            data.resize(want, 0);
            FileExt::read_exact_at(&self.file, data, pos)?;
            *start = pos;
        }
        let from = (pos - *start) as usize;
        let n = buf.len().min(data.len() - from);
        buf[..n].copy_from_slice(&data[from..from + n]);
        Ok(n)
    }
}

impl Size for ReadAhead {
    fn size(&self) -> io::Result<Option<u64>> {
        Ok(Some(self.size))
    }
}

/// Positioned reads of the outboard file.
struct PFile(File);

impl ReadAt for PFile {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        FileExt::read_at(&self.0, buf, pos)
    }
}

/// Buffers positioned writes that are (almost always) sequential into large `pwrite`s.
struct SeqWriter<'a> {
    file: &'a File,
    pos: u64,
    buf: Vec<u8>,
}

impl<'a> SeqWriter<'a> {
    fn new(file: &'a File, pos: u64) -> Self {
        Self {
            file,
            pos,
            buf: Vec::with_capacity(IO_BUF),
        }
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset != self.pos + self.buf.len() as u64 {
            self.flush()?;
            self.pos = offset;
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= IO_BUF {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all_at(&self.buf, self.pos)?;
            self.pos += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// serving

/// Serve one inbound blob stream. Never panics on peer input; every failure is logged.
pub(crate) async fn serve(
    ctx: Arc<BlobCtx>,
    server: Arc<dyn BlobServer>,
    peer: PeerId,
    mut stream: Stream,
) {
    let span = tracing::info_span!("blob.serve", peer = %peer, hash = tracing::field::Empty);
    async move {
        let Ok(_permit) = ctx.serve_permits.clone().try_acquire_owned() else {
            let refusal = Refusal::new(RefusalCode::Busy, "too many transfers in progress");
            send_refusal(&mut stream, refusal).await;
            return;
        };
        let req = match tokio::time::timeout(STALL_TIMEOUT, BlobRequest::read(&mut stream)).await {
            Ok(Ok(req)) => req,
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                tracing::debug!(error = %e, "bad blob request");
                let refusal = Refusal::new(RefusalCode::BadRequest, e.to_string());
                send_refusal(&mut stream, refusal).await;
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "reading blob request failed");
                return;
            }
            Err(_) => {
                tracing::debug!("blob request timed out");
                return;
            }
        };
        tracing::Span::current().record("hash", tracing::field::display(&req.hash));
        let hash = req.hash;
        let opened = {
            let server = server.clone();
            tokio::task::spawn_blocking(move || server.open(&peer, &req.grant, &hash)).await
        };
        let source = match opened {
            Ok(Ok(source)) => source,
            Ok(Err(refusal)) => {
                tracing::info!(code = ?refusal.code, "blob request refused");
                send_refusal(&mut stream, refusal).await;
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "BlobServer::open panicked");
                send_refusal(
                    &mut stream,
                    Refusal::new(RefusalCode::Internal, "internal error"),
                )
                .await;
                return;
            }
        };
        if req.offset > source.size {
            let refusal = Refusal::new(RefusalCode::BadRequest, "offset beyond end of blob");
            send_refusal(&mut stream, refusal).await;
            return;
        }
        let start = aligned_start(req.offset, source.size);
        let ob_dir = ctx.outboard_dir();
        let src = source.clone();
        let outboard =
            tokio::task::spawn_blocking(move || ensure_outboard(&ob_dir, &hash, &src)).await;
        let outboard = match outboard {
            Ok(Ok(ob)) => ob,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "computing outboard failed");
                send_refusal(
                    &mut stream,
                    Refusal::new(RefusalCode::Internal, "cannot read blob"),
                )
                .await;
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "outboard task failed");
                return;
            }
        };
        let header = BlobResponseHeader::Ok {
            size: source.size,
            start,
            chunk_log: CHUNK_LOG,
        };
        if let Err(e) = stream.write_all(&header.encode()).await {
            tracing::debug!(error = %e, "writing blob header failed");
            return;
        }
        let counters = ctx.stats.peer(&peer);
        let _guard = counters.transfer();
        let rt = tokio::runtime::Handle::current();
        let res = tokio::task::spawn_blocking(move || {
            let res = encode_blocking(stream, rt, counters, &source, &outboard, hash, start);
            if outboard.temporary {
                let _ = fs::remove_file(&outboard.path);
            }
            res
        })
        .await;
        match res {
            Ok(Ok(())) => tracing::debug!(start, "blob served"),
            Ok(Err(e)) => tracing::info!(error = %e, "serving blob stopped"),
            Err(e) => tracing::error!(error = %e, "serving task failed"),
        }
    }
    .instrument(span)
    .await
}

async fn send_refusal(stream: &mut Stream, refusal: Refusal) {
    let bytes = BlobResponseHeader::Refused(refusal).encode();
    let _ = stream.write_all(&bytes).await;
    let _ = stream.close().await;
}

/// An outboard file to serve from; `temporary` ones are deleted after use.
pub(crate) struct OutboardFile {
    pub(crate) path: PathBuf,
    pub(crate) temporary: bool,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Return the cached post-order outboard of `hash`, computing it (one sequential read of the
/// blob) if absent. An outboard whose root differs from `hash` (the node's file is not what it
/// claims) is not cached; it is still used, and the requester's verification rejects the data.
pub(crate) fn ensure_outboard(
    dir: &Path,
    hash: &BlobHash,
    src: &BlobSource,
) -> io::Result<OutboardFile> {
    let tree = tree(src.size);
    let path = dir.join(format!("{}.obao", hash.to_hex()));
    if let Ok(md) = fs::metadata(&path)
        && md.len() == tree.outboard_size()
    {
        return Ok(OutboardFile {
            path,
            temporary: false,
        });
    }
    fs::create_dir_all(dir)?;
    let file = File::open(&src.path)?;
    if file.metadata()?.len() < src.size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob file shorter than its announced size",
        ));
    }
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        "{}.obao.tmp.{}.{n}",
        hash.to_hex(),
        std::process::id()
    ));
    let t0 = std::time::Instant::now();
    let mut out = BufWriter::with_capacity(IO_BUF, File::create(&tmp)?);
    let data = BufReader::with_capacity(IO_BUF, file).take(src.size);
    let root = outboard_post_order(data, tree, &mut out)?;
    tracing::info!(hash = %hash, size = src.size, ms = t0.elapsed().as_millis() as u64, "outboard computed");
    let out = out.into_inner().map_err(|e| e.into_error())?;
    out.sync_data()?;
    if root.as_bytes() == &hash.0 {
        fs::rename(&tmp, &path)?;
        Ok(OutboardFile {
            path,
            temporary: false,
        })
    } else {
        tracing::error!(hash = %hash, "blob file does not match its hash; serving it unverified");
        Ok(OutboardFile {
            path: tmp,
            temporary: true,
        })
    }
}

fn encode_blocking(
    stream: Stream,
    rt: tokio::runtime::Handle,
    counters: Arc<Counters>,
    src: &BlobSource,
    outboard: &OutboardFile,
    hash: BlobHash,
    start: u64,
) -> io::Result<()> {
    let data = ReadAhead::new(File::open(&src.path)?, src.size);
    let ob = PostOrderOutboard {
        root: blake3::Hash::from_bytes(hash.0),
        tree: tree(src.size),
        data: PFile(File::open(&outboard.path)?),
    };
    let mut out = BufWriter::with_capacity(
        STREAM_BUF,
        BlockingWrite {
            stream,
            rt,
            counters,
        },
    );
    encode_ranges(data, ob, &ranges_from(start), &mut out).map_err(io::Error::other)?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.close()
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
    mut control: libp2p_stream::Control,
    args: FetchArgs,
) -> Result<FetchedBlob, NetError> {
    let FetchArgs {
        peer,
        grant,
        hash,
        expected_size,
        progress,
    } = args;
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

    let _permit = ctx
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

    let mut stream = control
        .open_stream(peer, protocol())
        .await
        .map_err(|e| NetError::Stream {
            peer,
            reason: e.to_string(),
        })?;
    if grant.len() > crate::wire::MAX_GRANT_LEN {
        return Err(NetError::TooLarge {
            size: grant.len(),
            limit: crate::wire::MAX_GRANT_LEN,
        });
    }
    let request = BlobRequest {
        hash,
        offset,
        grant,
    }
    .encode()?;
    stream.write_all(&request).await?;
    stream.flush().await?;
    let header = tokio::time::timeout(STALL_TIMEOUT, BlobResponseHeader::read(&mut stream))
        .await
        .map_err(|_| NetError::Interrupted("no response header".into()))?
        .map_err(|e| NetError::Protocol {
            peer,
            reason: format!("bad response header: {e}"),
        })?;
    let (size, start) = match header {
        BlobResponseHeader::Refused(refusal) => return Err(NetError::Refused { peer, refusal }),
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
            (size, start)
        }
    };
    if let Some(expected) = expected_size.filter(|e| *e != size) {
        return Err(NetError::SizeMismatch {
            hash,
            expected,
            announced: size,
        });
    }
    let resume_ok = state.is_some_and(|s| s.size == size);
    if start % CHUNK_GROUP_BYTES != 0 || start > offset || (start > 0 && !resume_ok) {
        return Err(NetError::Protocol {
            peer,
            reason: format!("server started at {start}, asked for {offset}"),
        });
    }

    let counters = ctx.stats.peer(&peer);
    let guard = counters.transfer();
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let rt = tokio::runtime::Handle::current();
    let dir = ctx.partial_dir.clone();
    let job = Receive {
        reader: BlockingRead {
            stream,
            rt,
            counters,
        },
        peer,
        hash,
        size,
        start,
        cancel,
        progress,
    };
    let res = tokio::task::spawn_blocking(move || {
        // The lock and the in-flight guard live as long as the thread touches the files.
        let _lock = lock;
        let _guard = guard;
        job.run(&paths)?;
        fs::rename(&paths.part, &paths.blob)?;
        let _ = fs::remove_file(&paths.state);
        sync_dir(&dir)?;
        Ok::<_, NetError>(paths.blob)
    })
    .await
    .map_err(|e| NetError::Io(io::Error::other(e)))??;
    tracing::info!(peer = %peer, hash = %hash, size, resumed_from = start, "blob fetched");
    Ok(FetchedBlob {
        path: res,
        size,
        resumed_from: start,
        skipped: false,
    })
}

/// The decode side of one fetch, run on a blocking thread.
struct Receive {
    reader: BlockingRead,
    peer: PeerId,
    hash: BlobHash,
    size: u64,
    start: u64,
    cancel: Arc<AtomicBool>,
    progress: Option<watch::Sender<u64>>,
}

impl Receive {
    fn run(self, paths: &Paths) -> Result<(), NetError> {
        let Receive {
            reader,
            peer,
            hash,
            size,
            start,
            cancel,
            progress,
        } = self;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&paths.part)?;
        if start == 0 {
            file.set_len(0)?;
        }
        write_state(
            paths,
            PartState {
                size,
                verified: start,
            },
        )?;
        let root = blake3::Hash::from_bytes(hash.0);
        let ranges = ranges_from(start);
        let reader = BufReader::with_capacity(STREAM_BUF, reader);
        let iter = DecodeResponseIter::new(root, tree(size), reader, &ranges);
        let mut writer = SeqWriter::new(&file, start);
        let mut verified = start;
        let mut checkpointed = start;
        let mut reported = start;
        let checkpoint = |writer: &mut SeqWriter<'_>, verified: u64| -> io::Result<()> {
            writer.flush()?;
            file.sync_data()?;
            write_state(paths, PartState { size, verified })
        };
        for item in iter {
            if cancel.load(Ordering::Relaxed) {
                checkpoint(&mut writer, verified)?;
                return Err(NetError::Interrupted("fetch cancelled".into()));
            }
            match item {
                Ok(BaoContentItem::Parent(_)) => {}
                Ok(BaoContentItem::Leaf(Leaf { offset, data })) => {
                    writer.write_at(offset, &data)?;
                    verified = offset + data.len() as u64;
                    if verified - checkpointed >= CHECKPOINT {
                        checkpoint(&mut writer, verified)?;
                        checkpointed = verified;
                    }
                    if verified - reported >= IO_BUF as u64 {
                        if let Some(p) = &progress {
                            p.send_replace(verified);
                        }
                        reported = verified;
                    }
                }
                Err(e) => {
                    checkpoint(&mut writer, verified)?;
                    return Err(match e {
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
                            NetError::Interrupted(format!(
                                "stream ended at {verified} of {size} bytes"
                            ))
                        }
                        DecodeError::Io(e) => {
                            NetError::Interrupted(format!("at {verified} of {size} bytes: {e}"))
                        }
                    });
                }
            }
        }
        if verified != size {
            checkpoint(&mut writer, verified)?;
            return Err(NetError::Interrupted(format!(
                "stream ended at {verified} of {size} bytes"
            )));
        }
        writer.flush()?;
        file.set_len(size)?;
        file.sync_all()?;
        if let Some(p) = &progress {
            p.send_replace(size);
        }
        Ok(())
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
}
