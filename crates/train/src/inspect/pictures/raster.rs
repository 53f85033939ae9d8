//! Pixel-level helpers for pictures made of images: PNG encoding and integer upscaling.

use image::RgbImage;

/// Encodes an image as PNG.
pub(crate) fn png_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("PNG encoding into memory cannot fail");
    out.into_inner()
}

/// An image of u8 pixels in `shape` = [channels, height, width], channel-major (one channel
/// shown as grey, three as RGB).
pub(crate) fn from_planes(pixels: &[u8], [c, h, w]: [usize; 3]) -> RgbImage {
    let plane = h * w;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let k = y as usize * w + x as usize;
        let at = |ch: usize| pixels[ch.min(c - 1) * plane + k];
        image::Rgb([at(0), at(1), at(2)])
    })
}

/// Nearest-neighbour upscaling by an integer factor (pixels stay crisp squares).
pub(crate) fn upscale(img: &RgbImage, factor: u32) -> RgbImage {
    let f = factor.max(1);
    RgbImage::from_fn(img.width() * f, img.height() * f, |x, y| {
        *img.get_pixel(x / f, y / f)
    })
}
