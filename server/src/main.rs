//! `strata serve`: the command line. `anyhow` lives only here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use strata_engine::{FsyncPolicy, Options, Storage};
use strata_promql::eval::EvalOptions;
use strata_server::auth::AuthConfig;
use strata_server::body::BodyLimits;
use strata_server::limits::Limits;
use strata_server::serve::ConnLimits;
use strata_server::{AppState, router};

// mimalloc returns freed memory to the OS far more readily than glibc's
// allocator, which matters after a head cut frees most of the head.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Strata: a Prometheus-compatible long-term metrics store.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve remote_write and the Prometheus query API.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Directory holding the WAL and blocks.
    #[arg(long, env = "STRATA_DATA_DIR", default_value = "./strata-data")]
    data_dir: PathBuf,
    /// Address to listen on (`:8428` means all interfaces).
    #[arg(long, env = "STRATA_LISTEN", default_value = ":8428")]
    listen: String,
    /// How long data is kept (`90d`, `2w`, ...).
    #[arg(long, env = "STRATA_RETENTION", default_value = "90d")]
    retention: String,
    /// WAL fsync policy: `always` (each write waits for fsync), `never`, or an interval like `1s`.
    #[arg(long, env = "STRATA_WAL_FSYNC", default_value = "1s")]
    wal_fsync: String,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "STRATA_MAX_REQUEST_BYTES", default_value_t = 32 << 20)]
    max_request_bytes: usize,
    /// Longest a query may run (`2m`, `30s`).
    #[arg(long, env = "STRATA_QUERY_TIMEOUT", default_value = "2m")]
    query_timeout: String,
    /// Most samples a query may hold at once.
    #[arg(
        long,
        env = "STRATA_MAX_SAMPLES_PER_QUERY",
        default_value_t = 50_000_000
    )]
    max_samples_per_query: usize,
    /// How far back an instant selector looks for a sample.
    #[arg(long, env = "STRATA_LOOKBACK_DELTA", default_value = "5m")]
    lookback_delta: String,
    /// Log format: `text` or `json`.
    #[arg(long, env = "STRATA_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Require HTTP basic auth with this user name on every endpoint except
    /// `/health` and `/-/ready`; the password comes from
    /// `--basic-auth-password-file` or `STRATA_BASIC_AUTH_PASSWORD`.
    #[arg(long, env = "STRATA_BASIC_AUTH_USER")]
    basic_auth_user: Option<String>,
    /// File holding the basic auth password (trailing newline ignored).
    #[arg(long, env = "STRATA_BASIC_AUTH_PASSWORD_FILE")]
    basic_auth_password_file: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` with the token in this file
    /// (accepted besides basic auth when both are set).
    #[arg(long, env = "STRATA_BEARER_TOKEN_FILE")]
    bearer_token_file: Option<PathBuf>,
    /// Admin endpoints (delete_series, snapshots, force_flush, force_merge)
    /// take only this token (bearer, or `?authKey=`), from this file; it
    /// also enables the destructive ones, as `--enable-admin-api` does.
    #[arg(long, env = "STRATA_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Serve the endpoints that delete data or fill the disk
    /// (`/api/v1/admin/tsdb/*`, `/snapshot/create|delete|delete_all`);
    /// without it (or an admin token) they answer 403.
    #[arg(long, env = "STRATA_ENABLE_ADMIN_API")]
    enable_admin_api: bool,
    /// Refuse every admin endpoint with 403 (wins over `--enable-admin-api`).
    #[arg(long, env = "STRATA_DISABLE_ADMIN_API")]
    disable_admin_api: bool,
    /// Refuse samples more than this far ahead of the server's clock
    /// (`2d`, `1h`), so one client with a wrong clock cannot stretch the
    /// head's time range.
    #[arg(long, env = "STRATA_MAX_FUTURE", default_value = "2d")]
    max_future: String,
    /// Most writes, and separately most reads, running at once; more wait
    /// up to `--max-queue-wait`, then get 503 (writes) or 429 (reads).
    /// Default: four per CPU core.
    #[arg(long, env = "STRATA_MAX_CONCURRENT_REQUESTS")]
    max_concurrent_requests: Option<usize>,
    /// How long a request waits for a slot before it is refused.
    #[arg(long, env = "STRATA_MAX_QUEUE_WAIT", default_value = "1s")]
    max_queue_wait: String,
    /// Longest a client may take to send a request's headers (from accept,
    /// or from the first byte of a later request); then the connection is
    /// closed.
    #[arg(long, env = "STRATA_HEADER_READ_TIMEOUT", default_value = "10s")]
    header_read_timeout: String,
    /// Longest a keep-alive connection may sit idle between requests.
    #[arg(long, env = "STRATA_IDLE_TIMEOUT", default_value = "1m")]
    idle_timeout: String,
    /// Most HTTP connections open at once; further clients wait in the
    /// listen backlog until one closes.
    #[arg(long, env = "STRATA_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
    /// Largest decompressed request body (snappy, gzip, zstd), in bytes;
    /// larger ones get 413.
    #[arg(long, env = "STRATA_MAX_DECOMPRESSED_BYTES", default_value_t = strata_server::body::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    max_decompressed_bytes: usize,
    /// Bytes all request bodies being read and decompressed may hold at
    /// once; past it writes get 503 (clients retry) and remote_read 429.
    #[arg(long, env = "STRATA_MAX_INGEST_MEMORY_BYTES", default_value_t = strata_server::body::DEFAULT_MAX_INGEST_MEMORY_BYTES)]
    max_ingest_memory_bytes: usize,
    /// Also take InfluxDB line protocol over TCP on this address (like
    /// VictoriaMetrics' `-influxListenAddr`); off by default.
    #[arg(long, env = "STRATA_INFLUX_LISTEN")]
    influx_listen: Option<String>,
    /// Name line protocol series `{measurement}` instead of
    /// `{measurement}_{field}` when a line has a single field.
    #[arg(long, env = "STRATA_INFLUX_SKIP_SINGLE_FIELD")]
    influx_skip_single_field: bool,
    /// Separator in `{measurement}{separator}{field}` line protocol names.
    #[arg(
        long,
        env = "STRATA_INFLUX_MEASUREMENT_FIELD_SEPARATOR",
        default_value = "_"
    )]
    influx_measurement_field_separator: String,
    /// OTLP resource attributes copied to labels of every series of their
    /// resource (comma-separated OTLP names, e.g.
    /// `deployment.environment,k8s.namespace.name`); all of them are in
    /// `target_info` either way.
    #[arg(
        long,
        env = "STRATA_OTLP_PROMOTE_RESOURCE_ATTRIBUTES",
        value_delimiter = ','
    )]
    otlp_promote_resource_attributes: Vec<String>,
}

/// Reads a secret from a file, without its trailing newline.
fn secret_file(flag: &str, path: &std::path::Path) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("--{flag}: cannot read {}", path.display()))?;
    let s = s.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!s.is_empty(), "--{flag}: {} is empty", path.display());
    Ok(s)
}

fn auth_config(args: &ServeArgs) -> anyhow::Result<AuthConfig> {
    let basic = match &args.basic_auth_user {
        None => None,
        Some(user) => {
            let pass = match (
                &args.basic_auth_password_file,
                std::env::var("STRATA_BASIC_AUTH_PASSWORD"),
            ) {
                (Some(f), _) => secret_file("basic-auth-password-file", f)?,
                (None, Ok(p)) if !p.is_empty() => p,
                _ => anyhow::bail!(
                    "--basic-auth-user needs --basic-auth-password-file or STRATA_BASIC_AUTH_PASSWORD"
                ),
            };
            Some((user.clone(), pass))
        }
    };
    Ok(AuthConfig {
        basic,
        bearer: args
            .bearer_token_file
            .as_deref()
            .map(|f| secret_file("bearer-token-file", f))
            .transpose()?,
        admin_token: args
            .admin_token_file
            .as_deref()
            .map(|f| secret_file("admin-token-file", f))
            .transpose()?,
        admin_disabled: args.disable_admin_api,
        admin_enabled: args.enable_admin_api,
    })
}

/// An address like `:8428` (all interfaces) or `127.0.0.1:8428`.
fn socket_addr(flag: &str, s: &str) -> anyhow::Result<SocketAddr> {
    if let Some(port) = s.strip_prefix(':') {
        format!("0.0.0.0:{port}").parse()
    } else {
        s.parse()
    }
    .with_context(|| format!("--{flag}: {s:?} is not an address like :8428 or 127.0.0.1:8428"))
}

fn duration_ms(name: &str, s: &str) -> anyhow::Result<i64> {
    strata_promql::duration::parse_duration(s)
        .with_context(|| format!("--{name}: {s:?} is not a duration like 90d, 5m or 30s"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.log_format == "json" {
        tracing_subscriber::fmt().json().init();
    } else {
        tracing_subscriber::fmt().init();
    }
    let fsync = match args.wal_fsync.as_str() {
        "always" => FsyncPolicy::Always,
        "never" => FsyncPolicy::Never,
        other => FsyncPolicy::Interval(Duration::from_millis(
            duration_ms("wal-fsync", other)?.max(1) as u64,
        )),
    };
    let opts = Options {
        retention_ms: duration_ms("retention", &args.retention)?,
        max_future_ms: duration_ms("max-future", &args.max_future)?,
        ..Options::default()
    }
    .with_fsync(fsync);
    let eval = EvalOptions {
        lookback_ms: duration_ms("lookback-delta", &args.lookback_delta)?,
        max_samples: args.max_samples_per_query,
        timeout: Duration::from_millis(
            duration_ms("query-timeout", &args.query_timeout)?.max(1) as u64
        ),
        ..EvalOptions::default()
    };
    let addr = socket_addr("listen", &args.listen)?;
    let influx_addr = args
        .influx_listen
        .as_deref()
        .map(|s| socket_addr("influx-listen", s))
        .transpose()?;
    let influx = strata_server::ingest::influx::InfluxConfig {
        separator: args.influx_measurement_field_separator.clone(),
        skip_single_field: args.influx_skip_single_field,
    };

    let auth = auth_config(&args)?;
    let wait =
        Duration::from_millis(duration_ms("max-queue-wait", &args.max_queue_wait)?.max(0) as u64);
    let limits = match args.max_concurrent_requests {
        Some(n) => Limits::new(n, wait),
        None => Limits::default().with_queue_wait(wait),
    };
    let conn_limits = ConnLimits {
        header_read_timeout: Duration::from_millis(
            duration_ms("header-read-timeout", &args.header_read_timeout)?.max(1) as u64,
        ),
        idle_timeout: Duration::from_millis(
            duration_ms("idle-timeout", &args.idle_timeout)?.max(1) as u64,
        ),
        max_connections: args.max_connections.max(1),
    };
    let bodies = BodyLimits::new(args.max_decompressed_bytes, args.max_ingest_memory_bytes);
    let largest = args
        .max_request_bytes
        .saturating_add(args.max_decompressed_bytes);
    if largest > args.max_ingest_memory_bytes {
        tracing::warn!(
            "--max-ingest-memory-bytes={} is less than --max-request-bytes + --max-decompressed-bytes = {largest}: the largest bodies will be refused with 413",
            args.max_ingest_memory_bytes
        );
    }
    tracing::info!(auth = ?auth, "access");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Writes and queries run on blocking threads; memory they allocated
        // and another thread frees later (a head cut frees the chunks
        // ingest built) goes back to the OS only once the allocating thread
        // allocates again or exits. Idle ones exit after a second (tokio's
        // default is 10 s), so a burst's memory is returned soon after.
        .thread_keep_alive(std::time::Duration::from_secs(1))
        // Parsing (on the async workers) and evaluation (on blocking
        // threads) recurse once per level of the expression tree, at most
        // strata_promql::MAX_DEPTH (200) levels; tests run the worst shapes
        // at that depth on 2 MiB (tokio's default). 8 MiB leaves room for
        // unoptimised builds, and is only reserved, not touched, per thread.
        .thread_stack_size(8 * 1024 * 1024)
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listen on {addr}"))?;
        tracing::info!(%addr, data_dir = %args.data_dir.display(), "opening storage");
        // Serve at once: /-/ready (and every data endpoint) answers 503
        // until the storage is open and its WAL replayed.
        let state = AppState::opening(eval, args.max_request_bytes)
            .with_auth(auth)
            .with_limits(limits)
            .with_body_limits(bodies)
            .with_influx(influx)
            .with_otlp(strata_server::formats::otlp::translate::Options {
                promote: args.otlp_promote_resource_attributes.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
            });
        if let Some(a) = influx_addr {
            let l = tokio::net::TcpListener::bind(a).await.with_context(|| format!("--influx-listen: listen on {a}"))?;
            tracing::info!(addr = %a, "influx line protocol over tcp");
            tokio::spawn(strata_server::ingest::influx::serve_tcp(l, state.clone()));
        }
        let cell = state.storage.clone();
        let metrics = state.metrics.clone();
        let server = tokio::spawn(strata_server::serve::serve(listener, router(state), conn_limits, metrics, shutdown_signal()));
        let dir = args.data_dir.clone();
        let storage = tokio::task::spawn_blocking(move || Storage::open(&dir, opts))
            .await?
            .with_context(|| format!("open {}", args.data_dir.display()))?;
        let report = storage.open_report().clone();
        tracing::info!(blocks = report.blocks, wal_samples = report.wal_samples, damage = report.damage.len(), "storage open");
        for d in &report.damage {
            tracing::warn!(file = %d.file.display(), offset = d.offset, reason = %d.reason, "damage found at open");
        }
        let storage = Arc::new(storage);
        let _ = cell.set(storage.clone());
        tracing::info!(%addr, "ready");
        server.await??;
        tracing::info!("shutting down: closing storage");
        drop(cell);
        match Arc::try_unwrap(storage) {
            Ok(s) => s.close()?,
            Err(_) => tracing::warn!("storage still in use at shutdown; the WAL is flushed on drop"),
        }
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
