//! Download links end to end: real nodes build ZIP and ISO packages of a case, serve them on the
//! public link server, and `casemesh verify` checks them offline.
//!
//! Covered here: ZIP (`unzip -t`) and ISO (`xorriso`, `7z`) packages extract to the original
//! bytes; retained vs flat folder structure; attachments only when chosen; HTTP Range; expiry,
//! revocation (and package deletion); unknown tokens (404) and the failed-guess limit (429); a
//! tampered package fails `casemesh verify` naming the file; hostile evidence names never escape
//! or break a package; permissions and the `case_share_links` feature flag (403).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    CaseView, EvidenceView, LinkStatus, LinkView, TestNode, add_random_evidence, add_user,
    assert_package_verifies, audit_trail, create_link, download_link, hash_file, in_folder,
    link_list, link_show, link_url, output_text, plain_http, run_ok, s, unzip_to, verify_package,
    verify_report, xorriso_extract,
};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A node with one case: nested folders, files of several kinds, a name clash across folders,
/// and a transcript.
struct Fixture {
    node: TestNode,
    work: tempfile::TempDir,
    case: String,
    /// (source file, package path with folders kept, package path in the flat layout).
    files: Vec<(PathBuf, String, String)>,
    transcript: PathBuf,
}

fn fixture(name: &str) -> Fixture {
    let node = TestNode::start(name);
    let case = node
        .cli_typed::<CaseView, _, _>([
            "case",
            "create",
            "--case-id",
            "2026-CR-0042",
            "--title",
            "Burglary <Main St> & \"Co\"",
        ])
        .id
        .to_string();
    for folder in ["Interviews/Day 1", "Photos"] {
        node.cli_ok(["folder", "create", &case, folder]);
    }
    let work = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let specs: [(&str, &str, &str, u64, &str, &str); 5] = [
        (
            "a.bin",
            "",
            "EV-A",
            300_000,
            "Evidence/a.bin",
            "Evidence/a.bin",
        ),
        (
            "clip.mp4",
            "Interviews/Day 1",
            "EV-B",
            1_500_000,
            "Evidence/Interviews/Day 1/clip.mp4",
            "Evidence/clip.mp4",
        ),
        (
            "notes.txt",
            "Interviews",
            "EV-C",
            2_000,
            "Evidence/Interviews/notes.txt",
            "Evidence/notes.txt",
        ),
        (
            "photo.jpg",
            "Photos",
            "EV-D",
            80_000,
            "Evidence/Photos/photo.jpg",
            "Evidence/photo.jpg",
        ),
        (
            "notes.txt",
            "Photos",
            "EV-E",
            3_000,
            "Evidence/Photos/notes.txt",
            "Evidence/notes (2).txt",
        ),
    ];
    for (i, (file, folder, display, size, kept, flat)) in specs.into_iter().enumerate() {
        let dir = work.path().join(format!("src{i}"));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        let mut extra = vec!["--display-id", display];
        extra.extend(in_folder(folder));
        add_random_evidence(&node, &case, &path, size, 100 + i as u64, &extra);
        files.push((path, kept.to_owned(), flat.to_owned()));
    }
    let transcript = work.path().join("clip transcript.txt");
    fs::write(&transcript, "Q: Where were you?\nA: <home> & \"safe\"\n").unwrap();
    node.cli_json([
        "evidence",
        "transcript",
        "add",
        &case,
        "EV-B",
        s(&transcript),
    ]);
    Fixture {
        node,
        work,
        case,
        files,
        transcript,
    }
}

fn status_of(u: &str) -> u16 {
    plain_http().get(u).send().unwrap().status().as_u16()
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Every file path in a ZIP (`unzip -Z1`), directories left out.
fn zip_listing(zip: &Path) -> Vec<String> {
    run_ok(cmd("unzip", &["-Z1", s(zip)]))
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(str::to_owned)
        .collect()
}

/// (action, details) of every entry of `case`'s audit trail, oldest first.
fn audit_actions(node: &TestNode, case: &str) -> Vec<(String, String)> {
    audit_trail(node, case)
        .entries
        .into_iter()
        .map(|e| (e.action, e.details))
        .collect()
}

#[test]
fn zip_with_nested_folders_extracts_to_the_original_bytes_and_verifies() {
    let f = fixture("link-zip");
    let link = create_link(&f.node, &f.case, &["--format", "zip", "--keep-folders"]);
    let pkg = f.work.path().join("case.zip");
    download_link(&link, &pkg);

    run_ok(cmd("unzip", &["-t", s(&pkg)]));
    let listing = zip_listing(&pkg);
    let out = f.work.path().join("unzipped");
    unzip_to(&pkg, &out);
    for (src, kept, _) in &f.files {
        assert!(listing.contains(kept), "{kept} not in {listing:?}");
        assert_eq!(hash_file(&out.join(kept)), hash_file(src), "{kept}");
    }
    // Nothing but evidence and the manifest without attachments.
    let mut expected: Vec<String> = f.files.iter().map(|(_, k, _)| k.clone()).collect();
    expected.extend(["manifest.json".into(), "manifest.sig".into()]);
    let mut got = listing.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    // Offline verification: intact but unpinned is accepted only when asked for; then against
    // the org's key given as its org id.
    let ok = verify_package(&["--allow-unpinned", s(&pkg)]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let (ok, report) = verify_report(&["--org-key", f.node.org_id(), s(&pkg)]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(report.ok);
    assert_eq!(report.signer, f.node.org_id());
    let other = "11".repeat(32);
    let bad = verify_package(&["--org-key", &other, s(&pkg)]);
    assert_eq!(bad.status.code(), Some(1), "a foreign key must not verify");

    // The link's bookkeeping and the audit trail.
    let id = &link.id.to_string();
    let shown = link_show(&f.node, id);
    assert_eq!(shown.status, LinkStatus::Ready);
    assert_eq!(shown.downloads, 1);
    assert!(shown.url.is_none(), "the token is shown only once");
    assert_eq!(shown.package_size, Some(fs::metadata(&pkg).unwrap().len()));
    let listed = link_list(&f.node, &f.case);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, LinkStatus::Ready);
    let actions = audit_actions(&f.node, &f.case);
    assert!(
        actions
            .iter()
            .any(|(a, d)| a == "link.create" && d.contains(id))
    );
    assert!(actions.iter().any(|(a, d)| a == "link.download"
        && d.contains(id)
        && d.contains("client=127.0.0.1")
        && d.contains("range=full")));
    assert!(
        f.node
            .data_dir()
            .join("packages")
            .join(format!("{id}.zip"))
            .is_file()
    );
}

#[test]
fn iso_extracts_with_xorriso_and_7z_to_the_original_bytes() {
    let f = fixture("link-iso");
    let link = create_link(&f.node, &f.case, &["--format", "iso", "--keep-folders"]);
    let pkg = f.work.path().join("case.iso");
    download_link(&link, &pkg);

    let listing = run_ok(cmd(
        "xorriso",
        &["-indev", s(&pkg), "-find", "/", "-type", "f"],
    ));
    for (_, kept, _) in &f.files {
        assert!(listing.contains(kept.as_str()), "{kept} not in {listing}");
    }
    let x = f.work.path().join("xorriso");
    xorriso_extract(&pkg, &x);
    let z = f.work.path().join("7z");
    run_ok(cmd("7z", &["x", "-y", &format!("-o{}", s(&z)), s(&pkg)]));
    for (src, kept, _) in &f.files {
        assert_eq!(hash_file(&x.join(kept)), hash_file(src), "xorriso {kept}");
        assert_eq!(hash_file(&z.join(kept)), hash_file(src), "7z {kept}");
    }
    assert_package_verifies(&pkg, f.node.org_id());
    let head = plain_http()
        .head(format!("{}/download", link_url(&link)))
        .send()
        .unwrap();
    assert_eq!(
        head.headers()["content-type"],
        "application/x-iso9660-image"
    );
}

#[test]
fn flat_layout_has_no_folders_and_collision_free_names() {
    let f = fixture("link-flat");
    let link = create_link(&f.node, &f.case, &["--format", "zip"]);
    let pkg = f.work.path().join("flat.zip");
    download_link(&link, &pkg);
    let listing = zip_listing(&pkg);
    let out = f.work.path().join("flat");
    unzip_to(&pkg, &out);
    for (src, _, flat) in &f.files {
        assert!(listing.contains(flat), "{flat} not in {listing:?}");
        assert_eq!(hash_file(&out.join(flat)), hash_file(src), "{flat}");
    }
    for p in &listing {
        assert!(
            p.matches('/').count() <= 1,
            "flat layout must not keep folders: {p}"
        );
    }

    // A selection: one folder (with its subfolder) plus one item by display id.
    let link = create_link(
        &f.node,
        &f.case,
        &[
            "--format",
            "zip",
            "--keep-folders",
            "--folder",
            "Interviews",
            "--evidence",
            "EV-D",
        ],
    );
    let pkg = f.work.path().join("selection.zip");
    download_link(&link, &pkg);
    let mut listing = zip_listing(&pkg);
    listing.sort();
    assert_eq!(
        listing,
        [
            "Evidence/Interviews/Day 1/clip.mp4",
            "Evidence/Interviews/notes.txt",
            "Evidence/Photos/photo.jpg",
            "manifest.json",
            "manifest.sig"
        ]
    );
}

#[test]
fn attachments_are_present_only_when_chosen() {
    let f = fixture("link-attach");
    let link = create_link(
        &f.node,
        &f.case,
        &[
            "--format",
            "zip",
            "--audit-trail",
            "--transcripts",
            "--toc",
            "--to",
            "defender@example.org",
            "--message",
            "Disclosure <batch 1>",
        ],
    );
    assert_eq!(link.recipient.as_deref(), Some("defender@example.org"));
    let pkg = f.work.path().join("attach.zip");
    download_link(&link, &pkg);
    run_ok(cmd("unzip", &["-t", s(&pkg)]));
    let listing = zip_listing(&pkg);
    for want in [
        "Audit trail/Case audit trail.csv",
        "Audit trail/Case audit trail.json",
        "Audit trail/Evidence/EV-B audit trail.csv",
        "Audit trail/Evidence/EV-B audit trail.json",
        "Transcripts/EV-B - clip transcript.txt",
        "Table of contents.html",
        "Table of contents.csv",
    ] {
        assert!(
            listing.iter().any(|p| p == want),
            "{want} not in {listing:?}"
        );
    }
    let out = f.work.path().join("attach");
    unzip_to(&pkg, &out);
    assert_eq!(
        fs::read(out.join("Transcripts/EV-B - clip transcript.txt")).unwrap(),
        fs::read(&f.transcript).unwrap()
    );
    let toc = fs::read_to_string(out.join("Table of contents.html")).unwrap();
    assert!(
        toc.contains("Burglary &lt;Main St&gt; &amp; &quot;Co&quot;"),
        "{toc}"
    );
    assert!(!toc.contains("<Main St>"), "the TOC must escape names");
    for (src, _, flat) in &f.files {
        assert!(
            toc.contains(&hash_file(src).to_hex()),
            "TOC lacks the hash of {flat}"
        );
    }
    let csv = fs::read_to_string(out.join("Table of contents.csv")).unwrap();
    assert!(csv.starts_with("folder,name,display_id,size,blake3,added_at,package_path"));
    assert!(
        csv.contains("Interviews/Day 1,clip.mp4,EV-B,1500000,"),
        "{csv}"
    );
    let audit: Value =
        serde_json::from_slice(&fs::read(out.join("Audit trail/Case audit trail.json")).unwrap())
            .unwrap();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "evidence.add")
    );
    let item_csv =
        fs::read_to_string(out.join("Audit trail/Evidence/EV-B audit trail.csv")).unwrap();
    assert!(item_csv.contains("transcript.add"), "{item_csv}");
    assert!(
        !item_csv.contains("EV-D"),
        "an item's trail holds only its entries"
    );

    // The landing page shows title and message, escaped.
    let page = plain_http().get(link_url(&link)).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("Burglary &lt;Main St&gt;"), "{html}");
    assert!(html.contains("Disclosure &lt;batch 1&gt;"), "{html}");
    assert!(html.contains("/download"), "{html}");

    // Without options: none of them.
    let plain = create_link(&f.node, &f.case, &["--format", "zip"]);
    let pkg = f.work.path().join("plain.zip");
    download_link(&plain, &pkg);
    for p in zip_listing(&pkg) {
        assert!(
            p.starts_with("Evidence/") || p.starts_with("manifest."),
            "unexpected {p}"
        );
    }
}

#[test]
fn range_requests_return_the_right_bytes() {
    let f = fixture("link-range");
    let link = create_link(&f.node, &f.case, &["--format", "zip"]);
    let pkg = f.work.path().join("full.zip");
    download_link(&link, &pkg);
    let full = fs::read(&pkg).unwrap();
    let dl = format!("{}/download", link_url(&link));

    let resp = plain_http()
        .get(&dl)
        .header("Range", "bytes=1000-1999")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        resp.headers()["content-range"].to_str().unwrap(),
        format!("bytes 1000-1999/{}", full.len())
    );
    assert_eq!(resp.headers()["content-length"], "1000");
    assert_eq!(&resp.bytes().unwrap()[..], &full[1000..2000]);

    let resp = plain_http()
        .get(&dl)
        .header("Range", format!("bytes={}-", full.len() - 10))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(&resp.bytes().unwrap()[..], &full[full.len() - 10..]);

    let head = plain_http().head(&dl).send().unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        full.len().to_string()
    );
    assert_eq!(head.headers()["content-type"], "application/zip");
    assert!(
        head.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("2026-CR-0042.zip")
    );

    // curl resumes a partial download with a Range request.
    let part = f.work.path().join("resumed.zip");
    fs::write(&part, &full[..5000]).unwrap();
    run_ok(cmd("curl", &["-sSf", "-C", "-", "-o", s(&part), &dl]));
    assert_eq!(fs::read(&part).unwrap(), full);

    // One client's requests are one download: audited once, at its first request (issue #16).
    let actions = audit_actions(&f.node, &f.case);
    let downloads: Vec<_> = actions
        .iter()
        .filter(|(a, _)| a == "link.download")
        .collect();
    assert_eq!(downloads.len(), 1, "{actions:?}");
    assert!(downloads[0].1.contains("range=full"), "{actions:?}");
}

#[test]
fn expired_and_revoked_links_are_gone_and_revocation_deletes_the_package() {
    let mut f = fixture("link-gone");
    // A one-day link, played past its expiry below by restarting the node two days ahead
    // (`--days 0` is refused: issue #15 item 8).
    let expiring = create_link(&f.node, &f.case, &["--format", "zip", "--days", "1"]);
    let expiring_path = link_url(&expiring)
        .split_once("/l/")
        .map(|(_, token)| format!("/l/{token}"))
        .unwrap();

    let link = create_link(&f.node, &f.case, &["--format", "zip", "--days", "3"]);
    let id = &link.id.to_string();
    let package = f.node.data_dir().join("packages").join(format!("{id}.zip"));
    assert!(package.is_file());
    assert_eq!(status_of(&format!("{}/download", link_url(&link))), 200);

    let revoked: LinkView = f.node.cli_typed(["link", "revoke", id, "--yes"]);
    assert_eq!(revoked.status, LinkStatus::Revoked);
    assert!(!package.exists(), "revoking deletes the package");
    let resp = plain_http()
        .get(format!("{}/download", link_url(&link)))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 410);
    let body = resp.text().unwrap();
    assert!(
        !body.contains("Burglary") && !body.contains("2026-CR"),
        "{body}"
    );
    assert_eq!(status_of(&link_url(&link)), 410);
    assert!(
        audit_actions(&f.node, &f.case)
            .iter()
            .any(|(a, d)| a == "link.revoke" && d.contains(id))
    );
    f.node
        .set_env("CASEMESH_CLOCK_OFFSET_MS", (2 * 86_400_000u64).to_string());
    f.node.restart();
    let base = format!("http://{}", f.node.link_addr());
    assert_eq!(status_of(&format!("{base}{expiring_path}")), 410);
    assert_eq!(status_of(&format!("{base}{expiring_path}/download")), 410);
    let statuses: Vec<LinkStatus> = link_list(&f.node, &f.case)
        .iter()
        .map(|l| l.status)
        .collect();
    assert_eq!(statuses, [LinkStatus::Expired, LinkStatus::Revoked]);
}

#[test]
fn wrong_tokens_are_not_found_and_repeated_guesses_are_rate_limited() {
    let f = fixture("link-guess");
    let link = create_link(&f.node, &f.case, &["--format", "zip"]);
    let base = format!("http://{}", f.node.link_addr());
    assert!(
        link_url(&link).starts_with(&base),
        "{} vs {base}",
        link_url(&link)
    );

    // The admin API is not on the link server, and vice versa.
    assert_eq!(status_of(&format!("{base}/v1/cases")), 404);
    assert_eq!(
        status_of(&f.node.url(&format!("/l/{}", "0".repeat(64)))),
        404
    );

    let resp = plain_http()
        .get(format!("{base}/l/{}", "ab".repeat(32)))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body = resp.text().unwrap();
    assert!(!body.contains("Burglary"), "{body}");
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(status_of(&format!("{base}/l/{:064x}/download", i)));
    }
    assert!(statuses[..9].iter().all(|s| *s == 404), "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    // Wrong tokens from that address stay limited; its valid link never is (issue #16).
    let resp = plain_http()
        .get(format!("{base}/l/{:064x}", 99))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(status_of(&link_url(&link)), 200);
}

/// Offset of the data of the stored ZIP entry `name` (from its local file header).
fn zip_data_offset(zip: &[u8], name: &str) -> usize {
    let mut i = 0;
    while let Some(pos) = zip[i..].windows(4).position(|w| w == b"PK\x03\x04") {
        let h = i + pos;
        let n = u16::from_le_bytes([zip[h + 26], zip[h + 27]]) as usize;
        let m = u16::from_le_bytes([zip[h + 28], zip[h + 29]]) as usize;
        if &zip[h + 30..h + 30 + n] == name.as_bytes() {
            return h + 30 + n + m;
        }
        i = h + 4;
    }
    panic!("{name} not found in the zip");
}

#[test]
fn tampered_package_fails_verify_naming_the_file() {
    let f = fixture("link-tamper");
    let link = create_link(&f.node, &f.case, &["--format", "zip", "--keep-folders"]);
    let pkg = f.work.path().join("case.zip");
    download_link(&link, &pkg);
    assert_package_verifies(&pkg, f.node.org_id());

    let mut bytes = fs::read(&pkg).unwrap();
    let at = zip_data_offset(&bytes, "Evidence/Interviews/Day 1/clip.mp4") + 12_345;
    bytes[at] ^= 0x40;
    let tampered = f.work.path().join("tampered.zip");
    fs::write(&tampered, &bytes).unwrap();

    let out = verify_package(&["--org-key", f.node.org_id(), s(&tampered)]);
    assert_eq!(out.status.code(), Some(1));
    let all = output_text(&out);
    assert!(all.contains("Evidence/Interviews/Day 1/clip.mp4"), "{all}");
    assert!(all.contains("altered"), "{all}");
    assert!(
        !all.contains("Evidence/a.bin:"),
        "only the altered file is named: {all}"
    );

    let (out, report) = verify_report(&["--org-key", f.node.org_id(), s(&tampered)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!report.ok);
    assert!(report.signature_valid);
    assert_eq!(report.altered[0], "Evidence/Interviews/Day 1/clip.mp4");
    assert_eq!(report.missing.len(), 0);

    // A name from the package reaches the terminal escaped (issue #16 item 3): an entry added
    // with the `zip` tool whose name holds an OSC window-title sequence and BEL.
    let hostile = f.work.path().join("hostile.zip");
    fs::copy(&pkg, &hostile).unwrap();
    let src = f.work.path().join("hostile-src");
    let name = "Evidence/\u{1b}]0;pwned\u{7}evil.txt";
    fs::create_dir_all(src.join("Evidence")).unwrap();
    fs::write(src.join(name), b"not in the manifest").unwrap();
    let mut add = Command::new("zip");
    add.current_dir(&src).arg("-q").arg(&hostile).arg(name);
    run_ok(add);
    let out = verify_package(&["--org-key", f.node.org_id(), s(&hostile)]);
    assert_eq!(out.status.code(), Some(1));
    // Both streams: the report on stdout and the failure line on stderr (which used to print
    // the name raw).
    let shown = output_text(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(shown.contains("pwned"), "the added entry is named: {shown}");
    assert!(
        stderr.contains("pwned"),
        "the failure line names it: {stderr}"
    );
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "no raw control character reaches the terminal: {shown:?}"
    );

    // A blob corrupted on the node's disk fails the build, naming the item.
    let blob = f.node.blob_path(&hash_file(&f.files[3].0));
    let mut perms = fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&blob, perms).unwrap();
    let mut bytes = fs::read(&blob).unwrap();
    bytes[7] ^= 1;
    fs::write(&blob, &bytes).unwrap();
    let (stderr, code) = f
        .node
        .cli_fail(["link", "create", &f.case, "--format", "zip", "--wait"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("build failed"), "{stderr}");
    assert!(stderr.contains("EV-D"), "{stderr}");
    let listed = link_list(&f.node, &f.case);
    assert_eq!(listed[1].status, LinkStatus::Failed);
}

#[test]
fn hostile_names_never_escape_or_break_the_package() {
    let node = TestNode::start("link-names");
    let case = node
        .cli_typed::<CaseView, _, _>(["case", "create", "--case-id", "C-N", "--title", "Names"])
        .id;
    node.cli_ok(["folder", "create", &case.to_string(), "..."]);
    node.cli_ok(["folder", "create", &case.to_string(), "..x/CON"]);
    let work = tempfile::tempdir().unwrap();
    let names = [
        ("...", ""),
        ("..passwd", "..."),
        ("CON", ""),
        ("CON.txt", "..x/CON"),
        ("aux", ""),
        ("con.TXT", ""),
        ("a:b*c?.txt", ""),
        ("trailing.", ""),
        ("trailing..", ""),
        ("<x>|\"y\"", "..x"),
        ("nul .log", ""),
        ("LPT1", "..."),
    ];
    let mut sources = Vec::new();
    for (i, (name, folder)) in names.iter().enumerate() {
        let src = work.path().join(format!("src{i}.bin"));
        let (size, seed) = (1000 + i as u64, 900 + i as u64);
        let mut extra = vec!["--name", name];
        extra.extend(in_folder(folder));
        add_random_evidence(&node, &case.to_string(), &src, size, seed, &extra);
        sources.push(hash_file(&src));
    }
    for (format, keep) in [("zip", true), ("zip", false), ("iso", true)] {
        let mut args = vec!["--format", format, "--toc"];
        if keep {
            args.push("--keep-folders");
        }
        let link = create_link(&node, &case.to_string(), &args);
        let pkg = work.path().join(format!("names-{format}-{keep}.{format}"));
        download_link(&link, &pkg);
        assert_package_verifies(&pkg, node.org_id());
        let out = work.path().join(format!("out-{format}-{keep}"));
        if format == "zip" {
            run_ok(cmd("unzip", &["-t", s(&pkg)]));
            let listing = zip_listing(&pkg);
            for p in &listing {
                assert!(!p.starts_with('/') && !p.contains('\\'), "{p}");
                for seg in p.split('/') {
                    assert!(seg != ".." && seg != "." && !seg.is_empty(), "{p}");
                    assert!(!seg.ends_with('.') && !seg.ends_with(' '), "{p}");
                    assert!(!seg.contains([':', '*', '?', '<', '>', '|', '"']), "{p}");
                    let stem = seg.split('.').next().unwrap().trim_end().to_uppercase();
                    assert!(
                        !["CON", "AUX", "NUL", "PRN", "LPT1"].contains(&stem.as_str()),
                        "{p}"
                    );
                }
            }
            unzip_to(&pkg, &out);
        } else {
            xorriso_extract(&pkg, &out);
        }
        // Every evidence item came out, inside the extraction directory, byte for byte.
        let mut found = Vec::new();
        let mut stack = vec![out.clone()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).unwrap().flatten() {
                let p = e.path();
                assert!(p.starts_with(&out));
                if p.is_dir() {
                    stack.push(p);
                } else if p.starts_with(out.join("Evidence")) {
                    found.push(hash_file(&p));
                }
            }
        }
        let mut want = sources.clone();
        want.sort();
        found.sort();
        assert_eq!(found, want, "{format} keep={keep}");
    }
    assert!(!work.path().join("passwd").exists());
}

#[test]
fn user_without_link_permissions_is_forbidden() {
    let f = fixture("link-perm");
    let token = add_user(
        &f.node,
        "clerk",
        "Clerk",
        &["case_edit", "evidence_share_links"],
    );
    let (stderr, code) = f
        .node
        .cli_fail_as(&token, ["link", "create", &f.case, "--format", "zip"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    // A link of the whole case needs the Cases permission; the Evidence one is not enough
    // (issue #12 item 5).
    assert!(stderr.contains("case_share_links"), "{stderr}");
    let resp = f
        .node
        .http_with_token(&token)
        .post(f.node.url(&format!("/v1/cases/{}/links", f.case)))
        .json(&serde_json::json!({"format": "iso"}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(link_list(&f.node, &f.case).is_empty());
    // Nor may they revoke someone else's link: a link of a case they cannot see does not
    // exist for them (404), and it stays usable.
    let link = create_link(&f.node, &f.case, &["--format", "zip"]);
    let id = &link.id.to_string();
    let (stderr, _) = f.node.cli_fail_as(&token, ["link", "revoke", id, "--yes"]);
    assert!(stderr.contains("HTTP 404"), "{stderr}");
    let shown = link_show(&f.node, id);
    assert_ne!(shown.status, LinkStatus::Revoked, "{shown:?}");
    // A user with no link permission at all is refused before anything is looked up.
    let none = add_user(&f.node, "viewer", "Viewer", &["case_edit"]);
    let (stderr, _) = f.node.cli_fail_as(&none, ["link", "revoke", id, "--yes"]);
    assert!(stderr.contains("HTTP 403"), "{stderr}");
}

#[test]
fn links_feature_off_is_forbidden_even_for_the_admin() {
    let f = fixture("link-flag");
    f.node
        .cli_ok(["settings", "set", "--feature", "case_share_links=off"]);
    let (stderr, code) = f
        .node
        .cli_fail(["link", "create", &f.case, "--format", "zip"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert!(
        stderr.contains("CaseShareLinks") || stderr.contains("case_share_links"),
        "{stderr}"
    );
    f.node
        .cli_ok(["settings", "set", "--feature", "case_share_links=on"]);
    create_link(&f.node, &f.case, &["--format", "zip"]);
}

/// Evidence marked "do not disclose" never leaves in a package, whether the whole case, its folder
/// or the item itself is selected (issue #12).
#[test]
fn do_not_disclose_evidence_is_never_packaged() {
    let f = fixture("link-dnd");
    let marked: EvidenceView = f.node.cli_typed([
        "evidence",
        "edit",
        &f.case,
        "EV-D",
        "--do-not-disclose",
        "on",
    ]);
    assert!(marked.do_not_disclose, "{marked:?}");
    for (i, selection) in [
        vec![],
        vec!["--folder", "Photos"],
        vec!["--evidence", "EV-D", "--evidence", "EV-E"],
    ]
    .into_iter()
    .enumerate()
    {
        let mut args = vec!["--format", "zip", "--keep-folders"];
        args.extend(selection);
        let link = create_link(&f.node, &f.case, &args);
        let pkg = f.work.path().join(format!("dnd{i}.zip"));
        download_link(&link, &pkg);
        let listing = zip_listing(&pkg);
        assert!(
            !listing.iter().any(|p| p.ends_with("photo.jpg")),
            "the marked item left in {listing:?}"
        );
        assert!(
            listing.contains(&"Evidence/Photos/notes.txt".to_owned()),
            "{listing:?}"
        );
    }
}
