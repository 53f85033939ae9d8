//! The confusion matrix as a heat map: rows are true classes, columns predicted ones, each row
//! coloured by the fraction of its images (white: none, dark blue: all).

use anyhow::Result;
use image::RgbImage;
use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::inspect::pictures::charts::{self, FONT, drawn, fit};

/// Classes up to which every row and column is named (above: every 10th index).
const NAMED: usize = 25;
/// Classes up to which each cell shows its count.
const COUNTED: usize = 12;

/// A colour for t in [0, 1] on a white → dark blue scale.
pub(crate) fn heat(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0))
}

/// The picture's size: cells of 44 (≤ 12 classes), 26 (≤ 25) or 7 pixels, plus room for the
/// title and the class names.
pub(crate) fn size(classes: &[String]) -> (u32, u32) {
    let c = classes.len().max(1) as u32;
    let cell = match classes.len() {
        0..=COUNTED => 44,
        13..=NAMED => 26,
        _ => 7,
    };
    let names = names_width(classes);
    let side = c * cell + names + 34 + 20;
    (side.max(480), side + 40)
}

/// The longest a class name is drawn, pixels.
const NAME_WIDTH: u32 = 110;

/// A class name as an axis shows it: the first of a synset's synonyms ("tench, Tinca tinca"
/// → "tench"), cut to [`NAME_WIDTH`] pixels with '…'.
fn axis_name(name: &str) -> String {
    let first = name.split(',').next().unwrap_or(name).trim();
    fit(first, NAME_WIDTH, 13.0)
}

/// The width of the axis labels: the longest class name as drawn when the classes are named,
/// else an index.
fn names_width(classes: &[String]) -> u32 {
    if classes.len() <= NAMED {
        classes
            .iter()
            .map(|n| charts::text_width(&axis_name(n), 13.0))
            .max()
            .unwrap_or(0)
    } else {
        charts::text_width("100", 13.0)
    }
}

/// Draws the heat map of `confusion` ([true][predicted] counts) on `root`.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    confusion: &[Vec<usize>],
    classes: &[String],
) -> Result<()> {
    drawn(root.fill(&WHITE))?;
    let c = classes.len().max(1) as i32;
    let named = classes.len() <= NAMED;
    let name = |v: &SegmentValue<i32>, flip: bool| -> String {
        let SegmentValue::CenterOf(k) = *v else {
            return String::new();
        };
        let k = if flip { c - 1 - k } else { k };
        if !(0..c).contains(&k) {
            return String::new();
        }
        if named {
            axis_name(&classes[k as usize])
        } else if k % 10 == 0 {
            k.to_string()
        } else {
            String::new()
        }
    };
    let names_width = names_width(classes);
    let mut chart = drawn(
        ChartBuilder::on(root)
            .caption(
                "confusion matrix (rows: true class, columns: predicted)",
                (FONT, 18),
            )
            .margin(10)
            .x_label_area_size(names_width + 34)
            .y_label_area_size(names_width + 34)
            // A segmented range 0..n has n + 1 segments.
            .build_cartesian_2d((0..c - 1).into_segmented(), (0..c - 1).into_segmented()),
    )?;
    drawn(
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(c as usize)
            .y_labels(c as usize)
            // The predicted classes' names are drawn below (plotters centres turned labels on
            // their tick, which puts half of each name above the axis).
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|v| name(v, true))
            .y_label_style((FONT, 13))
            .x_desc("predicted")
            .y_desc("true class")
            .axis_desc_style((FONT, 15))
            .draw(),
    )?;
    // Each name starts just below the axis at its column and runs down, turned a quarter.
    let turned = TextStyle::from((FONT, 13).into_font())
        .transform(FontTransform::Rotate90)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for k in 0..c {
        let label = name(&SegmentValue::CenterOf(k), false);
        let (x, y) = chart.backend_coord(&(SegmentValue::CenterOf(k), SegmentValue::Exact(0)));
        if !label.is_empty() {
            drawn(root.draw(&Text::new(label, (x, y + 8), turned.clone())))?;
        }
    }
    let (cells, counts) = cells(confusion, classes.len() <= COUNTED);
    drawn(chart.draw_series(cells))?;
    drawn(chart.draw_series(counts))?;
    Ok(())
}

/// A cell in segment coordinates: (predicted, row from the bottom).
type Cell = (SegmentValue<i32>, SegmentValue<i32>);

/// The heat map's coloured cells, and their counts when `counted`.
fn cells(
    confusion: &[Vec<usize>],
    counted: bool,
) -> (Vec<Rectangle<Cell>>, Vec<Text<'static, Cell, String>>) {
    let c = confusion.len().max(1) as i32;
    let mut cells = Vec::new();
    let mut counts = Vec::new();
    for (t, row) in confusion.iter().enumerate() {
        let total: usize = row.iter().sum();
        let y = c - 1 - t as i32;
        for (p, &count) in row.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let frac = count as f64 / total.max(1) as f64;
            let p = p as i32;
            cells.push(Rectangle::new(
                [
                    (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                ],
                heat(frac).filled(),
            ));
            if counted {
                let colour: &'static RGBColor = if frac > 0.5 { &WHITE } else { &BLACK };
                counts.push(Text::new(
                    count.to_string(),
                    (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                    TextStyle::from((FONT, 13).into_font())
                        .color(colour)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ));
            }
        }
    }
    (cells, counts)
}

/// The heat map as an SVG document.
pub(crate) fn svg(confusion: &[Vec<usize>], classes: &[String]) -> Result<String> {
    charts::svg(size(classes), |root| draw(root, confusion, classes))
}

/// The heat map as an RGB image.
pub(crate) fn bitmap(confusion: &[Vec<usize>], classes: &[String]) -> Result<RgbImage> {
    charts::bitmap(size(classes), |root| draw(root, confusion, classes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_and_synonyms_dropped_and_nothing_is_clipped() {
        assert_eq!(axis_name("tench, Tinca tinca"), "tench");
        let long = "an extraordinarily long class name that no axis could hold";
        let cut = axis_name(long);
        assert!(cut.ends_with('…') && cut.len() < long.len(), "{cut}");
        assert!(charts::text_width(&cut, 13.0) <= NAME_WIDTH);
        assert_eq!(axis_name("cat"), "cat");

        // Ten classes with long names: every name's ink lies inside the picture, clear of
        // its edges (a clipped name would reach the last rows or the first columns).
        let classes: Vec<String> = (0..10).map(|k| format!("{long} {k}")).collect();
        let confusion: Vec<Vec<usize>> = (0..10)
            .map(|t| (0..10).map(|p| usize::from(t == p) * 5 + 1).collect())
            .collect();
        let img = bitmap(&confusion, &classes).unwrap();
        let (w, h) = img.dimensions();
        let ink = |x: u32, y: u32| img.get_pixel(x, y).0.iter().any(|&v| v < 200);
        assert!(
            (0..w).all(|x| (h - 4..h).all(|y| !ink(x, y))),
            "ink at the bottom"
        );
        assert!(
            (0..h).all(|y| (0..4).all(|x| !ink(x, y))),
            "ink at the left"
        );
        // And the names are drawn: the band below the matrix holds ink.
        assert!((0..w).any(|x| (h - 60..h - 30).any(|y| ink(x, y))));
    }
}
