//! One bind slot of `loadgen smpp`: connect, bind, send on schedule, read responses and
//! receipts, reconnect with backoff, unbind at the end.
//!
//! Everything a connection needs (in-flight table, buffers, counters) is owned by its task,
//! so the hot path takes no lock: each turn of the loop claims the messages that are due from
//! the shared schedule counter (one compare-and-swap per batch), encodes them from the template
//! into the write buffer, and writes the whole batch with one call; responses are read in bulk
//! and answered into the same buffer. Counters reach the reporter every
//! [`super::stats::PUBLISH_EVERY`]. Messages in flight when a connection drops are counted as
//! timed out (and as lost on disconnect), never forgotten.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use smpp::frame::{FrameError, SmppCodec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::codec::Decoder;

use super::receipts::{AcceptOutcome, KeyHash, ReceiptBook, ReceiptOutcome};
use super::schedule::Schedule;
use super::stats::{PUBLISH_EVERY, Stats, record_ns};
use super::wire::{self, Delivery, SubmitTemplate, id};

/// Most messages claimed in one turn, so reads are not starved by a long backlog.
const MAX_BATCH: u64 = 1024;
/// How long the bind exchange may take.
const BIND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for unbind_resp at the end.
const UNBIND_GRACE: Duration = Duration::from_secs(1);
/// Reconnection backoff: first delay and cap.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What a bind slot does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// bind_transceiver: sends and receives.
    Transceiver,
    /// bind_transmitter: sends only.
    Transmitter,
    /// bind_receiver: receives receipts only.
    Receiver,
}

impl Role {
    fn bind_id(self) -> u32 {
        match self {
            Role::Transceiver => id::BIND_TRANSCEIVER,
            Role::Transmitter => id::BIND_TRANSMITTER,
            Role::Receiver => id::BIND_RECEIVER,
        }
    }
    fn sends(self) -> bool {
        self != Role::Receiver
    }
}

/// The phase the orchestrator has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connect and bind; time zero is not fixed yet.
    Connect,
    /// Send on schedule, read everything.
    Run,
    /// Unbind and end.
    Stop,
}

/// Where to connect.
#[derive(Clone)]
pub enum Connector {
    /// Plain TCP.
    Tcp(String),
    /// TLS over TCP.
    Tls {
        /// host:port.
        addr: String,
        /// rustls client.
        connector: tokio_rustls::TlsConnector,
        /// Name to verify.
        server_name: rustls_pki_types::ServerName<'static>,
    },
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connector::Tcp(a) => write!(f, "tcp://{a}"),
            Connector::Tls { addr, .. } => write!(f, "tls://{addr}"),
        }
    }
}

/// Destination numbers.
#[derive(Debug, Clone)]
pub enum Dests {
    /// PREFIX followed by a zero-padded counter of `digits` digits.
    Prefix {
        /// Leading digits.
        prefix: Vec<u8>,
        /// Counter width.
        digits: usize,
    },
    /// Numbers from a file, used in turn.
    List(Vec<Vec<u8>>),
}

impl Dests {
    /// Writes the destination of message `i` into `buf`, returning its length.
    #[inline]
    fn put(&self, i: u64, buf: &mut [u8; 24]) -> usize {
        match self {
            Dests::Prefix { prefix, digits } => {
                let p = prefix.len();
                buf[..p].copy_from_slice(prefix);
                let mut n = i;
                for k in (0..*digits).rev() {
                    buf[p + k] = b'0' + (n % 10) as u8;
                    n /= 10;
                }
                p + digits
            }
            Dests::List(list) => {
                let d = &list[(i % list.len() as u64) as usize];
                buf[..d.len()].copy_from_slice(d);
                d.len()
            }
        }
    }
}

/// What every bind slot of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// Intended send times.
    pub schedule: Schedule,
    /// Index of the next message to send.
    pub next: AtomicU64,
    /// The run's time zero, fixed once the slots are bound.
    pub start: std::sync::OnceLock<Instant>,
    /// No message is sent at or after this (nanoseconds after start).
    pub send_end_ns: u64,
    /// Receipts tracked (registered delivery asked for).
    pub track_receipts: bool,
    /// The receipt book.
    pub book: ReceiptBook,
    /// One publishing slot per bind task.
    pub slots: Vec<Mutex<Stats>>,
    /// Messages in flight over all binds (updated per batch).
    pub in_flight: AtomicI64,
    /// Connections currently bound.
    pub bound: AtomicUsize,
    /// Set once any connection has bound.
    pub ever_bound: AtomicBool,
    /// An error that ends the run (bind refused, target unreachable).
    pub fatal: Mutex<Option<String>>,
    /// Why connections were lost (the first [`MAX_REASONS`]).
    pub disconnect_reasons: Mutex<Vec<String>>,
}

/// Most disconnect reasons kept for the report.
pub const MAX_REASONS: usize = 10;

impl Shared {
    fn set_fatal(&self, msg: String) {
        let mut f = self.fatal.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(msg);
        }
    }
}

/// Per-task settings.
#[derive(Debug, Clone)]
pub struct BindSettings {
    /// Where.
    pub connector: Connector,
    /// Credentials.
    pub system_id: String,
    /// Credentials.
    pub password: String,
    /// Most submit_sm outstanding on this bind.
    pub window: usize,
    /// A submit_sm without response for this long is timed out.
    pub response_timeout: Duration,
    /// A send later than this after its intended time is behind schedule.
    pub behind_tolerance: Duration,
    /// The submit_sm template.
    pub template: Arc<SubmitTemplate>,
    /// Destinations.
    pub dests: Arc<Dests>,
}

enum Ev {
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
    Flushed(std::io::Result<()>),
    Due,
    Tick,
    Phase,
}

/// Writes what is buffered, or flushes once it is all written (TLS keeps records in its own
/// buffer until flushed). Cancel-safe: a write that did not complete wrote nothing.
async fn pump<W: AsyncWrite + Unpin>(wr: &mut W, wbuf: &[u8]) -> Ev {
    if wbuf.is_empty() {
        Ev::Flushed(wr.flush().await)
    } else {
        Ev::Wrote(wr.write(wbuf).await)
    }
}

/// Runs one bind slot until the phase is [`Phase::Stop`] or the run fails.
pub async fn run_slot(
    slot: usize,
    role: Role,
    settings: BindSettings,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) {
    let mut task = Task {
        slot,
        role,
        in_flight: HashMap::with_capacity_and_hasher(settings.window * 2, KeyHash::default()),
        seq: 0,
        stats: Stats::default(),
        last_publish: Instant::now(),
        send_done: false,
        settings,
        shared,
    };
    let mut attempt = 0u32;
    let mut bound_before = false;
    loop {
        if *phase.borrow() == Phase::Stop {
            break;
        }
        match task.connect_and_run(&mut phase, bound_before).await {
            Ok(ConnEnd::Stopped) => break,
            Ok(ConnEnd::Lost(reason)) => {
                let mut reasons = task
                    .shared
                    .disconnect_reasons
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if reasons.len() < MAX_REASONS {
                    reasons.push(format!("bind {slot}: {reason}"));
                }
                drop(reasons);
                bound_before = true;
                attempt = 0;
                task.stats.disconnects += 1;
            }
            Err(SlotError::Refused(msg)) => {
                task.shared.set_fatal(msg);
                break;
            }
            Err(SlotError::Unreachable(msg)) => {
                if !task.shared.ever_bound.load(Ordering::Relaxed) {
                    task.shared.set_fatal(msg);
                    break;
                }
            }
        }
        task.lose_in_flight(true);
        task.publish();
        let delay = BACKOFF_FIRST
            .saturating_mul(1u32 << attempt.min(8))
            .min(BACKOFF_MAX);
        attempt += 1;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = phase.wait_for(|p| *p == Phase::Stop) => {}
        }
    }
    task.lose_in_flight(false);
    task.publish();
}

enum ConnEnd {
    Stopped,
    Lost(String),
}

enum SlotError {
    Refused(String),
    Unreachable(String),
}

enum Fill {
    Wait(Instant),
    WindowFull,
    Done,
}

struct Task {
    slot: usize,
    role: Role,
    settings: BindSettings,
    shared: Arc<Shared>,
    /// sequence_number -> (intended ns, written ns).
    in_flight: HashMap<u32, (u64, u64), KeyHash>,
    seq: u32,
    stats: Stats,
    last_publish: Instant,
    send_done: bool,
}

impl Task {
    fn next_seq(&mut self) -> u32 {
        self.seq = if self.seq >= 0x7FFF_FFFF {
            1
        } else {
            self.seq + 1
        };
        self.seq
    }

    fn now_ns(&self) -> u64 {
        self.shared
            .start
            .get()
            .map_or(0, |s| s.elapsed().as_nanos() as u64)
    }

    fn publish(&mut self) {
        let mut slot = self.shared.slots[self.slot]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.stats.take_into(&mut slot);
        self.last_publish = Instant::now();
    }

    /// Counts every message in flight as timed out (and, on a drop, as lost on disconnect).
    fn lose_in_flight(&mut self, disconnect: bool) {
        let n = self.in_flight.len() as u64;
        if n == 0 {
            return;
        }
        self.in_flight.clear();
        self.stats.timed_out += n;
        if disconnect {
            self.stats.lost_on_disconnect += n;
        }
        self.shared.in_flight.fetch_sub(n as i64, Ordering::Relaxed);
    }

    async fn connect_and_run(
        &mut self,
        phase: &mut watch::Receiver<Phase>,
        reconnect: bool,
    ) -> Result<ConnEnd, SlotError> {
        let addr = match &self.settings.connector {
            Connector::Tcp(a) | Connector::Tls { addr: a, .. } => a.clone(),
        };
        let tcp = tokio::time::timeout(BIND_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| SlotError::Unreachable(format!("connecting to {addr}: timed out")))?
            .map_err(|e| SlotError::Unreachable(format!("connecting to {addr}: {e}")))?;
        // Small PDUs written in batches: Nagle would only add delay.
        let _ = tcp.set_nodelay(true);
        match self.settings.connector.clone() {
            Connector::Tcp(_) => self.bind_and_run(tcp, phase, reconnect).await,
            Connector::Tls {
                connector,
                server_name,
                ..
            } => {
                let tls = connector
                    .connect(server_name, tcp)
                    .await
                    .map_err(|e| SlotError::Unreachable(format!("TLS with {addr}: {e}")))?;
                self.bind_and_run(tls, phase, reconnect).await
            }
        }
    }

    async fn bind_and_run<S>(
        &mut self,
        stream: S,
        phase: &mut watch::Receiver<Phase>,
        reconnect: bool,
    ) -> Result<ConnEnd, SlotError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut codec = SmppCodec::default();
        let mut rbuf = BytesMut::with_capacity(128 * 1024);
        let mut wbuf = BytesMut::with_capacity(128 * 1024);
        let bind_seq = self.next_seq();
        wire::put_bind(
            &mut wbuf,
            self.role.bind_id(),
            bind_seq,
            &self.settings.system_id,
            &self.settings.password,
        );
        let lost = |e: std::io::Error| SlotError::Unreachable(format!("bind: {e}"));
        wr.write_all(&wbuf).await.map_err(lost)?;
        wr.flush().await.map_err(lost)?;
        wbuf.clear();
        let deadline = tokio::time::Instant::now() + BIND_TIMEOUT;
        loop {
            let frame = loop {
                match codec.decode(&mut rbuf) {
                    Ok(Some(f)) => break f,
                    Ok(None) => {}
                    Err(e) => return Err(SlotError::Unreachable(format!("bind: {e}"))),
                }
                let n = tokio::time::timeout_at(deadline, rd.read_buf(&mut rbuf))
                    .await
                    .map_err(|_| SlotError::Unreachable("bind: no bind response".into()))?
                    .map_err(lost)?;
                if n == 0 {
                    return Err(SlotError::Unreachable(
                        "bind: the SMSC closed the connection".into(),
                    ));
                }
            };
            let h = frame.header;
            if h.command_id == self.role.bind_id() | 0x8000_0000 || h.command_id == id::GENERIC_NACK
            {
                if h.command_status != 0 {
                    return Err(SlotError::Refused(format!(
                        "bind refused by the SMSC: {:?} (0x{:08x})",
                        h.status(),
                        h.command_status
                    )));
                }
                break;
            }
            if h.command_id == id::ENQUIRE_LINK {
                wire::put_empty(&mut wbuf, id::ENQUIRE_LINK_RESP, 0, h.sequence_number);
            }
        }
        self.shared.ever_bound.store(true, Ordering::Relaxed);
        if reconnect {
            self.stats.reconnects += 1;
        }
        self.shared.bound.fetch_add(1, Ordering::Relaxed);
        let end = self
            .run_bound(&mut rd, &mut wr, &mut codec, &mut rbuf, &mut wbuf, phase)
            .await;
        self.shared.bound.fetch_sub(1, Ordering::Relaxed);
        Ok(end)
    }

    /// Claims and encodes every message that is due and fits the window.
    fn fill(&mut self, wbuf: &mut BytesMut) -> Fill {
        if !self.role.sends() || self.send_done {
            return Fill::Done;
        }
        let Some(start) = self.shared.start.get().copied() else {
            // Not started yet: the phase change to Run wakes the loop.
            return Fill::WindowFull;
        };
        let schedule = self.shared.schedule;
        let total = schedule.total();
        loop {
            let room = self.settings.window.saturating_sub(self.in_flight.len()) as u64;
            if room == 0 {
                return Fill::WindowFull;
            }
            let now_ns = self.now_ns();
            if now_ns >= self.shared.send_end_ns {
                self.send_done = true;
                return Fill::Done;
            }
            let due = schedule.due_at(now_ns as f64 / 1e9);
            let first = self.shared.next.load(Ordering::Relaxed);
            if first >= total {
                self.send_done = true;
                return Fill::Done;
            }
            if first >= due {
                let at = start + Duration::from_nanos(schedule.intended_ns(first));
                return Fill::Wait(at);
            }
            let k = (due - first).min(room).min(MAX_BATCH);
            if self
                .shared
                .next
                .compare_exchange(first, first + k, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let tolerance = self.settings.behind_tolerance.as_nanos() as u64;
            let mut dest = [0u8; 24];
            for i in first..first + k {
                let seq = self.next_seq();
                let n = self.settings.dests.put(i, &mut dest);
                self.settings.template.put(wbuf, seq, &dest[..n]);
                let intended = schedule.intended_ns(i);
                self.in_flight.insert(seq, (intended, now_ns));
                let lag = now_ns.saturating_sub(intended);
                record_ns(&mut self.stats.send_lag, lag);
                if lag > tolerance {
                    self.stats.behind_schedule += 1;
                }
            }
            self.stats.submitted += k;
            self.shared.in_flight.fetch_add(k as i64, Ordering::Relaxed);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_bound<R, W>(
        &mut self,
        rd: &mut R,
        wr: &mut W,
        codec: &mut SmppCodec,
        rbuf: &mut BytesMut,
        wbuf: &mut BytesMut,
        phase: &mut watch::Receiver<Phase>,
    ) -> ConnEnd
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut unbind_deadline: Option<tokio::time::Instant> = None;
        let mut need_flush = false;
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let wait = if unbind_deadline.is_none() {
                match self.fill(wbuf) {
                    Fill::Wait(at) => Some(tokio::time::Instant::from_std(at)),
                    Fill::WindowFull | Fill::Done => None,
                }
            } else {
                None
            };
            let ev = tokio::select! {
                r = rd.read_buf(rbuf) => Ev::Read(r),
                r = pump(wr, wbuf), if !wbuf.is_empty() || need_flush => r,
                _ = tokio::time::sleep_until(wait.unwrap_or(far)), if wait.is_some() => Ev::Due,
                _ = tick.tick() => Ev::Tick,
                _ = phase.changed(), if unbind_deadline.is_none() => Ev::Phase,
            };
            match ev {
                Ev::Read(Ok(0)) => return ConnEnd::Lost("the SMSC closed the connection".into()),
                Ev::Read(Err(e)) => return ConnEnd::Lost(format!("read: {e}")),
                Ev::Read(Ok(_)) => match self.on_frames(codec, rbuf, wbuf, unbind_deadline) {
                    Ok(None) => {}
                    Ok(Some(end)) => {
                        // Best effort: the peer's unbind gets its response before we go.
                        let _ = wr.write_all(wbuf).await;
                        let _ = wr.flush().await;
                        wbuf.clear();
                        return end;
                    }
                    Err(e) => return ConnEnd::Lost(format!("framing: {e}")),
                },
                Ev::Wrote(Ok(0)) => return ConnEnd::Lost("write: connection closed".into()),
                Ev::Wrote(Ok(n)) => {
                    let _ = wbuf.split_to(n);
                    need_flush = true;
                }
                Ev::Wrote(Err(e)) => return ConnEnd::Lost(format!("write: {e}")),
                Ev::Flushed(Ok(())) => need_flush = false,
                Ev::Flushed(Err(e)) => return ConnEnd::Lost(format!("flush: {e}")),
                Ev::Due => {}
                Ev::Tick => {
                    self.expire();
                    if self.last_publish.elapsed() >= PUBLISH_EVERY {
                        self.publish();
                    }
                    if let Some(d) = unbind_deadline
                        && tokio::time::Instant::now() >= d
                    {
                        self.lose_in_flight(false);
                        return ConnEnd::Stopped;
                    }
                }
                Ev::Phase => {
                    if *phase.borrow() == Phase::Stop {
                        let seq = self.next_seq();
                        wire::put_empty(wbuf, id::UNBIND, 0, seq);
                        unbind_deadline = Some(tokio::time::Instant::now() + UNBIND_GRACE);
                    }
                }
            }
        }
    }

    /// Times out requests whose response is overdue.
    fn expire(&mut self) {
        let now = self.now_ns();
        let limit = self.settings.response_timeout.as_nanos() as u64;
        let before = self.in_flight.len();
        self.in_flight
            .retain(|_, (_, sent)| now.saturating_sub(*sent) < limit);
        let n = (before - self.in_flight.len()) as u64;
        if n > 0 {
            self.stats.timed_out += n;
            self.shared.in_flight.fetch_sub(n as i64, Ordering::Relaxed);
        }
    }

    /// Handles every whole PDU in `rbuf`; `Some` when the connection is over.
    fn on_frames(
        &mut self,
        codec: &mut SmppCodec,
        rbuf: &mut BytesMut,
        wbuf: &mut BytesMut,
        unbinding: Option<tokio::time::Instant>,
    ) -> Result<Option<ConnEnd>, FrameError> {
        let now = self.now_ns();
        let mut completed = 0i64;
        let mut end = None;
        while let Some(frame) = codec.decode(rbuf)? {
            let h = frame.header;
            let seq = h.sequence_number;
            match h.command_id {
                id::SUBMIT_SM_RESP => {
                    if self.on_submit_resp(seq, h.command_status, frame.body(), now) {
                        completed += 1;
                    }
                }
                id::GENERIC_NACK => {
                    if self.on_submit_resp(seq, h.command_status.max(1), &[], now) {
                        completed += 1;
                    }
                }
                id::DELIVER_SM => {
                    wire::put_empty_id_resp(wbuf, id::DELIVER_SM_RESP, seq);
                    self.on_delivery(&frame, now);
                }
                id::DATA_SM => {
                    wire::put_empty_id_resp(wbuf, id::DATA_SM_RESP, seq);
                    self.on_delivery(&frame, now);
                }
                id::ENQUIRE_LINK => wire::put_empty(wbuf, id::ENQUIRE_LINK_RESP, 0, seq),
                id::ENQUIRE_LINK_RESP => {}
                id::UNBIND => {
                    wire::put_empty(wbuf, id::UNBIND_RESP, 0, seq);
                    end = Some(if unbinding.is_some() {
                        ConnEnd::Stopped
                    } else {
                        ConnEnd::Lost("the SMSC unbound".into())
                    });
                    break;
                }
                id::UNBIND_RESP if unbinding.is_some() => {
                    end = Some(ConnEnd::Stopped);
                    break;
                }
                other if other & 0x8000_0000 != 0 => self.stats.unexpected_responses += 1,
                _ => {
                    // ESME_RINVCMDID: a request this benchmark does not serve.
                    wire::put_empty(wbuf, id::GENERIC_NACK, 0x0000_0003, seq);
                    self.stats.unexpected_responses += 1;
                }
            }
        }
        if completed > 0 {
            self.shared
                .in_flight
                .fetch_sub(completed, Ordering::Relaxed);
        }
        if matches!(end, Some(ConnEnd::Stopped)) {
            self.lose_in_flight(false);
        }
        Ok(end)
    }

    /// A response to one of our submit_sm; true when it completed a message in flight.
    fn on_submit_resp(&mut self, seq: u32, status: u32, body: &[u8], now: u64) -> bool {
        let Some((intended, sent)) = self.in_flight.remove(&seq) else {
            self.stats.late_responses += 1;
            return false;
        };
        record_ns(&mut self.stats.submit_resp, now.saturating_sub(intended));
        record_ns(&mut self.stats.submit_service, now.saturating_sub(sent));
        if status != 0 {
            self.stats.rejected += 1;
            self.stats.count_status(status);
            return true;
        }
        self.stats.accepted += 1;
        if !self.shared.track_receipts {
            return true;
        }
        match wire::cstr(body) {
            Some(mid) if !mid.is_empty() => {
                match self.shared.book.accepted(wire::id_key(mid), intended) {
                    AcceptOutcome::Awaiting => self.stats.receipts_expected += 1,
                    AcceptOutcome::MatchedEarly(lat) => {
                        self.stats.receipts_expected += 1;
                        self.stats.receipts_matched += 1;
                        record_ns(&mut self.stats.receipt, lat);
                    }
                    AcceptOutcome::DuplicateId => self.stats.duplicate_message_ids += 1,
                }
            }
            _ => self.stats.accepted_without_id += 1,
        }
        true
    }

    fn on_receipt_id(&mut self, mid: &[u8], now: u64) {
        match self.shared.book.receipt(wire::id_key(mid), now) {
            ReceiptOutcome::Matched(lat) => {
                self.stats.receipts_matched += 1;
                record_ns(&mut self.stats.receipt, lat);
            }
            ReceiptOutcome::Duplicated => self.stats.receipts_duplicated += 1,
            ReceiptOutcome::Early => self.stats.receipts_early += 1,
        }
    }

    /// A deliver_sm or data_sm, counted by what [`wire::delivery`] makes of it.
    fn on_delivery(&mut self, frame: &smpp::frame::Frame, now: u64) {
        match wire::delivery(frame) {
            Delivery::Receipt(id) => self.on_receipt_id(id.as_bytes(), now),
            Delivery::Intermediate => self.stats.intermediate_notifications += 1,
            Delivery::Message => self.stats.mo_messages += 1,
            Delivery::Malformed => self.stats.malformed_pdus += 1,
        }
    }
}
