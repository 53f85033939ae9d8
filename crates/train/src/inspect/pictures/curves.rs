//! Training curves: train and valid loss and accuracy per epoch (from metrics.csv), with the
//! kept epoch marked.

use anyhow::Result;
use image::RgbImage;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::inspect::pictures::charts::{self, BLUE, DARK, FONT, ORANGE, drawn};
use crate::run::history::EpochRecord;

/// Size of the curves picture in pixels: two panels side by side.
pub(crate) const SIZE: (u32, u32) = (960, 360);

/// What the curves show.
pub(crate) struct Curves<'a> {
    pub records: &'a [EpochRecord],
    /// The epoch whose model the run kept (marked), if known.
    pub kept: Option<usize>,
    /// The loss's name in the lecture's words, e.g. "cross-entropy".
    pub loss_name: &'a str,
    /// The kept epoch count was then refit on all the training images (`train.refit`).
    pub refit: bool,
}

/// The range of the finite values of `series`, padded by 8% on each side (a flat or empty
/// series gets a range of 1 around its value, or 0–1).
fn value_range(series: &[(&str, RGBColor, Vec<f64>)]) -> (f64, f64) {
    let (mut lo, mut hi) = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.08;
    (lo - pad, hi + pad)
}

/// The x range: first to last epoch, or one epoch wide around a single one.
fn epoch_range(epochs: &[usize]) -> (f64, f64) {
    let first = epochs.first().copied().unwrap_or(1) as f64;
    let last = epochs.last().copied().unwrap_or(1) as f64;
    if last > first {
        (first, last)
    } else {
        (first - 0.5, first + 0.5)
    }
}

/// One panel: `series` (name, colour, value per epoch) against the epoch.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    series: &[(&str, RGBColor, Vec<f64>)],
    epochs: &[usize],
    kept: Option<(usize, &str)>,
    legend_at: SeriesLabelPosition,
) -> Result<()> {
    let (lo, hi) = value_range(series);
    let (x0, x1) = epoch_range(epochs);
    let mut chart = drawn(
        ChartBuilder::on(area)
            .caption(title, (FONT, 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, lo..hi),
    )?;
    drawn(
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_desc)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .x_labels(epochs.len().clamp(2, 10))
            .x_label_formatter(&|v| format!("{}", v.round() as i64))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw(),
    )?;
    if let Some((k, label)) = kept {
        let x = k as f64;
        drawn(chart.draw_series(DashedLineSeries::new(
            [(x, lo), (x, hi)],
            6,
            4,
            DARK.stroke_width(1),
        )))?
        .label(label)
        .legend(|(x, y)| {
            DashedPathElement::new(vec![(x, y), (x + 16, y)], 4, 3, DARK.stroke_width(1))
        });
    }
    for (name, colour, ys) in series {
        let points: Vec<(f64, f64)> = epochs
            .iter()
            .zip(ys)
            .filter(|(_, v)| v.is_finite())
            .map(|(&e, &v)| (e as f64, v))
            .collect();
        let colour = *colour;
        drawn(chart.draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(2),
        )))?
        .label(*name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
        if points.len() <= 60 {
            drawn(chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled()))))?;
        }
    }
    drawn(
        chart
            .configure_series_labels()
            .position(legend_at)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw(),
    )?;
    Ok(())
}

/// Loss and accuracy side by side on `root`.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curves: &Curves,
) -> Result<()> {
    drawn(root.fill(&WHITE))?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let records = curves.records;
    let epochs: Vec<usize> = records.iter().map(|r| r.epoch).collect();
    let pick = |f: fn(&EpochRecord) -> f64| records.iter().map(f).collect::<Vec<_>>();
    let label = curves.kept.map(|k| {
        if curves.refit {
            format!("kept epoch {k}, then refit")
        } else {
            format!("kept epoch {k}")
        }
    });
    let kept = curves.kept.zip(label.as_deref());
    panel(
        &left,
        &format!("loss ({})", curves.loss_name),
        "loss",
        &[
            ("train", BLUE, pick(|r| r.train.loss)),
            ("valid", ORANGE, pick(|r| r.valid.loss)),
        ],
        &epochs,
        kept,
        SeriesLabelPosition::UpperRight,
    )?;
    panel(
        &right,
        "accuracy",
        "accuracy (%)",
        &[
            ("train", BLUE, pick(|r| 100.0 * r.train.accuracy)),
            ("valid", ORANGE, pick(|r| 100.0 * r.valid.accuracy)),
        ],
        &epochs,
        kept,
        SeriesLabelPosition::LowerRight,
    )?;
    Ok(())
}

/// The curves as an SVG document.
pub(crate) fn svg(curves: &Curves) -> Result<String> {
    charts::svg(SIZE, |root| draw(root, curves))
}

/// The curves as an RGB image.
pub(crate) fn bitmap(curves: &Curves) -> Result<RgbImage> {
    charts::bitmap(SIZE, |root| draw(root, curves))
}
