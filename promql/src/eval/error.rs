//! Evaluation errors, and the storage failures they carry with their class
//! kept ([`StorageError`], [`StorageErrorKind`]).

/// Why a query could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The storage failed; [`StorageError::kind`] says how.
    #[error("{0}")]
    Storage(StorageError),
    /// The query would load more samples than allowed.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// A range query with too many points per series.
    #[error(
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    )]
    TooManyPoints,
    /// The query ran longer than its timeout.
    #[error("query timed out in query execution")]
    Timeout,
    /// The query was canceled by its caller.
    #[error("query was canceled in query execution")]
    Canceled,
    /// Anything Prometheus reports as an execution error, with its message.
    #[error("{0}")]
    Execution(String),
}

impl From<strata_engine::Error> for EvalError {
    fn from(e: strata_engine::Error) -> Self {
        EvalError::Storage(StorageError::from(&e))
    }
}

/// A storage failure met while evaluating: its class and the engine's
/// message (which names the file and offset of a damaged chunk).
///
/// It keeps the class rather than the engine's error itself so that
/// [`EvalError`] stays `Clone + Eq` (the engine's error holds an
/// `std::io::Error`, which is neither).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    kind: StorageErrorKind,
    message: String,
}

impl StorageError {
    /// A storage error of `kind` with `message`.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    /// The engine's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<&strata_engine::Error> for StorageError {
    fn from(e: &strata_engine::Error) -> Self {
        StorageError::new(StorageErrorKind::of(e), e.to_string())
    }
}

/// The class of a storage failure: whose fault it is and whether trying
/// again can help. An API answers each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// Stored data is damaged: a file failed its checksum, could not be
    /// decoded, or is missing or cut short.
    Corruption,
    /// The storage cannot serve now but may later, and nothing is known to
    /// be damaged: it is closed or locked, a block could not be opened, or
    /// an I/O call failed for a passing reason of the environment (too many
    /// open files, disk full, out of memory, a device error).
    Unavailable,
    /// What the query asked of the storage is wrong (a matcher's regex
    /// that does not compile, invalid labels): retrying cannot help.
    BadInput,
    /// Anything else: an I/O error that will not pass by itself
    /// (permission denied, an invalid argument), or a failure the engine
    /// adds later without a class here.
    Internal,
}

impl StorageErrorKind {
    /// The class of an engine error: the one place that decides it.
    pub fn of(e: &strata_engine::Error) -> Self {
        use strata_engine::Error as E;
        if e.is_corruption() {
            return StorageErrorKind::Corruption;
        }
        if e.is_bad_input() {
            return StorageErrorKind::BadInput;
        }
        match e {
            E::Io { source, .. } if is_transient(source) => StorageErrorKind::Unavailable,
            E::Closed | E::Locked { .. } | E::BlockUnavailable { .. } => {
                StorageErrorKind::Unavailable
            }
            _ => StorageErrorKind::Internal,
        }
    }
}

/// Whether an I/O error is one of the environment that can pass: too many
/// open files, a full disk or quota, no memory, a device error, a busy or
/// interrupted call.
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    // EIO, ENFILE and EMFILE have no stable `ErrorKind`; their numbers are
    // the same on Linux and the BSDs (macOS).
    const EIO: i32 = 5;
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(
        e.kind(),
        K::OutOfMemory
            | K::StorageFull
            | K::QuotaExceeded
            | K::ResourceBusy
            | K::WouldBlock
            | K::Interrupted
            | K::TimedOut
    ) || matches!(e.raw_os_error(), Some(EIO | ENFILE | EMFILE))
}

#[cfg(test)]
mod tests {
    use std::io::{Error as IoError, ErrorKind};

    use strata_engine::{Error, LabelError};

    use super::*;

    /// The class of `e`, checked to be the one the evaluator's conversion
    /// keeps, with the engine's message unchanged.
    fn class(e: Error) -> StorageErrorKind {
        let kind = StorageErrorKind::of(&e);
        let text = e.to_string();
        let EvalError::Storage(s) = EvalError::from(e) else {
            panic!("not a storage error: {text}");
        };
        assert_eq!(s.kind(), kind, "{text}");
        assert_eq!(s.message(), text);
        kind
    }

    #[test]
    fn damaged_data_is_corruption() {
        let e = Error::corruption("/data/01H/chunks/000001", 4096, "crc32 mismatch");
        assert_eq!(class(e), StorageErrorKind::Corruption);
        // A file that is missing or cut short is damage too, as the engine says.
        let cut = Error::io("read", "/data/01H/index", ErrorKind::UnexpectedEof.into());
        assert_eq!(class(cut), StorageErrorKind::Corruption);
        let e = EvalError::from(Error::corruption("/d/chunks/000001", 7, "bad chunk"));
        assert_eq!(
            e.to_string(),
            "corruption in /d/chunks/000001 at offset 7: bad chunk",
            "the message names file and offset, as before"
        );
    }

    #[test]
    fn trouble_of_the_environment_is_unavailable() {
        assert_eq!(class(Error::Closed), StorageErrorKind::Unavailable);
        let locked = Error::Locked {
            dir: "/data".into(),
            lock: "/data/lock".into(),
        };
        assert_eq!(class(locked), StorageErrorKind::Unavailable);
        // EMFILE, ENFILE, ENOSPC, EIO, ENOMEM, EDQUOT, EAGAIN: not damage,
        // not the query, and they can pass.
        for errno in [24, 23, 28, 5, 12, 122, 11] {
            let e = Error::io("open", "/data/01H/index", IoError::from_raw_os_error(errno));
            assert_eq!(class(e), StorageErrorKind::Unavailable, "errno {errno}");
        }
        let block = Error::BlockUnavailable {
            dir: "/data/01H".into(),
            source: Box::new(Error::io(
                "open",
                "/data/01H/index",
                IoError::from_raw_os_error(24),
            )),
        };
        assert_eq!(class(block), StorageErrorKind::Unavailable);
    }

    #[test]
    fn a_wrong_request_is_bad_input() {
        let regex = Error::InvalidRegex {
            label: "job".into(),
            regex: "(".into(),
            reason: "unclosed group".into(),
        };
        assert_eq!(class(regex), StorageErrorKind::BadInput);
        let labels = Error::InvalidLabels(LabelError::EmptyName);
        assert_eq!(class(labels), StorageErrorKind::BadInput);
    }

    #[test]
    fn io_that_will_not_pass_is_internal() {
        // EACCES, EPERM, EINVAL, EISDIR: a misconfiguration or a bug.
        for errno in [13, 1, 22, 21] {
            let e = Error::io("open", "/data/01H/index", IoError::from_raw_os_error(errno));
            assert_eq!(class(e), StorageErrorKind::Internal, "errno {errno}");
        }
        let other = Error::io("mmap", "/data/01H/index", IoError::other("mapping refused"));
        assert_eq!(class(other), StorageErrorKind::Internal);
    }
}
