//! The repository: users, groups, tokens, cases, evidence, blob references and the audit trail,
//! as records in the database ([`crate::db`]) plus bytes in the [`BlobStore`].
//!
//! Key layout (one sled tree, prefixed keys; values are JSON):
//! ```text
//! user/<uuid>            User            username/<name>        UserId
//! group/<uuid>           Group           token/<blake3 hex>     TokenRecord
//! case/<uuid>            Case            ev/<uuid>              Evidence
//! caseev/<case>/<ev>     EvidenceId      bref/<hash hex>/<referrer>   () — see "Blob references"
//! audit/<case>/<seq:020> AuditEntry      audithead/<case>       ChainHead
//! q/<queue>/<seq:020>    queue item      qseq/<queue>           u64 (next sequence number)
//! seen/<scope>/<msg id>  1               schema                 u32 (SCHEMA_VERSION)
//! rec/<table>/<key>      a typed table's record (see [`crate::table`])
//! idx/<index>/<value>/<key>  () — a table's secondary index   idxbuilt/<index>  1
//! casenum/<case number>  [CaseId] — every case with that number (see [`crate::case_numbers`];
//!                        derived, rebuilt from `case/` at open)
//! ```
//! Every change that touches several records (evidence + blob reference + audit entry) is one
//! transaction, durable when the call returns. Every write to a case appends to that case's audit
//! trail in the same transaction.
//!
//! ## Blob references
//! Whether a blob may be deleted is derived from what refers to it, never from a counter: each
//! record that needs a blob owns one key `bref/<hash>/<referrer>` (referrer `ev/<evidence id>` for
//! an evidence item's file and all its transcripts; other holders, such as a share's item list
//! `share/<share id>/list/<seq>`, through [`Txn::hold_blob`]). Adding, editing or deleting the record sets
//! exactly its keys in the same transaction, so a record referring to the same bytes twice (an
//! empty transcript of an empty file, two identical transcripts) still holds one key, and deleting
//! it removes only its own. A blob is in use while any `bref/<hash>/` key exists; blobs being
//! written, fetched or packaged are pinned in memory by the [`BlobStore`] meanwhile.
//!
//! ## Schema versions
//! `schema` holds [`SCHEMA_VERSION`]; [`Store::open`] migrates older layouts in order:
//! - 1 (no `schema` key): blob reference counts under `blobref/<hash>` → 2: exact `bref/` keys
//!   rebuilt from every evidence record.
//! - 2 → 3: the untyped "kind/id" records became typed [`crate::table::Table`]s with secondary
//!   indexes. The records keep their keys (`rec/<table>/<key>`); index keys (`idx/`) are new and
//!   each index is built from its table when first queried (`idxbuilt/<index>` marks it done).
//!   The step records the version, so a layout-2 casemesh cannot write records without index keys.

use crate::blobs::BlobStore;
use crate::db::{Db, Tx};
use crate::error::StoreError;
use casemesh_model::audit::{self, AuditEntry, ChainError, ChainHead, NewEntry};
use casemesh_model::case::{Case, Evidence, Transcript};
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, GroupId, UserId};
use casemesh_model::org::{Group, User};
use casemesh_model::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::path::Path;
use subtle::ConstantTimeEq;

/// What is stored for an API token: only its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    user: UserId,
    #[serde(with = "casemesh_model::hex32")]
    hash: [u8; 32],
    created_at: Timestamp,
}

/// Who did something and when, for the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    /// A username, `system`, or `org:<name>`.
    pub name: String,
    /// When.
    pub now: Timestamp,
}

impl Actor {
    /// An actor at a time.
    pub fn new(name: impl Into<String>, now: Timestamp) -> Actor {
        Actor {
            name: name.into(),
            now,
        }
    }

    fn entry(
        &self,
        action: &str,
        evidence: Option<EvidenceId>,
        details: impl Into<String>,
    ) -> NewEntry {
        NewEntry {
            time: self.now,
            actor: self.name.clone(),
            action: action.to_owned(),
            evidence,
            details: details.into(),
        }
    }
}

/// The node's persistent state.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    blobs: BlobStore,
}

/// A fresh random token for `user` and its record (the token's BLAKE3 hash).
fn new_token(user: UserId, now: Timestamp) -> Result<(String, TokenRecord), StoreError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|e| StoreError::io("random token")(std::io::Error::other(e)))?;
    let token = format!("cm_{}", hex::encode(secret));
    let hash = *blake3::hash(token.as_bytes()).as_bytes();
    Ok((
        token,
        TokenRecord {
            user,
            hash,
            created_at: now,
        },
    ))
}

fn key(prefix: &str, id: impl std::fmt::Display) -> Vec<u8> {
    format!("{prefix}/{id}").into_bytes()
}

/// The layout version this code writes; see the module doc for the history.
pub const SCHEMA_VERSION: u32 = 3;

fn audit_key(case: CaseId, seq: u64) -> Vec<u8> {
    format!("audit/{case}/{seq:020}").into_bytes()
}

impl Store {
    /// Open the store in a data directory: `db/` and `blobs/` below it.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let db = Db::open(&data_dir.join("db"))?;
        migrate(&db)?;
        crate::case_numbers::rebuild(&db)?;
        let blobs = BlobStore::open(&data_dir.join("blobs"))?;
        Ok(Store { db, blobs })
    }

    /// [`Store::open`] with the blobs in `blobs` instead of `DIR/blobs` (`[storage] backend =
    /// "s3"`: [`BlobStore::open_object`]). The database is opened first, so a data directory
    /// in use is refused before the object store is touched.
    pub fn open_with_blobs(
        data_dir: &Path,
        blobs: impl FnOnce() -> Result<BlobStore, StoreError>,
    ) -> Result<Store, StoreError> {
        let db = Db::open(&data_dir.join("db"))?;
        migrate(&db)?;
        crate::case_numbers::rebuild(&db)?;
        Ok(Store {
            db,
            blobs: blobs()?,
        })
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Wait until every write so far is durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().await
    }

    // ---- users, groups, tokens ------------------------------------------------------------

    /// Create a user; the username must be free.
    pub fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.db.transact(|tx| {
            let name_key = key("username", &user.username);
            if tx.get_json::<UserId>(&name_key)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "user {:?} already exists",
                    user.username
                )));
            }
            tx.put_json(&name_key, &user.id)?;
            tx.put_json(&key("user", user.id), user)
        })
    }

    /// Replace a user record (username changes are not supported).
    pub fn update_user(&self, user: &User) -> Result<(), StoreError> {
        self.db.transact(|tx| {
            if tx.get_json::<User>(&key("user", user.id))?.is_none() {
                return Err(StoreError::NotFound(format!("user {}", user.username)));
            }
            tx.put_json(&key("user", user.id), user)
        })
    }

    /// A user by id.
    pub fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.db.get_json(&key("user", id))
    }

    /// A user by username.
    pub fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        match self.db.get_json::<UserId>(&key("username", username))? {
            Some(id) => self.user(id),
            None => Ok(None),
        }
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        self.db.scan_json(b"user/")
    }

    /// Create a group; the name must be free.
    pub fn create_group(&self, group: &Group) -> Result<(), StoreError> {
        if self.groups()?.iter().any(|g| g.name == group.name) {
            return Err(StoreError::Conflict(format!(
                "group {:?} already exists",
                group.name
            )));
        }
        self.db
            .transact(|tx| tx.put_json(&key("group", group.id), group))
    }

    /// Every group.
    pub fn groups(&self) -> Result<Vec<Group>, StoreError> {
        self.db.scan_json(b"group/")
    }

    /// A group by id.
    pub fn group(&self, id: GroupId) -> Result<Option<Group>, StoreError> {
        self.db.get_json(&key("group", id))
    }

    /// The keys of every token record of `user`.
    fn token_keys_of(&self, user: UserId) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .scan_json::<TokenRecord>(b"token/")?
            .into_iter()
            .filter(|t| t.user == user)
            .map(|t| key("token", hex::encode(t.hash)))
            .collect())
    }

    /// Revoke every API token of `user` at once; returns how many there were (issue #12:
    /// tokens are per user and revocable).
    pub fn revoke_tokens(&self, user: UserId) -> Result<usize, StoreError> {
        let keys = self.token_keys_of(user)?;
        self.db.transact(|tx| {
            for k in &keys {
                tx.remove(k)?;
            }
            Ok(())
        })?;
        Ok(keys.len())
    }

    /// Issue a new API token for `user` in place of its earlier ones (revoked in the same
    /// transaction), or beside them with `keep_others`. The token is returned once; only its hash
    /// is kept.
    pub fn replace_token(
        &self,
        user: UserId,
        now: Timestamp,
        keep_others: bool,
    ) -> Result<String, StoreError> {
        let old = if keep_others {
            Vec::new()
        } else {
            self.token_keys_of(user)?
        };
        let (token, rec) = new_token(user, now)?;
        self.db.transact(|tx| {
            for k in &old {
                tx.remove(k)?;
            }
            tx.put_json(&key("token", hex::encode(rec.hash)), &rec)
        })?;
        Ok(token)
    }

    /// Delete a user: its record, its name and every token. Its audit entries stay (they name
    /// the user by username). Cases it owns keep it as owner by id (administrators still see
    /// them).
    pub fn delete_user(&self, user: &User) -> Result<(), StoreError> {
        let tokens = self.token_keys_of(user.id)?;
        self.db.transact(|tx| {
            if tx.get_json::<User>(&key("user", user.id))?.is_none() {
                return Err(StoreError::NotFound(format!("user {}", user.username)));
            }
            tx.remove(&key("user", user.id))?;
            tx.remove(&key("username", &user.username))?;
            for k in &tokens {
                tx.remove(k)?;
            }
            Ok(())
        })
    }

    /// Issue a new API token for a user. The token is returned once; only its hash is kept.
    pub fn issue_token(&self, user: UserId, now: Timestamp) -> Result<String, StoreError> {
        let (token, rec) = new_token(user, now)?;
        self.db
            .transact(|tx| tx.put_json(&key("token", hex::encode(rec.hash)), &rec))?;
        Ok(token)
    }

    /// The user a token belongs to, if it is valid. The stored hash is compared in constant time.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, StoreError> {
        let hash = *blake3::hash(token.as_bytes()).as_bytes();
        let Some(rec) = self
            .db
            .get_json::<TokenRecord>(&key("token", hex::encode(hash)))?
        else {
            return Ok(None);
        };
        if !bool::from(rec.hash.ct_eq(&hash)) {
            return Ok(None);
        }
        // A disabled user's tokens open nothing.
        Ok(self.user(rec.user)?.filter(|u| !u.disabled))
    }

    // ---- cases ---------------------------------------------------------------------------

    /// Store a new case and open its audit trail.
    ///
    /// # Errors
    /// [`StoreError::CaseNumberTaken`] when the case is local and another case has its number
    /// (the rule in [`crate::case_numbers`]); nothing is written.
    pub fn create_case(&self, case: &Case, actor: &Actor) -> Result<(), StoreError> {
        self.db.transact(|tx| create_case_tx(tx, case, actor))
    }

    /// Run `f` as one atomic, durable change (see [`Txn`]). `f` may run more than once when
    /// transactions collide, so it must have no effects outside the transaction. An error from
    /// `f` (the caller's own type, e.g. a refusal) aborts, writes nothing and is returned as is.
    pub fn atomically<T, E: From<StoreError>>(
        &self,
        f: impl Fn(&mut Txn<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let rejected = RefCell::new(None);
        let result = self.db.transact(|tx| {
            let mut txn = Txn { tx };
            f(&mut txn).map_err(|e| reject(&rejected, e))
        });
        result.map_err(|e| rejected.into_inner().unwrap_or_else(|| e.into()))
    }

    /// A case by record id.
    pub fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        self.db.get_json(&key("case", id))
    }

    /// Every case.
    pub fn cases(&self) -> Result<Vec<Case>, StoreError> {
        self.db.scan_json(b"case/")
    }

    /// Resolve a reference typed by a person: a record id, or a case number, which names the
    /// local case with that number first, else the only received copy with it
    /// ([`crate::case_numbers::pick`]; several copies are a [`StoreError::Conflict`] listing their
    /// record ids).
    pub fn resolve_case(&self, reference: &str) -> Result<Case, StoreError> {
        if let Ok(id) = reference.parse::<CaseId>()
            && let Some(c) = self.case(id)?
        {
            return Ok(c);
        }
        crate::case_numbers::pick(reference, self.cases_numbered(reference)?)
    }

    /// Every case whose case number is `number` (local cases and received copies; letter case
    /// and surrounding spaces aside, [`crate::case_numbers::fold`]), from the case-number index:
    /// no scan of all cases.
    pub fn cases_numbered(&self, number: &str) -> Result<Vec<Case>, StoreError> {
        let mut out = Vec::new();
        for id in crate::case_numbers::holder_ids_db(&self.db, number)? {
            let wanted = crate::case_numbers::fold(number);
            out.extend(
                self.case(id)?
                    .filter(|c| crate::case_numbers::fold(&c.case_number) == wanted),
            );
        }
        Ok(out)
    }

    /// Change a case with `edit` and record `action` with `details` in its trail, atomically.
    ///
    /// An error from `edit` (of the caller's own type, e.g. a folder rule) aborts the
    /// transaction and is returned as is. A new case number for a local case that another case
    /// has is refused with [`StoreError::CaseNumberTaken`] ([`crate::case_numbers`]); nothing is
    /// written.
    pub fn update_case<E: From<StoreError>>(
        &self,
        id: CaseId,
        actor: &Actor,
        action: &str,
        edit: impl Fn(&mut Case) -> Result<String, E>,
    ) -> Result<Case, E> {
        let rejected = RefCell::new(None);
        let result = self.db.transact(|tx| {
            let mut case: Case = tx
                .get_json(&key("case", id))?
                .ok_or_else(|| StoreError::NotFound(format!("case {id}")))?;
            let before = case.case_number.clone();
            let details = edit(&mut case).map_err(|e| reject(&rejected, e))?;
            crate::case_numbers::claim(tx, &case, Some(&before), load_case)?;
            tx.put_json(&key("case", id), &case)?;
            append_audit(tx, id, actor.entry(action, None, details))?;
            Ok(case)
        });
        result.map_err(|e| rejected.into_inner().unwrap_or_else(|| e.into()))
    }

    // ---- evidence ------------------------------------------------------------------------

    /// Record a new evidence item whose blob is already in the blob store; takes a blob
    /// reference and writes the audit entry in the same transaction.
    pub fn add_evidence(&self, ev: &Evidence, actor: &Actor) -> Result<(), StoreError> {
        self.db.transact(|tx| add_evidence_tx(tx, ev, actor))
    }

    /// [`Store::add_evidence`] for an item without a display id: it gets the case's next
    /// `EV-nnnn`, from a per-case counter (`evseq/<case>`) that never goes back, so a deleted
    /// item's display id is never given to another (partners and the audit trail keep naming
    /// the old one). The counter starts above the highest `EV-` number already in the case.
    /// Returns the item as stored.
    pub fn add_evidence_numbered(
        &self,
        ev: &Evidence,
        actor: &Actor,
    ) -> Result<Evidence, StoreError> {
        if !ev.display_id.is_empty() {
            self.add_evidence(ev, actor)?;
            return Ok(ev.clone());
        }
        let counter = format!("evseq/{}", ev.case).into_bytes();
        // A case numbered before the counter existed: start above its highest number, read once
        // (the one scan of the case; every later add reads only the counter).
        let floor = if self.db.get_json::<u64>(&counter)?.is_some() {
            0
        } else {
            let mut highest = 0;
            for e in self.case_evidence_iter(ev.case)? {
                if let Some(n) = e?
                    .display_id
                    .strip_prefix("EV-")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    highest = highest.max(n);
                }
            }
            highest
        };
        self.db.transact(|tx| {
            let next = tx.get_json::<u64>(&counter)?.unwrap_or(0).max(floor) + 1;
            tx.put_json(&counter, &next)?;
            let mut numbered = ev.clone();
            numbered.display_id = format!("EV-{next:04}");
            add_evidence_tx(tx, &numbered, actor)?;
            Ok(numbered)
        })
    }

    /// An evidence item by id.
    pub fn evidence(&self, id: EvidenceId) -> Result<Option<Evidence>, StoreError> {
        self.db.get_json(&key("ev", id))
    }

    /// The evidence items of a case one at a time, in no particular order (memory holds one item
    /// and the case's list of ids, whatever the case's size).
    pub fn case_evidence_iter(
        &self,
        case: CaseId,
    ) -> Result<impl Iterator<Item = Result<Evidence, StoreError>> + '_, StoreError> {
        let ids: Vec<EvidenceId> = self.db.scan_json(format!("caseev/{case}/").as_bytes())?;
        Ok(ids
            .into_iter()
            .filter_map(move |id| self.evidence(id).transpose()))
    }

    /// The evidence items of a case, in id order.
    pub fn case_evidence(&self, case: CaseId) -> Result<Vec<Evidence>, StoreError> {
        let ids: Vec<EvidenceId> = self.db.scan_json(format!("caseev/{case}/").as_bytes())?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(ev) = self.evidence(id)? {
                out.push(ev);
            }
        }
        out.sort_by(|a, b| {
            (a.added_at, a.display_id.as_str()).cmp(&(b.added_at, b.display_id.as_str()))
        });
        Ok(out)
    }

    /// Resolve an evidence reference within a case: its id or its display id.
    pub fn resolve_evidence(&self, case: CaseId, reference: &str) -> Result<Evidence, StoreError> {
        if let Ok(id) = reference.parse::<EvidenceId>()
            && let Some(ev) = self.evidence(id)?.filter(|e| e.case == case)
        {
            return Ok(ev);
        }
        // One item at a time: memory does not grow with the case (issue #11).
        let mut first = None;
        let mut n = 0usize;
        for ev in self.case_evidence_iter(case)? {
            let ev = ev?;
            if ev.display_id == reference {
                n += 1;
                first.get_or_insert(ev);
            }
        }
        match (first, n) {
            (None, _) => Err(StoreError::NotFound(format!("evidence {reference:?}"))),
            (Some(ev), 1) => Ok(ev),
            (Some(_), n) => Err(StoreError::Conflict(format!(
                "{n} evidence items have display id {reference:?}; use the id"
            ))),
        }
    }

    /// Change an evidence item and record it in the case's trail, atomically. `edit` returns
    /// the audit details.
    pub fn update_evidence<E: From<StoreError>>(
        &self,
        id: EvidenceId,
        actor: &Actor,
        action: &str,
        edit: impl Fn(&mut Evidence) -> Result<String, E>,
    ) -> Result<Evidence, E> {
        let rejected = RefCell::new(None);
        let result = self.db.transact(|tx| {
            let mut ev: Evidence = tx
                .get_json(&key("ev", id))?
                .ok_or_else(|| StoreError::NotFound(format!("evidence {id}")))?;
            let old_hashes = blob_hashes(&ev);
            let details = edit(&mut ev).map_err(|e| reject(&rejected, e))?;
            if ev.id != id {
                return Err(StoreError::Corrupt(
                    "an edit may not change an evidence id".into(),
                ));
            }
            set_blob_refs(tx, id, &old_hashes, &blob_hashes(&ev))?;
            tx.put_json(&key("ev", id), &ev)?;
            append_audit(tx, ev.case, actor.entry(action, Some(id), details))?;
            Ok(ev)
        });
        result.map_err(|e| rejected.into_inner().unwrap_or_else(|| e.into()))
    }

    /// Attach a transcript whose bytes are already in the blob store.
    pub fn add_transcript(
        &self,
        id: EvidenceId,
        t: &Transcript,
        actor: &Actor,
    ) -> Result<Evidence, StoreError> {
        self.update_evidence(id, actor, audit::actions::TRANSCRIPT_ADD, |ev| {
            ev.transcripts.push(t.clone());
            Ok::<_, StoreError>(format!(
                "transcript {:?} blake3={} size={}",
                t.name, t.hash, t.size
            ))
        })
    }

    /// Remove an evidence item (by a user, or by the retention sweeper: `action` says which),
    /// dropping its blob references. The bytes go at the next garbage collection.
    pub fn delete_evidence(
        &self,
        id: EvidenceId,
        actor: &Actor,
        action: &str,
        details: &str,
    ) -> Result<Evidence, StoreError> {
        self.db.transact(|tx| {
            let ev: Evidence = tx
                .get_json(&key("ev", id))?
                .ok_or_else(|| StoreError::NotFound(format!("evidence {id}")))?;
            tx.remove(&key("ev", id))?;
            tx.remove(&format!("caseev/{}/{}", ev.case, ev.id).into_bytes())?;
            set_blob_refs(tx, ev.id, &blob_hashes(&ev), &[])?;
            append_audit(
                tx,
                ev.case,
                actor.entry(
                    action,
                    Some(id),
                    format!("{:?} blake3={} {details}", ev.name, ev.hash),
                ),
            )?;
            Ok(ev)
        })
    }

    // ---- queues and seen ids (typed records are in [`crate::table`]) -------------------

    /// Append a record to the ordered queue `queue` (e.g. `outbox.<peer id>`); returns its
    /// sequence number. Queues keep insertion order.
    pub fn queue_push<T: Serialize>(&self, queue: &str, value: &T) -> Result<u64, StoreError> {
        check_kind(queue)?;
        self.db.transact(|tx| queue_push_tx(tx, queue, value))
    }

    /// The records of a queue, oldest first, with their sequence numbers.
    pub fn queue_items<T: DeserializeOwned>(
        &self,
        queue: &str,
    ) -> Result<Vec<(u64, T)>, StoreError> {
        check_kind(queue)?;
        let prefix = format!("q/{queue}/");
        let items: Vec<QueueItem<T>> = self.db.scan_json_with_keys(prefix.as_bytes(), |k| {
            String::from_utf8_lossy(&k[prefix.len()..])
                .parse::<u64>()
                .ok()
        })?;
        Ok(items.into_iter().map(|i| (i.0, i.1)).collect())
    }

    /// Remove one record from a queue (after it was delivered).
    pub fn queue_remove(&self, queue: &str, seq: u64) -> Result<(), StoreError> {
        check_kind(queue)?;
        self.db.transact(|tx| tx.remove(&queue_key(queue, seq)))
    }

    /// Record that a message id was seen; returns false if it had been seen before (so a retried
    /// delivery is applied once).
    pub fn mark_seen(&self, scope: &str, message_id: &str) -> Result<bool, StoreError> {
        check_kind(scope)?;
        self.db.transact(|tx| mark_seen_tx(tx, scope, message_id))
    }

    // ---- blobs ---------------------------------------------------------------------------

    /// How many records reference a blob (each record counts once, however many times it
    /// names the blob).
    pub fn blob_refs(&self, hash: &BlobHash) -> Result<u64, StoreError> {
        let mut n = 0;
        for k in self.db.scan_keys(&bref_prefix(hash)) {
            k?;
            n += 1;
        }
        Ok(n)
    }

    /// The evidence items that reference a blob (as their file or a transcript), by their exact
    /// reference keys: O(references), not a scan of any case.
    pub fn evidence_with_blob(&self, hash: &BlobHash) -> Result<Vec<EvidenceId>, StoreError> {
        let prefix = format!("bref/{hash}/ev/");
        let mut out = Vec::new();
        for k in self.db.scan_keys(prefix.as_bytes()) {
            let k = k?;
            if let Some(id) = std::str::from_utf8(&k[prefix.len()..])
                .ok()
                .and_then(|t| t.parse().ok())
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Whether a holder whose name starts with `holder_prefix` (e.g. `share/<id>/`; see
    /// [`Txn::hold_blob`]) references a blob.
    pub fn blob_held_under(
        &self,
        hash: &BlobHash,
        holder_prefix: &str,
    ) -> Result<bool, StoreError> {
        self.db.has_prefix(&holder_key(hash, holder_prefix))
    }

    /// Whether any record references a blob.
    pub fn blob_referenced(&self, hash: &BlobHash) -> Result<bool, StoreError> {
        self.db.has_prefix(&bref_prefix(hash))
    }

    /// Every blob some record references, in hash order, each once.
    pub fn referenced_blobs(&self) -> Result<Vec<BlobHash>, StoreError> {
        let mut out: Vec<BlobHash> = Vec::new();
        for k in self.db.scan_keys(b"bref/") {
            let k = k?;
            let hash = k
                .get(5..69)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| h.parse::<BlobHash>().ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "blob reference key {}",
                        String::from_utf8_lossy(&k)
                    ))
                })?;
            if out.last() != Some(&hash) {
                out.push(hash);
            }
        }
        Ok(out)
    }

    /// Remove every blob no record references and no one has pinned, and leftover temp files of
    /// writers that are gone. Returns the blobs removed and the bytes freed.
    pub async fn gc(&self) -> Result<(u64, u64), StoreError> {
        self.blobs.gc(|h| self.blob_referenced(h)).await
    }

    /// Check every referenced blob: present, and its bytes hash to its name (reads every
    /// referenced byte once). Also counts blobs on disk that nothing references (what `gc`
    /// would remove). Source of the report behind `casemesh blobs verify`.
    pub fn verify_blobs(&self) -> Result<BlobReport, StoreError> {
        let referenced = self.referenced_blobs()?;
        let mut report = BlobReport::default();
        for hash in &referenced {
            match self.blobs.verify(hash) {
                Ok(_) => report.ok += 1,
                Err(StoreError::BlobMissing { .. }) => report.missing.push(*hash),
                Err(StoreError::BlobCorrupt { .. }) => report.corrupt.push(*hash),
                Err(e) => return Err(e),
            }
        }
        let on_disk = self.blobs.list()?;
        report.unreferenced = on_disk
            .iter()
            .filter(|(h, _)| referenced.binary_search(h).is_err())
            .count() as u64;
        Ok(report)
    }

    // ---- audit ---------------------------------------------------------------------------

    /// Append an entry to a case's trail (for reads and other events without a record change).
    pub fn audit(
        &self,
        case: CaseId,
        actor: &Actor,
        action: &str,
        evidence: Option<EvidenceId>,
        details: &str,
    ) -> Result<(), StoreError> {
        self.db
            .transact(|tx| append_audit(tx, case, actor.entry(action, evidence, details)))
    }

    /// A case's trail, oldest first, and its recorded head.
    pub fn audit_trail(&self, case: CaseId) -> Result<(Vec<AuditEntry>, ChainHead), StoreError> {
        let entries = self.db.scan_json(format!("audit/{case}/").as_bytes())?;
        let head = self
            .db
            .get_json(&key("audithead", case))?
            .unwrap_or_default();
        Ok((entries, head))
    }

    /// Verify a case's trail; `Ok(Err(_))` names the first break.
    pub fn verify_audit(&self, case: CaseId) -> Result<(u64, Result<(), ChainError>), StoreError> {
        let (entries, head) = self.audit_trail(case)?;
        Ok((entries.len() as u64, audit::verify(&entries, &head)))
    }
}

/// One atomic change across several records; see [`Store::atomically`]. Its operations are those
/// of [`Store`] that a use case combines: records, queues, cases, evidence and audit entries.
pub struct Txn<'a, 'b> {
    pub(crate) tx: &'a mut Tx<'b>,
}

impl Txn<'_, '_> {
    /// Make `holder` (a record that is not an evidence item, e.g. `share/<id>/list/<seq>` for a
    /// share's item list) reference a blob, so garbage collection keeps it until
    /// [`Txn::release_blob`]. `holder` must not start with `ev/` (evidence owns those keys).
    pub fn hold_blob(&mut self, hash: &BlobHash, holder: &str) -> Result<(), StoreError> {
        debug_assert!(!holder.starts_with("ev/"));
        self.tx.put_raw(&holder_key(hash, holder), &[])
    }

    /// Drop `holder`'s reference to a blob (see [`Txn::hold_blob`]).
    pub fn release_blob(&mut self, hash: &BlobHash, holder: &str) -> Result<(), StoreError> {
        self.tx.remove(&holder_key(hash, holder))
    }

    /// Append to an ordered queue; returns the sequence number.
    pub fn queue_push<T: Serialize>(&mut self, queue: &str, value: &T) -> Result<u64, StoreError> {
        check_kind(queue)?;
        queue_push_tx(self.tx, queue, value)
    }

    /// Remove one item of a queue.
    pub fn queue_remove(&mut self, queue: &str, seq: u64) -> Result<(), StoreError> {
        check_kind(queue)?;
        self.tx.remove(&queue_key(queue, seq))
    }

    /// Record a message id as seen in `scope`; false if it had been seen already.
    pub fn mark_seen(&mut self, scope: &str, message_id: &str) -> Result<bool, StoreError> {
        check_kind(scope)?;
        mark_seen_tx(self.tx, scope, message_id)
    }

    /// A case by record id.
    pub fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
        self.tx.get_json(&key("case", id))
    }

    /// Store a new case and open its audit trail (as [`Store::create_case`]).
    pub fn create_case(&mut self, case: &Case, actor: &Actor) -> Result<(), StoreError> {
        create_case_tx(self.tx, case, actor)
    }

    /// Record a new evidence item whose blob is stored (as [`Store::add_evidence`]).
    pub fn add_evidence(&mut self, ev: &Evidence, actor: &Actor) -> Result<(), StoreError> {
        add_evidence_tx(self.tx, ev, actor)
    }

    /// Attach transcripts (bytes already in the blob store) to an evidence item, skipping those
    /// it already has (same BLAKE3 hash), with their blob references and one audit entry each
    /// (`transcript.add`). Returns how many were attached.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the evidence item does not exist (deleted meanwhile).
    pub fn add_transcripts(
        &mut self,
        id: EvidenceId,
        transcripts: &[Transcript],
        actor: &Actor,
    ) -> Result<usize, StoreError> {
        let mut ev: Evidence = self
            .tx
            .get_json(&key("ev", id))?
            .ok_or_else(|| StoreError::NotFound(format!("evidence {id}")))?;
        let old_hashes = blob_hashes(&ev);
        let mut added = Vec::new();
        for t in transcripts {
            if !ev.transcripts.iter().any(|have| have.hash == t.hash) {
                ev.transcripts.push(t.clone());
                added.push(t);
            }
        }
        if added.is_empty() {
            return Ok(0);
        }
        set_blob_refs(self.tx, id, &old_hashes, &blob_hashes(&ev))?;
        self.tx.put_json(&key("ev", id), &ev)?;
        for t in &added {
            append_audit(
                self.tx,
                ev.case,
                actor.entry(
                    audit::actions::TRANSCRIPT_ADD,
                    Some(id),
                    format!("transcript {:?} blake3={} size={}", t.name, t.hash, t.size),
                ),
            )?;
        }
        Ok(added.len())
    }

    /// Change a case and record `action` with `details` in its trail, inside this transaction:
    /// [`Store::update_case`] for a change that must commit together with other records (a
    /// partner's metadata edit and the metadata document it came in, issue #14). Errors:
    /// [`StoreError::NotFound`] for no such case, [`StoreError::CaseNumberTaken`] as
    /// [`Store::update_case`] (the rule in [`crate::case_numbers`]).
    pub fn update_case(
        &mut self,
        id: CaseId,
        actor: &Actor,
        action: &str,
        details: &str,
        edit: impl FnOnce(&mut Case),
    ) -> Result<Case, StoreError> {
        let mut case: Case = self
            .tx
            .get_json(&key("case", id))?
            .ok_or_else(|| StoreError::NotFound(format!("case {id}")))?;
        let before = case.case_number.clone();
        edit(&mut case);
        crate::case_numbers::claim(self.tx, &case, Some(&before), load_case)?;
        self.tx.put_json(&key("case", id), &case)?;
        append_audit(self.tx, id, actor.entry(action, None, details))?;
        Ok(case)
    }

    /// Change an evidence item and record `action` with `details` in its case's trail, inside
    /// this transaction ([`Store::update_evidence`] for a change that commits with other
    /// records). Errors: [`StoreError::NotFound`] for no such item; [`StoreError::Corrupt`]
    /// when `edit` changes the id.
    pub fn update_evidence(
        &mut self,
        id: EvidenceId,
        actor: &Actor,
        action: &str,
        details: &str,
        edit: impl FnOnce(&mut Evidence),
    ) -> Result<Evidence, StoreError> {
        let mut ev: Evidence = self
            .tx
            .get_json(&key("ev", id))?
            .ok_or_else(|| StoreError::NotFound(format!("evidence {id}")))?;
        let old_hashes = blob_hashes(&ev);
        edit(&mut ev);
        if ev.id != id {
            return Err(StoreError::Corrupt(
                "an edit may not change an evidence id".into(),
            ));
        }
        set_blob_refs(self.tx, id, &old_hashes, &blob_hashes(&ev))?;
        self.tx.put_json(&key("ev", id), &ev)?;
        append_audit(self.tx, ev.case, actor.entry(action, Some(id), details))?;
        Ok(ev)
    }

    /// Append an entry to a case's audit trail.
    pub fn audit(
        &mut self,
        case: CaseId,
        actor: &Actor,
        action: &str,
        evidence: Option<EvidenceId>,
        details: &str,
    ) -> Result<(), StoreError> {
        append_audit(self.tx, case, actor.entry(action, evidence, details))
    }
}

/// The outcome of [`Store::verify_blobs`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobReport {
    /// Referenced blobs that are present and intact.
    pub ok: u64,
    /// Referenced blobs whose file is gone.
    pub missing: Vec<BlobHash>,
    /// Referenced blobs whose bytes no longer match their hash.
    pub corrupt: Vec<BlobHash>,
    /// Blobs on disk that no record references (garbage collection removes them).
    pub unreferenced: u64,
}

impl BlobReport {
    /// Whether every referenced blob is present and intact.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

/// A queue entry: sequence number and value.
struct QueueItem<T>(u64, T);

impl<T> From<(u64, T)> for QueueItem<T> {
    fn from((n, v): (u64, T)) -> Self {
        QueueItem(n, v)
    }
}

fn load_case(tx: &Tx<'_>, id: CaseId) -> Result<Option<Case>, StoreError> {
    tx.get_json(&key("case", id))
}

fn create_case_tx(tx: &mut Tx<'_>, case: &Case, actor: &Actor) -> Result<(), StoreError> {
    crate::case_numbers::claim(tx, case, None, load_case)?;
    tx.put_json(&key("case", case.id), case)?;
    append_audit(
        tx,
        case.id,
        actor.entry(
            audit::actions::CASE_CREATE,
            None,
            format!("case {} {:?}", case.id, case.case_number),
        ),
    )
}

fn add_evidence_tx(tx: &mut Tx<'_>, ev: &Evidence, actor: &Actor) -> Result<(), StoreError> {
    if tx.get_json::<Case>(&key("case", ev.case))?.is_none() {
        return Err(StoreError::NotFound(format!("case {}", ev.case)));
    }
    tx.put_json(&key("ev", ev.id), ev)?;
    tx.put_json(
        &format!("caseev/{}/{}", ev.case, ev.id).into_bytes(),
        &ev.id,
    )?;
    set_blob_refs(tx, ev.id, &[], &blob_hashes(ev))?;
    append_audit(
        tx,
        ev.case,
        actor.entry(
            audit::actions::EVIDENCE_ADD,
            Some(ev.id),
            format!("{:?} blake3={} size={}", ev.name, ev.hash, ev.size),
        ),
    )
}

fn queue_key(queue: &str, seq: u64) -> Vec<u8> {
    format!("q/{queue}/{seq:020}").into_bytes()
}

fn queue_push_tx<T: Serialize>(tx: &mut Tx<'_>, queue: &str, value: &T) -> Result<u64, StoreError> {
    let counter = format!("qseq/{queue}").into_bytes();
    let seq = tx.get_json::<u64>(&counter)?.unwrap_or(0);
    tx.put_json(&counter, &(seq + 1))?;
    tx.put_json(&queue_key(queue, seq), value)?;
    Ok(seq)
}

fn mark_seen_tx(tx: &mut Tx<'_>, scope: &str, message_id: &str) -> Result<bool, StoreError> {
    let k = format!("seen/{scope}/{message_id}").into_bytes();
    if tx.get_json::<u8>(&k)?.is_some() {
        return Ok(false);
    }
    tx.put_json(&k, &1u8)?;
    Ok(true)
}

/// Queue names and scopes are ours, never user input, but a `/` in one would blur key prefixes.
fn check_kind(kind: &str) -> Result<(), StoreError> {
    if kind.is_empty() || kind.contains('/') {
        return Err(StoreError::Corrupt(format!("invalid queue name {kind:?}")));
    }
    Ok(())
}

/// Keep a caller's error for after the transaction and abort it.
fn reject<E>(slot: &RefCell<Option<E>>, e: E) -> StoreError {
    *slot.borrow_mut() = Some(e);
    StoreError::Aborted
}

fn blob_hashes(ev: &Evidence) -> Vec<BlobHash> {
    std::iter::once(ev.hash)
        .chain(ev.transcripts.iter().map(|t| t.hash))
        .collect()
}

fn bref_prefix(hash: &BlobHash) -> Vec<u8> {
    format!("bref/{hash}/").into_bytes()
}

fn holder_key(hash: &BlobHash, holder: &str) -> Vec<u8> {
    format!("bref/{hash}/{holder}").into_bytes()
}

fn bref_key(hash: &BlobHash, ev: EvidenceId) -> Vec<u8> {
    format!("bref/{hash}/ev/{ev}").into_bytes()
}

/// Make evidence `ev`'s blob reference keys go from `old` to `new` (both may repeat hashes).
fn set_blob_refs(
    tx: &mut Tx<'_>,
    ev: EvidenceId,
    old: &[BlobHash],
    new: &[BlobHash],
) -> Result<(), StoreError> {
    for h in old.iter().filter(|h| !new.contains(h)) {
        tx.remove(&bref_key(h, ev))?;
    }
    for h in new {
        tx.put_raw(&bref_key(h, ev), &[])?;
    }
    Ok(())
}

/// Bring an older database layout up to [`SCHEMA_VERSION`], one step at a time. Each step is one
/// transaction that also writes the new version, so a crash mid-migration repeats the step.
fn migrate(db: &Db) -> Result<(), StoreError> {
    let version: Option<u32> = db.get_json(b"schema")?;
    let mut version = match version {
        Some(v) => v,
        None if !db.has_prefix(b"")? => {
            db.transact(|tx| tx.put_json(b"schema", &SCHEMA_VERSION))?;
            return Ok(());
        }
        None => 1,
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has layout version {version}, newer than this casemesh ({SCHEMA_VERSION}); \
             run a newer casemesh"
        )));
    }
    while version < SCHEMA_VERSION {
        match version {
            1 => migrate_v1_blob_refs(db)?,
            2 => migrate_v2_indexes(db)?,
            v => return Err(StoreError::Corrupt(format!("no migration from layout {v}"))),
        }
        version += 1;
        tracing::info!(version, "database layout migrated");
    }
    Ok(())
}

/// 1 → 2: reference counts (`blobref/<hash>`) become exact keys derived from the evidence.
fn migrate_v1_blob_refs(db: &Db) -> Result<(), StoreError> {
    let old_keys: Vec<Vec<u8>> = db.scan_keys(b"blobref/").collect::<Result<_, _>>()?;
    let evidence: Vec<Evidence> = db.scan_json(b"ev/")?;
    db.transact(|tx| {
        for k in &old_keys {
            tx.remove(k)?;
        }
        for ev in &evidence {
            set_blob_refs(tx, ev.id, &[], &blob_hashes(ev))?;
        }
        tx.put_json(b"schema", &2u32)
    })
}

/// 2 → 3: secondary index keys (`idx/`, `idxbuilt/`, see [`crate::table`]) join the layout. Each
/// index is built from its table's records when first queried, so this step only clears any
/// index state (none in a layout-2 directory) and records the version, which keeps a layout-2
/// casemesh, which would write records without their index keys, from opening the directory.
fn migrate_v2_indexes(db: &Db) -> Result<(), StoreError> {
    let mut keys: Vec<Vec<u8>> = db.scan_keys(b"idx/").collect::<Result<_, _>>()?;
    for k in db.scan_keys(b"idxbuilt/") {
        keys.push(k?);
    }
    db.transact(|tx| {
        for k in &keys {
            tx.remove(k)?;
        }
        tx.put_json(b"schema", &3u32)
    })
}

fn append_audit(tx: &mut Tx<'_>, case: CaseId, entry: NewEntry) -> Result<(), StoreError> {
    let head_key = key("audithead", case);
    let head: ChainHead = tx.get_json(&head_key)?.unwrap_or_default();
    let (entry, head) = head.append(entry);
    tx.put_json(&audit_key(case, entry.seq), &entry)?;
    tx.put_json(&head_key, &head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        (d, s)
    }

    #[test]
    fn second_open_of_a_data_dir_is_in_use() {
        let (d, _s) = store();
        assert!(matches!(Store::open(d.path()), Err(StoreError::InUse(_))));
    }

    #[test]
    fn tokens_authenticate_only_their_user() {
        let (_d, s) = store();
        let u = User::new("alice", "Alice");
        s.create_user(&u).unwrap();
        let t = s.issue_token(u.id, Timestamp(0)).unwrap();
        assert_eq!(
            s.authenticate(&t).unwrap().map(|u| u.username),
            Some("alice".into())
        );
        assert!(s.authenticate("cm_wrong").unwrap().is_none());
        assert!(s.authenticate(&t[..t.len() - 1]).unwrap().is_none());
        assert!(matches!(
            s.create_user(&User::new("alice", "Other")),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn case_writes_are_audited_and_the_chain_verifies() {
        let (_d, s) = store();
        let actor = Actor::new("alice", Timestamp(1));
        let case = Case::new("C-1", "t", "", UserId::random(), Timestamp(1));
        s.create_case(&case, &actor).unwrap();
        s.update_case(case.id, &actor, audit::actions::CASE_EDIT, |c| {
            c.title = "new".into();
            Ok::<_, StoreError>("title".into())
        })
        .unwrap();
        let (entries, result) = s.verify_audit(case.id).unwrap();
        assert_eq!((entries, result), (2, Ok(())));
        assert_eq!(s.resolve_case("C-1").unwrap().title, "new");
    }

    /// Found by attack: deleting the last item and adding another gave the new one the deleted
    /// item's display id, so a partner's copy held two EV-0003.
    #[test]
    fn display_ids_are_never_reused() {
        let (_d, s) = store();
        let actor = Actor::new("alice", Timestamp(1));
        let case = Case::new("C-1", "t", "", UserId::random(), Timestamp(1));
        s.create_case(&case, &actor).unwrap();
        let item = |display: &str| Evidence {
            id: EvidenceId::random(),
            case: case.id,
            display_id: display.into(),
            name: "x".into(),
            description: String::new(),
            category: None,
            folder: None,
            hash: BlobHash::of(b"x"),
            size: 1,
            media_type: "text/plain".into(),
            added_at: Timestamp(1),
            added_by: "alice".into(),
            transcripts: vec![],
            do_not_disclose: false,
            received_seq: None,
        };
        // An item numbered by hand first: the counter starts above it.
        s.add_evidence_numbered(&item("EV-0002"), &actor).unwrap();
        let third = s.add_evidence_numbered(&item(""), &actor).unwrap();
        assert_eq!(third.display_id, "EV-0003");
        s.delete_evidence(third.id, &actor, audit::actions::EVIDENCE_DELETE, "")
            .unwrap();
        assert_eq!(
            s.add_evidence_numbered(&item(""), &actor)
                .unwrap()
                .display_id,
            "EV-0004"
        );
    }

    #[test]
    fn a_refused_edit_changes_nothing() {
        let (_d, s) = store();
        let actor = Actor::new("alice", Timestamp(1));
        let case = Case::new("C-1", "t", "", UserId::random(), Timestamp(1));
        s.create_case(&case, &actor).unwrap();
        let r = s.update_case(case.id, &actor, "x", |c| {
            c.title = "changed".into();
            Err::<String, _>(StoreError::Conflict("no".into()))
        });
        assert!(r.is_err());
        assert_eq!(s.case(case.id).unwrap().unwrap().title, "t");
        assert_eq!(s.audit_trail(case.id).unwrap().0.len(), 1);
    }

    /// Issue #15 item 2: a taken case number is refused on create and on rename, nothing is
    /// written; a received copy may carry it and a lookup by number still finds the local case;
    /// the index survives a reopen and follows renames.
    #[test]
    fn case_numbers_stay_unambiguous() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let actor = Actor::new("alice", Timestamp(1));
        let owner = UserId::random();
        let first = Case::new("C-1", "first", "", owner, Timestamp(1));
        s.create_case(&first, &actor).unwrap();
        let dup = Case::new("C-1", "second", "", owner, Timestamp(2));
        match s.create_case(&dup, &actor) {
            Err(StoreError::CaseNumberTaken { existing, .. }) => assert_eq!(existing, first.id),
            other => panic!("{other:?}"),
        }
        assert!(s.case(dup.id).unwrap().is_none());
        assert!(s.audit_trail(dup.id).unwrap().0.is_empty());

        let other = Case::new("C-2", "other", "", owner, Timestamp(3));
        s.create_case(&other, &actor).unwrap();
        let r = s.update_case(other.id, &actor, "edit", |c| {
            c.case_number = "C-1".into();
            Ok::<_, StoreError>(String::new())
        });
        assert!(
            matches!(r, Err(StoreError::CaseNumberTaken { .. })),
            "{r:?}"
        );
        assert_eq!(s.case(other.id).unwrap().unwrap().case_number, "C-2");
        assert_eq!(s.audit_trail(other.id).unwrap().0.len(), 1);

        // A copy received from a partner with the same number is stored; "C-1" still names ours.
        let mut copy = Case::new("C-1", "copy", "", owner, Timestamp(4));
        copy.origin = casemesh_model::case::Origin::Received {
            sharer: casemesh_model::ids::OrgId("peer".into()),
            sharer_name: "Metro Police".into(),
            share: casemesh_model::ids::ShareId::random(),
            source_case: CaseId::random(),
            received_at: Timestamp(4),
        };
        s.create_case(&copy, &actor).unwrap();
        assert_eq!(s.resolve_case("C-1").unwrap().id, first.id);
        assert_eq!(s.cases_numbered("C-1").unwrap().len(), 2);

        // Renaming frees the old number; a title edit keeps the number.
        s.update_case(first.id, &actor, "edit", |c| {
            c.case_number = "C-9".into();
            Ok::<_, StoreError>(String::new())
        })
        .unwrap();
        s.update_case(first.id, &actor, "edit", |c| {
            c.title = "renamed".into();
            Ok::<_, StoreError>(String::new())
        })
        .unwrap();
        assert_eq!(s.resolve_case("C-1").unwrap().id, copy.id);
        assert_eq!(s.resolve_case("C-9").unwrap().id, first.id);
        drop(s);
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.resolve_case("C-9").unwrap().id, first.id);
        assert_eq!(s.resolve_case("C-1").unwrap().id, copy.id);
        assert_eq!(s.resolve_case("C-2").unwrap().id, other.id);
    }

    /// The case-number index is rebuilt from the case records at open: one written without it
    /// (an older casemesh) is found and counts as taken.
    #[test]
    fn the_case_number_index_is_rebuilt_at_open() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let case = Case::new("C-1", "t", "", UserId::random(), Timestamp(1));
        s.db.transact(|tx| tx.put_json(&key("case", case.id), &case))
            .unwrap();
        s.db.transact(|tx| tx.put_json(b"casenum/C-stale", &vec![CaseId::random()]))
            .unwrap();
        drop(s);
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.resolve_case("C-1").unwrap().id, case.id);
        assert!(s.cases_numbered("C-stale").unwrap().is_empty());
        let dup = Case::new("C-1", "t", "", UserId::random(), Timestamp(2));
        let actor = Actor::new("alice", Timestamp(2));
        assert!(matches!(
            s.create_case(&dup, &actor),
            Err(StoreError::CaseNumberTaken { .. })
        ));
    }

    #[test]
    fn evidence_holds_blob_references() {
        let (_d, s) = store();
        let actor = Actor::new("alice", Timestamp(1));
        let case = Case::new("C-1", "t", "", UserId::random(), Timestamp(1));
        s.create_case(&case, &actor).unwrap();
        let hash = BlobHash::of(b"x");
        let ev = Evidence {
            id: EvidenceId::random(),
            case: case.id,
            display_id: "EV-1".into(),
            name: "x".into(),
            description: String::new(),
            category: None,
            folder: None,
            hash,
            size: 1,
            media_type: "text/plain".into(),
            added_at: Timestamp(1),
            added_by: "alice".into(),
            transcripts: vec![],
            do_not_disclose: false,
            received_seq: None,
        };
        s.add_evidence(&ev, &actor).unwrap();
        assert_eq!(s.blob_refs(&hash).unwrap(), 1);
        // The same bytes as a transcript, twice: still one reference from this item.
        for _ in 0..2 {
            let t = Transcript {
                id: casemesh_model::ids::TranscriptId::random(),
                name: "t.txt".into(),
                hash,
                size: 1,
            };
            s.add_transcript(ev.id, &t, &actor).unwrap();
        }
        assert_eq!(s.blob_refs(&hash).unwrap(), 1);
        s.delete_evidence(ev.id, &actor, audit::actions::EVIDENCE_DELETE, "")
            .unwrap();
        assert_eq!(s.blob_refs(&hash).unwrap(), 0);
        assert!(s.case_evidence(case.id).unwrap().is_empty());
        assert_eq!(s.verify_audit(case.id).unwrap().1, Ok(()));
    }

    #[test]
    fn queues_and_seen_ids() {
        let (_d, s) = store();
        assert!(s.queue_push("a/b", &1).is_err());

        for i in 0..3u32 {
            s.queue_push("outbox.peer", &i).unwrap();
        }
        let items: Vec<(u64, u32)> = s.queue_items("outbox.peer").unwrap();
        assert_eq!(items, vec![(0, 0), (1, 1), (2, 2)]);
        s.queue_remove("outbox.peer", 0).unwrap();
        assert_eq!(s.queue_push("outbox.peer", &9u32).unwrap(), 3);
        let items: Vec<(u64, u32)> = s.queue_items("outbox.peer").unwrap();
        assert_eq!(items, vec![(1, 1), (2, 2), (3, 9)]);

        assert!(s.mark_seen("inbox", "m1").unwrap());
        assert!(!s.mark_seen("inbox", "m1").unwrap());
    }
}
