//! Typed tables: the records other crates keep in the store (partners, shares, links, …), each
//! declared once as a [`Table`] with its key type, its value type and its secondary [`Index`]es.
//!
//! This module owns the `rec/` and `idx/` parts of the key space and the `idxbuilt/` markers:
//! ```text
//! rec/<table>/<key>                        V (JSON)
//! idx/<index>/<indexed value>/<key>        () — one per record the index function maps to a value
//! idxbuilt/<index>                         1  — the index holds every record of its table
//! ```
//! The record layout `rec/<table>/<key>` is exactly the one of the untyped "kind/id" record API
//! these tables replace (a table's name is the old kind, a key's text the old id), so existing
//! data directories need no migration for the records themselves.
//!
//! ## Indexes
//! An [`Index`] is declared with its table: a name and a function from a record to the value it
//! is found by (or `None`: not indexed). Every write through a table keeps the index keys exact in
//! the same transaction: [`Txn::put`] reads the old record, removes its index keys and writes the
//! new ones; [`Txn::delete`] removes them. [`Store::by_index`] builds an index from its table's
//! records the first time it is queried (then sets `idxbuilt/<index>`), so data written before
//! an index existed (layout 2, or an index added later) is found without a migration step per
//! index. Changing what an index function returns therefore needs a new index name.
//! Indexed values may contain any character (`/` and `%` are escaped in the key).
//!
//! ```
//! use casemesh_store::table::{Index, Table};
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Note { topic: String }
//! const BY_TOPIC: Index<Note> = Index::new("note.topic", |n| Some(n.topic.clone()));
//! const NOTES: Table<str, Note> = Table::new("note").with_indexes(&[BY_TOPIC]);
//! ```

use crate::db::Tx;
use crate::error::StoreError;
use crate::repo::{Store, Txn};
use casemesh_model::ids::{CaseId, EvidenceId, GroupId, LinkId, OrgId, ShareId, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::marker::PhantomData;

/// A key type of a [`Table`]: how a key is written in the record's store key.
pub trait TableKey {
    /// The key's text (`rec/<table>/<this>`).
    fn to_key(&self) -> String;
}

impl TableKey for str {
    fn to_key(&self) -> String {
        self.to_owned()
    }
}

impl TableKey for String {
    fn to_key(&self) -> String {
        self.clone()
    }
}

macro_rules! display_keys {
    ($($t:ty),*) => {$(
        impl TableKey for $t {
            fn to_key(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

display_keys!(CaseId, EvidenceId, GroupId, LinkId, OrgId, ShareId, UserId);

/// Records per page of [`Store::for_each`].
const PAGE: usize = 1_000;

/// A two-part key `<parent>/<child>`, for tables of items that belong to a parent record (the
/// items of a share): [`Store::page`] lists one parent's items by the prefix `<parent>/`.
impl<A: TableKey, B: TableKey> TableKey for (A, B) {
    fn to_key(&self) -> String {
        format!("{}/{}", self.0.to_key(), self.1.to_key())
    }
}

/// A secondary index of records of type `V`; see the module doc.
pub struct Index<V> {
    name: &'static str,
    key: fn(&V) -> Option<String>,
}

impl<V> Index<V> {
    /// An index called `name` (unique in the store, by convention `<table>.<field>`; no `/`) that
    /// finds a record by `key(record)`.
    pub const fn new(name: &'static str, key: fn(&V) -> Option<String>) -> Index<V> {
        check_name(name);
        Index { name, key }
    }

    /// The index's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// A table of records of type `V` under keys of type `K`; see the module doc.
pub struct Table<K: ?Sized, V: 'static> {
    name: &'static str,
    indexes: &'static [Index<V>],
    _types: PhantomData<fn(&K) -> V>,
}

impl<K: ?Sized, V> Table<K, V> {
    /// A table stored under `rec/<name>/` (`name` must be non-empty and have no `/`).
    pub const fn new(name: &'static str) -> Table<K, V> {
        check_name(name);
        Table {
            name,
            indexes: &[],
            _types: PhantomData,
        }
    }

    /// The table with these secondary indexes.
    pub const fn with_indexes(self, indexes: &'static [Index<V>]) -> Table<K, V> {
        Table { indexes, ..self }
    }

    /// The table's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// Names become key prefixes: a `/` in one would blur them. Checked when the constant is built.
const fn check_name(name: &str) {
    let b = name.as_bytes();
    assert!(!b.is_empty(), "a table or index name must not be empty");
    let mut i = 0;
    while i < b.len() {
        assert!(b[i] != b'/', "a table or index name must not contain '/'");
        i += 1;
    }
}

fn record_key(table: &str, key: &str) -> Vec<u8> {
    format!("rec/{table}/{key}").into_bytes()
}

fn escape(value: &str) -> String {
    value.replace('%', "%25").replace('/', "%2F")
}

fn index_prefix(index: &str, value: &str) -> String {
    format!("idx/{index}/{}/", escape(value))
}

fn index_key(index: &str, value: &str, key: &str) -> Vec<u8> {
    format!("{}{key}", index_prefix(index, value)).into_bytes()
}

fn built_key(index: &str) -> Vec<u8> {
    format!("idxbuilt/{index}").into_bytes()
}

/// Write `new` (or remove the record with `None`) under `key`, keeping every index exact.
/// Returns whether a record existed before.
fn write<K: ?Sized, V>(
    tx: &mut Tx<'_>,
    t: &Table<K, V>,
    key: &str,
    new: Option<&V>,
) -> Result<bool, StoreError>
where
    V: Serialize + DeserializeOwned,
{
    let rk = record_key(t.name, key);
    let old: Option<V> = if t.indexes.is_empty() {
        None
    } else {
        tx.get_json(&rk)?
    };
    let existed = old.is_some() || (t.indexes.is_empty() && tx.has(&rk)?);
    for idx in t.indexes {
        let before = old.as_ref().and_then(idx.key);
        let after = new.and_then(idx.key);
        if let Some(b) = &before
            && before != after
        {
            tx.remove(&index_key(idx.name, b, key))?;
        }
        if let Some(a) = &after {
            tx.put_raw(&index_key(idx.name, a, key), &[])?;
        }
    }
    match new {
        Some(v) => tx.put_json(&rk, v)?,
        None => tx.remove(&rk)?,
    }
    Ok(existed)
}

impl Store {
    /// One record of a table.
    pub fn get<K, V>(&self, t: &Table<K, V>, key: &K) -> Result<Option<V>, StoreError>
    where
        K: TableKey + ?Sized,
        V: DeserializeOwned,
    {
        self.db.get_json(&record_key(t.name, &key.to_key()))
    }

    /// Every record of a table, in key (text) order.
    pub fn all<K: ?Sized, V: DeserializeOwned>(
        &self,
        t: &Table<K, V>,
    ) -> Result<Vec<V>, StoreError> {
        self.db.scan_json(format!("rec/{}/", t.name).as_bytes())
    }

    /// One page of the records of `t` whose key text starts with `key_prefix` (e.g. `<share>/`
    /// for a table keyed by `(ShareId, EvidenceId)`): up to `limit` records after the key text
    /// `after` (`None` = from the first), in key order, with their key texts. Memory holds one
    /// page, whatever the table's size; pass the last key of a page as `after` for the next.
    pub fn page<K: ?Sized, V: DeserializeOwned>(
        &self,
        t: &Table<K, V>,
        key_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, V)>, StoreError> {
        let base = format!("rec/{}/", t.name);
        let prefix = format!("{base}{key_prefix}");
        let after = after.map(|a| format!("{base}{a}"));
        Ok(self
            .db
            .page_json(
                prefix.as_bytes(),
                after.as_deref().map(str::as_bytes),
                limit,
            )?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k[base.len()..]).into_owned(), v))
            .collect())
    }

    /// Every record of `t` whose key text starts with `key_prefix`, in key order, handed to `f`
    /// one page at a time (see [`Store::page`]): memory holds one page, whatever the table's size.
    /// Stops at the first error, `f`'s own or the store's.
    pub fn for_each<K: ?Sized, V, E>(
        &self,
        t: &Table<K, V>,
        key_prefix: &str,
        mut f: impl FnMut(&str, V) -> Result<(), E>,
    ) -> Result<(), E>
    where
        V: DeserializeOwned,
        E: From<StoreError>,
    {
        let mut after: Option<String> = None;
        loop {
            let page = self.page(t, key_prefix, after.as_deref(), PAGE)?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            let last = last.clone();
            for (key, value) in page {
                f(&key, value)?;
            }
            after = Some(last);
        }
    }

    /// Write one record (and its index keys), durably.
    pub fn put<K, V>(&self, t: &Table<K, V>, key: &K, value: &V) -> Result<(), StoreError>
    where
        K: TableKey + ?Sized,
        V: Serialize + DeserializeOwned,
    {
        let key = key.to_key();
        self.db
            .transact(|tx| write(tx, t, &key, Some(value)).map(drop))
    }

    /// Remove one record (and its index keys); returns whether it existed.
    pub fn delete<K, V>(&self, t: &Table<K, V>, key: &K) -> Result<bool, StoreError>
    where
        K: TableKey + ?Sized,
        V: Serialize + DeserializeOwned,
    {
        let key = key.to_key();
        self.db.transact(|tx| write(tx, t, &key, None))
    }

    /// Atomically read-modify-write one record: `f` gets the current value (if any) and returns
    /// the new one (`None` deletes). An error from `f` (the caller's own type) leaves the record
    /// unchanged and is returned as is. `f` may run more than once when transactions collide.
    pub fn update<K, V, E>(
        &self,
        t: &Table<K, V>,
        key: &K,
        f: impl Fn(Option<V>) -> Result<Option<V>, E>,
    ) -> Result<Option<V>, E>
    where
        K: TableKey + ?Sized,
        V: Serialize + DeserializeOwned,
        E: From<StoreError>,
    {
        let key = key.to_key();
        let rejected = RefCell::new(None);
        let result = self.db.transact(|tx| {
            let current = tx.get_json::<V>(&record_key(t.name, &key))?;
            let next = f(current).map_err(|e| {
                *rejected.borrow_mut() = Some(e);
                StoreError::Aborted
            })?;
            write(tx, t, &key, next.as_ref())?;
            Ok(next)
        });
        result.map_err(|e| rejected.into_inner().unwrap_or_else(|| e.into()))
    }

    /// The records of table `t` that `index` (declared on `t`) maps to `value`, in key order.
    /// Builds the index from the table first if it has never been built (see the module doc).
    pub fn by_index<K: ?Sized, V>(
        &self,
        t: &Table<K, V>,
        index: &Index<V>,
        value: &str,
    ) -> Result<Vec<V>, StoreError>
    where
        V: Serialize + DeserializeOwned,
    {
        if !t.indexes.iter().any(|i| i.name == index.name) {
            return Err(StoreError::Corrupt(format!(
                "index {} is not declared on table {}",
                index.name, t.name
            )));
        }
        self.build_index(t, index)?;
        let prefix = index_prefix(index.name, value);
        let mut out = Vec::new();
        for k in self.db.scan_keys(prefix.as_bytes()) {
            let k = k?;
            let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            // The scan is not one snapshot with the reads: skip records deleted or changed since.
            if let Some(v) = self.db.get_json::<V>(&record_key(t.name, &key))?
                && (index.key)(&v).as_deref() == Some(value)
            {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Write the keys of `index` for every record of `t`, once (then `idxbuilt/<index>` is set).
    /// Each record is read again inside the transaction, so writes racing with the build are
    /// neither lost nor indexed twice.
    fn build_index<K: ?Sized, V>(&self, t: &Table<K, V>, index: &Index<V>) -> Result<(), StoreError>
    where
        V: DeserializeOwned,
    {
        if self.db.get_json::<u8>(&built_key(index.name))?.is_some() {
            return Ok(());
        }
        let prefix = format!("rec/{}/", t.name);
        let keys: Vec<Vec<u8>> = self
            .db
            .scan_keys(prefix.as_bytes())
            .collect::<Result<_, _>>()?;
        self.db.transact(|tx| {
            for k in &keys {
                if let Some(v) = tx.get_json::<V>(k)?
                    && let Some(value) = (index.key)(&v)
                {
                    let key = String::from_utf8_lossy(&k[prefix.len()..]);
                    tx.put_raw(&index_key(index.name, &value, &key), &[])?;
                }
            }
            tx.put_json(&built_key(index.name), &1u8)
        })?;
        tracing::info!(index = index.name, records = keys.len(), "index built");
        Ok(())
    }
}

impl Txn<'_, '_> {
    /// One record of a table, as this transaction sees it.
    pub fn get<K, V>(&self, t: &Table<K, V>, key: &K) -> Result<Option<V>, StoreError>
    where
        K: TableKey + ?Sized,
        V: DeserializeOwned,
    {
        self.tx.get_json(&record_key(t.name, &key.to_key()))
    }

    /// Write one record and its index keys.
    pub fn put<K, V>(&mut self, t: &Table<K, V>, key: &K, value: &V) -> Result<(), StoreError>
    where
        K: TableKey + ?Sized,
        V: Serialize + DeserializeOwned,
    {
        write(self.tx, t, &key.to_key(), Some(value)).map(drop)
    }

    /// Remove one record and its index keys; returns whether it existed.
    pub fn delete<K, V>(&mut self, t: &Table<K, V>, key: &K) -> Result<bool, StoreError>
    where
        K: TableKey + ?Sized,
        V: Serialize + DeserializeOwned,
    {
        write(self.tx, t, &key.to_key(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_values_cannot_reach_into_other_prefixes() {
        assert_eq!(index_prefix("i", "a/b"), "idx/i/a%2Fb/");
        assert_eq!(index_prefix("i", "a%2Fb"), "idx/i/a%252Fb/");
        assert_ne!(index_prefix("i", "a/b"), index_prefix("i", "a%2Fb"));
    }
}
