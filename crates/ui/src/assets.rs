//! The UI's static files, compiled into the binary (no build step, nothing to install next to
//! it): `static/ui.css` and `static/ui.js` (plain JavaScript: dialogs, the upload progress bar,
//! the share status refresh) and `static/received.js` (the Review updates page's select-all).
//! Served under `/ui/static/` with their media types; the browser may keep them for an hour.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../static/ui.css");
const JS: &str = include_str!("../static/ui.js");
const RECEIVED_JS: &str = include_str!("../static/received.js");

/// `GET /ui/static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, media_type) = match file.as_str() {
        "ui.css" => (CSS, "text/css; charset=utf-8"),
        "ui.js" => (JS, "text/javascript; charset=utf-8"),
        "received.js" => (RECEIVED_JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
