//! `gradcheck`: autodiff gradients of the configured loss against central finite differences,
//! on a few training images, for a sample of weights and every bias.

use anyhow::Result;
use burn::prelude::*;
use linclass_data::ImageBatcher;
use linclass_data::split::SplitMix64;
use linclass_model::LinearClassifierConfig;

use crate::backend::Backend;
use crate::config::{ExperimentConfig, LossKind};
use crate::datasets::open_training;
use crate::training::loss;

/// Result of a gradient check.
#[derive(Debug, Clone, Copy)]
pub struct GradCheck {
    /// Number of parameters compared.
    pub checked: usize,
    /// Largest |autodiff − numeric| / max(|autodiff| + |numeric|, 1e-6).
    pub max_relative: f64,
    pub max_absolute: f64,
}

/// One sample's loss, from its scores `s` and label `y`, in f64.
pub fn host_loss(kind: LossKind, s: &[f64], y: usize) -> f64 {
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

/// Compares gradients on the first `samples` training images, at `weights` sampled weights.
pub fn gradcheck(
    config: &ExperimentConfig,
    backend: Backend,
    samples: usize,
    weights: usize,
) -> Result<GradCheck> {
    let device = backend.device()?;
    let data = open_training(&config.data, config.train.seed)?;
    let indices: Vec<usize> = data
        .split
        .train
        .iter()
        .take(samples.max(1))
        .map(|&i| i as usize)
        .collect();
    let b = indices.len();
    let set = std::sync::Arc::new(data.set);
    let (x, y) = ImageBatcher::new(set.clone(), &data.normalization).host_batch(&indices);
    let (d, c) = (set.dim(), set.classes().len());

    device.seed(config.train.seed);
    let ad = device.clone().autodiff();
    let model_config = LinearClassifierConfig {
        input_shape: set.shape(),
        num_classes: c,
        bias: true,
        init: config.model.init,
        init_std: config.model.init_std,
    };
    let model = model_config.init(&ad);
    let xt = |dev: &Device| Tensor::<2>::from_data(TensorData::new(x.clone(), [b, d]), dev);
    let yt = |dev: &Device| Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [b]), dev);
    let value = loss(config.train.loss, model.forward(xt(&ad)), yt(&ad));
    let grads = value.backward();
    let host = |t: Tensor<2>| {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default()
    };
    let host1 = |t: Tensor<1>| {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default()
    };
    let linear = model.linear();
    let gw = linear.weight.grad(&grads).map(host).unwrap_or_default(); // [D, C]
    let bias = linear
        .bias
        .as_ref()
        .expect("gradcheck builds a model with bias");
    let gb = bias.grad(&grads).map(host1).unwrap_or_default();
    let w = host(linear.weight.val().inner());
    let bv = host1(bias.val().inner());

    // The numeric side evaluates the loss's definition in f64 on the host, so that the
    // comparison is limited by the autodiff side's f32 arithmetic, not by cancellation here.
    let kind = config.train.loss;
    let loss_at = |w: &[f64], bv: &[f64]| -> f64 {
        let mut total = 0.0;
        for i in 0..b {
            let xi = &x[i * d..(i + 1) * d];
            let s: Vec<f64> = (0..c)
                .map(|k| bv[k] + (0..d).map(|j| xi[j] as f64 * w[j * c + k]).sum::<f64>())
                .collect();
            total += host_loss(kind, &s, y[i] as usize);
        }
        total / b as f64
    };
    let w: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let bv: Vec<f64> = bv.iter().map(|&v| v as f64).collect();
    let eps = 1e-4f64;
    let mut result = GradCheck {
        checked: 0,
        max_relative: 0.0,
        max_absolute: 0.0,
    };
    let mut compare = |analytic: f64, numeric: f64| {
        let abs = (analytic - numeric).abs();
        result.checked += 1;
        result.max_absolute = result.max_absolute.max(abs);
        result.max_relative = result
            .max_relative
            .max(abs / (analytic.abs() + numeric.abs()).max(1e-6));
    };
    // Weights of pixels that are not constant over the samples carry real gradient.
    let lively: Vec<usize> = (0..d)
        .filter(|&j| (1..b).any(|i| x[i * d + j] != x[j]) || x[j] != 0.0)
        .collect();
    let mut rng = SplitMix64::new(config.train.seed);
    for _ in 0..weights {
        let pool = if lively.is_empty() { d } else { lively.len() };
        let j = if lively.is_empty() {
            rng.below(pool)
        } else {
            lively[rng.below(pool)]
        };
        let k = rng.below(c);
        let idx = j * c + k;
        let (mut plus, mut minus) = (w.clone(), w.clone());
        plus[idx] += eps;
        minus[idx] -= eps;
        let numeric = (loss_at(&plus, &bv) - loss_at(&minus, &bv)) / (2.0 * eps);
        compare(gw[idx] as f64, numeric);
    }
    for k in 0..c {
        let (mut plus, mut minus) = (bv.clone(), bv.clone());
        plus[k] += eps;
        minus[k] -= eps;
        let numeric = (loss_at(&w, &plus) - loss_at(&w, &minus)) / (2.0 * eps);
        compare(gb[k] as f64, numeric);
    }
    Ok(result)
}
