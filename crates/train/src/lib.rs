//! Train, evaluate and use linear image classifiers, f(x) = Wx + b over flattened pixels, with
//! Burn: the library behind the `linclass` command.
//!
//! # Brief overview
//!
//! An [`ExperimentConfig`] (TOML, as in `configs/`) says which data, model, loss, optimizer and
//! epochs. [`train`] fits it on a [`Backend`]'s device and writes a run directory ([`RunDir`]:
//! `model.bpk`, `run.toml`, `metrics.csv`), telling a [`Reporter`] what it does ([`Silent`]
//! says nothing). Everything else reads a run directory alone: [`Classifier`] loads one and
//! classifies images, [`evaluate`] scores a model on a labelled set, [`export`] writes the
//! weights for other tools (safetensors in PyTorch `nn.Linear`'s layout).
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use linclass::{Backend, Classifier, ExperimentConfig, Silent};
//!
//! let backend = Backend::default_compiled();
//! let config = ExperimentConfig::load("configs/mnist.toml".as_ref(), &["train.epochs=2".into()])?;
//! let trained = linclass::train(&config, backend, Arc::new(Silent))?;
//!
//! let classifier = Classifier::load(&trained.run.path, &backend.device()?)?;
//! let ranked = classifier.classify(&image::open("digit.png")?)?;
//! println!("{} ({:.1}%)", ranked[0].class, 100.0 * ranked[0].probability);
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! ARCHITECTURE.md at the repository's root lays out the modules and the way data goes
//! through them.

#![warn(missing_docs)]
#![deny(unreachable_pub)]

/// `println!` that never panics: a stdout closed early (a pipe into `head`) must not stop a
/// training run halfway or abort it; what is left to print is dropped.
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
pub(crate) use say;

// The face.
mod cli;
// A run behind HTTP: the page and the API.
mod serve;
// What a program uses: training, looking at a run, using a run.
mod fit;
mod infer;
mod inspect;
// The run directory, which the three above meet at.
mod run;
// The ground: config, backend, datasets, and the arithmetic of class scores.
mod backend;
mod config;
mod datasets;
mod logits;
mod memory;

pub use crate::backend::Backend;
pub use crate::cli::main as run_cli;
pub use crate::config::{
    BatchSize, DataConfig, ExperimentConfig, GradientKind, Keep, LearningRate, LossKind,
    ModelConfig, NormalizeKind, OptimizerConfig, OptimizerName, OutputConfig, Schedule,
    SweepConfig, TrainConfig,
};
pub use crate::fit::checkpoint::load_checkpoint_model;
pub use crate::fit::interrupt::Interrupted;
pub use crate::fit::learner::loss;
pub use crate::fit::reporter::{Reporter, Silent};
pub use crate::fit::resume::resume;
pub use crate::fit::sgd::{OnePassSgd, Velocity};
pub use crate::fit::train::{Trained, train};
pub use crate::infer::classifier::{Classifier, Ranked};
pub use crate::infer::evidence::ClassEvidence;
pub use crate::infer::export::{ExportFormat, export};
pub use crate::infer::input::{Input, Preparation};
pub use crate::inspect::evaluation::{ClassResult, ConfusedPair, Evaluation, evaluate};
pub use crate::run::dir::{RunDir, load_record};
pub use crate::run::files::{INFO_FILE, METRICS_FILE, RECORD_FILE};
pub use crate::run::history::{EpochRecord, SplitMetrics, read_metrics_csv};
pub use crate::run::info::{DataSummary, RefitSummary, RunInfo};
