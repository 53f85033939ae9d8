//! Burn's view of an image set: a `Dataset` of indices into a shared `ImageSet`, and a
//! `Batcher` that turns a list of indices into one [B, D] f32 tensor and one [B] label tensor.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::*;

use crate::image_set::ImageSet;
use crate::normalize::Normalization;

/// A subset of an image set, by index. Items are indices into the full set, so that building
/// a batch reads the u8 pixels once, straight into the batch buffer.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    indices: Arc<[u32]>,
}

impl ImageDataset {
    pub fn new(indices: impl Into<Arc<[u32]>>) -> Self {
        Self {
            indices: indices.into(),
        }
    }

    /// Every image of a set of `n`.
    pub fn all(n: usize) -> Self {
        Self::new((0..n as u32).collect::<Vec<_>>())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("index {index} is out of range for a dataset of {len} images")]
struct OutOfRange {
    index: usize,
    len: usize,
}

impl Dataset<usize> for ImageDataset {
    fn get(&self, index: usize) -> Result<usize, DatasetError> {
        self.indices.get(index).map(|&i| i as usize).ok_or_else(|| {
            DatasetError::new(OutOfRange {
                index,
                len: self.indices.len(),
            })
        })
    }

    fn len(&self) -> usize {
        self.indices.len()
    }
}

/// One batch: normalized, flattened images and their labels.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// [B, C·H·W]
    pub images: Tensor<2>,
    /// [B]
    pub targets: Tensor<1, Int>,
}

/// Builds `ImageBatch`es from indices into a shared image set.
#[derive(Clone)]
pub struct ImageBatcher {
    set: Arc<ImageSet>,
    tables: Arc<Vec<[f32; 256]>>,
}

impl ImageBatcher {
    pub fn new(set: Arc<ImageSet>, normalization: &Normalization) -> Self {
        Self {
            tables: Arc::new(normalization.tables()),
            set,
        }
    }

    /// The normalized pixels and labels of `indices`, as flat host buffers.
    pub fn host_batch(&self, indices: &[usize]) -> (Vec<f32>, Vec<i64>) {
        let dim = self.set.dim();
        let mut pixels = vec![0f32; indices.len() * dim];
        for (&i, out) in indices.iter().zip(pixels.chunks_exact_mut(dim)) {
            Normalization::apply(&self.tables, self.set.image(i), out);
        }
        let labels = indices.iter().map(|&i| self.set.label(i) as i64).collect();
        (pixels, labels)
    }
}

impl Batcher<usize, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<usize>, device: &Device) -> ImageBatch {
        let b = items.len();
        let (pixels, labels) = self.host_batch(&items);
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [b, self.set.dim()]), device),
            targets: Tensor::from_data(TensorData::new(labels, [b]), device),
        }
    }
}
