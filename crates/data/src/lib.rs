//! Image datasets for linear classifiers: format readers (IDX, CIFAR binary, image folders)
//! that all fill one in-memory [`ImageSet`] of u8 pixels, verified downloads of the official
//! archives, a seeded train/valid split, normalization, and the Burn `Dataset` + `Batcher`
//! that feed training.

#[cfg(feature = "burn")]
pub mod batch;
pub mod cache;
pub mod cifar;
pub mod decode;
pub mod downsampled;
pub mod duplicates;
pub mod error;
pub mod fetch;
pub mod folder;
pub mod idx;
pub mod image_set;
pub mod imagenet;
pub mod mnist;
pub mod normalize;
pub mod official;
pub mod prepare;
pub mod source;
pub mod split;
pub mod synthetic;

#[cfg(feature = "burn")]
pub use batch::{EpochLoader, ImageBatch, ImageBatcher, ImageDataset};
pub use error::{DataError, Result};
pub use image_set::ImageSet;
pub use normalize::Normalization;
pub use source::{DataSource, DatasetKind, Opened};
