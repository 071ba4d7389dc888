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

use crate::smsc::carrier::Carrier;
use crate::smsc::network::Network;
use crate::smsc::receipts::ReceiptAccount;

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

/// The listeners of one carrier in a network.
pub struct CarrierListeners {
    /// Plain SMPP listeners.
    pub smpp: Vec<TcpListener>,
    /// SMPP over TLS, with its acceptor.
    pub smpp_tls: Option<(TcpListener, TlsAcceptor)>,
}

impl std::fmt::Debug for CarrierListeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarrierListeners")
            .field(
                "smpp",
                &self
                    .smpp
                    .iter()
                    .map(|l| l.local_addr().ok())
                    .collect::<Vec<_>>(),
            )
            .field(
                "smpp_tls",
                &self.smpp_tls.as_ref().map(|(l, _)| l.local_addr().ok()),
            )
            .finish()
    }
}

/// What was left when a network stopped, per carrier.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkReport {
    /// Per carrier, by name.
    pub carriers: std::collections::BTreeMap<String, ShutdownReport>,
}

/// Serves one carrier until `shutdown` completes, then drains within the grace period.
pub async fn run(
    listeners: Listeners,
    carrier: Arc<Carrier>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<ShutdownReport> {
    let net = Arc::clone(&carrier.net);
    let name = carrier.name().to_string();
    let mut report = run_network(
        net,
        vec![(
            carrier,
            CarrierListeners {
                smpp: vec![listeners.smpp],
                smpp_tls: listeners.smpp_tls,
            },
        )],
        listeners.http,
        shutdown,
    )
    .await?;
    report
        .carriers
        .remove(&name)
        .ok_or_else(|| std::io::Error::other("carrier missing from its own report"))
}

/// Serves every carrier of a network and the control plane until `shutdown` completes, runs
/// the timeline meanwhile, then unbinds every session and drains within each carrier's grace.
pub async fn run_network(
    net: Arc<Network>,
    carriers: Vec<(Arc<Carrier>, CarrierListeners)>,
    http: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<NetworkReport> {
    let sessions = TaskTracker::new();
    let stop_accepting = CancellationToken::new();
    let mut accept_tasks = Vec::new();
    let mut sweepers = Vec::new();
    let mut all = Vec::with_capacity(carriers.len());
    for (carrier, listeners) in carriers {
        let session_stop = carrier.shutdown.child_token();
        let limit = Arc::new(Semaphore::new(carrier.cfg.session.max_connections));
        let plain = listeners.smpp.into_iter().map(|l| (l, None));
        let tls = listeners
            .smpp_tls
            .into_iter()
            .map(|(l, acceptor)| (l, Some(acceptor)));
        for (listener, acceptor) in plain.chain(tls) {
            accept_tasks.push(tokio::spawn(accept_loop(
                listener,
                acceptor,
                Arc::clone(&carrier),
                Arc::clone(&limit),
                sessions.clone(),
                stop_accepting.clone(),
                session_stop.clone(),
            )));
        }
        sweepers.push(tokio::spawn({
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
        }));
        all.push(carrier);
    }
    let carriers = all;
    let http_task = http.map(|l| {
        let app = crate::control::router(Arc::clone(&net));
        let stop = stop_accepting.clone();
        tokio::spawn(async move {
            let _ = axum::serve(l, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        })
    });
    let timeline = tokio::spawn(run_timeline(Arc::clone(&net), stop_accepting.clone()));

    shutdown.await;
    tracing::info!("shutting down: no new connections, unbinding sessions");
    stop_accepting.cancel();
    timeline.abort();
    for t in accept_tasks {
        let _ = t.await;
    }
    for carrier in &carriers {
        carrier.shutdown.cancel();
    }
    sessions.close();
    let grace = carriers
        .iter()
        .map(|c| c.cfg.session.shutdown_grace)
        .max()
        .unwrap_or_default();
    let open_before = sessions.len();
    let drained = tokio::time::timeout(grace, sessions.wait()).await.is_ok();
    let sessions_cut = if drained {
        0
    } else {
        sessions.len().min(open_before)
    };
    for carrier in &carriers {
        carrier.tasks.close();
        let _ = tokio::time::timeout(Duration::from_millis(200), carrier.tasks.wait()).await;
    }
    net.shutdown.cancel();
    if let Some(h) = http_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), h).await;
    }
    for s in sweepers {
        s.abort();
    }
    let mut reports = std::collections::BTreeMap::new();
    for carrier in &carriers {
        let report = ShutdownReport {
            receipts: carrier.receipts.account(),
            // Cut sessions are not told apart by carrier; the total is on every report.
            sessions_cut,
            messages_accepted: carrier.metrics.messages_accepted.load(Ordering::Relaxed),
        };
        tracing::info!(
            carrier = %carrier.name(),
            stored = report.receipts.stored(),
            delivered = report.receipts.delivered,
            expired = report.receipts.expired,
            overflow = report.receipts.overflow,
            sessions_cut,
            "stopped"
        );
        reports.insert(carrier.name().to_string(), report);
    }
    Ok(NetworkReport { carriers: reports })
}

/// Applies the timeline: each entry at its offset from start, divided by the time scale.
async fn run_timeline(net: Arc<Network>, stop: CancellationToken) {
    let mut entries = net.timeline.clone();
    entries.sort_by_key(|e| e.at);
    for e in entries {
        let when = net.started + crate::world::dist::scale(e.at, net.time_scale);
        tokio::select! {
            _ = tokio::time::sleep_until(when) => {}
            _ = stop.cancelled() => return,
        }
        let Some(carrier) = net.carrier(&e.carrier) else {
            continue;
        };
        tracing::info!(carrier = %e.carrier, at = ?e.at, outage = ?e.outage, "timeline entry");
        if !e.change.is_empty()
            && let Err((field, message)) = carrier.apply_patch(&e.change)
        {
            // Validated at load; a merged result can still be refused (outcome sums).
            tracing::warn!(carrier = %e.carrier, %field, %message, "timeline change refused");
        }
        if let Some(d) = e.outage {
            carrier.start_outage(Some(crate::world::dist::scale(d, net.time_scale)));
        }
    }
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
        None => crate::smsc::session::run(stream, peer, carrier, stop).await,
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(carrier.cfg.session.bind_timeout, acceptor.accept(stream))
                    .await;
            match handshake {
                Ok(Ok(s)) => crate::smsc::session::run(s, peer, carrier, stop).await,
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
