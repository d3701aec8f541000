//! Typed tables and their secondary indexes: reads and writes against a `BTreeMap` model, index
//! keys kept exact on update and delete, and indexes built for data written before they existed.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use casemesh_store::{Index, Store, StoreError, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Note {
    topic: Option<String>,
    text: String,
}

fn note(topic: Option<&str>, text: &str) -> Note {
    Note {
        topic: topic.map(str::to_owned),
        text: text.to_owned(),
    }
}

const BY_TOPIC: Index<Note> = Index::new("note.topic", |n| n.topic.clone());
const NOTES: Table<str, Note> = Table::new("note").with_indexes(&[BY_TOPIC]);
const PLAIN: Table<str, u32> = Table::new("plain");

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path()).unwrap();
    (d, s)
}

fn texts(notes: Vec<Note>) -> Vec<String> {
    notes.into_iter().map(|n| n.text).collect()
}

#[test]
fn get_put_update_delete_all_follow_a_map() {
    let (_d, s) = store();
    let mut model = BTreeMap::new();
    for (k, v) in [("b", 2), ("a", 1), ("c", 3), ("a", 10)] {
        s.put(&PLAIN, k, &v).unwrap();
        model.insert(k, v);
    }
    assert_eq!(s.get(&PLAIN, "a").unwrap(), Some(10));
    assert_eq!(s.get(&PLAIN, "zz").unwrap(), None);
    assert_eq!(
        s.all(&PLAIN).unwrap(),
        model.values().copied().collect::<Vec<_>>()
    );

    let n = s
        .update(&PLAIN, "b", |v| Ok::<_, StoreError>(v.map(|v| v + 1)))
        .unwrap();
    assert_eq!(n, Some(3));
    // None deletes; an error changes nothing and comes back as is.
    assert_eq!(
        s.update(&PLAIN, "c", |_| Ok::<_, StoreError>(None))
            .unwrap(),
        None
    );
    assert!(matches!(
        s.update(&PLAIN, "a", |_| Err::<Option<u32>, _>(
            StoreError::Conflict("no".into())
        )),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.all(&PLAIN).unwrap(), vec![10, 3]);

    assert!(s.delete(&PLAIN, "a").unwrap());
    assert!(!s.delete(&PLAIN, "a").unwrap());
    assert_eq!(s.all(&PLAIN).unwrap(), vec![3]);
}

#[test]
fn transactions_read_and_write_tables() {
    let (_d, s) = store();
    s.put(&PLAIN, "n", &1).unwrap();
    let r: Result<(), StoreError> = s.atomically(|txn| {
        let n = txn.get(&PLAIN, "n")?.unwrap_or(0);
        txn.put(&PLAIN, "n", &(n + 1))?;
        txn.put(&NOTES, "x", &note(Some("t"), "x"))?;
        Err(StoreError::Conflict("abort".into()))
    });
    assert!(r.is_err());
    assert_eq!(s.get(&PLAIN, "n").unwrap(), Some(1));
    assert!(s.by_index(&NOTES, &BY_TOPIC, "t").unwrap().is_empty());
    s.atomically(|txn| {
        txn.put(&NOTES, "x", &note(Some("t"), "x"))?;
        assert!(txn.delete(&PLAIN, "n")?);
        Ok::<_, StoreError>(())
    })
    .unwrap();
    assert_eq!(texts(s.by_index(&NOTES, &BY_TOPIC, "t").unwrap()), ["x"]);
    assert_eq!(s.get(&PLAIN, "n").unwrap(), None);
}

#[test]
fn index_keys_follow_updates_and_deletes() {
    let (_d, s) = store();
    s.put(&NOTES, "1", &note(Some("red"), "one")).unwrap();
    s.put(&NOTES, "2", &note(Some("red"), "two")).unwrap();
    s.put(&NOTES, "3", &note(None, "three")).unwrap();
    s.put(&NOTES, "4", &note(Some("a/b"), "four")).unwrap();
    assert_eq!(
        texts(s.by_index(&NOTES, &BY_TOPIC, "red").unwrap()),
        ["one", "two"]
    );
    assert_eq!(
        texts(s.by_index(&NOTES, &BY_TOPIC, "a/b").unwrap()),
        ["four"]
    );
    assert!(s.by_index(&NOTES, &BY_TOPIC, "a").unwrap().is_empty());

    // Moving a record to another value leaves no key under the old one.
    s.put(&NOTES, "1", &note(Some("blue"), "one")).unwrap();
    s.update(&NOTES, "2", |n| {
        Ok::<_, StoreError>(n.map(|n| note(None, &n.text)))
    })
    .unwrap();
    s.update(&NOTES, "3", |n| {
        Ok::<_, StoreError>(n.map(|n| note(Some("blue"), &n.text)))
    })
    .unwrap();
    assert!(s.by_index(&NOTES, &BY_TOPIC, "red").unwrap().is_empty());
    assert_eq!(
        texts(s.by_index(&NOTES, &BY_TOPIC, "blue").unwrap()),
        ["one", "three"]
    );

    s.delete(&NOTES, "1").unwrap();
    s.update(&NOTES, "3", |_| Ok::<_, StoreError>(None))
        .unwrap();
    assert!(s.by_index(&NOTES, &BY_TOPIC, "blue").unwrap().is_empty());
    // Stale keys would be visible on disk even where the query filters them out.
    drop(s);
    let keys = raw_keys(_d.path(), "idx/note.topic/");
    assert_eq!(keys, ["idx/note.topic/a%2Fb/4"]);
}

#[test]
fn an_index_not_declared_on_the_table_is_refused() {
    const OTHER: Index<Note> = Index::new("note.other", |n| Some(n.text.clone()));
    let (_d, s) = store();
    assert!(s.by_index(&NOTES, &OTHER, "x").is_err());
}

/// The keys under `prefix` in a closed store's database. sled's flusher thread may still hold
/// the database's file lock for a moment after the store is dropped (seen under load: "could not
/// acquire lock"), so opening is retried for up to 10 s.
fn raw_keys(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let db = loop {
        match sled::open(dir.join("db")) {
            Ok(db) => break db,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("opening the closed store's database: {e}"),
        }
    };
    let tree = db.open_tree("casemesh").unwrap();
    tree.scan_prefix(prefix)
        .keys()
        .map(|k| String::from_utf8(k.unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn layout_2_data_directory_gets_its_indexes() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Written the way layout 2 did: `rec/<kind>/<id>` JSON records, no index keys.
        let db = sled::open(dir.path().join("db")).unwrap();
        let tree = db.open_tree("casemesh").unwrap();
        tree.insert("schema", b"2".to_vec()).unwrap();
        for (id, n) in [
            ("1", note(Some("red"), "one")),
            ("2", note(None, "two")),
            ("3", note(Some("red"), "three")),
        ] {
            tree.insert(format!("rec/note/{id}"), serde_json::to_vec(&n).unwrap())
                .unwrap();
        }
        db.flush().unwrap();
    }
    {
        let s = Store::open(dir.path()).unwrap();
        // The records are where they were…
        assert_eq!(s.get(&NOTES, "2").unwrap(), Some(note(None, "two")));
        // …and the index holds them, including after writes that came before its first use.
        s.put(&NOTES, "4", &note(Some("red"), "four")).unwrap();
        assert_eq!(
            texts(s.by_index(&NOTES, &BY_TOPIC, "red").unwrap()),
            ["one", "three", "four"]
        );
        s.put(&NOTES, "1", &note(Some("blue"), "one")).unwrap();
        assert_eq!(
            texts(s.by_index(&NOTES, &BY_TOPIC, "red").unwrap()),
            ["three", "four"]
        );
    }
    let keys = raw_keys(dir.path(), "idx");
    assert_eq!(
        keys,
        [
            "idx/note.topic/blue/1",
            "idx/note.topic/red/3",
            "idx/note.topic/red/4",
            "idxbuilt/note.topic"
        ]
    );
    let schema = {
        let db = sled::open(dir.path().join("db")).unwrap();
        let tree = db.open_tree("casemesh").unwrap();
        tree.get("schema").unwrap().unwrap().to_vec()
    };
    assert_eq!(schema, b"3");
}
