//! The engine's error type.

use std::path::PathBuf;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage engine.
///
/// Each variant says whose fault it is: [`Error::is_bad_input`] is true for
/// problems with what the caller passed in (retrying cannot help), false for
/// trouble in the storage itself (I/O, corruption, a closed storage).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label set broke one of the rules in [`crate::LabelLimits`] or the
    /// label-name grammar.
    #[error("invalid labels: {0}")]
    InvalidLabels(#[from] LabelError),

    /// A matcher's regular expression does not compile.
    #[error("invalid regular expression {regex:?} in matcher for label {label:?}: {reason}")]
    InvalidRegex {
        /// The label the matcher was for.
        label: String,
        /// The expression as given.
        regex: String,
        /// What the regex compiler said.
        reason: String,
    },

    /// A sample lies outside the window the storage accepts (older than the
    /// retention period allows).
    #[error("sample for series {series} at {t} ms is out of bounds: {reason}")]
    OutOfBounds {
        /// The series' labels, printed.
        series: String,
        /// The sample's timestamp.
        t: i64,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A sample lies further ahead of now than
    /// [`crate::Options::max_future_ms`] allows (a client with a wrong clock).
    #[error(
        "sample for series {series} at {t} ms is too far in the future: more than {max_future_ms} ms ahead of now ({now} ms)"
    )]
    TooFarInFuture {
        /// The series' labels, printed.
        series: String,
        /// The sample's timestamp.
        t: i64,
        /// The storage's clock when the batch began.
        now: i64,
        /// The allowed lead, [`crate::Options::max_future_ms`].
        max_future_ms: i64,
    },

    /// A file failed its checksum or could not be decoded.
    #[error("corruption in {} at offset {offset}: {reason}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset in the file where the damage was found.
        offset: u64,
        /// What failed.
        reason: String,
    },

    /// An I/O call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Another process (or another `Storage` in this one) holds the data
    /// directory's lock.
    #[error("data directory {} is locked by another process (lock file {})", dir.display(), lock.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The lock file that is held.
        lock: PathBuf,
    },

    /// An option passed to [`crate::Storage::open`] is out of range.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The storage was closed.
    #[error("storage is closed")]
    Closed,

    /// A block could not be opened for a reason that is not damage to its
    /// files (too many open files, out of memory, permission denied, a
    /// read error of the device...). [`crate::Storage::open`] fails with it
    /// rather than quarantining a block that may well be healthy; the block
    /// stays where it is.
    #[error(
        "cannot open block {}: {source}; this is not corruption, the block was left in place: fix the cause and open again",
        dir.display()
    )]
    BlockUnavailable {
        /// The block's directory.
        dir: PathBuf,
        /// Why it could not be opened.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// True when the error is the caller's input (invalid labels, a bad
    /// regex, a sample out of bounds): retrying the same call cannot succeed.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidLabels(_)
                | Error::InvalidRegex { .. }
                | Error::OutOfBounds { .. }
                | Error::TooFarInFuture { .. }
                | Error::InvalidOption { .. }
        )
    }

    /// True when the error says a file is damaged: a checksum, magic,
    /// version or decode failure, or a file that is missing, cut short or
    /// not valid data. False for errors of the environment (`EMFILE`,
    /// `ENOMEM`, `EACCES`, `EIO`, ...), which say nothing about the data.
    pub fn is_corruption(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            Error::Corruption { .. } => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                ErrorKind::NotFound | ErrorKind::UnexpectedEof | ErrorKind::InvalidData
            ),
            _ => false,
        }
    }

    /// Builds an [`Error::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Corruption`].
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_damage_counts_as_corruption() {
        let io = |e: std::io::Error| Error::io("open", "/x/index", e);
        assert!(Error::corruption("/x/index", 3, "crc32 mismatch").is_corruption());
        for kind in [
            std::io::ErrorKind::NotFound,
            std::io::ErrorKind::UnexpectedEof,
            std::io::ErrorKind::InvalidData,
        ] {
            assert!(io(kind.into()).is_corruption(), "{kind:?}");
        }
        // EMFILE, ENFILE, ENOMEM, EACCES, EPERM, EIO, ENOSPC, EISDIR.
        for errno in [24, 23, 12, 13, 1, 5, 28, 21] {
            let e = io(std::io::Error::from_raw_os_error(errno));
            assert!(!e.is_corruption(), "errno {errno}: {e}");
        }
        assert!(!Error::Closed.is_corruption());
    }
}

/// Why a label set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// No labels at all (or only labels with empty values).
    #[error("empty label set")]
    Empty,
    /// A label name or value is not valid UTF-8 (raw input only).
    #[error("label {0} is not valid UTF-8")]
    NotUtf8(&'static str),
    /// A label name is empty.
    #[error("empty label name")]
    EmptyName,
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}: must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidName(String),
    /// The same name appears twice.
    #[error("duplicate label name {0:?}")]
    DuplicateName(String),
    /// A name is longer than the limit.
    #[error("label name {name:?} is {len} bytes long, over the limit of {limit}")]
    NameTooLong {
        /// The name (cut to 64 bytes).
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A value is longer than the limit.
    #[error("value of label {name:?} is {len} bytes long, over the limit of {limit}")]
    ValueTooLong {
        /// The label's name.
        name: String,
        /// The value's length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// More labels than allowed.
    #[error("{count} labels, over the limit of {limit}")]
    TooMany {
        /// How many labels the set has.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// More labels than allowed, found while a parser reads the set (its
    /// full size is not known then): [`crate::LabelLimits::check_one`].
    #[error("more than {limit} labels (limit {limit}, __name__ included)")]
    MoreThan {
        /// The limit.
        limit: usize,
    },
}
