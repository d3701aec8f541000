//! Evidence use cases. [`EvidenceService::add`] is **what happens when evidence is added**: check
//! the metadata, stream the bytes into the blob store (hashed in the same pass, durable before the
//! record), commit the record with its blob reference and audit entry, then tell the sharing
//! engine the case changed (partners holding a share of it get the new item).
//!
//! The other evidence use cases live here too, each doing what must follow it: show (audited
//! `evidence.view`), download content and transcripts (verified against the hash before the
//! first byte; audited `evidence.download`, a refusal too), edit and attach a transcript (then
//! partners holding a share get the change), delete (audited).

use crate::caller::Caller;
use crate::cases::{CaseError, CaseService};
use crate::error::{Disposition, of_store};
use crate::tasks::RequestTasks;
use bytes::Bytes;
use casemesh_model::audit::actions;
use casemesh_model::case::Transcript;
use casemesh_model::case::{Case, Evidence, FolderError, media_type_for};
use casemesh_model::ids::TranscriptId;
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId};
use casemesh_model::names::{NameError, TextError, check_line, check_text, limits, validate_name};
use casemesh_model::org::Action;
use casemesh_sharing::Engine;
use casemesh_store::{Clock, Store, StoreError};
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
    /// The upload broke off before its end: retry (nothing was kept; the client may send it
    /// again). HTTP 503 `unavailable`.
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    /// The upload's body is not valid HTTP (a chunk size that is not a number, a body longer than
    /// its `Content-Length`): the client's fault, the same on every retry; nothing was kept.
    /// HTTP 400 `bad_request`.
    #[error("malformed upload: {0}")]
    MalformedUpload(String),
    /// A fault of this node (a writer task died).
    #[error("{0}")]
    Internal(String),
    /// The case or item does not resolve for this caller, or the caller may not act on it.
    #[error(transparent)]
    Case(#[from] CaseError),
    /// The item has no transcript with this id or name.
    #[error("transcript {0:?} not found")]
    NoSuchTranscript(String),
}

impl EvidenceError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            EvidenceError::Name(_) | EvidenceError::Text(_) => Disposition::Refuse,
            EvidenceError::Folder(FolderError::NotFound(_)) => Disposition::NotFound,
            EvidenceError::Folder(_) => Disposition::Refuse,
            EvidenceError::Store(e) => of_store(e),
            EvidenceError::Interrupted(_) => Disposition::Retry,
            EvidenceError::MalformedUpload(_) => Disposition::Refuse,
            EvidenceError::Internal(_) => Disposition::Internal,
            EvidenceError::Case(e) => e.disposition(),
            EvidenceError::NoSuchTranscript(_) => Disposition::NotFound,
        }
    }
}

/// Changes to an item's metadata; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct EvidenceEdit {
    /// New name (a valid name).
    pub name: Option<String>,
    /// New display id (a valid name).
    pub display_id: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New category (`""` = none).
    pub category: Option<String>,
    /// Move to this folder path (`""` = root).
    pub folder: Option<String>,
    /// Mark or unmark "do not disclose": a marked item never leaves the organization.
    pub do_not_disclose: Option<bool>,
}

/// Verified bytes to send: the hash was checked before this was handed out.
#[derive(Debug)]
pub struct Content {
    /// The verified bytes from their start: the blob's file, or verified windows from the
    /// object store (`BlobReader::into_stream` gives an HTTP body either way).
    pub file: casemesh_store::blobs::BlobReader,
    /// Its size in bytes.
    pub size: u64,
    /// Media type to send it as.
    pub media_type: String,
    /// File name to offer.
    pub name: String,
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
    /// Create `folder` (and missing parents) when it does not exist, once everything else about
    /// the item has been checked (the web UI's folder upload keeps a directory's tree); `false`:
    /// a missing folder is refused.
    pub create_folder: bool,
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

/// What a failed read of an upload's body means: a body that is not valid HTTP (hyper's decoder
/// reports `InvalidData` / `InvalidInput` somewhere in the error's chain: a bad chunk size, a
/// body over its `Content-Length`) is [`EvidenceError::MalformedUpload`], refused; anything else
/// (the connection closed or reset, a timeout, `UnexpectedEof`) is
/// [`EvidenceError::Interrupted`], worth retrying.
fn upload_failure(e: &(dyn std::error::Error + 'static)) -> EvidenceError {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
            )
        {
            return EvidenceError::MalformedUpload(e.to_string());
        }
        cause = c.source();
    }
    EvidenceError::Interrupted(e.to_string())
}

/// Stream `content` into the blob store. Returns the hash and size once the blob is durable, with
/// the guard that keeps garbage collection away until the caller has recorded a reference.
/// `exact_len`, when known, is checked against the free space first.
pub async fn ingest<S, E>(
    store: &Store,
    tasks: &RequestTasks,
    content: S,
    exact_len: Option<u64>,
) -> Result<(BlobHash, u64, tokio::sync::OwnedRwLockReadGuard<()>), EvidenceError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::error::Error + Send + 'static,
{
    if let Some(len) = exact_len {
        store.blobs().check_blob_space(len)?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let blobs = store.blobs().clone();
    let writer = tasks.spawn_blocking(move || -> Result<_, StoreError> {
        let mut w = blobs.writer_sized(exact_len)?;
        while let Some(chunk) = rx.blocking_recv() {
            w.write(&chunk)?;
        }
        Ok(w)
    });
    let mut stream = std::pin::pin!(content);
    let mut upload_error: Option<EvidenceError> = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                if tx.send(c).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                upload_error = Some(upload_failure(&e));
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
        return Err(e);
    }
    let guard = store.blobs().ingest_guard().await;
    let (hash, size) = tasks
        .blocking(move || writer.finish())
        .await
        .map_err(|e| EvidenceError::Internal(format!("writer task: {e}")))??;
    Ok((hash, size, guard))
}

/// The evidence use cases: cheap to clone.
#[derive(Clone)]
pub struct EvidenceService {
    store: Store,
    sharing: Engine,
    cases: CaseService,
    clock: Clock,
    tasks: RequestTasks,
}

impl EvidenceService {
    /// Evidence use cases over `store`, resolving cases through `cases`, telling `sharing` about
    /// changes; blob writes and verified opens run on `tasks` (the node's, joined at shutdown).
    pub fn new(
        store: Store,
        sharing: Engine,
        cases: CaseService,
        clock: Clock,
        tasks: RequestTasks,
    ) -> EvidenceService {
        EvidenceService {
            store,
            sharing,
            cases,
            clock,
            tasks,
        }
    }

    /// **What happens when evidence is added.** The caller needs Edit Case and the whole case
    /// (`new.case`: record id or Case ID, resolved among the cases the caller sees). The bytes
    /// are `content` (streamed, never held in memory; `exact_len` when the length is known up
    /// front: checked against the free space first). Once the item is durable, partners holding
    /// a share of the case are sent it (case synchronization, through [`Engine::case_changed`]).
    /// Returns the item (numbered `EV-nnnn` unless a display id was given) and its case.
    pub async fn add<S, E>(
        &self,
        caller: &Caller,
        new: NewEvidence,
        content: S,
        exact_len: Option<u64>,
    ) -> Result<(Evidence, Case), EvidenceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::error::Error + Send + 'static,
    {
        // 1. who may, and which case: a refusal here stores nothing.
        self.cases.require(caller, Action::EditCase)?;
        let case = self.cases.resolve_whole(caller, &new.case)?;
        validate_name(&new.name)?;
        let path = new.folder.as_deref().unwrap_or("");
        // A missing folder is made (below) only when asked; anything else wrong is refused now.
        let folder = match case.resolve(path) {
            Err(FolderError::NotFound(_)) if new.create_folder => None,
            resolved => Some(resolved?),
        };
        if let Some(d) = &new.display_id {
            validate_name(d)?;
            self.display_id_free(case.id, d, None)?;
        }
        check_evidence_text(new.description.as_deref(), None, new.media_type.as_deref())?;
        // Everything about the item is valid: only now may a missing folder be made.
        let (case, folder) = match folder {
            Some(folder) => (case, folder),
            None => {
                let create = crate::FolderChange::Create {
                    path: path.to_owned(),
                };
                match self.cases.change_folders(caller, &new.case, &create) {
                    // Made now, or by another upload meanwhile.
                    Ok(_) | Err(CaseError::Folder(FolderError::Exists(_))) => {}
                    Err(e) => return Err(e.into()),
                }
                let case = self.cases.resolve_whole(caller, &new.case)?;
                let folder = case.resolve(path)?;
                (case, folder)
            }
        };
        // 2. the bytes, hashed in the same pass, durable before the record.
        let (hash, size, _guard) = ingest(&self.store, &self.tasks, content, exact_len).await?;
        // The record and its audit entry are dated when the bytes are in, not when they started.
        let now = self.clock.now();
        let actor = caller.actor(now);
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
            received_seq: None,
        };
        // 3. the record, its blob reference and its audit entry in one transaction.
        let ev = self.store.add_evidence_numbered(&ev, &actor)?;
        self.store.flush().await?;
        tracing::info!(case = %case.id, evidence = %ev.id, blob = %hash, size, "evidence added");
        // 4. case synchronization: partners holding a share of this case get the new item.
        self.sharing.case_changed(case.id);
        Ok((ev, case))
    }

    /// The item `evidence` (id or display id) of case `case` as the caller sees it; the view is
    /// audited (`evidence.view`). An item outside what the caller sees is `NotFound`.
    pub fn show(
        &self,
        caller: &Caller,
        case: &str,
        evidence: &str,
    ) -> Result<(Evidence, Case), EvidenceError> {
        let (case, vis) = self.cases.resolve(caller, case)?;
        let ev = self.cases.evidence(&case, &vis, evidence)?;
        self.store.audit(
            case.id,
            &caller.actor(self.clock.now()),
            actions::EVIDENCE_VIEW,
            Some(ev.id),
            "",
        )?;
        Ok((ev, case))
    }

    /// An item's bytes, verified against its hash before they are handed out. The download is
    /// audited (`evidence.download`, `blake3=<hash>`), and so is a refusal (`refused: <why>`).
    pub async fn content(
        &self,
        caller: &Caller,
        case: &str,
        evidence: &str,
    ) -> Result<Content, EvidenceError> {
        let (case, vis) = self.cases.resolve(caller, case)?;
        let ev = self.cases.evidence(&case, &vis, evidence)?;
        let opened = self.open(ev.hash, &ev.media_type, &ev.name).await;
        let details = match &opened {
            Ok(_) => format!("blake3={}", ev.hash),
            Err(e) => format!("refused: {e}"),
        };
        self.store.audit(
            case.id,
            &caller.actor(self.clock.now()),
            actions::EVIDENCE_DOWNLOAD,
            Some(ev.id),
            &details,
        )?;
        opened
    }

    /// A transcript's bytes (by transcript id or name), verified; audited
    /// (`evidence.download`, `transcript "<name>"`).
    pub async fn transcript_content(
        &self,
        caller: &Caller,
        case: &str,
        evidence: &str,
        transcript: &str,
    ) -> Result<Content, EvidenceError> {
        let (case, vis) = self.cases.resolve(caller, case)?;
        let ev = self.cases.evidence(&case, &vis, evidence)?;
        let t = ev
            .transcripts
            .iter()
            .find(|t| t.id.to_string() == transcript || t.name == transcript)
            .ok_or_else(|| EvidenceError::NoSuchTranscript(transcript.to_owned()))?;
        self.store.audit(
            case.id,
            &caller.actor(self.clock.now()),
            actions::EVIDENCE_DOWNLOAD,
            Some(ev.id),
            &format!("transcript {:?}", t.name),
        )?;
        self.open(t.hash, "text/plain", &t.name).await
    }

    /// Open blob `hash` verified (off the async threads).
    async fn open(
        &self,
        hash: BlobHash,
        media_type: &str,
        name: &str,
    ) -> Result<Content, EvidenceError> {
        let blobs = self.store.blobs().clone();
        let (file, size) = self
            .tasks
            .blocking(move || blobs.open_verified(&hash))
            .await
            .map_err(|e| EvidenceError::Internal(format!("reader task: {e}")))??;
        Ok(Content {
            file,
            size,
            media_type: media_type.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Edit an item's metadata or move it (needs Edit Case and the whole case); audited
    /// (`evidence.edit`, naming the fields changed), then partners holding a share get the
    /// change.
    pub fn edit(
        &self,
        caller: &Caller,
        case: &str,
        evidence: &str,
        edit: &EvidenceEdit,
    ) -> Result<(Evidence, Case), EvidenceError> {
        self.cases.require(caller, Action::EditCase)?;
        let case = self.cases.resolve_whole(caller, case)?;
        let ev = self.store.resolve_evidence(case.id, evidence)?;
        if let Some(n) = &edit.name {
            validate_name(n)?;
        }
        if let Some(d) = &edit.display_id {
            validate_name(d)?;
            self.display_id_free(case.id, d, Some(ev.id))?;
        }
        check_evidence_text(edit.description.as_deref(), edit.category.as_deref(), None)?;
        let folder = edit
            .folder
            .as_deref()
            .map(|p| case.resolve(p))
            .transpose()?;
        let actor = caller.actor(self.clock.now());
        let ev = self
            .store
            .update_evidence(ev.id, &actor, actions::EVIDENCE_EDIT, |e| {
                let mut changed = Vec::new();
                if let Some(v) = &edit.name {
                    e.name = v.clone();
                    changed.push("name");
                }
                if let Some(v) = &edit.display_id {
                    e.display_id = v.clone();
                    changed.push("display_id");
                }
                if let Some(v) = &edit.description {
                    e.description = v.clone();
                    changed.push("description");
                }
                if let Some(v) = &edit.category {
                    e.category = (!v.is_empty()).then(|| v.clone());
                    changed.push("category");
                }
                if let Some(f) = folder {
                    e.folder = f;
                    changed.push("folder");
                }
                if let Some(d) = edit.do_not_disclose {
                    e.do_not_disclose = d;
                    changed.push(if d {
                        "do_not_disclose=on"
                    } else {
                        "do_not_disclose=off"
                    });
                }
                Ok::<_, EvidenceError>(format!("changed {}", changed.join(",")))
            })?;
        self.sharing.case_changed(case.id);
        Ok((ev, case))
    }

    /// Refuse a display id that another item of `case` (not `except`) already has, or that names
    /// another item by its id: `StoreError::Conflict` (HTTP 409), nothing changed. Items a user
    /// numbers by hand are then never ambiguous by their mistake (a copy may still hold the
    /// sharer's and its own `EV-` numbers side by side; [`CaseService::evidence`] decides those).
    /// Cost: one pass over the case, for an explicit display id only.
    fn display_id_free(
        &self,
        case: CaseId,
        display_id: &str,
        except: Option<EvidenceId>,
    ) -> Result<(), EvidenceError> {
        let taken = || {
            EvidenceError::Store(StoreError::Conflict(format!(
                "display id {display_id:?} is taken by another item of this case"
            )))
        };
        match self.store.resolve_evidence(case, display_id) {
            Ok(other) if Some(other.id) == except => Ok(()),
            Ok(_) | Err(StoreError::Conflict(_)) => Err(taken()),
            Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete an item (needs Edit Case and the whole case); audited (`evidence.delete`). Its
    /// bytes go at the next garbage collection if nothing else references them.
    pub fn delete(&self, caller: &Caller, case: &str, evidence: &str) -> Result<(), EvidenceError> {
        self.cases.require(caller, Action::EditCase)?;
        let case = self.cases.resolve_whole(caller, case)?;
        let ev = self.store.resolve_evidence(case.id, evidence)?;
        self.store.delete_evidence(
            ev.id,
            &caller.actor(self.clock.now()),
            actions::EVIDENCE_DELETE,
            "deleted by user",
        )?;
        Ok(())
    }

    /// Attach a transcript whose bytes are `content` (streamed; needs Edit Case and the whole
    /// case); audited (`transcript.add`), then the transcript follows the item to partners
    /// holding a share (issue #15 item 9).
    pub async fn add_transcript<S, E>(
        &self,
        caller: &Caller,
        case: &str,
        evidence: &str,
        name: &str,
        content: S,
        exact_len: Option<u64>,
    ) -> Result<(Evidence, Case), EvidenceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::error::Error + Send + 'static,
    {
        self.cases.require(caller, Action::EditCase)?;
        validate_name(name)?;
        let case = self.cases.resolve_whole(caller, case)?;
        let ev = self.store.resolve_evidence(case.id, evidence)?;
        let (hash, size, _guard) = ingest(&self.store, &self.tasks, content, exact_len).await?;
        let t = Transcript {
            id: TranscriptId::random(),
            name: name.to_owned(),
            hash,
            size,
        };
        let ev = self
            .store
            .add_transcript(ev.id, &t, &caller.actor(self.clock.now()))?;
        self.store.flush().await?;
        self.sharing.case_changed(case.id);
        Ok((ev, case))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error carrying `source`, as hyper's and axum's errors carry the decoder's `io::Error`.
    #[derive(Debug, thiserror::Error)]
    #[error("error reading a body from connection")]
    struct Wrapped(#[source] std::io::Error);

    /// A "no such thing" error says so in its words, as `SharingError::NotFound` and
    /// `StoreError::NotFound` do (the CLI showed `error: user "nobody" (not_found, HTTP 404)`).
    #[test]
    fn not_found_errors_say_not_found() {
        let user = crate::UserError::NoSuchUser("nobody".into()).to_string();
        assert_eq!(user, "user \"nobody\" not found");
        let transcript = EvidenceError::NoSuchTranscript("t1".into()).to_string();
        assert_eq!(transcript, "transcript \"t1\" not found");
    }

    #[test]
    fn a_malformed_body_is_refused_and_a_broken_one_retried() {
        use std::io::{Error, ErrorKind};
        for kind in [ErrorKind::InvalidData, ErrorKind::InvalidInput] {
            let e = Wrapped(Error::new(kind, "Invalid chunk size line"));
            let got = upload_failure(&e);
            assert!(
                matches!(got, EvidenceError::MalformedUpload(_)),
                "{kind:?}: {got:?}"
            );
            assert_eq!(got.disposition(), Disposition::Refuse);
        }
        for kind in [
            ErrorKind::UnexpectedEof,
            ErrorKind::ConnectionReset,
            ErrorKind::TimedOut,
        ] {
            let e = Wrapped(Error::new(
                kind,
                "connection closed before message completed",
            ));
            let got = upload_failure(&e);
            assert!(
                matches!(got, EvidenceError::Interrupted(_)),
                "{kind:?}: {got:?}"
            );
            assert_eq!(got.disposition(), Disposition::Retry);
        }
    }
}
