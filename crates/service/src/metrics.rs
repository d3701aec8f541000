//! The node's Prometheus metrics, in one place: `GET /metrics` on the admin listener.
//!
//! Two kinds of figures, kept apart so that nothing else in the node has to carry a counter:
//! - **HTTP** figures are counted as requests pass: [`Metrics::instrument`] wraps both routers
//!   (admin and public link server) in a middleware that counts each request by listener,
//!   method, route template and status, and times it (`casemesh_http_requests_total`,
//!   `casemesh_http_request_duration_seconds`). Routes are the router's templates
//!   (`/l/{token}`, never a token), unmatched paths count as `unmatched`, so the label sets stay
//!   few.
//! - **Everything else is read at scrape time** from where it already lives ([`Snapshot`]): per
//!   partner traffic, transfers in flight, outbox and dead letters from the sharing engine and
//!   the net actor (`Engine::peers`, the same figures as `casemesh peers`); share, mail, link
//!   and case figures from the store's tables; blob count, bytes and free space from the blob
//!   store. Counters that live elsewhere (bytes per partner, link downloads) are exposed as
//!   counters: they only grow while the process runs (the net counters restart at 0 with the
//!   process, which Prometheus' `rate()` handles).
//!
//! ```text
//!  request ──► instrument (middleware) ──► router ──► handler      counts + times every request
//!  GET /metrics ──► Node::render_metrics ──► Snapshot::gather (engine, net actor, store)
//!                                       └──► registry: HTTP families + SnapshotCollector ──► text
//! ```
//!
//! The output is OpenMetrics text (`application/openmetrics-text; version=1.0.0`), which
//! Prometheus scrapes natively; names carry their unit (`_bytes`, `_seconds`) and counters end
//! in `_total`.
//!
//! Cost of a scrape: one round trip to the net actor, a read of the partner, share, link and
//! mail tables and of the outbox queues, and a walk of the blob directory (one `stat` per blob;
//! done on a blocking thread). Scrapes are serialized, so a burst of scrapers cannot multiply it.

use crate::Node;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use casemesh_model::ids::OrgId;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric as _, MetricEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The `Content-Type` of [`Node::render_metrics`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `casemesh_http_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// `admin` or `links`.
    listener: &'static str,
    method: &'static str,
    /// The route template, or `unmatched`.
    route: String,
    status: u16,
}

/// Labels of `casemesh_http_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    listener: &'static str,
    route: String,
}

/// The HTTP families, shared with the middleware of both listeners.
#[derive(Clone)]
struct Http {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram>,
}

/// The node's metrics registry (one per node).
pub struct Metrics {
    registry: Registry,
    http: Http,
    snapshot: Arc<SnapshotCollector>,
    /// One scrape at a time: a scrape sets the snapshot, then encodes it.
    scrape: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// An empty registry with the HTTP families and the scrape-time collector.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("casemesh");
        let http = Http {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                // 1 ms … ~16 s.
                Histogram::new(exponential_buckets(0.001, 2.0, 15))
            }),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by listener (admin, links), method, route template and status",
            http.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to the response head, by listener and route template",
            Unit::Seconds,
            http.duration.clone(),
        );
        let snapshot = Arc::new(SnapshotCollector::default());
        registry.register_collector(Box::new(snapshot.clone()));
        Metrics {
            registry,
            http,
            snapshot,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Register libp2p's own metrics (connections established and closed, dial and incoming
    /// connection errors, identify and ping figures: the `casemesh_libp2p_*` families) in this
    /// registry, and return the recorder to hand to the net layer
    /// (`casemesh_net::Config::with_metrics`). Call once, before the net layer starts.
    pub fn register_net(&mut self) -> casemesh_net::NetMetrics {
        casemesh_net::NetMetrics::register(&mut self.registry)
    }

    /// Count and time every request `router` answers, as `listener` (`admin` or `links`).
    pub fn instrument(&self, router: axum::Router, listener: &'static str) -> axum::Router {
        let http = self.http.clone();
        router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let http = http.clone();
                async move {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| "unmatched".to_owned());
                    let method = method_label(req.method());
                    let start = Instant::now();
                    let response = next.run(req).await;
                    http.duration
                        .get_or_create(&RouteLabels {
                            listener,
                            route: route.clone(),
                        })
                        .observe(start.elapsed().as_secs_f64());
                    http.requests
                        .get_or_create(&RequestLabels {
                            listener,
                            method,
                            route,
                            status: response.status().as_u16(),
                        })
                        .inc();
                    response
                }
            },
        ))
    }

    /// Both routers of a node, instrumented (`admin`, `links`).
    pub(crate) fn instrument_routers(&self, routers: crate::Routers) -> crate::Routers {
        crate::Routers {
            admin: self.instrument(routers.admin, "admin"),
            public: self.instrument(routers.public, "links"),
        }
    }

    /// Encode the registry with `snapshot` as the scrape-time figures.
    fn encode(&self, snapshot: Snapshot) -> String {
        *self
            .snapshot
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = snapshot;
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        text
    }
}

/// A bounded method label (anything unusual is `other`).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Node {
    /// The node's metrics registry (see [`crate::metrics`]).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Gather the scrape-time figures and encode every metric as OpenMetrics text
    /// ([`CONTENT_TYPE`]). A figure whose source fails is left out (and logged); the rest is
    /// still served.
    pub async fn render_metrics(&self) -> String {
        let metrics = self.metrics();
        let _one_at_a_time = metrics.scrape.lock().await;
        let snapshot = Snapshot::gather(self).await;
        metrics.encode(snapshot)
    }
}

/// One partner's figures (from `Engine::peers`).
#[derive(Debug, Clone, Default)]
struct PartnerFigures {
    connected: bool,
    bytes_sent: u64,
    bytes_received: u64,
    messages_sent: u64,
    messages_received: u64,
    transfers_in_flight: u64,
    outbox: u64,
    dead_letters: u64,
}

/// The figures read at scrape time. `None` = that source failed this time.
#[derive(Debug, Default)]
struct Snapshot {
    /// By peer id.
    partners: Option<BTreeMap<OrgId, PartnerFigures>>,
    /// Outgoing shares by status.
    shares_out: Option<BTreeMap<&'static str, u64>>,
    /// Received shares by status.
    shares_in: Option<BTreeMap<&'static str, u64>>,
    mail_queued: Option<u64>,
    mail_failed: Option<u64>,
    /// Links by status.
    links: Option<BTreeMap<&'static str, u64>>,
    link_downloads: Option<u64>,
    link_builds_in_flight: u64,
    /// Cases by origin (`local`, `received`).
    cases: Option<BTreeMap<&'static str, u64>>,
    /// Blob files and their bytes.
    blobs: Option<(u64, u64)>,
    free_bytes: Option<u64>,
}

/// Log a source that failed and drop its figure.
fn ok_or_log<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Option<T> {
    r.map_err(|e| tracing::warn!(source = what, error = %e, "metrics: figure unavailable"))
        .ok()
}

impl Snapshot {
    async fn gather(node: &Node) -> Snapshot {
        use casemesh_sharing::records::{
            MAIL_FAILED, MAIL_QUEUE, ReceivedStatus, SHARES, ShareStatus,
        };
        let partners = ok_or_log("partners", node.sharing().peers().await).map(|peers| {
            peers
                .into_iter()
                .map(|p| {
                    let f = PartnerFigures {
                        connected: p.connected,
                        bytes_sent: p.bytes_sent,
                        bytes_received: p.bytes_received,
                        messages_sent: p.messages_sent,
                        messages_received: p.messages_received,
                        transfers_in_flight: p.transfers_in_flight,
                        outbox: p.outbox_queued,
                        dead_letters: p.dead_letters.len() as u64,
                    };
                    (p.peer_id, f)
                })
                .collect()
        });
        let link_builds_in_flight = node.links().builds_in_flight() as u64;
        let now = node.clock().now();
        let owned = node.clone();
        // The rest reads tables and walks the blob directory: off the async threads (on the
        // node's request tasks, so shutdown closes the store only after it).
        let read = node
            .blocking(move || {
                let node = owned;
                let store = node.store();
                let shares_out = ok_or_log("shares", store.all(&SHARES)).map(|shares| {
                    let mut by = counts([
                        "processing",
                        "complete",
                        "stopped",
                        "failed",
                        "pending_approval",
                    ]);
                    for s in shares {
                        *by.entry(match s.status {
                            ShareStatus::Processing => "processing",
                            ShareStatus::Complete => "complete",
                            ShareStatus::Stopped => "stopped",
                            ShareStatus::Failed => "failed",
                            ShareStatus::PendingApproval => "pending_approval",
                        })
                        .or_default() += 1;
                    }
                    by
                });
                let shares_in =
                    ok_or_log("received shares", node.sharing().received()).map(|all| {
                        let mut by = counts(["pending", "importing", "imported", "stopped"]);
                        for s in all {
                            *by.entry(match s.status {
                                ReceivedStatus::Pending => "pending",
                                ReceivedStatus::Importing => "importing",
                                ReceivedStatus::Imported => "imported",
                                ReceivedStatus::Stopped => "stopped",
                            })
                            .or_default() += 1;
                        }
                        by
                    });
                let mail_queued = ok_or_log(
                    "mail queue",
                    store.queue_items::<serde::de::IgnoredAny>(MAIL_QUEUE),
                )
                .map(|q| q.len() as u64);
                let mail_failed =
                    ok_or_log("mail failures", store.all(&MAIL_FAILED)).map(|f| f.len() as u64);
                let links = ok_or_log("links", store.all(&casemesh_links::LINKS));
                let link_downloads = links.as_ref().map(|l| l.iter().map(|l| l.downloads).sum());
                let links = links.map(|all| {
                    use casemesh_links::LinkStatus;
                    let mut by = counts(["processing", "ready", "failed", "expired", "revoked"]);
                    for l in all {
                        *by.entry(match l.status(now) {
                            LinkStatus::Processing => "processing",
                            LinkStatus::Ready => "ready",
                            LinkStatus::Failed => "failed",
                            LinkStatus::Expired => "expired",
                            LinkStatus::Revoked => "revoked",
                        })
                        .or_default() += 1;
                    }
                    by
                });
                let cases = ok_or_log("cases", store.cases()).map(|all| {
                    let mut by = counts(["local", "received"]);
                    for c in all {
                        let origin = match c.origin {
                            casemesh_model::case::Origin::Local => "local",
                            _ => "received",
                        };
                        *by.entry(origin).or_default() += 1;
                    }
                    by
                });
                let blobs = ok_or_log("blobs", store.blobs().list())
                    .map(|l| (l.len() as u64, l.iter().map(|(_, s)| s).sum()));
                let free_bytes = ok_or_log("free space", store.blobs().available_space());
                Snapshot {
                    partners: None,
                    shares_out,
                    shares_in,
                    mail_queued,
                    mail_failed,
                    links,
                    link_downloads,
                    link_builds_in_flight,
                    cases,
                    blobs,
                    free_bytes,
                }
            })
            .await;
        let mut snapshot = ok_or_log("store figures", read).unwrap_or_default();
        snapshot.partners = partners;
        snapshot.link_builds_in_flight = link_builds_in_flight;
        snapshot
    }
}

/// A map with every key present at 0, so each series exists from the first scrape.
fn counts<const N: usize>(keys: [&'static str; N]) -> BTreeMap<&'static str, u64> {
    keys.into_iter().map(|k| (k, 0)).collect()
}

/// Encodes the last [`Snapshot`] (set by [`Metrics::encode`] right before it encodes).
#[derive(Debug, Default)]
struct SnapshotCollector {
    current: Mutex<Snapshot>,
}

/// One descriptor and its samples.
fn family<'a>(
    encoder: &'a mut DescriptorEncoder<'_>,
    name: &'a str,
    help: &str,
    unit: Option<&'a Unit>,
    kind: MetricType,
) -> Result<MetricEncoder<'a>, std::fmt::Error> {
    encoder.encode_descriptor(name, help, unit, kind)
}

fn gauge(m: MetricEncoder<'_>, v: u64) -> std::fmt::Result {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(m)
}

fn counter(m: MetricEncoder<'_>, v: u64) -> std::fmt::Result {
    ConstCounter::new(v).encode(m)
}

/// A gauge family with one label.
fn labelled_gauges(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: &BTreeMap<&'static str, u64>,
) -> std::fmt::Result {
    let mut m = family(encoder, name, help, None, MetricType::Gauge)?;
    for (k, v) in values {
        gauge(m.encode_family(&[(label, *k)])?, *v)?;
    }
    Ok(())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let s = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let e = &mut encoder;
        if let Some(partners) = &s.partners {
            gauge(
                family(
                    e,
                    "partners",
                    "Registered partner organizations",
                    None,
                    MetricType::Gauge,
                )?,
                partners.len() as u64,
            )?;
            gauge(
                family(
                    e,
                    "partners_connected",
                    "Partners with at least one open connection",
                    None,
                    MetricType::Gauge,
                )?,
                partners.values().filter(|p| p.connected).count() as u64,
            )?;
            type Pick = fn(&PartnerFigures) -> u64;
            let per_partner: [(&str, &str, Option<Unit>, MetricType, Pick); 7] = [
                (
                    "p2p_received",
                    "Bytes received from the partner since start (control frames and blob streams)",
                    Some(Unit::Bytes),
                    MetricType::Counter,
                    |p| p.bytes_received,
                ),
                (
                    "p2p_sent",
                    "Bytes sent to the partner since start (control frames and blob streams)",
                    Some(Unit::Bytes),
                    MetricType::Counter,
                    |p| p.bytes_sent,
                ),
                (
                    "p2p_messages_received",
                    "Control messages received from the partner since start",
                    None,
                    MetricType::Counter,
                    |p| p.messages_received,
                ),
                (
                    "p2p_messages_sent",
                    "Control messages sent to the partner since start",
                    None,
                    MetricType::Counter,
                    |p| p.messages_sent,
                ),
                (
                    "transfers_in_flight",
                    "Blob transfers in progress with the partner, both directions",
                    None,
                    MetricType::Gauge,
                    |p| p.transfers_in_flight,
                ),
                (
                    "outbox_messages",
                    "Control messages queued in the durable outbox for the partner",
                    None,
                    MetricType::Gauge,
                    |p| p.outbox,
                ),
                (
                    "outbox_dead_letters",
                    "Messages that can never be delivered to the partner (see casemesh peers)",
                    None,
                    MetricType::Gauge,
                    |p| p.dead_letters,
                ),
            ];
            for (name, help, unit, kind, pick) in &per_partner {
                let mut m = family(e, name, help, unit.as_ref(), *kind)?;
                for (peer, f) in partners {
                    let labels = [("partner", peer.as_str())];
                    let m = m.encode_family(&labels)?;
                    match kind {
                        MetricType::Counter => counter(m, pick(f))?,
                        _ => gauge(m, pick(f))?,
                    }
                }
            }
            let mut m = family(
                e,
                "partner_connected",
                "1 while the partner is connected",
                None,
                MetricType::Gauge,
            )?;
            for (peer, f) in partners {
                gauge(
                    m.encode_family(&[("partner", peer.as_str())])?,
                    u64::from(f.connected),
                )?;
            }
        }
        if let Some(by) = &s.shares_out {
            labelled_gauges(
                e,
                "shares_outgoing",
                "Shares to partners, by status",
                "status",
                by,
            )?;
        }
        if let Some(by) = &s.shares_in {
            labelled_gauges(
                e,
                "shares_received",
                "Shares received from partners, by status",
                "status",
                by,
            )?;
        }
        if let Some(n) = s.mail_queued {
            gauge(
                family(
                    e,
                    "mail_queue_messages",
                    "Notification emails waiting in the mail queue",
                    None,
                    MetricType::Gauge,
                )?,
                n,
            )?;
        }
        if let Some(n) = s.mail_failed {
            gauge(
                family(
                    e,
                    "mail_failed_messages",
                    "Notifications given up or refused (mail_failed records)",
                    None,
                    MetricType::Gauge,
                )?,
                n,
            )?;
        }
        if let Some(by) = &s.links {
            labelled_gauges(e, "links", "Download links, by status", "status", by)?;
        }
        if let Some(n) = s.link_downloads {
            counter(
                family(
                    e,
                    "link_downloads",
                    "Downloads started over all download links",
                    None,
                    MetricType::Counter,
                )?,
                n,
            )?;
        }
        gauge(
            family(
                e,
                "link_builds_in_flight",
                "Link packages being built now",
                None,
                MetricType::Gauge,
            )?,
            s.link_builds_in_flight,
        )?;
        if let Some(by) = &s.cases {
            labelled_gauges(
                e,
                "cases",
                "Cases, by origin (local, received from a partner)",
                "origin",
                by,
            )?;
        }
        if let Some((count, bytes)) = s.blobs {
            gauge(
                family(
                    e,
                    "store_blobs",
                    "Blob files in the content-addressed store",
                    None,
                    MetricType::Gauge,
                )?,
                count,
            )?;
            gauge(
                family(
                    e,
                    "store_blob",
                    "Bytes of the blob files",
                    Some(&Unit::Bytes),
                    MetricType::Gauge,
                )?,
                bytes,
            )?;
        }
        if let Some(n) = s.free_bytes {
            gauge(
                family(
                    e,
                    "store_free",
                    "Free space on the blob store's file system",
                    Some(&Unit::Bytes),
                    MetricType::Gauge,
                )?,
                n,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_figures_encode_with_units_and_labels() {
        let metrics = Metrics::new();
        let mut partners = BTreeMap::new();
        partners.insert(
            OrgId("12D3KooWPeer".to_owned()),
            PartnerFigures {
                connected: true,
                bytes_received: 4096,
                outbox: 3,
                ..Default::default()
            },
        );
        let text = metrics.encode(Snapshot {
            partners: Some(partners),
            shares_out: Some(counts(["processing", "complete"])),
            blobs: Some((2, 10)),
            ..Default::default()
        });
        for line in [
            "casemesh_p2p_received_bytes_total{partner=\"12D3KooWPeer\"} 4096",
            "casemesh_outbox_messages{partner=\"12D3KooWPeer\"} 3",
            "casemesh_partners_connected 1",
            "casemesh_shares_outgoing{status=\"complete\"} 0",
            "casemesh_store_blob_bytes 10",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template() {
        use tower::ServiceExt as _;
        let metrics = Metrics::new();
        let router = metrics.instrument(
            axum::Router::new().route("/l/{token}", axum::routing::get(|| async { "hi" })),
            "links",
        );
        for uri in ["/l/secret-token", "/nothing"] {
            let req = axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap();
            router.clone().oneshot(req).await.unwrap();
        }
        let text = metrics.encode(Snapshot::default());
        assert!(text.contains(
            "casemesh_http_requests_total{listener=\"links\",method=\"GET\",route=\"/l/{token}\",status=\"200\"} 1"
        ), "{text}");
        assert!(
            text.contains("route=\"unmatched\",status=\"404\"} 1"),
            "{text}"
        );
        assert!(!text.contains("secret-token"));
        assert!(text.contains(
            "casemesh_http_request_duration_seconds_count{listener=\"links\",route=\"/l/{token}\"} 1"
        ), "{text}");
    }
}
