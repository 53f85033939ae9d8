//! Pixel-level helpers for pictures made of images: PNG encoding and integer upscaling.

use image::RgbImage;

/// Encodes an image as PNG.
pub(crate) fn png_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("PNG encoding into memory cannot fail");
    out.into_inner()
}

/// Nearest-neighbour upscaling by an integer factor (pixels stay crisp squares).
pub(crate) fn upscale(img: &RgbImage, factor: u32) -> RgbImage {
    let f = factor.max(1);
    RgbImage::from_fn(img.width() * f, img.height() * f, |x, y| {
        *img.get_pixel(x / f, y / f)
    })
}
