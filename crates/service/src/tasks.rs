//! Work a request starts that may outlive it: the node's [`RequestTasks`].
//!
//! A request handler that moves blocking work (a store read, password hashing, an upload's blob
//! write, a blob check) to the blocking pool, or that streams its response from a blocking thread,
//! spawns that work here instead of with a bare `tokio::task::spawn_blocking`. The request may be
//! dropped (the client went away, or shutdown's deadline for in-flight requests passed) while the
//! work runs on; a closure already started on the blocking pool cannot be stopped, so the node's
//! shutdown waits for this tracker before it flushes and closes the store (issue #9: every
//! spawned task owned and joined). The same tracker is [`crate::Node::response_tasks`].

use tokio::task::{JoinError, JoinHandle};
use tokio_util::task::TaskTracker;

/// The node's tracker for work spawned on behalf of requests; cheap to clone, every clone names
/// the same tracker. Shutdown (`Node::start`'s handle) waits for every task on it after the
/// servers stopped, and again just before the final store flush.
#[derive(Clone, Debug, Default)]
pub struct RequestTasks {
    tracker: TaskTracker,
}

impl RequestTasks {
    /// A new, empty tracker (the node makes one at start and hands clones to its services).
    pub fn new() -> RequestTasks {
        RequestTasks::default()
    }

    /// Run `work` on the blocking pool, tracked, and wait for its result. Dropping the returned
    /// future does not stop `work` once it started; shutdown waits for it.
    ///
    /// Errors: [`JoinError`] if `work` panicked.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.tracker.spawn_blocking(work).await
    }

    /// Start `work` on the blocking pool, tracked; the handle may be awaited later or dropped
    /// (the work then runs on, detached from the caller but not from shutdown).
    pub fn spawn_blocking<T, F>(&self, work: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.tracker.spawn_blocking(work)
    }

    /// The tracker itself (to spawn async work, or to wait for it).
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }
}
