//! Training with Burn's learner: the model wrapped for its train and inference steps, data
//! loaders over the shared u8 image set, SGD, metrics, checkpoints, and the run directory.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::train::metric::{AccuracyMetric, LossMetric, TopKAccuracyMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep,
};
use linclass_data::{ImageBatch, ImageBatcher, ImageDataset};
use linclass_model::{LinearClassifier, LinearClassifierConfig};

use crate::backend::Backend;
use crate::config::ExperimentConfig;
use crate::datasets::open_training;
use crate::progress::{EpochLog, EpochRecord, Progress};
use crate::runfiles::{DataSummary, METRICS_FILE, RunDir, RunInfo};

/// The classifier as the learner sees it: a train step (forward, cross-entropy, backward)
/// and an inference step (forward, cross-entropy).
#[derive(Module, Debug)]
pub struct Trainee {
    pub classifier: LinearClassifier,
}

impl Trainee {
    fn forward_classification(&self, batch: ImageBatch) -> ClassificationOutput {
        let logits = self.classifier.forward(batch.images);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone());
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
    let mut train_loader = DataLoaderBuilder::new(batcher.clone())
        .batch_size(config.train.batch_size)
        .num_workers(0)
        .set_device(autodiff.clone());
    if config.train.shuffle {
        train_loader = train_loader.shuffle(config.train.seed);
    }
    let train_loader = train_loader.build(ImageDataset::new(data.split.train.clone()));
    let valid_loader = DataLoaderBuilder::new(batcher)
        .batch_size(config.train.batch_size.max(512))
        .num_workers(0)
        .set_device(device.clone())
        .build(ImageDataset::new(data.split.valid.clone()));

    let k = top_k(model_config.num_classes);
    let log = EpochLog::new(run.file(METRICS_FILE), config.train.epochs, k, quiet);
    let model = Trainee {
        classifier: model_config.init(&autodiff),
    };
    let result = SupervisedTraining::new(&run.path, train_loader, valid_loader)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .metric_train_numeric(TopKAccuracyMetric::new(k))
        .metric_valid_numeric(TopKAccuracyMetric::new(k))
        .with_metric_logger(log.clone())
        .renderer(Box::new(Progress::new(quiet)))
        .with_application_logger(None)
        .with_default_checkpointers()
        .num_epochs(config.train.epochs)
        .launch(Learner::new(model, sgd(config).init(), config.optimizer.lr));
    drop(result.renderer);
    if let Some(error) = result.error {
        return Err(anyhow!("training failed: {error}"));
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
