//! What the server's routes share: the runs and the metrics.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::serve::metrics::Metrics;
use crate::serve::models::Models;

/// The state every route is handed (cloned for each: two reference counts).
#[derive(Clone)]
pub(crate) struct Shared {
    pub models: Arc<Models>,
    pub metrics: Arc<Metrics>,
}

impl FromRef<Shared> for Arc<Metrics> {
    fn from_ref(shared: &Shared) -> Self {
        shared.metrics.clone()
    }
}
