//! From the `[data]` section to image sets: which files, which split, which normalization.

use std::path::PathBuf;

use anyhow::Result;
use linclass_data::duplicates::{copies_across, describe_copies};
use linclass_data::fetch::FetchProgress;
use linclass_data::folder::CacheStatus;
use linclass_data::mnist::Split;
use linclass_data::split::{TrainValid, train_valid_split};
use linclass_data::{DataSource, DatasetKind, ImageSet, Normalization, Opened};

use crate::config::{DataConfig, NormalizeKind};

/// The data crate's description of the configured dataset.
pub(crate) fn source(data: &DataConfig, seed: u64) -> DataSource {
    DataSource {
        kind: data.source,
        dir: PathBuf::from(&data.dir),
        label: data.label,
        folder: data.folder.clone(),
        download: data.download,
        mirrors: data.mirrors.clone(),
        official: true,
        seed,
        subset: data.subset,
    }
}

/// Reads one official split of the configured dataset, cut to the configured limit; a download
/// (`data.download`) reports to `progress`. What the reader warns about (files of a folder not
/// read, sums that differ from the official ones) is printed on stderr.
pub(crate) fn open_split(
    data: &DataConfig,
    seed: u64,
    split: Split,
    progress: &mut dyn FetchProgress,
) -> Result<ImageSet> {
    Ok(open_split_cached(data, seed, split, progress)?.0)
}

/// [`open_split`], also saying what the decoded-image cache did (image folders).
pub(crate) fn open_split_cached(
    data: &DataConfig,
    seed: u64,
    split: Split,
    progress: &mut dyn FetchProgress,
) -> Result<(ImageSet, Option<CacheStatus>)> {
    let Opened {
        set,
        warnings,
        cache,
    } = source(data, seed).open(split, progress)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let limit = match split {
        Split::Train => data.train_limit,
        Split::Test => data.test_limit,
    };
    let set = match (limit, data.source) {
        (0, _) => set,
        // Folders are read class by class: the first N would be the first classes only.
        (n, DatasetKind::Folder) => set.sampled_evenly(n, seed),
        (n, _) => set.truncated(n),
    };
    Ok((set, cache))
}

/// The training split, its seeded train/valid partition and the normalization fitted on the
/// training part only.
pub(crate) struct TrainingData {
    /// The whole training split.
    pub set: ImageSet,
    /// Its seeded partition into training and validation parts.
    pub split: TrainValid,
    /// Fitted on the training part only.
    pub normalization: Normalization,
    /// What the test split holds, once it was checked.
    pub test: Option<TestCheck>,
}

/// Opens the training split, splits it (seeded) and fits the normalization on its training part.
///
/// Errors: the split cannot be read, has fewer than 2 classes, or `data.valid_fraction` leaves
/// one part empty.
pub(crate) fn open_training(
    data: &DataConfig,
    seed: u64,
    progress: &mut dyn FetchProgress,
) -> Result<TrainingData> {
    let set = open_split(data, seed, Split::Train, progress)?;
    if set.classes().len() < 2 {
        anyhow::bail!(
            "the training data has {} class ({}): a classifier needs at least 2",
            set.classes().len(),
            set.classes().join(", ")
        );
    }
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
    for w in unlearnable_classes(&set, &split, data.valid_fraction) {
        eprintln!("warning: {w}");
    }
    let normalization = match data.normalize {
        NormalizeKind::Scale => Normalization::scale_only(set.shape()[0]),
        NormalizeKind::Standardize => Normalization::standardize(&set, &split.train),
    };
    Ok(TrainingData {
        set,
        split,
        normalization,
        test: None,
    })
}

/// Classes the model cannot learn because none of their images is in the training part: none in
/// the training split at all, or all of them taken for validation. One line per kind.
pub(crate) fn unlearnable_classes(
    set: &ImageSet,
    split: &TrainValid,
    valid_fraction: f64,
) -> Vec<String> {
    let mut in_training = vec![0usize; set.classes().len()];
    for &i in &split.train {
        in_training[set.label(i as usize)] += 1;
    }
    let in_split = set.class_counts();
    let names = |keep: &dyn Fn(usize) -> bool| -> Option<String> {
        let chosen: Vec<&str> = (0..in_training.len())
            .filter(|&c| in_training[c] == 0 && keep(c))
            .map(|c| set.classes()[c].as_str())
            .collect();
        (!chosen.is_empty()).then(|| {
            let shown: Vec<&str> = chosen.iter().take(10).copied().collect();
            let more = if chosen.len() > 10 { ", …" } else { "" };
            format!("{} ({}){more}", shown.join(", "), chosen.len())
        })
    };
    let mut lines = Vec::new();
    if let Some(list) = names(&|c| in_split[c] == 0) {
        lines.push(format!(
            "no training image of class(es) {list}: the training split has none, so the model cannot learn them"
        ));
    }
    if let Some(list) = names(&|c| in_split[c] > 0) {
        lines.push(format!(
            "every training image of class(es) {list} went to validation (data.valid_fraction = {valid_fraction}): the model cannot learn them"
        ));
    }
    lines
}

/// What training found in the test split.
pub(crate) struct TestCheck {
    /// Test images that are exact copies of training images.
    pub copies: usize,
    /// The test split's [`ImageSet::fingerprint`].
    pub fingerprint: String,
}

/// Reads the test split once, so that a damaged or cut test file is found before the first
/// epoch rather than by `eval` after the last; checks that it has the training split's image
/// shape and classes, and warns of what its figures would hide (see [`warn_of_test_split`]).
pub(crate) fn check_test_split(
    data: &DataConfig,
    seed: u64,
    train: &ImageSet,
    progress: &mut dyn FetchProgress,
) -> Result<TestCheck> {
    let test = open_split(data, seed, Split::Test, progress)?;
    if test.shape() != train.shape() || test.classes() != train.classes() {
        anyhow::bail!(
            "the test split ({} classes of shape {:?}) does not match the training split ({} classes of shape {:?})",
            test.classes().len(),
            test.shape(),
            train.classes().len(),
            train.shape()
        );
    }
    Ok(TestCheck {
        copies: warn_of_test_split(train, &test),
        fingerprint: test.fingerprint(),
    })
}

/// Warns (stderr) of what the test figures would hide: test images that are exact copies of
/// training images (returns how many), and classes without a test image.
pub(crate) fn warn_of_test_split(train: &ImageSet, test: &ImageSet) -> usize {
    let copies = copies_across(train, test);
    if let Some(line) = describe_copies(&copies, train, test, 3) {
        eprintln!("warning: {line} (only exact copies are found, not re-encoded or resized ones)");
    }
    let counts = test.class_counts();
    let missing: Vec<&str> = (test.classes().iter())
        .zip(&counts)
        .filter(|(_, n)| **n == 0)
        .map(|(c, _)| c.as_str())
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(10).copied().collect();
        let more = if missing.len() > 10 { ", …" } else { "" };
        eprintln!(
            "warning: no test image of {} class(es): {}{more}: their accuracy cannot be measured",
            missing.len(),
            shown.join(", ")
        );
    }
    copies.len()
}
