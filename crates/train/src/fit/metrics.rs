//! Metrics for the learner: top-k accuracy, read from one copy of the scores on the host, and
//! the loss averaged over images.
//!
//! Burn's `TopKAccuracyMetric` sorts every row of scores on the device; for a handful of classes
//! that sort costs more than the training step's matrix products. A class is in the top k when
//! fewer than k classes rank above it, which one pass over the row answers.
//!
//! Burn's `LossMetric` weights each batch's mean loss by the length of the loss tensor it is
//! given, which for a loss already averaged over the batch is 1: the epoch's loss became the
//! mean of the batch means, so a short last batch counted as much as a full one.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorReadError;
use burn::train::ClassificationOutput;
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};

use crate::logits::rank;

/// Burn's name of the loss metric, which the learner's early stopping and the log read.
pub(crate) const LOSS: &str = "Loss";
/// Burn's name of its accuracy metric.
pub(crate) const ACCURACY: &str = "Accuracy";
/// Burn's name of its learning-rate metric.
pub(crate) const LEARNING_RATE: &str = "Learning Rate";

/// The scores [B, C] and labels [B] of one batch.
pub struct ScoresInput {
    scores: Tensor<2>,
    targets: Tensor<1, Int>,
}

impl Adaptor<ScoresInput> for ClassificationOutput {
    fn adapt(&self) -> ScoresInput {
        ScoresInput {
            scores: self.output.clone(),
            targets: self.targets.clone(),
        }
    }
}

/// A batch's loss, averaged over its images, and how many images that is.
pub struct BatchLossInput {
    loss: Tensor<1>,
    images: usize,
}

impl Adaptor<BatchLossInput> for ClassificationOutput {
    fn adapt(&self) -> BatchLossInput {
        BatchLossInput {
            loss: self.loss.clone(),
            images: self.targets.dims()[0],
        }
    }
}

/// What a per-image metric measures on one batch: the mean over its images, and how many
/// images that is (the weight of the batch in the epoch's value).
pub(crate) trait PerImage: Clone + Send + Sync {
    type Input;
    fn batch_mean(&self, input: &Self::Input) -> Result<(f64, usize), TensorReadError>;
}

/// A metric whose epoch value is the mean over the epoch's images: each batch's mean weighted
/// by its number of images.
#[derive(Clone)]
pub(crate) struct ImageMean<P> {
    measure: P,
    name: MetricName,
    unit: Option<&'static str>,
    precision: usize,
    higher_is_better: bool,
    state: NumericMetricState,
}

impl<P: PerImage> Metric for ImageMean<P> {
    type Input = P::Input;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: self.unit.map(str::to_string),
            higher_is_better: self.higher_is_better,
        }
        .into()
    }

    fn update(
        &mut self,
        input: &P::Input,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let (mean, images) = self.measure.batch_mean(input)?;
        self.state.update(mean, images);
        Ok(self.state.compute_update(self.format()))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self.state.compute_final(self.format()))
    }

    fn clear(&mut self) {
        self.state.reset()
    }
}

impl<P> ImageMean<P> {
    fn format(&self) -> FormatOptions {
        let format = FormatOptions::new(self.name.clone()).precision(self.precision);
        match self.unit {
            Some(unit) => format.unit(unit),
            None => format,
        }
    }
}

impl<P: PerImage> Numeric for ImageMean<P> {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }

    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }

    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}

/// The batch's mean loss.
#[derive(Clone)]
pub(crate) struct MeanLoss;

impl PerImage for MeanLoss {
    type Input = BatchLossInput;

    fn batch_mean(&self, input: &BatchLossInput) -> Result<(f64, usize), TensorReadError> {
        let loss = input.loss.clone().mean().try_into_scalar::<f64>()?;
        Ok((loss, input.images))
    }
}

/// The loss per image, reported as "Loss" as Burn's `LossMetric` (which weighted each batch's
/// mean by 1).
pub(crate) type ImageLoss = ImageMean<MeanLoss>;

impl Default for ImageLoss {
    fn default() -> Self {
        Self {
            measure: MeanLoss,
            name: Arc::new(LOSS.to_string()),
            unit: None,
            precision: 4,
            higher_is_better: false,
            state: NumericMetricState::default(),
        }
    }
}

/// Percentage of the batch's images whose label is among the k best-scoring classes (ties go
/// to the lower class index, as in `eval`).
#[derive(Clone)]
pub(crate) struct TopK(usize);

impl PerImage for TopK {
    type Input = ScoresInput;

    fn batch_mean(&self, input: &ScoresInput) -> Result<(f64, usize), TensorReadError> {
        let [batch, classes] = input.scores.dims();
        let scores = input.scores.clone().try_into_data_as::<f32>()?;
        let labels = input.targets.clone().try_into_data_as::<i64>()?;
        let hits = count_top_k(
            scores.as_slice::<f32>()?,
            classes,
            labels.as_slice::<i64>()?,
            self.0,
        );
        Ok((100.0 * hits as f64 / batch.max(1) as f64, batch))
    }
}

/// Top-k accuracy in percent.
pub(crate) type TopKAccuracy = ImageMean<TopK>;

impl TopKAccuracy {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            measure: TopK(k),
            name: Arc::new(top_k_name(k)),
            unit: Some("%"),
            precision: 2,
            higher_is_better: true,
            state: NumericMetricState::default(),
        }
    }
}

/// The name the learner reports the metric under.
pub(crate) fn top_k_name(k: usize) -> String {
    format!("Top-{k} Accuracy")
}

/// How many of the rows of `scores` (`classes` per row) rank their label among the k best.
pub(crate) fn count_top_k(scores: &[f32], classes: usize, labels: &[i64], k: usize) -> usize {
    scores
        .chunks_exact(classes.max(1))
        .zip(labels)
        .filter(|&(row, &label)| {
            usize::try_from(label).is_ok_and(|t| t < row.len() && rank(row, t) < k)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logits::top_classes;

    #[test]
    fn counts_labels_ranked_among_the_best() {
        let scores = [
            0.1, 0.9, 0.5, 0.3, // label 2: second best
            0.8, 0.1, 0.2, 0.3, // label 1: last
            0.5, 0.5, 0.5, 0.5, // label 3: all tied, so it ranks last
        ];
        let labels = [2, 1, 3];
        assert_eq!(count_top_k(&scores, 4, &labels, 1), 0);
        assert_eq!(count_top_k(&scores, 4, &labels, 2), 1);
        assert_eq!(count_top_k(&scores, 4, &labels, 3), 1);
        assert_eq!(count_top_k(&scores, 4, &labels, 4), 3);
    }

    #[test]
    fn agrees_with_sorting_the_scores() {
        let mut rng = linclass_data::split::SplitMix64::new(3);
        for _ in 0..200 {
            // Few distinct values, so that ties are common.
            let row: Vec<f32> = (0..7).map(|_| (rng.next_u64() % 4) as f32).collect();
            let label = (rng.next_u64() % 7) as usize;
            for k in 1..=7 {
                assert_eq!(
                    count_top_k(&row, 7, &[label as i64], k) == 1,
                    top_classes(&row, k).contains(&label),
                    "{row:?} label {label} k {k}"
                );
            }
        }
    }

    #[test]
    fn metric_reads_tensors_and_averages_over_batches() {
        let device = Device::default();
        let mut metric = TopKAccuracy::new(2);
        let meta = MetricMetadata {
            progress: burn::data::dataloader::Progress::new(1, 1, None),
            iteration: Some(0),
            lr: None,
        };
        let input = ScoresInput {
            scores: Tensor::from_data([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]], &device),
            targets: Tensor::from_data([0, 1], &device),
        };
        metric.update(&input, &meta).unwrap();
        assert_eq!(metric.value().unwrap().current(), 50.0);
        let input = ScoresInput {
            scores: Tensor::from_data([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], &device),
            targets: Tensor::from_data([1, 2], &device),
        };
        metric.update(&input, &meta).unwrap();
        assert_eq!(metric.value().unwrap().current(), 100.0);
        assert_eq!(metric.running_value().unwrap().current(), 75.0);
    }
}
