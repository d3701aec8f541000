//! In-process HTTP tests of the admin API: a [`casemesh_service::Node`] started in this process
//! with the API's frontend ([`casemesh_api::frontend`]), called over its real loopback listener
//! with reqwest, answers read as the API's own types (`casemesh_api_types`), not JSON lookups.
//! They check what the adapters own: the route, the status and the stable `code` of each error
//! family (`casemesh_service::error::http_answer`), and that a use case, not the handler, checks
//! the caller.
//!
//! - `adapters_answer_with_the_use_cases_statuses_and_codes`: a case created and shown; who has
//!   access (the owner); a non-administrator refused the retention sweep (403 `forbidden`,
//!   nothing removed); an unknown case 404 `not_found`; a taken Case ID 409 `conflict`; a body
//!   that is not JSON 415; no token 401.
//! - `a_case_shared_between_two_in_process_nodes_lists_the_partner`: two nodes partnered over
//!   HTTP, a partner share created over HTTP, and the sharer's "who has access" lists the
//!   partner's recipient under the share.

#![allow(
    clippy::unwrap_used,
    reason = "tests and their helpers fail by panicking"
)]

#[path = "../../service/tests/common/mod.rs"]
mod common;

use casemesh_api_types::{
    AccessEntry, AddPartner, CaseView, CreateCase, CreateShare, CreatedUser, DirectoryEntryView,
    ErrorBody, ReceivedView, SettingsView, ShareView, SweepReport,
};
use common::{Running, init_with_token};
use reqwest::{Client, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// A node started in-process with the admin API, and its administrator's token.
struct Api {
    running: Running,
    base: String,
    token: String,
    http: Client,
}

impl Api {
    async fn start(dir: &Path, org: &str) -> Api {
        let (_, token) = init_with_token(dir, org);
        let config = casemesh_service::Config::load(dir)
            .unwrap()
            .with_frontend(casemesh_api::frontend);
        let running = Running::start_with(config).await;
        let base = format!("http://{}", running.node.admin_addr());
        Api {
            running,
            base,
            token,
            http: Client::new(),
        }
    }

    /// `method path` with `body` as JSON (when given), as the holder of `token`: the status
    /// and the raw body.
    async fn call<B: Serialize>(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> (StatusCode, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    /// A call as the administrator that must answer `expected`, its body read as `T`.
    async fn ok<B: Serialize, T: DeserializeOwned>(
        &self,
        expected: StatusCode,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> T {
        let (status, text) = self.call(Some(&self.token), method, path, body).await;
        assert_eq!(status, expected, "{path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    /// A call (as `token`) that must fail with `expected` and the error body's `code`.
    async fn fails<B: Serialize>(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&B>,
        expected: StatusCode,
        code: &str,
    ) -> ErrorBody {
        let (status, text) = self.call(token, method, path, body).await;
        assert_eq!(status, expected, "{path}: {text}");
        let err: ErrorBody =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
        assert_eq!(err.error.code, code, "{path}: {text}");
        err
    }
}

const NO_BODY: Option<&()> = None;

fn new_case(number: &str) -> CreateCase {
    CreateCase {
        case_id: number.to_owned(),
        title: "State v. Doe".to_owned(),
        description: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapters_answer_with_the_use_cases_statuses_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(dir.path(), "Metro PD").await;
    let created: CaseView = api
        .ok(
            StatusCode::CREATED,
            Method::POST,
            "/v1/cases",
            Some(&new_case("2026-CR-0042")),
        )
        .await;
    assert_eq!(created.case_id, "2026-CR-0042");
    let shown: CaseView = api
        .ok(
            StatusCode::OK,
            Method::GET,
            "/v1/cases/2026-CR-0042",
            NO_BODY,
        )
        .await;
    assert_eq!(shown.id, created.id);
    let access: Vec<AccessEntry> = api
        .ok(
            StatusCode::OK,
            Method::GET,
            "/v1/cases/2026-CR-0042/access",
            NO_BODY,
        )
        .await;
    assert_eq!(access.len(), 1, "{access:?}");
    assert_eq!(
        (access[0].kind.as_str(), access[0].who.as_str()),
        ("owner", "admin")
    );

    // A user without `administer`: the sweep's use case refuses, the adapter says 403.
    let bob: CreatedUser = api
        .ok(
            StatusCode::CREATED,
            Method::POST,
            "/v1/users",
            Some(&serde_json::json!({"username": "bob", "full_name": "Bob"})),
        )
        .await;
    api.fails(
        Some(&bob.token),
        Method::POST,
        "/v1/retention/sweep",
        NO_BODY,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let swept: SweepReport = api
        .ok(StatusCode::OK, Method::POST, "/v1/retention/sweep", NO_BODY)
        .await;
    assert!(swept.removed.is_empty(), "{swept:?}");

    // Not found, a clash, not JSON, no token: each with its status and code.
    let missing = api
        .fails(
            Some(&api.token),
            Method::GET,
            "/v1/cases/NO-SUCH-CASE",
            NO_BODY,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    assert!(
        missing.error.message.contains("NO-SUCH-CASE"),
        "{missing:?}"
    );
    api.fails(
        Some(&api.token),
        Method::POST,
        "/v1/cases",
        Some(&new_case("2026-cr-0042")),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let resp = api
        .http
        .post(format!("{}/v1/cases", api.base))
        .bearer_auth(&api.token)
        .body("case_id=X")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.code, "unsupported_media_type", "{err:?}");
    api.fails(
        None,
        Method::GET,
        "/v1/cases",
        NO_BODY,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let cases: Vec<serde_json::Value> = api
        .ok(StatusCode::OK, Method::GET, "/v1/cases", NO_BODY)
        .await;
    assert_eq!(cases.len(), 1, "the refused requests created nothing");
    api.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_shared_between_two_in_process_nodes_lists_the_partner() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Api::start(dir_a.path(), "Metro PD").await;
    let b = Api::start(dir_b.path(), "County DA").await;
    for (from, to, name) in [(&a, &b, "county-da"), (&b, &a, "metro-pd")] {
        let add = AddPartner {
            name: name.to_owned(),
            peer_id: to.running.node.org().id.clone(),
            addrs: to.running.node.p2p_addrs().to_vec(),
            policy: None,
        };
        let (status, text) = from
            .call(Some(&from.token), Method::POST, "/v1/partners", Some(&add))
            .await;
        assert!(status.is_success(), "{status}: {text}");
    }
    // The partner directory, asked over `directory.query/1`: refused while County DA keeps it
    // to itself (403, its reason passed on), then answered with its matching users. Until the
    // two nodes are connected the answer is 503 (a partner unavailable: try again).
    let lookup = "/v1/partners/county-da/directory?q=adm";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (status, text) = loop {
        let (status, text) = a.call(Some(&a.token), Method::GET, lookup, NO_BODY).await;
        if status != StatusCode::SERVICE_UNAVAILABLE || std::time::Instant::now() > deadline {
            break (status, text);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(
        text.contains("county-da: this organization does not share its directory"),
        "{text}"
    );
    let on: SettingsView = b
        .ok(
            StatusCode::OK,
            Method::PATCH,
            "/v1/settings",
            Some(&serde_json::json!({ "share_directory": true })),
        )
        .await;
    assert!(on.share_directory);
    let found: Vec<DirectoryEntryView> = a.ok(StatusCode::OK, Method::GET, lookup, NO_BODY).await;
    assert_eq!(
        found
            .iter()
            .map(|e| (e.kind.as_str(), e.name.as_str()))
            .collect::<Vec<_>>(),
        [("user", "admin")]
    );
    let _: CaseView = a
        .ok(
            StatusCode::CREATED,
            Method::POST,
            "/v1/cases",
            Some(&new_case("R-1")),
        )
        .await;
    let create = CreateShare {
        partner: "county-da".to_owned(),
        to: vec!["user:admin".to_owned()],
        folders: Vec::new(),
        evidence: Vec::new(),
        message: None,
        mode: None,
    };
    let share: ShareView = a
        .ok(
            StatusCode::CREATED,
            Method::POST,
            "/v1/cases/R-1/shares",
            Some(&create),
        )
        .await;
    let access: Vec<AccessEntry> = a
        .ok(StatusCode::OK, Method::GET, "/v1/cases/R-1/access", NO_BODY)
        .await;
    let partner = access
        .iter()
        .find(|e| e.share == Some(share.id))
        .unwrap_or_else(|| panic!("the share's recipient: {access:?}"));
    assert_eq!(
        (
            partner.kind.as_str(),
            partner.who.as_str(),
            partner.organization.as_str()
        ),
        ("user", "admin", "county-da")
    );
    // The receiver got it: its received list names the share.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, text) = b
            .call(Some(&b.token), Method::GET, "/v1/received", NO_BODY)
            .await;
        if status.is_success()
            && serde_json::from_str::<Vec<ReceivedView>>(&text)
                .is_ok_and(|list| list.iter().any(|r| r.id == share.id))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the share never reached the receiver: {status} {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    a.running.stop().await;
    b.running.stop().await;
}
