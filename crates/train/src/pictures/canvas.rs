//! A small RGB canvas: rectangles, lines and 8×8 bitmap text, enough for plots and labelled
//! image grids without a font file or a plotting library's text stack.

use image::{Rgb, RgbImage};

pub const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
pub const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
pub const GREY: Rgb<u8> = Rgb([200, 200, 200]);
pub const DARK: Rgb<u8> = Rgb([60, 60, 60]);
pub const BLUE: Rgb<u8> = Rgb([31, 119, 180]);
pub const ORANGE: Rgb<u8> = Rgb([255, 127, 14]);

/// Pixels per character at scale 1.
pub const GLYPH: u32 = 8;

pub struct Canvas {
    pub img: RgbImage,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            img: RgbImage::from_pixel(width.max(1), height.max(1), WHITE),
        }
    }

    pub fn width(&self) -> u32 {
        self.img.width()
    }

    pub fn height(&self) -> u32 {
        self.img.height()
    }

    pub fn put(&mut self, x: i64, y: i64, color: Rgb<u8>) {
        if x >= 0 && y >= 0 && (x as u32) < self.img.width() && (y as u32) < self.img.height() {
            self.img.put_pixel(x as u32, y as u32, color);
        }
    }

    pub fn fill_rect(&mut self, x: i64, y: i64, w: u32, h: u32, color: Rgb<u8>) {
        for dy in 0..h as i64 {
            for dx in 0..w as i64 {
                self.put(x + dx, y + dy, color);
            }
        }
    }

    /// A line `thickness` pixels wide (Bresenham, with a square pen).
    pub fn line(
        &mut self,
        (x0, y0): (i64, i64),
        (x1, y1): (i64, i64),
        color: Rgb<u8>,
        thickness: u32,
    ) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let half = thickness as i64 / 2;
        loop {
            self.fill_rect(x - half, y - half, thickness, thickness, color);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Width in pixels of `text` at `scale`.
    pub fn text_width(text: &str, scale: u32) -> u32 {
        text.chars().count() as u32 * GLYPH * scale
    }

    /// Draws ASCII text with its top-left corner at (x, y); other characters show as '?'.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: u32, color: Rgb<u8>) {
        for (i, ch) in text.chars().enumerate() {
            let code = if ch.is_ascii() && !ch.is_ascii_control() {
                ch as usize
            } else {
                '?' as usize
            };
            let glyph = font8x8::legacy::BASIC_LEGACY[code];
            let left = x + (i as u32 * GLYPH * scale) as i64;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        self.fill_rect(
                            left + (col * scale) as i64,
                            y + (row as u32 * scale) as i64,
                            scale,
                            scale,
                            color,
                        );
                    }
                }
            }
        }
    }

    /// Text centred horizontally on `cx`, cut with '.' to fit `max_width` pixels.
    pub fn text_centered(
        &mut self,
        cx: i64,
        y: i64,
        text: &str,
        scale: u32,
        max_width: u32,
        color: Rgb<u8>,
    ) {
        let fitted = fit(text, max_width / (GLYPH * scale));
        let w = Self::text_width(&fitted, scale) as i64;
        self.text(cx - w / 2, y, &fitted, scale, color);
    }

    /// Copies `src` with its top-left corner at (x, y).
    pub fn blit(&mut self, x: i64, y: i64, src: &RgbImage) {
        for (sx, sy, px) in src.enumerate_pixels() {
            self.put(x + sx as i64, y + sy as i64, *px);
        }
    }

    /// PNG bytes of the canvas.
    pub fn png(&self) -> Vec<u8> {
        png_bytes(&self.img)
    }
}

/// `text` cut to at most `max_chars` characters, ending in '.' when cut.
pub fn fit(text: &str, max_chars: u32) -> String {
    let max = max_chars.max(1) as usize;
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('.');
        s
    }
}

/// Encodes an image as PNG.
pub fn png_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("PNG encoding into memory cannot fail");
    out.into_inner()
}

/// Nearest-neighbour upscaling by an integer factor.
pub fn upscale(img: &RgbImage, factor: u32) -> RgbImage {
    let f = factor.max(1);
    RgbImage::from_fn(img.width() * f, img.height() * f, |x, y| {
        *img.get_pixel(x / f, y / f)
    })
}

/// A colour for t in [0, 1] on a white → dark blue scale.
pub fn heat(t: f64) -> Rgb<u8> {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    Rgb([lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0)])
}
