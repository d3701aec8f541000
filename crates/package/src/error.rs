//! `PackageError`: everything that can make building or reading a package fail.
//!
//! "The package is damaged" is *not* an error of [`verify`](crate::verify): a missing, added or
//! altered file is an expected outcome reported in [`VerifyReport`](crate::VerifyReport). Errors
//! are kept for I/O failures, bad input to [`build`](crate::build), and packages so broken that
//! nothing can be said about them (no manifest, not a ZIP or ISO at all).

use std::io;
use std::path::PathBuf;

/// Why building or verifying a package failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// Reading a source file failed.
    #[error("reading source file {path}: {source}")]
    ReadSource {
        /// The source file on disk.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// A source file does not have the size its [`Entry`](crate::Entry) announced (it changed
    /// while the package was being built, or the caller passed a wrong size).
    #[error("{path}: expected {expected} bytes, source has {actual}")]
    SizeMismatch {
        /// Package path of the entry.
        path: String,
        /// Size announced in the entry.
        expected: u64,
        /// Size found while reading.
        actual: u64,
    },
    /// An entry path is not a sanitized package path, is reserved, or collides with another.
    #[error("invalid package path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing the package file failed.
    #[error("writing package {path}: {source}")]
    Write {
        /// The package being written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Reading the package file failed.
    #[error("reading package {path}: {source}")]
    Read {
        /// The package being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The ZIP library refused an operation.
    #[error("zip {context}: {source}")]
    Zip {
        /// What was being done (entry name or step).
        context: String,
        /// The underlying zip error.
        #[source]
        source: zip::result::ZipError,
    },
    /// The ISO 9660 library refused an operation.
    #[error("iso {context}: {source}")]
    Iso {
        /// What was being done (entry name or step).
        context: String,
        /// The underlying error (boxed: it is large).
        #[source]
        source: Box<hadris_fs::PathError>,
    },
    /// The file is neither a ZIP nor an ISO 9660 image.
    #[error("{path}: not a ZIP archive or ISO 9660 image")]
    UnknownFormat {
        /// The file that was examined.
        path: PathBuf,
    },
    /// The package has no readable `manifest.json`, or it does not parse.
    #[error("manifest: {reason}")]
    Manifest {
        /// What is wrong.
        reason: String,
    },
    /// An internal invariant of the writer broke (a bug, never bad input).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl PackageError {
    pub(crate) fn write(path: &std::path::Path, source: io::Error) -> Self {
        Self::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn read(path: &std::path::Path, source: io::Error) -> Self {
        Self::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn source_read(path: &std::path::Path, source: io::Error) -> Self {
        Self::ReadSource {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn zip(context: impl Into<String>, source: zip::result::ZipError) -> Self {
        Self::Zip {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn iso(context: impl Into<String>, source: impl Into<hadris_fs::PathError>) -> Self {
        Self::Iso {
            context: context.into(),
            source: Box::new(source.into()),
        }
    }

    pub(crate) fn manifest(reason: impl Into<String>) -> Self {
        Self::Manifest {
            reason: reason.into(),
        }
    }
}
