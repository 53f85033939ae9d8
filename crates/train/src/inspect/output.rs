//! Writing the pictures and the report of a run into its directory (each file whole or not at
//! all).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use linclass_data::ImageSet;
use linclass_model::LinearClassifier;

use crate::inspect::evaluation::{Evaluation, MANY_CLASSES};
use crate::inspect::pictures::confusion;
use crate::inspect::pictures::curves::{self, Curves};
use crate::inspect::pictures::raster::{from_planes, png_bytes, upscale};
use crate::inspect::pictures::report::{Mistake, ReportParts, html};
use crate::inspect::pictures::templates::{TemplateScale, grid, templates, zoom};
use crate::run::dir::RunDir;
use crate::run::files::{METRICS_FILE, write_atomic};
use crate::run::history::read_metrics_csv;
use crate::run::info::RunInfo;

pub(crate) const TEMPLATES_FILE: &str = "templates.png";
pub(crate) const TEMPLATES_DIR: &str = "templates";
pub(crate) const CURVES_FILE: &str = "curves.png";
pub(crate) const CURVES_SVG: &str = "curves.svg";
pub(crate) const CONFUSION_FILE: &str = "confusion.png";
pub(crate) const CONFUSION_SVG: &str = "confusion.svg";
pub(crate) const REPORT_FILE: &str = "report.html";

/// Templates of the easiest and of the hardest classes the report shows for many classes.
const SHOWN_TEMPLATES: usize = 20;

/// A file-name-safe form of a class name.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The template grid and one PNG per class; returns the grid's path and the others.
pub(crate) fn write_templates(
    out: &Path,
    model: &LinearClassifier,
    classes: &[String],
    scale: TemplateScale,
) -> Result<(PathBuf, Vec<PathBuf>)> {
    let images = templates(model, scale);
    let channels = model.input_shape()[0];
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let grid_path = out.join(TEMPLATES_FILE);
    write_atomic(
        &grid_path,
        &png_bytes(&grid(&images, classes, channels, scale)?),
    )?;
    let dir = out.join(TEMPLATES_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for (i, (img, name)) in images.iter().zip(classes).enumerate() {
        let z = zoom(img.width().max(img.height()) as usize);
        let path = dir.join(format!("{i:03}-{}.png", safe_name(name)));
        write_atomic(&path, &png_bytes(&upscale(img, z)))?;
        paths.push(path);
    }
    Ok((grid_path, paths))
}

/// The training curves of a run as (SVG, PNG), from its metrics CSV (nothing if it has no
/// epochs yet).
pub(crate) fn curves_pictures(run: &RunDir, info: &RunInfo) -> Result<Option<(String, Vec<u8>)>> {
    let Ok(text) = std::fs::read_to_string(run.file(METRICS_FILE)) else {
        return Ok(None);
    };
    let (records, kept) = read_metrics_csv(&text);
    if records.is_empty() {
        return Ok(None);
    }
    let curves = Curves {
        records: &records,
        kept,
        loss_name: info.config.train.loss.lecture_name(),
        refit: info.refit.is_some(),
    };
    Ok(Some((
        curves::svg(&curves)?,
        png_bytes(&curves::bitmap(&curves)?),
    )))
}

/// Writes curves.png and curves.svg into the run directory; returns the PNG's path.
pub(crate) fn write_curves(run: &RunDir, info: &RunInfo) -> Result<Option<PathBuf>> {
    let Some((svg, png)) = curves_pictures(run, info)? else {
        return Ok(None);
    };
    write_atomic(&run.file(CURVES_SVG), svg.as_bytes())?;
    let path = run.file(CURVES_FILE);
    write_atomic(&path, &png)?;
    Ok(Some(path))
}

/// The confusion matrix of an evaluation as (SVG, PNG).
pub(crate) fn confusion_pictures(eval: &Evaluation) -> Result<(String, Vec<u8>)> {
    Ok((
        confusion::svg(&eval.confusion, &eval.classes)?,
        png_bytes(&confusion::bitmap(&eval.confusion, &eval.classes)?),
    ))
}

/// Writes confusion.png and confusion.svg into `run`; returns the PNG's path and the SVG, or
/// nothing for more than [`MANY_CLASSES`] classes.
pub(crate) fn write_confusion(
    run: &RunDir,
    eval: &Evaluation,
) -> Result<Option<(PathBuf, String)>> {
    if eval.classes.len() > MANY_CLASSES {
        return Ok(None);
    }
    let (svg, png) = confusion_pictures(eval)?;
    write_atomic(&run.file(CONFUSION_SVG), svg.as_bytes())?;
    let path = run.file(CONFUSION_FILE);
    write_atomic(&path, &png)?;
    Ok(Some((path, svg)))
}

/// The templates of the [`SHOWN_TEMPLATES`] easiest and hardest classes by test accuracy, as two
/// labelled grids ("name (accuracy)").
fn extreme_templates(
    model: &LinearClassifier,
    eval: &Evaluation,
) -> Result<Vec<(String, Vec<u8>)>> {
    let images = templates(model, TemplateScale::PerClass);
    let mut ranked: Vec<(usize, f64)> = eval
        .per_class
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.accuracy?)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let n = SHOWN_TEMPLATES.min(ranked.len() / 2);
    let channels = model.input_shape()[0];
    let picture = |chosen: &[(usize, f64)]| -> Result<Vec<u8>> {
        let imgs: Vec<_> = chosen.iter().map(|&(i, _)| images[i].clone()).collect();
        let labels: Vec<String> = chosen
            .iter()
            .map(|&(i, a)| format!("{} ({:.0}%)", eval.classes[i], 100.0 * a))
            .collect();
        Ok(png_bytes(&grid(
            &imgs,
            &labels,
            channels,
            TemplateScale::PerClass,
        )?))
    };
    let hardest: Vec<(usize, f64)> = ranked.iter().rev().take(n).copied().collect();
    Ok(vec![
        (format!("the {n} easiest classes"), picture(&ranked[..n])?),
        (format!("the {n} hardest classes"), picture(&hardest)?),
    ])
}

/// Up to `n` misclassified images of `set`, as upscaled PNGs with their classes, taken from
/// every true class in turn (the first mistake of each class, then the second, …), so that a
/// few classes with many mistakes do not fill the page.
fn mistakes(set: &ImageSet, eval: &Evaluation, n: usize) -> Vec<Mistake> {
    let mut by_class: Vec<std::collections::VecDeque<usize>> =
        vec![Default::default(); eval.classes.len()];
    for i in (0..set.len()).filter(|&i| eval.predictions[i] != set.label(i)) {
        by_class[set.label(i)].push_back(i);
    }
    let mut chosen = Vec::new();
    while chosen.len() < n && by_class.iter().any(|c| !c.is_empty()) {
        for class in by_class.iter_mut() {
            if let Some(i) = class.pop_front().filter(|_| chosen.len() < n) {
                chosen.push(i);
            }
        }
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|i| mistake(set, eval, i)).collect()
}

/// Image `i` of `set`, upscaled, with its true and predicted class.
fn mistake(set: &ImageSet, eval: &Evaluation, i: usize) -> Mistake {
    let [_, h, w] = set.shape();
    let img = from_planes(set.image(i), set.shape());
    Mistake {
        png: png_bytes(&upscale(&img, zoom(w.max(h)) / 2 + 1)),
        true_class: eval.classes[set.label(i)].clone(),
        predicted: eval.classes[eval.predictions[i]].clone(),
    }
}

/// Writes `report.html` (and the pictures it shows) into the run directory.
pub(crate) fn write_report(
    run: &RunDir,
    info: &RunInfo,
    model: &LinearClassifier,
    test: Arc<ImageSet>,
    eval: &Evaluation,
) -> Result<PathBuf> {
    let (grid_path, _) = write_templates(&run.path, model, &info.classes, TemplateScale::PerClass)?;
    let templates_png = if info.classes.len() > MANY_CLASSES {
        extreme_templates(model, eval)?
    } else {
        vec![("all classes".to_string(), std::fs::read(&grid_path)?)]
    };
    let confusion_svg = write_confusion(run, eval)?.map(|(_, svg)| svg);
    let curves_svg =
        write_curves(run, info)?.and_then(|_| std::fs::read_to_string(run.file(CURVES_SVG)).ok());
    let name = run.path.file_name().map_or_else(
        || run.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let page = html(&ReportParts {
        run_name: &name,
        info,
        eval,
        curves_svg,
        templates_png,
        confusion_svg,
        mistakes: mistakes(&test, eval, 24),
    });
    let path = run.file(REPORT_FILE);
    write_atomic(&path, page.as_bytes())?;
    Ok(path)
}
