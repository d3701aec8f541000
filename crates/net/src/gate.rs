//! Connection gating: the allow list of registered partners, enforced when a connection is
//! established (after the Noise handshake proves the remote's PeerId, before any casemesh
//! protocol runs), plus the partner addresses used when dialing, and keep-alive for partner
//! connections.
//!
//! This behaviour must come first in the composed behaviour so that it denies a connection
//! before the other behaviours create handlers for it.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

/// A refused peer is reported ([`GateEvent::Refused`], which the node logs as a warning) at
/// most once per this interval; the refusals in between are logged at debug level. A peer that
/// registered this node while this node did not register it dials again and again (with its
/// backoff), and an operator needs one line, not one per attempt (issue #15 item 5).
pub(crate) const REFUSAL_REPORT_INTERVAL: Duration = Duration::from_secs(60);

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, transport::PortUse, upgrade::DeniedUpgrade},
    swarm::{
        ConnectionDenied, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
        SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
        handler::{ConnectionEvent, ConnectionHandler},
    },
};

/// The error a denied connection carries.
#[derive(Debug, thiserror::Error)]
#[error("peer {0} is not a registered partner")]
pub(crate) struct NotAPartner(PeerId);

/// Something the gate saw.
#[derive(Debug)]
pub(crate) enum GateEvent {
    /// A connection from or to an unregistered peer was denied (at most once per
    /// [`REFUSAL_REPORT_INTERVAL`] per peer).
    Refused(PeerId),
}

/// Allow-list gate. The actor owns it inside the swarm and edits it on `set_partners`.
#[derive(Default)]
pub(crate) struct Gate {
    /// Registered partners and their known addresses.
    partners: HashMap<PeerId, Vec<Multiaddr>>,
    events: VecDeque<GateEvent>,
    waker: Option<Waker>,
    /// When each refused peer was last reported, and the refusals since then.
    reported: HashMap<PeerId, (Instant, u64)>,
}

impl Gate {
    pub(crate) fn set(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.partners.insert(peer, addrs);
    }

    pub(crate) fn remove(&mut self, peer: &PeerId) {
        self.partners.remove(peer);
    }

    pub(crate) fn is_partner(&self, peer: &PeerId) -> bool {
        self.partners.contains_key(peer)
    }

    fn check(&mut self, peer: PeerId) -> Result<KeepAlive, ConnectionDenied> {
        if self.is_partner(&peer) {
            return Ok(KeepAlive);
        }
        let now = Instant::now();
        match self.reported.get_mut(&peer) {
            Some((at, since)) if now.duration_since(*at) < REFUSAL_REPORT_INTERVAL => {
                *since += 1;
                tracing::debug!(peer = %peer, "refused connection from unregistered peer");
            }
            _ => {
                let since = self.reported.insert(peer, (now, 0)).map_or(0, |(_, n)| n);
                // The node warns on the event; this line adds the hint at info level.
                tracing::info!(
                    peer = %peer,
                    refused_since_last_report = since,
                    "refused connection from unregistered peer (it has registered this node; register it with `casemesh partner add` to share with it); reported at most once a minute"
                );
                self.events.push_back(GateEvent::Refused(peer));
                if let Some(w) = self.waker.take() {
                    w.wake();
                }
            }
        }
        // Bounded: a peer must complete a Noise handshake to get here, and old entries go.
        if self.reported.len() > 1024 {
            self.reported
                .retain(|_, (at, _)| now.duration_since(*at) < REFUSAL_REPORT_INTERVAL);
        }
        Err(ConnectionDenied::new(NotAPartner(peer)))
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = KeepAlive;
    type ToSwarm = GateEvent;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(peer)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        maybe_peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        match maybe_peer {
            Some(peer) => match self.partners.get(&peer) {
                Some(addrs) => Ok(addrs.clone()),
                None => Err(ConnectionDenied::new(NotAPartner(peer))),
            },
            None => Ok(vec![]),
        }
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(peer)
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

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<GateEvent, THandlerInEvent<Self>>> {
        if let Some(e) = self.events.pop_front() {
            return Poll::Ready(ToSwarm::GenerateEvent(e));
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A handler with no protocol that keeps partner connections open (partners are few and
/// exchange messages at any time; reconnecting costs a handshake and delays updates).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeepAlive;

impl ConnectionHandler for KeepAlive {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = DeniedUpgrade;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(DeniedUpgrade, ())
    }

    fn connection_keep_alive(&self) -> bool {
        true
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        _: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
    }
}
