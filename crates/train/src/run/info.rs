//! The records of `run.toml`: what a run was trained on and how, and its refit.

use linclass_data::Normalization;
use linclass_model::LinearClassifierConfig;
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;

/// Sizes of the parts of the data a run was trained and checked on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSummary {
    /// Images of the training part.
    pub train: usize,
    /// Images of the validation part (held out of the training split).
    pub valid: usize,
    /// [`ImageSet::fingerprint`](linclass_data::ImageSet::fingerprint) of the whole training
    /// split (both parts), so that a resume can tell that an image or a label changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Test images that were exact copies of training images when the run was trained
    /// ([`copies_across`](linclass_data::duplicates::copies_across)): test accuracy on them
    /// measures memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_copies: Option<usize>,
    /// The test split's fingerprint when the run was trained: `test_copies` holds for the test
    /// split only while it is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fingerprint: Option<String>,
}

/// What `run.toml` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// The backend the run was trained on (`cpu`, `ndarray`, `gpu`).
    pub backend: String,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// How u8 pixels become the model's inputs (fitted on the training part).
    pub normalization: Normalization,
    /// The sizes of the parts of the data, and its fingerprint.
    pub data: DataSummary,
    /// The model's shape: input [C, H, W], classes, bias, initialization.
    pub model: LinearClassifierConfig,
    /// The resolved experiment config (`data.dir` absolute).
    pub config: ExperimentConfig,
    /// Present once `train.refit` has trained `model.bpk` on the training and validation
    /// parts together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refit: Option<RefitSummary>,
}

/// What a refit did (`train.refit`), recorded in `run.toml` as `[refit]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefitSummary {
    /// Images trained on: the training and validation parts together.
    pub images: usize,
    /// Epochs trained: the epoch the validation part chose (`train.keep`).
    pub epochs: usize,
    /// Mean loss over the images of the last epoch, measured while training.
    pub train_loss: f64,
    /// Accuracy (0–1) over the images of the last epoch, measured while training.
    pub train_accuracy: f64,
    /// Wall-clock seconds of the refit.
    pub seconds: f64,
}
