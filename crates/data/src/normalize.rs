//! How u8 pixels become model inputs: x = (v / 255 − mean[c]) / std[c], per channel.

use serde::{Deserialize, Serialize};

use crate::image_set::ImageSet;

/// Per-channel affine map from u8 pixels to f32 inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Mean of each channel after scaling to [0, 1] (0 when only scaling).
    pub mean: Vec<f32>,
    /// Standard deviation of each channel after scaling to [0, 1] (1 when only scaling).
    pub std: Vec<f32>,
}

impl Normalization {
    /// Only scale to [0, 1].
    pub fn scale_only(channels: usize) -> Self {
        Self {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// Per-channel mean and standard deviation of the images `indices` of `set`, after scaling
    /// to [0, 1]. A channel with no spread keeps std 1 so that nothing divides by zero.
    pub fn standardize(set: &ImageSet, indices: &[u32]) -> Self {
        let [channels, h, w] = set.shape();
        let plane = h * w;
        let mut hist = vec![[0u64; 256]; channels];
        for &i in indices {
            let img = set.image(i as usize);
            for (c, counts) in hist.iter_mut().enumerate() {
                for &v in &img[c * plane..(c + 1) * plane] {
                    counts[v as usize] += 1;
                }
            }
        }
        let mut mean = Vec::with_capacity(channels);
        let mut std = Vec::with_capacity(channels);
        for counts in &hist {
            let n: u64 = counts.iter().sum();
            let (mut s, mut s2) = (0f64, 0f64);
            for (v, &k) in counts.iter().enumerate() {
                let x = v as f64 / 255.0;
                s += x * k as f64;
                s2 += x * x * k as f64;
            }
            let n = n.max(1) as f64;
            let m = s / n;
            let var = (s2 / n - m * m).max(0.0);
            mean.push(m as f32);
            std.push(if var > 1e-12 { var.sqrt() as f32 } else { 1.0 });
        }
        Self { mean, std }
    }

    /// Per channel, the (factor, offset) with x = v · factor + offset for a u8 pixel value v.
    pub fn affine(&self) -> Vec<(f32, f32)> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| (1.0 / (255.0 * s), -m / s))
            .collect()
    }

    /// Appends one normalized image (channel-major u8) to `out`: a multiply-add per value,
    /// written once (no zero-filling first), in a loop the compiler vectorizes, for AVX2 where the
    /// CPU has it (same arithmetic, same results): most of the cost of building a batch.
    pub fn extend(affine: &[(f32, f32)], pixels: &[u8], out: &mut Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has just been checked for the features the function is built for.
            unsafe { extend_avx2(affine, pixels, out) };
            return;
        }
        extend_portable(affine, pixels, out);
    }
}

#[inline(always)]
fn extend_portable(affine: &[(f32, f32)], pixels: &[u8], out: &mut Vec<f32>) {
    let plane = pixels.len() / affine.len().max(1);
    out.reserve(pixels.len());
    for (plane_pixels, &(factor, offset)) in pixels.chunks_exact(plane.max(1)).zip(affine) {
        out.extend(plane_pixels.iter().map(|&v| f32::from(v) * factor + offset));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn extend_avx2(affine: &[(f32, f32)], pixels: &[u8], out: &mut Vec<f32>) {
    extend_portable(affine, pixels, out)
}
