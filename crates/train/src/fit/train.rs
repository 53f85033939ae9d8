//! Training a run: the data opened and checked, the run directory prepared, Burn's learner
//! fitted, the kept epoch chosen and saved as the run's record, then the refit.

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use burn::data::dataloader::DataLoader;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::prelude::*;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric};
use burn::train::{
    Interrupter, Learner, LearningResult, MetricEarlyStoppingStrategy, StoppingCondition,
    SupervisedTraining,
};
use linclass_data::split::TrainValid;
use linclass_data::{EpochLoader, ImageBatch, ImageBatcher};
use linclass_model::{LinearClassifier, LinearClassifierConfig};

use crate::backend::Backend;
use crate::config::{ExperimentConfig, Keep};
use crate::datasets::{TrainingData, check_test_split, open_training, source};
use crate::fit::checkpoint::{checkpointed, keep_checkpoint, load_checkpoint_model};
use crate::fit::epoch_log::EpochLog;
use crate::fit::interrupt::{
    CtrlCScope, Interrupted, exit_on_ctrl_c_until_training, install_ctrl_c,
};
use crate::fit::learner::{
    EXPLOSION_FACTOR, Trainee, scheduler, sgd, training_loader, zero_model_loss,
};
use crate::fit::metrics::{ImageLoss, TopKAccuracy};
use crate::fit::refit::Refit;
use crate::fit::reporter::{Renderer, Reporter, TrainPassTimes};
use crate::logits::top_k;
use crate::run::aside::Aside;
use crate::run::dir::RunDir;
use crate::run::files::METRICS_FILE;
use crate::run::history::{EpochRecord, kept_epoch};
use crate::run::info::{DataSummary, RunInfo};

/// What a finished training run left behind.
pub struct Trained {
    /// The run directory written.
    pub run: RunDir,
    /// Its `run.toml`.
    pub info: RunInfo,
    /// The epochs' records (`metrics.csv`), a resumed run's earlier epochs included.
    pub epochs: Vec<EpochRecord>,
    /// The epoch whose model is the run's record (`train.keep`).
    pub kept: Option<usize>,
    /// Seconds of each training pass this process ran (epochs before a `--resume` not
    /// included), without validation and checkpointing.
    pub train_pass_seconds: Vec<f64>,
    /// The run's model (`model.bpk`): the kept epoch's, or its refit.
    pub model: LinearClassifier,
}

/// Trains the model `config` describes and writes its run directory (`output.dir`); tells
/// `reporter` what it does.
///
/// Errors: the data cannot be read or does not suit (one line naming the file or key); the
/// run directory cannot be written; training diverged (the best finished epoch is kept); or
/// [`Interrupted`] by Ctrl-C (what was kept, and how to resume).
pub fn train(
    config: &ExperimentConfig,
    backend: Backend,
    reporter: Arc<dyn Reporter>,
) -> Result<Trained> {
    train_from(config, backend, &reporter, None)
}

/// Trains from scratch, or (`resume`: the last good checkpoint's epoch and the run's recorded
/// info) continues a run after checking that its data has not changed.
pub(crate) fn train_from(
    config: &ExperimentConfig,
    backend: Backend,
    reporter: &Arc<dyn Reporter>,
    resume: Option<(usize, RunInfo)>,
) -> Result<Trained> {
    exit_on_ctrl_c_until_training();
    let device = backend.device()?;
    let config = &with_absolute_data_dir(config);
    // Everything that can fail on the data fails before the run directory is touched.
    let data = open_checked(config, reporter.as_ref())?;
    let batch_size = config.train.batch_size.resolve(data.split.train.len());
    let schedule = scheduler(config, data.split.train.len().div_ceil(batch_size))?;
    let run = RunDir::new(&config.output.dir);
    let mut info = run_info(config, backend, &data);
    let resume_at = resume.as_ref().map(|(done, _)| *done);
    let mut aside = prepare_run_dir(&run, &mut info, resume)?;
    announce(reporter.as_ref(), &run, &info, resume_at, backend);
    let TrainingData {
        set,
        split,
        normalization,
        ..
    } = data;
    let set = Arc::new(set);
    let batcher = ImageBatcher::new(set.clone(), &normalization);
    let fitted = fit_epochs(
        &run, &info, batcher, &split, resume_at, schedule, reporter, &device,
    )?;
    let finished = checkpointed(&run, fitted.log.records(), config);
    if let Some(aside) = aside.as_mut()
        && !finished.is_empty()
    {
        aside.keep_new();
    }
    let restored = restored_note(aside.as_ref(), &run);
    if let Some(error) = &fitted.error {
        // What an interruption keeps, a failure keeps too: the finished epochs.
        let stop = interrupted(&run, &mut info, &fitted.log, finished, &device, restored)?;
        let full = if is_disk_full(&error.to_string()) {
            format!(
                "the disk holding {} is full: free some space on it, then ",
                run.path.display()
            )
        } else {
            String::new()
        };
        return Err(anyhow!(
            "training failed: {error}; {}; {full}{}",
            stop.kept,
            stop.how_to_go_on()
        ));
    }
    if let Some(diverged) = fitted.log.divergence() {
        // The last epochs may already have been overshooting: keep the best one.
        drop_refit_record(&run, &mut info)?;
        let kept = keep_checkpoint(
            &run,
            kept_epoch(&finished, true),
            &info.model,
            config,
            &device,
        );
        return Err(anyhow!(
            "training diverged: {diverged}; try a smaller learning rate than {} (optimizer.lr); {kept}{restored}",
            config.lr()
        ));
    }
    if fitted.interrupted {
        return Err(interrupted(&run, &mut info, &fitted.log, finished, &device, restored)?.into());
    }
    let epochs = fitted.log.records();
    let (model, kept) = keep_model(&run, &mut info, &fitted, &device, reporter.as_ref())?;
    let model = match kept {
        Some(epoch) if config.train.refit => {
            reporter.first_fit_recorded(&run, &info);
            let interrupter = fitted.interrupter.clone();
            let refit = Refit::new(set, &normalization, &split, epoch, &epochs, interrupter);
            refit.run(&run, &mut info, &device, reporter.as_ref())?
        }
        _ => model,
    };
    Ok(Trained {
        run,
        info,
        epochs,
        kept,
        train_pass_seconds: fitted.train_passes.seconds(),
        model,
    })
}

/// The training split opened, split and normalized, after every file of both splits was
/// found (so that one message lists all that is missing) and the test split was checked.
pub(crate) fn open_checked(
    config: &ExperimentConfig,
    reporter: &dyn Reporter,
) -> Result<TrainingData> {
    let (data, seed) = (&config.data, config.train.seed);
    source(data, seed).ensure_all_present(&mut *reporter.download())?;
    let mut training = open_training(data, seed, &mut *reporter.download())?;
    training.test = Some(check_test_split(
        data,
        seed,
        &training.set,
        &mut *reporter.download(),
    )?);
    Ok(training)
}

/// Makes the directory ready: a new run creates it and sets an earlier run's files aside (they
/// come back if no epoch finishes), a resumed one checks that its data has not changed.
fn prepare_run_dir(
    run: &RunDir,
    info: &mut RunInfo,
    resume: Option<(usize, RunInfo)>,
) -> Result<Option<Aside>> {
    let Some((_, recorded)) = resume else {
        let created = run.create()?;
        let aside = run.set_aside(created)?;
        run.save_info(info)?;
        return Ok(Some(aside));
    };
    let changes = data_changes(&recorded, info);
    if !changes.is_empty() {
        bail!(
            "cannot resume {}: the data changed since the run started ({}); resume needs the data it was trained on, or train a new run",
            run.path.display(),
            changes.join("; ")
        );
    }
    // The refit model (if any) stays the record, and run.toml keeps saying so, until a model
    // of the new epochs replaces it.
    info.refit = recorded.refit.clone();
    if recorded.backend != info.backend {
        run.save_info(info)?;
    }
    Ok(None)
}

/// The opening line: what is trained, or where a resumed run continues.
fn announce(
    reporter: &dyn Reporter,
    run: &RunDir,
    info: &RunInfo,
    resume_at: Option<usize>,
    backend: Backend,
) {
    let config = &info.config;
    reporter.line(&match resume_at {
        Some(done) => format!(
            "resuming {} after epoch {done} of {}",
            run.path.display(),
            config.train.epochs
        ),
        None => format!(
            "training a {}x{} linear classifier on {} images ({} held out for validation), {} epoch{}, batch {}, lr {}, backend {}",
            info.model.num_classes,
            info.model.input_dim(),
            info.data.train,
            info.data.valid,
            config.train.epochs,
            if config.train.epochs == 1 { "" } else { "s" },
            config.train.batch_size,
            config.lr(),
            backend.name()
        ),
    });
}

/// What Burn's learner left, with the log and timers that watched it.
struct Fitted {
    /// The model after the last epoch run.
    model: Trainee,
    /// Whether Ctrl-C (or the divergence watch) stopped the epochs.
    interrupted: bool,
    error: Option<Arc<burn::train::TrainingError>>,
    log: EpochLog,
    interrupter: Interrupter,
    train_passes: TrainPassTimes,
    /// Ctrl-C stays a request to stop until the run's files are written.
    _ctrl_c: CtrlCScope,
}

/// Builds Burn's learner (loaders, SGD with `schedule`, metrics, log, divergence watch, early
/// stopping, checkpoints) and runs the epochs of `info.config`.
#[allow(clippy::too_many_arguments)]
fn fit_epochs(
    run: &RunDir,
    info: &RunInfo,
    batcher: ImageBatcher,
    split: &TrainValid,
    resume_at: Option<usize>,
    schedule: ModuleLrScheduler,
    reporter: &Arc<dyn Reporter>,
    device: &Device,
) -> Result<Fitted> {
    let config = &info.config;
    let batch_size = config.train.batch_size.resolve(split.train.len());
    device.seed(config.train.seed);
    let autodiff = device.clone().autodiff();
    let train = training_loader(
        config,
        batcher.clone(),
        split.train.clone(),
        batch_size,
        &autodiff,
    )
    .resume_after(resume_at.unwrap_or(0));
    // Validation needs no gradient: big batches on the plain device.
    let valid: Arc<dyn DataLoader<ImageBatch>> = Arc::new(EpochLoader::new(
        batcher,
        split.valid.clone(),
        batch_size.clamp(512, 4096),
        None,
        device.clone(),
    ));
    let model = Trainee {
        classifier: info.model.init(&autodiff),
        loss: config.train.loss,
        gradient: config.train.gradient,
    };
    let log = epoch_log(run, info, resume_at, batch_size, reporter.clone())?;
    let mut training = SupervisedTraining::new(&run.path, Arc::new(train), valid);
    let interrupter = training.interrupter();
    log.stop_on_divergence(interrupter.clone());
    let ctrl_c = install_ctrl_c(interrupter.clone());
    training = stopping_and_checkpoint(training, config, resume_at);
    let k = top_k(info.model.num_classes);
    let train_passes = TrainPassTimes::default();
    let LearningResult {
        model,
        renderer,
        interrupted,
        error,
    } = training
        .metrics((AccuracyMetric::new(), ImageLoss::default()))
        .metric_train_numeric(TopKAccuracy::new(k))
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid_numeric(TopKAccuracy::new(k))
        .with_metric_logger(log.clone())
        .renderer(Box::new(Renderer::new(
            reporter.clone(),
            train_passes.clone(),
        )))
        .with_application_logger(None)
        .with_default_checkpointers()
        .num_epochs(config.train.epochs)
        .launch(Learner::new(model, sgd(config).init(), schedule));
    drop(renderer); // its progress bar goes before anything else is said
    Ok(Fitted {
        model,
        interrupted: interrupted.is_some(),
        error,
        log,
        interrupter,
        train_passes,
        _ctrl_c: ctrl_c,
    })
}

/// Early stopping on the validation loss (`train.early_stopping_patience`), and the
/// checkpoint a resumed run starts from.
fn stopping_and_checkpoint(
    mut training: SupervisedTraining<Trainee>,
    config: &ExperimentConfig,
    resume_at: Option<usize>,
) -> SupervisedTraining<Trainee> {
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
    training
}

/// The per-epoch log of the run (metrics.csv), with a resumed run's earlier epochs and the
/// divergence bound: [`EXPLOSION_FACTOR`] times the loss of the all-zero model.
fn epoch_log(
    run: &RunDir,
    info: &RunInfo,
    resume_at: Option<usize>,
    batch_size: usize,
    reporter: Arc<dyn Reporter>,
) -> Result<EpochLog> {
    let config = &info.config;
    let k = top_k(info.model.num_classes);
    let log = EpochLog::new(run.file(METRICS_FILE), config.train.epochs, k, reporter);
    log.keep_best(config.train.keep == Keep::Best);
    if let Some(done) = resume_at {
        log.restore(&run.file(METRICS_FILE), done)?;
    }
    let (reference, why) = zero_model_loss(config.train.loss, info.model.num_classes);
    log.divergence_bound(
        EXPLOSION_FACTOR * reference,
        &format!("{EXPLOSION_FACTOR} × {why}"),
        batch_size,
    );
    Ok(log)
}

/// Whether an error's text is the operating system's "no space left on device" (ENOSPC, 28 on
/// Linux and macOS; 112 on Windows). Burn's checkpointer passes errors on as text only.
pub(crate) fn is_disk_full(error: &str) -> bool {
    error.contains("(os error 28)") || error.contains("(os error 112)")
}

/// Said when nothing of the new run is kept and the earlier run's files go back in place.
fn restored_note(aside: Option<&Aside>, run: &RunDir) -> String {
    match aside {
        Some(a) if !a.keeps_new() && a.holds_earlier_run() => format!(
            " (the run that was in {} before is put back as it was)",
            run.path.display()
        ),
        _ => String::new(),
    }
}

/// An interrupted run: metrics.csv cut to the checkpointed epochs, and the kept epoch's model
/// saved (or the refit of an unchanged kept epoch left in place).
fn interrupted(
    run: &RunDir,
    info: &mut RunInfo,
    log: &EpochLog,
    finished: Vec<EpochRecord>,
    device: &Device,
    restored: String,
) -> Result<Interrupted> {
    if let Some(last) = finished.last() {
        log.truncate_to(last.epoch);
    }
    let config = &info.config;
    let epoch = kept_epoch(&finished, config.train.keep == Keep::Best);
    let kept = match &info.refit {
        // The new epochs did not change the choice: the refit of that epoch stays valid.
        Some(r) if Some(r.epochs) == epoch => format!(
            "model.bpk stays the refit of epoch {} (no later epoch is better)",
            r.epochs
        ),
        _ => {
            drop_refit_record(run, info)?;
            keep_checkpoint(run, epoch, &info.model, &info.config, device)
        }
    } + &restored;
    Ok(Interrupted {
        run: run.path.clone(),
        kept,
        resumable: !finished.is_empty(),
    })
}

/// Saves the model of the kept epoch (`train.keep`) as the run's record: the last epoch's as
/// the learner left it, or an earlier one's from its checkpoint.
fn keep_model(
    run: &RunDir,
    info: &mut RunInfo,
    fitted: &Fitted,
    device: &Device,
    reporter: &dyn Reporter,
) -> Result<(LinearClassifier, Option<usize>)> {
    let last = fitted.log.records().last().map(|r| r.epoch);
    let mut kept = fitted.log.kept_epoch();
    let trained = || fitted.model.classifier.clone();
    let model = match kept {
        Some(epoch) if kept != last => {
            let (model_config, loss) = (&info.model, info.config.train.loss);
            match load_checkpoint_model(run, epoch, model_config, loss, device) {
                Ok(model) => model,
                Err(e) => {
                    reporter.warning(&format!(
                        "the best epoch's model could not be loaded ({e:#}); keeping the last epoch's"
                    ));
                    kept = last;
                    trained()
                }
            }
        }
        _ => trained(),
    };
    drop_refit_record(run, info)?;
    run.save_model(model.clone())?;
    Ok((model, kept))
}

/// The config with `data.dir` made absolute, so that the run directory can be used from
/// any working directory.
pub(crate) fn with_absolute_data_dir(config: &ExperimentConfig) -> ExperimentConfig {
    let mut config = config.clone();
    let source = source(&config.data, config.train.seed);
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

/// What `run.toml` records of a run of `config` on `data`.
pub(crate) fn run_info(
    config: &ExperimentConfig,
    backend: Backend,
    data: &TrainingData,
) -> RunInfo {
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
            test_copies: data.test.as_ref().map(|t| t.copies),
            test_fingerprint: data.test.as_ref().map(|t| t.fingerprint.clone()),
        },
        config: config.clone(),
        refit: None,
    }
}

pub(crate) fn data_changes(recorded: &RunInfo, now: &RunInfo) -> Vec<String> {
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

/// Stops `run.toml` claiming a refit, just before `model.bpk` is replaced by a model of the
/// first fit.
pub(crate) fn drop_refit_record(run: &RunDir, info: &mut RunInfo) -> Result<()> {
    if info.refit.take().is_some() {
        run.save_info(info)?;
    }
    Ok(())
}
