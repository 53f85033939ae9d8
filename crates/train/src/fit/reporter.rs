//! What training tells its caller while it runs. The library prints nothing of its own: the
//! caller hands [`train`](crate::train) a [`Reporter`] (the command line's draws progress bars
//! and prints lines; [`Silent`] says nothing), and the learner's renderer forwards to it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use linclass_data::fetch::FetchProgress;

use crate::run::dir::RunDir;
use crate::run::info::RunInfo;

/// Receives what a training run has to tell: lines for a person, where each pass over the
/// images is, download progress. Every method does nothing unless implemented.
pub trait Reporter: Send + Sync {
    /// One line for a person: what is trained, each epoch's summary, the refit's epochs.
    fn line(&self, _text: &str) {}

    /// A pass over `images` images begins; `label` says which ("epoch 3/10 train").
    fn pass_started(&self, _label: &str, _images: usize) {}

    /// `done` images of the current pass are processed.
    fn pass_progress(&self, _done: usize) {}

    /// The current pass has ended.
    fn pass_ended(&self) {}

    /// Something the user should know that does not stop the run (a damaged checkpoint passed
    /// over, a file that could not be rewritten). On stderr unless implemented otherwise.
    fn warning(&self, text: &str) {
        eprintln!("warning: {text}");
    }

    /// The progress of a dataset download (none shown by default).
    fn download(&self) -> Box<dyn FetchProgress> {
        Box::new(linclass_data::fetch::Silent)
    }

    /// The epochs are done and recorded (`model.bpk`, `run.toml`, `metrics.csv`) and a refit
    /// follows: the moment to draw the first fit's curves, so that they exist whatever the
    /// refit does.
    fn first_fit_recorded(&self, _run: &RunDir, _info: &RunInfo) {}
}

/// A reporter that says nothing but its warnings (on stderr): training used from code.
pub struct Silent;

impl Reporter for Silent {}

/// Wall-clock seconds of each training pass over the training part, without the validation
/// pass and the checkpoint that follow it in an epoch (what a bare training loop measures).
#[derive(Clone, Default)]
pub(crate) struct TrainPassTimes(Arc<Mutex<(Option<Instant>, Vec<f64>)>>);

impl TrainPassTimes {
    /// The passes finished so far, in seconds, oldest first.
    pub(crate) fn seconds(&self) -> Vec<f64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    fn start(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0 = Some(Instant::now());
    }

    fn end(&self) {
        let mut times = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(started) = times.0.take() {
            times.1.push(started.elapsed().as_secs_f64());
        }
    }
}

/// Burn's renderer, replaced: it tells the reporter where each pass over a split is and times
/// the training passes. (Burn's default renderer prints one debug line per batch without a
/// terminal.)
pub(crate) struct Renderer {
    reporter: Arc<dyn Reporter>,
    epoch: usize,
    epochs: usize,
    train_passes: TrainPassTimes,
}

impl Renderer {
    /// A renderer telling `reporter`, timing the training passes into `train_passes`.
    pub(crate) fn new(reporter: Arc<dyn Reporter>, train_passes: TrainPassTimes) -> Self {
        Self {
            reporter,
            epoch: 1,
            epochs: 0,
            train_passes,
        }
    }
}

impl MetricsRendererTraining for Renderer {
    fn update_train(&mut self, _state: MetricState) {}
    fn update_valid(&mut self, _state: MetricState) {}
    fn on_train_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for Renderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
    fn on_test_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for Renderer {
    fn start(
        &mut self,
        total: usize,
        starting: usize,
        _items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.epochs = total;
        self.epoch = starting.max(1);
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        if split.eq_ignore_ascii_case("train") {
            self.train_passes.start();
        }
        let label = format!("epoch {}/{} {split:<5}", self.epoch, self.epochs);
        self.reporter.pass_started(&label, total_items);
    }

    fn update_split(&mut self, items_processed: usize) {
        self.reporter.pass_progress(items_processed);
    }

    fn end_split(&mut self) {
        self.train_passes.end();
        self.reporter.pass_ended();
    }

    fn end(&mut self) {
        self.end_split();
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for Renderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for Renderer {
    fn manual_close(&mut self) {
        self.end_split();
    }
    fn register_metric(&mut self, _definition: MetricDefinition) {}
}
