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
//! bodies of these answers are fixed texts that say nothing about the case. No request logging
//! layer here: URLs hold tokens, and tokens stay out of the logs.
//!
//! The rules themselves are pure functions of the links service, unit-tested there:
//! - **who asks** — [`client`](casemesh_links::client): the peer, or behind a trusted proxy the
//!   forwarded client; IPv6 by /64;
//! - **wrong guesses** — [`limiter`](casemesh_links::limiter): a wrong token beyond the
//!   client's allowance is 429 instead of 404; a valid token is always served;
//! - **which bytes** — [`range`](casemesh_links::range): RFC 9110 Range and If-Range (single
//!   range, several → `multipart/byteranges`, 416 with `Content-Range: bytes */SIZE`), `HEAD`
//!   ignores Range;
//! - **what is audited** — [`downloads`](casemesh_links::downloads): a download (a client's run
//!   of requests for one package version) is audited once (`link.download`) and counted once.

use super::LinkRecord;
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use casemesh_links::client::ClientKey;
use casemesh_links::contents::html_escape;
use casemesh_links::range::{self, Answer};
use casemesh_service::PublicLinkError;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncSeekExt as _};

/// Bytes read from a package file at a time while serving it.
const READ_CHUNK: usize = 1 << 20;

/// Seconds a client is told to wait while a package is still being built.
pub const RETRY_AFTER_PROCESSING_SECS: u64 = 10;

/// The public link server's router (serve it with `casemesh_service::serve`, which provides the client
/// address).
pub fn public_router(state: AppState) -> Router {
    Router::new()
        .route("/l/{token}", get(landing))
        .route("/l/{token}/download", get(download))
        .method_not_allowed_fallback(method_not_allowed)
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

async fn fallback() -> Response {
    not_found()
}

/// A link asked with another method than `GET`/`HEAD`: 405 with a page (axum's own 405 has an
/// empty body; it adds the `Allow` header).
async fn method_not_allowed() -> Response {
    page(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "<h1>Method not allowed</h1><p>Open the download link in a browser.</p>",
    )
}

/// The key the client of a request is counted under (see [`casemesh_links::client`]).
fn client_key(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> ClientKey {
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    state.links.client_key(peer, forwarded)
}

/// The link behind `token` if it may be served now (the use case
/// [`casemesh_service::PublicLinks::admit`]), else the page to answer.
async fn admit(state: &AppState, client: ClientKey, token: &str) -> Result<LinkRecord, Response> {
    state.links.admit(client, token).await.map_err(refused)
}

/// The fixed page for a refusal of the public side: it says nothing about the case.
fn refused(e: PublicLinkError) -> Response {
    match e {
        PublicLinkError::NotFound => not_found(),
        PublicLinkError::TooManyGuesses { wait } => too_many(wait),
        PublicLinkError::Gone => gone(),
        PublicLinkError::Processing => processing(),
        _ => unavailable(),
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
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let client = client_key(&state, addr, &headers);
    let link = match admit(&state, client, &token).await {
        Ok(link) => link,
        Err(resp) => return resp,
    };
    let title = state
        .links
        .case_of(&link)
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
         offline with <code>casemesh verify FILE --org-key {org_id}</code> (the sender's \
         organization id: confirm it with the sender, not only from this page).</small></p>",
        title = e(&title),
        org = e(&state.org.name),
        org_id = e(state.org.id.as_str()),
        fmt = link.format.extension().to_uppercase(),
        size = e(&human_size(link.package_size())),
        expires = e(&link.expires_at.to_string()),
        token = e(&token),
    );
    page(StatusCode::OK, &e(&title), &body)
}

/// `GET|HEAD /l/<token>/download`: the package, answered by the Range rules of
/// [`casemesh_links::range`].
async fn download(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let client = client_key(&state, addr, &headers);
    let link = match admit(&state, client, &token).await {
        Ok(link) => link,
        Err(resp) => return resp,
    };
    let path = state.links.package_path(&link);
    let (file, size, modified) = match open_package(&path).await {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(link = %link.id, path = %path.display(), error = %e, "cannot open package file");
            return unavailable();
        }
    };
    let Some(etag) = link.etag() else {
        return unavailable();
    };
    let is_get = method == Method::GET;
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let range_header = header(header::RANGE);
    // Range is defined for GET only (RFC 9110 §14.2): HEAD describes the whole package.
    let answer = if is_get
        && range::if_range_holds(
            header(header::IF_RANGE).as_deref(),
            &etag,
            modified,
            SystemTime::now(),
        ) {
        range::resolve(range_header.as_deref(), size)
    } else {
        Answer::Full
    };
    let content_type = match link.format {
        super::PackageFormat::Zip => "application/zip",
        // mime_guess knows `.iso` only as application/octet-stream.
        super::PackageFormat::Iso => "application/x-iso9660-image",
    };
    let built = match &answer {
        Answer::Full => Ok((
            StatusCode::OK,
            vec![(header::CONTENT_TYPE, content_type.to_owned())],
            size,
            Box::new(file) as Box<dyn AsyncRead + Send + Unpin>,
        )),
        Answer::Partial(ranges) if ranges.len() == 1 => {
            let r = &ranges[0];
            let len = r.end() - r.start() + 1;
            seek_take(file, *r.start(), len).await.map(|reader| {
                (
                    StatusCode::PARTIAL_CONTENT,
                    vec![
                        (header::CONTENT_TYPE, content_type.to_owned()),
                        (
                            header::CONTENT_RANGE,
                            format!("bytes {}-{}/{size}", r.start(), r.end()),
                        ),
                    ],
                    len,
                    reader,
                )
            })
        }
        Answer::Partial(ranges) => {
            let boundary = range::new_boundary();
            let layout = range::multipart(ranges, size, content_type, &boundary);
            multipart_body(&path, &layout).await.map(|reader| {
                (
                    StatusCode::PARTIAL_CONTENT,
                    vec![(
                        header::CONTENT_TYPE,
                        format!("multipart/byteranges; boundary={boundary}"),
                    )],
                    layout.len,
                    reader,
                )
            })
        }
        Answer::Unsatisfiable => {
            let mut resp = page(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "Range not satisfiable",
                "<h1>Range not satisfiable</h1><p>The requested range is not part of this download.</p>",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            resp.headers_mut()
                .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return resp;
        }
    };
    let (status, mut out, len, reader) = match built {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(link = %link.id, error = %e, "cannot read package file");
            return unavailable();
        }
    };
    out.push((header::CONTENT_LENGTH, len.to_string()));
    out.push((header::ACCEPT_RANGES, "bytes".to_owned()));
    out.push((header::ETAG, etag.clone()));
    if let Some(m) = modified {
        out.push((header::LAST_MODIFIED, range::http_date(m)));
    }
    out.push((header::CONTENT_DISPOSITION, disposition(&state, &link)));

    if is_get
        && let Err(e) = state.links.record_download(
            &link,
            client,
            &etag,
            range_header.as_deref(),
            status.as_u16(),
        )
    {
        return refused(e);
    }
    let body = if is_get {
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            reader, READ_CHUNK,
        ))
    } else {
        Body::empty()
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    for (name, value) in out {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    harden(resp)
}

/// `attachment; filename="<Case ID>.<ext>"`, the case number made ASCII-safe.
fn disposition(state: &AppState, link: &LinkRecord) -> String {
    let case_number = state
        .links
        .case_of(link)
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
    format!(
        "attachment; filename=\"{ascii}.{}\"",
        link.format.extension()
    )
}

/// The package file, its size and modification time.
async fn open_package(
    path: &std::path::Path,
) -> std::io::Result<(tokio::fs::File, u64, Option<SystemTime>)> {
    let file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    Ok((file, meta.len(), meta.modified().ok()))
}

/// `len` bytes of `file` from `start`.
async fn seek_take(
    mut file: tokio::fs::File,
    start: u64,
    len: u64,
) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin>> {
    file.seek(std::io::SeekFrom::Start(start)).await?;
    Ok(Box::new(file.take(len)))
}

/// The `multipart/byteranges` body laid out in `layout`: each part's head, then its bytes
/// (from a handle of its own), then the closing delimiter.
async fn multipart_body(
    path: &std::path::Path,
    layout: &range::Multipart,
) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin>> {
    let mut reader: Box<dyn AsyncRead + Send + Unpin> = Box::new(tokio::io::empty());
    for part in &layout.parts {
        let file = tokio::fs::File::open(path).await?;
        let len = part.range.end() - part.range.start() + 1;
        let bytes = seek_take(file, *part.range.start(), len).await?;
        let head = std::io::Cursor::new(part.head.clone().into_bytes());
        reader = Box::new(reader.chain(head).chain(bytes));
    }
    let tail = std::io::Cursor::new(layout.tail.clone().into_bytes());
    Ok(Box::new(reader.chain(tail)))
}
