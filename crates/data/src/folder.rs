//! Image folders, ImageNet style: `root/<class>/*.png|jpg|jpeg|bmp`, or `root/train/<class>/…`
//! and `root/test/<class>/…`. Class indices follow the sorted folder names. Images are decoded
//! once, in parallel, converted to the configured channels and resized to the configured size.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decode::{decode_all, is_image_file};
use crate::error::{DataError, Result};
use crate::image_set::ImageSet;
use crate::mnist::Split;
use crate::split::SplitMix64;

/// How a folder of images becomes an image set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FolderOptions {
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Without train/ and test/ subfolders: the fraction of each class kept for testing.
    pub test_fraction: f64,
    /// Skip files that cannot be decoded (and say how many) instead of failing.
    pub skip_unreadable: bool,
}

impl Default for FolderOptions {
    fn default() -> Self {
        Self {
            channels: 3,
            height: 32,
            width: 32,
            test_fraction: 0.2,
            skip_unreadable: false,
        }
    }
}

impl FolderOptions {
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }
}

/// What was read from a folder.
#[derive(Debug, Clone)]
pub struct FolderSet {
    pub set: ImageSet,
    /// Files that could not be decoded and were skipped.
    pub skipped: Vec<PathBuf>,
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

/// Class folders of `dir` (sorted) and the image files of each (sorted).
fn scan_classes(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let mut classes = Vec::new();
    for path in sorted_entries(dir)? {
        if !path.is_dir() {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let files: Vec<PathBuf> = sorted_entries(&path)?
            .into_iter()
            .filter(|p| p.is_file() && is_image_file(p))
            .collect();
        classes.push((name, files));
    }
    if classes.is_empty() {
        return Err(DataError::format(
            dir,
            "no class folders: expected <class>/*.png|jpg|jpeg|bmp (or train/ and test/ holding them)",
        ));
    }
    if let Some((name, _)) = classes.iter().find(|(_, files)| files.is_empty()) {
        return Err(DataError::format(
            dir.join(name),
            "class folder holds no PNG, JPEG or BMP images",
        ));
    }
    Ok(classes)
}

/// The image files of one split with their class indices, and the class names.
pub struct SplitListing {
    pub items: Vec<(PathBuf, u16)>,
    pub classes: Vec<String>,
}

/// Lists one split of an image folder.
pub fn list_split(
    root: &Path,
    split: Split,
    options: &FolderOptions,
    seed: u64,
) -> Result<SplitListing> {
    if !root.is_dir() {
        return Err(DataError::format(root, "image folder does not exist"));
    }
    let (train_dir, test_dir) = (root.join("train"), root.join("test"));
    if train_dir.is_dir() && test_dir.is_dir() {
        let train = scan_classes(&train_dir)?;
        let names: Vec<String> = train.iter().map(|(n, _)| n.clone()).collect();
        let chosen = match split {
            Split::Train => train,
            Split::Test => scan_classes(&test_dir)?,
        };
        let mut items = Vec::new();
        for (name, files) in chosen {
            let index = names.iter().position(|n| *n == name).ok_or_else(|| {
                DataError::format(
                    test_dir.join(&name),
                    format!("class '{name}' is not among the training classes {names:?}"),
                )
            })?;
            items.extend(files.into_iter().map(|f| (f, index as u16)));
        }
        return Ok(SplitListing {
            items,
            classes: names,
        });
    }
    if !(options.test_fraction > 0.0 && options.test_fraction < 1.0) {
        return Err(DataError::Invalid(format!(
            "data.folder.test_fraction = {}: without train/ and test/ subfolders a fraction strictly between 0 and 1 is needed",
            options.test_fraction
        )));
    }
    let classes = scan_classes(root)?;
    let names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    let mut items = Vec::new();
    let mut rng = SplitMix64::new(seed ^ 0x7e57_5917);
    for (index, (_, mut files)) in classes.into_iter().enumerate() {
        // Stratified: each class contributes the same fraction to the test split.
        rng.shuffle(&mut files);
        let n_test = ((files.len() as f64) * options.test_fraction).round() as usize;
        let (test, train) = files.split_at(n_test.min(files.len()));
        let mut part = match split {
            Split::Train => train.to_vec(),
            Split::Test => test.to_vec(),
        };
        part.sort();
        items.extend(part.into_iter().map(|f| (f, index as u16)));
    }
    Ok(SplitListing {
        items,
        classes: names,
    })
}

/// Reads one split of an image folder.
pub fn read_folder(
    root: &Path,
    split: Split,
    options: &FolderOptions,
    seed: u64,
) -> Result<FolderSet> {
    let shape = options.shape();
    if !matches!(options.channels, 1 | 3) || options.height == 0 || options.width == 0 {
        return Err(DataError::Invalid(format!(
            "data.folder: channels = {}, height = {}, width = {}: expected 1 or 3 channels and a non-zero size",
            options.channels, options.height, options.width
        )));
    }
    let SplitListing {
        items,
        classes: names,
    } = list_split(root, split, options, seed)?;
    let paths: Vec<&Path> = items.iter().map(|(p, _)| p.as_path()).collect();
    let decoded = decode_all(&paths, shape);
    let mut pixels = Vec::with_capacity(items.len() * shape.iter().product::<usize>());
    let mut labels = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    for ((path, label), result) in items.iter().zip(decoded) {
        match result {
            Ok(px) => {
                pixels.extend_from_slice(&px);
                labels.push(*label);
            }
            Err(_) if options.skip_unreadable => skipped.push(path.clone()),
            Err(e) => {
                return Err(DataError::Invalid(format!(
                    "{e} (set data.folder.skip_unreadable = true to skip such files)"
                )));
            }
        }
    }
    if labels.is_empty() {
        return Err(DataError::format(
            root,
            format!("no readable images in the {split:?} split").to_lowercase(),
        ));
    }
    Ok(FolderSet {
        set: ImageSet::new(pixels, labels, shape, names)?,
        skipped,
    })
}
