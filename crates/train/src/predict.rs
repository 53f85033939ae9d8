//! `predict`: classifying image files with a trained run (through [`Classifier`]).

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::classifier::{Classifier, Ranked};

/// One file's best classes.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub file: PathBuf,
    pub top: Vec<Ranked>,
}

/// The top-5 classes (with probabilities) of each image file.
///
/// Errors: a file is a folder, or cannot be read or decoded.
pub fn predict(classifier: &Classifier, files: &[PathBuf]) -> Result<Vec<Prediction>> {
    let k = 5.min(classifier.classes().len());
    Ok(files
        .iter()
        .zip(classifier.classify_files(files)?)
        .map(|(file, mut ranked)| {
            ranked.truncate(k);
            Prediction {
                file: file.clone(),
                top: ranked,
            }
        })
        .collect())
}
