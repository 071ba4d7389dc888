//! Test harness: start real carriers on loopback port 0 and talk to them as users do.
//!
//! [`TestCarrier::start`] runs `simulator::smsc::server::run` in-process with the listeners bound to
//! `127.0.0.1:0`, so tests run in parallel without port clashes. [`RawSession`] speaks SMPP one
//! frame at a time (for malformed input and exact PDU checks); well-behaved traffic goes through
//! the shared ESME client in `smpp::client`, as verifier and loadgen do.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rusmpp::{Command, CommandStatus, Pdu};
use simulator::config::{AccountConfig, CarrierConfig};
use simulator::{Binds, Report, Running, SimConfig};
use smpp::frame::{Frame, RawPdu, SmppCodec};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

/// Account used by most tests.
pub const SYSTEM_ID: &str = "test";
/// Its password.
pub const PASSWORD: &str = "secret";

/// The default test configuration of a carrier: `default`, with one account `test:secret`.
pub fn config() -> CarrierConfig {
    let mut cfg = CarrierConfig::default();
    cfg.accounts
        .insert(SYSTEM_ID.into(), AccountConfig::new(PASSWORD));
    // Test clients rarely answer the shutdown unbind; don't make every test wait 5 s for them.
    cfg.session.shutdown_grace = Duration::from_millis(500);
    cfg
}

/// A network of this one carrier: every number a reachable mobile on it.
pub fn network_of(carrier: CarrierConfig) -> SimConfig {
    let mut cfg = SimConfig::default();
    cfg.carriers.insert(carrier.name.clone(), carrier);
    cfg
}

/// A simulator running in this process, started through the front door
/// ([`simulator::start`]) as the binary and the embedding crates start it, every listener on
/// loopback port 0. A single carrier is a network of one.
#[derive(Debug)]
pub struct TestNetwork {
    /// Plain SMPP address of the first carrier (the only one in a network of one).
    pub smpp: SocketAddr,
    /// Its TLS SMPP address, when started with TLS.
    pub smpp_tls: Option<SocketAddr>,
    /// Control plane address.
    pub http: SocketAddr,
    /// The running simulator (feed, stats, addresses of every carrier).
    pub running: Running,
}

/// Parses a config from TOML text (as if read from `scenarios/x.toml`), panicking with the
/// validation error.
pub fn sim_config(toml_text: &str) -> SimConfig {
    SimConfig::parse(std::path::Path::new("test.toml"), toml_text).unwrap_or_else(|e| panic!("{e}"))
}

impl TestNetwork {
    /// Starts one carrier with `cfg`.
    pub async fn carrier(cfg: CarrierConfig) -> Self {
        Self::start(network_of(cfg)).await
    }

    /// Starts every carrier of `cfg` (listeners in the file are ignored: loopback port 0).
    pub async fn start(cfg: SimConfig) -> Self {
        Self::start_with(cfg, Binds::loopback()).await
    }

    /// Starts with these binds (a TLS acceptor, a fixed SMPP address, ...).
    pub async fn start_with(cfg: SimConfig, binds: Binds) -> Self {
        let first = cfg
            .carriers
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "default".into());
        let running = simulator::start(cfg, binds)
            .await
            .unwrap_or_else(|e| panic!("simulator starts: {e}"));
        Self {
            smpp: running.smpp_addr(&first).expect("SMPP listener"),
            smpp_tls: running.smpp_tls_addr(&first),
            http: running.http_addr().expect("control plane"),
            running,
        }
    }

    /// A carrier's SMPP address.
    pub fn smpp_of(&self, carrier: &str) -> SocketAddr {
        self.running
            .smpp_addr(carrier)
            .unwrap_or_else(|| panic!("no carrier {carrier}"))
    }

    /// Asks the simulator to shut down and waits for its report.
    pub async fn shutdown(self) -> Report {
        tokio::time::timeout(Duration::from_secs(30), self.running.shutdown())
            .await
            .expect("simulator stops within 30 s")
    }

    /// The control plane's base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// GET a control-plane path and parse the JSON body (any status).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::get(self.url(path)).await.expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }

    /// GET a control-plane path that must succeed, and parse the JSON body.
    pub async fn get_ok(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get_json(path).await;
        assert!((200..300).contains(&status), "GET {path}: {status} {body}");
        body
    }

    /// The `/v1/stats` entry of one carrier.
    pub async fn carrier_stats(&self, name: &str) -> serde_json::Value {
        let stats = self.get_ok("/v1/stats").await;
        stats["carriers"]
            .as_array()
            .expect("carriers")
            .iter()
            .find(|c| c["carrier"] == name)
            .unwrap_or_else(|| panic!("no stats for {name}"))
            .clone()
    }

    /// One sample of `GET /metrics`, the line that starts with `series` (a metric name with its
    /// labels, e.g. `carrier_framing_errors_total{carrier="default"}`); panics if absent.
    pub async fn metric(&self, series: &str) -> u64 {
        let text = self.get_text("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no sample {series} in /metrics:\n{text}"))
    }

    /// GET a control-plane path as text.
    pub async fn get_text(&self, path: &str) -> String {
        reqwest::get(self.url(path))
            .await
            .expect("GET")
            .text()
            .await
            .expect("text body")
    }

    /// Sends a JSON body with `method`; returns the status and the JSON answer.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let resp = reqwest::Client::new()
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// A hand-driven SMPP connection: send any bytes, read frames one at a time.
#[derive(Debug)]
pub struct RawSession {
    framed: Framed<TcpStream, SmppCodec>,
    next_seq: u32,
}

impl RawSession {
    /// Connects without binding.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self {
            framed: Framed::new(stream, SmppCodec::new(1 << 20)),
            next_seq: 1,
        }
    }

    /// Connects from `source`, a loopback address other than 127.0.0.1 (127.0.0.2, ...), so a
    /// test can play clients on different machines.
    pub async fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(source, 0))
            .expect("bind the source address");
        let stream = socket.connect(addr).await.expect("connect");
        Self {
            framed: Framed::new(stream, SmppCodec::new(1 << 20)),
            next_seq: 1,
        }
    }

    /// Connects and binds as a transceiver with the default account.
    pub async fn bound(addr: SocketAddr) -> Self {
        let mut s = Self::connect(addr).await;
        let resp = s.bind_transceiver(SYSTEM_ID, PASSWORD).await;
        assert_eq!(resp.status(), CommandStatus::EsmeRok, "bind");
        s
    }

    /// A fresh sequence number.
    pub fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Sends a command.
    pub async fn send(&mut self, cmd: Command) {
        self.framed.send(&cmd).await.expect("send");
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.framed
            .send(RawPdu(Bytes::copy_from_slice(bytes)))
            .await
            .expect("send raw");
    }

    /// Sends a PDU with a fresh sequence number; returns that number.
    pub async fn request(&mut self, pdu: impl Into<Pdu>) -> u32 {
        let seq = self.seq();
        self.send(Command::new(CommandStatus::EsmeRok, seq, pdu))
            .await;
        seq
    }

    /// Next frame (within 10 s), or `None` when the carrier closed the connection.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        match tokio::time::timeout(Duration::from_secs(10), self.framed.next()).await {
            Ok(Some(Ok(f))) => Some(f),
            Ok(Some(Err(e))) => panic!("framing error from carrier: {e}"),
            Ok(None) => None,
            Err(_) => panic!("no frame from the carrier within 10 s"),
        }
    }

    /// Next decoded command; panics if the connection closed.
    pub async fn next(&mut self) -> Command {
        let f = self.next_frame().await.expect("connection open");
        f.decode().expect("carrier sends decodable PDUs")
    }

    /// Next command that is not an enquire_link from the carrier (those are answered).
    pub async fn next_non_probe(&mut self) -> Command {
        loop {
            let c = self.next().await;
            if matches!(c.pdu(), Some(Pdu::EnquireLink)) {
                let seq = c.sequence_number();
                self.send(Command::new(
                    CommandStatus::EsmeRok,
                    seq,
                    Pdu::EnquireLinkResp,
                ))
                .await;
                continue;
            }
            return c;
        }
    }

    /// Sends a request and waits for the command answering it.
    pub async fn call(&mut self, pdu: impl Into<Pdu>) -> Command {
        let seq = self.request(pdu).await;
        let c = self.next_non_probe().await;
        assert!(
            c.sequence_number() == seq && u32::from(c.id()) & 0x8000_0000 != 0,
            "expected the response to seq {seq}, got {c:?}"
        );
        c
    }

    /// Binds as a transceiver.
    pub async fn bind_transceiver(&mut self, system_id: &str, password: &str) -> Command {
        use rusmpp::pdus::BindTransceiver;
        let b = BindTransceiver::builder()
            .system_id(smpp::pdu::c_string::<16>(system_id))
            .password(smpp::pdu::c_string::<9>(password))
            .build();
        self.call(b).await
    }

    /// True when the carrier closes the connection within 10 s (frames before that are skipped).
    pub async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// PDU builders for tests.
pub mod build {
    use rusmpp::pdus::SubmitSm;
    use rusmpp::tlvs::MessageSubmissionRequestTlvValue;
    use rusmpp::types::OctetString;
    use rusmpp::values::{DataCoding, EsmClass, RegisteredDelivery};
    use smpp::pdu::c_string;

    /// A submit_sm from `447700900000` to `to` with raw user data.
    pub fn submit(
        to: &str,
        data: &[u8],
        data_coding: u8,
        esm_class: u8,
        registered_delivery: u8,
    ) -> SubmitSm {
        SubmitSm::builder()
            .source_addr(c_string::<21>("447700900000"))
            .destination_addr(c_string::<21>(to))
            // rusmpp's EsmClass default encodes as 0x08: always set it.
            .esm_class(EsmClass::from(esm_class))
            .registered_delivery(RegisteredDelivery::from(registered_delivery))
            .data_coding(DataCoding::from(data_coding))
            .short_message(OctetString::from_vec(data.to_vec()).expect("fits in short_message"))
            .build()
    }

    /// A GSM-7 text submit_sm asking for a final receipt.
    pub fn text(to: &str, text: &str) -> SubmitSm {
        let bytes = smpp::text::encode(text, smpp::text::Encoding::Gsm7).expect("GSM-7 text");
        submit(to, &bytes, 0, 0, 1)
    }

    /// A one-character submit_sm asking for no receipt, so a raw session sees only responses.
    pub fn quiet(to: &str) -> SubmitSm {
        submit(to, b"x", 0, 0, 0)
    }

    /// The same with extra TLVs.
    pub fn with_tlvs(mut sm: SubmitSm, tlvs: Vec<MessageSubmissionRequestTlvValue>) -> SubmitSm {
        sm.set_tlvs(tlvs);
        sm
    }
}

/// TOML of a network: `top` (top-level keys such as `seed`, `time_scale`), then each carrier in
/// `carriers` with the account `test:secret` and a short shutdown grace (unless `rest` has the
/// carrier's own `[carriers.X.session]` table), then `rest` (more tables: ranges, behaviour,
/// timeline...).
pub fn network_toml(top: &str, carriers: &[&str], rest: &str) -> String {
    let mut s = format!("{top}\n");
    for c in carriers {
        s.push_str(&format!(
            "[carriers.{c}]\n[carriers.{c}.accounts.{SYSTEM_ID}]\npassword = \"{PASSWORD}\"\n"
        ));
        let session = format!("[carriers.{c}.session]");
        if !rest.contains(&session) {
            s.push_str(&format!("{session}\nshutdown_grace = \"500ms\"\n"));
        }
    }
    s.push_str(rest);
    s
}

/// Binds the shared ESME client (transceiver, window 64) to `addr` as `test:secret`.
pub async fn esme(addr: SocketAddr) -> (smpp::client::Client, smpp::client::Events) {
    let mut c = smpp::client::ClientConfig::new(SYSTEM_ID, PASSWORD);
    c.window = 64;
    smpp::client::Client::connect(smpp::client::Target::Tcp(addr.to_string()), c)
        .await
        .expect("connect and bind")
}

/// A deliver_sm or data_sm the ESME client received, and when.
#[derive(Debug)]
pub struct Delivery {
    /// When the client handed it over.
    pub at: tokio::time::Instant,
    /// The PDU.
    pub pdu: smpp::client::Delivered,
    /// The parsed receipt, when it is one.
    pub receipt: Option<smpp::receipt::Receipt>,
}

/// Collects deliveries from `events` in the background (so the client never stalls on a full
/// event buffer) until `n` arrived or `within` passed; gives the events back for reuse.
pub fn collect(
    mut events: smpp::client::Events,
    n: usize,
    within: Duration,
) -> JoinHandle<(Vec<Delivery>, smpp::client::Events)> {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < n {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(smpp::client::Event::Deliver { pdu, receipt, .. })) => got.push(Delivery {
                    at: tokio::time::Instant::now(),
                    pdu,
                    receipt,
                }),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
        (got, events)
    })
}

/// Polls `probe` until `done` holds for what it returns, or `within` has passed, and returns the
/// last value seen; the one helper for "wait until the carrier's state has settled".
///
/// It does not judge: the caller asserts on the value it gets back, with the assertion it would
/// have made anyway, so a state that never settles fails on that assertion with its own message.
/// This replaces "sleep a fixed time, then assert an exact count", which fails on a slow machine
/// and wastes the time on a fast one.
pub async fn poll_until<T>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = probe().await;
        if done(&value) || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// How often [`poll_until`] looks again: often enough that a test waits little past the
/// moment the state settles, seldom enough not to load the carrier it watches.
const POLL_EVERY: Duration = Duration::from_millis(10);
