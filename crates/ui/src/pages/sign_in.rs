//! Sign-in and sign-out. The password is checked by `node.users().sign_in` (Argon2id hashes on
//! the user record); a wrong user name and a wrong password get the same answer (401, "Wrong
//! user name or password."). Signing in starts a new session id (see [`crate::session`]).
//! Sign-ins are bounded by [`crate::limits`]: too many attempts for a user name or from a client
//! address get `429` and a busy node `503`, both before any password is verified; every refused
//! sign-in is logged with the user name (escaped: `{:?}`) and the client address.

use crate::UiState;
use crate::error::UiError;
use crate::session::{self, csrf_token};
use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use std::net::SocketAddr;
use tower_sessions::Session;

/// The sign-in page.
#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    org: &'a str,
    csrf: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

/// `GET /ui/sign-in`: the form (a session with a CSRF token is made for it).
pub async fn form(State(state): State<UiState>, session: Session) -> Result<Response, UiError> {
    let csrf = csrf_token(&session).await?;
    super::render(&SignInPage {
        org: &state.node.org().name,
        csrf: &csrf,
        username: "",
        error: None,
    })
}

/// The sign-in form's fields (the CSRF token was checked by the guard).
#[derive(serde::Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
}

/// `POST /ui/sign-in`: check the password; on success a new session and `303` to the cases.
/// Refused: `429` (too many attempts for the name or from the client), `503` (too many
/// verifications running), `401` (wrong name or password).
pub async fn submit(
    State(state): State<UiState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    session: Session,
    Form(f): Form<SignInForm>,
) -> Result<Response, UiError> {
    let username = f.username.trim();
    let client = client.map(|Extension(ConnectInfo(a))| a.ip());
    let shown = client.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
    if let Err(wait) = state.limits.admit(username, client) {
        tracing::warn!(user = ?username, client = %shown, "refused sign-in: too many attempts");
        return too_many(&state, &session, username, wait).await;
    }
    let Some(turn) = state.limits.verify_turn().await else {
        tracing::warn!(user = ?username, client = %shown, "refused sign-in: busy");
        return refusal(
            &state,
            &session,
            username,
            StatusCode::SERVICE_UNAVAILABLE,
            "The node is busy. Try again in a moment.",
            Some(5),
        )
        .await;
    };
    let result = state.node.users().sign_in(username, &f.password).await;
    drop(turn);
    match result {
        Ok(caller) => {
            session::sign_in(&session, &caller).await?;
            tracing::info!(user = %caller.user.username, "signed in to the web UI");
            Ok(Redirect::to("/ui/cases").into_response())
        }
        Err(casemesh_service::UserError::Unauthenticated) => {
            if let Err(wait) = state.limits.failed(username, client) {
                tracing::warn!(user = ?username, client = %shown, "refused sign-in: wrong name or password; too many attempts");
                return too_many(&state, &session, username, wait).await;
            }
            tracing::warn!(user = ?username, client = %shown, "refused sign-in: wrong name or password");
            refusal(
                &state,
                &session,
                username,
                StatusCode::UNAUTHORIZED,
                "Wrong user name or password.",
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The `429` answer for a name or client over its failed-attempt allowance, with the wait
/// (seconds in `Retry-After`, rounded up to minutes in the message).
async fn too_many(
    state: &UiState,
    session: &Session,
    username: &str,
    wait: std::time::Duration,
) -> Result<Response, UiError> {
    let secs = wait.as_secs().max(1);
    refusal(
        state,
        session,
        username,
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "Too many sign-in attempts. Try again in {} minutes.",
            secs.div_ceil(60)
        ),
        Some(secs),
    )
    .await
}

/// The sign-in page again with `error` and `status` (and `Retry-After: retry_after` seconds).
async fn refusal(
    state: &UiState,
    session: &Session,
    username: &str,
    status: StatusCode,
    error: &str,
    retry_after: Option<u64>,
) -> Result<Response, UiError> {
    let csrf = csrf_token(session).await?;
    let page = SignInPage {
        org: &state.node.org().name,
        csrf: &csrf,
        username,
        error: Some(error),
    };
    let mut resp = (status, Html(page.render()?)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    }
    Ok(resp)
}

/// `POST /ui/sign-out`: end the session; `303` to the sign-in page.
pub async fn sign_out(session: Session) -> Result<Response, UiError> {
    session::sign_out(&session).await?;
    Ok(Redirect::to("/ui/sign-in").into_response())
}
