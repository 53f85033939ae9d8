//! The linear classifier f(x) = Wx + b over flattened pixels, as a Burn module.
//!
//! Each row of W (one per class) has as many weights as the image has pixel values, so it can
//! be reshaped to the image's shape and read as the class's "template": the score of a class is
//! the dot product of the image with its template, plus the class's bias.

use burn::module::{Initializer, ParamId};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

const WEIGHT_ID: u64 = 1;
const BIAS_ID: u64 = 2;

/// How the weights (and bias) start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// All zeros: the default. The loss is convex in W and b, so no symmetry needs breaking,
    /// and weights on pixels that are constant 0 in the data stay exactly 0 (clean templates).
    #[default]
    Zeros,
    /// Burn's default for `Linear`: uniform in ±1/√D.
    Uniform,
    /// Normal with mean 0 and the configured standard deviation.
    Normal,
}

/// What defines a linear classifier: input shape, number of classes, bias and initialization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearClassifierConfig {
    /// [channels, height, width] of the input images.
    pub input_shape: [usize; 3],
    /// Number of classes C: W is C × D with D = channels·height·width.
    pub num_classes: usize,
    /// Whether the model has a bias b.
    pub bias: bool,
    pub init: Init,
    /// Standard deviation for `Init::Normal`.
    pub init_std: f64,
}

impl LinearClassifierConfig {
    pub fn new(input_shape: [usize; 3], num_classes: usize) -> Self {
        Self {
            input_shape,
            num_classes,
            bias: true,
            init: Init::Zeros,
            init_std: 0.01,
        }
    }

    /// D, the number of inputs.
    pub fn input_dim(&self) -> usize {
        self.input_shape.iter().product()
    }

    pub fn init(&self, device: &Device) -> LinearClassifier {
        let initializer = match self.init {
            Init::Zeros => Initializer::Zeros,
            Init::Uniform => Initializer::KaimingUniform {
                gain: 1.0 / 3f64.sqrt(),
                fan_out_only: false,
            },
            Init::Normal => Initializer::Normal {
                mean: 0.0,
                std: self.init_std,
            },
        };
        let mut linear = LinearConfig::new(self.input_dim(), self.num_classes)
            .with_bias(self.bias)
            .with_initializer(initializer)
            .init(device);
        // Fixed parameter ids (Burn draws random ones): the same config and seed then give a
        // byte-identical record.
        linear.weight.id = ParamId::from(WEIGHT_ID);
        if let Some(bias) = linear.bias.as_mut() {
            bias.id = ParamId::from(BIAS_ID);
        }
        LinearClassifier {
            linear,
            input_shape: self.input_shape,
        }
    }
}

/// f(x) = Wx + b. Burn's `Linear` stores W transposed, as [D, C].
#[derive(Module, Debug)]
pub struct LinearClassifier {
    linear: Linear,
    input_shape: [usize; 3],
}

impl LinearClassifier {
    /// Class scores (logits) for flattened images: [B, D] → [B, C].
    pub fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        self.linear.forward(images)
    }

    /// Class scores for images given as [B, C, H, W].
    pub fn forward_images(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images.flatten(1, 3))
    }

    /// The underlying Burn layer (its parameters, for gradients and inspection).
    pub fn linear(&self) -> &Linear {
        &self.linear
    }

    pub fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }

    pub fn num_classes(&self) -> usize {
        self.linear.weight.dims()[1]
    }

    /// W as [C, D]: one row per class.
    pub fn weights(&self) -> Tensor<2> {
        self.linear.weight.val().transpose()
    }

    /// b as [C], if the model has one.
    pub fn bias(&self) -> Option<Tensor<1>> {
        self.linear.bias.as_ref().map(|b| b.val())
    }

    /// Each class's row of W reshaped to the image's shape: [classes, channels, height, width].
    pub fn templates(&self) -> Tensor<4> {
        let [c, h, w] = self.input_shape;
        let classes = self.num_classes();
        self.weights().reshape([classes, c, h, w])
    }

    /// How rough the templates are: the mean squared difference between horizontally and
    /// vertically adjacent weights, over twice the mean squared weight, per template and
    /// channel, averaged. 0 for smooth templates, about 1 for white noise (adjacent weights
    /// unrelated); a regularized model's templates show the lecture's blurry prototypes.
    pub fn template_roughness(&self) -> f64 {
        let [_, h, w] = self.input_shape;
        let weights: Vec<f32> = self
            .weights()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        let planes: Vec<&[f32]> = weights.chunks_exact(h * w).collect();
        let rough = |p: &[f32]| -> Option<f64> {
            let at = |x: usize, y: usize| p[y * w + x] as f64;
            let mut diff = 0.0;
            let mut pairs = 0usize;
            for y in 0..h {
                for x in 0..w {
                    for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                        if nx < w && ny < h {
                            diff += (at(x, y) - at(nx, ny)).powi(2);
                            pairs += 1;
                        }
                    }
                }
            }
            let square = p.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / p.len() as f64;
            (square > 0.0 && pairs > 0).then(|| diff / pairs as f64 / (2.0 * square))
        };
        let values: Vec<f64> = planes.iter().filter_map(|p| rough(p)).collect();
        if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn roughness_is_about_one_for_noise_and_small_for_smooth_templates() {
        let device = Device::default();
        let model = LinearClassifierConfig::new([1, 16, 16], 2).init(&device);
        let noise: Vec<f32> = (0..512u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let smooth: Vec<f32> = (0..512)
            .map(|i| ((i % 256 % 16) as f32 / 16.0 * 3.0).sin() + 0.5)
            .collect();
        let with = |w: Vec<f32>| {
            let mut m = model.clone();
            // W is stored [D, C]: the two templates are the columns.
            let t = Tensor::<2>::from_data(TensorData::new(w, [2, 256]), &device).transpose();
            m.linear.weight = burn::module::Param::from_tensor(t);
            m.template_roughness()
        };
        let (rough, fine) = (with(noise), with(smooth));
        assert!((0.8..1.2).contains(&rough), "{rough}");
        assert!(fine < 0.05, "{fine}");
    }

    use super::*;

    #[test]
    fn shapes_and_templates() {
        let device = Device::default();
        let model = LinearClassifierConfig::new([3, 4, 5], 7).init(&device);
        assert_eq!(model.num_classes(), 7);
        let x = Tensor::<2>::ones([2, 60], &device);
        assert_eq!(model.forward(x).dims(), [2, 7]);
        let t = model.templates();
        assert_eq!(t.dims(), [7, 3, 4, 5]);
        // Template k, flattened, is row k of W.
        let row: Vec<f32> = model
            .weights()
            .slice(s![2..3, ..])
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let tpl: Vec<f32> = t.slice(s![2..3]).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(row, tpl);
    }

    #[test]
    fn score_is_template_dot_image_plus_bias() {
        let device = Device::default();
        let model = LinearClassifierConfig::new([1, 2, 2], 3).init(&device);
        let x = Tensor::<2>::from_data([[0.5f32, -1.0, 2.0, 0.25]], &device);
        let scores: Vec<f32> = model
            .forward(x.clone())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let w: Vec<f32> = model.weights().into_data().try_into_vec::<f32>().unwrap();
        let b: Vec<f32> = model
            .bias()
            .unwrap()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let xs: Vec<f32> = x.into_data().try_into_vec::<f32>().unwrap();
        for k in 0..3 {
            let expected: f32 = (0..4).map(|j| w[k * 4 + j] * xs[j]).sum::<f32>() + b[k];
            assert!((scores[k] - expected).abs() < 1e-5, "class {k}");
        }
    }

    #[test]
    fn zeros_init_and_no_bias() {
        let device = Device::default();
        let mut cfg = LinearClassifierConfig::new([1, 3, 3], 4);
        cfg.init = Init::Zeros;
        cfg.bias = false;
        let model = cfg.init(&device);
        assert!(model.bias().is_none());
        let sum: f32 = model.weights().abs().sum().into_scalar();
        assert_eq!(sum, 0.0);
    }
}
