//! BLAKE3 outboards in bao-tree's post-order layout, built while a blob's bytes stream past (no
//! second read, no size known in advance): [`OutboardBuilder`].
//!
//! The layout is the one `crates/net` serves partners from: 16 KiB chunk groups ([`CHUNK_LOG`] =
//! 4), one 64-byte hash pair (left ‖ right) per parent node, in post order, no size suffix; a blob
//! of at most one group has an empty outboard. Both blob backends keep one beside each blob they
//! ingest: the `fs` backend as `blobs/<2 hex>/<64 hex>.obao` (see [`crate::blobs`]), the S3
//! backend as an object (`casemesh_blobs_s3`), so serving a blob to a partner never waits for a
//! second pass over its bytes.
//!
//! Building: the group hashes go onto a stack that is merged exactly as BLAKE3 merges chunk
//! chaining values (a merge happens when the next group arrives, so the last merge can be the
//! root). Every merge is a parent node, and merges happen in post order, so the pairs can be
//! appended to the outboard as they appear. The root of that tree is the blob's BLAKE3 hash
//! (checked against `blake3::hash` and bao-tree's own outboard in the tests below).
//!
//! ```
//! use casemesh_store::outboard::{OutboardBuilder, outboard_size};
//! let bytes = vec![7u8; 100_000];
//! let (mut builder, mut outboard) = (OutboardBuilder::new(), Vec::new());
//! for piece in bytes.chunks(4096) {
//!     builder.update(piece, &mut outboard);
//! }
//! assert_eq!(builder.finish(&mut outboard), blake3::hash(&bytes));
//! assert_eq!(outboard.len() as u64, outboard_size(bytes.len() as u64));
//! ```

use bao_tree::{BaoTree, BlockSize};
use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

/// Chunk-group size as log2 of 1 KiB chunks: the same as `casemesh_net::wire::CHUNK_LOG`.
pub const CHUNK_LOG: u8 = 4;

/// Bytes per chunk group (the unit a ranged read is verified in): 16 KiB.
pub const GROUP: u64 = 1024 << CHUNK_LOG;

/// The bao tree of a blob of `size` bytes with this crate's chunk groups.
pub fn tree(size: u64) -> BaoTree {
    BaoTree::new(size, BlockSize::from_chunk_log(CHUNK_LOG))
}

/// Size in bytes of the outboard of a blob of `size` bytes (`(groups - 1) * 64`; 0 up to 16 KiB).
pub fn outboard_size(size: u64) -> u64 {
    tree(size).outboard_size()
}

/// Computes a blob's BLAKE3 hash and its post-order outboard from bytes fed in any pieces.
///
/// Memory: one chunk group (16 KiB) plus one hash per tree level; the outboard bytes are handed
/// out as they are produced (`out` of [`OutboardBuilder::update`]). Cloning it is how to learn
/// the hash of the bytes fed so far without ending the blob (finish the clone).
#[derive(Debug, Default, Clone)]
pub struct OutboardBuilder {
    /// The current, not yet hashed, chunk group: hashed once more bytes follow (then it is not
    /// the root) or at [`OutboardBuilder::finish`].
    group: Vec<u8>,
    /// Chunk groups hashed so far.
    groups: u64,
    /// Chaining values of complete subtrees, largest (leftmost) first.
    stack: Vec<blake3::Hash>,
    /// Bytes fed so far.
    size: u64,
}

impl OutboardBuilder {
    /// A builder for a new blob.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Feed the next bytes; appends the outboard bytes this completes (64 per parent) to `out`.
    pub fn update(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        let group = GROUP as usize;
        self.size += bytes.len() as u64;
        while !bytes.is_empty() {
            if self.group.len() == group {
                // More bytes follow, so the buffered group is not the whole blob.
                let g = std::mem::take(&mut self.group);
                self.push_group(&g, out);
                self.group = g;
                self.group.clear();
            }
            if self.group.is_empty() && bytes.len() > group {
                // A whole group with more bytes after it: hash it in place.
                let (g, rest) = bytes.split_at(group);
                self.push_group(g, out);
                bytes = rest;
                continue;
            }
            let take = (group - self.group.len()).min(bytes.len());
            self.group.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
    }

    fn push_group(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(self.groups * GROUP);
        hasher.update(data);
        let cv: ChainingValue = hasher.finalize_non_root();
        // BLAKE3's rule: before pushing subtree number n, merge until the stack holds as many
        // subtrees as n has one bits (the complete power-of-two subtrees left of it).
        while self.stack.len() > self.groups.count_ones() as usize {
            self.merge(false, out);
        }
        self.stack.push(blake3::Hash::from(cv));
        self.groups += 1;
    }

    /// Merge the two rightmost subtrees into their parent, writing the pair to `out`.
    fn merge(&mut self, root: bool, out: &mut Vec<u8>) -> blake3::Hash {
        let (Some(right), Some(left)) = (self.stack.pop(), self.stack.pop()) else {
            unreachable!("merge with fewer than two subtrees");
        };
        out.extend_from_slice(left.as_bytes());
        out.extend_from_slice(right.as_bytes());
        let (l, r) = (*left.as_bytes(), *right.as_bytes());
        let parent = if root {
            merge_subtrees_root(&l, &r, Mode::Hash)
        } else {
            blake3::Hash::from(merge_subtrees_non_root(&l, &r, Mode::Hash))
        };
        self.stack.push(parent);
        parent
    }

    /// The blob's BLAKE3 hash; appends the rest of the outboard to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> blake3::Hash {
        if self.groups == 0 {
            // At most one group: the blob is the root leaf and the outboard is empty.
            return blake3::hash(&self.group);
        }
        let last = std::mem::take(&mut self.group);
        self.push_group(&last, out);
        while self.stack.len() > 2 {
            self.merge(false, out);
        }
        self.merge(true, out)
    }
}

/// An [`OutboardBuilder`] that keeps only the BLAKE3 hash of the outboard it builds: to check a
/// stored outboard against the one a blob's bytes give, memory flat in the blob's size.
#[derive(Debug, Default)]
pub struct OutboardDigest {
    builder: OutboardBuilder,
    /// Pairs produced by the last update, hashed and cleared at once.
    pairs: Vec<u8>,
    outboard: blake3::Hasher,
}

impl OutboardDigest {
    /// A digest for a new blob.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes of the blob.
    pub fn update(&mut self, bytes: &[u8]) {
        self.builder.update(bytes, &mut self.pairs);
        self.outboard.update(&self.pairs);
        self.pairs.clear();
    }

    /// The bytes fed, the blob's BLAKE3 hash and the BLAKE3 hash of its outboard (of the
    /// outboard file's bytes, as [`OutboardBuilder`] writes them).
    pub fn finish(mut self) -> (u64, blake3::Hash, blake3::Hash) {
        let size = self.builder.size();
        let root = self.builder.finish(&mut self.pairs);
        self.outboard.update(&self.pairs);
        (size, root, self.outboard.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bao_tree::io::outboard::PostOrderMemOutboard;
    use proptest::prelude::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n as u64)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    fn check(n: usize, piece: usize) {
        let bytes = data(n);
        let mut b = OutboardBuilder::new();
        let mut ob = Vec::new();
        for p in bytes.chunks(piece.max(1)) {
            b.update(p, &mut ob);
        }
        let so_far = b.clone().finish(&mut Vec::new());
        let root = b.finish(&mut ob);
        assert_eq!(root, blake3::hash(&bytes), "root, size {n}");
        assert_eq!(so_far, root, "a finished clone gives the same root");
        let reference = PostOrderMemOutboard::create(&bytes, BlockSize::from_chunk_log(CHUNK_LOG));
        assert_eq!(reference.root, root);
        assert_eq!(ob, reference.data, "outboard, size {n} piece {piece}");
        assert_eq!(ob.len() as u64, outboard_size(n as u64));
        let mut digest = OutboardDigest::new();
        for p in bytes.chunks(piece.max(1)) {
            digest.update(p);
        }
        assert_eq!(digest.finish(), (n as u64, root, blake3::hash(&ob)));
    }

    #[test]
    fn matches_blake3_and_bao_tree_at_the_edges() {
        let g = GROUP as usize;
        for n in [
            0,
            1,
            1024,
            g - 1,
            g,
            g + 1,
            2 * g,
            3 * g + 5,
            4 * g,
            7 * g,
            8 * g,
            8 * g + 1,
            33 * g - 1,
        ] {
            for piece in [1000, g, g + 1, 3 * g, n.max(1)] {
                check(n, piece);
            }
        }
    }

    /// Throughput of the builder next to the plain hasher it replaced at ingest (CPU only, in
    /// memory): `cargo test --release -p casemesh-store --lib -- --ignored --nocapture
    /// hashing_throughput`.
    #[test]
    #[ignore = "a measurement, not a check; run it in release"]
    fn hashing_throughput() {
        let bytes = data(256 << 20);
        let mib = bytes.len() as f64 / (1 << 20) as f64;
        let time = |name: &str, f: &dyn Fn() -> blake3::Hash| {
            let runs: Vec<f64> = (0..3)
                .map(|_| {
                    let t = std::time::Instant::now();
                    assert_eq!(f(), blake3::hash(&bytes));
                    t.elapsed().as_secs_f64()
                })
                .collect();
            let best = runs.iter().cloned().fold(f64::MAX, f64::min);
            println!("{name}: {:.0} MiB/s (best of 3)", mib / best);
        };
        for piece in [64 << 10, 1 << 20] {
            time(
                &format!("blake3::Hasher::update, {} KiB pieces", piece >> 10),
                &|| {
                    let mut h = blake3::Hasher::new();
                    for p in bytes.chunks(piece) {
                        h.update(p);
                    }
                    h.finalize()
                },
            );
            time(
                &format!("blake3::Hasher::update_rayon, {} KiB pieces", piece >> 10),
                &|| {
                    let mut h = blake3::Hasher::new();
                    for p in bytes.chunks(piece) {
                        h.update_rayon(p);
                    }
                    h.finalize()
                },
            );
            time(
                &format!("OutboardBuilder::update, {} KiB pieces", piece >> 10),
                &|| {
                    let (mut b, mut ob) = (OutboardBuilder::new(), Vec::new());
                    bytes.chunks(piece).for_each(|p| {
                        b.update(p, &mut ob);
                        ob.clear();
                    });
                    b.finish(&mut ob)
                },
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_bao_tree_for_any_size_and_pieces(n in 0usize..600_000, piece in 1usize..70_000) {
            check(n, piece);
        }
    }
}
