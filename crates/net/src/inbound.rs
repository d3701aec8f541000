//! Inbound blob streams, handed to the accept loop without loss.
//!
//! Why this exists instead of libp2p-stream's `Control::accept`: libp2p-stream 0.5.0-alpha
//! delivers each negotiated inbound stream to its `IncomingStreams` with `try_send` on a
//! `futures` channel created with `mpsc::channel(0)` (one slot), and drops the stream with a
//! debug event `Channel is full, dropping inbound stream` when the slot is taken
//! (`shared.rs`, `on_inbound_stream`). Whenever two streams finish negotiating before the
//! accept task is scheduled again — routine when several fetches start at once — the second
//! is dropped, and the requester sees `connection is closed` or `unexpected end of file`.
//!
//! Here each connection's handler keeps the streams it negotiated in a queue and moves them
//! into a bounded channel only when the channel has room (`PollSender::poll_reserve`, which
//! wakes the connection task when the accept loop takes one). A full channel therefore delays
//! a stream instead of dropping it: the requester's first request waits in Yamux's buffers.
//! What bounds the queue is Yamux itself (at most 512 streams per connection) and the
//! gate (only partners connect); with version 2 lanes a partner opens only a handful anyway.
//!
//! ```text
//!  connection task                                   accept loop task
//!  Handler::on_connection_event ─► waiting (VecDeque)
//!  Handler::poll ─poll_reserve/send_item─► mpsc (ACCEPT_QUEUE) ─► recv ─► serve::serve_lane
//! ```
//!
//! Outbound blob streams still go through libp2p-stream's `Control::open_stream`.

use std::{
    collections::VecDeque,
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use libp2p::{
    Multiaddr, PeerId, Stream, StreamProtocol,
    core::{
        Endpoint,
        transport::PortUse,
        upgrade::{DeniedUpgrade, InboundUpgrade, UpgradeInfo},
    },
    swarm::{
        ConnectionDenied, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
        SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
        handler::{ConnectionEvent, ConnectionHandler, FullyNegotiatedInbound},
    },
};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use crate::wire::BlobProtocolVersion;

/// Streams between the connections and the accept loop. The accept loop only spawns a task per
/// stream, so this rarely holds more than one; when full, streams wait in their handler.
pub(crate) const ACCEPT_QUEUE: usize = 32;

/// An inbound blob stream: who opened it, the stream, the version negotiated.
pub(crate) type Inbound = (PeerId, Stream, BlobProtocolVersion);

/// The behaviour: gives every connection a [`Handler`] with a sender into the accept queue.
pub(crate) struct Behaviour {
    sender: mpsc::Sender<Inbound>,
}

impl Behaviour {
    /// The behaviour and the receiving end the accept loop reads.
    pub(crate) fn new() -> (Self, mpsc::Receiver<Inbound>) {
        let (sender, receiver) = mpsc::channel(ACCEPT_QUEUE);
        (Self { sender }, receiver)
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler {
            peer,
            waiting: VecDeque::new(),
            sender: PollSender::new(self.sender.clone()),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// Accepts inbound blob streams on one connection and queues them for the accept loop.
pub(crate) struct Handler {
    peer: PeerId,
    /// Negotiated streams the accept queue had no room for yet, oldest first.
    waiting: VecDeque<(Stream, BlobProtocolVersion)>,
    sender: PollSender<Inbound>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(Upgrade, ())
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        while !self.waiting.is_empty() {
            match self.sender.poll_reserve(cx) {
                Poll::Ready(Ok(())) => {
                    if let Some((stream, version)) = self.waiting.pop_front()
                        && self.sender.send_item((self.peer, stream, version)).is_err()
                    {
                        self.waiting.clear();
                    }
                }
                // The accept loop has stopped (the node is shutting down).
                Poll::Ready(Err(_)) => self.waiting.clear(),
                // Full: the sender wakes this task when the accept loop makes room.
                Poll::Pending => break,
            }
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: (stream, version),
            ..
        }) = event
        {
            // The connection polls the handler again right after this event.
            self.waiting.push_back((stream, version));
        }
    }
}

/// Negotiates `/casemesh/blob/3`, `/2` or `/1` on an inbound stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upgrade;

impl UpgradeInfo for Upgrade {
    type Info = StreamProtocol;
    type InfoIter = std::array::IntoIter<StreamProtocol, 3>;

    fn protocol_info(&self) -> Self::InfoIter {
        BlobProtocolVersion::ALL
            .map(|v| StreamProtocol::new(v.protocol_id()))
            .into_iter()
    }
}

impl InboundUpgrade<Stream> for Upgrade {
    type Output = (Stream, BlobProtocolVersion);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, stream: Stream, info: Self::Info) -> Self::Future {
        // Only ids from `protocol_info` can be negotiated.
        let version =
            BlobProtocolVersion::from_protocol_id(info.as_ref()).unwrap_or(BlobProtocolVersion::V1);
        ready(Ok((stream, version)))
    }
}
