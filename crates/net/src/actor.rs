//! The swarm actor: a private [`NetActor`] owns the libp2p `Swarm` and the partner table and
//! runs one event loop; [`crate::NetHandle`]s talk to it through bounded command channels.
//!
//! ```text
//!  NetHandle ──Command{…, reply: oneshot}──► NetActor::run ──Event──► node (mpsc::Receiver)
//!      │                                       │  owns Swarm<Behaviour{gate, limits, identify, ping,
//!      │                                       │             control (request-response), stream,
//!      │                                       │             blob_inbound}>
//!      └── fetch_blob ── lanes ── libp2p_stream::Control ┘  partner table, reconnect timers, stats
//!  inbound (behaviour) ── inbound /casemesh/blob/{2,1} streams, queued, never dropped ──►
//!  accept loop (task) ──► serve::serve_lane (task per lane, requests answered in order)
//! ```
//!
//! The loop ends when every handle is dropped or the shutdown token is cancelled; dropping the
//! swarm closes all connections, and the accept loop is stopped through a child token.

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use libp2p::{
    Multiaddr, PeerId, Swarm, identify, ping,
    request_response::{self, OutboundRequestId, ResponseChannel},
    swarm::{
        NetworkBehaviour, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{
    Event, Partner, PeerInfo,
    control::ControlCodec,
    error::NetError,
    fair::{FairQueue, PER_PEER_IN_FLIGHT, PER_PEER_QUEUE},
    gate::{Gate, GateEvent},
    lane::Lanes,
    stats::{Counters, Stats},
    wire::{ControlRequest, ControlResponse, ControlStatus, MAX_CONTROL_REQUEST, MAX_KIND_LEN},
};

/// The composed behaviour. `gate` comes first so it denies non-partners before the others
/// set up anything for the connection; `limits` then denies connections over the bounds of
/// [`crate::config::ConnectionLimits`] (it only counts connections the gate let through).
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) gate: Gate,
    pub(crate) limits: libp2p::connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) control: request_response::Behaviour<ControlCodec>,
    /// Opens outbound blob streams (lanes).
    pub(crate) stream: libp2p_stream::Behaviour,
    /// Accepts inbound blob streams and queues them for the accept loop without loss.
    pub(crate) blob_inbound: crate::inbound::Behaviour,
}

/// A request from a handle to the actor.
pub(crate) enum Command {
    SetPartners {
        partners: Vec<Partner>,
        reply: oneshot::Sender<()>,
    },
    AddPartner {
        partner: Partner,
        reply: oneshot::Sender<()>,
    },
    RemovePartner {
        peer: PeerId,
        reply: oneshot::Sender<bool>,
    },
    SendControl {
        peer: PeerId,
        request: ControlRequest,
        reply: oneshot::Sender<Result<ControlResponse, NetError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
}

/// What the actor knows about one partner.
struct PartnerState {
    name: String,
    addrs: Vec<Multiaddr>,
    connections: usize,
    last_seen: Option<SystemTime>,
    rtt: Option<Duration>,
    agent_version: Option<String>,
    protocol_version: Option<String>,
    protocols: Vec<String>,
    /// When to dial next; `None` while connected or while a dial is in progress.
    next_dial: Option<Instant>,
    /// The next redial delay: doubles after every failed or refused attempt up to
    /// `reconnect_max`, back to `reconnect_initial` once a connection is confirmed.
    backoff: Duration,
    /// Whether the open connection is confirmed: the partner ran identify on it, so its gate
    /// let this node in. A connection that closes unconfirmed was refused.
    confirmed: bool,
    /// The last connection closed before the partner ran any protocol: its gate refuses this
    /// node (it has not registered this node as a partner). Cleared by a confirmed connection
    /// or by a dial that fails (then the partner is offline).
    refused: bool,
    /// When a refusal was last logged at info level (at most once a minute).
    refusal_logged: Option<Instant>,
    counters: std::sync::Arc<Counters>,
}

/// An outbound control request awaiting its response: peer, msg_id, who to tell.
type PendingOut = (
    PeerId,
    [u8; 16],
    oneshot::Sender<Result<ControlResponse, NetError>>,
);

type ReplyFuture = BoxFuture<'static, (PeerId, ResponseChannel<ControlResponse>, ControlResponse)>;

/// An inbound control request waiting for its turn ([`FairQueue`]).
type QueuedRequest = (ControlRequest, ResponseChannel<ControlResponse>);

pub(crate) struct NetActor {
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) stats: std::sync::Arc<Stats>,
    /// The requester's blob lanes, forgotten for a peer when one of its connections closes.
    pub(crate) lanes: std::sync::Arc<Lanes>,
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the actor exits; stops the blob accept loop.
    pub(crate) tasks: CancellationToken,
    pub(crate) listen_addrs: Vec<Multiaddr>,
    pub(crate) reconnect_initial: Duration,
    pub(crate) reconnect_max: Duration,
    partners: HashMap<PeerId, PartnerState>,
    pending_out: HashMap<OutboundRequestId, PendingOut>,
    pending_replies: FuturesUnordered<ReplyFuture>,
    /// Inbound control requests per partner, handed to the node in turn ([`crate::fair`]).
    control_queue: FairQueue<QueuedRequest>,
    /// libp2p's metrics, fed with every swarm, identify and ping event, when configured.
    metrics: Option<crate::NetMetrics>,
}

fn now_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl NetActor {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
        stats: std::sync::Arc<Stats>,
        lanes: std::sync::Arc<Lanes>,
        shutdown: CancellationToken,
        tasks: CancellationToken,
        listen_addrs: Vec<Multiaddr>,
        reconnect: (Duration, Duration),
    ) -> Self {
        Self {
            swarm,
            commands,
            events,
            stats,
            lanes,
            shutdown,
            tasks,
            listen_addrs,
            reconnect_initial: reconnect.0,
            reconnect_max: reconnect.1,
            partners: HashMap::new(),
            pending_out: HashMap::new(),
            pending_replies: FuturesUnordered::new(),
            control_queue: FairQueue::new(PER_PEER_QUEUE, PER_PEER_IN_FLIGHT),
            metrics: None,
        }
    }

    /// Record libp2p's metrics into `metrics` (none: not recorded).
    pub(crate) fn with_metrics(mut self, metrics: Option<crate::NetMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub(crate) async fn run(mut self) {
        let _stop_tasks = self.tasks.clone().drop_guard();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                Some((peer, channel, response)) = self.pending_replies.next(), if !self.pending_replies.is_empty() => {
                    let _ = self.swarm.behaviour_mut().control.send_response(channel, response);
                    self.control_queue.done(&peer);
                    self.dispatch_control(None);
                }
                // Queued control requests wait for room in the event channel, not in a loop.
                Ok(permit) = self.events.clone().reserve_owned(), if self.control_queue.has_next() => {
                    self.dispatch_control(Some(permit));
                }
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tick.tick() => self.redial_due(),
            }
        }
        tracing::debug!("net actor stopped");
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::SetPartners { partners, reply } => {
                let keep: std::collections::HashSet<PeerId> =
                    partners.iter().map(|p| p.peer_id).collect();
                let gone: Vec<PeerId> = self
                    .partners
                    .keys()
                    .filter(|p| !keep.contains(p))
                    .copied()
                    .collect();
                for peer in gone {
                    self.remove_partner(&peer);
                }
                for partner in partners {
                    self.add_partner(partner);
                }
                let _ = reply.send(());
            }
            Command::AddPartner { partner, reply } => {
                self.add_partner(partner);
                let _ = reply.send(());
            }
            Command::RemovePartner { peer, reply } => {
                let _ = reply.send(self.remove_partner(&peer));
            }
            Command::SendControl {
                peer,
                request,
                reply,
            } => self.send_control(peer, request, reply),
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.clone());
            }
        }
    }

    fn add_partner(&mut self, partner: Partner) {
        let Partner {
            peer_id,
            addrs,
            name,
        } = partner;
        self.swarm.behaviour_mut().gate.set(peer_id, addrs.clone());
        let counters = self.stats.peer(&peer_id);
        let initial = self.reconnect_initial;
        let state = self
            .partners
            .entry(peer_id)
            .or_insert_with(|| PartnerState {
                name: String::new(),
                addrs: Vec::new(),
                connections: 0,
                last_seen: None,
                rtt: None,
                agent_version: None,
                protocol_version: None,
                protocols: Vec::new(),
                next_dial: Some(Instant::now()),
                backoff: initial,
                confirmed: false,
                refused: false,
                refusal_logged: None,
                counters,
            });
        state.name = name;
        let new_addrs = state.addrs != addrs;
        state.addrs = addrs;
        if state.connections == 0 && (new_addrs || state.next_dial.is_some()) {
            self.dial(peer_id);
        }
    }

    fn remove_partner(&mut self, peer: &PeerId) -> bool {
        self.swarm.behaviour_mut().gate.remove(peer);
        let existed = self.partners.remove(peer).is_some();
        if self.swarm.is_connected(peer) {
            let _ = self.swarm.disconnect_peer_id(*peer);
        }
        existed
    }

    fn dial(&mut self, peer: PeerId) {
        let Some(state) = self.partners.get_mut(&peer) else {
            return;
        };
        if state.addrs.is_empty() {
            // Nothing to dial; the partner may still connect to us.
            state.next_dial = None;
            return;
        }
        state.next_dial = None;
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(peer = %peer, error = %e, "dial not started");
            self.schedule_redial(peer);
        }
    }

    fn schedule_redial(&mut self, peer: PeerId) {
        let max = self.reconnect_max;
        if let Some(state) = self.partners.get_mut(&peer)
            && state.connections == 0
            && !state.addrs.is_empty()
        {
            {
                state.next_dial = Some(Instant::now() + state.backoff);
                tracing::debug!(peer = %peer, backoff = ?state.backoff, "partner redial scheduled");
                state.backoff = (state.backoff * 2).min(max);
            }
        }
    }

    fn redial_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .partners
            .iter()
            .filter(|(_, s)| s.connections == 0 && s.next_dial.is_some_and(|t| t <= now))
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            self.dial(peer);
        }
    }

    fn send_control(
        &mut self,
        peer: PeerId,
        request: ControlRequest,
        reply: oneshot::Sender<Result<ControlResponse, NetError>>,
    ) {
        if !self.partners.contains_key(&peer) {
            let _ = reply.send(Err(NetError::NotPartner(peer)));
            return;
        }
        if request.kind.len() > MAX_KIND_LEN {
            let _ = reply.send(Err(NetError::TooLarge {
                size: request.kind.len(),
                limit: MAX_KIND_LEN,
            }));
            return;
        }
        let len = request.encoded_len();
        if len > MAX_CONTROL_REQUEST {
            let _ = reply.send(Err(NetError::TooLarge {
                size: len,
                limit: MAX_CONTROL_REQUEST,
            }));
            return;
        }
        let counters = self.stats.peer(&peer);
        Counters::add(&counters.msgs_sent, 1);
        Counters::add(&counters.bytes_sent, len as u64 + 4);
        let msg_id = request.msg_id;
        let id = self
            .swarm
            .behaviour_mut()
            .control
            .send_request(&peer, request);
        self.pending_out.insert(id, (peer, msg_id, reply));
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let mut out: Vec<PeerInfo> = self
            .partners
            .iter()
            .map(|(peer, s)| PeerInfo {
                peer_id: *peer,
                name: s.name.clone(),
                connected: s.connections > 0 && s.confirmed,
                refused_by_partner: s.refused && !(s.connections > 0 && s.confirmed),
                addrs: s.addrs.clone(),
                last_seen_ms: s.last_seen.map(now_ms),
                rtt: s.rtt,
                agent_version: s.agent_version.clone(),
                protocol_version: s.protocol_version.clone(),
                protocols: s.protocols.clone(),
                messages_sent: Counters::get(&s.counters.msgs_sent),
                messages_received: Counters::get(&s.counters.msgs_received),
                bytes_sent: Counters::get(&s.counters.bytes_sent),
                bytes_received: Counters::get(&s.counters.bytes_received),
                transfers_in_flight: Counters::get(&s.counters.transfers_in_flight),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.peer_id.cmp(&b.peer_id)));
        out
    }

    fn seen(&mut self, peer: &PeerId) -> Option<&mut PartnerState> {
        let state = self.partners.get_mut(peer)?;
        state.last_seen = Some(SystemTime::now());
        Some(state)
    }

    fn emit(&self, event: Event) {
        if let Err(e) = self.events.try_send(event) {
            tracing::debug!(error = %e, "event dropped (receiver full or gone)");
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if let Some(metrics) = &self.metrics {
            metrics.record(&event);
            match &event {
                SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => metrics.record(e),
                SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => metrics.record(e),
                _ => {}
            }
        }
        match event {
            SwarmEvent::NewListenAddr { address, .. } if !self.listen_addrs.contains(&address) => {
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
            }
            // A connection counts (backoff reset, `PeerConnected`) only once it is confirmed by
            // identify (see `confirm`): a partner whose gate refuses this node lets the
            // Noise handshake finish and then closes the connection, and resetting the backoff
            // here made the dialer flap every ~1.25 s (issue #15 item 5).
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if let Some(state) = self.seen(&peer_id) {
                    state.connections = num_established.get() as usize;
                    state.next_dial = None;
                }
                tracing::debug!(peer = %peer_id, "connection established, waiting for identify");
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                // Lanes on the closed connection are dead; later fetches open new ones.
                self.lanes.forget(&peer_id);
                if let Some(state) = self.seen(&peer_id) {
                    state.connections = num_established as usize;
                }
                if num_established == 0 {
                    self.all_closed(peer_id, cause.map(|c| c.to_string()));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                tracing::debug!(peer = %peer, error = %error, "dial failed");
                if !self.swarm.is_connected(&peer) {
                    // Not reached at all: offline, whatever it did before.
                    if let Some(state) = self.partners.get_mut(&peer) {
                        state.refused = false;
                    }
                    self.schedule_redial(peer);
                }
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(error = %error, "incoming connection failed");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gate(GateEvent::Refused(peer)) => {
                self.emit(Event::ConnectionRefused { peer });
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if let Some(state) = self.seen(&peer_id) {
                    state.agent_version = Some(info.agent_version);
                    state.protocol_version = Some(info.protocol_version);
                    state.protocols = info.protocols.iter().map(|p| p.to_string()).collect();
                }
                self.confirm(peer_id);
            }
            BehaviourEvent::Identify(_) => {}
            BehaviourEvent::Ping(ping::Event { peer, result, .. }) => {
                if let Ok(rtt) = result
                    && let Some(state) = self.seen(&peer)
                {
                    state.rtt = Some(rtt);
                }
            }
            BehaviourEvent::Control(event) => self.on_control_event(event),
            BehaviourEvent::Stream(()) => {}
            BehaviourEvent::BlobInbound(never) => match never {},
            BehaviourEvent::Limits(never) => match never {},
        }
    }

    /// The partner ran identify on a connection: its gate let this node in. The first such
    /// connection makes the partner connected (`PeerConnected`) and resets the backoff.
    fn confirm(&mut self, peer: PeerId) {
        let initial = self.reconnect_initial;
        let Some(state) = self.partners.get_mut(&peer) else {
            return;
        };
        if state.confirmed || state.connections == 0 {
            return;
        }
        state.confirmed = true;
        state.refused = false;
        state.backoff = initial;
        tracing::info!(peer = %peer, "partner connected");
        self.emit(Event::PeerConnected { peer });
    }

    /// The last connection to `peer` closed. Confirmed: the partner disconnected, and it is
    /// dialed again after the initial delay. Unconfirmed: the partner's gate closed it before
    /// any protocol ran (it has not registered this node), so the next dial waits twice as
    /// long as the last, up to `reconnect_max`, and this is logged at most once a minute.
    fn all_closed(&mut self, peer: PeerId, cause: Option<String>) {
        let initial = self.reconnect_initial;
        let Some(state) = self.partners.get_mut(&peer) else {
            return;
        };
        if std::mem::take(&mut state.confirmed) {
            state.backoff = initial;
            tracing::info!(peer = %peer, cause = ?cause, "partner disconnected");
            self.emit(Event::PeerDisconnected { peer });
        } else {
            state.refused = true;
            let now = Instant::now();
            if state
                .refusal_logged
                .is_none_or(|t| now.duration_since(t) >= crate::gate::REFUSAL_REPORT_INTERVAL)
            {
                state.refusal_logged = Some(now);
                tracing::info!(peer = %peer, retry_in = ?state.backoff, "the partner closed the connection before any protocol ran: it has not registered this node as a partner (or its gate refuses it); dialing again with backoff");
            } else {
                tracing::debug!(peer = %peer, retry_in = ?state.backoff, "connection refused by the partner");
            }
        }
        self.schedule_redial(peer);
    }

    fn on_control_event(
        &mut self,
        event: request_response::Event<ControlRequest, ControlResponse>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let counters = self.stats.peer(&peer);
                    Counters::add(&counters.msgs_received, 1);
                    Counters::add(&counters.bytes_received, request.encoded_len() as u64 + 4);
                    self.seen(&peer);
                    self.on_inbound_request(peer, request, channel);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    let counters = self.stats.peer(&peer);
                    Counters::add(&counters.msgs_received, 1);
                    Counters::add(&counters.bytes_received, response.encode().len() as u64 + 4);
                    self.seen(&peer);
                    if let Some((peer, msg_id, reply)) = self.pending_out.remove(&request_id) {
                        let result = if response.msg_id == msg_id {
                            Ok(response)
                        } else {
                            Err(NetError::Protocol {
                                peer,
                                reason: "response msg_id does not match the request".into(),
                            })
                        };
                        let _ = reply.send(result);
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(peer = %peer, error = %error, "control request failed");
                if let Some((peer, _, reply)) = self.pending_out.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Control {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::warn!(peer = %peer, error = %error, "inbound control request failed");
            }
            request_response::Event::ResponseSent { peer, .. } => {
                let counters = self.stats.peer(&peer);
                Counters::add(&counters.msgs_sent, 1);
            }
        }
    }

    /// Queues an inbound control request in its partner's queue ([`FairQueue`]); only a
    /// request that finds that queue full is answered `Busy`.
    fn on_inbound_request(
        &mut self,
        peer: PeerId,
        request: ControlRequest,
        channel: ResponseChannel<ControlResponse>,
    ) {
        let msg_id = request.msg_id;
        if let Err((_, channel)) = self.control_queue.push(peer, (request, channel)) {
            tracing::warn!(peer = %peer, "this partner's control queue is full; request answered Busy");
            let response = ControlResponse::status(msg_id, ControlStatus::Busy);
            let _ = self
                .swarm
                .behaviour_mut()
                .control
                .send_response(channel, response);
            return;
        }
        self.dispatch_control(None);
    }

    /// Moves queued control requests into the event channel, partners in turn, while it has
    /// room (`first`: a slot already reserved).
    fn dispatch_control(&mut self, mut first: Option<mpsc::OwnedPermit<Event>>) {
        while self.control_queue.has_next() {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match self.events.clone().try_reserve_owned() {
                    Ok(permit) => permit,
                    // Full: the run loop waits for room.
                    Err(mpsc::error::TrySendError::Full(_)) => return,
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        for (request, channel) in self.control_queue.drain() {
                            let response = ControlResponse::status(
                                request.msg_id,
                                ControlStatus::Failed("node is not accepting requests".into()),
                            );
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .control
                                .send_response(channel, response);
                        }
                        return;
                    }
                },
            };
            let Some((peer, (request, channel))) = self.control_queue.next() else {
                return;
            };
            let msg_id = request.msg_id;
            let (tx, rx) = oneshot::channel();
            permit.send(Event::ControlRequest {
                peer,
                request,
                reply: tx,
            });
            self.pending_replies.push(Box::pin(async move {
                let response = rx.await.unwrap_or_else(|_| {
                    ControlResponse::status(
                        msg_id,
                        ControlStatus::Failed("request dropped by the node".into()),
                    )
                });
                (peer, channel, response)
            }));
        }
    }
}
