//! Drawing with plotters: one function draws a chart on any plotters backend, and this module
//! renders it as SVG (for the report) or as a PNG (RGB, anti-aliased text in an embedded font:
//! Ubuntu Light from `epaint_default_fonts`, so no system font is needed).
//!
//! PNG text is set by [`Typeset`], not by plotters' bitmap text: plotters 0.3.7 places each glyph
//! at the pen position without its left side bearing, which opens gaps inside words ("ep och").

use std::sync::Once;

use anyhow::{Result, anyhow};
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

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
    F: FnOnce(&DrawingArea<Typeset<BitMapBackend<'_>>, Shift>) -> Result<()>,
{
    register();
    let mut buf = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = Typeset(BitMapBackend::with_buffer(&mut buf, size)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| anyhow!("cannot draw: {e}"))?;
    }
    Ok(RgbImage::from_raw(size.0, size.1, buf).expect("the buffer has width × height × 3 bytes"))
}

/// Draws text onto an existing image (labels of a picture grid), at (x, y) = its top-left.
pub(crate) fn label(img: &mut RgbImage, texts: &[(i32, i32, String)], size: f64) -> Result<()> {
    register();
    let (w, h) = img.dimensions();
    let root = Typeset(BitMapBackend::with_buffer(img.as_mut(), (w, h))).into_drawing_area();
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

/// A plotters backend that draws like `B` but sets text itself, each glyph at the pen position
/// plus its left side bearing, kerned, at sub-pixel precision. Its layout (advances and kerning
/// along the line, the baseline half the font size below the box's top) is the one plotters
/// measures text with, so labels are placed where plotters expects them.
pub(crate) struct Typeset<B>(pub(crate) B);

impl<B: DrawingBackend> Typeset<B> {
    /// Calls `dot(x, y, coverage)` for the pixels of `text` at `size` (px), from a box whose
    /// top-left is (0, 0).
    fn glyphs(text: &str, size: f32, mut dot: impl FnMut(i32, i32, f32)) {
        use ab_glyph::{Font, FontRef, ScaleFont, point};
        let Ok(font) = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT) else {
            return;
        };
        let font = font.as_scaled(size);
        let (mut pen, mut previous) = (0f32, None);
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                pen += font.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(size, point(pen, size / 2.0));
            if let Some(outline) = font.outline_glyph(glyph) {
                let min = outline.px_bounds().min;
                outline.draw(|x, y, v| dot(min.x as i32 + x as i32, min.y as i32 + y as i32, v));
            }
            pen += font.h_advance(id);
        }
    }
}

impl<B: DrawingBackend> DrawingBackend for Typeset<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.present()
    }
    fn draw_pixel(
        &mut self,
        at: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_pixel(at, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.fill_polygon(vertices, style)
    }
    fn blit_bitmap(
        &mut self,
        at: BackendCoord,
        (w, h): (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.blit_bitmap(at, (w, h), src)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        use plotters_backend::text_anchor::{HPos, VPos};
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let turn = style.transform();
        let (w, h) = self.get_size();
        let mut result = Ok(());
        Self::glyphs(text, style.size() as f32, |x, y, coverage| {
            let (x, y) = turn.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if result.is_ok() && x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                let alpha = color.alpha * f64::from(coverage.min(1.0));
                result = self.0.draw_pixel((x, y), BackendColor { alpha, ..color });
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The widest run of blank columns between the first and last inked column of `img`.
    fn widest_gap(img: &RgbImage) -> u32 {
        let inked: Vec<bool> = (0..img.width())
            .map(|x| (0..img.height()).any(|y| img.get_pixel(x, y).0[0] < 160))
            .collect();
        let first = inked.iter().position(|&i| i).expect("some ink");
        let last = inked.iter().rposition(|&i| i).expect("some ink");
        let mut widest = 0;
        let mut run = 0;
        for &i in &inked[first..=last] {
            run = if i { 0 } else { run + 1 };
            widest = widest.max(run);
        }
        widest
    }

    #[test]
    fn letters_of_a_word_sit_at_their_advance_without_gaps() {
        // plotters' own bitmap text leaves 3 blank columns inside each of these words at this
        // size (each glyph drawn without its side bearing); set right, letters of a word are
        // at most 2 apart (Ubuntu Light's thin strokes), and a space is still a space.
        for word in ["epoch", "accuracy", "predicted"] {
            let mut img = RgbImage::from_pixel(120, 30, image::Rgb([255; 3]));
            label(&mut img, &[(4, 4, word.to_string())], 14.0).unwrap();
            assert!(widest_gap(&img) <= 2, "{word}: gap of {}", widest_gap(&img));
        }
        let mut img = RgbImage::from_pixel(120, 30, image::Rgb([255; 3]));
        label(&mut img, &[(4, 4, "a   b".to_string())], 14.0).unwrap();
        assert!(widest_gap(&img) >= 6);
        // The measured width is the drawn one, within a pixel or two of bearing.
        let mut img = RgbImage::from_pixel(200, 30, image::Rgb([255; 3]));
        label(&mut img, &[(0, 4, "accuracy (%)".to_string())], 14.0).unwrap();
        let right = (0..200)
            .rev()
            .find(|&x| (0..30).any(|y| img.get_pixel(x, y).0[0] < 160))
            .unwrap();
        assert!(
            right.abs_diff(text_width("accuracy (%)", 14.0)) <= 2,
            "{right}"
        );
    }
}
