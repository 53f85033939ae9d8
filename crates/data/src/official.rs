//! What the official releases hold, to tell a cut or damaged copy from the real one: the number
//! of records of each file under its official name, and the published MD5 sums.
//!
//! A file cut at a record boundary parses cleanly, so only its count can give it away: another
//! count than the official one is an error, unless the config says the copy is a subset on
//! purpose (`data.subset = true`). A file of the right size whose MD5 differs from the published
//! one is read with a warning (copies are sometimes re-encoded on purpose).

use std::path::Path;

use md5::{Digest, Md5};

use crate::error::{DataError, Result};

/// How files read under their official names are checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expect {
    /// The copy is a custom subset: other record counts are accepted and sums are not compared.
    pub subset: bool,
    /// Whether to compare MD5 sums (off for a copy already verified another way).
    pub skip_sums: bool,
}

/// The published MD5 sums of one file (by its name without `.gz`): of the gzip file as
/// released, and of its decompressed content, so that a copy compressed again by another tool,
/// or stored uncompressed, still matches.
#[derive(Debug, Clone, Copy)]
pub struct KnownSums {
    pub stem: &'static str,
    pub gz: &'static str,
    pub content: Option<&'static str>,
}

impl Expect {
    /// Fails when `path` holds `found` records where the official file holds `official`.
    pub fn check_count(
        &self,
        path: &Path,
        what: &str,
        found: usize,
        official: usize,
    ) -> Result<()> {
        if self.subset || found == official {
            return Ok(());
        }
        Err(DataError::format(
            path,
            format!(
                "{found} {what} where the official file holds {official}: a cut or partial copy? \
                 Download it again, or set data.subset = true if this copy is a subset on purpose"
            ),
        ))
    }

    /// Compares the MD5 of a file (`bytes` as stored, `content` once decompressed) with its
    /// published sums; a difference is returned as a warning naming the file and both sums.
    pub fn check_sums(
        &self,
        path: &Path,
        bytes: &[u8],
        content: &[u8],
        known: Option<&KnownSums>,
    ) -> Option<String> {
        let known = known.filter(|_| !self.subset && !self.skip_sums)?;
        let actual = hex(&Md5::digest(bytes));
        if actual == known.gz {
            return None;
        }
        let compressed = !std::ptr::eq(bytes, content);
        let content_actual = if compressed {
            hex(&Md5::digest(content))
        } else {
            actual.clone()
        };
        match known.content {
            Some(expected) if content_actual == expected => None,
            Some(expected) if !compressed => Some(format!(
                "{}: MD5 {actual} differs from the official {expected} (it has the official size, so it is used; a re-encoded or altered copy?)",
                path.display()
            )),
            _ => Some(format!(
                "{}: MD5 {actual} differs from the official {} (it has the official size, so it is used; a re-encoded or altered copy?)",
                path.display(),
                known.gz
            )),
        }
    }
}

/// The known sums of the file named `name`, if any.
pub fn sums_of<'a>(table: &'a [KnownSums], stem: &str) -> Option<&'a KnownSums> {
    table.iter().find(|k| k.stem == stem)
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
