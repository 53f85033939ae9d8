//! `gradcheck`: the analytic and the autodiff gradients of the configured loss against central
//! finite differences, on a few training images, for a sample of weights and every bias, and
//! against each other for every parameter.

use anyhow::Result;
use burn::prelude::*;
use linclass_data::ImageBatcher;
use linclass_data::fetch::FetchProgress;
use linclass_data::split::SplitMix64;
use linclass_model::LinearClassifierConfig;

use crate::backend::Backend;
use crate::config::{ExperimentConfig, GradientKind, LossKind};
use crate::datasets::open_training;
use crate::fit::learner::loss;

/// The largest relative error a check passes with: f32 arithmetic on the autodiff side gives
/// about 1e-7 on MNIST; a wrong gradient is off by far more.
pub(crate) const RELATIVE_TOLERANCE: f64 = 1e-4;

/// How one gradient path compares with central finite differences.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathCheck {
    /// How the gradients were computed.
    pub gradient: GradientKind,
    /// Number of parameters compared.
    pub checked: usize,
    /// Largest |computed − numeric| / max(|computed| + |numeric|, 1e-6).
    pub max_relative: f64,
    pub max_absolute: f64,
}

/// Result of a gradient check: each gradient path against finite differences, and the two
/// paths against each other over every parameter (where the loss has both).
#[derive(Debug, Clone)]
pub(crate) struct GradCheck {
    pub paths: Vec<PathCheck>,
    /// Largest relative difference between the analytic and the autodiff gradients.
    pub between: Option<f64>,
}

impl GradCheck {
    /// Whether every compared gradient is within [`RELATIVE_TOLERANCE`].
    pub(crate) fn passed(&self) -> bool {
        self.largest() < RELATIVE_TOLERANCE
    }

    /// The largest relative error or difference found.
    pub(crate) fn largest(&self) -> f64 {
        let paths = self.paths.iter().map(|p| p.max_relative);
        paths.chain(self.between).fold(0.0, f64::max)
    }
}

/// One sample's loss, from its scores `s` and label `y`, in f64.
pub(crate) fn host_loss(kind: LossKind, s: &[f64], y: usize) -> f64 {
    match kind {
        LossKind::CrossEntropy | LossKind::Nll => {
            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + s.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            lse - s[y]
        }
        LossKind::SquaredError => {
            s.iter()
                .enumerate()
                .map(|(k, v)| (v - f64::from(k == y)).powi(2))
                .sum::<f64>()
                / s.len() as f64
        }
    }
}

/// Compares gradients on the first `samples` training images, at `weights` sampled weights
/// and every bias.
///
/// Errors: the training data cannot be opened (see [`open_training`]).
pub(crate) fn gradcheck(
    config: &ExperimentConfig,
    backend: Backend,
    samples: usize,
    weights: usize,
    progress: &mut dyn FetchProgress,
) -> Result<GradCheck> {
    let device = backend.device()?;
    let data = open_training(&config.data, config.train.seed, progress)?;
    let indices: Vec<usize> = data
        .split
        .train
        .iter()
        .take(samples.max(1))
        .map(|&i| i as usize)
        .collect();
    let set = std::sync::Arc::new(data.set);
    let (x, y) = ImageBatcher::new(set.clone(), &data.normalization).host_batch(&indices);
    let batch = HostBatch {
        x,
        y,
        d: set.dim(),
        c: set.classes().len(),
        kind: config.train.loss,
    };
    let model_config = LinearClassifierConfig {
        input_shape: set.shape(),
        num_classes: batch.c,
        bias: true,
        init: config.model.init,
        init_std: config.model.init_std,
    };
    let kinds: &[GradientKind] = match config.train.loss {
        LossKind::Nll => &[GradientKind::Autodiff],
        _ => &[GradientKind::Analytic, GradientKind::Autodiff],
    };
    let computed: Vec<Gradients> = (kinds.iter())
        .map(|&kind| {
            device.seed(config.train.seed);
            gradients(&batch, kind, &model_config, &device)
        })
        .collect();
    let paths = (kinds.iter().zip(&computed))
        .map(|(&kind, g)| compare(&batch, g, weights, config.train.seed, kind))
        .collect();
    let between = match computed.as_slice() {
        [a, b] => Some(largest_difference(a, b)),
        _ => None,
    };
    Ok(GradCheck { paths, between })
}

/// The largest relative difference between two sets of gradients, over every parameter.
fn largest_difference(a: &Gradients, b: &Gradients) -> f64 {
    let pairs = a
        .grad_w
        .iter()
        .zip(&b.grad_w)
        .chain(a.grad_b.iter().zip(&b.grad_b));
    pairs
        .map(|(&x, &y)| {
            let (x, y) = (f64::from(x), f64::from(y));
            (x - y).abs() / (x.abs() + y.abs()).max(1e-6)
        })
        .fold(0.0, f64::max)
}

/// A batch on the host: pixels `x` [B, D] normalized, labels `y` [B], and the loss.
struct HostBatch {
    x: Vec<f32>,
    y: Vec<i64>,
    d: usize,
    c: usize,
    kind: LossKind,
}

impl HostBatch {
    fn len(&self) -> usize {
        self.y.len()
    }

    /// The mean loss at weights `w` [D, C] and bias `bv` [C], in f64 on the host, so that the
    /// comparison is limited by the autodiff side's f32 arithmetic, not by cancellation here.
    fn loss_at(&self, w: &[f64], bv: &[f64]) -> f64 {
        let (d, c) = (self.d, self.c);
        let mut total = 0.0;
        for i in 0..self.len() {
            let xi = &self.x[i * d..(i + 1) * d];
            let s: Vec<f64> = (0..c)
                .map(|k| bv[k] + (0..d).map(|j| xi[j] as f64 * w[j * c + k]).sum::<f64>())
                .collect();
            total += host_loss(self.kind, &s, self.y[i] as usize);
        }
        total / self.len() as f64
    }
}

/// A model's parameters and the gradients of the loss, on the host: W [D, C], b [C].
struct Gradients {
    w: Vec<f64>,
    b: Vec<f64>,
    grad_w: Vec<f32>,
    grad_b: Vec<f32>,
}

/// The gradients of the batch's loss for a freshly initialized model, computed as `kind` says.
fn gradients(
    batch: &HostBatch,
    kind: GradientKind,
    model_config: &LinearClassifierConfig,
    device: &Device,
) -> Gradients {
    let ad = device.clone().autodiff();
    let model = model_config.init(&ad);
    let b = batch.len();
    let x = Tensor::<2>::from_data(TensorData::new(batch.x.clone(), [b, batch.d]), &ad);
    let y = Tensor::<1, Int>::from_data(TensorData::new(batch.y.clone(), [b]), &ad);
    let grads = loss(batch.kind, kind, model.forward(x), y).backward();
    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default()
    }
    let linear = model.linear();
    let bias = linear
        .bias
        .as_ref()
        .expect("gradcheck builds a model with bias");
    let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect();
    Gradients {
        grad_w: linear.weight.grad(&grads).map(host).unwrap_or_default(),
        grad_b: bias.grad(&grads).map(host).unwrap_or_default(),
        w: widen(host(linear.weight.val().inner())),
        b: widen(host(bias.val().inner())),
    }
}

/// Central differences at `weights` weights sampled with `seed` (among those of pixels that
/// are not constant over the batch, which carry real gradient) and at every bias.
fn compare(
    batch: &HostBatch,
    g: &Gradients,
    weights: usize,
    seed: u64,
    gradient: GradientKind,
) -> PathCheck {
    let (x, d, c, b) = (&batch.x, batch.d, batch.c, batch.len());
    let eps = 1e-4f64;
    let mut result = PathCheck {
        gradient,
        checked: 0,
        max_relative: 0.0,
        max_absolute: 0.0,
    };
    let mut record = |analytic: f64, numeric: f64| {
        let abs = (analytic - numeric).abs();
        result.checked += 1;
        result.max_absolute = result.max_absolute.max(abs);
        result.max_relative = result
            .max_relative
            .max(abs / (analytic.abs() + numeric.abs()).max(1e-6));
    };
    let nudged = |v: &[f64], i: usize, by: f64| {
        let mut v = v.to_vec();
        v[i] += by;
        v
    };
    let lively: Vec<usize> = (0..d)
        .filter(|&j| (1..b).any(|i| x[i * d + j] != x[j]) || x[j] != 0.0)
        .collect();
    let mut rng = SplitMix64::new(seed);
    for _ in 0..weights {
        let j = if lively.is_empty() {
            rng.below(d)
        } else {
            lively[rng.below(lively.len())]
        };
        let idx = j * c + rng.below(c);
        let numeric = (batch.loss_at(&nudged(&g.w, idx, eps), &g.b)
            - batch.loss_at(&nudged(&g.w, idx, -eps), &g.b))
            / (2.0 * eps);
        record(g.grad_w[idx] as f64, numeric);
    }
    for k in 0..c {
        let numeric = (batch.loss_at(&g.w, &nudged(&g.b, k, eps))
            - batch.loss_at(&g.w, &nudged(&g.b, k, -eps)))
            / (2.0 * eps);
        record(g.grad_b[k] as f64, numeric);
    }
    result
}
