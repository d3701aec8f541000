//! The sled adapter: the only file that names sled.
//!
//! Everything lives in one sled tree under prefixed keys (`case/…`, `evidence/…`, `audit/…`), so a
//! single-tree transaction makes every multi-record change atomic (an evidence item, its blob
//! reference and its audit entry commit together or not at all). Values are JSON documents
//! wrapped by [`Db::get_json`]/[`Tx::put_json`]. Swapping the engine means rewriting this file only.
//!
//! Durability: [`Db::transact`] returns only after the committed change is on disk (sled's
//! `flush`, which writes and fsyncs its log). Concurrent transactions share one flush when they
//! commit close together (group commit), so the cost is one fsync per batch, not per caller.

use crate::error::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Bytes of sled's page cache (its default is 1 GiB).
const DB_CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// The opened database.
#[derive(Clone)]
pub(crate) struct Db {
    db: sled::Db,
    tree: sled::Tree,
    /// The database directory (for the free-space check before each write).
    dir: std::path::PathBuf,
}

/// Free space a write transaction needs on the database's file system (bytes). sled cannot
/// recover from a write that hits a full disk without a restart, so writes are refused with
/// [`StoreError::NoSpace`] while less than this is free; reads go on. The blob store keeps a
/// larger reserve ([`crate::blobs::SPACE_RESERVE`]), so evidence fills the disk before records do.
pub(crate) const DB_RESERVE: u64 = 8 << 20;

/// A transaction in progress; see [`Db::transact`].
pub(crate) struct Tx<'a> {
    tree: &'a sled::transaction::TransactionalTree,
}

impl Db {
    /// Open (or create) the database in `dir`. A database held by another process gives
    /// [`StoreError::InUse`] after about a second: sled releases its file lock from its flusher
    /// thread shortly *after* the last handle is dropped, so a database this process has just
    /// closed (a restart in-process, a test reopening it) is retried for that long first.
    pub(crate) fn open(dir: &Path) -> Result<Db, StoreError> {
        let mut tries = 0;
        loop {
            match Self::open_once(dir) {
                Err(StoreError::InUse(_)) if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn open_once(dir: &Path) -> Result<Db, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            // sled's page cache defaults to 1 GiB and fills as the database grows: bound it,
            // so a node's memory does not grow with its item count.
            .cache_capacity(DB_CACHE_BYTES)
            .flush_every_ms(Some(200))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.raw_os_error() == Some(11) =>
                {
                    StoreError::InUse(dir.to_path_buf())
                }
                sled::Error::Io(io) if io.to_string().contains("lock") => {
                    StoreError::InUse(dir.to_path_buf())
                }
                other => StoreError::Db(other.to_string()),
            })?;
        let tree = db.open_tree("casemesh").map_err(db_err)?;
        Ok(Db {
            db,
            tree,
            dir: dir.to_path_buf(),
        })
    }

    /// Read and decode one record.
    pub(crate) fn get_json<T: DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.tree.get(key).map_err(db_err)? {
            Some(v) => Ok(Some(decode(key, &v)?)),
            None => Ok(None),
        }
    }

    /// Decode every record under `prefix`, in key order.
    pub(crate) fn scan_json<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
    ) -> Result<Vec<T>, StoreError> {
        self.tree
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv.map_err(db_err)?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Decode every record under `prefix` with a number parsed from its key (records whose key
    /// does not parse are skipped).
    pub(crate) fn scan_json_with_keys<T: DeserializeOwned, R: From<(u64, T)>>(
        &self,
        prefix: &[u8],
        parse_key: impl Fn(&[u8]) -> Option<u64>,
    ) -> Result<Vec<R>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(prefix) {
            let (k, v) = kv.map_err(db_err)?;
            if let Some(n) = parse_key(&k) {
                out.push(R::from((n, decode(&k, &v)?)));
            }
        }
        Ok(out)
    }

    /// Up to `limit` records under `prefix` whose keys come after `after` (or from the start of
    /// the prefix with `None`), in key order, with their keys: one page of a long listing, so a
    /// caller never holds a whole large table in memory.
    pub(crate) fn page_json<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        use std::ops::Bound;
        let start = match after {
            Some(k) => Bound::Excluded(k.to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        let mut out = Vec::new();
        for kv in self.tree.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = kv.map_err(db_err)?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), decode(&k, &v)?));
        }
        Ok(out)
    }

    /// Whether any key starts with `prefix`.
    pub(crate) fn has_prefix(&self, prefix: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .tree
            .scan_prefix(prefix)
            .keys()
            .next()
            .transpose()
            .map_err(db_err)?
            .is_some())
    }

    /// Every key under `prefix`, in key order (values are not decoded).
    pub(crate) fn scan_keys(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.tree
            .scan_prefix(prefix)
            .keys()
            .map(|k| k.map(|k| k.to_vec()).map_err(db_err))
    }

    /// Run `f` as one atomic transaction and wait until it is durable (see the module doc). `f`
    /// may run more than once on conflict, so it must not have side effects outside the
    /// transaction. An `Err` from `f` aborts, writes nothing and is returned.
    pub(crate) fn transact<T>(
        &self,
        f: impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.check_space()?;
        let out = self.transact_volatile(f)?;
        self.db.flush().map_err(db_err)?;
        Ok(out)
    }

    /// Refuse a write while the file system is nearly full (see [`DB_RESERVE`]).
    fn check_space(&self) -> Result<(), StoreError> {
        match fs4::available_space(&self.dir) {
            Ok(available) if available < DB_RESERVE => Err(StoreError::NoSpace {
                needed: DB_RESERVE,
                available,
            }),
            // Not knowing the free space is no reason to refuse a write.
            _ => Ok(()),
        }
    }

    /// [`Db::transact`] without waiting for the disk: for changes that may be lost in a crash
    /// without harm (a counter of downloads, a cache) and for migrations flushed at their end.
    pub(crate) fn transact_volatile<T>(
        &self,
        f: impl Fn(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        self.tree
            .transaction(|t| {
                let mut tx = Tx { tree: t };
                f(&mut tx).map_err(ConflictableTransactionError::Abort)
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => db_err(e),
            })
    }

    /// Wait until everything written so far is on disk.
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await.map_err(db_err)?;
        Ok(())
    }
}

impl Tx<'_> {
    /// Read and decode one record inside the transaction.
    pub(crate) fn get_json<T: DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.tree.get(key).map_err(tx_err)? {
            Some(v) => Ok(Some(decode(key, &v)?)),
            None => Ok(None),
        }
    }

    /// Whether a key exists inside the transaction.
    pub(crate) fn has(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.tree.get(key).map_err(tx_err)?.is_some())
    }

    /// Encode and write one record.
    pub(crate) fn put_json<T: Serialize>(
        &mut self,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes =
            serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))?;
        self.tree.insert(key, bytes).map_err(tx_err)?;
        Ok(())
    }

    /// Write raw bytes (an index key whose value carries nothing).
    pub(crate) fn put_raw(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tree.insert(key, value).map_err(tx_err)?;
        Ok(())
    }

    /// Remove one record.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.tree.remove(key).map_err(tx_err)?;
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(key: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v)
        .map_err(|e| StoreError::Corrupt(format!("record {}: {e}", String::from_utf8_lossy(key))))
}

fn db_err(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            StoreError::NoSpace {
                needed: 0,
                available: 0,
            }
        }
        e => StoreError::Db(e.to_string()),
    }
}

fn tx_err(e: sled::transaction::UnabortableTransactionError) -> StoreError {
    StoreError::Db(e.to_string())
}
