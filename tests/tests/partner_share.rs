//! Partner share (share by copy) end to end, between real nodes: scope, the case synchronization
//! folder rules, what the receiver's copy looks like (categories, retention), manual import,
//! resharing without new copies of evidence, stop sharing, import details, permissions and
//! feature flags, and email notifications through a real SMTP server.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::{
    AccessEntry, CaseView, EvidenceView, NodeInfo, OriginView, PolicyView, RetentionView,
    SHARING_LOG, ShareView, SmtpServer, TestNode, add_random_evidence, add_user,
    assert_http_status, blob_stats, case_view, create_case, external_cases, files_under, free_port,
    header, in_folder, logged_node, partner, peer_view, received_list, received_view, share_case,
    share_view, smtp_config, sorted_folders, wait_connected, wait_copy, wait_share_complete,
    wait_until,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long shares and updates get to arrive.
const LIMIT: Duration = Duration::from_secs(30);

/// A sharer that serves partners at most [`SLOW_SEND_RATE`] (`[p2p] max_send_rate`), so a
/// [`BIG_ITEM`] is still in flight for [`BIG_ITEM_TRANSFER`] after its share starts, however
/// fast the machine (CI once moved 768 MiB in 2 s, before the test looked).
fn slow_sharer(name: &str) -> TestNode {
    TestNode::builder(name)
        .env("RUST_LOG", SHARING_LOG)
        .max_send_rate(SLOW_SEND_RATE)
        .start()
}

/// The send rate of [`slow_sharer`].
const SLOW_SEND_RATE: &str = "32 MiB";
/// The size of a large item in the tests of transfers in flight (bytes).
const BIG_ITEM: u64 = 256 << 20;
/// The least time a [`BIG_ITEM`] takes from a [`slow_sharer`]: 256 MiB at 32 MiB/s, less the
/// one-second burst the rate lets through at once.
const BIG_ITEM_TRANSFER: Duration = Duration::from_secs(7);

/// Add a small evidence file called `name` (distinct contents per name) to `folder` ("" = root).
fn add_evidence(node: &TestNode, case: &str, dir: &Path, name: &str, folder: &str) -> EvidenceView {
    let path = dir.join(name);
    let seed = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    add_random_evidence(
        node,
        case,
        &path,
        2000 + seed % 3000,
        seed,
        &in_folder(folder),
    )
}

/// Evidence name → folder path in a case.
fn folders_by_name(case: &CaseView) -> BTreeMap<String, String> {
    case.evidence
        .iter()
        .map(|e| (e.name.clone(), e.folder.clone()))
        .collect()
}

/// `share create …` ([`share_case`]) on `node`, typed.
fn share(node: &TestNode, case: &str, partner: &str, extra: &[&str]) -> ShareView {
    share_case(node, case, partner, extra)
}

/// The local copy of `share` on `node` once it holds `count` items ([`wait_copy`]), typed.
fn copy_of(node: &TestNode, share: &str, count: usize) -> CaseView {
    wait_copy(node, share, count, LIMIT)
}

#[test]
fn only_selected_folders_arrive() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let case = create_case(&a, "SEL-1");
    for f in [
        "Interviews/Day 1",
        "Interviews/Day 2",
        "Photos",
        "Video/Raw",
    ] {
        a.cli_ok(["folder", "create", &case, f]);
    }
    add_evidence(&a, &case, dir, "day1.wav", "Interviews/Day 1");
    add_evidence(&a, &case, dir, "day2.wav", "Interviews/Day 2");
    add_evidence(&a, &case, dir, "summary.pdf", "Interviews");
    add_evidence(&a, &case, dir, "scene.jpg", "Photos");
    add_evidence(&a, &case, dir, "raw.mp4", "Video/Raw");
    add_evidence(&a, &case, dir, "report.pdf", "");

    let sh = share(
        &a,
        &case,
        "county-da",
        &["--folder", "Interviews/Day 1", "--folder", "Video"],
    );
    assert_eq!(sh.items_sent, 2, "{sh:?}");
    wait_share_complete(&a, &sh.id.to_string(), LIMIT);
    let copy = copy_of(&b, &sh.id.to_string(), 2);
    assert_eq!(
        folders_by_name(&copy),
        BTreeMap::from([
            ("day1.wav".to_owned(), "Interviews/Day 1".to_owned()),
            ("raw.mp4".to_owned(), "Video/Raw".to_owned()),
        ]),
        "only the selected folders' evidence arrives, in the same folders"
    );
    assert_eq!(
        sorted_folders(&copy),
        ["Interviews", "Interviews/Day 1", "Video", "Video/Raw"],
        "the selected folders and their ancestors"
    );

    // Later evidence follows the scope too.
    add_evidence(&a, &case, dir, "day1-late.wav", "Interviews/Day 1");
    add_evidence(&a, &case, dir, "scene2.jpg", "Photos");
    let copy = copy_of(&b, &sh.id.to_string(), 3);
    wait_share_complete(&a, &sh.id.to_string(), LIMIT);
    std::thread::sleep(Duration::from_secs(2));
    let copy = case_view(&b, &copy.id.to_string());
    let names = folders_by_name(&copy);
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names["day1-late.wav"], "Interviews/Day 1");
    assert!(!names.contains_key("scene2.jpg"));
}

#[test]
fn case_synchronization_follows_the_folder_rules() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let case = create_case(&a, "SYNC-1");
    for f in ["Interviews", "Photos", "Empty"] {
        a.cli_ok(["folder", "create", &case, f]);
    }
    let i1 = add_evidence(&a, &case, dir, "i1.wav", "Interviews");
    add_evidence(&a, &case, dir, "p1.jpg", "Photos");
    add_evidence(&a, &case, dir, "r1.pdf", "");
    a.cli_ok([
        "evidence",
        "edit",
        &case,
        &i1.id.to_string(),
        "--category",
        "Homicide",
    ]);

    let share_id = share(&a, &case, "county-da", &[]).id;
    wait_share_complete(&a, &share_id.to_string(), LIMIT);
    let copy = copy_of(&b, &share_id.to_string(), 3);
    let copy_id = copy.id;
    assert_eq!(sorted_folders(&copy), ["Empty", "Interviews", "Photos"]);

    // The receiver reorganizes its copy: rename, move under a new folder, delete an empty one.
    b.cli_ok([
        "folder",
        "rename",
        &copy_id.to_string(),
        "Interviews",
        "Statements",
    ]);
    b.cli_ok(["folder", "create", &copy_id.to_string(), "Archive"]);
    b.cli_ok(["folder", "move", &copy_id.to_string(), "Photos", "Archive"]);
    b.cli_ok(["folder", "delete", &copy_id.to_string(), "Empty"]);
    // The sharer renames a folder of its own and creates a new one.
    a.cli_ok(["folder", "rename", &case, "Photos", "Pictures"]);
    a.cli_ok(["folder", "create", &case, "Later"]);

    add_evidence(&a, &case, dir, "i2.wav", "Interviews");
    add_evidence(&a, &case, dir, "p2.jpg", "Pictures");
    add_evidence(&a, &case, dir, "l1.txt", "Later");
    add_evidence(&a, &case, dir, "e1.txt", "Empty");
    let copy = copy_of(&b, &share_id.to_string(), 7);
    wait_share_complete(&a, &share_id.to_string(), LIMIT);

    let placed = folders_by_name(&copy);
    let expected: BTreeMap<String, String> = [
        ("i1.wav", "Statements"),
        ("p1.jpg", "Archive/Photos"),
        ("r1.pdf", ""),
        // New evidence in a synced folder follows the receiver's rename…
        ("i2.wav", "Statements"),
        // …and move, whatever the sharer calls the folder now.
        ("p2.jpg", "Archive/Photos"),
        // A folder created after the import: the copy's root.
        ("l1.txt", ""),
        // A synced folder the receiver deleted: the copy's root.
        ("e1.txt", ""),
    ]
    .into_iter()
    .map(|(n, f)| (n.to_owned(), f.to_owned()))
    .collect();
    assert_eq!(placed, expected);
    assert_eq!(
        sorted_folders(&copy),
        ["Archive", "Archive/Photos", "Statements"],
        "the sharer's rename and new folder are not applied; the deleted folder stays deleted"
    );
    for e in &copy.evidence {
        assert_eq!(e.category, None, "received items are uncategorized: {e:?}");
    }
    // The sharer's side is untouched by the receiver's edits.
    assert_eq!(
        sorted_folders(&case_view(&a, &case)),
        ["Empty", "Interviews", "Later", "Pictures"]
    );
}

#[test]
fn copy_gets_the_receivers_retention_and_no_categories() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    let c = logged_node("public-defender", SHARING_LOG);
    partner(&a, &b);
    partner(&a, &c);
    b.cli_ok(["settings", "set", "--default-retention", "30"]);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "RET-1");
    let ev = add_evidence(&a, &case, work.path(), "bodycam.mp4", "");
    a.cli_ok([
        "evidence",
        "edit",
        &case,
        &ev.id.to_string(),
        "--category",
        "Burglary",
    ]);
    a.cli_ok(["case", "retention", &case, "7", "--yes"]);

    let to_b = share(&a, &case, "county-da", &[]);
    let to_c = share(&a, &case, "public-defender", &[]);
    let copy_b = copy_of(&b, &to_b.id.to_string(), 1);
    let copy_c = copy_of(&c, &to_c.id.to_string(), 1);

    assert_eq!(copy_b.retention, RetentionView::Days { days: 30 });
    assert_eq!(
        copy_c.retention,
        RetentionView::UntilManuallyDeleted,
        "no default policy: Until Manually Deleted"
    );
    for copy in [&copy_b, &copy_c] {
        assert!(copy.external);
        let OriginView::Received {
            sharer,
            sharer_name,
            ..
        } = &copy.origin
        else {
            panic!("the copy is received: {copy:?}");
        };
        assert_eq!(sharer.as_str(), a.org_id());
        assert_eq!(sharer_name, "metro-pd");
        assert_eq!(copy.evidence[0].category, None);
        assert_eq!(copy.evidence[0].hash, ev.hash);
    }
}

#[test]
fn manual_import_when_auto_import_is_off() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    b.cli_ok(["settings", "set", "--auto-import", "off"]);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "MAN-1");
    add_evidence(&a, &case, work.path(), "a.bin", "");
    add_evidence(&a, &case, work.path(), "b.bin", "");
    let sh = share(&a, &case, "county-da", &[]);
    let share_id = &sh.id.to_string();

    let pending = wait_until("the share to reach county-da", LIMIT, || {
        received_list(&b).into_iter().next()
    });
    assert_eq!(pending.id, sh.id);
    assert_eq!(pending.status, "Pending");
    assert_eq!(pending.local_case, None);
    assert_eq!(pending.items, 2);
    assert_eq!(pending.items_imported, 0);
    std::thread::sleep(Duration::from_secs(2));
    let still = received_view(&b, share_id);
    assert_eq!(still.status, "Pending", "{still:?}");
    assert_eq!(still.local_case, None);
    assert!(external_cases(&b).is_empty(), "no local copy before Import");
    assert_eq!(share_view(&a, share_id).status, "Processing");

    b.cli_json(["received", "import", share_id]);
    let copy = copy_of(&b, share_id, 2);
    let imported = wait_until("the share to be Imported", LIMIT, || {
        let r = received_view(&b, share_id);
        (r.status == "Imported").then_some(r)
    });
    assert_eq!(imported.local_case, Some(copy.id));
    assert_eq!(imported.items_imported, 2);
    assert_eq!(external_cases(&b).len(), 1);
    wait_share_complete(&a, share_id, LIMIT);
}

#[test]
fn reshare_copies_no_evidence_and_receivers_store_blobs_once() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    let c = logged_node("public-defender", SHARING_LOG);
    partner(&a, &b);
    partner(&a, &c);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "RE-1");
    let e1 = add_evidence(&a, &case, work.path(), "one.bin", "");
    let e2 = add_evidence(&a, &case, work.path(), "two.bin", "");
    let one_copy = e1.size + e2.size;

    let first = share(&a, &case, "county-da", &[]);
    wait_share_complete(&a, &first.id.to_string(), LIMIT);
    copy_of(&b, &first.id.to_string(), 2);
    let sharer_before = blob_stats(&a);
    assert_eq!(sharer_before, (2, one_copy));

    // Reshare with another partner organization.
    let reshared: ShareView = a.cli_typed([
        "share",
        "add-recipients",
        &first.id.to_string(),
        "--to",
        "user:admin",
        "--partner",
        "public-defender",
    ]);
    let reshare_id = reshared.id;
    assert_ne!(reshare_id, first.id, "another organization: its own share");
    wait_share_complete(&a, &reshare_id.to_string(), LIMIT);
    let copy_c = copy_of(&c, &reshare_id.to_string(), 2);
    assert_eq!(copy_c.case_id, "RE-1");
    assert_eq!(
        blob_stats(&a),
        sharer_before,
        "resharing stores no new evidence bytes on the sharer"
    );
    assert_eq!(blob_stats(&c), (2, one_copy));

    // Sharing the case to county-da again adds to the share it has: one copy, each blob once.
    let second = share(&a, &case, "county-da", &[]);
    assert_eq!(second.id, first.id, "the same share, not a second one");
    wait_share_complete(&a, &second.id.to_string(), LIMIT);
    let copy2 = copy_of(&b, &second.id.to_string(), 2);
    assert_eq!(external_cases(&b).len(), 1, "one share, one copy");
    assert_eq!(
        blob_stats(&b),
        (2, one_copy),
        "the receiver stores each blob once"
    );
    assert_eq!(blob_stats(&a), sharer_before);
    assert_eq!(copy2.evidence.len(), 2);
}

#[test]
fn a_share_stopped_before_the_partner_came_online_never_reaches_it() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let mut b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    wait_connected(&a, "county-da", true, LIMIT);
    b.stop();
    wait_connected(&a, "county-da", false, LIMIT);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "SECRET-1");
    add_evidence(&a, &case, work.path(), "informant.bin", "");
    let share_id = share(&a, &case, "county-da", &[]).id;
    assert_eq!(
        a.cli_typed::<ShareView, _, _>(["share", "stop", &share_id.to_string(), "--yes"])
            .status,
        "Stopped"
    );

    // The partner comes online: it gets the revocation, never the offer.
    b.start_again();
    wait_connected(&a, "county-da", true, LIMIT);
    wait_until("the outbox to county-da to drain", LIMIT, || {
        (peer_view(&a, "county-da").outbox_queued == 0).then_some(())
    });
    assert!(
        received_list(&b).is_empty(),
        "the stopped share reached the partner"
    );
    assert!(external_cases(&b).is_empty());
    assert!(
        !b.log().contains("SECRET-1") && !b.log().contains("informant.bin"),
        "the partner's log mentions the stopped share's case or items"
    );
    assert!(peer_view(&a, "county-da").dead_letters.is_empty());
}

#[test]
fn stopped_share_gets_no_more_evidence_but_the_copy_stays() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "STOP-1");
    add_evidence(&a, &case, work.path(), "first.bin", "");
    let sh = share(&a, &case, "county-da", &[]);
    let share_id = &sh.id.to_string();
    wait_share_complete(&a, share_id, LIMIT);
    let copy = copy_of(&b, share_id, 1);

    let stopped: ShareView = a.cli_typed(["share", "stop", share_id, "--yes"]);
    assert_eq!(stopped.status, "Stopped");
    assert!(stopped.stopped_at.is_some(), "{stopped:?}");
    wait_until("county-da to learn the share stopped", LIMIT, || {
        (received_view(&b, share_id).status == "Stopped").then_some(())
    });

    add_evidence(&a, &case, work.path(), "after-stop.bin", "");
    std::thread::sleep(Duration::from_secs(5));
    let copy = case_view(&b, &copy.id.to_string());
    assert_eq!(
        folders_by_name(&copy).keys().collect::<Vec<_>>(),
        ["first.bin"],
        "evidence added after stop never arrives; the copy stays"
    );
    assert_eq!(external_cases(&b).len(), 1);
    let status = share_view(&a, share_id);
    assert_eq!(status.status, "Stopped");
    assert_eq!(status.items_sent, 1, "nothing more was sent: {status:?}");
    let (stderr, _) = a.cli_fail(["share", "add-recipients", share_id, "--to", "user:someone"]);
    assert_http_status(&stderr, 409);
}

#[test]
fn import_details_and_recipients_added_later() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    b.cli_ok([
        "user",
        "add",
        "dana",
        "--full-name",
        "Dana Scully",
        "--email",
        "dana@county.example",
        "--badge-id",
        "B-77",
    ]);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "DET-1");
    add_evidence(&a, &case, work.path(), "statement.pdf", "");
    let sh: ShareView = a.cli_typed([
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:dana",
        "--to",
        "badge:B-77",
        "--message",
        "Please review",
    ]);
    let share_id = &sh.id.to_string();
    let copy = copy_of(&b, share_id, 1);

    let details = received_view(&b, share_id);
    assert_eq!(details.sender.as_str(), a.org_id());
    assert_eq!(details.partner_organization, "metro-pd");
    let mut recipients = details.recipients.clone();
    recipients.sort();
    assert_eq!(recipients, ["badge:B-77", "user:dana"]);
    assert_eq!(details.resolved_users, ["dana"]);
    assert!(
        details.received_on.len() >= 20 && details.received_on.contains('T'),
        "received_on is an RFC 3339 time: {details:?}"
    );
    assert_eq!(details.access_level, "copy");
    assert_eq!(details.sharing_policy.name, "partner-copy");
    assert!(
        details
            .sharing_policy
            .allowed
            .contains(&"import".to_owned()),
        "{details:?}"
    );
    assert_eq!(details.message.as_deref(), Some("Please review"));
    assert_eq!(details.case_id, "DET-1");
    assert_eq!(details.local_case, Some(copy.id));
    // The same details by the local copy's id.
    let by_case = received_view(&b, &copy.id.to_string());
    assert_eq!(by_case.id, sh.id);

    // Recipients added later (same partner) show up in the import details.
    let updated: ShareView = a.cli_typed([
        "share",
        "add-recipients",
        share_id,
        "--to",
        "group:detectives",
        "--to",
        "email:records@county.example",
    ]);
    assert_eq!(updated.id, sh.id, "same partner: the same share");
    assert_eq!(updated.recipients.len(), 4);
    let details = wait_until("the added recipients at county-da", LIMIT, || {
        let d = received_view(&b, share_id);
        (d.recipients.len() == 4).then_some(d)
    });
    let mut recipients = details.recipients;
    recipients.sort();
    assert_eq!(
        recipients,
        [
            "badge:B-77",
            "email:records@county.example",
            "group:detectives",
            "user:dana",
        ]
    );
    // No second copy for the added recipients.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(external_cases(&b).len(), 1);
    assert_eq!(received_list(&b).len(), 1);
}

#[test]
fn sharing_needs_the_permission_and_the_feature() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "PERM-1");
    add_evidence(&a, &case, work.path(), "a.bin", "");
    let clerk = add_user(
        &a,
        "clerk",
        "Case Clerk",
        &["case_edit,case_share,evidence_share_external"],
    );
    let token = clerk.as_str();
    let create = [
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:admin",
    ];

    let (stderr, _) = a.cli_fail_as(token, create);
    assert_http_status(&stderr, 403);
    assert!(stderr.contains("case_share_by_copy"), "{stderr}");
    assert!(
        a.cli_typed::<Vec<ShareView>, _, _>(["share", "list", &case])
            .is_empty(),
        "no share was made"
    );

    // With the permission, the same user may share.
    a.cli_ok([
        "user",
        "edit",
        "clerk",
        "--permission",
        "case_edit,case_share,evidence_share_external,case_share_by_copy",
    ]);
    // The case is the admin's: the clerk needs it on their access list too (issue #12).
    let (stderr, _) = a.cli_fail_as(token, create);
    assert_http_status(&stderr, 404);
    a.cli_ok(["share", "create", &case, "--inside", "--to", "user:clerk"]);
    let allowed: ShareView = a.cli_typed_as(token, create);
    assert_eq!(allowed.status, "Processing");

    // The organization switches the feature off: nobody may share by copy, not even the admin.
    a.cli_ok(["settings", "set", "--feature", "case_share_by_copy=off"]);
    let (stderr, _) = a.cli_fail(create);
    assert_http_status(&stderr, 403);
    let (stderr, _) = a.cli_fail_as(token, create);
    assert_http_status(&stderr, 403);
    let (stderr, _) = a.cli_fail([
        "share",
        "add-recipients",
        &allowed.id.to_string(),
        "--to",
        "user:other",
    ]);
    assert_http_status(&stderr, 403);
    assert_eq!(
        a.cli_typed::<Vec<ShareView>, _, _>(["share", "list", &case])
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Email notifications through a real SMTP server (aiosmtpd, writing a Maildir).

/// A receiver with an `[smtp]` config, users `dana` (resolved by name) and `eve` (not a
/// recipient), partnered with a new sharer.
fn mail_setup(port: u16) -> (TestNode, TestNode) {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = TestNode::builder("county-da")
        .env("RUST_LOG", SHARING_LOG)
        .config_append(smtp_config(port))
        .start();
    partner(&a, &b);
    for (user, email) in [
        ("dana", "dana@county.example"),
        ("eve", "eve@county.example"),
    ] {
        b.cli_ok(["user", "add", user, "--full-name", user, "--email", email]);
    }
    // `email:records@…` is no user here: its notice goes to the intake address (issue #12).
    b.cli_ok([
        "settings",
        "set",
        "--intake-address",
        "records@county.example",
    ]);
    (a, b)
}

fn share_for_mail(a: &TestNode, case_id: &str, dir: &Path) -> ShareView {
    let case = create_case(a, case_id);
    add_evidence(a, &case, dir, "mail.bin", "");
    a.cli_typed([
        "share",
        "create",
        &case,
        "--partner",
        "county-da",
        "--to",
        "user:dana",
        "--to",
        "email:records@county.example",
        "--message",
        "New case for you",
    ])
}

/// The notifications of one share: one mail per address (so a refused address never holds up the
/// others), together reaching the resolved user and the `email:` recipient, nobody else.
fn assert_share_mails(messages: &[String], case_id: &str) {
    let mut to_all = String::new();
    for message in messages {
        let subject = header(message, "Subject").expect("a Subject header");
        assert!(
            subject.contains(case_id),
            "subject names the case: {subject}"
        );
        assert!(
            subject.contains("metro-pd"),
            "subject names the sharer: {subject}"
        );
        assert!(
            message.contains("New case for you"),
            "the sharer's message: {message}"
        );
        let to = header(message, "To").expect("a To header").to_lowercase();
        let rcpt = header(message, "X-RcptTo")
            .unwrap_or_default()
            .to_lowercase();
        assert_eq!(to, rcpt, "To and envelope agree");
        to_all.push_str(&to);
        to_all.push(' ');
    }
    for addr in ["dana@county.example", "records@county.example"] {
        assert!(to_all.contains(addr), "{addr} notified: {to_all}");
    }
    assert!(!to_all.contains("eve@"), "eve is no recipient: {to_all}");
}

/// Wait for at least `n` messages, then a moment more to see no extra ones arrive.
fn wait_messages(server: &SmtpServer, n: usize) -> Vec<String> {
    wait_until("the notification emails", LIMIT, || {
        let m = server.messages();
        (m.len() >= n).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    server.messages()
}

#[test]
fn recipients_are_notified_by_email() {
    let port = free_port();
    let mail = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(port, &mail.path().join("Maildir"));
    let (a, b) = mail_setup(port);
    let work = tempfile::tempdir().unwrap();
    let sh = share_for_mail(&a, "MAIL-1", work.path());
    copy_of(&b, &sh.id.to_string(), 1);
    let messages = wait_messages(&server, 2);
    assert_eq!(
        messages.len(),
        2,
        "one notification per address: {messages:?}"
    );
    assert_share_mails(&messages, "MAIL-1");
}

#[test]
fn notification_survives_a_mail_server_outage() {
    let port = free_port();
    let (a, b) = mail_setup(port);
    let work = tempfile::tempdir().unwrap();
    let sh = share_for_mail(&a, "MAIL-2", work.path());
    copy_of(&b, &sh.id.to_string(), 1);
    wait_until("the node to find the mail server down", LIMIT, || {
        b.log()
            .contains("mail server unavailable; notifications stay queued")
            .then_some(())
    });

    let mail = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(port, &mail.path().join("Maildir"));
    let messages = wait_messages(&server, 2);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_share_mails(&messages, "MAIL-2");
}

/// An SMTP server that refuses one mailbox (`bounce@…`) with a permanent 550, as a real relay
/// does for an unknown address.
const PICKY_HANDLER: &str = r#"
from aiosmtpd.handlers import Mailbox

class Picky(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce@"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

#[test]
/// A share notifies an address the relay refuses for good (550), then another share notifies
/// valid addresses: the second mail must still go out (the refused one can only be logged or set
/// aside, retrying a permanent failure never succeeds).
fn a_refused_address_does_not_block_later_notifications() {
    let port = free_port();
    let mail = tempfile::tempdir().unwrap();
    fs::write(mail.path().join("picky.py"), PICKY_HANDLER).unwrap();
    let server = SmtpServer::start_with(
        port,
        &mail.path().join("Maildir"),
        "picky.Picky",
        Some(mail.path()),
    );
    let (a, b) = mail_setup(port);
    b.cli_ok([
        "user",
        "add",
        "bouncer",
        "--full-name",
        "Bounced Mailbox",
        "--email",
        "bounce@county.example",
    ]);
    let work = tempfile::tempdir().unwrap();
    let first = create_case(&a, "BOUNCE-1");
    add_evidence(&a, &first, work.path(), "x.bin", "");
    let s1: ShareView = a.cli_typed([
        "share",
        "create",
        &first,
        "--partner",
        "county-da",
        "--to",
        "email:bounce@county.example",
    ]);
    copy_of(&b, &s1.id.to_string(), 1);
    let s2 = share_for_mail(&a, "BOUNCE-2", work.path());
    copy_of(&b, &s2.id.to_string(), 1);
    let messages = wait_messages(&server, 2);
    assert_eq!(
        messages.len(),
        2,
        "the refused address got nothing, the others theirs: {messages:?}"
    );
    assert_share_mails(&messages, "BOUNCE-2");
}

/// Stop sharing ends a transfer in flight at once (seed: "once you stop sharing, automatic
/// updates of evidence to the share will be stopped"): the receiver drops the fetch of the item
/// it was receiving, never completes it, and leaves no partial file behind.
#[test]
fn stop_ends_an_import_in_flight_at_once() {
    // The sharer serves at most 32 MiB/s, so the 256 MiB item cannot arrive before 8 s have
    // passed since the share was created: "in flight" on any machine, and the wait below
    // covers the whole transfer had the stop not ended it.
    let a = slow_sharer("metro-pd");
    let b = logged_node("county-da", SHARING_LOG);
    // `status` shows the bound the operator set.
    let info: NodeInfo = a.cli_typed(["status"]);
    assert_eq!(info.max_send_rate, Some(32 << 20), "{info:?}");
    assert!(a.cli_ok(["status"]).contains("Send limit:   32.00 MiB/s"));
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "STOP-FLIGHT");
    let big = work.path().join("cctv.mp4");
    let ev = add_random_evidence(&a, &case, &big, BIG_ITEM, 77, &[]);
    let hash = ev.hash;
    let shared_at = Instant::now();
    let share_id = share(&a, &case, b.name(), &[]).id;

    let partial = b.data_dir().join("partial");
    let in_flight = || {
        std::fs::read_dir(&partial)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&hash.to_hex()))
    };
    wait_until(
        "bytes of the item arriving at the receiver",
        Duration::from_secs(60),
        || in_flight().then_some(()),
    );
    a.cli_ok(["share", "stop", &share_id.to_string(), "--yes"]);
    wait_until(
        "the receiver to learn of the stop",
        Duration::from_secs(20),
        || {
            let r = received_view(&b, &share_id.to_string());
            (r.status == "Stopped").then_some(())
        },
    );
    // Long enough for the rest of the item to arrive had the fetch gone on.
    std::thread::sleep(
        (shared_at + BIG_ITEM_TRANSFER + Duration::from_secs(2))
            .saturating_duration_since(Instant::now()),
    );
    assert!(
        !b.blob_path(&hash).exists(),
        "the stopped share's item was completed anyway"
    );
    wait_until(
        "the partial file to be gone",
        Duration::from_secs(10),
        || (!in_flight()).then_some(()),
    );
    let r = received_view(&b, &share_id.to_string());
    assert_eq!(r.items_imported, 0, "{r:?}");
}

/// The sharer's `share status` follows the partner's import while it runs (progress receipts),
/// and after a stop says what the partner kept: the small items it had, not the big one cut off.
#[test]
fn the_sharer_sees_the_import_progress_and_what_a_stopped_partner_kept() {
    // At 32 MiB/s the big item takes at least 8 s: the small ones are delivered well before.
    let a = slow_sharer("metro-pd");
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "PROGRESS-1");
    for i in 0..3u64 {
        let small = work.path().join(format!("note-{i}.txt"));
        add_random_evidence(&a, &case, &small, 4096 + i, 300 + i, &[]);
    }
    let big = work.path().join("cctv.mp4");
    add_random_evidence(&a, &case, &big, BIG_ITEM, 78, &[]);
    let share_id = share(&a, &case, b.name(), &[]).id;

    // While the big item is still arriving, the sharer already counts the three small ones.
    let during = wait_until(
        "the sharer to see the small items delivered",
        Duration::from_secs(60),
        || {
            let v = share_view(&a, &share_id.to_string());
            (v.items_delivered == 3).then_some(v)
        },
    );
    assert_eq!(during.status, "Processing", "{during:?}");
    a.cli_ok(["share", "stop", &share_id.to_string(), "--yes"]);
    wait_until("the receiver to learn of the stop", LIMIT, || {
        (received_view(&b, &share_id.to_string()).status == "Stopped").then_some(())
    });
    let kept = received_view(&b, &share_id.to_string()).items_imported;
    assert_eq!(kept, 3, "the receiver kept the small items");
    let after = share_view(&a, &share_id.to_string());
    assert_eq!(after.status, "Stopped");
    assert_eq!(after.items_delivered, 3, "{after:?}");
}

// ---------------------------------------------------------------------------------------------
// Recipients and what data leaves (issue #12 items 4 and 6, issue #15 item 1).

/// A recipient the receiving organization does not know is refused by its node, which names it
/// and why: the share ends Failed with that reason at the sharer, and nothing is stored at the
/// receiver (before, the copy silently went to the receiver's administrator).
#[test]
fn an_unknown_recipient_is_refused_by_the_receiver_naming_it() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "WHO-1");
    add_evidence(&a, &case, work.path(), "a.bin", "");
    let sh: ShareView = share_case(
        &a,
        &case,
        "county-da",
        &["--to", "user:bob", "--to", "group:Nobody"],
    );
    let failed = wait_until("the share to fail", LIMIT, || {
        let v = share_view(&a, &sh.id.to_string());
        (v.status == "Failed").then_some(v)
    });
    let why = failed.failure.as_deref().unwrap_or_default();
    for part in ["user:bob (no such user)", "group:Nobody (no such group)"] {
        assert!(why.contains(part), "{part} is named: {failed:?}");
    }
    assert!(!why.contains("user:admin"), "admin is known: {why}");
    assert!(received_list(&b).is_empty());
    assert!(external_cases(&b).is_empty());
}

/// A partner can never make the receiving node mail an address outside its own directory: an
/// `email:` recipient no local user has goes to the configured intake address, naming the
/// addresses the partner wrote (issue #12: 100 made-up addresses made 100 mails).
#[test]
fn an_email_recipient_unknown_to_the_receiver_goes_to_the_intake_address() {
    let port = free_port();
    let mail = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(port, &mail.path().join("Maildir"));
    let (a, b) = mail_setup(port); // intake: records@county.example
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "INTAKE-1");
    add_evidence(&a, &case, work.path(), "x.bin", "");
    let mut args = vec!["share", "create", &case, "--partner", "county-da"];
    let strangers: Vec<String> = (0..20)
        .map(|i| format!("email:victim{i}@made-up{i}.example"))
        .collect();
    for t in &strangers {
        args.extend(["--to", t]);
    }
    args.extend(["--to", "user:dana"]);
    let sh: ShareView = a.cli_typed(&args);
    copy_of(&b, &sh.id.to_string(), 1);
    let messages = wait_messages(&server, 2);
    let rcpts: Vec<String> = messages
        .iter()
        .map(|m| header(m, "X-RcptTo").unwrap_or_default().to_lowercase())
        .collect();
    let mut sorted = rcpts.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["dana@county.example", "records@county.example"],
        "one notice to the user, one to intake, none to the made-up addresses"
    );
    let intake = &messages[rcpts
        .iter()
        .position(|r| r == "records@county.example")
        .unwrap()];
    let body = intake.replace("=\r\n", "").replace("=\n", "");
    for i in 0..20 {
        assert!(
            body.contains(&format!("  victim{i}@made-up{i}.example")),
            "{body}"
        );
    }
}

/// What data leaves follows the partner's policy, and a folder share names no other folder: the
/// receiver's database never holds the withheld case fields, names, descriptions or the names of
/// unshared folders (inspected byte by byte), while the items arrive intact under their display
/// ids.
#[test]
fn withheld_data_and_unshared_folders_never_reach_the_partner() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    let policy: PolicyView = a.cli_typed([
        "policy",
        "set",
        "Display ids only",
        "--allow",
        "view",
        "--allow",
        "download",
        "--allow",
        "import",
        "--allow",
        "receive_updates",
        "--data",
        "evidence_display_id",
    ]);
    assert_eq!(policy.data, ["evidence_display_id"]);
    let shown: PolicyView = a.cli_typed(["policy", "show", "Display ids only"]);
    assert_eq!(
        shown.allow,
        ["view", "download", "import", "receive_updates"]
    );
    a.cli_ok([
        "partner",
        "update",
        "county-da",
        "--policy",
        "Display ids only",
    ]);
    // Unknown actions and data kinds are refused, naming what is known.
    let (stderr, _) = a.cli_fail(["policy", "set", "Bad", "--allow", "fly"]);
    assert!(stderr.contains("share_onward_external"), "{stderr}");
    let (stderr, _) = a.cli_fail(["policy", "set", "Bad", "--allow", "view", "--data", "notes"]);
    assert!(stderr.contains("evidence_metadata"), "{stderr}");

    let case: CaseView = a.cli_typed([
        "case",
        "create",
        "--case-id",
        "NIGHTJAR-0042",
        "--title",
        "Operation Nightjar",
        "--description",
        "Informant Kestrel-Smith",
    ]);
    let case = case.id;
    for f in ["Interviews/Day 1", "Informants", "Interviews/Day 2"] {
        a.cli_ok(["folder", "create", &case.to_string(), f]);
    }
    let work = tempfile::tempdir().unwrap();
    let day1 = add_evidence(
        &a,
        &case.to_string(),
        work.path(),
        "harrier-statement.wav",
        "Interviews/Day 1",
    );
    let payments = add_evidence(
        &a,
        &case.to_string(),
        work.path(),
        "kestrel-payments.pdf",
        "Informants",
    );
    a.cli_ok([
        "evidence",
        "edit",
        &case.to_string(),
        &day1.id.to_string(),
        "--description",
        "Witness Harrier names the buyer",
    ]);
    // Marked "do not disclose": never leaves, although its folder is shared.
    let informant = add_evidence(
        &a,
        &case.to_string(),
        work.path(),
        "osprey-identity.txt",
        "Interviews/Day 1",
    );
    a.cli_ok([
        "evidence",
        "edit",
        &case.to_string(),
        &informant.id.to_string(),
        "--do-not-disclose",
        "on",
    ]);
    let sh = share(
        &a,
        &case.to_string(),
        "county-da",
        &["--folder", "Interviews/Day 1"],
    );
    assert_eq!(sh.items_sent, 1, "{sh:?}");
    wait_share_complete(&a, &sh.id.to_string(), LIMIT);
    let copy = copy_of(&b, &sh.id.to_string(), 1);
    let names: Vec<String> = copy.evidence.iter().map(|e| e.name.clone()).collect();
    let display = &day1.display_id;
    assert_eq!(names, [format!("{display}.wav")]);
    assert_eq!(sorted_folders(&copy), ["Interviews", "Interviews/Day 1"]);
    let details = received_view(&b, &sh.id.to_string());
    assert!(details.case_id.starts_with("SHARE-"), "{details:?}");
    // An evidence share naming a do-not-disclose item: the item stays home, and so does the
    // name of the folder holding it. (The folder share is stopped first: a second share of the
    // case to the same partner would otherwise add to it.)
    a.cli_ok(["share", "stop", &sh.id.to_string(), "--yes"]);
    a.cli_ok([
        "evidence",
        "edit",
        &case.to_string(),
        &payments.id.to_string(),
        "--do-not-disclose",
        "on",
    ]);
    let picked = share(
        &a,
        &case.to_string(),
        "county-da",
        &[
            "--evidence",
            &day1.id.to_string(),
            "--evidence",
            &payments.id.to_string(),
        ],
    );
    assert_eq!(picked.items_sent, 1, "{picked:?}");
    wait_share_complete(&a, &picked.id.to_string(), LIMIT);
    // Let the metadata document settle, then read every byte the receiver stored.
    std::thread::sleep(Duration::from_secs(1));
    let stored = all_bytes(&b.data_dir().join("db"));
    for secret in [
        "NIGHTJAR",
        "Nightjar",
        "Kestrel",
        "kestrel",
        "harrier",
        "Harrier",
        "Informants",
        "Day 2",
        "osprey",
    ] {
        assert!(
            !contains(&stored, secret.as_bytes()),
            "{secret:?} reached the partner's database"
        );
    }
}

fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in files_under(dir) {
        out.extend(fs::read(entry).unwrap_or_default());
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A recipient added to a share later (`share add-recipients`) that the partner does not know is
/// refused by the partner's node, which says so, naming it and why, in its next receipt: the
/// sharer's `share status` and `share access` show it, while the share goes on (new items still
/// arrive) and a recipient the partner knows is not refused (issue #15 item 1; before, the
/// sharer heard nothing and `share access` listed the unknown recipient as if it were fine). Once
/// the partner adds the user, naming the recipient again clears the refusal.
#[test]
fn a_recipient_added_later_that_the_partner_does_not_know_is_reported_refused() {
    let a = logged_node("metro-pd", SHARING_LOG);
    let b = logged_node("county-da", SHARING_LOG);
    partner(&a, &b);
    b.cli_ok(["user", "add", "carol", "--full-name", "Carol Clerk"]);
    let work = tempfile::tempdir().unwrap();
    let case = create_case(&a, "LATER-1");
    add_evidence(&a, &case, work.path(), "first.bin", "");
    let share_id = share(&a, &case, b.name(), &[]).id;
    wait_share_complete(&a, &share_id.to_string(), LIMIT);

    let said = a.cli_ok([
        "share",
        "add-recipients",
        &share_id.to_string(),
        "--to",
        "user:bob",
        "--to",
        "user:carol",
    ]);
    assert!(
        said.contains("checks the recipients") && said.contains("share status"),
        "add-recipients says the partner checks them: {said}"
    );
    add_evidence(&a, &case, work.path(), "second.bin", "");
    copy_of(&b, &share_id.to_string(), 2);

    let status = wait_until("the sharer to see bob refused", LIMIT, || {
        let v = share_view(&a, &share_id.to_string());
        (!v.refused_recipients.is_empty() && v.items_delivered == 2).then_some(v)
    });
    let refused = &status.refused_recipients;
    assert_eq!(refused.len(), 1, "only bob is refused: {status:?}");
    assert_eq!(refused[0].recipient, "user:bob", "{status:?}");
    assert_eq!(refused[0].reason, "no such user", "{status:?}");
    assert_eq!(status.status, "Complete", "the share goes on: {status:?}");

    let access: Vec<AccessEntry> = a.cli_typed(["share", "access", &case]);
    let entry = |who: &str| {
        access
            .iter()
            .find(|e| e.who == who && e.share == Some(share_id))
            .cloned()
            .unwrap_or_else(|| panic!("{who} in {access:?}"))
    };
    assert_eq!(
        entry("bob").refused.as_deref(),
        Some("no such user"),
        "{access:?}"
    );
    assert!(entry("carol").refused.is_none(), "{access:?}");
    assert!(entry("admin").refused.is_none(), "{access:?}");
    let text = a.cli_ok(["share", "status", &share_id.to_string()]);
    assert!(
        text.contains("refused by the partner: user:bob (no such user)"),
        "{text}"
    );

    // The partner adds bob; naming him again has the partner check again.
    b.cli_ok(["user", "add", "bob", "--full-name", "Bob Builder"]);
    a.cli_ok([
        "share",
        "add-recipients",
        &share_id.to_string(),
        "--to",
        "user:bob",
    ]);
    wait_until("the refusal to clear", LIMIT, || {
        share_view(&a, &share_id.to_string())
            .refused_recipients
            .is_empty()
            .then_some(())
    });

    // `share create … --wait` that only adds a recipient to the Complete share waits until the
    // partner has confirmed that update: its answer already names the refusal (before, it
    // returned at once with the old status, and the refusal showed only later).
    let v: ShareView = a.cli_typed([
        "share",
        "create",
        &case,
        "--partner",
        b.name(),
        "--to",
        "user:ghost",
        "--wait",
        "--timeout",
        "60",
    ]);
    assert_eq!((v.id, v.status.as_str()), (share_id, "Complete"));
    assert!(v.in_sync, "{v:?}");
    let refused: Vec<&str> = v
        .refused_recipients
        .iter()
        .map(|r| r.recipient.as_str())
        .collect();
    assert_eq!(refused, ["user:ghost"], "{v:?}");
}
