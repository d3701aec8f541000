//! Partner directory look-up (recipient type-ahead): answered only when the partner shares its
//! directory, never more than the cap, matching on name, email, badge id and group.

use casemesh_tests::{TestNode, partner};

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
    let found = sharer.cli_json(["partner", "directory", "dir-receiver", "love"]);
    let names: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada"], "{found}");
    assert_eq!(found[0]["email"], "ada@prosecutor.example");
    assert_eq!(found[0]["badge_id"], "B-17");
    let by_badge = sharer.cli_json(["partner", "directory", "dir-receiver", "B-1"]);
    assert_eq!(by_badge[0]["name"], "ada");
    let group = sharer.cli_json(["partner", "directory", "dir-receiver", "detect"]);
    assert_eq!(group[0]["kind"], "group");
    assert_eq!(group[0]["name"], "Detectives");
    let all = sharer.cli_json(["partner", "directory", "dir-receiver"]);
    assert_eq!(
        all.as_array().unwrap().len(),
        4,
        "admin, ada, bob and the group: {all}"
    );

    let (err, _) = sharer.cli_fail(["partner", "directory", "nobody", "x"]);
    assert!(err.contains("not found"), "{err}");
}
