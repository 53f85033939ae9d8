//! The experiment configuration: a TOML file with sections [data], [model], [optimizer],
//! [train] and [output], every key defaulted, unknown keys refused, and `--set section.key=value`
//! overrides checked the same way.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use linclass_data::DatasetKind;
use linclass_data::cifar::LabelKind;
use linclass_data::folder::FolderOptions;
use linclass_model::Init;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
/// An experiment: the TOML file of `configs/`, every section optional (defaults shown by
/// `configs/`), unknown keys refused.
pub struct ExperimentConfig {
    /// `[data]`: which images, where, how split and normalized.
    pub data: DataConfig,
    /// `[model]`: the bias and the initialization.
    pub model: ModelConfig,
    /// `[optimizer]`: SGD's learning rate, momentum, weight decay and schedule.
    pub optimizer: OptimizerConfig,
    /// `[train]`: epochs, batch size, loss, seed, which epoch is kept, refit.
    pub train: TrainConfig,
    /// `[output]`: the run directory.
    pub output: OutputConfig,
    /// `[sweep]`: the grid `sweep` trains.
    pub sweep: SweepConfig,
}

/// Values to try with `sweep`: `grid = { "optimizer.lr" = [0.01, 0.1] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SweepConfig {
    /// `section.key` → the values to try.
    pub grid: std::collections::BTreeMap<String, Vec<toml::Value>>,
}

/// Which dataset, where, and how it is split and normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// "mnist", "fashion-mnist", "cifar10", "cifar100", "folder", "imagenet32" or
    /// "imagenet64".
    pub source: DatasetKind,
    /// Folder holding the dataset files; empty means the kind's default folder under data/
    /// (for MNIST, the copy shipped with the project).
    pub dir: String,
    /// Download missing files from the official mirrors (checksums verified).
    pub download: bool,
    /// URL prefixes tried before the official mirrors.
    pub mirrors: Vec<String>,
    /// CIFAR-100: "fine" (100 classes) or "coarse" (20 superclasses).
    pub label: LabelKind,
    /// Fraction of the training split held out for validation, in (0, 1).
    pub valid_fraction: f64,
    /// "scale" (pixels / 255) or "standardize" (then per-channel mean/std of the training part).
    pub normalize: NormalizeKind,
    /// Mirror each training image left-right with probability 1/2, drawn anew every epoch
    /// (seeded); validation and test images are never mirrored. For pictures of the world
    /// (CIFAR, ImageNet), not for digits or clothes, whose left and right differ.
    pub random_flip: bool,
    /// Use only the first N images of the training split (0: all); image folders: N drawn
    /// evenly from every class (seeded).
    pub train_limit: usize,
    /// Use only the first N images of the test split (0: all).
    pub test_limit: usize,
    /// The files under the official names are a custom subset: accept other record counts
    /// than the official ones (and do not compare their MD5 sums).
    pub subset: bool,
    /// Image folders: size, channels, test split, unreadable files.
    pub folder: FolderOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How u8 pixels are scaled before the model sees them.
pub enum NormalizeKind {
    /// v / 255 only.
    Scale,
    /// (v / 255 − mean) / std per channel, measured on the training part.
    Standardize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: DatasetKind::Mnist,
            dir: String::new(),
            download: false,
            mirrors: Vec::new(),
            label: LabelKind::Fine,
            valid_fraction: 0.1,
            normalize: NormalizeKind::Scale,
            random_flip: false,
            train_limit: 0,
            test_limit: 0,
            subset: false,
            folder: FolderOptions::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// The `[model]` section.
pub struct ModelConfig {
    /// Whether f(x) = Wx + b has the bias b.
    pub bias: bool,
    /// "zeros" (the default), "uniform" (Burn's default, ±1/√D) or "normal" (std `init_std`).
    pub init: Init,
    /// Standard deviation of the "normal" initialization.
    pub init_std: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            bias: true,
            init: Init::Zeros,
            init_std: 0.01,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// The `[optimizer]` section.
pub struct OptimizerConfig {
    /// "sgd".
    pub name: OptimizerName,
    /// Learning rate, > 0: one for every loss, or one per loss
    /// (`{ cross_entropy = 0.5, squared_error = 0.1 }`).
    pub lr: LearningRate,
    /// Momentum in [0, 1); 0 is plain SGD.
    pub momentum: f64,
    /// L2 penalty added to the gradient, ≥ 0.
    pub weight_decay: f64,
    /// Learning-rate schedule: "constant", "step" (× `step_gamma` every `step_epochs`
    /// epochs) or "cosine" (from `lr` down to `min_lr` over the run).
    pub schedule: Schedule,
    /// Epochs between two steps of the "step" schedule.
    pub step_epochs: usize,
    /// Factor of each step of the "step" schedule.
    pub step_gamma: f64,
    /// Where the "cosine" schedule ends.
    pub min_lr: f64,
}

/// The learning rate: one number for every loss, or one per loss. The squared error's
/// curvature grows with the inputs' size while the cross-entropy's gradient stays bounded, so a
/// rate that suits the cross-entropy can make the squared error diverge; a config can then give
/// each its own. NLL has the cross-entropy's gradients and uses its rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LearningRate {
    /// One rate for every loss.
    All(f64),
    /// One rate per loss.
    PerLoss {
        /// For the cross-entropy and NLL.
        cross_entropy: f64,
        /// For the squared error.
        squared_error: f64,
    },
}

impl LearningRate {
    /// The rate used with `loss`.
    pub fn for_loss(self, loss: LossKind) -> f64 {
        match (self, loss) {
            (LearningRate::All(lr), _) => lr,
            (LearningRate::PerLoss { squared_error, .. }, LossKind::SquaredError) => squared_error,
            (LearningRate::PerLoss { cross_entropy, .. }, _) => cross_entropy,
        }
    }

    /// (key, rate) of every rate given: `optimizer.lr` or `optimizer.lr.<loss>`.
    fn entries(self) -> Vec<(&'static str, f64)> {
        match self {
            LearningRate::All(lr) => vec![("optimizer.lr", lr)],
            LearningRate::PerLoss {
                cross_entropy,
                squared_error,
            } => vec![
                ("optimizer.lr.cross_entropy", cross_entropy),
                ("optimizer.lr.squared_error", squared_error),
            ],
        }
    }
}

impl std::fmt::Display for LearningRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LearningRate::All(lr) => write!(f, "{lr}"),
            LearningRate::PerLoss {
                cross_entropy,
                squared_error,
            } => write!(
                f,
                "{{ cross_entropy = {cross_entropy}, squared_error = {squared_error} }}"
            ),
        }
    }
}

impl<'de> Deserialize<'de> for LearningRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // A map, not a struct: a TOML array must not be read as the fields in order.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            All(f64),
            PerLoss(std::collections::BTreeMap<String, toml::Value>),
        }
        const EXPECTED: &str = "expected a learning rate (a number) or one per loss, \
             { cross_entropy = 0.5, squared_error = 0.1 }";
        let map = match Raw::deserialize(d) {
            Ok(Raw::All(lr)) => return Ok(LearningRate::All(lr)),
            Ok(Raw::PerLoss(map)) => map,
            Err(_) => return Err(D::Error::custom(EXPECTED)),
        };
        if let Some(other) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "cross_entropy" | "squared_error"))
        {
            return Err(D::Error::custom(format!(
                "unknown loss `{other}` in the learning-rate table (NLL uses the cross-entropy rate): {EXPECTED}"
            )));
        }
        let rate = |name: &str| -> Result<f64, D::Error> {
            match map.get(name) {
                Some(toml::Value::Float(v)) => Ok(*v),
                Some(toml::Value::Integer(v)) => Ok(*v as f64),
                Some(other) => Err(D::Error::custom(format!(
                    "{name} = {other}: expected a number"
                ))),
                None => Err(D::Error::custom(format!(
                    "the learning-rate table has no `{name}`: {EXPECTED}"
                ))),
            }
        };
        Ok(LearningRate::PerLoss {
            cross_entropy: rate("cross_entropy")?,
            squared_error: rate("squared_error")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// A learning-rate schedule, stepped once per gradient step.
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// × `step_gamma` every `step_epochs` epochs.
    Step,
    /// Cosine annealing from `lr` to `min_lr` over the run.
    Cosine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// The optimizer.
pub enum OptimizerName {
    /// Stochastic gradient descent (with momentum and weight decay if set).
    Sgd,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            name: OptimizerName::Sgd,
            lr: LearningRate::All(0.5),
            momentum: 0.0,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            step_epochs: 5,
            step_gamma: 0.1,
            min_lr: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// The `[train]` section.
pub struct TrainConfig {
    /// Passes over the training part, ≥ 1.
    pub epochs: usize,
    /// Images per SGD step: 1 (online SGD) up to "full" (batch gradient descent, one step per
    /// epoch over the whole training part).
    pub batch_size: BatchSize,
    /// "cross_entropy" (softmax + cross-entropy), "squared_error" (between the scores and the
    /// one-hot label, mean over classes as PyTorch's `MSELoss`) or "nll" (log-softmax + negative log-likelihood).
    pub loss: LossKind,
    /// How the gradient of the loss is computed: "analytic" (the lecture's formula, one fused
    /// operation: dL/ds = (P − Y)/B for the cross-entropy, 2(S − Y)/(B·C) for the squared
    /// error) or "autodiff" (Burn's automatic differentiation of the loss's composition). The
    /// two give the same gradients to f32 rounding; "nll" is always differentiated
    /// automatically (it is the cross-entropy computed in two steps).
    pub gradient: GradientKind,
    /// Stop when the validation loss has not improved for this many epochs (0: never).
    pub early_stopping_patience: usize,
    /// Seeds the split, the shuffling and the initialization.
    pub seed: u64,
    /// Reshuffle the training part every epoch.
    pub shuffle: bool,
    /// Which epoch's model becomes the run's record: "best" (lowest validation loss) or "last".
    pub keep: Keep,
    /// After the run, train again from the start on the training and validation parts
    /// together for the kept epoch's number of epochs (same schedule, seed and settings), and
    /// make that the run's record (scikit-learn's `refit`).
    pub refit: bool,
}

/// How the gradient of the loss is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GradientKind {
    /// The loss's gradient with respect to the scores written down (one fused operation).
    #[default]
    Analytic,
    /// Burn's automatic differentiation of the loss's composition.
    Autodiff,
}

/// Which epoch's model a run keeps as its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// The epoch with the lowest validation loss (as Keras' `restore_best_weights`).
    Best,
    /// The last finished epoch.
    Last,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: BatchSize::Size(128),
            loss: LossKind::CrossEntropy,
            gradient: GradientKind::Analytic,
            early_stopping_patience: 0,
            seed: 42,
            shuffle: true,
            keep: Keep::Best,
            refit: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// The training loss.
pub enum LossKind {
    /// Softmax and cross-entropy.
    CrossEntropy,
    /// Squared error between the scores and the one-hot label, mean over classes.
    SquaredError,
    /// Log-softmax and negative log-likelihood (the cross-entropy, computed in two steps).
    Nll,
}

impl LossKind {
    /// The loss's name in words, e.g. for a chart's title.
    pub fn lecture_name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "cross-entropy",
            LossKind::SquaredError => "squared error",
            LossKind::Nll => "negative log-likelihood",
        }
    }
}

/// Images per gradient step: a number, or the whole training part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// This many images (the last batch of an epoch may be smaller).
    Size(usize),
    /// The whole training part: batch gradient descent.
    Full,
}

impl BatchSize {
    /// The batch size for a training part of `n` images.
    pub fn resolve(self, n: usize) -> usize {
        match self {
            BatchSize::Size(b) => b,
            BatchSize::Full => n.max(1),
        }
    }
}

impl std::fmt::Display for BatchSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchSize::Size(b) => write!(f, "{b}"),
            BatchSize::Full => f.write_str("full"),
        }
    }
}

impl Serialize for BatchSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BatchSize::Size(b) => s.serialize_u64(*b as u64),
            BatchSize::Full => s.serialize_str("full"),
        }
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = BatchSize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a positive number of images or \"full\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<BatchSize, E> {
                if v < 0 {
                    return Err(E::custom(format!(
                        "batch size {v}: expected a positive number of images or \"full\""
                    )));
                }
                Ok(BatchSize::Size(v as usize))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<BatchSize, E> {
                Ok(BatchSize::Size(v as usize))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BatchSize, E> {
                if v == "full" {
                    Ok(BatchSize::Full)
                } else {
                    Err(E::custom(format!(
                        "batch size \"{v}\": expected a positive number of images or \"full\""
                    )))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
/// The `[output]` section.
pub struct OutputConfig {
    /// The run directory: model record, resolved config, metrics, checkpoints.
    pub dir: PathBuf,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runs/mnist"),
        }
    }
}

/// The 1-based line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].matches('\n').count() + 1
}

/// One-line form of a TOML error, with the line it points at.
fn toml_error(origin: &str, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let n = line_of(text, span.start);
            let line: String = text
                .lines()
                .nth(n - 1)
                .unwrap_or("")
                .trim()
                .chars()
                .take(60)
                .collect();
            anyhow!("{origin}:{n}: {msg} (in `{line}`)")
        }
        None => anyhow!("{origin}: {msg}"),
    }
}

/// A TOML value as an override writes it: strings bare, anything else as TOML.
pub(crate) fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Applies one `section.key=value` override `item` to the serialized config `table`, checking
/// that the key exists and that the value has its type; errors start with `from` and `item`.
/// A config file's bytes as text: UTF-8 (a byte-order mark is dropped by the TOML reader).
///
/// Errors: UTF-16 (as some Windows editors save), or other bytes that are not UTF-8.
fn config_text(bytes: Vec<u8>, origin: &str) -> Result<String> {
    let utf16 = bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF])
        || (bytes.len() >= 4 && (bytes[1] == 0 && bytes[3] == 0 || bytes[0] == 0 && bytes[2] == 0));
    if utf16 {
        bail!(
            "{origin}: the file is UTF-16 text (as some Windows editors save it); expected UTF-8: save it again as UTF-8"
        );
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        anyhow!("{origin}:{line}: byte {at} is not UTF-8 (the file was saved in another encoding); expected UTF-8 text")
    })
}

/// The first number in TOML `text` (outside strings and comments) that a 64-bit float cannot
/// hold: its line (1-based), the literal, and why (it overflows to infinity, or a non-zero
/// number underflows to 0). TOML readers otherwise say only that it is not a number, or give 0.
fn unrepresentable_number(text: &str) -> Option<(usize, String, &'static str)> {
    for (n, line) in text.lines().enumerate() {
        let (mut quote, mut token) = (None, String::new());
        for c in line.chars().chain([' ']) {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => continue,
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '#' => break,
                None if c.is_ascii_alphanumeric() || "+-._".contains(c) => {
                    token.push(c);
                    continue;
                }
                None => {}
            }
            let literal = std::mem::take(&mut token);
            let number = literal.replace('_', "");
            let Ok(v) = number.parse::<f64>() else {
                continue;
            };
            if v.is_infinite() && !number.to_lowercase().contains("inf") {
                return Some((
                    n + 1,
                    literal,
                    "overflows a 64-bit float (the largest is about 1.8e308)",
                ));
            }
            let mantissa = number.split(['e', 'E']).next().unwrap_or("");
            if v == 0.0 && mantissa.chars().any(|c| ('1'..='9').contains(&c)) {
                return Some((
                    n + 1,
                    literal,
                    "underflows to 0 in a 64-bit float (the smallest is about 5e-324)",
                ));
            }
        }
    }
    None
}

fn apply_override(
    table: &mut toml::Table,
    defaults: &toml::Table,
    item: &str,
    from: &str,
) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| anyhow!("{from} {item}: expected section.key=value"))?;
    if let Some((_, literal, why)) = unrepresentable_number(raw) {
        bail!("{from} {item}: {literal} {why}");
    }
    let path: Vec<&str> = key.trim().split('.').collect();
    if path.len() < 2 {
        bail!("{from} {item}: expected section.key=value, e.g. optimizer.lr=0.05");
    }
    if let ["optimizer", "lr", loss] = path.as_slice() {
        // One loss's rate: the rate becomes a table if it was one number for all.
        set_loss_rate(table, loss, parse_value(raw.trim()), item, from)?;
    } else {
        check_known(defaults, &path, item, from)?;
        let (last, parents) = path.split_last().expect("at least two parts");
        let mut node = &mut *table;
        for part in parents {
            node = node
                .get_mut(*part)
                .and_then(|v| v.as_table_mut())
                .expect("every known table is serialized");
        }
        node.insert(last.to_string(), parse_value(raw.trim()));
    }
    // Types are checked per override, values once all are applied (one may need another, as
    // data.source = "folder" needs data.dir).
    let text = toml::to_string(&*table)?;
    toml::from_str::<ExperimentConfig>(&text)
        .map_err(|e| anyhow!("{from} {item}: {}", e.message().trim().replace('\n', " ")))?;
    Ok(())
}

/// `--set optimizer.lr.<loss>=value`: sets one loss's rate in the serialized config `table`,
/// turning a single rate into a table first.
fn set_loss_rate(
    table: &mut toml::Table,
    loss: &str,
    value: toml::Value,
    item: &str,
    from: &str,
) -> Result<()> {
    if !matches!(loss, "cross_entropy" | "squared_error") {
        bail!(
            "{from} {item}: unknown loss `{loss}`; optimizer.lr has cross_entropy and squared_error (NLL uses the cross-entropy rate)"
        );
    }
    let optimizer = table
        .get_mut("optimizer")
        .and_then(|v| v.as_table_mut())
        .expect("the optimizer table is serialized");
    let mut rates = match optimizer.remove("lr") {
        Some(toml::Value::Table(t)) => t,
        Some(one) => {
            let mut t = toml::Table::new();
            t.insert("cross_entropy".into(), one.clone());
            t.insert("squared_error".into(), one);
            t
        }
        None => toml::Table::new(),
    };
    rates.insert(loss.to_string(), value);
    optimizer.insert("lr".into(), toml::Value::Table(rates));
    Ok(())
}

impl ExperimentConfig {
    /// The learning rate for the configured loss.
    pub fn lr(&self) -> f64 {
        self.optimizer.lr.for_loss(self.train.loss)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        config.validate().with_context(|| origin.to_string())?;
        config.check_sweep_grid(origin)?;
        Ok(config)
    }

    /// Reads a config file and applies `--set` overrides.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let origin = path.display().to_string();
        let text = config_text(bytes, &origin)?;
        if let Some((line, literal, why)) = unrepresentable_number(&text) {
            bail!("{origin}:{line}: {literal} {why}");
        }
        let config = Self::from_toml(&text, &origin)?;
        config.with_overrides(overrides)
    }

    /// Applies `section.key=value` overrides (`data.folder.height=64` for nested tables); the
    /// value is read as TOML (a bare word that is not valid TOML is taken as a string), and
    /// the result is checked like a file.
    pub fn with_overrides(self, overrides: &[String]) -> Result<Self> {
        self.with_overrides_from(overrides, "--set")
    }

    /// [`Self::with_overrides`], errors naming where the overrides came from (`--set`,
    /// `--grid`, a config's `[sweep] grid`).
    pub fn with_overrides_from(self, overrides: &[String], from: &str) -> Result<Self> {
        if overrides.is_empty() {
            return Ok(self);
        }
        let mut table = toml::Table::try_from(&self)?;
        let defaults = toml::Table::try_from(Self::default())?;
        for item in overrides {
            apply_override(&mut table, &defaults, item, from)?;
        }
        let text = toml::to_string(&table)?;
        let config: Self = toml::from_str(&text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that every value of the `[sweep] grid` names a key of the config and has its
    /// type, so that a typo is found when the file is read, not when a sweep reaches it.
    fn check_sweep_grid(&self, origin: &str) -> Result<()> {
        let table = toml::Table::try_from(self)?;
        let defaults = toml::Table::try_from(Self::default())?;
        let from = format!("{origin}: [sweep] grid");
        for (key, values) in &self.sweep.grid {
            if values.is_empty() {
                bail!("{from}: {key} has no values");
            }
            for value in values {
                let text = value_text(value);
                apply_override(
                    &mut table.clone(),
                    &defaults,
                    &format!("{key}={text}"),
                    &from,
                )?;
            }
        }
        Ok(())
    }

    /// Checks the values that TOML types alone cannot.
    pub fn validate(&self) -> Result<()> {
        self.check_hyperparameters()?;
        self.check_folder_and_output()
    }

    /// The split fraction, learning rates, momentum, weight decay, epochs, batch size,
    /// schedule and initialization.
    fn check_hyperparameters(&self) -> Result<()> {
        let d = &self.data;
        if !(d.valid_fraction > 0.0 && d.valid_fraction < 1.0) {
            bail!(
                "data.valid_fraction = {}: expected a fraction strictly between 0 and 1",
                d.valid_fraction
            );
        }
        let o = &self.optimizer;
        for (key, lr) in o.lr.entries() {
            if !(lr.is_finite() && lr > 0.0) {
                bail!("{key} = {lr}: expected a positive number");
            }
        }
        if !(0.0..1.0).contains(&o.momentum) {
            bail!(
                "optimizer.momentum = {}: expected a number in [0, 1)",
                o.momentum
            );
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            bail!(
                "optimizer.weight_decay = {}: expected a number ≥ 0",
                o.weight_decay
            );
        }
        if self.train.epochs == 0 {
            bail!("train.epochs = 0: expected at least 1");
        }
        if self.train.batch_size == BatchSize::Size(0) {
            bail!("train.batch_size = 0: expected at least 1 (or \"full\")");
        }
        if o.schedule == Schedule::Step
            && (o.step_epochs == 0 || !(o.step_gamma > 0.0 && o.step_gamma <= 1.0))
        {
            bail!(
                "optimizer.step_epochs = {}, optimizer.step_gamma = {}: expected at least 1 epoch and a factor in (0, 1]",
                o.step_epochs,
                o.step_gamma
            );
        }
        // Burn's cosine schedule starts at most at 1; checked for the rate the loss uses.
        let lr = self.lr();
        if o.schedule == Schedule::Cosine && !(o.min_lr >= 0.0 && o.min_lr < lr && lr <= 1.0) {
            bail!(
                "optimizer.min_lr = {}, learning rate {lr} (optimizer.lr): the cosine schedule needs 0 <= min_lr < lr <= 1 (or optimizer.schedule = \"constant\" or \"step\")",
                o.min_lr
            );
        }
        if !(self.model.init_std.is_finite() && self.model.init_std > 0.0) {
            bail!(
                "model.init_std = {}: expected a positive number",
                self.model.init_std
            );
        }
        Ok(())
    }

    /// The image folder's settings and the run directory.
    fn check_folder_and_output(&self) -> Result<()> {
        let d = &self.data;
        if d.source == DatasetKind::Folder && d.dir.is_empty() {
            bail!(
                "data.source = \"folder\" needs data.dir: the folder holding one folder of images per class"
            );
        }
        let f = &d.folder;
        if !matches!(f.channels, 1 | 3) {
            bail!(
                "data.folder.channels = {}: expected 1 (grayscale) or 3 (RGB)",
                f.channels
            );
        }
        if f.height == 0 || f.width == 0 {
            bail!(
                "data.folder.height/width = {}x{}: expected a non-zero size",
                f.height,
                f.width
            );
        }
        if !(f.test_fraction > 0.0 && f.test_fraction < 1.0) {
            bail!(
                "data.folder.test_fraction = {}: expected a fraction strictly between 0 and 1",
                f.test_fraction
            );
        }
        if self.output.dir.as_os_str().is_empty() {
            bail!("output.dir is empty: expected the path of the run directory");
        }
        Ok(())
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config always serializes")
    }
}

/// Checks that a dotted key names a key of the config, naming the alternatives if not.
fn check_known(defaults: &toml::Table, path: &[&str], item: &str, from: &str) -> Result<()> {
    let mut node = defaults;
    for (depth, part) in path.iter().enumerate() {
        let here = path[..depth].join(".");
        let known = || node.keys().cloned().collect::<Vec<_>>().join(", ");
        let Some(value) = node.get(*part) else {
            if depth == 0 {
                bail!(
                    "{from} {item}: unknown section '{part}' (expected one of: {})",
                    known()
                );
            }
            bail!(
                "{from} {item}: unknown key '{}' (keys of [{here}]: {})",
                path.join("."),
                known()
            );
        };
        if depth + 1 < path.len() {
            node = value.as_table().ok_or_else(|| {
                anyhow!(
                    "{from} {item}: '{}' is a value, not a table",
                    path[..=depth].join(".")
                )
            })?;
        } else if value.is_table() {
            bail!(
                "{from} {item}: '{}' is a table: set one of its keys",
                path.join(".")
            );
        }
    }
    Ok(())
}

/// Reads an override's value as TOML, falling back to a plain string.
pub(crate) fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_a_float_cannot_hold_and_utf16_files_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("c.toml");
        let load = |text: &[u8]| {
            std::fs::write(&file, text).unwrap();
            ExperimentConfig::load(&file, &[]).unwrap_err().to_string()
        };
        let e = load(b"# lr = 1e999 in a comment is fine\n[optimizer]\nlr = 1e400\n");
        assert!(
            e.ends_with("c.toml:3: 1e400 overflows a 64-bit float (the largest is about 1.8e308)"),
            "{e}"
        );
        let e = load(b"[optimizer]\nlr = { cross_entropy = 0.5, squared_error = 1_0e-4_00 }\n");
        assert!(e.contains("c.toml:2: 1_0e-4_00 underflows to 0"), "{e}");
        let utf16: Vec<u8> = "\u{feff}[train]\nepochs = 3\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(load(&utf16).contains("is UTF-16 text"));
        let e = load(b"[data]\ndir = \"caf\xe9\"\n");
        assert!(e.contains("c.toml:2: byte 17 is not UTF-8"), "{e}");
        // Strings and ordinary numbers are left to TOML.
        std::fs::write(
            &file,
            "[output]\ndir = \"runs/1e400\"\n[optimizer]\nlr = 1e-3\n",
        )
        .unwrap();
        assert_eq!(
            ExperimentConfig::load(&file, &[]).unwrap().output.dir,
            std::path::Path::new("runs/1e400")
        );

        let set = |item: &str| {
            ExperimentConfig::default()
                .with_overrides(&[item.to_string()])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            set("optimizer.lr=1e-400"),
            "--set optimizer.lr=1e-400: 1e-400 underflows to 0 in a 64-bit float (the smallest is about 5e-324)"
        );
        assert!(set("optimizer.weight_decay=-1e309").contains("-1e309 overflows"));
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = ExperimentConfig::from_toml("", "x.toml").unwrap();
        assert_eq!(c, ExperimentConfig::default());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = ExperimentConfig::from_toml("[optimizer]\nlr = 0.1\nlrr = 2\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml:3:"), "{e}");
        assert!(e.contains("lrr"), "{e}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let e = ExperimentConfig::from_toml("[train]\nepochs = \"ten\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml:2:"), "{e}");
    }

    #[test]
    fn overrides_apply_and_validate() {
        let c = ExperimentConfig::default()
            .with_overrides(&[
                "optimizer.lr=0.05".into(),
                "train.epochs=3".into(),
                "output.dir=runs/x".into(),
                "data.normalize=standardize".into(),
            ])
            .unwrap();
        assert_eq!(c.optimizer.lr, LearningRate::All(0.05));
        assert_eq!(c.train.epochs, 3);
        assert_eq!(c.output.dir, PathBuf::from("runs/x"));
        assert_eq!(c.data.normalize, NormalizeKind::Standardize);

        let e = ExperimentConfig::default()
            .with_overrides(&["optimizer.lrr=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'optimizer.lrr'"), "{e}");
        let e = ExperimentConfig::default()
            .with_overrides(&["optimizer.lr=-1".into()])
            .unwrap_err();
        assert!(format!("{e:#}").contains("optimizer.lr = -1"), "{e:#}");
        let e = ExperimentConfig::default()
            .with_overrides(&["train.epochs=many".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.epochs=many"), "{e}");

        let c = ExperimentConfig::default()
            .with_overrides(&[
                "data.folder.height=64".into(),
                "data.source=cifar100".into(),
            ])
            .unwrap();
        assert_eq!(c.data.folder.height, 64);
        assert_eq!(c.data.source, DatasetKind::Cifar100);
        let e = ExperimentConfig::default()
            .with_overrides(&["data.folder.depth=3".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'data.folder.depth'"), "{e}");
        let e = ExperimentConfig::default()
            .with_overrides(&["data.folder=3".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a table"), "{e}");
    }

    #[test]
    fn batch_size_is_a_number_or_full() {
        let c = ExperimentConfig::from_toml("[train]\nbatch_size = \"full\"\n", "x").unwrap();
        assert_eq!(c.train.batch_size, BatchSize::Full);
        assert_eq!(c.train.batch_size.resolve(500), 500);
        let c = ExperimentConfig::default()
            .with_overrides(&["train.batch_size=full".into()])
            .unwrap();
        assert_eq!(c.train.batch_size, BatchSize::Full);
        assert!(c.to_toml().contains("batch_size = \"full\""));
        for bad in ["\"all\"", "-3", "0"] {
            let text = format!("[train]\nbatch_size = {bad}\n");
            let e = format!("{:#}", ExperimentConfig::from_toml(&text, "x").unwrap_err());
            assert!(e.contains("batch"), "{bad}: {e}");
        }
    }

    #[test]
    fn learning_rates_per_loss_and_their_errors() {
        let parse = |lr: &str| {
            ExperimentConfig::from_toml(&format!("[optimizer]\nlr = {lr}\n"), "t.toml")
                .map_err(|e| format!("{e:#}"))
        };
        let c = parse("{ cross_entropy = 0.5, squared_error = 0.1 }").unwrap();
        assert_eq!(c.lr(), 0.5);
        let mut se = c.clone();
        se.train.loss = LossKind::SquaredError;
        assert_eq!(se.lr(), 0.1);
        se.train.loss = LossKind::Nll;
        assert_eq!(se.lr(), 0.5);
        assert_eq!(parse("2").unwrap().lr(), 2.0);
        // An array is not a table read in order.
        assert!(parse("[0.1, 0.2]").unwrap_err().contains("one per loss"));
        let e = parse("{ cross_entropy = 0.5 }").unwrap_err();
        assert!(e.contains("no `squared_error`"), "{e}");
        let e = parse("{ cross_entropy = 0.5, squared_eror = 0.1 }").unwrap_err();
        assert!(e.contains("unknown loss `squared_eror`"), "{e}");
        let e = parse("{ cross_entropy = \"a\", squared_error = 0.1 }").unwrap_err();
        assert!(
            e.contains("cross_entropy = \"a\": expected a number"),
            "{e}"
        );
        let e = parse("{ cross_entropy = 0.5, squared_error = -1 }").unwrap_err();
        assert!(
            e.contains("optimizer.lr.squared_error = -1: expected a positive"),
            "{e}"
        );
        // One loss's rate from the command line, on a table or on a single rate.
        let c = parse("{ cross_entropy = 0.5, squared_error = 0.1 }")
            .unwrap()
            .with_overrides(&["optimizer.lr.squared_error=0.05".into()])
            .unwrap();
        assert_eq!(
            c.optimizer.lr,
            LearningRate::PerLoss {
                cross_entropy: 0.5,
                squared_error: 0.05
            }
        );
        let c = parse("0.3")
            .unwrap()
            .with_overrides(&["optimizer.lr.cross_entropy=0.2".into()])
            .unwrap();
        assert_eq!(
            c.optimizer.lr,
            LearningRate::PerLoss {
                cross_entropy: 0.2,
                squared_error: 0.3
            }
        );
        let e = parse("0.3")
            .unwrap()
            .with_overrides(&["optimizer.lr.nll=0.2".into()])
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("NLL uses the cross-entropy rate"),
            "{e:#}"
        );
        // The cosine schedule's bound applies to the rate the loss uses.
        let text =
            "[optimizer]\nschedule = \"cosine\"\nlr = { cross_entropy = 0.5, squared_error = 2 }\n";
        assert!(ExperimentConfig::from_toml(text, "t.toml").is_ok());
        let e = ExperimentConfig::from_toml(
            &format!("{text}[train]\nloss = \"squared_error\"\n"),
            "t.toml",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("lr <= 1"), "{e:#}");
    }

    #[test]
    fn valid_fraction_bounds() {
        for bad in ["0.0", "1.0", "-0.1", "1.5"] {
            let text = format!("[data]\nvalid_fraction = {bad}\n");
            assert!(ExperimentConfig::from_toml(&text, "x").is_err(), "{bad}");
        }
    }
}
