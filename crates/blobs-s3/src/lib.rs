//! Evidence blobs on S3-compatible object storage (Garage, MinIO, AWS S3, …), with the
//! guarantees of the local blob store: hashed while uploading, content-addressed, deduplicated,
//! stored only once the object store confirmed it, verified on every read, nothing left visible
//! by a failed or interrupted upload. Issue #18: the node uses it with `[storage] backend =
//! "s3"` ([`backend`]).
//!
//! Layout:
//! - [`config`]: the `[storage]` table (`backend = "s3"`, endpoint, bucket, region, path style,
//!   credentials from the environment or a 0600 file);
//! - [`store`]: [`S3Blobs`] and [`S3BlobWriter`] on object_store's S3 client (keys, writing,
//!   verified reads, gc, sweep);
//! - [`outboard`]: BLAKE3 outboards (bao-tree layout, as in `crates/net`) built while streaming,
//!   and verification of ranged reads against them;
//! - [`error`]: [`S3Error`], each variant saying whether to retry or refuse;
//! - [`backend`]: [`backend::S3Backend`], the store as the node's blob store backend
//!   (`casemesh_store::BlobStore::open_object`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use casemesh_blobs_s3::{S3Blobs, S3Config, StorageConfig, storage_from_toml};
//! let text = std::fs::read_to_string("/var/lib/casemesh/config.toml")?;
//! let StorageConfig::S3(settings) = storage_from_toml(&text)? else { return Ok(()) };
//! let config = S3Config::resolve(&settings, "/var/lib/casemesh".as_ref(), |k| std::env::var(k).ok())?;
//! let blobs = S3Blobs::connect(&config)?;
//! blobs.check().await?;
//! let mut w = blobs.writer(None);
//! w.write(b"evidence bytes").await?;
//! let stored = w.finish().await?;
//! assert_eq!(&blobs.read_range(&stored.hash, 0..8).await?[..], b"evidence");
//! # Ok(()) }
//! ```

pub mod backend;
pub mod config;
pub mod error;
pub mod migrate;
pub mod outboard;
pub mod store;
mod upload;

pub use config::{
    ConfigError, Credentials, S3Config, S3Settings, StorageConfig, s3_settings_from_toml,
    storage_from_toml,
};
pub use error::{Action, S3Error};
pub use store::{OWNER_KEY, OutboardState, S3BlobWriter, S3Blobs, Stored, Swept, Verified};
