//! Case-synchronization folder rules (pure).
//!
//! The seeds' "Folder Synchronization Rules", implemented on folder *identity*:
//! - **The folder structure syncs once.** [`initial_import`] copies the sharer's folders into the
//!   receiver's copy at first import and records an [`ImportMap`] from each sharer folder id to the
//!   receiver folder id created for it. Nothing here ever touches the receiver's folders again.
//! - **New evidence in a folder that existed at import** goes to the corresponding receiver folder
//!   ([`place_new_evidence`]), found through the map — so it lands there even after the receiver
//!   renamed or moved that folder.
//! - **New evidence in a folder created after the import** (absent from the map), or in a folder the
//!   receiver has since deleted, goes to the root of the copy.
//! - **The sharer's renames and moves are never applied**: placement looks only at the sharer folder
//!   id, never at sharer names or parents.
//!
//! Receiver folder ids are derived deterministically ([`imported_folder_id`]) from the receiver's
//! case id and the sharer's folder id, so a retried import produces the same ids and two copies of
//! the same case get different ones.

use crate::case::{Case, Folder};
use crate::grant::Scope;
use crate::ids::{CaseId, FolderId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Sharer folder id → receiver folder id, recorded at first import and never changed after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMap {
    map: BTreeMap<FolderId, FolderId>,
}

impl ImportMap {
    /// The receiver folder created for a sharer folder at import.
    pub fn get(&self, sharer_folder: FolderId) -> Option<FolderId> {
        self.map.get(&sharer_folder).copied()
    }

    /// Whether a receiver folder came from the import.
    pub fn is_imported(&self, receiver_folder: FolderId) -> bool {
        self.map.values().any(|f| *f == receiver_folder)
    }

    /// Number of mapped folders.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// (sharer folder, receiver folder) pairs, by sharer id.
    pub fn iter(&self) -> impl Iterator<Item = (FolderId, FolderId)> + '_ {
        self.map.iter().map(|(s, r)| (*s, *r))
    }
}

/// The receiver folder id for `sharer_folder` imported into the receiver case `receiver_case`:
/// the first 16 bytes of BLAKE3 over `"casemesh-folder-import-v1\0"`, the receiver case id and the
/// sharer folder id, stamped as a UUID version 8.
pub fn imported_folder_id(receiver_case: CaseId, sharer_folder: FolderId) -> FolderId {
    let mut h = blake3::Hasher::new();
    h.update(b"casemesh-folder-import-v1\0");
    h.update(receiver_case.as_bytes());
    h.update(sharer_folder.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h.finalize().as_bytes()[..16]);
    FolderId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// The folders of the receiver's copy at first import, and the map that ties them to the sharer's.
///
/// Which sharer folders are copied:
/// - [`Scope::EntireCase`]: every folder.
/// - [`Scope::Folders`]: each selected folder with all its subfolders, plus the ancestors of the
///   selected folders, so that `Interviews/Day 1` arrives as `Interviews/Day 1` and not as a
///   bare `Day 1` (the ancestors hold no shared evidence, but they keep paths meaningful).
/// - [`Scope::Evidence`]: the folders holding the selected evidence (`evidence_folders`), with
///   their ancestors.
///
/// `evidence_folders` (the sharer folders of the evidence being imported) are added for every
/// scope, so no imported evidence loses its folder. Unknown folder ids are ignored. The returned
/// folders are ordered parents first, keep the sharer's names, and get ids from
/// [`imported_folder_id`]; a sharer folder whose parent is not copied becomes top-level.
pub fn initial_import(
    sharer: &Case,
    scope: &Scope,
    evidence_folders: &[Option<FolderId>],
    receiver_case: CaseId,
) -> (Vec<Folder>, ImportMap) {
    let mut chosen: BTreeSet<FolderId> = BTreeSet::new();
    let with_ancestors = |id: FolderId, chosen: &mut BTreeSet<FolderId>| {
        let mut cur = Some(id);
        let mut steps = 0;
        // Bounded: the tree is acyclic by construction, the bound guards a corrupted record.
        while let Some(f) = cur.and_then(|c| sharer.folder(c)) {
            chosen.insert(f.id);
            cur = f.parent;
            steps += 1;
            if steps > sharer.folders.len() {
                break;
            }
        }
    };
    match scope {
        Scope::EntireCase => chosen.extend(sharer.folders.iter().map(|f| f.id)),
        Scope::Folders(selected) => {
            for f in &sharer.folders {
                if selected.iter().any(|s| sharer.is_within(Some(f.id), *s)) {
                    chosen.insert(f.id);
                }
            }
            for s in selected {
                with_ancestors(*s, &mut chosen);
            }
        }
        Scope::Evidence(_) => {}
    }
    for f in evidence_folders.iter().flatten() {
        with_ancestors(*f, &mut chosen);
    }
    // Parents first: order by depth, then by the sharer's order.
    let depth = |f: &Folder| {
        let mut d = 0usize;
        let mut cur = f.parent;
        while let Some(p) = cur.and_then(|c| sharer.folder(c)) {
            d += 1;
            cur = p.parent;
            if d > sharer.folders.len() {
                break;
            }
        }
        d
    };
    let mut ordered: Vec<&Folder> = sharer
        .folders
        .iter()
        .filter(|f| chosen.contains(&f.id))
        .collect();
    ordered.sort_by_key(|f| depth(f));
    let map: BTreeMap<FolderId, FolderId> = ordered
        .iter()
        .map(|f| (f.id, imported_folder_id(receiver_case, f.id)))
        .collect();
    let folders = ordered
        .iter()
        .map(|f| Folder {
            id: map[&f.id],
            name: f.name.clone(),
            parent: f.parent.and_then(|p| map.get(&p).copied()),
        })
        .collect();
    (folders, ImportMap { map })
}

/// Where new evidence that the sharer added in `sharer_folder` goes in the receiver's copy: the
/// folder imported for it, wherever the receiver has since moved it and whatever it is now called;
/// the root (`None`) when the evidence is at the sharer's root, when the sharer folder was created
/// after the import, or when the receiver deleted the imported folder.
pub fn place_new_evidence(
    sharer_folder: Option<FolderId>,
    map: &ImportMap,
    receiver: &Case,
) -> Option<FolderId> {
    let mapped = map.get(sharer_folder?)?;
    receiver.folder(mapped).map(|f| f.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EvidenceId, UserId};
    use crate::time::Timestamp;
    use proptest::prelude::*;

    fn case() -> Case {
        Case::new("C-1", "t", "d", UserId::random(), Timestamp(0))
    }

    fn receiver_with(folders: Vec<Folder>) -> Case {
        let mut r = case();
        for f in folders {
            r.insert_folder(f);
        }
        r
    }

    #[test]
    fn the_seed_rules() {
        let mut sharer = case();
        let interviews = sharer.create_folder("Interviews").unwrap();
        let day1 = sharer.create_folder("Interviews/Day 1").unwrap();
        sharer.create_folder("Photos").unwrap();
        let mut receiver = case();
        let (folders, map) = initial_import(&sharer, &Scope::EntireCase, &[], receiver.id);
        for f in folders {
            receiver.insert_folder(f);
        }
        assert_eq!(sharer.folder_paths(), receiver.folder_paths());

        // The receiver reorganizes: renames and moves Day 1.
        receiver.create_folder("Statements").unwrap();
        receiver
            .rename_folder("Interviews/Day 1", "Monday")
            .unwrap();
        receiver
            .move_folder("Interviews/Monday", "Statements")
            .unwrap();
        let placed = place_new_evidence(Some(day1), &map, &receiver);
        assert_eq!(receiver.path_of(placed), "Statements/Monday");

        // The sharer renames Interviews and adds a new folder: neither reaches the receiver.
        sharer.rename_folder("Interviews", "Witnesses").unwrap();
        let new = sharer.create_folder("Witnesses/Day 2").unwrap();
        assert_eq!(
            receiver.path_of(place_new_evidence(Some(interviews), &map, &receiver)),
            "Interviews"
        );
        assert_eq!(place_new_evidence(Some(new), &map, &receiver), None);
        assert_eq!(place_new_evidence(None, &map, &receiver), None);

        // The receiver deletes Photos: new photos go to the root.
        let photos = sharer.resolve("Photos").unwrap().unwrap();
        receiver.delete_folder("Photos", &BTreeSet::new()).unwrap();
        assert_eq!(place_new_evidence(Some(photos), &map, &receiver), None);
    }

    #[test]
    fn folder_scope_copies_subfolders_and_ancestors_only() {
        let mut sharer = case();
        let day1 = sharer.create_folder("Interviews/Day 1").unwrap();
        sharer.create_folder("Interviews/Day 1/Audio").unwrap();
        sharer.create_folder("Interviews/Day 2").unwrap();
        sharer.create_folder("Photos").unwrap();
        let rid = CaseId::random();
        let (folders, map) = initial_import(&sharer, &Scope::Folders(vec![day1]), &[], rid);
        let receiver = receiver_with(folders.clone());
        assert_eq!(
            receiver.folder_paths(),
            vec!["Interviews", "Interviews/Day 1", "Interviews/Day 1/Audio"]
        );
        assert_eq!(map.len(), 3);
        // Parents come first.
        assert_eq!(folders[0].parent, None);
        // Deterministic ids.
        assert_eq!(
            initial_import(&sharer, &Scope::Folders(vec![day1]), &[], rid).1,
            map
        );
        assert_eq!(map.get(day1), Some(imported_folder_id(rid, day1)));
        assert_ne!(
            imported_folder_id(CaseId::random(), day1),
            imported_folder_id(rid, day1)
        );
    }

    #[test]
    fn evidence_scope_copies_the_evidence_folders() {
        let mut sharer = case();
        let audio = sharer.create_folder("Interviews/Day 1/Audio").unwrap();
        sharer.create_folder("Photos").unwrap();
        let scope = Scope::Evidence(vec![EvidenceId::random(), EvidenceId::random()].into());
        let (folders, _) = initial_import(&sharer, &scope, &[Some(audio), None], CaseId::random());
        assert_eq!(
            receiver_with(folders).folder_paths(),
            vec!["Interviews", "Interviews/Day 1", "Interviews/Day 1/Audio"]
        );
    }

    /// A change by either side after the import.
    #[derive(Debug, Clone)]
    enum Op {
        ReceiverRename(usize, u8),
        ReceiverMove(usize, Option<usize>),
        ReceiverDelete(usize),
        ReceiverCreate(Option<usize>),
        SharerRename(usize, u8),
        SharerMove(usize, Option<usize>),
        SharerCreate(Option<usize>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, n)| Op::ReceiverRename(i, n)),
            (any::<usize>(), any::<Option<usize>>()).prop_map(|(i, p)| Op::ReceiverMove(i, p)),
            any::<usize>().prop_map(Op::ReceiverDelete),
            any::<Option<usize>>().prop_map(Op::ReceiverCreate),
            (any::<usize>(), any::<u8>()).prop_map(|(i, n)| Op::SharerRename(i, n)),
            (any::<usize>(), any::<Option<usize>>()).prop_map(|(i, p)| Op::SharerMove(i, p)),
            any::<Option<usize>>().prop_map(Op::SharerCreate),
        ]
    }

    /// A random tree: folder `i`'s parent is `None` or one of the folders before it.
    fn tree() -> impl Strategy<Value = Case> {
        proptest::collection::vec(any::<Option<prop::sample::Index>>(), 1..12).prop_map(|parents| {
            let mut c = case();
            for (i, p) in parents.into_iter().enumerate() {
                let parent = p.filter(|_| i > 0).map(|p| c.folders[p.index(i)].id);
                c.folders.push(Folder {
                    id: FolderId::random(),
                    name: format!("f{i}"),
                    parent,
                });
            }
            c
        })
    }

    fn pick(c: &Case, i: usize) -> Option<FolderId> {
        (!c.folders.is_empty()).then(|| c.folders[i % c.folders.len()].id)
    }

    /// Apply an op to one side directly on the folder list (names need not be unique here:
    /// the rules must hold on identity alone). Moves that would make a cycle are skipped.
    fn apply(c: &mut Case, i: usize, new_parent: Option<usize>) {
        let (Some(id), target) = (pick(c, i), new_parent.and_then(|p| pick(c, p))) else {
            return;
        };
        if !c.is_within(target, id)
            && let Some(f) = c.folders.iter_mut().find(|f| f.id == id)
        {
            f.parent = target;
        }
    }

    fn rename(c: &mut Case, i: usize, n: u8) {
        if let Some(id) = pick(c, i)
            && let Some(f) = c.folders.iter_mut().find(|f| f.id == id)
        {
            f.name = format!("renamed {n}");
        }
    }

    fn run(
        sharer: &mut Case,
        receiver: &mut Case,
        ops: &[Op],
        apply_sharer: bool,
        new_folders: &mut Vec<FolderId>,
    ) {
        for (n, op) in ops.iter().enumerate() {
            match op.clone() {
                Op::ReceiverRename(i, n) => rename(receiver, i, n),
                Op::ReceiverMove(i, p) => apply(receiver, i, p),
                Op::ReceiverDelete(i) => {
                    if let Some(id) = pick(receiver, i) {
                        // Paths may be ambiguous with duplicate names; delete by identity.
                        let doomed: Vec<FolderId> = receiver
                            .folders
                            .iter()
                            .filter(|f| receiver.is_within(Some(f.id), id))
                            .map(|f| f.id)
                            .collect();
                        receiver.folders.retain(|f| !doomed.contains(&f.id));
                    }
                }
                Op::ReceiverCreate(p) => {
                    let parent = p.and_then(|p| pick(receiver, p));
                    // Deterministic, so runs with and without the sharer's ops compare equal.
                    receiver.folders.push(Folder {
                        id: FolderId(uuid::Uuid::from_u128(n as u128 + 1)),
                        name: "mine".into(),
                        parent,
                    });
                }
                Op::SharerRename(i, n) if apply_sharer => rename(sharer, i, n),
                Op::SharerMove(i, p) if apply_sharer => apply(sharer, i, p),
                Op::SharerCreate(p) if apply_sharer => {
                    let parent = p.and_then(|p| pick(sharer, p));
                    let id = FolderId::random();
                    new_folders.push(id);
                    sharer.folders.push(Folder {
                        id,
                        name: "new".into(),
                        parent,
                    });
                }
                _ => {}
            }
        }
    }

    proptest! {
        #[test]
        fn placement_follows_identity_only(
            sharer0 in tree(),
            selection in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
            entire in any::<bool>(),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let scope = if entire {
                Scope::EntireCase
            } else {
                Scope::Folders(selection.iter().map(|i| sharer0.folders[i.index(sharer0.folders.len())].id).collect())
            };
            let receiver_case = CaseId::random();
            let (folders, map) = initial_import(&sharer0, &scope, &[], receiver_case);
            let receiver0 = receiver_with(folders.clone());
            prop_assert_eq!(receiver0.folders.len(), folders.len());
            prop_assert!(folders.iter().all(|f| map.is_imported(f.id)));
            let imported_names: BTreeMap<FolderId, String> = folders
                .iter()
                .map(|f| (f.id, f.name.clone()))
                .collect();

            // Both sides change things, with and without the sharer's changes.
            let (mut sharer, mut receiver) = (sharer0.clone(), receiver0.clone());
            let mut new_folders = Vec::new();
            run(&mut sharer, &mut receiver, &ops, true, &mut new_folders);
            let (mut sharer_still, mut receiver_only) = (sharer0.clone(), receiver0.clone());
            run(&mut sharer_still, &mut receiver_only, &ops, false, &mut Vec::new());

            let before = receiver.clone();
            let candidates: Vec<Option<FolderId>> = std::iter::once(None)
                .chain(sharer.folders.iter().map(|f| Some(f.id)))
                .collect();
            for sf in &candidates {
                let placed = place_new_evidence(*sf, &map, &receiver);
                match placed {
                    None => {
                        // Root only when there is no live mapped folder.
                        let live = sf.and_then(|s| map.get(s)).and_then(|r| receiver.folder(r));
                        prop_assert!(live.is_none());
                    }
                    Some(r) => {
                        prop_assert_eq!(Some(r), sf.and_then(|s| map.get(s)));
                        prop_assert!(receiver.folder(r).is_some());
                        prop_assert!(map.is_imported(r));
                    }
                }
                // The sharer's renames and moves change nothing.
                prop_assert_eq!(placed, place_new_evidence(*sf, &map, &receiver_only));
            }
            for new in &new_folders {
                prop_assert_eq!(place_new_evidence(Some(*new), &map, &receiver), None);
            }
            // Sync never changes the receiver's folders; the sharer's changes do not reach them.
            prop_assert_eq!(&before, &receiver);
            prop_assert_eq!(&receiver, &receiver_only);
            // An imported folder that still has its imported name was not renamed by anyone but
            // the receiver: with no receiver ops it keeps every imported name.
            if !ops.iter().any(|o| matches!(o, Op::ReceiverRename(..))) {
                for f in &receiver.folders {
                    if let Some(n) = imported_names.get(&f.id) {
                        prop_assert_eq!(&f.name, n);
                    }
                }
            }
        }
    }
}
