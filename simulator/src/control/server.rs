//! The control plane's HTTP/1 server: one task per connection, bounded in number, in time and
//! in size, behind the optional token.
//!
//! `axum::serve` accepts without limit and sets no timer on hyper, so its header-read timeout
//! never ran: 1,000 slowloris connections (a byte of headers now and then) stayed open for as
//! long as their clients liked. This loop serves the same router with:
//!
//! - at most [`HttpLimits::max_connections`] connections, WebSocket streams included (the
//!   place is held by the socket, so it is freed when the stream ends); one more is answered
//!   `503` once its request head is read (or after half a second) and closed (counted);
//! - [`HttpLimits::header_timeout`] to send a request's headers: a client that has not is
//!   answered `408` and closed (counted); a keep-alive connection idle that long after a
//!   response is closed (not counted: that is the normal end of one);
//! - [`HttpLimits::request_timeout`] for a request's whole handling, body included (`408`);
//!   WebSocket streams, once upgraded, are not requests any more and are bounded by the event
//!   stream's own limits;
//! - [`HttpLimits::max_body_bytes`]: a larger body is answered `413` (counted), at once when
//!   its Content-Length says so, else when reading it passes the limit;
//! - with [`HttpLimits::token`], `401` for a request without it ([`super::auth`], counted).
//!
//! At shutdown it stops accepting and asks every connection to close after its current
//! request, within a second.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::HttpConfig;
use crate::ratelog::Repeated;
use crate::smsc::stats::HttpCounters;

/// Bounds of the control plane's connections (see the module documentation).
pub(crate) type HttpLimits = HttpConfig;

/// Serves `app` on `listener` within `limits` until `stop` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    counters: Arc<HttpCounters>,
    stop: CancellationToken,
) {
    let guard = Arc::new(Guard {
        limits: limits.clone(),
        counters: Arc::clone(&counters),
    });
    let app = app
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let guard = Arc::clone(&guard);
                async move { guard.handle(req, next).await }
            },
        ));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let refusals = Arc::new(Semaphore::new(64));
    let full = Repeated::default();
    let slow = Arc::new(Repeated::default());
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(5);
                x
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "HTTP accept failed; backing off {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            full.hit(|count| {
                tracing::warn!(%peer, count, max = limits.max_connections, "HTTP connection cap reached; refusing with 503");
            });
            // Refusals are answered by short-lived, bounded tasks; past those, just closed.
            if let Ok(p) = Arc::clone(&refusals).try_acquire_owned() {
                let max = limits.max_connections;
                tokio::spawn(async move {
                    let _p = p;
                    refuse(stream, max).await;
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        let header_timeout = limits.header_timeout;
        let counters = Arc::clone(&counters);
        let slow = Arc::clone(&slow);
        connections.spawn(async move {
            let io = SharedIo::new(stream, permit);
            let (socket, idle) = (Arc::clone(&io.stream), Arc::clone(&io.idle));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => Some(r),
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout(Duration::from_secs(1), conn).await.ok()
                }
            };
            match ended {
                // Headers not sent in time by a client that owed a request (not an idle
                // keep-alive connection): tell it why before closing.
                Some(Err(e)) if e.is_timeout() && !idle.load(Ordering::Relaxed) => {
                    counters.header_timeouts.fetch_add(1, Ordering::Relaxed);
                    slow.hit(|count| {
                        tracing::warn!(%peer, count, timeout = ?header_timeout, "HTTP request headers not sent in time; answered 408 and closed");
                    });
                    request_header_timeout(&socket, header_timeout);
                }
                Some(r) => log_end(peer, r),
                None => {}
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(1), connections.wait()).await;
}

fn log_end(peer: SocketAddr, r: Result<(), hyper::Error>) {
    if let Err(e) = r {
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}

/// What every request passes through before its handler.
#[derive(Debug)]
struct Guard {
    limits: HttpLimits,
    counters: Arc<HttpCounters>,
}

impl Guard {
    /// The token first (a stranger learns nothing else), then the body size a Content-Length
    /// announces, then the handler within `request_timeout` (`408`); a body that turns out too
    /// large while read is answered `413` by the handler's extractor, and counted here.
    async fn handle(&self, req: Request, next: Next) -> Response {
        let c = &self.counters;
        if let Some(token) = &self.limits.token
            && let Err(why) = super::auth::check(&req, token)
        {
            c.unauthorized.fetch_add(1, Ordering::Relaxed);
            return super::auth::unauthorized(why);
        }
        let max = self.limits.max_body_bytes;
        let announced = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > max as u64) {
            c.body_too_large.fetch_add(1, Ordering::Relaxed);
            return too_large(max);
        }
        let limit = self.limits.request_timeout;
        match tokio::time::timeout(limit, next.run(req)).await {
            Ok(resp) => {
                if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    c.body_too_large.fetch_add(1, Ordering::Relaxed);
                }
                resp
            }
            Err(_) => {
                c.timed_out.fetch_add(1, Ordering::Relaxed);
                (
                    StatusCode::REQUEST_TIMEOUT,
                    axum::Json(serde_json::json!({
                        "error": format!("request not completed within {limit:?}")
                    })),
                )
                    .into_response()
            }
        }
    }
}

fn too_large(max: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        axum::Json(serde_json::json!({
            "error": format!("request body larger than {max} bytes (http.max_body_bytes)")
        })),
    )
        .into_response()
}

/// A connection's socket, shared by hyper (which reads and writes through this) and the
/// connection's task (which answers 408 on it after hyper gave up on a request's headers:
/// hyper closes without a word). It also holds the connection's place under the cap, so an
/// upgraded WebSocket keeps it until the stream ends.
struct SharedIo {
    stream: Arc<TcpStream>,
    /// True from a response written until the next byte read: a header timeout then is the
    /// normal end of an idle keep-alive connection, not a slow client.
    idle: Arc<AtomicBool>,
    _place: OwnedSemaphorePermit,
}

impl SharedIo {
    fn new(stream: TcpStream, place: OwnedSemaphorePermit) -> Self {
        Self {
            stream: Arc::new(stream),
            idle: Arc::new(AtomicBool::new(false)),
            _place: place,
        }
    }
}

impl AsyncRead for SharedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            // `try_read` clears the readiness on WouldBlock, so the next poll waits again.
            match self.stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    if n > 0 {
                        self.idle.store(false, Ordering::Relaxed);
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(buf) {
                Ok(n) => {
                    self.idle.store(true, Ordering::Relaxed);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The socket closes (FIN) when its last holder drops it, which follows hyper's shutdown.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Best effort, without waiting: the socket's send buffer is empty at this point (the client
/// sent an incomplete request and got nothing yet), so the answer fits in one write.
fn request_header_timeout(socket: &TcpStream, timeout: Duration) {
    let body = format!(
        "{{\"error\":\"request headers not received within {timeout:?} (http.header_timeout)\"}}"
    );
    let resp = format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.try_write(resp.as_bytes());
}

/// Over the cap: a `503` with a JSON reason, then close. The request's head is read first
/// (within half a second, at most 8 KiB): an HTTP client takes a response that arrives before
/// it has sent its request for a protocol error, and would report that instead of the 503.
async fn refuse(mut stream: tokio::net::TcpStream, max: usize) {
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while head.len() < 8 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let body = format!(
        "{{\"error\":\"{max} HTTP connections open (http.max_connections); try again later\"}}"
    );
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
