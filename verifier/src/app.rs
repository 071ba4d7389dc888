//! The front door: [`Verifier::start`] connects to the carriers, builds the guard and the
//! engine, binds the HTTP (and HTTPS) listeners and starts the background tasks (deadlines,
//! receipts, the open-SMS list refresh); [`Running`] gives the addresses and stats, and
//! [`Running::shutdown`] stops it all and returns the [`Report`]. The binary, the tests and
//! loadgen all start the service this way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::carriers::Carriers;
use crate::config::VerifierConfig;
use crate::flow::Engine;
use crate::guard::Guard;
use crate::metrics::{Metrics, Snapshot};
use crate::support::clock::now_ms;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A value in the config cannot work.
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A listener could not be bound.
    #[error("{what} {addr}: cannot listen: {source}")]
    Listen {
        /// `HTTP` or `HTTPS`.
        what: &'static str,
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("tls: {0}")]
    Tls(String),
}

/// One listener, as the readiness line prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listening {
    /// `http` or `https`.
    pub service: &'static str,
    /// Its address (the real port when 0 was asked for).
    pub addr: SocketAddr,
}

/// The service's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Counters.
    #[serde(flatten)]
    pub counters: Snapshot,
    /// Verifications pending now.
    pub pending: usize,
    /// Per carrier: name, breaker state (`closed`, `half_open`, `open`) and binds up.
    pub carriers: Vec<CarrierState>,
}

/// One carrier's state.
#[derive(Debug, Clone, Serialize)]
pub struct CarrierState {
    /// Its name.
    pub carrier: String,
    /// Breaker state.
    pub breaker: crate::carriers::breaker::BreakerState,
    /// SMPP binds up.
    pub binds_up: usize,
}

/// What the service reports when it stops.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The figures at the end.
    #[serde(flatten)]
    pub stats: Stats,
    /// Seconds it ran.
    pub elapsed_secs: f64,
}

/// The service.
#[derive(Debug)]
pub struct Verifier;

/// A running service.
#[derive(Debug)]
pub struct Running {
    listening: Vec<Listening>,
    engine: Arc<Engine>,
    stop: CancellationToken,
    servers: Vec<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Verifier {
    /// Starts the service `config` describes: listeners are bound before this returns, so
    /// their addresses are known; carrier binds come up in the background (a carrier that is
    /// down fails over until it is back). Must be called within a tokio runtime.
    pub async fn start(config: VerifierConfig) -> Result<Running, StartError> {
        config
            .validate()
            .map_err(|(field, message)| StartError::Invalid { field, message })?;
        let tls = match &config.tls {
            Some(t) => Some(crate::tls::acceptor(&t.cert, &t.key).map_err(StartError::Tls)?),
            None => None,
        };
        let listen = |what: &'static str, addr: String| async move {
            TcpListener::bind(&addr)
                .await
                .map_err(|source| StartError::Listen { what, addr, source })
        };
        let http = listen("HTTP", config.listen.clone()).await?;
        let https = match &config.tls {
            Some(t) => Some(listen("HTTPS", t.listen.clone()).await?),
            None => None,
        };
        let stop = CancellationToken::new();
        let metrics = Arc::new(Metrics::new(
            config.carriers.iter().map(|c| c.name.clone()).collect(),
        ));
        let (carriers, mut receipts) = Carriers::start(&config, Arc::clone(&metrics), stop.clone());
        let guard = Arc::new(Guard::new(&config.guard, Arc::clone(&metrics)));
        let refresh = config.guard.blocklist.open_sms_refresh;
        let engine = Arc::new(Engine::new(
            config,
            Arc::clone(&carriers),
            Arc::clone(&guard),
            metrics,
        ));

        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(Arc::clone(&engine).run(stop.clone())));
        let e = Arc::clone(&engine);
        let s = stop.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = receipts.recv() => match r {
                        Some(r) => e.receipt(r),
                        None => return,
                    },
                    () = s.cancelled() => return,
                }
            }
        }));
        let s = stop.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match carriers.open_sms_numbers().await {
                    Ok(numbers) => {
                        let n = guard.open_sms_published(&numbers, now_ms());
                        tracing::debug!(numbers = n, "open-SMS list refreshed");
                    }
                    Err(e) => tracing::debug!(error = %e, "open-SMS list not fetched"),
                }
                tokio::select! {
                    () = tokio::time::sleep(refresh) => {},
                    () = s.cancelled() => return,
                }
            }
        }));

        let app = crate::api::router(Arc::clone(&engine));
        let mut listening = Vec::new();
        let mut servers = Vec::new();
        let addr = http.local_addr().map_err(|source| StartError::Listen {
            what: "HTTP",
            addr: engine.cfg.listen.clone(),
            source,
        })?;
        listening.push(Listening {
            service: "http",
            addr,
        });
        let s = stop.clone();
        let plain = app.clone();
        servers.push(tokio::spawn(async move {
            let _ = axum::serve(http, plain)
                .with_graceful_shutdown(s.cancelled_owned())
                .await;
        }));
        if let (Some(tcp), Some(acceptor)) = (https, tls) {
            let l =
                crate::tls::TlsListener::new(tcp, acceptor, stop.clone()).map_err(|source| {
                    StartError::Listen {
                        what: "HTTPS",
                        addr: String::new(),
                        source,
                    }
                })?;
            listening.push(Listening {
                service: "https",
                addr: axum::serve::Listener::local_addr(&l).map_err(|source| {
                    StartError::Listen {
                        what: "HTTPS",
                        addr: String::new(),
                        source,
                    }
                })?,
            });
            let s = stop.clone();
            servers.push(tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(s.cancelled_owned())
                    .await;
            }));
        }
        tracing::info!(
            carriers = engine.cfg.carriers.len(),
            guard = engine.guard.mode().word(),
            "verifier running"
        );
        Ok(Running {
            listening,
            engine,
            stop,
            servers,
            tasks,
            started: Instant::now(),
        })
    }
}

impl Running {
    /// The HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.listening[0].addr
    }

    /// The HTTPS address, when TLS is configured.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find(|l| l.service == "https")
            .map(|l| l.addr)
    }

    /// Every listener.
    pub fn listening(&self) -> &[Listening] {
        &self.listening
    }

    /// An in-process client of the `/v1` calls (start, check, attempts) on this service: the
    /// same checks and the same engine as the HTTP handlers, without the HTTP hop.
    pub fn local(&self) -> crate::api::local::Local {
        crate::api::local::Local::new(Arc::clone(&self.engine))
    }

    /// The figures now.
    pub fn stats(&self) -> Stats {
        stats_of(&self.engine)
    }

    /// Stops accepting, lets requests in flight finish (at most 5 s), unbinds from the
    /// carriers and stops the background tasks; returns the final figures.
    pub async fn shutdown(self) -> Report {
        self.stop.cancel();
        for s in self.servers {
            let _ = tokio::time::timeout(Duration::from_secs(5), s).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.engine.carriers.unbind()).await;
        for t in self.tasks {
            t.abort();
        }
        Report {
            stats: stats_of(&self.engine),
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        }
    }
}

fn stats_of(e: &Engine) -> Stats {
    Stats {
        counters: e.metrics.snapshot(),
        pending: e.store.pending(),
        carriers: e
            .carriers
            .states()
            .into_iter()
            .map(|(carrier, breaker, binds_up)| CarrierState {
                carrier,
                breaker,
                binds_up,
            })
            .collect(),
    }
}
