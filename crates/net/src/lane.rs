//! The requester side of `/casemesh/blob/2`: a few long-lived streams ("lanes") per partner,
//! each carrying pipelined requests whose responses come back in request order.
//!
//! ```text
//!  fetch ──Lanes::send(peer, request)──► pick a lane: an idle one, else open a new one (up to
//!                                        `blob_lanes_per_peer`), else the least loaded one
//!         lane.tx lock: append the request, take the next place in the turn chain
//!         await the turn ◄── the previous exchange hands over the LaneReader when it has read
//!                            its response to the end
//!         Turn ──► the decode thread reads header + bao stream ──► Turn::finish hands the
//!                  reader to the next request (or Turn::abandon closes the lane)
//! ```
//!
//! A lane's read side is a baton passed through a chain of oneshot channels: the exchange at
//! the head of the chain owns the reader, every later one waits for it. An exchange that cannot
//! leave the stream at a response boundary (verification failure, I/O error, a large response
//! it no longer wants) abandons the lane: the lane is marked broken, the requests queued behind
//! it are sent again on another lane (see below), and later fetches open a new lane. The
//! server abandons a lane the same way when a blob is withdrawn mid-answer (`serve.rs`).
//! Exchanges run in tasks that outlive a dropped `fetch_blob` future, so a cancelled fetch
//! still reads (or abandons) its response and never strands the requests behind it.
//!
//! A request is moved to another lane only when nothing of its answer has been read: the lane
//! turned out broken before the request was written, writing it failed (the lane's
//! connection died while the lane was idle), or an earlier exchange abandoned the lane before
//! this request's turn came. Blob requests only read, so asking again is safe; it costs the
//! server at most a second permission check. After three tries the request fails with
//! [`NetError::Interrupted`] (resumable).
//!
//! With `blob_lanes_per_peer = 0`, or when the partner does not speak version 2, every request
//! gets its own single-use `/casemesh/blob/1` stream instead.

use std::{
    collections::HashMap,
    io::{self, Read},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

use futures::{
    AsyncReadExt, AsyncWriteExt,
    io::{ReadHalf, WriteHalf},
};
use libp2p::{PeerId, Stream, StreamProtocol};
use libp2p_stream::OpenStreamError;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, oneshot};

use crate::{
    blob::{STALL_TIMEOUT, STREAM_BUF},
    error::NetError,
    stats::{Counters, Stats},
    wire::{BlobBatchRequest, BlobProtocolVersion, BlobRequest, LaneRequest},
};

/// Load assumed for a fetch of unknown size when choosing a lane.
pub(crate) const UNKNOWN_SIZE_LOAD: u64 = 1 << 30;

/// How long opening a blob stream may take before the fetch fails (and is retried).
///
/// libp2p-stream 0.5 can lose an open request for good: `Control::open_stream` looks for the
/// peer's connection in a table that is filled by `FromSwarm::ConnectionEstablished`, which the
/// swarm delivers just *after* it created the connection's handler. A request made from another
/// thread between the two finds no connection, parks in a "pending dial" channel that only the
/// *next* new connection takes, and waits for ever on a healthy connection (seen in CI: a
/// restarted receiver resumed its import at the moment its partner reconnected, and the share
/// sat at 0 bytes for 4 minutes). A bounded wait turns that into an ordinary failed attempt; the
/// next attempt finds the connection in the table.
pub(crate) const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The lanes of every partner this node fetches from.
pub(crate) struct Lanes {
    control: libp2p_stream::Control,
    per_peer: usize,
    stats: Arc<Stats>,
    peers: Mutex<HashMap<PeerId, PeerLanes>>,
}

struct PeerLanes {
    lanes: Vec<Arc<Lane>>,
    /// The newest version the partner is not known to refuse: new lanes speak it. Lowered
    /// when the partner refuses it (until the next reconnect); at version 1, every request
    /// gets a single-use stream.
    newest: BlobProtocolVersion,
}

impl Default for PeerLanes {
    fn default() -> Self {
        Self {
            lanes: Vec::new(),
            newest: BlobProtocolVersion::V3,
        }
    }
}

/// What a lane request carries; encoded for the version of the lane it goes on.
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    /// One blob from an offset (every version).
    One(&'a BlobRequest),
    /// Many whole blobs under one grant (version 3 only).
    Batch(&'a BlobBatchRequest),
}

impl Request<'_> {
    /// The frame for a lane of `version`; `None` when that version cannot carry it.
    fn encode(self, version: BlobProtocolVersion) -> Result<Option<Vec<u8>>, NetError> {
        Ok(match (self, version) {
            (Request::One(r), BlobProtocolVersion::V3) => {
                Some(LaneRequest::One(r.clone()).encode()?)
            }
            (Request::One(r), _) => Some(r.encode()?),
            (Request::Batch(b), v) if v.batches() => Some(b.encode()?),
            (Request::Batch(_), _) => None,
        })
    }
}

/// One stream to a partner.
pub(crate) struct Lane {
    peer: PeerId,
    version: BlobProtocolVersion,
    /// Requests written and not yet fully answered, and the blob bytes they announced: a new
    /// request goes to the least loaded lane, so small items do not wait behind a large one.
    queued: AtomicUsize,
    load: AtomicU64,
    /// Set when the stream can no longer be used; the pool then forgets the lane.
    broken: AtomicBool,
    tx: Arc<AsyncMutex<LaneTx>>,
}

/// The write side of a lane and the end of its turn chain, changed together under one lock
/// so that requests are written in exactly the order in which their responses are read.
#[derive(Default)]
struct LaneTx {
    write: Option<WriteHalf<Stream>>,
    /// Where the next request to be written gets the reader from.
    next_turn: Option<oneshot::Receiver<LaneReader>>,
}

/// The read side of a lane: a buffered, blocking reader for the decode thread. The buffer
/// belongs to the lane, not to one response: bytes read ahead belong to the next response.
pub(crate) type LaneReader = io::BufReader<BlockingRead>;

impl Lanes {
    pub(crate) fn new(control: libp2p_stream::Control, per_peer: usize, stats: Arc<Stats>) -> Self {
        Self {
            control,
            per_peer,
            stats,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Forget the lanes to `peer` (one of its connections closed; lanes on it are dead, and
    /// the partner may come back with another version). Exchanges already running keep theirs.
    pub(crate) fn forget(&self, peer: &PeerId) {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.remove(peer);
    }

    /// Whether batched requests may go to `peer` (it is not known to refuse version 3).
    pub(crate) fn may_batch(&self, peer: &PeerId) -> bool {
        if self.per_peer == 0 {
            return false;
        }
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.get(peer).is_none_or(|p| p.newest.batches())
    }

    /// Write `request` on a lane to `peer` and wait until its response is next on that lane.
    /// `announced` is the number of blob bytes the response is expected to carry. Nothing is
    /// sent when `cancelled` is already set once a lane is ready. `Ok(None)`: nothing was
    /// sent, because the lane chosen cannot carry the request (a batch to a partner that turned
    /// out not to speak version 3).
    pub(crate) async fn send(
        &self,
        peer: PeerId,
        request: Request<'_>,
        announced: u64,
        cancelled: &AtomicBool,
    ) -> Result<Option<Turn>, NetError> {
        // A lane can turn out broken before our request is on it (its opening failed, or an
        // earlier exchange abandoned it); then nothing was sent and another lane is chosen.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (lane, fresh) = self.pick(peer, announced);
            let load = LoadGuard {
                lane: lane.clone(),
                announced,
            };
            let mut tx = match fresh {
                Some(guard) => match self.open(&lane, guard).await {
                    Ok(tx) => tx,
                    Err(OpenFailed::Unsupported) if attempts < 4 => continue,
                    Err(OpenFailed::Unsupported) => {
                        return Err(NetError::Stream {
                            peer,
                            reason: "no common blob protocol version".into(),
                        });
                    }
                    Err(OpenFailed::Other(e)) => {
                        return Err(NetError::Stream {
                            peer,
                            reason: e.to_string(),
                        });
                    }
                },
                None => lane.tx.clone().lock_owned().await,
            };
            if cancelled.load(Ordering::Relaxed) {
                return Err(NetError::Interrupted("fetch cancelled".into()));
            }
            if tx.write.is_none() || tx.next_turn.is_none() || lane.broken.load(Ordering::Relaxed) {
                drop(tx);
                if attempts < 3 {
                    continue;
                }
                return Err(NetError::Interrupted("blob stream closed".into()));
            }
            let Some(request) = request.encode(lane.version)? else {
                return Ok(None);
            };
            let LaneTx { write, next_turn } = &mut *tx;
            let (pass_on, after_me) = oneshot::channel();
            let (Some(write), Some(my_turn)) = (write.as_mut(), next_turn.replace(after_me)) else {
                continue; // checked above
            };
            let written = async {
                write.write_all(&request).await?;
                write.flush().await
            };
            if let Err(e) = tokio::time::timeout(STALL_TIMEOUT, written)
                .await
                .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "peer stalled")))
            {
                // The stream is gone; the server cannot answer what it did not fully get.
                tx.write = None;
                tx.next_turn = None;
                lane.broken.store(true, Ordering::Relaxed);
                drop(tx);
                if attempts < 3 && e.kind() != io::ErrorKind::TimedOut {
                    continue;
                }
                return Err(NetError::Interrupted(format!("blob stream closed: {e}")));
            }
            drop(tx);
            let Ok(reader) = my_turn.await else {
                // An earlier exchange abandoned the lane before our turn: none of our answer
                // was read, so the request can go again on another lane. Passing nothing on
                // (dropping `pass_on`) sends the requests behind ours the same way.
                lane.abandon();
                if attempts < 3 && !cancelled.load(Ordering::Relaxed) {
                    tracing::debug!(peer = %peer, "blob lane abandoned before our turn; request sent again");
                    continue;
                }
                return Err(NetError::Interrupted(
                    "blob stream closed by an earlier failure".into(),
                ));
            };
            return Ok(Some(Turn {
                reader,
                handoff: Handoff {
                    pass_on: Some(pass_on),
                    load,
                },
            }));
        }
    }

    /// Choose a lane for a request; returns a new lane together with its (held) write lock
    /// when one must be opened.
    fn pick(&self, peer: PeerId, announced: u64) -> (Arc<Lane>, Option<OwnedMutexGuard<LaneTx>>) {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = peers.entry(peer).or_default();
        entry.lanes.retain(|l| !l.broken.load(Ordering::Relaxed));
        let (lane, fresh) = if entry.newest == BlobProtocolVersion::V1 || self.per_peer == 0 {
            Lane::new(peer, BlobProtocolVersion::V1)
        } else if let Some(idle) = entry
            .lanes
            .iter()
            .find(|l| l.queued.load(Ordering::Relaxed) == 0)
        {
            (idle.clone(), None)
        } else if entry.lanes.len() < self.per_peer {
            let (lane, guard) = Lane::new(peer, entry.newest);
            entry.lanes.push(lane.clone());
            (lane, guard)
        } else {
            let least = entry.lanes.iter().min_by_key(|l| {
                (
                    l.load.load(Ordering::Relaxed),
                    l.queued.load(Ordering::Relaxed),
                )
            });
            match least {
                Some(l) => (l.clone(), None),
                None => Lane::new(peer, entry.newest),
            }
        };
        lane.queued.fetch_add(1, Ordering::Relaxed);
        lane.load.fetch_add(announced, Ordering::Relaxed);
        (lane, fresh)
    }

    /// Open the stream of a new lane, whose write lock the caller holds.
    async fn open(
        &self,
        lane: &Arc<Lane>,
        mut tx: OwnedMutexGuard<LaneTx>,
    ) -> Result<OwnedMutexGuard<LaneTx>, OpenFailed> {
        let protocol = StreamProtocol::new(lane.version.protocol_id());
        let mut control = self.control.clone();
        let opening = control.open_stream(lane.peer, protocol);
        let opened = match tokio::time::timeout(OPEN_TIMEOUT, opening).await {
            Ok(opened) => opened,
            Err(_) => Err(OpenStreamError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "opening a blob stream took over {} s",
                    OPEN_TIMEOUT.as_secs()
                ),
            ))),
        };
        let stream = match opened {
            Ok(stream) => stream,
            Err(e) => {
                lane.abandon();
                let older = match lane.version {
                    BlobProtocolVersion::V3 => Some(BlobProtocolVersion::V2),
                    BlobProtocolVersion::V2 => Some(BlobProtocolVersion::V1),
                    _ => None,
                };
                if let (OpenStreamError::UnsupportedProtocol(_), Some(older)) = (&e, older) {
                    tracing::info!(peer = %lane.peer, "partner does not speak {}; using {}", lane.version.protocol_id(), older.protocol_id());
                    let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = peers.entry(lane.peer).or_default();
                    if entry.newest == lane.version {
                        entry.newest = older;
                    }
                    return Err(OpenFailed::Unsupported);
                }
                return Err(OpenFailed::Other(e));
            }
        };
        tracing::debug!(peer = %lane.peer, version = ?lane.version, "blob lane opened");
        let (read, write) = stream.split();
        let reader = io::BufReader::with_capacity(
            STREAM_BUF,
            BlockingRead {
                half: read,
                rt: tokio::runtime::Handle::current(),
                counters: self.stats.peer(&lane.peer),
            },
        );
        let (first, first_turn) = oneshot::channel();
        let _ = first.send(reader);
        tx.write = Some(write);
        tx.next_turn = Some(first_turn);
        Ok(tx)
    }
}

enum OpenFailed {
    /// The partner does not speak version 2 (the pool now uses version 1 for it).
    Unsupported,
    Other(OpenStreamError),
}

impl Lane {
    /// A lane not yet opened, with its write lock held by the caller (who opens it).
    fn new(
        peer: PeerId,
        version: BlobProtocolVersion,
    ) -> (Arc<Lane>, Option<OwnedMutexGuard<LaneTx>>) {
        let tx = Arc::new(AsyncMutex::new(LaneTx::default()));
        let guard = tx.clone().try_lock_owned().ok();
        let lane = Arc::new(Lane {
            peer,
            version,
            queued: AtomicUsize::new(0),
            load: AtomicU64::new(0),
            broken: AtomicBool::new(false),
            tx,
        });
        (lane, guard)
    }

    fn abandon(&self) {
        self.broken.store(true, Ordering::Relaxed);
        if let Ok(mut tx) = self.tx.try_lock() {
            // Dropping both halves closes the stream, which stops the server's answer.
            tx.write = None;
            tx.next_turn = None;
        }
    }
}

/// Takes a request's share off its lane's load when the exchange ends.
struct LoadGuard {
    lane: Arc<Lane>,
    announced: u64,
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.lane.queued.fetch_sub(1, Ordering::Relaxed);
        self.lane.load.fetch_sub(self.announced, Ordering::Relaxed);
    }
}

/// The right to read one response from a lane: the lane's reader, positioned at the start of
/// this response, and the [`Handoff`] that passes the lane on afterwards.
pub(crate) struct Turn {
    pub(crate) reader: LaneReader,
    pub(crate) handoff: Handoff,
}

/// Passes a lane on to the next request. Call [`Handoff::finish`] once the response has been
/// read to its last byte; [`Handoff::abandon`] (or dropping it) closes the lane instead.
pub(crate) struct Handoff {
    pass_on: Option<oneshot::Sender<LaneReader>>,
    load: LoadGuard,
}

impl Handoff {
    /// This response has been read completely: hand the reader to the next request.
    pub(crate) fn finish(mut self, reader: LaneReader) {
        if let Some(pass_on) = self.pass_on.take()
            && self.load.lane.version != BlobProtocolVersion::V1
        {
            // An error only means the lane was forgotten with nobody queued behind us.
            let _ = pass_on.send(reader);
        }
        // Version 1 streams are single-use: dropping the reader closes the stream.
    }

    /// The stream is not at a response boundary (or not to be trusted): close the lane.
    pub(crate) fn abandon(self) {
        // Drop does it.
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if self.pass_on.take().is_some() && self.load.lane.version != BlobProtocolVersion::V1 {
            self.load.lane.abandon();
        }
    }
}

/// Sync `Read` over a lane's read half, for a blocking thread; counts bytes; times out stalls.
pub(crate) struct BlockingRead {
    half: ReadHalf<Stream>,
    rt: tokio::runtime::Handle,
    counters: Arc<Counters>,
}

impl Read for BlockingRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .rt
            .block_on(tokio::time::timeout(STALL_TIMEOUT, self.half.read(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "peer stalled"))??;
        Counters::add(&self.counters.bytes_received, n as u64);
        Ok(n)
    }
}
