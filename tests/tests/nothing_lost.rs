//! Issue #10, "Nothing lost": every input that lost or stalled data, as a test against real nodes.
//! Each test is named after the issue and states the behaviour the fix must give.
//!
//! Acknowledged writes survive a crash:
//! - `issue10_acknowledged_writes_survive_sigkill`: ten rounds of `case create` + `folder create`,
//!   each followed at once by SIGKILL and a restart; every case and folder is still there.
//! - `issue10_acknowledged_evidence_survives_sigkill`: an acknowledged `evidence add` and
//!   `evidence transcript add`, then SIGKILL: item, transcript and bytes are all there.
//!
//! Referenced blobs are never garbage-collected (after each, `blobs verify` names nothing):
//! - `issue10_gc_keeps_blobs_when_items_share_an_empty_transcript`: two items with empty
//!   transcripts, one deleted, `blobs gc`: the other item and its transcript read back intact.
//! - `issue10_gc_keeps_identical_transcripts_of_two_items`: the same with byte-identical
//!   non-empty transcripts.
//! - `issue10_gc_keeps_a_transcript_added_twice_to_one_item`: one item holds a transcript twice,
//!   a second item holds it once; deleting the first must not free the second's transcript.
//! - `issue10_gc_keeps_evidence_whose_bytes_were_a_deleted_items_transcript`: an item whose
//!   transcript has its own bytes, and another item with the same bytes; delete the first.
//! - `issue10_retention_sweep_keeps_bytes_other_items_hold`: the sweeper (which also runs gc)
//!   expires one old item (its transcript uploaded twice); its bytes, which a newer item of the
//!   case holds, and its transcript's bytes, which another case holds as evidence, stay.
//! - `issue10_gc_on_the_receiver_keeps_received_evidence_and_transcripts`: a partner's copy with
//!   transcripts survives `blobs gc` on the receiving node.
//! - `issue10_blobs_verify_names_a_corrupt_blob` / `issue10_blobs_verify_names_a_missing_blob`:
//!   `blobs verify` exits 1 and names the damaged referenced blob.
//!
//! One big message does not block a partner:
//! - `issue10_oversize_description_is_refused`: a ~900 KB evidence description is refused (400)
//!   and changes nothing.
//! - `issue10_oversize_offer_does_not_block_the_partner`: a share whose items exceed what one
//!   control message may carry (the first wave blocked the outbox on it; then it ended Failed)
//!   now completes, its item list and metadata document sent as blobs (issue #11), with no dead
//!   letter; a later small share to the same partner still completes and can be stopped.
//! - `issue10_oversize_update_does_not_block_the_partner`: the same when a share that started
//!   small grows (case synchronization) past what one message may carry: it completes again.
//!
//! One refused item does not stall a whole import:
//! - `issue10_a_refused_item_does_not_stall_the_import`: an item deleted at the sharer before the
//!   offline partner fetched it is skipped (and reported), the rest arrives, the share completes.
//!
//! Disk full:
//! - `issue10_full_disk_refuses_evidence_cleanly`: on a 64 MiB tmpfs, an `evidence add` larger than
//!   the free space fails with a clear error (507 `insufficient_storage`, saying so) and leaves
//!   nothing behind; after freeing space a smaller add succeeds; a record write on a full disk is
//!   a 507 too, and writes work again once space is freed. Skipped (with a message) where no tmpfs
//!   can be mounted (it needs root).
//! - `issue10_full_disk_at_the_receiver_fails_the_fetch_cleanly_and_recovers`: a partner's item
//!   that does not fit is not fetched (the import reports the lack of space, nothing half-written
//!   stays), and once space is freed the import resumes and the share completes.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::ids::{BlobHash, EvidenceId, TranscriptId};
use casemesh_tests::{
    CaseView, ErrorBody, EvidenceView, GcReport, SHARING_NET_LOG, ShareView, TestNode,
    add_evidence_file, add_random_evidence, assert_audit_verifies, assert_blobs_sound,
    blobs_verify, case_view, create_case, damage_byte, downloaded_hash, files_under, hash_file,
    logged_node, partner, peer_view, random_file, received_view, s, share_case, share_view,
    try_received_view, wait_connected, wait_copy, wait_share_complete, wait_until,
};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
/// How long shares, receipts and revocations get to cross (debug builds, two nodes).
const LIMIT: Duration = Duration::from_secs(60);
/// The control-message cap (`MAX_CONTROL_REQUEST` in `crates/net/src/wire.rs`).
const MAX_CONTROL_REQUEST: u64 = 4 * MIB;

/// Write a pseudo-random file `name` of `size` bytes in `dir` and add it to `case`.
fn add_file(node: &TestNode, case: &str, dir: &Path, name: &str, size: u64, seed: u64) -> Item {
    let src = dir.join(name);
    let ev = add_random_evidence(node, case, &src, size, seed, &[]);
    Item::added(ev, &src)
}

/// Add the file at `src` to `case`.
fn add_path(node: &TestNode, case: &str, src: &Path) -> Item {
    Item::added(add_evidence_file(node, case, src, &[]), src)
}

/// An evidence item as the test added it: where its bytes and its transcripts' bytes came from.
#[derive(Debug, Clone)]
struct Item {
    id: EvidenceId,
    hash: BlobHash,
    src: PathBuf,
    /// (transcript id, source file).
    transcripts: Vec<(TranscriptId, PathBuf)>,
}

impl Item {
    /// The item `ev` that `evidence add` made of the file at `src`, with no transcripts yet.
    fn added(ev: EvidenceView, src: &Path) -> Item {
        Item {
            id: ev.id,
            hash: ev.hash,
            src: src.to_owned(),
            transcripts: Vec::new(),
        }
    }
}

/// `evidence transcript add CASE EV FILE`; records the new transcript on `item`.
fn add_transcript(node: &TestNode, case: &str, item: &mut Item, file: &Path) {
    let ev: EvidenceView = node.cli_typed([
        "evidence",
        "transcript",
        "add",
        case,
        &item.id.to_string(),
        s(file),
    ]);
    let known: Vec<TranscriptId> = item.transcripts.iter().map(|(id, _)| *id).collect();
    let added = ev
        .transcripts
        .iter()
        .map(|t| t.id)
        .find(|id| !known.contains(id))
        .unwrap_or_else(|| panic!("no new transcript on the item: {ev:?}"));
    item.transcripts.push((added, file.to_owned()));
}

/// Download a transcript (`evidence transcript get`, hash-checked) and return its BLAKE3.
fn transcript_hash(
    node: &TestNode,
    case: &str,
    ev: EvidenceId,
    transcript: TranscriptId,
    dir: &Path,
) -> BlobHash {
    let out = dir.join(format!("transcript-{transcript}"));
    node.cli_ok([
        "evidence",
        "transcript",
        "get",
        case,
        &ev.to_string(),
        &transcript.to_string(),
        "-o",
        s(&out),
    ]);
    let hash = hash_file(&out);
    fs::remove_file(&out).unwrap();
    hash
}

/// The item's bytes and every transcript's bytes read back identical to what was added.
fn assert_item_intact(node: &TestNode, case: &str, item: &Item, dir: &Path) {
    assert_eq!(
        downloaded_hash(node, case, &item.id.to_string(), dir),
        hash_file(&item.src),
        "evidence {} of {case} on {} came back different",
        item.id,
        node.name()
    );
    for (id, src) in &item.transcripts {
        assert_eq!(
            transcript_hash(node, case, item.id, *id, dir),
            hash_file(src),
            "transcript {id} of evidence {} on {} came back different",
            item.id,
            node.name()
        );
    }
}

fn delete_evidence(node: &TestNode, case: &str, item: &Item) {
    node.cli_ok(["evidence", "delete", case, &item.id.to_string(), "--yes"]);
}

fn gc(node: &TestNode) -> GcReport {
    node.cli_typed(["blobs", "gc", "--yes"])
}

fn evidence_ids(node: &TestNode, case: &str) -> Vec<EvidenceId> {
    case_view(node, case)
        .evidence
        .into_iter()
        .map(|e| e.id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Acknowledged writes survive SIGKILL.

#[test]
fn issue10_acknowledged_writes_survive_sigkill() {
    const ROUNDS: usize = 10;
    let mut node = TestNode::start("durable");
    for i in 1..=ROUNDS {
        let case = format!("K-{i}");
        node.cli_json(["case", "create", "--case-id", &case, "--title", "t"]);
        node.cli_ok(["folder", "create", &case, "Bodycam"]);
        // The CLI said yes: a crash now must not undo it.
        node.kill();
        node.start_again();
    }
    let mut lost = Vec::new();
    for i in 1..=ROUNDS {
        let case = format!("K-{i}");
        let out = node.cli(["--json", "case", "show", &case]);
        if !out.status.success() {
            lost.push(format!("case {case}"));
            continue;
        }
        let folders = node.cli_json(["folder", "list", &case]);
        if !folders.as_array().unwrap().iter().any(|f| f == "Bodycam") {
            lost.push(format!("folder {case}/Bodycam"));
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost to SIGKILL: {lost:?}",
        lost.len()
    );
}

#[test]
fn issue10_acknowledged_evidence_survives_sigkill() {
    let mut node = TestNode::start("durable-evidence");
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&node, "KE-1");
    let mut item = add_file(&node, &case, work.path(), "bodycam.mp4", 3 * MIB, 1);
    node.kill();
    node.start_again();
    assert_eq!(
        evidence_ids(&node, &case),
        std::slice::from_ref(&item.id),
        "the acknowledged evidence item is there after SIGKILL"
    );
    assert_item_intact(&node, &case, &item, work.path());

    let transcript = work.path().join("bodycam.txt");
    fs::write(&transcript, "Q: Where were you?\nA: At home.\n").unwrap();
    add_transcript(&node, &case, &mut item, &transcript);
    node.kill();
    node.start_again();
    assert_item_intact(&node, &case, &item, work.path());
    assert_blobs_sound(&node);
    assert_audit_verifies(&node, &case);
}

// ---------------------------------------------------------------------------------------------
// Referenced blobs are never garbage-collected.

/// Two items EV-0001 and EV-0002 with distinct contents in a new case.
fn two_items(node: &TestNode, dir: &Path, case_id: &str) -> (String, Item, Item) {
    let case = create_case(node, case_id);
    let first = add_file(node, &case, dir, "first.bin", 64 * KIB, 11);
    let second = add_file(node, &case, dir, "second.bin", 64 * KIB, 12);
    assert_ne!(first.hash, second.hash);
    (case, first, second)
}

#[test]
fn issue10_gc_keeps_blobs_when_items_share_an_empty_transcript() {
    let node = TestNode::start("gc-empty");
    let work = tempfile::tempdir().unwrap();
    let (case, mut first, mut second) = two_items(&node, work.path(), "GC-A");
    let empty = work.path().join("empty.txt");
    fs::write(&empty, b"").unwrap();
    add_transcript(&node, &case, &mut first, &empty);
    add_transcript(&node, &case, &mut second, &empty);

    delete_evidence(&node, &case, &first);
    gc(&node);
    assert_item_intact(&node, &case, &second, work.path());
    assert_blobs_sound(&node);
}

#[test]
fn issue10_gc_keeps_identical_transcripts_of_two_items() {
    let node = TestNode::start("gc-same-transcript");
    let work = tempfile::tempdir().unwrap();
    let (case, mut first, mut second) = two_items(&node, work.path(), "GC-B");
    let text = work.path().join("statement.txt");
    fs::write(&text, "Q: Did you see the car?\nA: Yes, a red one.\n").unwrap();
    add_transcript(&node, &case, &mut first, &text);
    add_transcript(&node, &case, &mut second, &text);

    delete_evidence(&node, &case, &first);
    gc(&node);
    assert_item_intact(&node, &case, &second, work.path());
    assert_blobs_sound(&node);
}

#[test]
fn issue10_gc_keeps_a_transcript_added_twice_to_one_item() {
    let node = TestNode::start("gc-twice");
    let work = tempfile::tempdir().unwrap();
    let (case, mut first, mut second) = two_items(&node, work.path(), "GC-C");
    let text = work.path().join("interview.txt");
    fs::write(&text, "Q: Where were you on the 15th?\nA: At work.\n").unwrap();
    // The same transcript uploaded twice to one item (an operator retrying), once to another.
    add_transcript(&node, &case, &mut first, &text);
    add_transcript(&node, &case, &mut first, &text);
    add_transcript(&node, &case, &mut second, &text);

    delete_evidence(&node, &case, &first);
    gc(&node);
    assert_item_intact(&node, &case, &second, work.path());
    assert_blobs_sound(&node);
}

#[test]
fn issue10_gc_keeps_evidence_whose_bytes_were_a_deleted_items_transcript() {
    let node = TestNode::start("gc-self-transcript");
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&node, "GC-D");
    let notes = work.path().join("notes.txt");
    fs::write(&notes, "Officer's notes, 15 March, 21:40.\n").unwrap();
    // EV-0001 is a text file that is also given as its own transcript…
    let mut first = add_path(&node, &case, &notes);
    add_transcript(&node, &case, &mut first, &notes);
    // …and EV-0002 holds the same bytes (stored once).
    let second = add_path(&node, &case, &notes);
    assert_eq!(first.hash, second.hash);

    delete_evidence(&node, &case, &first);
    gc(&node);
    assert_item_intact(&node, &case, &second, work.path());
    assert_blobs_sound(&node);
}

#[test]
fn issue10_retention_sweep_keeps_bytes_other_items_hold() {
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    // The node's clock starts 40 days in the past, so EV-0001 is 40 days old once it is reset.
    let mut node = TestNode::builder("sweep")
        .env("CASEMESH_CLOCK_OFFSET_MS", (-40 * DAY_MS).to_string())
        .start();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let swept = create_case(&node, "RET-30");
    let kept = create_case(&node, "RET-KEEP");
    let transcript = dir.join("old-interview.txt");
    fs::write(&transcript, "Q: Who called you?\nA: My brother.\n").unwrap();
    let mut old = add_file(&node, &swept, dir, "old.bin", 64 * KIB, 21);
    // Uploaded twice (a retry), as in the reference-count sibling above.
    add_transcript(&node, &swept, &mut old, &transcript);
    add_transcript(&node, &swept, &mut old, &transcript);

    node.set_env("CASEMESH_CLOCK_OFFSET_MS", "0");
    node.restart();
    // A recent item of the same case holds the old item's bytes (stored once)…
    let recent = add_path(&node, &swept, &old.src);
    // …and another case holds the old transcript's bytes as evidence.
    let transcript_as_evidence = add_path(&node, &kept, &transcript);
    node.cli_json(["case", "retention", &swept, "30", "--yes"]);

    node.cli_json(["retention", "sweep", "--yes"]);
    assert_eq!(
        evidence_ids(&node, &swept),
        std::slice::from_ref(&recent.id),
        "the sweep removes the 40-day-old item only"
    );
    assert_item_intact(&node, &swept, &recent, dir);
    assert_item_intact(&node, &kept, &transcript_as_evidence, dir);
    assert_blobs_sound(&node);
    assert_audit_verifies(&node, &swept);
    assert_audit_verifies(&node, &kept);
}

#[test]
fn issue10_gc_on_the_receiver_keeps_received_evidence_and_transcripts() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let b = logged_node("county-da", SHARING_NET_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let case = create_case(&a, "RX-1");
    let mut items = Vec::new();
    for (i, name) in ["interview-1.wav", "interview-2.wav", "scene.jpg"]
        .into_iter()
        .enumerate()
    {
        let mut item = add_file(&a, &case, dir, name, 48 * KIB + i as u64, 30 + i as u64);
        if i < 2 {
            let t = dir.join(format!("{name}.txt"));
            fs::write(&t, format!("Transcript of {name}\n")).unwrap();
            add_transcript(&a, &case, &mut item, &t);
        }
        items.push(item);
    }
    let sh = share_case(&a, &case, "county-da", &[]);
    wait_share_complete(&a, &sh.id.to_string(), LIMIT);
    let copy: CaseView = wait_copy(&b, &sh.id.to_string(), items.len(), LIMIT);
    let copy_id = copy.id.to_string();

    gc(&b);
    for item in &items {
        let local = copy
            .evidence
            .iter()
            .find(|e| e.hash == item.hash)
            .unwrap_or_else(|| panic!("the copy has no item with hash {}: {copy:?}", item.hash));
        assert_eq!(
            downloaded_hash(&b, &copy_id, &local.id.to_string(), dir),
            item.hash,
            "received evidence after gc on the receiver"
        );
        let transcripts = &local.transcripts;
        assert_eq!(transcripts.len(), item.transcripts.len(), "{local:?}");
        for (t, (_, src)) in transcripts.iter().zip(&item.transcripts) {
            assert_eq!(
                transcript_hash(&b, &copy_id, local.id, t.id, dir),
                hash_file(src),
                "received transcript {} after gc on the receiver",
                t.name
            );
        }
    }
    assert_blobs_sound(&b);
    assert_blobs_sound(&a);
    assert_audit_verifies(&b, &copy_id.to_string());
}

#[test]
fn issue10_blobs_verify_names_a_corrupt_blob() {
    let node = TestNode::start("verify-corrupt");
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&node, "VC-1");
    let damaged = add_file(&node, &case, work.path(), "damaged.bin", 256 * KIB, 41);
    add_file(&node, &case, work.path(), "fine.bin", 256 * KIB, 42);
    assert_blobs_sound(&node);

    damage_byte(&node.blob_path(&damaged.hash), 1000, 0x5a);
    let report = blobs_verify(&node);
    assert_eq!(report.exit_code, 1, "{report:?}");
    assert_eq!(
        report.corrupt,
        std::slice::from_ref(&damaged.hash),
        "{report:?}"
    );
    assert!(report.missing.is_empty(), "{report:?}");
}

#[test]
fn issue10_blobs_verify_names_a_missing_blob() {
    let node = TestNode::start("verify-missing");
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&node, "VM-1");
    let gone = add_file(&node, &case, work.path(), "gone.bin", 256 * KIB, 43);
    add_file(&node, &case, work.path(), "fine.bin", 256 * KIB, 44);
    assert_blobs_sound(&node);

    fs::remove_file(node.blob_path(&gone.hash)).unwrap();
    let report = blobs_verify(&node);
    assert_eq!(report.exit_code, 1, "{report:?}");
    assert_eq!(
        report.missing,
        std::slice::from_ref(&gone.hash),
        "{report:?}"
    );
    assert!(report.corrupt.is_empty(), "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// One big message does not block a partner.

/// `POST /v1/cases/{case}/evidence` with `body` as the file and `description`, into `folder` (the
/// CLI cannot pass descriptions this long: one argument is limited to 128 KiB by the kernel).
fn add_with_description(
    node: &TestNode,
    case: &str,
    name: &str,
    description: &str,
    folder: &str,
    body: Vec<u8>,
) -> Result<reqwest::blocking::Response, reqwest::Error> {
    node.http()
        .post(node.url(&format!("/v1/cases/{case}/evidence")))
        .query(&[
            ("name", name),
            ("description", description),
            ("folder", folder),
        ])
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
}

/// A description of `len` bytes of plain letters (nothing to percent-encode).
fn description(len: usize) -> String {
    "abcdefghijklmnopqrstuvwxyz "
        .chars()
        .cycle()
        .take(len)
        .collect()
}

#[test]
fn issue10_oversize_description_is_refused() {
    let node = TestNode::start("long-text");
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&node, "LT-1");
    let item = add_file(&node, &case, work.path(), "item.bin", 4 * KIB, 51);
    let huge = description(900 * 1000);

    let edit = node
        .http()
        .patch(node.url(&format!("/v1/cases/{case}/evidence/{}", item.id)))
        .json(&json!({ "description": huge }))
        .send()
        .unwrap();
    let status = edit.status().as_u16();
    let body: Option<ErrorBody> = edit.json().ok();
    let head: String = format!("{body:?}").chars().take(300).collect();
    assert_eq!(
        status, 400,
        "a 900 KB description is refused with 400: {head}…"
    );
    let error = body.map(|b| b.error);
    let code = error.as_ref().map(|e| e.code.as_str()).unwrap_or_default();
    assert!(
        code == "invalid" || code == "bad_request",
        "a validation error code: {error:?}"
    );
    assert!(
        error
            .as_ref()
            .is_some_and(|e| e.message.contains("description")),
        "the error names the field: {error:?}"
    );
    let shown: EvidenceView = node.cli_typed(["evidence", "show", &case, &item.id.to_string()]);
    assert_eq!(shown.description, "", "the refused edit changed nothing");

    // The same text on upload: refused (by the API, or already by the HTTP layer: either way a
    // client error), and no item is added.
    match add_with_description(&node, &case, "other.bin", &huge, "", b"other".to_vec()) {
        Ok(r) => assert!(
            r.status().is_client_error(),
            "upload with a 900 KB description answered {}",
            r.status()
        ),
        Err(e) => eprintln!("the node closed the upload with a 900 KB description: {e}"),
    }
    assert_eq!(evidence_ids(&node, &case), std::slice::from_ref(&item.id));
}

/// Add to `folder` of `case` ("" = root) enough items with long descriptions that one message
/// listing them all (an offer or a manifest update carries every item's description) passes the
/// control-message cap by half. Descriptions stay under the API's own limit: halved until one is
/// accepted.
fn add_oversize_items(node: &TestNode, case: &str, folder: &str) {
    let mut len = 60_000;
    loop {
        let r = add_with_description(
            node,
            case,
            "item-0.txt",
            &description(len),
            folder,
            b"0".to_vec(),
        )
        .unwrap();
        if r.status().is_success() {
            break;
        }
        assert_eq!(r.status().as_u16(), 400, "{}", r.text().unwrap_or_default());
        len /= 2;
        assert!(len >= 1000, "even 1 KB descriptions are refused");
    }
    let count = (MAX_CONTROL_REQUEST * 3 / 2).div_ceil(len as u64);
    eprintln!("{count} items with {len}-byte descriptions");
    for i in 1..count {
        let r = add_with_description(
            node,
            case,
            &format!("item-{i}.txt"),
            &description(len),
            folder,
            i.to_string().into_bytes(),
        )
        .unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    }
}

/// After an oversize message to county-da: a new small share to it still reaches Complete, and
/// stopping it still reaches the partner, within [`LIMIT`].
fn assert_partner_not_blocked(a: &TestNode, b: &TestNode) {
    let work = tempfile::tempdir().unwrap();
    let small = create_case(a, "SMALL-1");
    add_file(a, &small, work.path(), "small.bin", 8 * KIB, 61);
    let next = share_case(a, &small, "county-da", &[]);
    let next_id = next.id;
    wait_share_complete(a, &next_id.to_string(), LIMIT);
    wait_copy(b, &next_id.to_string(), 1, LIMIT);
    let stopped: ShareView = a.cli_typed(["share", "stop", &next_id.to_string(), "--yes"]);
    assert_eq!(stopped.status, "Stopped");
    wait_until("county-da to learn the small share stopped", LIMIT, || {
        (received_view(b, &next_id.to_string()).status == "Stopped").then_some(())
    });
}

#[test]
fn issue10_oversize_offer_does_not_block_the_partner() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let b = logged_node("county-da", SHARING_NET_LOG);
    partner(&a, &b);
    wait_connected(&a, "county-da", true, LIMIT);
    let big = create_case(&a, "BIG-OFFER");
    add_oversize_items(&a, &big, "");

    // Items past the old one-message manifest limit: the offer's item list and metadata
    // document travel as blobs, so the share completes, and the partner is not held up.
    let items = case_view(&a, &big).evidence.len();
    let sh = share_case(&a, &big, "county-da", &[]);
    let share_id = sh.id;
    wait_share_complete(&a, &share_id.to_string(), LIMIT);
    wait_copy(&b, &share_id.to_string(), items, LIMIT);
    let view = peer_view(&a, "county-da");
    assert!(view.dead_letters.is_empty(), "no dead letter: {view:?}");
    assert_partner_not_blocked(&a, &b);
}

#[test]
fn issue10_oversize_update_does_not_block_the_partner() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let b = logged_node("county-da", SHARING_NET_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    // A share of one small folder is accepted; the long-described items wait in another folder.
    let big = create_case(&a, "BIG-UPDATE");
    a.cli_ok(["folder", "create", &big, "Shared"]);
    a.cli_ok(["folder", "create", &big, "Archive"]);
    add_random_evidence(
        &a,
        &big,
        &work.path().join("first.bin"),
        4 * KIB + 62,
        62,
        &["--folder", "Shared"],
    );
    add_oversize_items(&a, &big, "Archive");
    let sh = share_case(&a, &big, "county-da", &["--folder", "Shared"]);
    let share_id = sh.id;
    wait_share_complete(&a, &share_id.to_string(), LIMIT);

    // They move into the shared folder; the next item added makes case synchronization send them
    // all in one manifest update, larger than a message may be.
    let archived: Vec<EvidenceId> = case_view(&a, &big)
        .evidence
        .into_iter()
        .filter(|e| e.folder == "Archive")
        .map(|e| e.id)
        .collect();
    for id in &archived {
        let r = a
            .http()
            .patch(a.url(&format!("/v1/cases/{big}/evidence/{id}")))
            .json(&json!({ "folder": "Shared" }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    }
    add_random_evidence(
        &a,
        &big,
        &work.path().join("trigger.bin"),
        4 * KIB + 63,
        63,
        &["--folder", "Shared"],
    );

    // The update carries the moved items as an item-list blob: the share completes again.
    assert_partner_not_blocked(&a, &b);
    wait_share_complete(&a, &share_id.to_string(), LIMIT);
    wait_copy(&b, &share_id.to_string(), archived.len() + 2, LIMIT);
}

// ---------------------------------------------------------------------------------------------
// One refused item does not stall a whole import.

#[test]
fn issue10_a_refused_item_does_not_stall_the_import() {
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let mut b = TestNode::builder("county-da")
        .fixed_p2p_port()
        .env("RUST_LOG", SHARING_NET_LOG)
        .start();
    partner(&a, &b);
    wait_connected(&a, "county-da", true, LIMIT);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "SKIP-1");
    let items: Vec<Item> = (0..5u64)
        .map(|i| {
            add_file(
                &a,
                &case,
                work.path(),
                &format!("e{i}.bin"),
                16 * KIB + i,
                70 + i,
            )
        })
        .collect();

    b.stop();
    wait_connected(&a, "county-da", false, LIMIT);
    let sh = share_case(&a, &case, "county-da", &[]);
    let share_id = sh.id;
    // The offer (listing five items) waits in the outbox; one item goes before it is fetched.
    let deleted = &items[2];
    delete_evidence(&a, &case, deleted);
    b.start_again();

    let done: ShareView = wait_share_complete(&a, &share_id.to_string(), LIMIT);
    let copy: CaseView = wait_copy(&b, &share_id.to_string(), 4, LIMIT);
    let mut got: Vec<BlobHash> = copy.evidence.iter().map(|e| e.hash).collect();
    got.sort_unstable();
    let mut expected: Vec<BlobHash> = items
        .iter()
        .filter(|i| i.id != deleted.id)
        .map(|i| i.hash)
        .collect();
    expected.sort_unstable();
    assert_eq!(got, expected, "the four other items arrived");

    let received = received_view(&b, &share_id.to_string());
    let skipped = &received.skipped;
    assert_eq!(skipped.len(), 1, "{received:?}");
    let entry = &skipped[0];
    assert!(
        entry.evidence == deleted.id,
        "the skipped entry names the sharer's item: {entry:?}"
    );
    assert_eq!(entry.name, "e2.bin", "{entry:?}");
    let reason = entry.reason.to_lowercase();
    assert!(
        ["gone", "deleted", "not served", "no longer", "refused"]
            .iter()
            .any(|w| reason.contains(w)),
        "the reason says the item is gone or not served: {entry:?}"
    );
    assert_eq!(done.skipped, 1, "{done:?}");
    assert_blobs_sound(&b);
    assert_audit_verifies(&b, &copy.id.to_string());
}

// ---------------------------------------------------------------------------------------------
// Disk full.

/// A tmpfs of `size_mib` MiB mounted on a temporary directory; unmounted on drop (declare it
/// before the nodes that live on it, so they are dropped first).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size_mib: u64) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn issue10_full_disk_refuses_evidence_cleanly() {
    let disk = match Tmpfs::mount(64) {
        Ok(d) => d,
        Err(why) => {
            eprintln!(
                "skipping issue10_full_disk_refuses_evidence_cleanly: cannot mount a tmpfs ({why})"
            );
            return;
        }
    };
    let node = TestNode::builder("full-disk")
        .temp_parent(disk.path())
        .start();
    // The files to add live on the ordinary disk.
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&node, "FULL-1");
    let first = add_file(&node, &case, work.path(), "first.mp4", 8 * MIB, 81);
    let second = add_file(&node, &case, work.path(), "second.mp4", 8 * MIB, 82);
    let blobs_before = files_under(&node.data_dir().join("blobs"));

    // About 46 MiB are free now: more than that cannot be stored at all. (The node may also keep
    // a reserve free for its database; this test allows one of up to ~38 MiB.)
    let too_big = work.path().join("too-big.mp4");
    random_file(&too_big, 56 * MIB, 83);
    let (stderr, _) = node.cli_fail(["evidence", "add", &case, s(&too_big)]);
    assert!(
        stderr.to_lowercase().contains("space"),
        "the error says the disk is full: {stderr}"
    );
    // A full disk is the operator's to fix, not a server fault: 507 insufficient_storage.
    assert!(
        stderr.contains("insufficient_storage") && stderr.contains("HTTP 507"),
        "a full disk is reported as 507 insufficient_storage, not as an internal error: {stderr}"
    );
    assert_eq!(
        files_under(&node.data_dir().join("blobs")),
        blobs_before,
        "no partial file left in blobs/"
    );
    assert_eq!(
        evidence_ids(&node, &case),
        [first.id, second.id],
        "no evidence record for the refused file"
    );

    delete_evidence(&node, &case, &first);
    gc(&node);
    let third = add_file(&node, &case, work.path(), "third.mp4", 16 * MIB, 84);
    assert_item_intact(&node, &case, &second, work.path());
    assert_item_intact(&node, &case, &third, work.path());
    assert_blobs_sound(&node);
    assert_audit_verifies(&node, &case);

    // Records too: with the disk filled by something else, a write is refused as 507 (the
    // database is never driven into a full disk it cannot recover from without a restart), and
    // once space is freed, writes work again without a restart.
    let filler = disk.path().join("filler");
    let free = free_bytes(disk.path());
    random_file(&filler, free.saturating_sub(MIB), 85);
    let (stderr, _) = node.cli_fail(["case", "create", "--case-id", "FULL-2", "--title", "t"]);
    assert!(
        stderr.contains("insufficient_storage") && stderr.contains("HTTP 507"),
        "a write on a full disk is a 507: {stderr}"
    );
    fs::remove_file(&filler).unwrap();
    create_case(&node, "FULL-3");
    assert!(
        node.cli(["case", "show", "FULL-2"]).status.code() != Some(0),
        "the refused case was not created"
    );
    drop(node);
}

/// Bytes free on the file system holding `path` (`df`).
fn free_bytes(path: &Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

/// The receiving side of a full disk: a partner's item that does not fit is not fetched (the
/// import reports the lack of space, nothing half-written stays in `blobs/`), and once space is
/// freed the import resumes by itself and the share completes with the bytes intact.
#[test]
fn issue10_full_disk_at_the_receiver_fails_the_fetch_cleanly_and_recovers() {
    let disk = match Tmpfs::mount(96) {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipping: cannot mount a tmpfs ({why})");
            return;
        }
    };
    let a = logged_node("metro-pd", SHARING_NET_LOG);
    let b = TestNode::builder("county-da")
        .env("RUST_LOG", SHARING_NET_LOG)
        .temp_parent(disk.path())
        .start();
    partner(&a, &b);
    wait_connected(&a, b.name(), true, Duration::from_secs(30));
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "RXFULL-1");
    let item = add_file(&a, &case, work.path(), "interview.mp4", 24 * MIB, 91);

    // Leave the receiver less room than the item plus its reserve.
    let filler = disk.path().join("filler");
    random_file(
        &filler,
        free_bytes(disk.path()).saturating_sub(40 * MIB),
        92,
    );
    let blobs_before = files_under(&b.data_dir().join("blobs"));
    let share = share_case(&a, &case, b.name(), &[]);
    let share_id = share.id;
    let received = wait_until(
        "the receiver to report the lack of space",
        Duration::from_secs(60),
        || {
            let r = try_received_view(&b, &share_id.to_string())?;
            r.last_error
                .as_deref()
                .is_some_and(|e| e.contains("space"))
                .then_some(r)
        },
    );
    assert_eq!(received.items_imported, 0, "{received:?}");
    assert_eq!(
        files_under(&b.data_dir().join("blobs")),
        blobs_before,
        "nothing half-written in the receiver's blobs/"
    );
    assert_eq!(share_view(&a, &share_id.to_string()).status, "Processing");

    fs::remove_file(&filler).unwrap();
    wait_share_complete(&a, &share_id.to_string(), Duration::from_secs(120));
    let copy: CaseView = wait_copy(&b, &share_id.to_string(), 1, Duration::from_secs(30));
    let local = copy.id;
    let received_item = Item {
        id: copy.evidence[0].id,
        ..item
    };
    assert_item_intact(&b, &local.to_string(), &received_item, work.path());
    assert_blobs_sound(&b);
    drop(b);
}
