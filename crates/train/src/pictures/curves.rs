//! Training curves: train and valid loss and accuracy per epoch, from the metrics CSV.

use image::Rgb;

use crate::progress::EpochRecord;

use super::canvas::{BLACK, BLUE, Canvas, DARK, GREY, ORANGE};

const PANEL_W: u32 = 420;
const PANEL_H: u32 = 280;
const MARGIN_L: u32 = 64;
const MARGIN_B: u32 = 40;
const MARGIN_T: u32 = 30;

/// Short decimal form of an axis value.
fn tick_label(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// One panel: a title, axes with 5 ticks each, and a line per series.
fn panel(canvas: &mut Canvas, left: u32, title: &str, series: &[(&str, Rgb<u8>, Vec<f64>)]) {
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let epochs = series.iter().map(|s| s.2.len()).max().unwrap_or(1).max(1);
    let x0 = (left + MARGIN_L) as i64;
    let y0 = MARGIN_T as i64;
    let (pw, ph) = (
        (PANEL_W - MARGIN_L - 16) as i64,
        (PANEL_H - MARGIN_T - MARGIN_B) as i64,
    );
    let px = |e: usize| {
        x0 + if epochs > 1 {
            (e as i64 * pw) / (epochs as i64 - 1)
        } else {
            pw / 2
        }
    };
    let py = |v: f64| y0 + ph - ((v - lo) / (hi - lo) * ph as f64).round() as i64;

    canvas.text(x0, 8, title, 1, BLACK);
    for t in 0..=4 {
        let v = lo + (hi - lo) * t as f64 / 4.0;
        let y = py(v);
        canvas.line((x0, y), (x0 + pw, y), GREY, 1);
        let label = tick_label(v);
        canvas.text(
            x0 - 6 - Canvas::text_width(&label, 1) as i64,
            y - 4,
            &label,
            1,
            DARK,
        );
    }
    let step = epochs.div_ceil(8).max(1);
    for e in (0..epochs).step_by(step) {
        let label = (e + 1).to_string();
        canvas.text(
            px(e) - Canvas::text_width(&label, 1) as i64 / 2,
            y0 + ph + 8,
            &label,
            1,
            DARK,
        );
    }
    canvas.text(x0 + pw / 2 - 20, y0 + ph + 24, "epoch", 1, DARK);
    canvas.line((x0, y0), (x0, y0 + ph), BLACK, 1);
    canvas.line((x0, y0 + ph), (x0 + pw, y0 + ph), BLACK, 1);

    for (i, (name, color, ys)) in series.iter().enumerate() {
        let points: Vec<(i64, i64)> = ys
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(e, &v)| (px(e), py(v)))
            .collect();
        for w in points.windows(2) {
            canvas.line(w[0], w[1], *color, 2);
        }
        for &p in &points {
            canvas.fill_rect(p.0 - 2, p.1 - 2, 5, 5, *color);
        }
        // Legend in the title row, right-aligned.
        let lx = x0 + pw - 150 + i as i64 * 80;
        let ly = 8;
        canvas.fill_rect(lx, ly + 2, 14, 4, *color);
        canvas.text(lx + 20, ly, name, 1, BLACK);
    }
}

/// Loss and accuracy side by side.
pub fn curves(records: &[EpochRecord]) -> Canvas {
    let mut canvas = Canvas::new(2 * PANEL_W, PANEL_H);
    let pick = |f: fn(&EpochRecord) -> f64| records.iter().map(f).collect::<Vec<_>>();
    panel(
        &mut canvas,
        0,
        "loss (cross-entropy)",
        &[
            ("train", BLUE, pick(|r| r.train.loss)),
            ("valid", ORANGE, pick(|r| r.valid.loss)),
        ],
    );
    panel(
        &mut canvas,
        PANEL_W,
        "accuracy (%)",
        &[
            ("train", BLUE, pick(|r| 100.0 * r.train.accuracy)),
            ("valid", ORANGE, pick(|r| 100.0 * r.valid.accuracy)),
        ],
    );
    canvas
}

/// Reads the epoch records back from a metrics CSV.
pub fn read_metrics_csv(text: &str) -> Vec<EpochRecord> {
    use crate::progress::SplitMetrics;
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let v: Vec<f64> = line
                .split(',')
                .map(|x| x.trim().parse().ok())
                .collect::<Option<_>>()?;
            // The `kept` column (11th) is not part of the record.
            (v.len() == 10 || v.len() == 11).then(|| EpochRecord {
                epoch: v[0] as usize,
                train: SplitMetrics {
                    loss: v[1],
                    accuracy: v[2],
                    top5: v[3],
                },
                valid: SplitMetrics {
                    loss: v[4],
                    accuracy: v[5],
                    top5: v[6],
                },
                lr: v[7],
                steps: v[8] as usize,
                seconds: v[9],
            })
        })
        .collect()
}
