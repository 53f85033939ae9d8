//! Training: Burn's learner wiring (the loss, SGD and its schedules), the per-epoch log,
//! checkpoints and the kept epoch, divergence, Ctrl-C, resume, refit, the sweep's grid and the
//! gradient check. Writes the run directory; draws and evaluates nothing (the caller does,
//! after fitting), and tells its progress to a [`Reporter`](crate::Reporter) it is handed.

pub(crate) mod analytic;
pub(crate) mod checkpoint;
pub(crate) mod epoch_log;
pub(crate) mod gradcheck;
pub(crate) mod interrupt;
pub(crate) mod learner;
pub(crate) mod metrics;
pub(crate) mod refit;
pub(crate) mod reporter;
pub(crate) mod resume;
pub(crate) mod sgd;
pub(crate) mod sweep;
pub(crate) mod train;
