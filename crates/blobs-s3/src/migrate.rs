//! Moving a node's evidence blobs between the local blob directory
//! ([`casemesh_store::BlobStore`], `<data dir>/blobs`) and an [`S3Blobs`] bucket, both ways:
//! [`migrate_to_s3`] and [`migrate_to_fs`] (issue #18 item 4, `casemesh blobs migrate --to s3|fs`).
//!
//! The rules, the same in both directions:
//! - **The source is never changed.** Nothing is deleted or rewritten there; the operator switches
//!   `[storage] backend` once the migration has completed, and removes the old copy afterwards
//!   if wanted. The node is stopped meanwhile (its gc must not run on either side).
//! - **Verified.** A blob counts as migrated only after the destination's copy was read back
//!   and checked against its BLAKE3 hash (and, on S3, its outboard against the one the bytes
//!   give). The source is checked on the way: the bytes are hashed while they are copied and
//!   nothing lands at the destination unless they hash to the blob's address
//!   ([`MigrateError::SourceCorrupt`] for that blob otherwise).
//! - **Goes on past a bad blob.** A blob that cannot be migrated (its source corrupt or gone,
//!   its destination copy not verifying) is noted with why, and the run goes on with the
//!   others; at the end the run fails with [`MigrateError::Incomplete`] naming every such blob.
//!   An error that would fail every blob (the store unavailable or refusing, a full disk) stops
//!   the run at once.
//! - **Resumable.** A blob already present at the destination is verified there and counted as
//!   skipped; a copy that does not verify is an error ([`MigrateError::DestinationCorrupt`]), never
//!   a skip. A run killed at any point leaves, for each blob, nothing at its address or a complete
//!   copy (S3: a multipart upload is invisible until completed; local: temp file, fsync, rename),
//!   so running it again completes the migration.
//! - **Streaming.** Memory is flat in blob size: a large blob moves in pieces (1 MiB reads and
//!   the S3 writer's parts going up; a streaming GET coming down).
//! - **Progress.** Every piece moved calls the caller's `progress` with blobs and bytes done out
//!   of the totals, enough for a progress bar (`indicatif`'s `set_position`).
//!
//! Blobs of at most one part (8 MiB by default) move [`SMALL_AT_ONCE`] at a time; larger ones one
//! after the other (each already sends `upload_concurrency` parts at once).

use std::{sync::Mutex, time::Instant};

use casemesh_model::ids::BlobHash;
use casemesh_store::{BlobStore, StoreError};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use tokio::io::AsyncReadExt;

use crate::{Action, OutboardState, S3Blobs, S3Error, store::blob_key};

/// Small blobs (at most [`SMALL`] bytes) migrated at once.
pub const SMALL_AT_ONCE: usize = 8;

/// Largest blob moved as a "small" one (bytes): one S3 part, one PUT.
pub const SMALL: u64 = 8 << 20;

/// Size of a read from a local blob file, and of a write to one (bytes).
const PIECE: usize = 1 << 20;

/// Where a migration stands; handed to the `progress` callback after every piece moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Blobs finished (copied and verified, or found verified at the destination).
    pub blobs_done: u64,
    /// Blobs at the source when the migration started.
    pub blobs_total: u64,
    /// Bytes of blob content finished or moved so far (a blob being copied counts the bytes
    /// already sent; a blob skipped counts its size at once).
    pub bytes_done: u64,
    /// Bytes of blob content at the source when the migration started.
    pub bytes_total: u64,
}

/// What a completed migration did. `copied + skipped` is the number of blobs at the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Blobs copied to the destination and verified there (count).
    pub copied: u64,
    /// Blobs that were already at the destination and verified there: not copied again (count).
    pub skipped: u64,
    /// Content bytes copied (sum of the sizes of the `copied` blobs).
    pub bytes_copied: u64,
    /// Content bytes not copied because they were there already (sum of the `skipped` sizes).
    pub bytes_skipped: u64,
    /// S3 destination only: blobs whose bytes verified but whose outboard (the `.obao` beside
    /// them) was missing or wrong, rebuilt from the verified bytes (count; also in `copied` or
    /// `skipped`).
    pub outboards_rebuilt: u64,
}

/// Why a migration stopped. Everything migrated before it stays valid: run it again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The local blob directory failed (I/O, no space, a listed blob gone: the node must be
    /// stopped while migrating). The store's error is in the text, not a `source()` (an error
    /// printer walking the chain would print it twice).
    #[error("local blob store: {0}")]
    Local(StoreError),
    /// The object store failed; [`S3Error::action`] says whether a later run can succeed.
    #[error(transparent)]
    S3(#[from] S3Error),
    /// A source blob's bytes do not hash to its address. Nothing of it was stored at the
    /// destination. Restore it from a partner or a backup (`casemesh blobs verify` lists such
    /// blobs), then run the migration again.
    #[error(
        "source blob {hash} is corrupt ({detail}); nothing of it was copied: restore it from a \
         partner or a backup, then run the migration again"
    )]
    SourceCorrupt {
        /// The blob.
        hash: BlobHash,
        /// What did not match.
        detail: String,
    },
    /// The destination holds a copy of this blob that does not verify (tampered, truncated, or
    /// written by something else). It is neither skipped nor overwritten: look at it, delete it
    /// at the destination, and run the migration again.
    #[error(
        "destination copy of blob {hash} does not verify ({detail}); delete it there and run the \
         migration again"
    )]
    DestinationCorrupt {
        /// The blob.
        hash: BlobHash,
        /// What did not match.
        detail: String,
    },
    /// The call itself is wrong (the local side is not a blob directory).
    #[error("invalid migration: {0}")]
    Invalid(String),
    /// A blocking task (local file I/O) panicked or was cancelled.
    #[error("migration task failed: {0}")]
    Task(String),
    /// The run went through every blob, but some could not be migrated (each named in
    /// `failed` with why: a corrupt or missing source, a destination copy that does not
    /// verify); all the others were. Fix what each reason says, then run the migration again:
    /// what is done is skipped.
    #[error(
        "{} of {} blobs could not be migrated ({} copied, {} already there): {}",
        failed.len(),
        migrated.copied + migrated.skipped + failed.len() as u64,
        migrated.copied,
        migrated.skipped,
        failed.iter().map(|f| format!("{}: {}", f.hash, f.error)).collect::<Vec<_>>().join("; ")
    )]
    Incomplete {
        /// What was migrated.
        migrated: Migrated,
        /// The blobs that were not, sorted by hash.
        failed: Vec<BlobFailure>,
    },
}

impl From<StoreError> for MigrateError {
    fn from(e: StoreError) -> MigrateError {
        MigrateError::Local(e)
    }
}

/// A blob a migration could not copy, and why.
#[derive(Debug)]
#[non_exhaustive]
pub struct BlobFailure {
    /// The blob.
    pub hash: BlobHash,
    /// Why (a [`MigrateError`] about this blob alone: [`MigrateError::is_about_one_blob`]).
    pub error: MigrateError,
}

impl MigrateError {
    /// [`Action::Retry`] when the object store was unavailable (run the migration again later);
    /// [`Action::Refuse`] otherwise (fix what the message says first).
    pub fn action(&self) -> Action {
        match self {
            MigrateError::S3(e) => e.action(),
            _ => Action::Refuse,
        }
    }

    /// Whether this is about one blob only (its source corrupt or missing, its destination copy
    /// not verifying): the run notes it and goes on with the others. Any other error (the
    /// store unavailable or refusing, a full disk) stops the run, as it would fail every blob.
    pub fn is_about_one_blob(&self) -> bool {
        matches!(
            self,
            MigrateError::SourceCorrupt { .. }
                | MigrateError::DestinationCorrupt { .. }
                | MigrateError::Local(
                    StoreError::BlobMissing { .. } | StoreError::BlobCorrupt { .. }
                )
                | MigrateError::S3(
                    S3Error::Missing { .. }
                        | S3Error::Corrupt { .. }
                        | S3Error::OutboardMissing { .. }
                        | S3Error::Mismatch { .. }
                )
        )
    }
}

/// Progress shared by the blobs moving at once; the callback runs under the lock so that a
/// progress bar never sees its figures go backwards.
struct Tracker<F> {
    state: Mutex<(Progress, Migrated)>,
    callback: F,
}

impl<F: Fn(&Progress)> Tracker<F> {
    fn new(blobs: &[(BlobHash, u64)], callback: F) -> Tracker<F> {
        let p = Progress {
            blobs_done: 0,
            blobs_total: blobs.len() as u64,
            bytes_done: 0,
            bytes_total: blobs.iter().map(|(_, s)| s).sum(),
        };
        callback(&p);
        Tracker {
            state: Mutex::new((p, Migrated::default())),
            callback,
        }
    }

    fn update(&self, f: impl FnOnce(&mut Progress, &mut Migrated)) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (p, m) = &mut *s;
        f(p, m);
        (self.callback)(p);
    }

    fn bytes(&self, n: u64) {
        self.update(|p, _| p.bytes_done += n);
    }

    /// A blob finished: `moved` of its bytes were already reported through [`Tracker::bytes`].
    fn done(&self, size: u64, moved: u64, outcome: Outcome) {
        self.update(|p, m| {
            p.blobs_done += 1;
            p.bytes_done += size.saturating_sub(moved);
            match outcome.copied {
                true => {
                    m.copied += 1;
                    m.bytes_copied += size;
                }
                false => {
                    m.skipped += 1;
                    m.bytes_skipped += size;
                }
            }
            m.outboards_rebuilt += u64::from(outcome.outboard_rebuilt);
        });
    }

    fn summary(&self) -> Migrated {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

#[derive(Clone, Copy)]
struct Outcome {
    copied: bool,
    outboard_rebuilt: bool,
}

/// Run `one` on every blob: small ones [`SMALL_AT_ONCE`] at a time, then large ones one by one.
/// A blob whose error is about it alone ([`MigrateError::is_about_one_blob`]) is noted and the
/// run goes on; any other error stops it. Returns the blobs that failed, sorted by hash.
async fn for_each_blob<Fut>(
    blobs: Vec<(BlobHash, u64)>,
    one: impl Fn(BlobHash, u64) -> Fut,
) -> Result<Vec<BlobFailure>, MigrateError>
where
    Fut: Future<Output = Result<(), MigrateError>>,
{
    let failed = Mutex::new(Vec::new());
    let note = |hash: BlobHash, res: Result<(), MigrateError>| match res {
        Err(error) if error.is_about_one_blob() => {
            tracing::error!(blob = %hash, %error, "blob not migrated; going on with the others");
            failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(BlobFailure { hash, error });
            Ok(())
        }
        res => res,
    };
    let (small, large): (Vec<_>, Vec<_>) = blobs.into_iter().partition(|(_, s)| *s <= SMALL);
    futures::stream::iter(small.into_iter().map(Ok))
        .try_for_each_concurrent(SMALL_AT_ONCE, |(h, s)| {
            let fut = one(h, s);
            let note = &note;
            async move { note(h, fut.await) }
        })
        .await?;
    for (h, s) in large {
        note(h, one(h, s).await)?;
    }
    let mut failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    failed.sort_by_key(|f| f.hash);
    Ok(failed)
}

/// The end of a run that went through every blob.
fn finish(migrated: Migrated, failed: Vec<BlobFailure>) -> Result<Migrated, MigrateError> {
    if failed.is_empty() {
        Ok(migrated)
    } else {
        Err(MigrateError::Incomplete { migrated, failed })
    }
}

/// Copy every blob of the local blob directory `local` into the bucket of `s3`, verified and
/// resumable (see the module doc). The local copies are left untouched.
///
/// `progress` is called at the start (0 done) and after every piece moved; it must return
/// quickly (it runs under a lock). Returns what was copied and skipped.
///
/// Errors: [`MigrateError::Incomplete`] when the run went through every blob but some could
/// not be migrated (a corrupt or missing source, a destination copy that does not verify: each
/// named with why; all the others were migrated); [`MigrateError::S3`] (`action()` = `Retry`:
/// the store was unavailable, run it again) or [`MigrateError::Local`] (a full disk, an I/O
/// failure), which stop the run. Blobs migrated before an error stay migrated.
pub async fn migrate_to_s3(
    local: &BlobStore,
    s3: &S3Blobs,
    progress: impl Fn(&Progress) + Send + Sync,
) -> Result<Migrated, MigrateError> {
    local_dir(local)?;
    let started = Instant::now();
    let blobs = {
        let local = local.clone();
        blocking(move || local.list()).await??
    };
    let tracker = Tracker::new(&blobs, progress);
    let res = for_each_blob(blobs, |hash, size| {
        let tracker = &tracker;
        async move { blob_to_s3(local, s3, hash, size, tracker).await }
    })
    .await;
    // Writers dropped by an error abort their multipart uploads in the background: wait.
    s3.settle().await;
    let failed = res?;
    let m = tracker.summary();
    tracing::info!(
        copied = m.copied,
        skipped = m.skipped,
        failed = failed.len(),
        bytes_copied = m.bytes_copied,
        seconds = started.elapsed().as_secs_f64(),
        "blobs migrated to the object store"
    );
    finish(m, failed)
}

async fn blob_to_s3<F: Fn(&Progress)>(
    local: &BlobStore,
    s3: &S3Blobs,
    hash: BlobHash,
    size: u64,
    tracker: &Tracker<F>,
) -> Result<(), MigrateError> {
    if s3.stat(&hash).await?.is_some() {
        let rebuilt = verify_on_s3(s3, &hash, size).await?;
        tracker.done(
            size,
            0,
            Outcome {
                copied: false,
                outboard_rebuilt: rebuilt,
            },
        );
        return Ok(());
    }
    let mut moved = 0u64;
    if let Some(mut w) = s3.writer_for(hash, size).await? {
        let path = local.path_of(&hash);
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::BlobMissing { hash }.into());
            }
            Err(e) => return Err(StoreError::io(format!("open {}", path.display()))(e).into()),
        };
        let mut buf = vec![0u8; PIECE];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(StoreError::io(format!("read {}", path.display())))?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n]).await?;
            moved += n as u64;
            tracker.bytes(n as u64);
        }
        match w.finish().await {
            Ok(_) => {}
            // The writer completes only if the bytes hash to the announced address.
            Err(S3Error::Mismatch {
                actual,
                actual_size,
                ..
            }) => {
                return Err(MigrateError::SourceCorrupt {
                    hash,
                    detail: format!(
                        "the local file has {actual_size} bytes hashing to {actual}, expected \
                         {size} bytes"
                    ),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    let rebuilt = verify_on_s3(s3, &hash, size).await?;
    tracker.done(
        size,
        moved,
        Outcome {
            copied: true,
            outboard_rebuilt: rebuilt,
        },
    );
    Ok(())
}

/// Read the blob back from the object store and check it (bytes against the hash, size, and
/// outboard). A missing or wrong outboard beside verified bytes is rebuilt: true then.
async fn verify_on_s3(s3: &S3Blobs, hash: &BlobHash, size: u64) -> Result<bool, MigrateError> {
    let corrupt = |detail: String| MigrateError::DestinationCorrupt {
        hash: *hash,
        detail,
    };
    let v = match s3.verify(hash).await {
        Ok(v) => v,
        Err(S3Error::Corrupt { detail, .. }) => return Err(corrupt(detail)),
        Err(e) => return Err(e.into()),
    };
    if v.size != size {
        // Unreachable for bytes that hash to the address, unless the source's listing was wrong.
        return Err(corrupt(format!(
            "{} bytes in the object store, {size} at the source",
            v.size
        )));
    }
    match v.outboard {
        OutboardState::Ok | OutboardState::NotNeeded => Ok(false),
        state @ (OutboardState::Missing | OutboardState::Mismatch) => {
            tracing::warn!(blob = %hash, ?state, "outboard beside a verified blob rebuilt");
            s3.rebuild_outboard(hash).await?;
            Ok(true)
        }
    }
}

/// Copy every blob of the bucket of `s3` into the local blob directory `local`, verified and
/// resumable (see the module doc). The bucket is left untouched (not even an outboard is
/// rebuilt there). Refused before anything is copied when the blobs still to copy do not fit
/// on the local file system with [`casemesh_store::blobs::SPACE_RESERVE`] left free
/// ([`StoreError::NoSpace`] in [`MigrateError::Local`]).
///
/// `progress` is called at the start (0 done) and after every piece moved; it must return
/// quickly. Returns what was copied and skipped.
///
/// Errors: as [`migrate_to_s3`]. A temp file left in `blobs/tmp/` by a killed run is removed
/// by the node's blob gc.
pub async fn migrate_to_fs(
    s3: &S3Blobs,
    local: &BlobStore,
    progress: impl Fn(&Progress) + Send + Sync,
) -> Result<Migrated, MigrateError> {
    local_dir(local)?;
    let started = Instant::now();
    let blobs = s3.list().await?;
    let missing: u64 = blobs
        .iter()
        .filter(|(h, _)| !local.contains(h))
        .map(|(_, s)| s)
        .sum();
    local.check_space(missing)?;
    let tracker = Tracker::new(&blobs, progress);
    let failed = for_each_blob(blobs, |hash, size| {
        let tracker = &tracker;
        async move { blob_to_fs(s3, local, hash, size, tracker).await }
    })
    .await?;
    let m = tracker.summary();
    tracing::info!(
        copied = m.copied,
        skipped = m.skipped,
        failed = failed.len(),
        bytes_copied = m.bytes_copied,
        seconds = started.elapsed().as_secs_f64(),
        "blobs migrated to the local blob store"
    );
    finish(m, failed)
}

async fn blob_to_fs<F: Fn(&Progress)>(
    s3: &S3Blobs,
    local: &BlobStore,
    hash: BlobHash,
    size: u64,
    tracker: &Tracker<F>,
) -> Result<(), MigrateError> {
    let skipped = Outcome {
        copied: false,
        outboard_rebuilt: false,
    };
    if local.contains(&hash) {
        verify_local(local, hash, size).await?;
        tracker.done(size, 0, skipped);
        return Ok(());
    }
    local.check_space(size)?;
    let mut w = Some(local.writer()?);
    let key = blob_key(&hash);
    let res = s3.object_store().get(&key).await.map_err(|e| match e {
        object_store::Error::NotFound { .. } => S3Error::Missing { hash },
        e => S3Error::store("get", key.as_ref(), e),
    })?;
    let mut stream = res.into_stream();
    let mut pending = Vec::with_capacity(PIECE * 4);
    let mut moved = 0u64;
    loop {
        let piece = stream
            .next()
            .await
            .transpose()
            .map_err(|e| S3Error::store("get", key.as_ref(), e))?;
        let last = piece.is_none();
        if let Some(p) = &piece {
            pending.extend_from_slice(p);
        }
        if (last && !pending.is_empty()) || pending.len() >= PIECE * 4 {
            let mut writer = w
                .take()
                .ok_or_else(|| MigrateError::Task("writer lost".into()))?;
            let chunk = std::mem::take(&mut pending);
            let (writer, chunk) = blocking(move || {
                let r = writer.write(&chunk);
                (r.map(|()| writer), chunk)
            })
            .await?;
            w = Some(writer?);
            moved += chunk.len() as u64;
            tracker.bytes(chunk.len() as u64);
            pending = chunk;
            pending.clear();
        }
        if last {
            break;
        }
    }
    let writer = w.ok_or_else(|| MigrateError::Task("writer lost".into()))?;
    // Nothing lands at the address unless the bytes hash to it: a mismatch drops the writer,
    // which removes its temp file.
    let (actual, actual_size) = (writer.hash(), writer.size());
    if actual != Some(hash) || actual_size != size {
        let hashing = actual.map_or_else(String::new, |a| format!(" hashing to {a}"));
        return Err(MigrateError::SourceCorrupt {
            hash,
            detail: format!(
                "the object store sent {actual_size} bytes{hashing}, expected {size} bytes"
            ),
        });
    }
    blocking(move || writer.finish()).await??;
    verify_local(local, hash, size).await?;
    tracker.done(
        size,
        moved,
        Outcome {
            copied: true,
            outboard_rebuilt: false,
        },
    );
    Ok(())
}

/// Read the local copy back and check it against its hash and size.
async fn verify_local(local: &BlobStore, hash: BlobHash, size: u64) -> Result<(), MigrateError> {
    let l = local.clone();
    match blocking(move || l.verify(&hash)).await? {
        Ok(s) if s == size => Ok(()),
        Ok(s) => Err(MigrateError::DestinationCorrupt {
            hash,
            detail: format!("{s} bytes on disk, {size} in the object store"),
        }),
        Err(StoreError::BlobCorrupt { .. }) => Err(MigrateError::DestinationCorrupt {
            hash,
            detail: format!(
                "{} does not hash to its address",
                local.path_of(&hash).display()
            ),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Refuse a `local` that is not the blob directory (a blob store opened on a bucket).
fn local_dir(local: &BlobStore) -> Result<(), MigrateError> {
    match local.backend() {
        "fs" => Ok(()),
        other => Err(MigrateError::Invalid(format!(
            "the local side of a migration must be the blob directory, not a `{other}` store"
        ))),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, MigrateError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| MigrateError::Task(e.to_string()))
}
