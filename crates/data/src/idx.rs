//! The IDX format of MNIST and Fashion-MNIST: a big-endian header `0 0 <type> <ndim>`, ndim u32
//! sizes, then the data row-major. Only unsigned bytes (type 0x08) are used by these datasets.
//! Files may be raw or gzip-compressed (one member or several, as `pigz` and `cat a.gz b.gz`
//! write them); compression is detected from the content, not the name.
//! Source: Y. LeCun et al., "THE MNIST DATABASE of handwritten digits", file format section.

use std::borrow::Cow;
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
    gunzip_if_gz(&raw, path).map(std::borrow::Cow::into_owned)
}

/// Decompresses `raw` (every gzip member) if it starts with the gzip magic bytes, else returns
/// it as it is; `path` names it in errors.
pub fn gunzip_if_gz<'a>(raw: &'a [u8], path: &Path) -> Result<Cow<'a, [u8]>> {
    if raw.starts_with(&GZIP_MAGIC) {
        // The gzip trailer holds the (last member's) decompressed size mod 2^32: reserve it once
        // instead of growing and copying, bounded by deflate's largest ratio in case it lies.
        let stated = raw
            .last_chunk::<4>()
            .map_or(0, |t| u32::from_le_bytes(*t) as usize);
        let mut out = Vec::with_capacity(stated.min(raw.len().saturating_mul(1032)));
        flate2::read::MultiGzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt gzip data: {e}")))?;
        Ok(Cow::Owned(out))
    } else {
        Ok(Cow::Borrowed(raw))
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

/// What an IDX file holds in a dataset, which fixes the header it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxRole {
    /// Magic 2051 (0x00000803): unsigned bytes, 3 dimensions [N, H, W].
    Images,
    /// Magic 2049 (0x00000801): unsigned bytes, 1 dimension [N].
    Labels,
}

impl IdxRole {
    fn ndim(self) -> usize {
        match self {
            IdxRole::Images => 3,
            IdxRole::Labels => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            IdxRole::Images => "an images file",
            IdxRole::Labels => "a labels file",
        }
    }
}

/// Checks that the magic number of `bytes` is the one of `role`, before anything is sized
/// from the header.
pub fn check_magic(bytes: &[u8], path: &Path, role: IdxRole) -> Result<()> {
    let expected = 0x0800 + role.ndim() as u32;
    let Some(&magic) = bytes.first_chunk::<4>() else {
        return Err(DataError::format(
            path,
            format!(
                "{} bytes is too short for an IDX header; expected {} with magic number {expected} (0x{expected:08x})",
                bytes.len(),
                role.name()
            ),
        ));
    };
    let found = u32::from_be_bytes(magic);
    if found != expected {
        return Err(DataError::format(
            path,
            format!(
                "magic number {found} (0x{found:08x}: element type 0x{:02x}, {} dimension(s)) where {} needs {expected} (0x{expected:08x}: unsigned bytes, {} dimension(s))",
                magic[2],
                magic[3],
                role.name(),
                role.ndim()
            ),
        ));
    }
    Ok(())
}

/// Parses the bytes of an IDX file that plays `role`: the right magic number and no zero size.
pub fn parse_role(bytes: &[u8], path: &Path, role: IdxRole) -> Result<IdxArray> {
    check_magic(bytes, path, role)?;
    // Sizes are read before the data is measured against them: a zero is named as such.
    let dims: Vec<usize> = bytes
        .get(4..4 + 4 * role.ndim())
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    if dims.contains(&0) {
        return Err(DataError::format(
            path,
            format!(
                "IDX dimensions {dims:?} contain a zero size; {} needs every size above zero",
                role.name()
            ),
        ));
    }
    parse_idx(bytes, path)
}

/// Parses an images file ([N, H, W]); returns the pixels, N and the image shape [1, H, W].
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<(Vec<u8>, usize, [usize; 3])> {
    let arr = parse_role(bytes, path, IdxRole::Images)?;
    let shape = [1, arr.dims[1], arr.dims[2]];
    Ok((arr.data, arr.dims[0], shape))
}

/// Reads an images file ([N, H, W], raw or gzip); returns the pixels, N and [1, H, W].
pub fn read_images(path: &Path) -> Result<(Vec<u8>, usize, [usize; 3])> {
    parse_images(&read_maybe_gz(path)?, path)
}

/// Reads a labels file ([N], raw or gzip), checking every label is below `num_classes`.
pub fn read_labels(path: &Path, num_classes: usize) -> Result<Vec<u16>> {
    parse_labels(&read_maybe_gz(path)?, path, num_classes)
}

/// Parses a labels file ([N]), checking every label is below `num_classes`.
pub fn parse_labels(bytes: &[u8], path: &Path, num_classes: usize) -> Result<Vec<u16>> {
    let arr = parse_role(bytes, path, IdxRole::Labels)?;
    if let Some((i, &l)) = arr
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| l as usize >= num_classes)
    {
        return Err(DataError::format(
            path,
            format!(
                "label {l} at index {i} is out of range (expected 0 to {})",
                num_classes - 1
            ),
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
