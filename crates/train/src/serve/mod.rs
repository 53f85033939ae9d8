//! `linclass serve`: trained runs behind HTTP, in one process with its page embedded.
//!
//! - The page (`/`): draw a digit or drop a photo, and see the template matching happen: what
//!   the model saw, the top classes, each class's template and evidence W_c ⊙ x, the numbers that
//!   add up to its score, and why one class and not another.
//! - The Open Inference Protocol (KServe v2, `/v2/…`): health, model metadata, and inference on
//!   UINT8 or FP32 tensors in the model's shape or on encoded images as BYTES.
//! - A route for people (`/v1/models/{name}/predict` and `…/explain`): an image file as the body
//!   or a multipart upload, answered as `predict --json` answers, or with the evidence.
//! - `/metrics`: requests, errors and latency per route, in Prometheus's text format.
//!
//! - `load`: the load generator of `bench-serve`.
//!
//! Every error is a 4xx with `{"error": "…"}`; the work of one request (decoding, scoring) runs on
//! tokio's blocking threads, so a large photo does not hold up the others.

pub(crate) mod api;
pub(crate) mod kserve;
pub(crate) mod load;
pub(crate) mod metrics;
pub(crate) mod models;
pub(crate) mod page;
pub(crate) mod people;
pub(crate) mod server;
pub(crate) mod shared;
