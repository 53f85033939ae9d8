//! The files of a run directory by name, and how they are written: whole or not at all.

use std::path::Path;

use anyhow::{Result, anyhow};

/// The trained model (Burn's burnpack record).
pub const RECORD_FILE: &str = "model.bpk";
/// The run description: resolved config, model shape, normalization, classes, data summary.
pub const INFO_FILE: &str = "run.toml";
/// One row per epoch: losses, accuracies, learning rate, steps, seconds, and the kept epoch.
pub const METRICS_FILE: &str = "metrics.csv";
/// The learner's checkpoints: `model-N.bpk`, `optim-N.bpk`, `scheduler-N.bpk` per epoch N.
pub(crate) const CHECKPOINT_DIR: &str = "checkpoint";

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that
/// `path` holds either its old content or the whole new one, and flushes it to the disk.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(path, bytes, true)
}

/// `write_atomic` without waiting for the disk: still whole or old if this process dies, which
/// is what a file rewritten every epoch needs (a flush costs more than a whole MNIST epoch).
pub(crate) fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
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
pub(crate) const RUN_FILES: [&str; 12] = [
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
    CHECKPOINT_DIR,
    "templates",
];

/// Files made from `model.bpk` by `eval`, `templates`, `report` and `export`: stale once the
/// model changes.
pub(crate) const DERIVED_FILES: [&str; 6] = [
    "confusion.png",
    "confusion.svg",
    "model.safetensors",
    "templates.png",
    "report.html",
    "templates",
];

/// Removes a file or a folder with its contents, if it is there.
pub(crate) fn remove_path(path: &Path) {
    let _ = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

/// Whether process `pid` has ended, as far as this system can tell (where `/proc` is not
/// available, no process is taken for gone).
pub(crate) fn process_gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new("/proc").join(pid.to_string()).exists()
}
