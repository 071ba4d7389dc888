//! A pool of SMPP binds to one carrier through the shared ESME client (`smpp::client`): each
//! bind is a transceiver with its own window that reconnects with backoff after a drop; a bind
//! that cannot be made at all (the carrier is down when the service starts) is dialled again by
//! its supervisor. Submits go round-robin over the binds that are up, and never wait for a
//! bind to come back: with none up the caller fails over at once.
//!
//! Receipts are read by the same supervisor and passed on as [`ReceiptEvent`]s through a
//! bounded channel: when the consumer falls behind, the reader stops and the carrier holds its
//! receipts (SMPP's own backpressure) instead of memory growing here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use smpp::client::{
    Client, ClientConfig, ClientError, Event, ReconnectPolicy, SubmitResult, Target,
};
use smpp::receipt::ReceiptState;
use smpp::rusmpp::pdus::SubmitSm;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::CarrierConfig;
use crate::support::warn::Throttled;

/// A final receipt from a carrier.
#[derive(Debug, Clone)]
pub(crate) struct ReceiptEvent {
    /// Index of the carrier.
    pub carrier: usize,
    /// The message id the receipt names.
    pub message_id: String,
    /// Its state.
    pub state: ReceiptState,
}

static BIND_FAILED: Throttled = Throttled::new("a carrier bind failed; retrying", 5_000);

/// The binds of one carrier.
#[derive(Debug)]
pub(crate) struct Pool {
    slots: Vec<RwLock<Option<Client>>>,
    next: AtomicUsize,
}

impl Pool {
    /// Starts one supervisor per bind; returns at once (binds come up in the background).
    pub(crate) fn start(
        index: usize,
        cfg: &CarrierConfig,
        receipts: mpsc::Sender<ReceiptEvent>,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let pool = Arc::new(Self {
            slots: (0..cfg.binds).map(|_| RwLock::new(None)).collect(),
            next: AtomicUsize::new(0),
        });
        let mut client = ClientConfig::new(cfg.system_id.clone(), cfg.password.clone());
        client.window = cfg.window;
        client.response_timeout = cfg.response_timeout;
        client.event_buffer = 4096;
        client.reconnect = Some(ReconnectPolicy {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            jitter: true,
            max_attempts: None,
        });
        for slot in 0..cfg.binds {
            tokio::spawn(supervise(
                Arc::clone(&pool),
                slot,
                index,
                cfg.smpp.clone(),
                client.clone(),
                receipts.clone(),
                stop.clone(),
            ));
        }
        pool
    }

    /// A bind that is up, round-robin.
    fn client(&self) -> Option<Client> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| {
            let slot = self.slots[(start + i) % n]
                .read()
                .unwrap_or_else(|e| e.into_inner());
            slot.as_ref().filter(|c| c.is_connected()).cloned()
        })
    }

    /// Binds up now.
    pub(crate) fn connected(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| {
                s.read()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .is_some_and(|c| c.is_connected())
            })
            .count()
    }

    /// Submits on a bind that is up; `None` when there is none.
    pub(crate) async fn submit(&self, sm: SubmitSm) -> Option<Result<SubmitResult, ClientError>> {
        let client = self.client()?;
        Some(client.submit_sm(sm).await)
    }

    /// Unbinds every bind (bounded by the client's response timeout).
    pub(crate) async fn unbind(&self) {
        let clients: Vec<Client> = self
            .slots
            .iter()
            .filter_map(|s| s.write().unwrap_or_else(|e| e.into_inner()).take())
            .collect();
        futures::future::join_all(clients.iter().map(|c| c.unbind())).await;
    }
}

async fn supervise(
    pool: Arc<Pool>,
    slot: usize,
    carrier: usize,
    addr: String,
    cfg: ClientConfig,
    receipts: mpsc::Sender<ReceiptEvent>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    while !stop.is_cancelled() {
        let connect = Client::connect(Target::Tcp(addr.clone()), cfg.clone());
        let result = tokio::select! {
            r = connect => r,
            () = stop.cancelled() => return,
        };
        match result {
            Ok((client, mut events)) => {
                backoff = Duration::from_millis(200);
                *pool.slots[slot].write().unwrap_or_else(|e| e.into_inner()) = Some(client);
                loop {
                    let event = tokio::select! {
                        e = events.recv() => e,
                        () = stop.cancelled() => return,
                    };
                    match event {
                        None => break,
                        Some(Event::Deliver {
                            receipt: Some(r), ..
                        }) if r.stat.is_final() => {
                            let event = ReceiptEvent {
                                carrier,
                                message_id: r.id,
                                state: r.stat,
                            };
                            if receipts.send(event).await.is_err() {
                                return;
                            }
                        }
                        Some(Event::Disconnected { reason }) => {
                            tracing::debug!(%addr, %reason, "bind dropped; reconnecting");
                        }
                        Some(_) => {}
                    }
                }
                pool.slots[slot]
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
            }
            Err(e) => BIND_FAILED.warn(&format_args!("{addr}: {e}")),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {},
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
