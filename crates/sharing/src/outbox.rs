//! The outbox actor: delivers every partner's queued control messages (the durable
//! `outbox.<peer>` queues in the store), in order, and keeps each unreachable partner's retry
//! pause.
//!
//! ```text
//!  Engine::wake_outbox ── notify (coalesced) ──┐
//!  event loop: PeerConnected ── Command ───────┤
//!  tick (every OUTBOX_TICK) ───────────────────┤
//!                                              ▼
//!                         OutboxActor::run  owns Schedule (pure: who is due, per-partner
//!                                              │            backoff, who is in flight)
//!                                              │ start(due partners)
//!                                              ▼
//!                         JoinSet: one delivery task per partner (at most OUTBOX_PARALLEL),
//!                         Courier::deliver_to ── net.send_control ──► partner, in queue order
//!                                              │ finished(partner, ok | failed)
//!                                              └──────────────► back to the actor
//! ```
//!
//! The decisions are in [`Schedule`], a pure struct that takes the time as an argument: which
//! partner to start now (registered, not in flight, not waiting out a pause), the pause after a
//! failure (doubling per failure in a row, [`crate::retry::delay`]), and what a success or a
//! reconnection clears. The actor only applies them: it never waits on the network itself (each
//! partner's delivery runs in its own task on the actor's `JoinSet`), so a wake-up or a reconnection
//! is taken at once, and one slow partner does not hold back the others. A partner's messages
//! still go one at a time and in order: it has at most one delivery task.
//!
//! The actor ends when the shutdown token is cancelled or every [`OutboxHandle`] is dropped;
//! it then drops the deliveries in flight (at an await point: a message whose answer was not
//! recorded is sent again later and the partner deduplicates it by message id) and joins them.

use crate::error::{Clash, Result, SharingError, Unavailable};
use crate::records::{self, OutboxMessage};
use crate::{Engine, lifecycle, retry};
use casemesh_model::ids::OrgId;
use casemesh_net::{ControlRequest, ControlStatus, NetHandle};
use casemesh_store::{Clock, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// First pause before retrying a partner whose delivery failed (unless it reconnects first); it
/// doubles with each failure in a row, up to [`OUTBOX_RETRY_MAX`] (see [`retry::delay`]).
const OUTBOX_RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest pause between delivery attempts to an unreachable partner (before jitter).
const OUTBOX_RETRY_MAX: Duration = Duration::from_secs(60);
/// How often the actor looks for due work when nothing wakes it (a pause that ended, a message
/// queued without a wake-up).
const OUTBOX_TICK: Duration = Duration::from_secs(1);
/// At most this many partners are delivered to at once; the others wait for a free slot.
const OUTBOX_PARALLEL: usize = 8;
/// Commands waiting for the actor (reconnections); a sender waits when it is full.
const COMMANDS: usize = 64;

/// The pause before the `failures`-th retry of a partner in a row (1 = after the first failure).
pub(crate) fn pause(failures: u32) -> Duration {
    retry::delay(OUTBOX_RETRY_MIN, OUTBOX_RETRY_MAX, failures)
}

/// What the actor knows about one partner.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct PartnerState {
    /// Failures in a row, and no attempt before this instant. `None`: not backing off.
    retry: Option<(Instant, u32)>,
    /// A delivery task for the partner runs.
    in_flight: bool,
    /// Asked for (a wake-up, a tick, a reconnection) and not yet served: started at the next
    /// [`Schedule::start`] with room, or, while in flight, after that delivery succeeds.
    wanted: bool,
    /// It connected while a delivery ran: a failure of that delivery is not held against it.
    reconnected: bool,
}

/// The outbox's decisions, with no IO and no clock of its own: who is due, the pause after a
/// failure, what a success or a reconnection clears.
///
/// Rules (what the property test checks against a model):
/// - a partner has at most one delivery in flight, and none starts while its pause lasts;
/// - no request is lost: a partner asked for is started at the next [`Schedule::start`] with
///   room, or, if it was in flight, after that delivery succeeds (a failure's pause covers the
///   request instead, unless the partner reconnected meanwhile);
/// - no partner is started without a request since its last start;
/// - the `n`-th failure in a row pauses the partner for `pause(n)`; a success or a
///   reconnection ends the pause and resets the count.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    partners: BTreeMap<OrgId, PartnerState>,
    /// Every partner is asked for (a wake-up, a tick, a reconnection): turned into each
    /// registered partner's `wanted` at the next [`Schedule::start`].
    all: bool,
}

/// The result of a partner's delivery, as the schedule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything queued was delivered (or dead-lettered).
    Delivered,
    /// A temporary failure: the partner is unreachable or busy.
    Failed,
}

impl Schedule {
    /// Ask for a pass over every partner (something was queued, or the periodic tick).
    pub(crate) fn request_all(&mut self) {
        self.all = true;
    }

    /// `peer` connected: its pause ends now, and every partner is asked for (as by a wake-up).
    /// A delivery to it in flight is not held against it if it fails.
    pub(crate) fn connected(&mut self, peer: &OrgId) {
        let state = self.partners.entry(peer.clone()).or_default();
        state.retry = None;
        state.reconnected = state.in_flight;
        self.all = true;
    }

    /// The partners to start now, at most `room`, in `registered` order, each marked in flight.
    /// `registered` is the current partner list: the state of partners no longer registered
    /// and not in flight is dropped.
    pub(crate) fn start(&mut self, registered: &[OrgId], now: Instant, room: usize) -> Vec<OrgId> {
        self.partners
            .retain(|peer, s| s.in_flight || registered.iter().any(|r| r == peer));
        let all = std::mem::take(&mut self.all);
        let mut started = Vec::new();
        for peer in registered {
            let state = self.partners.entry(peer.clone()).or_default();
            state.wanted |= all;
            if !state.wanted || state.in_flight {
                // An in-flight partner keeps the request for after its delivery.
                continue;
            }
            if state.retry.is_some_and(|(at, _)| now < at) {
                // Its pause covers the request: the retry takes what was queued.
                state.wanted = false;
                continue;
            }
            if started.len() >= room {
                continue;
            }
            state.in_flight = true;
            state.wanted = false;
            started.push(peer.clone());
        }
        started
    }

    /// `peer`'s delivery ended. After a failure the partner waits `pause(failures)`; returns
    /// the failures in a row and that pause. After a success its pause and count are reset.
    pub(crate) fn finished(
        &mut self,
        peer: &OrgId,
        outcome: Outcome,
        now: Instant,
        pause: impl FnOnce(u32) -> Duration,
    ) -> Option<(u32, Duration)> {
        let state = self.partners.entry(peer.clone()).or_default();
        state.in_flight = false;
        let reconnected = std::mem::take(&mut state.reconnected);
        match outcome {
            Outcome::Delivered => {
                state.retry = None;
                None
            }
            Outcome::Failed if reconnected => {
                // The failure came before the reconnection: try again at once.
                state.wanted = true;
                None
            }
            Outcome::Failed => {
                let failures = state.retry.map_or(0, |(_, n)| n).saturating_add(1);
                let wait = pause(failures);
                state.retry = Some((now + wait, failures));
                state.wanted = false;
                Some((failures, wait))
            }
        }
    }

    /// Whether a [`Schedule::start`] now could start someone (a request waits, or a partner
    /// asked for during its delivery is free again). Pauses are not looked at: a start during
    /// one starts nobody.
    pub(crate) fn wants_start(&self) -> bool {
        self.all || self.partners.values().any(|s| s.wanted && !s.in_flight)
    }

    /// Partners with a delivery in flight.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.partners.values().filter(|s| s.in_flight).count()
    }
}

/// A request to the outbox actor.
enum Command {
    /// A partner connected: its pause ends, and it is tried at once.
    Connected { peer: OrgId },
}

/// Cloneable handle to the outbox actor. The actor ends when the last handle is dropped or
/// the shutdown token is cancelled.
#[derive(Clone)]
pub(crate) struct OutboxHandle {
    commands: mpsc::Sender<Command>,
    /// Coalesced wake-ups: many `wake`s before the actor looks are one pass.
    wake: Arc<Notify>,
}

impl OutboxHandle {
    /// Something was queued (committed): deliver it. Never blocks; wake-ups coalesce.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// `peer` connected: end its pause and deliver what waits for it. Waits only while the
    /// actor's command queue is full (the actor never waits on the network, so not long).
    pub(crate) async fn connected(&self, peer: OrgId) {
        if self
            .commands
            .send(Command::Connected { peer })
            .await
            .is_err()
        {
            tracing::debug!("outbox actor stopped; reconnection not passed on");
        }
    }
}

/// What a delivery task needs: the store (queues, dead letters, shares), the net layer, the
/// clock. Cheap to clone; no engine state.
#[derive(Clone)]
pub(crate) struct Courier {
    pub(crate) store: Store,
    pub(crate) net: NetHandle,
    pub(crate) clock: Clock,
}

/// The actor: owns the schedule and the delivery tasks.
pub(crate) struct OutboxActor {
    courier: Courier,
    commands: mpsc::Receiver<Command>,
    wake: Arc<Notify>,
    schedule: Schedule,
    /// The delivery tasks, one per partner at most.
    deliveries: JoinSet<Result<()>>,
    /// Whose delivery each task is (a task that panics is still its partner's failure).
    delivering: BTreeMap<tokio::task::Id, OrgId>,
    shutdown: CancellationToken,
}

impl OutboxActor {
    /// A new actor and its first handle. Run it with [`OutboxActor::run`].
    pub(crate) fn new(
        courier: Courier,
        shutdown: CancellationToken,
    ) -> (OutboxHandle, OutboxActor) {
        let (tx, rx) = mpsc::channel(COMMANDS);
        let wake = Arc::new(Notify::new());
        let handle = OutboxHandle {
            commands: tx,
            wake: wake.clone(),
        };
        let actor = OutboxActor {
            courier,
            commands: rx,
            wake,
            schedule: Schedule::default(),
            deliveries: JoinSet::new(),
            delivering: BTreeMap::new(),
            shutdown,
        };
        (handle, actor)
    }

    /// The loop. Delivers at once (what a restart left queued), then on every wake-up,
    /// reconnection and tick; ends at shutdown or when the last handle is dropped, after the
    /// deliveries in flight are dropped and joined.
    pub(crate) async fn run(mut self) {
        self.schedule.request_all();
        self.start_due();
        let mut tick = tokio::time::interval(OUTBOX_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                command = self.commands.recv() => match command {
                    Some(Command::Connected { peer }) => self.schedule.connected(&peer),
                    None => break,
                },
                Some(done) = self.deliveries.join_next_with_id(), if !self.deliveries.is_empty() => {
                    let (id, result) = match done {
                        Ok((id, result)) => (id, result),
                        Err(e) => (e.id(), Err(SharingError::Internal(format!("delivery task failed: {e}")))),
                    };
                    if let Some(peer) = self.delivering.remove(&id) {
                        self.finished(&peer, result);
                    }
                }
                _ = self.wake.notified() => self.schedule.request_all(),
                _ = tick.tick() => self.schedule.request_all(),
            }
            if self.schedule.wants_start() {
                self.start_due();
            }
        }
        // Deliveries stop at their next await point; their partners' queues stay as they are.
        self.deliveries.shutdown().await;
    }

    fn finished(&mut self, peer: &OrgId, result: Result<()>) {
        let outcome = match result {
            Ok(()) => Outcome::Delivered,
            Err(_) => Outcome::Failed,
        };
        if let Some((failures, wait)) = self.schedule.finished(peer, outcome, Instant::now(), pause)
        {
            let error = result.err().map(|e| e.to_string()).unwrap_or_default();
            tracing::info!(
                peer = %peer,
                error,
                failures,
                retry_in_ms = wait.as_millis() as u64,
                "outbox: partner unreachable, will retry"
            );
        }
    }

    /// Start a delivery task for each partner that is due, within [`OUTBOX_PARALLEL`].
    fn start_due(&mut self) {
        let registered: Vec<OrgId> = match self.courier.store.all(&records::PARTNERS) {
            Ok(p) => p.into_iter().map(|p: records::Partner| p.peer_id).collect(),
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot list partners");
                return;
            }
        };
        let room = OUTBOX_PARALLEL.saturating_sub(self.deliveries.len());
        for peer in self.schedule.start(&registered, Instant::now(), room) {
            let courier = self.courier.clone();
            let task = {
                let peer = peer.clone();
                self.deliveries
                    .spawn(async move { courier.deliver_to(&peer).await })
            };
            self.delivering.insert(task.id(), peer);
        }
    }
}

impl Courier {
    /// Deliver a partner's queued messages in order. A message the partner refuses for good, or
    /// that is too large to send, moves to the dead letters (and its share is marked Failed) so
    /// the messages behind it go on; a temporary failure stops here and is retried later.
    pub(crate) async fn deliver_to(&self, peer: &OrgId) -> Result<()> {
        let queue = records::outbox_queue(peer);
        let items: Vec<(u64, OutboxMessage)> = self.store.queue_items(&queue)?;
        if items.is_empty() {
            return Ok(());
        }
        let peer_id = crate::partners::peer_of(peer)?;
        for (seq, msg) in items {
            let mut msg_id = [0u8; 16];
            if hex::decode_to_slice(&msg.msg_id, &mut msg_id).is_err() {
                self.dead_letter(peer, seq, &msg, "malformed message id in the outbox")?;
                continue;
            }
            let request = ControlRequest {
                msg_id,
                kind: msg.kind.clone(),
                payload: msg.payload.clone().into_bytes(),
            };
            let response = match self.net.send_control(peer_id, request).await {
                Ok(r) => r,
                Err(casemesh_net::NetError::TooLarge { size, limit }) => {
                    let reason = format!("{size} bytes is over the {limit} byte message limit");
                    self.dead_letter(peer, seq, &msg, &reason)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            match response.status {
                ControlStatus::Ok => self.store.queue_remove(&queue, seq)?,
                ControlStatus::Rejected(reason) => {
                    self.dead_letter(
                        peer,
                        seq,
                        &msg,
                        &format!("refused by the partner: {reason}"),
                    )?;
                }
                ControlStatus::UnknownKind => {
                    self.dead_letter(
                        peer,
                        seq,
                        &msg,
                        "the partner's casemesh does not know this message kind",
                    )?;
                }
                ControlStatus::Busy | ControlStatus::Failed(_) | _ => {
                    return Err(Unavailable::PartnerBusy {
                        kind: msg.kind.clone(),
                        status: response.status,
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Move an outbox message to the partner's dead letters and fail its share, atomically.
    fn dead_letter(&self, peer: &OrgId, seq: u64, msg: &OutboxMessage, reason: &str) -> Result<()> {
        tracing::warn!(peer = %peer, kind = %msg.kind, share = ?msg.share, reason, "message cannot be delivered; moved to the dead letters");
        let now = self.clock.now();
        let letter = records::DeadLetter {
            msg_id: msg.msg_id.clone(),
            kind: msg.kind.clone(),
            share: msg.share,
            reason: reason.to_owned(),
            queued_at: msg.queued_at,
            at: now,
        };
        self.store.atomically(|txn| {
            txn.queue_remove(&records::outbox_queue(peer), seq)?;
            txn.queue_push(&records::dead_letter_queue(peer), &letter)?;
            if let Some(id) = msg.share
                && let Some(mut share) = txn.get(&records::SHARES, &id)?
            {
                let why = format!("{}: {reason}", msg.kind);
                let effects =
                    lifecycle::step(&mut share, lifecycle::Event::Failed { reason: &why }, now)
                        .map_err(|refused| Clash::Step { share: id, refused })?;
                if !effects.is_empty() {
                    txn.put(&records::SHARES, &id, &share)?;
                    let system = casemesh_store::Actor::new("system", now);
                    Engine::carry_out(txn, &share, &effects, &system, &why)?;
                }
            }
            Ok::<_, SharingError>(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(i: usize) -> OrgId {
        OrgId(format!("p{i}"))
    }

    fn peers(n: usize) -> Vec<OrgId> {
        (0..n).map(p).collect()
    }

    /// A fixed pause: `failures` seconds.
    fn linear(failures: u32) -> Duration {
        Duration::from_secs(u64::from(failures))
    }

    #[test]
    fn a_failure_pauses_the_partner_and_a_success_resets_it() {
        let t0 = Instant::now();
        let registered = peers(2);
        let mut s = Schedule::default();
        s.request_all();
        assert_eq!(s.start(&registered, t0, 8), registered);
        assert_eq!(
            s.finished(&p(0), Outcome::Failed, t0, linear),
            Some((1, Duration::from_secs(1)))
        );
        assert_eq!(s.finished(&p(1), Outcome::Delivered, t0, linear), None);
        // Within the pause a wake-up starts only p1.
        s.request_all();
        assert_eq!(s.start(&registered, t0, 8), vec![p(1)]);
        s.finished(&p(1), Outcome::Delivered, t0, linear);
        // After it, p0 goes; a second failure doubles the count.
        let t1 = t0 + Duration::from_secs(1);
        s.request_all();
        assert_eq!(s.start(&registered, t1, 8), registered);
        assert_eq!(
            s.finished(&p(0), Outcome::Failed, t1, linear),
            Some((2, Duration::from_secs(2)))
        );
        s.finished(&p(1), Outcome::Delivered, t1, linear);
        s.request_all();
        assert_eq!(
            s.start(&registered, t1 + Duration::from_secs(2), 8),
            registered
        );
        // A success resets the count.
        assert_eq!(s.finished(&p(0), Outcome::Delivered, t1, linear), None);
        s.request_all();
        s.start(&registered, t1, 8);
        assert_eq!(
            s.finished(&p(0), Outcome::Failed, t1, linear),
            Some((1, Duration::from_secs(1)))
        );
    }

    #[test]
    fn a_reconnection_ends_the_pause() {
        let t0 = Instant::now();
        let registered = peers(1);
        let mut s = Schedule::default();
        s.request_all();
        s.start(&registered, t0, 8);
        s.finished(&p(0), Outcome::Failed, t0, |_| Duration::from_secs(60));
        s.request_all();
        assert!(s.start(&registered, t0, 8).is_empty());
        s.connected(&p(0));
        assert_eq!(s.start(&registered, t0, 8), registered);
        // A reconnection while a delivery runs: that delivery's failure is not held against it.
        s.connected(&p(0));
        assert_eq!(s.finished(&p(0), Outcome::Failed, t0, linear), None);
        assert!(s.wants_start());
        assert_eq!(s.start(&registered, t0, 8), registered);
    }

    #[test]
    fn a_wake_up_during_a_delivery_starts_another_after_it() {
        let t0 = Instant::now();
        let registered = peers(1);
        let mut s = Schedule::default();
        s.request_all();
        assert_eq!(s.start(&registered, t0, 8), registered);
        s.request_all();
        assert!(
            s.start(&registered, t0, 8).is_empty(),
            "one delivery per partner"
        );
        assert!(!s.wants_start());
        s.finished(&p(0), Outcome::Delivered, t0, linear);
        assert!(s.wants_start());
        assert_eq!(s.start(&registered, t0, 8), registered);
        s.finished(&p(0), Outcome::Delivered, t0, linear);
        assert!(!s.wants_start(), "nothing more was asked for");
    }

    #[test]
    fn partners_over_the_room_wait_for_the_next_start() {
        let t0 = Instant::now();
        let registered = peers(5);
        let mut s = Schedule::default();
        s.request_all();
        assert_eq!(s.start(&registered, t0, 2), peers(2));
        assert!(s.wants_start());
        s.finished(&p(0), Outcome::Delivered, t0, linear);
        assert_eq!(s.start(&registered, t0, 1), vec![p(2)]);
        assert_eq!(s.start(&registered, t0, 2), vec![p(3), p(4)]);
        assert!(!s.wants_start());
    }

    #[test]
    fn a_removed_partner_is_forgotten() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.request_all();
        s.start(&peers(2), t0, 8);
        s.finished(&p(1), Outcome::Failed, t0, linear);
        s.finished(&p(0), Outcome::Delivered, t0, linear);
        s.request_all();
        assert_eq!(s.start(&peers(1), t0, 8), peers(1));
        assert!(!s.partners.contains_key(&p(1)));
        assert_eq!(s.in_flight(), 1);
    }

    #[derive(Debug, Clone)]
    enum Ev {
        RequestAll,
        Connected(usize),
        Start(usize),
        Finish(usize, bool),
        Advance(u64),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            Just(Ev::RequestAll),
            (0usize..4).prop_map(Ev::Connected),
            (0usize..4).prop_map(Ev::Start),
            ((0usize..4), any::<bool>()).prop_map(|(p, ok)| Ev::Finish(p, ok)),
            (0u64..5).prop_map(Ev::Advance),
        ]
    }

    proptest! {
        /// Against a model: at most one delivery per partner, none during a pause, at most
        /// `room` started, pauses of `pause(n)` after n failures in a row, and no request lost.
        #[test]
        fn the_outbox_rules_hold_for_any_sequence(events in proptest::collection::vec(ev(), 0..60)) {
            let registered = peers(4);
            let t0 = Instant::now();
            let mut now = t0;
            let mut s = Schedule::default();
            // The model, per partner.
            let mut in_flight = [false; 4];
            let mut failures = [0u32; 4];
            let mut paused_until = [t0; 4];
            // Asked for (and not yet started or covered by a pause or an open delivery).
            let mut owed = [false; 4];
            // Asked for while in flight: owed once that delivery succeeds.
            let mut owed_after = [false; 4];
            let mut reconnected_during = [false; 4];
            // A request came since the partner's last start.
            let mut asked = [false; 4];
            for e in events {
                match e {
                    Ev::RequestAll => {
                        s.request_all();
                        asked = [true; 4];
                        for p in 0..4 {
                            if in_flight[p] { owed_after[p] = true } else { owed[p] = true }
                        }
                    }
                    Ev::Connected(p) => {
                        s.connected(&registered[p]);
                        failures[p] = 0;
                        paused_until[p] = t0;
                        asked = [true; 4];
                        for q in 0..4 {
                            if in_flight[q] { owed_after[q] = true } else { owed[q] = true }
                        }
                        reconnected_during[p] = in_flight[p];
                    }
                    Ev::Start(room) => {
                        let started = s.start(&registered, now, room);
                        prop_assert!(started.len() <= room);
                        for peer in &started {
                            let p: usize = peer.as_str()[1..].parse().unwrap();
                            prop_assert!(!in_flight[p], "two deliveries to {peer}");
                            prop_assert!(paused_until[p] <= now, "{peer} started during its pause");
                            prop_assert!(asked[p], "{peer} started unasked");
                            asked[p] = false;
                            in_flight[p] = true;
                            owed[p] = false;
                        }
                        // With room for everyone, nobody owed and able to go is left out.
                        if room >= 4 {
                            for p in 0..4 {
                                prop_assert!(!(owed[p] && !in_flight[p] && paused_until[p] <= now),
                                    "p{p} was asked for and not started");
                            }
                        }
                        // A request during a pause is covered by the retry.
                        for p in 0..4 {
                            if owed[p] && paused_until[p] > now { owed[p] = false }
                        }
                    }
                    Ev::Finish(p, ok) => {
                        if !in_flight[p] { continue }
                        in_flight[p] = false;
                        let r = s.finished(&registered[p], if ok { Outcome::Delivered } else { Outcome::Failed }, now, linear);
                        if ok {
                            prop_assert_eq!(r, None);
                            failures[p] = 0;
                            paused_until[p] = t0;
                            if owed_after[p] { owed[p] = true }
                        } else if reconnected_during[p] {
                            prop_assert_eq!(r, None);
                            owed[p] = true;
                        } else {
                            failures[p] += 1;
                            prop_assert_eq!(r, Some((failures[p], linear(failures[p]))));
                            paused_until[p] = now + linear(failures[p]);
                        }
                        owed_after[p] = false;
                        reconnected_during[p] = false;
                    }
                    Ev::Advance(secs) => now += Duration::from_secs(secs),
                }
                prop_assert_eq!(s.in_flight(), in_flight.iter().filter(|f| **f).count());
            }
        }
    }
}
