//! Stochastic gradient descent in one pass over each parameter, as a Burn optimizer.
//!
//! The step is the lecture's update with PyTorch's conventions for the two extras: weight decay
//! λ as an L2 term added to the gradient, and momentum μ without dampening,
//!
//! ```text
//! g ← G + λ·W        v ← μ·v + g  (v = g at the first step)        W ← W − lr·v   (v = g when μ = 0)
//! ```
//!
//! Burn's own SGD does the same in four to six passes over W, each allocating a new tensor; here
//! it is one operation (a Burn backend extension), which on the CPU backend reads W, G and v once
//! and writes the new W and v, in one parallel pass. The arithmetic is Burn's, in the same order and precision, so the
//! two give the same bits. The state is recorded under Burn's SGD names (`momentum.velocity`), so
//! checkpoints written by either load into the other.

// Burn deprecates ndarray, which the project still offers; the generated dispatch names it.
#![allow(deprecated)]

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::optim::{
    LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource, join_path,
};
use burn::prelude::*;
use burn::tensor::DType;
use burn_flex::FlexTensor;
use rayon::prelude::*;

/// SGD with weight decay and momentum, one pass per parameter (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnePassSgd {
    /// Momentum μ in [0, 1); 0 keeps no velocity.
    pub momentum: f64,
    /// Weight decay λ ≥ 0, the L2 term added to the gradient.
    pub weight_decay: f64,
}

impl OnePassSgd {
    /// The optimizer of a whole module (Burn's [`ModuleOptimizer`]: its records are Burn's SGD's).
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

/// The state of one parameter: its velocity, when there is momentum.
#[derive(Clone)]
pub struct Velocity<const D: usize> {
    /// v, the parameter's shape; `None` without momentum.
    pub velocity: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for Velocity<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            out.push_tensor(&join_path(prefix, "momentum"), "velocity", v.to_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let velocity = src
            .take_tensor(&join_path(prefix, "momentum"), "velocity")
            .map(|data| Tensor::from_data(data, device));
        Some(Self { velocity })
    }
}

impl Optimizer for OnePassSgd {
    type State<const D: usize> = Velocity<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Velocity<D>>,
    ) -> (Tensor<D>, Option<Velocity<D>>) {
        let (w, g, h) = (
            tensor.into_dispatch(),
            grad.into_dispatch(),
            Hyper::new(lr, *self),
        );
        if h.momentum == 0.0 {
            let w = <Dispatch as SgdStep>::sgd_step(w, g, h);
            return (Tensor::from_dispatch(w), Some(Velocity { velocity: None }));
        }
        // The first step starts from v = 0: then μ·v + g = g exactly, as Burn's SGD starts.
        let v = state
            .and_then(|s| s.velocity)
            .unwrap_or_else(|| Tensor::from_dispatch(g.clone()).zeros_like());
        let (w, v) = <Dispatch as SgdStep>::sgd_momentum_step(w, g, v.into_dispatch(), h);
        let velocity = Some(Tensor::from_dispatch(v));
        (Tensor::from_dispatch(w), Some(Velocity { velocity }))
    }

    fn to_device<const D: usize>(state: Velocity<D>, device: &Device) -> Velocity<D> {
        Velocity {
            velocity: state.velocity.map(|v| v.to_device(device)),
        }
    }
}

/// The step's scalars, in the precision Burn's SGD applies them (f32).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hyper {
    lr: f32,
    decay: f32,
    momentum: f32,
}

impl Hyper {
    fn new(lr: LearningRate, sgd: OnePassSgd) -> Self {
        Self {
            lr: lr as f32,
            decay: sgd.weight_decay as f32,
            momentum: sgd.momentum as f32,
        }
    }
}

/// The update, registered for every backend the project compiles: an unlisted one panics.
#[backend_extension(Flex, NdArray: cfg(feature = "ndarray"), Cube: cfg(feature = "gpu"))]
pub(crate) trait SgdStep: Backend {
    /// The updated `param` from its gradient `grad` (same shape), without momentum.
    fn sgd_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        hyper: Hyper,
    ) -> FloatTensor<Self>;

    /// The updated `param` and velocity from the gradient `grad` and the velocity before the
    /// step (zero at the first); all three have the parameter's shape.
    fn sgd_momentum_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        hyper: Hyper,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

// W is written anew, in one pass that reads W and G: Burn's learner still holds the model of the
// step before, so W is never the optimizer's alone. The velocity is, and is updated in place.
impl SgdStep for Flex {
    fn sgd_step(param: FlexTensor, grad: FlexTensor, h: Hyper) -> FlexTensor {
        if !plain(&param) {
            return composed_step::<Flex>(param, grad, h);
        }
        let grad = grad.to_contiguous();
        let g = grad.as_slice::<f32>().unwrap_or_default();
        let w = param.storage::<f32>();
        let step = |(&w, &g): (&f32, &f32)| w - (w * h.decay + g) * h.lr;
        let mut out = Vec::with_capacity(w.len());
        if w.len() < CHUNK {
            out.extend(w.iter().zip(g).map(step));
        } else {
            let each = w.par_iter().zip(g).map(step);
            each.with_min_len(CHUNK).collect_into_vec(&mut out);
        }
        FlexTensor::from_data(TensorData::new(out, param.shape()))
    }

    fn sgd_momentum_step(
        param: FlexTensor,
        grad: FlexTensor,
        velocity: FlexTensor,
        h: Hyper,
    ) -> (FlexTensor, FlexTensor) {
        if !plain(&param) || !plain(&velocity) {
            return composed_momentum_step::<Flex>(param, grad, velocity, h);
        }
        let grad = grad.to_contiguous();
        let g = grad.as_slice::<f32>().unwrap_or_default();
        let w = param.storage::<f32>();
        // In Burn's order: g' = w·λ + g, v = g'·1 + v·μ, w = w − v·lr.
        let step = |((&w, v), &g): ((&f32, &mut f32), &f32)| {
            *v = (w * h.decay + g) + *v * h.momentum;
            w - *v * h.lr
        };
        let mut velocity = velocity;
        let v = velocity.storage_mut::<f32>();
        let mut out = Vec::with_capacity(w.len());
        if w.len() < CHUNK {
            out.extend(w.iter().zip(v.iter_mut()).zip(g).map(step));
        } else {
            let each = w.par_iter().zip(v.par_iter_mut()).zip(g).map(step);
            each.with_min_len(CHUNK).collect_into_vec(&mut out);
        }
        let w = FlexTensor::from_data(TensorData::new(out, param.shape()));
        (w, velocity)
    }
}

/// Elements below which a step runs on one thread, and the least each thread takes above it.
const CHUNK: usize = 1 << 14;

/// Whether `t` is f32 and fills its buffer from the start, in order.
fn plain(t: &FlexTensor) -> bool {
    t.dtype() == DType::F32
        && t.layout().contiguous_offsets() == Some((0, t.storage::<f32>().len()))
}

/// The step without momentum composed of the backend's own operations, in Burn's SGD's order.
fn composed_step<B: Backend>(w: FloatTensor<B>, g: FloatTensor<B>, h: Hyper) -> FloatTensor<B> {
    let g = decayed::<B>(&w, g, h);
    B::float_sub(w, B::float_mul_scalar(g, h.lr.into()))
}

/// The step with momentum composed of the backend's own operations, in Burn's SGD's order.
fn composed_momentum_step<B: Backend>(
    w: FloatTensor<B>,
    g: FloatTensor<B>,
    v: FloatTensor<B>,
    h: Hyper,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let g = decayed::<B>(&w, g, h);
    let v = B::float_add(g, B::float_mul_scalar(v, h.momentum.into()));
    let w = B::float_sub(w, B::float_mul_scalar(v.clone(), h.lr.into()));
    (w, v)
}

/// The gradient with the weight decay's L2 term, w·λ + g.
fn decayed<B: Backend>(w: &FloatTensor<B>, g: FloatTensor<B>, h: Hyper) -> FloatTensor<B> {
    if h.decay > 0.0 {
        B::float_add(B::float_mul_scalar(w.clone(), h.decay.into()), g)
    } else {
        g
    }
}

/// A backend without a hand-written pass: the update composed of its own operations.
macro_rules! composed_backend {
    ($backend:ty) => {
        impl SgdStep for $backend {
            fn sgd_step(
                param: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                hyper: Hyper,
            ) -> FloatTensor<Self> {
                composed_step::<Self>(param, grad, hyper)
            }

            fn sgd_momentum_step(
                param: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                velocity: FloatTensor<Self>,
                hyper: Hyper,
            ) -> (FloatTensor<Self>, FloatTensor<Self>) {
                composed_momentum_step::<Self>(param, grad, velocity, hyper)
            }
        }
    };
}

#[cfg(feature = "ndarray")]
composed_backend!(burn::backend::NdArray);
#[cfg(feature = "gpu")]
composed_backend!(burn::backend::Cube);
