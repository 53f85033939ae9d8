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

use crate::cache::CacheStatus;
use crate::error::{DataError, Result};
use crate::image_set::{ImageSet, Pixels};
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

/// Opens one archive and checks it: `labels` one per image in 1…1000, `data` u8 [N, 3·size·size]
/// in C order. Returns the labels, 0-based.
fn open_archive(path: &Path, size: usize) -> Result<Vec<u16>> {
    let io = |e: std::io::Error| invalid(path, format!("not a readable .npz archive ({e})"));
    check_labels_crc(path)?;
    let mut archive = npyz::npz::NpzArchive::open(path).map_err(io)?;
    let labels = labels(path, &mut archive)?;
    let (shape, code, order) = {
        let data = archive
            .by_name("data")
            .map_err(io)?
            .ok_or_else(|| invalid(path, "has no `data` array; expected `data` and `labels`"))?;
        (
            data.shape().to_vec(),
            type_code(&data.dtype()),
            data.order(),
        )
    };
    let dim = 3 * size * size;
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
    // Saved from a transposed array, the bytes would be pixel after pixel across images.
    if order != npyz::Order::C && shape[0] > 1 {
        return Err(invalid(
            path,
            "`data` is stored in Fortran (column-major) order; expected C order, one image per row (save np.ascontiguousarray(data))",
        ));
    }
    let n = shape[0] as usize;
    if labels.len() != n {
        return Err(invalid(
            path,
            format!("{} labels for {n} images", labels.len()),
        ));
    }
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
    Ok(labels)
}

/// Reads the `labels` entry of an archive to its end, which checks its CRC-32 (see
/// [`stream_pixels`]).
fn check_labels_crc(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let Ok(mut zip) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        // Not a zip: npyz says so, in its words.
        return Ok(());
    };
    let Ok(mut entry) = zip.by_name("labels.npy") else {
        return Ok(());
    };
    std::io::copy(&mut entry, &mut std::io::sink())
        .map_err(|e| invalid(path, format!("`labels`: {e}")))?;
    Ok(())
}

/// Streams the `data` array of an archive checked by [`open_archive`] to `sink`, a few
/// megabytes at a time, copying the stored bytes (u8, C order: they are the pixels).
fn stream_pixels(path: &Path, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let io = |e: std::io::Error| invalid(path, format!("`data`: {e}"));
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| invalid(path, format!("not a readable .npz archive ({e})")))?;
    let mut entry = zip
        .by_name("data.npy")
        .map_err(|e| invalid(path, format!("`data`: {e}")))?;
    let header = npyz::NpyHeader::from_reader(&mut entry).map_err(io)?;
    let mut left = header.len() as usize;
    let mut chunk = vec![0u8; left.min(4 << 20)];
    while left > 0 {
        let part = &mut chunk[..left.min(4 << 20)];
        std::io::Read::read_exact(&mut entry, part).map_err(io)?;
        sink(part)?;
        left -= part.len();
    }
    // The zip entry's CRC-32 is checked when its end is read: an archive stored without
    // compression has no other check, so a damaged byte would otherwise pass.
    match std::io::Read::read(&mut entry, &mut [0u8; 1]) {
        Ok(0) => Ok(()),
        Ok(_) => Err(invalid(path, "`data` holds more bytes than its shape says")),
        Err(e) => Err(io(e)),
    }
}

/// The class names: `map_clsloc.txt`'s third column (with `_` as spaces) by class number, or
/// the numbers themselves.
pub fn class_names(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(NAMES_FILE);
    let mut names: Vec<String> = (1..=CLASSES).map(|i| i.to_string()).collect();
    let mut wnids = vec![String::new(); CLASSES];
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            invalid(
                &path,
                format!(
                    "is not UTF-8 text (byte {} of the file); expected lines `<wnid> <1 to {CLASSES}> <name>`",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => {
            return Err(invalid(
                &path,
                format!("cannot be read as the class names ({e}); expected a text file, or none to use the class numbers"),
            ));
        }
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
    // A names file that misses classes would leave them as numbers beside names: a cut copy.
    let named = wnids.iter().filter(|w| !w.is_empty()).count();
    if named < CLASSES {
        return Err(invalid(
            &path,
            format!(
                "names {named} of the {CLASSES} classes; expected a line for each (or no file, to use the class numbers)"
            ),
        ));
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
/// archives, or the validation archive as the test split. With `cache` (and a cache folder, see
/// [`crate::cache`]), the pixels are unpacked once, archive by archive, into a cache file that
/// this and later reads memory-map, so that the 1.28 million images never have to fit in
/// memory; else they are read into memory.
///
/// Errors: a missing or unreadable archive, `data` not u8 [N, 3·size·size] in C order, labels
/// outside 1…1000 or not one per image.
pub fn read(dir: &Path, split: Split, size: usize, cache: bool) -> Result<(ImageSet, CacheStatus)> {
    let shape = [3, size, size];
    let paths: Vec<PathBuf> = files(split).iter().map(|f| dir.join(f)).collect();
    let mut labels = Vec::new();
    for path in &paths {
        labels.extend(open_archive(path, size)?);
    }
    let classes = class_names(dir)?;
    let cache_dir = match (cache, crate::cache::cache_dir()) {
        (false, _) => Err("data.folder.cache = false".to_string()),
        (true, None) => Err(crate::cache::NO_CACHE_DIR.to_string()),
        (true, Some(d)) => Ok(d),
    };
    let status = match cache_dir {
        Err(why) => CacheStatus::Off(why),
        Ok(cache_dir) => {
            use crate::cache::{Lookup, Writer, key, load, path};
            let key = key(std::slice::from_ref(&paths), shape)?;
            let file = path(&cache_dir, &key);
            let stale = match load(&file, &key, shape, labels.len()) {
                Lookup::Hit(pixels) => {
                    let set = ImageSet::with_pixels(pixels, labels, shape, classes)?;
                    return Ok((set, CacheStatus::Used(file)));
                }
                Lookup::Missing => None,
                Lookup::Invalid(why) => Some(why),
            };
            let unpack = || -> Result<Pixels> {
                let mut writer =
                    Writer::create(&cache_dir, key, shape, &crate::cache::source(dir, split))?;
                for path in &paths {
                    stream_pixels(path, &mut |chunk| writer.push(chunk))?;
                }
                writer.finish(Some(&file))
            };
            match unpack() {
                Ok(pixels) => {
                    let set = ImageSet::with_pixels(pixels, labels, shape, classes)?;
                    let status = match stale {
                        None => CacheStatus::Built(file),
                        Some(why) => CacheStatus::Rebuilt(file, why),
                    };
                    return Ok((set, status));
                }
                // A damaged archive is its own error; a cache that cannot be written is not.
                Err(e @ DataError::Format { .. }) => return Err(e),
                Err(e) => CacheStatus::Unavailable(e.to_string()),
            }
        }
    };
    let mut pixels = Vec::with_capacity(labels.len() * 3 * size * size);
    for path in &paths {
        stream_pixels(path, &mut |chunk| {
            pixels.extend_from_slice(chunk);
            Ok(())
        })?;
    }
    Ok((ImageSet::new(pixels, labels, shape, classes)?, status))
}
