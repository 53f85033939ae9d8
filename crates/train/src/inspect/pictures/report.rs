//! One self-contained HTML page about a run: config, data, curves, templates, confusion
//! matrix, easiest and hardest classes, and misclassified test images. Charts are inline SVG and
//! images base64 PNG data, so the page is a single file.

use base64::Engine;

use crate::config::LossKind;
use crate::inspect::evaluation::Evaluation;
use crate::run::info::RunInfo;

/// A misclassified test image and what it was taken for.
pub(crate) struct Mistake {
    pub png: Vec<u8>,
    pub true_class: String,
    pub predicted: String,
}

pub(crate) struct ReportParts<'a> {
    pub run_name: &'a str,
    pub info: &'a RunInfo,
    pub eval: &'a Evaluation,
    /// The training curves as an SVG document, if the run has epochs.
    pub curves_svg: Option<String>,
    /// Template grids as (what they show, PNG): all classes, or for many classes those of the
    /// easiest and of the hardest (the full grid is `templates.png` beside the report).
    pub templates_png: Vec<(String, Vec<u8>)>,
    /// The confusion matrix as an SVG document (none for many classes).
    pub confusion_svg: Option<String>,
    pub mistakes: Vec<Mistake>,
}

/// HTML-escapes text.
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn img(png: &[u8], alt: &str) -> String {
    format!(
        "<img alt=\"{}\" src=\"data:image/png;base64,{}\">",
        esc(alt),
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// An SVG document as an element of the page (its XML declaration dropped).
fn inline_svg(svg: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    format!("<div class=\"chart\">{}</div>\n", &svg[start..])
}

/// The report page: head, summary, curves, templates, confusion, classes, mistakes, config.
pub(crate) fn html(parts: &ReportParts) -> String {
    let mut h = head(parts.run_name);
    h.push_str(&summary(parts.info, parts.eval));
    if let Some(curves) = &parts.curves_svg {
        h.push_str("<h2>Training curves</h2>\n");
        h.push_str(&inline_svg(curves));
    }
    h.push_str(&templates(parts));
    if let Some(svg) = &parts.confusion_svg {
        h.push_str("<h2>Confusion matrix</h2>\n");
        h.push_str(&inline_svg(svg));
    }
    h.push_str(&classes(parts.eval));
    h.push_str(&mistakes(&parts.mistakes));
    h.push_str("<h2>Configuration</h2>\n<pre>");
    h.push_str(&esc(&parts.info.config.to_toml()));
    h.push_str("</pre>\n</body></html>\n");
    h
}

/// The document's head and style, and the title.
fn head(run_name: &str) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str(&format!(
        "<title>linclass report: {}</title>",
        esc(run_name)
    ));
    h.push_str(
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
         pre{background:#f4f4f4;padding:1em;overflow:auto}.big{font-size:1.6em;font-weight:bold}\
         .grid{display:flex;flex-wrap:wrap;gap:10px}.grid figure{margin:0;text-align:center;font-size:.8em}\
         img{max-width:100%;image-rendering:pixelated}.chart svg{max-width:100%;height:auto}</style></head><body>\n",
    );
    h.push_str(&format!("<h1>Linear classifier: {}</h1>\n", esc(run_name)));
    h
}

/// The accuracies, the data's parts, the refit and the losses.
fn summary(info: &RunInfo, eval: &Evaluation) -> String {
    let mut h = String::new();
    h.push_str(&format!(
        "<p><span class=\"big\">top-1 {:.2}%</span> &nbsp; top-{} {:.2}% &nbsp; on {} test images of {} ({} classes, input {:?}, backend {})</p>\n",
        100.0 * eval.top1,
        eval.k,
        100.0 * eval.topk,
        eval.n,
        esc(info.config.data.source.name()),
        info.classes.len(),
        info.model.input_shape,
        esc(&info.backend)
    ));
    h.push_str("<h2>Data</h2>\n<table><tr><th>part</th><th>images</th></tr>");
    h.push_str(&format!(
        "<tr><td>training</td><td>{}</td></tr><tr><td>validation</td><td>{}</td></tr><tr><td>test</td><td>{}</td></tr></table>\n",
        info.data.train, info.data.valid, eval.n
    ));
    if let Some(n) = info.data.test_copies.filter(|&n| n > 0) {
        h.push_str(&format!(
            "<p><b>Warning:</b> {n} of the test images are exact copies of training images (found when the run was trained): the test accuracy counts them, so it overstates accuracy on new images.</p>\n"
        ));
    }
    match &info.refit {
        Some(r) => h.push_str(&format!(
            "<p>Refit: the model shown here was trained again on the training and validation parts together ({} images, {} epochs); the curves are the first fit's.</p>\n",
            r.images, r.epochs
        )),
        None if info.config.train.refit => h.push_str(
            "<p>A refit was asked for (<code>train.refit</code>) but did not finish: the model shown here is the validated one; <code>linclass train --resume</code> runs the refit.</p>\n",
        ),
        None => {}
    }
    h.push_str(&match info.config.train.loss {
        LossKind::SquaredError => format!(
            "<p>Test squared error (the training loss): {:.4}; log loss (cross-entropy of the softmax, not the training loss): {:.4}</p>\n",
            eval.squared_error, eval.log_loss
        ),
        _ => format!(
            "<p>Test log loss (mean cross-entropy of the softmax, the training loss): {:.4}</p>\n",
            eval.log_loss
        ),
    });
    h
}

/// The class templates: one grid, or those of the easiest and hardest classes.
fn templates(parts: &ReportParts) -> String {
    let mut h = String::new();
    h.push_str("<h2>Class templates</h2>\n<p>Each row of W reshaped to the image's shape: the score of a class is the dot product of the image with its template (plus a bias). Zero is neutral: white between red (positive) and blue (negative) weights for one channel; mid-grey for colour, where a pixel's colour is the one its weights favour. Each template uses its own scale (`linclass templates RUN --scale shared` draws all on one).</p>\n");
    if let [(_, png)] = &parts.templates_png[..] {
        h.push_str(&img(png, "class templates"));
    } else {
        h.push_str(&format!(
            "<p>{} classes: the templates of the easiest and hardest classes by test accuracy; all of them are in <a href=\"templates.png\">templates.png</a> and one file each in <code>templates/</code> beside this page.</p>\n",
            parts.info.classes.len()
        ));
        for (what, png) in &parts.templates_png {
            h.push_str(&format!("<h3>Templates of {}</h3>\n", esc(what)));
            h.push_str(&img(png, &format!("templates of {what}")));
        }
    }
    h
}

/// The easiest and hardest classes and the most confused pairs.
fn classes(eval: &Evaluation) -> String {
    let mut h = String::new();
    h.push_str("<h2>Easiest and hardest classes</h2>\n<table><tr><th>easiest</th><th>accuracy</th><th>hardest</th><th>accuracy</th></tr>");
    let acc = |name: &String| eval.accuracy_percent(name);
    for (e, d) in eval.easiest.iter().zip(&eval.hardest) {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{:.1}%</td><td>{}</td><td>{:.1}%</td></tr>",
            esc(e),
            acc(e),
            esc(d),
            acc(d)
        ));
    }
    h.push_str("</table>\n<h3>Most confused pairs</h3>\n<table><tr><th>true class</th><th>predicted</th><th>images</th></tr>");
    if eval.confused_pairs.is_empty() {
        h.push_str("<tr><td colspan=\"3\">none: every test image was classified right</td></tr>");
    }
    for p in &eval.confused_pairs {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.true_class),
            esc(&p.predicted),
            p.count
        ));
    }
    h.push_str("</table>\n");
    h
}

/// The misclassified test images with their classes.
fn mistakes(mistakes: &[Mistake]) -> String {
    let mut h = String::new();
    if !mistakes.is_empty() {
        h.push_str("<h2>Misclassified test images</h2>\n<div class=\"grid\">");
        for m in mistakes {
            h.push_str(&format!(
                "<figure>{}<figcaption>true: {}<br>predicted: {}</figcaption></figure>",
                img(&m.png, "misclassified image"),
                esc(&m.true_class),
                esc(&m.predicted)
            ));
        }
        h.push_str("</div>\n");
    }
    h
}
