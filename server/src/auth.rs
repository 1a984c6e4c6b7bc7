//! Authentication: HTTP basic auth and/or a bearer token for every endpoint
//! but the probes, and an optional separate credential for admin endpoints.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::app::AppState;
use crate::error::{ApiError, ErrorType};

/// Who may call the API.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// `user:password` accepted with `Authorization: Basic`.
    pub basic: Option<(String, String)>,
    /// Token accepted with `Authorization: Bearer`.
    pub bearer: Option<String>,
    /// Token required for admin endpoints (bearer, or VictoriaMetrics'
    /// `authKey` parameter); when set it is the only credential they take.
    pub admin_token: Option<String>,
    /// Admin endpoints answer 403 (`--disable-admin-api`; wins over
    /// everything else).
    pub admin_disabled: bool,
    /// The endpoints that destroy data or fill the disk (see
    /// [`is_destructive_path`]) are served (`--enable-admin-api`). Without
    /// it, and without an `admin_token`, they answer 403.
    pub admin_enabled: bool,
}

impl std::fmt::Debug for AuthConfig {
    // Never print a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("basic_user", &self.basic.as_ref().map(|(u, _)| u))
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("admin_disabled", &self.admin_disabled)
            .field("admin_enabled", &self.admin_enabled)
            .finish()
    }
}

/// Paths that answer without credentials (liveness and readiness probes).
const OPEN_PATHS: [&str; 2] = ["/health", "/-/ready"];

/// True for endpoints that change or copy stored data.
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/api/v1/admin/")
        || path.starts_with("/snapshot/")
        || path.starts_with("/internal/")
}

/// True for the admin endpoints that delete data or fill the disk:
/// Prometheus' `/api/v1/admin/tsdb/*` (delete_series, snapshot) and
/// VictoriaMetrics' `/snapshot/create|delete|delete_all`. They are off
/// unless `--enable-admin-api` or `--admin-token-file` is given.
/// `/snapshot/list` (read-only) and `/internal/force_flush|force_merge`
/// (they only do early what maintenance does anyway) are not among them.
pub fn is_destructive_path(path: &str) -> bool {
    path.starts_with("/api/v1/admin/")
        || (path.starts_with("/snapshot/") && path != "/snapshot/list")
}

/// Compares without an early exit, so timing does not reveal a prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AuthConfig {
    /// True when the API requires credentials.
    pub fn enabled(&self) -> bool {
        self.basic.is_some() || self.bearer.is_some()
    }

    fn bearer_of(headers: &HeaderMap) -> Option<&str> {
        headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
            .map(str::trim)
    }

    fn user_ok(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let (Some(token), Some(given)) = (&self.bearer, value.strip_prefix("Bearer ")) {
            return same(token.as_bytes(), given.trim().as_bytes());
        }
        if let (Some((user, pass)), Some(given)) = (&self.basic, value.strip_prefix("Basic ")) {
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else {
                return false;
            };
            let mut expected = Vec::with_capacity(user.len() + pass.len() + 1);
            expected.extend_from_slice(user.as_bytes());
            expected.push(b':');
            expected.extend_from_slice(pass.as_bytes());
            return same(&expected, &raw);
        }
        false
    }

    fn admin_ok(&self, token: &str, headers: &HeaderMap, query: Option<&str>) -> bool {
        if Self::bearer_of(headers).is_some_and(|g| same(token.as_bytes(), g.as_bytes())) {
            return true;
        }
        query.is_some_and(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q).is_ok_and(|pairs| {
                pairs
                    .iter()
                    .any(|(k, v)| k == "authKey" && same(token.as_bytes(), v.as_bytes()))
            })
        })
    }
}

fn unauthorized(message: &str) -> Response {
    let mut res = ApiError {
        kind: ErrorType::BadData,
        message: message.into(),
        status: Some(StatusCode::UNAUTHORIZED),
    }
    .into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"strata\""),
    );
    res
}

/// Middleware: refuses requests without valid credentials (401), admin
/// requests when the admin API is disabled (403), and destructive admin
/// requests unless the admin API is enabled or an admin token set (403).
pub async fn require_auth(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let auth = &st.auth;
    let path = req.uri().path();
    if OPEN_PATHS.contains(&path) {
        return next.run(req).await;
    }
    if is_admin_path(path) {
        if auth.admin_disabled {
            return ApiError {
                kind: ErrorType::Unavailable,
                message: "admin APIs disabled (--disable-admin-api)".into(),
                status: Some(StatusCode::FORBIDDEN),
            }
            .into_response();
        }
        if let Some(token) = &auth.admin_token {
            if auth.admin_ok(token, req.headers(), req.uri().query()) {
                return next.run(req).await;
            }
            return unauthorized("admin endpoint: missing or wrong admin token");
        }
    }
    if auth.enabled() && !auth.user_ok(req.headers()) {
        return unauthorized("missing or wrong credentials");
    }
    if !auth.admin_enabled && is_destructive_path(path) {
        return ApiError {
            kind: ErrorType::Unavailable,
            message: format!(
                "admin APIs disabled: {path} deletes data or fills the disk; \
                 start strata with --enable-admin-api (or --admin-token-file) to use it"
            ),
            status: Some(StatusCode::FORBIDDEN),
        }
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn credentials_are_checked_exactly() {
        let a = AuthConfig {
            basic: Some(("ann".into(), "s3cret".into())),
            bearer: Some("tok-zq9".into()),
            ..AuthConfig::default()
        };
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(a.user_ok(&headers(&format!("Basic {}", b64("ann:s3cret")))));
        assert!(!a.user_ok(&headers(&format!("Basic {}", b64("ann:s3cre")))));
        assert!(!a.user_ok(&headers(&format!("Basic {}", b64("bob:s3cret")))));
        assert!(!a.user_ok(&headers("Basic !!notbase64")));
        assert!(a.user_ok(&headers("Bearer tok-zq9")));
        assert!(!a.user_ok(&headers("Bearer tok-zq8")));
        assert!(!a.user_ok(&HeaderMap::new()));
        assert!(!format!("{a:?}").contains("s3cret"));
        assert!(!format!("{a:?}").contains("tok-zq9"));
    }
}
