//! The case synchronization actor: sends each changed case's new evidence and metadata changes
//! to the partners it is shared with, a pass at a time, gathering the changes that come faster
//! than a pass (a bulk ingest) into one.
//!
//! ```text
//!  Engine::case_changed(case) ── try_send Changed(case) ──┐   (queue full: overflow notify,
//!                                                        │    the next pass takes every
//!                                                        ▼    shared case)
//!                          CaseSyncActor::run  owns Gather (pure: the changed cases, the
//!                                                │          gather deadline, one pass at a time)
//!                                                │ at the deadline: take(cases)
//!                                                ▼
//!                          JoinSet: the pass task ── per case, on the blocking pool:
//!                                Engine::evidence_added + Engine::metadata_changed
//!                                                │ done
//!                                                └─────────► back to the actor (next deadline)
//! ```
//!
//! The decisions are in [`Gather`], pure and given the time: a change to an idle actor opens a
//! gathering window of [`SYNC_GATHER`]; changes during the window or during a pass join the set;
//! a pass starts at the end of the window when none runs, and takes the whole set; a pass's end
//! with changes waiting opens the next window. Each case is in exactly one pass after each
//! change, so nothing is lost and nothing is passed over twice for one change.
//!
//! The actor never waits on a pass (the pass runs in a task on its `JoinSet`), so changes are
//! taken at once. It ends at shutdown (the pass stops between cases; what it did not reach is
//! sent at the next start, by `Engine::reconcile_shares`) or when every handle is dropped (it
//! holds only a weak reference to the engine), after joining the pass.

use crate::Engine;
use casemesh_model::ids::CaseId;
use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long the synchronization lets changes gather before a pass: the latency it adds to a
/// new item's trip to partners, for far fewer passes during a bulk ingest.
pub(crate) const SYNC_GATHER: Duration = Duration::from_millis(50);
/// Changes waiting for the actor. When full, a change is not dropped: the next pass takes every
/// case with a share (see [`CaseSyncHandle::changed`]).
const CHANGES: usize = 1024;

/// The cases one pass goes over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pass {
    /// The cases changed since the last pass began.
    pub(crate) cases: BTreeSet<CaseId>,
    /// Also every case with an active share (a change was not recorded one by one).
    pub(crate) every_shared_case: bool,
}

/// The synchronization's decisions: which cases the next pass takes and when it may start.
/// No IO, no clock of its own.
///
/// Rules (what the property test checks):
/// - every change is in a pass that starts after it, and in exactly one before the next change
///   of that case;
/// - one pass at a time;
/// - a pass starts `gather` after the first change it takes was recorded (or the previous pass
///   ended), not before.
#[derive(Debug)]
pub(crate) struct Gather {
    gather: Duration,
    dirty: BTreeSet<CaseId>,
    every_shared_case: bool,
    /// When the next pass may start; `None` while nothing waits or a pass runs.
    deadline: Option<Instant>,
    running: bool,
}

impl Gather {
    /// Nothing changed yet; passes gather changes for `gather`.
    pub(crate) fn new(gather: Duration) -> Gather {
        Gather {
            gather,
            dirty: BTreeSet::new(),
            every_shared_case: false,
            deadline: None,
            running: false,
        }
    }

    /// `case` changed at `now`.
    pub(crate) fn changed(&mut self, case: CaseId, now: Instant) {
        self.dirty.insert(case);
        self.open(now);
    }

    /// Changes were not recorded one by one: the next pass takes every case with a share.
    pub(crate) fn changed_all(&mut self, now: Instant) {
        self.every_shared_case = true;
        self.open(now);
    }

    fn open(&mut self, now: Instant) {
        if !self.running && self.deadline.is_none() {
            self.deadline = Some(now + self.gather);
        }
    }

    /// When the next pass may start, if one waits and none runs.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The pass to run now, if one is due: it takes every change gathered, and counts as
    /// running until [`Gather::done`].
    pub(crate) fn take(&mut self, now: Instant) -> Option<Pass> {
        match self.deadline {
            Some(at) if at <= now && !self.running => {
                self.deadline = None;
                self.running = true;
                Some(Pass {
                    cases: std::mem::take(&mut self.dirty),
                    every_shared_case: std::mem::take(&mut self.every_shared_case),
                })
            }
            _ => None,
        }
    }

    /// The running pass ended at `now`; changes that came meanwhile open the next window.
    pub(crate) fn done(&mut self, now: Instant) {
        self.running = false;
        if !self.dirty.is_empty() || self.every_shared_case {
            self.open(now);
        }
    }
}

/// A request to the synchronization actor.
enum Command {
    /// A case's evidence or metadata changed (committed).
    Changed(CaseId),
}

/// Cloneable handle to the synchronization actor. The actor ends when the last handle is
/// dropped or the shutdown token is cancelled.
#[derive(Clone)]
pub(crate) struct CaseSyncHandle {
    commands: mpsc::Sender<Command>,
    /// Set when a change did not fit in the queue: the next pass takes every shared case.
    overflow: Arc<Notify>,
}

impl CaseSyncHandle {
    /// `case` changed. Never blocks: when the actor's queue is full the change is not dropped,
    /// it turns the next pass into one over every case with a share.
    pub(crate) fn changed(&self, case: CaseId) {
        match self.commands.try_send(Command::Changed(case)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.overflow.notify_one(),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!(case = %case, "synchronization stopped; change not passed on")
            }
        }
    }
}

/// The actor: owns the gathered changes and the pass task.
pub(crate) struct CaseSyncActor {
    /// The engine, weakly: the actor does not keep it (and so its own handle) alive.
    engine: Weak<crate::Inner>,
    commands: mpsc::Receiver<Command>,
    overflow: Arc<Notify>,
    gather: Gather,
    /// The running pass, if any (at most one).
    pass: JoinSet<()>,
    shutdown: CancellationToken,
}

/// The actor's end of a new handle's channel, kept until the engine (which holds the handle)
/// exists and the actor can be made.
pub(crate) struct Pending {
    commands: mpsc::Receiver<Command>,
    overflow: Arc<Notify>,
}

/// The handle to put into the engine, and what [`CaseSyncActor::new`] needs once it exists.
pub(crate) fn channel() -> (CaseSyncHandle, Pending) {
    let (tx, rx) = mpsc::channel(CHANGES);
    let overflow = Arc::new(Notify::new());
    (
        CaseSyncHandle {
            commands: tx,
            overflow: overflow.clone(),
        },
        Pending {
            commands: rx,
            overflow,
        },
    )
}

impl CaseSyncActor {
    /// The actor for the handle of `pending`, driving `engine`.
    pub(crate) fn new(
        pending: Pending,
        engine: &Engine,
        shutdown: CancellationToken,
    ) -> CaseSyncActor {
        CaseSyncActor {
            engine: Arc::downgrade(&engine.inner),
            commands: pending.commands,
            overflow: pending.overflow,
            gather: Gather::new(SYNC_GATHER),
            pass: JoinSet::new(),
            shutdown,
        }
    }

    /// The loop: takes changes, starts a pass at each deadline, one at a time.
    pub(crate) async fn run(mut self) {
        loop {
            let deadline = self.gather.deadline();
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                Some(done) = self.pass.join_next(), if !self.pass.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "synchronization pass failed");
                    }
                    self.gather.done(Instant::now());
                }
                command = self.commands.recv() => match command {
                    Some(Command::Changed(case)) => self.gather.changed(case, Instant::now()),
                    None => break,
                },
                _ = self.overflow.notified() => {
                    tracing::debug!("synchronization queue was full; the next pass takes every shared case");
                    self.gather.changed_all(Instant::now());
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    if let Some(pass) = self.gather.take(Instant::now()) {
                        let Some(inner) = self.engine.upgrade() else { break };
                        let engine = Engine { inner };
                        self.pass.spawn(engine.sync_pass(pass, self.shutdown.clone()));
                    }
                }
            }
        }
        // A running pass stops between cases at shutdown (its case in progress finishes).
        while self.pass.join_next().await.is_some() {}
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(at) = deadline {
        tokio::time::sleep_until(at.into()).await;
    }
}

impl Engine {
    /// One synchronization pass: per case, new evidence then metadata changes go to its active
    /// shares, on the blocking pool (store and document work). Stops between cases at shutdown.
    async fn sync_pass(self, pass: Pass, shutdown: CancellationToken) {
        let mut cases = pass.cases;
        if pass.every_shared_case {
            match self.shares(None) {
                Ok(shares) => cases.extend(
                    shares
                        .into_iter()
                        .filter(|s| s.status != crate::records::ShareStatus::Stopped)
                        .map(|s| s.case),
                ),
                Err(e) => tracing::error!(error = %e, "cannot list shares to synchronize"),
            }
        }
        for case in cases {
            if shutdown.is_cancelled() {
                break;
            }
            let engine = self.clone();
            // On the engine's tracker (it queues in the outbox: a store write the final flush
            // must not run beside), not a bare blocking task.
            let pass = self
                .blocking("synchronization pass", move || {
                    engine
                        .evidence_added(case)
                        .and_then(|()| engine.metadata_changed(case))
                })
                .await;
            match pass {
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(case = %case, error = %e, "could not send the case's changes to partners")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const G: Duration = Duration::from_millis(50);

    fn case(n: u8) -> CaseId {
        format!("00000000-0000-0000-0000-{n:012}").parse().unwrap()
    }

    #[test]
    fn changes_in_the_window_make_one_pass() {
        let t0 = Instant::now();
        let mut g = Gather::new(G);
        assert_eq!(g.deadline(), None);
        g.changed(case(1), t0);
        g.changed(case(2), t0 + G / 2);
        g.changed(case(1), t0 + G / 2);
        assert_eq!(
            g.deadline(),
            Some(t0 + G),
            "the first change opens the window"
        );
        assert_eq!(g.take(t0 + G / 2), None, "not before the window ends");
        let pass = g.take(t0 + G).expect("due");
        assert_eq!(pass.cases, [case(1), case(2)].into());
        assert!(!pass.every_shared_case);
        assert_eq!(g.deadline(), None);
        g.done(t0 + G);
        assert_eq!(g.deadline(), None, "nothing waits");
    }

    #[test]
    fn changes_during_a_pass_wait_for_it() {
        let t0 = Instant::now();
        let mut g = Gather::new(G);
        g.changed(case(1), t0);
        g.take(t0 + G).expect("due");
        g.changed(case(1), t0 + 2 * G);
        assert_eq!(g.deadline(), None, "one pass at a time");
        assert_eq!(g.take(t0 + 10 * G), None);
        g.done(t0 + 10 * G);
        assert_eq!(
            g.deadline(),
            Some(t0 + 11 * G),
            "the pass's end opens the next window"
        );
        assert_eq!(g.take(t0 + 11 * G).expect("due").cases, [case(1)].into());
    }

    #[test]
    fn an_overflow_takes_every_shared_case() {
        let t0 = Instant::now();
        let mut g = Gather::new(G);
        g.changed_all(t0);
        g.changed(case(3), t0);
        let pass = g.take(t0 + G).expect("due");
        assert!(pass.every_shared_case);
        assert_eq!(pass.cases, [case(3)].into());
        g.done(t0 + G);
        g.changed(case(4), t0 + G);
        assert!(
            !g.take(t0 + 2 * G).expect("due").every_shared_case,
            "only once"
        );
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Changed(u8),
        ChangedAll,
        Tick,
        Done,
        Advance(u64),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            3 => (0u8..5).prop_map(Ev::Changed),
            1 => Just(Ev::ChangedAll),
            3 => Just(Ev::Tick),
            2 => Just(Ev::Done),
            3 => (0u64..80).prop_map(Ev::Advance),
        ]
    }

    proptest! {
        /// Against a model: each change lands in exactly one pass that starts after it (and no
        /// earlier than `gather` after the window opened), one pass at a time, and a pass is
        /// taken as soon as it is due.
        #[test]
        fn no_change_is_lost_or_passed_twice(events in proptest::collection::vec(ev(), 0..80)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut g = Gather::new(G);
            // Changes recorded and not yet in a pass, with the time of each.
            let mut waiting: BTreeSet<u8> = BTreeSet::new();
            let mut all_waiting = false;
            let mut running = false;
            // When the current window opened.
            let mut opened: Option<Instant> = None;
            for e in events {
                match e {
                    Ev::Changed(n) => {
                        g.changed(case(n), now);
                        waiting.insert(n);
                        if !running && opened.is_none() { opened = Some(now) }
                    }
                    Ev::ChangedAll => {
                        g.changed_all(now);
                        all_waiting = true;
                        if !running && opened.is_none() { opened = Some(now) }
                    }
                    Ev::Tick => {
                        let due = !running && opened.is_some_and(|o| o + G <= now);
                        match g.take(now) {
                            Some(pass) => {
                                prop_assert!(due, "a pass started early or beside another");
                                let expected: BTreeSet<CaseId> = waiting.iter().map(|n| case(*n)).collect();
                                prop_assert_eq!(pass.cases, expected, "a pass takes exactly what waits");
                                prop_assert_eq!(pass.every_shared_case, all_waiting);
                                waiting.clear();
                                all_waiting = false;
                                running = true;
                                opened = None;
                            }
                            None => prop_assert!(!due, "a due pass was not started"),
                        }
                    }
                    Ev::Done => {
                        if !running { continue }
                        g.done(now);
                        running = false;
                        if !waiting.is_empty() || all_waiting { opened = Some(now) }
                    }
                    Ev::Advance(ms) => now += Duration::from_millis(ms),
                }
                prop_assert_eq!(g.deadline(), if running { None } else { opened.map(|o| o + G) });
            }
        }
    }
}
