//! `data fetch`, `data info` and `data cache`.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use linclass_data::mnist::Split;
use linclass_data::split::train_valid_split;
use linclass_data::{DataSource, DatasetKind, ImageSet};

use crate::cli::args::DataCommand;
use crate::cli::terminal::DownloadBar;
use crate::config::ExperimentConfig;
use crate::datasets::{open_split_cached, source, unlearnable_classes, warn_of_test_split};
use crate::inspect::evaluation::MANY_CLASSES;

pub(crate) fn data(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Cache { clear } => cache(clear),
        DataCommand::Fetch {
            dataset,
            dir,
            mirrors,
            only_mirrors,
        } => fetch(&dataset, dir, mirrors, !only_mirrors),
        DataCommand::Info { config, sets } => info(&config.path(), &sets),
    }
}

/// `data fetch`: downloads a dataset's official files (or from `mirrors` first, or only) into
/// `dir`, then reads both splits once so that a damaged download is reported now.
fn fetch(dataset: &str, dir: Option<PathBuf>, mirrors: Vec<String>, official: bool) -> Result<()> {
    let kind = DatasetKind::parse(dataset)
        .filter(|k| *k != DatasetKind::Folder)
        .ok_or_else(|| {
            anyhow!(
                "unknown dataset '{dataset}': expected mnist, fashion-mnist, cifar10 or cifar100"
            )
        })?;
    if kind.remote_files().is_empty() {
        return Err(anyhow!(
            "{dataset} has no public download address: get its npz files from https://image-net.org/download-images (an account is needed) and set data.dir to their folder"
        ));
    }
    let dir = dir.unwrap_or_else(|| kind.default_dir());
    let mut source = DataSource::new(kind);
    source.dir = dir.clone();
    source.mirrors = mirrors;
    source.official = official;
    source.download = true;
    if source.missing_in(&dir).is_empty() {
        crate::say!("{} is already in {}", kind.name(), dir.display());
        return Ok(());
    }
    source.fetch_into(&dir, &mut DownloadBar::default())?;
    let missing = source.missing_in(&dir);
    if !missing.is_empty() {
        return Err(anyhow!(
            "{}: downloaded, but {} files are still missing",
            dir.display(),
            missing.len()
        ));
    }
    for split in [Split::Train, Split::Test] {
        source.open(split, &mut DownloadBar::default())?;
    }
    crate::say!("{} is ready in {}", kind.name(), dir.display());
    Ok(())
}

/// `data info`: what a config's data section finds.
fn info(config: &Path, sets: &[String]) -> Result<()> {
    let config = ExperimentConfig::load(config, sets)?;
    let (data, seed) = (&config.data, config.train.seed);
    let started = std::time::Instant::now();
    let mut bar = DownloadBar::default();
    let (train, train_cache) = open_split_cached(data, seed, Split::Train, &mut bar)?;
    let (test, test_cache) = open_split_cached(data, seed, Split::Test, &mut bar)?;
    let read_s = started.elapsed().as_secs_f64();
    let split = train_valid_split(train.len(), data.valid_fraction, seed);
    for w in unlearnable_classes(&train, &split, data.valid_fraction) {
        eprintln!("warning: {w}");
    }
    crate::say!("dataset: {}", data.source.name());
    let dir = source(data, seed).resolved_dir();
    // The shipped copy's path is built from the source tree's (`crates/data/../../data`).
    let shown = dir.canonicalize().unwrap_or(dir);
    crate::say!("folder: {}", shown.display());
    if let (Some(a), Some(b)) = (&train_cache, &test_cache) {
        crate::say!("decoded-image cache, training split: {}", a.describe());
        crate::say!("decoded-image cache, test split: {}", b.describe());
    }
    crate::say!("read in {read_s:.2} s");
    crate::say!("image shape (channels, height, width): {:?}", train.shape());
    crate::say!("classes: {}", train.classes().len());
    crate::say!(
        "samples: train {} (of which {} for training, {} for validation), test {}",
        train.len(),
        split.train.len(),
        split.valid.len(),
        test.len()
    );
    let copies = warn_of_test_split(&train, &test);
    crate::say!("test images that are copies of training images: {copies}");
    print_counts(&train, &test);
    Ok(())
}

fn print_counts(train: &ImageSet, test: &ImageSet) {
    let (a, b) = (train.class_counts(), test.class_counts());
    if a.len() > MANY_CLASSES {
        // A thousand rows would bury the rest: the range, and the classes without images.
        let range = |v: &[usize]| {
            let (lo, hi) = (v.iter().min().copied(), v.iter().max().copied());
            format!("{} to {}", lo.unwrap_or(0), hi.unwrap_or(0))
        };
        crate::say!("per class: train {} images, test {}", range(&a), range(&b));
        let empty: Vec<&str> = train
            .classes()
            .iter()
            .enumerate()
            .filter(|&(i, _)| a[i] == 0 || b.get(i).copied().unwrap_or(0) == 0)
            .map(|(_, name)| name.as_str())
            .collect();
        if !empty.is_empty() {
            let shown: Vec<&str> = empty.iter().take(10).copied().collect();
            crate::say!(
                "{} classes have no training or no test images: {}{}",
                empty.len(),
                shown.join(", "),
                if empty.len() > 10 { ", …" } else { "" }
            );
        }
        return;
    }
    let width = train
        .classes()
        .iter()
        .map(|c| c.len())
        .max()
        .unwrap_or(5)
        .max(5);
    crate::say!(
        "per class:  {:<width$}  {:>7}  {:>7}",
        "class",
        "train",
        "test"
    );
    for (i, name) in train.classes().iter().enumerate() {
        crate::say!(
            "  {i:>3}      {name:<width$}  {:>7}  {:>7}",
            a[i],
            b.get(i).copied().unwrap_or(0)
        );
    }
}

/// `data cache`: lists the decoded-image cache files with their images and sizes; `clear`
/// removes them. A command that has one mapped keeps reading it (the file goes when it ends).
fn cache(clear: bool) -> Result<()> {
    let dir = linclass_data::cache::cache_dir()
        .ok_or_else(|| anyhow!(linclass_data::cache::NO_CACHE_DIR))?;
    let files = linclass_data::cache::list(&dir)?;
    let mb = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    if clear {
        for f in &files {
            std::fs::remove_file(&f.path)
                .map_err(|e| anyhow!("cannot remove {}: {e}", f.path.display()))?;
        }
        crate::say!(
            "removed {} cache file(s), {:.1} MB, from {}",
            files.len(),
            mb(total),
            dir.display()
        );
        return Ok(());
    }
    crate::say!("cache folder: {}", dir.display());
    for f in &files {
        let [c, h, w] = f.shape;
        crate::say!(
            "  {}  {} images of {c}×{h}×{w}, {:.1} MB",
            f.path.file_name().unwrap_or_default().to_string_lossy(),
            f.images,
            mb(f.bytes)
        );
        let source = f.source.as_deref();
        crate::say!(
            "      from {}",
            source.unwrap_or("an unrecorded source (an older cache format: never read again)")
        );
    }
    crate::say!(
        "{} cache file(s), {:.1} MB (`linclass data cache --clear` removes them)",
        files.len(),
        mb(total)
    );
    Ok(())
}
