//! A run directory: everything inference needs, without the original config.
//!
//! ```text
//! RUN/model.bpk     the trained record (Burn's burnpack format)
//! RUN/run.toml      resolved config, model shape, normalization, class names, data summary
//! RUN/metrics.csv   one row per epoch
//! RUN/checkpoint/   the learner's checkpoints
//! ```
//! Every file is written to a temporary name and renamed into place.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::*;
use burn::store::ModuleRecord;
use linclass_model::{LinearClassifier, LinearClassifierConfig};

use crate::run::aside::{self, Aside};
use crate::run::files::{
    CHECKPOINT_DIR, DERIVED_FILES, INFO_FILE, RECORD_FILE, remove_path, write_atomic,
};
use crate::run::info::RunInfo;

/// A run directory on disk.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory (`output.dir` of the config that trained it).
    pub path: PathBuf,
}

impl RunDir {
    /// The run directory at `path` (nothing is read or created yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The path of the run's file `name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the directory (and parents), failing clearly if it cannot be written; says
    /// whether it did not exist before.
    pub(crate) fn create(&self) -> Result<bool> {
        let existed = self.path.is_dir();
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("cannot create run directory {}", self.path.display()))?;
        let probe = self.path.join(".write-test");
        std::fs::write(&probe, b"")
            .map_err(|e| anyhow!("run directory {} is not writable: {e}", self.path.display()))?;
        let _ = std::fs::remove_file(probe);
        Ok(!existed)
    }

    /// Moves an earlier run's files aside for a new run (see [`aside::set_aside`]).
    pub(crate) fn set_aside(&self, created: bool) -> Result<Aside> {
        aside::set_aside(&self.path, created)
    }

    /// Settles what a killed `train` left (see [`aside::settle_killed_replacement`]).
    pub(crate) fn settle_killed_replacement(&self, drop_earlier: bool) {
        aside::settle_killed_replacement(&self.path, drop_earlier)
    }

    /// Removes what a killed process left half-written (see
    /// [`aside::remove_leftover_temporaries`]).
    pub(crate) fn remove_leftover_temporaries(&self) {
        aside::remove_leftover_temporaries(&self.path)
    }

    /// Writes `run.toml`.
    pub(crate) fn save_info(&self, info: &RunInfo) -> Result<()> {
        let text = toml::to_string_pretty(info)?;
        write_atomic(&self.file(INFO_FILE), text.as_bytes())
    }

    /// Reads `run.toml`, after settling what a killed `train` left.
    ///
    /// Errors: the path is a file or does not exist, or `run.toml` is missing or not a run
    /// description.
    pub fn load_info(&self) -> Result<RunInfo> {
        self.settle_killed_replacement(false);
        if self.path.is_file() {
            bail!(
                "{} is a file, not a run directory: give the folder that `train` wrote (output.dir), holding run.toml and model.bpk",
                self.path.display()
            );
        }
        if !self.path.is_dir() {
            bail!(
                "{}: not a run directory (it does not exist)",
                self.path.display()
            );
        }
        let path = self.file(INFO_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow!(
                "{}: cannot read ({e}); expected the run description written by `train`",
                path.display()
            )
        })?;
        toml::from_str(&text).map_err(|e| {
            anyhow!(
                "{}: {}",
                path.display(),
                e.message().trim().replace('\n', " ")
            )
        })
    }

    /// Writes `model.bpk` (whole or not at all) and removes the files made from the model it
    /// replaces (pictures, report, export), which would no longer describe it.
    pub fn save_model(&self, model: LinearClassifier) -> Result<()> {
        let bytes = model
            .into_record()
            .into_bytes()
            .map_err(|e| anyhow!("cannot encode the model record: {e}"))?;
        let path = self.file(RECORD_FILE);
        if std::fs::read(&path).is_ok_and(|old| *old == *bytes) {
            return Ok(()); // the same model: its pictures and export still describe it
        }
        // Removed first, so that a process killed in between leaves the old model without
        // them rather than the new one beside pictures of the old.
        for name in DERIVED_FILES {
            remove_path(&self.file(name));
        }
        write_atomic(&path, &bytes)
    }

    /// Loads the model described by `info` on `device`.
    pub fn load_model(&self, info: &RunInfo, device: &Device) -> Result<LinearClassifier> {
        load_record(&self.file(RECORD_FILE), &info.model, device)
    }
}

/// Loads a record file into a fresh model of the given shape.
pub fn load_record(
    path: &Path,
    config: &LinearClassifierConfig,
    device: &Device,
) -> Result<LinearClassifier> {
    if !path.is_file() {
        let run = path.parent().unwrap_or(Path::new("."));
        let checkpoints = std::fs::read_dir(run.join(CHECKPOINT_DIR)).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("model-")))
        });
        if checkpoints {
            // The run a killed `train` was replacing, if any, waits beside it.
            let aside = std::fs::read_dir(run)
                .ok()
                .and_then(|d| {
                    d.flatten().map(|e| e.path()).find(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(".replaced-"))
                    })
                })
                .map(|p| {
                    format!(
                        " (the run it replaces is kept aside in {} until then)",
                        p.display()
                    )
                })
                .unwrap_or_default();
            bail!(
                "{}: no model record yet: the run was stopped before it kept one; `linclass train --resume {}` continues it from its checkpoints{aside}",
                path.display(),
                run.display()
            );
        }
        bail!(
            "{}: no model record (train a model into this run directory first)",
            path.display()
        );
    }
    let record = ModuleRecord::load(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    config.init(device).try_load_record(record).map_err(|e| {
        anyhow!(
            "{}: record does not fit a {}-class model of input shape {:?}: {e}",
            path.display(),
            config.num_classes,
            config.input_shape
        )
    })
}
