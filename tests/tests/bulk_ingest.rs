//! Bulk ingest (issue #11, item 4): `casemesh evidence add CASE PATH… [--recursive]` against a
//! real node.
//!
//! Covered here: a directory tree kept as folders, the `--json` entries, resuming (a re-run adds
//! nothing; after a partial run only the missing files are added; a file with a known name but
//! new content is added), a node refusing one file in the middle of a batch (the batch stops,
//! says what was not added, and a re-run finishes it), top-level-only directories without
//! `--recursive` (hidden files in, links out), and bad input refused before anything is sent.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::ids::BlobHash;
use casemesh_tests::{BatchEntry, EvidenceView, TestNode, create_case, hash_file, random_file, s};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The fields of one `--json` entry of a batch (plus `skipped` on skipped ones).
const ENTRY_FIELDS: [&str; 4] = ["folder", "hash", "id", "name"];

/// The tree of the issue: `a/x.bin`, `a/b/y.bin`, `c.txt` and an empty directory `empty`.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    random_file(&root.join("a/x.bin"), 300_000, 1);
    random_file(&root.join("a/b/y.bin"), 70_000, 2);
    fs::write(root.join("c.txt"), "statement of the witness\n").unwrap();
}

/// `evidence add CASE ARGS… --json` as a list of entries, each checked to carry exactly the
/// agreed fields.
fn add_batch(node: &TestNode, case: &str, args: &[&str]) -> Vec<BatchEntry> {
    let mut all = vec!["evidence", "add", case];
    all.extend_from_slice(args);
    entries_of(node.cli_json(&all))
}

/// A batch's `--json` output as its entries, each checked to carry exactly the agreed fields
/// (the names are the contract, so they are checked on the JSON itself).
fn entries_of(list: Value) -> Vec<BatchEntry> {
    let entries = list.as_array().expect("a batch prints a JSON list");
    for e in entries {
        let keys: BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected: BTreeSet<&str> = ENTRY_FIELDS.into_iter().collect();
        if e.get("skipped").is_some() {
            assert_eq!(e["skipped"], true, "skipped is only ever true: {e}");
            expected.insert("skipped");
        }
        assert_eq!(keys, expected, "entry fields: {e}");
    }
    serde_json::from_value(list).expect("a list of batch entries")
}

/// The entry for the item `name` in `folder`.
fn entry<'a>(entries: &'a [BatchEntry], folder: &str, name: &str) -> &'a BatchEntry {
    entries
        .iter()
        .find(|e| e.folder == folder && e.name == name)
        .unwrap_or_else(|| panic!("no entry for {folder}/{name} in {entries:#?}"))
}

fn skipped(e: &BatchEntry) -> bool {
    e.skipped
}

/// The case's evidence as (folder, name, hash, display id), sorted.
fn items(node: &TestNode, case: &str) -> Vec<(String, String, BlobHash, String)> {
    let list: Vec<EvidenceView> = node.cli_typed(["evidence", "list", case]);
    let mut items: Vec<_> = list
        .into_iter()
        .map(|e| (e.folder, e.name, e.hash, e.display_id))
        .collect();
    items.sort();
    items
}

fn folders(node: &TestNode, case: &str) -> BTreeSet<String> {
    node.cli_typed::<Vec<String>, _, _>(["folder", "list", case])
        .into_iter()
        .collect()
}

#[test]
fn recursive_tree_becomes_folders_and_a_rerun_adds_nothing() {
    let node = TestNode::start("bulk-tree");
    let case = create_case(&node, "BULK-1");
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("seized");
    make_tree(&tree);

    let entries = add_batch(&node, &case, &[s(&tree), "--recursive"]);
    assert_eq!(entries.len(), 3, "{entries:#?}");
    assert!(entries.iter().all(|e| !skipped(e)), "{entries:#?}");
    for (folder, name, file) in [
        ("a", "x.bin", "a/x.bin"),
        ("a/b", "y.bin", "a/b/y.bin"),
        ("", "c.txt", "c.txt"),
    ] {
        let e = entry(&entries, folder, name);
        assert_eq!(e.hash, hash_file(&tree.join(file)), "{e:?}");
    }

    // The tree is kept: `a`, `a/b`, and the empty directory too; the directory's own name is not.
    let expected: BTreeSet<String> = ["a", "a/b", "empty"].map(String::from).into();
    assert_eq!(folders(&node, &case), expected);
    // One at a time in path order, so the display ids are deterministic.
    let mut order: Vec<(String, String)> = items(&node, &case)
        .into_iter()
        .map(|(folder, name, _, display)| match folder.as_str() {
            "" => (display, name),
            _ => (display, format!("{folder}/{name}")),
        })
        .collect();
    order.sort();
    let expected_order = [
        ("EV-0001", "a/b/y.bin"),
        ("EV-0002", "a/x.bin"),
        ("EV-0003", "c.txt"),
    ]
    .map(|(d, p)| (d.to_owned(), p.to_owned()));
    assert_eq!(order, expected_order);

    // The same command again adds nothing and names the items already there.
    let again = add_batch(&node, &case, &[s(&tree), "--recursive"]);
    assert_eq!(again.len(), 3, "{again:#?}");
    assert!(again.iter().all(skipped), "{again:#?}");
    for e in &again {
        let first = entry(&entries, &e.folder, &e.name);
        assert_eq!(e.id, first.id);
        assert_eq!(e.hash, first.hash);
    }
    assert_eq!(items(&node, &case).len(), 3);

    // Without --json the CLI says so, file by file and in the summary.
    let text = node.cli_ok(["evidence", "add", &case, s(&tree), "--recursive"]);
    assert_eq!(text.matches("(already present)").count(), 3, "{text}");
    assert!(text.contains("3 already present, skipped"), "{text}");
    assert_eq!(items(&node, &case).len(), 3);
}

#[test]
fn after_a_partial_run_only_the_missing_files_are_added() {
    let node = TestNode::start("bulk-resume");
    let case = create_case(&node, "BULK-2");
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("seized");
    make_tree(&tree);

    // The "interrupted" run got as far as the files under `a`.
    let first = add_batch(
        &node,
        &case,
        &[s(&tree.join("a")), "--recursive", "--folder", "a"],
    );
    assert_eq!(first.len(), 2, "{first:#?}");

    let all = add_batch(&node, &case, &[s(&tree), "--recursive"]);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(skipped(entry(&all, "a", "x.bin")));
    assert!(skipped(entry(&all, "a/b", "y.bin")));
    let c = entry(&all, "", "c.txt");
    assert!(!skipped(c), "{c:?}");
    assert_eq!(items(&node, &case).len(), 3);

    // A file with a known name but new content (same size: it must be hashed) is added.
    fs::write(tree.join("c.txt"), "statement of the WITNESS\n").unwrap();
    let changed = add_batch(&node, &case, &[s(&tree), "--recursive"]);
    let c2 = entry(&changed, "", "c.txt");
    assert!(!skipped(c2), "{c2:?}");
    assert_ne!(c2.hash, c.hash);
    assert_eq!(changed.iter().filter(|e| skipped(e)).count(), 2);
    let now = items(&node, &case);
    assert_eq!(now.len(), 4);
    assert_eq!(now.iter().filter(|i| i.1 == "c.txt").count(), 2, "{now:?}");
}

#[test]
fn a_refused_file_stops_the_batch_and_a_rerun_finishes_it() {
    let node = TestNode::start("bulk-refused");
    let case = create_case(&node, "BULK-3");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("batch");
    fs::create_dir(&dir).unwrap();
    random_file(&dir.join("1.bin"), 10_000, 1);
    // A sparse file larger than any disk: the node refuses it (no space) before reading it.
    let huge = dir.join("2-huge.bin");
    fs::File::create(&huge).unwrap().set_len(8 << 40).unwrap();
    random_file(&dir.join("3.bin"), 10_000, 3);

    let out = node.cli(["evidence", "add", &case, s(&dir)]);
    assert!(!out.status.success(), "the batch must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("added 1 file"), "{stderr}");
    assert!(stderr.contains("not added (2 of 3)"), "{stderr}");
    assert!(stderr.contains(s(&huge)), "{stderr}");
    assert!(stderr.contains(s(&dir.join("3.bin"))), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1.bin"),
        "the file added is reported: {stdout}"
    );
    let names: Vec<String> = items(&node, &case).into_iter().map(|i| i.1).collect();
    assert_eq!(names, ["1.bin"]);

    // With --json the entries done so far are still printed, as valid JSON.
    let out = node.cli(["--json", "evidence", "add", &case, s(&dir)]);
    assert!(!out.status.success());
    let done = entries_of(serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(done.len(), 1, "{done:#?}");
    assert!(done[0].skipped, "{done:#?}");

    // Fixed, the same command adds the rest.
    fs::write(&huge, "now small").unwrap();
    let rest = add_batch(&node, &case, &[s(&dir)]);
    assert_eq!(rest.len(), 3);
    assert!(skipped(entry(&rest, "", "1.bin")));
    assert!(!skipped(entry(&rest, "", "2-huge.bin")));
    assert!(!skipped(entry(&rest, "", "3.bin")));
    assert_eq!(items(&node, &case).len(), 3);
}

#[test]
fn without_recursive_only_top_level_files_and_bad_input_changes_nothing() {
    let node = TestNode::start("bulk-flat");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("export");
    fs::create_dir_all(dir.join("sub")).unwrap();
    random_file(&dir.join("top.bin"), 5_000, 1);
    fs::write(dir.join(".hidden"), "dot files are evidence too").unwrap();
    random_file(&dir.join("sub/deep.bin"), 5_000, 2);
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("top.bin"), dir.join("link.bin")).unwrap();

    let flat = create_case(&node, "BULK-4");
    let out = node.cli([
        "--json",
        "evidence",
        "add",
        &flat,
        s(&dir),
        "--folder",
        "Export",
    ]);
    assert!(out.status.success());
    let entries = entries_of(serde_json::from_slice(&out.stdout).unwrap());
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort();
    assert_eq!(names, [".hidden", "top.bin"]);
    assert!(entries.iter().all(|e| e.folder == "Export"), "{entries:#?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--recursive"), "{stderr}");
    #[cfg(unix)]
    assert!(stderr.contains("symbolic link"), "{stderr}");
    let expected: BTreeSet<String> = ["Export".to_owned()].into();
    assert_eq!(folders(&node, &flat), expected, "--folder is created");

    let refused = create_case(&node, "BULK-5");
    let two = [dir.join("top.bin"), dir.join("sub/deep.bin")];
    let (err, _) = node.cli_fail([
        "evidence",
        "add",
        &refused,
        s(&two[0]),
        s(&two[1]),
        "--name",
        "n",
    ]);
    assert!(err.contains("--name"), "{err}");
    let (err, _) = node.cli_fail(["evidence", "add", &refused, s(&dir), "--display-id", "X"]);
    assert!(err.contains("--display-id"), "{err}");
    let missing = work.path().join("no-such-file");
    let (err, _) = node.cli_fail([
        "evidence",
        "add",
        &refused,
        s(&two[0]),
        s(&missing),
        s(&dir),
    ]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains(s(&missing)), "{err}");
    // A tree deeper than the node's folder limit is refused before anything is sent, naming
    // the limit (it failed mid-batch before, and a re-run failed the same way).
    let mut deep = work.path().join("deep");
    for i in 1..=40 {
        deep = deep.join(format!("d{i}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("leaf.txt"), b"x").unwrap();
    fs::write(work.path().join("deep/top.txt"), b"t").unwrap();
    let (err, _) = node.cli_fail([
        "evidence",
        "add",
        &refused,
        s(&work.path().join("deep")),
        "--recursive",
    ]);
    assert!(
        err.contains("at most 32 deep") && err.contains("nothing was added"),
        "{err}"
    );
    // A named pipe alone (the one-file path) is refused at once, not waited on forever.
    let fifo = work.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (err, _) = node.cli_fail(["evidence", "add", &refused, s(&fifo)]);
    assert!(err.contains("regular file"), "{err}");
    assert!(items(&node, &refused).is_empty(), "nothing was added");
    assert!(folders(&node, &refused).is_empty(), "no folder was created");

    // The single-file form is unchanged: it prints the evidence object.
    let one: EvidenceView =
        node.cli_typed(["evidence", "add", &refused, s(&two[0]), "--name", "renamed"]);
    assert_eq!(one.name, "renamed");
    assert_eq!(one.display_id, "EV-0001");
}
