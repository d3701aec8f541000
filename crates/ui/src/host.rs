//! The DNS-rebinding guard of the admin listener (API and UI): a web page on another site can
//! make its own name resolve to 127.0.0.1 and then talk to the loopback listener from the
//! victim's browser as a "same-origin" page. Such a request still carries the attacker's name in
//! `Host`, so while the listener is bound to a loopback address, a request whose `Host` is not a
//! loopback name (`localhost`, `127.0.0.0/8`, `[::1]`, each with an optional `:port`) is refused
//! with `421 Misdirected Request`. A request without `Host` (HTTP/1.0 tools) passes: browsers
//! always send it. On a non-loopback listener (behind a proxy, on purpose) nothing is checked.
//! Used by `casemesh_api::frontend` as a layer over the whole admin router.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether `host` (a `Host` header value: name or address, optional `:port`) names this machine
/// by loopback: `localhost` (any case, optional trailing dot), an address in `127.0.0.0/8`, or
/// `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let port_ok = |p: &str| p.is_empty() || (p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if let Some(rest) = host.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        let port = if after.is_empty() {
            ""
        } else if let Some(p) = after.strip_prefix(':') {
            if p.is_empty() {
                return false;
            }
            p
        } else {
            return false;
        };
        return port_ok(port) && addr.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback());
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !p.is_empty() => (n, p),
        Some(_) => return false,
        None => (host, ""),
    };
    if !port_ok(port) {
        return false;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// Refuse (`421`) a request whose `Host` is not a loopback name, when `loopback_listener` (the
/// admin listener is bound to a loopback address); otherwise pass it on.
pub async fn guard(loopback_listener: bool, req: Request, next: Next) -> Response {
    if loopback_listener {
        let host = req
            .headers()
            .get(header::HOST)
            .map(|h| h.to_str().unwrap_or("\u{fffd}").to_owned())
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
        if let Some(host) = host
            && !is_loopback_host(&host)
        {
            tracing::warn!(host = ?host, path = %req.uri().path(), "refused a request for a foreign Host on the loopback admin listener");
            return (
                StatusCode::MISDIRECTED_REQUEST,
                "This endpoint answers only to localhost, 127.0.0.1 or [::1] (the Host header names another site).\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_others() {
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.:1",
            "127.0.0.1",
            "127.0.0.1:7300",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:7300",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:7300",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.1:7300",
            "[::2]:1",
            "[::1]x",
            "localhost:",
            "localhost:abc",
            "[::1",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
