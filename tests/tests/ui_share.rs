//! The web UI's Share dialog, sharer side (issue #17), against real nodes.
//!
//! - `ui_share_forms_over_http` (no browser, always runs): the dialog offers what to share
//!   (whole case, selected folders, selected evidence, with a checkbox per folder and item), the
//!   Inside my agency / A partner agency choice and the partner's policy to View, and the Link
//!   tab, with the agency's users as type-ahead for Recipients (and the partner's, once it
//!   shares its directory); the People, Link and Stop forms
//!   refuse a `POST` without the CSRF token (403) and change nothing; an empty selection, a bad duration, an unknown format and an unknown
//!   inside recipient are answered 400 with a clear message and nothing created; an inside share
//!   of one item puts the user on the access list; a stop is confirmed on its own page, then the
//!   share is Stopped.
//! - `ui_share_in_a_real_browser`: Chromium through chromedriver (WebDriver, `fantoccini`):
//!   share one of two items (ticked on the case page) to a partner from the People tab, the
//!   recipient picked with the partner directory's type-ahead (the partner's copy then holds that
//!   item only), create a ZIP download link from the Link tab, see it Processing then Ready with
//!   its address, download it over HTTP and check it with `casemesh verify`; stop the share and
//!   see it Stopped. Skipped (with a message) only when `chromedriver` is not installed.
//!
//! Screenshots `share_people` and `share_link` go to `docs/ui/` when `UPDATE_SCREENSHOTS=1`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_api_types::sharing::ShareView;
use casemesh_tests::browser::{
    Http, PASSWORD, checked, click, http_session, location, screenshot, sign_in_admin, text_of,
    type_into, ui_node, wait_text, with_browser,
};
use casemesh_tests::{
    EvidenceView, TestNode, add_user, create_case, evidence_list, partner, s, share_view,
    verify_package, wait_copy,
};
use fantoccini::{Client, Locator};
use std::path::Path;
use std::time::Duration;

/// How long shares and link packages get.
const LIMIT: Duration = Duration::from_secs(60);

/// A case `number` on `node` with two evidence items (`first.txt` in folder `Reports`,
/// `second.txt` at the root); returns (case id, first item id, second item id).
fn case_with_two_items(node: &TestNode, number: &str, dir: &Path) -> (String, String, String) {
    let case = create_case(node, number);
    node.cli_ok(["folder", "create", &case, "Reports"]);
    let first = dir.join("first.txt");
    std::fs::write(&first, b"the first item, to be shared\n".repeat(100)).unwrap();
    let second = dir.join("second.txt");
    std::fs::write(&second, b"the second item, kept home\n".repeat(100)).unwrap();
    let e1: EvidenceView =
        node.cli_typed(["evidence", "add", &case, s(&first), "--folder", "Reports"]);
    let e2: EvidenceView = node.cli_typed(["evidence", "add", &case, s(&second)]);
    (case, e1.id.to_string(), e2.id.to_string())
}

/// The partner shares of `case` on `node`, through the API.
fn shares_of(node: &TestNode, case: &str) -> Vec<ShareView> {
    let resp = node
        .http()
        .get(node.url(&format!("/v1/cases/{case}/shares")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

/// The Share dialog's access list ("Who has access") of a case page.
fn access_list(html: &str) -> &str {
    let start = html.find("id=\"access-list\"").expect("an access list");
    let end = start + html[start..].find("</ul>").unwrap();
    &html[start..end]
}

/// `POST path` with `form`, expecting 400 with `message` on the error page.
fn refused(web: &mut Http, path: &str, form: &[(&str, &str)], message: &str) {
    let resp = web.post_form(path, form);
    let status = resp.status();
    let body = resp.text().unwrap();
    assert_eq!(status, 400, "{path} {form:?}:\n{body}");
    assert!(body.contains(message), "{message:?} not in:\n{body}");
}

#[test]
fn ui_share_forms_over_http() {
    let a = ui_node("metro-pd");
    let b = ui_node("county-da");
    partner(&a, &b);
    add_user(&a, "clerk", "Rita Clerk", &[]);
    let work = tempfile::tempdir().unwrap();
    let (case, first, second) = case_with_two_items(&a, "2026-UI-S1", work.path());
    let (mut web, csrf) = http_session(&a, "admin", PASSWORD);
    let page = format!("/ui/cases/{case}");

    // The dialog: what to share, inside or partner, the partner's policy, the Link tab.
    let html = web.get(&page).text().unwrap();
    for needle in [
        "What to share",
        "Whole case",
        "Selected folders",
        "Selected evidence",
        &format!("value=\"{first}\""),
        &format!("value=\"{second}\""),
        "value=\"Reports\"",
        "Inside my agency",
        "A partner agency",
        "id=\"policy-view\"",
        "They may:",
        "id=\"tab-link\"",
        "Retain folder structure",
        "Audit trails",
        "Transcripts",
        "Table of contents",
        "id=\"link-iso\"",
        "id=\"link-days\"",
        // Type-ahead: the users of this agency.
        "<option value=\"clerk\">Rita Clerk</option>",
    ] {
        assert!(
            html.contains(needle),
            "{needle:?} missing from the case page"
        );
    }

    // Type-ahead at the partner: refused while it keeps its directory to itself, then its users.
    let lookup = "/ui/partners/county-da/directory?q=adm";
    let resp = web.get(lookup);
    assert_eq!(resp.status(), 403);
    let refusal = resp.text().unwrap();
    assert!(
        refusal.contains("does not share its directory"),
        "{refusal}"
    );
    b.cli_ok(["settings", "set", "--share-directory", "on"]);
    let resp = web.get(lookup);
    assert_eq!(resp.status(), 200);
    let options = resp.text().unwrap();
    assert!(
        options.contains("<option value=\"user:admin\">Administrator</option>"),
        "{options}"
    );

    let shares = format!("{page}/shares");
    let links = format!("{page}/links");
    let one_item = [
        ("audience", "partner"),
        ("partner", "county-da"),
        ("to", "admin"),
        ("scope", "evidence"),
        ("evidence", first.as_str()),
    ];
    // Without the CSRF token: 403, nothing shared, no link.
    assert_eq!(web.post_form(&shares, &one_item).status(), 403);
    let link_form = [("format", "zip"), ("days", "3"), ("scope", "case")];
    assert_eq!(web.post_form(&links, &link_form).status(), 403);
    let wrong = "0".repeat(64);
    let mut forged = link_form.to_vec();
    forged.push(("csrf", &wrong));
    assert_eq!(web.post_form(&links, &forged).status(), 403);
    assert!(shares_of(&a, &case).is_empty(), "a refused POST shared");
    assert!(
        casemesh_tests::link_list(&a, &case).is_empty(),
        "a refused POST made a link"
    );

    // Bad input: a clear message, nothing created.
    refused(
        &mut web,
        &shares,
        &[
            ("csrf", &csrf),
            ("audience", "partner"),
            ("partner", "county-da"),
            ("to", "admin"),
            ("scope", "evidence"),
        ],
        "Select at least one evidence item to share",
    );
    refused(
        &mut web,
        &shares,
        &[
            ("csrf", &csrf),
            ("audience", "partner"),
            ("partner", "county-da"),
            ("to", "admin"),
            ("scope", "folders"),
            ("evidence", &first),
        ],
        "Select at least one folder to share",
    );
    refused(
        &mut web,
        &shares,
        &[
            ("csrf", &csrf),
            ("audience", "inside"),
            ("to", "nobody-here"),
        ],
        "not in this organization: user:nobody-here",
    );
    for (days, message) in [
        ("seven", "Duration must be a whole number of days"),
        ("0", "days must be 1 to 3650"),
        ("99999", "days must be 1 to 3650"),
    ] {
        refused(
            &mut web,
            &links,
            &[("csrf", &csrf), ("format", "zip"), ("days", days)],
            message,
        );
    }
    refused(
        &mut web,
        &links,
        &[("csrf", &csrf), ("format", "rar"), ("days", "3")],
        "Format must be ZIP or ISO",
    );
    refused(
        &mut web,
        &links,
        &[
            ("csrf", &csrf),
            ("format", "zip"),
            ("days", "3"),
            ("scope", "evidence"),
        ],
        "Select at least one evidence item",
    );
    assert!(shares_of(&a, &case).is_empty(), "bad input shared");
    assert!(
        casemesh_tests::link_list(&a, &case).is_empty(),
        "bad input made a link"
    );
    let access = web.get(&page).text().unwrap();
    assert!(
        !access_list(&access).contains("Rita Clerk"),
        "bad input gave access"
    );

    // Inside my agency: one item to the clerk, who is then on the access list.
    let resp = web.post_form(
        &shares,
        &[
            ("csrf", &csrf),
            ("audience", "inside"),
            ("to", "clerk"),
            ("message", "Please file this"),
            ("scope", "evidence"),
            ("evidence", &second),
        ],
    );
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{page}?inside=1"));
    let html = web.get(&location(&resp)).text().unwrap();
    assert!(html.contains("Shared inside the agency"), "{html}");
    assert!(
        access_list(&html).contains("Rita Clerk"),
        "the clerk has access:\n{html}"
    );
    assert!(
        shares_of(&a, &case).is_empty(),
        "inside is not a partner share"
    );

    // A partner share of the whole case, then Stop: confirmed on its own page.
    let resp = web.post_form(
        &shares,
        &[
            ("csrf", &csrf),
            ("audience", "partner"),
            ("partner", "county-da"),
            ("to", "admin"),
            ("scope", "case"),
        ],
    );
    assert_eq!(resp.status(), 303);
    let listed = shares_of(&a, &case);
    assert_eq!(listed.len(), 1);
    let share = listed[0].id;
    let stop = format!("{page}/shares/{share}/stop");
    let html = web.get(&page).text().unwrap();
    assert!(html.contains(&format!("href=\"{stop}\"")), "a Stop button");
    let confirm = web.get(&stop);
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().unwrap();
    assert!(
        confirm.contains("Stop sharing 2026-UI-S1 with county-da?"),
        "{confirm}"
    );
    assert!(confirm.contains("id=\"confirm-stop\""));
    // The GET changed nothing; a POST without the token neither.
    assert_ne!(share_view(&a, &share.to_string()).status, "Stopped");
    assert_eq!(web.post_form(&stop, &[]).status(), 403);
    assert_ne!(share_view(&a, &share.to_string()).status, "Stopped");
    // A share of another case is not found under this one.
    let other = create_case(&a, "2026-UI-S2");
    let resp = web.post_form(
        &format!("/ui/cases/{other}/shares/{share}/stop"),
        &[("csrf", &csrf)],
    );
    assert_eq!(resp.status(), 404);
    assert_ne!(share_view(&a, &share.to_string()).status, "Stopped");
    let resp = web.post_form(&stop, &[("csrf", &csrf)]);
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{page}?stopped={share}"));
    assert_eq!(share_view(&a, &share.to_string()).status, "Stopped");
    let html = web.get(&location(&resp)).text().unwrap();
    assert!(html.contains("Stopped sharing with county-da"), "{html}");
    assert!(
        !html.contains(&format!("href=\"{stop}\"")),
        "no Stop button on a stopped share"
    );
}

/// Scroll the Share dialog back to its top (for a screenshot).
async fn dialog_to_top(c: &Client) {
    c.execute(
        "document.getElementById('share-dialog').scrollTop = 0;",
        vec![],
    )
    .await
    .unwrap();
}

#[test]
fn ui_share_in_a_real_browser() {
    let a = ui_node("metro-pd");
    let b = ui_node("county-da");
    partner(&a, &b);
    b.cli_ok(["settings", "set", "--share-directory", "on"]);
    let work = tempfile::tempdir().unwrap();
    let (case, first, second) = case_with_two_items(&a, "2026-UI-B1", work.path());
    let downloads = work.path().join("downloads");
    let (a, b) = (&a, &b);
    with_browser("ui_share_in_a_real_browser", &downloads, |c| async move {
        let base = format!("http://{}", a.admin_addr());
        sign_in_admin(&c, a).await;
        c.goto(&format!("{base}/ui/cases/{case}")).await.unwrap();
        wait_text(&c, "[data-testid=case-number]", LIMIT, |t| {
            t == "2026-UI-B1"
        })
        .await;

        // People tab: a partner agency, selected evidence, the first item only — ticked on the
        // case page, which the dialog takes over.
        click(&c, &format!("input[data-select-evidence='{first}']")).await;
        click(&c, "#open-share").await;
        assert!(
            c.find(Locator::Id("share-dialog"))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap()
        );
        click(&c, "#audience-partner").await;
        // View: the partner's sharing policy, read only.
        click(&c, "#policy-view summary").await;
        let policy = text_of(&c, "#policy-view section").await;
        assert!(
            policy.contains("county-da") && policy.contains("They may:"),
            "{policy}"
        );
        click(&c, "#policy-view summary").await;
        for (css, want) in [
            (format!("#p-ev-{first}"), "true"),
            (format!("#p-ev-{second}"), "false"),
            ("#p-scope-evidence".to_owned(), "true"),
        ] {
            assert_eq!(checked(&c, &css).await, want, "{css}");
        }
        // Type-ahead: the partner's directory (it shares it) offers its users.
        type_into(&c, "#to", "adm").await;
        let start = std::time::Instant::now();
        loop {
            let offered = c
                .execute(
                    "return Array.from(document.querySelectorAll('#to-suggestions option')).map(o => o.value);",
                    vec![],
                )
                .await
                .unwrap();
            if offered
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == "user:admin")
            {
                break;
            }
            assert!(start.elapsed() < LIMIT, "no suggestions: {offered}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        type_into(&c, "#to", "user:admin").await;
        type_into(&c, "#message", "Only the first report").await;
        dialog_to_top(&c).await;
        screenshot(&c, "share_people").await;
        click(&c, "#share-submit").await;
        let first_status =
            wait_text(&c, "[data-testid=share-status]", LIMIT, |t| !t.is_empty()).await;
        assert!(
            first_status == "Processing" || first_status == "Complete",
            "{first_status}"
        );
        assert_eq!(text_of(&c, "[data-testid=share-scope]").await, "1 items");
        wait_text(&c, "[data-testid=share-status]", LIMIT, |t| t == "Complete").await;
        let url = c.current_url().await.unwrap();
        let share = url
            .query_pairs()
            .find(|(k, _)| k == "shared")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no share id in {url}"));

        // At the partner: the copy holds the first item, not the second.
        let copy = wait_copy(b, &share, 1, LIMIT);
        let local = &copy.id.to_string();
        let names: Vec<String> = evidence_list(b, local)
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["first.txt"], "only the selected item arrived");

        // Link tab: a ZIP of the whole case with audit trails and a table of contents.
        click(&c, "#open-share").await;
        click(&c, "#tab-link").await;
        assert!(
            c.find(Locator::Id("panel-link"))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap()
        );
        assert!(
            !c.find(Locator::Id("panel-people"))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap()
        );
        // Ticking an item chooses "Selected evidence"; back to the whole case.
        click(&c, &format!("#l-ev-{second}")).await;
        assert_eq!(checked(&c, "#l-scope-evidence").await, "true");
        click(&c, "#l-scope-case").await;
        type_into(&c, "#link-to", "defense@example.org").await;
        click(&c, "#link-audit").await;
        click(&c, "#link-toc").await;
        click(&c, "#link-zip").await;
        type_into(&c, "#link-days", "3").await;
        type_into(&c, "#link-message", "The case file for review").await;
        dialog_to_top(&c).await;
        screenshot(&c, "share_link").await;
        click(&c, "#link-submit").await;
        let status = wait_text(&c, "[data-testid=link-status]", LIMIT, |t| !t.is_empty()).await;
        assert!(status == "Processing" || status == "Ready", "{status}");
        wait_text(&c, "[data-testid=link-status]", LIMIT, |t| t == "Ready").await;
        let link_url = c
            .find(Locator::Css("[data-testid=link-url]"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(link_url.contains("/l/"), "{link_url}");
        let row = text_of(&c, "#link-list tbody tr").await;
        assert!(
            row.contains("ZIP")
                && row.contains("Whole case, with audit trails, table of contents")
                && row.contains("defense@example.org"),
            "{row}"
        );
        // Download it over HTTP, as the recipient would, and verify the package offline.
        let resp = reqwest::Client::new()
            .get(format!("{link_url}/download"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let pkg = work.path().join("package.zip");
        std::fs::write(&pkg, resp.bytes().await.unwrap()).unwrap();
        let ok = verify_package(&["--org-key", a.org_id(), s(&pkg)]);
        assert!(
            ok.status.success(),
            "verify: {}{}",
            String::from_utf8_lossy(&ok.stdout),
            String::from_utf8_lossy(&ok.stderr)
        );

        // Stop sharing: the Stop button, the confirmation, then Stopped.
        click(&c, "[data-testid=stop-share]").await;
        wait_text(&c, "h1", LIMIT, |t| {
            t.starts_with("Stop sharing 2026-UI-B1")
        })
        .await;
        click(&c, "#confirm-stop").await;
        wait_text(&c, "[data-testid=share-status]", LIMIT, |t| t == "Stopped").await;
        assert!(
            text_of(&c, ".notice")
                .await
                .contains("Stopped sharing with county-da")
        );
        assert!(
            c.find_all(Locator::Css("[data-testid=stop-share]"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(share_view(a, &share).status, "Stopped");
    });
}
