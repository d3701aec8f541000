//! Persistent state of a casemesh node: a sled-backed repository, a content-addressed blob store
//! and the hash-chained audit log.
//!
//! Layout:
//! - [`db`](crate::db) (private): the sled adapter, the only file that names sled.
//! - [`repo`]: the [`Store`], typed records (users, tokens, cases, evidence, blob references,
//!   audit trail) and their atomic updates.
//! - [`table`]: typed tables ([`Table`]) of other crates' records (partners, shares, links, …)
//!   under `rec/<table>/<key>`, with secondary [`Index`]es kept exact in every write.
//! - [`case_numbers`]: the rule that keeps case numbers unambiguous (refused when taken; a
//!   number names the local case first) and its index.
//! - [`access`]: case access lists (who inside the organization may open how much of a case).
//! - [`blobs`]: the [`BlobStore`], evidence bytes by BLAKE3 address, written once, verified on read.
//! - [`outboard`]: BLAKE3 outboards built while a blob is written ([`OutboardBuilder`]), the
//!   layout partners are served from.
//! - [`error`]: the [`StoreError`] type.
//! - [`clock`]: the node's time source, [`Clock`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), casemesh_store::StoreError> {
//! let store = casemesh_store::Store::open(std::path::Path::new("/var/lib/casemesh"))?;
//! let mut w = store.blobs().writer()?;
//! w.write(b"evidence bytes")?;
//! let (hash, size) = w.finish()?;
//! # Ok(()) }
//! ```

pub mod access;
pub mod blobs;
pub mod case_numbers;
pub mod clock;
mod db;
pub mod error;
pub mod outboard;
pub mod repo;
pub mod table;

pub use blobs::BlobPins;
pub use blobs::BlobStore;
pub use blobs::BlobWriter;
pub use clock::Clock;
pub use error::StoreError;
pub use outboard::OutboardBuilder;
pub use repo::{Actor, BlobReport, Store, Txn};
pub use table::{Index, Table, TableKey};
