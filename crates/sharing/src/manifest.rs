//! A share's manifest: its head (the case's fields and folder tree) built from the store, and its
//! item lists, written inline or as an item-list blob ([`ListBuilder`]) and read back line by line
//! ([`read_list`]), so neither side ever holds a whole large list in memory or in one message.

use crate::error::{Result, SharingError};
use crate::wire::{
    BlobRef, INLINE_MAX, ItemList, MAX_LIST_LINE, ManifestEvidence, ManifestHead,
    ManifestTranscript,
};
use casemesh_model::case::{Case, Evidence};
use casemesh_model::ids::ShareId;
use casemesh_model::time::Timestamp;
use casemesh_store::{BlobPins, BlobStore, BlobWriter};
use std::io::BufRead;

/// The manifest entry of one evidence item.
pub fn entry(ev: &Evidence) -> ManifestEvidence {
    ManifestEvidence {
        id: ev.id,
        display_id: ev.display_id.clone(),
        name: ev.name.clone(),
        description: ev.description.clone(),
        folder: ev.folder,
        hash: ev.hash,
        size: ev.size,
        media_type: ev.media_type.clone(),
        transcripts: ev
            .transcripts
            .iter()
            .map(|t| ManifestTranscript {
                name: t.name.clone(),
                hash: t.hash,
                size: t.size,
            })
            .collect(),
    }
}

/// The head of a share of `case` with `items` items sent so far.
pub fn head(share: ShareId, case: &Case, items: u64, now: Timestamp) -> ManifestHead {
    ManifestHead {
        share,
        source_case: case.id,
        case_number: case.case_number.clone(),
        title: case.title.clone(),
        description: case.description.clone(),
        folders: case.folders.clone(),
        items,
        made_at: now,
    }
}

/// The sharer's case as the receiver reconstructs it from a head (for the folder rules).
pub fn sharer_case(m: &ManifestHead) -> Case {
    let mut c = Case::new(
        &m.case_number,
        &m.title,
        &m.description,
        casemesh_model::ids::UserId::random(),
        m.made_at,
    );
    c.id = m.source_case;
    c.folders = m.folders.clone();
    c
}

/// Builds an [`ItemList`]: entries are kept in memory up to [`INLINE_MAX`] encoded bytes, then
/// everything spills into an item-list blob written as it goes (fsynced by [`finish`]).
///
/// [`finish`]: ListBuilder::finish
pub struct ListBuilder {
    blobs: BlobStore,
    inline: Vec<ManifestEvidence>,
    inline_bytes: usize,
    writer: Option<BlobWriter>,
    count: u64,
}

impl ListBuilder {
    /// An empty list whose blob, if it needs one, goes to `blobs`.
    pub fn new(blobs: &BlobStore) -> ListBuilder {
        ListBuilder {
            blobs: blobs.clone(),
            inline: Vec::new(),
            inline_bytes: 0,
            writer: None,
            count: 0,
        }
    }

    /// Add one item.
    pub fn push(&mut self, item: ManifestEvidence) -> Result<()> {
        self.count += 1;
        if let Some(w) = &mut self.writer {
            return write_line(w, &item);
        }
        self.inline_bytes += serde_json::to_vec(&item).map(|v| v.len()).unwrap_or(0) + 1;
        self.inline.push(item);
        if self.inline_bytes > INLINE_MAX {
            let mut w = self.blobs.writer()?;
            for it in self.inline.drain(..) {
                write_line(&mut w, &it)?;
            }
            self.writer = Some(w);
        }
        Ok(())
    }

    /// Items so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The list. A blob list is durable in the blob store and pinned by the returned pins, which
    /// keep it from garbage collection until the caller's transaction holds it (see
    /// `casemesh_store::Txn::hold_blob`).
    pub fn finish(self) -> Result<(ItemList, Option<BlobPins>)> {
        match self.writer {
            None => Ok((ItemList::Inline(self.inline), None)),
            Some(w) => {
                let (hash, size, pins) = self.blobs.finish_pinned(w)?;
                Ok((
                    ItemList::Blob {
                        list: BlobRef { hash, size },
                        count: self.count,
                    },
                    Some(pins),
                ))
            }
        }
    }
}

fn write_line(w: &mut BlobWriter, item: &ManifestEvidence) -> Result<()> {
    let mut line =
        serde_json::to_vec(item).map_err(|e| SharingError::Internal(format!("encode: {e}")))?;
    line.push(b'\n');
    w.write(&line)?;
    Ok(())
}

/// Read an item-list blob (a partner's: checked like user input) one line at a time, handing each
/// entry to `f`. Fails on a line over [`MAX_LIST_LINE`] bytes, malformed JSON, or a count other
/// than `expected`.
pub fn read_list(
    file: impl std::io::Read,
    expected: u64,
    mut f: impl FnMut(ManifestEvidence) -> Result<()>,
) -> Result<()> {
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read = std::io::Read::take(&mut reader, MAX_LIST_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| SharingError::Internal(format!("read item list: {e}")))?;
        if read == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            return Err(SharingError::Invalid(format!(
                "item list line {} is longer than {MAX_LIST_LINE} bytes or unterminated",
                n + 1
            )));
        }
        let item: ManifestEvidence = serde_json::from_slice(&line[..line.len() - 1])
            .map_err(|e| SharingError::Invalid(format!("item list line {}: {e}", n + 1)))?;
        n += 1;
        if n > expected {
            return Err(SharingError::Invalid(format!(
                "item list holds more than the {expected} items announced"
            )));
        }
        f(item)?;
    }
    if n != expected {
        return Err(SharingError::Invalid(format!(
            "item list holds {n} items, {expected} announced"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use casemesh_model::ids::{BlobHash, EvidenceId};

    fn item(n: usize) -> ManifestEvidence {
        ManifestEvidence {
            id: EvidenceId::random(),
            display_id: format!("E-{n}"),
            name: format!("photo {n}.jpg"),
            description: "x".repeat(n % 300),
            folder: None,
            hash: BlobHash::of(format!("{n}").as_bytes()),
            size: n as u64,
            media_type: "image/jpeg".into(),
            transcripts: vec![],
        }
    }

    fn read_all(blobs: &BlobStore, list: &ItemList) -> Result<Vec<ManifestEvidence>> {
        match list {
            ItemList::Inline(v) => Ok(v.clone()),
            ItemList::Blob { list, count } => {
                let (file, _) = blobs.open_verified(&list.hash)?;
                let mut out = Vec::new();
                read_list(file, *count, |e| {
                    out.push(e);
                    Ok(())
                })?;
                Ok(out)
            }
        }
    }

    #[test]
    fn short_lists_stay_inline_and_long_ones_spill_into_a_blob_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        for n in [0usize, 1, 10, 3_000] {
            let items: Vec<_> = (0..n).map(item).collect();
            let mut b = ListBuilder::new(&blobs);
            for it in &items {
                b.push(it.clone()).unwrap();
            }
            let (list, _pins) = b.finish().unwrap();
            assert_eq!(list.count(), n as u64);
            assert_eq!(matches!(list, ItemList::Blob { .. }), n == 3_000, "n={n}");
            if let ItemList::Inline(_) = &list {
                let bytes = serde_json::to_vec(&list).unwrap();
                assert!(bytes.len() < INLINE_MAX + 64 * 1024);
            }
            assert_eq!(read_all(&blobs, &list).unwrap(), items);
        }
    }

    #[test]
    fn hostile_lists_are_refused() {
        let ok = serde_json::to_string(&item(1)).unwrap();
        let long = format!("{}\n", "x".repeat(MAX_LIST_LINE + 10));
        let cases: Vec<(String, u64)> = vec![
            (format!("{ok}\n{ok}\n"), 1),    // more than announced
            (format!("{ok}\n"), 2),          // fewer than announced
            (ok.clone(), 1),                 // unterminated
            ("{not json}\n".to_string(), 1), // malformed
            (long, 1),                       // oversize line
            (format!("{ok}\n\n"), 1),        // an empty line is malformed
        ];
        for (text, expected) in cases {
            let r = read_list(text.as_bytes(), expected, |_| Ok(()));
            assert!(
                matches!(r, Err(SharingError::Invalid(_))),
                "accepted {:?}",
                &text[..text.len().min(60)]
            );
        }
        read_list(format!("{ok}\n{ok}\n").as_bytes(), 2, |_| Ok(())).unwrap();
    }
}
