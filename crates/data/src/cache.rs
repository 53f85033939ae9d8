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
//! | 8 | magic `LCCACHE2` |
//! | 32 | the key |
//! | 12 | shape: channels, height, width (u32 each) |
//! | 8 | N, the number of images (u64) |
//! | N·C·H·W | pixels, image after image, channel-major |
//! | S | where the images came from (UTF-8, for `data cache`) |
//! | 4 | S (u32) |
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

const MAGIC: &[u8; 8] = b"LCCACHE2";
/// The first format, without the source: still listed (and cleared), never loaded.
const MAGIC_1: &[u8; 8] = b"LCCACHE1";
const HEADER: usize = 8 + 32 + 12 + 8;
/// The longest source recorded, bytes (a longer one is cut at a character boundary).
const MAX_SOURCE: usize = 4096;

/// What the decoded-image cache did for one read.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheStatus {
    /// Not used, and why: `data.folder.cache = false`, no cache folder, or unreadable files
    /// were skipped (the cache holds whole folders only).
    Off(String),
    /// The images were read from this cache file (memory-mapped), not decoded.
    Used(PathBuf),
    /// The images were read (decoded) and stored in this new cache file.
    Built(PathBuf),
    /// A cache file was there but not trusted (the reason); they were read and it was written again.
    Rebuilt(PathBuf, String),
    /// The images were read but could not be stored (the reason).
    Unavailable(String),
}

impl CacheStatus {
    /// One line for `data info`.
    pub fn describe(&self) -> String {
        match self {
            CacheStatus::Off(why) => format!("not used ({why})"),
            CacheStatus::Used(p) => format!("used {} (no image decoded)", p.display()),
            CacheStatus::Built(p) => {
                format!("decoded every image and stored them in {}", p.display())
            }
            CacheStatus::Rebuilt(p, why) => {
                format!(
                    "{} was not trusted ({why}); decoded again and rewritten",
                    p.display()
                )
            }
            CacheStatus::Unavailable(why) => format!("decoded every image; not stored ({why})"),
        }
    }
}

/// Why there is no cache folder, when [`cache_dir`] finds none.
pub const NO_CACHE_DIR: &str = "no cache folder: set LINCLASS_CACHE, XDG_CACHE_HOME or HOME";

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

/// One cache file found in the cache folder: what its header says.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheFile {
    pub path: PathBuf,
    /// Size on disk, bytes.
    pub bytes: u64,
    /// Channels, height, width of its images.
    pub shape: [usize; 3],
    /// Number of images.
    pub images: u64,
    /// Where its images came from (a folder or archives, and the split); `None` for a file of
    /// the first format, which did not record it.
    pub source: Option<String>,
}

/// The cache files in `dir` (files that start with this format's magic and header; anything
/// else in the folder is not one), sorted by path.
///
/// Errors: the folder exists but cannot be listed.
pub fn list(dir: &Path) -> Result<Vec<CacheFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DataError::io(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let mut header = [0u8; HEADER];
        let read = std::fs::File::open(&path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
        if read.is_err() || (&header[..8] != MAGIC && &header[..8] != MAGIC_1) {
            continue;
        }
        let source = (&header[..8] == MAGIC).then(|| read_source(&path, meta.len()));
        let byte = |i: usize| header[i];
        let u32_at =
            |i: usize| u32::from_le_bytes([byte(i), byte(i + 1), byte(i + 2), byte(i + 3)]);
        let images = u64::from(u32_at(52)) | (u64::from(u32_at(56)) << 32);
        found.push(CacheFile {
            path,
            bytes: meta.len(),
            shape: [
                u32_at(40) as usize,
                u32_at(44) as usize,
                u32_at(48) as usize,
            ],
            images,
            source,
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// The source recorded at the end of the cache file `path` of `len` bytes, or why it cannot
/// be read.
fn read_source(path: &Path, len: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let read = || -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let mut size = [0u8; 4];
        f.seek(SeekFrom::Start(len.saturating_sub(8)))?;
        f.read_exact(&mut size)?;
        let size = u64::from(u32::from_le_bytes(size));
        if size > MAX_SOURCE as u64 || size + 8 + HEADER as u64 > len {
            return Ok("unknown (the file is damaged)".into());
        }
        let mut text = vec![0; size as usize];
        f.seek(SeekFrom::Start(len - 8 - size))?;
        f.read_exact(&mut text)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    };
    read().unwrap_or_else(|e| format!("unknown ({e})"))
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
    dir.join(format!("{}.cache", crate::official::hex(key)))
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
    if map.len() < HEADER + 8 {
        return Lookup::Invalid(format!("{} bytes, expected over {HEADER}", map.len()));
    }
    if &map[..8] != MAGIC || &map[8..40] != key {
        return Lookup::Invalid("another format or key".into());
    }
    let at = map.len() - 8;
    let source = u32::from_le_bytes(map[at..at + 4].try_into().expect("4 bytes")) as usize;
    let expected = HEADER + n * dim + source.min(MAX_SOURCE) + 8;
    if map.len() != expected {
        return Lookup::Invalid(format!("{} bytes, expected {expected}", map.len()));
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
    let body = map.len() - 4;
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

/// A cache file being written: images are appended as they are decoded, so that building the
/// cache of a folder larger than the memory never holds more than a batch of decoded images.
/// The file is a temporary one beside its final name until [`Writer::finish`]; dropped
/// unfinished (an error, a crash), it is removed.
pub struct Writer {
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    key: [u8; 32],
    shape: [usize; 3],
    source: String,
    bytes: usize,
    crc: crc32fast::Hasher,
}

impl Writer {
    /// Starts a cache file of images of `shape` under `key` in `dir` (created if needed);
    /// `source` says where the images come from (shown by `data cache`).
    ///
    /// Errors: the folder cannot be created or written.
    pub fn create(dir: &Path, key: [u8; 32], shape: [usize; 3], source: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        remove_stale_temporaries(dir);
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DataError::io(dir, e))?;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, tmp);
        // The header holds the count, known at the end: a placeholder until then.
        file.write_all(&[0; HEADER])
            .map_err(|e| DataError::io(dir, e))?;
        Ok(Self {
            file,
            key,
            shape,
            source: cut(source, MAX_SOURCE).to_string(),
            bytes: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Appends pixels: images one after the other, channel-major each (a call may end inside
    /// an image that the next one completes).
    ///
    /// Errors: the write fails (a full disk).
    pub fn push(&mut self, pixels: &[u8]) -> Result<()> {
        self.file
            .write_all(pixels)
            .map_err(|e| DataError::io(self.file.get_ref().path(), e))?;
        self.crc.update(pixels);
        self.bytes += pixels.len();
        Ok(())
    }

    /// Whole images written so far.
    pub fn images(&self) -> usize {
        self.bytes / self.shape.iter().product::<usize>()
    }

    /// Completes the file (header, checksum, synced) and memory-maps its pixels. With a
    /// `path`, the file is renamed to it and stays as a cache; without, it is removed from the
    /// folder at once and lives only as long as the map (images that are not a whole folder,
    /// which no later read could look up).
    ///
    /// Errors: the pixels written do not end with a whole image; the file cannot be written,
    /// synced, renamed or mapped.
    pub fn finish(self, path: Option<&Path>) -> Result<Pixels> {
        let images = self.images();
        let Writer {
            file,
            key,
            shape,
            source,
            bytes,
            crc,
        } = self;
        if bytes != images * shape.iter().product::<usize>() {
            return Err(DataError::Invalid(format!(
                "{bytes} pixel bytes do not make whole images of shape {shape:?}"
            )));
        }
        let mut tmp = file.into_inner().map_err(|e| {
            let (error, writer) = e.into_parts();
            DataError::io(writer.get_ref().path(), error)
        })?;
        let tmp_path = tmp.path().to_path_buf();
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&key);
        for v in shape {
            header.extend_from_slice(&(v as u32).to_le_bytes());
        }
        header.extend_from_slice(&(images as u64).to_le_bytes());
        let mut trailer = source.clone().into_bytes();
        trailer.extend_from_slice(&(source.len() as u32).to_le_bytes());
        let mut sum = crc32fast::Hasher::new();
        sum.update(&header);
        sum.combine(&crc);
        sum.update(&trailer);
        let complete = |f: &mut std::fs::File| -> std::io::Result<()> {
            use std::io::{Seek, SeekFrom};
            f.seek(SeekFrom::End(0))?;
            f.write_all(&trailer)?;
            f.write_all(&sum.clone().finalize().to_le_bytes())?;
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&header)?;
            f.sync_all()
        };
        complete(tmp.as_file_mut()).map_err(|e| DataError::io(&tmp_path, e))?;
        let file = match path {
            Some(path) => tmp
                .persist(path)
                .map_err(|e| DataError::io(path, e.error))?,
            None => {
                let (file, named) = tmp.into_parts();
                drop(named);
                file
            }
        };
        // SAFETY: as in `load`; the file was completed above and is never written again.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| DataError::io(&tmp_path, e))?;
        let dim: usize = shape.iter().product();
        Ok(Pixels::mapped(Arc::new(map), HEADER, images * dim))
    }
}

/// The source recorded for the `split` of the dataset at `root`: its absolute path and the
/// split, as `data cache` shows it.
pub fn source(root: &Path, split: crate::mnist::Split) -> String {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let split = match split {
        crate::mnist::Split::Train => "training",
        crate::mnist::Split::Test => "test",
    };
    format!("{}, {split} split", root.display())
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
