//! Early write-back: make the package durable while it is being written, not only at the end.
//!
//! A package of evidence is mostly bytes the disk has not seen yet. Calling `fsync` once at the
//! end means the CPU work (read, hash, write to the page cache) and the disk work (write-back)
//! happen one after the other. [`Writeback`] runs `fdatasync` on a clone of the output handle
//! from a helper thread every [`STEP`] bytes, so the disk writes while the writer goes on, and the
//! final `fsync` has little left to do. Only std is used (no `sync_file_range`).
//!
//! A clone shares the open file description, and Linux reports a write-back error to only one
//! `fsync` per description: errors seen by the helper are therefore kept and returned by
//! [`Writeback::finish`], never lost.

use std::fs::File;
use std::io;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;

/// Bytes written between two background syncs.
const STEP: u64 = 32 << 20;

/// Background `fdatasync` of a file being written.
pub(crate) struct Writeback {
    requests: Option<SyncSender<()>>,
    worker: Option<JoinHandle<io::Result<()>>>,
    since_last: u64,
}

impl Writeback {
    /// Starts the helper thread for `file`. If the handle cannot be cloned or the thread cannot
    /// start, write-back simply happens at [`finish`](Self::finish).
    pub(crate) fn start(file: &File) -> Self {
        let idle = Self {
            requests: None,
            worker: None,
            since_last: 0,
        };
        let Ok(clone) = file.try_clone() else {
            return idle;
        };
        // Capacity 1: at most one sync queued while one runs; further requests are dropped.
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let worker = std::thread::Builder::new()
            .name("package-writeback".into())
            .spawn(move || {
                let mut first_error = None;
                while rx.recv().is_ok() {
                    if let Err(e) = clone.sync_data() {
                        first_error.get_or_insert(e);
                    }
                }
                first_error.map_or(Ok(()), Err)
            });
        match worker {
            Ok(worker) => Self {
                requests: Some(tx),
                worker: Some(worker),
                since_last: 0,
            },
            Err(_) => idle,
        }
    }

    /// Notes `n` more bytes handed to the OS; asks for a background sync every [`STEP`].
    pub(crate) fn wrote(&mut self, n: u64) {
        self.since_last += n;
        if self.since_last >= STEP {
            self.since_last = 0;
            if let Some(tx) = &self.requests
                && let Err(TrySendError::Disconnected(())) = tx.try_send(())
            {
                self.requests = None;
            }
        }
    }

    /// Stops the helper, then makes `file` durable; returns any error either one saw.
    pub(crate) fn finish(mut self, file: &File) -> io::Result<()> {
        self.requests = None;
        let background = match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("write-back thread panicked")),
            None => Ok(()),
        };
        let last = file.sync_all();
        background.and(last)
    }
}
