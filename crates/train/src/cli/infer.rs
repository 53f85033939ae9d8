//! `predict` and `export`: a run's model used on image files, or written for other tools.

use anyhow::{Result, anyhow};

use crate::backend::Backend;
use crate::cli::args::{ExportArgs, PredictArgs};
use crate::infer::classifier::Classifier;
use crate::infer::export::{default_path, export as write_export};
use crate::infer::predict::{Prediction, predict as classify_files};
use crate::run::dir::RunDir;

pub(crate) fn predict(args: PredictArgs, backend: Backend) -> Result<()> {
    let device = backend.device()?;
    let classifier = Classifier::load(&args.run, &device)?.inverted(args.invert);
    let predictions = classify_files(&classifier, &args.images)?;
    if args.json {
        crate::say!("{}", serde_json::to_string(&predictions)?);
    } else {
        for p in predictions.iter().filter(|p| p.error.is_none()) {
            crate::say!("{}", p.file.display());
            for (rank, r) in p.top.iter().enumerate() {
                crate::say!(
                    "  {}. {:<12} {:6.2}%",
                    rank + 1,
                    r.class,
                    100.0 * r.probability
                );
            }
        }
    }
    unreadable(&predictions)
}

/// The files that could not be read, after the others' results: one error line.
fn unreadable(predictions: &[Prediction]) -> Result<()> {
    let failed: Vec<&String> = predictions
        .iter()
        .filter_map(|p| p.error.as_ref())
        .collect();
    match failed[..] {
        [] => Ok(()),
        [one] => Err(anyhow!("{one}")),
        _ => Err(anyhow!(
            "{} of {} files could not be classified: {}",
            failed.len(),
            predictions.len(),
            failed
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

pub(crate) fn export(args: ExportArgs, backend: Backend) -> Result<()> {
    let run = RunDir::new(args.run);
    let info = run.load_info()?;
    let device = backend.device()?;
    let model = run.load_model(&info, &device)?;
    let out = args.out.unwrap_or_else(|| default_path(&run, args.format));
    write_export(&model, &info, args.format, &out)?;
    crate::say!(
        "wrote {} (weight [{}, {}], bias, input {:?}, {} classes)",
        out.display(),
        model.num_classes(),
        model.input_shape().iter().product::<usize>(),
        info.model.input_shape,
        info.classes.len()
    );
    Ok(())
}
