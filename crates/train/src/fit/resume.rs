//! Continuing an interrupted run (`train --resume`): from its last checkpoint that loads, or,
//! when its epochs are done but its refit is not, with the refit alone.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use burn::train::Interrupter;

use crate::backend::Backend;
use crate::config::Keep;
use crate::fit::checkpoint::{last_checkpoint, usable_checkpoint};
use crate::fit::interrupt::install_ctrl_c;
use crate::fit::refit::Refit;
use crate::fit::reporter::Reporter;
use crate::fit::train::{Trained, data_changes, open_checked, run_info, train_from};
use crate::run::dir::RunDir;
use crate::run::files::{INFO_FILE, METRICS_FILE};
use crate::run::history::{EpochRecord, kept_epoch, read_metrics_csv};
use crate::run::info::RunInfo;

/// Continues the interrupted run in `run_path` from its last usable checkpoint, with the
/// config it was started with. Nothing in the run directory changes unless the data it opens
/// is the data the run recorded and a checkpoint loads.
///
/// Errors: as [`train`](crate::train), and when the run is not a run directory, its epochs
/// (and refit) are done, its data changed, or no checkpoint loads.
pub fn resume(run_path: &Path, backend: Backend, reporter: Arc<dyn Reporter>) -> Result<Trained> {
    let run = RunDir::new(run_path);
    let info = run.load_info()?;
    let epochs = info.config.train.epochs;
    let finished = std::fs::read_to_string(run.file(METRICS_FILE))
        .map(|t| read_metrics_csv(&t).0.len())
        .unwrap_or(0);
    if finished >= epochs || last_checkpoint(&run, epochs) == Some(epochs) {
        if info.config.train.refit && info.refit.is_none() && finished > 0 {
            return refit_finished(run, info, backend, reporter.as_ref());
        }
        let done = epochs_done(epochs);
        bail!(
            "{}: {done}; to train further, raise `epochs` under [config.train] in {}",
            run.path.display(),
            run.file(INFO_FILE).display()
        );
    }
    let device = backend.device()?;
    let done = usable_checkpoint(&run, &info, &device, reporter.as_ref())?;
    let mut config = info.config.clone();
    config.output.dir = run.path.clone();
    run.remove_leftover_temporaries();
    // The run resumed is the one a killed `train` had started: the run it replaced goes.
    run.settle_killed_replacement(true);
    train_from(&config, backend, &reporter, Some((done, info)))
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
    reporter: &dyn Reporter,
) -> Result<Trained> {
    let device = backend.device()?;
    let data = open_checked(&info.config, reporter)?;
    let changes = data_changes(&info, &run_info(&info.config, backend, &data));
    if !changes.is_empty() {
        bail!(
            "cannot refit {}: the data changed since the run ({}); train a new run",
            run.path.display(),
            changes.join("; ")
        );
    }
    let (epochs, kept) = recorded_epochs(&run, info.config.train.keep)?;
    let done = epochs_done(epochs.len());
    reporter.line(&format!(
        "resuming {}: {done}, its refit is not",
        run.path.display()
    ));
    run.remove_leftover_temporaries();
    let interrupter = Interrupter::new();
    let _ctrl_c = install_ctrl_c(interrupter.clone());
    let set = Arc::new(data.set);
    let refit = Refit::new(
        set,
        &data.normalization,
        &data.split,
        kept,
        &epochs,
        interrupter,
    );
    let model = refit.run(&run, &mut info, &device, reporter)?;
    Ok(Trained {
        run,
        info,
        epochs,
        kept: Some(kept),
        train_pass_seconds: Vec::new(),
        model,
    })
}

/// The epochs metrics.csv records, and the one it marks as kept (else the one `keep` chooses).
fn recorded_epochs(run: &RunDir, keep: Keep) -> Result<(Vec<EpochRecord>, usize)> {
    let path = run.file(METRICS_FILE);
    let (epochs, recorded) = std::fs::read_to_string(&path)
        .map(|t| read_metrics_csv(&t))
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let kept = recorded
        .or_else(|| kept_epoch(&epochs, keep == Keep::Best))
        .ok_or_else(|| {
            anyhow!(
                "{}: no finished epoch is recorded, nothing to refit",
                path.display()
            )
        })?;
    Ok((epochs, kept))
}
