//! `predict` and `export`: a run's model used on image files, or written for other tools.

use std::path::Path;

use anyhow::{Result, anyhow};

use crate::backend::Backend;
use crate::cli::args::{ExportArgs, PredictArgs};
use crate::infer::classifier::Classifier;
use crate::infer::export::{default_path, export as write_export};
use crate::infer::predict::{Prediction, predict as classify_files};
use crate::inspect::pictures::raster::{from_planes, png_bytes, upscale};
use crate::run::dir::RunDir;
use crate::run::files::write_atomic;

pub(crate) fn predict(args: PredictArgs, backend: Backend) -> Result<()> {
    let device = backend.device()?;
    let classifier = Classifier::load(&args.run, &device)?
        .inverted(args.invert)
        .prepared(args.prepare)?;
    let predictions = classify_files(&classifier, &args.images)?;
    if let Some(out) = &args.show_input {
        show_inputs(&classifier, &predictions, out, args.json)?;
    }
    if args.json {
        crate::say!("{}", serde_json::to_string(&predictions)?);
    } else {
        // Class names of any length line up (ImageNet's run to 40 characters and more).
        let names = classifier.classes().iter().map(|c| c.chars().count());
        let width = names.max().unwrap_or(0).max(12);
        for p in predictions.iter().filter(|p| p.error.is_none()) {
            crate::say!("{}", p.file.display());
            if !p.prepared.is_empty() {
                crate::say!("  as an MNIST digit: {}", p.prepared.join(", "));
            }
            for (rank, r) in p.top.iter().enumerate() {
                crate::say!(
                    "  {}. {:<width$} {:6.2}%",
                    rank + 1,
                    r.class,
                    100.0 * r.probability
                );
            }
        }
    }
    unreadable(&predictions)
}

/// Writes what the model saw of each readable image as a PNG, enlarged to at least 280 pixels
/// (`out`, or `out` numbered for several images), and says where (on stderr with `--json`).
fn show_inputs(
    classifier: &Classifier,
    predictions: &[Prediction],
    out: &Path,
    json: bool,
) -> Result<()> {
    let [_, h, w] = classifier.input_shape();
    let (stem, ext) = (
        out.file_stem().unwrap_or_default().to_string_lossy(),
        out.extension()
            .map_or("png".into(), |e| e.to_string_lossy()),
    );
    for (i, p) in predictions.iter().enumerate() {
        if p.error.is_some() {
            continue;
        }
        let path = if predictions.len() == 1 {
            out.to_path_buf()
        } else {
            out.with_file_name(format!("{stem}-{}.{ext}", i + 1))
        };
        let img = from_planes(&p.input, classifier.input_shape());
        let zoom = (280 / w.max(h)).max(1) as u32;
        write_atomic(&path, &png_bytes(&upscale(&img, zoom)))?;
        let note = format!(
            "what the model saw of {}: {}",
            p.file.display(),
            path.display()
        );
        if json {
            eprintln!("{note}");
        } else {
            crate::say!("{note}");
        }
    }
    Ok(())
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
