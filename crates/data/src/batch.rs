//! Burn's view of an image set: a `Dataset` of indices into a shared `ImageSet`, and a
//! `Batcher` that turns a list of indices into one [B, D] f32 tensor and one [B] label tensor.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::*;

use crate::image_set::ImageSet;
use crate::normalize::Normalization;
use crate::split::SplitMix64;

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
    affine: Arc<Vec<(f32, f32)>>,
}

impl ImageBatcher {
    pub fn new(set: Arc<ImageSet>, normalization: &Normalization) -> Self {
        Self {
            affine: Arc::new(normalization.affine()),
            set,
        }
    }

    /// The normalized pixels and labels of `indices`, as flat host buffers.
    pub fn host_batch(&self, indices: &[usize]) -> (Vec<f32>, Vec<i64>) {
        let dim = self.set.dim();
        let mut pixels = vec![0f32; indices.len() * dim];
        for (&i, out) in indices.iter().zip(pixels.chunks_exact_mut(dim)) {
            Normalization::apply(&self.affine, self.set.image(i), out);
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

/// A data loader whose shuffling depends only on the seed and the epoch number, not on how
/// many epochs this process has run: a run resumed at epoch k sees the same batches as an
/// uninterrupted one. Each call to `iter` is one epoch.
#[derive(Clone)]
pub struct EpochLoader {
    batcher: ImageBatcher,
    indices: Arc<[u32]>,
    batch_size: usize,
    shuffle: Option<u64>,
    /// Epochs started so far (shared by copies moved to other devices).
    epochs: Arc<AtomicUsize>,
    device: Device,
}

impl EpochLoader {
    pub fn new(
        batcher: ImageBatcher,
        indices: impl Into<Arc<[u32]>>,
        batch_size: usize,
        shuffle: Option<u64>,
        device: Device,
    ) -> Self {
        Self {
            batcher,
            indices: indices.into(),
            batch_size: batch_size.max(1),
            shuffle,
            epochs: Arc::new(AtomicUsize::new(0)),
            device,
        }
    }

    /// Continues after `done` finished epochs.
    pub fn resume_after(self, done: usize) -> Self {
        self.epochs.store(done, Ordering::SeqCst);
        self
    }

    /// The order of the items in epoch `epoch` (0-based).
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = self.indices.iter().map(|&i| i as usize).collect();
        if let Some(seed) = self.shuffle {
            let stream = seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            SplitMix64::new(stream).shuffle(&mut order);
        }
        order
    }
}

struct EpochIter<'a> {
    loader: &'a EpochLoader,
    order: Vec<usize>,
    position: usize,
}

impl Iterator for EpochIter<'_> {
    type Item = Result<ImageBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.order.len() {
            return None;
        }
        let end = (self.position + self.loader.batch_size).min(self.order.len());
        let items = self.order[self.position..end].to_vec();
        self.position = end;
        Some(Ok(self.loader.batcher.batch(items, &self.loader.device)))
    }
}

impl DataLoaderIterator<ImageBatch> for EpochIter<'_> {
    fn progress(&self) -> Progress {
        Progress::new(self.position, self.order.len(), Some("items".to_string()))
    }
}

impl DataLoader<ImageBatch> for EpochLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<ImageBatch> + 'a> {
        let epoch = self.epochs.fetch_add(1, Ordering::SeqCst);
        Box::new(EpochIter {
            loader: self,
            order: self.order(epoch),
            position: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.indices.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<ImageBatch>> {
        let mut copy = self.clone();
        copy.device = device.clone();
        Arc::new(copy)
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<ImageBatch>> {
        let mut copy = self.clone();
        let end = end.min(self.indices.len());
        copy.indices = self.indices[start.min(end)..end].into();
        Arc::new(copy)
    }
}
