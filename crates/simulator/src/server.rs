//! Listeners: the SMPP accept loops (plain and TLS), the HTTP control plane, and shutdown.
//!
//! [`run`] takes already-bound listeners and a shutdown future, so tests bind `127.0.0.1:0` and
//! read the addresses, and the binary prints them. Shutdown stops accepting, asks every session
//! to unbind, waits for them within the configured grace, then reports what is still stored.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::carrier::Carrier;
use crate::receipts::ReceiptAccount;

/// The listeners one carrier serves on.
pub struct Listeners {
    /// Plain SMPP.
    pub smpp: TcpListener,
    /// SMPP over TLS, with its acceptor.
    pub smpp_tls: Option<(TcpListener, TlsAcceptor)>,
    /// HTTP control plane.
    pub http: Option<TcpListener>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // TlsAcceptor has no Debug; the addresses are what matter.
        f.debug_struct("Listeners")
            .field("smpp", &self.smpp.local_addr().ok())
            .field(
                "smpp_tls",
                &self.smpp_tls.as_ref().map(|(l, _)| l.local_addr().ok()),
            )
            .field("http", &self.http.as_ref().map(|l| l.local_addr().ok()))
            .finish()
    }
}

/// What was left when the carrier stopped.
#[derive(Debug, Clone, Serialize)]
pub struct ShutdownReport {
    /// Receipt accounting at the end.
    pub receipts: ReceiptAccount,
    /// Sessions that did not finish within the grace period and were cut.
    pub sessions_cut: usize,
    /// Messages accepted over the carrier's life.
    pub messages_accepted: u64,
}

/// Serves until `shutdown` completes, then drains within the grace period.
pub async fn run(
    listeners: Listeners,
    carrier: Arc<Carrier>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<ShutdownReport> {
    let sessions = TaskTracker::new();
    let stop_accepting = CancellationToken::new();
    let session_stop = carrier.shutdown.child_token();
    let limit = Arc::new(Semaphore::new(carrier.cfg.session.max_connections));

    let mut accept_tasks = Vec::new();
    accept_tasks.push(tokio::spawn(accept_loop(
        listeners.smpp,
        None,
        Arc::clone(&carrier),
        Arc::clone(&limit),
        sessions.clone(),
        stop_accepting.clone(),
        session_stop.clone(),
    )));
    if let Some((l, acceptor)) = listeners.smpp_tls {
        accept_tasks.push(tokio::spawn(accept_loop(
            l,
            Some(acceptor),
            Arc::clone(&carrier),
            Arc::clone(&limit),
            sessions.clone(),
            stop_accepting.clone(),
            session_stop.clone(),
        )));
    }
    let http_task = listeners.http.map(|l| {
        let app = crate::http::router(Arc::clone(&carrier));
        let stop = stop_accepting.clone();
        tokio::spawn(async move {
            let _ = axum::serve(l, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        })
    });
    let sweeper = tokio::spawn({
        let carrier = Arc::clone(&carrier);
        let stop = stop_accepting.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = every.tick() => { carrier.receipts.expire_old(tokio::time::Instant::now()); }
                }
            }
        }
    });

    shutdown.await;
    tracing::info!("shutting down: no new connections, unbinding sessions");
    stop_accepting.cancel();
    for t in accept_tasks {
        let _ = t.await;
    }
    carrier.shutdown.cancel();
    sessions.close();
    let grace = carrier.cfg.session.shutdown_grace;
    let open_before = sessions.len();
    let drained = tokio::time::timeout(grace, sessions.wait()).await.is_ok();
    let sessions_cut = if drained {
        0
    } else {
        sessions.len().min(open_before)
    };
    carrier.tasks.close();
    let _ = tokio::time::timeout(Duration::from_millis(200), carrier.tasks.wait()).await;
    if let Some(h) = http_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), h).await;
    }
    sweeper.abort();
    let report = ShutdownReport {
        receipts: carrier.receipts.account(),
        sessions_cut,
        messages_accepted: carrier.metrics.messages_accepted.load(Ordering::Relaxed),
    };
    tracing::info!(
        stored = report.receipts.stored(),
        delivered = report.receipts.delivered,
        expired = report.receipts.expired,
        overflow = report.receipts.overflow,
        sessions_cut,
        "stopped"
    );
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    carrier: Arc<Carrier>,
    limit: Arc<Semaphore>,
    sessions: TaskTracker,
    stop: CancellationToken,
    session_stop: CancellationToken,
) {
    // Refusals are answered by short-lived tasks; bound them too so a flood cannot grow them.
    let refusals = Arc::new(Semaphore::new(64));
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(5);
                x
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed; backing off {:?}", backoff);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            carrier
                .metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, "connection cap of {} reached; refusing", carrier.cfg.session.max_connections);
            if let Ok(p) = Arc::clone(&refusals).try_acquire_owned() {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _p = p;
                    match tls {
                        Some(acc) => {
                            if let Ok(Ok(s)) =
                                tokio::time::timeout(Duration::from_secs(2), acc.accept(stream))
                                    .await
                            {
                                refuse(s).await;
                            }
                        }
                        None => refuse(stream).await,
                    }
                });
            }
            continue;
        };
        carrier
            .metrics
            .connections_accepted
            .fetch_add(1, Ordering::Relaxed);
        let carrier = Arc::clone(&carrier);
        let session_stop = session_stop.clone();
        let tls = tls.clone();
        sessions.spawn(async move {
            let _permit = permit;
            carrier
                .metrics
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            serve_connection(stream, peer, tls, Arc::clone(&carrier), session_stop).await;
            carrier
                .metrics
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    carrier: Arc<Carrier>,
    stop: CancellationToken,
) {
    match tls {
        None => crate::session::run(stream, peer, carrier, stop).await,
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(carrier.cfg.session.bind_timeout, acceptor.accept(stream))
                    .await;
            match handshake {
                Ok(Ok(s)) => crate::session::run(s, peer, carrier, stop).await,
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

/// Over the connection cap: answer the first PDU (normally a bind) with ESME_RBINDFAIL through
/// a generic response so the client logs a reason rather than a bare reset, then close.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut header = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut header)).await;
    if let Ok(Ok(_)) = read
        && let Some(h) = smpp::frame::Header::peek(&header)
    {
        let status = rusmpp::CommandStatus::EsmeRbindfail;
        let resp = match h.id() {
            id @ (rusmpp::CommandId::BindReceiver
            | rusmpp::CommandId::BindTransmitter
            | rusmpp::CommandId::BindTransceiver) => {
                smpp::pdu::bind_response(id, status, h.sequence_number, "carrier-sim", 0x34)
            }
            _ => smpp::pdu::generic_nack(status, h.sequence_number),
        };
        let _ = stream.write_all(&smpp::frame::encode_command(&resp)).await;
    }
    let _ = stream.shutdown().await;
}
