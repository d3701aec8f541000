//! One object being uploaded: bytes stay in memory while they fit in one part, and move to a
//! multipart upload at a given key once they outgrow it. Memory is at most one part buffered
//! (plus the piece being written) and `concurrency` parts in flight.
//!
//! A multipart upload is invisible until it is completed. Every way an upload can end without
//! completing aborts it: a part or the completion failing ([`Upload::finish`]), an explicit
//! [`Upload::abort`], or dropping the [`Upload`] (the abort then runs in the background on the
//! store's cleanup tracker). A process that dies cannot abort; the bucket's lifecycle rule (or
//! `garage bucket cleanup-incomplete-uploads`) removes those parts.
//!
//! object_store's `WriteMultipart` is not used: its `finish` consumes the upload, so a part that
//! fails there would leave the multipart upload behind with no way to abort it.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, path::Path};
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

/// How an [`Upload`] ended.
pub(crate) enum Finished {
    /// Everything fitted in one part and was never sent: the bytes.
    Buffered(Bytes),
    /// A multipart upload was completed at this key.
    Completed(Path),
}

/// A multipart upload in progress and its parts in flight.
struct Multipart {
    upload: Box<dyn MultipartUpload>,
    parts: JoinSet<object_store::Result<()>>,
}

pub(crate) struct Upload {
    store: Arc<dyn ObjectStore>,
    /// Where a multipart upload goes.
    key: Path,
    part_size: usize,
    concurrency: usize,
    buffer: BytesMut,
    multipart: Option<Multipart>,
    cleanups: TaskTracker,
}

impl Upload {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        key: Path,
        part_size: usize,
        concurrency: usize,
        cleanups: TaskTracker,
    ) -> Upload {
        Upload {
            store,
            key,
            part_size,
            concurrency: concurrency.max(1),
            buffer: BytesMut::new(),
            multipart: None,
            cleanups,
        }
    }

    /// The key a multipart upload goes to.
    pub(crate) fn key(&self) -> &Path {
        &self.key
    }

    /// Append bytes; sends full parts, waiting while `concurrency` parts are in flight. After an
    /// error the upload is unusable: drop it (that aborts it).
    pub(crate) async fn write(&mut self, mut bytes: &[u8]) -> object_store::Result<()> {
        if self.multipart.is_none() {
            if self.buffer.len() + bytes.len() <= self.part_size {
                self.buffer.extend_from_slice(bytes);
                return Ok(());
            }
            let upload = self.store.put_multipart(&self.key).await?;
            self.multipart = Some(Multipart {
                upload,
                parts: JoinSet::new(),
            });
        }
        while !bytes.is_empty() {
            let take = (self.part_size - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.len() == self.part_size {
                // Each part is its own allocation of exactly one part, freed once it is sent.
                let fresh = BytesMut::with_capacity(self.part_size);
                let part = std::mem::replace(&mut self.buffer, fresh).freeze();
                self.send(part).await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, part: Bytes) -> object_store::Result<()> {
        let Some(m) = self.multipart.as_mut() else {
            unreachable!("parts are sent only once a multipart upload is started");
        };
        while m.parts.len() >= self.concurrency {
            join_one(&mut m.parts).await?;
        }
        m.parts.spawn(m.upload.put_part(PutPayload::from(part)));
        Ok(())
    }

    /// Send what is left and complete the multipart upload, if one was started; on any failure
    /// the multipart upload is aborted before the error is returned.
    pub(crate) async fn finish(mut self) -> object_store::Result<Finished> {
        if self.multipart.is_none() {
            return Ok(Finished::Buffered(
                std::mem::take(&mut self.buffer).freeze(),
            ));
        }
        let rest = std::mem::take(&mut self.buffer).freeze();
        let sent = async {
            if !rest.is_empty() {
                self.send(rest).await?;
            }
            let Some(m) = self.multipart.as_mut() else {
                unreachable!("checked above");
            };
            while !m.parts.is_empty() {
                join_one(&mut m.parts).await?;
            }
            m.upload.complete().await.map(drop)
        }
        .await;
        match sent {
            Ok(()) => {
                self.multipart = None;
                Ok(Finished::Completed(self.key.clone()))
            }
            Err(e) => {
                self.abort_now().await;
                Err(e)
            }
        }
    }

    /// Abort the multipart upload, if any, and wait for it.
    pub(crate) async fn abort(mut self) {
        self.abort_now().await;
    }

    async fn abort_now(&mut self) {
        if let Some(m) = self.multipart.take() {
            abort(m, &self.key).await;
        }
    }
}

async fn join_one(parts: &mut JoinSet<object_store::Result<()>>) -> object_store::Result<()> {
    match parts.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(object_store::Error::JoinError { source: e }),
        None => Ok(()),
    }
}

async fn abort(mut m: Multipart, key: &Path) {
    m.parts.shutdown().await;
    match m.upload.abort().await {
        Ok(()) => tracing::debug!(%key, "multipart upload aborted"),
        Err(e) => tracing::warn!(%key, error = %e, "aborting a multipart upload failed"),
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let Some(m) = self.multipart.take() else {
            return;
        };
        let key = self.key.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                self.cleanups
                    .spawn_on(async move { abort(m, &key).await }, &rt);
            }
            Err(_) => tracing::warn!(
                %key,
                "upload dropped outside a runtime; its parts stay until the bucket's lifecycle removes them"
            ),
        }
    }
}
