//! Classifying image files with a trained run: decode, convert to the model's channels and
//! size, normalize as in training, and rank the classes by probability.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use burn::prelude::*;
use linclass_data::decode::decode_image;
use linclass_data::{ImageBatcher, ImageSet};
use linclass_model::LinearClassifier;
use serde::Serialize;

use crate::eval::{logits, softmax, top_classes};
use crate::runfiles::RunInfo;

/// Decodes an image file into the model's shape (see `linclass_data::decode`); `invert` maps
/// v → 255 − v, for dark strokes on a light background (the opposite of MNIST).
pub fn load_image(path: &Path, shape: [usize; 3], invert: bool) -> Result<Vec<u8>> {
    let mut pixels = decode_image(path, shape)?;
    if invert {
        pixels.iter_mut().for_each(|v| *v = 255 - *v);
    }
    Ok(pixels)
}

#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub class: String,
    pub index: usize,
    pub probability: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub file: PathBuf,
    pub top: Vec<Ranked>,
}

/// The top-5 classes (with probabilities) of each image file.
pub fn predict(
    model: &LinearClassifier,
    info: &RunInfo,
    files: &[PathBuf],
    invert: bool,
    device: &Device,
) -> Result<Vec<Prediction>> {
    let shape = info.model.input_shape;
    let mut pixels = Vec::new();
    for f in files {
        if f.is_dir() {
            anyhow::bail!(
                "{} is a folder: predict takes image files, e.g. {}",
                f.display(),
                f.join("*.png").display()
            );
        }
        pixels.extend(load_image(f, shape, invert)?);
    }
    let set = ImageSet::new(pixels, vec![0; files.len()], shape, info.classes.clone())?;
    let batcher = ImageBatcher::new(Arc::new(set), &info.normalization);
    let indices: Vec<usize> = (0..files.len()).collect();
    let scores = logits(model, &batcher, &indices, device);
    let c = info.classes.len();
    Ok(files
        .iter()
        .zip(scores.chunks_exact(c))
        .map(|(file, row)| {
            let probs = softmax(row);
            let top = top_classes(row, 5.min(c))
                .into_iter()
                .map(|i| Ranked {
                    class: info.classes[i].clone(),
                    index: i,
                    probability: probs[i],
                })
                .collect();
            Prediction {
                file: file.clone(),
                top,
            }
        })
        .collect())
}
