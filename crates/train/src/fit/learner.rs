//! Burn's learner wiring: the classifier as the learner's module (train and inference steps),
//! the configured loss, SGD with momentum and weight decay, the learning-rate schedule, the
//! shuffled training loader, and the divergence bound.

use anyhow::{Result, anyhow};
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use linclass_data::{EpochLoader, ImageBatch, ImageBatcher};
use linclass_model::LinearClassifier;

use crate::config::{ExperimentConfig, GradientKind, LossKind, Schedule};
use crate::fit::analytic::{Analytic, analytic_loss};
use crate::fit::sgd::OnePassSgd;

/// The classifier as the learner sees it: a train step (forward, loss, backward) and an
/// inference step (forward, loss).
#[derive(Module, Debug)]
pub(crate) struct Trainee {
    /// The model trained.
    pub classifier: LinearClassifier,
    /// The loss it is trained with.
    #[module(skip)]
    pub loss: LossKind,
    /// How the loss's gradient is computed.
    #[module(skip)]
    pub gradient: GradientKind,
}

/// The configured loss of class scores `logits` \[B, C\] against labels `targets` \[B\], averaged
/// over the batch, with its gradient computed as `gradient` says.
pub fn loss(
    kind: LossKind,
    gradient: GradientKind,
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
) -> Tensor<1> {
    let analytic = match kind {
        LossKind::CrossEntropy => Some(Analytic::CrossEntropy),
        LossKind::SquaredError => Some(Analytic::SquaredError),
        LossKind::Nll => None,
    };
    if let (GradientKind::Analytic, Some(kind)) = (gradient, analytic) {
        return analytic_loss(logits, targets, kind);
    }
    match kind {
        LossKind::CrossEntropy => CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, targets),
        LossKind::Nll => {
            let log_p = log_softmax(logits, 1);
            let picked = log_p.gather(1, targets.unsqueeze_dim::<2>(1));
            picked.mean().neg()
        }
        LossKind::SquaredError => {
            // Mean over classes and images, as PyTorch's `MSELoss`: C times smaller than the
            // sum over classes, so it trains at learning rates near the cross-entropy's.
            let classes = logits.dims()[1];
            let onehot = targets.one_hot(classes).float();
            (logits - onehot).powi_scalar(2).mean()
        }
    }
}

impl Trainee {
    fn forward_classification(&self, batch: ImageBatch) -> ClassificationOutput {
        let logits = self.classifier.forward(batch.images);
        let loss = loss(
            self.loss,
            self.gradient,
            logits.clone(),
            batch.targets.clone(),
        );
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for Trainee {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        let output = self.forward_classification(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl InferenceStep for Trainee {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}

/// SGD from the `[optimizer]` section (momentum without dampening, as in PyTorch; weight decay
/// as an L2 term added to the gradient), one pass over each parameter.
pub(crate) fn sgd(config: &ExperimentConfig) -> OnePassSgd {
    OnePassSgd {
        momentum: config.optimizer.momentum,
        weight_decay: config.optimizer.weight_decay,
    }
}

/// The learning-rate schedule, stepped once per gradient step by the learner.
pub(crate) fn scheduler(
    config: &ExperimentConfig,
    steps_per_epoch: usize,
) -> Result<ModuleLrScheduler> {
    let o = &config.optimizer;
    let lr = config.lr();
    let total = (steps_per_epoch * config.train.epochs).max(1);
    match o.schedule {
        Schedule::Constant => Ok(lr.into()),
        Schedule::Step => StepLrSchedulerConfig::new(lr, o.step_epochs * steps_per_epoch)
            .with_gamma(o.step_gamma)
            .init()
            .map_err(|e| anyhow!("optimizer.schedule = \"step\": {e}")),
        Schedule::Cosine => CosineAnnealingLrSchedulerConfig::new(lr, total)
            .with_min_lr(o.min_lr)
            .init()
            .map_err(|e| anyhow!("optimizer.schedule = \"cosine\": {e}")),
    }
}

/// The loss of the all-zero model (every class scored alike): ln C for cross-entropy and NLL,
/// 1/C for the squared error against one-hot targets (a mean over the C classes). A training loss far
/// above it means the steps are overshooting: divergence, even while still finite.
pub(crate) fn zero_model_loss(kind: LossKind, classes: usize) -> (f64, String) {
    match kind {
        LossKind::CrossEntropy | LossKind::Nll => (
            (classes as f64).ln(),
            format!("ln {classes}, the loss of the all-zero model"),
        ),
        LossKind::SquaredError => (
            1.0 / classes as f64,
            format!("1/{classes}, the loss of the all-zero model"),
        ),
    }
}

/// How far above [`zero_model_loss`] a loss counts as divergence.
pub(crate) const EXPLOSION_FACTOR: f64 = 100.0;

/// The loader of training images, shuffled and flipped as `config` says (seeded).
pub(crate) fn training_loader(
    config: &ExperimentConfig,
    batcher: ImageBatcher,
    indices: Vec<u32>,
    batch_size: usize,
    device: &Device,
) -> EpochLoader {
    let loader = EpochLoader::new(
        batcher,
        indices,
        batch_size,
        config.train.shuffle.then_some(config.train.seed),
        device.clone(),
    );
    if config.data.random_flip {
        loader.with_random_flip(config.train.seed)
    } else {
        loader
    }
}
