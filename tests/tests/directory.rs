//! Partner directory look-up (recipient type-ahead): answered only when the partner shares its
//! directory, never more than the cap, matching on name, email, badge id and group.

use casemesh_api_types::DirectoryEntryView;
use casemesh_tests::{TestNode, add_user, partner};

/// `partner directory PARTNER [QUERY]` on `node`, typed as the API answers it.
fn directory(node: &TestNode, partner: &str, query: Option<&str>) -> Vec<DirectoryEntryView> {
    let mut args = vec!["partner", "directory", partner];
    args.extend(query);
    node.cli_typed(&args)
}

#[test]
fn a_partner_directory_is_visible_only_when_shared() {
    let sharer = TestNode::start("dir-sharer");
    let receiver = TestNode::start("dir-receiver");
    partner(&sharer, &receiver);
    receiver.cli_ok([
        "user",
        "add",
        "ada",
        "--full-name",
        "Ada Lovelace",
        "--email",
        "ada@prosecutor.example",
        "--badge-id",
        "B-17",
    ]);
    receiver.cli_ok(["user", "add", "bob", "--full-name", "Bob Builder"]);
    receiver.cli_ok(["group", "add", "Detectives"]);

    // Not shared (the default): a clear refusal, nothing leaks.
    let (err, code) = sharer.cli_fail(["partner", "directory", "dir-receiver", "ada"]);
    assert_ne!(code, 0);
    assert!(err.contains("does not share its directory"), "{err}");

    receiver.cli_ok(["settings", "set", "--share-directory", "on"]);
    let found = directory(&sharer, "dir-receiver", Some("love"));
    let names: Vec<&str> = found.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["ada"], "{found:?}");
    assert_eq!(found[0].email.as_deref(), Some("ada@prosecutor.example"));
    assert_eq!(found[0].badge_id.as_deref(), Some("B-17"));
    let by_badge = directory(&sharer, "dir-receiver", Some("B-1"));
    assert_eq!(by_badge[0].name, "ada");
    let group = directory(&sharer, "dir-receiver", Some("detect"));
    assert_eq!(group[0].kind, "group");
    assert_eq!(group[0].name, "Detectives");
    let all = directory(&sharer, "dir-receiver", None);
    assert_eq!(all.len(), 4, "admin, ada, bob and the group: {all:?}");

    // A disabled account is no recipient: the partner leaves it out.
    receiver.cli_ok(["user", "disable", "bob", "--yes"]);
    let all = directory(&sharer, "dir-receiver", None);
    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Detectives", "ada", "admin"], "{all:?}");

    // Only someone who may share with partners sees a partner's directory: it is the
    // type-ahead for a partner share's recipients, not a staff list for every user.
    let clerk = add_user(&sharer, "clerk", "Records Clerk", &[]);
    let (err, code) = sharer.cli_fail_as(&clerk, ["partner", "directory", "dir-receiver"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("permission") || err.contains("forbidden"),
        "{err}"
    );
    let sharing = add_user(
        &sharer,
        "sam",
        "Sam Sharer",
        &["case_share,case_share_by_copy"],
    );
    let found: Vec<DirectoryEntryView> =
        sharer.cli_typed_as(&sharing, ["partner", "directory", "dir-receiver", "ada"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].name, "ada");

    // The directory's fields are one line each, here and at every partner.
    let (err, _) = receiver.cli_fail(["user", "add", "eve", "--full-name", "Evil\u{1b}[2J"]);
    assert!(err.contains("control character"), "{err}");

    let (err, _) = sharer.cli_fail(["partner", "directory", "nobody", "x"]);
    assert!(err.contains("not found"), "{err}");
}
