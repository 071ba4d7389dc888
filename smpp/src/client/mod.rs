//! The ESME client session that verifier, loadgen and the carrier's integration tests share.
//!
//! A [`Client`] binds to an SMSC over any `AsyncRead + AsyncWrite` stream (plain TCP, TLS, or
//! `tokio::io::duplex` in tests), then lets many tasks send requests concurrently:
//!
//! ```text
//!  Client (cheap clone) --request--> window semaphore --> pending map (seq -> oneshot)
//!        |                                                     ^
//!        +--> bounded channel --> writer task --> socket       | responses by sequence_number
//!                                                              |
//!  Events <--deliver_sm / data_sm / unbind / ... -- reader ----+-- socket
//! ```
//!
//! - **Requests** ([`Client::request`] and the typed calls such as [`Client::submit_sm`]) take a
//!   slot of the window (at most `window` outstanding), get a sequence number (1..=0x7FFFFFFF,
//!   wrapping to 1), and wait for their response for at most `response_timeout`. A response
//!   with a non-zero command_status is data ([`Response::status`]), not an error; a response
//!   whose body does not decode still completes its request with the header's status, and so
//!   does a generic_nack. Errors are kept for what leaves the caller without an answer:
//!   [`ClientError::Timeout`], [`ClientError::Disconnected`] (the connection dropped while the
//!   request was in flight: it may or may not have reached the SMSC, so count it as timed
//!   out) and [`ClientError::Closed`].
//! - **Writes** go through one writer task fed by a bounded channel, so no task ever locks the
//!   socket and PDUs are never interleaved.
//! - **Incoming** PDUs arrive as [`Event`]s on a bounded channel ([`Events`]). deliver_sm and
//!   data_sm are answered according to [`DeliverAck`] (automatically with a fixed status, or by
//!   the application through a [`DeliverResponder`]); delivery receipts (`esm_class & 0x3C`
//!   is 0x04) are read with [`crate::receipt::from_parts`], over the same rules
//!   ([`crate::receipt::DeliveryView`]) loadgen reads them with in place.
//!   Delivery events are never dropped: a full event channel stops the reader, which pushes
//!   back on the SMSC (so drain the events, or drop the receiver to discard them). The other events (enquire_link, generic_nack, unbind,
//!   disconnects, reconnects) are dropped when the channel is full and counted in
//!   [`CountersSnapshot::events_dropped`]. The stream ends when the session is over for good.
//! - **Keep-alive**: an enquire_link every `enquire_link_interval`; one left unanswered for
//!   `response_timeout` declares the link dead. enquire_link from the SMSC is answered here.
//! - **Reconnection** (opt-in, [`ReconnectPolicy`], only with [`Client::connect`]): after a
//!   drop the client dials again with exponential backoff and rebinds with the same
//!   credentials. Requests in flight at the drop fail with `Disconnected`; new requests wait
//!   for the link (bounded by `response_timeout`).
//! - **Shutdown**: [`Client::unbind`] unbinds gracefully, [`Client::close`] closes abruptly,
//!   and dropping the last clone of the client stops the background tasks.
//!
//! ```no_run
//! # async fn demo(sm: smpp::rusmpp::pdus::SubmitSm) -> Result<(), smpp::client::ClientError> {
//! use smpp::client::{Client, ClientConfig, Event, Target};
//! let cfg = ClientConfig::new("esme", "secret");
//! let (client, mut events) = Client::connect(Target::Tcp("127.0.0.1:2775".into()), cfg).await?;
//! let result = client.submit_sm(sm).await?;
//! println!("{:?} {:?}", result.status, result.message_id);
//! while let Some(event) = events.recv().await {
//!     if let Event::Deliver { receipt: Some(r), .. } = event {
//!         println!("receipt {r:?}");
//!     }
//! }
//! client.unbind().await?;
//! # Ok(()) }
//! ```

mod config;
mod session;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusmpp::pdus::{
    CancelSm, DataSm, DeliverSm, QuerySm, QuerySmResp, ReplaceSm, SubmitMulti, SubmitSm,
};
use rusmpp::tlvs::Tlv;
use rusmpp::values::UnsuccessSme;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use tokio_util::sync::DropGuard;

pub use config::{BindMode, ClientConfig, DeliverAck, ReconnectPolicy};
pub use rustls_pki_types::ServerName;
pub use tokio_rustls::TlsConnector;

use crate::frame::FrameError;
use crate::receipt::{DeliveryInfo, DeliveryKind, Receipt};
use session::{Outgoing, Shared};

/// Where [`Client::connect`] dials, and dials again after a drop.
#[derive(Clone)]
pub enum Target {
    /// Plain TCP to `host:port`.
    Tcp(String),
    /// TLS over TCP to `addr` (`host:port`), verified by `connector` against `server_name`.
    Tls {
        /// `host:port` to connect to.
        addr: String,
        /// rustls client configuration (roots, client certificate, ...).
        connector: TlsConnector,
        /// Name the server certificate must carry.
        server_name: ServerName<'static>,
    },
}

impl Target {
    /// The `host:port` dialled.
    pub fn addr(&self) -> &str {
        match self {
            Target::Tcp(addr) | Target::Tls { addr, .. } => addr,
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => f.debug_tuple("Tcp").field(addr).finish(),
            Target::Tls {
                addr, server_name, ..
            } => f
                .debug_struct("Tls")
                .field("addr", addr)
                .field("server_name", server_name)
                .finish_non_exhaustive(),
        }
    }
}

/// Errors of the client session.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration cannot work (a field too long, a zero window, ...).
    #[error("invalid client config: {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Address dialled.
        addr: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// TCP connect or TLS handshake did not finish in time.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// Address dialled.
        addr: String,
        /// The bound that expired.
        after: Duration,
    },
    /// TLS handshake failed.
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        /// Address dialled.
        addr: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The SMSC answered the bind with an error status (or a generic_nack).
    #[error("{command} refused by the SMSC with {status:?}")]
    BindRefused {
        /// The bind sent (`bind_transceiver`, ...).
        command: &'static str,
        /// The command_status of the answer, e.g. ESME_RINVPASWD.
        status: CommandStatus,
    },
    /// No bind response within `response_timeout`.
    #[error("no response to {command} within {after:?}")]
    BindTimeout {
        /// The bind sent.
        command: &'static str,
        /// The bound that expired.
        after: Duration,
    },
    /// The bind exchange broke the protocol (connection closed, wrong response).
    #[error("{command} failed: {reason}")]
    BindFailed {
        /// The bind sent.
        command: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The stream could not be framed (I/O error, command_length out of bounds).
    #[error("framing error: {0}")]
    Frame(#[from] FrameError),
    /// No response within `response_timeout`. `sequence_number` is `None` when the request was
    /// never sent because the link stayed down for the whole timeout.
    #[error("{command} (seq {sequence_number:?}) got no response within {after:?}")]
    Timeout {
        /// The request's command name.
        command: String,
        /// Its sequence number, when it was sent.
        sequence_number: Option<u32>,
        /// The bound that expired.
        after: Duration,
    },
    /// The connection dropped while the request (or the answer to a delivery) was in flight.
    #[error("connection lost while {command} (seq {sequence_number}) was in flight: {reason}")]
    Disconnected {
        /// The command's name.
        command: String,
        /// Its sequence number.
        sequence_number: u32,
        /// Why the connection dropped.
        reason: DisconnectReason,
    },
    /// The session is over (closed, unbound, or reconnection gave up).
    #[error("session closed: {reason}")]
    Closed {
        /// Why.
        reason: String,
    },
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The SMSC closed the connection.
    ClosedByPeer,
    /// Read or write failed.
    Io(String),
    /// The SMSC sent a PDU that could not be framed (command_length out of bounds).
    Framing(String),
    /// A keep-alive enquire_link got no response in time.
    EnquireLinkTimeout,
    /// The SMSC sent unbind (answered with unbind_resp).
    UnbindReceived,
    /// This client unbound.
    Unbound,
    /// This client closed the session ([`Client::close`] or drop).
    Closed,
}

impl DisconnectReason {
    /// Whether a reconnect policy applies: not after this client chose to end the session.
    pub fn may_reconnect(&self) -> bool {
        !matches!(self, DisconnectReason::Unbound | DisconnectReason::Closed)
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ClosedByPeer => f.write_str("connection closed by the SMSC"),
            DisconnectReason::Io(e) => write!(f, "i/o error: {e}"),
            DisconnectReason::Framing(e) => write!(f, "framing error: {e}"),
            DisconnectReason::EnquireLinkTimeout => {
                f.write_str("enquire_link unanswered: link declared dead")
            }
            DisconnectReason::UnbindReceived => f.write_str("unbind received from the SMSC"),
            DisconnectReason::Unbound => f.write_str("unbound by the client"),
            DisconnectReason::Closed => f.write_str("closed by the client"),
        }
    }
}

/// The answer to a request: its status and, when the body decoded, its PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// command_status of the response (or of the generic_nack that answered the request).
    pub status: CommandStatus,
    /// The decoded response PDU; `None` for a generic_nack or a body that did not decode.
    pub pdu: Option<Pdu>,
    /// Sequence number of the request and its response.
    pub sequence_number: u32,
}

impl Response {
    /// True when the status is ESME_ROK.
    pub fn is_ok(&self) -> bool {
        self.status == CommandStatus::EsmeRok
    }

    /// The message_id of a submit_sm_resp, data_sm_resp, submit_multi_resp or query_sm_resp,
    /// when present and not empty.
    pub fn message_id(&self) -> Option<String> {
        let id = match self.pdu.as_ref()? {
            Pdu::SubmitSmResp(r) => r.message_id().as_str(),
            Pdu::DataSmResp(r) => r.message_id().as_str(),
            Pdu::SubmitMultiResp(r) => r.message_id.as_str(),
            Pdu::QuerySmResp(r) => r.message_id.as_str(),
            _ => return None,
        };
        (!id.is_empty()).then(|| id.to_string())
    }
}

/// Result of [`Client::submit_sm`] and [`Client::data_sm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitResult {
    /// command_status of the response.
    pub status: CommandStatus,
    /// The SMSC's message id, when the response carried a non-empty one.
    pub message_id: Option<String>,
    /// Sequence number of the request.
    pub sequence_number: u32,
}

/// Result of [`Client::submit_multi`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitMultiResult {
    /// command_status of the response.
    pub status: CommandStatus,
    /// The SMSC's message id, when present.
    pub message_id: Option<String>,
    /// Destinations the SMSC refused, each with its error status.
    pub unsuccessful: Vec<UnsuccessSme>,
    /// Sequence number of the request.
    pub sequence_number: u32,
}

/// Result of [`Client::query_sm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    /// command_status of the response.
    pub status: CommandStatus,
    /// The query_sm_resp body (message state, final date, error code), when it decoded.
    pub resp: Option<QuerySmResp>,
    /// Sequence number of the request.
    pub sequence_number: u32,
}

/// What the SMSC said in its bind response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindInfo {
    /// The SMSC's system_id (empty when the body did not decode).
    pub system_id: String,
    /// The sc_interface_version TLV, when sent.
    pub sc_interface_version: Option<u8>,
}

/// A message the SMSC delivered: deliver_sm or data_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A deliver_sm.
    DeliverSm(Box<DeliverSm>),
    /// A data_sm.
    DataSm(Box<DataSm>),
}

impl Delivered {
    /// The esm_class octet.
    pub fn esm_class(&self) -> u8 {
        match self {
            Delivered::DeliverSm(d) => u8::from(d.esm_class),
            Delivered::DataSm(d) => u8::from(d.esm_class),
        }
    }

    /// What esm_class says this is: a receipt, an intermediate notification or a message.
    pub fn kind(&self) -> DeliveryKind {
        DeliveryKind::of(self.esm_class())
    }

    /// True when esm_class marks an SMSC delivery receipt (bits 2..5 == 0001).
    pub fn is_delivery_receipt(&self) -> bool {
        self.kind() == DeliveryKind::Receipt
    }

    /// What the delivery says, read by the shared receipt reader ([`crate::receipt::from_parts`]).
    pub fn delivery_info(&self) -> DeliveryInfo {
        crate::receipt::from_parts(self.esm_class(), self.payload(), self.tlvs())
    }

    /// The TLVs.
    pub fn tlvs(&self) -> &[Tlv] {
        match self {
            Delivered::DeliverSm(d) => d.tlvs(),
            Delivered::DataSm(d) => d.tlvs(),
        }
    }

    /// The user data: short_message, or the message_payload TLV when short_message is empty
    /// (data_sm has only the TLV).
    pub fn payload(&self) -> &[u8] {
        let short: &[u8] = match self {
            Delivered::DeliverSm(d) => d.short_message().as_ref(),
            Delivered::DataSm(_) => &[],
        };
        crate::pdu::user_data(short, self.tlvs())
    }

    /// source_addr.
    pub fn source_addr(&self) -> &str {
        match self {
            Delivered::DeliverSm(d) => d.source_addr.as_str(),
            Delivered::DataSm(d) => d.source_addr.as_str(),
        }
    }

    /// destination_addr.
    pub fn destination_addr(&self) -> &str {
        match self {
            Delivered::DeliverSm(d) => d.destination_addr.as_str(),
            Delivered::DataSm(d) => d.destination_addr.as_str(),
        }
    }

    /// data_coding octet.
    pub fn data_coding(&self) -> u8 {
        match self {
            Delivered::DeliverSm(d) => u8::from(d.data_coding),
            Delivered::DataSm(d) => u8::from(d.data_coding),
        }
    }

    /// What the receipt TLVs (receipted_message_id, message_state, network_error_code) say,
    /// to compare with the receipt text.
    pub fn receipt_tlvs(&self) -> crate::receipt::ReceiptTlvs {
        crate::receipt::from_tlvs(self.tlvs())
    }

    fn response_id(&self) -> CommandId {
        match self {
            Delivered::DeliverSm(_) => CommandId::DeliverSmResp,
            Delivered::DataSm(_) => CommandId::DataSmResp,
        }
    }
}

/// Something the SMSC did, in the order it happened.
#[derive(Debug)]
pub enum Event {
    /// A deliver_sm or data_sm (already answered unless `responder` is set).
    Deliver {
        /// Sequence number of the delivery.
        sequence_number: u32,
        /// The delivered PDU.
        pdu: Delivered,
        /// The receipt, when esm_class marks one and its text or TLVs parsed.
        receipt: Option<Receipt>,
        /// With [`DeliverAck::Manual`]: the application answers through it.
        responder: Option<DeliverResponder>,
    },
    /// The SMSC sent enquire_link (answered).
    EnquireLink {
        /// Its sequence number.
        sequence_number: u32,
    },
    /// The SMSC sent a generic_nack.
    GenericNack {
        /// Its sequence number.
        sequence_number: u32,
        /// Its command_status.
        status: CommandStatus,
        /// Whether it answered one of our outstanding requests (which then completed with it).
        matched: bool,
    },
    /// The SMSC sent unbind (answered with unbind_resp; the connection then closes).
    Unbound,
    /// The connection ended; in-flight requests failed with [`ClientError::Disconnected`].
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The client reconnected and rebound after a drop.
    Reconnected,
}

/// The event stream of a session. It ends when the session is over for good.
pub type Events = mpsc::Receiver<Event>;

/// Answers one delivery when [`DeliverAck::Manual`] is configured.
///
/// Dropping it unanswered answers ESME_RX_T_APPN (temporary application error), which makes
/// the SMSC retry rather than lose the message.
#[derive(Debug)]
pub struct DeliverResponder {
    tx: Option<mpsc::Sender<Outgoing>>,
    sequence_number: u32,
    response: CommandId,
}

impl DeliverResponder {
    /// Sequence number of the delivery being answered.
    pub fn sequence_number(&self) -> u32 {
        self.sequence_number
    }

    /// Sends the deliver_sm_resp / data_sm_resp with `status`.
    ///
    /// Fails with [`ClientError::Disconnected`] when the connection that carried the delivery
    /// is gone (the SMSC will deliver it again).
    pub async fn respond(mut self, status: CommandStatus) -> Result<(), ClientError> {
        let command = self.command(status);
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        tx.send(Outgoing::Response(command))
            .await
            .map_err(|_| ClientError::Disconnected {
                command: crate::frame::command_name(u32::from(self.response)),
                sequence_number: self.sequence_number,
                reason: DisconnectReason::ClosedByPeer,
            })
    }

    fn command(&self, status: CommandStatus) -> Command {
        Command::new(
            status,
            self.sequence_number,
            crate::pdu::empty_response_pdu(self.response, ""),
        )
    }
}

impl Drop for DeliverResponder {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        let command = self.command(CommandStatus::EsmeRxTAppn);
        match tx.try_send(Outgoing::Response(command)) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(out)) => {
                // The writer is busy: finish the answer in the background rather than block a
                // destructor.
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        let _ = tx.send(out).await;
                    });
                }
            }
        }
    }
}

/// Counters of one client, across reconnections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests_sent: AtomicU64,
    responses: AtomicU64,
    responses_by_status: std::sync::Mutex<BTreeMap<u32, u64>>,
    timeouts: AtomicU64,
    link_wait_timeouts: AtomicU64,
    disconnected: AtomicU64,
    unexpected_responses: AtomicU64,
    generic_nacks_received: AtomicU64,
    deliveries_received: AtomicU64,
    receipts_received: AtomicU64,
    receipts_unparsed: AtomicU64,
    enquire_links_received: AtomicU64,
    enquire_links_sent: AtomicU64,
    reconnects: AtomicU64,
    reconnect_attempts: AtomicU64,
    events_dropped: AtomicU64,
}

impl Counters {
    fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn record_response(&self, status: CommandStatus) {
        Self::inc(&self.responses);
        let mut by = self
            .responses_by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *by.entry(u32::from(status)).or_default() += 1;
    }

    fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            requests_sent: get(&self.requests_sent),
            responses: get(&self.responses),
            responses_by_status: self
                .responses_by_status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            timeouts: get(&self.timeouts),
            link_wait_timeouts: get(&self.link_wait_timeouts),
            disconnected: get(&self.disconnected),
            unexpected_responses: get(&self.unexpected_responses),
            generic_nacks_received: get(&self.generic_nacks_received),
            deliveries_received: get(&self.deliveries_received),
            receipts_received: get(&self.receipts_received),
            receipts_unparsed: get(&self.receipts_unparsed),
            enquire_links_received: get(&self.enquire_links_received),
            enquire_links_sent: get(&self.enquire_links_sent),
            reconnects: get(&self.reconnects),
            reconnect_attempts: get(&self.reconnect_attempts),
            events_dropped: get(&self.events_dropped),
        }
    }
}

/// A consistent-enough copy of the counters (each value is read atomically).
///
/// For the application's own requests (keep-alives excluded), once none is outstanding:
/// `requests_sent == responses + timeouts + disconnected`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Requests handed to the writer (bind, unbind and keep-alive excluded).
    pub requests_sent: u64,
    /// Responses (and generic_nacks) that completed a request.
    pub responses: u64,
    /// The same, by raw command_status.
    pub responses_by_status: BTreeMap<u32, u64>,
    /// Requests sent that got no response in time.
    pub timeouts: u64,
    /// Requests never sent because the link stayed down for their whole timeout.
    pub link_wait_timeouts: u64,
    /// Requests in flight when the connection dropped.
    pub disconnected: u64,
    /// Responses that matched no outstanding request (late, duplicated or bogus).
    pub unexpected_responses: u64,
    /// generic_nacks received.
    pub generic_nacks_received: u64,
    /// deliver_sm and data_sm received.
    pub deliveries_received: u64,
    /// Deliveries whose esm_class marks a delivery receipt.
    pub receipts_received: u64,
    /// Of those, the ones whose text and TLVs did not parse.
    pub receipts_unparsed: u64,
    /// enquire_link received from the SMSC (and answered).
    pub enquire_links_received: u64,
    /// Keep-alive enquire_link sent.
    pub enquire_links_sent: u64,
    /// Successful reconnections.
    pub reconnects: u64,
    /// Reconnection attempts, successful or not.
    pub reconnect_attempts: u64,
    /// Non-delivery events dropped because the event channel was full.
    pub events_dropped: u64,
}

impl CountersSnapshot {
    /// Responses that carried `status`.
    pub fn responses_with(&self, status: CommandStatus) -> u64 {
        self.responses_by_status
            .get(&u32::from(status))
            .copied()
            .unwrap_or(0)
    }
}

/// A bound ESME session. Clone it freely: clones share the session, and the session stops
/// when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Client {
    handle: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    // Cancels the background tasks when the last clone goes away.
    _stop_on_drop: DropGuard,
}

impl Client {
    /// Dials `target`, binds, and starts the session. With `cfg.reconnect` set, a dropped
    /// connection is dialled and bound again; the first connect and bind are not retried, so
    /// a wrong address or password fails here.
    pub async fn connect(
        target: Target,
        cfg: ClientConfig,
    ) -> Result<(Client, Events), ClientError> {
        cfg.validate()?;
        let (shared, guard) = Shared::new(cfg);
        let bound = session::establish(&shared, &target).await?;
        Ok(Self::start(shared, guard, bound, Some(target)))
    }

    /// Binds over an already connected stream and starts the session. There is nothing to dial
    /// again, so `cfg.reconnect` is ignored and the session ends with the stream.
    pub async fn bind_stream<S>(
        stream: S,
        cfg: ClientConfig,
    ) -> Result<(Client, Events), ClientError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        cfg.validate()?;
        let (shared, guard) = Shared::new(cfg);
        let bound = session::bind(&shared, Box::new(stream)).await?;
        Ok(Self::start(shared, guard, bound, None))
    }

    fn start(
        shared: Arc<Shared>,
        guard: DropGuard,
        bound: session::Bound,
        target: Option<Target>,
    ) -> (Client, Events) {
        let (events_tx, events_rx) = mpsc::channel(shared.cfg.event_buffer);
        let live = session::activate(&shared, bound, 1);
        tokio::spawn(session::supervise(shared.clone(), events_tx, live, target));
        let client = Client {
            handle: Arc::new(Handle {
                shared,
                _stop_on_drop: guard,
            }),
        };
        (client, events_rx)
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Sends any request PDU and waits for its response, within the window.
    pub async fn request(&self, pdu: impl Into<Pdu>) -> Result<Response, ClientError> {
        let shared = self.shared();
        let _slot = shared
            .window
            .acquire()
            .await
            .map_err(|_| shared.closed_error())?;
        shared.call(pdu.into(), false).await
    }

    /// Sends a submit_sm.
    pub async fn submit_sm(&self, sm: SubmitSm) -> Result<SubmitResult, ClientError> {
        self.request(sm).await.map(submit_result)
    }

    /// Sends a data_sm.
    pub async fn data_sm(&self, sm: DataSm) -> Result<SubmitResult, ClientError> {
        self.request(sm).await.map(submit_result)
    }

    /// Sends a submit_multi.
    pub async fn submit_multi(&self, sm: SubmitMulti) -> Result<SubmitMultiResult, ClientError> {
        let r = self.request(sm).await?;
        let message_id = r.message_id();
        let unsuccessful = match &r.pdu {
            Some(Pdu::SubmitMultiResp(m)) => m.unsuccess_sme().to_vec(),
            _ => Vec::new(),
        };
        Ok(SubmitMultiResult {
            status: r.status,
            message_id,
            unsuccessful,
            sequence_number: r.sequence_number,
        })
    }

    /// Sends a query_sm.
    pub async fn query_sm(&self, q: QuerySm) -> Result<QueryResult, ClientError> {
        let r = self.request(q).await?;
        let resp = match r.pdu {
            Some(Pdu::QuerySmResp(q)) => Some(q),
            _ => None,
        };
        Ok(QueryResult {
            status: r.status,
            resp,
            sequence_number: r.sequence_number,
        })
    }

    /// Sends a cancel_sm.
    pub async fn cancel_sm(&self, c: CancelSm) -> Result<Response, ClientError> {
        self.request(c).await
    }

    /// Sends a replace_sm.
    pub async fn replace_sm(&self, r: ReplaceSm) -> Result<Response, ClientError> {
        self.request(r).await
    }

    /// Sends an enquire_link (within the window) and waits for its response.
    pub async fn enquire_link(&self) -> Result<Response, ClientError> {
        self.request(Pdu::EnquireLink).await
    }

    /// Unbinds: sends unbind outside the window, waits for unbind_resp (at most
    /// `response_timeout`), then closes the connection and stops the session, without
    /// reconnecting. Returns the unbind_resp, or why none came; the session is closed either
    /// way.
    ///
    /// With no bound connection up (the SMSC is gone and the client is dialling it again),
    /// there is nobody to unbind from: the session is closed at once and the answer is
    /// [`ClientError::Closed`], rather than a wait for a link that may never come back (a
    /// service shutting down after its SMSC went away stops at once).
    pub async fn unbind(&self) -> Result<Response, ClientError> {
        let shared = self.shared();
        if !shared.is_up() {
            self.close().await;
            return Err(ClientError::Closed {
                reason: "no bound connection to unbind; the session is closed".into(),
            });
        }
        shared.begin_local_close(DisconnectReason::Unbound);
        let result = shared.call(Pdu::Unbind, true).await;
        shared.shutdown.cancel();
        shared.wait_closed().await;
        result
    }

    /// Closes the connection at once (no unbind) and stops the session. Requests in flight fail
    /// with [`ClientError::Disconnected`].
    pub async fn close(&self) {
        let shared = self.shared();
        shared.begin_local_close(DisconnectReason::Closed);
        shared.shutdown.cancel();
        shared.wait_closed().await;
    }

    /// A copy of the counters.
    pub fn counters(&self) -> CountersSnapshot {
        self.shared().counters.snapshot()
    }

    /// Requests currently holding a slot of the window (sent or about to be).
    pub fn in_flight(&self) -> usize {
        let shared = self.shared();
        shared
            .cfg
            .window
            .saturating_sub(shared.window.available_permits())
    }

    /// What the SMSC answered to the latest bind.
    pub fn bind_info(&self) -> BindInfo {
        self.shared().bind_info()
    }

    /// True while a bound connection is up.
    pub fn is_connected(&self) -> bool {
        self.shared().is_up()
    }

    /// True once the session is over for good.
    pub fn is_closed(&self) -> bool {
        self.shared().is_closed()
    }

    /// Waits until a bound connection is up (true) or the session is over (false), at most
    /// `timeout` (false).
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        self.shared().wait_up(timeout).await
    }

    /// The configuration the session runs with.
    pub fn config(&self) -> &ClientConfig {
        &self.shared().cfg
    }
}

fn submit_result(r: Response) -> SubmitResult {
    SubmitResult {
        status: r.status,
        message_id: r.message_id(),
        sequence_number: r.sequence_number,
    }
}
