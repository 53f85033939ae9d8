//! Class templates: each row of W reshaped to the image's shape and shown as a picture.

use image::{Rgb, RgbImage};
use linclass_model::LinearClassifier;

use super::canvas::{BLACK, Canvas, GLYPH, upscale};

/// One template as an RGB image: its values rescaled to 0–255 (its own minimum to its own
/// maximum); grayscale templates are shown gray.
pub fn template_image(values: &[f32], shape: [usize; 3]) -> RgbImage {
    let [c, h, w] = shape;
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let to_u8 = |v: f32| (((v - lo) / span) * 255.0).round().clamp(0.0, 255.0) as u8;
    let plane = h * w;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        if c == 3 {
            Rgb([
                to_u8(values[i]),
                to_u8(values[plane + i]),
                to_u8(values[2 * plane + i]),
            ])
        } else {
            let v = to_u8(values[i]);
            Rgb([v, v, v])
        }
    })
}

/// Every class's template as an image, in class order.
pub fn templates(model: &LinearClassifier) -> Vec<RgbImage> {
    let shape = model.input_shape();
    let dim: usize = shape.iter().product();
    let weights = model
        .weights()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    weights
        .chunks_exact(dim)
        .map(|row| template_image(row, shape))
        .collect()
}

/// Upscaling factor that makes an image of `size` pixels about 96 pixels wide.
pub fn zoom(size: usize) -> u32 {
    (96usize.div_ceil(size.max(1))).max(1) as u32
}

/// All templates in one labelled grid.
pub fn grid(images: &[RgbImage], classes: &[String]) -> Canvas {
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
    let z = zoom(w.max(h));
    let (cell_w, cell_h) = (w as u32 * z, h as u32 * z);
    let (pad, label_h) = (8u32, GLYPH + 6);
    let title_h = 24;
    let width = cols as u32 * (cell_w + pad) + pad;
    let height = title_h + rows as u32 * (cell_h + label_h + pad) + pad;
    let mut canvas = Canvas::new(width, height);
    canvas.text(pad as i64, 8, "class templates (rows of W)", 1, BLACK);
    for (i, (img, name)) in images.iter().zip(classes).enumerate() {
        let (col, row) = ((i % cols) as u32, (i / cols) as u32);
        let x = pad + col * (cell_w + pad);
        let y = title_h + row * (cell_h + label_h + pad);
        canvas.blit(x as i64, y as i64, &upscale(img, z));
        canvas.text_centered(
            (x + cell_w / 2) as i64,
            (y + cell_h + 3) as i64,
            name,
            1,
            cell_w + pad,
            BLACK,
        );
    }
    canvas
}
