//! Burn's view of an image set: a `Dataset` of indices into a shared `ImageSet`, and a
//! `Batcher` that turns a list of indices into one [B, D] f32 tensor and one [B] label tensor.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

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

/// How many images ahead `host_batch` asks for pixels to be loaded into the caches.
const PREFETCH_IMAGES: usize = 4;

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
        self.host_batch_flipped(indices, &[])
    }

    /// As `host_batch`, with image `k` mirrored left-right where `flips[k]` is true (missing
    /// entries: not mirrored).
    pub fn host_batch_flipped(&self, indices: &[usize], flips: &[bool]) -> (Vec<f32>, Vec<i64>) {
        let mut pixels = Vec::with_capacity(indices.len() * self.set.dim());
        let width = self.set.shape()[2].max(1);
        let mut mirrored = Vec::new();
        for (k, &i) in indices.iter().enumerate() {
            if let Some(&ahead) = indices.get(k + PREFETCH_IMAGES) {
                self.set.prefetch(ahead);
            }
            let image = self.set.image(i);
            if flips.get(k).copied().unwrap_or(false) {
                mirrored.clear();
                mirrored.extend(image.chunks_exact(width).flat_map(|row| row.iter().rev()));
                Normalization::extend(&self.affine, &mirrored, &mut pixels);
            } else {
                Normalization::extend(&self.affine, image, &mut pixels);
            }
        }
        let labels = indices.iter().map(|&i| self.set.label(i) as i64).collect();
        (pixels, labels)
    }

    /// The tensors of a batch built by `host_batch`.
    pub fn upload(&self, (pixels, labels): (Vec<f32>, Vec<i64>), device: &Device) -> ImageBatch {
        let b = labels.len();
        ImageBatch {
            images: Tensor::from_data(TensorData::new(pixels, [b, self.set.dim()]), device),
            targets: Tensor::from_data(TensorData::new(labels, [b]), device),
        }
    }
}

impl Batcher<usize, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<usize>, device: &Device) -> ImageBatch {
        self.upload(self.host_batch(&items), device)
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
    /// Seed of the random left-right flips, when training images are flipped.
    flip: Option<u64>,
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
            flip: None,
            epochs: Arc::new(AtomicUsize::new(0)),
            device,
        }
    }

    /// Continues after `done` finished epochs.
    pub fn resume_after(self, done: usize) -> Self {
        self.epochs.store(done, Ordering::SeqCst);
        self
    }

    /// Mirrors each image left-right with probability 1/2, drawn anew every epoch from `seed`
    /// and the epoch number (so a resumed run flips the same images as an uninterrupted one).
    pub fn with_random_flip(mut self, seed: u64) -> Self {
        self.flip = Some(seed);
        self
    }

    /// Which items of epoch `epoch`'s order are mirrored (empty: none).
    pub fn flips(&self, epoch: usize) -> Vec<bool> {
        let Some(seed) = self.flip else {
            return Vec::new();
        };
        let stream = !seed ^ (epoch as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mut rng = SplitMix64::new(stream);
        (0..self.indices.len())
            .map(|_| rng.next_u64() >> 63 == 1)
            .collect()
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

/// Batches built ahead on a thread of their own, so that turning u8 pixels into f32 inputs
/// overlaps with the training step on the caller's thread (the matrix products of a model this
/// small run on one core). The thread stops when the iterator is dropped.
struct EpochIter {
    batcher: ImageBatcher,
    device: Device,
    source: BatchSource,
    position: usize,
    total: usize,
}

enum BatchSource {
    Worker {
        batches: Option<mpsc::Receiver<(Vec<f32>, Vec<i64>)>>,
        worker: Option<thread::JoinHandle<()>>,
    },
    /// No thread could be started: each batch is built when it is asked for.
    Inline {
        order: Vec<usize>,
        flips: Vec<bool>,
        batch_size: usize,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("the batch builder stopped after {done} of {total} images")]
struct BuilderStopped {
    done: usize,
    total: usize,
}

/// Batches waiting to be taken: enough to absorb jitter, few enough to keep memory flat.
const PREFETCH: usize = 2;

impl EpochIter {
    fn new(loader: &EpochLoader, order: Vec<usize>, flips: Vec<bool>) -> Self {
        let (sender, batches) = mpsc::sync_channel(PREFETCH);
        let batcher = loader.batcher.clone();
        let batch_size = loader.batch_size;
        let total = order.len();
        let shared: Arc<[usize]> = order.into();
        let shared_flips: Arc<[bool]> = flips.into();
        let (items, item_flips) = (shared.clone(), shared_flips.clone());
        let source = match thread::Builder::new()
            .name("batches".into())
            .spawn(move || {
                for (n, chunk) in items.chunks(batch_size).enumerate() {
                    let flips = item_flips.get(n * batch_size..).unwrap_or(&[]);
                    if sender
                        .send(batcher.host_batch_flipped(chunk, flips))
                        .is_err()
                    {
                        break;
                    }
                }
            }) {
            Ok(worker) => BatchSource::Worker {
                batches: Some(batches),
                worker: Some(worker),
            },
            Err(_) => BatchSource::Inline {
                order: shared.to_vec(),
                flips: shared_flips.to_vec(),
                batch_size,
            },
        };
        Self {
            batcher: loader.batcher.clone(),
            device: loader.device.clone(),
            source,
            position: 0,
            total,
        }
    }
}

impl Iterator for EpochIter {
    type Item = Result<ImageBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let host = match &mut self.source {
            BatchSource::Worker { batches, worker } => match batches.as_ref()?.recv() {
                Ok(host) => host,
                Err(_) if self.position < self.total => {
                    // The builder ended before the epoch did: only a panic does that.
                    *batches = None;
                    if let Some(worker) = worker.take() {
                        let _ = worker.join();
                    }
                    return Some(Err(DatasetError::new(BuilderStopped {
                        done: self.position,
                        total: self.total,
                    })));
                }
                Err(_) => return None,
            },
            BatchSource::Inline {
                order,
                flips,
                batch_size,
            } => {
                let rest = order.get(self.position..).filter(|r| !r.is_empty())?;
                let flips = flips.get(self.position..).unwrap_or(&[]);
                self.batcher
                    .host_batch_flipped(&rest[..rest.len().min(*batch_size)], flips)
            }
        };
        self.position += host.1.len();
        Some(Ok(self.batcher.upload(host, &self.device)))
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        if let BatchSource::Worker { batches, worker } = &mut self.source {
            // Closing the channel first makes a worker blocked on a full channel give up.
            *batches = None;
            if let Some(worker) = worker.take() {
                let _ = worker.join();
            }
        }
    }
}

impl DataLoaderIterator<ImageBatch> for EpochIter {
    fn progress(&self) -> Progress {
        Progress::new(self.position, self.total, Some("items".to_string()))
    }
}

impl DataLoader<ImageBatch> for EpochLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<ImageBatch> + 'a> {
        let epoch = self.epochs.fetch_add(1, Ordering::SeqCst);
        Box::new(EpochIter::new(self, self.order(epoch), self.flips(epoch)))
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
