//! Evaluation of a trained model on a labelled image set: top-1, top-k, per-class accuracy and
//! the confusion matrix.

use std::sync::Arc;

use burn::prelude::*;
use linclass_data::{ImageBatcher, ImageSet, Normalization};
use linclass_model::LinearClassifier;
use serde::Serialize;

use crate::config::LossKind;
use crate::logits::{cross_entropy, logits, rank, top_classes, top_k};
use crate::run::info::RefitSummary;

/// Above this many classes, a confusion picture or a per-class table would be unreadable (a
/// 1000 × 1000 heat map): the most confused pairs stand in for it, and the report shows the
/// templates of the easiest and hardest classes only.
pub(crate) const MANY_CLASSES: usize = 100;

/// One class's result on the test images.
#[derive(Debug, Clone, Serialize)]
pub struct ClassResult {
    /// The class name.
    pub class: String,
    /// Test images of the class.
    pub total: usize,
    /// Of those, classified right (top-1).
    pub correct: usize,
    /// correct / total; `None` (JSON null, "n/a") for a class without test images.
    pub accuracy: Option<f64>,
    /// Mean log loss of the class's test images (`None` without images): orders classes of
    /// equal accuracy in the easiest and hardest lists.
    pub log_loss: Option<f64>,
}

/// A model's results on a labelled image set (`eval`, `eval --json`, the report).
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Number of images evaluated.
    pub n: usize,
    /// Top-1 accuracy (0–1).
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
    pub trained_with: Option<LossKind>,
    /// Set when the model was refit on the training and validation parts (`train.refit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refit: Option<RefitSummary>,
    /// Test images that are exact copies of training images, when known (set by the caller
    /// from the run's record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_copies: Option<usize>,
    /// Accuracy of each class, in label order.
    pub per_class: Vec<ClassResult>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Class names in label order.
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
    /// The images' class.
    pub true_class: String,
    /// The class they were taken for.
    pub predicted: String,
    /// How many images.
    pub count: usize,
}

/// How many classes the easiest/hardest lists and pairs hold.
const LISTED: usize = 5;

/// Scores every image of `set` and tallies the results.
///
/// Errors: `set` has no images.
pub fn evaluate(
    model: &LinearClassifier,
    set: Arc<ImageSet>,
    normalization: &Normalization,
    device: &Device,
) -> anyhow::Result<Evaluation> {
    if set.is_empty() {
        anyhow::bail!("no test images to evaluate: accuracy over none is not a figure");
    }
    let classes = set.classes().to_vec();
    let k = top_k(classes.len());
    let indices: Vec<usize> = (0..set.len()).collect();
    let batcher = ImageBatcher::new(set.clone(), normalization);
    let scores = logits(model, &batcher, &indices, device);
    let tally = Tally::of(&scores, &set, k);
    let per_class = per_class(&classes, &tally.confusion, &tally.class_loss);
    let (easiest, hardest) = extremes(&per_class);
    let n = set.len() as f64;
    Ok(Evaluation {
        n: set.len(),
        top1: tally.top1 as f64 / n,
        topk: tally.topk as f64 / n,
        k,
        log_loss: tally.log_loss / n,
        squared_error: tally.squared / n,
        trained_with: None,
        refit: None,
        test_copies: None,
        easiest,
        hardest,
        confused_pairs: confused_pairs(&classes, &tally.confusion),
        per_class,
        confusion: tally.confusion,
        classes,
        predictions: tally.predictions,
    })
}

/// Sums over the images of a set: hits, losses, the confusion matrix, the predictions.
struct Tally {
    confusion: Vec<Vec<usize>>,
    top1: usize,
    topk: usize,
    predictions: Vec<usize>,
    log_loss: f64,
    /// The log loss summed per true class.
    class_loss: Vec<f64>,
    squared: f64,
}

impl Tally {
    /// Tallies `scores` (row-major [N, C]) against the labels of `set`.
    fn of(scores: &[f32], set: &ImageSet, k: usize) -> Self {
        let c = set.classes().len();
        let mut t = Tally {
            confusion: vec![vec![0usize; c]; c],
            top1: 0,
            topk: 0,
            predictions: Vec::with_capacity(set.len()),
            log_loss: 0.0,
            class_loss: vec![0.0; c],
            squared: 0.0,
        };
        for (i, row) in scores.chunks_exact(c).enumerate() {
            let truth = set.label(i);
            let loss = cross_entropy(row, truth);
            t.log_loss += loss;
            t.class_loss[truth] += loss;
            t.squared += row
                .iter()
                .enumerate()
                .map(|(j, &s)| (s as f64 - f64::from(u8::from(j == truth))).powi(2))
                .sum::<f64>()
                / c as f64;
            let best = top_classes(row, 1)[0];
            t.predictions.push(best);
            t.confusion[truth][best] += 1;
            t.top1 += usize::from(best == truth);
            t.topk += usize::from(rank(row, truth) < k);
        }
        t
    }
}

/// Each class's accuracy from the confusion matrix.
fn per_class(classes: &[String], confusion: &[Vec<usize>], loss: &[f64]) -> Vec<ClassResult> {
    classes
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
                log_loss: (total > 0).then(|| loss[t] / total as f64),
            }
        })
        .collect()
}

/// The [`LISTED`] easiest and hardest classes (names), among those with test images: by
/// accuracy, and at equal accuracy by mean log loss (the more confident, the easier).
fn extremes(per_class: &[ClassResult]) -> (Vec<String>, Vec<String>) {
    let mut ranked: Vec<(&ClassResult, f64)> = per_class
        .iter()
        .filter_map(|r| Some((r, r.accuracy?)))
        .collect();
    let loss = |r: &ClassResult| r.log_loss.unwrap_or(f64::INFINITY);
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(loss(a.0).total_cmp(&loss(b.0))));
    let names = |it: &mut dyn Iterator<Item = &(&ClassResult, f64)>| {
        it.take(LISTED).map(|(r, _)| r.class.clone()).collect()
    };
    (names(&mut ranked.iter()), names(&mut ranked.iter().rev()))
}

/// The most frequent mistakes (twice [`LISTED`]), most frequent first.
fn confused_pairs(classes: &[String], confusion: &[Vec<usize>]) -> Vec<ConfusedPair> {
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
    pairs
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
        let mut s = self.render_totals();
        s.push_str(&self.render_per_class());
        s.push_str(&self.render_extremes());
        if self.classes.len() <= 20 {
            s.push_str(&self.render_confusion());
        }
        s
    }

    /// The refit note, the image count, the accuracies and the losses.
    fn render_totals(&self) -> String {
        let mut s = String::new();
        if let Some(r) = &self.refit {
            s.push_str(&format!(
                "model: refit on all {} training images (validation part included) for {} epoch{}; the validated model is in checkpoint/\n",
                r.images,
                r.epochs,
                if r.epochs == 1 { "" } else { "s" }
            ));
        }
        s.push_str(&format!("test images: {}\n", self.n));
        if let Some(n) = self.test_copies.filter(|&n| n > 0) {
            s.push_str(&format!(
                "warning: {n} of them are exact copies of training images (found when the run was trained): the accuracy counts them, so it overstates accuracy on new images\n"
            ));
        }
        s.push_str(&format!("top-1 accuracy: {:.2}%\n", 100.0 * self.top1));
        s.push_str(&format!(
            "top-{} accuracy: {:.2}%\n",
            self.k,
            100.0 * self.topk
        ));
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
        s
    }

    /// The per-class table, or where to find it for many classes.
    fn render_per_class(&self) -> String {
        if self.classes.len() > MANY_CLASSES {
            return format!(
                "\nper-class accuracy of the {} classes: eval --json\n",
                self.classes.len()
            );
        }
        let width = self.name_width();
        let mut s = "\nper-class accuracy:\n".to_string();
        for r in &self.per_class {
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
        s
    }

    /// The easiest and hardest classes and the most confused pairs.
    fn render_extremes(&self) -> String {
        let list = |names: &[String]| {
            names
                .iter()
                .map(|n| format!("{n} ({:.1}%)", self.accuracy_percent(n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = format!(
            "\neasiest classes: {}{}\n",
            list(&self.easiest),
            self.ties(&self.easiest, "lower")
        );
        s.push_str(&format!(
            "hardest classes: {}{}\n",
            list(&self.hardest),
            self.ties(&self.hardest, "higher")
        ));
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
        s
    }

    /// A note when two classes of a list have the same accuracy (the log loss orders them).
    fn ties(&self, names: &[String], first: &str) -> String {
        let accuracies: Vec<f64> = names.iter().map(|n| self.accuracy_percent(n)).collect();
        if accuracies.windows(2).any(|w| w[0] == w[1]) {
            format!(" (equal accuracies: the {first} log loss first)")
        } else {
            String::new()
        }
    }

    /// The confusion matrix as a text table.
    fn render_confusion(&self) -> String {
        let width = self.name_width();
        let mut s =
            "\nconfusion matrix (rows: true class, columns: predicted class):\n".to_string();
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
        s
    }

    /// The width of the class-name column.
    fn name_width(&self) -> usize {
        self.classes
            .iter()
            .map(|c| c.len())
            .max()
            .unwrap_or(1)
            .max(5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, correct: usize, loss: f64) -> ClassResult {
        ClassResult {
            class: name.into(),
            total: 10,
            correct,
            accuracy: Some(correct as f64 / 10.0),
            log_loss: Some(loss),
        }
    }

    #[test]
    fn equal_accuracies_are_ordered_by_log_loss() {
        let classes = [
            class("a", 9, 0.5),
            class("b", 9, 0.2),
            class("c", 5, 1.0),
            class("d", 9, 0.3),
        ];
        let (easiest, hardest) = extremes(&classes);
        assert_eq!(easiest, ["b", "d", "a", "c"]);
        assert_eq!(hardest, ["c", "a", "d", "b"]);
    }
}
