//! The web UI (issue #17) against real nodes.
//!
//! - `ui_guards_over_http`: sign-in, sessions and CSRF without a browser (always runs): a page
//!   without a session redirects to sign-in; a wrong password is refused (401); the cookie is
//!   HttpOnly, SameSite=Strict and Secure behind TLS; a `POST` without (or with a wrong) CSRF
//!   token is refused (403) and nothing changes; an evidence name with `<script>` comes back
//!   escaped; sign-out ends the session.
//! - `ui_attacks_over_http`: a foreign `Host` is refused (421, DNS rebinding) for the UI and the
//!   API while loopback names pass; sign-ins for one name are limited (429, logged); the case
//!   page reflects no URL text; a changed password ends sessions; `X-Forwarded-Proto` lists count
//!   by their first value; a password's limit counts characters.
//! - `ui_in_a_real_browser`: Chromium through chromedriver (WebDriver, `fantoccini`): sign in,
//!   create a case, upload two files with the progress bar and see them listed (one named with
//!   `<script>`, shown as text), download one, share the case to a partner by copy, see the
//!   share Processing then Complete and the partner in the profile icons, then sign in at the
//!   partner and find the case under Shared with me → External share, marked External with the
//!   sharer's name. Skipped (with a message) only when `chromedriver` is not installed;
//!   `scripts/test` installs Debian's `chromium` and `chromium-driver`.
//!
//! Screenshots of each screen go to `docs/ui/NAME.png` when `UPDATE_SCREENSHOTS=1`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use casemesh_tests::browser::{
    Http, PASSWORD, click, csrf_of, failure_screenshot, location, screenshot, send_keys,
    set_password, sign_in, sign_in_admin, sign_out, text_of, ui_node, urlencode, wait_text,
    with_browser,
};
use casemesh_tests::{partner, wait_until};
use fantoccini::Locator;
use std::time::Duration;

/// How long shares get to arrive.
const LIMIT: Duration = Duration::from_secs(60);
/// An evidence name that would run or inject markup if it were not escaped.
const HOSTILE_NAME: &str = "<script>window.pwned=1<script><img src=x onerror=alert(1)>.txt";

#[test]
fn ui_guards_over_http() {
    let node = ui_node("metro-pd");
    let mut web = Http::new(&node);

    // No session: every page redirects to the sign-in page.
    for path in ["/ui/cases", "/ui/cases?tab=shared", "/ui/cases/2026-CR-1"] {
        let resp = web.get(path);
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(location(&resp), "/ui/sign-in", "{path}");
    }
    for path in ["/ui", "/ui/"] {
        assert_eq!(location(&web.get(path)), "/ui/cases", "{path}");
    }

    // The sign-in page makes an anonymous session with a CSRF token; its cookie's attributes.
    let resp = web.get("/ui/sign-in");
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(set_cookie.contains(attr), "{attr} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    assert!(
        set_cookie.contains("Max-Age=1800"),
        "an anonymous session lasts 30 minutes: {set_cookie}"
    );
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let csrf = csrf_of(&resp.text().unwrap());

    // Behind a TLS proxy the cookie is Secure.
    let behind_tls = web
        .http
        .get(format!("{}/ui/sign-in", web.base))
        .header("x-forwarded-proto", "https")
        .send()
        .unwrap();
    let tls_cookie = behind_tls.headers()["set-cookie"].to_str().unwrap();
    assert!(tls_cookie.contains("; Secure"), "{tls_cookie}");

    // A sign-in without the token is refused before the password is looked at.
    let resp = web.post_form(
        "/ui/sign-in",
        &[("username", "admin"), ("password", PASSWORD)],
    );
    assert_eq!(resp.status(), 403);
    // A wrong password, and an unknown user, get the same refusal.
    for (user, password) in [("admin", "wrong password!"), ("nobody", PASSWORD)] {
        let resp = web.post_form(
            "/ui/sign-in",
            &[("csrf", &csrf), ("username", user), ("password", password)],
        );
        assert_eq!(resp.status(), 401, "{user}");
        assert!(
            resp.text()
                .unwrap()
                .contains("Wrong user name or password.")
        );
        assert_eq!(web.get("/ui/cases").status(), 303, "still signed out");
    }

    // The right password: a new session id, then the pages.
    let anonymous = web.cookie.clone();
    let resp = web.post_form(
        "/ui/sign-in",
        &[
            ("csrf", &csrf),
            ("username", "admin"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/ui/cases");
    let signed_in_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        signed_in_cookie.contains("Max-Age=28800"),
        "a signed-in session lasts 8 hours idle: {signed_in_cookie}"
    );
    assert_ne!(web.cookie, anonymous, "sign-in starts a new session id");
    let page = web.get("/ui/cases");
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("metro-pd") && html.contains("Administrator"));
    let csrf = csrf_of(&html);

    // POSTs without the token, or with another one, change nothing.
    let new_case = [("case_number", "UI-CSRF-1"), ("title", "Forged")];
    let resp = web.post_form("/ui/cases", &new_case);
    assert_eq!(resp.status(), 403);
    let wrong = "0".repeat(64);
    let mut with_wrong = new_case.to_vec();
    with_wrong.push(("csrf", &wrong));
    assert_eq!(web.post_form("/ui/cases", &with_wrong).status(), 403);
    assert!(
        !node.cli_ok(["case", "list"]).contains("UI-CSRF-1"),
        "a refused POST created nothing"
    );
    // With the token it goes through.
    let mut with_token = new_case.to_vec();
    with_token.push(("csrf", &csrf));
    let resp = web.post_form("/ui/cases", &with_token);
    assert_eq!(resp.status(), 303);
    let case_page = location(&resp);
    assert!(case_page.starts_with("/ui/cases/"), "{case_page}");

    // An upload without the header token is refused; with it, the item is stored.
    let upload = format!("{case_page}/evidence?name={}", urlencode(HOSTILE_NAME));
    let cookie = web.cookie.clone().unwrap();
    let resp = web.post_bytes(&upload, None, "forged");
    assert_eq!(resp.status(), 403);
    let resp = web.post_bytes(&upload, Some(&csrf), "evidence bytes");
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.text().unwrap(), "EV-0001");
    // The hostile name is shown as text.
    let html = web.get(&case_page).text().unwrap();
    assert!(
        html.contains(
            "&#60;script&#62;window.pwned=1&#60;script&#62;&#60;img src=x onerror=alert(1)&#62;.txt"
        ) || html.contains(
            "&lt;script&gt;window.pwned=1&lt;script&gt;&lt;img src=x onerror=alert(1)&gt;.txt"
        ),
        "the name is escaped:\n{html}"
    );
    assert!(
        !html.contains("<script>window.pwned"),
        "raw markup in:\n{html}"
    );
    assert!(!html.contains("<img src=x"), "raw markup in:\n{html}");

    // Sign-out ends the session: the old cookie opens nothing.
    let resp = web.post_form("/ui/sign-out", &[("csrf", &csrf)]);
    assert_eq!(resp.status(), 303);
    let resp = web
        .http
        .get(format!("{}/ui/cases", web.base))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/ui/sign-in");
}

/// What the newcomer's attack found, over plain HTTP: a foreign `Host` (DNS rebinding) is
/// refused on the loopback listener, API and UI alike; sign-ins for one name are limited (429
/// before any hash is verified, and logged); a changed password ends the user's sessions; the
/// case page does not reflect text from the URL; `X-Forwarded-Proto: https, http` counts as TLS;
/// a password's limit counts characters.
#[test]
fn ui_attacks_over_http() {
    let node = ui_node("harbor-pd");
    let port = node.admin_addr().rsplit_once(':').unwrap().1.to_owned();
    let raw = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // DNS rebinding: a foreign Host is refused, for the UI and the API; loopback names pass.
    for path in ["/ui/sign-in", "/v1/node"] {
        for host in ["evil.example", &format!("evil.example:{port}")] {
            let resp = raw
                .get(node.url(path))
                .bearer_auth(node.token())
                .header("host", host)
                .send()
                .unwrap();
            assert_eq!(resp.status(), 421, "{path} with Host {host}");
        }
        for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
            let resp = raw
                .get(node.url(path))
                .bearer_auth(node.token())
                .header("host", &host)
                .send()
                .unwrap();
            assert_eq!(resp.status(), 200, "{path} with Host {host}");
        }
    }

    // Behind a proxy chain that lists protocols, the first (the client's) counts.
    let resp = raw
        .get(node.url("/ui/sign-in"))
        .header("x-forwarded-proto", "https, http")
        .send()
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Sign-in attempts for one user name are limited: 429 with Retry-After, logged.
    let mut web = Http::new(&node);
    let csrf = csrf_of(&web.get("/ui/sign-in").text().unwrap());
    let attempt = |web: &mut Http| {
        web.post_form(
            "/ui/sign-in",
            &[
                ("csrf", &csrf),
                ("username", "mallory\n<x>"),
                ("password", "not the password"),
            ],
        )
    };
    for _ in 0..10 {
        assert_eq!(attempt(&mut web).status(), 401);
    }
    let resp = attempt(&mut web);
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(resp.text().unwrap().contains("Too many sign-in attempts"));
    wait_until("the refusal is logged", Duration::from_secs(10), || {
        let log = node.log();
        (log.contains("too many attempts") && log.contains("mallory") && log.contains("127.0.0.1"))
            .then_some(())
    });
    // Another name is not affected.
    let resp = web.post_form(
        "/ui/sign-in",
        &[
            ("csrf", &csrf),
            ("username", "admin"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(resp.status(), 303);
    let html = web.get("/ui/cases").text().unwrap();
    let csrf = csrf_of(&html);

    // The case page shows no text taken from the URL.
    let resp = web.post_form(
        "/ui/cases",
        &[
            ("case_number", "UI-SPOOF-1"),
            ("title", "Spoof"),
            ("csrf", &csrf),
        ],
    );
    let case_page = location(&resp);
    let html = web
        .get(&format!(
            "{case_page}?shared={}",
            urlencode("nobody. SECURITY ALERT: call 555-0100")
        ))
        .text()
        .unwrap();
    assert!(!html.contains("SECURITY ALERT"), "reflected:\n{html}");

    // A changed password ends the sessions signed in with the old one.
    assert_eq!(web.get("/ui/cases").status(), 200);
    // 1000 characters of two bytes each: within the limit (it counts characters).
    let long = "é".repeat(1000);
    set_password(&node, "admin", &long);
    let resp = web.get("/ui/cases");
    assert_eq!(resp.status(), 303, "the old session ended");
    assert_eq!(location(&resp), "/ui/sign-in");
}

#[test]
fn ui_in_a_real_browser() {
    let a = ui_node("metro-pd");
    let b = ui_node("county-da");
    partner(&a, &b);
    let work = tempfile::tempdir().unwrap();
    let report = work.path().join("report.pdf");
    std::fs::write(&report, b"%PDF-1.4 a small report\n".repeat(2000)).unwrap();
    let hostile = work.path().join(HOSTILE_NAME);
    std::fs::write(&hostile, b"hostile name, harmless bytes").unwrap();
    let downloads = work.path().join("downloads");
    let (a, b) = (&a, &b);
    with_browser("ui_in_a_real_browser", &downloads, |c| async move {
        let base_a = format!("http://{}", a.admin_addr());

        // No session: the cases page sends the browser to sign in.
        c.goto(&format!("{base_a}/ui/cases")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/ui/sign-in");
        screenshot(&c, "sign-in").await;

        // A wrong password is refused.
        sign_in(&c, a, "not the password").await;
        let err = wait_text(&c, "#sign-in-error", LIMIT, |t| !t.is_empty()).await;
        assert_eq!(err, "Wrong user name or password.");

        // Signed in: the layout names the organization and the user.
        sign_in_admin(&c, a).await;
        assert_eq!(text_of(&c, "[data-testid=org-name]").await, "metro-pd");
        assert_eq!(
            text_of(&c, "[data-testid=user-name]").await,
            "Administrator"
        );

        // New case, through the UI.
        c.find(Locator::Css("details.new-case summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        send_keys(&c, "#case_number", "2026-CR-0042").await;
        send_keys(&c, "#title", "Harbor burglary").await;
        screenshot(&c, "new-case").await;
        click(&c, "#create-case").await;
        wait_text(&c, "[data-testid=case-number]", LIMIT, |t| {
            t == "2026-CR-0042"
        })
        .await;
        let case_url = c.current_url().await.unwrap();

        // Upload two files at once; the progress bar runs, then both are listed.
        let files = c.find(Locator::Id("files")).await.unwrap();
        files
            .send_keys(&format!("{}\n{}", report.display(), hostile.display()))
            .await
            .unwrap();
        click(&c, "#upload-start").await;
        let start = std::time::Instant::now();
        loop {
            let rows = c
                .find_all(Locator::Css("table.evidence tbody tr"))
                .await
                .unwrap();
            if rows.len() == 2 {
                break;
            }
            assert!(start.elapsed() < LIMIT, "the uploads were not listed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let names: Vec<String> = {
            let mut v = Vec::new();
            for e in c
                .find_all(Locator::Css("table.evidence td.name"))
                .await
                .unwrap()
            {
                v.push(e.text().await.unwrap());
            }
            v
        };
        assert!(names.contains(&"report.pdf".to_owned()), "{names:?}");
        // The hostile name is text: no element came out of it, no script ran.
        assert!(names.contains(&HOSTILE_NAME.to_owned()), "{names:?}");
        assert!(
            c.find_all(Locator::Css("td.name script, td.name img"))
                .await
                .unwrap()
                .is_empty(),
            "markup from an evidence name reached the page"
        );
        let pwned = c
            .execute("return window.pwned === undefined;", vec![])
            .await
            .unwrap();
        assert_eq!(pwned, serde_json::Value::Bool(true));
        let sizes = text_of(&c, "table.evidence tbody tr td.num").await;
        assert!(sizes.ends_with("KiB") || sizes.ends_with(" B"), "{sizes}");
        screenshot(&c, "case-details").await;

        // Download: the same bytes, through the browser's session.
        let link = c
            .find(Locator::XPath("//td[@class='name']/a[text()='report.pdf']"))
            .await
            .unwrap();
        let href = link.attr("href").await.unwrap().unwrap();
        let cookie = c.get_named_cookie("casemesh_ui").await.unwrap();
        let bytes = reqwest::Client::new()
            .get(format!("{base_a}{href}"))
            .header("cookie", format!("casemesh_ui={}", cookie.value()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&bytes[..], &std::fs::read(&report).unwrap()[..]);

        // Profile icons: the owner, in green, named on hover.
        let owner = c
            .find(Locator::Css("#access-icons .avatar.owner"))
            .await
            .unwrap();
        assert_eq!(
            owner.attr("title").await.unwrap().as_deref(),
            Some("Administrator")
        );

        // Share dialog, People tab: the partner agency, a copy of the whole case.
        click(&c, "#open-share").await;
        let dialog = c.find(Locator::Id("share-dialog")).await.unwrap();
        assert!(dialog.is_displayed().await.unwrap());
        send_keys(&c, "#to", "admin").await;
        send_keys(&c, "#message", "For the arraignment").await;
        screenshot(&c, "share-dialog").await;
        click(&c, "#share-submit").await;
        let first = wait_text(&c, "[data-testid=share-status]", LIMIT, |t| !t.is_empty()).await;
        assert!(first == "Processing" || first == "Complete", "{first}");
        screenshot(&c, "share-processing").await;
        // The page refreshes the status by itself until the partner holds everything.
        wait_text(&c, "[data-testid=share-status]", LIMIT, |t| t == "Complete").await;
        let partner_icon = c
            .find(Locator::Css("#access-icons .avatar.org"))
            .await
            .unwrap();
        let title = partner_icon
            .attr("title")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(title.starts_with("county-da"), "{title}");
        assert_eq!(c.current_url().await.unwrap().path(), case_url.path());
        sign_out(&c).await;

        // At the partner: Shared with me → External share, marked External with the sharer.
        let base_b = format!("http://{}", b.admin_addr());
        sign_in_admin(&c, b).await;
        let start = std::time::Instant::now();
        loop {
            c.goto(&format!(
                "{base_b}/ui/cases?tab=shared&external=1&q=2026-CR-0042"
            ))
            .await
            .unwrap();
            if c.find(Locator::Css("#cases tbody tr")).await.is_ok() {
                break;
            }
            assert!(
                start.elapsed() < LIMIT,
                "the case never arrived at the partner"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let row = text_of(&c, "#cases tbody tr").await;
        assert!(
            row.contains("2026-CR-0042") && row.contains("External case"),
            "{row}"
        );
        assert!(row.contains("metro-pd"), "{row}");
        screenshot(&c, "shared-with-me").await;
        c.find(Locator::LinkText("2026-CR-0042"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_text(&c, "#sharer-org", LIMIT, |t| t == "metro-pd").await;
        assert_eq!(text_of(&c, "#external-marker").await, "External case");
        // The copy's evidence arrives with the share.
        let start = std::time::Instant::now();
        loop {
            if c.find_all(Locator::Css("table.evidence tbody tr"))
                .await
                .unwrap()
                .len()
                == 2
            {
                break;
            }
            assert!(start.elapsed() < LIMIT, "the copy's evidence is not listed");
            tokio::time::sleep(Duration::from_millis(500)).await;
            c.refresh().await.unwrap();
        }
        screenshot(&c, "external-case").await;
        // My cases at the partner does not list it.
        c.goto(&format!("{base_b}/ui/cases")).await.unwrap();
        assert!(c.find(Locator::Id("no-cases")).await.is_ok());
    });
}

/// Upload a whole folder from the case page (`webkitdirectory`): every file lands in the
/// matching subfolder, created on the way, below the folder chosen in "Into folder"; an HTTP
/// upload with `create_folder` into a folder that exists already adds to it.
#[test]
fn ui_folder_upload_keeps_the_tree() {
    let a = ui_node("metro-pd");
    let case = casemesh_tests::create_case(&a, "2026-CR-0099");
    a.cli_ok(["folder", "create", &case, "Intake"]);
    let work = tempfile::tempdir().unwrap();
    let scene = work.path().join("scene");
    std::fs::create_dir_all(scene.join("photos/north")).unwrap();
    std::fs::write(scene.join("notes.txt"), b"scene notes").unwrap();
    std::fs::write(scene.join("photos/north/p1.jpg"), b"north photo").unwrap();
    std::fs::write(scene.join("photos/p2.jpg"), b"second photo").unwrap();
    let downloads = work.path().join("downloads");
    let (a, case) = (&a, &case);
    with_browser(
        "ui_folder_upload_keeps_the_tree",
        &downloads,
        |c| async move {
            sign_in_admin(&c, a).await;
            c.goto(&format!("http://{}/ui/cases/{case}", a.admin_addr()))
                .await
                .unwrap();
            c.find(Locator::Css("#folder option[value='Intake']"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            send_keys(&c, "#folder-files", &scene.display().to_string()).await;
            click(&c, "#upload-start").await;
            wait_until("the folder's three files", LIMIT, || {
                (casemesh_tests::evidence_list(a, case).len() == 3).then_some(())
            });
        },
    );
    let mut placed: Vec<(String, String)> = casemesh_tests::evidence_list(a, case)
        .into_iter()
        .map(|e| (e.folder, e.name))
        .collect();
    placed.sort();
    assert_eq!(
        placed,
        [
            ("Intake/scene".to_owned(), "notes.txt".to_owned()),
            ("Intake/scene/photos".to_owned(), "p2.jpg".to_owned()),
            ("Intake/scene/photos/north".to_owned(), "p1.jpg".to_owned()),
        ]
    );
    // Over HTTP: a second upload into an existing folder with create_folder is fine.
    let (mut web, csrf) = casemesh_tests::browser::http_session(a, "admin", PASSWORD);
    let url = format!(
        "/ui/cases/{case}/evidence?name=p3.jpg&folder=Intake%2Fscene%2Fphotos&create_folder=true"
    );
    let resp = web.post_bytes(&url, Some(&csrf), b"third photo".to_vec());
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap_or_default());
    assert_eq!(casemesh_tests::evidence_list(a, case).len(), 4);
    // A refused item creates no folder: the name is checked before the folder is made.
    let url = format!(
        "/ui/cases/{case}/evidence?name=back%5Cslash.txt&folder=Intake%2Fghost&create_folder=true"
    );
    let resp = web.post_bytes(&url, Some(&csrf), b"refused".to_vec());
    assert_eq!(resp.status(), 400);
    let folders = casemesh_tests::case_view(a, case).folders;
    assert!(
        !folders.iter().any(|f| f.contains("ghost")),
        "a refused upload made a folder: {folders:?}"
    );
}

/// The case page's Edit case form: title and description change (and partners get them as an
/// update to review); without the CSRF token, or with an empty title, nothing changes.
#[test]
fn ui_case_edit_over_http() {
    let a = ui_node("metro-pd");
    let case = casemesh_tests::create_case(&a, "2026-CR-0077");
    let (mut web, csrf) = casemesh_tests::browser::http_session(&a, "admin", PASSWORD);
    let page = web.get(&format!("/ui/cases/{case}")).text().unwrap();
    assert!(
        page.contains("id=\"edit-case\""),
        "the case page offers Edit case"
    );
    let path = format!("/ui/cases/{case}/edit");
    let before = casemesh_tests::case_view(&a, &case);
    let resp = web.post_form(&path, &[("title", "Changed"), ("description", "x")]);
    assert_eq!(resp.status(), 403, "no CSRF token");
    let resp = web.post_form(
        &path,
        &[("csrf", &csrf), ("title", "   "), ("description", "x")],
    );
    assert_eq!(resp.status(), 400, "an empty title");
    let unchanged = casemesh_tests::case_view(&a, &case);
    assert_eq!(
        (unchanged.title, unchanged.description),
        (before.title, before.description)
    );
    let resp = web.post_form(
        &path,
        &[
            ("csrf", &csrf),
            ("title", "State v. Doe <b>"),
            ("description", "Two counts"),
        ],
    );
    assert_eq!(resp.status(), 303);
    let after = casemesh_tests::case_view(&a, &case);
    assert_eq!(after.title, "State v. Doe <b>");
    assert_eq!(after.description, "Two counts");
    let page = web.get(&format!("/ui/cases/{case}")).text().unwrap();
    assert!(
        page.contains("State v. Doe &") && !page.contains("State v. Doe <b>"),
        "the title is escaped"
    );
}

/// The browser harness itself ([`with_browser`]): when a test's body panics, the page it was on
/// is saved as a screenshot, the browser and driver are closed, and the panic reaches the test.
#[test]
fn a_failing_browser_test_leaves_a_screenshot() {
    let test = "a_failing_browser_test_leaves_a_screenshot";
    let shot = failure_screenshot(test);
    let _ = std::fs::remove_file(&shot);
    let work = tempfile::tempdir().unwrap();
    let ran = std::sync::atomic::AtomicBool::new(false);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ran = &ran;
        with_browser(test, &work.path().join("downloads"), |c| async move {
            c.goto("data:text/html,<h1 id=doomed>about to fail</h1>")
                .await
                .unwrap();
            ran.store(true, std::sync::atomic::Ordering::SeqCst);
            panic!("failing on purpose");
        });
    }));
    if !ran.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(outcome.is_ok(), "skipped without running the body");
        return; // chromedriver is not installed: with_browser said SKIPPED.
    }
    let panic = outcome.expect_err("the body's panic reaches the test");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"failing on purpose"));
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG"), "not a PNG: {}", shot.display());
    let html = std::fs::read_to_string(shot.with_extension("html")).unwrap();
    assert!(html.contains("about to fail"), "{html}");
}
