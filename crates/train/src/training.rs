//! Training with Burn's learner: the model wrapped for its train and inference steps, data
//! loaders over the shared u8 image set, SGD, metrics, checkpoints, and the run directory.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use burn::data::dataloader::DataLoaderBuilder;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric, TopKAccuracyMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, MetricEarlyStoppingStrategy, StoppingCondition,
    SupervisedTraining, TrainOutput, TrainStep,
};
use linclass_data::{ImageBatch, ImageBatcher, ImageDataset};
use linclass_model::{LinearClassifier, LinearClassifierConfig};

use crate::backend::Backend;
use crate::config::{ExperimentConfig, LossKind, Schedule};
use crate::datasets::open_training;
use crate::progress::{EpochLog, EpochRecord, Progress};
use crate::runfiles::{DataSummary, METRICS_FILE, RunDir, RunInfo, load_record};

/// The classifier as the learner sees it: a train step (forward, loss, backward) and an
/// inference step (forward, loss).
#[derive(Module, Debug)]
pub struct Trainee {
    pub classifier: LinearClassifier,
    #[module(skip)]
    pub loss: LossKind,
}

/// The configured loss of class scores `logits` [B, C] against labels `targets` [B], averaged
/// over the batch.
pub fn loss(kind: LossKind, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
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
            let classes = logits.dims()[1];
            let onehot = targets.one_hot(classes).float();
            (logits - onehot).powi_scalar(2).sum_dim(1).mean()
        }
    }
}

impl Trainee {
    fn forward_classification(&self, batch: ImageBatch) -> ClassificationOutput {
        let logits = self.classifier.forward(batch.images);
        let loss = loss(self.loss, logits.clone(), batch.targets.clone());
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

/// Burn's SGD built from the `[optimizer]` section (momentum without dampening, as in
/// PyTorch; weight decay as an L2 term added to the gradient).
pub fn sgd(config: &ExperimentConfig) -> SgdConfig {
    let o = &config.optimizer;
    let mut sgd = SgdConfig::new();
    if o.momentum > 0.0 {
        sgd = sgd.with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(o.momentum)
                .with_dampening(0.0),
        ));
    }
    if o.weight_decay > 0.0 {
        sgd = sgd.with_weight_decay(Some(WeightDecayConfig::new(o.weight_decay as f32)));
    }
    sgd
}

/// The learning-rate schedule, stepped once per gradient step by the learner.
pub fn scheduler(config: &ExperimentConfig, steps_per_epoch: usize) -> Result<ModuleLrScheduler> {
    let o = &config.optimizer;
    let total = (steps_per_epoch * config.train.epochs).max(1);
    match o.schedule {
        Schedule::Constant => Ok(o.lr.into()),
        Schedule::Step => StepLrSchedulerConfig::new(o.lr, o.step_epochs * steps_per_epoch)
            .with_gamma(o.step_gamma)
            .init()
            .map_err(|e| anyhow!("optimizer.schedule = \"step\": {e}")),
        Schedule::Cosine => CosineAnnealingLrSchedulerConfig::new(o.lr, total)
            .with_min_lr(o.min_lr)
            .init()
            .map_err(|e| anyhow!("optimizer.schedule = \"cosine\": {e}")),
    }
}

/// What a finished training run left behind.
pub struct Trained {
    pub run: RunDir,
    pub info: RunInfo,
    pub epochs: Vec<EpochRecord>,
    pub model: LinearClassifier,
}

/// The config with `data.dir` made absolute, so that the run directory can be used from
/// any working directory.
fn with_absolute_data_dir(config: &ExperimentConfig) -> ExperimentConfig {
    let mut config = config.clone();
    if !config.data.dir.is_empty()
        && let Ok(abs) = std::path::absolute(&config.data.dir)
    {
        config.data.dir = abs.display().to_string();
    }
    config
}

/// The error for a run whose loss became NaN or infinite: the model of the last finished
/// epoch (its checkpoint) is kept as the run's record, so the run stays usable.
fn diverged_error(
    run: &RunDir,
    model_config: &LinearClassifierConfig,
    config: &ExperimentConfig,
    diverged: &str,
    device: &Device,
) -> anyhow::Error {
    let last_good = (1..=config.train.epochs)
        .rev()
        .map(|e| (e, run.file("checkpoint").join(format!("model-{e}.bpk"))))
        .find(|(_, p)| p.is_file());
    let kept = match last_good {
        Some((epoch, path)) => {
            match load_record(&path, model_config, device).and_then(|m| run.save_model(m)) {
                Ok(()) => format!(
                    "the model after epoch {epoch} was kept in {}",
                    run.file(crate::runfiles::RECORD_FILE).display()
                ),
                Err(e) => format!("the last checkpoint could not be kept: {e:#}"),
            }
        }
        None => "no epoch finished, so no model was kept".to_string(),
    };
    anyhow!(
        "training diverged: {diverged}; try a smaller learning rate than optimizer.lr = {}; {kept}",
        config.optimizer.lr
    )
}

/// Number of classes the top-k metric looks at: 5, or fewer for tiny class counts.
pub fn top_k(num_classes: usize) -> usize {
    5.min(num_classes)
}

/// Trains the configured model and writes the run directory.
pub fn train(config: &ExperimentConfig, backend: Backend, quiet: bool) -> Result<Trained> {
    let device = backend.device()?;
    let config = &with_absolute_data_dir(config);
    let run = RunDir::new(&config.output.dir);
    run.create()?;
    // A new run replaces the checkpoints of an earlier one in the same directory.
    let _ = std::fs::remove_dir_all(run.file("checkpoint"));

    let data = open_training(&config.data, config.train.seed)?;
    let classes = data.set.classes().to_vec();
    let model_config = LinearClassifierConfig {
        input_shape: data.set.shape(),
        num_classes: classes.len(),
        bias: config.model.bias,
        init: config.model.init,
        init_std: config.model.init_std,
    };
    let info = RunInfo {
        backend: backend.name().to_string(),
        classes: classes.clone(),
        normalization: data.normalization.clone(),
        data: DataSummary {
            train: data.split.train.len(),
            valid: data.split.valid.len(),
            test: 0,
        },
        model: model_config.clone(),
        config: config.clone(),
    };
    run.save_info(&info)?;
    if !quiet {
        println!(
            "training a {}x{} linear classifier on {} images ({} held out for validation), {} epochs, batch {}, lr {}, backend {}",
            model_config.num_classes,
            model_config.input_dim(),
            info.data.train,
            info.data.valid,
            config.train.epochs,
            config.train.batch_size,
            config.optimizer.lr,
            backend.name()
        );
    }

    device.seed(config.train.seed);
    let autodiff = device.clone().autodiff();
    let set = Arc::new(data.set);
    let batcher = ImageBatcher::new(set, &data.normalization);
    let batch_size = config.train.batch_size.resolve(data.split.train.len());
    let steps_per_epoch = data.split.train.len().div_ceil(batch_size);
    let mut train_loader = DataLoaderBuilder::new(batcher.clone())
        .batch_size(batch_size)
        .num_workers(0)
        .set_device(autodiff.clone());
    if config.train.shuffle {
        train_loader = train_loader.shuffle(config.train.seed);
    }
    let train_loader = train_loader.build(ImageDataset::new(data.split.train.clone()));
    let valid_loader = DataLoaderBuilder::new(batcher)
        .batch_size(batch_size.clamp(512, 4096))
        .num_workers(0)
        .set_device(device.clone())
        .build(ImageDataset::new(data.split.valid.clone()));

    let k = top_k(model_config.num_classes);
    let log = EpochLog::new(run.file(METRICS_FILE), config.train.epochs, k, quiet);
    let model = Trainee {
        classifier: model_config.init(&autodiff),
        loss: config.train.loss,
    };
    let mut training = SupervisedTraining::new(&run.path, train_loader, valid_loader);
    log.stop_on_divergence(training.interrupter());
    if config.train.early_stopping_patience > 0 {
        training = training.early_stopping(MetricEarlyStoppingStrategy::new(
            &LossMetric::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince {
                n_epochs: config.train.early_stopping_patience,
            },
        ));
    }
    let result = training
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .metric_train_numeric(TopKAccuracyMetric::new(k))
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid_numeric(TopKAccuracyMetric::new(k))
        .with_metric_logger(log.clone())
        .renderer(Box::new(Progress::new(quiet)))
        .with_application_logger(None)
        .with_default_checkpointers()
        .num_epochs(config.train.epochs)
        .launch(Learner::new(
            model,
            sgd(config).init(),
            scheduler(config, steps_per_epoch)?,
        ));
    drop(result.renderer);
    if let Some(error) = result.error {
        return Err(anyhow!("training failed: {error}"));
    }
    if let Some(diverged) = log.divergence() {
        return Err(diverged_error(
            &run,
            &model_config,
            config,
            &diverged,
            &device,
        ));
    }
    let model = result.model.classifier;
    run.save_model(model.clone())?;
    Ok(Trained {
        run,
        info,
        epochs: log.records(),
        model,
    })
}
