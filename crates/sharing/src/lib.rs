//! The sharing engine: everything that happens between partner organizations, on top of the store
//! (records, blobs, audit) and the net crate (gated libp2p connections, control messages,
//! verified blob transfer).
//!
//! ```text
//!            API handlers ──► Engine (cloneable handle)
//!                               │  partners / policies      (partners.rs)
//!                               │  share, reshare, stop      (outgoing.rs)  ──► outbox queue
//!                               │  offers, import, sync      (incoming.rs)  ◄── control requests
//!                               │    a received share's life (received_lifecycle.rs: pure step)
//!                               │    its import passes       (imports, below: one per share)
//!                               │  access mode: view, get    (access.rs)
//!   net events ──► event loop ──┘  grant check per blob      (serve.rs)     ◄── blob requests
//!        │ PeerConnected                     │ wake_outbox            │ case_changed
//!        └───────────────────────────► outbox actor (outbox.rs)  case sync actor (casesync.rs)
//!                                      deliver queued control      gather changed cases, then
//!                                      messages in order, per-     one pass: new evidence and
//!                                      partner retry pause         metadata to active shares
//!   mail loop:   deliver queued notification emails over SMTP (mail.rs)
//! ```
//!
//! The outbox and the case synchronization are actors in the style of the net crate: each owns
//! its state (the per-partner retry pauses; the changed cases and the gathering window), takes
//! commands or coalesced wake-ups through a cloneable handle held by the engine, keeps its
//! decisions in a pure struct (`outbox::Schedule`, `casesync::Gather`, property-tested), runs
//! its work in tasks on its own `JoinSet`, and joins them when the shutdown token fires.
//!
//! Every control message a node sends goes through the durable outbox (`outbox.<peer>` queue in
//! the store) and is delivered in order; the receiver deduplicates by message id, so a retry never
//! applies twice. Every grant is verified again on every use: on each blob request, on each update.

pub mod access;
mod casesync;
pub mod custody;
pub mod directory;
pub mod error;
mod incoming;
pub mod lifecycle;
pub mod mail;
pub mod manifest;
mod outbox;
mod outgoing;
mod partners;
pub mod received_lifecycle;
pub mod recipients;
pub mod records;
mod retry;
mod serve;
mod updates;
pub mod wire;

pub use error::{Bad, Clash, Missing, NotAllowed, Result, SharingError, Unavailable};
pub use mail::{SmtpConfig, queue_mails};
pub use outgoing::{OnwardRequest, ShareRequest, parse_recipient, recipient_label};
pub use partners::DEFAULT_POLICY;
pub use partners::{DeadLetterView, PeerView, org_of, parse_org};

use casemesh_model::ids::{CaseId, OrgId, ShareId};
use casemesh_model::org::Settings;
use casemesh_net::{ControlRequest, ControlStatus, Event, NetHandle};
use casemesh_store::{Clock, Store};
use ed25519_dalek::SigningKey;
use records::OutboxMessage;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
/// First and longest pause between attempts of a failed import/sync.
const SYNC_RETRY_MIN: Duration = Duration::from_millis(500);
const SYNC_RETRY_MAX: Duration = Duration::from_secs(60);

/// What the engine needs to start.
pub struct EngineConfig {
    /// The store.
    pub store: Store,
    /// The node's 32-byte ed25519 secret (signs grants; the PeerId derives from it).
    pub secret: [u8; 32],
    /// The organization's display name.
    pub org_name: String,
    /// Run-time settings (auto-import, default retention, features), shared with the API.
    pub settings: Arc<RwLock<Settings>>,
    /// The clock.
    pub clock: Clock,
    /// Outgoing mail; `None` = notifications are logged only.
    pub smtp: Option<SmtpConfig>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

/// Cloneable handle to the running sharing engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    net: NetHandle,
    key: SigningKey,
    /// This organization's id (its PeerId's text).
    me: OrgId,
    org_name: String,
    settings: Arc<RwLock<Settings>>,
    clock: Clock,
    /// The outbox actor (outbox.rs): owns each partner's delivery and retry pause.
    outbox: outbox::OutboxHandle,
    mail_wake: Notify,
    smtp: Option<SmtpConfig>,
    /// Owns the background imports and outboard precomputations; waited for at shutdown.
    tasks: tokio_util::task::TaskTracker,
    /// Cancelled at shutdown: background tasks stop at their next step.
    shutdown: CancellationToken,
    /// The received shares' imports, per share: one at a time, cancelled by a stop, on `tasks`.
    imports: imports::Imports,
    /// Cancelled when a share is stopped: the blobs being served under it stop at once.
    serve_tokens: serve::ServeTokens,
    /// The case synchronization actor (casesync.rs): owns the changed cases and the pass.
    case_sync: casesync::CaseSyncHandle,
    /// One lock per outgoing share, held while its next sequence number is given out (an
    /// update with new items, or recipients added), so item rows written ahead take effect with
    /// the number they name. Per share, so updates of different shares never wait for each
    /// other (issue #9: no engine-wide lock). A lock, not an actor: the section is short and
    /// synchronous (store reads and one transaction, on the caller's blocking thread), and both
    /// callers are use cases that must see its result before they return.
    share_updates: ShareLocks,
    /// Metadata documents kept loaded (issue #14 item 3; see [`updates::DocCache`]). A lock,
    /// not an actor: a cache shared by short synchronous sections (a load or a save under
    /// `doc_lock`), never held across an await.
    meta_docs: Mutex<updates::DocCache>,
    /// Held while a metadata document is loaded, changed and saved (`Engine::doc_lock`). A
    /// lock, not an actor: the callers are synchronous use cases and handlers that need the
    /// result before they answer; the section does no network IO. One per engine (it was a
    /// process-wide static: two nodes in one process waited on each other).
    doc_lock: Mutex<()>,
}

/// The net layer started for an engine ([`Network::start`]), handed to [`Engine::start`]: the
/// handle, its event stream, and the serve tokens its blob server checks. The node starts it and
/// injects it, so the engine never creates its own transport; the engine then owns it (its
/// shutdown awaits the net layer's tasks).
pub struct Network {
    handle: NetHandle,
    events: tokio::sync::mpsc::Receiver<Event>,
    serve_tokens: serve::ServeTokens,
    me: OrgId,
}

impl Network {
    /// Start the net layer (libp2p: TCP, Noise, Yamux; `crates/net`) for the organization whose
    /// 32-byte ed25519 secret is `secret`. Its blob server is the engine's grant check
    /// (`serve.rs`): every blob a partner asks for is checked against the grants in `store` on
    /// every request. Stops when `shutdown` is cancelled.
    ///
    /// # Errors
    /// [`SharingError::Net`]: a bad key, a listen address taken or not bindable.
    pub async fn start(
        store: &Store,
        secret: &[u8; 32],
        clock: Clock,
        config: casemesh_net::Config,
        shutdown: &CancellationToken,
    ) -> Result<Network> {
        let key = SigningKey::from_bytes(secret);
        let me = casemesh_model::grant::org_id_from_public_key(key.verifying_key().as_bytes());
        let serve_tokens = serve::ServeTokens::default();
        let server = Arc::new(serve::GrantChecker {
            store: store.clone(),
            me: me.clone(),
            clock,
            tokens: serve_tokens.clone(),
        });
        let (handle, events) =
            casemesh_net::start(config.with_shutdown(shutdown.clone()), server).await?;
        Ok(Network {
            handle,
            events,
            serve_tokens,
            me,
        })
    }

    /// The net layer's handle (peers, listen addresses, control messages, blob fetches).
    pub fn handle(&self) -> &NetHandle {
        &self.handle
    }
}

impl Engine {
    /// Start the engine's loops on a started net layer. They stop when `shutdown` is cancelled.
    ///
    /// # Errors
    /// [`SharingError::Invalid`] ([`Bad::NetworkOfOtherOrg`]) when `network` was started with
    /// another secret than
    /// `config.secret`; a store or net error while the partners are loaded into the net layer.
    pub async fn start(
        config: EngineConfig,
        network: Network,
    ) -> Result<(Engine, tokio::task::JoinSet<()>)> {
        let key = SigningKey::from_bytes(&config.secret);
        let me = casemesh_model::grant::org_id_from_public_key(key.verifying_key().as_bytes());
        if me != network.me {
            return Err(Bad::NetworkOfOtherOrg {
                network: network.me,
                engine: me,
            }
            .into());
        }
        let Network {
            handle: net,
            events,
            serve_tokens,
            me: _,
        } = network;
        let tasks = tokio_util::task::TaskTracker::new();
        let (outbox, outbox_actor) = outbox::OutboxActor::new(
            outbox::Courier {
                store: config.store.clone(),
                net: net.clone(),
                clock: config.clock,
            },
            config.shutdown.clone(),
        );
        let (case_sync, case_sync_pending) = casesync::channel();
        let engine = Engine {
            inner: Arc::new(Inner {
                store: config.store,
                net,
                key,
                me,
                org_name: config.org_name,
                settings: config.settings,
                clock: config.clock,
                outbox,
                mail_wake: Notify::new(),
                smtp: config.smtp,
                imports: imports::Imports::new(tasks.clone(), config.shutdown.clone()),
                serve_tokens,
                case_sync,
                share_updates: ShareLocks::default(),
                meta_docs: Mutex::default(),
                doc_lock: Mutex::new(()),
                tasks,
                shutdown: config.shutdown.clone(),
            }),
        };
        engine.sync_partners_to_net().await?;
        match engine.clean_partials() {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "removed orphaned partial downloads"),
            Err(e) => tracing::warn!(error = %e, "could not clean partial downloads"),
        }
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(engine.clone().event_loop(events, config.shutdown.clone()));
        tasks.spawn(outbox_actor.run());
        tasks.spawn(engine.clone().mail_loop(config.shutdown.clone()));
        tasks.spawn(
            casesync::CaseSyncActor::new(case_sync_pending, &engine, config.shutdown.clone()).run(),
        );
        // At shutdown, wait for the background imports to stop at their next step.
        tasks.spawn({
            let (engine, shutdown) = (engine.clone(), config.shutdown.clone());
            async move {
                shutdown.cancelled().await;
                engine.inner.tasks.close();
                engine.inner.tasks.wait().await;
                // Then the net layer's own tasks (actor, accept loop, fetch exchanges).
                if tokio::time::timeout(
                    std::time::Duration::from_secs(30),
                    engine.inner.net.stopped(),
                )
                .await
                .is_err()
                {
                    tracing::warn!("net tasks still running 30 s after shutdown");
                }
            }
        });
        engine.resume_imports();
        engine.reconcile_shares();
        Ok((engine, tasks))
    }

    /// This organization's id (PeerId text).
    pub fn org_id(&self) -> &OrgId {
        &self.inner.me
    }

    /// The listen addresses the node is bound to.
    pub async fn listen_addrs(&self) -> Result<Vec<String>> {
        Ok(self
            .inner
            .net
            .listen_addrs()
            .await?
            .iter()
            .map(|a| a.to_string())
            .collect())
    }

    fn now(&self) -> casemesh_model::time::Timestamp {
        self.inner.clock.now()
    }

    fn settings(&self) -> Settings {
        self.inner
            .settings
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// A control message for a partner, ready to queue. Refuses (as [`SharingError::Invalid`]) a
    /// payload larger than a partner accepts ([`wire::MAX_PAYLOAD`]): nothing that can never be
    /// delivered enters the outbox. Build it outside a transaction (its id is random).
    fn outbox_message(
        &self,
        message: &wire::Message,
        share: Option<ShareId>,
    ) -> Result<OutboxMessage> {
        let (kind, payload) = message.encode();
        if payload.len() > wire::MAX_PAYLOAD {
            return Err(Bad::MessageTooLarge {
                kind,
                len: payload.len(),
                max: wire::MAX_PAYLOAD,
            }
            .into());
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|e| SharingError::Internal(format!("no randomness: {e}")))?;
        Ok(OutboxMessage {
            msg_id: hex::encode(id),
            kind: kind.as_str().to_owned(),
            payload,
            queued_at: self.now(),
            attempts: 0,
            share,
        })
    }

    /// Queue a built message for `peer` as part of a transaction. Call [`Engine::wake_outbox`]
    /// after the transaction commits.
    fn queue_in(
        txn: &mut casemesh_store::Txn<'_, '_>,
        peer: &OrgId,
        msg: &OutboxMessage,
    ) -> std::result::Result<(), casemesh_store::StoreError> {
        txn.queue_push(&records::outbox_queue(peer), msg)
            .map(|_| ())
    }

    /// Let the outbox actor deliver what was queued (committed). Never blocks.
    fn wake_outbox(&self) {
        self.inner.outbox.wake();
    }

    async fn event_loop(
        self,
        mut events: tokio::sync::mpsc::Receiver<Event>,
        shutdown: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                e = events.recv() => match e { Some(e) => e, None => break },
            };
            match event {
                Event::ControlRequest {
                    peer,
                    request,
                    reply,
                } => {
                    let response = self.handle_control(&crate::org_of(&peer), &request).await;
                    let _ = reply.send(response);
                }
                Event::PeerConnected { peer } => {
                    tracing::info!(peer = %peer, "partner connected");
                    self.inner.outbox.connected(crate::org_of(&peer)).await;
                }
                Event::PeerDisconnected { peer } => {
                    tracing::info!(peer = %peer, "partner disconnected")
                }
                Event::ConnectionRefused { peer } => {
                    tracing::warn!(peer = %peer, "refused unregistered peer")
                }
                _ => {}
            }
        }
    }

    async fn handle_control(
        &self,
        peer: &OrgId,
        request: &ControlRequest,
    ) -> casemesh_net::ControlResponse {
        let status = match self.dispatch(peer, request).await {
            Ok(Dispatched::Handled) => ControlStatus::Ok,
            Ok(Dispatched::Answered(payload)) => {
                return casemesh_net::ControlResponse::ok(request.msg_id, payload);
            }
            Ok(Dispatched::UnknownKind) => {
                tracing::warn!(peer = %peer, kind = %request.kind, "control message of a kind this node does not know; answered UnknownKind");
                ControlStatus::UnknownKind
            }
            Err(e) => {
                let status = e.wire_status();
                if matches!(status, ControlStatus::Rejected(_)) {
                    tracing::warn!(peer = %peer, kind = %request.kind, reason = %e, "control message rejected");
                } else {
                    tracing::error!(peer = %peer, kind = %request.kind, error = %e, "control message failed");
                }
                status
            }
        };
        casemesh_net::ControlResponse::status(request.msg_id, status)
    }

    async fn dispatch(&self, peer: &OrgId, request: &ControlRequest) -> Result<Dispatched> {
        if self.partner_by_id(peer)?.is_none() {
            return Err(NotAllowed::NotRegistered(peer.clone()).into());
        }
        use wire::Message as M;
        let message = match M::decode(&request.kind, &request.payload) {
            Ok(m) => m,
            Err(e) if e.unknown_kind => return Ok(Dispatched::UnknownKind),
            Err(e) => return Err(invalid(e)),
        };
        // A question changes nothing: answered every time it is asked, never recorded.
        if let M::Directory(query) = &message {
            return self.answer_directory(query).map(Dispatched::Answered);
        }
        // A retried delivery of a message already applied is acknowledged and ignored.
        let seen_key = records::InboxKey {
            peer: peer.clone(),
            msg_id: request.msg_id,
        };
        if self.inner.store.get(&records::INBOX, &seen_key)?.is_some() {
            return Ok(Dispatched::Handled);
        }
        let result = match message {
            M::Offer(m) => self.on_offer(peer, m).await,
            M::Update(m) => self.on_update(peer, m).await,
            M::Revocation(m) => self.on_revocation(peer, m),
            M::Meta(m) => self.on_meta_changes(peer, m).await,
            M::Receipt(m) => self.on_receipt(peer, m),
            M::Onward(m) => self.on_onward(peer, m),
            M::Access(m) => self.on_access_event(peer, m),
            M::Edit(m) => self.on_case_edit(peer, m),
            // (A directory query never gets here: it was answered above.)
            M::Ping | M::Directory(_) => Ok(()),
        };
        if result.is_ok() {
            self.inner.store.put(&records::INBOX, &seen_key, &1u8)?;
        }
        result.map(|()| Dispatched::Handled)
    }

    /// A partner's dead letters, oldest first.
    pub fn dead_letters(&self, peer: &OrgId) -> Result<Vec<records::DeadLetter>> {
        Ok(self
            .inner
            .store
            .queue_items::<records::DeadLetter>(&records::dead_letter_queue(peer))?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    /// Run `work` (store writes, file IO) on the blocking pool, owned by the engine's task
    /// tracker: the import task awaiting it may be dropped (a stop, or shutdown cancelling it at
    /// its next await), but the closure, once started, runs to its end and shutdown waits for it
    /// before the node flushes and closes the store (issue #9: every spawned task owned and
    /// joined). A bare `spawn_blocking` would leave it running detached beside the final flush.
    ///
    /// Errors: `work`'s own, or [`SharingError::Internal`] naming `what` if it panicked.
    pub(crate) async fn blocking<T, F>(&self, what: &'static str, work: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.inner
            .tasks
            .spawn_blocking(work)
            .await
            .map_err(|e| SharingError::Internal(format!("{what} task: {e}")))?
    }

    /// Continue imports that a restart interrupted.
    fn resume_imports(&self) {
        let Ok(received) = self.inner.store.all(&records::RECEIVED) else {
            return;
        };
        for share in received
            .into_iter()
            .filter(|s| s.status == records::ReceivedStatus::Importing)
        {
            tracing::info!(share = %share.id, "resuming an interrupted import");
            self.spawn_sync(share.id);
        }
    }

    /// End the import of a stopped share now: its fetches in flight are dropped (a partial file
    /// is removed by [`Engine::clean_partials`]) and no retry follows.
    pub(crate) fn cancel_import(&self, share: ShareId) {
        if self.inner.imports.cancel(share) {
            let engine = self.clone();
            self.inner
                .tasks
                .spawn(async move { engine.after_stopped_import().await });
        }
    }

    /// After a stopped share's import was dropped: the net layer's fetch tasks end when their
    /// lane closes and may write a last checkpoint, so the partial files are swept a few times
    /// over the next seconds (a restart sweeps whatever is left). Nothing to do at shutdown.
    async fn after_stopped_import(&self) {
        for pause in [200, 1_000, 3_000] {
            tokio::select! {
                biased;
                _ = self.inner.shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
            }
            if let Err(e) = self.clean_partials() {
                tracing::warn!(error = %e, "could not clean partial downloads");
            }
        }
    }

    /// Send what a crash may have kept from being sent: evidence added (and metadata changed)
    /// after the last update of each active share. The API commits the new evidence first and
    /// queues the share's update right after; a crash between the two would otherwise keep the
    /// item from the partner until the next addition. Idempotent: only what was never sent goes.
    fn reconcile_shares(&self) {
        match self.shares(None) {
            Ok(shares) => {
                for s in shares
                    .into_iter()
                    .filter(|s| s.status != records::ShareStatus::Stopped)
                {
                    self.case_changed(s.case);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list shares to reconcile"),
        }
    }

    /// A case's evidence or metadata changed (committed): its active shares get the new items
    /// and metadata changes (case synchronization), from the synchronization actor. Changes that
    /// come faster than a pass are coalesced, so a bulk ingest of n items into a shared case
    /// costs a few passes over the case, not n. Returns at once.
    pub fn case_changed(&self, case: CaseId) {
        self.inner.case_sync.changed(case);
    }

    /// Run the import/sync of a share in the background. A failure (a dropped connection, a
    /// partner restarting) is retried with a growing pause; items already copied are kept, and
    /// the partial blob transfer resumes where it stopped.
    fn spawn_sync(&self, share: ShareId) {
        let engine = self.clone();
        // The registry drops this task at once when the share is stopped (or at shutdown).
        self.inner.imports.spawn(share, move |task| async move {
            let mut attempt: u32 = 0;
            loop {
                // One pass at a time writes the share's copy; the pause between attempts is
                // taken without the turn.
                let result = {
                    let _turn = task.turn().await;
                    engine.sync_copy(share).await
                };
                let Err(e) = result else { return };
                attempt += 1;
                let permanent = e.is_refusal();
                tracing::warn!(share = %share, attempt, error = %e, "import/sync failed");
                let message = e.to_string();
                let _ = engine.inner.store.atomically(|txn| {
                    if let Some(mut s) = txn.get(&records::RECEIVED, &share)? {
                        let event = received_lifecycle::Event::ImportFailed { reason: &message };
                        if received_lifecycle::step(&mut s, event).is_ok() {
                            txn.put(&records::RECEIVED, &share, &s)?;
                        }
                    }
                    Ok::<_, SharingError>(())
                });
                if permanent || attempt >= SYNC_ATTEMPTS {
                    tracing::error!(share = %share, "import/sync gave up; it resumes on the next update, an Import, or a restart");
                    return;
                }
                tokio::time::sleep(retry::delay(SYNC_RETRY_MIN, SYNC_RETRY_MAX, attempt)).await;
            }
        });
    }
}

/// How often a failed import/sync is tried again before waiting for the next update.
const SYNC_ATTEMPTS: u32 = 20;

/// What became of a control message that was not refused.
enum Dispatched {
    /// Applied (or a retry of one already applied).
    Handled,
    /// Of a kind this node does not handle: answered `UnknownKind`.
    UnknownKind,
    /// A question (`directory.query/1`): answered `Ok` with this payload.
    Answered(Vec<u8>),
}

fn invalid(e: wire::PayloadError) -> SharingError {
    Bad::Payload(e).into()
}

/// Locks by share id, each held through an owned guard ([`ShareLocks::lock`]); an entry lives
/// only while someone holds or waits for its lock, so the map never grows with the number of
/// shares.
#[derive(Default)]
pub(crate) struct ShareLocks(
    parking_lot::Mutex<std::collections::HashMap<ShareId, std::sync::Weak<parking_lot::Mutex<()>>>>,
);

/// The guard of one share's lock.
pub(crate) type ShareGuard = parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()>;

impl ShareLocks {
    /// Wait for share `id`'s lock and hold it until the guard drops (blocking: call it on a
    /// blocking thread).
    pub(crate) fn lock(&self, id: ShareId) -> ShareGuard {
        let lock = {
            let mut map = self.0.lock();
            map.retain(|_, held| held.strong_count() > 0);
            match map.get(&id).and_then(std::sync::Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(parking_lot::Mutex::new(()));
                    map.insert(id, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_arc()
    }

    /// Shares whose lock is held or waited for now.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.0
            .lock()
            .values()
            .filter(|l| l.strong_count() > 0)
            .count()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod share_lock_tests {
    use super::*;

    /// One share's updates wait for each other; another share's do not; and a lock nobody holds
    /// leaves nothing behind.
    #[test]
    fn a_share_lock_is_per_share_and_forgotten_when_free() {
        let locks = Arc::new(ShareLocks::default());
        let (a, b) = (ShareId::random(), ShareId::random());
        let held = locks.lock(a);
        // Another share: taken at once while `a` is held.
        drop(locks.lock(b));
        // The same share: waits until `a`'s guard drops.
        let (l2, order) = (locks.clone(), Arc::new(parking_lot::Mutex::new(Vec::new())));
        let o2 = order.clone();
        let waiter = std::thread::spawn(move || {
            let _g = l2.lock(a);
            o2.lock().push("second");
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        order.lock().push("first");
        drop(held);
        waiter.join().unwrap();
        assert_eq!(*order.lock(), ["first", "second"]);
        assert_eq!(locks.live(), 0);
    }
}

/// The imports of received shares, with one owner: per share, the pass that writes its copy
/// holds the share's turn (one at a time; shares side by side), a stop cancels every task of the
/// share at once, and every task runs on the engine's `TaskTracker`, so shutdown waits for it.
/// A share's entry lives while it has tasks (no lock or token is kept for a share at rest).
mod imports {
    use casemesh_model::ids::ShareId;
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use tokio::sync::{OwnedMutexGuard, watch};
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    /// The registry (one per engine).
    pub(crate) struct Imports {
        tracker: TaskTracker,
        shutdown: CancellationToken,
        shares: Arc<Mutex<BTreeMap<ShareId, Slot>>>,
    }

    /// One share's imports.
    struct Slot {
        /// Held by the pass writing the share's copy.
        turn: Arc<tokio::sync::Mutex<()>>,
        /// Cancelled by a stop: a child of the engine's shutdown; the next task spawned after a
        /// stop gets a new one.
        cancel: CancellationToken,
        /// The share's tasks spawned and not ended.
        tasks: watch::Sender<usize>,
    }

    /// What an import task is handed.
    pub(crate) struct ImportTask {
        turn: Arc<tokio::sync::Mutex<()>>,
    }

    impl ImportTask {
        /// Wait for the share's turn: while the guard lives no other task of the share holds it.
        pub(crate) async fn turn(&self) -> OwnedMutexGuard<()> {
            self.turn.clone().lock_owned().await
        }
    }

    /// Counts a task out of its share when it ends (completes, is cancelled or is dropped at
    /// runtime shutdown); the share's entry goes with its last task.
    struct Running {
        shares: Arc<Mutex<BTreeMap<ShareId, Slot>>>,
        share: ShareId,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = shares.get(&self.share) {
                slot.tasks.send_modify(|n| *n = n.saturating_sub(1));
                if *slot.tasks.borrow() == 0 {
                    shares.remove(&self.share);
                }
            }
        }
    }

    impl Imports {
        /// A registry whose tasks run on `tracker` and end at `shutdown`.
        pub(crate) fn new(tracker: TaskTracker, shutdown: CancellationToken) -> Imports {
            Imports {
                tracker,
                shutdown,
                shares: Arc::default(),
            }
        }

        /// Run `job` for `share` on the tracker. It takes the share's turn for the part that
        /// writes the copy ([`ImportTask::turn`]); it is dropped at its next await point when the
        /// share is [cancelled](Imports::cancel) or the engine shuts down.
        pub(crate) fn spawn<F, Fut>(&self, share: ShareId, job: F)
        where
            F: FnOnce(ImportTask) -> Fut,
            Fut: Future<Output = ()> + Send + 'static,
        {
            let (task, cancel) = {
                let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
                let slot = shares.entry(share).or_insert_with(|| Slot {
                    turn: Arc::default(),
                    cancel: self.shutdown.child_token(),
                    tasks: watch::Sender::new(0),
                });
                if slot.cancel.is_cancelled() {
                    slot.cancel = self.shutdown.child_token();
                }
                slot.tasks.send_modify(|n| *n += 1);
                (
                    ImportTask {
                        turn: slot.turn.clone(),
                    },
                    slot.cancel.clone(),
                )
            };
            let running = Running {
                shares: self.shares.clone(),
                share,
            };
            let work = job(task);
            self.tracker.spawn(async move {
                let _running = running;
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {}
                    _ = work => {}
                }
            });
        }

        /// Cancel every task of `share` (running or waiting for its turn). Returns whether it had
        /// any. Tasks spawned afterwards run (a stopped share's pass ends at once by itself).
        pub(crate) fn cancel(&self, share: ShareId) -> bool {
            let shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
            match shares.get(&share) {
                Some(slot) => {
                    slot.cancel.cancel();
                    true
                }
                None => false,
            }
        }

        /// Wait until `share` has no task left.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) async fn idle(&self, share: ShareId) {
            let rx = {
                let shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
                match shares.get(&share) {
                    Some(slot) => slot.tasks.subscribe(),
                    None => return,
                }
            };
            let mut rx = rx;
            // The sender goes with the share's last task: that is idle too.
            let _ = rx.wait_for(|n| *n == 0).await;
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::time::Duration;

        fn registry() -> (Imports, TaskTracker, CancellationToken) {
            let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
            (
                Imports::new(tracker.clone(), shutdown.clone()),
                tracker,
                shutdown,
            )
        }

        /// Sets its flag when dropped.
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }

        #[tokio::test]
        async fn a_stop_cancels_a_running_import_and_a_later_one_runs() {
            let (imports, tracker, _shutdown) = registry();
            let share = ShareId::random();
            let (dropped, finished) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            let (started_tx, started) = tokio::sync::oneshot::channel();
            let (d, f) = (dropped.clone(), finished.clone());
            imports.spawn(share, move |task| async move {
                let _flag = Flag(d);
                let _turn = task.turn().await;
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
                f.store(true, Ordering::SeqCst);
            });
            started.await.unwrap();
            // Another share's import is not touched by the stop.
            let other = ShareId::random();
            imports.spawn(other, |_| std::future::pending());
            assert!(imports.cancel(share));
            tokio::time::timeout(Duration::from_secs(5), imports.idle(share))
                .await
                .expect("the stopped import ended");
            assert!(dropped.load(Ordering::SeqCst), "the import was dropped");
            assert!(!finished.load(Ordering::SeqCst));
            assert!(
                !imports.cancel(ShareId::random()),
                "no import, nothing to cancel"
            );
            // An import spawned after the stop runs to its end (its turn is free).
            let (done_tx, done) = tokio::sync::oneshot::channel();
            imports.spawn(share, move |task| async move {
                let _turn = task.turn().await;
                let _ = done_tx.send(());
            });
            tokio::time::timeout(Duration::from_secs(5), done)
                .await
                .expect("a later import runs")
                .unwrap();
            imports.idle(share).await;
            // The other share's task still runs, on the engine's tracker.
            assert_eq!(tracker.len(), 1);
            assert!(imports.cancel(other));
            tracker.close();
            tokio::time::timeout(Duration::from_secs(5), tracker.wait())
                .await
                .expect("every task ended");
            assert!(
                imports.shares.lock().unwrap().is_empty(),
                "no entry kept at rest"
            );
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn two_imports_of_one_share_never_run_at_once() {
            let (imports, tracker, shutdown) = registry();
            let (a, b) = (ShareId::random(), ShareId::random());
            let inside: Arc<[AtomicUsize; 2]> =
                Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
            let most: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
            let both = Arc::new(AtomicUsize::new(0));
            let most_both = Arc::new(AtomicUsize::new(0));
            for n in 0..16 {
                let (share, i) = if n % 2 == 0 { (a, 0) } else { (b, 1) };
                let (inside, most, both, most_both) = (
                    inside.clone(),
                    most.clone(),
                    both.clone(),
                    most_both.clone(),
                );
                imports.spawn(share, move |task| async move {
                    for _ in 0..3 {
                        let _turn = task.turn().await;
                        let now = inside[i].fetch_add(1, Ordering::SeqCst) + 1;
                        most[i].fetch_max(now, Ordering::SeqCst);
                        let all = both.fetch_add(1, Ordering::SeqCst) + 1;
                        most_both.fetch_max(all, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        both.fetch_sub(1, Ordering::SeqCst);
                        inside[i].fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
            tokio::time::timeout(Duration::from_secs(20), async {
                imports.idle(a).await;
                imports.idle(b).await;
            })
            .await
            .expect("every import ended");
            assert_eq!(
                most[0].load(Ordering::SeqCst),
                1,
                "two passes of one share at once"
            );
            assert_eq!(
                most[1].load(Ordering::SeqCst),
                1,
                "two passes of one share at once"
            );
            assert_eq!(
                most_both.load(Ordering::SeqCst),
                2,
                "two shares side by side"
            );
            // At shutdown the tracker empties.
            shutdown.cancel();
            tracker.close();
            tracker.wait().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An engine on a fresh data directory (real sled store, libp2p on a loopback port), with
    /// the join set its shutdown waits on.
    async fn engine(
        dir: &std::path::Path,
        shutdown: &CancellationToken,
    ) -> (Engine, Store, tokio::task::JoinSet<()>) {
        let store = Store::open(dir).unwrap();
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).unwrap();
        let net = casemesh_net::Config::new(secret, dir.join("partial"))
            .with_listen_addrs(vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]);
        let network = Network::start(&store, &secret, Clock::default(), net, shutdown)
            .await
            .unwrap();
        let (engine, tasks) = Engine::start(
            EngineConfig {
                store: store.clone(),
                secret,
                org_name: "Receiver".into(),
                settings: Arc::default(),
                clock: Clock::default(),
                smtp: None,
                shutdown: shutdown.clone(),
            },
            network,
        )
        .await
        .unwrap();
        (engine, store, tasks)
    }

    /// The engine is given its net layer (issue #9: "store and net injected") and refuses one
    /// started for another organization: grants it signs would name a PeerId its transport does
    /// not have, and partners would refuse every message.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_engine_refuses_a_net_layer_of_another_organization() {
        let dir = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let store = Store::open(dir.path()).unwrap();
        let (mut ours, mut theirs) = ([0u8; 32], [0u8; 32]);
        getrandom::fill(&mut ours).unwrap();
        getrandom::fill(&mut theirs).unwrap();
        let net = casemesh_net::Config::new(theirs, dir.path().join("partial"))
            .with_listen_addrs(vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]);
        let network = Network::start(&store, &theirs, Clock::default(), net, &shutdown)
            .await
            .unwrap();
        let config = EngineConfig {
            store: store.clone(),
            secret: ours,
            org_name: "Mixed".into(),
            settings: Arc::default(),
            clock: Clock::default(),
            smtp: None,
            shutdown: shutdown.clone(),
        };
        let Err(e) = Engine::start(config, network).await else {
            panic!("an engine started on another organization's net layer");
        };
        assert!(
            matches!(e, SharingError::Invalid(Bad::NetworkOfOtherOrg { .. })),
            "{e}"
        );
        shutdown.cancel();
    }

    /// The text forms the API and the CLI show (`as_str`) are the ones they showed before, the
    /// variants' Debug names (lower case for the mode), and match what serde writes.
    #[test]
    fn text_forms_are_the_variant_names() {
        use casemesh_model::grant::ShareMode;
        use records::{ReceivedStatus, ShareStatus};
        for s in [
            ShareStatus::Processing,
            ShareStatus::Complete,
            ShareStatus::Stopped,
            ShareStatus::Failed,
            ShareStatus::PendingApproval,
        ] {
            assert_eq!(s.as_str(), format!("{s:?}"));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for s in [
            ReceivedStatus::Pending,
            ReceivedStatus::Importing,
            ReceivedStatus::Imported,
            ReceivedStatus::Stopped,
        ] {
            assert_eq!(s.as_str(), format!("{s:?}"));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for m in [ShareMode::Copy, ShareMode::Access] {
            assert_eq!(m.as_str(), format!("{m:?}").to_lowercase());
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
    }

    /// Issue #9 ("every spawned task is owned and joined at shutdown"): shutdown cancels an
    /// import at its next await, but a store write the import had started on the blocking pool
    /// (`read_lists`, `put_verified_batch`, `adopt_verified` go through [`Engine::blocking`])
    /// runs to its end, and the engine's shutdown returns only after it, so the node's final
    /// flush never runs beside it. With a bare `spawn_blocking` the write was still running
    /// when the engine's tasks had all ended.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_waits_for_the_store_write_of_an_import_it_cancels() {
        let dir = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let (engine, store, mut tasks) = engine(dir.path(), &shutdown).await;
        let key = records::InboxKey {
            peer: OrgId("shutdown-test".into()),
            msg_id: [7; 16],
        };
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (import, write_key) = (engine.clone(), key.clone());
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let finished = cancelled.clone();
        engine
            .inner
            .imports
            .spawn(ShareId::random(), move |task| async move {
                let _turn = task.turn().await;
                let store = import.inner.store.clone();
                let _ = import
                    .blocking("store", move || {
                        let _ = started_tx.send(());
                        // A long write: a large blob's fsync, a batch of many blobs.
                        std::thread::sleep(Duration::from_millis(700));
                        store.put(&records::INBOX, &write_key, &1u8)?;
                        Ok(())
                    })
                    .await;
                // Not reached: shutdown drops the import while it waits.
                finished.store(false, std::sync::atomic::Ordering::SeqCst);
            });
        started.await.unwrap();
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .expect("the engine stops");
        assert!(
            cancelled.load(std::sync::atomic::Ordering::SeqCst),
            "shutdown cancelled the import while it waited for its write"
        );
        assert_eq!(
            store.get(&records::INBOX, &key).unwrap(),
            Some(1u8),
            "the engine's shutdown returned before the import's store write finished"
        );
        drop(engine);
    }
}
