//! The decoded-image cache of image folders: the first read of a folder stores its images as
//! decoded, converted and resized u8 pixels in one file; later reads memory-map that file
//! instead of decoding every image again.
//!
//! A cache file is named by a SHA-256 key over everything its content depends on: the format
//! version, the target shape, and every file's path, size, modification time and (on Unix)
//! inode and change time, in class order. A changed, added or removed file (or class) gives another key, so a stale cache is
//! never found. Layout (little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `LCCACHE1` |
//! | 32 | the key |
//! | 12 | shape: channels, height, width (u32 each) |
//! | 8 | N, the number of images (u64) |
//! | N·C·H·W | pixels, image after image, channel-major |
//! | 4 | CRC-32 of everything before it |
//!
//! A file that is short, has another header or fails its CRC is not trusted: it is rebuilt.
//! Files are written under a temporary name, synced, and renamed into place, so a crash while
//! writing leaves nothing that looks like a cache.
//!
//! Where: `$LINCLASS_CACHE`, else `$XDG_CACHE_HOME/linclass`, else `~/.cache/linclass`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::image_set::Pixels;

const MAGIC: &[u8; 8] = b"LCCACHE1";
const HEADER: usize = 8 + 32 + 12 + 8;

/// The folder holding cache files (see the module documentation), if one is known.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LINCLASS_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("linclass"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|home| PathBuf::from(home).join(".cache").join("linclass"))
}

/// The cache key of `files` (per class, in order) decoded to `shape`.
///
/// Errors: a file's metadata cannot be read.
pub fn key(files: &[Vec<PathBuf>], shape: [usize; 3]) -> Result<[u8; 32]> {
    let mut hash = Sha256::new();
    hash.update(MAGIC);
    for v in shape {
        hash.update((v as u64).to_le_bytes());
    }
    for (class, paths) in files.iter().enumerate() {
        hash.update((class as u64).to_le_bytes());
        hash.update((paths.len() as u64).to_le_bytes());
        for path in paths {
            let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let name = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            hash.update(name.as_os_str().as_encoded_bytes());
            hash.update([0]);
            hash.update(meta.len().to_le_bytes());
            hash.update(modified.to_le_bytes());
            // Copies that keep size and modification time (`cp` then `touch -r`, `rsync -a`,
            // tar) still change the inode or its change time.
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                hash.update(meta.ino().to_le_bytes());
                hash.update(meta.ctime().to_le_bytes());
                hash.update(meta.ctime_nsec().to_le_bytes());
            }
        }
    }
    Ok(hash.finalize().into())
}

/// The file of `key` in `dir`.
pub fn path(dir: &Path, key: &[u8; 32]) -> PathBuf {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{hex}.cache"))
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A valid cache: its pixels, memory-mapped.
    Hit(Pixels),
    /// No cache file.
    Missing,
    /// A file that cannot be trusted, and why.
    Invalid(String),
}

/// Memory-maps the cache file `path` and checks it holds `n` images of `shape` under `key`.
pub fn load(path: &Path, key: &[u8; 32], shape: [usize; 3], n: usize) -> Lookup {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
        Err(e) => return Lookup::Invalid(format!("cannot open: {e}")),
    };
    // SAFETY: the map is read-only; cache files are only ever created by renaming a complete
    // file into place, never written in place. Another program truncating it while mapped
    // is outside what the cache can defend against (the CRC is checked once, here).
    let map = match unsafe { memmap2::Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => return Lookup::Invalid(format!("cannot map: {e}")),
    };
    let dim: usize = shape.iter().product();
    let expected = HEADER + n * dim + 4;
    if map.len() != expected {
        return Lookup::Invalid(format!("{} bytes, expected {expected}", map.len()));
    }
    if &map[..8] != MAGIC || &map[8..40] != key {
        return Lookup::Invalid("another format or key".into());
    }
    let stored_shape: Vec<usize> = map[40..52]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .collect();
    let stored_n = u64::from_le_bytes(map[52..60].try_into().expect("8 bytes")) as usize;
    if stored_shape != shape || stored_n != n {
        return Lookup::Invalid(format!(
            "holds {stored_n} images of {stored_shape:?}, expected {n} of {shape:?}"
        ));
    }
    let body = expected - 4;
    let crc = u32::from_le_bytes(map[body..].try_into().expect("4 bytes"));
    if crc32fast::hash(&map[..body]) != crc {
        return Lookup::Invalid("damaged: its checksum does not match".into());
    }
    Lookup::Hit(Pixels::mapped(Arc::new(map), HEADER, n * dim))
}

/// Removes temporary files of writes that did not finish (a process killed while writing)
/// and are more than a day old.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 24 * 3600);
        if old && entry.file_name().to_string_lossy().starts_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes `pixels` (`n` images of `shape`) as the cache file `path` of `key`: to a temporary
/// file beside it, synced, then renamed into place.
///
/// Errors: the folder cannot be created or the file written.
pub fn store(path: &Path, key: &[u8; 32], shape: [usize; 3], pixels: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    remove_stale_temporaries(dir);
    let dim: usize = shape.iter().product();
    let n = pixels.len() / dim.max(1);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DataError::io(dir, e))?;
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(key);
    for v in shape {
        header.extend_from_slice(&(v as u32).to_le_bytes());
    }
    header.extend_from_slice(&(n as u64).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header);
    crc.update(pixels);
    let write = |f: &mut std::fs::File| -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(f);
        w.write_all(&header)?;
        w.write_all(pixels)?;
        w.write_all(&crc.clone().finalize().to_le_bytes())?;
        w.flush()?;
        w.get_ref().sync_all()
    };
    write(tmp.as_file_mut()).map_err(|e| DataError::io(tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| DataError::io(path, e.error))?;
    Ok(())
}
