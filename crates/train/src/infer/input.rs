//! How a picture becomes the model's input: converted to the run's shape (alpha flattened onto
//! paper, resized, grayscale or RGB), optionally inverted, and, for a run on MNIST's digits, prepared
//! as MNIST's digits were (`linclass_data::prepare`), which a linear model needs to read a digit
//! drawn or photographed by hand.

use std::path::Path;

use anyhow::{Result, bail};
use image::DynamicImage;
use linclass_data::DatasetKind;
use linclass_data::decode::{convert_image, decode_bytes, decode_image, flatten_alpha};
use linclass_data::prepare::{
    MNIST_SIDE, decode_digit, has_light_background, open_digit, prepare_digit,
};
use serde::Serialize;

use crate::run::info::RunInfo;

/// How a picture is brought to the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Preparation {
    /// `digit` for a run on MNIST's digits unless the picture already looks like an MNIST
    /// image (28 × 28 on a dark background); else `none`.
    #[default]
    Auto,
    /// Resized to the model's input as it is.
    None,
    /// Prepared as MNIST's digits were: light background inverted, contrast stretched, cropped
    /// to the ink, strokes brought to MNIST's width, fitted into 20 × 20, centred by mass in
    /// 28 × 28.
    Digit,
}

/// A picture as the model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// [channels, height, width] u8 in the run's shape, channel-major.
    pub pixels: Vec<u8>,
    /// What was done besides converting it (and inverting it when asked), in a few words each.
    pub prepared: Vec<String>,
}

/// The settings that turn pictures into inputs of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inputs {
    shape: [usize; 3],
    pub(crate) invert: bool,
    preparation: Preparation,
    /// The run was trained on MNIST's digits (`digit` preparation applies).
    digits: bool,
}

impl Inputs {
    /// The inputs of the run `info`: [`Preparation::Auto`], not inverted.
    pub(crate) fn auto(info: &RunInfo) -> Self {
        let shape = info.model.input_shape;
        let digit_names = (0..10)
            .map(|d| d.to_string())
            .eq(info.classes.iter().cloned());
        let from_mnist = info.config.data.source == DatasetKind::Mnist || digit_names;
        Self {
            shape,
            invert: false,
            preparation: Preparation::Auto,
            digits: shape == [1, MNIST_SIDE, MNIST_SIDE] && from_mnist,
        }
    }

    /// These inputs with `preparation`.
    ///
    /// Errors: `digit` preparation asked of a run whose input is not one channel of 28 × 28.
    pub(crate) fn with(self, preparation: Preparation) -> Result<Self> {
        if preparation == Preparation::Digit && self.shape != [1, MNIST_SIDE, MNIST_SIDE] {
            let [c, h, w] = self.shape;
            bail!(
                "--prepare digit makes 1×28×28 inputs as MNIST's, and this run's input is {c}×{h}×{w}: use --prepare none"
            );
        }
        Ok(Self {
            preparation,
            ..self
        })
    }

    /// Whether the run was trained on MNIST's digits (`auto` prepares pictures as digits).
    pub(crate) fn digits(&self) -> bool {
        self.digits
    }

    /// Whether pictures may be prepared as digits: always with `digit`, for a digit run with
    /// `auto`.
    fn may_prepare(&self) -> bool {
        match self.preparation {
            Preparation::None => false,
            Preparation::Digit => true,
            Preparation::Auto => self.digits,
        }
    }

    /// A picture as the model reads it.
    pub(crate) fn of_image(&self, image: &DynamicImage) -> Input {
        if !self.may_prepare() {
            return self.inverted(convert_image(image, self.shape));
        }
        let mut img = flatten_alpha(image.clone());
        if self.invert {
            img.invert();
        }
        // `auto` leaves what already looks like an MNIST image: 28 × 28 on a dark background.
        let side = MNIST_SIDE as u32;
        let mnist_like = (img.width(), img.height()) == (side, side) && !has_light_background(&img);
        if self.preparation == Preparation::Auto && mnist_like {
            return self.inverted(convert_image(image, self.shape));
        }
        let digit = prepare_digit(img);
        Input {
            pixels: digit.pixels,
            prepared: digit.steps,
        }
    }

    /// An image file as the model reads it (decoded as a viewer shows it: EXIF orientation
    /// applied, large JPEGs at a reduced scale).
    ///
    /// Errors: the file is a folder, or cannot be read or decoded.
    pub(crate) fn of_file(&self, file: &Path) -> Result<Input> {
        if file.is_dir() {
            bail!(
                "{} is a folder: predict takes image files, e.g. {}",
                file.display(),
                file.join("*.png").display()
            );
        }
        if !self.may_prepare() {
            return Ok(self.inverted(decode_image(file, self.shape)?));
        }
        Ok(self.of_image(&open_digit(file)?))
    }

    /// An encoded image (a file's bytes) as the model reads it, decoded as [`Inputs::of_file`]
    /// decodes a file; `name` names it in errors.
    ///
    /// Errors: not an image of a supported format, or damaged.
    pub(crate) fn of_bytes(&self, bytes: &[u8], name: &Path) -> Result<Input> {
        if !self.may_prepare() {
            return Ok(self.inverted(decode_bytes(bytes, self.shape, name)?));
        }
        Ok(self.of_image(&decode_digit(bytes, name)?))
    }

    fn inverted(&self, mut pixels: Vec<u8>) -> Input {
        if self.invert {
            pixels.iter_mut().for_each(|v| *v = 255 - *v);
        }
        Input {
            pixels,
            prepared: Vec::new(),
        }
    }
}
