//! Training, evaluation and use of linear image classifiers: the experiment config, backend
//! selection, Burn's learner wiring, the run directory, evaluation, prediction and the CLI.

/// `println!` that never panics: a stdout closed early (a pipe into `head`) must not stop a
/// training run halfway or abort it; what is left to print is dropped.
#[macro_export]
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod backend;
pub mod bench;
pub mod classifier;
pub mod cli;
pub mod config;
pub mod datainfo;
pub mod datasets;
pub mod eval;
pub mod export;
pub mod gradcheck;
pub mod memory;
pub mod metrics;
pub mod pictures;
pub mod predict;
pub mod progress;
pub mod refit;
pub mod runfiles;
pub mod sweep;
pub mod training;
pub mod visuals;
