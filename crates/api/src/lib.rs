//! HTTP endpoints of a casemesh node: the local admin API.
//!
//! Layout:
//! - [`admin_router`]: `/healthz`, `/readyz`, `/metrics` and `/openapi.json` (open) and `/v1/*` (bearer token), bound to
//!   127.0.0.1 by the node. Handlers live in [`routes`], one module per resource; their JSON
//!   shapes in [`views`].
//! - [`openapi_json`]: the OpenAPI document generated from the handlers' annotations, served at
//!   `GET /openapi.json`; it is committed at `docs/api/openapi.json` and a test fails when that
//!   file is stale. Every operation has its own `operation_id` (`list_cases`, `create_share`, …):
//!   generated clients name their methods after them.
//! - [`error`]: every error as a status plus `{"error":{"code","message"}}`.
//! - [`links`]: the download-link admin routes and [`links::public::public_router`], the separate
//!   public link server recipients download from (the use cases are `casemesh_links::Links`).
//! - `/ui/*`: the web UI for case users (`casemesh_ui::router`), merged in by [`frontend`]; the
//!   whole admin router sits behind the DNS-rebinding guard `casemesh_ui::host::guard` (on a
//!   loopback listener, a foreign `Host` gets 421).
//! - [`frontend`]: both routers for a started `casemesh_service::Node`; the binary hands it to
//!   `Node::start`, which serves them.
//!
//! Handlers are adapters: extract the request, check the caller, call a use case of the node,
//! map its error (`error`: one `From` per domain error).
//!
//! ```no_run
//! # async fn demo(dir: &std::path::Path) -> anyhow::Result<()> {
//! let config = casemesh_service::Config::load(dir)?.with_frontend(casemesh_api::frontend);
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let (node, stopped) = casemesh_service::Node::start(config, shutdown.clone()).await?;
//! println!("admin API on http://{}", node.admin_addr());
//! # Ok(()) }
//! ```

pub mod auth;
pub mod error;
pub mod extract;
pub mod links;
pub mod routes;
pub mod state;
pub mod views;

use axum::Router;
use axum::routing::{get, post};
use routes::{audit, cases, custody, evidence, node, sharing, updates, users};
use state::AppState;
use utoipa::OpenApi;

/// Largest JSON request body accepted (uploads are streamed and not limited by this).
pub const MAX_JSON_BODY: usize = 1 << 20;

/// The admin API router.
pub fn admin_router(state: AppState) -> Router {
    let json_limit = axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY);
    Router::new()
        .route("/healthz", get(node::healthz))
        .route("/readyz", get(node::readyz))
        .route("/metrics", get(node::metrics))
        .route("/openapi.json", get(openapi_document))
        .route("/v1/node", get(node::info))
        .route(
            "/v1/settings",
            get(node::settings).patch(node::edit_settings),
        )
        .route("/v1/blobs", get(node::blob_stats))
        .route("/v1/blobs/gc", post(node::blob_gc))
        .route("/v1/blobs/verify", get(node::blob_verify))
        .route("/v1/blobs/space", get(node::blob_space))
        .route("/v1/retention/sweep", post(node::retention_sweep))
        .route("/v1/users", get(users::list).post(users::create))
        .route(
            "/v1/users/{username}",
            axum::routing::patch(users::edit).delete(users::delete),
        )
        .route(
            "/v1/users/{username}/tokens",
            post(users::token).delete(users::revoke_tokens),
        )
        .route(
            "/v1/users/{username}/password",
            axum::routing::put(users::set_password),
        )
        .route("/v1/groups", get(users::groups).post(users::create_group))
        .route("/v1/cases", get(cases::list).post(cases::create))
        .route("/v1/cases/{case}", get(cases::show).patch(cases::edit))
        .route(
            "/v1/cases/{case}/retention",
            axum::routing::put(cases::set_retention),
        )
        .route("/v1/cases/{case}/folders", post(cases::folder_create))
        .route(
            "/v1/cases/{case}/folders/rename",
            post(cases::folder_rename),
        )
        .route("/v1/cases/{case}/folders/move", post(cases::folder_move))
        .route(
            "/v1/cases/{case}/folders/delete",
            post(cases::folder_delete),
        )
        .route("/v1/cases/{case}/evidence", post(evidence::add))
        .route(
            "/v1/cases/{case}/evidence/{evidence}",
            get(evidence::show)
                .patch(evidence::edit)
                .delete(evidence::delete),
        )
        .route(
            "/v1/cases/{case}/evidence/{evidence}/content",
            get(evidence::content),
        )
        .route(
            "/v1/cases/{case}/evidence/{evidence}/transcripts",
            post(evidence::add_transcript),
        )
        .route(
            "/v1/cases/{case}/evidence/{evidence}/transcripts/{transcript}/content",
            get(evidence::transcript_content),
        )
        .route(
            "/v1/cases/{case}/links",
            get(links::list).post(links::create),
        )
        .route("/v1/links/{link}", get(links::show))
        .route("/v1/links/{link}/revoke", post(links::revoke))
        .route("/v1/id", get(sharing::id))
        .route(
            "/v1/partners",
            get(sharing::partners).post(sharing::add_partner),
        )
        .route(
            "/v1/partners/{partner}",
            axum::routing::patch(sharing::edit_partner).delete(sharing::remove_partner),
        )
        .route(
            "/v1/policies",
            get(sharing::policies).post(sharing::put_policy),
        )
        .route("/v1/policies/{name}", get(sharing::policy))
        .route("/v1/peers", get(sharing::peers))
        .route(
            "/v1/cases/{case}/shares",
            get(sharing::case_shares).post(sharing::create_share),
        )
        .route(
            "/v1/cases/{case}/access",
            get(sharing::access).post(sharing::share_inside),
        )
        .route(
            "/v1/access/{share}",
            axum::routing::delete(sharing::stop_inside),
        )
        .route("/v1/partners/{partner}/directory", get(sharing::directory))
        .route("/v1/received/{share}/updates", get(updates::list))
        .route("/v1/received/{share}/updates/apply", post(updates::apply))
        .route(
            "/v1/received/{share}/updates/dismiss",
            post(updates::dismiss),
        )
        .route(
            "/v1/received/{share}/meta",
            get(updates::meta).post(updates::edit_meta),
        )
        .route("/v1/shares/{share}", get(sharing::share))
        .route(
            "/v1/shares/{share}/recipients",
            post(sharing::add_recipients),
        )
        .route("/v1/shares/{share}/stop", post(sharing::stop_share))
        .route("/v1/shares/{share}/approve", post(sharing::approve_share))
        .route("/v1/received", get(sharing::received))
        .route("/v1/received/{share}", get(sharing::received_one))
        .route("/v1/received/{share}/import", post(sharing::import))
        .route(
            "/v1/received/{share}/contents",
            get(sharing::received_contents),
        )
        .route(
            "/v1/received/{share}/evidence/{evidence}/content",
            get(sharing::received_content),
        )
        .route("/v1/received/{share}/share", post(sharing::share_onward))
        .route("/v1/cases/{case}/audit", get(audit::trail))
        .route("/v1/cases/{case}/audit/verify", get(audit::verify))
        .route("/v1/cases/{case}/custody", get(custody::timeline))
        // After every route: a route asked with a method it does not have answers 405 with the
        // JSON error body (axum's own 405 has an empty body).
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .layer(json_limit)
        // Failed requests are logged once, by `ApiError` with their code and message.
        .layer(
            tower_http::trace::TraceLayer::new_for_http().on_failure(
                tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
            ),
        )
        .with_state(state)
}

/// 405 for a route of the admin API asked with a method it does not have.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::method_not_allowed(&method, uri.path())
}

/// Both routers of a started node: the admin API and the public link server (pass this to
/// `casemesh_service::Config::with_frontend`).
pub fn frontend(node: &casemesh_service::Node) -> casemesh_service::Routers {
    let state = AppState::new(node);
    let loopback = node.admin_addr().ip().is_loopback();
    casemesh_service::Routers {
        // The web UI for case users (issue #17; `casemesh-ui`), on the same listener.
        admin: admin_router(state.clone())
            .merge(casemesh_ui::router(node))
            // DNS rebinding: on a loopback listener only loopback `Host` names are served.
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    casemesh_ui::host::guard(loopback, req, next)
                },
            )),
        public: links::public::public_router(state),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "casemesh admin API", description = "The local admin endpoint of a casemesh node. Every /v1 route needs `Authorization: Bearer <token>`."),
    paths(
        openapi_document, node::healthz, node::readyz, node::metrics, node::info, node::settings, node::edit_settings, node::blob_stats, node::blob_gc, node::blob_verify, node::blob_space, node::retention_sweep,
        users::list, users::create, users::edit, users::delete, users::token, users::revoke_tokens, users::set_password, users::groups, users::create_group,
        cases::create, cases::list, cases::show, cases::edit, cases::set_retention,
        cases::folder_create, cases::folder_rename, cases::folder_move, cases::folder_delete,
        evidence::add, evidence::show, evidence::content, evidence::edit, evidence::delete, evidence::add_transcript, evidence::transcript_content,
        audit::trail, audit::verify, custody::timeline,
        sharing::id, sharing::partners, sharing::add_partner, sharing::edit_partner, sharing::remove_partner,
        sharing::policies, sharing::put_policy, sharing::policy, sharing::peers,
        sharing::create_share, sharing::case_shares, sharing::access, sharing::share_inside, sharing::stop_inside, sharing::directory, sharing::share, sharing::add_recipients, sharing::approve_share, sharing::stop_share,
        sharing::received, sharing::received_one, sharing::import, sharing::share_onward, sharing::received_contents, sharing::received_content,
        updates::list, updates::apply, updates::dismiss, updates::meta, updates::edit_meta,
        links::create, links::list, links::show, links::revoke,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /openapi.json`: the document below, with no token. It describes the API's shape and holds
/// no data of the node, and tools (code generators, API browsers) fetch it without credentials;
/// the admin listener binds to loopback by default.
#[utoipa::path(get, path = "/openapi.json", operation_id = "get_openapi_document", tag = "node", security(()),
    responses((status = 200, description = "this OpenAPI document", content_type = "application/json", body = Object)))]
async fn openapi_document() -> impl axum::response::IntoResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.get_or_init(openapi_json).as_str(),
    )
}

/// The OpenAPI document of the admin API, as pretty JSON.
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    /// The committed `docs/api/openapi.json` must match the code. Regenerate with
    /// `UPDATE_OPENAPI=1 cargo test -p casemesh-api openapi_is_current`.
    #[test]
    fn openapi_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api/openapi.json");
        let generated = super::openapi_json() + "\n";
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/api/openapi.json is stale: run UPDATE_OPENAPI=1 cargo test -p casemesh-api openapi_is_current"
        );
    }

    /// Generated clients name a method after each operation id: every operation needs its own,
    /// and one that says what it does (`verb_noun`, as `list_cases`), which utoipa's default (the
    /// handler's name: `list`, `show`, … in several modules) does not. Set `operation_id = "…"`
    /// in the handler's `#[utoipa::path]`.
    #[test]
    fn operation_ids_are_unique_and_descriptive() {
        let doc = <super::ApiDoc as utoipa::OpenApi>::openapi();
        let mut seen = std::collections::BTreeMap::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
                ("HEAD", &item.head),
                ("OPTIONS", &item.options),
                ("TRACE", &item.trace),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let where_ = format!("{method} {path}");
                let id = op.operation_id.clone().unwrap_or_default();
                let descriptive = id.contains('_')
                    && id
                        .split('_')
                        .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
                assert!(
                    descriptive,
                    "{where_}: operation id {id:?} is not a verb_noun name"
                );
                if let Some(other) = seen.insert(id.clone(), where_.clone()) {
                    panic!("operation id {id:?} is used by both {other} and {where_}");
                }
            }
        }
        assert!(seen.contains_key("list_cases") && seen.contains_key("create_share"));
    }
}
