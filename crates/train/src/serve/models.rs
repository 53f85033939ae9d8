//! The runs a server holds, each named by its directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use burn::prelude::Device;
use serde::Serialize;

use crate::infer::classifier::Classifier;

/// One run as served.
pub(crate) struct Served {
    /// The run's name in URLs: its directory's name.
    pub name: String,
    pub classifier: Classifier,
}

impl Served {
    /// What the page and `GET /v1/models` say of the run.
    pub(crate) fn summary(&self) -> Summary {
        let info = self.classifier.info();
        let [c, h, w] = self.classifier.input_shape();
        Summary {
            name: self.name.clone(),
            dataset: info.config.data.source.name().to_owned(),
            input_shape: [c, h, w],
            classes: self.classifier.classes().to_vec(),
            digits: self.classifier.inputs().digits(),
        }
    }
}

/// A run as `GET /v1/models` lists it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub name: String,
    /// The dataset it was trained on (`data.source`).
    pub dataset: String,
    /// [channels, height, width] of its input.
    pub input_shape: [usize; 3],
    pub classes: Vec<String>,
    /// Trained on MNIST's digits: drawn digits are prepared as MNIST's were by default.
    pub digits: bool,
}

/// The runs served, by name.
pub(crate) struct Models {
    by_name: BTreeMap<String, Arc<Served>>,
}

impl Models {
    /// Loads the run directories `runs` onto `device`.
    ///
    /// Errors: a run cannot be loaded, has a name no URL can carry, or two have the same name.
    pub(crate) fn load(runs: &[PathBuf], device: &Device) -> Result<Self> {
        let mut by_name = BTreeMap::new();
        for run in runs {
            let name = name_of(run)?;
            let classifier = Classifier::load(run, device)?;
            let served = Served {
                name: name.clone(),
                classifier,
            };
            if let Some(other) = by_name.insert(name.clone(), (run.clone(), Arc::new(served))) {
                bail!(
                    "{} and {} are both named {name:?}: runs are served by their directory's name; give them directories of different names",
                    other.0.display(),
                    run.display()
                );
            }
        }
        let by_name = by_name.into_iter().map(|(k, (_, s))| (k, s)).collect();
        Ok(Self { by_name })
    }

    /// The run named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Served>> {
        self.by_name.get(name).cloned()
    }

    /// Every run, by name.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Served>> {
        self.by_name.values()
    }
}

/// A run's name: its directory's name (of the path as given, or as resolved for `.`).
pub(crate) fn name_of(run: &Path) -> Result<String> {
    let resolved = run.canonicalize().unwrap_or_else(|_| run.to_path_buf());
    let Some(name) = resolved.file_name().and_then(|n| n.to_str()) else {
        bail!(
            "{}: a run directory needs a name in UTF-8 to be served",
            run.display()
        );
    };
    if name.contains(['/', '?', '#', '%']) {
        bail!(
            "{}: a run served over HTTP needs a name without / ? # %",
            run.display()
        );
    }
    Ok(name.to_owned())
}
