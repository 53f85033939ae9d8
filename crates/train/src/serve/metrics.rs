//! `GET /metrics`: requests (by route and status), errors (4xx and 5xx, by route) and latency
//! (a histogram by route), in Prometheus's text format, through Prometheus's own Rust client.
//! Routes are their templates (`/v2/models/{name}/infer`), so that the series stay few.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

/// Latency buckets from 0.1 ms, doubling, to about 3.3 s.
#[derive(Debug, Clone)]
struct Buckets;

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(1e-4, 2.0, 16))
    }
}

/// The server's counters, registered once.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<Status, Counter>,
    errors: Family<Route, Counter>,
    latency: Family<Route, Histogram, Buckets>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("linclass_http");
        let requests = Family::<Status, Counter>::default();
        let errors = Family::<Route, Counter>::default();
        let latency = Family::new_with_constructor(Buckets);
        registry.register(
            "requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "errors",
            "Requests answered with a 4xx or 5xx status, by route",
            errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            latency.clone(),
        );
        Self {
            registry,
            requests,
            errors,
            latency,
        }
    }

    fn observe(&self, route: String, status: u16, seconds: f64) {
        let labels = Route { route };
        if status >= 400 {
            self.errors.get_or_create(&labels).inc();
        }
        self.latency.get_or_create(&labels).observe(seconds);
        let route = labels.route;
        self.requests.get_or_create(&Status { route, status }).inc();
    }
}

pub(crate) fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Metrics>: FromRef<S>,
{
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &metrics.registry) {
        let status = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        return (status, format!("the metrics could not be written: {e}")).into_response();
    }
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], text).into_response()
}

/// Counts every request under its route's template (or `unmatched`) once it is answered.
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    let seconds = start.elapsed().as_secs_f64();
    metrics.observe(route, response.status().as_u16(), seconds);
    response
}
