//! Classifying image files with a trained run: decode, convert to the model's channels and
//! size, normalize as in training, and rank the classes by probability.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow};
use burn::prelude::*;
use image::imageops::FilterType;
use linclass_data::{ImageBatcher, ImageSet};
use linclass_model::LinearClassifier;
use serde::Serialize;

use crate::eval::{logits, softmax, top_classes};
use crate::runfiles::RunInfo;

/// Decodes an image file into channel-major u8 pixels of shape [channels, height, width].
/// Grayscale models get the image's luminance; RGB models get RGB. `invert` maps v → 255 − v
/// (for dark strokes on a light background, the opposite of MNIST).
pub fn load_image(path: &Path, shape: [usize; 3], invert: bool) -> Result<Vec<u8>> {
    let [c, h, w] = shape;
    let img = image::ImageReader::open(path)
        .map_err(|e| anyhow!("{}: cannot open ({e})", path.display()))?
        .with_guessed_format()
        .map_err(|e| anyhow!("{}: cannot read ({e})", path.display()))?
        .decode()
        .map_err(|e| {
            anyhow!(
                "{}: cannot decode as an image ({e}); expected PNG, JPEG or BMP",
                path.display()
            )
        })?;
    let resize = |img: image::DynamicImage| {
        if img.width() as usize == w && img.height() as usize == h {
            img
        } else {
            img.resize_exact(w as u32, h as u32, FilterType::Triangle)
        }
    };
    let img = resize(img);
    let mut pixels = match c {
        1 => img.to_luma8().into_raw(),
        3 => {
            let rgb = img.to_rgb8();
            let plane = h * w;
            let mut out = vec![0u8; 3 * plane];
            for (i, px) in rgb.pixels().enumerate() {
                for ch in 0..3 {
                    out[ch * plane + i] = px[ch];
                }
            }
            out
        }
        _ => {
            return Err(anyhow!(
                "the model expects {c} channels: only 1 (grayscale) and 3 (RGB) are supported"
            ));
        }
    };
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
