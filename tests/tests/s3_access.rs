//! Access in place (advanced sharing, `--mode access`) from a sharer whose blobs are in an S3
//! bucket (issue #18 item 3: "partner shares, access in place, packages and links stream from
//! the object store without a full local copy"), between real `casemesh` processes and a real
//! single-node Garage.
//!
//! `a_partner_views_and_downloads_in_place_from_the_sharers_bucket`: the sharer (blobs in its
//! bucket, nothing under `DIR/blobs`) shares a case in access mode; the partner's user lists the
//! folders and items through the partner's own node and downloads each one (a 5 MiB item read
//! from the bucket in ranged, verified pieces, a 70 KB one in a folder, a tiny one): the bytes
//! match the originals, the partner stores no copy, and the sharer's bucket gains no object (no
//! local or staged copy on the way). An object then damaged in the bucket is not handed out:
//! the partner's download fails and leaves no file.
//!
//! Without Garage the test is skipped with a message (`CASEMESH_REQUIRE_TOOLS=1` makes that a
//! failure).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::garage::Garage;
use casemesh_tests::{
    ReceivedContentsView, TestNode, access_share, add_random_evidence, add_user, create_case,
    hash_file, in_folder, partner, received_view, s,
};

#[test]
fn a_partner_views_and_downloads_in_place_from_the_sharers_bucket() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let a = TestNode::builder("metro-pd")
        .config_append(garage.storage_toml("metro-pd"))
        .start();
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let dana = add_user(&b, "dana", "dana", &[]);
    let work = tempfile::tempdir().unwrap();

    let case = create_case(&a, "S3-ACCESS-1");
    a.cli_ok(["folder", "create", &case, "Shared"]);
    let mut items = Vec::new();
    for (name, folder, size) in [
        ("interview.mp4", "", 5 * 1024 * 1024 + 333),
        ("photo.jpg", "Shared", 70_000u64),
        ("note.txt", "", 90),
    ] {
        let path = work.path().join(name);
        let ev = add_random_evidence(&a, &case, &path, size, size, &in_folder(folder));
        assert_eq!(ev.hash, hash_file(&path));
        items.push((ev, path));
    }
    assert!(
        a.blob_files().is_empty(),
        "the sharer's blobs are in its bucket"
    );
    let keys_before = garage.keys("metro-pd");

    let share = access_share(&a, &b, &dana, &case);

    // Viewed through B's node: the sharer's folders and items, with their hashes.
    let view: ReceivedContentsView = b.cli_typed_as(&dana, ["received", "view", &share]);
    assert_eq!(view.folders, ["Shared"], "{view:?}");
    assert_eq!(view.evidence.len(), items.len(), "{view:?}");
    for (ev, _) in &items {
        let listed = view.evidence.iter().find(|e| e.id == ev.id).unwrap();
        assert_eq!(listed.hash, ev.hash, "{listed:?}");
    }

    // Downloaded through B's node: byte-identical.
    for (ev, path) in &items {
        let out = work.path().join(format!("got-{}", ev.name));
        b.cli_json_as(
            &dana,
            ["received", "get", &share, &ev.id.to_string(), "-o", s(&out)],
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(path).unwrap(),
            "{} downloaded in place",
            ev.name
        );
    }

    // No copy anywhere: B stored nothing, A's bucket gained no object.
    assert!(received_view(&b, &share).local_case.is_none());
    for (ev, _) in &items {
        assert!(!b.blob_path(&ev.hash).exists(), "B stored {}", ev.name);
    }
    assert!(b.blob_files().is_empty(), "{:?}", b.blob_files());
    assert_eq!(
        garage.keys("metro-pd"),
        keys_before,
        "the bucket is unchanged"
    );
    assert!(a.blob_files().is_empty(), "no local copy at the sharer");

    // A damaged object in the bucket is not handed out to the partner.
    let big = &items[0].0;
    let key = format!("blobs/{}", big.hash);
    let mut bytes = garage.get("metro-pd", &key);
    bytes[3 * 1024 * 1024 + 7] ^= 0x20;
    garage.put("metro-pd", &key, bytes);
    let out = work.path().join("damaged.bin");
    let (err, code) = b.cli_fail_as(
        &dana,
        [
            "received",
            "get",
            &share,
            &big.id.to_string(),
            "-o",
            s(&out),
        ],
    );
    assert_ne!(code, 0, "{err}");
    assert!(!out.exists(), "a failed download leaves no file: {err}");
}
