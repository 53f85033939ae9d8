//! `train` (and `train --resume`): fit, then draw the curves, then say where the run is; and
//! `gradcheck`.

use std::sync::Arc;

use anyhow::Result;

use crate::backend::Backend;
use crate::cli::args::{GradcheckArgs, TrainArgs};
use crate::cli::terminal::{DownloadBar, Terminal};
use crate::config::{ExperimentConfig, Keep};
use crate::fit::gradcheck::{RELATIVE_TOLERANCE, gradcheck as check_gradients};
use crate::fit::interrupt::Interrupted;
use crate::fit::resume::resume;
use crate::fit::train::{Trained, train as fit};
use crate::inspect::output::write_curves;
use crate::logits::top_k;
use crate::run::dir::RunDir;

pub(crate) fn train(args: TrainArgs, backend: Backend) -> Result<()> {
    let terminal = Arc::new(Terminal::new(args.quiet));
    let result = match &args.resume {
        Some(run) => resume(run, backend, terminal),
        None => {
            let config = ExperimentConfig::load(&args.config.path(), &args.sets)?;
            fit(&config, backend, terminal)
        }
    };
    let trained = match result {
        Ok(trained) => trained,
        Err(e) => {
            // An interrupted run is usable as it is: it gets its curves too.
            if let Some(stop) = e.downcast_ref::<Interrupted>()
                && stop.resumable
            {
                let run = RunDir::new(&stop.run);
                if let Ok(info) = run.load_info()
                    && let Err(curves) = write_curves(&run, &info)
                {
                    eprintln!("warning: {curves:#}");
                }
            }
            return Err(e);
        }
    };
    let curves = write_curves(&trained.run, &trained.info);
    say_done(&trained);
    curves.map(drop).map_err(|e| {
        anyhow::anyhow!(
            "{e:#}: the run is saved, but its curves are not drawn (`linclass report {}` draws them)",
            trained.run.path.display()
        )
    })
}

/// The closing lines: epochs, time, the kept epoch's validation figures, where the run is, and
/// what a refit did.
fn say_done(trained: &Trained) {
    let kept = trained
        .epochs
        .iter()
        .find(|e| Some(e.epoch) == trained.kept);
    let total: f64 = trained.epochs.iter().map(|e| e.seconds).sum();
    let rule = match trained.info.config.train.keep {
        Keep::Best => "lowest validation loss",
        Keep::Last => "the last",
    };
    match kept {
        Some(e) => crate::say!(
            "done: {} epoch{} in {:.1} s; kept epoch {} ({rule}): valid accuracy {:.2}% (top-{} {:.2}%); run saved to {}",
            trained.epochs.len(),
            if trained.epochs.len() == 1 { "" } else { "s" },
            total,
            e.epoch,
            100.0 * e.valid.accuracy,
            top_k(trained.info.classes.len()),
            100.0 * e.valid.top5,
            trained.run.path.display()
        ),
        None => crate::say!("run saved to {}", trained.run.path.display()),
    }
    if let Some(r) = &trained.info.refit {
        crate::say!(
            "refit: model.bpk is now trained on all {} images for {} epoch{} in {:.1} s (last epoch: train loss {:.4}, acc {:.2}%); the validation figures above are the first fit's",
            r.images,
            r.epochs,
            if r.epochs == 1 { "" } else { "s" },
            r.seconds,
            r.train_loss,
            100.0 * r.train_accuracy
        );
    }
}

pub(crate) fn gradcheck(args: GradcheckArgs, backend: Backend) -> Result<()> {
    let config = ExperimentConfig::load(&args.config.path(), &args.sets)?;
    let mut progress = DownloadBar::default();
    let r = check_gradients(&config, backend, args.samples, args.weights, &mut progress)?;
    let loss = toml::Value::try_from(config.train.loss)?;
    let loss = loss.as_str().unwrap_or_default();
    for p in &r.paths {
        let how = toml::Value::try_from(p.gradient)?;
        crate::say!(
            "loss {loss}, {} gradient: compared {} gradients on {} samples; largest relative error {:.3e}, largest absolute error {:.3e}",
            how.as_str().unwrap_or_default(),
            p.checked,
            args.samples,
            p.max_relative,
            p.max_absolute
        );
    }
    if let Some(between) = r.between {
        crate::say!(
            "analytic and autodiff gradients, every parameter: largest relative difference {between:.3e}"
        );
    }
    if !r.passed() {
        anyhow::bail!(
            "gradcheck failed: the largest relative error {:.3e} is above {RELATIVE_TOLERANCE:e}",
            r.largest()
        );
    }
    crate::say!("pass: every relative error is under {RELATIVE_TOLERANCE:e}");
    Ok(())
}
