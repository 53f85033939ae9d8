//! Refitting on all the training data (`train.refit`): once the validation part has chosen how
//! long to train, the model is trained again from the start on the training and validation
//! parts together, with the same settings, and that model becomes the run's record. This is
//! scikit-learn's `GridSearchCV(refit=True)` step: the held-out images helped choose, and now
//! they help fit.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::prelude::*;
use burn::train::{Interrupter, Learner};
use linclass_data::{ImageBatcher, ImageSet, Normalization};
use linclass_model::{LinearClassifier, LinearClassifierConfig};
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::training::{
    EXPLOSION_FACTOR, Trainee, scheduler, sgd, training_loader, zero_model_loss,
};

/// What the refit did, recorded in `run.toml` as `[refit]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefitSummary {
    /// Images trained on: the training and validation parts together.
    pub images: usize,
    /// Epochs trained: the epoch the validation part chose (`train.keep`).
    pub epochs: usize,
    /// Mean loss and accuracy (0–1) over the images of the last epoch, measured while training.
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub seconds: f64,
}

/// Why a refit did not finish; the validated model stays the run's record.
#[derive(Debug)]
pub enum RefitStopped {
    Interrupted { done: usize, of: usize },
    Diverged(String),
}

impl std::fmt::Display for RefitStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefitStopped::Interrupted { done, of } => {
                write!(f, "the refit was interrupted after {done} of {of} epochs")
            }
            RefitStopped::Diverged(why) => write!(f, "the refit diverged: {why}"),
        }
    }
}

impl std::error::Error for RefitStopped {}

/// Trains `model_config`'s classifier from its initialization on the images `indices` of `set`
/// for `epochs` epochs, with the run's optimizer, batch size, loss, shuffling, flips and seed.
/// The learning-rate schedule is the run's: laid out over `train.epochs` epochs of this larger
/// set, so that stopping at the chosen epoch ends where the kept model's training ended.
/// Pixels are normalized as in the run (`normalization`, measured on the training part), so
/// the model is applied to new images exactly as the validated one was.
///
/// Errors: [`RefitStopped`] when `interrupter` is stopped (Ctrl-C) or when an epoch's mean
/// loss is not finite or exceeds [`EXPLOSION_FACTOR`] times the loss of the zero model.
#[allow(clippy::too_many_arguments)]
pub fn refit(
    config: &ExperimentConfig,
    set: Arc<ImageSet>,
    normalization: &Normalization,
    indices: Vec<u32>,
    model_config: &LinearClassifierConfig,
    epochs: usize,
    device: &Device,
    interrupter: &Interrupter,
    quiet: bool,
) -> Result<(LinearClassifier, RefitSummary)> {
    let images = indices.len();
    let batch_size = config.train.batch_size.resolve(images);
    let schedule = scheduler(config, images.div_ceil(batch_size))?;
    device.seed(config.train.seed);
    let autodiff = device.clone().autodiff();
    let loader = training_loader(
        config,
        ImageBatcher::new(set, normalization),
        indices,
        batch_size,
        &autodiff,
    );
    let model = Trainee {
        classifier: model_config.init(&autodiff),
        loss: config.train.loss,
    };
    let mut learner = Learner::new(model, sgd(config).init(), schedule);
    let (reference, why) = zero_model_loss(config.train.loss, model_config.num_classes);
    let limit = EXPLOSION_FACTOR * reference;
    if !quiet {
        crate::say!(
            "refit: training again from the start on all {images} images (training and validation parts), {epochs} epoch{}",
            if epochs == 1 { "" } else { "s" }
        );
    }
    let started = Instant::now();
    let (mut train_loss, mut train_accuracy) = (f64::NAN, f64::NAN);
    for epoch in 1..=epochs {
        let epoch_start = Instant::now();
        // Sums kept on the device and read once per epoch: no synchronisation per step.
        let mut loss_sum: Option<Tensor<1>> = None;
        let mut correct: Option<Tensor<1, Int>> = None;
        for batch in loader.iter() {
            if interrupter.should_stop() {
                bail!(RefitStopped::Interrupted {
                    done: epoch - 1,
                    of: epochs
                });
            }
            let batch = batch.map_err(|e| anyhow!("refit: {e}"))?;
            let n = batch.targets.dims()[0];
            learner.lr_step();
            let step = learner.train_step(batch);
            let output = step.item;
            let batch_loss = output.loss.clone().detach().mul_scalar(n as f64);
            let hits = output
                .output
                .detach()
                .argmax(1)
                .squeeze_dim::<1>(1)
                .equal(output.targets)
                .int()
                .sum();
            loss_sum = Some(match loss_sum {
                Some(s) => s + batch_loss,
                None => batch_loss,
            });
            correct = Some(match correct {
                Some(c) => c + hits,
                None => hits,
            });
            learner.optimizer_step(step.grads);
        }
        train_loss = loss_sum.map_or(0.0, |s| s.into_scalar::<f64>()) / images as f64;
        train_accuracy = correct.map_or(0.0, |c| c.into_scalar::<i64>() as f64) / images as f64;
        if !train_loss.is_finite() || train_loss > limit {
            bail!(RefitStopped::Diverged(format!(
                "epoch {epoch}'s mean training loss {train_loss:.4} is above {EXPLOSION_FACTOR} × {why}"
            )));
        }
        if !quiet {
            crate::say!(
                "refit {epoch:>3}/{epochs}  train loss {train_loss:.4} acc {:>6.2}%  {:.2} s",
                100.0 * train_accuracy,
                epoch_start.elapsed().as_secs_f64()
            );
        }
        if interrupter.should_stop() && epoch < epochs {
            bail!(RefitStopped::Interrupted {
                done: epoch,
                of: epochs
            });
        }
    }
    let classifier = learner.model().classifier.valid();
    Ok((
        classifier,
        RefitSummary {
            images,
            epochs,
            train_loss,
            train_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        },
    ))
}

/// Whether `error` is a refit that did not finish.
pub fn stopped(error: &anyhow::Error) -> Option<&RefitStopped> {
    error.downcast_ref::<RefitStopped>()
}
