//! The MNIST layout: four IDX files in one folder, raw or gzip-compressed, and the copy of the
//! real MNIST that ships with the project (checked against its SHA-256 sums on every load).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::idx;
use crate::image_set::ImageSet;
use crate::official::{Expect, KnownSums, hex, sums_of};

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

/// Number of images of the official training and test splits (MNIST and Fashion-MNIST alike).
pub const OFFICIAL_COUNTS: [usize; 2] = [60_000, 10_000];

/// Published MD5 sums of MNIST's files (the .gz as released and its content).
pub const MNIST_SUMS: [KnownSums; 4] = [
    KnownSums {
        stem: "train-images-idx3-ubyte",
        gz: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        content: Some("6bbc9ace898e44ae57da46a324031adb"),
    },
    KnownSums {
        stem: "train-labels-idx1-ubyte",
        gz: "d53e105ee54ea40749a09fcbcd1e9432",
        content: Some("a25bea736e30d166cdddb491f175f624"),
    },
    KnownSums {
        stem: "t10k-images-idx3-ubyte",
        gz: "9fb629c4189551a2d022fa330f9573f3",
        content: Some("2646ac647ad5339dbf082846283269ea"),
    },
    KnownSums {
        stem: "t10k-labels-idx1-ubyte",
        gz: "ec29112dd5afa0611ce80d1b7f02629c",
        content: Some("27ae3e4e09519cfbb04c329615203637"),
    },
];

/// Published MD5 sums of Fashion-MNIST's files (the .gz as released and its content).
pub const FASHION_SUMS: [KnownSums; 4] = [
    KnownSums {
        stem: "train-images-idx3-ubyte",
        gz: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        content: Some("f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    },
    KnownSums {
        stem: "train-labels-idx1-ubyte",
        gz: "25c81989df183df01b3e8a0aad5dffbe",
        content: Some("9018921c3c673c538a1fc5bad174d6f9"),
    },
    KnownSums {
        stem: "t10k-images-idx3-ubyte",
        gz: "bef4ecab320f06d8554ea6380940ec79",
        content: Some("8181f5470baa50b63fa0f6fddb340f0a"),
    },
    KnownSums {
        stem: "t10k-labels-idx1-ubyte",
        gz: "bb300cfdad3c16e7a12a480ee83cd310",
        content: Some("15d484375f8d13e6eb1aabb0c3f46965"),
    },
];

/// Builds an image set from the bytes of an images file and a labels file (each raw or gzip);
/// the paths only name them in errors.
///
/// Errors: a header that is not the file's role (images: magic 2051, [N, H, W]; labels: magic
/// 2049, [N]), a zero size, data that does not match the header, a label outside `classes`,
/// or different image and label counts.
pub fn parse_split(
    images: &[u8],
    labels: &[u8],
    images_path: &Path,
    labels_path: &Path,
    classes: &[&str],
) -> Result<ImageSet> {
    let (pixels, n_images, shape) = idx::parse_images(images, images_path)?;
    let labels = idx::parse_labels(labels, labels_path, classes.len())?;
    if n_images != labels.len() {
        return Err(DataError::format(
            labels_path,
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

/// Reads one split of an IDX-layout dataset (MNIST, Fashion-MNIST) from `dir`: the official
/// image count is required unless `expect.subset`, and the files are compared with `sums`
/// (differences are pushed to `warnings`).
pub fn read_split(
    dir: &Path,
    split: Split,
    classes: &[&str],
    expect: &Expect,
    sums: &[KnownSums],
    warnings: &mut Vec<String>,
) -> Result<ImageSet> {
    let (images_stem, labels_stem) = split.stems();
    let images_path = find_file(dir, images_stem)?;
    let labels_path = find_file(dir, labels_stem)?;
    let images_file = std::fs::read(&images_path).map_err(|e| DataError::io(&images_path, e))?;
    let labels_file = std::fs::read(&labels_path).map_err(|e| DataError::io(&labels_path, e))?;
    let images = idx::gunzip_if_gz(&images_file, &images_path)?;
    let labels = idx::gunzip_if_gz(&labels_file, &labels_path)?;
    let set = parse_split(&images, &labels, &images_path, &labels_path, classes)?;
    let official = match split {
        Split::Train => OFFICIAL_COUNTS[0],
        Split::Test => OFFICIAL_COUNTS[1],
    };
    expect.check_count(&images_path, "images", set.len(), official)?;
    for (path, file, content, stem) in [
        (&images_path, &images_file, &images, images_stem),
        (&labels_path, &labels_file, &labels, labels_stem),
    ] {
        warnings.extend(expect.check_sums(path, file, content, sums_of(sums, stem)));
    }
    Ok(set)
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
