//! Foundation behaviour of one node, end to end: real `casemesh run` processes driven through the
//! `casemesh` CLI and raw HTTP against the admin API.
//!
//! Covered here: evidence round trips and streaming of large files, blob deduplication and
//! corruption detection, permissions and authentication, refusal of malformed input and of
//! names that could escape a directory, retention sweeps, the audit chain, folder operations,
//! the shape of the CLI's `--json` output, and durability across restarts and crashes.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_model::ids::EvidenceId;
use casemesh_tests::{
    AuditTrail, AuditVerify, BlobStats, CaseSummary, CaseView, ErrorBody, EvidenceView, GcReport,
    GroupView, Health, NewToken, NodeInfo, OriginView, RetentionView, Revoked, SettingsView,
    SweepReport, TestNode, UserView, add_evidence_file, add_random_evidence, add_user_with,
    assert_http_status, case_view, create_case, damage_byte, error_code, evidence_count, hash_file,
    json_as, output_with_timeout, random_file, s, sorted_folders,
};
use serde_json::json;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

const MIB: u64 = 1 << 20;

fn assert_client_error(stderr: &str) {
    assert!(
        stderr.contains("HTTP 4"),
        "expected a 4xx error, got: {stderr}"
    );
    assert!(
        stderr.starts_with("error: "),
        "errors start with `error: `: {stderr}"
    );
}

#[test]
fn fifty_mib_file_comes_back_byte_identical() {
    let node = TestNode::start("roundtrip");
    let case = create_case(&node, "C-50");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("bodycam.mp4");
    random_file(&src, 50 * MIB, 1);
    let expected = hash_file(&src);

    let ev = add_evidence_file(&node, &case, &src, &[]);
    assert_eq!(ev.hash, expected);
    assert_eq!(ev.size, 50 * MIB);
    assert_eq!(
        ev.name, "bodycam.mp4",
        "the name defaults to the file's name"
    );

    let out = work.path().join("copy.mp4");
    node.cli_ok(["evidence", "get", &case, &ev.id.to_string(), "-o", s(&out)]);
    assert_eq!(fs::metadata(&out).unwrap().len(), 50 * MIB);
    assert_eq!(hash_file(&out), expected);
    assert!(files_equal(&src, &out), "downloaded bytes differ");
    assert!(
        !work.path().join("copy.mp4.part").exists(),
        "no .part file left behind"
    );
}

fn files_equal(a: &Path, b: &Path) -> bool {
    let (mut a, mut b) = (fs::File::open(a).unwrap(), fs::File::open(b).unwrap());
    let (mut x, mut y) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    loop {
        let n = read_full(&mut a, &mut x);
        let m = read_full(&mut b, &mut y);
        if n != m || x[..n] != y[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]).unwrap() {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

#[test]
fn same_file_in_two_cases_is_stored_once() {
    let node = TestNode::start("dedup");
    let a = create_case(&node, "C-A");
    let b = create_case(&node, "C-B");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("statement.pdf");
    random_file(&file, 3 * MIB + 17, 2);

    let ea = add_evidence_file(&node, &a, &file, &[]);
    let eb = add_evidence_file(&node, &b, &file, &["--name", "copy of statement.pdf"]);
    assert_eq!(ea.hash, eb.hash);
    assert_ne!(ea.id, eb.id, "two evidence items");

    assert_eq!(
        node.blob_files().len(),
        1,
        "one blob on disk: {:?}",
        node.blob_files()
    );
    let stats: BlobStats = node.cli_typed(["blobs", "stats"]);
    assert_eq!(stats.count, 1);
    assert_eq!(stats.bytes, 3 * MIB + 17);

    let other = work.path().join("other.bin");
    add_random_evidence(&node, &a, &other, MIB, 3, &[]);
    assert_eq!(node.blob_files().len(), 2);
    assert_eq!(
        node.cli_typed::<BlobStats, _, _>(["blobs", "stats"]).count,
        2
    );
}

#[test]
fn corrupted_blob_is_refused_and_nothing_is_written() {
    let node = TestNode::start("corrupt");
    let case = create_case(&node, "C-X");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("photo.jpg");
    let ev = add_random_evidence(&node, &case, &src, 2 * MIB, 4, &[]);
    let (hash, id) = (ev.hash, &ev.id.to_string());

    let blob = node.blob_path(&hash);
    assert!(blob.is_file(), "blob stored at {}", blob.display());
    damage_byte(&blob, MIB, 0x01);

    let out = work.path().join("photo-copy.jpg");
    let (stderr, code) = node.cli_fail(["evidence", "get", &case, id, "-o", s(&out)]);
    assert_eq!(code, 1);
    assert!(
        stderr.to_lowercase().contains("corrupt"),
        "mentions corruption: {stderr}"
    );
    assert!(!out.exists(), "no output file for corrupt evidence");
    assert!(
        !work.path().join("photo-copy.jpg.part").exists(),
        "no partial file either"
    );

    let resp = node
        .http()
        .get(node.url(&format!("/v1/cases/{case}/evidence/{id}/content")))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    assert_eq!(error_code(resp), "blob_corrupt");
}

#[test]
fn user_without_case_edit_is_refused() {
    let node = TestNode::start("perm-edit");
    let case = create_case(&node, "C-1");
    let viewer = add_user_with(&node, "viewer", "Test User", &[]);

    let (stderr, code) = node.cli_fail_as(
        &viewer,
        ["case", "create", "--case-id", "C-2", "--title", "Nope"],
    );
    assert_eq!(code, 1);
    assert_http_status(&stderr, 403);
    assert!(stderr.contains("forbidden"), "{stderr}");

    let (stderr, _) = node.cli_fail_as(&viewer, ["case", "edit", &case, "--title", "Changed"]);
    assert_http_status(&stderr, 403);
    let (stderr, _) = node.cli_fail_as(&viewer, ["folder", "create", &case, "Photos"]);
    assert_http_status(&stderr, 403);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("a.txt");
    fs::write(&file, b"hello").unwrap();
    let (stderr, _) = node.cli_fail_as(&viewer, ["evidence", "add", &case, s(&file)]);
    assert_http_status(&stderr, 403);
    let (stderr, _) = node.cli_fail_as(&viewer, ["user", "add", "mallory", "--full-name", "M"]);
    assert_http_status(&stderr, 403);

    let resp = node
        .http_with_token(&viewer)
        .post(node.url("/v1/cases"))
        .json(&json!({"case_id": "C-3", "title": "Nope"}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(error_code(resp), "forbidden");

    let cases: Vec<CaseSummary> = node.cli_typed(["case", "list"]);
    assert_eq!(cases.len(), 1, "nothing was created: {cases:?}");
    let c = case_view(&node, &case);
    assert_eq!(c.title, "Shared case");
    assert!(c.folders.is_empty());
    assert!(c.evidence.is_empty());
}

#[test]
fn user_without_edit_case_retention_cannot_change_retention() {
    let node = TestNode::start("perm-retention");
    let case = create_case(&node, "C-1");
    let before = case_view(&node, &case).retention;
    let editor = add_user_with(&node, "editor", "Test User", &["--permission", "case_edit"]);
    // The case is the admin's: the editor needs it on their access list first (issue #12).
    let (stderr, _) = node.cli_fail_as(&editor, ["case", "edit", &case, "--title", "Renamed"]);
    assert_http_status(&stderr, 404);
    node.cli_ok(["share", "create", &case, "--inside", "--to", "user:editor"]);

    let edited: CaseView =
        node.cli_typed_as(&editor, ["case", "edit", &case, "--title", "Renamed"]);
    assert_eq!(edited.title, "Renamed");
    let (stderr, code) = node.cli_fail_as(&editor, ["case", "retention", &case, "30", "--yes"]);
    assert_eq!(code, 1);
    assert_http_status(&stderr, 403);
    let c = case_view(&node, &case);
    assert_eq!(c.title, "Renamed");
    assert_eq!(c.retention, before, "retention unchanged");

    let c: CaseView = node.cli_typed(["case", "retention", &case, "30", "--yes"]);
    assert_eq!(c.retention, RetentionView::Days { days: 30 });
    let c: CaseView = node.cli_typed(["case", "retention", &case, "manual"]);
    assert_eq!(c.retention, RetentionView::UntilManuallyDeleted);
}

#[test]
fn bad_or_missing_token_is_refused() {
    let node = TestNode::start("auth");
    create_case(&node, "C-1");
    let (stderr, code) = node.cli_fail_as("not-a-real-token", ["case", "list"]);
    assert_eq!(code, 1);
    assert_http_status(&stderr, 401);
    assert!(stderr.contains("unauthorized"), "{stderr}");

    for resp in [
        node.http_anon().get(node.url("/v1/cases")).send().unwrap(),
        node.http_with_token("garbage")
            .get(node.url("/v1/cases"))
            .send()
            .unwrap(),
        node.http_with_token("")
            .get(node.url("/v1/node"))
            .send()
            .unwrap(),
        node.http_anon()
            .post(node.url("/v1/cases"))
            .json(&json!({"case_id": "C-2", "title": "x"}))
            .send()
            .unwrap(),
    ] {
        assert_eq!(resp.status().as_u16(), 401);
        assert_eq!(error_code(resp), "unauthorized");
    }
    let health = node.http_anon().get(node.url("/healthz")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.json::<Health>().unwrap().status, "ok");
    assert_eq!(
        node.cli_typed::<Vec<CaseSummary>, _, _>(["case", "list"])
            .len(),
        1
    );
}

#[test]
fn malformed_json_is_refused_and_changes_nothing() {
    let node = TestNode::start("malformed");
    let case = create_case(&node, "C-1");
    let case_before = case_view(&node, &case);
    let settings_before: SettingsView = node.cli_typed(["settings", "show"]);
    let users_before: Vec<UserView> = node.cli_typed(["user", "list"]);
    let http = node.http();
    let send = |method: reqwest::Method, path: &str, body: &str| {
        http.request(method, node.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .unwrap()
    };
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/v1/cases".to_owned(),
            r#"{"case_id": "C-2", "title": "#,
        ),
        (
            reqwest::Method::POST,
            "/v1/cases".to_owned(),
            r#"{"case_id": 5, "title": []}"#,
        ),
        (
            reqwest::Method::POST,
            "/v1/cases".to_owned(),
            "not json at all",
        ),
        (reqwest::Method::PATCH, format!("/v1/cases/{case}"), "{"),
        (
            reqwest::Method::PATCH,
            format!("/v1/cases/{case}"),
            r#"{"title": 7}"#,
        ),
        (
            reqwest::Method::PUT,
            format!("/v1/cases/{case}/retention"),
            r#"{"kind": "weeks"}"#,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/cases/{case}/folders"),
            r#"{"path": 1}"#,
        ),
        (
            reqwest::Method::POST,
            "/v1/users".to_owned(),
            r#"{"username": "x""#,
        ),
        (
            reqwest::Method::PATCH,
            "/v1/settings".to_owned(),
            r#"{"auto_import": "maybe"}"#,
        ),
        (reqwest::Method::POST, "/v1/groups".to_owned(), "[]"),
    ] {
        let resp = send(method.clone(), &path, body);
        let status = resp.status().as_u16();
        let answer: Option<ErrorBody> = resp.json().ok();
        assert_eq!(
            status, 400,
            "{method} {path} {body:?} → {status} {answer:?}"
        );
        assert_eq!(
            answer.as_ref().map(|a| a.error.code.as_str()),
            Some("bad_request"),
            "{method} {path}: {answer:?}"
        );
    }
    assert_eq!(case_view(&node, &case), case_before);
    assert_eq!(
        node.cli_typed::<Vec<CaseSummary>, _, _>(["case", "list"])
            .len(),
        1
    );
    assert_eq!(
        node.cli_typed::<SettingsView, _, _>(["settings", "show"]),
        settings_before
    );
    assert_eq!(
        node.cli_typed::<Vec<UserView>, _, _>(["user", "list"]),
        users_before
    );
}

#[test]
fn unknown_case_and_evidence_ids_are_not_found() {
    let node = TestNode::start("notfound");
    let case = create_case(&node, "C-1");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out.bin");
    let missing_uuid = "00000000-0000-4000-8000-000000000000";

    for args in [
        vec!["case", "show", "no-such-case"],
        vec!["case", "show", missing_uuid],
        vec!["case", "edit", missing_uuid, "--title", "x"],
        vec!["audit", "verify", "no-such-case"],
        vec!["audit", "show", "no-such-case"],
        vec!["folder", "create", "no-such-case", "A"],
        vec!["evidence", "show", &case, missing_uuid],
        vec!["evidence", "show", &case, "E-404"],
        vec!["evidence", "delete", &case, missing_uuid, "--yes"],
        vec!["evidence", "edit", &case, "E-404", "--name", "x"],
        vec!["evidence", "get", &case, missing_uuid, "-o", s(&out)],
    ] {
        let (stderr, code) = node.cli_fail(&args);
        assert_eq!(code, 1, "{args:?}");
        assert_http_status(&stderr, 404);
        assert!(stderr.contains("not_found"), "{args:?}: {stderr}");
    }
    assert!(!out.exists());
    for path in [
        format!("/v1/cases/{missing_uuid}"),
        format!("/v1/cases/{case}/evidence/{missing_uuid}"),
        format!("/v1/cases/{case}/evidence/{missing_uuid}/content"),
    ] {
        let resp = node.http().get(node.url(&path)).send().unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{path}");
        assert_eq!(error_code(resp), "not_found");
    }
}

#[test]
fn folder_paths_that_escape_are_refused() {
    let node = TestNode::start("traversal");
    let case = create_case(&node, "C-1");
    node.cli_ok(["folder", "create", &case, "Safe"]);
    node.cli_ok(["folder", "create", &case, "Safe/Inner"]);
    let before = sorted_folders(&case_view(&node, &case));

    for bad in [
        "../x",
        "/etc",
        "a/../../b",
        "..",
        ".",
        "Safe/../..",
        "Safe//x",
        "a\\b",
        "",
    ] {
        let (stderr, _) = node.cli_fail(["folder", "create", &case, bad]);
        assert_client_error(&stderr);
    }
    for bad in ["../x", "a/b", "..", "/etc", ""] {
        let (stderr, _) = node.cli_fail(["folder", "rename", &case, "Safe/Inner", bad]);
        assert_client_error(&stderr);
    }
    for bad in ["../..", "/etc", "..", "Safe/../.."] {
        let (stderr, _) = node.cli_fail(["folder", "move", &case, "Safe/Inner", bad]);
        assert_client_error(&stderr);
    }
    for bad in ["../Safe", "/Safe"] {
        let (stderr, _) = node.cli_fail(["folder", "delete", &case, bad]);
        assert_client_error(&stderr);
    }
    let http = node.http();
    for (path, body) in [
        ("folders", json!({"path": "a\u{0}b"})),
        ("folders", json!({"path": "Safe/\u{0}"})),
        ("folders", json!({"path": "a\nb"})),
        (
            "folders/rename",
            json!({"path": "Safe/Inner", "new_name": "x\u{0}"}),
        ),
        (
            "folders/move",
            json!({"path": "Safe/Inner", "new_parent": "\u{0}"}),
        ),
    ] {
        let resp = http
            .post(node.url(&format!("/v1/cases/{case}/{path}")))
            .json(&body)
            .send()
            .unwrap();
        assert!(
            resp.status().is_client_error(),
            "{path} {body} → {}",
            resp.status()
        );
    }
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("a.txt");
    fs::write(&file, b"evidence").unwrap();
    let (stderr, _) = node.cli_fail(["evidence", "add", &case, s(&file), "--folder", "../x"]);
    assert_client_error(&stderr);

    assert_eq!(
        sorted_folders(&case_view(&node, &case)),
        before,
        "folder list unchanged"
    );
    assert_eq!(evidence_count(&node, &case), 0);
}

/// Escape sequences and line breaks in one-line fields (case number, title, labels) and escape
/// sequences in text fields are refused with 400, and nothing changes: they were stored and
/// printed raw, at this node and at partners (issue #11's newcomer attack).
#[test]
fn control_characters_in_case_and_evidence_fields_are_refused() {
    let node = TestNode::start("ctrl");
    let case = create_case(&node, "C-1");
    let before = case_view(&node, &case);
    let http = node.http();
    let hostile = [
        json!({"case_id": "ANSI-1", "title": "evil\u{1b}[2J\u{1b}]0;pwned\u{7}"}),
        json!({"case_id": "X-1\r\nBcc: spy@evil.example", "title": "t"}),
        json!({"case_id": "X-2", "title": "two\nlines"}),
        json!({"case_id": "X-3", "title": "t", "description": "see \u{1b}[31mred"}),
    ];
    for body in &hostile {
        let r = http.post(node.url("/v1/cases")).json(body).send().unwrap();
        assert_eq!(
            r.status().as_u16(),
            400,
            "{body}: {}",
            r.text().unwrap_or_default()
        );
        let r = http
            .patch(node.url(&format!("/v1/cases/{case}")))
            .json(body)
            .send()
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            400,
            "{body}: {}",
            r.text().unwrap_or_default()
        );
    }
    assert_eq!(case_view(&node, &case), before, "nothing changed");
    let listed: Vec<CaseSummary> = node.cli_typed(["case", "list"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    // A multi-line description stays allowed.
    let r = http
        .patch(node.url(&format!("/v1/cases/{case}")))
        .json(&json!({"description": "line one\nline\ttwo"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    let r = http
        .post(node.url(&format!(
            "/v1/cases/{case}/evidence?name=a.txt&description=%1B%5B2J"
        )))
        .body(b"bytes".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "{}", r.text().unwrap_or_default());
}

#[test]
fn evidence_names_that_escape_are_refused() {
    let node = TestNode::start("badname");
    let case = create_case(&node, "C-1");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("a.txt");
    fs::write(&file, b"some evidence bytes").unwrap();

    for bad in [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "a/b",
        "a\\b",
        "x\u{1}",
    ] {
        let (stderr, code) = node.cli_fail(["evidence", "add", &case, s(&file), "--name", bad]);
        assert_eq!(code, 1);
        assert_client_error(&stderr);
    }
    let resp = node
        .http()
        .post(node.url(&format!("/v1/cases/{case}/evidence")))
        .query(&[("name", "a\u{0}b")])
        .header("content-type", "application/octet-stream")
        .body(b"bytes".to_vec())
        .send()
        .unwrap();
    assert!(
        resp.status().is_client_error(),
        "NUL in name → {}",
        resp.status()
    );
    assert_eq!(evidence_count(&node, &case), 0);
    assert_eq!(
        node.cli_typed::<BlobStats, _, _>(["blobs", "stats"]).count,
        0,
        "no blob kept either"
    );

    let ev = add_evidence_file(&node, &case, &file, &["--name", "fine.txt"]);
    let id = &ev.id.to_string();
    let (stderr, _) = node.cli_fail(["evidence", "edit", &case, id, "--name", "../../etc/passwd"]);
    assert_client_error(&stderr);
    let shown: EvidenceView = node.cli_typed(["evidence", "show", &case, id]);
    assert_eq!(shown.name, "fine.txt");
}

#[test]
fn zero_day_retention_sweep_removes_evidence_and_is_audited() {
    let node = TestNode::start("retention");
    let keep = create_case(&node, "C-KEEP");
    let case = create_case(&node, "C-SWEEP");
    let work = tempfile::tempdir().unwrap();
    let (f1, f2, f3) = (
        work.path().join("one.bin"),
        work.path().join("two.bin"),
        work.path().join("three.bin"),
    );
    random_file(&f1, MIB, 10);
    random_file(&f2, MIB, 11);
    random_file(&f3, MIB, 12);
    let e1 = add_evidence_file(&node, &case, &f1, &[]);
    let e2 = add_evidence_file(&node, &case, &f2, &[]);
    add_evidence_file(&node, &keep, &f3, &[]);

    node.cli_json(["case", "retention", &case, "0", "--yes"]);
    let swept: SweepReport = node.cli_typed(["retention", "sweep", "--yes"]);
    assert_eq!(swept.removed.len(), 2, "{swept:?}");
    let mut removed_ids: Vec<EvidenceId> = swept.removed.iter().map(|r| r.evidence).collect();
    removed_ids.sort();
    let mut expected = vec![e1.id, e2.id];
    expected.sort();
    assert_eq!(removed_ids, expected);

    assert_eq!(evidence_count(&node, &case), 0);
    assert_eq!(
        evidence_count(&node, &keep),
        1,
        "manual retention keeps evidence"
    );

    let trail: AuditTrail = node.cli_typed(["audit", "show", &case]);
    let sweeps = trail
        .entries
        .iter()
        .filter(|e| e.action == "retention.sweep")
        .count();
    assert!(sweeps >= 1, "retention.sweep in the audit trail: {trail:?}");
    let verify: AuditVerify = node.cli_typed(["audit", "verify", &case]);
    assert!(verify.ok, "{verify:?}");
    assert!(node.cli_ok(["audit", "verify", &case]).contains("ok"));

    assert!(
        node.cli_typed::<SweepReport, _, _>(["retention", "sweep", "--yes"])
            .removed
            .is_empty()
    );
    node.cli_json(["blobs", "gc", "--yes"]);
    assert_eq!(
        node.blob_files().len(),
        1,
        "only the kept case's blob stays after gc"
    );
}

#[test]
fn audit_chain_verifies_after_many_operations() {
    let node = TestNode::start("audit");
    let case = create_case(&node, "C-AUD");
    let work = tempfile::tempdir().unwrap();
    node.cli_ok([
        "case",
        "edit",
        &case,
        "--title",
        "Audited",
        "--description",
        "many ops",
    ]);
    node.cli_ok(["folder", "create", &case, "Interviews"]);
    node.cli_ok(["folder", "create", &case, "Interviews/Day 1"]);
    node.cli_ok(["folder", "create", &case, "Photos"]);
    let mut ids = Vec::new();
    for i in 0..6u64 {
        let file = work.path().join(format!("file-{i}.bin"));
        let folder = if i % 2 == 0 {
            "Interviews/Day 1"
        } else {
            "Photos"
        };
        let ev = add_random_evidence(
            &node,
            &case,
            &file,
            64 * 1024 + i,
            100 + i,
            &["--folder", folder],
        );
        ids.push(ev.id);
    }
    node.cli_ok([
        "evidence",
        "edit",
        &case,
        &ids[0].to_string(),
        "--description",
        "first",
        "--category",
        "Video",
    ]);
    node.cli_ok([
        "evidence",
        "move",
        &case,
        &ids[1].to_string(),
        "--folder",
        "",
    ]);
    node.cli_ok([
        "evidence",
        "get",
        &case,
        &ids[2].to_string(),
        "-o",
        s(&work.path().join("got.bin")),
    ]);
    node.cli_ok(["evidence", "delete", &case, &ids[3].to_string(), "--yes"]);
    node.cli_ok(["folder", "rename", &case, "Photos", "Pictures"]);
    node.cli_ok(["folder", "move", &case, "Pictures", "Interviews"]);
    node.cli_ok(["case", "retention", &case, "365", "--yes"]);
    node.cli_ok(["case", "show", &case]);

    let verify: AuditVerify = node.cli_typed(["audit", "verify", &case]);
    assert!(verify.ok, "{verify:?}");
    assert!(verify.error.is_none());
    let trail: AuditTrail = node.cli_typed(["audit", "show", &case]);
    let entries = &trail.entries;
    assert!(
        entries.len() >= 16,
        "every operation audited: {} entries",
        entries.len()
    );
    // Viewing the trail is itself audited, so the verify before it saw one entry fewer or so.
    assert!(verify.entries <= entries.len() as u64);
    assert!(verify.entries + 2 >= entries.len() as u64);
    assert_eq!(trail.head.len, entries.len() as u64);
    assert_eq!(trail.head.hash, entries.last().unwrap().hash);
    for pair in entries.windows(2) {
        assert_eq!(
            pair[1].prev, pair[0].hash,
            "each entry links to the previous one"
        );
        assert_eq!(
            pair[1].seq,
            pair[0].seq + 1,
            "sequence numbers are contiguous"
        );
    }
    let human = node.cli_ok(["audit", "show", &case]);
    assert!(human.contains("ACTION"), "{human}");
}

#[test]
fn folder_operations_show_in_case_show() {
    let node = TestNode::start("folders");
    let case = create_case(&node, "C-F");
    for path in ["Interviews", "Interviews/Day 1", "Photos", "Archive"] {
        node.cli_ok(["folder", "create", &case, path]);
    }
    assert_eq!(
        sorted_folders(&case_view(&node, &case)),
        ["Archive", "Interviews", "Interviews/Day 1", "Photos"]
    );
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("statement.txt");
    fs::write(&file, b"witness statement").unwrap();
    let ev = add_evidence_file(&node, &case, &file, &["--folder", "Interviews/Day 1"]);
    assert_eq!(ev.folder, "Interviews/Day 1");
    let id = &ev.id.to_string();

    node.cli_ok(["folder", "rename", &case, "Interviews/Day 1", "Day One"]);
    assert_eq!(
        sorted_folders(&case_view(&node, &case)),
        ["Archive", "Interviews", "Interviews/Day One", "Photos"]
    );
    assert_eq!(
        show_evidence(&node, &case, id).folder,
        "Interviews/Day One",
        "evidence follows its folder's rename"
    );

    node.cli_ok(["folder", "move", &case, "Interviews", "Archive"]);
    assert_eq!(
        sorted_folders(&case_view(&node, &case)),
        [
            "Archive",
            "Archive/Interviews",
            "Archive/Interviews/Day One",
            "Photos"
        ]
    );
    assert_eq!(
        show_evidence(&node, &case, id).folder,
        "Archive/Interviews/Day One"
    );

    node.cli_ok(["folder", "move", &case, "Archive/Interviews", ""]);
    node.cli_ok(["folder", "delete", &case, "Photos"]);
    assert_eq!(
        sorted_folders(&case_view(&node, &case)),
        ["Archive", "Interviews", "Interviews/Day One"]
    );
    let listed: Vec<String> = node.cli_typed(["folder", "list", &case]);
    assert_eq!(listed, case_view(&node, &case).folders);

    let (stderr, _) = node.cli_fail(["folder", "create", &case, "Interviews"]);
    assert_client_error(&stderr);
    let (stderr, _) = node.cli_fail(["folder", "rename", &case, "Missing", "X"]);
    assert_client_error(&stderr);
    let (stderr, _) = node.cli_fail(["folder", "move", &case, "Archive", "Archive"]);
    assert_client_error(&stderr);

    // Creating a nested path creates the missing parents too (like `mkdir -p`).
    node.cli_ok(["folder", "create", &case, "New/Child"]);
    assert_eq!(
        sorted_folders(&case_view(&node, &case)),
        [
            "Archive",
            "Interviews",
            "Interviews/Day One",
            "New",
            "New/Child"
        ]
    );
}

#[test]
fn new_case_is_local_and_json_output_carries_ids_and_hashes() {
    let node = TestNode::start("json");
    let created: CaseView = node.cli_typed([
        "case",
        "create",
        "--case-id",
        "2026-CR-0042",
        "--title",
        "Burglary",
        "--description",
        "Main Street",
    ]);
    // `cli_typed` read a well-formed record id, or the test failed there.
    let id = created.id;
    assert_eq!(created.case_id, "2026-CR-0042");

    let shown = case_view(&node, &id.to_string());
    assert_eq!(shown.id, id);
    assert!(!shown.external);
    assert_eq!(shown.origin, OriginView::Local);
    assert_eq!(shown.title, "Burglary");
    assert_eq!(shown.description, "Main Street");
    assert_eq!(
        case_view(&node, "2026-CR-0042").id,
        id,
        "lookup by case number"
    );

    let plain = node.cli_ok(["case", "create", "--case-id", "C-2", "--title", "Plain"]);
    let plain_id = plain.trim();
    assert_eq!(
        case_view(&node, plain_id).case_id,
        "C-2",
        "plain create prints the id"
    );

    let list: Vec<CaseSummary> = node.cli_typed(["case", "list"]);
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| !c.external));
    assert!(list.iter().any(|c| c.id == id && c.evidence_count == 0));
    assert!(
        node.cli_typed::<Vec<CaseSummary>, _, _>(["case", "list", "--external"])
            .is_empty()
    );
    assert!(node.cli_ok(["case", "list"]).contains("2026-CR-0042"));

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("scan.pdf");
    let ev = add_random_evidence(
        &node,
        &created.case_id,
        &file,
        123_457,
        20,
        &["--display-id", "E-1"],
    );
    assert_eq!(ev.hash, hash_file(&file));
    let hash = &ev.hash.to_string();
    assert_eq!(hash.len(), 64);
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(ev.display_id, "E-1");
    assert_eq!(ev.folder, "");

    let plain = node.cli_ok(["evidence", "add", plain_id, s(&file)]);
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "plain evidence add prints id and hash: {plain}"
    );
    assert_eq!(lines[1], hash);

    let status: NodeInfo = node.cli_typed(["status"]);
    assert_eq!(status.org_name, "json");
    assert_eq!(status.org_id.as_str(), node.org_id());
    assert!(node.cli_ok(["status"]).contains("json"));
}

/// `evidence show CASE EVIDENCE`, typed.
fn show_evidence(node: &TestNode, case: &str, evidence: &str) -> EvidenceView {
    node.cli_typed(["evidence", "show", case, evidence])
}

/// Whether `audit verify CASE` reports the chain intact.
fn audit_ok(node: &TestNode, case: &str) -> bool {
    node.cli_typed::<AuditVerify, _, _>(["audit", "verify", case])
        .ok
}

#[test]
fn data_survives_restart_and_crash() {
    let mut node = TestNode::start("durable");
    let case = create_case(&node, "C-D");
    node.cli_ok(["folder", "create", &case, "Kept"]);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("dashcam.mp4");
    let ev = add_random_evidence(&node, &case, &src, 4 * MIB, 30, &["--folder", "Kept"]);
    let id = ev.id;

    let status = node.stop().expect("was running");
    assert!(status.success(), "clean shutdown exits 0: {status}");
    assert!(
        !node.data_dir().join("admin.addr").exists(),
        "admin.addr is removed on clean shutdown"
    );
    node.start_again();
    check_still_there(&node, &case, &id.to_string(), &src, work.path());

    node.kill();
    node.start_again();
    check_still_there(&node, &case, &id.to_string(), &src, work.path());
    let file2 = work.path().join("after-crash.bin");
    add_random_evidence(&node, &case, &file2, MIB, 31, &[]);
    assert_eq!(evidence_count(&node, &case), 2);
    assert!(audit_ok(&node, &case));
}

fn check_still_there(node: &TestNode, case: &str, id: &str, src: &Path, work: &Path) {
    let c = case_view(node, case);
    assert_eq!(c.folders, ["Kept"]);
    assert_eq!(c.evidence.len(), 1);
    let out = work.join("restored.mp4");
    let _ = fs::remove_file(&out);
    node.cli_ok(["evidence", "get", case, id, "-o", s(&out)]);
    assert_eq!(hash_file(&out), hash_file(src));
    assert!(audit_ok(node, case));
}

#[test]
fn second_daemon_on_the_same_data_dir_is_refused() {
    let node = TestNode::start("inuse");
    create_case(&node, "C-1");
    let out = output_with_timeout(node.run_command(), Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "second daemon must not start");
    assert!(
        stderr.to_lowercase().contains("in use"),
        "clear 'in use' error: {stderr}"
    );
    // The first daemon is unaffected.
    assert_eq!(
        node.cli_typed::<Vec<CaseSummary>, _, _>(["case", "list"])
            .len(),
        1
    );
    let addr = fs::read_to_string(node.data_dir().join("admin.addr")).unwrap();
    assert_eq!(
        addr.trim(),
        node.admin_addr(),
        "admin.addr still names the first daemon"
    );
}

#[test]
fn cli_says_clearly_when_no_node_runs() {
    let mut node = TestNode::start("offline");
    node.stop();
    let (stderr, code) = node.cli_fail(["case", "list"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no node address"), "{stderr}");
    assert!(stderr.contains("casemesh run --data-dir"), "{stderr}");

    // A stale address (the daemon was killed) gives a connection error, not a hang.
    fs::write(node.data_dir().join("admin.addr"), "127.0.0.1:9").unwrap();
    let (stderr, _) = node.cli_fail(["case", "list"]);
    assert!(stderr.contains("cannot reach"), "{stderr}");

    let out = casemesh_tests::casemesh()
        .args(["case", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node address"));
}

#[test]
fn evidence_edit_move_and_delete() {
    let node = TestNode::start("evidence");
    let case = create_case(&node, "C-E");
    node.cli_ok(["folder", "create", &case, "Photos"]);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("IMG_0001.jpg");
    let ev = add_random_evidence(
        &node,
        &case,
        &file,
        200_000,
        40,
        &[
            "--display-id",
            "E-1",
            "--folder",
            "Photos",
            "--description",
            "front door",
        ],
    );
    assert_eq!(ev.folder, "Photos");
    assert_eq!(ev.description, "front door");
    let id = ev.id;

    assert_eq!(show_evidence(&node, "C-E", "E-1").id, id, "by display id");
    let edited: EvidenceView = node.cli_typed([
        "evidence",
        "edit",
        &case,
        "E-1",
        "--name",
        "door.jpg",
        "--display-id",
        "E-2",
        "--description",
        "the front door",
        "--category",
        "Photo",
    ]);
    assert_eq!(edited.name, "door.jpg");
    assert_eq!(edited.display_id, "E-2");
    assert_eq!(edited.description, "the front door");
    assert_eq!(edited.category.as_deref(), Some("Photo"));
    assert_eq!(edited.hash, ev.hash, "metadata edits keep the content");
    let (stderr, _) = node.cli_fail(["evidence", "show", &case, "E-1"]);
    assert_http_status(&stderr, 404);
    let cleared: EvidenceView = node.cli_typed(["evidence", "edit", &case, "E-2", "--no-category"]);
    assert!(cleared.category.is_none(), "{cleared:?}");

    let moved: EvidenceView = node.cli_typed(["evidence", "move", &case, "E-2", "--folder", ""]);
    assert_eq!(moved.folder, "");
    let (stderr, _) = node.cli_fail(["evidence", "move", &case, "E-2", "--folder", "Missing"]);
    assert_client_error(&stderr);

    assert!(
        node.cli_ok(["evidence", "list", &case])
            .contains("door.jpg")
    );
    assert!(
        node.cli_ok(["evidence", "show", &case, "E-2"])
            .contains("the front door")
    );

    node.cli_ok(["evidence", "delete", &case, "E-2", "--yes"]);
    let (stderr, _) = node.cli_fail(["evidence", "show", &case, &id.to_string()]);
    assert_http_status(&stderr, 404);
    let (stderr, _) = node.cli_fail(["evidence", "delete", &case, &id.to_string(), "--yes"]);
    assert_http_status(&stderr, 404);
    assert_eq!(evidence_count(&node, &case), 0);
}

#[test]
fn transcript_is_added_and_fetched() {
    let node = TestNode::start("transcript");
    let case = create_case(&node, "C-T");
    let work = tempfile::tempdir().unwrap();
    let video = work.path().join("interview.mp4");
    let ev = add_random_evidence(&node, &case, &video, 300_000, 50, &["--display-id", "E-1"]);
    let transcript = work.path().join("interview.txt");
    fs::write(&transcript, "Q: Where were you?\nA: At home.\n").unwrap();

    let after: EvidenceView = node.cli_typed([
        "evidence",
        "transcript",
        "add",
        &case,
        "E-1",
        s(&transcript),
    ]);
    let ts = &after.transcripts;
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].name, "interview.txt");
    assert_eq!(ts[0].hash, hash_file(&transcript));
    assert_eq!(
        after.hash, ev.hash,
        "the evidence's own content is unchanged"
    );

    let out = work.path().join("t.txt");
    node.cli_ok([
        "evidence",
        "transcript",
        "get",
        &case,
        "E-1",
        "interview.txt",
        "-o",
        s(&out),
    ]);
    assert_eq!(fs::read(&out).unwrap(), fs::read(&transcript).unwrap());
    let (stderr, _) = node.cli_fail([
        "evidence",
        "transcript",
        "add",
        &case,
        "E-1",
        s(&transcript),
        "--name",
        "../t",
    ]);
    assert_client_error(&stderr);
}

#[test]
fn settings_are_shown_and_changed() {
    let node = TestNode::start("settings");
    let before_json = node.cli_json(["settings", "show"]);
    // The --json contract itself: every flag is printed by name, as a boolean.
    for flag in [
        "evidence_share",
        "evidence_share_external",
        "evidence_share_links",
        "case_share",
        "case_share_by_copy",
        "case_share_links",
        "configurable_retention",
        "advanced_sharing",
    ] {
        assert!(
            before_json["features"][flag].is_boolean(),
            "feature {flag}: {before_json}"
        );
    }
    let before: SettingsView = json_as(&before_json);
    let flipped = !before.features.case_share;
    let value = if flipped {
        "case_share=on"
    } else {
        "case_share=off"
    };
    let after: SettingsView = node.cli_typed([
        "settings",
        "set",
        "--feature",
        value,
        "--default-retention",
        "30",
        "--auto-import",
        "off",
    ]);
    assert_eq!(after.features.case_share, flipped);
    assert_eq!(
        after.features.case_share_links, before.features.case_share_links,
        "features not named stay as they were"
    );
    assert_eq!(
        after.default_retention,
        Some(RetentionView::Days { days: 30 })
    );
    assert!(!after.auto_import);
    assert_eq!(
        node.cli_typed::<SettingsView, _, _>(["settings", "show"]),
        after
    );

    let cleared: SettingsView = node.cli_typed(["settings", "set", "--default-retention", "none"]);
    assert!(cleared.default_retention.is_none(), "{cleared:?}");
    assert!(!cleared.auto_import);
    let manual: SettingsView = node.cli_typed(["settings", "set", "--default-retention", "manual"]);
    assert_eq!(
        manual.default_retention,
        Some(RetentionView::UntilManuallyDeleted)
    );

    let (stderr, _) = node.cli_fail(["settings", "set", "--feature", "no_such_feature=on"]);
    assert_client_error(&stderr);
    let editor = add_user_with(&node, "editor", "Test User", &["--permission", "case_edit"]);
    let (stderr, _) = node.cli_fail_as(&editor, ["settings", "set", "--auto-import", "on"]);
    assert_http_status(&stderr, 403);
    assert!(node.cli_ok(["settings", "show"]).contains("Auto-import"));
}

#[test]
fn users_groups_and_tokens() {
    let node = TestNode::start("users");
    let group: GroupView =
        node.cli_typed(["group", "add", "investigators", "--permission", "case_edit"]);
    assert_eq!(group.name, "investigators");
    assert_eq!(group.permissions, ["case_edit"]);
    let groups: Vec<GroupView> = node.cli_typed(["group", "list"]);
    assert!(groups.iter().any(|g| g.name == "investigators"));

    let token = add_user_with(
        &node,
        "alice",
        "Test User",
        &[
            "--email",
            "alice@example.org",
            "--badge-id",
            "B-7",
            "--group",
            "investigators",
        ],
    );
    // case_edit comes through the group; the case's owner is alice.
    let hers: CaseView = node.cli_typed_as(
        &token,
        ["case", "create", "--case-id", "C-ALICE", "--title", "Hers"],
    );
    assert_eq!(hers.owner, "alice");

    let users: Vec<UserView> = node.cli_typed(["user", "list"]);
    let alice = users
        .iter()
        .find(|u| u.username == "alice")
        .expect("alice listed");
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert_eq!(alice.badge_id.as_deref(), Some("B-7"));
    assert_eq!(alice.groups, ["investigators"]);
    assert!(node.cli_ok(["user", "list"]).contains("alice"));

    // Replacing tokens asks first: without a terminal it needs --yes, and nothing changes.
    let (stderr, _) = node.cli_fail(["user", "token", "alice"]);
    assert!(stderr.contains("--yes"), "{stderr}");
    node.cli_json_as(&token, ["case", "list"]);
    let fresh: NewToken = node.cli_typed(["user", "token", "alice", "--yes"]);
    let fresh = fresh.token.as_str();
    assert_ne!(fresh, token);
    let listed: Vec<CaseSummary> = node.cli_typed_as(fresh, ["case", "list"]);
    assert_eq!(listed.len(), 1, "the new token works");
    let plain = node.cli_ok(["user", "token", "alice", "--yes"]);
    assert_eq!(
        plain.trim().len(),
        fresh.len(),
        "plain `user token` prints just the token"
    );
    // A new token replaces the earlier ones (issue #12), unless asked to keep them.
    let (stderr, _) = node.cli_fail_as(fresh, ["case", "list"]);
    assert_http_status(&stderr, 401);
    let fresh = plain.trim().to_owned();
    let fresh = fresh.as_str();
    let kept = node.cli_ok(["user", "token", "alice", "--keep"]);
    node.cli_json_as(fresh, ["case", "list"]);
    node.cli_json_as(kept.trim(), ["case", "list"]);

    let edited: UserView = node.cli_typed([
        "user",
        "edit",
        "alice",
        "--no-groups",
        "--full-name",
        "Alice B",
    ]);
    assert_eq!(edited.full_name, "Alice B");
    assert!(edited.groups.is_empty());
    let (stderr, _) = node.cli_fail_as(
        fresh,
        ["case", "create", "--case-id", "C-2", "--title", "No more"],
    );
    assert_http_status(&stderr, 403);

    let (stderr, _) = node.cli_fail(["user", "add", "alice", "--full-name", "Again"]);
    assert_client_error(&stderr);
    let (stderr, _) = node.cli_fail([
        "user",
        "add",
        "bob",
        "--full-name",
        "Bob",
        "--permission",
        "fly",
    ]);
    assert_client_error(&stderr);
    let (stderr, _) = node.cli_fail(["user", "token", "nobody", "--yes"]);
    assert_http_status(&stderr, 404);

    // Disabled: its tokens open nothing; enabled again: they do.
    node.cli_ok(["user", "disable", "alice", "--yes"]);
    let (stderr, _) = node.cli_fail_as(fresh, ["case", "list"]);
    assert_http_status(&stderr, 401);
    node.cli_ok(["user", "enable", "alice"]);
    node.cli_json_as(fresh, ["case", "list"]);
    // Revoked: every token of the user at once.
    let revoked: Revoked = node.cli_typed(["user", "token", "alice", "--revoke", "--yes"]);
    assert_eq!(revoked.revoked, 2, "{revoked:?}");
    let (stderr, _) = node.cli_fail_as(kept.trim(), ["case", "list"]);
    assert_http_status(&stderr, 401);
    // Deleted: gone, its audit entries stay.
    let token = node.cli_ok(["user", "token", "alice", "--yes"]);
    node.cli_typed_as::<Vec<CaseSummary>, _, _>(token.trim(), ["case", "list"]);
    node.cli_ok(["user", "delete", "alice", "--yes"]);
    let (stderr, _) = node.cli_fail_as(token.trim(), ["case", "list"]);
    assert_http_status(&stderr, 401);
    assert!(!node.cli_ok(["user", "list"]).contains("alice"));
    // Nobody can lock themselves out.
    let (stderr, _) = node.cli_fail(["user", "disable", "admin", "--yes"]);
    assert_client_error(&stderr);
    let (stderr, _) = node.cli_fail(["user", "delete", "admin", "--yes"]);
    assert_client_error(&stderr);
}

#[test]
fn blob_gc_removes_only_unreferenced_blobs() {
    let node = TestNode::start("gc");
    let case = create_case(&node, "C-GC");
    let work = tempfile::tempdir().unwrap();
    let (keep, drop) = (work.path().join("keep.bin"), work.path().join("drop.bin"));
    random_file(&keep, MIB, 60);
    random_file(&drop, 2 * MIB, 61);
    let kept = add_evidence_file(&node, &case, &keep, &[]);
    let dropped = add_evidence_file(&node, &case, &drop, &[]);
    node.cli_ok([
        "evidence",
        "delete",
        &case,
        &dropped.id.to_string(),
        "--yes",
    ]);

    let gc: GcReport = node.cli_typed(["blobs", "gc", "--yes"]);
    assert_eq!(gc.removed, 1, "{gc:?}");
    // The blob and its outboard file (64 bytes per 16 KiB group after the first): disk freed.
    let outboard = (2 * MIB / (16 * 1024) - 1) * 64;
    assert_eq!(gc.bytes_freed, 2 * MIB + outboard);
    assert!(
        !node
            .blob_path(&dropped.hash)
            .with_extension("obao")
            .exists()
    );
    assert!(!node.blob_path(&dropped.hash).exists());
    assert!(node.blob_path(&kept.hash).exists());
    assert_eq!(
        node.cli_typed::<BlobStats, _, _>(["blobs", "stats"]).count,
        1
    );
    assert_eq!(
        node.cli_typed::<GcReport, _, _>(["blobs", "gc", "--yes"])
            .removed,
        0
    );
    assert!(node.cli_ok(["blobs", "stats"]).contains("1 blobs"));
}

#[test]
fn node_and_token_flags_and_env_work_without_a_data_dir() {
    let node = TestNode::start("flags");
    create_case(&node, "C-1");
    let base = node.url("");
    let out = casemesh_tests::casemesh()
        .args([
            "--json",
            "--node",
            &base,
            "--token",
            node.token(),
            "case",
            "list",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<CaseSummary> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cases.len(), 1);

    let out = casemesh_tests::casemesh()
        .args(["--json", "status"])
        .env("CASEMESH_NODE", node.admin_addr())
        .env("CASEMESH_TOKEN", node.token())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: NodeInfo = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status.org_name, "flags");

    // --token overrides DIR/admin.token.
    let (stderr, _) = node.cli_fail_as("wrong", ["status"]);
    assert_http_status(&stderr, 401);

    let (stderr, _) = node.cli_fail(["evidence", "add", "C-1", "/no/such/file.bin"]);
    assert!(stderr.contains("/no/such/file.bin"), "{stderr}");
    // A directory is a batch (bulk ingest); an empty one adds nothing and says so.
    let dir = tempfile::tempdir().unwrap();
    let out = node.cli_ok(["evidence", "add", "C-1", s(dir.path())]);
    assert!(out.contains("no files to add"), "{out}");
    assert_eq!(evidence_count(&node, "C-1"), 0);
}
