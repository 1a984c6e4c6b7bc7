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
    fn from(e: strata_promql::eval::EvalError) -> Self {
        use strata_promql::eval::EvalError as E;
        let kind = match e {
            E::Timeout => ErrorType::Timeout,
            E::Canceled => ErrorType::Canceled,
            E::TooManyPoints => ErrorType::BadData,
            E::Storage(_) => ErrorType::Internal,
            _ => ErrorType::Execution,
        };
        ApiError::new(kind, e.to_string())
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
