//! The public link server: the only endpoint a recipient outside the organization talks to. It
//! listens on its own address (`[link] listen`, default `127.0.0.1:7071`), apart from the admin
//! endpoint, and serves nothing but:
//!
//! | route                         | answer                                                      |
//! |-------------------------------|-------------------------------------------------------------|
//! | `GET /l/<token>`              | landing page: case title, message, size, expiry, button     |
//! | `GET/HEAD /l/<token>/download`| the package, with `Range` support (206 + `Content-Range`)   |
//!
//! Unknown token → 404; expired or revoked → 410; still building → 503 with `Retry-After`. The
//! bodies of these answers are fixed texts that say nothing about the case. Failed guesses
//! (404 on a token route) count per client IP in the links service's
//! [`RateLimiter`](casemesh_links::limiter::RateLimiter): past
//! [`MAX_FAILURES`](casemesh_links::limiter::MAX_FAILURES) within
//! [`WINDOW`](casemesh_links::limiter::WINDOW), that IP gets 429 on every route until the window
//! ends. Every download is recorded
//! in the case's audit trail (`link.download`: link id, client address, range). No request
//! logging layer here: URLs hold tokens, and tokens stay out of the logs.

use super::{LinkRecord, LinkStatus};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use casemesh_links::contents::html_escape;
use std::net::SocketAddr;
use std::time::Duration;

/// Seconds a client is told to wait while a package is still being built.
pub const RETRY_AFTER_PROCESSING_SECS: u64 = 10;

/// The public link server's router (serve it with `casemesh_service::serve`, which provides the client
/// address).
pub fn public_router(state: AppState) -> Router {
    Router::new()
        .route("/l/{token}", get(landing))
        .route("/l/{token}/download", get(download))
        .fallback(fallback)
        .with_state(state)
}

const PAGE_STYLE: &str = "body{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}\
    .button{display:inline-block;padding:.7em 1.4em;background:#1a5fb4;color:#fff;text-decoration:none;border-radius:4px}\
    .message{white-space:pre-wrap;border-left:3px solid #999;padding-left:1em}";

/// A small fixed HTML page with security headers.
fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{PAGE_STYLE}</style></head><body>\n{body_html}\n</body></html>\n"
    );
    harden(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
    )
}

/// Headers every public answer carries: no caching, no referrer (URLs hold tokens), no sniffing,
/// no scripts.
fn harden(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        "<h1>Not found</h1><p>There is no download at this address.</p>",
    )
}

fn gone() -> Response {
    page(
        StatusCode::GONE,
        "Link no longer available",
        "<h1>Link no longer available</h1><p>This download link has expired or was withdrawn. \
         Ask the sender for a new link.</p>",
    )
}

fn too_many(wait: Duration) -> Response {
    let mut resp = page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        "<h1>Too many requests</h1><p>Too many invalid links were tried from your address. \
         Try again later.</p>",
    );
    let secs = wait.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn processing() -> Response {
    let mut resp = page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Being prepared",
        "<h1>Your download is being prepared</h1><p>Please try again in a moment.</p>",
    );
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_AFTER_PROCESSING_SECS),
    );
    resp
}

fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "<h1>Download unavailable</h1><p>This download cannot be served. Please contact the sender.</p>",
    )
}

async fn fallback(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(wait) = state.links.limiter().blocked(addr.ip()) {
        return too_many(wait);
    }
    not_found()
}

/// The link behind `token` if it may be served now, else the answer to give.
async fn admit(state: &AppState, addr: SocketAddr, token: &str) -> Result<LinkRecord, Response> {
    let ip = addr.ip();
    if let Some(wait) = state.links.limiter().blocked(ip) {
        return Err(too_many(wait));
    }
    let found = {
        let (links, token) = (state.links.clone(), token.to_owned());
        tokio::task::spawn_blocking(move || links.find_by_token(&token)).await
    };
    let link = match found {
        Ok(Ok(Some(link))) => link,
        Ok(Ok(None)) => {
            state.links.limiter().fail(ip);
            tracing::info!(client = %ip, "unknown download link token");
            return Err(not_found());
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "looking up a download link");
            return Err(unavailable());
        }
        Err(e) => {
            tracing::error!(error = %e, "looking up a download link");
            return Err(unavailable());
        }
    };
    match link.status(state.clock.now()) {
        LinkStatus::Ready => Ok(link),
        LinkStatus::Processing => Err(processing()),
        LinkStatus::Expired | LinkStatus::Revoked => Err(gone()),
        LinkStatus::Failed => Err(unavailable()),
    }
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `GET /l/<token>`: the landing page.
async fn landing(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    let link = match admit(&state, addr, &token).await {
        Ok(link) => link,
        Err(resp) => return resp,
    };
    let title = state
        .links
        .case_of(&link)
        .ok()
        .flatten()
        .map(|c| c.title)
        .unwrap_or_default();
    let e = html_escape;
    let message = if link.message.is_empty() {
        String::new()
    } else {
        format!(
            "<p>Message from the sender:</p><p class=\"message\">{}</p>",
            e(&link.message)
        )
    };
    let body = format!(
        "<h1>{title}</h1>\n<p>{org} shared this case with you as a {fmt} package.</p>\n{message}\n\
         <p>Size: {size}<br>Available until: {expires}</p>\n\
         <p><a class=\"button\" href=\"{token}/download\" download>Download</a></p>\n\
         <p><small>The package holds a manifest signed by the sender's organization key; check it \
         offline with <code>casemesh verify FILE</code>.</small></p>",
        title = e(&title),
        org = e(&state.org.name),
        fmt = link.format.extension().to_uppercase(),
        size = e(&human_size(link.package_size())),
        expires = e(&link.expires_at.to_string()),
        token = e(&token),
    );
    page(StatusCode::OK, &e(&title), &body)
}

/// `GET|HEAD /l/<token>/download`: the package, with `Range` support.
async fn download(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let link = match admit(&state, addr, &token).await {
        Ok(link) => link,
        Err(resp) => return resp,
    };
    let path = state.links.package_path(&link);
    let is_get = req.method() == Method::GET;
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(100).collect::<String>());
    let served = tower_http::services::ServeFile::new(&path)
        .with_buf_chunk_size(1 << 20)
        .try_call(req)
        .await;
    let resp = match served {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(link = %link.id, error = %e, "cannot serve package");
            return unavailable();
        }
    };
    let (mut parts, body) = resp.into_parts();
    if parts.status == StatusCode::NOT_FOUND {
        tracing::error!(link = %link.id, path = %path.display(), "package file missing");
        return unavailable();
    }
    let case_number = state
        .links
        .case_of(&link)
        .ok()
        .flatten()
        .map(|c| c.case_number)
        .unwrap_or_else(|| "case".into());
    let ascii: String = casemesh_package::sanitize_segment(&case_number)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}.{}\"",
        link.format.extension()
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        parts.headers.insert(header::CONTENT_DISPOSITION, v);
    }
    let status = parts.status;
    if status.is_success() && link.format == super::PackageFormat::Iso {
        // mime_guess knows `.iso` only as application/octet-stream.
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-iso9660-image"),
        );
    }
    if is_get && status.is_success() {
        if let Err(e) = state
            .links
            .record_download(&link, addr, range.as_deref(), status.as_u16())
        {
            tracing::error!(link = %link.id, error = %e, "cannot record a download; refusing it");
            return unavailable();
        }
        tracing::info!(link = %link.id, client = %addr, status = status.as_u16(), "package download");
    }
    harden(Response::from_parts(parts, Body::new(body)))
}
