//! The bytes on the wire: protocol ids, size limits, the control envelope, the blob request and
//! response headers, and the registry of control message kinds. Pure encode/decode, no I/O
//! beyond `futures` readers; `docs/protocol.md` describes the same formats in prose.
//!
//! Goals: every frame is length-prefixed and capped before any allocation, so a hostile peer
//! cannot make us allocate more than the cap; every field has a fixed, documented encoding
//! (big-endian integers, UTF-8 strings), pinned by golden tests.
//! Non-goals: self-describing messages. The protocol id carries the version; the meaning of a
//! control payload belongs to the node, not to this crate.

use std::io;

use casemesh_model::ids::BlobHash;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Refusal, RefusalCode};

/// Protocol id of the control request-response protocol.
pub const CONTROL_PROTOCOL: &str = "/casemesh/control/1";
/// Protocol id of blob protocol version 2 ([`BlobProtocolVersion::V2`]): long-lived streams
/// carrying pipelined requests. Still served; spoken to partners that lack version 3.
pub const BLOB_PROTOCOL: &str = "/casemesh/blob/2";
/// Protocol id of blob protocol version 3 ([`BlobProtocolVersion::V3`], preferred): version 2's
/// lanes, plus batched requests (many small blobs under one grant check).
pub const BLOB_PROTOCOL_V3: &str = "/casemesh/blob/3";
/// Protocol id of blob protocol version 1 ([`BlobProtocolVersion::V1`]): one transfer per
/// stream. Still served; used to fetch from a partner that does not speak version 2.
pub const BLOB_PROTOCOL_V1: &str = "/casemesh/blob/1";
/// Identify protocol version string announced by casemesh nodes.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/casemesh/1";

/// Largest encoded control request body (after the 4-byte length prefix).
pub const MAX_CONTROL_REQUEST: usize = 4 * 1024 * 1024;
/// Largest encoded control response body (after the 4-byte length prefix).
pub const MAX_CONTROL_RESPONSE: usize = 4 * 1024 * 1024;
/// Longest message kind, in bytes.
pub const MAX_KIND_LEN: usize = 256;
/// Longest refusal or rejection reason, in bytes (longer ones are cut at a char boundary).
pub const MAX_REASON_LEN: usize = 1024;
/// Largest grant token in a blob request.
pub const MAX_GRANT_LEN: usize = 64 * 1024;
/// Most hashes one batched request ([`BlobBatchRequest`], version 3) may name.
pub const MAX_BATCH_HASHES: usize = 256;
/// Largest request frame body on a version 3 lane: a batch of [`MAX_BATCH_HASHES`] with the
/// largest grant (a single request is smaller).
pub const MAX_V3_REQUEST: usize = 1 + 2 + MAX_BATCH_HASHES * 32 + MAX_GRANT_LEN;
/// BLAKE3 chunk-group size of the blob stream, as log2 of 1 KiB chunks: 4 → 16 KiB groups.
/// Verification granularity and resume alignment.
pub const CHUNK_LOG: u8 = 4;
/// Chunk-group size in bytes (16 KiB).
pub const CHUNK_GROUP_BYTES: u64 = 1024 << CHUNK_LOG;

/// The versions of the blob protocol. All use the same answers ([`BlobRequest`],
/// [`BlobResponseHeader`], the bao stream); they differ in how many exchanges a stream carries.
/// `docs/protocol.md` has the full history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlobProtocolVersion {
    /// `/casemesh/blob/1`: one request and one response per stream; the server closes the
    /// stream after the response (also after a refusal).
    V1,
    /// `/casemesh/blob/2`: a stream is a long-lived *lane*. The requester writes requests back
    /// to back without waiting (pipelining); the server answers them one after the other, in
    /// request order, each with a header and (after `Ok`) the bao stream, whose length follows
    /// from the header. A refusal answers one request and the lane stays open. Either side
    /// ends the lane by closing its write side; the server answers what it has read first.
    /// Exception: when the blob being sent is withdrawn (its share stopped), the server stops
    /// mid-answer and closes the lane; the requester sends the requests it had queued on that
    /// lane again on another one.
    V2,
    /// `/casemesh/blob/3`: version 2's lanes, with a one-byte kind in front of every request
    /// ([`LaneRequest`]): kind 0 is version 2's single request; kind 1 a batch
    /// ([`BlobBatchRequest`]) of up to [`MAX_BATCH_HASHES`] whole blobs under one grant, which
    /// the server checks once (and audits in one transaction) and answers with one answer per
    /// hash, in order, each exactly as a single request's. Added because one request per small
    /// item cost a grant check, an audit transaction and a round of the pipeline per item.
    V3,
}

impl BlobProtocolVersion {
    /// Every version, newest (preferred) first.
    pub const ALL: [BlobProtocolVersion; 3] = [
        BlobProtocolVersion::V3,
        BlobProtocolVersion::V2,
        BlobProtocolVersion::V1,
    ];

    /// The protocol id negotiated for this version.
    pub fn protocol_id(self) -> &'static str {
        match self {
            BlobProtocolVersion::V1 => BLOB_PROTOCOL_V1,
            BlobProtocolVersion::V2 => BLOB_PROTOCOL,
            BlobProtocolVersion::V3 => BLOB_PROTOCOL_V3,
        }
    }

    /// Whether lanes of this version carry batched requests.
    pub fn batches(self) -> bool {
        self == BlobProtocolVersion::V3
    }

    /// The version of a protocol id, if it is a blob protocol id.
    pub fn from_protocol_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.protocol_id() == id)
    }
}

/// A control request: an opaque, versioned envelope whose meaning the node decides by `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRequest {
    /// Sender-chosen unique id; echoed in the response, lets the receiver deduplicate retries.
    pub msg_id: [u8; 16],
    /// What the payload is, e.g. [`MessageKind::GrantOffer`]'s string. At most [`MAX_KIND_LEN`].
    pub kind: String,
    /// Opaque bytes the node interprets according to `kind`.
    pub payload: Vec<u8>,
}

/// Outcome carried by a [`ControlResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlStatus {
    /// Accepted and processed.
    Ok,
    /// Understood and refused (policy, invalid signature, revoked grant, ...).
    Rejected(String),
    /// The receiver does not know this `kind`.
    UnknownKind,
    /// The receiver could not take the request now (event queue full); retry later.
    Busy,
    /// The receiver failed while handling it.
    Failed(String),
}

/// A control response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlResponse {
    /// The `msg_id` of the request this answers.
    pub msg_id: [u8; 16],
    /// The outcome.
    pub status: ControlStatus,
    /// Opaque bytes for the requester.
    pub payload: Vec<u8>,
}

impl ControlResponse {
    /// An `Ok` response with a payload.
    pub fn ok(msg_id: [u8; 16], payload: Vec<u8>) -> Self {
        Self {
            msg_id,
            status: ControlStatus::Ok,
            payload,
        }
    }

    /// A response with a status and no payload.
    pub fn status(msg_id: [u8; 16], status: ControlStatus) -> Self {
        Self {
            msg_id,
            status,
            payload: Vec::new(),
        }
    }
}

/// The registry of control message kinds: every `kind` string casemesh nodes send, in one place.
/// Never reuse a string for a different meaning; retire a kind by documenting it here and in
/// `docs/protocol.md` instead of deleting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// A signed share grant offered to the audience org (payload: the grant's canonical bytes).
    GrantOffer,
    /// A signed revocation of an earlier grant.
    GrantRevocation,
    /// Reserved, never sent: the manifest of a shared case in one message. Item lists travel as
    /// blobs instead (docs/protocol.md, "Shares of any size"); a node answers it `UnknownKind`.
    /// Kept so the string is never reused ([`MessageKind::is_reserved`]).
    CaseManifest,
    /// Automerge changes to a shared case's metadata.
    CaseUpdate,
    /// New evidence added to a shared case after the first share.
    EvidenceAdded,
    /// Reserved, never sent: ask the sharer for the current manifest of a case under a grant.
    /// A node answers it `UnknownKind`; kept so the string is never reused
    /// ([`MessageKind::is_reserved`]).
    ManifestRequest,
    /// Liveness / reachability check between partners; empty payload.
    Ping,
    /// The partner's receipt of a share: which evidence it now holds (drives Processing → Complete).
    ShareReceipt,
    /// Look up users and groups in the partner's directory (type-ahead for recipients); answered
    /// only when the partner allows it.
    DirectoryQuery,
    /// A partner shared onward a case this node shared with it: the child grant (issue #13).
    ShareOnward,
    /// A partner's user viewed or downloaded a case shared in access mode, through the partner's
    /// node: reported to the sharer for its audit trail (issue #12).
    AccessEvent,
    /// Automerge changes to an access-mode share's metadata written by the partner, sent to the
    /// sharer, where the policy allows `edit_metadata` (issue #14).
    CaseEdit,
}

impl MessageKind {
    /// Every kind, in registry order.
    pub const ALL: [MessageKind; 12] = [
        MessageKind::GrantOffer,
        MessageKind::GrantRevocation,
        MessageKind::CaseManifest,
        MessageKind::CaseUpdate,
        MessageKind::EvidenceAdded,
        MessageKind::ManifestRequest,
        MessageKind::Ping,
        MessageKind::ShareReceipt,
        MessageKind::DirectoryQuery,
        MessageKind::ShareOnward,
        MessageKind::AccessEvent,
        MessageKind::CaseEdit,
    ];

    /// The wire string of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::GrantOffer => "grant.offer/2",
            MessageKind::GrantRevocation => "grant.revoke/1",
            MessageKind::CaseManifest => "case.manifest/1",
            MessageKind::CaseUpdate => "case.update/2",
            MessageKind::EvidenceAdded => "evidence.added/2",
            MessageKind::ManifestRequest => "case.manifest-request/1",
            MessageKind::Ping => "ping/1",
            MessageKind::ShareReceipt => "share.receipt/2",
            MessageKind::DirectoryQuery => "directory.query/1",
            MessageKind::ShareOnward => "share.onward/1",
            MessageKind::AccessEvent => "access.event/1",
            MessageKind::CaseEdit => "case.edit/1",
        }
    }

    /// The kind for a wire string, if registered (reserved kinds included: see
    /// [`MessageKind::is_reserved`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether this kind is reserved: registered so that its string is never reused, but sent by
    /// no casemesh node and answered `UnknownKind` by every one (docs/protocol.md, the message
    /// registry). Every other kind of [`MessageKind::ALL`] is live: some node sends it and its
    /// receiver decodes it.
    pub fn is_reserved(self) -> bool {
        matches!(
            self,
            MessageKind::CaseManifest | MessageKind::ManifestRequest
        )
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A blob request: the first bytes the requester writes on a `/casemesh/blob/1` stream; on a
/// `/casemesh/blob/2` lane, one of the requests written back to back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRequest {
    /// The blob asked for.
    pub hash: BlobHash,
    /// First byte wanted; the server rounds it down to a chunk group.
    pub offset: u64,
    /// Opaque authorization token the serving node checks (e.g. a signed grant).
    pub grant: Vec<u8>,
}

/// A batched request (version 3): whole blobs (from offset 0) under one grant. Answered with
/// one [`BlobResponseHeader`] (+ bao stream after `Ok`) per hash, in the order named.
///
/// A batch is valid when it names 1 to [`MAX_BATCH_HASHES`] hashes, none twice
/// ([`BlobBatchRequest::check`]); the server answers each hash of an invalid batch with a
/// `BadRequest` refusal and the lane stays usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobBatchRequest {
    /// The blobs asked for, in the order of their answers.
    pub hashes: Vec<BlobHash>,
    /// Opaque authorization token, checked once for the whole batch.
    pub grant: Vec<u8>,
}

/// One request on a version 3 lane: `u32 len | kind u8 | body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaneRequest {
    /// Kind 0: one blob, from an offset (the body of a version 2 request).
    One(BlobRequest),
    /// Kind 1: many whole blobs under one grant.
    Batch(BlobBatchRequest),
}

/// The serving node's answer to a [`BlobRequest`], before the verified stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobResponseHeader {
    /// The bao-encoded stream from `start` to the end follows.
    Ok {
        /// Total blob size in bytes.
        size: u64,
        /// First byte the stream covers: the request offset rounded down to a chunk group.
        start: u64,
        /// Chunk-group size as log2 of 1 KiB chunks (always [`CHUNK_LOG`] in versions 1 and 2).
        chunk_log: u8,
    },
    /// No blob bytes follow. Version 1 closes the stream; on a version 2 lane the answer to
    /// the next request follows.
    Refused(Refusal),
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A cursor over a received body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(invalid("message truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> io::Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> io::Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn string(&mut self, max: usize) -> io::Result<String> {
        let len = self.u16()? as usize;
        if len > max {
            return Err(invalid("string too long"));
        }
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| invalid("string is not UTF-8"))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

fn put_string(out: &mut Vec<u8>, s: &str, max: usize) {
    let s = cut(s, max);
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl ControlRequest {
    /// Encode the body (without the length prefix).
    pub fn encode(&self) -> io::Result<Vec<u8>> {
        if self.kind.len() > MAX_KIND_LEN {
            return Err(invalid("kind too long"));
        }
        let mut out = Vec::with_capacity(16 + 2 + self.kind.len() + self.payload.len());
        out.extend_from_slice(&self.msg_id);
        put_string(&mut out, &self.kind, MAX_KIND_LEN);
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// Decode a body produced by [`ControlRequest::encode`].
    pub fn decode(body: &[u8]) -> io::Result<Self> {
        let mut r = Reader(body);
        let msg_id = r.array::<16>()?;
        let kind = r.string(MAX_KIND_LEN)?;
        let payload = r.rest().to_vec();
        Ok(Self {
            msg_id,
            kind,
            payload,
        })
    }

    /// Encoded body length, for size checks before sending.
    pub fn encoded_len(&self) -> usize {
        16 + 2 + self.kind.len() + self.payload.len()
    }
}

impl ControlResponse {
    /// Encode the body (without the length prefix). Reasons longer than [`MAX_REASON_LEN`] are cut.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 4 + self.payload.len());
        out.extend_from_slice(&self.msg_id);
        match &self.status {
            ControlStatus::Ok => out.push(0),
            ControlStatus::Rejected(reason) => {
                out.push(1);
                put_string(&mut out, reason, MAX_REASON_LEN);
            }
            ControlStatus::UnknownKind => out.push(2),
            ControlStatus::Busy => out.push(3),
            ControlStatus::Failed(reason) => {
                out.push(4);
                put_string(&mut out, reason, MAX_REASON_LEN);
            }
        }
        out.extend_from_slice(&self.payload);
        out
    }

    /// Decode a body produced by [`ControlResponse::encode`].
    pub fn decode(body: &[u8]) -> io::Result<Self> {
        let mut r = Reader(body);
        let msg_id = r.array::<16>()?;
        let status = match r.u8()? {
            0 => ControlStatus::Ok,
            1 => ControlStatus::Rejected(r.string(MAX_REASON_LEN)?),
            2 => ControlStatus::UnknownKind,
            3 => ControlStatus::Busy,
            4 => ControlStatus::Failed(r.string(MAX_REASON_LEN)?),
            other => return Err(invalid(format!("unknown control status {other}"))),
        };
        let payload = r.rest().to_vec();
        Ok(Self {
            msg_id,
            status,
            payload,
        })
    }
}

impl BlobRequest {
    /// Encode the whole request frame: `u32 len | hash[32] | offset u64 | grant`.
    pub fn encode(&self) -> io::Result<Vec<u8>> {
        if self.grant.len() > MAX_GRANT_LEN {
            return Err(invalid("grant too large"));
        }
        let body_len = 32 + 8 + self.grant.len();
        let mut out = Vec::with_capacity(4 + body_len);
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        out.extend_from_slice(&self.hash.0);
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.grant);
        Ok(out)
    }

    /// Read one request frame from a stream, refusing oversize frames before allocating.
    pub async fn read<R: AsyncRead + Unpin>(io: &mut R) -> io::Result<Self> {
        let body = read_frame(io, 32 + 8 + MAX_GRANT_LEN).await?;
        let mut r = Reader(&body);
        let hash = BlobHash(r.array::<32>()?);
        let offset = r.u64()?;
        let grant = r.rest().to_vec();
        Ok(Self {
            hash,
            offset,
            grant,
        })
    }
}

impl BlobBatchRequest {
    /// Why this batch cannot be served as it is, if it cannot: no hash, more than
    /// [`MAX_BATCH_HASHES`], or a hash named twice.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.hashes.is_empty() {
            return Err("a batch names no blob");
        }
        if self.hashes.len() > MAX_BATCH_HASHES {
            return Err("a batch names too many blobs");
        }
        let mut seen = std::collections::HashSet::with_capacity(self.hashes.len());
        if !self.hashes.iter().all(|h| seen.insert(*h)) {
            return Err("a batch names a blob twice");
        }
        Ok(())
    }

    /// Encode the whole version 3 frame: `u32 len | 1 | count u16 | count × hash[32] | grant`.
    /// Refuses what [`BlobBatchRequest::check`] refuses and oversize grants.
    pub fn encode(&self) -> io::Result<Vec<u8>> {
        self.check().map_err(invalid)?;
        self.encode_unchecked()
    }

    /// [`BlobBatchRequest::encode`] without the validity check (tests of hostile input).
    pub fn encode_unchecked(&self) -> io::Result<Vec<u8>> {
        if self.grant.len() > MAX_GRANT_LEN {
            return Err(invalid("grant too large"));
        }
        let count = u16::try_from(self.hashes.len()).map_err(|_| invalid("batch too large"))?;
        let body_len = 1 + 2 + 32 * self.hashes.len() + self.grant.len();
        let mut out = Vec::with_capacity(4 + body_len);
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        out.push(1);
        out.extend_from_slice(&count.to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(&h.0);
        }
        out.extend_from_slice(&self.grant);
        Ok(out)
    }
}

impl LaneRequest {
    /// Encode the whole version 3 frame.
    pub fn encode(&self) -> io::Result<Vec<u8>> {
        match self {
            LaneRequest::One(req) => {
                let v2 = req.encode()?;
                let body_len = v2.len() - 4 + 1;
                let mut out = Vec::with_capacity(4 + body_len);
                out.extend_from_slice(&(body_len as u32).to_be_bytes());
                out.push(0);
                out.extend_from_slice(&v2[4..]);
                Ok(out)
            }
            LaneRequest::Batch(batch) => batch.encode(),
        }
    }

    /// Read one version 3 request frame, refusing oversize frames before allocating. A
    /// well-framed batch is returned even when [`BlobBatchRequest::check`] refuses it, so the
    /// server can answer each of its hashes.
    pub async fn read<R: AsyncRead + Unpin>(io: &mut R) -> io::Result<Self> {
        let body = read_frame(io, MAX_V3_REQUEST).await?;
        let mut r = Reader(&body);
        match r.u8()? {
            0 => {
                let hash = BlobHash(r.array::<32>()?);
                let offset = r.u64()?;
                let grant = r.rest().to_vec();
                if grant.len() > MAX_GRANT_LEN {
                    return Err(invalid("grant too large"));
                }
                Ok(LaneRequest::One(BlobRequest {
                    hash,
                    offset,
                    grant,
                }))
            }
            1 => {
                let count = r.u16()? as usize;
                let mut hashes = Vec::with_capacity(count.min(MAX_BATCH_HASHES));
                for _ in 0..count {
                    hashes.push(BlobHash(r.array::<32>()?));
                }
                let grant = r.rest().to_vec();
                if grant.len() > MAX_GRANT_LEN {
                    return Err(invalid("grant too large"));
                }
                Ok(LaneRequest::Batch(BlobBatchRequest { hashes, grant }))
            }
            other => Err(invalid(format!("unknown blob request kind {other}"))),
        }
    }
}

impl BlobResponseHeader {
    /// Encode: `0 | size u64 | start u64 | chunk_log u8` or `1 | code u8 | reason (u16 len + UTF-8)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(18);
        match self {
            BlobResponseHeader::Ok {
                size,
                start,
                chunk_log,
            } => {
                out.push(0);
                out.extend_from_slice(&size.to_be_bytes());
                out.extend_from_slice(&start.to_be_bytes());
                out.push(*chunk_log);
            }
            BlobResponseHeader::Refused(refusal) => {
                out.push(1);
                out.push(refusal.code.to_u8());
                put_string(&mut out, &refusal.reason, MAX_REASON_LEN);
            }
        }
        out
    }

    /// Read a header from a stream.
    pub async fn read<R: AsyncRead + Unpin>(io: &mut R) -> io::Result<Self> {
        let mut tag = [0u8; 1];
        io.read_exact(&mut tag).await?;
        match tag[0] {
            0 => {
                let mut b = [0u8; 17];
                io.read_exact(&mut b).await?;
                let mut r = Reader(&b);
                Ok(BlobResponseHeader::Ok {
                    size: r.u64()?,
                    start: r.u64()?,
                    chunk_log: r.u8()?,
                })
            }
            1 => {
                let mut b = [0u8; 3];
                io.read_exact(&mut b).await?;
                let code = RefusalCode::from_u8(b[0]);
                let len = u16::from_be_bytes([b[1], b[2]]) as usize;
                if len > MAX_REASON_LEN {
                    return Err(invalid("refusal reason too long"));
                }
                let mut reason = vec![0u8; len];
                io.read_exact(&mut reason).await?;
                let reason = String::from_utf8(reason).map_err(|_| invalid("reason not UTF-8"))?;
                Ok(BlobResponseHeader::Refused(Refusal { code, reason }))
            }
            other => Err(invalid(format!("unknown blob response tag {other}"))),
        }
    }

    /// Decode from a complete buffer (tests and tools).
    pub fn decode(bytes: &[u8]) -> io::Result<Self> {
        futures::executor::block_on(Self::read(&mut &bytes[..]))
    }
}

/// The first allocation of a frame body: a frame's bytes are taken in as they arrive, growing
/// the buffer from here, so a length prefix alone never makes this node allocate.
const FRAME_START_CAPACITY: usize = 16 * 1024;

/// Read a `u32` big-endian length prefix and that many bytes, failing with `InvalidData`
/// before allocating when the length exceeds `max`, and with `UnexpectedEof` when the stream
/// ends first.
///
/// Memory: the buffer grows with the bytes received (at most twice what arrived, never more
/// than twice `max`), not with the length claimed: a peer that announces a 4 MiB frame and
/// sends nothing more costs 16 KiB, not 4 MiB (found by the `fuzz_wire` targets).
pub async fn read_frame<R: AsyncRead + Unpin>(io: &mut R, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(invalid(format!("frame of {len} bytes exceeds limit {max}")));
    }
    let mut body = Vec::with_capacity(len.min(FRAME_START_CAPACITY));
    io.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame ended after {} of {len} bytes", body.len()),
        ));
    }
    Ok(body)
}

/// Write a `u32` big-endian length prefix and the body, refusing bodies over `max`.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    io: &mut W,
    body: &[u8],
    max: usize,
) -> io::Result<()> {
    if body.len() > max {
        return Err(invalid(format!(
            "frame of {} bytes exceeds limit {max}",
            body.len()
        )));
    }
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(body).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_parse() {
        let mut seen = std::collections::HashSet::new();
        for k in MessageKind::ALL {
            assert!(seen.insert(k.as_str()), "duplicate kind {k}");
            assert_eq!(MessageKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn oversize_frame_is_refused_without_allocating() {
        let mut bytes: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        let err = futures::executor::block_on(read_frame(&mut bytes, 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
