//! Evaluation of a trained model on a labelled image set: top-1, top-k, per-class accuracy and
//! the confusion matrix.

use std::sync::Arc;

use burn::prelude::*;
use linclass_data::{ImageBatcher, ImageSet, Normalization};
use linclass_model::LinearClassifier;
use serde::Serialize;

/// Images scored per forward pass.
const CHUNK: usize = 1024;

/// Logits of the images `indices` of the batcher's set, row-major [indices.len(), C].
pub fn logits(
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
pub fn top_classes(scores: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// The place of class `truth` in `top_classes(scores, C)` (0: the best), without sorting: the
/// classes scoring higher, and those scoring the same with a lower index, come before it.
pub fn rank(scores: &[f32], truth: usize) -> usize {
    let s = scores[truth];
    scores
        .iter()
        .enumerate()
        .filter(|&(c, v)| v.total_cmp(&s).then(truth.cmp(&c)).is_gt())
        .count()
}

/// Softmax of one row of scores, computed stably in f64.
pub fn softmax(scores: &[f32]) -> Vec<f64> {
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s)) as f64;
    let exps: Vec<f64> = scores.iter().map(|&s| (s as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassResult {
    pub class: String,
    pub total: usize,
    pub correct: usize,
    /// correct / total; `None` (JSON null, "n/a") for a class without test images.
    pub accuracy: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Number of images evaluated.
    pub n: usize,
    pub top1: f64,
    /// Top-k accuracy: the label among the k best-scored classes.
    pub topk: f64,
    /// k of the top-k accuracy (5, or the number of classes if fewer).
    pub k: usize,
    /// Mean cross-entropy of the softmax of the scores against the labels, in nats (the
    /// log loss; scikit-learn's `log_loss`): finer-grained than the accuracy when two models
    /// are compared on the same images.
    pub log_loss: f64,
    /// Mean over images and classes of (score − one-hot label)², the `squared_error` loss.
    pub squared_error: f64,
    /// The loss the model was trained with, when known (set by the caller): says which of the
    /// two losses above is the training loss.
    #[serde(skip)]
    pub trained_with: Option<crate::config::LossKind>,
    /// Set when the model was refit on the training and validation parts (`train.refit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refit: Option<crate::refit::RefitSummary>,
    pub per_class: Vec<ClassResult>,
    /// confusion[true][predicted] counts.
    pub confusion: Vec<Vec<usize>>,
    pub classes: Vec<String>,
    /// Classes by accuracy, best first (names).
    pub easiest: Vec<String>,
    /// Classes by accuracy, worst first (names).
    pub hardest: Vec<String>,
    /// The most frequent mistakes, most frequent first.
    pub confused_pairs: Vec<ConfusedPair>,
    /// The predicted class of each image, in set order.
    #[serde(skip)]
    pub predictions: Vec<usize>,
}

/// How often images of one class were taken for another.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConfusedPair {
    pub true_class: String,
    pub predicted: String,
    pub count: usize,
}

/// How many classes the easiest/hardest lists and pairs hold.
const LISTED: usize = 5;

/// Scores every image of `set` and tallies the results.
pub fn evaluate(
    model: &LinearClassifier,
    set: Arc<ImageSet>,
    normalization: &Normalization,
    device: &Device,
) -> Evaluation {
    let classes = set.classes().to_vec();
    let c = classes.len();
    let k = 5.min(c);
    let indices: Vec<usize> = (0..set.len()).collect();
    let batcher = ImageBatcher::new(set.clone(), normalization);
    let scores = logits(model, &batcher, &indices, device);
    let mut confusion = vec![vec![0usize; c]; c];
    let mut top1 = 0usize;
    let mut topk = 0usize;
    let mut predictions = Vec::with_capacity(set.len());
    let mut log_loss = 0.0;
    let mut squared = 0.0;
    for (i, row) in scores.chunks_exact(c).enumerate() {
        let truth = set.label(i);
        log_loss += cross_entropy(row, truth);
        squared += row
            .iter()
            .enumerate()
            .map(|(j, &s)| (s as f64 - f64::from(u8::from(j == truth))).powi(2))
            .sum::<f64>()
            / c as f64;
        let best = top_classes(row, k);
        predictions.push(best[0]);
        confusion[truth][best[0]] += 1;
        top1 += usize::from(best[0] == truth);
        topk += usize::from(rank(row, truth) < k);
    }
    let per_class = classes
        .iter()
        .enumerate()
        .map(|(t, name)| {
            let total: usize = confusion[t].iter().sum();
            let correct = confusion[t][t];
            ClassResult {
                class: name.clone(),
                total,
                correct,
                accuracy: (total > 0).then(|| correct as f64 / total as f64),
            }
        })
        .collect::<Vec<ClassResult>>();
    let n = set.len().max(1) as f64;
    let mut ranked: Vec<(&ClassResult, f64)> = per_class
        .iter()
        .filter_map(|r| Some((r, r.accuracy?)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let easiest = ranked
        .iter()
        .take(LISTED)
        .map(|(r, _)| r.class.clone())
        .collect();
    let hardest = ranked
        .iter()
        .rev()
        .take(LISTED)
        .map(|(r, _)| r.class.clone())
        .collect();
    let mut pairs: Vec<ConfusedPair> = Vec::new();
    for (t, row) in confusion.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            if t != p && count > 0 {
                pairs.push(ConfusedPair {
                    true_class: classes[t].clone(),
                    predicted: classes[p].clone(),
                    count,
                });
            }
        }
    }
    pairs.sort_by_key(|p| std::cmp::Reverse(p.count));
    pairs.truncate(2 * LISTED);
    Evaluation {
        n: set.len(),
        top1: top1 as f64 / n,
        topk: topk as f64 / n,
        k,
        log_loss: log_loss / n,
        squared_error: squared / n,
        trained_with: None,
        refit: None,
        easiest,
        hardest,
        confused_pairs: pairs,
        per_class,
        confusion,
        classes,
        predictions,
    }
}

/// −log softmax(`scores`)[`truth`], computed as logsumexp − score (stable for any scores).
fn cross_entropy(scores: &[f32], truth: usize) -> f64 {
    let max = scores
        .iter()
        .fold(f64::NEG_INFINITY, |m, &s| m.max(s as f64));
    let sum: f64 = scores.iter().map(|&s| (s as f64 - max).exp()).sum();
    max + sum.ln() - scores[truth] as f64
}

impl Evaluation {
    /// The accuracy of the class called `name` in percent (0 for an unknown name or a class
    /// without test images, which the easiest/hardest lists never hold).
    pub fn accuracy_percent(&self, name: &str) -> f64 {
        self.per_class
            .iter()
            .find(|r| r.class == name)
            .and_then(|r| r.accuracy)
            .map_or(0.0, |a| 100.0 * a)
    }

    /// The report printed by `eval`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let width = self
            .classes
            .iter()
            .map(|c| c.len())
            .max()
            .unwrap_or(1)
            .max(5);
        if let Some(r) = &self.refit {
            s.push_str(&format!(
                "model: refit on all {} training images (validation part included) for {} epoch{}; the validated model is in checkpoint/\n",
                r.images,
                r.epochs,
                if r.epochs == 1 { "" } else { "s" }
            ));
        }
        s.push_str(&format!("test images: {}\n", self.n));
        s.push_str(&format!("top-1 accuracy: {:.2}%\n", 100.0 * self.top1));
        s.push_str(&format!(
            "top-{} accuracy: {:.2}%\n",
            self.k,
            100.0 * self.topk
        ));
        use crate::config::LossKind;
        if self.trained_with == Some(LossKind::SquaredError) {
            s.push_str(&format!(
                "squared error (the training loss, mean over classes): {:.4}\n",
                self.squared_error
            ));
            s.push_str(&format!(
                "log loss (cross-entropy of the softmax; not the training loss, so its probabilities are not calibrated): {:.4}\n",
                self.log_loss
            ));
        } else {
            s.push_str(&format!(
                "log loss (cross-entropy of the softmax, the training loss): {:.4}\n",
                self.log_loss
            ));
        }
        if self.classes.len() > crate::visuals::MANY_CLASSES {
            s.push_str(&format!(
                "\nper-class accuracy of the {} classes: eval --json\n",
                self.classes.len()
            ));
        } else {
            s.push_str("\nper-class accuracy:\n");
        }
        let table = if self.classes.len() > crate::visuals::MANY_CLASSES {
            &[][..]
        } else {
            &self.per_class[..]
        };
        for r in table {
            match r.accuracy {
                Some(a) => s.push_str(&format!(
                    "  {:<width$}  {:6.2}%  ({}/{})\n",
                    r.class,
                    100.0 * a,
                    r.correct,
                    r.total
                )),
                None => s.push_str(&format!(
                    "  {:<width$}  {:>7}  (no test images)\n",
                    r.class, "n/a"
                )),
            }
        }
        let accuracy_of = |name: &String| self.accuracy_percent(name);
        let list = |names: &[String]| {
            names
                .iter()
                .map(|n| format!("{n} ({:.1}%)", accuracy_of(n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!("\neasiest classes: {}\n", list(&self.easiest)));
        s.push_str(&format!("hardest classes: {}\n", list(&self.hardest)));
        s.push_str("most confused (true -> predicted): ");
        if self.confused_pairs.is_empty() {
            s.push_str("none, every test image was classified right");
        }
        s.push_str(
            &self
                .confused_pairs
                .iter()
                .map(|p| format!("{} -> {} ({})", p.true_class, p.predicted, p.count))
                .collect::<Vec<_>>()
                .join(", "),
        );
        s.push('\n');
        if self.classes.len() <= 20 {
            s.push_str("\nconfusion matrix (rows: true class, columns: predicted class):\n");
            let cell = self
                .confusion
                .iter()
                .flatten()
                .map(|v| v.to_string().len())
                .max()
                .unwrap_or(1)
                .max(self.classes.iter().map(|c| c.len()).max().unwrap_or(1));
            s.push_str(&format!("  {:<width$}", ""));
            for c in &self.classes {
                s.push_str(&format!(" {c:>cell$}"));
            }
            s.push('\n');
            for (c, row) in self.classes.iter().zip(&self.confusion) {
                s.push_str(&format!("  {c:<width$}"));
                for v in row {
                    s.push_str(&format!(" {v:>cell$}"));
                }
                s.push('\n');
            }
        }
        s
    }
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
