//! BLAKE3 outboards in bao-tree's post-order layout: built while the bytes stream past (no
//! second read, no size known in advance), and used to verify a window of a blob read back with a
//! ranged GET.
//!
//! The layout is the one `crates/net` serves partners from (`partial/outboards/<hash>.obao`):
//! 16 KiB chunk groups (`CHUNK_LOG` = 4), one 64-byte hash pair (left ‖ right) per parent node,
//! in post order, no size suffix; a blob of at most one group has an empty outboard. So an outboard
//! kept beside an object can be handed to the net layer as it is.
//!
//! Building: the group hashes go onto a stack that is merged exactly as BLAKE3 merges chunk
//! chaining values (a merge happens when the next group arrives, so the last merge can be the
//! root). Every merge is a parent node, and merges happen in post order, so the pairs can be
//! appended to the outboard as they appear. The root of that tree is the blob's BLAKE3 hash
//! (checked against `blake3::hash` and bao-tree's own outboard in the tests below).

use std::{io, ops::Range};

use bao_tree::{
    BaoTree, BlockSize, ChunkNum, ChunkRanges,
    io::{outboard::PostOrderOutboard, sync::ReadAt},
    iter::BaoChunk,
};
use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};
use bytes::Bytes;

/// Chunk-group size as log2 of 1 KiB chunks: the same as `casemesh_net::wire::CHUNK_LOG`.
pub const CHUNK_LOG: u8 = 4;

/// Bytes per chunk group (the unit a ranged read is verified in): 16 KiB.
pub const GROUP: u64 = 1024 << CHUNK_LOG;

/// Bytes per hash pair in the outboard.
const PAIR: u64 = 64;

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
/// out as they are produced (`out` of [`OutboardBuilder::update`]).
#[derive(Debug, Default)]
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

/// The chunk-group-aligned window that must be read to verify `range` of a blob of `size` bytes
/// (`range` must lie within the blob and not be empty).
pub fn aligned_window(range: &Range<u64>, size: u64) -> Range<u64> {
    let start = range.start / GROUP * GROUP;
    let end = range.end.div_ceil(GROUP).saturating_mul(GROUP).min(size);
    start..end
}

fn chunk_ranges(window: &Range<u64>) -> ChunkRanges {
    ChunkRanges::from(ChunkNum(window.start / 1024)..ChunkNum(window.end.div_ceil(1024)))
}

/// The byte ranges of the outboard object that verifying `window` (from [`aligned_window`])
/// of a blob of `size` bytes reads: the pairs of the window's ancestors and of the nodes inside
/// it, adjacent ranges merged, in order.
pub fn outboard_ranges(size: u64, window: &Range<u64>) -> Vec<Range<u64>> {
    let tree = tree(size);
    let ranges = chunk_ranges(window);
    let mut out: Vec<Range<u64>> = Vec::new();
    let mut offsets: Vec<u64> = tree
        .ranges_pre_order_chunks_iter_ref(&ranges, 0)
        .filter_map(|item| match item {
            BaoChunk::Parent { node, .. } => tree.post_order_offset(node).map(|o| o.value()),
            _ => None,
        })
        .collect();
    offsets.sort_unstable();
    for o in offsets {
        let r = o * PAIR..o * PAIR + PAIR;
        match out.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Why a window did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The bytes or the hash pairs do not hash up to the blob's hash: the object or its outboard
    /// is corrupt.
    #[error("{0}")]
    Mismatch(String),
}

/// Check `data`, the bytes of `window` (from [`aligned_window`]) of the blob with hash `root`
/// and `size` bytes, against the outboard parts read at [`outboard_ranges`] (`(start, bytes)`).
///
/// Errors: [`VerifyError::Mismatch`] naming the first node or chunk that does not verify (also
/// when the window's length is wrong or an outboard part is short).
pub fn verify_window(
    root: blake3::Hash,
    size: u64,
    window: &Range<u64>,
    data: &[u8],
    outboard_parts: &[(u64, Bytes)],
) -> Result<(), VerifyError> {
    if data.len() as u64 != window.end - window.start {
        return Err(VerifyError::Mismatch(format!(
            "read {} bytes for the window {}..{}",
            data.len(),
            window.start,
            window.end
        )));
    }
    let outboard = PostOrderOutboard {
        root,
        tree: tree(size),
        data: Sparse(outboard_parts),
    };
    let data = Window {
        start: window.start,
        bytes: data,
    };
    bao_tree::io::sync::encode_ranges_validated(data, outboard, &chunk_ranges(window), io::sink())
        .map_err(|e| VerifyError::Mismatch(e.to_string()))
}

/// The bytes of one window of the blob, addressed by blob offset.
struct Window<'a> {
    start: u64,
    bytes: &'a [u8],
}

impl ReadAt for Window<'_> {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let off = pos
            .checked_sub(self.start)
            .and_then(|o| usize::try_from(o).ok())
            .filter(|o| *o <= self.bytes.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "outside the window"))?;
        let n = buf.len().min(self.bytes.len() - off);
        buf[..n].copy_from_slice(&self.bytes[off..off + n]);
        Ok(n)
    }
}

/// The parts of an outboard object that were read, addressed by outboard offset.
struct Sparse<'a>(&'a [(u64, Bytes)]);

impl ReadAt for Sparse<'_> {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        for (start, bytes) in self.0 {
            let end = start + bytes.len() as u64;
            if pos >= *start && pos < end {
                let off = (pos - start) as usize;
                let n = buf.len().min(bytes.len() - off);
                buf[..n].copy_from_slice(&bytes[off..off + n]);
                return Ok(n);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "outboard part not read (short outboard object)",
        ))
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

    fn build(bytes: &[u8], piece: usize) -> (blake3::Hash, Vec<u8>) {
        let mut b = OutboardBuilder::new();
        let mut out = Vec::new();
        for p in bytes.chunks(piece.max(1)) {
            b.update(p, &mut out);
        }
        let root = b.finish(&mut out);
        (root, out)
    }

    fn check(n: usize, piece: usize) {
        let bytes = data(n);
        let (root, ob) = build(&bytes, piece);
        assert_eq!(root, blake3::hash(&bytes), "root, size {n}");
        let reference = PostOrderMemOutboard::create(&bytes, BlockSize::from_chunk_log(CHUNK_LOG));
        assert_eq!(reference.root, root);
        assert_eq!(ob, reference.data, "outboard, size {n} piece {piece}");
        assert_eq!(ob.len() as u64, outboard_size(n as u64));
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_bao_tree_for_any_size_and_pieces(n in 0usize..600_000, piece in 1usize..70_000) {
            check(n, piece);
        }

        #[test]
        fn every_window_verifies_and_a_flip_inside_it_does_not(
            n in 1usize..400_000, a in 0usize..400_000, len in 1usize..100_000, flip in 0usize..100_000,
        ) {
            let bytes = data(n);
            let (root, ob) = build(&bytes, 65_536);
            let start = (a % n) as u64;
            let end = (start + len as u64).min(n as u64);
            let w = aligned_window(&(start..end), n as u64);
            let parts: Vec<(u64, Bytes)> = outboard_ranges(n as u64, &w)
                .into_iter()
                .map(|r| (r.start, Bytes::copy_from_slice(&ob[r.start as usize..r.end as usize])))
                .collect();
            let window = &bytes[w.start as usize..w.end as usize];
            prop_assert!(verify_window(root, n as u64, &w, window, &parts).is_ok());
            let mut bad = window.to_vec();
            let i = flip % bad.len();
            bad[i] ^= 0x40;
            prop_assert!(verify_window(root, n as u64, &w, &bad, &parts).is_err());
        }
    }

    #[test]
    fn a_tampered_pair_is_refused() {
        let n = 40 * GROUP as usize + 7;
        let bytes = data(n);
        let (root, ob) = build(&bytes, 100_000);
        let w = aligned_window(&(5 * GROUP..6 * GROUP), n as u64);
        let mut parts: Vec<(u64, Bytes)> = outboard_ranges(n as u64, &w)
            .into_iter()
            .map(|r| {
                (
                    r.start,
                    Bytes::copy_from_slice(&ob[r.start as usize..r.end as usize]),
                )
            })
            .collect();
        let window = &bytes[w.start as usize..w.end as usize];
        assert!(verify_window(root, n as u64, &w, window, &parts).is_ok());
        let mut first = parts[0].1.to_vec();
        first[3] ^= 1;
        parts[0].1 = Bytes::from(first);
        assert!(verify_window(root, n as u64, &w, window, &parts).is_err());
    }
}
