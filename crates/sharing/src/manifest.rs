//! A share's manifest: its head (the case's fields and folder tree) and item entries, carrying
//! only what the share's scope and policy let leave (issue #12), and its
//! item lists, written inline or as an item-list blob ([`ListBuilder`]) and read back line by line
//! ([`read_list`]), so neither side ever holds a whole large list in memory or in one message.

use crate::error::{Bad, Result, SharingError};
use crate::wire::{
    BlobRef, INLINE_MAX, ItemList, MAX_LIST_LINE, ManifestEvidence, ManifestHead,
    ManifestTranscript,
};
use casemesh_model::case::{Case, Evidence, Folder};
use casemesh_model::grant::Scope;
use casemesh_model::ids::{FolderId, ShareId};
use casemesh_model::policy::{SharedData, SharingPolicy};
use casemesh_model::time::Timestamp;
use casemesh_store::{BlobPins, BlobStore, BlobWriter};
use std::collections::BTreeSet;
use std::io::BufRead;

/// The manifest entry of one evidence item, with only what `policy` lets leave ([`disclosed`]).
pub fn entry(ev: &Evidence, policy: &SharingPolicy) -> ManifestEvidence {
    let ev = disclosed(ev, policy);
    ManifestEvidence {
        id: ev.id,
        display_id: ev.display_id,
        name: ev.name,
        description: ev.description,
        folder: ev.folder,
        hash: ev.hash,
        size: ev.size,
        media_type: ev.media_type,
        transcripts: ev
            .transcripts
            .into_iter()
            .map(|t| ManifestTranscript {
                name: t.name,
                hash: t.hash,
                size: t.size,
            })
            .collect(),
    }
}

/// An evidence item as a partner may see it under `policy` (its "what data" dimension, issue
/// #12): a withheld display id or description is empty, a withheld name is replaced by
/// [`withheld_name`], withheld transcripts are dropped. The bytes' hash, size and media type
/// always stay: they are what is shared. The manifest entry and the share's metadata document
/// are both built from this, so they agree.
pub fn disclosed(ev: &Evidence, policy: &SharingPolicy) -> Evidence {
    let mut out = ev.clone();
    if !policy.discloses(SharedData::EvidenceName) {
        out.name = withheld_name(ev, policy);
    }
    if !policy.discloses(SharedData::EvidenceDisplayId) {
        out.display_id.clear();
    }
    if !policy.discloses(SharedData::EvidenceDescription) {
        out.description.clear();
    }
    if !policy.discloses(SharedData::Transcripts) {
        out.transcripts.clear();
    }
    out
}

/// The case fields of `case` as the partner of `share` may see them under `policy`: a withheld
/// case number becomes [`withheld_case_number`], a withheld title [`WITHHELD_TITLE`], a withheld
/// description empty. Returns (case number, title, description).
pub fn disclosed_case_fields(
    share: ShareId,
    case: &Case,
    policy: &SharingPolicy,
) -> (String, String, String) {
    (
        if policy.discloses(SharedData::CaseNumber) {
            case.case_number.clone()
        } else {
            withheld_case_number(share)
        },
        if policy.discloses(SharedData::CaseTitle) {
            case.title.clone()
        } else {
            WITHHELD_TITLE.to_owned()
        },
        if policy.discloses(SharedData::CaseDescription) {
            case.description.clone()
        } else {
            String::new()
        },
    )
}

/// The name an item travels under when its name is withheld: its display id when that may leave,
/// else `item-` and the first 12 hex digits of its hash; plus the original extension when it is a
/// short alphanumeric one (so the partner's tools can open the file; the media type travels
/// anyway).
pub fn withheld_name(ev: &Evidence, policy: &SharingPolicy) -> String {
    let stem = if policy.discloses(SharedData::EvidenceDisplayId)
        && casemesh_model::names::validate_name(&ev.display_id).is_ok()
    {
        ev.display_id.clone()
    } else {
        format!("item-{}", &ev.hash.to_hex()[..12])
    };
    match ev.name.rsplit_once('.') {
        Some((_, ext))
            if (1..=8).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!("{stem}.{ext}")
        }
        _ => stem,
    }
}

/// The case number a share shows when the policy withholds it: `SHARE-` and the first 8 hex
/// digits of the share id, so the partner can still tell shares apart.
pub fn withheld_case_number(share: ShareId) -> String {
    format!("SHARE-{}", &share.to_string().replace('-', "")[..8])
}

/// The title a share shows when the policy withholds it.
pub const WITHHELD_TITLE: &str = "(title withheld by the sharing policy)";

/// The folders of `case` a partner may learn under `scope` (issue #12: "the manifest carries only
/// the shared part of the case (no names of unshared folders)"):
/// - the whole case: every folder;
/// - selected folders: those folders, everything below them, and the folders on their path (so
///   the partner's copy keeps them where they were; seed 002's folder rules) — no sibling or other
///   branch;
/// - selected evidence: the folders holding those items (`item_folders`) and their ancestors (the
///   items' own location).
///
/// The folders keep the case's order; the receiver checks the tree as a whole.
pub fn shared_folders(
    case: &Case,
    scope: &Scope,
    item_folders: &BTreeSet<FolderId>,
) -> Vec<Folder> {
    match scope {
        Scope::EntireCase => case.folders.clone(),
        Scope::Folders(roots) => {
            let keep: BTreeSet<FolderId> = case
                .folders
                .iter()
                .filter(|f| {
                    roots
                        .iter()
                        .any(|r| case.is_within(Some(f.id), *r) || case.is_within(Some(*r), f.id))
                })
                .map(|f| f.id)
                .collect();
            case.folders
                .iter()
                .filter(|f| keep.contains(&f.id))
                .cloned()
                .collect()
        }
        Scope::Evidence(_) => {
            let keep: BTreeSet<FolderId> = case
                .folders
                .iter()
                .filter(|f| item_folders.iter().any(|i| case.is_within(Some(*i), f.id)))
                .map(|f| f.id)
                .collect();
            case.folders
                .iter()
                .filter(|f| keep.contains(&f.id))
                .cloned()
                .collect()
        }
    }
}

/// The head of a share of `case` with `items` items sent so far, carrying only the `folders` the
/// scope shares ([`shared_folders`]) and the case fields `policy` lets leave
/// ([`disclosed_case_fields`]).
pub fn head(
    share: ShareId,
    case: &Case,
    folders: Vec<Folder>,
    policy: &SharingPolicy,
    items: u64,
    now: Timestamp,
) -> ManifestHead {
    let (case_number, title, description) = disclosed_case_fields(share, case, policy);
    ManifestHead {
        share,
        source_case: case.id,
        case_number,
        title,
        description,
        folders,
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
            return Err(Bad::ListLineTooLong {
                line: n + 1,
                max: MAX_LIST_LINE,
            }
            .into());
        }
        let item: ManifestEvidence = serde_json::from_slice(&line[..line.len() - 1])
            .map_err(|error| Bad::ListLine { line: n + 1, error })?;
        n += 1;
        if n > expected {
            return Err(Bad::ListTooLong {
                announced: expected,
            }
            .into());
        }
        f(item)?;
    }
    if n != expected {
        return Err(Bad::ListCount {
            found: n,
            announced: expected,
        }
        .into());
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

    fn case_with_tree() -> (Case, FolderId, FolderId, FolderId, FolderId) {
        let mut c = Case::new(
            "2026-CR-0042",
            "State v. Example",
            "Burglary",
            casemesh_model::ids::UserId::random(),
            Timestamp(0),
        );
        let witnesses = c.create_folder("Suspect interviews/Witnesses").unwrap();
        let suspect = c.resolve("Suspect interviews").unwrap().unwrap();
        let photos = c.create_folder("Scene/Photos").unwrap();
        let scene = c.resolve("Scene").unwrap().unwrap();
        (c, suspect, witnesses, scene, photos)
    }

    fn names(fs: &[Folder]) -> BTreeSet<String> {
        fs.iter().map(|f| f.name.clone()).collect()
    }

    #[test]
    fn a_folder_share_names_no_folder_outside_it() {
        let (c, _suspect, witnesses, scene, photos) = case_with_tree();
        let all = shared_folders(&c, &Scope::EntireCase, &BTreeSet::new());
        assert_eq!(all.len(), 4);
        // A subfolder: it and its path, not its sibling branch nor the rest.
        let w = shared_folders(&c, &Scope::Folders(vec![witnesses]), &BTreeSet::new());
        assert_eq!(
            names(&w),
            BTreeSet::from(["Suspect interviews".to_owned(), "Witnesses".to_owned()])
        );
        Case::check_folder_tree(&w).unwrap();
        // A folder with a subfolder: both, the tree kept.
        let s = shared_folders(&c, &Scope::Folders(vec![scene]), &BTreeSet::new());
        assert_eq!(
            names(&s),
            BTreeSet::from(["Scene".to_owned(), "Photos".to_owned()])
        );
        let p = s.iter().find(|f| f.id == photos).unwrap();
        assert_eq!(p.parent, Some(scene));
        Case::check_folder_tree(&s).unwrap();
        // Selected evidence in Scene/Photos: that folder and its ancestors only.
        let e = shared_folders(
            &c,
            &Scope::Evidence(vec![EvidenceId::random()].into()),
            &BTreeSet::from([photos]),
        );
        assert_eq!(
            names(&e),
            BTreeSet::from(["Scene".to_owned(), "Photos".to_owned()])
        );
        // Selected evidence at the root: no folder at all.
        let r = shared_folders(
            &c,
            &Scope::Evidence(vec![EvidenceId::random()].into()),
            &BTreeSet::new(),
        );
        assert!(r.is_empty());
    }

    fn evidence() -> Evidence {
        Evidence {
            id: EvidenceId::random(),
            case: casemesh_model::ids::CaseId::random(),
            display_id: "EV-0007".into(),
            name: "interview suspect A.mp4".into(),
            description: "Suspect names the fence".into(),
            category: Some("Interview".into()),
            folder: None,
            hash: BlobHash::of(b"video"),
            size: 5,
            media_type: "video/mp4".into(),
            added_at: Timestamp(0),
            added_by: "user:alice".into(),
            transcripts: vec![casemesh_model::case::Transcript {
                id: casemesh_model::ids::TranscriptId::random(),
                name: "interview.txt".into(),
                hash: BlobHash::of(b"words"),
                size: 5,
            }],
            do_not_disclose: false,
            received_seq: None,
        }
    }

    #[test]
    fn withheld_data_never_reaches_the_entry_or_the_head() {
        let ev = evidence();
        let all = SharingPolicy::partner_copy_default();
        let e = entry(&ev, &all);
        assert_eq!(
            (e.name.as_str(), e.display_id.as_str()),
            ("interview suspect A.mp4", "EV-0007")
        );
        assert_eq!(e.transcripts.len(), 1);

        // Only the display id may leave: it names the file, with the extension.
        let p = SharingPolicy::view_only().with_data([SharedData::EvidenceDisplayId]);
        let e = entry(&ev, &p);
        assert_eq!(e.name, "EV-0007.mp4");
        assert_eq!(e.display_id, "EV-0007");
        assert_eq!(e.description, "");
        assert!(e.transcripts.is_empty());
        assert_eq!((e.hash, e.size), (ev.hash, ev.size));
        // Nothing may leave: the hash names it.
        let none = SharingPolicy::view_only().with_data([]);
        let e = entry(&ev, &none);
        assert_eq!(e.name, format!("item-{}.mp4", &ev.hash.to_hex()[..12]));
        assert_eq!(e.display_id, "");
        let text = serde_json::to_string(&e).unwrap();
        for secret in ["suspect", "Suspect", "interview", "EV-0007", "Interview"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        casemesh_model::names::validate_name(&e.name).unwrap();

        let (c, ..) = case_with_tree();
        let share = ShareId::random();
        let h = head(share, &c, vec![], &none, 1, Timestamp(0));
        let text = serde_json::to_string(&h).unwrap();
        for secret in ["2026-CR-0042", "Example", "Burglary"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(h.case_number.starts_with("SHARE-"));
        assert_eq!(h.title, WITHHELD_TITLE);
        let h = head(share, &c, vec![], &all, 1, Timestamp(0));
        assert_eq!(
            (h.case_number.as_str(), h.title.as_str()),
            ("2026-CR-0042", "State v. Example")
        );
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
                matches!(
                    r,
                    Err(SharingError::Invalid(
                        Bad::ListLineTooLong { .. }
                            | Bad::ListLine { .. }
                            | Bad::ListTooLong { .. }
                            | Bad::ListCount { .. }
                    ))
                ),
                "accepted {:?}",
                &text[..text.len().min(60)]
            );
        }
        read_list(format!("{ok}\n{ok}\n").as_bytes(), 2, |_| Ok(())).unwrap();
    }
}
