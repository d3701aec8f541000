//! Blob pins: the in-memory registry that keeps blobs from garbage collection while some work
//! reads or is about to reference them (a package build, a transfer serving a partner, an ingest
//! between storing the bytes and committing the record). Shared by every blob store backend (the
//! local `casemesh_store::BlobStore`, the S3 `casemesh_blobs_s3::S3Blobs`), so gc means the same
//! on both. Pins live in memory only: after a restart nothing is in progress, so nothing needs
//! them.

use crate::ids::BlobHash;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Pinned blobs and how many pins each has. Cheap to clone; clones share the registry.
#[derive(Debug, Clone, Default)]
pub struct Pins(Arc<Mutex<BTreeMap<BlobHash, usize>>>);

impl Pins {
    /// Pin `hashes` (a hash listed twice is pinned twice) until the returned guard is dropped.
    pub fn pin(&self, hashes: impl IntoIterator<Item = BlobHash>) -> BlobPins {
        let hashes: Vec<BlobHash> = hashes.into_iter().collect();
        let mut pins = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for h in &hashes {
            *pins.entry(*h).or_insert(0) += 1;
        }
        BlobPins {
            hashes,
            pins: self.clone(),
        }
    }

    /// Whether any guard pins `hash` now.
    pub fn is_pinned(&self, hash: &BlobHash) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(hash)
    }
}

/// Blobs kept from garbage collection until this guard is dropped ([`Pins::pin`]).
#[derive(Debug)]
#[must_use = "the pin lasts only while the guard is alive"]
pub struct BlobPins {
    hashes: Vec<BlobHash>,
    pins: Pins,
}

impl Drop for BlobPins {
    fn drop(&mut self) {
        let mut pins = self.pins.0.lock().unwrap_or_else(|p| p.into_inner());
        for h in &self.hashes {
            if let Some(n) = pins.get_mut(h) {
                *n -= 1;
                if *n == 0 {
                    pins.remove(h);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_stays_pinned_until_its_last_guard_is_dropped() {
        let pins = Pins::default();
        let (a, b) = (BlobHash([1; 32]), BlobHash([2; 32]));
        let first = pins.pin([a, b]);
        let second = pins.pin([a]);
        drop(first);
        assert!(pins.is_pinned(&a), "the second guard still pins a");
        assert!(!pins.is_pinned(&b));
        drop(second);
        assert!(!pins.is_pinned(&a));
    }
}
