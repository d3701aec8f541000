//! The web UI's test harness (issue #17): plain-HTTP sessions with a cookie and CSRF tokens, and
//! a real Chromium driven through chromedriver (WebDriver, `fantoccini`).
//!
//! - [`set_password`] gives a node's user a UI password (`casemesh user passwd NAME --stdin`);
//! - [`Http`] is a client that follows no redirect and keeps the `casemesh_ui` session cookie;
//!   [`csrf_of`] reads a page's CSRF token, [`location`] a redirect's target;
//! - [`with_browser`] runs a real-browser test: it finds chromedriver ([`chromedriver`]:
//!   `CHROMEDRIVER` or `PATH`; missing means skip with a message, or panic under
//!   `CASEMESH_REQUIRE_TOOLS=1`), runs it on a free port ([`start_driver`]), opens a headless
//!   1280×800 Chromium session that downloads into a given directory ([`browser`]), saves a
//!   screenshot when the test fails, and always closes the session and the driver;
//! - [`sign_in`], [`sign_in_as`], [`sign_in_admin`], [`sign_out`], [`click`], [`type_into`],
//!   [`text_of`], [`wait_text`] and [`screenshot`] (to `docs/ui/NAME.png` when
//!   `UPDATE_SCREENSHOTS=1`) drive pages.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected failures"
)]

use crate::{TestNode, casemesh, wait_until};
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `casemesh user passwd NAME --stdin` on `node`, with `password` on standard input.
pub fn set_password(node: &TestNode, user: &str, password: &str) {
    let mut cmd = casemesh();
    cmd.arg("--data-dir")
        .arg(node.data_dir())
        .args(["user", "passwd", user, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user passwd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Over plain HTTP.

/// A client that does not follow redirects and keeps one session cookie by hand.
pub struct Http {
    /// The underlying client (redirects not followed).
    pub http: reqwest::blocking::Client,
    /// `http://ADDR` of the node's admin listener.
    pub base: String,
    /// The session cookie as `casemesh_ui=VALUE`, once a response set one.
    pub cookie: Option<String>,
}

impl Http {
    /// A client for `node`'s admin listener, with no session yet.
    pub fn new(node: &TestNode) -> Http {
        Http {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", node.admin_addr()),
            cookie: None,
        }
    }

    /// Keep the `casemesh_ui` session cookie a response sets.
    pub fn keep_cookie(&mut self, resp: &reqwest::blocking::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            if let Some(pair) = v.split(';').next()
                && pair.starts_with("casemesh_ui=")
            {
                self.cookie = Some(pair.to_owned());
            }
        }
    }

    /// `GET path` (e.g. `/ui/cases`) with the session cookie; panics on a transport error.
    pub fn get(&mut self, path: &str) -> reqwest::blocking::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().unwrap();
        self.keep_cookie(&resp);
        resp
    }

    /// `POST path` with a URL-encoded form and the session cookie.
    pub fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::blocking::Response {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().unwrap();
        self.keep_cookie(&resp);
        resp
    }

    /// `POST path` with `body` as `application/octet-stream` (an upload, as the page's script
    /// sends it), the session cookie, and `x-csrf-token: CSRF` when `csrf` is given; panics on a
    /// transport error.
    pub fn post_bytes(
        &mut self,
        path: &str,
        csrf: Option<&str>,
        body: impl Into<reqwest::blocking::Body>,
    ) -> reqwest::blocking::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(token) = csrf {
            req = req.header("x-csrf-token", token);
        }
        let resp = req.send().unwrap();
        self.keep_cookie(&resp);
        resp
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in:\n{html}"))
        + "name=\"csrf\" value=\"".len();
    html[at..at + 64].to_owned()
}

/// A redirect's `Location` header, or `""` when it has none.
pub fn location(resp: &reqwest::blocking::Response) -> String {
    resp.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Percent-encode every byte but ASCII letters and digits (a form or query value).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// In a real browser.

/// chromedriver on a free port, killed on drop.
pub struct Driver {
    child: Child,
    /// The WebDriver endpoint, `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The chromedriver binary: `CHROMEDRIVER`, else the first on `PATH`; `None` when not installed
/// (the caller skips its test, saying so). With `CASEMESH_REQUIRE_TOOLS=1` (set by
/// `scripts/test`, which installs chromedriver) a missing driver panics instead, so CI never
/// passes a browser test that did not run.
pub fn chromedriver() -> Option<PathBuf> {
    let found = match std::env::var_os("CHROMEDRIVER") {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("chromedriver"))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() && std::env::var_os("CASEMESH_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!(
            "chromedriver is not installed and CASEMESH_REQUIRE_TOOLS=1: the browser tests must run"
        );
    }
    found
}

/// Start chromedriver on a free loopback port and wait until it listens (20 s at most).
pub fn start_driver(bin: &Path) -> Driver {
    let port = crate::free_port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_until("chromedriver to listen", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    Driver { child, url }
}

/// How long a signed-in page gets to show up.
pub const PAGE_LIMIT: Duration = Duration::from_secs(60);

/// Run the real-browser test `test` (its name, for messages and the failure screenshot):
/// start chromedriver, a tokio runtime and a headless Chromium session downloading into
/// `downloads` (created if missing), then run `body` with the session.
///
/// - chromedriver not installed: prints `SKIPPED test: …` and returns without running `body`,
///   unless `CASEMESH_REQUIRE_TOOLS=1`, where it panics ([`chromedriver`]);
/// - `body` panics: the page is saved as `ui-failures/TEST.png` and `TEST.html` next to the
///   `casemesh` binary ([`failure_screenshot`]), then the panic goes on;
/// - either way the browser session is closed and chromedriver killed.
///
/// `body` gets the client by value (a cheap handle); borrow the test's nodes in the `async
/// move` block through references taken before it (`let a = &a;`).
pub fn with_browser<F, Fut>(test: &str, downloads: &Path, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(bin) = chromedriver() else {
        eprintln!(
            "SKIPPED {test}: chromedriver is not installed (scripts/test installs Debian's \
             chromium and chromium-driver; or set CHROMEDRIVER=/path/to/chromedriver)"
        );
        return;
    };
    std::fs::create_dir_all(downloads).unwrap();
    let driver = start_driver(&bin);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = browser(&driver, downloads).await;
        let outcome = AssertUnwindSafe(body(client.clone())).catch_unwind().await;
        if outcome.is_err() {
            save_failure(&client, test).await;
        }
        // A session left open keeps a Chromium process alive after chromedriver is gone.
        let _ = client.close().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    });
    drop(driver);
}

/// Where [`with_browser`] saves the page of the failed test `test`: `ui-failures/TEST.png` (and
/// `TEST.html`) next to the `casemesh` binary (`target/<profile>/`).
pub fn failure_screenshot(test: &str) -> PathBuf {
    let bin = crate::casemesh_bin();
    let dir = bin.parent().unwrap_or(Path::new("."));
    dir.join("ui-failures").join(format!("{test}.png"))
}

/// Save the current page of a failed test ([`failure_screenshot`]); best effort: the test's own
/// panic is what matters.
async fn save_failure(client: &Client, test: &str) {
    let png_path = failure_screenshot(test);
    if let Some(dir) = png_path.parent()
        && std::fs::create_dir_all(dir).is_err()
    {
        return;
    }
    if let Ok(png) = client.screenshot().await
        && std::fs::write(&png_path, png).is_ok()
    {
        eprintln!(
            "{test} failed at {:?}; screenshot: {}",
            client.current_url().await.ok(),
            png_path.display()
        );
    }
    if let Ok(html) = client.source().await {
        let _ = std::fs::write(png_path.with_extension("html"), html);
    }
}

/// A headless Chromium session (1280×800 viewport, en-US) that saves downloads in `downloads`.
pub async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,800", "--lang=en-US"],
            "prefs": {"download.default_directory": downloads.to_str().unwrap(),
                      "download.prompt_for_download": false},
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("start a Chromium session through chromedriver");
    // A 1280×800 viewport: the window is that plus whatever the browser keeps around the page.
    let extra = client
        .execute("return window.outerHeight - window.innerHeight;", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(0);
    client
        .set_window_size(1280, 800 + u32::try_from(extra).unwrap_or(0))
        .await
        .unwrap();
    client
}

/// Write a screenshot of the current page to `docs/ui/NAME.png` when `UPDATE_SCREENSHOTS=1`.
pub async fn screenshot(client: &Client, name: &str) {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_none() {
        return;
    }
    let png = client.screenshot().await.unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/ui")
        .join(format!("{name}.png"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, png).unwrap();
}

/// The text of the first element matching `css`; panics when there is none.
pub async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Wait (up to `limit`) until the element `css` exists and its text satisfies `ok`.
pub async fn wait_text(
    client: &Client,
    css: &str,
    limit: Duration,
    ok: impl Fn(&str) -> bool,
) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Ok(e) = client.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && ok(&t)
        {
            return t;
        }
        if start.elapsed() > limit {
            let page = client.source().await.unwrap_or_default();
            panic!(
                "timed out waiting for {css} at {:?}; the page:\n{page}",
                client.current_url().await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sign in at `node`'s `/ui/sign-in` as `admin` with `password` (does not wait for the next page:
/// the password may be wrong on purpose).
pub async fn sign_in(client: &Client, node: &TestNode, password: &str) {
    submit_sign_in(client, node, "admin", password).await;
}

/// Sign in at `node` as `user` with `password` and wait (up to [`PAGE_LIMIT`]) for My cases.
pub async fn sign_in_as(client: &Client, node: &TestNode, user: &str, password: &str) {
    submit_sign_in(client, node, user, password).await;
    wait_text(client, "h1", PAGE_LIMIT, |t| t == "My cases").await;
}

/// Sign in at `node` (a [`ui_node`]) as `admin` with [`PASSWORD`] and wait for My cases.
pub async fn sign_in_admin(client: &Client, node: &TestNode) {
    sign_in_as(client, node, "admin", PASSWORD).await;
}

/// Fill in and submit the sign-in form at `node`.
async fn submit_sign_in(client: &Client, node: &TestNode, user: &str, password: &str) {
    client
        .goto(&format!("http://{}/ui/sign-in", node.admin_addr()))
        .await
        .unwrap();
    type_into(client, "#username", user).await;
    type_into(client, "#password", password).await;
    click(client, "#sign-in").await;
}

/// Press Sign out and wait for the sign-in form.
pub async fn sign_out(client: &Client) {
    client
        .find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("sign-in"))
        .await
        .unwrap();
}

/// The UI password [`ui_node`] gives `admin`.
pub const PASSWORD: &str = "correct horse battery";

/// A started node whose `admin` signs in to the UI with [`PASSWORD`].
pub fn ui_node(name: &str) -> TestNode {
    let node = TestNode::start(name);
    set_password(&node, "admin", PASSWORD);
    node
}

/// Sign in over plain HTTP as `user`; returns the client and the session's CSRF token (read
/// from My cases).
pub fn http_session(node: &TestNode, user: &str, password: &str) -> (Http, String) {
    let mut web = Http::new(node);
    let csrf = csrf_of(&web.get("/ui/sign-in").text().unwrap());
    let resp = web.post_form(
        "/ui/sign-in",
        &[("csrf", &csrf), ("username", user), ("password", password)],
    );
    assert_eq!(resp.status(), 303, "sign-in of {user}");
    let csrf = csrf_of(&web.get("/ui/cases").text().unwrap());
    (web, csrf)
}

/// Click the element `css`; panics naming it when it is missing or not clickable.
pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Type `text` into the element `css` (after clearing it).
pub async fn type_into(c: &Client, css: &str, text: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Send `keys` to the element `css` as they are, without clearing it first: text for a field
/// that starts empty, file paths (one per line) for a file input, or WebDriver keys such as
/// `" "` (Space) and `"\u{E007}"` (Enter). Panics naming `css` when it is missing or refuses them.
pub async fn send_keys(c: &Client, css: &str, keys: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(keys)
        .await
        .unwrap_or_else(|e| panic!("keys to {css}: {e}"));
}

/// `"true"` or `"false"`: whether the checkbox or radio button `css` is checked.
pub async fn checked(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .prop("checked")
        .await
        .unwrap()
        .unwrap_or_default()
}
