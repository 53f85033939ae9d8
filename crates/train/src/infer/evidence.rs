//! Why an image got its scores. A linear classifier's score is template matching,
//! s_c = W_c · x + b_c: the dot product of the normalized image x with the class's row of W (its template),
//! plus the bias. The products W_c ⊙ x, one per input value, are the class's evidence: they sum,
//! with b_c, to the score exactly. The difference of two classes' evidence, (W_a − W_b) ⊙ x, sums
//! with b_a − b_b to s_a − s_b = ln(p_a / p_b): why the model prefers a to b, value by value.

use burn::prelude::*;
use linclass_model::LinearClassifier;
use serde::Serialize;

use crate::logits::softmax;

/// The rows of W and the bias, read once from a model for explanations.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    /// W as [C, D], row-major: one template per class.
    weights: Vec<f32>,
    /// b as [C] (zeros for a model without bias).
    bias: Vec<f32>,
}

impl Rows {
    pub(crate) fn of(model: &LinearClassifier) -> Self {
        let weights = to_vec(model.weights().into_data());
        let bias = match model.bias() {
            Some(b) => to_vec(b.into_data()),
            None => vec![0.0; model.num_classes()],
        };
        Self { weights, bias }
    }
}

fn to_vec(data: TensorData) -> Vec<f32> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// One class's share of an explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassEvidence {
    /// The class name.
    pub class: String,
    /// The class's label number.
    pub index: usize,
    /// Softmax probability in [0, 1].
    pub probability: f64,
    /// The class score (logit) as the model computes it.
    pub score: f32,
    /// b_c.
    pub bias: f32,
    /// Σ evidence, summed in f64: with `bias`, the score (to float rounding).
    pub evidence_sum: f64,
    /// W_c ⊙ x: [channels × height × width], channel-major, over the normalized input.
    pub evidence: Vec<f32>,
    /// W_c, the class's template, in the same layout.
    pub template: Vec<f32>,
}

/// The evidence of the classes `classes` (label numbers, each below `names.len()`) for one
/// normalized input `x` [D] whose scores the model gave as `scores` [C].
pub(crate) fn evidence(
    rows: &Rows,
    x: &[f32],
    scores: &[f32],
    names: &[String],
    classes: &[usize],
) -> Vec<ClassEvidence> {
    let dim = x.len();
    let probabilities = softmax(scores);
    classes
        .iter()
        .map(|&c| {
            let template = rows.weights[c * dim..(c + 1) * dim].to_vec();
            let evidence: Vec<f32> = template.iter().zip(x).map(|(w, x)| w * x).collect();
            ClassEvidence {
                class: names[c].clone(),
                index: c,
                probability: probabilities[c],
                score: scores[c],
                bias: rows.bias[c],
                evidence_sum: evidence.iter().map(|&e| f64::from(e)).sum(),
                evidence,
                template,
            }
        })
        .collect()
}
