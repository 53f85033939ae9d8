//! Class scores (logits) of a batch of images, and what is read from one row of them: the
//! softmax probabilities, the top-k classes, the rank of a label, the cross-entropy. Shared by
//! training's metrics, evaluation and inference, so that all three rank ties alike.

use burn::prelude::*;
use linclass_data::ImageBatcher;
use linclass_model::LinearClassifier;

/// Images scored per forward pass.
const CHUNK: usize = 1024;

/// Logits of the images `indices` of the batcher's set, row-major [indices.len(), C].
pub(crate) fn logits(
    model: &LinearClassifier,
    batcher: &ImageBatcher,
    indices: &[usize],
    device: &Device,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(indices.len() * model.num_classes());
    for chunk in indices.chunks(CHUNK) {
        let (pixels, _) = batcher.host_batch(chunk);
        let dim = pixels.len() / chunk.len();
        let x = Tensor::<2>::from_data(TensorData::new(pixels, [chunk.len(), dim]), device);
        let scores = model.forward(x).into_data().convert::<f32>();
        out.extend_from_slice(scores.as_slice::<f32>().expect("f32 logits"));
    }
    out
}

/// The `k` highest-scoring classes of one row of scores, best first.
pub(crate) fn top_classes(scores: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// The place of class `truth` in `top_classes(scores, C)` (0: the best), without sorting: the
/// classes scoring higher, and those scoring the same with a lower index, come before it.
pub(crate) fn rank(scores: &[f32], truth: usize) -> usize {
    let s = scores[truth];
    scores
        .iter()
        .enumerate()
        .filter(|&(c, v)| v.total_cmp(&s).then(truth.cmp(&c)).is_gt())
        .count()
}

/// Softmax of one row of scores, computed stably in f64.
pub(crate) fn softmax(scores: &[f32]) -> Vec<f64> {
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s)) as f64;
    let exps: Vec<f64> = scores.iter().map(|&s| (s as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// −log softmax(`scores`)[`truth`], computed as logsumexp − score (stable for any scores).
pub(crate) fn cross_entropy(scores: &[f32], truth: usize) -> f64 {
    let max = scores
        .iter()
        .fold(f64::NEG_INFINITY, |m, &s| m.max(s as f64));
    let sum: f64 = scores.iter().map(|&s| (s as f64 - max).exp()).sum();
    max + sum.ln() - scores[truth] as f64
}

/// Number of classes the top-k accuracy looks at: 5, or fewer for tiny class counts.
pub(crate) fn top_k(num_classes: usize) -> usize {
    5.min(num_classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_classes_orders_best_first() {
        assert_eq!(top_classes(&[0.1, 3.0, -1.0, 2.0], 3), vec![1, 3, 0]);
    }

    #[test]
    fn softmax_is_stable_and_normalized() {
        let p = softmax(&[1e4, -1e4, 0.0]);
        assert!(p.iter().all(|v| v.is_finite()));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((p[0] - 1.0).abs() < 1e-12);
    }
}
