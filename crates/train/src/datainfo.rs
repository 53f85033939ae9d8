//! `data fetch` and `data info`.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use linclass_data::mnist::Split;
use linclass_data::split::train_valid_split;
use linclass_data::{DataSource, DatasetKind, ImageSet};

use crate::config::ExperimentConfig;
use crate::datasets::{open_split, source};
use crate::progress::DownloadBar;

pub enum DataAction {
    Fetch {
        dataset: String,
        dir: Option<PathBuf>,
        mirrors: Vec<String>,
        official: bool,
    },
    Info {
        config: PathBuf,
        sets: Vec<String>,
    },
}

pub fn run(action: DataAction) -> Result<()> {
    match action {
        DataAction::Fetch {
            dataset,
            dir,
            mirrors,
            official,
        } => {
            let kind = DatasetKind::parse(&dataset)
                .filter(|k| *k != DatasetKind::Folder)
                .ok_or_else(|| {
                    anyhow!(
                        "unknown dataset '{dataset}': expected mnist, fashion-mnist, cifar10 or cifar100"
                    )
                })?;
            let dir = dir.unwrap_or_else(|| kind.default_dir());
            let mut source = DataSource::new(kind);
            source.dir = dir.clone();
            source.mirrors = mirrors;
            source.official = official;
            source.download = true;
            if source.missing_in(&dir).is_empty() {
                println!("{} is already in {}", kind.name(), dir.display());
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
            // Read both splits once so that a damaged download is reported now.
            for split in [Split::Train, Split::Test] {
                source.open(split, &mut DownloadBar::default())?;
            }
            println!("{} is ready in {}", kind.name(), dir.display());
            Ok(())
        }
        DataAction::Info { config, sets } => {
            let config = ExperimentConfig::load(&config, &sets)?;
            let seed = config.train.seed;
            let src = source(&config.data, seed);
            let train = open_split(&config.data, seed, Split::Train)?;
            let test = open_split(&config.data, seed, Split::Test)?;
            let split = train_valid_split(train.len(), config.data.valid_fraction, seed);
            println!("dataset: {}", config.data.source.name());
            println!("folder: {}", src.resolved_dir().display());
            println!("image shape (channels, height, width): {:?}", train.shape());
            println!("classes: {}", train.classes().len());
            println!(
                "samples: train {} (of which {} for training, {} for validation), test {}",
                train.len(),
                split.train.len(),
                split.valid.len(),
                test.len()
            );
            print_counts(&train, &test);
            Ok(())
        }
    }
}

fn print_counts(train: &ImageSet, test: &ImageSet) {
    let width = train
        .classes()
        .iter()
        .map(|c| c.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "per class:  {:<width$}  {:>7}  {:>7}",
        "class", "train", "test"
    );
    let (a, b) = (train.class_counts(), test.class_counts());
    for (i, name) in train.classes().iter().enumerate() {
        println!(
            "  {i:>3}      {name:<width$}  {:>7}  {:>7}",
            a[i],
            b.get(i).copied().unwrap_or(0)
        );
    }
}
