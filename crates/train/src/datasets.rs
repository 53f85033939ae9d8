//! From the `[data]` section to image sets: which files, which split, which normalization.

use std::path::Path;

use anyhow::Result;
use linclass_data::mnist::{self, Split};
use linclass_data::split::{TrainValid, train_valid_split};
use linclass_data::{ImageSet, Normalization};

use crate::config::{DataConfig, NormalizeKind, Source};

/// Reads one official split of the configured dataset, cut to the configured limit.
pub fn open_split(data: &DataConfig, split: Split) -> Result<ImageSet> {
    let set = match data.source {
        Source::Mnist => {
            if data.dir.is_empty() {
                mnist::verify_embedded()?;
                mnist::read_split(Path::new(mnist::EMBEDDED_DIR), split, &mnist::DIGITS)?
            } else {
                mnist::read_split(Path::new(&data.dir), split, &mnist::DIGITS)?
            }
        }
    };
    let limit = match split {
        Split::Train => data.train_limit,
        Split::Test => data.test_limit,
    };
    Ok(if limit > 0 { set.truncated(limit) } else { set })
}

/// The training split, its seeded train/valid partition and the normalization fitted on the
/// training part only.
pub struct TrainingData {
    pub set: ImageSet,
    pub split: TrainValid,
    pub normalization: Normalization,
}

pub fn open_training(data: &DataConfig, seed: u64) -> Result<TrainingData> {
    let set = open_split(data, Split::Train)?;
    let split = train_valid_split(set.len(), data.valid_fraction, seed);
    if split.train.is_empty() || split.valid.is_empty() {
        anyhow::bail!(
            "data.valid_fraction = {} leaves {} training and {} validation images out of {}: both need at least one",
            data.valid_fraction,
            split.train.len(),
            split.valid.len(),
            set.len()
        );
    }
    let normalization = match data.normalize {
        NormalizeKind::Scale => Normalization::scale_only(set.shape()[0]),
        NormalizeKind::Standardize => Normalization::standardize(&set, &split.train),
    };
    Ok(TrainingData {
        set,
        split,
        normalization,
    })
}
