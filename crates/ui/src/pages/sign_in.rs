//! Sign-in and sign-out. The password is checked by `node.users().sign_in` (Argon2id hashes on
//! the user record); a wrong user name and a wrong password get the same answer (401, "Wrong
//! user name or password."). Signing in starts a new session id (see [`crate::session`]).

use crate::UiState;
use crate::error::UiError;
use crate::session::{self, csrf_token};
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
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
pub async fn submit(
    State(state): State<UiState>,
    session: Session,
    Form(f): Form<SignInForm>,
) -> Result<Response, UiError> {
    match state
        .node
        .users()
        .sign_in(f.username.trim(), &f.password)
        .await
    {
        Ok(caller) => {
            session::sign_in(&session, &caller).await?;
            tracing::info!(user = %caller.user.username, "signed in to the web UI");
            Ok(Redirect::to("/ui/cases").into_response())
        }
        Err(casemesh_service::UserError::Unauthenticated) => {
            let csrf = csrf_token(&session).await?;
            let page = SignInPage {
                org: &state.node.org().name,
                csrf: &csrf,
                username: f.username.trim(),
                error: Some("Wrong user name or password."),
            };
            Ok((StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/sign-out`: end the session; `303` to the sign-in page.
pub async fn sign_out(session: Session) -> Result<Response, UiError> {
    session::sign_out(&session).await?;
    Ok(Redirect::to("/ui/sign-in").into_response())
}
