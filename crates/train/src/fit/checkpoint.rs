//! The learner's checkpoints (`checkpoint/model-N.bpk`, `optim-N.bpk`, `scheduler-N.bpk`): which
//! epochs are complete, which one loads, and keeping one epoch's model as the run's record.

use anyhow::{Result, anyhow, bail};
use burn::lr_scheduler::LrSchedulerRecord;
use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::prelude::*;
use burn::store::ModuleRecord;
use linclass_model::{LinearClassifier, LinearClassifierConfig};

use crate::config::{ExperimentConfig, LossKind};
use crate::fit::learner::Trainee;
use crate::fit::reporter::Reporter;
use crate::run::dir::RunDir;
use crate::run::files::{CHECKPOINT_DIR, RECORD_FILE};
use crate::run::history::EpochRecord;
use crate::run::info::RunInfo;

/// Loads the model of checkpoint `epoch` (checkpoint/model-N.bpk), checking that it fits the
/// run's model before Burn sees it.
pub fn load_checkpoint_model(
    run: &RunDir,
    epoch: usize,
    model_config: &LinearClassifierConfig,
    loss: LossKind,
    device: &Device,
) -> Result<LinearClassifier> {
    let path = run.file(CHECKPOINT_DIR).join(format!("model-{epoch}.bpk"));
    let record = ModuleRecord::load(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Trainee {
        classifier: model_config.init(device),
        loss,
        gradient: Default::default(),
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
pub(crate) fn keep_checkpoint(
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
            run.file(RECORD_FILE).display()
        ),
        Err(e) => format!("the model of epoch {epoch} could not be kept: {e:#}"),
    }
}

/// The last epoch whose model, optimizer and scheduler checkpoints all exist.
pub(crate) fn last_checkpoint(run: &RunDir, epochs: usize) -> Option<usize> {
    complete_checkpoints(run, epochs).into_iter().next()
}

/// Epochs whose three checkpoint files exist, latest first.
pub(crate) fn complete_checkpoints(run: &RunDir, epochs: usize) -> Vec<usize> {
    let dir = run.file(CHECKPOINT_DIR);
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
pub(crate) fn usable_checkpoint(
    run: &RunDir,
    info: &RunInfo,
    device: &Device,
    reporter: &dyn Reporter,
) -> Result<usize> {
    let dir = run.file(CHECKPOINT_DIR);
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
                    reporter.warning(&format!(
                        "the checkpoint of epoch {e} is damaged ({why:#}); resuming from epoch {epoch}"
                    ));
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

/// The records of the epochs whose checkpoints are complete: an epoch stopped during its
/// validation pass has a (partial) record but no checkpoint, and cannot be kept.
pub(crate) fn checkpointed(
    run: &RunDir,
    records: Vec<EpochRecord>,
    config: &ExperimentConfig,
) -> Vec<EpochRecord> {
    let done = complete_checkpoints(run, config.train.epochs);
    records
        .into_iter()
        .filter(|r| done.contains(&r.epoch))
        .collect()
}
