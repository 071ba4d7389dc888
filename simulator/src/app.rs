//! The front door: [`start`] builds the network a config describes, binds its listeners, starts
//! the SMPP side and the control plane, and returns the [`Running`] handle.
//!
//! The binary (`carrier-sim serve`), the integration tests and the crates that embed the carrier
//! (loadgen, verifier) all come through here, so there is one way to run a carrier: a single
//! carrier is a network of one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::SimConfig;
use crate::smsc::durable::StateError;
use crate::smsc::network::{BuildError, Network};
use crate::smsc::server::{CarrierListeners, CarrierReport, Serving};
use crate::smsc::stats::Stats;
use crate::smsc::tls::TlsError;
use crate::world::billing::BillingStats;
use crate::world::events::{EventFilter, Subscription};
use crate::world::plan::PlanError;

/// Where a simulator listens.
#[derive(Clone)]
pub struct Binds {
    smpp: SmppBinds,
    http: Option<String>,
    smpp_at: BTreeMap<String, String>,
    tls: BTreeMap<String, TlsAcceptor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmppBinds {
    /// Each carrier on 127.0.0.1 port 0.
    Loopback,
    /// Where each carrier's config says.
    Config,
    /// No listeners.
    None,
}

impl std::fmt::Debug for Binds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // TlsAcceptor has no Debug; which carriers have one is what matters.
        f.debug_struct("Binds")
            .field("smpp", &self.smpp)
            .field("http", &self.http)
            .field("smpp_at", &self.smpp_at)
            .field("tls", &self.tls.keys().collect::<Vec<_>>())
            .finish()
    }
}

const LOOPBACK_ANY: &str = "127.0.0.1:0";

impl Binds {
    /// Every listener on 127.0.0.1 port 0: one plain SMPP listener per carrier, a TLS listener
    /// for each carrier whose config has `smpp_tls`, and the control plane. What tests and
    /// embedders want: no port clashes, addresses read back from [`Running`].
    pub fn loopback() -> Self {
        Self {
            smpp: SmppBinds::Loopback,
            http: Some(LOOPBACK_ANY.into()),
            smpp_at: BTreeMap::new(),
            tls: BTreeMap::new(),
        }
    }

    /// The addresses the config names (each carrier's `smpp` list, 127.0.0.1 port 0 for a
    /// carrier with none, and `smpp_tls.listen`), and the control plane on `http`.
    pub fn from_config(http: impl Into<String>) -> Self {
        Self {
            smpp: SmppBinds::Config,
            http: Some(http.into()),
            smpp_at: BTreeMap::new(),
            tls: BTreeMap::new(),
        }
    }

    /// No listeners and no control plane: sessions come only through
    /// [`Running::serve_stream`].
    pub fn none() -> Self {
        Self {
            smpp: SmppBinds::None,
            http: None,
            smpp_at: BTreeMap::new(),
            tls: BTreeMap::new(),
        }
    }

    /// Listens for `carrier`'s plain SMPP on `addr` instead (e.g. to restart a carrier where a
    /// client expects it).
    pub fn smpp(mut self, carrier: impl Into<String>, addr: impl Into<String>) -> Self {
        self.smpp_at.insert(carrier.into(), addr.into());
        self
    }

    /// Also serves `carrier` over TLS with `acceptor` (certificates made in memory, say), on
    /// 127.0.0.1 port 0, or on the config's `smpp_tls.listen` with [`Binds::from_config`].
    pub fn tls(mut self, carrier: impl Into<String>, acceptor: TlsAcceptor) -> Self {
        self.tls.insert(carrier.into(), acceptor);
        self
    }

    /// Without the control plane.
    pub fn without_http(mut self) -> Self {
        self.http = None;
        self
    }
}

/// Why a simulator could not start.
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
    /// The number plan could not be built.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A carrier's durable state (`--state-dir`) cannot be used: corrupt, foreign, locked.
    #[error(transparent)]
    State(#[from] StateError),
    /// [`Binds`] names a carrier the config does not have.
    #[error("binds name carrier `{0}`, which the config does not have")]
    UnknownCarrier(String),
    /// A listener could not be bound.
    #[error("{what} {addr}: cannot listen")]
    Listen {
        /// Which listener (`carrier `alpha` SMPP`, `HTTP`, ...).
        what: String,
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A TLS certificate or key could not be loaded.
    #[error("carrier `{carrier}`")]
    Tls {
        /// The carrier.
        carrier: String,
        /// Why.
        source: TlsError,
    },
}

/// The kind of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Service {
    /// Plain SMPP.
    #[serde(rename = "smpp")]
    Smpp,
    /// SMPP over TLS.
    #[serde(rename = "smpp-tls")]
    SmppTls,
    /// The HTTP and WebSocket control plane.
    #[serde(rename = "http")]
    Http,
}

/// One listener of a running simulator, as the readiness line prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listening {
    /// What it serves.
    pub service: Service,
    /// The carrier an SMPP listener belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// The address it is bound to (the real port when 0 was asked for).
    pub addr: SocketAddr,
}

/// What a simulator reports when it stops: totals over every carrier, and each carrier's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Totals.
    #[serde(flatten)]
    pub total: CarrierReport,
    /// The run's seed (rerun with it to get the same decisions).
    pub seed: u64,
    /// Configured durations were divided by this.
    pub time_scale: f64,
    /// Wall-clock seconds the network ran.
    pub elapsed_secs: f64,
    /// The same in configured time (wall time times the time scale).
    pub scenario_elapsed_secs: f64,
    /// Per carrier.
    pub carriers: BTreeMap<String, CarrierReport>,
    /// What a restart keeps and what it loses.
    #[serde(default)]
    pub restart: Restart,
    /// What the carriers charged over the run (counted since this start: a restart begins
    /// at zero).
    #[serde(default)]
    pub billing: BillingStats,
}

/// What a restart keeps and what it loses, as the stop report says it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restart {
    /// Where the carriers keep their state (`--state-dir`), if they do.
    pub state_dir: Option<String>,
    /// Receipts still owed at the stop: scheduled (their message's final state was not yet
    /// due) or stored (made, not yet acknowledged).
    pub receipts_owed: u64,
    /// In words: lost, or kept for the next start.
    pub note: String,
}

impl Restart {
    fn of(state_dir: Option<&std::path::Path>, receipts: &crate::ReceiptAccount) -> Self {
        let owed = receipts.owed();
        let (scheduled, stored) = (receipts.scheduled, receipts.stored());
        let note = match state_dir {
            None if owed == 0 => "nothing owed: a restart loses no receipt".to_string(),
            None => format!(
                "{owed} receipts owed ({scheduled} scheduled, {stored} stored) will be lost: they were kept in memory only (run with --state-dir to keep them across restarts)"
            ),
            Some(dir) => format!(
                "{owed} receipts owed ({scheduled} scheduled, {stored} stored) are kept in {}: a restart with the same --state-dir sends them",
                dir.display()
            ),
        };
        Restart {
            state_dir: state_dir.map(|d| d.display().to_string()),
            receipts_owed: owed,
            note,
        }
    }
}

/// A running simulator: its addresses, its event feed and stats, and [`Running::shutdown`].
#[derive(Debug)]
pub struct Running {
    net: Arc<Network>,
    serving: Serving,
    listening: Vec<Listening>,
    http: Option<JoinHandle<()>>,
    http_stop: CancellationToken,
}

/// Starts the network `config` describes on `binds`: every listener is bound before this
/// returns, so its address is known and a client may connect at once.
///
/// Must be called within a tokio runtime.
pub async fn start(config: SimConfig, binds: Binds) -> Result<Running, StartError> {
    config
        .validate()
        .map_err(|(field, message)| StartError::Invalid { field, message })?;
    let net = Network::build(&config).map_err(|e| match e {
        BuildError::Plan(e) => StartError::Plan(e),
        BuildError::State(e) => StartError::State(e),
    })?;
    for name in binds.smpp_at.keys().chain(binds.tls.keys()) {
        if net.carrier(name).is_none() {
            return Err(StartError::UnknownCarrier(name.clone()));
        }
    }
    let mut listening = Vec::new();
    let mut served = Vec::new();
    for carrier in net.carriers() {
        let name = carrier.name();
        let mut smpp = Vec::new();
        let addrs: Vec<String> = match (binds.smpp, binds.smpp_at.get(name)) {
            (_, Some(addr)) => vec![addr.clone()],
            (SmppBinds::None, None) => Vec::new(),
            (SmppBinds::Loopback, None) => vec![LOOPBACK_ANY.into()],
            (SmppBinds::Config, None) if carrier.cfg.smpp.is_empty() => vec![LOOPBACK_ANY.into()],
            (SmppBinds::Config, None) => carrier.cfg.smpp.clone(),
        };
        for addr in addrs {
            let l = listen(&format!("carrier `{name}` SMPP"), &addr).await?;
            listening.push(Listening {
                service: Service::Smpp,
                carrier: Some(name.to_string()),
                addr: local_addr(&l, &addr)?,
            });
            smpp.push(l);
        }
        let configured = carrier.cfg.smpp_tls.as_ref();
        let tls_addr = match binds.smpp {
            SmppBinds::Config => configured.map_or(LOOPBACK_ANY.to_string(), |t| t.listen.clone()),
            SmppBinds::Loopback | SmppBinds::None => LOOPBACK_ANY.to_string(),
        };
        let acceptor = match (binds.tls.get(name), configured, binds.smpp) {
            (Some(acceptor), _, _) => Some(acceptor.clone()),
            (None, _, SmppBinds::None) | (None, None, _) => None,
            (None, Some(t), _) => Some(crate::smsc::tls::acceptor(&t.cert, &t.key).map_err(
                |source| StartError::Tls {
                    carrier: name.to_string(),
                    source,
                },
            )?),
        };
        let smpp_tls = match acceptor {
            Some(acceptor) => {
                let l = listen(&format!("carrier `{name}` SMPP TLS"), &tls_addr).await?;
                listening.push(Listening {
                    service: Service::SmppTls,
                    carrier: Some(name.to_string()),
                    addr: local_addr(&l, &tls_addr)?,
                });
                Some((l, acceptor))
            }
            None => None,
        };
        served.push((Arc::clone(carrier), CarrierListeners { smpp, smpp_tls }));
    }
    let http_listener = match &binds.http {
        Some(addr) => {
            let l = listen("HTTP", addr).await?;
            let bound = local_addr(&l, addr)?;
            if let Some(warning) =
                crate::control::exposure_warning(bound, net.http_limits.token.is_some())
            {
                tracing::warn!("{warning}");
            }
            listening.push(Listening {
                service: Service::Http,
                carrier: None,
                addr: bound,
            });
            Some(l)
        }
        None => None,
    };
    let serving = crate::smsc::server::serve(&net, served);
    let http_stop = CancellationToken::new();
    let http = http_listener.map(|l| {
        let app = crate::control::router(Arc::clone(&net));
        tokio::spawn(crate::control::server::serve(
            l,
            app,
            net.http_limits.clone(),
            Arc::clone(&net.http),
            http_stop.clone(),
        ))
    });
    tracing::info!(
        seed = net.world.seed,
        time_scale = net.world.time_scale,
        carriers = net.carriers().count(),
        "network running"
    );
    Ok(Running {
        net,
        serving,
        listening,
        http,
        http_stop,
    })
}

async fn listen(what: &str, addr: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            what: what.to_string(),
            addr: addr.to_string(),
            source,
        })
}

fn local_addr(l: &TcpListener, addr: &str) -> Result<SocketAddr, StartError> {
    l.local_addr().map_err(|source| StartError::Listen {
        what: "listener".into(),
        addr: addr.to_string(),
        source,
    })
}

/// A carrier name that is not in the running network.
#[derive(Debug, thiserror::Error)]
#[error("no carrier named `{0}`")]
pub struct NoSuchCarrier(pub String);

impl Running {
    /// Every listener, in the order they were bound: each carrier's SMPP (then TLS) listeners
    /// by carrier name, then the control plane.
    pub fn listening(&self) -> &[Listening] {
        &self.listening
    }

    /// The first plain SMPP address of `carrier`.
    pub fn smpp_addr(&self, carrier: &str) -> Option<SocketAddr> {
        self.find(Service::Smpp, Some(carrier))
    }

    /// The SMPP-over-TLS address of `carrier`.
    pub fn smpp_tls_addr(&self, carrier: &str) -> Option<SocketAddr> {
        self.find(Service::SmppTls, Some(carrier))
    }

    /// The control plane's address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.find(Service::Http, None)
    }

    fn find(&self, service: Service, carrier: Option<&str>) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find(|l| l.service == service && l.carrier.as_deref() == carrier)
            .map(|l| l.addr)
    }

    /// The carriers' names.
    pub fn carriers(&self) -> Vec<String> {
        self.net.carriers().map(|c| c.name().to_string()).collect()
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.net.world.seed
    }

    /// What configured durations are divided by.
    pub fn time_scale(&self) -> f64 {
        self.net.world.time_scale
    }

    /// An in-process feed of the events `filter` selects (handset deliveries, calls, receipts,
    /// ...: the same events `GET /v1/events` streams, without serialising them), from now on.
    /// A feed that falls behind by more than the bus's capacity gets a `lagged` event saying
    /// how many it missed; it ends at shutdown.
    pub fn feed(&self, filter: EventFilter) -> Subscription {
        self.net.world.events.subscribe(filter)
    }

    /// The network's figures now (what `GET /v1/stats` serves).
    pub fn stats(&self) -> Stats {
        self.net.stats()
    }

    /// Runs one SMPP session of `carrier` over `stream`, a byte stream already connected to a
    /// client (an in-memory `tokio::io::duplex` pipe, a connection accepted elsewhere); `peer`
    /// names the client in logs. The session is like one from a listener and ends with the
    /// stream or at shutdown; the handle completes when it has ended (and gives back a panic,
    /// should the session ever have one).
    pub fn serve_stream<S>(
        &self,
        carrier: &str,
        stream: S,
        peer: SocketAddr,
    ) -> Result<JoinHandle<()>, NoSuchCarrier>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let c = self
            .net
            .carrier(carrier)
            .ok_or_else(|| NoSuchCarrier(carrier.to_string()))?;
        Ok(self.serving.serve_stream(c, stream, peer))
    }

    /// Stops: no new connections, every session unbound and drained within the carriers'
    /// `session.shutdown_grace`, then the event streams and the control plane; returns what
    /// was left.
    pub async fn shutdown(self) -> Report {
        self.http_stop.cancel();
        let carriers = self.serving.shutdown().await;
        let world = &self.net.world;
        world.shutdown.cancel();
        // Calls end when their carrier's token is cancelled; wait for them, briefly.
        world.calls.tasks.close();
        let _ = tokio::time::timeout(Duration::from_millis(200), world.calls.tasks.wait()).await;
        if let Some(h) = self.http {
            let _ = tokio::time::timeout(Duration::from_millis(1500), h).await;
        }
        let elapsed = world.started.elapsed();
        let mut total = CarrierReport::default();
        for r in carriers.values() {
            total.receipts.add(&r.receipts);
            total.sessions_cut += r.sessions_cut;
            total.messages_accepted += r.messages_accepted;
        }
        let restart = Restart::of(self.net.state_dir.as_deref(), &total.receipts);
        if self.net.state_dir.is_none() && restart.receipts_owed > 0 {
            tracing::warn!(owed = restart.receipts_owed, "{}", restart.note);
        } else {
            tracing::info!(owed = restart.receipts_owed, "{}", restart.note);
        }
        Report {
            restart,
            billing: world.billing.stats(),
            total,
            seed: world.seed,
            time_scale: world.time_scale,
            elapsed_secs: elapsed.as_secs_f64(),
            scenario_elapsed_secs: elapsed.mul_f64(world.time_scale).as_secs_f64(),
            carriers,
        }
    }
}
