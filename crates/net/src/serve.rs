//! The serving side of the blob protocol (versions 1, 2 and 3): one task per inbound stream
//! ("lane") reads requests one after the other and answers each, in order.
//!
//! ```text
//!  accept loop ──(peer, stream, version)──► serve_lane   (≤ MAX_LANES_PER_PEER per partner
//!                                                         open; up to MAX_WAITING_LANES more
//!                                                         wait their turn, Busy after SLOT_WAIT)
//!    loop: wait for the next request (no timeout while the lane is idle; REQUEST_TIMEOUT
//!          from its first byte to its last)
//!      ─► ServeLimits: this partner's slot (max_serves_per_peer), then a global slot
//!         (max_concurrent_serves); first come first served; Busy after SLOT_WAIT
//!      ─► blocking thread: BlobServer::open (the permission check, on every request)
//!         ─► outboard: computed in memory for blobs ≤ SMALL_BLOB, else the store's own
//!            (BlobSource::outboard, checked), else the cached file (computed once)
//!         ─► header + bao stream from `start`
//!    version 1: close after the first answer; versions 2 and 3: next request
//!  version 3 batch (BlobBatchRequest): one slot for the whole batch ─► blocking thread:
//!      BlobServer::open_batch (grant checked once, audit entries in one transaction)
//!      ─► one answer per hash, in order (a refusal answers only its hash)
//! ```
//!
//! The blocking thread writes to the stream through a small blocking adapter, so hashing and
//! file reads never stall the async runtime.
//!
//! Withdrawn blobs: a [`BlobSource`] may carry a cancellation token (cancelled when its share is
//! stopped). It is looked at before the answer starts, while the outboard is computed, and by
//! every write of the answer, including one waiting for the requester's flow-control window:
//!
//! - cancelled before any byte of the answer was written: the request is refused (`Forbidden`,
//!   "the share was stopped") like any other; the lane stays open for the requests behind it.
//! - cancelled mid-answer: the bao stream has no way to end early (its length follows from the
//!   `Ok` header; a refusal cannot come in its middle), so no further byte is written and the
//!   lane is closed (FIN) after the bytes already sent; the requester sees the answer end early
//!   (`NetError::Interrupted`). Requests the requester had queued behind it on that lane are
//!   not answered here; the requester sends them again on another lane (`lane.rs`). Other
//!   lanes, and so other transfers on the same connection, go on untouched. A version 1
//!   stream is closed the same way.

use std::{
    cell::RefCell,
    collections::HashMap,
    fs::{self, File},
    io::{self, BufReader, BufWriter, Read, Write},
    os::unix::fs::FileExt,
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bao_tree::{
    BaoTree, BlockSize,
    io::{
        outboard::{PostOrderMemOutboard, PostOrderOutboard},
        sync::{ReadAt, Size, encode_ranges, outboard_post_order},
    },
};
use casemesh_model::ids::BlobHash;
use futures::{
    AsyncBufReadExt, AsyncReadExt, AsyncWriteExt,
    io::{BufReader as AsyncBufReader, WriteHalf},
};
use libp2p::{PeerId, Stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    blob::{BlobCtx, BlobServer, BlobSource, IO_BUF, STREAM_BUF, aligned_start, ranges_from, tree},
    error::{Refusal, RefusalCode},
    stats::Counters,
    wire::{
        BlobBatchRequest, BlobProtocolVersion, BlobRequest, BlobResponseHeader, CHUNK_LOG,
        LaneRequest,
    },
};

/// Blobs up to this size are read into memory and their outboard computed on the spot (a few
/// microseconds of hashing) instead of reading, or first writing and fsyncing, a cached
/// outboard file: a small item costs its bytes, not file-system round trips.
pub(crate) const SMALL_BLOB: u64 = 256 * 1024;
/// Inbound lanes one partner may have served at once. A further lane waits, first come first
/// served, for one of them to close (a version 1 requester opens one stream per blob, so a burst
/// of them is normal and must queue, not fail); it is answered `Busy` and closed after
/// [`SLOT_WAIT`], or at once when [`MAX_WAITING_LANES`] already wait. Honest requesters open
/// `Config::blob_lanes_per_peer` (default 4) version 2 or 3 lanes.
pub(crate) const MAX_LANES_PER_PEER: usize = 16;
/// Inbound lanes of one partner that may wait for a free lane; each costs one task and one
/// stream. Beyond this a lane is answered `Busy` at once: a partner opening streams without
/// end gets refusals, not memory.
pub(crate) const MAX_WAITING_LANES: usize = 256;
/// How long a request waits for a serve slot before it is answered `Busy`. Well below the
/// requester's stall timeout, so the requester hears `Busy` instead of timing out.
const SLOT_WAIT: Duration = Duration::from_secs(30);
/// Read buffer of a lane's request side (requests are small; grants at most 64 KiB).
const REQUEST_BUF: usize = 8 * 1024;
/// How long a request may take to arrive whole, from its first byte. A request is at most
/// [`crate::wire::MAX_V3_REQUEST`] (~72 KiB) and an honest requester writes it at once, so this
/// only ends lanes that drip a request (a hostile partner sending a byte a second would hold
/// the lane for minutes). Issue #16 item 3; was the 60 s stall timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an answer may wait for the requester to take any byte before the lane is dropped
/// and its serve slot freed. A requester reads as it verifies; 30 s covers a checkpoint fsync
/// on a slow disk. A requester that never reads holds one of its partner's slots this long,
/// not for ever (issue #16 item 3; was 60 s, the requester's own stall timeout).
const SERVE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// limits

/// How many blob requests are served at once, in total and per partner, and how many lanes a
/// partner may hold open.
///
/// Fairness: a request first waits for one of its partner's `per_peer` permits, then for a
/// global one. Tokio's semaphores hand out permits in arrival order, so requests are served
/// first come first served, and no partner has more than `per_peer` requests running or queued
/// for a global slot: one partner cannot hold, or crowd out, every slot.
pub(crate) struct ServeLimits {
    global: Arc<Semaphore>,
    per_peer: usize,
    peers: Mutex<HashMap<PeerId, PeerServes>>,
}

/// One partner's share: its slots, its lane permits, and how many lanes it has open or
/// waiting.
struct PeerServes {
    slots: Arc<Semaphore>,
    lane_permits: Arc<Semaphore>,
    lanes: usize,
}

impl ServeLimits {
    pub(crate) fn new(global: usize, per_peer: usize) -> Arc<Self> {
        Arc::new(Self {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_peer: per_peer.max(1),
            peers: Mutex::new(HashMap::new()),
        })
    }

    /// Register a lane of `peer` and wait, first come first served, until fewer than
    /// [`MAX_LANES_PER_PEER`] of its lanes are served. `None` (answer `Busy`) when
    /// [`MAX_WAITING_LANES`] lanes of this partner already wait, after [`SLOT_WAIT`], or when
    /// `stop` is cancelled.
    async fn open_lane(
        self: &Arc<Self>,
        peer: PeerId,
        stop: &CancellationToken,
    ) -> Option<LaneSlots> {
        let (lane_permits, slots) = {
            let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
            let entry = peers.entry(peer).or_insert_with(|| PeerServes {
                slots: Arc::new(Semaphore::new(self.per_peer)),
                lane_permits: Arc::new(Semaphore::new(MAX_LANES_PER_PEER)),
                lanes: 0,
            });
            if entry.lanes >= MAX_LANES_PER_PEER + MAX_WAITING_LANES {
                return None;
            }
            entry.lanes += 1;
            (entry.lane_permits.clone(), entry.slots.clone())
        };
        // Counted from here on: dropping `lane` (also on the early returns below) unregisters it.
        let mut lane = LaneSlots {
            limits: self.clone(),
            peer,
            slots,
            _lane: None,
        };
        let permit = tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            permit = tokio::time::timeout(SLOT_WAIT, lane_permits.acquire_owned()) => permit.ok()?.ok()?,
        };
        lane._lane = Some(permit);
        Some(lane)
    }
}

/// A lane's access to the serve slots; unregisters the lane (and frees its lane permit) when
/// dropped.
struct LaneSlots {
    limits: Arc<ServeLimits>,
    peer: PeerId,
    slots: Arc<Semaphore>,
    /// Held while the lane is served; `None` while it waits for one.
    _lane: Option<OwnedSemaphorePermit>,
}

/// Held while one request is served.
struct Slot {
    _peer: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

impl LaneSlots {
    /// Wait (fairly) for this partner's slot and a global one; `None` after [`SLOT_WAIT`].
    async fn acquire(&self) -> Option<Slot> {
        let wait = async {
            let peer = self.slots.clone().acquire_owned().await.ok()?;
            let global = self.limits.global.clone().acquire_owned().await.ok()?;
            Some(Slot {
                _peer: peer,
                _global: global,
            })
        };
        tokio::time::timeout(SLOT_WAIT, wait).await.ok().flatten()
    }
}

impl Drop for LaneSlots {
    fn drop(&mut self) {
        let mut peers = self.limits.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = peers.get_mut(&self.peer) {
            entry.lanes -= 1;
            if entry.lanes == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the lane loop

/// Serve one inbound stream until the requester closes it (version 2) or after one answer
/// (version 1). Never panics on peer input; every failure is logged and closes the lane.
pub(crate) async fn serve_lane(
    ctx: Arc<BlobCtx>,
    server: Arc<dyn BlobServer>,
    peer: PeerId,
    mut stream: Stream,
    version: BlobProtocolVersion,
    stop: CancellationToken,
) {
    let span = tracing::debug_span!("blob.lane", peer = %peer, ?version);
    async move {
        let Some(slots) = ctx.serve_limits.open_lane(peer, &stop).await else {
            tracing::info!("too many blob lanes from this partner; lane refused");
            let refusal =
                Refusal::new(RefusalCode::Busy, "too many blob streams from this partner");
            let bytes = BlobResponseHeader::Refused(refusal).encode();
            let _ = bounded(async {
                stream.write_all(&bytes).await?;
                stream.close().await
            })
            .await;
            return;
        };
        let (read, mut write) = stream.split();
        let mut requests = AsyncBufReader::with_capacity(REQUEST_BUF, read);
        let mut answered = 0u64;
        loop {
            // Idle until the next request (or the end of the lane): no timeout here, a lane
            // lives as long as the connection.
            let more = tokio::select! {
                biased;
                _ = stop.cancelled() => false,
                buf = requests.fill_buf() => matches!(buf, Ok(b) if !b.is_empty()),
            };
            if !more {
                break;
            }
            let read = async {
                match version {
                    BlobProtocolVersion::V3 => LaneRequest::read(&mut requests).await,
                    _ => BlobRequest::read(&mut requests).await.map(LaneRequest::One),
                }
            };
            let req = match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
                Ok(Ok(req)) => req,
                Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    // The framing is lost: answer once and close the lane.
                    tracing::debug!(error = %e, "bad blob request");
                    let refusal = Refusal::new(RefusalCode::BadRequest, e.to_string());
                    let bytes = BlobResponseHeader::Refused(refusal).encode();
                    let _ = bounded(write.write_all(&bytes)).await;
                    break;
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "reading blob request failed");
                    break;
                }
                Err(_) => {
                    tracing::debug!("blob request timed out");
                    break;
                }
            };
            let next = match req {
                LaneRequest::One(req) => {
                    serve_request(&ctx, &server, peer, &slots, req, write).await
                }
                LaneRequest::Batch(batch) => {
                    serve_batch(&ctx, &server, peer, &slots, batch, write).await
                }
            };
            let close = match next {
                Next::Ready(w) => {
                    write = w;
                    false
                }
                Next::Close(w) => {
                    write = w;
                    true
                }
                // The stream failed mid-answer; dropping it is all that is left to do.
                Next::Gone => return,
            };
            answered += 1;
            if close || version == BlobProtocolVersion::V1 {
                break;
            }
        }
        let _ = bounded(write.close()).await;
        tracing::debug!(answered, "blob lane closed");
    }
    .instrument(span)
    .await
}

/// A write or close of a lane outside an answer (refusals, the final close), given up after
/// [`SERVE_STALL_TIMEOUT`] like an answer's writes: a requester that reads nothing cannot keep
/// a lane, and the task serving it, for ever.
async fn bounded(op: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    tokio::time::timeout(SERVE_STALL_TIMEOUT, op)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "peer stalled")))
}

/// What a request got.
enum Answer {
    Refused(RefusalCode),
    Served {
        size: u64,
        start: u64,
    },
    /// The blob was withdrawn (its [`BlobSource::cancel`] fired) after `sent` bytes of the
    /// answer had been written: the answer is cut short, the lane must close.
    Stopped {
        sent: u64,
    },
}

/// Where a lane stands after one answer.
enum Next {
    /// At an answer boundary: the next request can be answered.
    Ready(WriteHalf<Stream>),
    /// The answer was cut short on purpose: close the lane cleanly.
    Close(WriteHalf<Stream>),
    /// The stream failed.
    Gone,
}

/// Why a withdrawn blob is no longer served (the reason of its refusal).
const STOPPED: &str = "the share was stopped";

/// Answer one request; says whether the lane can carry the next one.
async fn serve_request(
    ctx: &Arc<BlobCtx>,
    server: &Arc<dyn BlobServer>,
    peer: PeerId,
    slots: &LaneSlots,
    req: BlobRequest,
    write: WriteHalf<Stream>,
) -> Next {
    let span = tracing::info_span!("blob.serve", peer = %peer, hash = %req.hash);
    async move {
        let (ctx2, server) = (ctx.clone(), server.clone());
        run_answers(ctx, peer, slots, write, 1, move |out| {
            respond(&ctx2, &*server, &peer, &req, out)
        })
        .await
    }
    .instrument(span)
    .await
}

/// Answer a batched request (version 3): every hash gets its answer, in order. The grant is
/// checked once for the batch ([`BlobServer::open_batch`]), and the batch holds one serve
/// slot. An invalid batch (no hash, too many, one named twice) gets a `BadRequest` refusal
/// per hash; the lane stays usable.
async fn serve_batch(
    ctx: &Arc<BlobCtx>,
    server: &Arc<dyn BlobServer>,
    peer: PeerId,
    slots: &LaneSlots,
    batch: BlobBatchRequest,
    mut write: WriteHalf<Stream>,
) -> Next {
    let count = batch.hashes.len();
    let span = tracing::info_span!("blob.serve_batch", peer = %peer, count);
    async move {
        if let Err(why) = batch.check() {
            tracing::info!(reason = why, "bad batched blob request; every hash refused");
            let refusal =
                BlobResponseHeader::Refused(Refusal::new(RefusalCode::BadRequest, why)).encode();
            let bytes = refusal.repeat(count);
            return match bounded(write.write_all(&bytes)).await {
                Ok(()) => Next::Ready(write),
                Err(_) => Next::Gone,
            };
        }
        let (ctx2, server) = (ctx.clone(), server.clone());
        run_answers(ctx, peer, slots, write, count, move |out| {
            respond_batch(&ctx2, &*server, &peer, &batch, out)
        })
        .await
    }
    .instrument(span)
    .await
}

/// Wait for a serve slot (else answer `Busy` `count` times), then run `answer` on a blocking
/// thread with the lane's write half; says whether the lane can carry the next request.
async fn run_answers(
    ctx: &Arc<BlobCtx>,
    peer: PeerId,
    slots: &LaneSlots,
    mut write: WriteHalf<Stream>,
    count: usize,
    answer: impl FnOnce(&mut BlockingWrite) -> io::Result<Answer> + Send + 'static,
) -> Next {
    {
        let Some(slot) = slots.acquire().await else {
            tracing::info!("no serve slot free in time; answered Busy");
            let refusal = Refusal::new(RefusalCode::Busy, "too many transfers in progress");
            let bytes = BlobResponseHeader::Refused(refusal).encode().repeat(count);
            return match bounded(write.write_all(&bytes)).await {
                Ok(()) => Next::Ready(write),
                Err(_) => Next::Gone,
            };
        };
        let counters = ctx.stats.peer(&peer);
        let send_rate = ctx.send_rate.clone();
        let rt = tokio::runtime::Handle::current();
        // On the net layer's tracker, not a bare blocking task: the lane task awaiting it is
        // aborted when the node stops, but the answer (which may write audit entries through
        // `BlobServer::open`) runs to its end, and `NetHandle::stopped` waits for it, so the
        // node's final flush never runs beside it (issue #9).
        let done = ctx
            .tasks
            .spawn_blocking(move || {
                let _slot = slot;
                let mut out = BlockingWrite::new(write, rt, counters, send_rate);
                let res = answer(&mut out);
                (res, out.into_half())
            })
            .await;
        match done {
            Ok((Ok(_), None)) => {
                tracing::info!("blob stream lost after the answer");
                Next::Gone
            }
            Ok((Ok(Answer::Served { size, start }), Some(write))) => {
                tracing::debug!(size, start, "blob served");
                Next::Ready(write)
            }
            Ok((Ok(Answer::Refused(code)), Some(write))) => {
                tracing::debug!(?code, "blob request refused");
                Next::Ready(write)
            }
            Ok((Ok(Answer::Stopped { sent }), Some(write))) => {
                tracing::info!(
                    sent,
                    "blob withdrawn mid-answer (share stopped); lane closed"
                );
                Next::Close(write)
            }
            Ok((Err(e), _)) => {
                tracing::info!(error = %e, "serving blob stopped");
                Next::Gone
            }
            Err(e) => {
                tracing::error!(error = %e, "serving task failed");
                Next::Gone
            }
        }
    }
}

/// Check the request with the node, then write the header and the bao stream. An `Err` means
/// the stream failed mid-answer (the lane must close); a refusal is an `Ok`, and so is an
/// answer cut short because the blob was withdrawn ([`Answer::Stopped`]).
fn respond(
    ctx: &BlobCtx,
    server: &dyn BlobServer,
    peer: &PeerId,
    req: &BlobRequest,
    out: &mut BlockingWrite,
) -> io::Result<Answer> {
    let hash = req.hash;
    let opened =
        std::panic::catch_unwind(AssertUnwindSafe(|| server.open(peer, &req.grant, &hash)));
    let source = match opened {
        Ok(Ok(source)) => source,
        Ok(Err(refusal)) => {
            tracing::info!(code = ?refusal.code, "blob request refused");
            return refuse(out, refusal);
        }
        Err(_) => {
            tracing::error!("BlobServer::open panicked");
            return refuse(out, Refusal::new(RefusalCode::Internal, "internal error"));
        }
    };
    answer(ctx, req.hash, req.offset, &source, out)
}

/// Check a batch with the node once, then answer each hash in order. Ends early only when the
/// stream fails or a blob is withdrawn mid-answer ([`Answer::Stopped`]: the lane closes).
fn respond_batch(
    ctx: &BlobCtx,
    server: &dyn BlobServer,
    peer: &PeerId,
    batch: &BlobBatchRequest,
    out: &mut BlockingWrite,
) -> io::Result<Answer> {
    let opened = std::panic::catch_unwind(AssertUnwindSafe(|| {
        server.open_batch(peer, &batch.grant, &batch.hashes)
    }));
    let sources = match opened {
        Ok(sources) if sources.len() == batch.hashes.len() => sources,
        Ok(_) => {
            tracing::error!("BlobServer::open_batch answered the wrong number of hashes");
            let internal = Refusal::new(RefusalCode::Internal, "internal error");
            batch.hashes.iter().map(|_| Err(internal.clone())).collect()
        }
        Err(_) => {
            tracing::error!("BlobServer::open_batch panicked");
            let internal = Refusal::new(RefusalCode::Internal, "internal error");
            batch.hashes.iter().map(|_| Err(internal.clone())).collect()
        }
    };
    let (mut served, mut bytes) = (0u64, 0u64);
    for (hash, source) in batch.hashes.iter().zip(sources) {
        let answered = match source {
            Ok(source) => answer(ctx, *hash, 0, &source, out)?,
            Err(refusal) => {
                tracing::debug!(hash = %hash, code = ?refusal.code, "blob of a batch refused");
                refuse(out, refusal)?
            }
        };
        match answered {
            Answer::Served { size, .. } => {
                served += 1;
                bytes += size;
            }
            Answer::Refused(_) => {}
            stopped @ Answer::Stopped { .. } => return Ok(stopped),
        }
    }
    tracing::debug!(served, bytes, "batch answered");
    Ok(Answer::Served {
        size: bytes,
        start: 0,
    })
}

/// Write the answer for `source` (allowed by the node): header and bao stream from `offset`.
fn answer(
    ctx: &BlobCtx,
    hash: BlobHash,
    offset: u64,
    source: &BlobSource,
    out: &mut BlockingWrite,
) -> io::Result<Answer> {
    if source.is_cancelled() {
        tracing::info!("blob withdrawn before its answer; refused");
        return refuse(out, Refusal::forbidden(STOPPED));
    }
    if offset > source.size {
        let refusal = Refusal::new(RefusalCode::BadRequest, "offset beyond end of blob");
        return refuse(out, refusal);
    }
    let start = aligned_start(offset, source.size);
    let header = BlobResponseHeader::Ok {
        size: source.size,
        start,
        chunk_log: CHUNK_LOG,
    }
    .encode();
    let counters = out.counters.clone();
    let stopped = if source.size <= SMALL_BLOB {
        let data = match read_small(source) {
            Ok(data) => data,
            Err(e) => {
                tracing::error!(error = %e, "reading blob failed");
                return refuse(out, Refusal::new(RefusalCode::Internal, "cannot read blob"));
            }
        };
        let outboard = PostOrderMemOutboard::create(&data, BlockSize::from_chunk_log(CHUNK_LOG));
        if outboard.root.as_bytes() != &hash.0 {
            tracing::error!(hash = %hash, "blob file does not match its hash; serving it unverified");
        }
        let mut buf =
            Vec::with_capacity(header.len() + (source.size - start) as usize + outboard.data.len());
        buf.extend_from_slice(&header);
        encode_ranges(&data[..], &outboard, &ranges_from(start), &mut buf)
            .map_err(io::Error::other)?;
        let _transfer = counters.transfer();
        out.begin(source);
        let res = out.write_all(&buf).and_then(|()| out.flush());
        out.end(res)?
    } else {
        let outboard = match ensure_outboard(&ctx.outboard_dir(), &hash, source) {
            Ok(ob) => ob,
            Err(_) if source.is_cancelled() => {
                tracing::info!("blob withdrawn while its outboard was computed; refused");
                return refuse(out, Refusal::forbidden(STOPPED));
            }
            Err(e) => {
                tracing::error!(error = %e, "computing outboard failed");
                return refuse(out, Refusal::new(RefusalCode::Internal, "cannot read blob"));
            }
        };
        let _transfer = counters.transfer();
        out.begin(source);
        let res = encode_file(out, &header, source, &outboard, hash, start);
        if outboard.temporary {
            let _ = fs::remove_file(&outboard.path);
        }
        out.end(res)?
    };
    if let Some(sent) = stopped {
        if sent == 0 {
            // Nothing of the answer went out: a plain refusal keeps the lane in step.
            tracing::info!("blob withdrawn before its answer; refused");
            return refuse(out, Refusal::forbidden(STOPPED));
        }
        return Ok(Answer::Stopped { sent });
    }
    Ok(Answer::Served {
        size: source.size,
        start,
    })
}

fn refuse(out: &mut BlockingWrite, refusal: Refusal) -> io::Result<Answer> {
    let code = refusal.code;
    out.write_all(&BlobResponseHeader::Refused(refusal).encode())?;
    out.flush()?;
    Ok(Answer::Refused(code))
}

fn read_small(src: &BlobSource) -> io::Result<Vec<u8>> {
    let mut data = vec![0u8; src.size as usize];
    open_data(src)?.read_exact(&mut data)?;
    Ok(data)
}

/// A sequential reader of the source's bytes from its start: the file, or the remote
/// source's windows.
fn open_data(src: &BlobSource) -> io::Result<Box<dyn Read + Send>> {
    match &src.remote {
        None => Ok(Box::new(File::open(&src.path)?)),
        Some(r) => Ok(Box::new(RemoteRead {
            reader: r.clone(),
            pos: 0,
        })),
    }
}

/// Sequential `Read` over a [`crate::RangeRead`] (one read per call; callers buffer).
struct RemoteRead {
    reader: Arc<dyn crate::RangeRead>,
    pos: u64,
}

impl Read for RemoteRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn encode_file(
    out: &mut BlockingWrite,
    header: &[u8],
    src: &BlobSource,
    outboard: &OutboardFile,
    hash: BlobHash,
    start: u64,
) -> io::Result<()> {
    let data = match &src.remote {
        None => ReadAhead::new(Data::File(File::open(&src.path)?), src.size, IO_BUF),
        Some(r) => ReadAhead::new(Data::Remote(r.clone()), src.size, crate::REMOTE_WINDOW),
    };
    let ob = PostOrderOutboard {
        root: blake3::Hash::from_bytes(hash.0),
        tree: tree(src.size),
        data: PFile(File::open(&outboard.path)?),
    };
    // `out` buffers by itself (SEND_CHUNK) and drops what it holds when the answer fails: no
    // `BufWriter` here, whose drop would flush into a stalled stream and wait a whole stall
    // timeout more (found by tests/tests/hostile_streams.rs).
    out.write_all(header)?;
    encode_ranges(data, ob, &ranges_from(start), &mut *out).map_err(io::Error::other)?;
    out.flush()
}

// ---------------------------------------------------------------------------------------------
// blocking adapters

/// Bytes the blocking thread hands to the stream at once (see [`BlockingWrite`]).
const SEND_CHUNK: usize = STREAM_BUF;

/// What one write task hands back: the write half, its (now empty) buffer, how many of the
/// buffer's bytes the stream took, and how the writes ended.
type Sent = (WriteHalf<Stream>, Vec<u8>, u64, io::Result<()>);

/// Sync `Write` over a lane's write half, for a blocking thread; counts bytes; times out
/// stalls ([`SERVE_STALL_TIMEOUT`]); stops at once when the blob being written is withdrawn.
///
/// Bytes are gathered into a [`SEND_CHUNK`] buffer; a full buffer is written to the stream by
/// a task on the async runtime while the blocking thread fills a second one (double
/// buffering). Yamux takes at most 16 KiB per write (one frame) and queues ten frames per
/// stream, so writing from the blocking thread itself parked and woke that thread once per
/// frame (64 Ki wake-ups per GiB, a third of the server's CPU in `perf`); the task runs next
/// to the connection's task on the runtime's worker and the blocking thread waits once per
/// chunk. See docs/protocol.md, "Transfer benchmark".
struct BlockingWrite {
    /// The write half while no task holds it (`None` after a task failed to come back).
    half: Option<WriteHalf<Stream>>,
    /// The write of the previous chunk, running on the runtime.
    pending: Option<tokio::task::JoinHandle<Sent>>,
    /// Bytes not yet handed to a task.
    buf: Vec<u8>,
    /// The buffer the running task will give back, reused for the next chunk.
    spare: Vec<u8>,
    rt: tokio::runtime::Handle,
    counters: Arc<Counters>,
    /// The node-wide send-rate limit each chunk waits for (`[p2p] max_send_rate`).
    send_rate: Option<Arc<crate::throttle::SendRate>>,
    /// The cancellation signal of the blob whose answer is being written, between
    /// [`BlockingWrite::begin`] and [`BlockingWrite::end`]; a token nobody cancels otherwise
    /// (refusals are always written whole).
    cancel: CancellationToken,
    /// Bytes of the current answer the stream has taken: 0 means the requester has not seen
    /// its first byte, so a refusal can still take its place.
    written: u64,
    /// The first failure of a write task; every later write fails with it.
    failed: Option<io::ErrorKind>,
}

impl BlockingWrite {
    fn new(
        half: WriteHalf<Stream>,
        rt: tokio::runtime::Handle,
        counters: Arc<Counters>,
        send_rate: Option<Arc<crate::throttle::SendRate>>,
    ) -> Self {
        Self {
            half: Some(half),
            pending: None,
            buf: Vec::with_capacity(SEND_CHUNK),
            spare: Vec::with_capacity(SEND_CHUNK),
            rt,
            counters,
            send_rate,
            cancel: CancellationToken::new(),
            written: 0,
            failed: None,
        }
    }

    /// The answer for `source` starts: from now on a write fails as soon as its signal fires.
    fn begin(&mut self, source: &BlobSource) {
        self.cancel = source.cancel.clone().unwrap_or_default();
        self.written = 0;
    }

    /// The answer's writes are over. A failure caused by the blob's signal becomes
    /// `Ok(Some(bytes of the answer written))`; any other failure is returned as it is.
    fn end(&mut self, res: io::Result<()>) -> io::Result<Option<u64>> {
        let res = match res {
            // Bytes of a failed answer still buffered are never sent.
            Err(e) => {
                self.buf.clear();
                let _ = self.settle();
                Err(e)
            }
            Ok(()) => Ok(()),
        };
        let cancel = std::mem::take(&mut self.cancel);
        match res {
            Ok(()) => Ok(None),
            Err(_) if cancel.is_cancelled() => Ok(Some(self.written)),
            Err(e) => Err(e),
        }
    }

    /// Wait for the running write task, if any, and take back the write half and its buffer.
    fn settle(&mut self) -> io::Result<()> {
        if let Some(task) = self.pending.take() {
            match self.rt.block_on(task) {
                Ok((half, mut buf, taken, res)) => {
                    self.half = Some(half);
                    buf.clear();
                    self.spare = buf;
                    self.written += taken;
                    if let Err(e) = &res {
                        self.failed = Some(e.kind());
                    }
                    res?;
                }
                Err(e) => {
                    self.failed = Some(io::ErrorKind::Other);
                    return Err(io::Error::other(e));
                }
            }
        }
        match self.failed {
            Some(kind) => Err(io::Error::new(kind, "blob stream failed")),
            None => Ok(()),
        }
    }

    /// Hand the buffered bytes to a write task (after the previous one is done); with `flush`,
    /// the task flushes the stream afterwards.
    fn send(&mut self, flush: bool) -> io::Result<()> {
        self.settle()?;
        if self.buf.is_empty() && !flush {
            return Ok(());
        }
        let Some(mut half) = self.half.take() else {
            return Err(io::Error::other("blob stream gone"));
        };
        let buf = std::mem::replace(&mut self.buf, std::mem::take(&mut self.spare));
        let (cancel, counters) = (self.cancel.clone(), self.counters.clone());
        let send_rate = self.send_rate.clone();
        self.pending = Some(self.rt.spawn(async move {
            let mut taken = 0usize;
            let res = async {
                if let Some(rate) = &send_rate {
                    // Waiting for the rate is not a stall of the requester, but a stop ends it.
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return Err(io::Error::other(STOPPED)),
                        _ = rate.admit(buf.len()) => {}
                    }
                }
                while taken < buf.len() {
                    // The stall timeout runs per write: it bounds a wait for progress.
                    let n = guarded(&cancel, half.write(&buf[taken..])).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    taken += n;
                    Counters::add(&counters.bytes_sent, n as u64);
                }
                if flush {
                    guarded(&cancel, half.flush()).await?;
                }
                Ok(())
            }
            .await;
            (half, buf, taken as u64, res)
        }));
        Ok(())
    }

    /// Wait for every write, then give back the write half (`None`: the stream is lost).
    fn into_half(mut self) -> Option<WriteHalf<Stream>> {
        self.buf.clear();
        let _ = self.settle();
        self.half.take()
    }
}

/// The write task is owned by its writer: every path settles it ([`BlockingWrite::settle`]), and
/// a writer dropped without that (the answer panicked) aborts it, so no write outlives the
/// blocking task that the node's shutdown waits for (issue #9: every spawned task is owned).
impl Drop for BlockingWrite {
    fn drop(&mut self) {
        if let Some(task) = self.pending.take() {
            task.abort();
        }
    }
}

/// `op` on the stream, unless `cancel` fires first (then nothing was written) or the requester
/// takes nothing for [`SERVE_STALL_TIMEOUT`].
async fn guarded<T>(
    cancel: &CancellationToken,
    op: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(io::Error::other(STOPPED)),
        res = tokio::time::timeout(SERVE_STALL_TIMEOUT, op) => {
            res.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "peer stalled"))?
        }
    }
}

impl Write for BlockingWrite {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(io::Error::new(kind, "blob stream failed"));
        }
        if self.cancel.is_cancelled() {
            return Err(io::Error::other(STOPPED));
        }
        let n = data.len().min(SEND_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= SEND_CHUNK {
            self.send(false)?;
        }
        Ok(n)
    }

    /// Hand over what is buffered and wait until the stream has taken all of it.
    fn flush(&mut self) -> io::Result<()> {
        self.send(true)?;
        self.settle()
    }
}

/// Sync `Read` of a blob file that fails once the blob is withdrawn, so computing the outboard
/// of a large blob (a few seconds per GiB) stops too.
struct CancellableRead<'a> {
    file: Box<dyn Read + Send>,
    cancel: Option<&'a CancellationToken>,
}

impl Read for CancellableRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_some_and(CancellationToken::is_cancelled) {
            return Err(io::Error::other(STOPPED));
        }
        self.file.read(buf)
    }
}

/// Where [`ReadAhead`] reads its windows from.
enum Data {
    /// The blob file (positioned reads).
    File(File),
    /// A remote source (one ranged read per window).
    Remote(Arc<dyn crate::RangeRead>),
}

impl Data {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        match self {
            Data::File(f) => FileExt::read_exact_at(f, buf, pos),
            Data::Remote(r) => {
                let mut done = 0;
                while done < buf.len() {
                    let n = r.read_at(pos + done as u64, &mut buf[done..])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "remote blob shorter than its announced size",
                        ));
                    }
                    done += n;
                }
                Ok(())
            }
        }
    }
}

/// Positioned reads of a blob with a read-ahead window (1 MiB for a file, [`crate::REMOTE_WINDOW`]
/// for a remote source), so the encoder's 16 KiB reads become few large ones.
struct ReadAhead {
    file: Data,
    size: u64,
    window_size: usize,
    window: RefCell<(u64, Vec<u8>)>,
}

impl ReadAhead {
    fn new(file: Data, size: u64, window_size: usize) -> Self {
        Self {
            file,
            size,
            window_size,
            window: RefCell::new((0, Vec::with_capacity(window_size))),
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
            let want = (self.size - pos).min(self.window_size.max(buf.len()) as u64) as usize;
            data.resize(want, 0);
            self.file.read_exact_at(data, pos)?;
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

// ---------------------------------------------------------------------------------------------
// outboards

/// An outboard file to serve from; `temporary` ones are deleted after use.
pub(crate) struct OutboardFile {
    pub(crate) path: PathBuf,
    pub(crate) temporary: bool,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Outboards computed from a blob's bytes by this process (for tests).
pub(crate) static OUTBOARDS_COMPUTED: AtomicU64 = AtomicU64::new(0);

/// The lock of one outboard file across the process (held while it is computed).
fn outboard_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: std::sync::LazyLock<Mutex<HashMap<PathBuf, std::sync::Weak<Mutex<()>>>>> =
        std::sync::LazyLock::new(Default::default);
    let mut map = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lock) = map.get(path).and_then(std::sync::Weak::upgrade) {
        return lock;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let lock = Arc::new(Mutex::new(()));
    map.insert(path.to_path_buf(), Arc::downgrade(&lock));
    lock
}

/// Return the post-order outboard of `hash` to serve from: the one its store keeps
/// ([`BlobSource::outboard`]) when it checks out, else the cached one in `dir`, computing that
/// (one sequential read of the blob) if absent. An outboard whose root differs from `hash` (the
/// node's file is not what it claims) is not cached; it is still used, and the requester's
/// verification rejects the data.
pub(crate) fn ensure_outboard(
    dir: &Path,
    hash: &BlobHash,
    src: &BlobSource,
) -> io::Result<OutboardFile> {
    let tree = tree(src.size);
    if let Some(ob) = stored_outboard(hash, src, tree) {
        return Ok(ob);
    }
    let path = dir.join(format!("{}.obao", hash.to_hex()));
    // The cache is checked like the store's own outboard on every use: a cached file damaged
    // after it was written would otherwise be served, every range would fail the requester's
    // verification, and the share would never complete (found by a newcomer's attack). A bad
    // one is computed again below (and replaced by the rename).
    let cached = || checked_outboard(hash, &path, tree, "cached");
    if let Some(ob) = cached() {
        return Ok(ob);
    }
    // One computation per outboard at a time: a share prepares the outboards of its blobs
    // (`prepare_blob`) while the partner already asks for the first one, and both computed the
    // same outboard side by side (two reads and two hashings of the blob on a 2-core machine,
    // the answer waiting for both). The second now waits for the first and uses its file.
    let lock = outboard_lock(&path);
    let _computing = lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(ob) = cached() {
        return Ok(ob);
    }
    fs::create_dir_all(dir)?;
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        "{}.obao.tmp.{}.{n}",
        hash.to_hex(),
        std::process::id()
    ));
    if let Some(remote) = &src.remote
        && let Some(ob) = copy_remote_outboard(remote.as_ref(), &tmp, tree.outboard_size())
    {
        // The backend's stored outboard: one sequential read of 1/256 of the blob instead of
        // the whole blob. Only cached when its size is right; the requester checks every range.
        fs::rename(&ob, &path)?;
        return Ok(OutboardFile {
            path,
            temporary: false,
        });
    }
    let file = open_data(src)?;
    if src.remote.is_none() && File::open(&src.path)?.metadata()?.len() < src.size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob file shorter than its announced size",
        ));
    }
    let t0 = std::time::Instant::now();
    OUTBOARDS_COMPUTED.fetch_add(1, Ordering::Relaxed);
    let write = || -> io::Result<blake3::Hash> {
        let mut out = BufWriter::with_capacity(IO_BUF, File::create(&tmp)?);
        let file = CancellableRead {
            file,
            cancel: src.cancel.as_ref(),
        };
        let data = BufReader::with_capacity(IO_BUF, file).take(src.size);
        let root = outboard_post_order(data, tree, &mut out)?;
        let out = out.into_inner().map_err(|e| e.into_error())?;
        out.sync_data()?;
        Ok(root)
    };
    let root = write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    tracing::info!(hash = %hash, size = src.size, ms = t0.elapsed().as_millis() as u64, "outboard computed");
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

/// The outboard the blob's store keeps ([`BlobSource::outboard`]), served in place (never
/// deleted) when its size is `tree`'s outboard size and its pairs hash up to `hash`; `None`
/// otherwise (then the caller computes one; a damaged file is logged, and left to `casemesh
/// blobs verify` to report).
fn stored_outboard(hash: &BlobHash, src: &BlobSource, tree: BaoTree) -> Option<OutboardFile> {
    checked_outboard(hash, src.outboard.as_ref()?, tree, "stored")
}

/// The outboard file at `path` (`what`: "stored" or "cached") when its size is `tree`'s
/// outboard size and its pairs hash up to `hash` ([`outboard_hashes_up_to`]); `None` otherwise,
/// with a warning when the file is there but wrong or unreadable.
fn checked_outboard(
    hash: &BlobHash,
    path: &Path,
    tree: BaoTree,
    what: &str,
) -> Option<OutboardFile> {
    let check = || -> io::Result<bool> {
        let file = File::open(path)?;
        if file.metadata()?.len() != tree.outboard_size() {
            return Ok(false);
        }
        let root = blake3::Hash::from_bytes(hash.0);
        outboard_hashes_up_to(root, tree, BufReader::with_capacity(IO_BUF, file))
    };
    match check() {
        Ok(true) => Some(OutboardFile {
            path: path.to_path_buf(),
            temporary: false,
        }),
        Ok(false) => {
            tracing::warn!(hash = %hash, outboard = %path.display(), "{what} outboard does not match its blob; computing one");
            None
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(hash = %hash, outboard = %path.display(), error = %e, "cannot read the {what} outboard; computing one");
            None
        }
    }
}

/// Whether the post-order outboard read from `ob` (exactly `tree.outboard_size()` bytes) is a
/// hash tree whose root is `root`: every pair's parent hash is the entry its own parent holds
/// for it, and the last pair hashes to `root`. So every byte of it is checked, without the
/// blob's bytes (the entries for the chunk groups are what the requester checks the bytes
/// against). About 64 Ki hash merges and 4 MiB read per GiB of blob.
///
/// The pairs are replayed in the order BLAKE3 merges subtrees while hashing (the order they
/// were written in: post order): before group `g` is pushed, merge while the stack holds more
/// subtrees than `g` has one bits; at the end merge down to the root.
fn outboard_hashes_up_to(root: blake3::Hash, tree: BaoTree, mut ob: impl Read) -> io::Result<bool> {
    use blake3::hazmat::{Mode, merge_subtrees_non_root, merge_subtrees_root};
    let groups = tree.blocks();
    if groups <= 1 {
        return Ok(true);
    }
    // A group's chaining value is known only from its parent's pair (`None`); a parent's is
    // computed from its own pair (`Some`) and must equal what its parent's pair says.
    let mut stack: Vec<Option<[u8; 32]>> = Vec::new();
    let mut pair = [0u8; 64];
    let mut merge =
        |stack: &mut Vec<Option<[u8; 32]>>, is_root: bool| -> io::Result<Option<[u8; 32]>> {
            ob.read_exact(&mut pair)?;
            let (mut l, mut r) = ([0u8; 32], [0u8; 32]);
            l.copy_from_slice(&pair[..32]);
            r.copy_from_slice(&pair[32..]);
            let (right, left) = (stack.pop().flatten(), stack.pop().flatten());
            if left.is_some_and(|x| x != l) || right.is_some_and(|x| x != r) {
                return Ok(None);
            }
            Ok(Some(if is_root {
                *merge_subtrees_root(&l, &r, Mode::Hash).as_bytes()
            } else {
                merge_subtrees_non_root(&l, &r, Mode::Hash)
            }))
        };
    for g in 0..groups {
        while stack.len() > g.count_ones() as usize {
            let Some(parent) = merge(&mut stack, false)? else {
                return Ok(false);
            };
            stack.push(Some(parent));
        }
        stack.push(None);
    }
    while stack.len() > 2 {
        let Some(parent) = merge(&mut stack, false)? else {
            return Ok(false);
        };
        stack.push(Some(parent));
    }
    Ok(merge(&mut stack, true)? == Some(*root.as_bytes()))
}

/// Copy a remote source's stored outboard to `tmp`: `Some(tmp)` when it had one of `expected`
/// bytes, else `None` (nothing left at `tmp`; the outboard is then computed).
fn copy_remote_outboard(
    remote: &dyn crate::RangeRead,
    tmp: &Path,
    expected: u64,
) -> Option<PathBuf> {
    let copy = || -> io::Result<bool> {
        let mut out = BufWriter::with_capacity(IO_BUF, File::create(tmp)?);
        if !remote.copy_outboard(&mut out)? {
            return Ok(false);
        }
        let out = out.into_inner().map_err(|e| e.into_error())?;
        if out.metadata()?.len() != expected {
            tracing::warn!(
                stored = out.metadata()?.len(),
                expected,
                "stored outboard has the wrong size; computing it"
            );
            return Ok(false);
        }
        out.sync_data()?;
        Ok(true)
    };
    match copy() {
        Ok(true) => Some(tmp.to_path_buf()),
        Ok(false) => {
            let _ = fs::remove_file(tmp);
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot copy the stored outboard; computing it");
            let _ = fs::remove_file(tmp);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob file `blob` in `dir` of `len` bytes, byte `i` being `pattern(i)`; its bytes and
    /// hash.
    fn blob_file(dir: &Path, len: u32, pattern: fn(u32) -> u8) -> (PathBuf, Vec<u8>, BlobHash) {
        let blob = dir.join("blob");
        let data: Vec<u8> = (0..len).map(pattern).collect();
        fs::write(&blob, &data).unwrap();
        let hash = BlobHash(*blake3::hash(&data).as_bytes());
        (blob, data, hash)
    }

    /// The post-order outboard of `data`, as bao-tree computes it.
    fn outboard_of(data: &[u8]) -> Vec<u8> {
        PostOrderMemOutboard::create(data, BlockSize::from_chunk_log(CHUNK_LOG)).data
    }

    fn peer() -> PeerId {
        libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
    }

    /// A blob asked for while its outboard is being prepared is hashed once, not twice.
    #[test]
    fn an_outboard_is_computed_once_when_asked_for_twice_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (blob, data, hash) = blob_file(dir.path(), 16 << 20, |i| {
            i.wrapping_mul(2_654_435_761) as u8
        });
        let source = BlobSource::new(&blob, data.len() as u64);
        let obs = dir.path().join("outboards");
        let before = OUTBOARDS_COMPUTED.load(Ordering::Relaxed);
        let go = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    go.wait();
                    let ob = ensure_outboard(&obs, &hash, &source).unwrap();
                    assert!(!ob.temporary);
                });
            }
        });
        assert_eq!(OUTBOARDS_COMPUTED.load(Ordering::Relaxed) - before, 1);
    }

    /// A blob whose store keeps its outboard is served from that file: nothing is computed or
    /// cached. A damaged or short one is not served: one is computed instead, and the stored
    /// file is left alone.
    #[test]
    fn a_stored_outboard_is_served_in_place_and_a_damaged_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (blob, data, hash) = blob_file(dir.path(), (3 << 20) + 77, |i| {
            (i.wrapping_mul(2_654_435_761) >> 9) as u8
        });
        let stored = dir.path().join("blob.obao");
        let good = outboard_of(&data);
        fs::write(&stored, &good).unwrap();
        let source = BlobSource::new(&blob, data.len() as u64).with_outboard(Some(stored.clone()));
        let cache = dir.path().join("outboards");
        let ob = ensure_outboard(&cache, &hash, &source).unwrap();
        assert_eq!((ob.path.as_path(), ob.temporary), (stored.as_path(), false));
        assert!(!cache.exists(), "nothing computed or cached");

        let damaged = |bytes: &[u8]| {
            fs::write(&stored, bytes).unwrap();
            let ob = ensure_outboard(&cache, &hash, &source).unwrap();
            assert_ne!(ob.path, stored);
            assert_eq!(fs::read(&ob.path).unwrap(), good, "computed instead");
            assert_eq!(
                fs::read(&stored).unwrap(),
                bytes,
                "the stored file is left alone"
            );
            fs::remove_dir_all(&cache).unwrap();
        };
        for at in [0, 64 * 7 + 3, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            damaged(&bad);
        }
        damaged(&good[64..]);
    }

    /// A cached outboard (`partial/outboards/`, computed for a blob without a stored one) that
    /// is damaged after it was written is not served: it is computed again and the cache
    /// repaired. It was served as it was, every range failed the requester's check, and the
    /// share never completed (a newcomer's attack).
    #[test]
    fn a_damaged_cached_outboard_is_computed_again() {
        let dir = tempfile::tempdir().unwrap();
        let (blob, data, hash) = blob_file(dir.path(), (2 << 20) + 5, |i| {
            (i.wrapping_mul(2_246_822_519) >> 11) as u8
        });
        let good = outboard_of(&data);
        let source = BlobSource::new(&blob, data.len() as u64);
        let cache = dir.path().join("outboards");
        let first = ensure_outboard(&cache, &hash, &source).unwrap();
        assert_eq!(fs::read(&first.path).unwrap(), good);
        let mut bad = good.clone();
        bad[100] ^= 0x01;
        fs::write(&first.path, &bad).unwrap();
        let again = ensure_outboard(&cache, &hash, &source).unwrap();
        assert_eq!(fs::read(&again.path).unwrap(), good, "computed again");
        assert_eq!(
            fs::read(&first.path).unwrap(),
            good,
            "the cache is repaired"
        );
    }

    #[tokio::test]
    async fn a_partner_gets_at_most_its_share_of_the_slots() {
        let limits = ServeLimits::new(3, 2);
        let stop = CancellationToken::new();
        let (a, b) = (peer(), peer());
        let a1 = limits.open_lane(a, &stop).await.unwrap();
        let a2 = limits.open_lane(a, &stop).await.unwrap();
        let a3 = limits.open_lane(a, &stop).await.unwrap();
        let b1 = limits.open_lane(b, &stop).await.unwrap();
        let s1 = a1.acquire().await.unwrap();
        let s2 = a2.acquire().await.unwrap();
        // A's third request waits for A's own share, not for a global slot ...
        let mut third = Box::pin(a3.acquire());
        assert!(futures::poll!(&mut third).is_pending());
        // ... so B still gets the last global slot.
        let s3 = b1.acquire().await.unwrap();
        drop(s1);
        let s4 = third.await.unwrap();
        drop((s2, s3, s4));
    }

    #[tokio::test(start_paused = true)]
    async fn lanes_over_the_cap_wait_their_turn_then_hear_busy() {
        let limits = ServeLimits::new(16, 4);
        let stop = CancellationToken::new();
        let a = peer();
        let mut lanes = Vec::new();
        for _ in 0..MAX_LANES_PER_PEER {
            lanes.push(limits.open_lane(a, &stop).await.unwrap());
        }
        // One more lane of the same partner waits (it is not refused) ...
        let mut waiting = Box::pin(limits.open_lane(a, &stop));
        assert!(futures::poll!(&mut waiting).is_pending());
        // ... while another partner's lane opens at once ...
        assert!(limits.open_lane(peer(), &stop).await.is_some());
        // ... and it is served as soon as one of the partner's lanes closes.
        lanes.pop();
        let served = waiting.await.unwrap();
        // A lane that finds no lane free within SLOT_WAIT is refused (Busy).
        let start = tokio::time::Instant::now();
        assert!(limits.open_lane(a, &stop).await.is_none());
        assert!(start.elapsed() >= SLOT_WAIT);
        drop((lanes, served));
        assert!(limits.open_lane(a, &stop).await.is_some());
        assert!(
            limits.peers.lock().unwrap().len() <= 1,
            "closed lanes are unregistered"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_lanes_are_capped_and_stop_ends_the_wait() {
        let limits = ServeLimits::new(16, 4);
        let stop = CancellationToken::new();
        let a = peer();
        let mut open = Vec::new();
        for _ in 0..MAX_LANES_PER_PEER {
            open.push(limits.open_lane(a, &stop).await.unwrap());
        }
        let mut waiting: Vec<_> = (0..MAX_WAITING_LANES)
            .map(|_| Box::pin(limits.open_lane(a, &stop)))
            .collect();
        for w in &mut waiting {
            assert!(futures::poll!(w).is_pending());
        }
        // The queue is full: the next lane is refused at once, without waiting.
        let mut over = Box::pin(limits.open_lane(a, &stop));
        assert!(matches!(
            futures::poll!(&mut over),
            std::task::Poll::Ready(None)
        ));
        // Shutdown ends every wait.
        stop.cancel();
        for w in waiting {
            assert!(w.await.is_none());
        }
        drop(open);
        assert!(limits.peers.lock().unwrap().is_empty());
    }
}
