//! Outboards written at ingest (issue #11, "Shares at real scale"): a blob over 256 KiB is stored
//! with its BLAKE3 outboard beside it (`blobs/xx/<hash>.obao`), a partner share is served from that
//! file (the sharer never hashes the blob a second time, nothing lands in `partial/outboards/`),
//! the receiver stores the blob without one, and `blobs verify` removes a damaged outboard (derived
//! data: the blob's bytes are intact) and the blob is served again by computing one.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use std::{fs, time::Duration};

use casemesh_tests::{
    TestNode, add_random_evidence, blobs_verify, create_case, partner, share_case, wait_copy,
    wait_share_complete,
};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn a_shared_blob_is_served_from_the_outboard_written_at_ingest() {
    let a = TestNode::start("metro-pd");
    let b = TestNode::start("county-da");
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("interview.mp4");
    let case = create_case(&a, "OB-1");
    let ev = add_random_evidence(&a, &case, &file, (3 << 20) + 1000, 11, &[]);

    let ob = a.blob_path(&ev.hash).with_extension("obao");
    let groups = ev.size.div_ceil(16 * 1024);
    assert_eq!(
        fs::metadata(&ob).map(|m| m.len()).ok(),
        Some((groups - 1) * 64),
        "the outboard is beside the blob, 64 bytes per 16 KiB group after the first"
    );

    let sh = share_case(&a, &case, "county-da", &[]);
    wait_share_complete(&a, &sh.id.to_string(), LIMIT);
    let copy = wait_copy(&b, &sh.id.to_string(), 1, LIMIT);
    assert_eq!(copy.evidence[0].hash, ev.hash);
    let log = a.log();
    assert!(
        !log.contains("outboard computed"),
        "the sharer hashed the blob again to serve it:\n{log}"
    );
    let cached = a.data_dir().join("partial/outboards");
    assert!(
        fs::read_dir(&cached).map_or(true, |d| d.count() == 0),
        "nothing cached in {}",
        cached.display()
    );
    // The receiver stored a fetched blob, which comes without an outboard.
    assert!(b.blob_path(&ev.hash).is_file());
    assert!(!b.blob_path(&ev.hash).with_extension("obao").exists());

    // A damaged outboard is derived data, not damaged evidence: `blobs verify` passes the blob
    // (its bytes are intact) and removes the outboard.
    assert!(blobs_verify(&a).corrupt.is_empty());
    let mut bytes = fs::read(&ob).unwrap();
    bytes[100] ^= 0x01;
    fs::write(&ob, &bytes).unwrap();
    let report = blobs_verify(&a);
    assert_eq!(report.exit_code, 0, "{report:?}");
    assert!(report.corrupt.is_empty(), "{report:?}");
    assert!(!ob.exists(), "the damaged outboard was removed");
}
