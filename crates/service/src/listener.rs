//! The node's HTTP listeners (admin endpoint, public link server): an accept loop that a slow or
//! hostile client cannot hold up (issue #16 item 2).
//!
//! ```text
//!  accept ── a permit of max_connections (else wait in the kernel's backlog)
//!    └─ one task per connection in a JoinSet: hyper HTTP/1.1, header_read_timeout
//!         └─ Timeout (request_timeout → 408) ─ GlobalConcurrencyLimit (max_concurrent_requests)
//!              ─ RequestBodyTimeout (body_idle_timeout) ─ the router (ConnectInfo<SocketAddr>)
//!  shutdown ── stop accepting ── every connection finishes its request and closes ── after
//!              shutdown_grace the connections still open are dropped
//! ```
//!
//! Why not `axum::serve`: it sets no timer, so hyper's header-read timeout never fires (a client
//! that sends half a request line is kept until it leaves), and its graceful shutdown waits for
//! every connection with no deadline (such a client held a SIGTERM for 109 s). The pieces are the
//! ones axum itself uses — hyper's connection, hyper-util's tokio IO and timer, tower and
//! tower-http layers — in a loop of ~60 lines. HTTP/1.1 only: hyper-util's HTTP/2 detection reads
//! the first bytes without any timer, and no client of either listener speaks cleartext HTTP/2.

use crate::config::HttpConfig;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// "No limit" for the timeouts that may be switched off (tokio saturates far deadlines).
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request line and headers (and the idle time of a kept-alive connection).
    pub header_read_timeout: Duration,
    /// Time until a request's answer starts; past it, 408.
    pub request_timeout: Duration,
    /// Longest stall of a request body between two pieces.
    pub body_idle_timeout: Duration,
    /// Open connections at once.
    pub max_connections: usize,
    /// Requests handled at once (until their answer starts).
    pub max_concurrent_requests: usize,
    /// How long shutdown waits for open connections before dropping them.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The limits `[http]` sets, with this listener's request timeout (seconds, 0 = none).
    pub fn new(http: &HttpConfig, request_timeout_secs: u64) -> Limits {
        let secs = |s: u64| {
            if s == 0 {
                NEVER
            } else {
                Duration::from_secs(s)
            }
        };
        Limits {
            header_read_timeout: Duration::from_secs(http.header_read_timeout_secs.max(1)),
            request_timeout: secs(request_timeout_secs),
            body_idle_timeout: secs(http.body_idle_timeout_secs),
            max_connections: http.max_connections.max(1),
            max_concurrent_requests: http.max_concurrent_requests.max(1),
            shutdown_grace: Duration::from_secs(http.shutdown_grace_secs),
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(&HttpConfig::default(), 30)
    }
}

/// Serve `router` on `listener` within `limits` until `shutdown` resolves, then let requests in
/// flight finish for at most `limits.shutdown_grace`. The handlers see the client's address
/// (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = tower::ServiceBuilder::new()
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(
            Arc::new(Semaphore::new(limits.max_concurrent_requests)),
        ))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_idle_timeout,
        ))
        .service(router);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let closing = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = service
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
        let closing = closing.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let mut conn = pin!(
                hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            );
            let served = tokio::select! {
                served = conn.as_mut() => served,
                _ = closing.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                tracing::debug!(client = %peer, error = %e, "HTTP connection ended");
            }
        });
    }
    drop(listener);
    closing.cancel();
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len(),
            grace = ?limits.shutdown_grace,
            "closing HTTP connections still open after the shutdown grace period"
        );
        tasks.shutdown().await;
    }
    Ok(())
}
