//! KServe's Open Inference Protocol (version 2, REST): liveness and readiness, server and model
//! metadata, and inference. Spec: <https://github.com/kserve/open-inference-protocol>
//! (`open_inference_rest.md`).
//!
//! One input tensor, of one of three kinds:
//! - UINT8 pixels in the model's shape, [N, C, H, W] (or [C, H, W] for one image),
//!   channel-major, as `Classifier::classify_pixels` takes them;
//! - FP32 in the same shape, in [0, 1] (what torchvision's `ToTensor` gives);
//! - BYTES of shape [N]: encoded image files (PNG, JPEG, …) in base64, read as `predict` reads
//!   files.
//!
//! Outputs: `probabilities` and `logits` (FP32 [N, classes]), `label` (BYTES [N], the best
//! class's name) and `index` (INT64 [N]); all of them unless the request names some.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::logits::softmax;
use crate::serve::api::{ApiError, blocking, model, undecodable};
use crate::serve::models::Served;
use crate::serve::shared::Shared;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v2", get(server))
        .route(
            "/v2/health/live",
            get(|| async { Json(json!({ "live": true })) }),
        )
        .route(
            "/v2/health/ready",
            get(|| async { Json(json!({ "ready": true })) }),
        )
        .route("/v2/models/{name}", get(metadata))
        .route("/v2/models/{name}/ready", get(ready))
        .route("/v2/models/{name}/infer", post(infer))
}

async fn server() -> Json<Value> {
    Json(json!({
        "name": "linclass",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    }))
}

async fn ready(
    State(shared): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let served = model(&shared, &name)?;
    Ok(Json(json!({ "name": served.name, "ready": true })))
}

/// The model's metadata; `classes` (the class names in label order) is this server's own field.
async fn metadata(
    State(shared): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let served = model(&shared, &name)?;
    let [c, h, w] = served.classifier.input_shape();
    let classes = served.classifier.classes();
    let n = classes.len();
    Ok(Json(json!({
        "name": served.name,
        "versions": [],
        "platform": "linclass",
        "inputs": [{ "name": "image", "datatype": "UINT8", "shape": [-1, c, h, w] }],
        "outputs": [
            { "name": "probabilities", "datatype": "FP32", "shape": [-1, n] },
            { "name": "logits", "datatype": "FP32", "shape": [-1, n] },
            { "name": "label", "datatype": "BYTES", "shape": [-1] },
            { "name": "index", "datatype": "INT64", "shape": [-1] },
        ],
        "classes": classes,
    })))
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    id: Option<String>,
    inputs: Vec<RequestInput>,
    #[serde(default)]
    outputs: Vec<RequestOutput>,
    #[serde(default, rename = "parameters")]
    _parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RequestInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    data: Value,
    #[serde(default, rename = "parameters")]
    _parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RequestOutput {
    name: String,
}

#[derive(Debug, Serialize)]
struct InferResponse {
    model_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    outputs: Vec<Value>,
}

const OUTPUTS: [&str; 4] = ["probabilities", "logits", "label", "index"];

async fn infer(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<InferResponse>, ApiError> {
    // The model first: an unknown one is 404 whatever the body.
    let served = model(&shared, &name)?;
    let request: InferRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("the body is not an inference request in JSON: {e}")))?;
    let asked: Vec<String> = match request.outputs.len() {
        0 => OUTPUTS.iter().map(|s| s.to_string()).collect(),
        _ => request.outputs.into_iter().map(|o| o.name).collect(),
    };
    if let Some(bad) = asked.iter().find(|a| !OUTPUTS.contains(&a.as_str())) {
        return Err(ApiError::bad(format!(
            "output {bad:?} does not exist: expected some of {}",
            OUTPUTS.join(", ")
        )));
    }
    let [input] = <[RequestInput; 1]>::try_from(request.inputs).map_err(|inputs| {
        ApiError::bad(format!(
            "expected one input tensor (the images), got {}",
            inputs.len()
        ))
    })?;
    let id = request.id;
    blocking(move || {
        let logits = scores(&served, &input)?;
        let outputs = outputs(&served, &logits, &asked);
        Ok(Json(InferResponse {
            model_name: served.name.clone(),
            id,
            outputs,
        }))
    })
    .await
}

/// The logits [N × classes] of the input tensor.
fn scores(served: &Served, input: &RequestInput) -> Result<Vec<f32>, ApiError> {
    let classifier = &served.classifier;
    let images = images(input, classifier.input_shape())?;
    let mut values = Vec::new();
    flatten(&input.data, &mut values);
    let dim: usize = classifier.input_shape().iter().product();
    let count = if input.datatype == "BYTES" {
        images
    } else {
        images * dim
    };
    if values.len() != count {
        return Err(ApiError::bad(format!(
            "input {:?}: shape {:?} holds {count} values, and data has {}",
            input.name,
            input.shape,
            values.len()
        )));
    }
    let fail = |e: anyhow::Error| ApiError::bad(format!("{e:#}"));
    match input.datatype.as_str() {
        "UINT8" => {
            let pixels = each(input, &values, "an integer from 0 to 255", |v| {
                v.as_u64().filter(|&v| v <= 255).map(|v| v as u8)
            })?;
            classifier.logits(&pixels).map_err(fail)
        }
        "FP32" => {
            let unit = each(input, &values, "a number from 0 to 1", |v| {
                v.as_f64()
                    .filter(|v| (0.0..=1.0).contains(v))
                    .map(|v| v as f32)
            })?;
            classifier.logits_unit(&unit).map_err(fail)
        }
        _ => {
            let mut pixels = Vec::with_capacity(images * dim);
            for (i, file) in each(input, &values, "a string: an image file in base64", |v| {
                v.as_str().map(str::trim)
            })?
            .into_iter()
            .enumerate()
            {
                pixels.extend(decoded(served, &input.name, i, file)?);
            }
            classifier.logits(&pixels).map_err(fail)
        }
    }
}

/// How many images the input holds, from its datatype and shape.
fn images(input: &RequestInput, [c, h, w]: [usize; 3]) -> Result<usize, ApiError> {
    let image = [c, h, w].map(|v| v as i64);
    let expected = format!(
        "input {:?}: expected UINT8 or FP32 of shape [N, {c}, {h}, {w}] (channel-major) or BYTES of shape [N] (encoded images in base64)",
        input.name
    );
    match (input.datatype.as_str(), input.shape.as_slice()) {
        ("BYTES", &[n]) if n >= 0 => Ok(n as usize),
        ("UINT8" | "FP32", &[n, cc, hh, ww]) if n >= 0 && [cc, hh, ww] == image => Ok(n as usize),
        ("UINT8" | "FP32", &[cc, hh, ww]) if [cc, hh, ww] == image => Ok(1),
        ("UINT8" | "FP32" | "BYTES", shape) => {
            Err(ApiError::bad(format!("{expected}; got shape {shape:?}")))
        }
        (other, _) => Err(ApiError::bad(format!("{expected}; got datatype {other}"))),
    }
}

/// Each value read by `read`, or 400 naming the first that is not `what`.
fn each<'a, T>(
    input: &RequestInput,
    values: &'a [Value],
    what: &str,
    read: impl Fn(&'a Value) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            read(v).ok_or_else(|| {
                ApiError::bad(format!(
                    "input {:?}: value {i} is {v}: expected {what}",
                    input.name
                ))
            })
        })
        .collect()
}

/// The pixels of image `i` of a BYTES input: base64 of an image file, read as `predict` reads
/// files.
fn decoded(served: &Served, input: &str, i: usize, text: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| ApiError::bad(format!("input {input:?}: image {i} is not base64: {e}")))?;
    let name = PathBuf::from(format!("{input}[{i}]"));
    let image = served
        .classifier
        .input_bytes(&bytes, &name)
        .map_err(|e| undecodable(&bytes, &name, &e))?;
    Ok(image.pixels)
}

/// The tensor's values in row-major order, whether sent flat or nested.
fn flatten(data: &Value, out: &mut Vec<Value>) {
    match data {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        other => out.push(other.clone()),
    }
}

/// The output tensors named in `asked` from the logits [N × classes].
fn outputs(served: &Served, logits: &[f32], asked: &[String]) -> Vec<Value> {
    let names = served.classifier.classes();
    let c = names.len();
    let n = logits.len() / c;
    let rows = || logits.chunks_exact(c);
    let best: Vec<usize> = rows()
        .map(|row| (0..c).fold(0, |b, i| if row[i] > row[b] { i } else { b }))
        .collect();
    asked
        .iter()
        .map(|name| {
            let (datatype, shape, data) = match name.as_str() {
                "probabilities" => {
                    let p: Vec<f64> = rows().flat_map(softmax).collect();
                    ("FP32", vec![n, c], json!(p))
                }
                "logits" => ("FP32", vec![n, c], json!(logits)),
                "label" => {
                    let labels: Vec<&str> = best.iter().map(|&i| names[i].as_str()).collect();
                    ("BYTES", vec![n], json!(labels))
                }
                _ => ("INT64", vec![n], json!(best)),
            };
            json!({ "name": name, "datatype": datatype, "shape": shape, "data": data })
        })
        .collect()
}
