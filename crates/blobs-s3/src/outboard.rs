//! Verifying a window of a blob read back with a ranged GET against the blob's BLAKE3 outboard.
//!
//! The outboard itself is built while the bytes are uploaded, with the blob store's streaming
//! [`OutboardBuilder`] (`casemesh_store::outboard`, re-exported here with its layout constants):
//! bao-tree's post-order layout, 16 KiB chunk groups, no size suffix, the one `crates/net`
//! serves partners from. So an outboard kept beside an object can be handed to the net layer as
//! it is.

use std::{io, ops::Range};

use bao_tree::{
    ChunkNum, ChunkRanges,
    io::{outboard::PostOrderOutboard, sync::ReadAt},
    iter::BaoChunk,
};
use bytes::Bytes;

pub use casemesh_store::outboard::{
    CHUNK_LOG, GROUP, OutboardBuilder, OutboardDigest, outboard_size, tree,
};

/// Bytes per hash pair in the outboard.
const PAIR: u64 = 64;

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
    use proptest::prelude::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n as u32).map(|i| (i ^ (i >> 11)) as u8).collect()
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
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
