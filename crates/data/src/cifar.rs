//! The binary versions of CIFAR-10 and CIFAR-100.
//!
//! CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`,
//! each 10,000 records of 1 label byte then 3,072 pixel bytes (1,024 R, 1,024 G, 1,024 B, each a
//! row-major 32×32 plane); class names in `batches.meta.txt`.
//! CIFAR-100 (`cifar-100-binary/`): `train.bin` (50,000 records), `test.bin` (10,000), each record
//! a coarse-label byte, a fine-label byte, then the same 3,072 pixel bytes; class names in
//! `fine_label_names.txt` and `coarse_label_names.txt`.
//! Source: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images" (2009) and
//! the "binary version" section of the CIFAR page. Only the archives' MD5 sums are published,
//! so the files themselves are checked by their record counts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::image_set::ImageSet;
use crate::mnist::Split;
use crate::official::Expect;

pub const SHAPE: [usize; 3] = [3, 32, 32];
const PIXELS: usize = 3 * 32 * 32;

pub const CIFAR10_DIR: &str = "cifar-10-batches-bin";
pub const CIFAR100_DIR: &str = "cifar-100-binary";

/// Which labels of CIFAR-100 to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// The 100 classes.
    #[default]
    Fine,
    /// The 20 superclasses.
    Coarse,
}

/// `dir` itself if it holds the files, else `dir/<sub>` (the folder inside the archive).
pub fn resolve_dir(dir: &Path, sub: &str, probe: &str) -> PathBuf {
    if dir.join(probe).is_file() {
        dir.to_path_buf()
    } else {
        dir.join(sub)
    }
}

/// The CIFAR-10 files of a split.
pub fn cifar10_files(split: Split) -> Vec<String> {
    match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    }
}

/// The CIFAR-100 file of a split.
pub fn cifar100_file(split: Split) -> &'static str {
    match split {
        Split::Train => "train.bin",
        Split::Test => "test.bin",
    }
}

/// Reads a names file: one class name per non-empty line.
pub fn read_names(path: &Path, expected: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != expected {
        return Err(DataError::format(
            path,
            format!("{} class names, expected {expected}", names.len()),
        ));
    }
    Ok(names)
}

/// Records of each CIFAR-10 file (`data_batch_*.bin`, `test_batch.bin`) as released.
pub const CIFAR10_RECORDS: usize = 10_000;
/// Records of CIFAR-100's `train.bin` and `test.bin` as released.
pub const CIFAR100_RECORDS: [usize; 2] = [50_000, 10_000];

/// Appends the records of one binary file, which must hold `official` records unless
/// `expect.subset`. `label_bytes` is 1 (CIFAR-10) or 2 (CIFAR-100), `label_at` the index of
/// the label used among them.
#[allow(clippy::too_many_arguments)]
fn read_records(
    path: &Path,
    label_bytes: usize,
    label_at: usize,
    num_classes: usize,
    official: usize,
    expect: &Expect,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u16>,
) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let before = labels.len();
    parse_records(
        &bytes,
        path,
        label_bytes,
        label_at,
        num_classes,
        pixels,
        labels,
    )?;
    expect.check_count(path, "records", labels.len() - before, official)
}

/// Parses CIFAR binary records from memory (`path` only names them in errors).
pub fn parse_records(
    bytes: &[u8],
    path: &Path,
    label_bytes: usize,
    label_at: usize,
    num_classes: usize,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u16>,
) -> Result<()> {
    let record = label_bytes + PIXELS;
    if bytes.is_empty() {
        return Err(DataError::format(
            path,
            format!("is empty (0 bytes); expected {record}-byte records, one per image"),
        ));
    }
    if !bytes.len().is_multiple_of(record) {
        return Err(DataError::format(
            path,
            format!(
                "{} bytes is not a whole number of {record}-byte records ({label_bytes} label byte(s) + {PIXELS} pixels)",
                bytes.len()
            ),
        ));
    }
    pixels.reserve(bytes.len() / record * PIXELS);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_at] as usize;
        if label >= num_classes {
            return Err(DataError::format(
                path,
                format!(
                    "record {i}: label {label} is out of range (expected 0 to {})",
                    num_classes.saturating_sub(1)
                ),
            ));
        }
        labels.push(label as u16);
        pixels.extend_from_slice(&rec[label_bytes..]);
    }
    Ok(())
}

/// Builds an image set from the bytes of CIFAR binary files (the CIFAR-10 form when
/// `classes` has 10 names and `label_bytes` is 1, CIFAR-100 otherwise); `label_at` picks the
/// label byte used. The paths only name the files in errors.
pub fn parse_set(
    files: &[(&Path, &[u8])],
    label_bytes: usize,
    label_at: usize,
    classes: Vec<String>,
) -> Result<ImageSet> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (path, bytes) in files {
        parse_records(
            bytes,
            path,
            label_bytes,
            label_at,
            classes.len(),
            &mut pixels,
            &mut labels,
        )?;
    }
    ImageSet::new(pixels, labels, SHAPE, classes)
}

/// Reads a split of CIFAR-10 from `dir` (the `cifar-10-batches-bin` folder or its parent).
/// Each file must hold its official 10,000 records unless `expect.subset`.
pub fn read_cifar10(dir: &Path, split: Split, expect: &Expect) -> Result<ImageSet> {
    let dir = resolve_dir(dir, CIFAR10_DIR, "batches.meta.txt");
    let classes = read_names(&dir.join("batches.meta.txt"), 10)?;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for name in cifar10_files(split) {
        read_records(
            &dir.join(name),
            1,
            0,
            10,
            CIFAR10_RECORDS,
            expect,
            &mut pixels,
            &mut labels,
        )?;
    }
    ImageSet::new(pixels, labels, SHAPE, classes)
}

/// Reads a split of CIFAR-100 from `dir` (the `cifar-100-binary` folder or its parent).
/// The file must hold its official record count unless `expect.subset`.
pub fn read_cifar100(
    dir: &Path,
    split: Split,
    label: LabelKind,
    expect: &Expect,
) -> Result<ImageSet> {
    let dir = resolve_dir(dir, CIFAR100_DIR, "fine_label_names.txt");
    let (names_file, count, at) = match label {
        LabelKind::Fine => ("fine_label_names.txt", 100, 1),
        LabelKind::Coarse => ("coarse_label_names.txt", 20, 0),
    };
    let classes = read_names(&dir.join(names_file), count)?;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    let official = match split {
        Split::Train => CIFAR100_RECORDS[0],
        Split::Test => CIFAR100_RECORDS[1],
    };
    read_records(
        &dir.join(cifar100_file(split)),
        2,
        at,
        count,
        official,
        expect,
        &mut pixels,
        &mut labels,
    )?;
    ImageSet::new(pixels, labels, SHAPE, classes)
}
