//! Stopping a run cleanly: Ctrl-C (or a termination signal) asks the learner to stop at its
//! next step, so that the files being written are finished, and [`Interrupted`] says what was
//! kept and how to continue.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use burn::train::Interrupter;

/// Why a run ended early without an error of its own.
#[derive(Debug)]
pub struct Interrupted {
    /// The run directory.
    pub run: PathBuf,
    /// What was kept, as a phrase ("the model after epoch 3 was kept in …").
    pub kept: String,
    /// Whether a checkpoint exists to resume from.
    pub resumable: bool,
}

impl Interrupted {
    /// How to go on: resume from the last checkpoint, or start again.
    pub(crate) fn how_to_go_on(&self) -> String {
        if self.resumable {
            format!(
                "continue with `linclass train --resume {}`",
                self.run.display()
            )
        } else {
            "start it again with `linclass train`".to_string()
        }
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = if self.resumable {
            ""
        } else {
            " before the first epoch ended"
        };
        write!(
            f,
            "training interrupted{when}; {}; {}",
            self.kept,
            self.how_to_go_on()
        )
    }
}

impl std::error::Error for Interrupted {}

/// The interrupter of the training in progress, stopped by Ctrl-C.
static CURRENT: Mutex<Option<Interrupter>> = Mutex::new(None);

/// Clears the Ctrl-C target when dropped: until then a Ctrl-C only asks the work in progress
/// to stop (at the next step), so that files being written are finished.
pub(crate) struct CtrlCScope;

impl Drop for CtrlCScope {
    fn drop(&mut self) {
        // The run's files are written: what is left (curves, the closing line) takes
        // milliseconds, and a Ctrl-C now must not cut it short with a silent exit.
        FINISHING.store(true, Ordering::SeqCst);
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Set once training has ended in this process: Ctrl-C is then ignored, not an exit.
static FINISHING: AtomicBool = AtomicBool::new(false);

pub(crate) fn install_ctrl_c(interrupter: Interrupter) -> CtrlCScope {
    static INSTALLED: Once = Once::new();
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(interrupter);
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            match CURRENT.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                Some(i) => i.stop(Some("interrupted (Ctrl-C or a termination signal)")),
                None if FINISHING.load(Ordering::SeqCst) => {}
                None => std::process::exit(130),
            }
        });
    });
    CtrlCScope
}

/// Until training starts, Ctrl-C ends the process at once: nothing is written yet.
pub(crate) fn exit_on_ctrl_c_until_training() {
    FINISHING.store(false, Ordering::SeqCst);
}
