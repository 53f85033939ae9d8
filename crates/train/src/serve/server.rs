//! The server: the routes put together with their limits, and its life from binding the
//! address to the last request answered.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::serve::metrics::{self, Metrics};
use crate::serve::models::Models;
use crate::serve::shared::Shared;
use crate::serve::{api, kserve, page, people};

/// How the server listens and what it accepts.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// Largest request body, in bytes: larger ones get 413.
    pub max_body: usize,
    /// Longest a request may take: longer ones get 408.
    pub timeout: Duration,
}

/// The whole HTTP surface over `models`.
pub(crate) fn router(models: Models, options: &Options) -> Router {
    let shared = Shared {
        models: Arc::new(models),
        metrics: Arc::new(Metrics::new()),
    };
    let routes = page::routes()
        .merge(kserve::routes())
        .merge(people::routes())
        .merge(metrics::routes())
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.metrics.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(options.max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.timeout,
        ))
        // With a subscriber (`serve --log`): one line per answered request.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(shared);
    // Around the routing, so that it also sees the answers routing itself gives (405).
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn(api::json_errors))
}

/// Serves `models` until `stop` completes, then lets the requests in flight finish. Calls
/// `ready` with the address bound (the port chosen when `options.addr` has port 0) before the
/// first request is taken.
///
/// Errors: the address cannot be bound, or the server fails.
pub(crate) fn serve(
    models: Models,
    options: &Options,
    stop: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind(options.addr)
            .await
            .with_context(|| format!("cannot listen on {}", options.addr))?;
        ready(listener.local_addr()?);
        axum::serve(listener, router(models, options))
            .with_graceful_shutdown(stop)
            .await
            .context("the server stopped on an error")
    })
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn interrupted() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
