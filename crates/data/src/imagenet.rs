//! ImageNet's layouts and names in image folders: class folders named by WordNet id
//! (`n01440764`) shown by their names ("tench"), and the validation set of the ImageNet
//! localization challenge release (ILSVRC 2012 CLS-LOC, as distributed on Kaggle), one flat
//! `val/` folder whose labels are in `LOC_val_solution.csv`.
//!
//! Names come from a `classes.txt` in the image folder (lines `<folder> <name>`), else from the
//! release's `LOC_synset_mapping.txt` (lines `n01440764 tench, Tinca tinca`: the first synonym is
//! the name) in the folder or up to three folders above it (the release keeps it at the top,
//! above `ILSVRC/Data/CLS-LOC/`). `LOC_val_solution.csv` (header `ImageId,PredictionString`;
//! rows `ILSVRC2012_val_00008726,n02119789 255 142 454 329 …`, the label being the first word of
//! the prediction string) is looked for in the same places.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// The class names file of a folder.
pub const CLASSES_FILE: &str = "classes.txt";
/// The synset names file of the ImageNet localization release.
pub const SYNSET_MAPPING_FILE: &str = "LOC_synset_mapping.txt";
/// The validation labels file of the ImageNet localization release.
pub const VAL_SOLUTION_FILE: &str = "LOC_val_solution.csv";

/// `name` in `root` or in up to three folders above it, the nearest first.
pub fn find_upwards(root: &Path, name: &str) -> Option<PathBuf> {
    let mut dir = Some(root);
    for _ in 0..4 {
        let d = dir?;
        let candidate = d.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

/// Display names for the class `folders` (same order), from the first of `dirs` (the data
/// folder, then the folder holding the class folders: `train/` in a train/test layout) that has
/// a names file, and the file they came from;
/// `None` when there is no names file. Two classes with one name (ImageNet has two "crane"s)
/// get their folder name added: "crane (n02012849)".
///
/// Errors: the file cannot be read, or names no class for one of the folders.
pub fn class_names(dirs: &[&Path], folders: &[String]) -> Result<Option<(Vec<String>, PathBuf)>> {
    let classes_file = dirs
        .iter()
        .map(|d| d.join(CLASSES_FILE))
        .find(|p| p.is_file());
    let mapping = || {
        dirs.iter()
            .find_map(|d| find_upwards(d, SYNSET_MAPPING_FILE))
    };
    let (path, first_synonym) = if let Some(p) = classes_file {
        (p, false)
    } else if let Some(p) = mapping() {
        (p, true)
    } else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let text = text.trim_start_matches('\u{feff}');
    let mut names: HashMap<&str, String> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let name = if first_synonym {
            rest.split(',').next().unwrap_or("").trim()
        } else {
            rest
        };
        names.insert(id, if name.is_empty() { id } else { name }.to_string());
    }
    let mut out = Vec::with_capacity(folders.len());
    for folder in folders {
        let name = names.get(folder.as_str()).ok_or_else(|| {
            DataError::format(
                &path,
                format!(
                    "names no class for the folder '{folder}' (expected a line `{folder} <name>`)"
                ),
            )
        })?;
        out.push(name.clone());
    }
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for n in &out {
        *count.entry(n.as_str()).or_default() += 1;
    }
    let repeated: Vec<String> = count
        .into_iter()
        .filter(|(_, c)| *c > 1)
        .map(|(n, _)| n.to_string())
        .collect();
    for (name, folder) in out.iter_mut().zip(folders) {
        if repeated.contains(name) {
            *name = format!("{name} ({folder})");
        }
    }
    Ok(Some((out, path)))
}

/// The labels of `LOC_val_solution.csv`: image id (the file name without extension) → class
/// id (a WordNet id).
///
/// Errors: the file cannot be read or a row is not `ImageId,<wnid> …`.
pub fn val_solution(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let text = text.trim_start_matches('\u{feff}');
    let mut labels: HashMap<String, String> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (n == 0 && line.starts_with("ImageId")) {
            continue;
        }
        let (id, prediction) = line.split_once(',').ok_or_else(|| {
            DataError::format(
                path,
                format!(
                    "line {}: expected `ImageId,PredictionString`, found `{line}`",
                    n + 1
                ),
            )
        })?;
        let wnid = prediction
            .split_whitespace()
            .next()
            .ok_or_else(|| DataError::format(path, format!("line {}: no class for {id}", n + 1)))?;
        if let Some(before) = labels.insert(id.trim().to_string(), wnid.to_string())
            && before != wnid
        {
            return Err(DataError::format(
                path,
                format!(
                    "line {}: {} is labelled both {before} and {wnid}",
                    n + 1,
                    id.trim()
                ),
            ));
        }
    }
    if labels.is_empty() {
        return Err(DataError::format(path, "holds no labels"));
    }
    Ok(labels)
}
