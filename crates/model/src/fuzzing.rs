//! Test-only helpers shared by the fuzz tests of several crates (`model`, `sharing`, `package`).
//!
//! Compiled only with the cargo feature `fuzzing` (off by default), which those crates turn on
//! in their `[dev-dependencies]`, so nothing here reaches a release build. `casemesh-model`'s own
//! fuzz test (`tests/fuzz_grant.rs`) cannot enable a feature of its own package without a
//! dev-dependency on itself, so it includes this file by path instead (`#[path]`); keep the file
//! free of `crate::` paths and outside dependencies for that reason. [`measured!`] names
//! `allocation_counter` only in its expansion, which resolves in the calling test crate: each
//! fuzz test has that dev-dependency (its counting global allocator must be the test binary's,
//! never a library's: the node binary installs mimalloc).

/// Where each edit kind starts and ends in the `op` byte of an edit, for [`mutate`].
///
/// An `op` below `flip_end` flips bits of the byte at the position (XOR with `op`, at least 1);
/// `flip_end..cut_end` truncates the input there; `cut_end..fill_end` writes `0xff` over up to 4
/// bytes from there (huge sizes, counts and offsets in binary formats); `fill_end..=255` inserts
/// the byte `op` there. Set `fill_end == cut_end` for no fill edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditKinds {
    /// First `op` that is no longer a bit flip.
    pub flip_end: u8,
    /// First `op` that is no longer a cut.
    pub cut_end: u8,
    /// First `op` that is no longer a `0xff` fill (an insert from here on).
    pub fill_end: u8,
}

impl EditKinds {
    /// Flips (op < 200), cuts (200..228) and inserts (the rest): for text and CBOR/JSON encodings.
    pub const TEXT: EditKinds = EditKinds {
        flip_end: 200,
        cut_end: 228,
        fill_end: 228,
    };
    /// Flips (op < 160), cuts (160..176), `0xffffffff` fills (176..208) and inserts (the rest):
    /// for binary containers (ZIP, ISO) whose sizes and offsets are worth blowing up.
    pub const BINARY: EditKinds = EditKinds {
        flip_end: 160,
        cut_end: 176,
        fill_end: 208,
    };
}

/// Apply `edits` to a copy of `base` in order and return it: each `(pos, op)` acts at byte
/// `pos % len` of the input as edited so far, with the kind `op` selects in `kinds` (see
/// [`EditKinds`]). Stops early once the input is empty. `pos` is any unsigned integer up to 64
/// bits, so fuzz tests keep the position width their stored seeds were drawn with.
pub fn mutate<P: Copy + Into<u64>>(base: &[u8], edits: &[(P, u8)], kinds: EditKinds) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(pos, op) in edits {
        if out.is_empty() {
            break;
        }
        let at = (pos.into() % out.len() as u64) as usize;
        if op < kinds.flip_end {
            out[at] ^= op.max(1);
        } else if op < kinds.cut_end {
            out.truncate(at);
        } else if op < kinds.fill_end {
            let end = (at + 4).min(out.len());
            out[at..end].fill(0xff);
        } else {
            out.insert(at, op);
        }
    }
    out
}

/// `measured!(|| expr)`: run the closure and give `(its result, peak bytes the current thread
/// held while it ran)`, the figure the fuzz tests bound decoding memory with. Expands to a call
/// of `allocation_counter::measure`, so the calling crate needs `allocation-counter` as a
/// dev-dependency (see the module doc).
#[macro_export]
macro_rules! measured {
    ($f:expr) => {{
        let mut out = None;
        let info = allocation_counter::measure(|| out = Some(($f)()));
        (out.expect("the measured closure ran"), info.bytes_max)
    }};
}
