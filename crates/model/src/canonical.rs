//! The canonical binary encoding shared by every signed statement (grants, revocations, custody
//! receipts): integers big-endian; `str`/`bytes` = `u32` length + bytes; `list` = `u32` count +
//! items; `opt` = `0x00`, or `0x01` + value. Readers refuse truncated input, counts the rest
//! cannot hold (no allocation from a forged count), bad UTF-8 and trailing bytes.

use crate::grant::{DecodeError, MAX_WIRE_BYTES};

/// The wire form of a single signed statement: `u32` length + canonical bytes, then the 64-byte
/// signature.
pub(crate) fn signed_wire(canonical: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(canonical);
    w.raw(signature);
    w.0
}

/// Split a [`signed_wire`] form (at most [`MAX_WIRE_BYTES`], nothing after the signature) into
/// its canonical bytes and signature.
pub(crate) fn split_signed(bytes: &[u8]) -> Result<(&[u8], [u8; 64]), DecodeError> {
    if bytes.len() > MAX_WIRE_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let mut outer = Reader { buf: bytes };
    let canonical = outer.bytes()?;
    let signature = outer.array::<64>()?;
    outer.finish()?;
    Ok((canonical, signature))
}

#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.raw(&v.to_be_bytes());
    }
    pub(crate) fn count(&mut self, n: usize) {
        // Lengths beyond u32 cannot pass the wire limit; saturate rather than wrap.
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.raw(b);
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// A count of items at least `min_item` bytes each, refused if the rest cannot hold them
    /// (so a forged count cannot make us allocate).
    pub(crate) fn count(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item) > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.count(1)?;
        self.take(n)
    }
    pub(crate) fn str(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Utf8)
    }
    pub(crate) fn option(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::Tag {
                what: "option",
                tag,
            }),
        }
    }
    pub(crate) fn ids(&mut self) -> Result<Vec<uuid::Uuid>, DecodeError> {
        let n = self.count(16)?;
        (0..n)
            .map(|_| Ok(uuid::Uuid::from_bytes(self.array::<16>()?)))
            .collect()
    }
    pub(crate) fn domain(&mut self, domain: &[u8]) -> Result<(), DecodeError> {
        match self.take(domain.len()) {
            Ok(d) if d == domain => Ok(()),
            _ => Err(DecodeError::Domain),
        }
    }
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }
}
