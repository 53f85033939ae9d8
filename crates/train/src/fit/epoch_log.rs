//! The per-epoch log: one summary per epoch, told to the reporter as one line and written to the
//! run's metrics.csv, and the watch for divergence.
//!
//! Burn's learner reports every batch; [`EpochLog`] is a metric logger that keeps those
//! entries (the learner reads them back for checkpoint selection and early stopping) and turns
//! them into per-epoch means.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use burn::train::Interrupter;
use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};

use crate::fit::metrics::{ACCURACY, LEARNING_RATE, LOSS, top_k_name};
use crate::fit::reporter::Reporter;
use crate::run::files::{write_atomic, write_atomic_unsynced};
use crate::run::history::{
    EpochRecord, SplitMetrics, csv_header, csv_text, kept_epoch, read_metrics_csv,
};

/// The epoch's line on the terminal; `k` is the k of the top-k accuracy.
fn epoch_line(record: &EpochRecord, total_epochs: usize, k: usize) -> String {
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
    reporter: Arc<dyn Reporter>,
    keep_best: bool,
    interrupter: Option<Interrupter>,
    /// A loss above this counts as divergence (besides NaN and infinity).
    explode_above: f64,
    /// How `explode_above` was chosen, for the message.
    explode_reason: String,
    /// The last training-batch losses, enough batches for [`DIVERGENCE_WINDOW`] images: their
    /// mean is what is compared with `explode_above`, so that one bad image in online SGD is
    /// not mistaken for divergence.
    recent: VecDeque<f64>,
    window: usize,
    divergence: Option<String>,
}

/// Images over which the training loss is averaged before it is compared with the divergence
/// bound.
pub(crate) const DIVERGENCE_WINDOW: usize = 256;

/// Metric logger that aggregates Burn's per-batch entries into per-epoch records.
#[derive(Clone)]
pub(crate) struct EpochLog(Arc<Mutex<State>>);

impl EpochLog {
    /// `csv_path` receives the header and one row per finished epoch (rewritten atomically).
    pub(crate) fn new(
        csv_path: PathBuf,
        total_epochs: usize,
        top_k: usize,
        reporter: Arc<dyn Reporter>,
    ) -> Self {
        Self(Arc::new(Mutex::new(State {
            names: HashMap::new(),
            points: HashMap::new(),
            records: Vec::new(),
            epoch_started: Instant::now(),
            top_k: top_k_name(top_k),
            k: top_k,
            total_epochs,
            csv_path,
            csv: format!("{}\n", csv_header(top_k)),
            reporter,
            keep_best: true,
            interrupter: None,
            explode_above: f64::INFINITY,
            explode_reason: String::new(),
            recent: VecDeque::new(),
            window: 1,
            divergence: None,
        })))
    }

    /// Takes over the rows of the first `done` epochs of an earlier run's metrics CSV, and
    /// their losses for checkpoint selection and early stopping.
    pub(crate) fn restore(&self, csv: &Path, done: usize) -> Result<()> {
        let text = std::fs::read_to_string(csv)
            .map_err(|e| anyhow!("{}: cannot read ({e})", csv.display()))?;
        let records: Vec<EpochRecord> = read_metrics_csv(&text)
            .0
            .into_iter()
            .filter(|r| r.epoch <= done)
            .collect();
        if records.len() != done {
            bail!(
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
    pub(crate) fn truncate_to(&self, last: usize) {
        let mut state = self.lock();
        if state.records.iter().all(|r| r.epoch <= last) {
            return;
        }
        state.records.retain(|r| r.epoch <= last);
        state.csv = csv_text(&state.records, state.k, state.keep_best);
        if let Err(e) = write_atomic(&state.csv_path, state.csv.as_bytes()) {
            state.reporter.warning(&format!("{e:#}"));
        }
    }

    /// Which epoch the `kept` column marks: the best validation loss, or the last epoch.
    pub(crate) fn keep_best(&self, best: bool) {
        self.lock().keep_best = best;
    }

    /// A loss is divergence when it is NaN or infinite, or when the mean training loss of the
    /// last [`DIVERGENCE_WINDOW`] images (batches of `batch_size`) is above `explode_above`
    /// (`reason` says where that bound comes from).
    pub(crate) fn divergence_bound(&self, explode_above: f64, reason: &str, batch_size: usize) {
        let mut state = self.lock();
        state.explode_above = explode_above;
        state.explode_reason = reason.to_string();
        state.window = DIVERGENCE_WINDOW.div_ceil(batch_size.max(1));
    }

    /// Stops training through `interrupter` as soon as the loss diverges.
    pub(crate) fn stop_on_divergence(&self, interrupter: Interrupter) {
        self.lock().interrupter = Some(interrupter);
    }

    /// The epoch whose model the run keeps, among those finished (see [`kept_epoch`]).
    pub(crate) fn kept_epoch(&self) -> Option<usize> {
        let state = self.lock();
        kept_epoch(&state.records, state.keep_best)
    }

    /// Where the loss first stopped being finite, if it did.
    pub(crate) fn divergence(&self) -> Option<String> {
        self.lock().divergence.clone()
    }

    /// Summaries of the epochs finished so far.
    pub(crate) fn records(&self) -> Vec<EpochRecord> {
        self.lock().records.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
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
        state
            .reporter
            .line(&epoch_line(&record, state.total_epochs, state.k));
        state.records.push(record);
        state.csv = csv_text(&state.records, state.k, state.keep_best);
        // Flushed to the disk once, after the last epoch: a flush costs more than an MNIST epoch.
        let write = if epoch >= state.total_epochs {
            write_atomic
        } else {
            write_atomic_unsynced
        };
        if let Err(e) = write(&state.csv_path, state.csv.as_bytes()) {
            state.reporter.warning(&format!("{e:#}"));
        }
    }
}
