//! The SMPP listeners of a network: accept loops (plain and TLS) with connection caps, the
//! sessions they start, and their orderly end.
//!
//! [`serve`] takes already-bound listeners, so the front door binds `127.0.0.1:0` for tests and
//! embedders and prints the addresses for the binary. [`Serving::shutdown`] stops accepting,
//! asks every session to unbind, waits for them within the configured grace, then reports what
//! is still stored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::carrier::Carrier;
use super::network::Network;
use super::receipts::ReceiptAccount;

/// The listeners of one carrier.
pub(crate) struct CarrierListeners {
    /// Plain SMPP listeners.
    pub smpp: Vec<TcpListener>,
    /// SMPP over TLS, with its acceptor.
    pub smpp_tls: Option<(TcpListener, TlsAcceptor)>,
}

/// What was left of one carrier when it stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CarrierReport {
    /// Receipt accounting at the end.
    pub receipts: ReceiptAccount,
    /// This carrier's sessions that did not finish within the grace period and were cut (in
    /// the report's totals: every carrier's together).
    pub sessions_cut: usize,
    /// Messages accepted over the carrier's life.
    pub messages_accepted: u64,
}

/// The SMPP side of a running network.
#[derive(Debug)]
pub(crate) struct Serving {
    net: Arc<Network>,
    /// Each carrier's sessions, so each carrier reports its own cut sessions.
    sessions: BTreeMap<String, TaskTracker>,
    stop_accepting: CancellationToken,
    accept_tasks: Vec<JoinHandle<()>>,
    sweepers: Vec<JoinHandle<()>>,
    timeline: JoinHandle<()>,
}

/// Serves every carrier of `net` on its listeners and runs the timeline, until
/// [`Serving::shutdown`].
pub(crate) fn serve(
    net: &Arc<Network>,
    listeners: Vec<(Arc<Carrier>, CarrierListeners)>,
) -> Serving {
    let sessions: BTreeMap<String, TaskTracker> = net
        .carriers()
        .map(|c| (c.name().to_string(), TaskTracker::new()))
        .collect();
    let stop_accepting = CancellationToken::new();
    let mut accept_tasks = Vec::new();
    let mut sweepers = Vec::new();
    for (carrier, listeners) in listeners {
        let tracker = sessions.get(carrier.name()).cloned().unwrap_or_default();
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
                tracker.clone(),
                stop_accepting.clone(),
                session_stop.clone(),
            )));
        }
    }
    // Every carrier runs its timers and sweeps its expired receipts, listening or not.
    for carrier in net.carriers() {
        sweepers.push(tokio::spawn(Arc::clone(carrier).run_timers()));
        sweepers.push(tokio::spawn({
            let carrier = Arc::clone(carrier);
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
    }
    let timeline = tokio::spawn(Arc::clone(net).run_timeline(stop_accepting.clone()));
    Serving {
        net: Arc::clone(net),
        sessions,
        stop_accepting,
        accept_tasks,
        sweepers,
        timeline,
    }
}

impl Serving {
    /// Runs one SMPP session of `carrier` over `stream`, an already-connected byte stream (an
    /// in-memory pipe, a connection accepted elsewhere); the session ends with the stream or at
    /// shutdown, like one from a listener; the handle completes when it has ended.
    pub fn serve_stream<S>(
        &self,
        carrier: &Arc<Carrier>,
        stream: S,
        peer: SocketAddr,
    ) -> JoinHandle<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let carrier = Arc::clone(carrier);
        let stop = carrier.shutdown.child_token();
        carrier
            .metrics
            .connections_accepted
            .fetch_add(1, Ordering::Relaxed);
        let tracker = self
            .sessions
            .get(carrier.name())
            .cloned()
            .unwrap_or_default();
        tracker.spawn(async move {
            carrier
                .metrics
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            super::session::run(stream, peer, Arc::clone(&carrier), stop).await;
            carrier
                .metrics
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        })
    }

    /// Stops accepting, unbinds every session and drains them within each carrier's grace,
    /// then reports each carrier by name.
    pub async fn shutdown(self) -> BTreeMap<String, CarrierReport> {
        tracing::info!("shutting down: no new connections, unbinding sessions");
        self.stop_accepting.cancel();
        self.timeline.abort();
        for t in self.accept_tasks {
            let _ = t.await;
        }
        let carriers: Vec<&Arc<Carrier>> = self.net.carriers().collect();
        for carrier in &carriers {
            carrier.shutdown.cancel();
        }
        for tracker in self.sessions.values() {
            tracker.close();
        }
        // Every carrier drains within its own grace, all at the same time.
        let mut cut = BTreeMap::new();
        let drains = carriers.iter().map(|c| {
            let tracker = self.sessions.get(c.name()).cloned().unwrap_or_default();
            let grace = c.cfg.session.shutdown_grace;
            async move {
                let open_before = tracker.len();
                let drained = tokio::time::timeout(grace, tracker.wait()).await.is_ok();
                let n = if drained {
                    0
                } else {
                    tracker.len().min(open_before)
                };
                (c.name().to_string(), n)
            }
        });
        for (name, n) in futures::future::join_all(drains).await {
            cut.insert(name, n);
        }
        for carrier in &carriers {
            carrier.tasks.close();
            let _ = tokio::time::timeout(Duration::from_millis(200), carrier.tasks.wait()).await;
        }
        for s in self.sweepers {
            s.abort();
        }
        // Nothing writes any more: commit what is queued and stop the writers.
        for carrier in &carriers {
            if let Some(d) = carrier.durable.clone() {
                let _ = tokio::task::spawn_blocking(move || d.close()).await;
            }
        }
        let mut reports = BTreeMap::new();
        for carrier in carriers {
            let sessions_cut = cut.get(carrier.name()).copied().unwrap_or(0);
            let report = CarrierReport {
                receipts: carrier.receipts.account(),
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
        reports
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
    let full = crate::ratelog::Repeated::default();
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
            full.hit(|count| {
                tracing::warn!(%peer, count, max = carrier.cfg.session.max_connections, "connection cap reached; refusing");
            });
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
        None => super::session::run(stream, peer, carrier, stop).await,
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(carrier.cfg.session.bind_timeout, acceptor.accept(stream))
                    .await;
            match handshake {
                Ok(Ok(s)) => super::session::run(s, peer, carrier, stop).await,
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
