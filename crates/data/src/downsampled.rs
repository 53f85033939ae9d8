//! Downsampled ImageNet (Chrabaszcz, Loshchilov and Hutter 2017, "A Downsampled Variant of
//! ImageNet as an Alternative to the CIFAR datasets"): the 1.28 million training and 50,000
//! validation images of ILSVRC 2012 at 32 × 32 or 64 × 64, in NumPy `.npz` archives.
//!
//! Files: `train_data_batch_1.npz` … `train_data_batch_10.npz` and `val_data.npz`, each holding
//! `data` (N × 3·s·s u8, channel-planar: all red values row by row, then green, then blue, as
//! CIFAR) and `labels` (N class numbers 1…1000); class names from `map_clsloc.txt` (lines
//! `n02119789 1 kit_fox`) when it is there, else the class numbers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::image_set::ImageSet;
use crate::mnist::Split;

/// Number of classes of ImageNet.
pub const CLASSES: usize = 1000;
/// The training archives.
pub const TRAIN_FILES: [&str; 10] = [
    "train_data_batch_1.npz",
    "train_data_batch_2.npz",
    "train_data_batch_3.npz",
    "train_data_batch_4.npz",
    "train_data_batch_5.npz",
    "train_data_batch_6.npz",
    "train_data_batch_7.npz",
    "train_data_batch_8.npz",
    "train_data_batch_9.npz",
    "train_data_batch_10.npz",
];
/// The validation archive (the test split here).
pub const VAL_FILE: &str = "val_data.npz";
/// The class names file.
pub const NAMES_FILE: &str = "map_clsloc.txt";

fn invalid(path: &Path, message: impl Into<String>) -> DataError {
    DataError::format(path, message)
}

/// NumPy's type code without quotes and byte order: "i8" (int64), "u1" (uint8), …
fn type_code(dtype: &npyz::DType) -> String {
    dtype
        .descr()
        .trim_matches(['\'', '"'])
        .trim_start_matches(['<', '>', '|', '='])
        .to_string()
}

/// Reads `labels` of an archive, in whatever integer type it was saved.
fn labels(
    path: &Path,
    archive: &mut npyz::npz::NpzArchive<std::io::BufReader<std::fs::File>>,
) -> Result<Vec<i64>> {
    let io = |e: std::io::Error| invalid(path, format!("`labels`: {e}"));
    let array = archive
        .by_name("labels")
        .map_err(io)?
        .ok_or_else(|| invalid(path, "has no `labels` array; expected `data` and `labels`"))?;
    Ok(match type_code(&array.dtype()).as_str() {
        "i8" => array.into_vec::<i64>().map_err(io)?,
        "i4" => array
            .into_vec::<i32>()
            .map_err(io)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "i2" => array
            .into_vec::<i16>()
            .map_err(io)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "u2" => array
            .into_vec::<u16>()
            .map_err(io)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "u1" => array
            .into_vec::<u8>()
            .map_err(io)?
            .into_iter()
            .map(i64::from)
            .collect(),
        other => {
            return Err(invalid(
                path,
                format!("`labels` are of type {other}; expected integers"),
            ));
        }
    })
}

/// Reads one archive: its pixels and labels (0-based), checked against `size`.
fn read_archive(path: &Path, size: usize) -> Result<(Vec<u8>, Vec<u16>)> {
    let io = |e: std::io::Error| invalid(path, format!("not a readable .npz archive ({e})"));
    let mut archive = npyz::npz::NpzArchive::open(path).map_err(io)?;
    let labels = labels(path, &mut archive)?;
    let data = archive
        .by_name("data")
        .map_err(io)?
        .ok_or_else(|| invalid(path, "has no `data` array; expected `data` and `labels`"))?;
    let dim = 3 * size * size;
    let shape: Vec<u64> = data.shape().to_vec();
    let code = type_code(&data.dtype());
    if shape.len() != 2 || shape[1] as usize != dim || code != "u1" {
        let other = if shape.len() == 2 && shape[1] == 3 * 64 * 64 && size == 32 {
            " (64 × 64 images: data.source = \"imagenet64\")"
        } else if shape.len() == 2 && shape[1] == 3 * 32 * 32 && size == 64 {
            " (32 × 32 images: data.source = \"imagenet32\")"
        } else {
            ""
        };
        return Err(invalid(
            path,
            format!(
                "`data` has numpy type {code} and shape {shape:?}; expected uint8 (u1) [N, {dim}], 3 × {size} × {size} per image{other}"
            ),
        ));
    }
    let n = shape[0] as usize;
    if labels.len() != n {
        return Err(invalid(
            path,
            format!("{} labels for {n} images", labels.len()),
        ));
    }
    let pixels = data.into_vec::<u8>().map_err(io)?;
    let labels = labels
        .into_iter()
        .map(|l| {
            if (1..=CLASSES as i64).contains(&l) {
                Ok((l - 1) as u16)
            } else {
                Err(invalid(
                    path,
                    format!("label {l} is outside 1 to {CLASSES}"),
                ))
            }
        })
        .collect::<Result<Vec<u16>>>()?;
    Ok((pixels, labels))
}

/// The class names: `map_clsloc.txt`'s third column (with `_` as spaces) by class number, or
/// the numbers themselves.
pub fn class_names(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(NAMES_FILE);
    let mut names: Vec<String> = (1..=CLASSES).map(|i| i.to_string()).collect();
    let mut wnids = vec![String::new(); CLASSES];
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(names);
    };
    for (n, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let index = parts
            .get(1)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|i| (1..=CLASSES).contains(i))
            .ok_or_else(|| {
                invalid(
                    &path,
                    format!(
                        "line {}: expected `<wnid> <1 to {CLASSES}> <name>`, found `{line}`",
                        n + 1
                    ),
                )
            })?;
        let name = parts.get(2).map_or(parts[0], |v| v);
        names[index - 1] = name.replace('_', " ");
        wnids[index - 1] = parts[0].to_string();
    }
    // Two classes with one name (ImageNet has two "crane"s) are told apart by their WordNet id.
    let mut count: HashMap<String, usize> = HashMap::new();
    for n in &names {
        *count.entry(n.clone()).or_default() += 1;
    }
    for (name, wnid) in names.iter_mut().zip(&wnids) {
        if count[name.as_str()] > 1 && !wnid.is_empty() {
            *name = format!("{name} ({wnid})");
        }
    }
    Ok(names)
}

/// The files of `split`.
pub fn files(split: Split) -> Vec<PathBuf> {
    match split {
        Split::Train => TRAIN_FILES.iter().map(PathBuf::from).collect(),
        Split::Test => vec![PathBuf::from(VAL_FILE)],
    }
}

/// Reads `split` of the downsampled ImageNet at `size` (32 or 64) from `dir`: the ten training
/// archives, or the validation archive as the test split.
///
/// Errors: a missing or unreadable archive, `data` not u8 [N, 3·size·size], labels outside
/// 1…1000 or not one per image.
pub fn read(dir: &Path, split: Split, size: usize) -> Result<ImageSet> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for file in files(split) {
        let (p, l) = read_archive(&dir.join(file), size)?;
        pixels.extend_from_slice(&p);
        labels.extend(l);
    }
    ImageSet::new(pixels, labels, [3, size, size], class_names(dir)?)
}
