//! Fuzz targets for the sharing engine's message payloads (issue #16 item 3): every kind of
//! `casemesh_sharing::wire` decoded with [`wire::decode`] as the engine decodes what a partner
//! sends, and item-list blobs read with [`manifest::read_list`].
//!
//! Properties, checked on every input:
//! - no panic (serde_json also bounds nesting depth, so no stack overflow);
//! - memory held while decoding grows with the input and never beyond [`MAX_PAYLOAD`]:
//!   peak live bytes ≤ [`FACTOR`] × input + [`SLACK`]; an oversize payload is refused before
//!   it is parsed;
//! - what decodes re-encodes to a payload that decodes to the same value
//!   (decode(encode(x)) == x, compared through the encoding).
//!
//! Random bytes are rarely JSON, so besides raw bytes each kind is fuzzed by mutating a valid
//! payload of that kind (flip, cut, insert bytes).
//!
//! These are [bolero](https://camshaft.github.io/bolero/) targets. Under plain `cargo test`
//! (stable) each runs its corpus (`tests/__fuzz__/<target>/corpus`, if any) and random inputs
//! for [`BUDGET`]. Longer: `BOLERO_RANDOM_TEST_TIME_MS=600000 cargo test -p casemesh-sharing
//! --test fuzz_wire -- payload_mutations`; coverage-guided: `cargo bolero test -p
//! casemesh-sharing --test fuzz_wire payload_mutations` (cargo-bolero, nightly).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use casemesh_model::case::Folder;
use casemesh_model::fuzzing::{EditKinds, mutate};
use casemesh_model::grant::Recipient;
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, FolderId, ShareId};
use casemesh_model::measured;
use casemesh_model::time::Timestamp;
use casemesh_sharing::manifest;
use casemesh_sharing::wire::{
    self, AccessAction, AccessEvent, BlobRef, Carried, ItemList, MAX_PAYLOAD, ManifestEvidence,
    ManifestHead, ManifestTranscript, ManifestUpdate, MetaChanges, Offer, OnwardNotice, Receipt,
    RevocationNotice,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Random-input budget of each target under `cargo test`.
const BUDGET: Duration = Duration::from_secs(3);
/// Peak live bytes allowed per input byte (JSON strings are unescaped into owned copies).
const FACTOR: u64 = 8;
/// Fixed allowance (error messages, small vectors).
const SLACK: u64 = 64 * 1024;

/// Decode `bytes` as a `T` the way the engine does; check the bound and the roundtrip.
fn check<T: DeserializeOwned + Serialize>(kind: &str, bytes: &[u8]) {
    let (res, peak) = measured!(|| wire::decode::<T>(kind, bytes));
    let bound = FACTOR * bytes.len().min(MAX_PAYLOAD) as u64 + SLACK;
    assert!(
        peak <= bound,
        "{kind}: decoding {} bytes held {peak} bytes at peak (bound {bound})",
        bytes.len()
    );
    if let Ok(value) = res {
        let once = wire::encode(&value);
        let again: T = wire::decode(kind, once.as_bytes()).unwrap();
        assert_eq!(wire::encode(&again), once, "{kind}: re-encoding differs");
    }
}

/// Decode `bytes` as every payload kind.
fn check_all(bytes: &[u8]) {
    check::<Offer>("grant.offer/2", bytes);
    check::<ManifestUpdate>("evidence.added/2", bytes);
    check::<RevocationNotice>("grant.revoke/1", bytes);
    check::<Receipt>("share.receipt/2", bytes);
    check::<OnwardNotice>("share.onward/1", bytes);
    check::<MetaChanges>("case.update/2", bytes);
    check::<AccessEvent>("access.event/1", bytes);
}

fn hash(b: u8) -> BlobHash {
    BlobHash([b; 32])
}

fn item(n: u8) -> ManifestEvidence {
    ManifestEvidence {
        id: EvidenceId::random(),
        display_id: format!("EV-{n}"),
        name: "photo \u{1b}[31m.jpg".into(),
        description: "line\r\nforged".into(),
        folder: Some(FolderId::random()),
        hash: hash(n),
        size: 1234,
        media_type: "image/jpeg".into(),
        transcripts: vec![ManifestTranscript {
            name: "t.txt".into(),
            hash: hash(n ^ 0xff),
            size: 12,
        }],
    }
}

fn head() -> ManifestHead {
    let root = FolderId::random();
    ManifestHead {
        share: ShareId::random(),
        source_case: CaseId::random(),
        case_number: "FORGE-1".into(),
        title: "a title".into(),
        description: String::new(),
        folders: vec![
            Folder {
                id: root,
                name: "Evidence".into(),
                parent: None,
            },
            Folder {
                id: FolderId::random(),
                name: "Photos".into(),
                parent: Some(root),
            },
        ],
        items: 2,
        made_at: Timestamp(1_795_000_000_000),
    }
}

/// One valid payload of every kind.
fn seeds() -> Vec<Vec<u8>> {
    let blob = BlobRef {
        hash: hash(7),
        size: 99,
    };
    let payloads = [
        wire::encode(&Offer {
            grant: "00ff".into(),
            head: head(),
            items: ItemList::Inline(vec![item(1), item(2)]),
            sharer_name: "metro-pd".into(),
            meta_doc: Some(Carried::Inline("0a0b".into())),
        }),
        wire::encode(&ManifestUpdate {
            grant: "00ff".into(),
            head: head(),
            seq: 3,
            items: ItemList::Blob {
                list: blob,
                count: 4,
            },
        }),
        wire::encode(&RevocationNotice {
            revocation: "abcd".into(),
        }),
        wire::encode(&Receipt {
            share: ShareId::random(),
            seq: Some(2),
            have: 5,
            imported: true,
            skipped_total: 1,
            skipped: vec![(EvidenceId::random(), "deleted".into())],
            signed: Some("ab".into()),
            stop_ack: None,
            refused_recipients: Some(vec![(Recipient::User("x".into()), "unknown".into())]),
        }),
        wire::encode(&OnwardNotice {
            share: ShareId::random(),
            grant: "beef".into(),
            to_name: "state-lab".into(),
        }),
        wire::encode(&MetaChanges {
            share: ShareId::random(),
            changes: Carried::Blob(blob),
        }),
        wire::encode(&AccessEvent {
            share: ShareId::random(),
            user: "alice".into(),
            evidence: Some(EvidenceId::random()),
            action: AccessAction::Download,
            at: Timestamp(1),
        }),
    ];
    payloads.into_iter().map(String::into_bytes).collect()
}

#[test]
fn payload_bytes() {
    bolero::check!().with_test_time(BUDGET).for_each(check_all);
}

#[test]
fn payload_mutations() {
    let seeds = seeds();
    bolero::check!()
        .with_test_time(BUDGET)
        .with_type::<(u8, Vec<(u16, u8)>)>()
        .for_each(|(which, edits)| {
            let base = &seeds[*which as usize % seeds.len()];
            check_all(&mutate(base, edits, EditKinds::TEXT));
        });
}

#[test]
fn every_seed_decodes_as_its_kind() {
    let seeds = seeds();
    assert!(wire::decode::<Offer>("o", &seeds[0]).is_ok());
    assert!(wire::decode::<ManifestUpdate>("u", &seeds[1]).is_ok());
    assert!(wire::decode::<RevocationNotice>("r", &seeds[2]).is_ok());
    assert!(wire::decode::<Receipt>("c", &seeds[3]).is_ok());
    assert!(wire::decode::<OnwardNotice>("n", &seeds[4]).is_ok());
    assert!(wire::decode::<MetaChanges>("m", &seeds[5]).is_ok());
    assert!(wire::decode::<AccessEvent>("a", &seeds[6]).is_ok());
}

#[test]
fn an_oversize_payload_is_refused_before_parsing() {
    let big = vec![b' '; MAX_PAYLOAD + 1];
    let (res, peak) = measured!(|| wire::decode::<Receipt>("share.receipt/2", &big));
    assert!(res.is_err());
    assert!(
        peak <= SLACK,
        "held {peak} bytes refusing an oversize payload"
    );
}

/// Item-list blobs (fetched from the partner): lines of JSON, each checked.
#[test]
fn item_list_blob() {
    let good: Vec<u8> = (1..=3u8)
        .flat_map(|n| {
            let mut line = serde_json::to_vec(&item(n)).unwrap();
            line.push(b'\n');
            line
        })
        .collect();
    bolero::check!()
        .with_test_time(BUDGET)
        .with_type::<(u8, Vec<(u16, u8)>)>()
        .for_each(|(expected, edits)| {
            let bytes = mutate(&good, edits, EditKinds::TEXT);
            let mut seen = 0u64;
            let res = manifest::read_list(&bytes[..], u64::from(*expected % 5), |_| {
                seen += 1;
                Ok(())
            });
            if res.is_ok() {
                assert_eq!(seen, u64::from(*expected % 5));
            }
            assert!(seen <= u64::from(*expected % 5));
        });
}
