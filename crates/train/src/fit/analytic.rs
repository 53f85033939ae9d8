//! The lecture's analytic gradient as one Burn operation: the loss of the scores, with its
//! gradient with respect to the scores written down rather than traced.
//!
//! For softmax and cross-entropy over a batch of B images, dL/ds = (P − Y) / B, where P holds
//! each row's softmax and Y the one-hot labels; for the squared error (mean over B·C entries),
//! dL/ds = 2 (S − Y) / (B·C). The forward pass computes the loss and keeps this [B, C]
//! gradient; the backward pass only scales it by the incoming gradient. Burn's autodiff then
//! carries it through f(x) = xW + b as usual: dW = Xᵀ (P − Y) / B (one product), db = Σ (P − Y)
//! / B (a row sum). The whole loss is one node of the autodiff graph instead of the seven or
//! so of its composition, and the CPU backend computes it in one pass over the rows.

// Burn deprecates ndarray, which the project still offers; the generated dispatch names it.
#![allow(deprecated)]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::{IndexingUpdateOp, Shape};

/// The losses that have an analytic gradient here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Analytic {
    /// Softmax and cross-entropy, mean over the batch.
    CrossEntropy,
    /// (score − one-hot label)², mean over the batch and the classes.
    SquaredError,
}

/// The mean loss [1] of scores `logits` [B, C] against labels `targets` [B], whose gradient
/// with respect to the scores is the analytic one (see the module's documentation).
pub(crate) fn analytic_loss(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    kind: Analytic,
) -> Tensor<1> {
    let squared = kind == Analytic::SquaredError;
    Tensor::from_dispatch(<Dispatch as AnalyticLoss>::analytic_loss(
        logits.into_dispatch(),
        targets.into_dispatch(),
        squared,
    ))
}

/// The operation, registered for every backend the project compiles: an unlisted one panics.
#[backend_extension(
    Autodiff,
    Flex,
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "gpu")
)]
pub(crate) trait AnalyticLoss: Backend {
    /// The mean loss [1] of `logits` [B, C] against `targets` [B]: cross-entropy of the
    /// softmax, or the squared error against the one-hot labels when `squared`.
    fn analytic_loss(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        squared: bool,
    ) -> FloatTensor<Self>;
}

/// The forward pass on a concrete backend: the loss [1] and its gradient with respect to the
/// scores [B, C].
pub(crate) trait LossAndGradient: Backend {
    fn loss_and_gradient(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        squared: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

impl AnalyticLoss for Flex {
    fn analytic_loss(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        squared: bool,
    ) -> FloatTensor<Self> {
        // No gradient is asked for (validation, evaluation): none is kept.
        flex_pass(logits, targets, squared, false).0
    }
}

impl LossAndGradient for Flex {
    fn loss_and_gradient(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        squared: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        flex_pass(logits, targets, squared, true)
    }
}

/// The loss on flex in one pass over the rows, with the gradient when `keep` (else an empty
/// tensor).
fn flex_pass(
    logits: FloatTensor<Flex>,
    targets: IntTensor<Flex>,
    squared: bool,
    keep: bool,
) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
    let [b, c] = dims2(&logits.shape());
    if logits.dtype() != burn::tensor::DType::F32 {
        return composed::<Flex>(logits, targets, squared);
    }
    let device = logits.device();
    let labels = labels(targets.into_data());
    let scores = logits.to_contiguous();
    let scores = scores.as_slice::<f32>().unwrap_or_default();
    let (loss, gradient) = rows(scores, &labels, c, squared, keep);
    let rows_kept = if keep { b } else { 0 };
    (
        Flex::float_from_data(TensorData::new(vec![loss], [1]), &device),
        Flex::float_from_data(TensorData::new(gradient, [rows_kept, c]), &device),
    )
}

/// The labels of a batch as indices.
fn labels(data: TensorData) -> Vec<usize> {
    data.convert::<i64>()
        .try_into_vec::<i64>()
        .unwrap_or_default()
        .into_iter()
        .map(|l| l as usize)
        .collect()
}

/// The loss and (with `keep`) the gradient of a batch of `c` scores per row, in one pass over
/// the rows: for the cross-entropy each row's maximum, log-sum-exp, loss and softmax minus the
/// one-hot label; in f64 where it sums.
fn rows(scores: &[f32], labels: &[usize], c: usize, squared: bool, keep: bool) -> (f32, Vec<f32>) {
    let b = labels.len();
    // Without `keep`, one row of scratch serves every row and nothing is returned.
    let mut gradient = vec![0f32; if keep { b * c } else { c }];
    let mut total = 0f64;
    for (i, (row, &y)) in scores.chunks_exact(c).zip(labels).enumerate() {
        let out = &mut gradient[if keep { i * c } else { 0 }..][..c];
        if squared {
            let scale = 2.0 / (b * c) as f32;
            for (k, (s, g)) in row.iter().zip(out.iter_mut()).enumerate() {
                let d = s - f32::from(k == y);
                total += f64::from(d * d);
                *g = scale * d;
            }
            continue;
        }
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for (s, g) in row.iter().zip(out.iter_mut()) {
            *g = (s - max).exp();
            sum += *g;
        }
        total += f64::from(sum.ln() + max - row[y.min(c - 1)]);
        let scale = 1.0 / (sum * b as f32);
        for g in out.iter_mut() {
            *g *= scale;
        }
        out[y.min(c - 1)] -= 1.0 / b as f32;
    }
    if !keep {
        gradient.clear();
    }
    let entries = if squared { b * c } else { b };
    ((total / entries.max(1) as f64) as f32, gradient)
}

fn dims2(shape: &Shape) -> [usize; 2] {
    [shape[0], shape[1]]
}

/// The forward pass composed of the backend's own operations (for backends without a
/// hand-written pass): the same loss and gradient, in a few more passes.
fn composed<B: Backend>(
    logits: FloatTensor<B>,
    targets: IntTensor<B>,
    squared: bool,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let [b, c] = dims2(&logits.shape());
    let full = Shape::new([b, c]);
    let device = logits.device();
    let index = B::int_reshape(targets, Shape::new([b, 1]));
    let ones = B::float_ones(Shape::new([b, 1]), &device, logits.dtype().into());
    let onehot = B::float_scatter(
        1,
        B::float_zeros(full.clone(), &device, logits.dtype().into()),
        index.clone(),
        ones,
        IndexingUpdateOp::Add,
    );
    if squared {
        let d = B::float_sub(logits, onehot);
        let n = (b * c) as f32;
        let loss = B::float_div_scalar(B::float_sum(B::float_mul(d.clone(), d.clone())), n.into());
        return (loss, B::float_mul_scalar(d, (2.0 / n).into()));
    }
    let max = B::float_expand(B::float_max_dim(logits.clone(), 1), full.clone());
    let z = B::float_sub(logits, max);
    let e = B::float_exp(z.clone());
    let sum = B::float_sum_dim(e.clone(), 1);
    let p = B::float_div(e, B::float_expand(sum.clone(), full));
    let picked = B::float_gather(1, z, index);
    let loss = B::float_sum(B::float_sub(B::float_log(sum), picked));
    let loss = B::float_div_scalar(loss, (b as f32).into());
    let gradient = B::float_div_scalar(B::float_sub(p, onehot), (b as f32).into());
    (loss, gradient)
}

/// A backend without a hand-written pass: the forward composed of its own operations.
macro_rules! composed_backend {
    ($backend:ty) => {
        impl AnalyticLoss for $backend {
            fn analytic_loss(
                logits: FloatTensor<Self>,
                targets: IntTensor<Self>,
                squared: bool,
            ) -> FloatTensor<Self> {
                composed::<Self>(logits, targets, squared).0
            }
        }

        impl LossAndGradient for $backend {
            fn loss_and_gradient(
                logits: FloatTensor<Self>,
                targets: IntTensor<Self>,
                squared: bool,
            ) -> (FloatTensor<Self>, FloatTensor<Self>) {
                composed::<Self>(logits, targets, squared)
            }
        }
    };
}

#[cfg(feature = "ndarray")]
composed_backend!(burn::backend::NdArray);
#[cfg(feature = "gpu")]
composed_backend!(burn::backend::Cube);

/// The backward step: the kept gradient [B, C], scaled by the incoming gradient of the loss.
#[derive(Debug)]
struct LossBackward;

impl<B: Backend> Backward<B, 1> for LossBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let incoming = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            let shape = ops.state.shape();
            let scale = B::float_expand(B::float_reshape(incoming, Shape::new([1, 1])), shape);
            grads.register::<B>(node.id, B::float_mul(ops.state, scale));
        }
    }
}

impl<B: Backend + LossAndGradient, C: CheckpointStrategy> AnalyticLoss for Autodiff<B, C> {
    fn analytic_loss(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        squared: bool,
    ) -> FloatTensor<Self> {
        match LossBackward
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (loss, gradient) =
                    B::loss_and_gradient(logits.into_primitive(), targets, squared);
                prep.finish(gradient, loss)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::loss_and_gradient(logits.into_primitive(), targets, squared).0)
            }
        }
    }
}
