//! Setting an earlier run aside while a new one trains in its directory, and putting it back
//! when the new run ends before it has anything worth keeping (also after a kill: the next
//! command that opens the directory settles what was left).

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::run::files::{CHECKPOINT_DIR, RUN_FILES, process_gone, remove_path};

/// An earlier run's files moved aside while a new run trains in its directory. Dropped without
/// [`Aside::keep_new`], it removes the new run's files and puts the earlier ones back.
pub(crate) struct Aside {
    dir: PathBuf,
    backup: PathBuf,
    moved: Vec<&'static str>,
    keep_new: bool,
    /// The directory did not exist before the new run.
    created: bool,
}

impl Aside {
    /// The new run has something worth keeping (an epoch finished): the earlier run goes.
    pub(crate) fn keep_new(&mut self) {
        self.keep_new = true;
    }

    /// Whether the new run's files stay (else the earlier ones are put back on drop).
    pub(crate) fn keeps_new(&self) -> bool {
        self.keep_new
    }

    /// Whether an earlier run's files were moved aside (and are put back if the new run fails).
    pub(crate) fn holds_earlier_run(&self) -> bool {
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
            remove_path(&self.dir.join(name));
        }
        for name in &self.moved {
            let _ = std::fs::rename(self.backup.join(name), self.dir.join(name));
        }
        let _ = std::fs::remove_dir(&self.backup);
        if self.created {
            // Only if empty: whatever else someone put there stays.
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Moves what an earlier run left in the directory (record, config, metrics, checkpoints,
/// pictures) into a hidden folder, so that nothing stale sits beside the new run's files and
/// the earlier run can be put back if the new one fails before its first epoch.
/// `created`: the directory was made for the new run, and goes again if the run fails.
pub(crate) fn set_aside(dir: &Path, created: bool) -> Result<Aside> {
    settle_killed_replacement(dir, true);
    let backup = dir.join(format!(".replaced-{}", std::process::id()));
    let mut moved = Vec::new();
    for name in RUN_FILES {
        let path = dir.join(name);
        if path.exists() {
            std::fs::create_dir_all(&backup)
                .map_err(|e| anyhow!("cannot create {}: {e}", backup.display()))?;
            std::fs::rename(&path, backup.join(name))
                .map_err(|e| anyhow!("cannot move {} aside: {e}", path.display()))?;
            moved.push(name);
        }
    }
    Ok(Aside {
        dir: dir.to_path_buf(),
        backup,
        moved,
        keep_new: false,
        created,
    })
}

/// Settles what a `train` killed outright (kill -9, power loss) left while replacing an
/// earlier run (`.replaced-PID`, see [`RunDir::set_aside`]): if the new run finished no
/// epoch (no complete checkpoint), its files go and the earlier run is put back, as a
/// failed run would have done (said on stderr). Otherwise the new run is the one to
/// `--resume`, and the earlier one is removed only when `drop_earlier` (a resume or a new
/// run, which replace it anyway); other commands leave it. Folders of a process still
/// running are left alone.
pub(crate) fn settle_killed_replacement(dir: &Path, drop_earlier: bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
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
        let new_run_has_epochs = std::fs::read_dir(dir.join(CHECKPOINT_DIR)).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("scheduler-"))
        });
        if new_run_has_epochs && !drop_earlier {
            continue;
        }
        if !new_run_has_epochs {
            eprintln!(
                "note: {}: a `train` killed before its first epoch ended had set the earlier run aside; it is put back",
                dir.display()
            );
            // Every file of the new run goes (it has nothing worth keeping), as when a
            // failed run is undone; then the earlier run's come back.
            for name in RUN_FILES {
                let to = dir.join(name);
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
pub(crate) fn remove_leftover_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
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
