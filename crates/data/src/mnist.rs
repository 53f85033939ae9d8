//! The MNIST layout: four IDX files in one folder, raw or gzip-compressed, and the copy of the
//! real MNIST that ships with the project (checked against its SHA-256 sums on every load).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::idx;
use crate::image_set::ImageSet;

/// Where the embedded copy of MNIST lives in the source tree.
pub const EMBEDDED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist");

/// SHA-256 of each embedded .gz file, as shipped beside them.
const EMBEDDED_SUMS: &str = include_str!("../../../data/mnist/SHA256SUMS");

/// Class names of MNIST.
pub const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Which of the two official splits to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn stems(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }
}

/// The path of `stem` in `dir`, as `stem.gz` or plain `stem`.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::format(
        dir,
        format!(
            "missing {stem}.gz (or {stem}): expected the four IDX files of the MNIST layout here"
        ),
    ))
}

/// Reads one split of an IDX-layout dataset (MNIST, Fashion-MNIST) from `dir`.
pub fn read_split(dir: &Path, split: Split, classes: &[&str]) -> Result<ImageSet> {
    let (images_stem, labels_stem) = split.stems();
    let images_path = find_file(dir, images_stem)?;
    let labels_path = find_file(dir, labels_stem)?;
    let (pixels, shape) = idx::read_images(&images_path)?;
    let labels = idx::read_labels(&labels_path, classes.len())?;
    let n_images = pixels.len() / shape.iter().product::<usize>();
    if n_images != labels.len() {
        return Err(DataError::format(
            &labels_path,
            format!(
                "{} labels do not match the {n_images} images in {}",
                labels.len(),
                images_path.display()
            ),
        ));
    }
    ImageSet::new(
        pixels,
        labels,
        shape,
        classes.iter().map(|s| s.to_string()).collect(),
    )
}

/// Checks the embedded MNIST files against their shipped SHA-256 sums.
pub fn verify_embedded() -> Result<()> {
    let dir = Path::new(EMBEDDED_DIR);
    for line in EMBEDDED_SUMS.lines().filter(|l| !l.trim().is_empty()) {
        let (expected, name) = line
            .split_once("  ")
            .ok_or_else(|| DataError::Invalid(format!("malformed SHA256SUMS line: {line}")))?;
        let path = dir.join(name.trim());
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let actual = hex(&Sha256::digest(&bytes));
        if actual != expected {
            return Err(DataError::format(
                &path,
                format!(
                    "SHA-256 {actual} does not match the shipped sum {expected}: the embedded MNIST copy is damaged"
                ),
            ));
        }
    }
    Ok(())
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
