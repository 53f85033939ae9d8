//! Image datasets for linear classifiers: format readers that all fill one in-memory
//! [`ImageSet`] of u8 pixels, a seeded train/valid split, normalization, and the Burn
//! `Dataset` + `Batcher` that feed training.

pub mod batch;
pub mod error;
pub mod idx;
pub mod image_set;
pub mod mnist;
pub mod normalize;
pub mod split;

pub use batch::{ImageBatch, ImageBatcher, ImageDataset};
pub use error::{DataError, Result};
pub use image_set::ImageSet;
pub use normalize::Normalization;
