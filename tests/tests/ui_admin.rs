//! The web UI's Administration screens (issue #17, "Administration (administrators only)"),
//! against real nodes.
//!
//! - `ui_admin_forms_over_http` (no browser, always runs): every Administration form refuses a
//!   `POST` without the CSRF token (403) and changes nothing; a bad partner org id is answered
//!   400 with a clear message, the typed values kept (escaped) and no partner added; a partner's
//!   policy changes through its form; bad settings (a number of days that is not one, an unknown
//!   feature flag) and bad new users (two different passwords, a short one) are answered 400 and
//!   change nothing; a user without `administer` sees no Administration link and gets 403 on
//!   every Administration screen and form, with nothing changed.
//! - `ui_admin_in_a_real_browser`: Chromium through chromedriver (WebDriver, `fantoccini`): the
//!   administrator follows the Administration link, adds a partner (a second node) on the
//!   Partners page and sees it connect on the Peers page; turns auto-import off on Settings by
//!   keyboard (checked with `casemesh settings show`); creates a group, a user with a password
//!   and adds the user to the group; that user signs in, sees no Administration link and gets
//!   403 at `/ui/admin`. Skipped (with a message) only when `chromedriver` is not installed.
//!
//! Screenshots `admin_partners` and `admin_settings` go to `docs/ui/` when
//! `UPDATE_SCREENSHOTS=1`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::browser::{
    Http, PASSWORD, click, http_session, location, screenshot, send_keys, set_password,
    sign_in_admin, sign_in_as, sign_out, text_of, type_into, ui_node, wait_text, with_browser,
};
use casemesh_tests::{
    RetentionView, TestNode, add_partner, add_user, node_identity, partner_list, settings_view,
    user_list,
};
use fantoccini::{Client, Locator};
use std::time::Duration;

/// How long a connection or a page may take.
const LIMIT: Duration = Duration::from_secs(60);

/// `POST path` with `form`, expecting `status` with `message` in the page; returns the page.
fn answered(
    web: &mut Http,
    path: &str,
    form: &[(&str, &str)],
    status: u16,
    message: &str,
) -> String {
    let resp = web.post_form(path, form);
    let got = resp.status();
    let body = resp.text().unwrap();
    assert_eq!(got, status, "{path} {form:?}:\n{body}");
    assert!(body.contains(message), "{message:?} not in:\n{body}");
    body
}

/// The usernames on `node` (`casemesh user list`).
fn usernames(node: &TestNode) -> Vec<String> {
    user_list(node).into_iter().map(|u| u.username).collect()
}

#[test]
fn ui_admin_forms_over_http() {
    let a = ui_node("metro-pd");
    let b = TestNode::start("county-da");
    let (b_peer, b_addr) = node_identity(&b);
    let (mut web, csrf) = http_session(&a, "admin", PASSWORD);

    // The administrator: the Administration link, and /ui/admin leads to Partners.
    let cases = web.get("/ui/cases").text().unwrap();
    assert!(cases.contains("id=\"nav-admin\""), "{cases}");
    let resp = web.get("/ui/admin");
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/ui/admin/partners");
    for page in [
        "/ui/admin/partners",
        "/ui/admin/policies",
        "/ui/admin/policies?name=View%20only",
        "/ui/admin/users",
        "/ui/admin/settings",
        "/ui/admin/peers",
    ] {
        let resp = web.get(page);
        assert_eq!(resp.status(), 200, "{page}");
        let body = resp.text().unwrap();
        assert!(
            body.contains("aria-label=\"Administration\""),
            "{page}:\n{body}"
        );
    }
    let missing = web.get("/ui/admin/policies?name=no-such-policy");
    assert_eq!(missing.status(), 404);

    // No CSRF token: 403 before any handler, nothing changed.
    let settings_before = settings_view(&a);
    let users_before = usernames(&a);
    for (path, form) in [
        (
            "/ui/admin/partners",
            vec![
                ("name", "county-da"),
                ("peer_id", b_peer.as_str()),
                ("addr", b_addr.as_str()),
            ],
        ),
        ("/ui/admin/settings", vec![("retention", "none")]),
        (
            "/ui/admin/users",
            vec![
                ("username", "mallory"),
                ("password", "long enough pw"),
                ("password2", "long enough pw"),
            ],
        ),
        ("/ui/admin/groups", vec![("name", "mallorys")]),
        (
            "/ui/admin/users/groups",
            vec![("username", "admin"), ("group", "x")],
        ),
    ] {
        let resp = web.post_form(path, &form);
        assert_eq!(resp.status(), 403, "{path} without CSRF");
        let mut wrong = form.clone();
        wrong.push(("csrf", "00"));
        assert_eq!(
            web.post_form(path, &wrong).status(),
            403,
            "{path} with a wrong CSRF token"
        );
    }
    assert!(partner_list(&a).is_empty(), "{:?}", partner_list(&a));
    assert_eq!(settings_view(&a), settings_before);
    assert_eq!(usernames(&a), users_before);

    // A bad org id: 400, a clear message, the typed values kept (escaped), nothing added.
    let body = answered(
        &mut web,
        "/ui/admin/partners",
        &[
            ("csrf", &csrf),
            ("name", "county-da"),
            ("peer_id", "<script>alert(1)</script>"),
            ("addr", &b_addr),
        ],
        400,
        "Nothing was added.",
    );
    assert!(body.contains("id=\"form-error\""), "{body}");
    assert!(
        !body.contains("<script>alert(1)"),
        "unescaped input in:\n{body}"
    );
    assert!(
        body.contains("&#60;script&#62;alert(1)") || body.contains("&lt;script&gt;alert(1)"),
        "{body}"
    );
    assert!(body.contains("value=\"county-da\""), "{body}");
    // No name, an unknown policy, this node's own id, a bad address: refused alike.
    answered(
        &mut web,
        "/ui/admin/partners",
        &[("csrf", &csrf), ("name", ""), ("peer_id", &b_peer)],
        400,
        "Give the name of the partner agency and its org id",
    );
    answered(
        &mut web,
        "/ui/admin/partners",
        &[
            ("csrf", &csrf),
            ("name", "county-da"),
            ("peer_id", &b_peer),
            ("policy", "no-such-policy"),
        ],
        404,
        "Nothing was added.",
    );
    answered(
        &mut web,
        "/ui/admin/partners",
        &[
            ("csrf", &csrf),
            ("name", "ourselves"),
            ("peer_id", a.org_id()),
        ],
        400,
        "own partner",
    );
    answered(
        &mut web,
        "/ui/admin/partners",
        &[
            ("csrf", &csrf),
            ("name", "county-da"),
            ("peer_id", &b_peer),
            ("addr", "not-an-address"),
        ],
        400,
        "not a multiaddr",
    );
    assert!(partner_list(&a).is_empty(), "{:?}", partner_list(&a));

    // A good one, then its policy changed through the row's form.
    let resp = web.post_form(
        "/ui/admin/partners",
        &[
            ("csrf", &csrf),
            ("name", "county-da"),
            ("peer_id", &b_peer),
            ("addr", &b_addr),
        ],
    );
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/ui/admin/partners?done=partner-added");
    let page = web
        .get("/ui/admin/partners?done=partner-added")
        .text()
        .unwrap();
    assert!(page.contains("Partner added."), "{page}");
    let list = partner_list(&a);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].name, "county-da");
    assert_eq!(list[0].policy, "partner-copy");
    // The same partner again: refused by the engine, still one.
    answered(
        &mut web,
        "/ui/admin/partners",
        &[("csrf", &csrf), ("name", "county-da"), ("peer_id", &b_peer)],
        409,
        "already registered",
    );
    let resp = web.post_form(
        &format!("/ui/admin/partners/{b_peer}/policy"),
        &[("csrf", &csrf), ("policy", "View only")],
    );
    assert_eq!(resp.status(), 303);
    assert_eq!(partner_list(&a)[0].policy, "View only");
    answered(
        &mut web,
        &format!("/ui/admin/partners/{b_peer}/policy"),
        &[("csrf", &csrf), ("policy", "no-such-policy")],
        404,
        "Nothing was changed.",
    );
    assert_eq!(partner_list(&a)[0].policy, "View only");
    assert_eq!(partner_list(&a).len(), 1);

    // Settings: bad days, an unknown flag, a bad intake address — 400, nothing changed.
    let before = settings_view(&a);
    answered(
        &mut web,
        "/ui/admin/settings",
        &[
            ("csrf", &csrf),
            ("retention", "days"),
            ("retention_days", "ten"),
        ],
        400,
        "whole number from 1",
    );
    answered(
        &mut web,
        "/ui/admin/settings",
        &[
            ("csrf", &csrf),
            ("retention", "none"),
            ("feature", "no_such_flag"),
        ],
        400,
        "unknown feature",
    );
    answered(
        &mut web,
        "/ui/admin/settings",
        &[
            ("csrf", &csrf),
            ("retention", "none"),
            ("auto_import", "on"),
            ("intake_address", "not an address"),
        ],
        400,
        "Nothing was changed.",
    );
    assert_eq!(settings_view(&a), before);
    // A good one: 30 days, directory shared, case_share_links off.
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("auto_import", "on"),
        ("share_directory", "on"),
        ("retention", "days"),
        ("retention_days", "30"),
    ];
    for f in [
        "evidence_share",
        "evidence_share_external",
        "evidence_share_links",
        "case_share",
        "case_share_by_copy",
        "configurable_retention",
        "advanced_sharing",
    ] {
        form.push(("feature", f));
    }
    let resp = web.post_form("/ui/admin/settings", &form);
    assert_eq!(resp.status(), 303);
    let after = settings_view(&a);
    assert!(!after.features.case_share_links, "{after:?}");
    assert!(after.features.case_share, "{after:?}");
    assert!(after.share_directory, "{after:?}");
    assert!(after.auto_import, "{after:?}");
    assert_eq!(
        after.default_retention,
        Some(RetentionView::Days { days: 30 }),
        "{after:?}"
    );

    // Users: two different passwords, a short one — nothing created.
    answered(
        &mut web,
        "/ui/admin/users",
        &[
            ("csrf", &csrf),
            ("username", "rita"),
            ("password", "long enough pw"),
            ("password2", "other pw here"),
        ],
        400,
        "The two passwords differ",
    );
    answered(
        &mut web,
        "/ui/admin/users",
        &[
            ("csrf", &csrf),
            ("username", "rita"),
            ("password", "short"),
            ("password2", "short"),
        ],
        400,
        "8 to 1024 characters",
    );
    answered(
        &mut web,
        "/ui/admin/users",
        &[
            ("csrf", &csrf),
            ("username", "rita"),
            ("password", "long enough pw"),
            ("password2", "long enough pw"),
            ("permission", "fly"),
        ],
        400,
        "unknown permission",
    );
    assert_eq!(usernames(&a), users_before);

    // Somebody without `administer`: no link, 403 on every screen and form, nothing changed.
    add_user(&a, "clerk", "Rita Clerk", &["case_edit"]);
    set_password(&a, "clerk", "clerk password");
    let (mut clerk, clerk_csrf) = http_session(&a, "clerk", "clerk password");
    let cases = clerk.get("/ui/cases").text().unwrap();
    assert!(
        !cases.contains("nav-admin") && !cases.contains("Administration"),
        "{cases}"
    );
    for page in [
        "/ui/admin",
        "/ui/admin/partners",
        "/ui/admin/policies",
        "/ui/admin/users",
        "/ui/admin/settings",
        "/ui/admin/peers",
    ] {
        let resp = clerk.get(page);
        assert_eq!(resp.status(), 403, "{page} as a non-administrator");
        let body = resp.text().unwrap();
        assert!(body.contains("data-testid=\"error-message\""), "{body}");
    }
    let before = settings_view(&a);
    let users = usernames(&a);
    for (path, form) in [
        (
            "/ui/admin/settings",
            vec![("csrf", clerk_csrf.as_str()), ("retention", "none")],
        ),
        (
            "/ui/admin/partners",
            vec![
                ("csrf", clerk_csrf.as_str()),
                ("name", "other"),
                ("peer_id", a.org_id()),
            ],
        ),
        (
            "/ui/admin/users",
            vec![
                ("csrf", clerk_csrf.as_str()),
                ("username", "mallory"),
                ("password", "long enough pw"),
                ("password2", "long enough pw"),
            ],
        ),
        (
            "/ui/admin/groups",
            vec![("csrf", clerk_csrf.as_str()), ("name", "mallorys")],
        ),
        (
            format!("/ui/admin/partners/{b_peer}/policy").as_str(),
            vec![("csrf", clerk_csrf.as_str()), ("policy", "partner-copy")],
        ),
    ] {
        let resp = clerk.post_form(path, &form);
        assert_eq!(resp.status(), 403, "{path} as a non-administrator");
    }
    assert_eq!(settings_view(&a), before);
    assert_eq!(usernames(&a), users);
    assert_eq!(partner_list(&a).len(), 1);
    assert_eq!(partner_list(&a)[0].policy, "View only");
}

/// Reload `url` until the element `css` has text satisfying `ok` (pages that do not refresh
/// themselves); panics after [`LIMIT`].
async fn reload_until(c: &Client, url: &str, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        c.goto(url).await.unwrap();
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && ok(&t)
        {
            return t;
        }
        assert!(
            start.elapsed() < LIMIT,
            "timed out reloading {url} for {css}; the page:\n{}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn ui_admin_in_a_real_browser() {
    let a = ui_node("metro-pd");
    let b = TestNode::start("county-da");
    // The partner has registered us already; we register it through the UI.
    add_partner(&b, &a);
    let (b_peer, b_addr) = node_identity(&b);
    let work = tempfile::tempdir().unwrap();
    let a = &a;
    with_browser("ui_admin_in_a_real_browser", work.path(), |c| async move {
        let base = format!("http://{}", a.admin_addr());
        sign_in_admin(&c, a).await;

        // Administration → Partners: add the second node by name, org id and address.
        assert_eq!(text_of(&c, "#nav-admin").await, "Administration");
        click(&c, "#nav-admin").await;
        wait_text(&c, "h1", LIMIT, |t| t == "Partner agencies").await;
        assert!(c.find(Locator::Id("no-partners")).await.is_ok());
        type_into(&c, "#partner-name", "county-da").await;
        type_into(&c, "#partner-peer-id", &b_peer).await;
        type_into(&c, "#partner-addr", &b_addr).await;
        click(&c, "#add-partner-submit").await;
        wait_text(&c, ".notice", LIMIT, |t| t.starts_with("Partner added")).await;
        assert!(
            text_of(&c, "#partners tbody").await.contains("county-da"),
            "the new partner is listed"
        );

        // Peers: it connects.
        click(&c, "#admin-tab-peers").await;
        wait_text(&c, "h1", LIMIT, |t| t == "Peers").await;
        let state = reload_until(
            &c,
            &format!("{base}/ui/admin/peers"),
            "[data-peer=county-da] [data-testid=peer-state]",
            |t| t == "connected",
        )
        .await;
        assert_eq!(state, "connected");
        let row = text_of(&c, "[data-peer=county-da]").await;
        assert!(row.contains(&b_peer), "{row}");
        assert!(row.contains(" ms") || row.contains('–'), "{row}");
        // The Partners page shows the connection too.
        let state = reload_until(
            &c,
            &format!("{base}/ui/admin/partners"),
            "[data-partner=county-da] [data-testid=partner-state]",
            |t| t == "connected",
        )
        .await;
        assert_eq!(state, "connected");
        screenshot(&c, "admin_partners").await;

        // Settings: auto-import off, saved, and the CLI sees it.
        assert!(settings_view(a).auto_import);
        click(&c, "#admin-tab-settings").await;
        wait_text(&c, "h1", LIMIT, |t| t == "Settings").await;
        let auto = c.find(Locator::Id("auto-import")).await.unwrap();
        assert_eq!(auto.prop("checked").await.unwrap().as_deref(), Some("true"));
        // By keyboard: Space toggles the checkbox, Enter on the button submits.
        auto.send_keys(" ").await.unwrap();
        send_keys(&c, "#save-settings", "\u{E007}").await;
        wait_text(&c, ".notice", LIMIT, |t| t == "Settings saved.").await;
        let auto = c.find(Locator::Id("auto-import")).await.unwrap();
        assert_eq!(
            auto.prop("checked").await.unwrap().as_deref(),
            Some("false")
        );
        screenshot(&c, "admin_settings").await;
        let settings = settings_view(a);
        assert!(!settings.auto_import, "{settings:?}");
        // The rest is as it was (every flag still on, as a new node has them).
        assert_eq!(
            settings.features,
            casemesh_model::org::FeatureFlags::default(),
            "{settings:?}"
        );

        // Users and groups: a group, a user with a password, the user in the group.
        click(&c, "#admin-tab-users").await;
        wait_text(&c, "h1", LIMIT, |t| t == "Users and groups").await;
        type_into(&c, "#group-name", "records").await;
        click(&c, "#create-group").await;
        wait_text(&c, ".notice", LIMIT, |t| t == "Group created.").await;
        type_into(&c, "#new-username", "rita").await;
        type_into(&c, "#new-full-name", "Rita Records").await;
        type_into(&c, "#new-password", "rita's password").await;
        type_into(&c, "#new-password2", "rita's password").await;
        click(&c, "#perm-case_edit").await;
        click(&c, "#create-user").await;
        wait_text(&c, ".notice", LIMIT, |t| t.starts_with("User created")).await;
        let row = text_of(&c, "[data-user=rita]").await;
        assert!(
            row.contains("Rita Records") && row.contains("password set"),
            "{row}"
        );
        c.find(Locator::Css("#member-user option[value=rita]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        click(&c, "#add-to-group-submit").await;
        wait_text(&c, ".notice", LIMIT, |t| t == "User added to the group.").await;
        assert_eq!(
            text_of(&c, "[data-user=rita] [data-testid=user-groups]").await,
            "records"
        );
        let users = usernames(a);
        assert!(users.iter().any(|u| u == "rita"), "{users:?}");
        sign_out(&c).await;

        // The new user signs in: no Administration, and 403 at /ui/admin.
        sign_in_as(&c, a, "rita", "rita's password").await;
        assert_eq!(text_of(&c, "[data-testid=user-name]").await, "Rita Records");
        assert!(
            c.find(Locator::Id("nav-admin")).await.is_err(),
            "a non-administrator sees the Administration link"
        );
        let nav = text_of(&c, "nav[aria-label=Main]").await;
        assert!(!nav.contains("Administration"), "{nav}");
        c.goto(&format!("{base}/ui/admin")).await.unwrap();
        let h1 = wait_text(&c, "h1", LIMIT, |t| !t.is_empty()).await;
        assert_eq!(h1, "403 Forbidden");
        let message = text_of(&c, "[data-testid=error-message]").await;
        assert!(!message.is_empty(), "the 403 page says why");
    });
}
