//! The page, embedded in the binary: no network, no files beside it.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use crate::serve::shared::Shared;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Html(include_str!("page/index.html")) }))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript", include_str!("page/app.js")) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css", include_str!("page/style.css")) }),
        )
}

fn asset(kind: &'static str, text: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, kind)], text)
}
