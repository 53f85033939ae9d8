//! Class templates: each row of W reshaped to the image's shape and shown as a picture, on a
//! colour scale centred on zero so that a weight of 0 (nothing learned) looks neutral.

use image::{Rgb, RgbImage};
use linclass_model::LinearClassifier;

use anyhow::Result;

use crate::inspect::pictures::charts::{fit, label};
use crate::inspect::pictures::raster::upscale;

/// How the weights of the templates are mapped to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum TemplateScale {
    /// Each template on its own scale: ±(its largest |weight|) at the ends. Shows each
    /// template's pattern best.
    #[default]
    PerClass,
    /// One scale for all templates: ±(the largest |weight| of W). Templates can be compared
    /// (a faint one has small weights).
    Shared,
}

/// The end of the diverging scale for positive weights (red), for negative weights (blue), and
/// its neutral middle (white), for one-channel templates.
pub(crate) const POSITIVE: [u8; 3] = [178, 24, 43];
pub(crate) const NEGATIVE: [u8; 3] = [33, 102, 172];
pub(crate) const NEUTRAL: [u8; 3] = [255, 255, 255];

/// A one-channel weight on the diverging scale: 0 is white, +`span` full red, −`span` full blue,
/// linear in between (values beyond ±`span` are clamped).
pub(crate) fn diverging(v: f32, span: f32) -> Rgb<u8> {
    let t = if span > 0.0 {
        (v / span).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let end = if t >= 0.0 { POSITIVE } else { NEGATIVE };
    let a = t.abs();
    Rgb(std::array::from_fn(|i| {
        (f32::from(NEUTRAL[i]) + a * (f32::from(end[i]) - f32::from(NEUTRAL[i]))).round() as u8
    }))
}

/// A colour template's channel value: 0 is mid-grey (128), +`span` 255, −`span` 1, so the
/// picture shows which colour each pixel's weights favour.
fn centred(v: f32, span: f32) -> u8 {
    let t = if span > 0.0 {
        (v / span).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    (128.0 + 127.0 * t).round() as u8
}

/// The largest |weight| of `values` (0 for none).
pub(crate) fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// One template (`values` in channel-planar order, `shape` = [channels, height, width]) as an
/// RGB image, with ±`span` at the ends of the scale: one channel on the red–white–blue
/// diverging scale ([`diverging`]), three channels as colour centred on mid-grey.
pub(crate) fn template_image(values: &[f32], shape: [usize; 3], span: f32) -> RgbImage {
    let [c, h, w] = shape;
    let plane = h * w;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        if c == 3 {
            Rgb([
                centred(values[i], span),
                centred(values[plane + i], span),
                centred(values[2 * plane + i], span),
            ])
        } else {
            diverging(values[i], span)
        }
    })
}

/// W as rows of f32, one per class ([C][D]).
pub(crate) fn weight_rows(model: &LinearClassifier) -> Vec<Vec<f32>> {
    let dim: usize = model.input_shape().iter().product();
    let weights = model
        .weights()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    weights.chunks_exact(dim).map(<[f32]>::to_vec).collect()
}

/// Every class's template as an image, in class order.
pub(crate) fn templates(model: &LinearClassifier, scale: TemplateScale) -> Vec<RgbImage> {
    let shape = model.input_shape();
    let rows = weight_rows(model);
    let shared = rows.iter().map(|r| max_abs(r)).fold(0.0f32, f32::max);
    rows.iter()
        .map(|row| {
            let span = match scale {
                TemplateScale::PerClass => max_abs(row),
                TemplateScale::Shared => shared,
            };
            template_image(row, shape, span)
        })
        .collect()
}

/// Upscaling factor that makes an image of `size` pixels about 96 pixels wide.
pub(crate) fn zoom(size: usize) -> u32 {
    (96usize.div_ceil(size.max(1))).max(1) as u32
}

/// What the colours of a grid mean, for its title.
fn legend(channels: usize, scale: TemplateScale) -> String {
    let colours = if channels == 3 {
        "mid-grey = 0"
    } else {
        "red > 0, white = 0, blue < 0"
    };
    let scale = match scale {
        TemplateScale::PerClass => "own scale each",
        TemplateScale::Shared => "one shared scale",
    };
    format!("templates (rows of W): {colours}; {scale}")
}

/// Font size of the grid's labels, and the room a label line takes.
const LABEL_SIZE: f64 = 14.0;
const LABEL_H: u32 = 20;

/// All templates in one labelled grid, with a title saying what the colours mean.
pub(crate) fn grid(
    images: &[RgbImage],
    classes: &[String],
    channels: usize,
    scale: TemplateScale,
) -> Result<RgbImage> {
    let n = images.len().max(1);
    let cols = if n <= 10 {
        n.min(5)
    } else {
        (n as f64).sqrt().ceil() as usize
    };
    let rows = n.div_ceil(cols);
    let (w, h) = images
        .first()
        .map_or((1, 1), |i| (i.width() as usize, i.height() as usize));
    // Hundreds of templates: one screen pixel per weight keeps the grid a few megapixels.
    let z = if n > crate::inspect::evaluation::MANY_CLASSES {
        1
    } else {
        zoom(w.max(h))
    };
    let (cell_w, cell_h) = (w as u32 * z, h as u32 * z);
    let pad = 8u32;
    let title_h = 28;
    let title = legend(channels, scale);
    let width = (cols as u32 * (cell_w + pad) + pad)
        .max(crate::inspect::pictures::charts::text_width(&title, LABEL_SIZE) + 2 * pad);
    let height = title_h + rows as u32 * (cell_h + LABEL_H + pad) + pad;
    let mut canvas = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut texts = vec![(pad as i32, 6, title)];
    for (i, (img, name)) in images.iter().zip(classes).enumerate() {
        let (col, row) = ((i % cols) as u32, (i / cols) as u32);
        let x = pad + col * (cell_w + pad);
        let y = title_h + row * (cell_h + LABEL_H + pad);
        image::imageops::replace(&mut canvas, &upscale(img, z), x.into(), y.into());
        let name = fit(name, cell_w + pad / 2, LABEL_SIZE);
        let tw = crate::inspect::pictures::charts::text_width(&name, LABEL_SIZE);
        let tx = x as i32 + (cell_w as i32 - tw as i32) / 2;
        texts.push((tx, (y + cell_h + 3) as i32, name));
    }
    label(&mut canvas, &texts, LABEL_SIZE)?;
    Ok(canvas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diverging_scale_is_centred_on_zero() {
        assert_eq!(diverging(0.0, 2.0).0, NEUTRAL);
        assert_eq!(diverging(2.0, 2.0).0, POSITIVE);
        assert_eq!(diverging(-2.0, 2.0).0, NEGATIVE);
        // Beyond the span: clamped to the ends.
        assert_eq!(diverging(5.0, 2.0).0, POSITIVE);
        assert_eq!(diverging(-5.0, 2.0).0, NEGATIVE);
        // Halfway: halfway from white to each end, by channel.
        assert_eq!(diverging(1.0, 2.0).0, [217, 140, 149]);
        assert_eq!(diverging(-1.0, 2.0).0, [144, 179, 214]);
        // Equal magnitudes are equally far from white, on opposite sides.
        for v in [0.25f32, 0.5, 0.9] {
            let dist = |p: Rgb<u8>| {
                p.0.iter()
                    .zip(NEUTRAL)
                    .map(|(&a, b)| (f32::from(a) - f32::from(b)).powi(2))
                    .sum::<f32>()
                    .sqrt()
            };
            let (pos, neg) = (dist(diverging(v, 1.0)), dist(diverging(-v, 1.0)));
            let (pos_end, neg_end) = (dist(Rgb(POSITIVE)), dist(Rgb(NEGATIVE)));
            assert!((pos / pos_end - v).abs() < 0.01 && (neg / neg_end - v).abs() < 0.01);
        }
        // An all-zero template is all neutral, not a division by zero.
        assert_eq!(diverging(0.0, 0.0).0, NEUTRAL);
    }

    #[test]
    fn per_class_and_shared_scales() {
        // Two one-channel 1×3 templates, the second half the size of the first.
        let rows = [vec![-1.0f32, 0.0, 1.0], vec![-0.5f32, 0.0, 0.5]];
        let own: Vec<RgbImage> = rows
            .iter()
            .map(|r| template_image(r, [1, 1, 3], max_abs(r)))
            .collect();
        // Each on its own scale: the same picture.
        assert_eq!(own[0], own[1]);
        assert_eq!(own[1].get_pixel(2, 0).0, POSITIVE);
        // On one scale: the smaller one is paler, halfway to the ends.
        let shared = template_image(&rows[1], [1, 1, 3], 1.0);
        assert_eq!(shared.get_pixel(0, 0).0, diverging(-0.5, 1.0).0);
        assert_eq!(shared.get_pixel(1, 0).0, NEUTRAL);
        assert_eq!(shared.get_pixel(2, 0).0, diverging(0.5, 1.0).0);
    }

    #[test]
    fn colour_templates_are_centred_on_mid_grey() {
        // One 1×2 RGB template: a pixel of zeros, and one favouring blue against red.
        let values = [0.0f32, -2.0, 0.0, 0.0, 0.0, 2.0];
        let img = template_image(&values, [3, 1, 2], 2.0);
        assert_eq!(img.get_pixel(0, 0).0, [128, 128, 128]);
        assert_eq!(img.get_pixel(1, 0).0, [1, 128, 255]);
    }
}
