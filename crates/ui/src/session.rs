//! Sign-in sessions and the request guards every UI route sits behind.
//!
//! - **Sessions** ([`layer`]): `tower-sessions` over [`Sessions`], in memory and bounded
//!   (sessions are lost when the node restarts; users sign in again). The cookie `casemesh_ui` is
//!   `HttpOnly`, `SameSite=Strict`, `Path=/ui`, and expires after [`IDLE_HOURS`] hours without a
//!   request (every request saves the session, which moves the expiry); the anonymous session of
//!   the sign-in page after [`ANONYMOUS_MINUTES`] minutes. The session holds the signed-in
//!   user's id, the CSRF token, a fingerprint of the password hash at sign-in, and the newest
//!   download link's id and address (`pages::link::URL_KEY`: the node shows a link's address once,
//!   so the Link tab keeps it here, in memory, never in a page address or a log).
//! - **Who is asking** ([`SignedIn`]): the session's user read afresh on every request through
//!   `node.users().session_caller` (a user disabled since sign-in, or whose password changed
//!   since — the fingerprint differs — is signed out at once); no session → `303 See Other` to
//!   the sign-in page.
//! - **CSRF** ([`csrf_guard`]): a synchronizer token per session (32 random bytes, hex), made
//!   when the session is (the sign-in page makes an anonymous one, so the sign-in form is
//!   protected too) and renewed at sign-in. Every `POST` must carry it, as the form field `csrf`
//!   (`application/x-www-form-urlencoded`, at most [`MAX_FORM_BYTES`]) or the `X-CSRF-Token`
//!   header (uploads); otherwise `403`. Compared in constant time.
//! - **Secure cookies** ([`secure_cookies`]): the admin listener speaks plain HTTP (loopback by
//!   default); when a TLS-terminating proxy in front says `X-Forwarded-Proto: https`, every
//!   `Set-Cookie` gets `Secure` (of a list, `https, http`, the first value counts: the
//!   client's). A forged header can only add `Secure` (the browser then keeps the cookie off
//!   plain HTTP), never remove it.
//! - **Headers** ([`security_headers`]): a Content-Security-Policy that allows only this origin's
//!   scripts and styles (no inline script anywhere), `frame-ancestors 'none'`, `nosniff`,
//!   `no-referrer`, `no-store`.

use crate::UiState;
use crate::error::UiError;
use crate::store::Sessions;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use casemesh_model::ids::UserId;
use casemesh_service::Caller;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

/// Hours without a request after which a signed-in session ends.
pub const IDLE_HOURS: i64 = 8;
/// Minutes after which the anonymous session of the sign-in page (its CSRF token) ends.
pub const ANONYMOUS_MINUTES: i64 = 30;
/// The session cookie's name.
pub const COOKIE: &str = "casemesh_ui";
/// Largest form body a `POST` may carry (uploads are not forms: they are streamed).
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// The header that carries the CSRF token (uploads).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session key of the signed-in user's id (its presence makes a session signed-in, see
/// [`crate::store`]).
pub(crate) const USER_KEY: &str = "user";
const CSRF_KEY: &str = "csrf";
/// The session key of the fingerprint of the user's password hash at sign-in
/// ([`password_fingerprint`]; never the hash itself).
const PASSWORD_KEY: &str = "pw";

/// The session layer: the in-memory [`Sessions`], cookie `casemesh_ui` on `/ui`, HttpOnly,
/// SameSite=Strict; [`ANONYMOUS_MINUTES`] idle expiry, [`IDLE_HOURS`] once signed in.
pub fn layer() -> SessionManagerLayer<Sessions> {
    SessionManagerLayer::new(Sessions::default())
        .with_name(COOKIE)
        .with_path("/ui")
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        // Set per request by `secure_cookies` (the listener itself is plain HTTP).
        .with_secure(false)
        .with_always_save(true)
        // Anonymous sessions (the sign-in page's); `SignedIn` extends a signed-in one to
        // `IDLE_HOURS` on every request (tower-sessions starts each request at this default).
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            ANONYMOUS_MINUTES,
        )))
}

/// A new random CSRF token: 32 bytes, hex.
fn new_token() -> Result<String, UiError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| UiError::internal(format!("random: {e}")))?;
    Ok(hex::encode(b))
}

/// The session's CSRF token, made now if it has none (the sign-in page of a new visitor).
pub async fn csrf_token(session: &Session) -> Result<String, UiError> {
    if let Some(t) = session
        .get::<String>(CSRF_KEY)
        .await
        .map_err(session_error)?
    {
        return Ok(t);
    }
    let t = new_token()?;
    session.insert(CSRF_KEY, &t).await.map_err(session_error)?;
    Ok(t)
}

/// Sign `caller` in on `session`: a new session id (no fixation), the user, a new CSRF token.
pub async fn sign_in(session: &Session, caller: &Caller) -> Result<(), UiError> {
    session.cycle_id().await.map_err(session_error)?;
    session.set_expiry(Some(signed_in_expiry()));
    session
        .insert(USER_KEY, caller.user.id)
        .await
        .map_err(session_error)?;
    session
        .insert(PASSWORD_KEY, fingerprint(caller))
        .await
        .map_err(session_error)?;
    session
        .insert(CSRF_KEY, new_token()?)
        .await
        .map_err(session_error)?;
    Ok(())
}

/// The fingerprint of `caller`'s current password hash (empty without one).
fn fingerprint(caller: &Caller) -> String {
    caller
        .user
        .password_hash
        .as_deref()
        .map(password_fingerprint)
        .unwrap_or_default()
}

/// A fingerprint of a stored password hash (`User::password_hash`, a PHC string): the first 16
/// bytes of its BLAKE3 hash, as 32 hex characters. A session keeps this from sign-in (never the
/// hash itself) and ends when the user's current fingerprint differs, i.e. when the password
/// was changed (`set_password` draws a new salt, so even the same password differs).
pub fn password_fingerprint(password_hash: &str) -> String {
    hex::encode(&blake3::hash(password_hash.as_bytes()).as_bytes()[..16])
}

fn signed_in_expiry() -> Expiry {
    Expiry::OnInactivity(time::Duration::hours(IDLE_HOURS))
}

/// End the session: its data goes and the cookie is removed.
pub async fn sign_out(session: &Session) -> Result<(), UiError> {
    session.flush().await.map_err(session_error)
}

fn session_error(e: tower_sessions::session::Error) -> UiError {
    UiError::internal(format!("session: {e}"))
}

/// The signed-in user of a request, with the session's CSRF token (for the forms of the page).
/// Extracting it from a request without a valid session redirects to the sign-in page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who is asking, as the use cases take it.
    pub caller: Caller,
    /// The session's CSRF token, to put in the page's forms.
    pub csrf: String,
}

impl FromRequestParts<UiState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &UiState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let to_sign_in = || Redirect::to("/ui/sign-in").into_response();
        let user: Option<UserId> = session.get(USER_KEY).await.ok().flatten();
        let Some(user) = user else {
            return Err(to_sign_in());
        };
        let signed_in_with: Option<String> = session.get(PASSWORD_KEY).await.ok().flatten();
        let caller = match state.node.users().session_caller(user) {
            Ok(c) if signed_in_with.as_deref() == Some(fingerprint(&c).as_str()) => c,
            _ => {
                let _ = session.flush().await;
                return Err(to_sign_in());
            }
        };
        // Activity: a signed-in session lives IDLE_HOURS from this request.
        session.set_expiry(Some(signed_in_expiry()));
        let csrf = csrf_token(&session)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(SignedIn { caller, csrf })
    }
}

/// Refuse (`403`) every `POST` whose CSRF token (form field `csrf` or header `X-CSRF-Token`)
/// is missing or differs from the session's. A form body is read here (at most
/// [`MAX_FORM_BYTES`]) and handed on unchanged; an upload is checked by its header and streamed
/// on untouched.
pub async fn csrf_guard(session: Session, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let expected: Option<String> = session.get(CSRF_KEY).await.ok().flatten();
    let Some(expected) = expected else {
        return forbidden();
    };
    if let Some(given) = req.headers().get(CSRF_HEADER) {
        return if same(given.as_bytes(), expected.as_bytes()) {
            next.run(req).await
        } else {
            forbidden()
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return forbidden();
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response(),
    };
    let given = form_urlencoded_field(&bytes, CSRF_FIELD);
    if !given.is_some_and(|g| same(g.as_bytes(), expected.as_bytes())) {
        return forbidden();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The first value of `field` in a urlencoded form body.
fn form_urlencoded_field(body: &[u8], field: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v)
}

fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn forbidden() -> Response {
    UiError::forbidden(
        "This form has expired or did not come from this page (missing or wrong CSRF token). \
         Go back, reload the page and try again."
            .into(),
    )
    .into_response()
}

/// Add `Secure` to every `Set-Cookie` of a response to a request that reached the proxy in
/// front over TLS (`X-Forwarded-Proto: https`).
pub async fn secure_cookies(req: Request, next: Next) -> Response {
    let tls = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
        || req.uri().scheme_str() == Some("https");
    let mut resp = next.run(req).await;
    if tls {
        let cookies: Vec<HeaderValue> = resp
            .headers_mut()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| {
                let s = v.to_str().unwrap_or_default();
                if s.to_ascii_lowercase().contains("; secure") {
                    v.clone()
                } else {
                    HeaderValue::from_str(&format!("{s}; Secure")).unwrap_or_else(|_| v.clone())
                }
            })
            .collect();
        resp.headers_mut().remove(header::SET_COOKIE);
        for c in cookies {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    resp
}

/// The security headers of every UI response (see the module doc).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
