//! Downloads of the official archives: mirrors tried in order, MD5 verified while streaming,
//! a temporary file renamed into place only once verified, tar.gz archives extracted.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use crate::error::{DataError, Result};
use crate::official::hex;

/// One file of a dataset as published: its name, its MD5 and where it can be found.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteFile {
    pub name: String,
    pub md5: String,
    /// Full URLs, tried in order.
    pub urls: Vec<String>,
    /// Whether it is a tar.gz archive to extract after download.
    pub extract: bool,
}

impl RemoteFile {
    /// The same file with `bases` (URL prefixes, e.g. a local mirror) tried before the official
    /// addresses.
    pub fn with_mirrors(mut self, bases: &[String]) -> Self {
        let mut urls: Vec<String> = bases
            .iter()
            .map(|b| format!("{}/{}", b.trim_end_matches('/'), self.name))
            .collect();
        urls.append(&mut self.urls);
        self.urls = urls;
        self
    }
}

/// Progress reporting of a download (a terminal bar, or nothing).
pub trait FetchProgress {
    fn start(&mut self, url: &str, total: Option<u64>);
    fn advance(&mut self, bytes: u64);
    fn finish(&mut self);
}

/// No progress output.
pub struct Silent;

impl FetchProgress for Silent {
    fn start(&mut self, _url: &str, _total: Option<u64>) {}
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
}

/// Removes a temporary path when dropped, unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Downloads `url` into `tmp`, returning the MD5 of what was written.
fn download_to(
    url: &str,
    tmp: &Path,
    progress: &mut dyn FetchProgress,
) -> std::result::Result<String, String> {
    let mut response = agent().get(url).call().map_err(|e| e.to_string())?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    progress.start(url, total);
    let mut reader = response.body_mut().as_reader();
    let mut file = std::fs::File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("connection broke after {received} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        received += n as u64;
        progress.advance(n as u64);
    }
    progress.finish();
    if let Some(total) = total
        && received != total
    {
        return Err(format!("truncated: received {received} of {total} bytes"));
    }
    file.sync_all()
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// Downloads `file` into `dir` (created if needed), trying each URL in turn, and extracts it
/// if it is an archive. Nothing is left at the final path unless its MD5 matched.
pub fn fetch(file: &RemoteFile, dir: &Path, progress: &mut dyn FetchProgress) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let dest = dir.join(&file.name);
    let tmp = dir.join(format!(".{}.part{}", file.name, std::process::id()));
    let mut failures = Vec::new();
    for url in &file.urls {
        let mut guard = TempGuard(Some(tmp.clone()));
        match download_to(url, &tmp, progress) {
            Ok(md5) if md5 == file.md5 => {
                std::fs::rename(&tmp, &dest).map_err(|e| DataError::io(&dest, e))?;
                guard.0 = None;
                if file.extract {
                    extract_tar_gz(&dest, dir)?;
                    let _ = std::fs::remove_file(&dest);
                }
                return Ok(dest);
            }
            Ok(md5) => failures.push(format!(
                "{url}: MD5 {md5} does not match the expected {}",
                file.md5
            )),
            Err(e) => failures.push(format!("{url}: {e}")),
        }
        drop(guard);
    }
    Err(DataError::Invalid(format!(
        "could not download {} ({}); to install it by hand, get it (MD5 {}) from {} and put it in {}{}",
        file.name,
        failures.join("; "),
        file.md5,
        file.urls.last().map_or("its publisher", String::as_str),
        dir.display(),
        if file.extract {
            ", then extract it there"
        } else {
            ""
        }
    )))
}

/// Extracts a tar.gz archive into `dir`: first into a temporary folder inside `dir`, then each
/// top-level entry is renamed into place, so that an interrupted extraction leaves no
/// half-written dataset folder.
pub fn extract_tar_gz(archive: &Path, dir: &Path) -> Result<()> {
    let tmp = dir.join(format!(".extract{}", std::process::id()));
    let guard = TempGuard(Some(tmp.clone()));
    std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.unpack(&tmp)
        .map_err(|e| DataError::format(archive, format!("cannot extract the archive: {e}")))?;
    for entry in std::fs::read_dir(&tmp).map_err(|e| DataError::io(&tmp, e))? {
        let entry = entry.map_err(|e| DataError::io(&tmp, e))?;
        let target = dir.join(entry.file_name());
        if target.is_dir() {
            std::fs::remove_dir_all(&target).map_err(|e| DataError::io(&target, e))?;
        }
        std::fs::rename(entry.path(), &target).map_err(|e| DataError::io(&target, e))?;
    }
    drop(guard);
    Ok(())
}
