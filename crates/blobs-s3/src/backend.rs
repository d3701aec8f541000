//! [`S3Backend`]: [`S3Blobs`] as the node's blob store backend (`[storage] backend = "s3"`), the
//! implementation of `casemesh_store::blobs::ObjectBlobs` the node hands to
//! `BlobStore::open_object`. Everything above the store (ingest, downloads, `blobs
//! stats|gc|verify`, partner shares both ways, packages) then works on the bucket unchanged.
//!
//! The store's callers are synchronous (blocking threads, a few runtime worker threads); each
//! blocking call here runs the async S3 call to completion on the node's runtime through its
//! [`Handle`]: directly on a blocking thread, through `block_in_place` on a worker thread (so the
//! multi-threaded runtime keeps serving meanwhile). Memory stays flat in the blob's size: reads
//! are verified windows of at most [`crate::store::READ_WINDOW`], writes the streaming
//! [`S3BlobWriter`].
//!
//! ```no_run
//! # fn demo(blobs: casemesh_blobs_s3::S3Blobs) -> Result<(), casemesh_store::StoreError> {
//! use std::sync::Arc;
//! let backend = casemesh_blobs_s3::backend::S3Backend::new(blobs, tokio::runtime::Handle::current());
//! let store = casemesh_store::BlobStore::open_object("/var/lib/casemesh/blobs".as_ref(), Arc::new(backend))?;
//! # Ok(()) }
//! ```

use std::{
    future::Future,
    io::{self, Write},
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use bytes::Bytes;
use casemesh_model::{ids::BlobHash, pins::BlobPins};
use casemesh_store::{
    StoreError,
    blobs::{ObjectBlobs, ObjectWriter},
};
use futures::{FutureExt, StreamExt, TryStreamExt, future::BoxFuture, stream::BoxStream};
use tokio::runtime::Handle;

use crate::{OutboardState, S3BlobWriter, S3Blobs, S3Error};

/// How long an answer of [`ObjectBlobs::ready`] is kept: `/readyz` asked every second by a load
/// balancer costs one listing every few seconds, and a bucket that stops answering shows
/// within that time.
pub const READY_KEPT: Duration = Duration::from_secs(5);

/// A readiness answer (the object store's error as text) and when it was taken.
type ReadyAnswer = (Instant, Result<(), String>);

/// [`S3Blobs`] behind the blob store's object-store interface. Cheap to clone.
#[derive(Clone)]
pub struct S3Backend {
    blobs: S3Blobs,
    rt: Handle,
    /// The last readiness answer and when it was taken (see [`READY_KEPT`]).
    ready: std::sync::Arc<Mutex<Option<ReadyAnswer>>>,
}

impl S3Backend {
    /// The backend on `blobs`, its blocking calls run on `rt` (the node's runtime).
    pub fn new(blobs: S3Blobs, rt: Handle) -> S3Backend {
        S3Backend {
            blobs,
            rt,
            ready: std::sync::Arc::default(),
        }
    }

    /// The store underneath.
    pub fn blobs(&self) -> &S3Blobs {
        &self.blobs
    }

    fn block<F: Future>(&self, f: F) -> F::Output {
        block(&self.rt, f)
    }
}

/// Run `f` on `rt` from synchronous code: on a blocking thread (or any thread outside the
/// runtime) directly, on a runtime worker thread through `block_in_place`.
///
/// Panics when called from the async context of a current-thread runtime (the node runs on the
/// multi-threaded one).
fn block<F: Future>(rt: &Handle, f: F) -> F::Output {
    match Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(|| rt.block_on(f)),
        Err(_) => rt.block_on(f),
    }
}

/// The store's error for an object-store error: `Missing` and `Corrupt` keep their meaning
/// (`blobs verify` reports them), bytes that do not match their announced hash are
/// `BlobCorrupt`, the rest (unreachable store, denied access, invalid request) an I/O failure
/// naming what was being done.
fn store_error(context: &'static str) -> impl FnOnce(S3Error) -> StoreError {
    move |e| match e {
        S3Error::Missing { hash } => StoreError::BlobMissing { hash },
        S3Error::Corrupt { hash, .. } => StoreError::BlobCorrupt { hash },
        S3Error::Mismatch { expected, .. } => StoreError::BlobCorrupt { hash: expected },
        e => StoreError::io(format!("object store: {context}"))(io::Error::other(e)),
    }
}

fn io_error(e: S3Error) -> io::Error {
    match e {
        S3Error::Corrupt { .. } | S3Error::Mismatch { .. } => {
            io::Error::new(io::ErrorKind::InvalidData, e)
        }
        S3Error::Missing { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

impl ObjectBlobs for S3Backend {
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        async move {
            self.blobs.check().await.map_err(|e| {
                StoreError::io(format!("bucket {}", self.blobs.bucket()))(io::Error::other(e))
            })
        }
        .boxed()
    }

    fn ready(&self, within: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        async move {
            let kept = self
                .ready
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .filter(|(at, _)| at.elapsed() < READY_KEPT)
                .map(|(_, r)| r.clone());
            let answer = match kept {
                Some(r) => r,
                None => {
                    let r = match tokio::time::timeout(within, self.blobs.check_readable()).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err(format!(
                            "the object store did not answer within {} ms",
                            within.as_millis()
                        )),
                    };
                    *self.ready.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((Instant::now(), r.clone()));
                    r
                }
            };
            answer.map_err(|e| StoreError::io("bucket")(io::Error::other(e)))
        }
        .boxed()
    }

    fn claim<'a>(&'a self, me: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            self.blobs
                .claim(me)
                .await
                .map_err(store_error("claim the bucket"))
        }
        .boxed()
    }

    fn sweep(&self, older_than: Duration) -> BoxFuture<'_, Result<u64, StoreError>> {
        async move {
            let swept = self
                .blobs
                .sweep(older_than)
                .await
                .map_err(store_error("sweep staging objects"))?;
            Ok(swept.staging + swept.orphan_outboards)
        }
        .boxed()
    }

    fn pin(&self, hashes: Vec<BlobHash>) -> BlobPins {
        self.blobs.pin(hashes)
    }

    fn ingest_guard(&self) -> BoxFuture<'_, tokio::sync::OwnedRwLockReadGuard<()>> {
        self.blobs.ingest_guard().boxed()
    }

    fn stat(&self, hash: &BlobHash) -> Result<Option<u64>, StoreError> {
        self.block(self.blobs.stat(hash))
            .map_err(store_error("stat a blob"))
    }

    fn writer(&self, size_hint: Option<u64>) -> Box<dyn ObjectWriter> {
        Box::new(Writer {
            w: self.blobs.writer(size_hint),
            rt: self.rt.clone(),
        })
    }

    fn put_verified_file(&self, path: &Path, hash: BlobHash) -> Result<(), StoreError> {
        self.block(self.blobs.put_verified_file(path, hash))
            .map(drop)
            .map_err(store_error("store a received blob"))
    }

    fn put_verified_batch(&self, blobs: &[(BlobHash, &[u8])]) -> Result<(), StoreError> {
        // Small blobs (a batch is bounded by the net layer): one copy each into `Bytes`.
        let owned: Vec<(BlobHash, Bytes)> = blobs
            .iter()
            .map(|(h, b)| (*h, Bytes::copy_from_slice(b)))
            .collect();
        self.block(self.blobs.put_verified_batch(&owned))
            .map(drop)
            .map_err(store_error("store a batch of received blobs"))
    }

    fn stream(&self, hash: &BlobHash) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        let s = self
            .block(self.blobs.reader(hash, None))
            .map_err(io_error)?;
        Ok(s.map_err(io_error).boxed())
    }

    fn read_at(&self, hash: &BlobHash, size: u64, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        if pos >= size || buf.is_empty() {
            return Ok(0);
        }
        let end = (pos + buf.len() as u64).min(size);
        let bytes = self
            .block(self.blobs.read_range(hash, pos..end))
            .map_err(io_error)?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn copy_outboard(&self, hash: &BlobHash, out: &mut dyn Write) -> io::Result<bool> {
        let Some(mut stream) = self
            .block(self.blobs.outboard_stream(hash))
            .map_err(io_error)?
        else {
            return Ok(false);
        };
        while let Some(piece) = self.block(stream.next()) {
            out.write_all(&piece.map_err(io_error)?)?;
        }
        Ok(true)
    }

    fn verify(&self, hash: &BlobHash) -> Result<u64, StoreError> {
        let v = self
            .block(self.blobs.verify(hash))
            .map_err(store_error("verify a blob"))?;
        match v.outboard {
            OutboardState::Ok | OutboardState::NotNeeded => Ok(v.size),
            state => {
                tracing::error!(blob = %hash, ?state, "the blob's outboard in the object store is not the one its bytes give");
                Err(StoreError::BlobCorrupt { hash: *hash })
            }
        }
    }

    fn list(&self) -> Result<Vec<(BlobHash, u64)>, StoreError> {
        self.block(self.blobs.list())
            .map_err(store_error("list blobs"))
    }

    fn gc<'a>(
        &'a self,
        in_use: &'a (dyn Fn(&BlobHash) -> Result<bool, StoreError> + Send + Sync),
    ) -> BoxFuture<'a, Result<(u64, u64), StoreError>> {
        async move {
            // The caller's error travels around the S3 store's own error type.
            let failed: Mutex<Option<StoreError>> = Mutex::new(None);
            let res = self
                .blobs
                .gc(|h| {
                    in_use(h).map_err(|e| {
                        let msg = e.to_string();
                        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        S3Error::Invalid(msg)
                    })
                })
                .await;
            if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e);
            }
            res.map_err(store_error("garbage collection"))
        }
        .boxed()
    }

    fn block_on_next(
        &self,
        stream: &mut BoxStream<'static, io::Result<Bytes>>,
    ) -> Option<io::Result<Bytes>> {
        self.block(stream.next())
    }
}

/// [`S3BlobWriter`] driven from synchronous code.
struct Writer {
    w: S3BlobWriter,
    rt: Handle,
}

impl ObjectWriter for Writer {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        block(&self.rt, self.w.write(bytes)).map_err(store_error("upload a blob"))
    }

    fn size(&self) -> u64 {
        self.w.size()
    }

    fn finish(self: Box<Self>) -> Result<(BlobHash, u64), StoreError> {
        let Writer { w, rt } = *self;
        block(&rt, w.finish())
            .map(|s| (s.hash, s.size))
            .map_err(store_error("store an uploaded blob"))
    }
}
