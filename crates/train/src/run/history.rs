//! The run's training history, `metrics.csv`: one record per epoch, and the kept epoch.

/// Loss and accuracies (fractions in [0, 1]) of one split over one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SplitMetrics {
    /// Mean loss over the split's images.
    pub loss: f64,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Top-k accuracy (k = 5, or the number of classes if fewer).
    pub top5: f64,
}

/// One epoch's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRecord {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Measured on the training part while training.
    pub train: SplitMetrics,
    /// Measured on the validation part after the epoch.
    pub valid: SplitMetrics,
    /// Learning rate of the epoch's first step.
    pub lr: f64,
    /// Gradient steps taken in the epoch.
    pub steps: usize,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// The header of metrics.csv; the top-k columns name the k used (5, or fewer classes), and
/// `kept` is 1 on the epoch whose model is the run's record (`train.keep`).
pub(crate) fn csv_header(k: usize) -> String {
    format!(
        "epoch,train_loss,train_acc,train_top{k},valid_loss,valid_acc,valid_top{k},lr,steps,seconds,kept"
    )
}

/// The epoch of `records` that `train.keep` keeps: the lowest finite validation loss (the
/// earliest of equals) for `best`, the last epoch for `last`.
pub(crate) fn kept_epoch(records: &[EpochRecord], keep_best: bool) -> Option<usize> {
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
    /// The epoch's row of metrics.csv, without the `kept` column.
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

/// The whole metrics.csv for `records`, with the kept epoch marked.
pub(crate) fn csv_text(records: &[EpochRecord], k: usize, keep_best: bool) -> String {
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
