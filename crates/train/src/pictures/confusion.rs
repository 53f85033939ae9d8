//! The confusion matrix as a heat map: rows are true classes, columns predicted ones, each row
//! coloured by the fraction of its images.

use super::canvas::{BLACK, Canvas, DARK, GLYPH, WHITE, fit, heat};

pub fn heatmap(confusion: &[Vec<usize>], classes: &[String]) -> Canvas {
    let c = classes.len().max(1);
    let cell: u32 = if c <= 12 {
        40
    } else if c <= 25 {
        24
    } else {
        7
    };
    let labelled = c <= 25;
    let name_chars = if labelled {
        classes.iter().map(|n| n.len()).max().unwrap_or(1).min(12) as u32
    } else {
        3
    };
    let left = name_chars * GLYPH + 16;
    let top = 40 + if labelled { name_chars * GLYPH } else { 12 };
    let size = c as u32 * cell;
    let title = "confusion matrix (rows: true class, columns: predicted)";
    let width = (left + size + 16).max(Canvas::text_width(title, 1) + 16);
    let mut canvas = Canvas::new(width, top + size + 40);
    canvas.text(8, 8, title, 1, BLACK);
    for (t, row) in confusion.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let frac = if total > 0 {
                count as f64 / total as f64
            } else {
                0.0
            };
            let (x, y) = (
                (left + p as u32 * cell) as i64,
                (top + t as u32 * cell) as i64,
            );
            canvas.fill_rect(x, y, cell, cell, heat(frac));
            if cell >= 24 && count > 0 {
                let text = count.to_string();
                let color = if frac > 0.5 { WHITE } else { BLACK };
                canvas.text_centered(
                    x + cell as i64 / 2,
                    y + (cell as i64 - GLYPH as i64) / 2,
                    &text,
                    1,
                    cell,
                    color,
                );
            }
        }
    }
    if labelled {
        for (i, name) in classes.iter().enumerate() {
            let y = (top + i as u32 * cell + (cell - GLYPH) / 2) as i64;
            let label = fit(name, name_chars);
            canvas.text(
                left as i64 - 6 - Canvas::text_width(&label, 1) as i64,
                y,
                &label,
                1,
                DARK,
            );
            // Column labels, written vertically one character per line.
            let x = (left + i as u32 * cell + (cell - GLYPH) / 2) as i64;
            for (k, ch) in label.chars().enumerate() {
                canvas.text(
                    x,
                    (top - 4 - (label.len() - k) as u32 * GLYPH) as i64,
                    &ch.to_string(),
                    1,
                    DARK,
                );
            }
        }
    } else {
        for i in (0..c).step_by(10) {
            let label = i.to_string();
            canvas.text(8, (top + i as u32 * cell) as i64, &label, 1, DARK);
            canvas.text(
                (left + i as u32 * cell) as i64,
                (top - 12) as i64,
                &label,
                1,
                DARK,
            );
        }
    }
    canvas.text(
        left as i64,
        (top + size + 14) as i64,
        "lighter: few, darker: most of the true class",
        1,
        DARK,
    );
    canvas
}
