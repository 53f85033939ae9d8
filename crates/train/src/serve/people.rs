//! The routes for people and the page: `GET /v1/models`, and an image file (the body, or a
//! multipart upload) to `POST /v1/models/{name}/predict` (what `predict --json` says of it) or
//! `…/explain` (the evidence behind its scores).

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::infer::classifier::Ranked;
use crate::infer::evidence::ClassEvidence;
use crate::infer::input::{Input, Preparation};
use crate::logits::top_k;
use crate::serve::api::{ApiError, ImageUpload, blocking, model, undecodable};
use crate::serve::models::{Served, Summary};
use crate::serve::shared::Shared;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/models", get(list))
        .route("/v1/models/{name}/predict", post(predict))
        .route("/v1/models/{name}/explain", post(explain))
}

async fn list(State(shared): State<Shared>) -> Json<Vec<Summary>> {
    Json(shared.models.all().map(|s| s.summary()).collect())
}

/// How to read the image, as `predict`'s options say it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reading {
    /// auto, none or digit (as `predict --prepare`).
    prepare: Option<String>,
    /// Invert the picture first (as `predict --invert`).
    #[serde(default)]
    invert: bool,
    /// How many classes to rank (predict: 5).
    top: Option<usize>,
    /// explain: the classes to explain, by name or number, comma-separated, `top` for the
    /// ranked ones, or `all` (default: `top`).
    classes: Option<String>,
}

/// An image's classes as `predict --json` gives them (one element of its array).
#[derive(Debug, Serialize)]
struct Prediction {
    file: std::path::PathBuf,
    top: Vec<Ranked>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    prepared: Vec<String>,
}

async fn predict(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    Query(reading): Query<Reading>,
    upload: ImageUpload,
) -> Result<Json<Prediction>, ApiError> {
    let served = model(&shared, &name)?;
    if let Some(classes) = &reading.classes {
        return Err(ApiError::bad(format!(
            "classes={classes} is read by /v1/models/{name}/explain; \
             predict ranks the best classes (top=K)"
        )));
    }
    blocking(move || {
        let input = read(&served, &reading, &upload)?;
        let top = ranked(&served, &input, reading.top)?;
        Ok(Json(Prediction {
            file: upload.name,
            top,
            prepared: input.prepared,
        }))
    })
    .await
}

/// An explanation: the prediction, what the model saw, and the evidence of each class asked.
#[derive(Debug, Serialize)]
struct Explanation {
    file: std::path::PathBuf,
    top: Vec<Ranked>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    prepared: Vec<String>,
    /// What the model saw: [channels, height, width] u8, channel-major.
    input: Seen,
    classes: Vec<ClassEvidence>,
}

#[derive(Debug, Serialize)]
struct Seen {
    shape: [usize; 3],
    pixels: Vec<u8>,
}

async fn explain(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    Query(reading): Query<Reading>,
    upload: ImageUpload,
) -> Result<Json<Explanation>, ApiError> {
    let served = model(&shared, &name)?;
    blocking(move || {
        let input = read(&served, &reading, &upload)?;
        let top = ranked(&served, &input, reading.top)?;
        let asked = match &reading.classes {
            Some(list) => classes(&served, list, &top)?,
            None => top.iter().map(|r| r.index).collect(),
        };
        let classes = served
            .classifier
            .explain(&input.pixels, &asked)
            .map_err(|e| ApiError::bad(format!("{e:#}")))?;
        Ok(Json(Explanation {
            file: upload.name,
            top,
            prepared: input.prepared,
            input: Seen {
                shape: served.classifier.input_shape(),
                pixels: input.pixels,
            },
            classes,
        }))
    })
    .await
}

/// The upload as the model reads it, prepared and inverted as asked.
fn read(served: &Served, reading: &Reading, upload: &ImageUpload) -> Result<Input, ApiError> {
    let preparation = match reading.prepare.as_deref() {
        None | Some("auto") => Preparation::Auto,
        Some("none") => Preparation::None,
        Some("digit") => Preparation::Digit,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "prepare={other}: expected auto, none or digit"
            )));
        }
    };
    let mut inputs = served
        .classifier
        .inputs()
        .with(preparation)
        .map_err(|e| ApiError::bad(format!("{e:#}").replace("--prepare ", "prepare=")))?;
    inputs.invert = reading.invert;
    inputs
        .of_bytes(&upload.bytes, &upload.name)
        .map_err(|e| undecodable(&upload.bytes, &upload.name, &e))
}

/// The best `top` classes (default: as many as `predict` shows).
fn ranked(served: &Served, input: &Input, top: Option<usize>) -> Result<Vec<Ranked>, ApiError> {
    let c = served.classifier.classes().len();
    let k = match top {
        None => top_k(c),
        Some(k) if (1..=c).contains(&k) => k,
        Some(k) => return Err(ApiError::bad(format!("top={k}: expected 1 to {c}"))),
    };
    let mut ranked = served
        .classifier
        .classify_pixels(&input.pixels)
        .map_err(|e| ApiError::bad(format!("{e:#}")))?
        .remove(0);
    ranked.truncate(k);
    Ok(ranked)
}

/// The classes of `classes=`: names or numbers, comma-separated, `top` for the ranked ones
/// (`top`), or `all`; each once, in the order given.
fn classes(served: &Served, list: &str, top: &[Ranked]) -> Result<Vec<usize>, ApiError> {
    let names = served.classifier.classes();
    if list == "all" {
        return Ok((0..names.len()).collect());
    }
    let mut picked = Vec::new();
    for item in list.split(',').map(str::trim) {
        let found = match item {
            "top" => top.iter().map(|r| r.index).collect(),
            _ => vec![class(names, item, list)?],
        };
        for c in found {
            if !picked.contains(&c) {
                picked.push(c);
            }
        }
    }
    Ok(picked)
}

/// One class of `classes=`, by name or number.
fn class(names: &[String], item: &str, list: &str) -> Result<usize, ApiError> {
    names
                .iter()
        .position(|n| n == item)
        .or_else(|| item.parse().ok().filter(|&i: &usize| i < names.len()))
        .ok_or_else(|| {
            ApiError::bad(format!(
                "classes={list}: {item:?} is neither a class name nor a number from 0 to {} (nor top or all)",
                names.len() - 1
            ))
        })
}
