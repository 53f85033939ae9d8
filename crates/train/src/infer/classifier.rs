//! Using a trained run from Rust code: load a run directory once, then classify images held in
//! memory (`image::DynamicImage`, or raw u8 pixels in the model's shape) one at a time or in
//! batches. The run's own conversion (channels, size, alpha flattened onto paper), normalization
//! and class names are applied, so a program gets the same answers as `linclass predict`.
//!
//! ```no_run
//! use linclass::{Backend, Classifier};
//!
//! let device = Backend::default_compiled().device()?;
//! let classifier = Classifier::load("runs/mnist", &device)?;
//! let image = image::open("digit.png")?;
//! let ranked = classifier.classify(&image)?;
//! println!("{} ({:.1}%)", ranked[0].class, 100.0 * ranked[0].probability);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Result, bail};
use burn::prelude::*;
use image::DynamicImage;
use linclass_data::normalize::Normalization;
use linclass_model::LinearClassifier;
use serde::Serialize;

use crate::infer::evidence::{ClassEvidence, Rows, evidence};
use crate::infer::input::{Input, Inputs, Preparation};
use crate::logits::{softmax, top_classes};
use crate::run::dir::RunDir;
use crate::run::info::RunInfo;

/// Images per forward pass when classifying many.
const CHUNK: usize = 1024;

/// One class of a classification: its name, its index (the label number used in training) and
/// its softmax probability in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// The class name.
    pub class: String,
    /// The class's label number.
    pub index: usize,
    /// Softmax probability in [0, 1].
    pub probability: f64,
}

/// A trained linear classifier with everything needed to feed it: loaded from a run directory.
pub struct Classifier {
    model: LinearClassifier,
    info: RunInfo,
    device: Device,
    inputs: Inputs,
    /// W and b as plain rows, read at the first explanation.
    rows: OnceLock<Rows>,
}

impl Classifier {
    /// Loads the run directory `run` (run.toml and model.bpk, as written by `train`) onto
    /// `device`.
    ///
    /// Errors: `run` is not a run directory, or its files cannot be read or do not match.
    pub fn load(run: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = RunDir::new(run.as_ref());
        let info = dir.load_info()?;
        let model = dir.load_model(&info, device)?;
        Ok(Self::new(model, info, device))
    }

    /// A classifier from a model and the run description it was trained with, preparing
    /// pictures as [`Preparation::Auto`] says.
    pub fn new(model: LinearClassifier, info: RunInfo, device: &Device) -> Self {
        Self {
            inputs: Inputs::auto(&info),
            rows: OnceLock::new(),
            model,
            info,
            device: device.clone(),
        }
    }

    /// Invert images (v → 255 − v) before classifying them: for dark strokes on a light
    /// background when the model was trained on light strokes on black and the picture is not
    /// prepared as a digit (which finds a light background by itself).
    pub fn inverted(mut self, invert: bool) -> Self {
        self.inputs.invert = invert;
        self
    }

    /// How pictures are brought to the model's input (default [`Preparation::Auto`]).
    ///
    /// Errors: [`Preparation::Digit`] for a run whose input is not one channel of 28 × 28.
    pub fn prepared(mut self, preparation: Preparation) -> Result<Self> {
        self.inputs = self.inputs.with(preparation)?;
        Ok(self)
    }

    /// The class names, in label order.
    pub fn classes(&self) -> &[String] {
        &self.info.classes
    }

    /// [channels, height, width] of the model's input.
    pub fn input_shape(&self) -> [usize; 3] {
        self.info.model.input_shape
    }

    /// The per-channel normalization applied to the pixels (as in training).
    pub fn normalization(&self) -> &Normalization {
        &self.info.normalization
    }

    /// The run description (run.toml).
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// The model.
    pub fn model(&self) -> &LinearClassifier {
        &self.model
    }

    /// An image as the model reads it: [channels, height, width], channel-major u8 (alpha flattened
    /// onto paper, resized, grayscale or RGB as the model expects; inverted if set; prepared as a
    /// digit when the preparation says so), and what was done.
    pub fn input(&self, image: &DynamicImage) -> Input {
        self.inputs.of_image(image)
    }

    /// The pixels of [`Classifier::input`].
    pub fn pixels(&self, image: &DynamicImage) -> Vec<u8> {
        self.input(image).pixels
    }

    /// All classes of one image, ranked by probability (best first).
    pub fn classify(&self, image: &DynamicImage) -> Result<Vec<Ranked>> {
        Ok(self.classify_batch(std::slice::from_ref(image))?.remove(0))
    }

    /// All classes of each image, ranked by probability (best first), in the images' order.
    pub fn classify_batch(&self, images: &[DynamicImage]) -> Result<Vec<Vec<Ranked>>> {
        let mut pixels = Vec::with_capacity(images.len() * self.input_dim());
        for image in images {
            pixels.extend(self.pixels(image));
        }
        self.classify_prepared(&pixels)
    }

    /// All classes of each image file (decoded as `predict` does: format from the content, EXIF
    /// orientation applied), ranked by probability.
    ///
    /// Errors: a file cannot be read or decoded (the error names it).
    pub fn classify_files(&self, files: &[impl AsRef<Path>]) -> Result<Vec<Vec<Ranked>>> {
        let mut pixels = Vec::with_capacity(files.len() * self.input_dim());
        for file in files {
            pixels.extend(self.input_file(file.as_ref())?.pixels);
        }
        self.classify_prepared(&pixels)
    }

    /// An image file as the model reads it (decoded as a viewer shows it: EXIF orientation
    /// applied), and what was done; its pixels are what [`Classifier::classify_pixels`] takes.
    ///
    /// Errors: the file is a folder, or cannot be read or decoded.
    pub fn input_file(&self, file: &Path) -> Result<Input> {
        self.inputs.of_file(file)
    }

    /// An encoded image (a file's bytes: format from the content) as the model reads it,
    /// decoded exactly as [`Classifier::input_file`] decodes a file; `name` names it in errors.
    ///
    /// Errors: not an image of a supported format, or damaged.
    pub fn input_bytes(&self, bytes: &[u8], name: &Path) -> Result<Input> {
        self.inputs.of_bytes(bytes, name)
    }

    /// How this classifier turns pictures into inputs (to vary per picture).
    pub(crate) fn inputs(&self) -> Inputs {
        self.inputs
    }

    /// All classes of each image given as raw pixels already in the model's shape: N images of
    /// [channels, height, width] u8 values each, channel-major (N = `pixels.len()` / (C·H·W)).
    /// They are normalized as in training, not inverted.
    ///
    /// Errors: `pixels.len()` is not a multiple of C·H·W.
    pub fn classify_pixels(&self, pixels: &[u8]) -> Result<Vec<Vec<Ranked>>> {
        self.check_len(pixels.len())?;
        self.classify_prepared(pixels)
    }

    /// The class scores (logits) of raw pixels in the model's shape (see
    /// [`Classifier::classify_pixels`]): N × C values, row-major.
    ///
    /// Errors: `pixels.len()` is not a multiple of C·H·W.
    pub fn logits(&self, pixels: &[u8]) -> Result<Vec<f32>> {
        self.check_len(pixels.len())?;
        let affine = self.info.normalization.affine();
        Ok(self.scores(pixels, |image, inputs| {
            Normalization::extend(&affine, image, inputs)
        }))
    }

    /// The class scores of images given as values in [0, 1] (pixels / 255, as torchvision's
    /// `ToTensor` gives them) in the model's shape: N × C values, row-major.
    ///
    /// Errors: `values.len()` is not a multiple of C·H·W.
    pub fn logits_unit(&self, values: &[f32]) -> Result<Vec<f32>> {
        self.check_len(values.len())?;
        let affine = self.info.normalization.affine();
        let plane = self.input_shape()[1] * self.input_shape()[2];
        Ok(self.scores(values, |image, inputs| {
            for (channel, values) in image.chunks(plane).enumerate() {
                let (a, b) = affine[channel];
                inputs.extend(values.iter().map(|v| a * 255.0 * v + b));
            }
        }))
    }

    /// The scores of the images in `values` (C·H·W each), normalized by `normalize` (one image
    /// appended to the buffer), in forward passes of at most [`CHUNK`] images.
    fn scores<T>(&self, values: &[T], normalize: impl Fn(&[T], &mut Vec<f32>)) -> Vec<f32> {
        let dim = self.input_dim();
        let n = values.len() / dim;
        let mut out = Vec::with_capacity(n * self.classes().len());
        let mut inputs = Vec::with_capacity(CHUNK.min(n) * dim);
        for chunk in values.chunks(CHUNK * dim) {
            inputs.clear();
            for image in chunk.chunks_exact(dim) {
                normalize(image, &mut inputs);
            }
            let rows = chunk.len() / dim;
            let x =
                Tensor::<2>::from_data(TensorData::new(inputs.clone(), [rows, dim]), &self.device);
            let scores = self.model.forward(x).into_data().convert::<f32>();
            out.extend_from_slice(scores.as_slice::<f32>().expect("f32 logits"));
        }
        out
    }

    /// Why one image (raw pixels in the model's shape, as [`Classifier::classify_pixels`]
    /// takes them) got its scores: for each class in `classes` (label numbers), its template
    /// W_c, its evidence W_c ⊙ x over the normalized input, and the sum that with the bias
    /// makes its score (see [`ClassEvidence`]).
    ///
    /// Errors: `pixels` is not one image of the model's shape, or a class number is out of
    /// range.
    pub fn explain(&self, pixels: &[u8], classes: &[usize]) -> Result<Vec<ClassEvidence>> {
        let dim = self.input_dim();
        let names = self.classes();
        if pixels.len() != dim {
            bail!("expected one image of {dim} values, got {}", pixels.len());
        }
        if let Some(&bad) = classes.iter().find(|&&c| c >= names.len()) {
            bail!(
                "class {bad} does not exist: the model has classes 0 to {}",
                names.len() - 1
            );
        }
        let scores = self.logits(pixels)?;
        let mut x = Vec::with_capacity(dim);
        Normalization::extend(&self.info.normalization.affine(), pixels, &mut x);
        let rows = self.rows.get_or_init(|| Rows::of(&self.model));
        Ok(evidence(rows, &x, &scores, names, classes))
    }

    fn input_dim(&self) -> usize {
        self.input_shape().iter().product()
    }

    fn check_len(&self, len: usize) -> Result<()> {
        let dim = self.input_dim();
        if !len.is_multiple_of(dim) {
            let [c, h, w] = self.input_shape();
            bail!(
                "{len} pixel values are not whole images of {c}×{h}×{w} = {dim} values (channel-major u8)"
            );
        }
        Ok(())
    }

    fn classify_prepared(&self, pixels: &[u8]) -> Result<Vec<Vec<Ranked>>> {
        let scores = self.logits(pixels)?;
        let c = self.classes().len();
        Ok(scores.chunks_exact(c).map(|row| self.rank(row)).collect())
    }

    fn rank(&self, scores: &[f32]) -> Vec<Ranked> {
        let probs = softmax(scores);
        top_classes(scores, scores.len())
            .into_iter()
            .map(|i| Ranked {
                class: self.info.classes[i].clone(),
                index: i,
                probability: probs[i],
            })
            .collect()
    }
}
