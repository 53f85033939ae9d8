//! Decoding image files into the u8, channel-major layout of an `ImageSet`.

use std::path::Path;

use image::imageops::FilterType;

use crate::error::{DataError, Result};

/// File extensions read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Decodes an image file and converts it to `shape` = [channels, height, width]: luminance for
/// one channel, RGB for three; resized (bilinear) when its size differs.
pub fn decode_image(path: &Path, shape: [usize; 3]) -> Result<Vec<u8>> {
    let [c, h, w] = shape;
    let img = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?
        .decode()
        .map_err(|e| {
            DataError::format(
                path,
                format!("cannot decode as an image ({e}); expected PNG, JPEG or BMP"),
            )
        })?;
    let img = if img.width() as usize == w && img.height() as usize == h {
        img
    } else {
        img.resize_exact(w as u32, h as u32, FilterType::Triangle)
    };
    match c {
        1 => Ok(img.to_luma8().into_raw()),
        3 => {
            let rgb = img.to_rgb8();
            let plane = h * w;
            let mut out = vec![0u8; 3 * plane];
            for (i, px) in rgb.pixels().enumerate() {
                for (ch, &v) in px.0.iter().enumerate() {
                    out[ch * plane + i] = v;
                }
            }
            Ok(out)
        }
        _ => Err(DataError::Invalid(format!(
            "{c} channels: only 1 (grayscale) and 3 (RGB) are supported"
        ))),
    }
}

/// Decodes many files on all cores, keeping their order.
pub fn decode_all(paths: &[&Path], shape: [usize; 3]) -> Vec<Result<Vec<u8>>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let chunk = paths.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| decode_image(p, shape))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("decoder thread"))
            .collect()
    })
}
