//! Empty case folders survive a download link that keeps the folder structure (issue #16
//! item 5), in ZIP and ISO, on the real readers, and `casemesh verify` accepts the package.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use std::process::Command;

use casemesh_tests::{
    TestNode, add_random_evidence, create_case, create_link, download_link, s, verify_report,
};

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn empty_case_folders_are_kept_in_zip_and_iso_links() {
    let node = TestNode::start("folders");
    let case = create_case(&node, "FOLDERS-1");
    for folder in ["Interviews/Day 1", "Interviews/Day 2 (empty)", "Empty"] {
        node.cli_ok(["folder", "create", &case, folder]);
    }
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("clip.mp4");
    add_random_evidence(
        &node,
        &case,
        &file,
        10_000,
        3,
        &["--folder", "Interviews/Day 1"],
    );
    let empty = ["Evidence/Interviews/Day 2 (empty)", "Evidence/Empty"];
    for format in ["zip", "iso"] {
        let link = create_link(&node, &case, &["--format", format, "--keep-folders"]);
        let pkg = work.path().join(format!("case.{format}"));
        download_link(&link, &pkg);
        let out = work.path().join(format!("out-{format}"));
        match format {
            "zip" => ok(Command::new("unzip")
                .arg("-q")
                .arg(&pkg)
                .arg("-d")
                .arg(&out)),
            _ => ok(Command::new("xorriso")
                .args(["-abort_on", "FAILURE", "-osirrox", "on", "-indev"])
                .arg(&pkg)
                .args(["-extract", "/"])
                .arg(&out)),
        };
        for folder in empty {
            assert!(out.join(folder).is_dir(), "{format}: {folder} not kept");
        }
        assert!(out.join("Evidence/Interviews/Day 1/clip.mp4").is_file());
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        let mut want: Vec<&str> = empty.to_vec();
        want.sort();
        assert_eq!(manifest["folders"], serde_json::json!(want), "{format}");
        let (verify, report) = verify_report(&[
            "--data-dir",
            s(node.data_dir()),
            s(&pkg),
            "--allow-unpinned",
        ]);
        assert!(report.missing.is_empty(), "{report:?}");
        assert!(report.added.is_empty(), "{report:?}");
        assert!(report.altered.is_empty(), "{report:?}");
        assert!(verify.status.success(), "{format}: {report:?}");
    }
}
