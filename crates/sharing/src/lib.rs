//! The sharing engine: everything that happens between partner organizations, on top of the store
//! (records, blobs, audit) and the net crate (gated libp2p connections, control messages,
//! verified blob transfer).
//!
//! ```text
//!            API handlers ──► Engine (cloneable handle)
//!                               │  partners / policies      (partners.rs)
//!                               │  share, reshare, stop      (outgoing.rs)  ──► outbox queue
//!                               │  offers, import, sync      (incoming.rs)  ◄── control requests
//!                               │  access mode: view, get    (access.rs)
//!   net events ──► event loop ──┘  grant check per blob      (serve.rs)     ◄── blob requests
//!   outbox loop: deliver queued control messages in order, retry when the partner is back
//!   mail loop:   deliver queued notification emails over SMTP (mail.rs)
//! ```
//!
//! Every control message a node sends goes through the durable outbox (`outbox.<peer>` queue in
//! the store) and is delivered in order; the receiver deduplicates by message id, so a retry never
//! applies twice. Every grant is verified again on every use: on each blob request, on each update.

pub mod access;
pub mod custody;
pub mod directory;
pub mod error;
mod incoming;
pub mod lifecycle;
pub mod mail;
pub mod manifest;
mod outgoing;
mod partners;
pub mod recipients;
pub mod records;
mod retry;
mod serve;
mod updates;
pub mod wire;

pub use error::{Result, SharingError};
pub use mail::SmtpConfig;
pub use outgoing::{OnwardRequest, ShareRequest, parse_recipient, recipient_label};
pub use partners::DEFAULT_POLICY;
pub use partners::{DeadLetterView, PeerView};

use casemesh_model::ids::{CaseId, ShareId};
use casemesh_model::org::Settings;
use casemesh_net::{ControlRequest, ControlStatus, Event, NetHandle};
use casemesh_store::{Clock, Store};
use ed25519_dalek::SigningKey;
use records::OutboxMessage;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long the synchronization loop lets changes gather before a pass: the latency it adds
/// to a new item's trip to partners, for far fewer passes during a bulk ingest.
const SYNC_GATHER: Duration = Duration::from_millis(50);

/// First pause before retrying a partner whose delivery failed (unless it reconnects first); it
/// doubles with each failure in a row, up to [`OUTBOX_RETRY_MAX`] (see [`retry::delay`]).
const OUTBOX_RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest pause between delivery attempts to an unreachable partner (before jitter).
const OUTBOX_RETRY_MAX: Duration = Duration::from_secs(60);
/// How often the outbox loop looks for due work when nothing wakes it.
const OUTBOX_TICK: Duration = Duration::from_secs(1);
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
    /// The net layer's configuration.
    pub net: casemesh_net::Config,
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
    me: String,
    org_name: String,
    settings: Arc<RwLock<Settings>>,
    clock: Clock,
    outbox_wake: Notify,
    mail_wake: Notify,
    smtp: Option<SmtpConfig>,
    /// Partners whose deliveries failed: when to try again, and how many failures in a row.
    backoff: Mutex<BTreeMap<String, (Instant, u32)>>,
    /// Owns the background imports and outboard precomputations; waited for at shutdown.
    tasks: tokio_util::task::TaskTracker,
    /// Cancelled at shutdown: background tasks stop at their next step.
    shutdown: CancellationToken,
    /// One lock per share: a share's copy is written by one import at a time, while imports of
    /// different shares run side by side (each item commits in its own transaction).
    import_locks: Mutex<BTreeMap<ShareId, Arc<tokio::sync::Mutex<()>>>>,
    /// Cancelled when a share is stopped: its import in flight ends at once (children of
    /// `shutdown`, one per share with an import running or queued).
    import_cancel: Mutex<BTreeMap<ShareId, CancellationToken>>,
    /// Cancelled when a share is stopped: the blobs being served under it stop at once.
    serve_tokens: serve::ServeTokens,
    /// Cases changed since the synchronization loop's last pass (see [`Engine::case_changed`]).
    sync_dirty: Mutex<std::collections::BTreeSet<CaseId>>,
    /// Wakes the synchronization loop.
    sync_wake: Notify,
    /// Held while a share's next sequence number is given out (an update with new items, or
    /// recipients added), so item rows written ahead take effect with the number they name.
    share_updates: Mutex<()>,
    /// Metadata documents kept loaded (issue #14 item 3; see [`updates::DocCache`]).
    meta_docs: Mutex<updates::DocCache>,
}

impl Engine {
    /// Start the net layer and the engine's loops. They stop when `shutdown` is cancelled.
    pub async fn start(config: EngineConfig) -> Result<(Engine, tokio::task::JoinSet<()>)> {
        let key = SigningKey::from_bytes(&config.secret);
        let me = casemesh_model::grant::org_id_from_public_key(key.verifying_key().as_bytes()).0;
        let serve_tokens = serve::ServeTokens::default();
        let server = Arc::new(serve::GrantChecker {
            store: config.store.clone(),
            me: me.clone(),
            clock: config.clock,
            tokens: serve_tokens.clone(),
        });
        let net_config = config.net.with_shutdown(config.shutdown.clone());
        let (net, events) = casemesh_net::start(net_config, server).await?;
        let engine = Engine {
            inner: Arc::new(Inner {
                store: config.store,
                net,
                key,
                me,
                org_name: config.org_name,
                settings: config.settings,
                clock: config.clock,
                outbox_wake: Notify::new(),
                mail_wake: Notify::new(),
                smtp: config.smtp,
                backoff: Mutex::new(BTreeMap::new()),
                import_locks: Mutex::new(BTreeMap::new()),
                import_cancel: Mutex::new(BTreeMap::new()),
                serve_tokens,
                sync_dirty: Mutex::new(Default::default()),
                sync_wake: Notify::new(),
                share_updates: Mutex::new(()),
                meta_docs: Mutex::default(),
                tasks: tokio_util::task::TaskTracker::new(),
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
        tasks.spawn(engine.clone().outbox_loop(config.shutdown.clone()));
        tasks.spawn(engine.clone().mail_loop(config.shutdown.clone()));
        tasks.spawn(engine.clone().sync_loop(config.shutdown.clone()));
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
    pub fn org_id(&self) -> &str {
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
            return Err(SharingError::Invalid(format!(
                "the {} message for this share would be {} bytes, over the {} bytes a partner \
                 accepts in one message; share fewer items or shorter descriptions",
                kind.as_str(),
                payload.len(),
                wire::MAX_PAYLOAD
            )));
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
        peer: &str,
        msg: &OutboxMessage,
    ) -> std::result::Result<(), casemesh_store::StoreError> {
        txn.queue_push(&records::outbox_queue(peer), msg)
            .map(|_| ())
    }

    /// Let the outbox loop deliver what was queued.
    fn wake_outbox(&self) {
        self.inner.outbox_wake.notify_one();
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
                    let response =
                        if request.kind == casemesh_net::MessageKind::DirectoryQuery.as_str() {
                            self.answer_directory(&request)
                        } else {
                            self.handle_control(&peer.to_base58(), &request).await
                        };
                    let _ = reply.send(response);
                }
                Event::PeerConnected { peer } => {
                    tracing::info!(peer = %peer, "partner connected");
                    if let Ok(mut b) = self.inner.backoff.lock() {
                        b.remove(&peer.to_base58());
                    }
                    self.inner.outbox_wake.notify_one();
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
        peer: &str,
        request: &ControlRequest,
    ) -> casemesh_net::ControlResponse {
        let status = match self.dispatch(peer, request).await {
            Ok(()) => ControlStatus::Ok,
            Err(e) if e.is_refusal() => {
                let m = e.to_string();
                tracing::warn!(peer, kind = %request.kind, reason = %m, "control message rejected");
                ControlStatus::Rejected(m)
            }
            Err(e) => {
                tracing::error!(peer, kind = %request.kind, error = %e, "control message failed");
                ControlStatus::Failed(e.to_string())
            }
        };
        casemesh_net::ControlResponse::status(request.msg_id, status)
    }

    async fn dispatch(&self, peer: &str, request: &ControlRequest) -> Result<()> {
        if self.partner_by_id(peer)?.is_none() {
            return Err(SharingError::Forbidden(format!(
                "{peer} is not a registered partner"
            )));
        }
        // A retried delivery of a message already applied is acknowledged and ignored.
        let seen_key = format!("{peer}.{}", hex::encode(request.msg_id));
        if self.inner.store.get(&records::INBOX, &seen_key)?.is_some() {
            return Ok(());
        }
        use wire::Message as M;
        let result = match M::decode(&request.kind, &request.payload).map_err(invalid)? {
            M::Offer(m) => self.on_offer(peer, m).await,
            M::Update(m) => self.on_update(peer, m).await,
            M::Revocation(m) => self.on_revocation(peer, m),
            M::Meta(m) => self.on_meta_changes(peer, m).await,
            M::Receipt(m) => self.on_receipt(peer, m),
            M::Onward(m) => self.on_onward(peer, m),
            M::Access(m) => self.on_access_event(peer, m),
            M::Edit(m) => self.on_case_edit(peer, m),
            M::Ping => Ok(()),
        };
        if result.is_ok() {
            self.inner.store.put(&records::INBOX, &seen_key, &1u8)?;
        }
        result
    }

    async fn outbox_loop(self, shutdown: CancellationToken) {
        loop {
            self.deliver_outbox().await;
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = self.inner.outbox_wake.notified() => {},
                _ = tokio::time::sleep(OUTBOX_TICK) => {},
            }
        }
    }

    /// Deliver every partner's queued messages, in order, stopping at a partner's first failure.
    async fn deliver_outbox(&self) {
        let partners = match self.partners() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot list partners");
                return;
            }
        };
        for partner in partners {
            let due = self
                .inner
                .backoff
                .lock()
                .ok()
                .and_then(|b| b.get(&partner.peer_id).copied());
            if due.is_some_and(|(at, _)| Instant::now() < at) {
                continue;
            }
            if let Err(e) = self.deliver_to(&partner.peer_id).await {
                if let Ok(mut b) = self.inner.backoff.lock() {
                    let failures = b.get(&partner.peer_id).map_or(0, |(_, n)| *n) + 1;
                    let pause = retry::delay(OUTBOX_RETRY_MIN, OUTBOX_RETRY_MAX, failures);
                    tracing::info!(peer = %partner.peer_id, error = %e, failures, retry_in_ms = pause.as_millis() as u64, "outbox: partner unreachable, will retry");
                    b.insert(partner.peer_id.clone(), (Instant::now() + pause, failures));
                }
            } else if let Ok(mut b) = self.inner.backoff.lock() {
                b.remove(&partner.peer_id);
            }
        }
    }

    /// Deliver a partner's queued messages in order. A message the partner refuses for good, or
    /// that is too large to send, moves to the dead letters (and its share is marked Failed) so
    /// the messages behind it go on; a temporary failure stops here and is retried later.
    async fn deliver_to(&self, peer: &str) -> Result<()> {
        let queue = records::outbox_queue(peer);
        let items: Vec<(u64, OutboxMessage)> = self.inner.store.queue_items(&queue)?;
        if items.is_empty() {
            return Ok(());
        }
        let peer_id: casemesh_net::PeerId = peer
            .parse()
            .map_err(|_| SharingError::Invalid(format!("bad peer id {peer}")))?;
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
            let response = match self.inner.net.send_control(peer_id, request).await {
                Ok(r) => r,
                Err(casemesh_net::NetError::TooLarge { size, limit }) => {
                    let reason = format!("{size} bytes is over the {limit} byte message limit");
                    self.dead_letter(peer, seq, &msg, &reason)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            match response.status {
                ControlStatus::Ok => self.inner.store.queue_remove(&queue, seq)?,
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
                    return Err(SharingError::Conflict(format!(
                        "partner could not take {} now: {:?}",
                        msg.kind, response.status
                    )));
                }
            }
        }
        Ok(())
    }

    /// Move an outbox message to the partner's dead letters and fail its share, atomically.
    fn dead_letter(&self, peer: &str, seq: u64, msg: &OutboxMessage, reason: &str) -> Result<()> {
        tracing::warn!(peer, kind = %msg.kind, share = ?msg.share, reason, "message cannot be delivered; moved to the dead letters");
        let now = self.now();
        let letter = records::DeadLetter {
            msg_id: msg.msg_id.clone(),
            kind: msg.kind.clone(),
            share: msg.share,
            reason: reason.to_owned(),
            queued_at: msg.queued_at,
            at: now,
        };
        self.inner.store.atomically(|txn| {
            txn.queue_remove(&records::outbox_queue(peer), seq)?;
            txn.queue_push(&records::dead_letter_queue(peer), &letter)?;
            if let Some(id) = msg.share
                && let Some(mut share) = txn.get(&records::SHARES, &id)?
            {
                let why = format!("{}: {reason}", msg.kind);
                let effects =
                    lifecycle::step(&mut share, lifecycle::Event::Failed { reason: &why }, now)
                        .map_err(|e| SharingError::Conflict(e.to_string()))?;
                if !effects.is_empty() {
                    txn.put(&records::SHARES, &id, &share)?;
                    let system = casemesh_store::Actor::new("system", now);
                    Self::carry_out(txn, &share, &effects, &system, &why)?;
                }
            }
            Ok::<_, SharingError>(())
        })
    }

    /// A partner's dead letters, oldest first.
    pub fn dead_letters(&self, peer: &str) -> Result<Vec<records::DeadLetter>> {
        Ok(self
            .inner
            .store
            .queue_items::<records::DeadLetter>(&records::dead_letter_queue(peer))?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
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
        let token = self
            .inner
            .import_cancel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&share);
        if let Some(token) = token {
            token.cancel();
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

    /// The import lock of one share (created on first use).
    fn import_lock(&self, share: ShareId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .import_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        locks.entry(share).or_default().clone()
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
    /// and metadata changes (case synchronization), from the synchronization loop. Changes that
    /// come faster than a pass are coalesced, so a bulk ingest of n items into a shared case
    /// costs a few passes over the case, not n. Returns at once.
    pub fn case_changed(&self, case: CaseId) {
        self.inner
            .sync_dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(case);
        self.inner.sync_wake.notify_one();
    }

    /// Case synchronization: one pass over every case changed since the last one.
    async fn sync_loop(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = self.inner.sync_wake.notified() => {},
            }
            // Let a burst of changes (a bulk ingest) gather into one pass.
            tokio::time::sleep(SYNC_GATHER).await;
            let cases = std::mem::take(
                &mut *self
                    .inner
                    .sync_dirty
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
            );
            for case in cases {
                let engine = self.clone();
                let pass = tokio::task::spawn_blocking(move || {
                    engine
                        .evidence_added(case)
                        .and_then(|()| engine.metadata_changed(case))
                })
                .await;
                match pass {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(case = %case, error = %e, "could not send the case's changes to partners")
                    }
                    Err(e) => {
                        tracing::error!(case = %case, error = %e, "synchronization task failed")
                    }
                }
            }
        }
    }

    /// Run the import/sync of a share in the background. A failure (a dropped connection, a
    /// partner restarting) is retried with a growing pause; items already copied are kept, and
    /// the partial blob transfer resumes where it stopped.
    fn spawn_sync(&self, share: ShareId) {
        let engine = self.clone();
        let shutdown = {
            let mut tokens = self
                .inner
                .import_cancel
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            tokens
                .entry(share)
                .or_insert_with(|| self.inner.shutdown.child_token())
                .clone()
        };
        self.inner.tasks.spawn(async move {
            let mut attempt: u32 = 0;
            loop {
                let result = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => {
                        engine.after_stopped_import().await;
                        return;
                    }
                    r = engine.sync_copy(share) => r,
                };
                let Err(e) = result else { return };
                attempt += 1;
                let permanent = e.is_refusal();
                tracing::warn!(share = %share, attempt, error = %e, "import/sync failed");
                let message = e.to_string();
                let _ = engine.inner.store.atomically(|txn| {
                    if let Some(mut s) = txn.get(&records::RECEIVED, &share)? {
                        s.last_error = Some(message.clone());
                        txn.put(&records::RECEIVED, &share, &s)?;
                    }
                    Ok::<_, SharingError>(())
                });
                if permanent || attempt >= SYNC_ATTEMPTS {
                    tracing::error!(share = %share, "import/sync gave up; it resumes on the next update, an Import, or a restart");
                    return;
                }
                let pause = retry::delay(SYNC_RETRY_MIN, SYNC_RETRY_MAX, attempt);
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {},
                }
            }
        });
    }
}

/// How often a failed import/sync is tried again before waiting for the next update.
const SYNC_ATTEMPTS: u32 = 20;

fn invalid(e: wire::PayloadError) -> SharingError {
    SharingError::Invalid(e.to_string())
}
