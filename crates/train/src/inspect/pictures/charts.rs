//! Drawing with plotters: one function draws a chart on any plotters backend, and this module
//! renders it as SVG (for the report) or as a PNG (RGB, anti-aliased text in an embedded font:
//! Ubuntu Light from `epaint_default_fonts`, so no system font is needed).

use std::sync::Once;

use anyhow::{Result, anyhow};
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// The font family every chart uses.
pub(crate) const FONT: &str = "sans-serif";
/// Series colours (matplotlib's first two): train and valid.
pub(crate) const BLUE: RGBColor = RGBColor(31, 119, 180);
pub(crate) const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub(crate) const DARK: RGBColor = RGBColor(60, 60, 60);

static FONT_REGISTERED: Once = Once::new();

/// Registers the embedded font under [`FONT`] (once per process).
fn register() {
    FONT_REGISTERED.call_once(|| {
        // The font is a constant of a well-kept crate; it parses.
        let _ = register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT);
    });
}

/// Renders `draw` as an SVG document of `size` (width, height) pixels.
pub(crate) fn svg<F>(size: (u32, u32), draw: F) -> Result<String>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
{
    register();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| anyhow!("cannot draw: {e}"))?;
    }
    Ok(out)
}

/// Renders `draw` as an RGB image of `size` (width, height) pixels.
pub(crate) fn bitmap<F>(size: (u32, u32), draw: F) -> Result<RgbImage>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
{
    register();
    let mut buf = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| anyhow!("cannot draw: {e}"))?;
    }
    Ok(RgbImage::from_raw(size.0, size.1, buf).expect("the buffer has width × height × 3 bytes"))
}

/// Draws text onto an existing image (labels of a picture grid), at (x, y) = its top-left.
pub(crate) fn label(img: &mut RgbImage, texts: &[(i32, i32, String)], size: f64) -> Result<()> {
    register();
    let (w, h) = img.dimensions();
    let root = BitMapBackend::with_buffer(img.as_mut(), (w, h)).into_drawing_area();
    let style = TextStyle::from((FONT, size).into_font()).color(&BLACK);
    for (x, y, text) in texts {
        root.draw_text(text, &style, (*x, *y))
            .map_err(|e| anyhow!("cannot draw text: {e}"))?;
    }
    root.present().map_err(|e| anyhow!("cannot draw: {e}"))?;
    Ok(())
}

/// Width in pixels of `text` at font `size`.
pub(crate) fn text_width(text: &str, size: f64) -> u32 {
    register();
    (FONT, size)
        .into_font()
        .box_size(text)
        .map_or(0, |(w, _)| w)
}

/// `text` shortened to fit `max_width` pixels at font `size`, ending in '…' when cut.
pub(crate) fn fit(text: &str, max_width: u32, size: f64) -> String {
    if text_width(text, size) <= max_width {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let s: String = chars.iter().collect::<String>() + "…";
        if text_width(&s, size) <= max_width {
            return s;
        }
    }
    "…".to_string()
}

/// Converts a plotters drawing error into an error of this crate.
pub(crate) fn drawn<T, E: std::fmt::Debug>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| anyhow!("cannot draw: {e:?}"))
}
