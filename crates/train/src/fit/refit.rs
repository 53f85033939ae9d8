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
use linclass_data::split::TrainValid;
use linclass_data::{EpochLoader, ImageBatcher, ImageSet, Normalization};
use linclass_model::LinearClassifier;

use crate::fit::interrupt::Interrupted;
use crate::fit::learner::{
    EXPLOSION_FACTOR, Trainee, scheduler, sgd, training_loader, zero_model_loss,
};
use crate::fit::reporter::Reporter;
use crate::run::dir::RunDir;
use crate::run::history::EpochRecord;
use crate::run::info::{RefitSummary, RunInfo};

/// Why a refit did not finish; the validated model stays the run's record.
#[derive(Debug)]
pub(crate) enum RefitStopped {
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

/// A `train.refit` to run once the validated model of `epoch` is saved as the run's record.
pub(crate) struct Refit<'a> {
    set: Arc<ImageSet>,
    normalization: &'a Normalization,
    /// The training and validation parts together.
    indices: Vec<u32>,
    epoch: usize,
    /// The validated model's accuracy on the validation part (0–1), for the messages.
    valid_accuracy: Option<f64>,
    /// Set by Ctrl-C (installed by the caller).
    interrupter: Interrupter,
}

impl<'a> Refit<'a> {
    /// The refit of `epoch` epochs over both parts of `split`; `records` give the validated
    /// model's accuracy for the messages.
    pub(crate) fn new(
        set: Arc<ImageSet>,
        normalization: &'a Normalization,
        split: &TrainValid,
        epoch: usize,
        records: &[EpochRecord],
        interrupter: Interrupter,
    ) -> Self {
        Self {
            set,
            normalization,
            indices: [split.train.as_slice(), &split.valid].concat(),
            epoch,
            valid_accuracy: records
                .iter()
                .find(|r| r.epoch == epoch)
                .map(|r| r.valid.accuracy),
            interrupter,
        }
    }

    /// Refits, then saves the model and records the refit in `run.toml`. If the refit does
    /// not finish, the validated model stays the run's record and the error says so
    /// ([`Interrupted`] after Ctrl-C).
    pub(crate) fn run(
        self,
        run: &RunDir,
        info: &mut RunInfo,
        device: &Device,
        reporter: &dyn Reporter,
    ) -> Result<LinearClassifier> {
        let accuracy = self
            .valid_accuracy
            .map(|a| format!("valid accuracy {:.2}%, ", 100.0 * a))
            .unwrap_or_default();
        let validated = format!(
            "model.bpk is the validated model of epoch {} ({accuracy}trained without the validation part) and usable as it is",
            self.epoch
        );
        let lr = info.config.lr();
        let (model, summary) = match self.fit(info, device, reporter) {
            Ok(done) => done,
            Err(e) => {
                return Err(match e.downcast_ref::<RefitStopped>() {
                    Some(RefitStopped::Interrupted { .. }) => Interrupted {
                        run: run.path.clone(),
                        kept: format!("{e}; {validated}"),
                        resumable: true,
                    }
                    .into(),
                    Some(RefitStopped::Diverged(_)) => anyhow!(
                        "{e}; {validated}; a new run with a smaller learning rate than {lr} (optimizer.lr) can refit"
                    ),
                    None => e.context(validated),
                });
            }
        };
        run.save_model(model.clone())?;
        info.refit = Some(summary);
        run.save_info(info)?;
        Ok(model)
    }

    /// Trains the run's classifier from its initialization on the training and validation
    /// parts for the chosen number of epochs, with the run's optimizer, batch size, loss,
    /// shuffling, flips and seed. The learning-rate schedule is the run's: laid out over
    /// `train.epochs` epochs of this larger set, so that stopping at the chosen epoch ends where
    /// the kept model's training ended. Pixels are normalized as in the run (measured on the
    /// training part), so the model is applied to new images exactly as the validated one was.
    ///
    /// Errors: [`RefitStopped`] when the interrupter is stopped (Ctrl-C) or when an epoch's
    /// mean loss is not finite or exceeds [`EXPLOSION_FACTOR`] times the loss of the zero model.
    fn fit(
        self,
        info: &RunInfo,
        device: &Device,
        reporter: &dyn Reporter,
    ) -> Result<(LinearClassifier, RefitSummary)> {
        let config = &info.config;
        let (images, epochs) = (self.indices.len(), self.epoch);
        let batch_size = config.train.batch_size.resolve(images);
        let schedule = scheduler(config, images.div_ceil(batch_size))?;
        device.seed(config.train.seed);
        let autodiff = device.clone().autodiff();
        let batcher = ImageBatcher::new(self.set.clone(), self.normalization);
        let loader = training_loader(config, batcher, self.indices, batch_size, &autodiff);
        let model = Trainee {
            classifier: info.model.init(&autodiff),
            loss: config.train.loss,
            gradient: config.train.gradient,
        };
        let mut learner = Learner::new(model, sgd(config).init(), schedule);
        let (reference, why) = zero_model_loss(config.train.loss, info.model.num_classes);
        reporter.line(&format!(
            "refit: training again from the start on all {images} images (training and validation parts), {epochs} epoch{}",
            if epochs == 1 { "" } else { "s" }
        ));
        let started = Instant::now();
        let (mut train_loss, mut train_accuracy) = (f64::NAN, f64::NAN);
        for epoch in 1..=epochs {
            let epoch_start = Instant::now();
            (train_loss, train_accuracy) =
                refit_epoch(&mut learner, &loader, &self.interrupter, epoch, epochs)?;
            if !train_loss.is_finite() || train_loss > EXPLOSION_FACTOR * reference {
                bail!(RefitStopped::Diverged(format!(
                    "epoch {epoch}'s mean training loss {train_loss:.4} is above {EXPLOSION_FACTOR} × {why}"
                )));
            }
            reporter.line(&format!(
                "refit {epoch:>3}/{epochs}  train loss {train_loss:.4} acc {:>6.2}%  {:.2} s",
                100.0 * train_accuracy,
                epoch_start.elapsed().as_secs_f64()
            ));
            if self.interrupter.should_stop() && epoch < epochs {
                bail!(RefitStopped::Interrupted {
                    done: epoch,
                    of: epochs
                });
            }
        }
        let summary = RefitSummary {
            images,
            epochs,
            train_loss,
            train_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((learner.model().classifier.valid(), summary))
    }
}

/// One epoch of the refit: its mean training loss and accuracy (0–1), measured while training.
/// The sums stay on the device and are read once per epoch: no synchronisation per step.
fn refit_epoch(
    learner: &mut Learner<Trainee>,
    loader: &EpochLoader,
    interrupter: &Interrupter,
    epoch: usize,
    epochs: usize,
) -> Result<(f64, f64)> {
    let mut loss_sum: Option<Tensor<1>> = None;
    let mut correct: Option<Tensor<1, Int>> = None;
    let mut images = 0usize;
    for batch in loader.iter() {
        if interrupter.should_stop() {
            bail!(RefitStopped::Interrupted {
                done: epoch - 1,
                of: epochs
            });
        }
        let batch = batch.map_err(|e| anyhow!("refit: {e}"))?;
        let n = batch.targets.dims()[0];
        images += n;
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
        loss_sum = Some(loss_sum.map_or(batch_loss.clone(), |s| s + batch_loss));
        correct = Some(correct.map_or(hits.clone(), |c| c + hits));
        learner.optimizer_step(step.grads);
    }
    let n = images.max(1) as f64;
    Ok((
        loss_sum.map_or(0.0, |s| s.into_scalar::<f64>()) / n,
        correct.map_or(0.0, |c| c.into_scalar::<i64>() as f64) / n,
    ))
}
