//! Pure domain types and rules of casemesh.
//!
//! Nothing in this crate does I/O, spawns tasks or touches a database: it holds the vocabulary of
//! the system (ids, organizations, users, cases, evidence, permissions, retention, the audit chain,
//! share grants) and the rules over it, so that every rule can be unit- and property-tested alone.
//!
//! Layout:
//! - [`ids`]: identifier newtypes ([`ids::CaseId`], [`ids::BlobHash`], …).
//! - [`time`]: the one timestamp type used everywhere.
//! - [`org`]: users, groups, permissions, feature flags, and the permission check.
//! - [`access`]: per-case access lists and who may see how much of a case.
//! - [`case`]: cases, the folder tree and evidence items; folder-path rules.
//! - [`names`]: validation of user-supplied names (folders, files).
//! - [`retention`]: retention policies and the "is this past retention" rule.
//! - [`audit`]: the hash-chained audit trail and its verification.
//! - [`audit_head`]: a signed checkpoint of a case's audit chain (offline custody checks).
//! - [`custody`]: signed holding receipts and stop acknowledgements a receiving organization
//!   gives the sharer.
//! - [`grant`], [`policy`], [`folder_sync`]: sharing (signed grants, policies and their
//!   attenuation, the case-synchronization folder rules).
//! - `fuzzing` (feature `fuzzing`, off by default): helpers the fuzz tests of several crates share.
//!
//! ```
//! use casemesh_model::org::{Permission, User};
//! let mut user = User::new("alice", "Alice Example");
//! user.permissions.insert(Permission::CaseShare);
//! assert!(user.permissions.contains(&Permission::CaseShare));
//! ```

pub mod access;
pub mod audit;
pub mod audit_head;
mod canonical;
pub mod case;
pub mod custody;
pub mod folder_sync;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod grant;
pub mod hex32;
pub mod ids;
pub mod names;
pub mod org;
pub mod pins;
pub mod policy;
pub mod retention;
pub mod time;
pub mod timeline;
