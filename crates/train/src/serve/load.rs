//! The load generator of `bench-serve`: keeps a number of requests in flight against a server
//! for some seconds over HTTP/1.1 keep-alive connections (hyper's client), and counts what came
//! back: requests per second, latency percentiles, and answers that were wrong or lost.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// One request the load sends, and what a right answer is.
#[derive(Debug, Clone)]
pub(crate) struct Shot {
    /// Path and query, such as `/v1/models/mnist/predict`.
    pub path: String,
    pub body: Bytes,
    /// What the answer must be: a status of 200 and a body that `right` accepts, or (for a bad
    /// request) a 4xx status.
    pub expect: Expect,
}

#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// 200, and the body's `top` is this one exactly.
    Top(serde_json::Value),
    /// A 4xx with a JSON error.
    Refused,
}

/// What one run of the load measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub seconds: f64,
    /// Latencies of the answered requests, in seconds, sorted.
    pub latencies: Vec<f64>,
    /// Good requests answered right, and otherwise (another status or another answer).
    pub right: usize,
    pub wrong: usize,
    /// Bad requests refused with a 4xx and a JSON error, and otherwise.
    pub refused: usize,
    pub not_refused: usize,
    /// Requests that got no answer (a broken connection).
    pub lost: usize,
}

impl Tally {
    /// Requests answered per second.
    pub(crate) fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    /// The latency below which a fraction `q` of the answers came, in milliseconds.
    pub(crate) fn percentile_ms(&self, q: f64) -> f64 {
        let n = self.latencies.len();
        if n == 0 {
            return f64::NAN;
        }
        1e3 * self.latencies[((q * n as f64) as usize).min(n - 1)]
    }

    fn add(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.right += other.right;
        self.wrong += other.wrong;
        self.refused += other.refused;
        self.not_refused += other.not_refused;
        self.lost += other.lost;
    }
}

/// Sends `shots` round and round to the server at `base` (`http://host:port`) from
/// `concurrency` clients for `duration`.
///
/// Errors: the load's runtime cannot start.
pub(crate) fn drive(
    base: &str,
    shots: &[Shot],
    concurrency: usize,
    duration: Duration,
) -> Result<Tally> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the load's runtime")?;
    runtime.block_on(async {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency)
            .build_http();
        let start = Instant::now();
        let end = start + duration;
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let (client, shots, base) = (client.clone(), shots.to_vec(), base.to_owned());
            tasks.push(tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut i = worker;
                while Instant::now() < end {
                    send(&client, &base, &shots[i % shots.len()], &mut tally).await;
                    i += concurrency;
                }
                tally
            }));
        }
        let mut total = Tally::default();
        for task in tasks {
            total.add(task.await.unwrap_or_default());
        }
        total.seconds = start.elapsed().as_secs_f64();
        total.latencies.sort_by(f64::total_cmp);
        Ok(total)
    })
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    base: &str,
    shot: &Shot,
    tally: &mut Tally,
) {
    let request = Request::post(format!("{base}{}", shot.path))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Full::new(shot.body.clone()));
    let Ok(request) = request else {
        tally.lost += 1;
        return;
    };
    let sent = Instant::now();
    let answer = match client.request(request).await {
        Ok(answer) => answer,
        Err(_) => {
            tally.lost += 1;
            return;
        }
    };
    let status = answer.status();
    let Ok(body) = answer.into_body().collect().await else {
        tally.lost += 1;
        return;
    };
    tally.latencies.push(sent.elapsed().as_secs_f64());
    let json: serde_json::Value = serde_json::from_slice(&body.to_bytes()).unwrap_or_default();
    match &shot.expect {
        Expect::Top(top) if status == StatusCode::OK && json["top"] == *top => tally.right += 1,
        Expect::Top(_) => tally.wrong += 1,
        Expect::Refused if status.is_client_error() && json["error"].is_string() => {
            tally.refused += 1
        }
        Expect::Refused => tally.not_refused += 1,
    }
}
