//! Synthetic images in real formats, for benchmarks and tests that need inputs as people make
//! them without shipping any.

/// A photo-like JPEG (quality 90): smooth light and colour gradients with edges and fine
/// texture, so that its entropy-coded data is as dense as a camera picture's.
pub fn photo_jpeg(seed: u32, width: u32, height: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 9) as f32 - 4.0
    };
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let base = [
            120.0 + 80.0 * (fx * 6.0 + seed as f32).sin(),
            110.0 + 70.0 * (fy * 5.0).cos(),
            100.0 + 60.0 * ((fx + fy) * 9.0).sin(),
        ];
        let edge = if (x / 97 + y / 61) % 3 == 0 {
            40.0
        } else {
            0.0
        };
        image::Rgb(base.map(|b| (b + edge + noise()).clamp(0.0, 255.0) as u8))
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encoding into memory cannot fail");
    out
}
