//! The receiving side of the web UI (issue #17): "Shared with me" lists received shares
//! (waiting for Import, or imported), Import Details, Import, Review updates (Case and Evidence
//! tabs, checkboxes, select-all, Apply Changes, Dismiss), against real node processes.
//!
//! - `ui_receive_import_and_review_in_a_real_browser`: Chromium through chromedriver. metro-pd
//!   shares a case by copy to county-da, whose auto-import is off; signed in at county-da, the
//!   share is under Shared with me as "Waiting for import"; Import Details names the sender,
//!   the partner organization and the access level; Import makes the copy, whose page leads
//!   back to Import Details. metro-pd then edits the case title and an evidence name; at
//!   county-da, "Updates available" → Review shows the title in the Case tab and the name in
//!   the Evidence tab; select-all + Apply Changes applies the title, one ticked checkbox the
//!   name, and the CLI sees both in the copy; "View" lists the sharer's version. Skipped (with
//!   a message) only when `chromedriver` is not installed. Screenshots `import_details` and
//!   `review_updates` go to `docs/ui/` when `UPDATE_SCREENSHOTS=1`.
//! - `ui_receive_guards_over_http`: without a browser: a `POST` without (or with a wrong) CSRF
//!   token to Import, Apply/Dismiss and Edit recipients is refused (403) and changes nothing; a
//!   user who is not a recipient gets 404 for the Import Details and the review of another's
//!   share and does not see it listed; an update the sharing policy forbids is shown disabled
//!   with its reason, and applying it anyway comes back as a message on the page (no 500),
//!   changing nothing; the sharer's values come back escaped; Dismiss hides an update.
//! - `ui_receive_adds_recipients_onward_when_the_policy_allows`: Import Details → Recipient →
//!   Edit adds a colleague inside the agency when the policy allows `share_onward` (she then
//!   opens the copy); without it no Edit is offered and a forged form gets the refusal as a
//!   message.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::browser::{
    PASSWORD, click, http_session, location, screenshot, send_keys, set_password, sign_in_admin,
    text_of, ui_node, wait_text, with_browser,
};
use casemesh_tests::{
    TestNode, case_view, case_with_item, partner, received_list, received_updates, received_view,
    share_case, wait_until, wait_updates,
};
use fantoccini::Locator;
use std::time::Duration;

/// How long shares and updates get to arrive.
const LIMIT: Duration = Duration::from_secs(90);
/// An evidence description that would inject markup if it were not escaped.
const HOSTILE: &str = "Body camera <img src=x onerror=alert(1)>";

/// metro-pd (A) and county-da (B, auto-import off), partners of each other.
fn pair() -> (TestNode, TestNode) {
    let a = ui_node("metro-pd");
    let b = ui_node("county-da");
    partner(&a, &b);
    b.cli_ok(["settings", "set", "--auto-import", "off"]);
    (a, b)
}

/// Share `case` with county-da (to its admin) and wait until B lists it; returns the share id.
fn share_and_wait(a: &TestNode, b: &TestNode, case: &str) -> String {
    let share = share_case(a, case, "county-da", &[]);
    let share = share.id;
    wait_until("the share to reach county-da", LIMIT, || {
        received_list(b).into_iter().find(|r| r.id == share)
    });
    share.to_string()
}

/// Wait until B's received share is Imported; returns the local copy's record id.
fn wait_imported(b: &TestNode, share: &str) -> String {
    wait_until("the share to be Imported", LIMIT, || {
        let r = received_view(b, share);
        if r.status == "Imported" {
            r.local_case.map(|c| c.to_string())
        } else {
            None
        }
    })
}

#[test]
fn ui_receive_guards_over_http() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    // A policy without apply_case_updates: the Case tab's updates are shown disabled.
    casemesh_tests::allow_evidence_updates_only(&a, "county-da");
    b.cli_ok(["user", "add", "dana", "--full-name", "Dana Clerk"]);
    set_password(&b, "dana", PASSWORD);
    let (case, ev) = case_with_item(&a, work.path(), "RCV-HTTP-1");
    let share = share_and_wait(&a, &b, &case);
    let details = format!("/ui/received/{share}");

    // The recipient (admin) sees it under Shared with me, waiting for Import.
    let (mut admin, csrf) = http_session(&b, "admin", PASSWORD);
    let html = admin.get("/ui/cases?tab=shared").text().unwrap();
    assert!(html.contains(&format!("href=\"{details}\"")), "{html}");
    assert!(html.contains("Waiting for import"), "{html}");
    let page = admin.get(&details);
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("id=\"import\""), "an Import button:\n{html}");
    assert!(html.contains("EvidenceOnly"), "the policy's name:\n{html}");

    // Someone who is not a recipient: 404 for the page and the review, nothing listed.
    let (mut dana, dana_csrf) = http_session(&b, "dana", PASSWORD);
    for path in [details.clone(), format!("{details}/updates?tab=case")] {
        let resp = dana.get(&path);
        assert_eq!(resp.status(), 404, "{path}");
        assert!(!resp.text().unwrap().contains("RCV-HTTP-1"), "{path}");
    }
    let html = dana.get("/ui/cases?tab=shared").text().unwrap();
    assert!(!html.contains("RCV-HTTP-1"), "{html}");
    // Dana's own (valid) token does not let her import another's share.
    let resp = dana.post_form(&format!("{details}/import"), &[("csrf", &dana_csrf)]);
    assert!(
        resp.status() == 303 || resp.status() == 404,
        "{}",
        resp.status()
    );
    assert_eq!(received_view(&b, &share).status, "Pending");

    // Import without the token, or with another session's, is refused; nothing is imported.
    let wrong = "0".repeat(64);
    for form in [
        vec![],
        vec![("csrf", wrong.as_str())],
        vec![("csrf", dana_csrf.as_str())],
    ] {
        let resp = admin.post_form(&format!("{details}/import"), &form);
        assert_eq!(resp.status(), 403, "{form:?}");
    }
    std::thread::sleep(Duration::from_secs(1));
    let still = received_view(&b, &share);
    assert_eq!(still.status, "Pending", "{still:?}");
    assert_eq!(still.local_case, None);

    // With the token: 303 back to Import Details, which says it was imported.
    let resp = admin.post_form(&format!("{details}/import"), &[("csrf", &csrf)]);
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), details);
    let html = admin.get(&details).text().unwrap();
    assert!(html.contains("Imported RCV-HTTP-1"), "{html}");
    let copy = wait_imported(&b, &share);

    // The sharer edits a case field and an evidence field.
    a.cli_ok(["case", "edit", &case, "--description", "Burglary, 3 counts"]);
    a.cli_ok(["evidence", "edit", &case, &ev, "--description", HOSTILE]);
    wait_updates(&b, &share, 2, LIMIT);

    // The Case tab shows the case update disabled, with the policy's reason.
    let review = format!("{details}/updates");
    let html = admin.get(&format!("{review}?tab=case")).text().unwrap();
    assert!(html.contains("Burglary, 3 counts"), "{html}");
    assert!(html.contains("data-testid=\"disabled-reason\""), "{html}");
    assert!(html.contains("apply_case_updates"), "{html}");
    assert!(
        html.contains("value=\"case/description\"") && html.contains(" disabled"),
        "{html}"
    );

    // The Evidence tab shows the sharer's value as text.
    let html = admin.get(&format!("{review}?tab=evidence")).text().unwrap();
    assert!(
        html.contains("Body camera &#60;img src=x onerror=alert(1)&#62;")
            || html.contains("Body camera &lt;img src=x onerror=alert(1)&gt;"),
        "escaped:\n{html}"
    );
    assert!(!html.contains("<img src=x"), "raw markup in:\n{html}");

    // Apply and Dismiss without the token are refused; nothing changes.
    let field = format!("evidence/{ev}/description");
    for action in ["apply", "dismiss"] {
        let resp = admin.post_form(
            &review,
            &[("tab", "evidence"), ("action", action), ("field", &field)],
        );
        assert_eq!(resp.status(), 403, "{action}");
    }
    // Edit recipients without the token: refused.
    let resp = admin.post_form(
        &format!("{details}/recipients"),
        &[("audience", "inside"), ("to", "dana")],
    );
    assert_eq!(resp.status(), 403);
    assert_eq!(received_updates(&b, &share).len(), 2);
    let shown = case_view(&b, &copy);
    assert_ne!(shown.evidence[0].description, HOSTILE, "{shown:?}");

    // Applying the forbidden update anyway: a message on the page, not a 500; nothing applied.
    let resp = admin.post_form(
        &review,
        &[
            ("csrf", &csrf),
            ("tab", "case"),
            ("action", "apply"),
            ("field", "case/description"),
        ],
    );
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{review}?tab=case"));
    let page = admin.get(&location(&resp));
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("apply_case_updates"), "{html}");
    // Shown once.
    let html = admin.get(&format!("{review}?tab=case")).text().unwrap();
    assert!(!html.contains("role=\"alert\""), "{html}");
    // Nothing ticked: a message too.
    let resp = admin.post_form(
        &review,
        &[("csrf", &csrf), ("tab", "evidence"), ("action", "apply")],
    );
    assert_eq!(resp.status(), 303);
    let html = admin.get(&location(&resp)).text().unwrap();
    assert!(html.contains("Select at least one update"), "{html}");
    assert_eq!(received_updates(&b, &share).len(), 2);
    assert_eq!(case_view(&b, &copy).description, "Burglary at 5 Main St");

    // Dismiss hides the evidence update; the case one stays.
    let resp = admin.post_form(
        &review,
        &[
            ("csrf", &csrf),
            ("tab", "evidence"),
            ("action", "dismiss"),
            ("field", &field),
        ],
    );
    assert_eq!(resp.status(), 303);
    let html = admin.get(&location(&resp)).text().unwrap();
    assert!(html.contains("Dismissed 1 update"), "{html}");
    let left = received_updates(&b, &share);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].field, "case/description");
}

#[test]
fn ui_receive_import_and_review_in_a_real_browser() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    let (case, ev) = case_with_item(&a, work.path(), "RCV-UI-1");
    let share = share_and_wait(&a, &b, &case);
    let downloads = work.path().join("downloads");
    let (a, b) = (&a, &b);
    with_browser(
        "ui_receive_import_and_review_in_a_real_browser",
        &downloads,
        |c| async move {
            let base_b = format!("http://{}", b.admin_addr());

            // Signed in at the partner: Shared with me lists the share, waiting for Import.
            sign_in_admin(&c, b).await;
            c.find(Locator::LinkText("Shared with me"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let row = wait_text(&c, "#received-shares tbody tr", LIMIT, |t| {
                t.contains("RCV-UI-1")
            })
            .await;
            assert!(row.contains("Waiting for import"), "{row}");
            assert!(row.contains("metro-pd"), "{row}");
            assert!(row.contains("External case"), "{row}");

            // Import Details: sender, partner organization, access level, the Import button.
            c.find(Locator::Css("#received-shares a.import-details"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            wait_text(&c, "[data-testid=case-number]", LIMIT, |t| t == "RCV-UI-1").await;
            assert_eq!(
                c.current_url().await.unwrap().path(),
                format!("/ui/received/{share}")
            );
            assert_eq!(text_of(&c, "#sender").await, "metro-pd");
            assert_eq!(text_of(&c, "#partner-org").await, "metro-pd");
            assert_eq!(text_of(&c, "#access-level").await, "Copy");
            assert!(text_of(&c, "#recipients").await.contains("admin"));
            assert_eq!(text_of(&c, "#received-status").await, "Waiting for import");
            assert!(!text_of(&c, "#received-on").await.is_empty());
            assert!(!text_of(&c, "#sharing-policy").await.is_empty());
            screenshot(&c, "import_details").await;
            let import = c.find(Locator::Id("import")).await.unwrap();
            assert_eq!(import.text().await.unwrap(), "Import");
            import.click().await.unwrap();
            let notice = wait_text(&c, "p.notice", LIMIT, |t| !t.is_empty()).await;
            assert!(notice.starts_with("Imported RCV-UI-1"), "{notice}");
            // The page shows Imported once the evidence is in.
            let start = std::time::Instant::now();
            loop {
                if text_of(&c, "#received-status").await == "Imported" {
                    break;
                }
                assert!(start.elapsed() < LIMIT, "never Imported");
                tokio::time::sleep(Duration::from_millis(500)).await;
                c.refresh().await.unwrap();
            }
            let copy = wait_imported(b, &share);
            let href = c
                .find(Locator::Id("open-copy"))
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(href, format!("/ui/cases/{copy}"));
            assert_eq!(text_of(&c, "#updates-count").await, "0");
            // The seed's way back: the imported case's page → Import Details.
            click(&c, "#open-copy").await;
            wait_text(&c, "#external-marker", LIMIT, |t| t == "External case").await;
            click(&c, "#import-details-link").await;
            wait_text(&c, "[data-testid=case-number]", LIMIT, |t| t == "RCV-UI-1").await;
            assert_eq!(text_of(&c, "#sender").await, "metro-pd");

            // The sharer changes the title and the evidence name.
            a.cli_ok([
                "case",
                "edit",
                &case,
                "--title",
                "State v. Example (amended)",
            ]);
            a.cli_ok(["evidence", "edit", &case, &ev, "--name", "front-door.mp4"]);
            wait_updates(b, &share, 2, LIMIT);

            // Updates available → Review: the title in the Case tab.
            c.refresh().await.unwrap();
            assert_eq!(text_of(&c, "#updates-count").await, "2");
            click(&c, "#review-updates").await;
            wait_text(&c, "h1", LIMIT, |t| t.starts_with("Review updates")).await;
            let case_tab = text_of(&c, "#updates tbody").await;
            assert!(
                case_tab.contains("State v. Example (amended)"),
                "{case_tab}"
            );
            assert!(case_tab.contains("Title"), "{case_tab}");
            assert!(!case_tab.contains("front-door.mp4"), "{case_tab}");

            // The Evidence tab has the name.
            click(&c, "#tab-evidence").await;
            let ev_tab = wait_text(&c, "#updates tbody", LIMIT, |t| {
                t.contains("front-door.mp4")
            })
            .await;
            assert!(ev_tab.contains("clip.mp4"), "{ev_tab}");
            assert!(!ev_tab.contains("amended"), "{ev_tab}");
            screenshot(&c, "review_updates").await;

            // Back to Case: select-all ticks the row, Apply Changes applies it.
            click(&c, "#tab-case").await;
            wait_text(&c, "#updates tbody", LIMIT, |t| t.contains("amended")).await;
            let all = c.find(Locator::Id("select-all")).await.unwrap();
            all.click().await.unwrap();
            let pick = c.find(Locator::Css("#updates input.pick")).await.unwrap();
            assert_eq!(
                pick.prop("checked").await.unwrap().as_deref(),
                Some("true"),
                "select-all ticks the update"
            );
            click(&c, "#apply-changes").await;
            let notice = wait_text(&c, "p.notice", LIMIT, |t| !t.is_empty()).await;
            assert_eq!(notice, "Applied 1 update(s).");
            assert!(c.find(Locator::Id("no-updates")).await.is_ok());
            let shown = case_view(b, &copy);
            assert_eq!(shown.title, "State v. Example (amended)", "{shown:?}");
            assert_eq!(shown.evidence[0].name, "clip.mp4", "{shown:?}");

            // Evidence: tick the one checkbox (keyboard: Space on the focused box), Apply Changes.
            click(&c, "#tab-evidence").await;
            wait_text(&c, "#updates tbody", LIMIT, |t| {
                t.contains("front-door.mp4")
            })
            .await;
            send_keys(&c, "#updates input.pick", " ").await;
            click(&c, "#apply-changes").await;
            let notice = wait_text(&c, "p.notice", LIMIT, |t| !t.is_empty()).await;
            assert_eq!(notice, "Applied 1 update(s).");
            let shown = case_view(b, &copy);
            assert_eq!(shown.evidence[0].name, "front-door.mp4", "{shown:?}");
            assert!(received_updates(b, &share).is_empty());

            // View: the sharer's version, fetched from metro-pd.
            c.goto(&format!("{base_b}/ui/received/{share}"))
                .await
                .unwrap();
            assert_eq!(text_of(&c, "#updates-count").await, "0");
            click(&c, "#view-external").await;
            let items = wait_text(&c, "#external-items tbody", LIMIT, |t| !t.is_empty()).await;
            assert!(items.contains("front-door.mp4"), "{items}");
        },
    );
}

/// Import Details → Recipient → Edit: with a policy that allows sharing onward inside the
/// agency, the recipient adds a colleague (`node.access().share` on the copy), who is then
/// listed under Recipient and can open the copy; without it, "Edit" is not offered.
#[test]
fn ui_receive_adds_recipients_onward_when_the_policy_allows() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = pair();
    b.cli_ok(["user", "add", "dana", "--full-name", "Dana Clerk"]);
    set_password(&b, "dana", PASSWORD);
    let (case, _) = case_with_item(&a, work.path(), "RCV-ONW-0");
    let plain = share_and_wait(&a, &b, &case);
    casemesh_tests::give_partner_policy(
        &a,
        "county-da",
        "Onward",
        &[
            "view",
            "download",
            "import",
            "receive_updates",
            "share_onward",
        ],
    );
    let (case, _) = case_with_item(&a, work.path(), "RCV-ONW-1");
    let share = share_and_wait(&a, &b, &case);
    let details = format!("/ui/received/{share}");
    let (mut admin, csrf) = http_session(&b, "admin", PASSWORD);

    // The default policy does not allow onward sharing: no Edit, even once imported.
    b.cli_json(["received", "import", &plain]);
    wait_imported(&b, &plain);
    let html = admin.get(&format!("/ui/received/{plain}")).text().unwrap();
    assert!(!html.contains("id=\"edit-recipients\""), "{html}");
    // Posting the form anyway is refused by the service, shown as a message.
    let resp = admin.post_form(
        &format!("/ui/received/{plain}/recipients"),
        &[("csrf", &csrf), ("audience", "inside"), ("to", "dana")],
    );
    assert_eq!(resp.status(), 303);
    let html = admin.get(&location(&resp)).text().unwrap();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("share_onward"), "{html}");

    // Not imported yet: Edit waits for the copy.
    let html = admin.get(&details).text().unwrap();
    assert!(!html.contains("id=\"edit-recipients\""), "{html}");
    assert!(html.contains("Import the case first"), "{html}");
    let resp = admin.post_form(&format!("{details}/import"), &[("csrf", &csrf)]);
    assert_eq!(resp.status(), 303);
    let copy = wait_imported(&b, &share);
    let (mut dana, _) = http_session(&b, "dana", PASSWORD);
    assert_eq!(dana.get(&format!("/ui/cases/{copy}")).status(), 404);

    // Edit → add Dana inside the agency.
    let html = admin.get(&details).text().unwrap();
    assert!(html.contains("id=\"edit-recipients\""), "{html}");
    let resp = admin.post_form(
        &format!("{details}/recipients"),
        &[
            ("csrf", &csrf),
            ("audience", "inside"),
            ("to", "dana"),
            ("message", "For the hearing"),
        ],
    );
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), details);
    let html = admin.get(&details).text().unwrap();
    assert!(html.contains("Added user:dana"), "{html}");
    assert!(html.contains("Dana Clerk (inside this agency)"), "{html}");
    assert_eq!(dana.get(&format!("/ui/cases/{copy}")).status(), 200);
    let html = dana.get("/ui/cases?tab=shared").text().unwrap();
    assert!(html.contains("RCV-ONW-1"), "{html}");
}
