//! Snapshots of the data directory: Prometheus'
//! `POST /api/v1/admin/tsdb/snapshot` and VictoriaMetrics'
//! `/snapshot/create|list|delete|delete_all`. Snapshots live in
//! `<data-dir>/snapshots/<name>`, each openable with `--data-dir`.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use strata_engine::SnapshotScope;

use super::{blocking, params, success};
use crate::app::AppState;
use crate::error::{ApiError, ErrorType};

/// The directory holding the snapshots.
fn snapshots_dir(st: &AppState) -> Result<PathBuf, ApiError> {
    Ok(st.storage()?.dir().join("snapshots"))
}

/// A new snapshot name: UTC time, then random hex, as Prometheus names them
/// (`20261129T160102Z-5e1f0c2a9b3d4e6f`).
fn new_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, m, d) = strata_engine::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let random = std::collections::hash_map::RandomState::new();
    let salt = std::hash::BuildHasher::hash_one(&random, now.as_nanos());
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{salt:016x}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Creates a snapshot and returns its name.
async fn create(st: AppState, scope: SnapshotScope) -> Result<String, ApiError> {
    blocking(move || {
        let dir = snapshots_dir(&st)?;
        let name = new_name();
        st.storage()?
            .snapshot(&dir.join(&name), scope)
            .map_err(|e| ApiError::new(ErrorType::Internal, format!("create snapshot: {e}")))?;
        tracing::info!(snapshot = %name, "snapshot created");
        Ok(name)
    })
    .await
}

/// `POST/PUT /api/v1/admin/tsdb/snapshot[?skip_head=true]`.
pub async fn prometheus_create(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let skip_head = match p.get("skip_head") {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(ApiError::bad_data(format!(
                "invalid parameter \"skip_head\": {other:?} is not a boolean"
            )));
        }
    };
    let scope = if skip_head {
        SnapshotScope::BlocksOnly
    } else {
        SnapshotScope::WithHead
    };
    let name = create(st, scope).await?;
    Ok(success(format!(
        r#"{{"name":{}}}"#,
        crate::formats::json::string(&name)
    )))
}

fn vm_ok(extra: &str) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"status":"ok"{extra}}}"#),
    )
        .into_response()
}

/// `GET/POST /snapshot/create` (VictoriaMetrics).
pub async fn vm_create(State(st): State<AppState>) -> Result<Response, ApiError> {
    let name = create(st, SnapshotScope::WithHead).await?;
    Ok(vm_ok(&format!(
        r#","snapshot":{}"#,
        crate::formats::json::string(&name)
    )))
}

/// The snapshot names, sorted.
fn list_names(st: &AppState) -> Result<Vec<String>, ApiError> {
    let dir = snapshots_dir(st)?;
    let mut names = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    names.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ApiError::new(
                ErrorType::Internal,
                format!("read {}: {e}", dir.display()),
            ));
        }
    }
    names.sort();
    Ok(names)
}

/// `GET /snapshot/list` (VictoriaMetrics).
pub async fn vm_list(State(st): State<AppState>) -> Result<Response, ApiError> {
    let names = blocking(move || list_names(&st)).await?;
    let list: Vec<String> = names
        .iter()
        .map(|n| crate::formats::json::string(n))
        .collect();
    Ok(vm_ok(&format!(r#","snapshots":[{}]"#, list.join(","))))
}

/// `GET/POST /snapshot/delete?snapshot=<name>` (VictoriaMetrics).
pub async fn vm_delete(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(q, &headers, &body)?;
    let name = p.get("snapshot").unwrap_or_default().to_owned();
    blocking(move || {
        if !list_names(&st)?.contains(&name) {
            return Err(ApiError::bad_data(format!(
                "invalid parameter \"snapshot\": no snapshot named {name:?}"
            )));
        }
        remove(&snapshots_dir(&st)?.join(&name))
    })
    .await?;
    Ok(vm_ok(""))
}

/// `GET/POST /snapshot/delete_all` (VictoriaMetrics).
pub async fn vm_delete_all(State(st): State<AppState>) -> Result<Response, ApiError> {
    blocking(move || {
        let dir = snapshots_dir(&st)?;
        for name in list_names(&st)? {
            remove(&dir.join(name))?;
        }
        Ok(())
    })
    .await?;
    Ok(vm_ok(""))
}

fn remove(dir: &std::path::Path) -> Result<(), ApiError> {
    std::fs::remove_dir_all(dir).map_err(|e| {
        ApiError::new(
            ErrorType::Internal,
            format!("delete {}: {e}", dir.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_utc_dates_then_random_hex() {
        let n = super::new_name();
        let (date, hex) = n.split_once('-').unwrap();
        assert_eq!(date.len(), "20261129T160102Z".len(), "{n}");
        assert!(
            date.starts_with("20") && date.ends_with('Z') && date.contains('T'),
            "{n}"
        );
        assert_eq!(hex.len(), 16, "{n}");
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{n}");
        assert_ne!(super::new_name(), super::new_name());
    }
}
