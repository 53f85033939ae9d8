//! Training with Burn's learner: the model wrapped for its train and inference steps, data
//! loaders over the shared u8 image set, SGD, metrics, checkpoints, and the run directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

use anyhow::{Result, anyhow, bail};
use burn::data::dataloader::DataLoader;
use burn::lr_scheduler::LrSchedulerRecord;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::OptimizerRecord;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::activation::log_softmax;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, Interrupter, Learner, MetricEarlyStoppingStrategy,
    StoppingCondition, SupervisedTraining, TrainOutput, TrainStep,
};
use linclass_data::{EpochLoader, ImageBatch, ImageBatcher};
use linclass_model::{LinearClassifier, LinearClassifierConfig};

use crate::backend::Backend;
use crate::config::{ExperimentConfig, Keep, LossKind, Schedule};
use crate::datasets::{TrainingData, check_test_split, open_training};
use crate::metrics::{ImageLoss, TopKAccuracy};
use crate::progress::{EpochLog, Progress, TrainPassTimes};
use crate::runfiles::{DataSummary, EpochRecord, METRICS_FILE, RunDir, RunInfo};

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

/// What a finished training run left behind.
pub struct Trained {
    pub run: RunDir,
    pub info: RunInfo,
    pub epochs: Vec<EpochRecord>,
    /// The epoch whose model is the run's record (`train.keep`).
    pub kept: Option<usize>,
    /// Seconds of each training pass this process ran (epochs before a `--resume` not
    /// included), without validation and checkpointing.
    pub train_pass_seconds: Vec<f64>,
    pub model: LinearClassifier,
}

/// The config with `data.dir` made absolute, so that the run directory can be used from
/// any working directory.
fn with_absolute_data_dir(config: &ExperimentConfig) -> ExperimentConfig {
    let mut config = config.clone();
    let source = crate::datasets::source(&config.data, config.train.seed);
    if config.data.dir.is_empty() && !source.is_embedded() {
        // The folder a default found (data/KIND of the working directory or of the source
        // tree, Debian's Fashion-MNIST): recorded, so that eval and resume read the same one
        // from any directory.
        config.data.dir = source.resolved_dir().display().to_string();
    }
    if !config.data.dir.is_empty()
        && let Ok(abs) = std::path::absolute(&config.data.dir)
    {
        config.data.dir = abs.display().to_string();
    }
    config
}

/// Loads the model of checkpoint `epoch` (checkpoint/model-N.bpk), checking that it fits the
/// run's model before Burn sees it.
pub fn load_checkpoint_model(
    run: &RunDir,
    epoch: usize,
    model_config: &LinearClassifierConfig,
    loss: LossKind,
    device: &Device,
) -> Result<LinearClassifier> {
    let path = run.file("checkpoint").join(format!("model-{epoch}.bpk"));
    let record = ModuleRecord::load(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Trainee {
        classifier: model_config.init(device),
        loss,
    }
    .try_load_record(record)
    .map(|t| t.classifier)
    .map_err(|e| {
        anyhow!(
            "{}: does not fit a {}-class model of input shape {:?}: {e}",
            path.display(),
            model_config.num_classes,
            model_config.input_shape
        )
    })
}

/// Keeps the model of checkpoint `epoch` as the run's record, so that a run stopped early (or
/// one whose best epoch was not its last) stays usable; says what was kept.
fn keep_checkpoint(
    run: &RunDir,
    epoch: Option<usize>,
    model_config: &LinearClassifierConfig,
    config: &ExperimentConfig,
    device: &Device,
) -> String {
    let Some(epoch) = epoch else {
        return "no epoch finished, so no model was kept".to_string();
    };
    match load_checkpoint_model(run, epoch, model_config, config.train.loss, device)
        .and_then(|model| run.save_model(model))
    {
        Ok(()) => format!(
            "the model after epoch {epoch} was kept in {}",
            run.file(crate::runfiles::RECORD_FILE).display()
        ),
        Err(e) => format!("the model of epoch {epoch} could not be kept: {e:#}"),
    }
}

/// The loss of the all-zero model (every class scored alike): ln C for cross-entropy and NLL,
/// 1/C for the squared error against one-hot targets (a mean over the C classes). A training loss far
/// above it means the steps are overshooting: divergence, even while still finite.
pub fn zero_model_loss(kind: LossKind, classes: usize) -> (f64, String) {
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
pub const EXPLOSION_FACTOR: f64 = 100.0;

/// Number of classes the top-k metric looks at: 5, or fewer for tiny class counts.
pub fn top_k(num_classes: usize) -> usize {
    5.min(num_classes)
}

/// Trains the configured model and writes the run directory.
pub fn train(config: &ExperimentConfig, backend: Backend, quiet: bool) -> Result<Trained> {
    train_from(config, backend, quiet, None)
}

/// Continues an interrupted run from its last usable checkpoint, with the config it was
/// started with. Nothing in the run directory changes unless the data it opens is the data the
/// run recorded and a checkpoint loads.
pub fn resume(run_path: &Path, backend: Backend, quiet: bool) -> Result<Trained> {
    let run = RunDir::new(run_path);
    let info = run.load_info()?;
    let epochs = info.config.train.epochs;
    let finished = std::fs::read_to_string(run.file(METRICS_FILE))
        .map(|t| crate::runfiles::read_metrics_csv(&t).0.len())
        .unwrap_or(0);
    if finished >= epochs || last_checkpoint(&run, epochs) == Some(epochs) {
        if info.config.train.refit && info.refit.is_none() && finished > 0 {
            return refit_finished(run, info, backend, quiet);
        }
        let done = epochs_done(epochs);
        bail!(
            "{}: {done}; to train further, raise `epochs` under [config.train] in {}",
            run.path.display(),
            run.file(crate::runfiles::INFO_FILE).display()
        );
    }
    let device = backend.device()?;
    let done = usable_checkpoint(&run, &info, &device)?;
    let mut config = info.config.clone();
    config.output.dir = run.path.clone();
    run.remove_leftover_temporaries();
    // The run resumed is the one a killed `train` had started: the run it replaced goes.
    run.settle_killed_replacement(true);
    train_from(&config, backend, quiet, Some((done, info)))
}

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

/// "its one epoch is done" / "all N epochs are done".
fn epochs_done(n: usize) -> String {
    if n == 1 {
        "its one epoch is done".to_string()
    } else {
        format!("all {n} epochs are done")
    }
}

/// Runs the refit of a run whose epochs are all done but whose refit did not finish.
fn refit_finished(
    run: RunDir,
    mut info: RunInfo,
    backend: Backend,
    quiet: bool,
) -> Result<Trained> {
    let device = backend.device()?;
    let config = &info.config;
    crate::datasets::source(&config.data, config.train.seed)
        .ensure_all_present(&mut crate::progress::DownloadBar::default())?;
    let data = open_training(&config.data, config.train.seed)?;
    check_test_split(&config.data, config.train.seed, &data.set)?;
    let changes = data_changes(&info, &run_info(config, backend, &data));
    if !changes.is_empty() {
        bail!(
            "cannot refit {}: the data changed since the run ({}); train a new run",
            run.path.display(),
            changes.join("; ")
        );
    }
    let (epochs, recorded) = std::fs::read_to_string(run.file(METRICS_FILE))
        .map(|t| crate::runfiles::read_metrics_csv(&t))
        .map_err(|e| anyhow!("{}: {e}", run.file(METRICS_FILE).display()))?;
    let kept = recorded
        .or_else(|| crate::runfiles::kept_epoch(&epochs, config.train.keep == Keep::Best))
        .ok_or_else(|| {
            anyhow!(
                "{}: no finished epoch is recorded, nothing to refit",
                run.file(METRICS_FILE).display()
            )
        })?;
    if !quiet {
        let done = epochs_done(epochs.len());
        crate::say!("resuming {}: {done}, its refit is not", run.path.display());
    }
    run.remove_leftover_temporaries();
    let interrupter = Interrupter::new();
    let _ctrl_c = install_ctrl_c(interrupter.clone());
    let refit = Refit::new(
        Arc::new(data.set),
        &data.normalization,
        &data.split,
        kept,
        &epochs,
        interrupter,
    );
    let model = refit.run(&run, &mut info, &device, quiet)?;
    Ok(Trained {
        run,
        info,
        epochs,
        kept: Some(kept),
        train_pass_seconds: Vec::new(),
        model,
    })
}

/// The last epoch whose model, optimizer and scheduler checkpoints all exist.
pub fn last_checkpoint(run: &RunDir, epochs: usize) -> Option<usize> {
    complete_checkpoints(run, epochs).into_iter().next()
}

/// Epochs whose three checkpoint files exist, latest first.
fn complete_checkpoints(run: &RunDir, epochs: usize) -> Vec<usize> {
    let dir = run.file("checkpoint");
    (1..=epochs)
        .rev()
        .filter(|e| {
            ["model", "optim", "scheduler"]
                .iter()
                .all(|k| dir.join(format!("{k}-{e}.bpk")).is_file())
        })
        .collect()
}

/// The latest checkpoint that loads: its model fits the run's shape and its optimizer and
/// scheduler records read. A damaged one (a kill while it was written) is passed over with a
/// warning for the one before.
fn usable_checkpoint(run: &RunDir, info: &RunInfo, device: &Device) -> Result<usize> {
    let dir = run.file("checkpoint");
    let mut damaged = Vec::new();
    for epoch in complete_checkpoints(run, info.config.train.epochs) {
        let check = || -> Result<()> {
            load_checkpoint_model(run, epoch, &info.model, info.config.train.loss, device)?;
            let optim = dir.join(format!("optim-{epoch}.bpk"));
            OptimizerRecord::load(&optim).map_err(|e| anyhow!("{}: {e}", optim.display()))?;
            let scheduler = dir.join(format!("scheduler-{epoch}.bpk"));
            LrSchedulerRecord::load(&scheduler)
                .map_err(|e| anyhow!("{}: {e}", scheduler.display()))?;
            Ok(())
        };
        match check() {
            Ok(()) => {
                for (e, why) in &damaged {
                    eprintln!(
                        "warning: the checkpoint of epoch {e} is damaged ({why:#}); resuming from epoch {epoch}"
                    );
                }
                return Ok(epoch);
            }
            Err(why) => damaged.push((epoch, why)),
        }
    }
    match damaged.first() {
        Some((e, why)) => bail!(
            "{}: no checkpoint loads (the latest, of epoch {e}: {why:#})",
            dir.display()
        ),
        None => bail!(
            "{}: no complete checkpoint to resume from (checkpoint/model-N.bpk, optim-N.bpk, scheduler-N.bpk)",
            dir.display()
        ),
    }
}

/// What differs between the data a run recorded and the data opened now, one phrase each.
fn data_changes(recorded: &RunInfo, now: &RunInfo) -> Vec<String> {
    let mut changes = Vec::new();
    if recorded.classes != now.classes {
        changes.push(format!(
            "classes {:?} are now {:?}",
            recorded.classes, now.classes
        ));
    }
    if recorded.model.input_shape != now.model.input_shape {
        changes.push(format!(
            "image shape {:?} is now {:?}",
            recorded.model.input_shape, now.model.input_shape
        ));
    }
    let (was, is) = (&recorded.data, &now.data);
    if (was.train, was.valid) != (is.train, is.valid) {
        changes.push(format!(
            "{} training and {} validation images are now {} and {}",
            recorded.data.train, recorded.data.valid, now.data.train, now.data.valid
        ));
    }
    if changes.is_empty() && recorded.normalization != now.normalization {
        changes.push("the pixel statistics (normalization) differ: the images changed".into());
    } else if changes.is_empty()
        && let (Some(a), Some(b)) = (&was.fingerprint, &is.fingerprint)
        && a != b
    {
        changes.push(format!(
            "the training images or labels are not the same (fingerprint {a} is now {b})"
        ));
    }
    // Where the run lives is not part of what it was trained on: it may have been moved.
    let mut recorded_config = recorded.config.clone();
    recorded_config.output.dir = now.config.output.dir.clone();
    if changes.is_empty() && (recorded.model != now.model || recorded_config != now.config) {
        changes.push("the model or config differs from run.toml".into());
    }
    changes
}

/// The records of the epochs whose checkpoints are complete: an epoch stopped during its
/// validation pass has a (partial) record but no checkpoint, and cannot be kept.
fn checkpointed(run: &RunDir, log: &EpochLog, config: &ExperimentConfig) -> Vec<EpochRecord> {
    let done = complete_checkpoints(run, config.train.epochs);
    log.records()
        .into_iter()
        .filter(|r| done.contains(&r.epoch))
        .collect()
}

/// Why a run ended early without an error of its own.
#[derive(Debug)]
pub struct Interrupted {
    pub run: PathBuf,
    pub kept: String,
    /// Whether a checkpoint exists to resume from.
    pub resumable: bool,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.resumable {
            write!(
                f,
                "training interrupted; {}; continue with `linclass train --resume {}`",
                self.kept,
                self.run.display()
            )
        } else {
            write!(
                f,
                "training interrupted before the first epoch ended; {}; start it again with `linclass train`",
                self.kept
            )
        }
    }
}

impl std::error::Error for Interrupted {}

/// The interrupter of the training in progress, stopped by Ctrl-C.
static CURRENT: Mutex<Option<Interrupter>> = Mutex::new(None);

/// Clears the Ctrl-C target when dropped: until then a Ctrl-C only asks the work in progress
/// to stop (at the next step), so that files being written are finished.
struct CtrlCScope;

impl Drop for CtrlCScope {
    fn drop(&mut self) {
        // The run's files are written: what is left (curves, the closing line) takes
        // milliseconds, and a Ctrl-C now must not cut it short with a silent exit.
        FINISHING.store(true, std::sync::atomic::Ordering::SeqCst);
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Set once training has ended in this process: Ctrl-C is then ignored, not an exit.
static FINISHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn install_ctrl_c(interrupter: Interrupter) -> CtrlCScope {
    static INSTALLED: Once = Once::new();
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(interrupter);
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            match CURRENT.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                Some(i) => i.stop(Some("interrupted (Ctrl-C or a termination signal)")),
                None if FINISHING.load(std::sync::atomic::Ordering::SeqCst) => {}
                None => std::process::exit(130),
            }
        });
    });
    CtrlCScope
}

/// What `run.toml` records of a run of `config` on `data`.
fn run_info(config: &ExperimentConfig, backend: Backend, data: &TrainingData) -> RunInfo {
    let classes = data.set.classes().to_vec();
    RunInfo {
        backend: backend.name().to_string(),
        model: LinearClassifierConfig {
            input_shape: data.set.shape(),
            num_classes: classes.len(),
            bias: config.model.bias,
            init: config.model.init,
            init_std: config.model.init_std,
        },
        classes,
        normalization: data.normalization.clone(),
        data: DataSummary {
            train: data.split.train.len(),
            valid: data.split.valid.len(),
            fingerprint: Some(data.set.fingerprint()),
        },
        config: config.clone(),
        refit: None,
    }
}

/// Trains from scratch, or (`resume`: the last good checkpoint's epoch and the run's recorded
/// info) continues a run after checking that its data has not changed.
fn train_from(
    config: &ExperimentConfig,
    backend: Backend,
    quiet: bool,
    resume: Option<(usize, RunInfo)>,
) -> Result<Trained> {
    let resume_at = resume.as_ref().map(|(done, _)| *done);
    // Until training starts, Ctrl-C ends the process at once (nothing is written yet).
    FINISHING.store(false, std::sync::atomic::Ordering::SeqCst);
    let device = backend.device()?;
    let config = &with_absolute_data_dir(config);
    let run = RunDir::new(&config.output.dir);
    // Everything that can fail on the data fails before the run directory is touched; the
    // files of both splits are looked for first, so that one message lists all that is missing.
    crate::datasets::source(&config.data, config.train.seed)
        .ensure_all_present(&mut crate::progress::DownloadBar::default())?;
    let data = open_training(&config.data, config.train.seed)?;
    check_test_split(&config.data, config.train.seed, &data.set)?;

    let mut info = run_info(config, backend, &data);
    let model_config = info.model.clone();
    let mut created = false;
    let batch_size = config.train.batch_size.resolve(data.split.train.len());
    let steps_per_epoch = data.split.train.len().div_ceil(batch_size);
    let schedule = scheduler(config, steps_per_epoch)?;
    match &resume {
        Some((_, recorded)) => {
            let changes = data_changes(recorded, &info);
            if !changes.is_empty() {
                bail!(
                    "cannot resume {}: the data changed since the run started ({}); resume needs the data it was trained on, or train a new run",
                    run.path.display(),
                    changes.join("; ")
                );
            }
            // The refit model (if any) stays the record, and run.toml keeps saying so, until
            // a model of the new epochs replaces it.
            info.refit = recorded.refit.clone();
            if recorded.backend != info.backend {
                run.save_info(&info)?;
            }
        }
        None => {
            created = run.create()?;
        }
    }
    // A new run replaces an earlier one in the same directory only once an epoch has finished.
    let mut aside = match resume {
        None => {
            let aside = run.set_aside(created)?;
            run.save_info(&info)?;
            Some(aside)
        }
        Some(_) => None,
    };
    if !quiet {
        match resume_at {
            Some(done) => crate::say!(
                "resuming {} after epoch {done} of {}",
                run.path.display(),
                config.train.epochs
            ),
            None => crate::say!(
                "training a {}x{} linear classifier on {} images ({} held out for validation), {} epochs, batch {}, lr {}, backend {}",
                model_config.num_classes,
                model_config.input_dim(),
                info.data.train,
                info.data.valid,
                config.train.epochs,
                config.train.batch_size,
                config.lr(),
                backend.name()
            ),
        }
    }

    device.seed(config.train.seed);
    let autodiff = device.clone().autodiff();
    let set = Arc::new(data.set);
    let batcher = ImageBatcher::new(set.clone(), &data.normalization);
    let train_loader = training_loader(
        config,
        batcher.clone(),
        data.split.train.clone(),
        batch_size,
        &autodiff,
    )
    .resume_after(resume_at.unwrap_or(0));
    let valid_loader: Arc<dyn DataLoader<ImageBatch>> = Arc::new(EpochLoader::new(
        batcher,
        data.split.valid.clone(),
        batch_size.clamp(512, 4096),
        None,
        device.clone(),
    ));

    let k = top_k(model_config.num_classes);
    let log = EpochLog::new(run.file(METRICS_FILE), config.train.epochs, k, quiet);
    log.keep_best(config.train.keep == Keep::Best);
    if let Some(done) = resume_at {
        log.restore(&run.file(METRICS_FILE), done)?;
    }
    let model = Trainee {
        classifier: model_config.init(&autodiff),
        loss: config.train.loss,
    };
    let mut training = SupervisedTraining::new(&run.path, Arc::new(train_loader), valid_loader);
    let (reference, why) = zero_model_loss(config.train.loss, model_config.num_classes);
    log.stop_on_divergence(
        training.interrupter(),
        EXPLOSION_FACTOR * reference,
        &format!("{EXPLOSION_FACTOR} × {why}"),
        batch_size,
    );
    let interrupter = training.interrupter();
    let _ctrl_c = install_ctrl_c(interrupter.clone());
    if config.train.early_stopping_patience > 0 {
        training = training.early_stopping(MetricEarlyStoppingStrategy::new(
            &ImageLoss::default(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince {
                n_epochs: config.train.early_stopping_patience,
            },
        ));
    }
    if let Some(done) = resume_at {
        training = training.checkpoint(done);
    }
    let train_passes = TrainPassTimes::default();
    let result = training
        .metrics((AccuracyMetric::new(), ImageLoss::default()))
        .metric_train_numeric(TopKAccuracy::new(k))
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid_numeric(TopKAccuracy::new(k))
        .with_metric_logger(log.clone())
        .renderer(Box::new(Progress::new(quiet, train_passes.clone())))
        .with_application_logger(None)
        .with_default_checkpointers()
        .num_epochs(config.train.epochs)
        .launch(Learner::new(model, sgd(config).init(), schedule));
    drop(result.renderer);
    if let Some(aside) = aside.as_mut()
        && !checkpointed(&run, &log, config).is_empty()
    {
        aside.keep_new();
    }
    // Said when nothing of the new run is kept and the earlier run's files go back in place.
    let restored = match &aside {
        Some(a) if !a.keeps_new() && a.holds_earlier_run() => format!(
            " (the run that was in {} before is put back as it was)",
            run.path.display()
        ),
        _ => String::new(),
    };
    if let Some(error) = result.error {
        return Err(anyhow!("training failed: {error}"));
    }
    if let Some(diverged) = log.divergence() {
        // The last epochs may already have been overshooting: keep the best one.
        let best = crate::runfiles::kept_epoch(&checkpointed(&run, &log, config), true);
        drop_refit_record(&run, &mut info)?;
        let kept = keep_checkpoint(&run, best, &model_config, config, &device);
        return Err(anyhow!(
            "training diverged: {diverged}; try a smaller learning rate than {} (optimizer.lr); {kept}{restored}",
            config.lr()
        ));
    }
    if result.interrupted.is_some() {
        let finished = checkpointed(&run, &log, config);
        if let Some(last) = finished.last() {
            log.truncate_to(last.epoch);
        }
        let keep_best = config.train.keep == Keep::Best;
        let epoch = crate::runfiles::kept_epoch(&finished, keep_best);
        let kept = match &info.refit {
            // The new epochs did not change the choice: the refit of that epoch stays valid.
            Some(r) if Some(r.epochs) == epoch => format!(
                "model.bpk stays the refit of epoch {} (no later epoch is better)",
                r.epochs
            ),
            _ => {
                drop_refit_record(&run, &mut info)?;
                keep_checkpoint(&run, epoch, &model_config, config, &device)
            }
        } + &restored;
        return Err(Interrupted {
            run: run.path.clone(),
            kept,
            resumable: !finished.is_empty(),
        }
        .into());
    }
    let epochs = log.records();
    let last = epochs.last().map(|r| r.epoch);
    let mut kept = log.kept_epoch();
    let model = match kept {
        Some(epoch) if kept != last => {
            match load_checkpoint_model(&run, epoch, &model_config, config.train.loss, &device) {
                Ok(model) => model,
                Err(e) => {
                    eprintln!(
                        "warning: the best epoch's model could not be loaded ({e:#}); keeping the last epoch's"
                    );
                    kept = last;
                    result.model.classifier
                }
            }
        }
        _ => result.model.classifier,
    };
    drop_refit_record(&run, &mut info)?;
    run.save_model(model.clone())?;
    let model = match kept {
        Some(epoch) if config.train.refit => {
            // The first fit is complete: its curves are drawn whatever the refit does.
            if let Err(e) = crate::visuals::write_curves(&run, &info) {
                eprintln!("warning: {e:#}");
            }
            let refit = Refit::new(
                set,
                &data.normalization,
                &data.split,
                epoch,
                &epochs,
                interrupter,
            );
            refit.run(&run, &mut info, &device, quiet)?
        }
        _ => model,
    };
    Ok(Trained {
        run,
        info,
        epochs,
        kept,
        train_pass_seconds: train_passes.seconds(),
        model,
    })
}

/// Stops `run.toml` claiming a refit, just before `model.bpk` is replaced by a model of the
/// first fit.
fn drop_refit_record(run: &RunDir, info: &mut RunInfo) -> Result<()> {
    if info.refit.take().is_some() {
        run.save_info(info)?;
    }
    Ok(())
}

/// A `train.refit` to run once the validated model of `epoch` is saved as the run's record.
struct Refit<'a> {
    set: Arc<linclass_data::ImageSet>,
    normalization: &'a linclass_data::Normalization,
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
    fn new(
        set: Arc<linclass_data::ImageSet>,
        normalization: &'a linclass_data::Normalization,
        split: &linclass_data::split::TrainValid,
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
    /// not finish, the validated model stays the run's record and the error says so.
    fn run(
        self,
        run: &RunDir,
        info: &mut RunInfo,
        device: &Device,
        quiet: bool,
    ) -> Result<LinearClassifier> {
        let config = &info.config;
        let accuracy = self
            .valid_accuracy
            .map(|a| format!("valid accuracy {:.2}%, ", 100.0 * a))
            .unwrap_or_default();
        let validated = format!(
            "model.bpk is the validated model of epoch {} ({accuracy}trained without the validation part) and usable as it is",
            self.epoch
        );
        let result = crate::refit::refit(
            config,
            self.set,
            self.normalization,
            self.indices,
            &info.model,
            self.epoch,
            device,
            &self.interrupter,
            quiet,
        );
        let (model, summary) = match result {
            Ok(done) => done,
            Err(e) => {
                return Err(match crate::refit::stopped(&e) {
                    Some(crate::refit::RefitStopped::Interrupted { .. }) => Interrupted {
                        run: run.path.clone(),
                        kept: format!("{e}; {validated}"),
                        resumable: true,
                    }
                    .into(),
                    Some(crate::refit::RefitStopped::Diverged(_)) => anyhow!(
                        "{e}; {validated}; a new run with a smaller learning rate than {} (optimizer.lr) can refit",
                        config.lr()
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
}
