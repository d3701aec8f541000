//! Cases, their folder tree, and evidence items.
//!
//! A case owns a flat list of [`Folder`]s, each naming its parent, which makes renames and moves a
//! single-field change and keeps folder identity stable (the case-synchronization rules depend on
//! identity, not on names). Evidence items point at a folder id, or at none for the root.
//! Folder paths (`Interviews/Day 1`) are how people and the CLI name folders; they are resolved
//! against the tree here.

use crate::ids::{BlobHash, CaseId, EvidenceId, FolderId, OrgId, ShareId, TranscriptId, UserId};
use crate::names::{NameError, split_path, validate_name};
use crate::retention::RetentionPolicy;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where a case came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// Created in this organization.
    #[default]
    Local,
    /// Received from a partner organization (an External case).
    Received {
        /// The sharing organization.
        sharer: OrgId,
        /// Its display name, as registered here.
        sharer_name: String,
        /// The share (grant) it arrived under.
        share: ShareId,
        /// The case id in the sharer's node.
        source_case: CaseId,
        /// When it arrived.
        received_at: Timestamp,
    },
}

/// A folder in a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    /// Stable id; survives renames and moves.
    pub id: FolderId,
    /// One path segment.
    pub name: String,
    /// Parent folder, `None` for a top-level folder.
    pub parent: Option<FolderId>,
}

/// A case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Stable record id.
    pub id: CaseId,
    /// The "Case ID" people type and see, e.g. `2026-CR-0042`.
    pub case_number: String,
    /// Title.
    pub title: String,
    /// Free-text description.
    pub description: String,
    /// The owning user.
    pub owner: UserId,
    /// When it was created here.
    pub created_at: Timestamp,
    /// Retention policy of its evidence.
    pub retention: RetentionPolicy,
    /// Local, or received from a partner.
    pub origin: Origin,
    /// The folder tree, flat.
    pub folders: Vec<Folder>,
}

/// Why a folder operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// A bad name or path.
    #[error(transparent)]
    Name(#[from] NameError),
    /// No folder at that path.
    #[error("no folder {0:?}")]
    NotFound(String),
    /// A folder of that name already exists there.
    #[error("a folder {0:?} already exists")]
    Exists(String),
    /// The root cannot be renamed, moved or deleted.
    #[error("the case root cannot be changed")]
    Root,
    /// Moving a folder into itself or its own subfolder.
    #[error("cannot move a folder into itself")]
    Cycle,
    /// The folder (or a subfolder) still holds evidence.
    #[error("folder {0:?} is not empty")]
    NotEmpty(String),
    /// The tree would be deeper than [`MAX_FOLDER_DEPTH`].
    #[error("folders may be nested at most {MAX_FOLDER_DEPTH} deep")]
    TooDeep,
    /// The case would hold more than [`MAX_FOLDERS`] folders.
    #[error("a case may hold at most {MAX_FOLDERS} folders")]
    TooMany,
}

/// Deepest folder nesting of a case (a folder at the root has depth 1). Deeper trees serve no
/// investigator and cost every folder operation; the limit also bounds what a partner's manifest
/// can make this node build.
pub const MAX_FOLDER_DEPTH: usize = 32;

/// Most folders in one case.
pub const MAX_FOLDERS: usize = 10_000;

impl Case {
    /// A new local case with no folders.
    pub fn new(
        case_number: &str,
        title: &str,
        description: &str,
        owner: UserId,
        now: Timestamp,
    ) -> Case {
        Case {
            id: CaseId::random(),
            case_number: case_number.to_owned(),
            title: title.to_owned(),
            description: description.to_owned(),
            owner,
            created_at: now,
            retention: RetentionPolicy::default(),
            origin: Origin::Local,
            folders: Vec::new(),
        }
    }

    /// Whether the case was received from a partner.
    pub fn is_external(&self) -> bool {
        matches!(self.origin, Origin::Received { .. })
    }

    /// The folder with this id.
    pub fn folder(&self, id: FolderId) -> Option<&Folder> {
        self.folders.iter().find(|f| f.id == id)
    }

    fn child(&self, parent: Option<FolderId>, name: &str) -> Option<&Folder> {
        self.folders
            .iter()
            .find(|f| f.parent == parent && f.name == name)
    }

    /// The path of a folder, `""` for the root (`None`) or an unknown id.
    pub fn path_of(&self, id: Option<FolderId>) -> String {
        let mut segments = Vec::new();
        let mut cur = id;
        // The tree is acyclic by construction; the bound guards against a corrupted record.
        while let Some(f) = cur.and_then(|c| self.folder(c)) {
            segments.push(f.name.as_str());
            cur = f.parent;
            if segments.len() > self.folders.len() {
                break;
            }
        }
        segments.reverse();
        segments.join("/")
    }

    /// Every folder path, sorted.
    pub fn folder_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .folders
            .iter()
            .map(|f| self.path_of(Some(f.id)))
            .collect();
        paths.sort();
        paths
    }

    /// Resolve a path to a folder; `""` is the root (`Ok(None)`).
    pub fn resolve(&self, path: &str) -> Result<Option<FolderId>, FolderError> {
        let mut cur = None;
        for seg in split_path(path)? {
            cur = Some(
                self.child(cur, seg)
                    .ok_or_else(|| FolderError::NotFound(path.to_owned()))?
                    .id,
            );
        }
        Ok(cur)
    }

    /// Create the folder at `path`, creating missing parents. Fails if it already exists.
    pub fn create_folder(&mut self, path: &str) -> Result<FolderId, FolderError> {
        let segments = split_path(path)?;
        if segments.is_empty() {
            return Err(FolderError::Root);
        }
        if segments.len() > MAX_FOLDER_DEPTH {
            return Err(FolderError::TooDeep);
        }
        if self.folders.len() + segments.len() > MAX_FOLDERS {
            return Err(FolderError::TooMany);
        }
        let mut cur = None;
        let mut created = false;
        for seg in segments {
            cur = Some(match self.child(cur, seg) {
                Some(f) => f.id,
                None => {
                    let f = Folder {
                        id: FolderId::random(),
                        name: seg.to_owned(),
                        parent: cur,
                    };
                    let id = f.id;
                    self.folders.push(f);
                    created = true;
                    id
                }
            });
        }
        match (created, cur) {
            (true, Some(id)) => Ok(id),
            _ => Err(FolderError::Exists(path.to_owned())),
        }
    }

    /// Ensure a folder with exactly this id exists under `parent` (used when copying a folder tree
    /// from a partner, which keeps the sharer's ids).
    pub fn insert_folder(&mut self, folder: Folder) {
        if self.folder(folder.id).is_none() {
            self.folders.push(folder);
        }
    }

    /// Rename the folder at `path` to `new_name`.
    pub fn rename_folder(&mut self, path: &str, new_name: &str) -> Result<FolderId, FolderError> {
        validate_name(new_name)?;
        let id = self.resolve(path)?.ok_or(FolderError::Root)?;
        let parent = self.folder(id).and_then(|f| f.parent);
        if self.child(parent, new_name).is_some_and(|f| f.id != id) {
            return Err(FolderError::Exists(new_name.to_owned()));
        }
        if let Some(f) = self.folders.iter_mut().find(|f| f.id == id) {
            f.name = new_name.to_owned();
        }
        Ok(id)
    }

    /// Move the folder at `path` under the folder at `new_parent` (`""` = root).
    pub fn move_folder(&mut self, path: &str, new_parent: &str) -> Result<FolderId, FolderError> {
        let id = self.resolve(path)?.ok_or(FolderError::Root)?;
        let target = self.resolve(new_parent)?;
        if self.is_within(target, id) {
            return Err(FolderError::Cycle);
        }
        if self.depth(target) + self.height(id) > MAX_FOLDER_DEPTH {
            return Err(FolderError::TooDeep);
        }
        let name = self.folder(id).map(|f| f.name.clone()).unwrap_or_default();
        if self.child(target, &name).is_some_and(|f| f.id != id) {
            return Err(FolderError::Exists(name));
        }
        if let Some(f) = self.folders.iter_mut().find(|f| f.id == id) {
            f.parent = target;
        }
        Ok(id)
    }

    /// How deep a folder is (the root 0, a folder at the root 1), bounded by the folder count.
    pub fn depth(&self, folder: Option<FolderId>) -> usize {
        let mut cur = folder;
        let mut depth = 0;
        while let Some(f) = cur.and_then(|c| self.folder(c)) {
            depth += 1;
            cur = f.parent;
            if depth > self.folders.len() {
                break;
            }
        }
        depth
    }

    /// How many levels a folder's subtree spans, itself included (a folder without subfolders
    /// has height 1).
    fn height(&self, folder: FolderId) -> usize {
        self.folders
            .iter()
            .filter(|f| self.is_within(Some(f.id), folder))
            .map(|f| self.depth(Some(f.id)))
            .max()
            .map_or(1, |deepest| deepest + 1 - self.depth(Some(folder)))
    }

    /// Check a folder tree received from elsewhere (a partner's manifest): at most
    /// [`MAX_FOLDERS`] folders, none deeper than [`MAX_FOLDER_DEPTH`], every parent present, no
    /// cycle. Partner input is validated like user input.
    pub fn check_folder_tree(folders: &[Folder]) -> Result<(), FolderError> {
        if folders.len() > MAX_FOLDERS {
            return Err(FolderError::TooMany);
        }
        let parent: std::collections::HashMap<FolderId, Option<FolderId>> =
            folders.iter().map(|f| (f.id, f.parent)).collect();
        for f in folders {
            validate_name(&f.name)?;
            let mut depth = 1;
            let mut cur = f.parent;
            while let Some(p) = cur {
                depth += 1;
                if depth > MAX_FOLDER_DEPTH {
                    return Err(FolderError::TooDeep);
                }
                cur = *parent
                    .get(&p)
                    .ok_or_else(|| FolderError::NotFound(p.to_string()))?;
            }
        }
        Ok(())
    }

    /// Whether `folder` is `ancestor` or lies below it.
    pub fn is_within(&self, folder: Option<FolderId>, ancestor: FolderId) -> bool {
        let mut cur = folder;
        let mut steps = 0;
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            cur = self.folder(c).and_then(|f| f.parent);
            steps += 1;
            if steps > self.folders.len() {
                break;
            }
        }
        false
    }

    /// Delete the folder at `path` and its subfolders. `occupied` are the folders that hold
    /// evidence; a folder with evidence anywhere below it is not deleted.
    pub fn delete_folder(
        &mut self,
        path: &str,
        occupied: &BTreeSet<FolderId>,
    ) -> Result<Vec<FolderId>, FolderError> {
        let id = self.resolve(path)?.ok_or(FolderError::Root)?;
        let doomed: Vec<FolderId> = self
            .folders
            .iter()
            .filter(|f| self.is_within(Some(f.id), id))
            .map(|f| f.id)
            .collect();
        if doomed.iter().any(|d| occupied.contains(d)) {
            return Err(FolderError::NotEmpty(path.to_owned()));
        }
        self.folders.retain(|f| !doomed.contains(&f.id));
        Ok(doomed)
    }
}

/// A transcript attached to an evidence item (its text lives in the blob store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// Stable id.
    pub id: TranscriptId,
    /// File name, e.g. `interview.txt`.
    pub name: String,
    /// BLAKE3 of its bytes.
    pub hash: BlobHash,
    /// Size in bytes.
    pub size: u64,
}

/// An evidence item in a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Stable id.
    pub id: EvidenceId,
    /// The case it belongs to.
    pub case: CaseId,
    /// The display id people see, e.g. `EV-0001`.
    pub display_id: String,
    /// Name, usually the file name.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Category; `None` is "uncategorized" (always so for evidence received from a partner).
    pub category: Option<String>,
    /// Folder, `None` for the case root.
    pub folder: Option<FolderId>,
    /// BLAKE3 of the bytes: the blob's address.
    pub hash: BlobHash,
    /// Size in bytes.
    pub size: u64,
    /// Media type, e.g. `video/mp4`.
    pub media_type: String,
    /// When it was added to this case.
    pub added_at: Timestamp,
    /// Who added it (a username here, or the sharing organization's name).
    pub added_by: String,
    /// Transcripts.
    pub transcripts: Vec<Transcript>,
    /// Marked "do not disclose": never leaves the organization, whatever a share's scope or
    /// policy says (not listed to partners, not served, not packaged; issue #12).
    #[serde(default)]
    pub do_not_disclose: bool,
    /// In a received copy, the sequence number of the sharer's item list this item arrived in
    /// (the offer's list is 0, each update the next); `None` for an item added here. Decides what
    /// a recipient added to the share later may see ([`crate::access::AccessEntry::since_seq`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_seq: Option<u64>,
}

/// A media type guessed from a file name's extension; `application/octet-stream` otherwise.
pub fn media_type_for(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "mkv" => "video/x-matroska",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> Case {
        Case::new("C-1", "t", "d", UserId::random(), Timestamp(0))
    }

    /// Found by attack: a 2,000-deep folder cost 34 s to create and froze the node; a partner
    /// could make a receiver build one. Depth and count are bounded, also for partner trees.
    #[test]
    fn folder_trees_are_bounded_in_depth_and_count() {
        let mut c = case();
        let deepest = vec!["d"; MAX_FOLDER_DEPTH].join("/");
        assert!(c.create_folder(&deepest).is_ok());
        let too_deep = vec!["e"; MAX_FOLDER_DEPTH + 1].join("/");
        assert_eq!(c.create_folder(&too_deep), Err(FolderError::TooDeep));
        // Moving a two-level tree under the 31st level would make it 33 deep.
        c.create_folder("m/n").unwrap();
        let level_31 = vec!["d"; MAX_FOLDER_DEPTH - 1].join("/");
        assert_eq!(c.move_folder("m", &level_31), Err(FolderError::TooDeep));
        let level_30 = vec!["d"; MAX_FOLDER_DEPTH - 2].join("/");
        assert!(c.move_folder("m", &level_30).is_ok());
        // A partner's tree: too deep, dangling parent, fine.
        let mut chain: Vec<Folder> = Vec::new();
        for i in 0..=MAX_FOLDER_DEPTH {
            chain.push(Folder {
                id: FolderId::random(),
                name: format!("f{i}"),
                parent: chain.last().map(|f| f.id),
            });
        }
        assert_eq!(Case::check_folder_tree(&chain), Err(FolderError::TooDeep));
        assert!(Case::check_folder_tree(&chain[..MAX_FOLDER_DEPTH]).is_ok());
        let dangling = [Folder {
            id: FolderId::random(),
            name: "x".into(),
            parent: Some(FolderId::random()),
        }];
        assert!(matches!(
            Case::check_folder_tree(&dangling),
            Err(FolderError::NotFound(_))
        ));
    }

    #[test]
    fn create_resolve_and_path() {
        let mut c = case();
        let day1 = c.create_folder("Interviews/Day 1").unwrap();
        assert_eq!(c.resolve("Interviews/Day 1").unwrap(), Some(day1));
        assert_eq!(c.path_of(Some(day1)), "Interviews/Day 1");
        assert_eq!(c.folder_paths(), vec!["Interviews", "Interviews/Day 1"]);
        assert_eq!(
            c.create_folder("Interviews/Day 1"),
            Err(FolderError::Exists("Interviews/Day 1".into()))
        );
        assert_eq!(c.resolve(""), Ok(None));
        assert!(matches!(c.resolve("Nope"), Err(FolderError::NotFound(_))));
    }

    #[test]
    fn rename_keeps_identity() {
        let mut c = case();
        let id = c.create_folder("A/B").unwrap();
        c.rename_folder("A", "Z").unwrap();
        assert_eq!(c.path_of(Some(id)), "Z/B");
        assert!(matches!(
            c.rename_folder("Z", "../x"),
            Err(FolderError::Name(_))
        ));
    }

    #[test]
    fn move_refuses_cycles_and_clashes() {
        let mut c = case();
        let b = c.create_folder("A/B").unwrap();
        c.create_folder("C").unwrap();
        assert_eq!(c.move_folder("A", "A/B"), Err(FolderError::Cycle));
        c.move_folder("A/B", "C").unwrap();
        assert_eq!(c.path_of(Some(b)), "C/B");
        c.create_folder("A/B").unwrap();
        assert_eq!(
            c.move_folder("A/B", "C"),
            Err(FolderError::Exists("B".into()))
        );
        c.move_folder("C/B", "").unwrap();
        assert_eq!(c.path_of(Some(b)), "B");
    }

    #[test]
    fn delete_refuses_folders_with_evidence() {
        let mut c = case();
        let b = c.create_folder("A/B").unwrap();
        assert_eq!(
            c.delete_folder("A", &[b].into()),
            Err(FolderError::NotEmpty("A".into()))
        );
        assert_eq!(c.delete_folder("A", &BTreeSet::new()).unwrap().len(), 2);
        assert!(c.folders.is_empty());
        assert_eq!(
            c.delete_folder("", &BTreeSet::new()),
            Err(FolderError::Root)
        );
    }

    #[test]
    fn traversal_in_paths_is_refused() {
        let mut c = case();
        for bad in ["../x", "/abs", "a/../../b", "a\0b", "a//b"] {
            assert!(
                matches!(c.create_folder(bad), Err(FolderError::Name(_))),
                "{bad}"
            );
        }
        assert!(c.folders.is_empty());
    }

    #[test]
    fn media_types() {
        assert_eq!(media_type_for("clip.MP4"), "video/mp4");
        assert_eq!(media_type_for("noext"), "application/octet-stream");
    }
}
