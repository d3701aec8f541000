//! Evidence use cases. [`EvidenceService::add`] is **what happens when evidence is added**: check
//! the metadata, stream the bytes into the blob store (hashed in the same pass, durable before the
//! record), commit the record with its blob reference and audit entry, then tell the sharing
//! engine the case changed (partners holding a share of it get the new item).

use bytes::Bytes;
use casemesh_model::case::{Case, Evidence, FolderError, media_type_for};
use casemesh_model::ids::{BlobHash, EvidenceId};
use casemesh_model::names::{NameError, TextError, check_line, check_text, limits, validate_name};
use casemesh_sharing::Engine;
use casemesh_store::{Actor, Clock, Store, StoreError};
use futures::{Stream, StreamExt};

/// What went wrong adding or changing evidence; nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// A name or display id is not a valid name: refuse.
    #[error("invalid name: {0}")]
    Name(#[from] NameError),
    /// A free-text field is too long or holds control characters: refuse.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The folder does not resolve.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The store refused (no such case, no space) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upload broke off before its end: refuse (the client may send it again).
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    /// A fault of this node (a writer task died).
    #[error("{0}")]
    Internal(String),
}

/// A new evidence item's metadata, references as the user gave them.
#[derive(Debug, Clone, Default)]
pub struct NewEvidence {
    /// The case: record id or Case ID.
    pub case: String,
    /// Evidence name (one path segment), usually the file name.
    pub name: String,
    /// Folder path; `None` or empty = case root.
    pub folder: Option<String>,
    /// Display id; default `EV-0001`, `EV-0002`, … in order of addition.
    pub display_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Media type; default guessed from the name.
    pub media_type: Option<String>,
}

/// The free-text fields of an item within their limits ([`limits`]); refused before anything
/// is stored.
pub fn check_evidence_text(
    description: Option<&str>,
    category: Option<&str>,
    media_type: Option<&str>,
) -> Result<(), EvidenceError> {
    check_text(
        "description",
        description.unwrap_or(""),
        limits::EVIDENCE_DESCRIPTION,
    )?;
    check_line("category", category.unwrap_or(""), limits::LABEL)?;
    check_line("media_type", media_type.unwrap_or(""), limits::LABEL)?;
    Ok(())
}

/// Stream `content` into the blob store. Returns the hash and size once the blob is durable, with
/// the guard that keeps garbage collection away until the caller has recorded a reference.
/// `exact_len`, when known, is checked against the free space first.
pub async fn ingest<S, E>(
    store: &Store,
    content: S,
    exact_len: Option<u64>,
) -> Result<(BlobHash, u64, tokio::sync::OwnedRwLockReadGuard<()>), EvidenceError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display + Send,
{
    if let Some(len) = exact_len {
        store.blobs().check_space(len)?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let blobs = store.blobs().clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
        let mut w = blobs.writer()?;
        while let Some(chunk) = rx.blocking_recv() {
            w.write(&chunk)?;
        }
        Ok(w)
    });
    let mut stream = std::pin::pin!(content);
    let mut upload_error = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                if tx.send(c).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                upload_error = Some(e.to_string());
                break;
            }
        }
    }
    drop(tx);
    let writer = writer
        .await
        .map_err(|e| EvidenceError::Internal(format!("writer task: {e}")))??;
    if let Some(e) = upload_error {
        // Dropping the writer removes the temp file: nothing is stored from a broken upload.
        drop(writer);
        return Err(EvidenceError::Interrupted(e));
    }
    let guard = store.blobs().ingest_guard().await;
    let (hash, size) = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(|e| EvidenceError::Internal(format!("writer task: {e}")))??;
    Ok((hash, size, guard))
}

/// The evidence use cases: cheap to clone.
#[derive(Clone)]
pub struct EvidenceService {
    store: Store,
    sharing: Engine,
    clock: Clock,
}

impl EvidenceService {
    /// Evidence use cases over `store`, telling `sharing` about changes.
    pub fn new(store: Store, sharing: Engine, clock: Clock) -> EvidenceService {
        EvidenceService {
            store,
            sharing,
            clock,
        }
    }

    /// Add an evidence item whose bytes are `content` (streamed, never held in memory; `exact_len`
    /// when the length is known up front). Once the item is durable, partners holding a share of
    /// the case are sent it (case synchronization, through [`Engine::case_changed`]). Returns the
    /// item (numbered) and its case.
    pub async fn add<S, E>(
        &self,
        new: NewEvidence,
        actor: &Actor,
        content: S,
        exact_len: Option<u64>,
    ) -> Result<(Evidence, Case), EvidenceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display + Send,
    {
        validate_name(&new.name)?;
        let case = self.store.resolve_case(&new.case)?;
        let folder = case.resolve(new.folder.as_deref().unwrap_or(""))?;
        if let Some(d) = &new.display_id {
            validate_name(d)?;
        }
        check_evidence_text(new.description.as_deref(), None, new.media_type.as_deref())?;
        let (hash, size, _guard) = ingest(&self.store, content, exact_len).await?;
        // The record and its audit entry are dated when the bytes are in, not when they started.
        let now = self.clock.now();
        let actor = Actor::new(actor.name.clone(), now);
        let media_type = new
            .media_type
            .unwrap_or_else(|| media_type_for(&new.name).to_owned());
        let ev = Evidence {
            id: EvidenceId::random(),
            case: case.id,
            // Empty: the store numbers it (EV-nnnn, never reused).
            display_id: new.display_id.unwrap_or_default(),
            name: new.name,
            description: new.description.unwrap_or_default(),
            category: None,
            folder,
            hash,
            size,
            media_type,
            added_at: now,
            added_by: actor.name.clone(),
            transcripts: Vec::new(),
            do_not_disclose: false,
        };
        let ev = self.store.add_evidence_numbered(&ev, &actor)?;
        self.store.flush().await?;
        tracing::info!(case = %case.id, evidence = %ev.id, blob = %hash, size, "evidence added");
        // Case synchronization: partners holding a share of this case get the new item.
        self.sharing.case_changed(case.id);
        Ok((ev, case))
    }
}
