//! The accept loop: HTTP/1.1 connections with a header-read timeout, an
//! idle (keep-alive) timeout and a cap on open connections, so slow or idle
//! clients cannot use up file descriptors or tasks; graceful shutdown
//! finishes the requests in flight.
//!
//! `axum::serve` has none of these knobs. Each connection is watched here:
//!
//! - from accept until the first request's head is complete, and from the
//!   first byte of each later request until its head is complete, at most
//!   the header-read timeout (a client that sends nothing, or half a
//!   header, is closed);
//! - between requests, with nothing received, at most the idle timeout;
//! - while a request is being served there is no limit here (queries have
//!   their own timeout).
//!
//! Over `max_connections` the loop stops accepting until a connection
//! closes: the extra clients wait in the kernel's listen backlog (bounded
//! by the OS), not in our memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest wait for a complete request head (see the module docs).
    pub header_read_timeout: Duration,
    /// Longest a connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    /// 10 s to send a request head, 1 minute idle (VictoriaMetrics'
    /// `-http.idleConnTimeout`), 512 connections.
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// What a connection is doing, for its watchdog.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request head since `since`: `header` when the header
    /// timeout applies (fresh connection, or bytes of a head received),
    /// else the idle timeout.
    Waiting { since: Instant, header: bool },
    /// This many requests are being served.
    Busy(usize),
}

#[derive(Debug)]
struct Activity(Mutex<Phase>);

impl Activity {
    fn read_some(&self) {
        let mut p = self.0.lock();
        if let Phase::Waiting { header: false, .. } = *p {
            *p = Phase::Waiting {
                since: Instant::now(),
                header: true,
            };
        }
    }

    fn start(&self) {
        let mut p = self.0.lock();
        *p = match *p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Waiting { .. } => Phase::Busy(1),
        };
    }

    fn finish(&self) {
        let mut p = self.0.lock();
        *p = match *p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Waiting {
                since: Instant::now(),
                header: false,
            },
        };
    }

    /// When the connection must close, `None` while a request is served.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        match *self.0.lock() {
            Phase::Busy(_) => None,
            Phase::Waiting {
                since,
                header: true,
            } => Some(since + limits.header_read_timeout),
            Phase::Waiting { since, .. } => Some(since + limits.idle_timeout),
        }
    }
}

/// The socket, noting when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_some();
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Marks the connection busy from the time a request's head is parsed
/// until its response body is done (dropped by hyper).
struct BusyGuard(Arc<Activity>);

impl BusyGuard {
    fn new(a: Arc<Activity>) -> BusyGuard {
        a.start();
        BusyGuard(a)
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// A response body holding the connection's [`BusyGuard`], so a long
/// streamed answer (export) is not taken for an idle connection.
struct GuardedBody {
    inner: axum::body::Body,
    _guard: BusyGuard,
}

impl http_body::Body for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the
/// open connections to finish their requests.
///
/// # Errors
/// None today (accept errors are logged and retried); the `Result` leaves
/// room for fatal listener errors.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first: over the cap, stop accepting.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity(Mutex::new(Phase::Waiting {
            since: Instant::now(),
            header: true,
        })));
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let svc_activity = activity.clone();
        let app = app.clone();
        let svc = tower::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
            let guard = BusyGuard::new(svc_activity.clone());
            let mut app = app.clone();
            async move {
                let res = tower::Service::call(&mut app, req.map(axum::body::Body::new)).await;
                res.map(|r| {
                    r.map(|inner| {
                        axum::body::Body::new(GuardedBody {
                            inner,
                            _guard: guard,
                        })
                    })
                })
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            // The watchdog below applies both timeouts; hyper's own header
            // timer would also cut idle keep-alive connections short.
            .header_read_timeout(None)
            .keep_alive(true);
        let conn = builder.serve_connection(io, TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        let metrics = metrics.clone();
        metrics.open_connections.inc();
        tokio::spawn(async move {
            let _permit = permit;
            let mut conn = std::pin::pin!(conn);
            loop {
                let wake = activity
                    .deadline(&limits)
                    .unwrap_or_else(|| Instant::now() + limits.header_read_timeout);
                tokio::select! {
                    r = &mut conn => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = tokio::time::sleep_until(wake) => {
                        if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                            metrics.connections_timed_out.inc();
                            break; // dropping the connection closes the socket
                        }
                    }
                }
            }
            metrics.open_connections.dec();
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
