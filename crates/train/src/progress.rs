//! What training shows and records while it runs: one summary per epoch (printed as one line
//! and appended to the run's metrics CSV), and a progress bar when stdout is a terminal.
//!
//! Burn's learner reports every batch; [`EpochLog`] is a metric logger that keeps those
//! entries (the learner reads them back for checkpoint selection and early stopping) and turns
//! them into per-epoch means. [`Progress`] replaces Burn's default renderer, which without a
//! terminal prints one debug line per batch.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::Interrupter;
use burn::train::logger::{EvaluationProgressLogger, MetricLogger, TrainingProgressLogger};
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::runfiles::{
    EpochRecord, SplitMetrics, csv_header, kept_epoch, write_atomic, write_atomic_unsynced,
};

/// Burn's names of the metrics the learner is given.
pub const LOSS: &str = "Loss";
pub const ACCURACY: &str = "Accuracy";
pub const LEARNING_RATE: &str = "Learning Rate";

/// The epoch's line on the terminal; `k` is the k of the top-k accuracy.
pub fn epoch_line(record: &EpochRecord, total_epochs: usize, k: usize) -> String {
    let (t, v) = (&record.train, &record.valid);
    format!(
        "epoch {:>3}/{total_epochs}  train loss {:.4} acc {:6.2}%  valid loss {:.4} acc {:6.2}% top-{k} {:6.2}%  {:.2} s",
        record.epoch,
        t.loss,
        100.0 * t.accuracy,
        v.loss,
        100.0 * v.accuracy,
        100.0 * v.top5,
        record.seconds
    )
}
type Key = (Split, usize, String);

struct State {
    names: HashMap<MetricId, String>,
    points: HashMap<Key, Vec<NumericEntry>>,
    records: Vec<EpochRecord>,
    epoch_started: Instant,
    top_k: String,
    k: usize,
    total_epochs: usize,
    csv_path: PathBuf,
    csv: String,
    quiet: bool,
    keep_best: bool,
    interrupter: Option<Interrupter>,
    /// A loss above this counts as divergence (besides NaN and infinity).
    explode_above: f64,
    /// How `explode_above` was chosen, for the message.
    explode_reason: String,
    /// The last training-batch losses, enough batches for [`DIVERGENCE_WINDOW`] images: their
    /// mean is what is compared with `explode_above`, so that one bad image in online SGD is
    /// not mistaken for divergence.
    recent: std::collections::VecDeque<f64>,
    window: usize,
    divergence: Option<String>,
}

/// Images over which the training loss is averaged before it is compared with the divergence
/// bound.
pub const DIVERGENCE_WINDOW: usize = 256;

/// Metric logger that aggregates Burn's per-batch entries into per-epoch records.
#[derive(Clone)]
pub struct EpochLog(Arc<Mutex<State>>);

impl EpochLog {
    /// `csv_path` receives the header and one row per finished epoch (rewritten atomically).
    pub fn new(csv_path: PathBuf, total_epochs: usize, top_k: usize, quiet: bool) -> Self {
        Self(Arc::new(Mutex::new(State {
            names: HashMap::new(),
            points: HashMap::new(),
            records: Vec::new(),
            epoch_started: Instant::now(),
            top_k: crate::metrics::name(top_k),
            k: top_k,
            total_epochs,
            csv_path,
            csv: format!("{}\n", csv_header(top_k)),
            quiet,
            keep_best: true,
            interrupter: None,
            explode_above: f64::INFINITY,
            explode_reason: String::new(),
            recent: std::collections::VecDeque::new(),
            window: 1,
            divergence: None,
        })))
    }

    /// Takes over the rows of the first `done` epochs of an earlier run's metrics CSV, and
    /// their losses for checkpoint selection and early stopping.
    pub fn restore(&self, csv: &std::path::Path, done: usize) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(csv)
            .map_err(|e| anyhow::anyhow!("{}: cannot read ({e})", csv.display()))?;
        let records: Vec<EpochRecord> = crate::runfiles::read_metrics_csv(&text)
            .0
            .into_iter()
            .filter(|r| r.epoch <= done)
            .collect();
        if records.len() != done {
            anyhow::bail!(
                "{}: has {} epoch rows, expected {done} to resume from epoch {done}",
                csv.display(),
                records.len()
            );
        }
        let mut state = self.lock();
        state.csv = csv_text(&records, state.k, state.keep_best);
        for r in &records {
            for (split, loss) in [(Split::Train, r.train.loss), (Split::Valid, r.valid.loss)] {
                state.points.insert(
                    (split, r.epoch, LOSS.to_string()),
                    vec![NumericEntry::Value(loss)],
                );
            }
        }
        state.records = records;
        Ok(())
    }

    /// Drops the rows after epoch `last` and rewrites metrics.csv: an interruption can come
    /// after an epoch's row was written but before its checkpoint was, and a resume redoes
    /// that epoch.
    pub fn truncate_to(&self, last: usize) {
        let mut state = self.lock();
        if state.records.iter().all(|r| r.epoch <= last) {
            return;
        }
        state.records.retain(|r| r.epoch <= last);
        state.csv = csv_text(&state.records, state.k, state.keep_best);
        if let Err(e) = write_atomic(&state.csv_path, state.csv.as_bytes()) {
            eprintln!("warning: {e:#}");
        }
    }

    /// Which epoch the `kept` column marks: the best validation loss, or the last epoch.
    pub fn keep_best(&self, best: bool) {
        self.lock().keep_best = best;
    }

    /// Stops training through `interrupter` as soon as a loss is NaN or infinite, or the mean
    /// training loss of the last [`DIVERGENCE_WINDOW`] images (batches of `batch_size`) is above
    /// `explode_above` (`reason` says where that bound comes from).
    pub fn stop_on_divergence(
        &self,
        interrupter: Interrupter,
        explode_above: f64,
        reason: &str,
        batch_size: usize,
    ) {
        let mut state = self.lock();
        state.interrupter = Some(interrupter);
        state.explode_above = explode_above;
        state.explode_reason = reason.to_string();
        state.window = DIVERGENCE_WINDOW.div_ceil(batch_size.max(1));
    }

    /// The epoch whose model the run keeps, among those finished (see [`kept_epoch`]).
    pub fn kept_epoch(&self) -> Option<usize> {
        let state = self.lock();
        kept_epoch(&state.records, state.keep_best)
    }

    /// Where the loss first stopped being finite, if it did.
    pub fn divergence(&self) -> Option<String> {
        self.lock().divergence.clone()
    }

    /// Summaries of the epochs finished so far.
    pub fn records(&self) -> Vec<EpochRecord> {
        self.lock().records.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The whole metrics.csv for `records`, with the kept epoch marked.
fn csv_text(records: &[EpochRecord], k: usize, keep_best: bool) -> String {
    let kept = kept_epoch(records, keep_best);
    let mut csv = csv_header(k);
    csv.push('\n');
    for r in records {
        csv.push_str(&r.csv_row());
        csv.push_str(if Some(r.epoch) == kept {
            ",1\n"
        } else {
            ",0\n"
        });
    }
    csv
}

/// Mean of an epoch's entries, weighted by their counts; a `Final` entry is authoritative.
fn epoch_mean(points: &[NumericEntry]) -> Option<f64> {
    if let Some(NumericEntry::Final(v)) = points.last() {
        return Some(*v);
    }
    let (sum, n) = points.iter().fold((0.0, 0usize), |(s, n), e| match e {
        NumericEntry::Value(v) => (s + v, n + 1),
        NumericEntry::Aggregated {
            aggregated_value,
            count,
        } => (s + aggregated_value * *count as f64, n + count),
        NumericEntry::Final(v) => (s + v, n + 1),
    });
    (n > 0).then(|| sum / n as f64)
}

impl State {
    fn split_metrics(&self, split: &Split, epoch: usize) -> SplitMetrics {
        let get = |name: &str| {
            self.points
                .get(&(split.clone(), epoch, name.to_string()))
                .and_then(|p| epoch_mean(p))
                .unwrap_or(f64::NAN)
        };
        SplitMetrics {
            loss: get(LOSS),
            accuracy: get(ACCURACY) / 100.0,
            top5: get(&self.top_k) / 100.0,
        }
    }
}

impl MetricLogger for EpochLog {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        let mut state = self.lock();
        for entry in update.entries_numeric {
            let Some(value) = entry.numeric_entry else {
                continue;
            };
            let Some(name) = state.names.get(&entry.entry.metric_id).cloned() else {
                continue;
            };
            let mut loss = value.current();
            if name == LOSS && *split == Split::Train && loss.is_finite() {
                state.recent.push_back(loss);
                if state.recent.len() > state.window {
                    state.recent.pop_front();
                }
                loss = state.recent.iter().sum::<f64>() / state.recent.len() as f64;
            }
            let exploded = !loss.is_finite() || loss > state.explode_above;
            if name == LOSS && exploded && state.divergence.is_none() {
                let message = if loss.is_finite() {
                    format!(
                        "the {split} loss (mean of the last batches, up to {DIVERGENCE_WINDOW} images) reached {loss:.3e} in epoch {epoch}, above {:.3} ({})",
                        state.explode_above, state.explode_reason
                    )
                } else {
                    format!("the {split} loss became {loss} in epoch {epoch}")
                };
                if let Some(interrupter) = &state.interrupter {
                    interrupter.stop(Some(&message));
                }
                state.divergence = Some(message);
            }
            state
                .points
                .entry((split.clone(), epoch, name))
                .or_default()
                .push(value);
        }
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        Ok(self
            .lock()
            .points
            .get(&(split.clone(), epoch, name.to_string()))
            .cloned()
            .unwrap_or_default())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.lock()
            .names
            .insert(definition.metric_id, definition.name.to_string());
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if summary.split != Split::Valid {
            return;
        }
        let mut state = self.lock();
        let epoch = summary.epoch_number;
        let train_key = |name: &str| (Split::Train, epoch, name.to_string());
        // Burn adds one epoch-level `Final` entry after the per-batch ones.
        let steps = state.points.get(&train_key(LOSS)).map_or(0, |p| {
            p.iter()
                .filter(|e| !matches!(e, NumericEntry::Final(_)))
                .count()
        });
        let lr = state
            .points
            .get(&train_key(LEARNING_RATE))
            .and_then(|p| p.first())
            .map_or(f64::NAN, NumericEntry::current);
        let record = EpochRecord {
            epoch,
            train: state.split_metrics(&Split::Train, epoch),
            valid: state.split_metrics(&Split::Valid, epoch),
            lr,
            steps,
            seconds: state.epoch_started.elapsed().as_secs_f64(),
        };
        state.epoch_started = Instant::now();
        if !state.quiet {
            crate::say!("{}", epoch_line(&record, state.total_epochs, state.k));
        }
        state.records.push(record);
        state.csv = csv_text(&state.records, state.k, state.keep_best);
        // Flushed to the disk once, after the last epoch: a flush costs more than an MNIST epoch.
        let write = if epoch >= state.total_epochs {
            write_atomic
        } else {
            write_atomic_unsynced
        };
        if let Err(e) = write(&state.csv_path, state.csv.as_bytes()) {
            eprintln!("warning: {e:#}");
        }
    }
}

/// Wall-clock seconds of each training pass over the training part, without the validation
/// pass and the checkpoint that follow it in an epoch (what a bare training loop measures).
#[derive(Clone, Default)]
pub struct TrainPassTimes(Arc<Mutex<(Option<Instant>, Vec<f64>)>>);

impl TrainPassTimes {
    /// The passes finished so far, in seconds, oldest first.
    pub fn seconds(&self) -> Vec<f64> {
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

/// Renderer: a progress bar over each split's items in a terminal, nothing otherwise; times
/// the training passes.
pub struct Progress {
    bar: Option<ProgressBar>,
    interactive: bool,
    epoch: usize,
    epochs: usize,
    train_passes: TrainPassTimes,
}

impl Progress {
    pub fn new(quiet: bool, train_passes: TrainPassTimes) -> Self {
        Self {
            bar: None,
            interactive: !quiet && std::io::stdout().is_terminal(),
            epoch: 1,
            epochs: 0,
            train_passes,
        }
    }
}

impl MetricsRendererTraining for Progress {
    fn update_train(&mut self, _state: MetricState) {}
    fn update_valid(&mut self, _state: MetricState) {}
    fn on_train_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for Progress {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
    fn on_test_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for Progress {
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
        if !self.interactive {
            return;
        }
        let bar = ProgressBar::new(total_items as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} images  eta {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("epoch {}/{} {split:<5}", self.epoch, self.epochs));
        self.bar = Some(bar);
    }

    fn update_split(&mut self, items_processed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(items_processed as u64);
        }
    }

    fn end_split(&mut self) {
        self.train_passes.end();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn end(&mut self) {
        self.end_split();
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for Progress {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for Progress {
    fn manual_close(&mut self) {
        self.end_split();
    }
    fn register_metric(&mut self, _definition: MetricDefinition) {}
}

/// Download progress: a byte bar in a terminal, one line per file otherwise.
#[derive(Default)]
pub struct DownloadBar {
    bar: Option<ProgressBar>,
}

impl linclass_data::fetch::FetchProgress for DownloadBar {
    fn start(&mut self, url: &str, total: Option<u64>) {
        if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(url.to_string());
            self.bar = Some(bar);
        } else {
            eprintln!("downloading {url}");
        }
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
