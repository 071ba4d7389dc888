//! The control plane's HTTP/1 server: one task per connection, bounded in number and in time.
//!
//! `axum::serve` accepts without limit and sets no timer on hyper, so its header-read timeout
//! never ran: 1,000 slowloris connections (a byte of headers now and then) stayed open for as
//! long as their clients liked. This loop serves the same router with:
//!
//! - at most [`HttpLimits::max_connections`] connections; one more is answered `503` and
//!   closed at once (counted);
//! - [`HttpLimits::header_timeout`] to send a request's headers, which is also how long a
//!   keep-alive connection may sit idle between requests;
//! - [`HttpLimits::request_timeout`] for a request's whole handling, body included (`408`);
//!   WebSocket streams, once upgraded, are not requests any more and are bounded by the event
//!   stream's own limits.
//!
//! At shutdown it stops accepting and asks every connection to close after its current
//! request, within a second.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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
    let request_timeout = limits.request_timeout;
    let timeouts = Arc::clone(&counters);
    let app = app.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let timeouts = Arc::clone(&timeouts);
            async move { bounded(req, next, request_timeout, &timeouts).await }
        },
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let refusals = Arc::new(Semaphore::new(64));
    let full = Repeated::default();
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
                tokio::spawn(async move {
                    let _p = p;
                    refuse(stream, limits.max_connections).await;
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        let header_timeout = limits.header_timeout;
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => log_end(peer, r),
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    if let Ok(r) = tokio::time::timeout(Duration::from_secs(1), conn).await {
                        log_end(peer, r);
                    }
                }
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

/// A request that takes longer than `limit` (reading its body included) is answered 408;
/// a WebSocket upgrade is answered at once and its stream lives on outside the request.
async fn bounded(req: Request, next: Next, limit: Duration, counters: &HttpCounters) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            counters.timed_out.fetch_add(1, Ordering::Relaxed);
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

/// Over the cap: a `503` with a JSON reason, then close.
async fn refuse(mut stream: tokio::net::TcpStream, max: usize) {
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
