//! From the `[data]` section to image sets: which files, which split, which normalization.

use std::path::PathBuf;

use anyhow::Result;
use linclass_data::mnist::Split;
use linclass_data::split::{TrainValid, train_valid_split};
use linclass_data::{DataSource, ImageSet, Normalization};

use crate::config::{DataConfig, NormalizeKind};
use crate::progress::DownloadBar;

/// The data crate's description of the configured dataset.
pub fn source(data: &DataConfig, seed: u64) -> DataSource {
    DataSource {
        kind: data.source,
        dir: PathBuf::from(&data.dir),
        label: data.label,
        folder: data.folder.clone(),
        download: data.download,
        mirrors: data.mirrors.clone(),
        official: true,
        seed,
    }
}

/// Reads one official split of the configured dataset, cut to the configured limit. Images of
/// a folder that were skipped as unreadable are reported on stderr.
pub fn open_split(data: &DataConfig, seed: u64, split: Split) -> Result<ImageSet> {
    let (set, skipped) = source(data, seed).open(split, &mut DownloadBar::default())?;
    if !skipped.is_empty() {
        eprintln!(
            "warning: skipped {} unreadable image(s) in the {} split, e.g. {}",
            skipped.len(),
            format!("{split:?}").to_lowercase(),
            skipped[0].display()
        );
    }
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
    let set = open_split(data, seed, Split::Train)?;
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
