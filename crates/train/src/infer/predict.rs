//! `predict`: classifying image files with a trained run (through [`Classifier`]).

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::infer::classifier::{Classifier, Ranked};
use crate::logits::top_k;

/// One file's best classes, or why it could not be classified.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Prediction {
    /// The image file, as given.
    pub file: PathBuf,
    /// Its best classes (up to 5), best first; empty when it could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<Ranked>,
    /// What was done to it besides converting it (a digit's preparation), if anything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prepared: Vec<String>,
    /// What the model read of it: [channels, height, width] u8, channel-major (empty when it
    /// could not be read).
    #[serde(skip)]
    pub input: Vec<u8>,
    /// Why it could not be classified (one line naming the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The top-5 classes (with probabilities) of each image file; a file that is a folder or
/// cannot be read or decoded gets its error instead, and the others are still classified.
///
/// Errors: the model cannot score the images (none of the files' doing).
pub(crate) fn predict(classifier: &Classifier, files: &[PathBuf]) -> Result<Vec<Prediction>> {
    let k = top_k(classifier.classes().len());
    let mut predictions: Vec<Prediction> = files
        .iter()
        .map(|file| Prediction {
            file: file.clone(),
            top: Vec::new(),
            prepared: Vec::new(),
            input: Vec::new(),
            error: None,
        })
        .collect();
    let mut pixels = Vec::new();
    let mut read = Vec::new();
    for (i, file) in files.iter().enumerate() {
        match classifier.input_file(file) {
            Ok(input) => {
                pixels.extend_from_slice(&input.pixels);
                predictions[i].input = input.pixels;
                predictions[i].prepared = input.prepared;
                read.push(i);
            }
            Err(e) => predictions[i].error = Some(format!("{e:#}").replace('\n', " ")),
        }
    }
    if !read.is_empty() {
        for (i, mut ranked) in read.into_iter().zip(classifier.classify_pixels(&pixels)?) {
            ranked.truncate(k);
            predictions[i].top = ranked;
        }
    }
    Ok(predictions)
}
