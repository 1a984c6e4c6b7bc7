//! Evaluation errors.

/// Why a query could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The storage failed.
    #[error("{0}")]
    Storage(String),
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
        EvalError::Storage(e.to_string())
    }
}
