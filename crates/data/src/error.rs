//! Errors of the data layer. Every message names the file (or value) at fault and what was
//! expected, so that the CLI can print it as one line.

use std::path::PathBuf;

/// Anything that can go wrong while reading or preparing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    // The I/O error is part of the message, not a `source`: shown once, not twice.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error: source,
        }
    }

    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, DataError>;
