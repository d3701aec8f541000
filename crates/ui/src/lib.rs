//! The web UI for case users (issue #17): server-rendered HTML over the node's use cases,
//! served by the node on the admin listener under `/ui/` (loopback by default, like the API).
//!
//! Layout:
//! - [`router`]: the routes, behind the session layer and the guards of [`session`] (sign-in
//!   sessions, CSRF on every `POST`, `Secure` cookies behind TLS, security headers).
//! - [`pages`]: one module per screen; each handler calls use cases of
//!   [`casemesh_service::Node`] (`cases()`, `evidence()`, `shares()`, `users()`, …) — the same
//!   ones the JSON API calls, so no rule exists twice — and renders an askama template from
//!   `crates/ui/templates/` (HTML-escaped by default, checked at compile time).
//! - [`store`]: the in-memory, bounded session store (anonymous and signed-in sessions in
//!   separate pools).
//! - [`limits`]: what bounds sign-ins (concurrent Argon2 verifications, attempts per user name
//!   and per client address).
//! - [`assets`]: `static/ui.css` and `static/ui.js`, compiled in (no Node.js build step).
//! - [`host`]: the DNS-rebinding guard (loopback `Host` only) over the whole admin listener.
//! - [`error`]: a refused or failed use case as an HTML page with its status.
//!
//! Passwords: `casemesh user passwd NAME` sets one (Argon2id hash on the user record,
//! `casemesh_service::UserService::set_password`); API tokens stay for the CLI. See
//! `docs/ui.md`.
//!
//! ```no_run
//! # fn demo(node: &casemesh_service::Node) {
//! // The API's frontend merges it: `admin_router(...).merge(casemesh_ui::router(node))`.
//! let ui: axum::Router = casemesh_ui::router(node);
//! # let _ = ui; }
//! ```

pub mod assets;
pub mod error;
pub mod host;
pub mod limits;
pub mod pages;
pub mod session;
pub mod store;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use casemesh_service::Node;
use pages::admin;
use pages::{case, cases, link, received, share, sign_in};

/// What the UI handlers share: the node (its use cases). Cheap to clone.
#[derive(Clone)]
pub struct UiState {
    /// The running node.
    pub node: Node,
    /// The sign-in bounds (shared by all requests).
    pub limits: limits::SignInLimits,
}

/// The UI's routes, all under `/ui/` (`/ui` and `/ui/` lead to the cases), to be merged into
/// the admin listener's router.
pub fn router(node: &Node) -> Router {
    let to_cases = || async { Redirect::to("/ui/cases") };
    Router::new()
        .route("/ui", get(to_cases))
        .route("/ui/", get(to_cases))
        .method_not_allowed_fallback(method_not_allowed)
        .nest("/ui", pages(node))
}

/// 405 for a page asked with a method it does not have.
async fn method_not_allowed(method: axum::http::Method) -> error::UiError {
    error::UiError::method_not_allowed(&method)
}

/// The pages, relative to `/ui`, behind the session layer and the guards.
fn pages(node: &Node) -> Router {
    let state = UiState {
        node: node.clone(),
        limits: limits::SignInLimits::default(),
    };
    Router::new()
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/cases", get(cases::list).post(cases::create))
        .route("/cases/{case}", get(case::show))
        .route("/cases/{case}/evidence", post(case::upload))
        .route("/cases/{case}/edit", post(case::edit))
        .route(
            "/cases/{case}/evidence/{evidence}/content",
            get(case::download),
        )
        .route(
            "/cases/{case}/shares",
            get(case::shares).post(share::create),
        )
        .route(
            "/cases/{case}/shares/{share}/stop",
            get(share::confirm_stop).post(share::stop),
        )
        .route("/cases/{case}/links", post(link::create))
        .route("/partners/{partner}/directory", get(share::directory))
        .route("/received/{share}", get(received::details))
        .route("/received/{share}/import", post(received::import))
        .route(
            "/received/{share}/recipients",
            post(received::add_recipients),
        )
        .route("/received/{share}/view", get(received::view))
        .route(
            "/received/{share}/view/{evidence}",
            get(received::view_item),
        )
        .route(
            "/received/{share}/updates",
            get(received::review).post(received::review_submit),
        )
        .route("/admin", get(admin::index))
        .route(
            "/admin/partners",
            get(admin::partners).post(admin::add_partner),
        )
        .route(
            "/admin/partners/{partner}/policy",
            post(admin::partner_policy),
        )
        .route("/admin/policies", get(admin::policies))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/groups", post(admin::add_to_group))
        .route("/admin/groups", post(admin::create_group))
        .route(
            "/admin/settings",
            get(admin::settings).post(admin::save_settings),
        )
        .route("/admin/peers", get(admin::peers))
        .route("/static/{file}", get(assets::serve))
        // After every route: a page asked with a method it does not have answers 405 with the
        // error page, not axum's empty body.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async { error::UiError::not_found("No such page.".into()) })
        .layer(axum::middleware::from_fn(session::csrf_guard))
        .layer(session::layer())
        .layer(axum::middleware::from_fn(session::secure_cookies))
        .layer(axum::middleware::from_fn(session::security_headers))
        .with_state(state)
}
