//! `export`: a run's model in a format other tools read.
//!
//! safetensors (<https://github.com/huggingface/safetensors>): `weight` [C, D] and `bias` [C]
//! as little-endian f32, the names and layout of PyTorch's `nn.Linear(D, C)`, so
//! `linear.load_state_dict(safetensors.torch.load_file(path))` works as it is. The metadata
//! (string → string, values in JSON) says how to make an input from an image:
//! `input_shape` [channels, height, width], `mean` and `std` per channel, `classes` in label
//! order, and `input` the formula x = (v / 255 − mean[c]) / std[c] over the u8 pixels v,
//! flattened channel-major (all of channel 0, row by row, then channel 1, …).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use linclass_model::LinearClassifier;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::run::dir::RunDir;
use crate::run::files::write_atomic;
use crate::run::info::RunInfo;

/// File formats of `export`. (Their docs are `--help` text: shapes in brackets, not links.)
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// safetensors: `weight` [C, D], `bias` [C], metadata for the input.
    Safetensors,
}

/// Where `export` writes by default: `model.safetensors` in the run directory.
pub(crate) fn default_path(run: &RunDir, format: ExportFormat) -> PathBuf {
    match format {
        ExportFormat::Safetensors => run.file("model.safetensors"),
    }
}

/// The metadata written beside the tensors.
pub(crate) fn metadata(info: &RunInfo) -> HashMap<String, String> {
    let json = |v: serde_json::Value| v.to_string();
    // How the weights were trained: the images they saw and for how long.
    let trained = match &info.refit {
        Some(r) => serde_json::json!({
            "images": r.images, "epochs": r.epochs, "refit": true,
            "loss": info.config.train.loss,
        }),
        None => serde_json::json!({
            "images": info.data.train, "held_out_for_validation": info.data.valid,
            "refit": false, "loss": info.config.train.loss,
        }),
    };
    HashMap::from([
        ("trained".to_string(), json(trained)),
        (
            "format".to_string(),
            "linclass linear classifier: logits = x @ weight.T + bias".to_string(),
        ),
        (
            "input_shape".to_string(),
            json(serde_json::json!(info.model.input_shape)),
        ),
        (
            "mean".to_string(),
            json(serde_json::json!(info.normalization.mean)),
        ),
        (
            "std".to_string(),
            json(serde_json::json!(info.normalization.std)),
        ),
        ("classes".to_string(), json(serde_json::json!(info.classes))),
        (
            "input".to_string(),
            "x = (v / 255 - mean[c]) / std[c] for the u8 pixels v, flattened channel-major (C, H, W)"
                .to_string(),
        ),
    ])
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The model as safetensors bytes: `weight` [C, D], `bias` [C] (absent for a model without
/// bias), f32, with [`metadata`].
pub(crate) fn safetensors_bytes(model: &LinearClassifier, info: &RunInfo) -> Result<Vec<u8>> {
    let c = model.num_classes();
    let d: usize = model.input_shape().iter().product();
    let weight: Vec<f32> = model
        .weights()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow!("cannot read the weights: {e:?}"))?;
    let weight = le_bytes(&weight);
    let bias = model
        .bias()
        .map(|b| b.into_data().convert::<f32>().try_into_vec::<f32>())
        .transpose()
        .map_err(|e| anyhow!("cannot read the bias: {e:?}"))?
        .map(|b| le_bytes(&b));
    let mut tensors = vec![(
        "weight",
        TensorView::new(Dtype::F32, vec![c, d], &weight)
            .map_err(|e| anyhow!("weight [{c}, {d}]: {e}"))?,
    )];
    if let Some(bias) = &bias {
        tensors.push((
            "bias",
            TensorView::new(Dtype::F32, vec![c], bias).map_err(|e| anyhow!("bias [{c}]: {e}"))?,
        ));
    }
    safetensors::serialize(tensors, Some(metadata(info)))
        .map_err(|e| anyhow!("cannot encode safetensors: {e}"))
}

/// Writes the model of `run` in `format` to `out` (atomically: a failed export leaves no file).
pub fn export(
    model: &LinearClassifier,
    info: &RunInfo,
    format: ExportFormat,
    out: &Path,
) -> Result<()> {
    let bytes = match format {
        ExportFormat::Safetensors => safetensors_bytes(model, info)?,
    };
    write_atomic(out, &bytes)
}
