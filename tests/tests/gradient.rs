//! The loss and its gradient: Burn's autodiff against the analytic gradient of softmax
//! cross-entropy and against finite differences; the fused analytic operation against autodiff
//! on every CPU backend; numerical stability for huge logits; the one-pass SGD step against
//! Burn's SGD, and their optimizer records read by each other.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, OptimizerRecord, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use linclass::{Backend, GradientKind, LossKind, OnePassSgd};
use linclass_model::{Init, LinearClassifier, LinearClassifierConfig};

const B: usize = 4;
const D: usize = 6;
const C: usize = 3;

fn inputs() -> (Vec<f32>, Vec<i64>) {
    let x: Vec<f32> = (0..B * D)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0)
        .collect();
    (x, vec![0, 2, 1, 2])
}

fn to_vec<const N: usize>(t: Tensor<N>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// Mean cross-entropy of logits x·W + b, with W given as Burn stores it ([D, C]).
fn loss_at(device: &Device, x: &[f32], y: &[i64], w: &[f32], b: &[f32]) -> f32 {
    let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [B, D]), device);
    let w = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [D, C]), device);
    let b = Tensor::<1>::from_data(TensorData::new(b.to_vec(), [C]), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(y.to_vec(), [B]), device);
    let logits = x.matmul(w) + b.unsqueeze::<2>();
    CrossEntropyLossConfig::new()
        .init(device)
        .forward(logits, y)
        .into_scalar()
}

#[test]
fn autodiff_gradient_is_softmax_minus_onehot_times_x() {
    let device = Backend::Cpu.device().unwrap();
    let ad = device.clone().autodiff();
    device.seed(3);
    let model = LinearClassifierConfig::new([1, 2, 3], C).init(&ad);
    let (x, y) = inputs();
    let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [B, D]), &ad);
    let yt = Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [B]), &ad);
    let logits = model.forward(xt);
    let loss = CrossEntropyLossConfig::new()
        .init(&ad)
        .forward(logits.clone(), yt);
    let grads = loss.backward();
    let linear = model.linear();
    let gw = to_vec(linear.weight.grad(&grads).unwrap()); // [D, C]
    let gb = to_vec(linear.bias.as_ref().unwrap().grad(&grads).unwrap()); // [C]

    // Analytic: dL/ds = (softmax(s) − onehot(y)) / B; dL/dW[j][k] = Σ_i x[i][j] dL/ds[i][k].
    let s = to_vec(logits.inner());
    let mut ds = [0f64; B * C];
    for i in 0..B {
        let row = &s[i * C..(i + 1) * C];
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        for k in 0..C {
            let p = (row[k] as f64 - max).exp() / z;
            ds[i * C + k] = (p - f64::from(y[i] as usize == k)) / B as f64;
        }
    }
    for j in 0..D {
        for k in 0..C {
            let expected: f64 = (0..B).map(|i| x[i * D + j] as f64 * ds[i * C + k]).sum();
            let got = gw[j * C + k] as f64;
            assert!(
                (got - expected).abs() < 1e-5,
                "dW[{k}][{j}]: {got} vs {expected}"
            );
        }
    }
    for k in 0..C {
        let expected: f64 = (0..B).map(|i| ds[i * C + k]).sum();
        assert!((gb[k] as f64 - expected).abs() < 1e-5, "db[{k}]");
    }

    // Finite differences of the same loss, one coordinate at a time.
    let w = to_vec(linear.weight.val().inner());
    let b = to_vec(linear.bias.as_ref().unwrap().val().inner());
    let eps = 1e-2f32;
    let mut worst = 0f64;
    for idx in 0..D * C {
        let (mut wp, mut wm) = (w.clone(), w.clone());
        wp[idx] += eps;
        wm[idx] -= eps;
        let fd = (loss_at(&device, &x, &y, &wp, &b) - loss_at(&device, &x, &y, &wm, &b)) as f64
            / (2.0 * eps as f64);
        worst = worst.max((fd - gw[idx] as f64).abs());
    }
    for k in 0..C {
        let (mut bp, mut bm) = (b.clone(), b.clone());
        bp[k] += eps;
        bm[k] -= eps;
        let fd = (loss_at(&device, &x, &y, &w, &bp) - loss_at(&device, &x, &y, &w, &bm)) as f64
            / (2.0 * eps as f64);
        worst = worst.max((fd - gb[k] as f64).abs());
    }
    assert!(worst < 1e-3, "finite differences differ by up to {worst}");
}

#[test]
fn loss_softmax_and_gradient_stay_finite_for_huge_logits() {
    let device = Backend::Cpu.device().unwrap();
    let ad = device.clone().autodiff();
    let logits =
        Tensor::<2>::from_data([[1e4f32, -1e4, 0.0], [-1e4, 1e4, 0.0]], &ad).require_grad();
    let right = Tensor::<1, Int>::from_data([0i64, 1], &ad);
    let wrong = Tensor::<1, Int>::from_data([1i64, 0], &ad);
    let ce = CrossEntropyLossConfig::new().init(&ad);

    let loss_right: f32 = ce.forward(logits.clone(), right).into_scalar();
    assert!(
        loss_right.is_finite() && loss_right.abs() < 1e-3,
        "{loss_right}"
    );

    let loss_wrong = ce.forward(logits.clone(), wrong);
    let grads = loss_wrong.backward();
    let value: f32 = loss_wrong.into_scalar();
    assert!((value - 2e4).abs() / 2e4 < 1e-3, "{value}");
    let g = to_vec(logits.grad(&grads).unwrap());
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    // Gradient of the mean loss: (p − onehot)/2, i.e. ±0.5 on the two extreme classes.
    assert!(
        (g[0] - 0.5).abs() < 1e-4 && (g[1] + 0.5).abs() < 1e-4,
        "{g:?}"
    );

    let p = to_vec(softmax(logits.inner(), 1));
    assert!(p.iter().all(|v| v.is_finite()));
    assert!(
        (p[0] - 1.0).abs() < 1e-6 && (p[4] - 1.0).abs() < 1e-6,
        "{p:?}"
    );
    assert!((p[0..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
}

/// W [D, C] and b [C] after one SGD step (lr 0.5) from a seeded normal start on a batch of 16,
/// and the loss before it, with the loss's gradient computed as `gradient` says.
fn one_step(backend: Backend, loss: LossKind, gradient: GradientKind) -> (Vec<f32>, Vec<f32>, f32) {
    let (b, d, c) = (16, 12, 5);
    let device = backend.device().unwrap();
    let ad = device.clone().autodiff();
    device.seed(9);
    let mut config = LinearClassifierConfig::new([1, 3, 4], c);
    config.init = Init::Normal;
    config.init_std = 0.5;
    let model = config.init(&ad);
    let x: Vec<f32> = (0..b * d)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
        .collect();
    let y: Vec<i64> = (0..b as i64).map(|i| i * 3 % c as i64).collect();
    let x = Tensor::<2>::from_data(TensorData::new(x, [b, d]), &ad);
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [b]), &ad);
    let value = linclass::loss(loss, gradient, model.forward(x), y);
    let grads = GradientsParams::from_grads(value.backward(), &model);
    let value: f32 = value.into_scalar();
    let model = SgdConfig::new().init().step(0.5, model, grads);
    let linear = model.linear();
    (
        to_vec(linear.weight.val().inner()),
        to_vec(linear.bias.as_ref().unwrap().val().inner()),
        value,
    )
}

#[test]
fn the_analytic_and_the_autodiff_gradient_take_the_same_step_on_every_cpu_backend() {
    for backend in [Backend::Cpu, Backend::Ndarray] {
        for loss in [LossKind::CrossEntropy, LossKind::SquaredError] {
            let (wa, ba, la) = one_step(backend, loss, GradientKind::Analytic);
            let (wd, bd, ld) = one_step(backend, loss, GradientKind::Autodiff);
            let moved = wa.iter().zip(&wd).filter(|(a, _)| a.abs() > 0.0).count();
            assert!(moved > wa.len() / 2, "{backend:?} {loss:?}: W did not move");
            assert!(
                (la - ld).abs() < 1e-6,
                "{backend:?} {loss:?}: loss {la} vs {ld}"
            );
            for (a, d) in wa.iter().zip(&wd).chain(ba.iter().zip(&bd)) {
                assert!((a - d).abs() < 1e-5, "{backend:?} {loss:?}: {a} vs {d}");
            }
        }
    }
}

#[test]
fn the_analytic_loss_stays_finite_for_huge_logits() {
    for backend in [Backend::Cpu, Backend::Ndarray] {
        let ad = backend.device().unwrap().autodiff();
        let logits =
            Tensor::<2>::from_data([[1e4f32, -1e4, 0.0], [-1e4, 1e4, 0.0]], &ad).require_grad();
        let wrong = Tensor::<1, Int>::from_data([1i64, 0], &ad);
        let loss = linclass::loss(
            LossKind::CrossEntropy,
            GradientKind::Analytic,
            logits.clone(),
            wrong,
        );
        let grads = loss.backward();
        let value: f32 = loss.into_scalar();
        assert!((value - 2e4).abs() / 2e4 < 1e-3, "{backend:?}: {value}");
        let g = to_vec(logits.grad(&grads).unwrap());
        let expected = [0.5f32, -0.5, 0.0, -0.5, 0.5, 0.0];
        for (got, want) in g.iter().zip(expected) {
            assert!((got - want).abs() < 1e-4, "{backend:?}: {g:?}");
        }
    }
}

/// SGD with `momentum` and `weight_decay`: Burn's, or the project's one-pass step.
fn optimizer(one_pass: bool, momentum: f64, weight_decay: f64) -> ModuleOptimizer {
    if one_pass {
        return OnePassSgd {
            momentum,
            weight_decay,
        }
        .init();
    }
    let mut sgd = SgdConfig::new();
    if momentum > 0.0 {
        let m = MomentumConfig::new().with_momentum(momentum);
        sgd = sgd.with_momentum(Some(m.with_dampening(0.0)));
    }
    if weight_decay > 0.0 {
        sgd = sgd.with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32)));
    }
    sgd.init()
}

/// W and b after `steps` SGD steps on a fixed batch of 16 images of 12 values in 5 classes,
/// from a seeded normal start, with `first` for the steps before `switch` and `second` (which
/// reads `first`'s record) from there on.
fn descend(
    backend: Backend,
    steps: usize,
    switch: usize,
    first: ModuleOptimizer,
    second: ModuleOptimizer,
) -> Vec<f32> {
    let (b, d, c) = (16, 12, 5);
    let ad = backend.device().unwrap().autodiff();
    ad.seed(4);
    let mut config = LinearClassifierConfig::new([1, 3, 4], c);
    config.init = Init::Normal;
    config.init_std = 0.5;
    let mut model: LinearClassifier = config.init(&ad);
    let x: Vec<f32> = (0..b * d)
        .map(|i| ((i * 29 % 17) as f32 - 8.0) / 5.0)
        .collect();
    let y: Vec<i64> = (0..b as i64).map(|i| i * 2 % c as i64).collect();
    let x = Tensor::<2>::from_data(TensorData::new(x, [b, d]), &ad);
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [b]), &ad);
    let mut optim = first;
    let mut second = Some(second);
    for step in 0..steps {
        if step == switch {
            let record: OptimizerRecord = optim.to_record();
            let bytes = record.into_bytes().unwrap();
            let next = second.take().unwrap();
            optim = next.load_record(OptimizerRecord::from_bytes(bytes).unwrap());
        }
        let kind = GradientKind::Analytic;
        let value = linclass::loss(
            LossKind::CrossEntropy,
            kind,
            model.forward(x.clone()),
            y.clone(),
        );
        let grads = GradientsParams::from_grads(value.backward(), &model);
        model = optim.step(0.3, model, grads);
    }
    let linear = model.linear();
    let mut params = to_vec(linear.weight.val().inner());
    params.extend(to_vec(linear.bias.as_ref().unwrap().val().inner()));
    params
}

#[test]
fn the_one_pass_sgd_step_is_burns_and_their_records_resume_each_other() {
    for backend in [Backend::Cpu, Backend::Ndarray] {
        for (momentum, decay) in [(0.0, 0.0), (0.9, 0.0), (0.9, 1e-2), (0.0, 1e-2)] {
            let burn = descend(
                backend,
                4,
                4,
                optimizer(false, momentum, decay),
                optimizer(false, momentum, decay),
            );
            let ours = descend(
                backend,
                4,
                4,
                optimizer(true, momentum, decay),
                optimizer(true, momentum, decay),
            );
            let start = descend(
                backend,
                0,
                0,
                optimizer(true, 0.0, 0.0),
                optimizer(true, 0.0, 0.0),
            );
            let case = format!("{backend:?}, momentum {momentum}, weight decay {decay}");
            let moved = burn
                .iter()
                .zip(&start)
                .filter(|(a, s)| (*a - *s).abs() > 1e-3)
                .count();
            assert!(
                moved > burn.len() / 2,
                "{case}: the parameters did not move"
            );
            assert_eq!(burn, ours, "{case}: one pass differs from Burn's SGD");
            // Two steps with one, two with the other, through the record on disk's bytes: the
            // velocity carries over both ways (a lost velocity changes the result).
            let across = descend(
                backend,
                4,
                2,
                optimizer(false, momentum, decay),
                optimizer(true, momentum, decay),
            );
            let back = descend(
                backend,
                4,
                2,
                optimizer(true, momentum, decay),
                optimizer(false, momentum, decay),
            );
            assert_eq!(
                burn, across,
                "{case}: Burn's record resumed by the one-pass step"
            );
            assert_eq!(
                burn, back,
                "{case}: the one-pass record resumed by Burn's SGD"
            );
        }
    }
}
