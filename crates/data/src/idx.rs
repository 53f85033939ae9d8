//! The IDX format of MNIST and Fashion-MNIST: a big-endian header `0 0 <type> <ndim>`, ndim u32
//! sizes, then the data row-major. Only unsigned bytes (type 0x08) are used by these datasets.
//! Files may be raw or gzip-compressed; compression is detected from the content, not the name.

use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_U8: u8 = 0x08;

/// The dimensions and u8 contents of one IDX file.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads a whole file, decompressing it if it is gzip.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    gunzip_if_gz(raw, path)
}

/// Decompresses `raw` if it starts with the gzip magic bytes; `path` names it in errors.
pub fn gunzip_if_gz(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if raw.starts_with(&GZIP_MAGIC) {
        // The gzip trailer holds the decompressed size (mod 2^32): reserve it once instead of
        // growing and copying, bounded by deflate's largest ratio in case the trailer lies.
        let stated = raw
            .last_chunk::<4>()
            .map_or(0, |t| u32::from_le_bytes(*t) as usize);
        let mut out = Vec::with_capacity(stated.min(raw.len().saturating_mul(1032)));
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses IDX bytes; `path` only names the file in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(DataError::format(
            path,
            format!("{} bytes is too short for an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            path,
            format!(
                "not an IDX file: magic number 0x{:08x} does not start with two zero bytes",
                u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
            ),
        ));
    }
    if bytes[2] != TYPE_U8 {
        return Err(DataError::format(
            path,
            format!(
                "IDX element type 0x{:02x} is not supported (expected 0x08, unsigned bytes)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(DataError::format(path, "IDX header declares 0 dimensions"));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(DataError::format(
            path,
            format!(
                "truncated IDX header: {} dimensions need {header} bytes, file has {}",
                ndim,
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::format(path, format!("IDX dimensions {dims:?} overflow")))?;
    let actual = bytes.len() - header;
    if actual != expected {
        let what = if actual < expected {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(DataError::format(
            path,
            format!("{what}: dimensions {dims:?} need {expected} data bytes, file has {actual}"),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an IDX file (raw or gzip).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    parse_idx(&read_maybe_gz(path)?, path)
}

/// Reads an images file ([N, H, W] or [N, C, H, W]); returns the pixels and [C, H, W].
pub fn read_images(path: &Path) -> Result<(Vec<u8>, [usize; 3])> {
    let arr = read_idx(path)?;
    let shape = match arr.dims[..] {
        [_, h, w] => [1, h, w],
        [_, c, h, w] => [c, h, w],
        _ => {
            return Err(DataError::format(
                path,
                format!(
                    "an images file needs 3 or 4 dimensions (N, H, W), found {:?}",
                    arr.dims
                ),
            ));
        }
    };
    Ok((arr.data, shape))
}

/// Reads a labels file ([N]), checking every label is below `num_classes`.
pub fn read_labels(path: &Path, num_classes: usize) -> Result<Vec<u16>> {
    let arr = read_idx(path)?;
    if arr.dims.len() != 1 {
        return Err(DataError::format(
            path,
            format!("a labels file needs 1 dimension, found {:?}", arr.dims),
        ));
    }
    if let Some((i, &l)) = arr
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| l as usize >= num_classes)
    {
        return Err(DataError::format(
            path,
            format!("label {l} at index {i} is out of range (expected 0..{num_classes})"),
        ));
    }
    Ok(arr.data.into_iter().map(u16::from).collect())
}

/// Encodes u8 data as IDX bytes (used to write test fixtures and exported slices).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
