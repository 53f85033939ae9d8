//! The run directory: everything inference needs, without the original config.
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
use linclass_data::Normalization;
use linclass_model::{LinearClassifier, LinearClassifierConfig};
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;

pub const RECORD_FILE: &str = "model.bpk";
pub const INFO_FILE: &str = "run.toml";
pub const METRICS_FILE: &str = "metrics.csv";

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that
/// `path` holds either its old content or the whole new one, and flushes it to the disk.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(path, bytes, true)
}

/// `write_atomic` without waiting for the disk: still whole or old if this process dies, which
/// is what a file rewritten every epoch needs (a flush costs more than a whole MNIST epoch).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(path, bytes, false)
}

fn replace_file(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}

/// Every file and folder a run writes, as `set_aside` moves them.
const RUN_FILES: [&str; 12] = [
    RECORD_FILE,
    INFO_FILE,
    METRICS_FILE,
    "curves.png",
    "curves.svg",
    "confusion.png",
    "confusion.svg",
    "model.safetensors",
    "templates.png",
    "report.html",
    "checkpoint",
    "templates",
];

/// Files made from `model.bpk` by `eval`, `templates`, `report` and `export`: stale once the
/// model changes.
const DERIVED_FILES: [&str; 6] = [
    "confusion.png",
    "confusion.svg",
    "model.safetensors",
    "templates.png",
    "report.html",
    "templates",
];

/// An earlier run's files moved aside while a new run trains in its directory. Dropped without
/// [`Aside::keep_new`], it removes the new run's files and puts the earlier ones back.
pub struct Aside {
    run: RunDir,
    backup: PathBuf,
    moved: Vec<&'static str>,
    keep_new: bool,
    /// The directory did not exist before the new run.
    created: bool,
}

impl Aside {
    /// The new run has something worth keeping (an epoch finished): the earlier run goes.
    pub fn keep_new(&mut self) {
        self.keep_new = true;
    }

    /// Whether the new run's files stay (else the earlier ones are put back on drop).
    pub fn keeps_new(&self) -> bool {
        self.keep_new
    }

    /// Whether an earlier run's files were moved aside (and are put back if the new run fails).
    pub fn holds_earlier_run(&self) -> bool {
        !self.moved.is_empty()
    }
}

impl Drop for Aside {
    fn drop(&mut self) {
        if self.keep_new {
            let _ = std::fs::remove_dir_all(&self.backup);
            return;
        }
        for name in RUN_FILES {
            remove_path(&self.run.file(name));
        }
        for name in &self.moved {
            let _ = std::fs::rename(self.backup.join(name), self.run.file(name));
        }
        let _ = std::fs::remove_dir(&self.backup);
        if self.created {
            // Only if empty: whatever else someone put there stays.
            let _ = std::fs::remove_dir(&self.run.path);
        }
    }
}

/// Sizes of the parts of the data a run was trained and checked on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSummary {
    pub train: usize,
    pub valid: usize,
    /// [`ImageSet::fingerprint`](linclass_data::ImageSet::fingerprint) of the whole training
    /// split (both parts), so that a resume can tell that an image or a label changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// What `run.toml` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    pub backend: String,
    pub classes: Vec<String>,
    pub normalization: Normalization,
    pub data: DataSummary,
    pub model: LinearClassifierConfig,
    pub config: ExperimentConfig,
    /// Present once `train.refit` has trained `model.bpk` on the training and validation
    /// parts together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refit: Option<crate::refit::RefitSummary>,
}

/// A run directory on disk.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the directory (and parents), failing clearly if it cannot be written; says
    /// whether it did not exist before.
    pub fn create(&self) -> Result<bool> {
        let existed = self.path.is_dir();
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("cannot create run directory {}", self.path.display()))?;
        let probe = self.path.join(".write-test");
        std::fs::write(&probe, b"")
            .map_err(|e| anyhow!("run directory {} is not writable: {e}", self.path.display()))?;
        let _ = std::fs::remove_file(probe);
        Ok(!existed)
    }

    /// Moves what an earlier run left in the directory (record, config, metrics, checkpoints,
    /// pictures) into a hidden folder, so that nothing stale sits beside the new run's files and
    /// the earlier run can be put back if the new one fails before its first epoch.
    /// `created`: the directory was made for the new run, and goes again if the run fails.
    pub fn set_aside(&self, created: bool) -> Result<Aside> {
        self.settle_killed_replacement(true);
        let backup = self.file(&format!(".replaced-{}", std::process::id()));
        let mut moved = Vec::new();
        for name in RUN_FILES {
            let path = self.file(name);
            if path.exists() {
                std::fs::create_dir_all(&backup)
                    .map_err(|e| anyhow!("cannot create {}: {e}", backup.display()))?;
                std::fs::rename(&path, backup.join(name))
                    .map_err(|e| anyhow!("cannot move {} aside: {e}", path.display()))?;
                moved.push(name);
            }
        }
        Ok(Aside {
            run: self.clone(),
            backup,
            moved,
            keep_new: false,
            created,
        })
    }

    pub fn save_info(&self, info: &RunInfo) -> Result<()> {
        let text = toml::to_string_pretty(info)?;
        write_atomic(&self.file(INFO_FILE), text.as_bytes())
    }

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

    /// Settles what a `train` killed outright (kill -9, power loss) left while replacing an
    /// earlier run (`.replaced-PID`, see [`RunDir::set_aside`]): if the new run finished no
    /// epoch (no complete checkpoint), its files go and the earlier run is put back, as a
    /// failed run would have done (said on stderr). Otherwise the new run is the one to
    /// `--resume`, and the earlier one is removed only when `drop_earlier` (a resume or a new
    /// run, which replace it anyway); other commands leave it. Folders of a process still
    /// running are left alone.
    pub fn settle_killed_replacement(&self, drop_earlier: bool) {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(Ok(pid)) = name.strip_prefix(".replaced-").map(str::parse::<u32>) else {
                continue;
            };
            if pid == std::process::id() || !process_gone(pid) {
                continue;
            }
            let backup = entry.path();
            let new_run_has_epochs = std::fs::read_dir(self.file("checkpoint")).is_ok_and(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("scheduler-"))
            });
            if new_run_has_epochs && !drop_earlier {
                continue;
            }
            if !new_run_has_epochs {
                eprintln!(
                    "note: {}: a `train` killed before its first epoch ended had set the earlier run aside; it is put back",
                    self.path.display()
                );
                // Every file of the new run goes (it has nothing worth keeping), as when a
                // failed run is undone; then the earlier run's come back.
                for name in RUN_FILES {
                    let to = self.file(name);
                    remove_path(&to);
                    let from = backup.join(name);
                    if from.exists() {
                        let _ = std::fs::rename(&from, &to);
                    }
                }
            }
            let _ = std::fs::remove_dir_all(&backup);
        }
    }

    /// Removes the temporary files (`.NAME.tmpPID`) that a killed process left while
    /// replacing one of the run's files; those of a process still running stay.
    pub fn remove_leftover_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((file, pid)) = name
                .strip_prefix('.')
                .and_then(|rest| rest.rsplit_once(".tmp"))
            else {
                continue;
            };
            let ours = RUN_FILES.contains(&file);
            let Ok(pid) = pid.parse::<u32>() else {
                continue;
            };
            if ours && pid != std::process::id() && process_gone(pid) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Loads the model described by `info` on `device`.
    pub fn load_model(&self, info: &RunInfo, device: &Device) -> Result<LinearClassifier> {
        load_record(&self.file(RECORD_FILE), &info.model, device)
    }
}

/// Removes a file or a folder with its contents, if it is there.
fn remove_path(path: &Path) {
    let _ = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

/// Whether process `pid` has ended, as far as this system can tell (where `/proc` is not
/// available, no process is taken for gone).
fn process_gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Loads a record file into a fresh model of the given shape.
pub fn load_record(
    path: &Path,
    config: &LinearClassifierConfig,
    device: &Device,
) -> Result<LinearClassifier> {
    if !path.is_file() {
        let run = path.parent().unwrap_or(Path::new("."));
        let checkpoints = std::fs::read_dir(run.join("checkpoint")).is_ok_and(|mut d| {
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

// The run's training history (metrics.csv): one record per epoch.

/// Loss and accuracies (fractions in [0, 1]) of one split over one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SplitMetrics {
    pub loss: f64,
    pub accuracy: f64,
    pub top5: f64,
}

/// One epoch's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train: SplitMetrics,
    pub valid: SplitMetrics,
    /// Learning rate of the epoch's first step.
    pub lr: f64,
    /// Gradient steps taken in the epoch.
    pub steps: usize,
    pub seconds: f64,
}

/// The header of metrics.csv; the top-k columns name the k used (5, or fewer classes), and
/// `kept` is 1 on the epoch whose model is the run's record (`train.keep`).
pub fn csv_header(k: usize) -> String {
    format!(
        "epoch,train_loss,train_acc,train_top{k},valid_loss,valid_acc,valid_top{k},lr,steps,seconds,kept"
    )
}

/// The epoch of `records` that `train.keep` keeps: the lowest finite validation loss (the
/// earliest of equals) for `best`, the last epoch for `last`.
pub fn kept_epoch(records: &[EpochRecord], keep_best: bool) -> Option<usize> {
    if !keep_best {
        return records.last().map(|r| r.epoch);
    }
    records
        .iter()
        .filter(|r| r.valid.loss.is_finite())
        .min_by(|a, b| {
            a.valid
                .loss
                .total_cmp(&b.valid.loss)
                .then(a.epoch.cmp(&b.epoch))
        })
        .map(|r| r.epoch)
}

impl EpochRecord {
    pub fn csv_row(&self) -> String {
        let (t, v) = (&self.train, &self.valid);
        format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{},{},{:.3}",
            self.epoch,
            t.loss,
            t.accuracy,
            t.top5,
            v.loss,
            v.accuracy,
            v.top5,
            self.lr,
            self.steps,
            self.seconds
        )
    }
}

/// Reads metrics.csv back: the epoch records, and the epoch marked as kept (if any).
/// Rows that do not parse (a partial last line) are left out.
pub fn read_metrics_csv(text: &str) -> (Vec<EpochRecord>, Option<usize>) {
    let mut kept = None;
    let records = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let v: Vec<f64> = line
                .split(',')
                .map(|x| x.trim().parse().ok())
                .collect::<Option<_>>()?;
            if v.len() != 10 && v.len() != 11 {
                return None;
            }
            if v.get(10) == Some(&1.0) {
                kept = Some(v[0] as usize);
            }
            Some(EpochRecord {
                epoch: v[0] as usize,
                train: SplitMetrics {
                    loss: v[1],
                    accuracy: v[2],
                    top5: v[3],
                },
                valid: SplitMetrics {
                    loss: v[4],
                    accuracy: v[5],
                    top5: v[6],
                },
                lr: v[7],
                steps: v[8] as usize,
                seconds: v[9],
            })
        })
        .collect();
    (records, kept)
}
