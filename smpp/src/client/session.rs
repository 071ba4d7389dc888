//! The client's moving parts: dialling and binding, the per-connection reader, writer and
//! keep-alive tasks, and the supervisor that fails in-flight requests on a drop and reconnects.
//!
//! State shared by the [`Client`](super::Client) handles and these tasks lives in [`Shared`]:
//! the pending-request map (sequence number -> oneshot), the window semaphore, the sequence
//! counter, and a `watch` of the link, which holds the current connection's writer channel.
//! Requests pick the writer from the link; when a connection ends, its writer channel closes,
//! the link goes to `Connecting`, and only then are the requests of that connection failed, so
//! a request either reaches a live writer or sees its send fail and waits for the next link.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    BindInfo, ClientConfig, ClientError, Counters, DeliverAck, DeliverResponder, Delivered,
    DisconnectReason, Event, ReconnectPolicy, Response, Target,
};
use crate::frame::{Frame, SmppCodec, command_name};
use crate::pdu::{c_str, empty_response_pdu, error_response};

/// Highest sequence number; the next one wraps to 1 (0 is never used).
pub(crate) const MAX_SEQUENCE_NUMBER: u32 = 0x7FFF_FFFF;

/// Any transport the session can run over.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

type BoxTransport = Box<dyn Transport>;
type Reader = FramedRead<ReadHalf<BoxTransport>, SmppCodec>;
type Writer = FramedWrite<WriteHalf<BoxTransport>, SmppCodec>;

/// What the writer task is asked to write.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A request; the writer wraps it in a command with status 0.
    Request { seq: u32, pdu: Pdu },
    /// A response to the SMSC.
    Response(Command),
    /// A last PDU (unbind_resp): written, flushed, then the write side is shut down.
    Final(Command),
}

/// The current connection, as requests see it.
#[derive(Debug, Clone)]
enum Link {
    /// Between connections (or before the first one).
    Connecting,
    /// Bound; requests go to `tx`.
    Up {
        generation: u64,
        tx: mpsc::Sender<Outgoing>,
    },
    /// Over for good.
    Closed { reason: String },
}

/// One outstanding request.
#[derive(Debug)]
struct Pending {
    generation: u64,
    command: CommandId,
    /// Keep-alives and unbind: kept out of the application's counters.
    internal: bool,
    tx: oneshot::Sender<Result<Response, ClientError>>,
}

/// A connection that is bound and ready to run.
pub(crate) struct Bound {
    reader: Reader,
    writer: Writer,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").finish_non_exhaustive()
    }
}

/// Wrapping sequence numbers 1..=0x7FFFFFFF.
#[derive(Debug)]
pub(crate) struct SequenceNumbers(AtomicU32);

impl SequenceNumbers {
    /// A counter whose first number is `first` (clamped into the valid range).
    pub(crate) fn starting_at(first: u32) -> Self {
        let first = first.clamp(1, MAX_SEQUENCE_NUMBER);
        Self(AtomicU32::new(first - 1))
    }

    pub(crate) fn next(&self) -> u32 {
        let step = |cur: u32| {
            Some(if cur >= MAX_SEQUENCE_NUMBER {
                1
            } else {
                cur + 1
            })
        };
        let prev = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, step)
            .unwrap_or(0);
        step(prev).unwrap_or(1)
    }
}

/// State shared by the client handles and the background tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: ClientConfig,
    pub(crate) window: Semaphore,
    pub(crate) counters: Counters,
    pub(crate) shutdown: CancellationToken,
    seq: SequenceNumbers,
    pending: Mutex<HashMap<u32, Pending>>,
    link: watch::Sender<Link>,
    /// Set when this client chose to end the session: no reconnection, and this is the reason.
    local_close: Mutex<Option<DisconnectReason>>,
    closing: AtomicBool,
    bind_info: Mutex<BindInfo>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(cfg: ClientConfig) -> (Arc<Self>, DropGuard) {
        let shutdown = CancellationToken::new();
        let guard = shutdown.clone().drop_guard();
        let (link, _) = watch::channel(Link::Connecting);
        let shared = Arc::new(Self {
            window: Semaphore::new(cfg.window),
            counters: Counters::default(),
            shutdown,
            seq: SequenceNumbers::starting_at(1),
            pending: Mutex::new(HashMap::new()),
            link,
            local_close: Mutex::new(None),
            closing: AtomicBool::new(false),
            bind_info: Mutex::new(BindInfo::default()),
            cfg,
        });
        (shared, guard)
    }

    pub(crate) fn closed_error(&self) -> ClientError {
        let reason = match &*self.link.borrow() {
            Link::Closed { reason } => reason.clone(),
            _ => "session stopped".to_string(),
        };
        ClientError::Closed { reason }
    }

    pub(crate) fn begin_local_close(&self, reason: DisconnectReason) {
        self.closing.store(true, Ordering::SeqCst);
        lock(&self.local_close).get_or_insert(reason);
    }

    pub(crate) fn bind_info(&self) -> BindInfo {
        lock(&self.bind_info).clone()
    }

    pub(crate) fn is_up(&self) -> bool {
        matches!(&*self.link.borrow(), Link::Up { .. })
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(&*self.link.borrow(), Link::Closed { .. })
    }

    pub(crate) async fn wait_closed(&self) {
        let mut rx = self.link.subscribe();
        let _ = rx.wait_for(|l| matches!(l, Link::Closed { .. })).await;
    }

    pub(crate) async fn wait_up(&self, timeout: Duration) -> bool {
        let mut rx = self.link.subscribe();
        let wait = rx.wait_for(|l| !matches!(l, Link::Connecting));
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(link)) => matches!(&*link, Link::Up { .. }),
            _ => false,
        }
    }

    /// Sends `pdu` on the current link and waits for its response. The caller holds a window
    /// slot unless the request is internal (keep-alive, unbind).
    pub(crate) async fn call(
        self: &Arc<Self>,
        mut pdu: Pdu,
        internal: bool,
    ) -> Result<Response, ClientError> {
        let timeout = self.cfg.response_timeout;
        let command = pdu.command_id();
        let link_deadline = Instant::now() + timeout;
        let mut dead_generation = 0;
        loop {
            let (generation, tx) = self
                .wait_link(link_deadline, dead_generation, command, internal)
                .await?;
            let (seq, rx) = self.register(generation, command, internal);
            let guard = PendingGuard { shared: self, seq };
            match tx.send(Outgoing::Request { seq, pdu }).await {
                Ok(()) => {}
                Err(mpsc::error::SendError(out)) => {
                    // The connection ended between reading the link and sending: nothing was
                    // written, so wait for the next connection and send there.
                    drop(guard);
                    dead_generation = generation;
                    match out {
                        Outgoing::Request { pdu: back, .. } => pdu = back,
                        Outgoing::Response(_) | Outgoing::Final(_) => {
                            return Err(self.closed_error());
                        }
                    }
                    continue;
                }
            }
            if !internal {
                Counters::inc(&self.counters.requests_sent);
            }
            return self
                .await_response(guard, rx, seq, command, internal, timeout)
                .await;
        }
    }

    async fn wait_link(
        &self,
        deadline: Instant,
        dead_generation: u64,
        command: CommandId,
        internal: bool,
    ) -> Result<(u64, mpsc::Sender<Outgoing>), ClientError> {
        let mut rx = self.link.subscribe();
        let wait = rx.wait_for(|l| match l {
            Link::Up { generation, .. } => *generation > dead_generation,
            Link::Closed { .. } => true,
            Link::Connecting => false,
        });
        match tokio::time::timeout_at(deadline, wait).await {
            Err(_) => {
                if !internal {
                    Counters::inc(&self.counters.link_wait_timeouts);
                }
                Err(ClientError::Timeout {
                    command: command_name(u32::from(command)),
                    sequence_number: None,
                    after: self.cfg.response_timeout,
                })
            }
            Ok(Err(_)) => Err(self.closed_error()),
            Ok(Ok(link)) => match &*link {
                Link::Up { generation, tx } => Ok((*generation, tx.clone())),
                Link::Closed { reason } => Err(ClientError::Closed {
                    reason: reason.clone(),
                }),
                Link::Connecting => Err(self.closed_error()),
            },
        }
    }

    fn register(
        &self,
        generation: u64,
        command: CommandId,
        internal: bool,
    ) -> (u32, oneshot::Receiver<Result<Response, ClientError>>) {
        let (tx, rx) = oneshot::channel();
        let mut pending = lock(&self.pending);
        // A number still outstanding after a full wrap would mix two requests up: skip it.
        let mut seq = self.seq.next();
        while pending.contains_key(&seq) {
            seq = self.seq.next();
        }
        pending.insert(
            seq,
            Pending {
                generation,
                command,
                internal,
                tx,
            },
        );
        (seq, rx)
    }

    async fn await_response(
        &self,
        guard: PendingGuard<'_>,
        mut rx: oneshot::Receiver<Result<Response, ClientError>>,
        seq: u32,
        command: CommandId,
        internal: bool,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let outcome = match tokio::time::timeout(timeout, &mut rx).await {
            Ok(received) => received,
            Err(_) => {
                if lock(&self.pending).remove(&seq).is_some() {
                    if !internal {
                        Counters::inc(&self.counters.timeouts);
                    }
                    guard.disarm();
                    return Err(ClientError::Timeout {
                        command: command_name(u32::from(command)),
                        sequence_number: Some(seq),
                        after: timeout,
                    });
                }
                // The entry was taken as the timer fired: its outcome is on its way and was
                // already counted, so report that outcome rather than a timeout.
                rx.await
            }
        };
        guard.disarm();
        outcome.unwrap_or_else(|_| {
            Err(ClientError::Disconnected {
                command: command_name(u32::from(command)),
                sequence_number: seq,
                reason: DisconnectReason::Closed,
            })
        })
    }

    /// Completes the request `seq` with a response; false when none was outstanding.
    fn complete(&self, seq: u32, status: CommandStatus, pdu: Option<Pdu>) -> bool {
        let entry = lock(&self.pending).remove(&seq);
        match entry {
            Some(p) => {
                if !p.internal {
                    self.counters.record_response(status);
                }
                let _ = p.tx.send(Ok(Response {
                    status,
                    pdu,
                    sequence_number: seq,
                }));
                true
            }
            None => {
                Counters::inc(&self.counters.unexpected_responses);
                false
            }
        }
    }

    /// Fails every request of connections up to `generation` with `Disconnected`.
    fn fail_pending(&self, generation: u64, reason: &DisconnectReason) {
        let failed: Vec<(u32, Pending)> = {
            let mut pending = lock(&self.pending);
            let seqs: Vec<u32> = pending
                .iter()
                .filter(|(_, p)| p.generation <= generation)
                .map(|(s, _)| *s)
                .collect();
            seqs.into_iter()
                .filter_map(|s| pending.remove(&s).map(|p| (s, p)))
                .collect()
        };
        for (seq, p) in failed {
            if !p.internal {
                Counters::inc(&self.counters.disconnected);
            }
            let _ = p.tx.send(Err(ClientError::Disconnected {
                command: command_name(u32::from(p.command)),
                sequence_number: seq,
                reason: reason.clone(),
            }));
        }
    }

    fn local_close_reason(&self) -> Option<DisconnectReason> {
        lock(&self.local_close).clone()
    }
}

/// Removes a request from the pending map if its caller stops waiting (future dropped).
struct PendingGuard<'a> {
    shared: &'a Shared,
    seq: u32,
}

impl PendingGuard<'_> {
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.pending).remove(&self.seq);
    }
}

/// Dials `target` and binds.
pub(crate) async fn establish(shared: &Shared, target: &Target) -> Result<Bound, ClientError> {
    let stream = dial(target, shared.cfg.connect_timeout).await?;
    bind(shared, stream).await
}

async fn dial(target: &Target, timeout: Duration) -> Result<BoxTransport, ClientError> {
    let addr = target.addr().to_string();
    let timed_out = || ClientError::ConnectTimeout {
        addr: addr.clone(),
        after: timeout,
    };
    let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| timed_out())?
        .map_err(|source| ClientError::Connect {
            addr: addr.clone(),
            source,
        })?;
    // Requests are small and latency matters more than packing them.
    let _ = tcp.set_nodelay(true);
    match target {
        Target::Tcp(_) => Ok(Box::new(tcp)),
        Target::Tls {
            connector,
            server_name,
            ..
        } => {
            let tls = tokio::time::timeout(timeout, connector.connect(server_name.clone(), tcp))
                .await
                .map_err(|_| timed_out())?
                .map_err(|source| ClientError::Tls {
                    addr: addr.clone(),
                    source,
                })?;
            Ok(Box::new(tls))
        }
    }
}

/// Sends the bind on `stream` and waits for its response (at most `response_timeout`).
pub(crate) async fn bind(shared: &Shared, stream: BoxTransport) -> Result<Bound, ClientError> {
    let cfg = &shared.cfg;
    let name = cfg.bind.name();
    let (r, w) = tokio::io::split(stream);
    let mut reader = FramedRead::new(r, SmppCodec::new(cfg.max_command_length));
    let mut writer = FramedWrite::new(w, SmppCodec::new(cfg.max_command_length));
    let seq = shared.seq.next();
    let request = Command::new(CommandStatus::EsmeRok, seq, bind_pdu(cfg));
    let deadline = Instant::now() + cfg.response_timeout;
    let timed_out = || ClientError::BindTimeout {
        command: name,
        after: cfg.response_timeout,
    };
    let failed = |reason: String| ClientError::BindFailed {
        command: name,
        reason,
    };

    tokio::time::timeout_at(deadline, writer.send(&request))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| failed(format!("cannot send: {e}")))?;

    loop {
        let frame = match tokio::time::timeout_at(deadline, reader.next()).await {
            Err(_) => return Err(timed_out()),
            Ok(None) => return Err(failed("connection closed before the bind response".into())),
            Ok(Some(Err(e))) => return Err(ClientError::Frame(e)),
            Ok(Some(Ok(frame))) => frame,
        };
        let header = frame.header;
        let is_answer = header.sequence_number == seq
            && (header.is_response() || header.id() == CommandId::GenericNack);
        if !is_answer {
            if header.id() == CommandId::EnquireLink {
                let resp = Command::new(
                    CommandStatus::EsmeRok,
                    header.sequence_number,
                    Pdu::EnquireLinkResp,
                );
                tokio::time::timeout_at(deadline, writer.send(&resp))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|e| failed(format!("cannot send: {e}")))?;
            } else {
                tracing::debug!(
                    command = %command_name(header.command_id),
                    seq = header.sequence_number,
                    "ignoring a PDU received before the bind response"
                );
            }
            continue;
        }
        let status = header.status();
        if status != CommandStatus::EsmeRok || header.id() == CommandId::GenericNack {
            return Err(ClientError::BindRefused {
                command: name,
                status,
            });
        }
        let expected = crate::pdu::response_id(cfg.bind.command_id());
        if Some(header.id()) != expected {
            return Err(failed(format!(
                "answered with {}",
                command_name(header.command_id)
            )));
        }
        let info = match frame.decode() {
            Ok(cmd) => bind_info(cmd.pdu()),
            Err(e) => {
                // The header says bound; a body we cannot read costs us only the SMSC's name.
                tracing::warn!(error = %e, "bind response body did not decode");
                BindInfo::default()
            }
        };
        *lock(&shared.bind_info) = info;
        return Ok(Bound { reader, writer });
    }
}

fn bind_pdu(cfg: &ClientConfig) -> Pdu {
    use crate::pdu::c_string;
    use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter};
    use rusmpp::values::{InterfaceVersion, Npi, Ton};
    // Lengths were checked by ClientConfig::validate, so c_string never truncates here.
    let system_id = c_string::<16>(&cfg.system_id);
    let password = c_string::<9>(&cfg.password);
    let system_type = c_string::<13>(&cfg.system_type);
    let version = InterfaceVersion::from(cfg.interface_version);
    let ton = Ton::from(cfg.addr_ton);
    let npi = Npi::from(cfg.addr_npi);
    let range = c_string::<41>(&cfg.address_range);
    match cfg.bind {
        super::BindMode::Transmitter => {
            BindTransmitter::new(system_id, password, system_type, version, ton, npi, range).into()
        }
        super::BindMode::Receiver => {
            BindReceiver::new(system_id, password, system_type, version, ton, npi, range).into()
        }
        super::BindMode::Transceiver => {
            BindTransceiver::new(system_id, password, system_type, version, ton, npi, range).into()
        }
    }
}

fn bind_info(pdu: Option<&Pdu>) -> BindInfo {
    let (system_id, version) = match pdu {
        Some(Pdu::BindTransmitterResp(r)) => (c_str(&r.system_id), r.sc_interface_version()),
        Some(Pdu::BindReceiverResp(r)) => (c_str(&r.system_id), r.sc_interface_version()),
        Some(Pdu::BindTransceiverResp(r)) => (c_str(&r.system_id), r.sc_interface_version()),
        _ => (String::new(), None),
    };
    BindInfo {
        system_id,
        sc_interface_version: version.map(u8::from),
    }
}

/// A bound connection whose writer channel is published on the link.
#[derive(Debug)]
pub(crate) struct Live {
    bound: Bound,
    generation: u64,
    tx: mpsc::Sender<Outgoing>,
    rx: mpsc::Receiver<Outgoing>,
}

/// Publishes `bound` as the current link, so requests can use it from now on.
pub(crate) fn activate(shared: &Shared, bound: Bound, generation: u64) -> Live {
    let (tx, rx) = mpsc::channel(shared.cfg.window + 64);
    shared.link.send_replace(Link::Up {
        generation,
        tx: tx.clone(),
    });
    Live {
        bound,
        generation,
        tx,
        rx,
    }
}

/// Runs connections one after another until the session is over, then closes the link and
/// ends the event stream (by dropping `events`).
pub(crate) async fn supervise(
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
    first: Live,
    target: Option<Target>,
) {
    let mut live = first;
    let final_reason = loop {
        let generation = live.generation;
        let reason = run_connection(&shared, &events, live).await;
        let reason = shared.local_close_reason().unwrap_or(reason);
        tracing::info!(%reason, generation, "SMPP connection ended");
        shared.link.send_replace(Link::Connecting);
        shared.fail_pending(generation, &reason);
        emit_lossy(
            &shared,
            &events,
            Event::Disconnected {
                reason: reason.clone(),
            },
        );
        let retry = match (&target, &shared.cfg.reconnect) {
            (Some(t), Some(p))
                if reason.may_reconnect()
                    && !shared.closing.load(Ordering::SeqCst)
                    && !shared.shutdown.is_cancelled() =>
            {
                Some((t, p))
            }
            _ => None,
        };
        let Some((target, policy)) = retry else {
            break reason.to_string();
        };
        match reconnect(&shared, target, policy).await {
            Ok(bound) => {
                live = activate(&shared, bound, generation + 1);
                Counters::inc(&shared.counters.reconnects);
                emit_lossy(&shared, &events, Event::Reconnected);
            }
            Err(why) => break format!("{reason}; {why}"),
        }
    };
    shared.link.send_replace(Link::Closed {
        reason: final_reason,
    });
    shared.fail_pending(u64::MAX, &DisconnectReason::Closed);
}

async fn reconnect(
    shared: &Shared,
    target: &Target,
    policy: &ReconnectPolicy,
) -> Result<Bound, String> {
    let mut attempt = 0u32;
    let mut last_error = String::from("stopped");
    loop {
        if policy.max_attempts.is_some_and(|max| attempt >= max) {
            return Err(format!(
                "gave up reconnecting after {attempt} attempts: {last_error}"
            ));
        }
        let delay = policy.delay(attempt, random_unit());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.shutdown.cancelled() => return Err("closed while reconnecting".into()),
        }
        Counters::inc(&shared.counters.reconnect_attempts);
        let result = tokio::select! {
            r = establish(shared, target) => r,
            _ = shared.shutdown.cancelled() => return Err("closed while reconnecting".into()),
        };
        match result {
            Ok(bound) => return Ok(bound),
            Err(e) => {
                tracing::warn!(attempt, error = %e, addr = target.addr(), "reconnect failed");
                last_error = e.to_string();
                attempt += 1;
            }
        }
    }
}

/// A draw in [0, 1) for backoff jitter; std's per-process random hasher keys are enough here.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9E37_79B9_7F4A_7C15);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Drives one bound connection until it ends, and says why.
async fn run_connection(
    shared: &Arc<Shared>,
    events: &mpsc::Sender<Event>,
    live: Live,
) -> DisconnectReason {
    let Live {
        bound: Bound { mut reader, writer },
        tx,
        rx,
        ..
    } = live;
    let mut writer_task = tokio::spawn(write_loop(writer, rx));
    let mut keepalive: Option<JoinHandle<DisconnectReason>> = shared
        .cfg
        .enquire_link_interval
        .map(|every| tokio::spawn(keep_alive(shared.clone(), every)));

    let mut writer_done = false;
    let reason = loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => break DisconnectReason::Closed,
            r = &mut writer_task => {
                writer_done = true;
                break match r {
                    Ok(Ok(())) => DisconnectReason::UnbindReceived,
                    Ok(Err(e)) => DisconnectReason::Io(e.to_string()),
                    Err(e) => DisconnectReason::Io(format!("writer task failed: {e}")),
                };
            }
            r = async { match keepalive.as_mut() { Some(k) => k.await, None => std::future::pending().await } } => {
                keepalive = None;
                break r.unwrap_or_else(|e| DisconnectReason::Io(format!("keep-alive task failed: {e}")));
            }
            frame = reader.next() => match frame {
                None => break DisconnectReason::ClosedByPeer,
                Some(Err(e)) => break if e.is_length_violation() {
                    DisconnectReason::Framing(e.to_string())
                } else {
                    DisconnectReason::Io(e.to_string())
                },
                Some(Ok(frame)) => {
                    if let Some(reason) = on_frame(shared, events, &tx, frame).await {
                        break reason;
                    }
                }
            },
        }
    };
    if let Some(k) = keepalive {
        k.abort();
    }
    drop(tx);
    if !writer_done {
        if reason == DisconnectReason::UnbindReceived {
            // Let the unbind_resp reach the SMSC before the connection goes.
            let grace = shared.cfg.response_timeout;
            if tokio::time::timeout(grace, &mut writer_task).await.is_err() {
                writer_task.abort();
                let _ = writer_task.await;
            }
        } else {
            writer_task.abort();
            let _ = writer_task.await;
        }
    }
    reason
}

/// Handles one frame from the SMSC; `Some(reason)` ends the connection.
async fn on_frame(
    shared: &Shared,
    events: &mpsc::Sender<Event>,
    tx: &mpsc::Sender<Outgoing>,
    frame: Frame,
) -> Option<DisconnectReason> {
    let header = frame.header;
    let seq = header.sequence_number;
    if header.id() == CommandId::GenericNack {
        Counters::inc(&shared.counters.generic_nacks_received);
        let matched = shared.complete(seq, header.status(), None);
        emit_lossy(
            shared,
            events,
            Event::GenericNack {
                sequence_number: seq,
                status: header.status(),
                matched,
            },
        );
        return None;
    }
    if header.is_response() {
        let (status, pdu) = match frame.decode() {
            Ok(cmd) => {
                let parts = cmd.into_parts();
                (parts.status, parts.pdu)
            }
            Err(e) => {
                tracing::debug!(error = %e, "response body did not decode; using its header");
                (e.header.status(), None)
            }
        };
        shared.complete(seq, status, pdu);
        return None;
    }
    let command = match frame.decode() {
        Ok(cmd) => cmd,
        Err(e) => {
            tracing::debug!(error = %e, "request from the SMSC did not decode");
            let _ = tx
                .send(Outgoing::Response(error_response(&e.header, e.status)))
                .await;
            return None;
        }
    };
    match command.into_parts().pdu {
        Some(Pdu::DeliverSm(d)) => {
            deliver(shared, events, tx, seq, Delivered::DeliverSm(Box::new(d))).await
        }
        Some(Pdu::DataSm(d)) => {
            deliver(shared, events, tx, seq, Delivered::DataSm(Box::new(d))).await
        }
        Some(Pdu::EnquireLink) => {
            Counters::inc(&shared.counters.enquire_links_received);
            let resp = Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp);
            let _ = tx.send(Outgoing::Response(resp)).await;
            emit_lossy(
                shared,
                events,
                Event::EnquireLink {
                    sequence_number: seq,
                },
            );
            None
        }
        Some(Pdu::Unbind) => {
            let resp = Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp);
            let _ = tx.send(Outgoing::Final(resp)).await;
            emit_lossy(shared, events, Event::Unbound);
            Some(DisconnectReason::UnbindReceived)
        }
        Some(Pdu::AlertNotification(_)) => {
            // alert_notification has no response; nothing here uses set_dpf.
            None
        }
        _ => {
            // A request an ESME does not serve (submit_sm from the SMSC, outbind, ...).
            let resp = error_response(&header, CommandStatus::EsmeRinvcmdid);
            let _ = tx.send(Outgoing::Response(resp)).await;
            None
        }
    }
}

async fn deliver(
    shared: &Shared,
    events: &mpsc::Sender<Event>,
    tx: &mpsc::Sender<Outgoing>,
    seq: u32,
    pdu: Delivered,
) -> Option<DisconnectReason> {
    Counters::inc(&shared.counters.deliveries_received);
    let receipt = if pdu.is_delivery_receipt() {
        Counters::inc(&shared.counters.receipts_received);
        let parsed = pdu.delivery_info().receipt;
        if parsed.is_none() {
            Counters::inc(&shared.counters.receipts_unparsed);
        }
        parsed
    } else {
        None
    };
    let responder = match shared.cfg.deliver_ack {
        DeliverAck::Auto(status) => {
            let resp = Command::new(status, seq, empty_response_pdu(pdu.response_id(), ""));
            let _ = tx.send(Outgoing::Response(resp)).await;
            None
        }
        DeliverAck::Manual => Some(DeliverResponder {
            tx: Some(tx.clone()),
            sequence_number: seq,
            response: pdu.response_id(),
        }),
    };
    let event = Event::Deliver {
        sequence_number: seq,
        pdu,
        receipt,
        responder,
    };
    // Deliveries are never dropped: a full channel holds the reader, which holds the SMSC.
    tokio::select! {
        _ = events.send(event) => None,
        _ = shared.shutdown.cancelled() => Some(DisconnectReason::Closed),
    }
}

fn emit_lossy(shared: &Shared, events: &mpsc::Sender<Event>, event: Event) {
    if let Err(mpsc::error::TrySendError::Full(_)) = events.try_send(event) {
        Counters::inc(&shared.counters.events_dropped);
    }
}

/// Sends an enquire_link every `every`; returns when one goes unanswered.
async fn keep_alive(shared: Arc<Shared>, every: Duration) -> DisconnectReason {
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        Counters::inc(&shared.counters.enquire_links_sent);
        match shared.call(Pdu::EnquireLink, true).await {
            // Any answer, even an error status, shows the link is alive.
            Ok(_) => {}
            Err(ClientError::Timeout { .. }) => return DisconnectReason::EnquireLinkTimeout,
            // The connection is already ending; the reader reports why.
            Err(_) => std::future::pending::<()>().await,
        }
    }
}

/// Writes what the channel brings, flushing whenever it runs dry.
async fn write_loop(mut sink: Writer, mut rx: mpsc::Receiver<Outgoing>) -> std::io::Result<()> {
    // Batching bound: flush at least this often under a constant stream.
    const BATCH: usize = 64;
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(out) = next.take() {
            match out {
                Outgoing::Request { seq, pdu } => {
                    sink.feed(&Command::new(CommandStatus::EsmeRok, seq, pdu))
                        .await?
                }
                Outgoing::Response(cmd) => sink.feed(&cmd).await?,
                Outgoing::Final(cmd) => {
                    sink.send(&cmd).await?;
                    sink.get_mut().shutdown().await?;
                    return Ok(());
                }
            }
            written += 1;
            if written < BATCH {
                next = rx.try_recv().ok();
            }
        }
        SinkExt::<&Command>::flush(&mut sink).await?;
    }
    // Every sender is gone: the connection is being torn down.
    Err(std::io::Error::other("writer channel closed"))
}
