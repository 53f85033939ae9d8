//! Preparing a picture of a handwritten digit as MNIST's digits were prepared, so that a model
//! trained on MNIST sees the user's digit as it saw its training images.
//!
//! LeCun, Cortes and Burges, "The MNIST database of handwritten digits": the digits were
//! "size normalized to fit in a 20x20 pixel box while preserving their aspect ratio", anti-aliased
//! (hence grey levels), and "centered in a 28x28 image by computing the center of mass of the
//! pixels, and translating the image so as to position this point at the center". A linear model
//! tolerates no shift, scale or stroke width it has not seen, so a digit drawn on a canvas or
//! photographed on paper is read right only once it is brought to that form: light ink on black,
//! contrast stretched, cropped to the ink, strokes about as wide as MNIST's (1.9 px of the 20-px
//! box, the median of its test digits), fitted into 20 × 20 and centred by mass in 28 × 28.

use std::path::Path;

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, Luma};

use crate::decode::{decode_jpeg, decode_upright, flatten_alpha};
use crate::error::{DataError, Result};

/// The side of an MNIST image.
pub const MNIST_SIDE: usize = 28;
/// The box the digit is fitted into.
const BOX: f32 = 20.0;
/// The long side of the digit while its strokes are measured and adjusted.
const WORK: u32 = 100;
/// MNIST's stroke width at `WORK` scale: 1.9 px of the 20-px box (pixels ≥ 128 of its test
/// digits, 2 × area / edges), × 5.
const STROKE: f32 = 9.5;
/// Strokes between these multiples of `STROKE` are left as drawn (MNIST's own spread).
const STROKE_RANGE: (f32, f32) = (0.7, 1.45);
/// Pictures are looked at with at most this many pixels on the long side.
const MAX_SIDE: u32 = 1024;

/// A digit prepared as MNIST's were: the 28 × 28 pixels and what was done.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedDigit {
    /// 28 × 28 u8, light ink on black, row by row.
    pub pixels: Vec<u8>,
    /// What was done, in order, in a few words each ("inverted (light background)", …).
    pub steps: Vec<String>,
}

/// Prepares a picture of one digit as MNIST's were prepared (see the module documentation). A
/// light background (the median of the picture's border) is inverted; a picture without ink
/// gives a black image (said in `steps`).
pub fn prepare_digit(img: DynamicImage) -> PreparedDigit {
    let mut steps = Vec::new();
    let mut gray = flatten_alpha(img).to_luma8();
    let (w, h) = gray.dimensions();
    if w.max(h) > MAX_SIDE {
        let s = MAX_SIDE as f32 / w.max(h) as f32;
        let size = |v: u32| ((v as f32 * s).round() as u32).max(1);
        gray = image::imageops::resize(&gray, size(w), size(h), FilterType::Triangle);
    }
    if light_background(&gray) {
        image::imageops::invert(&mut gray);
        steps.push("inverted (light background)".to_string());
    }
    let Some(ink) = stretched(&gray) else {
        steps.push("no ink found".to_string());
        return PreparedDigit {
            pixels: vec![0; MNIST_SIDE * MNIST_SIDE],
            steps,
        };
    };
    steps.push("contrast stretched".to_string());
    let (x0, y0, x1, y1) = ink_box(&ink);
    let crop = image::imageops::crop_imm(&ink, x0, y0, x1 - x0, y1 - y0).to_image();
    steps.push("cropped to the ink".to_string());
    let mut work = at_long_side(&crop, WORK);
    normalize_peak(&mut work);
    if let Some((digit, step)) = stroke_adjusted(&work) {
        work = digit;
        steps.push(step);
    }
    let boxed = at_long_side(&work, BOX as u32);
    steps.push("fitted into 20×20".to_string());
    let pixels = centred_by_mass(&boxed);
    steps.push("centred by mass in 28×28".to_string());
    PreparedDigit { pixels, steps }
}

/// Decodes an image file for [`prepare_digit`] (see [`decode_digit`]).
///
/// Errors: the file is a folder or cannot be read, or as [`decode_digit`].
pub fn open_digit(path: &Path) -> Result<DynamicImage> {
    if path.is_dir() {
        return Err(DataError::format(path, "is a folder, not an image file"));
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_digit(&bytes, path)
}

/// Decodes an encoded image for [`prepare_digit`]: as a viewer shows it (EXIF orientation
/// applied), a large JPEG decoded at a reduced scale that keeps at least 512 pixels across.
/// `path` names it in errors.
///
/// Errors: as [`decode_upright`](crate::decode::decode_upright).
pub fn decode_digit(bytes: &[u8], path: &Path) -> Result<DynamicImage> {
    match decode_jpeg(bytes, Some([256, 256]), path)? {
        Some(img) => Ok(img),
        None => decode_upright(bytes, path),
    }
}

/// Whether a picture has a light background (see [`light_background`]): not an MNIST image,
/// whatever its size.
pub fn has_light_background(img: &DynamicImage) -> bool {
    light_background(&flatten_alpha(img.clone()).to_luma8())
}

/// Whether the picture's border (its outer 4%, at least one pixel) is light: its median is
/// above mid-grey. Ink rarely reaches the border; paper and canvas always do.
fn light_background(gray: &GrayImage) -> bool {
    median(&border(gray)) > 127
}

/// The pixels of the border ring of `gray`.
fn border(gray: &GrayImage) -> Vec<u8> {
    let (w, h) = gray.dimensions();
    let ring = (w.min(h) / 25).max(1);
    gray.enumerate_pixels()
        .filter(|(x, y, _)| *x < ring || *y < ring || *x >= w - ring || *y >= h - ring)
        .map(|(_, _, p)| p.0[0])
        .collect()
}

fn median(values: &[u8]) -> u8 {
    let mut counts = [0usize; 256];
    for &v in values {
        counts[v as usize] += 1;
    }
    let mut seen = 0;
    for (v, &c) in counts.iter().enumerate() {
        seen += c;
        if 2 * seen > values.len() {
            return v as u8;
        }
    }
    0
}

/// Light-on-dark ink stretched to 0–255: the paper's level where each pixel is (see
/// [`paper`]) goes to 0, the ink's level (the 98th percentile of what stands clearly above the
/// paper) to 255, and what is within a fifth of the paper (texture, shading) to 0. `None`
/// without ink.
fn stretched(gray: &GrayImage) -> Option<GrayImage> {
    let paper = paper(gray);
    let above =
        |x: u32, y: u32| gray.get_pixel(x, y).0[0] as f32 - paper.get_pixel(x, y).0[0] as f32;
    let mut clear: Vec<f32> = gray
        .enumerate_pixels()
        .map(|(x, y, _)| above(x, y))
        .filter(|&s| s > 32.0)
        .collect();
    if clear.is_empty() {
        return None;
    }
    clear.sort_by(f32::total_cmp);
    let peak = clear[(clear.len() - 1) * 98 / 100];
    let floor = 0.2;
    Some(GrayImage::from_fn(gray.width(), gray.height(), |x, y| {
        let v = ((above(x, y) / peak - floor) / (1.0 - floor)).clamp(0.0, 1.0);
        Luma([(255.0 * v).round() as u8])
    }))
}

/// The paper's (or canvas's) level under each pixel of light-on-dark ink, for pictures lit
/// unevenly: the darkest level of each of 32 × 32 blocks and their neighbours (wider than a
/// stroke, so that ink drops out), spread smoothly over the picture.
fn paper(gray: &GrayImage) -> GrayImage {
    let (w, h) = gray.dimensions();
    let block = (w.max(h) / 32).max(1);
    let (nx, ny) = (w.div_ceil(block), h.div_ceil(block));
    let mut mins = GrayImage::from_pixel(nx, ny, Luma([255]));
    for (x, y, p) in gray.enumerate_pixels() {
        let m = mins.get_pixel_mut(x / block, y / block);
        m.0[0] = m.0[0].min(p.0[0]);
    }
    let spread = square_filter(&mins, 1, u8::min);
    image::imageops::resize(&spread, w, h, FilterType::Triangle)
}

/// The box holding the ink (x0, y0, x1, y1; ends exclusive), less stray specks: the rows and
/// columns before the first thousandth of the ink's mass and after the last are left out.
fn ink_box(ink: &GrayImage) -> (u32, u32, u32, u32) {
    let (w, h) = ink.dimensions();
    let mut cols = vec![0f64; w as usize];
    let mut rows = vec![0f64; h as usize];
    for (x, y, p) in ink.enumerate_pixels() {
        cols[x as usize] += p.0[0] as f64;
        rows[y as usize] += p.0[0] as f64;
    }
    let span = |mass: &[f64]| {
        let total: f64 = mass.iter().sum();
        let cut = total * 0.001;
        let (mut seen, mut first, mut last) = (0.0, 0, mass.len());
        for (i, &m) in mass.iter().enumerate() {
            if seen <= cut && seen + m > cut {
                first = i;
            }
            seen += m;
            if seen >= total - cut {
                last = i + 1;
                break;
            }
        }
        (first as u32, last.max(first + 1) as u32)
    };
    let ((x0, x1), (y0, y1)) = (span(&cols), span(&rows));
    (x0, y0, x1, y1)
}

/// `img` scaled (anti-aliased) so that its long side is `side`, keeping its aspect ratio.
fn at_long_side(img: &GrayImage, side: u32) -> GrayImage {
    let (w, h) = img.dimensions();
    let s = side as f32 / w.max(h) as f32;
    let size = |v: u32| ((v as f32 * s).round() as u32).clamp(1, side);
    image::imageops::resize(img, size(w), size(h), FilterType::Triangle)
}

/// Scales the pixels so that the brightest is 255 (a thin stroke fades when shrunk).
fn normalize_peak(img: &mut GrayImage) {
    let peak = img.pixels().map(|p| p.0[0]).max().unwrap_or(0);
    if peak > 0 && peak < 255 {
        for p in img.pixels_mut() {
            p.0[0] = (p.0[0] as u32 * 255 / peak as u32) as u8;
        }
    }
}

/// The mean width of the strokes, in pixels: 2 × area / edges of the pixels ≥ 128 (a stroke of
/// width w and length L has area w·L and 2·L edges).
fn stroke_width(img: &GrayImage) -> f32 {
    let (w, h) = img.dimensions();
    let on = |x: i64, y: i64| {
        x >= 0
            && y >= 0
            && x < w as i64
            && y < h as i64
            && img.get_pixel(x as u32, y as u32).0[0] >= 128
    };
    let (mut area, mut edges) = (0usize, 0usize);
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            if on(x, y) {
                area += 1;
                edges += [(1, 0), (-1, 0), (0, 1), (0, -1)]
                    .iter()
                    .filter(|(dx, dy)| !on(x + dx, y + dy))
                    .count();
            }
        }
    }
    if edges == 0 {
        0.0
    } else {
        2.0 * area as f32 / edges as f32
    }
}

/// The digit with its strokes brought to MNIST's width when they are much thinner (a pen on a
/// large canvas) or thicker (a marker) than MNIST's, and what was done; `None` when they are
/// within MNIST's spread.
fn stroke_adjusted(work: &GrayImage) -> Option<(GrayImage, String)> {
    let width = stroke_width(work);
    let (low, high) = STROKE_RANGE;
    if width >= low * STROKE && width <= high * STROKE || width == 0.0 {
        return None;
    }
    let r = ((STROKE - width).abs() / 2.0).round() as u32;
    if r == 0 {
        return None;
    }
    if width < STROKE {
        // Room for the wider strokes, so that the ends are not cut.
        let mut padded = GrayImage::new(work.width() + 2 * r, work.height() + 2 * r);
        image::imageops::replace(&mut padded, work, r as i64, r as i64);
        return Some((
            square_filter(&padded, r, u8::max),
            "strokes thickened".to_string(),
        ));
    }
    let thinned = square_filter(work, r, u8::min);
    (stroke_width(&thinned) > 0.0).then(|| (thinned, "strokes thinned".to_string()))
}

/// A max (dilation) or min (erosion) filter over squares of side 2r + 1, done as two passes.
fn square_filter(img: &GrayImage, r: u32, pick: fn(u8, u8) -> u8) -> GrayImage {
    let (w, h) = img.dimensions();
    let pass = |src: &GrayImage, horizontal: bool| {
        GrayImage::from_fn(w, h, |x, y| {
            let (at, len) = if horizontal { (x, w) } else { (y, h) };
            let (from, to) = (at.saturating_sub(r), (at + r).min(len - 1));
            let mut v = src.get_pixel(x, y).0[0];
            for k in from..=to {
                let (px, py) = if horizontal { (k, y) } else { (x, k) };
                v = pick(v, src.get_pixel(px, py).0[0]);
            }
            Luma([v])
        })
    };
    pass(&pass(img, true), false)
}

/// The digit placed in 28 × 28 so that its centre of mass is at the centre (14, 14).
fn centred_by_mass(digit: &GrayImage) -> Vec<u8> {
    let (mut mass, mut mx, mut my) = (0f64, 0f64, 0f64);
    for (x, y, p) in digit.enumerate_pixels() {
        let v = p.0[0] as f64;
        mass += v;
        mx += v * (x as f64 + 0.5);
        my += v * (y as f64 + 0.5);
    }
    let centre = MNIST_SIDE as f64 / 2.0;
    let (dx, dy) = if mass > 0.0 {
        (
            (centre - mx / mass).round() as i64,
            (centre - my / mass).round() as i64,
        )
    } else {
        (0, 0)
    };
    let mut out = vec![0u8; MNIST_SIDE * MNIST_SIDE];
    for (x, y, p) in digit.enumerate_pixels() {
        let (tx, ty) = (x as i64 + dx, y as i64 + dy);
        if (0..MNIST_SIDE as i64).contains(&tx) && (0..MNIST_SIDE as i64).contains(&ty) {
            out[ty as usize * MNIST_SIDE + tx as usize] = p.0[0];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "1": a vertical bar `width` px wide in a `side`-px canvas, dark on white.
    fn bar(side: u32, width: u32) -> DynamicImage {
        let (x0, x1) = (side / 2 - width / 2, side / 2 - width / 2 + width);
        DynamicImage::ImageLuma8(GrayImage::from_fn(side, side, |x, y| {
            let ink = x >= x0 && x < x1 && y > side / 5 && y < side * 4 / 5;
            Luma([if ink { 20 } else { 235 }])
        }))
    }

    fn ink_rows(pixels: &[u8]) -> (usize, usize) {
        let rows: Vec<usize> = (0..MNIST_SIDE)
            .filter(|y| {
                pixels[y * MNIST_SIDE..(y + 1) * MNIST_SIDE]
                    .iter()
                    .any(|&v| v > 64)
            })
            .collect();
        (rows[0], *rows.last().unwrap())
    }

    #[test]
    fn a_dark_bar_on_white_becomes_a_light_20_px_bar_centred() {
        let d = prepare_digit(bar(300, 30));
        assert_eq!(d.steps[0], "inverted (light background)");
        let (top, bottom) = ink_rows(&d.pixels);
        assert!((19..=21).contains(&(bottom - top + 1)), "{top}..{bottom}");
        assert!((3..=5).contains(&top), "{top}");
        // Centred across: the ink's centre of mass is the middle column's.
        let row = &d.pixels[14 * MNIST_SIDE..15 * MNIST_SIDE];
        let mass: f64 = row.iter().map(|&v| v as f64).sum();
        let centre = row
            .iter()
            .enumerate()
            .map(|(x, &v)| (x as f64 + 0.5) * v as f64)
            .sum::<f64>()
            / mass;
        assert!((centre - 14.0).abs() <= 0.5, "{row:?}");
        assert!(
            row[..9].iter().chain(&row[19..]).all(|&v| v == 0),
            "{row:?}"
        );
    }

    #[test]
    fn thin_strokes_are_thickened_to_mnist_width() {
        let d = prepare_digit(bar(600, 2));
        assert!(
            d.steps.iter().any(|s| s == "strokes thickened"),
            "{:?}",
            d.steps
        );
        let row = &d.pixels[14 * MNIST_SIDE..15 * MNIST_SIDE];
        let wide = row.iter().filter(|&&v| v >= 128).count();
        assert!((1..=3).contains(&wide), "{row:?}");
    }

    #[test]
    fn a_blank_picture_is_black_and_says_so() {
        let blank = DynamicImage::ImageLuma8(GrayImage::from_pixel(50, 40, Luma([250])));
        let d = prepare_digit(blank);
        assert!(d.pixels.iter().all(|&v| v == 0));
        assert_eq!(d.steps.last().unwrap(), "no ink found");
    }
}
