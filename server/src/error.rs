//! API errors in Prometheus' JSON shape, with the status code mapped in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Prometheus' error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The request is wrong (400).
    BadData,
    /// The query cannot be executed (422).
    Execution,
    /// The query ran out of time (503).
    Timeout,
    /// The query was canceled (503).
    Canceled,
    /// The server is not ready or overloaded (503).
    Unavailable,
    /// Something broke inside (500).
    Internal,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Unavailable => "unavailable",
            ErrorType::Internal => "internal",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Canceled | ErrorType::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An API error: `{"status":"error","errorType":"...","error":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The kind, which decides the HTTP status.
    pub kind: ErrorType,
    /// The message.
    pub message: String,
    /// A status overriding the kind's (413 for a body over the limit).
    pub status: Option<StatusCode>,
}

impl ApiError {
    /// A 400 `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorType::BadData,
            message: message.into(),
            status: None,
        }
    }

    /// An error of `kind`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            status: None,
        }
    }
}

impl From<strata_promql::eval::EvalError> for ApiError {
    /// Follows Prometheus' `returnAPIError` (`web/api/v1/api.go`): a
    /// timeout or cancel is 503, a storage error 500 `internal`, the rest
    /// 422 `execution`; the too-many-points check is a 400 as Prometheus
    /// answers it before evaluating. Storage errors keep their class
    /// ([`storage_error_type`]), where Prometheus has one kind.
    fn from(e: strata_promql::eval::EvalError) -> Self {
        use strata_promql::eval::EvalError as E;
        let kind = match &e {
            E::Timeout => ErrorType::Timeout,
            E::Canceled => ErrorType::Canceled,
            E::TooManyPoints => ErrorType::BadData,
            E::Storage(s) => storage_error_type(s.kind()),
            _ => ErrorType::Execution,
        };
        ApiError::new(kind, e.to_string())
    }
}

impl From<strata_engine::Error> for ApiError {
    /// A storage failure met outside PromQL (series, labels, export,
    /// remote_read, delete): the same classes and answers as in a query
    /// ([`storage_error_type`]), same message.
    fn from(e: strata_engine::Error) -> Self {
        let kind = strata_promql::eval::StorageErrorKind::of(&e);
        ApiError::new(storage_error_type(kind), e.to_string())
    }
}

/// The answer to a storage failure met by a query, by its class: damage
/// and anything unclassified stay 500 `internal` (Prometheus' rule for
/// every storage error; the message names the damaged file and offset);
/// a storage that cannot serve now (closed, out of file handles, disk
/// full) is 503 `unavailable`, so clients retry; a request the storage
/// refuses (a matcher's regex that does not compile) is 400 `bad_data`,
/// as Prometheus answers a bad regex when it parses the query.
pub fn storage_error_type(kind: strata_promql::eval::StorageErrorKind) -> ErrorType {
    use strata_promql::eval::StorageErrorKind as K;
    match kind {
        K::BadInput => ErrorType::BadData,
        K::Unavailable => ErrorType::Unavailable,
        K::Corruption | K::Internal => ErrorType::Internal,
        // A class added later: internal until it gets its own answer.
        _ => ErrorType::Internal,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = format!(
            r#"{{"status":"error","errorType":"{}","error":{}}}"#,
            self.kind.as_str(),
            serde_json::to_string(&self.message).unwrap_or_else(|_| "\"\"".into())
        );
        let status = self.status.unwrap_or(self.kind.status());
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Error as IoError;

    use axum::http::StatusCode;
    use strata_engine::Error;
    use strata_promql::eval::EvalError;

    use super::*;

    /// The answer the query API gives when the engine fails with `e`.
    fn answer(e: Error) -> (ErrorType, StatusCode, String) {
        let api = ApiError::from(EvalError::from(e));
        let status = api.clone().into_response().status();
        (api.kind, status, api.message)
    }

    #[test]
    fn damaged_chunk_is_500_naming_the_file() {
        let (kind, status, message) = answer(Error::corruption(
            "/data/01H/chunks/000001",
            4096,
            "crc32 mismatch",
        ));
        assert_eq!(kind, ErrorType::Internal);
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            message,
            "corruption in /data/01H/chunks/000001 at offset 4096: crc32 mismatch"
        );
    }

    #[test]
    fn bad_regex_reaching_the_engine_is_400() {
        let (kind, status, message) = answer(Error::InvalidRegex {
            label: "job".into(),
            regex: "(".into(),
            reason: "unclosed group".into(),
        });
        assert_eq!(kind, ErrorType::BadData);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            message.contains("invalid regular expression \"(\""),
            "{message}"
        );
    }

    #[test]
    fn closed_or_overloaded_storage_is_503() {
        let emfile = Error::io("open", "/data/01H/index", IoError::from_raw_os_error(24));
        let enospc = Error::io("write", "/data/wal/000001", IoError::from_raw_os_error(28));
        for e in [Error::Closed, emfile, enospc] {
            let (kind, status, message) = answer(e);
            assert_eq!(kind, ErrorType::Unavailable, "{message}");
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{message}");
        }
    }

    #[test]
    fn other_storage_failures_stay_500() {
        let eacces = Error::io("open", "/data/01H/index", IoError::from_raw_os_error(13));
        let (kind, status, _) = answer(eacces);
        assert_eq!(kind, ErrorType::Internal);
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn engine_errors_outside_queries_get_the_same_answers() {
        let cases: [fn() -> Error; 3] = [
            || Error::corruption("/data/01H/chunks/000001", 4096, "crc32 mismatch"),
            || Error::Closed,
            || Error::io("open", "/data/01H/index", IoError::from_raw_os_error(13)),
        ];
        for make in cases {
            let direct = ApiError::from(make());
            let (kind, _, message) = answer(make());
            assert_eq!(direct.kind, kind, "{message}");
            assert_eq!(direct.message, message);
        }
    }
}
