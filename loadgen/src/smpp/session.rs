//! One bind slot of `loadgen smpp`: connect, bind, read responses and receipts, reconnect
//! with backoff, unbind at the end.
//!
//! Sending is not done here but by the sending thread ([`super::sender`]), which owns the
//! schedule: once bound, a slot that sends registers its connection ([`super::shared::Conn`]) with it. Over
//! plain TCP the thread writes on a non-blocking duplicate of the socket; over TLS it queues
//! the bytes and wakes this task, which writes them. This task reads in bulk, matches
//! responses by sequence number in the connection's in-flight table (locked per response, so
//! the thread is held up only briefly), answers deliveries, expires overdue requests, and
//! hands its counts to the reporter every [`super::stats::PUBLISH_EVERY`]. Messages in flight
//! when a connection drops are counted as timed out (and as lost on disconnect), never
//! forgotten; messages queued but never written stay unsent.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use smpp::frame::{FrameError, SmppCodec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::codec::Decoder;

use super::receipts::{AcceptOutcome, ReceiptOutcome};
use super::rxtime::{StampedTcp, arrival_ns, real_now};
use super::shared::{Conn, MAX_REASONS, Shared, UNWRITTEN};
use super::stats::{PUBLISH_EVERY, Recorder, record_ns};
use super::txtime::TxReader;
use super::wire::{self, Delivery, id};

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
}

enum Ev {
    /// Octets read, and the kernel's receive time of the last packet when it gave one.
    Read(std::io::Result<(usize, Option<Duration>)>),
    Wrote(std::io::Result<usize>),
    Flushed(std::io::Result<()>),
    Wake,
    Tick,
    Phase,
}

/// Writes what is buffered, or flushes once it is all written (TLS keeps records in its own
/// buffer until flushed). Cancel-safe: a write that did not complete wrote nothing. Never
/// completes without a writer (direct connections write elsewhere).
async fn pump<W: AsyncWrite + Unpin>(wr: Option<&mut W>, wbuf: &[u8]) -> Ev {
    let Some(wr) = wr else {
        return std::future::pending().await;
    };
    if wbuf.is_empty() {
        Ev::Flushed(wr.flush().await)
    } else {
        Ev::Wrote(wr.write(wbuf).await)
    }
}

/// Where a bound connection's octets come from.
enum Source<'a, R> {
    /// Plain TCP, read with the kernel's receive timestamps, and the reader of its transmit
    /// timestamps when the socket gives them.
    Tcp(&'a TcpStream, StampedTcp, Option<TxReader>),
    /// Anything else (TLS): the time of the read stands.
    Stream(&'a mut R),
}

impl<R: AsyncRead + Unpin> Source<'_, R> {
    async fn read(&mut self, rbuf: &mut BytesMut) -> std::io::Result<(usize, Option<Duration>)> {
        match self {
            Source::Tcp(tcp, stamped, _) => stamped.read(tcp, rbuf).await,
            Source::Stream(rd) => rd.read_buf(rbuf).await.map(|n| (n, None)),
        }
    }

    /// Collects the transmit timestamps the kernel has queued for `conn`'s writes and gives
    /// them to its in-flight messages. Called after each read, before the responses in it are
    /// matched: a write's notification is queued before its segment reaches the server, so
    /// every response read has its request's stamp in hand (see [`super::txtime`]).
    fn collect_tx(&mut self, conn: &Conn, found: &mut Vec<(u32, Duration)>, shared: &Shared) {
        let (Source::Tcp(_, _, Some(reader)), Some(sock)) = (self, conn.direct.as_ref()) else {
            return;
        };
        found.clear();
        reader.read(sock, found);
        if found.is_empty() {
            return;
        }
        // One moment on both clocks, taken together after the reads: a system call (and a
        // preemption in it) between the two would shift every stamp by its length.
        let now = shared.now_ns();
        let real = real_now();
        conn.apply_tx_stamps(found, now, real);
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
        seq: 0,
        rec: Recorder::default(),
        last_publish: Instant::now(),
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
                let now = task.shared.now_ns();
                task.rec.at(now).disconnects += 1;
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

struct Task {
    slot: usize,
    role: Role,
    settings: BindSettings,
    shared: Arc<Shared>,
    /// Sequence numbers of the bind exchange (the connection continues from there).
    seq: u32,
    rec: Recorder,
    last_publish: Instant,
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

    fn publish(&mut self) {
        self.rec.publish(&self.shared.slots[self.slot]);
        self.last_publish = Instant::now();
    }

    /// Ends `conn`: every written message in flight is counted as timed out (and, on a drop,
    /// as lost on disconnect).
    fn lose_in_flight(&mut self, conn: &Conn, disconnect: bool) {
        let n = conn.lock().clear();
        if n == 0 {
            return;
        }
        let now = self.shared.now_ns();
        let st = self.rec.at(now);
        st.timed_out += n;
        if disconnect {
            st.lost_on_disconnect += n;
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
        let mut tcp = tokio::time::timeout(BIND_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| SlotError::Unreachable(format!("connecting to {addr}: timed out")))?
            .map_err(|e| SlotError::Unreachable(format!("connecting to {addr}: {e}")))?;
        // Small PDUs, each written when due: Nagle would only add delay.
        let _ = tcp.set_nodelay(true);
        let mut rbuf = BytesMut::with_capacity(128 * 1024);
        match self.settings.connector.clone() {
            Connector::Tcp(_) => {
                self.bind(&mut tcp, &mut rbuf).await?;
                // The sending thread writes on a duplicate of the socket (same connection,
                // same non-blocking mode); this task keeps reading through tokio.
                let unreachable = |e: std::io::Error| SlotError::Unreachable(format!("{e}"));
                let std = tcp.into_std().map_err(unreachable)?;
                let writer = std.try_clone().map_err(unreachable)?;
                let tcp = TcpStream::from_std(std).map_err(unreachable)?;
                // Transmit timestamps count octets from here: on before the first direct write.
                let tx = TxReader::enable(&writer);
                let conn = Arc::new(Conn::new(
                    Some(writer),
                    self.settings.window,
                    self.seq,
                    tx.is_some(),
                ));
                let src = Source::<tokio::io::Empty>::Tcp(&tcp, StampedTcp::new(&tcp), tx);
                Ok(self
                    .bound(
                        conn,
                        src,
                        None::<&mut tokio::io::Sink>,
                        rbuf,
                        phase,
                        reconnect,
                    )
                    .await)
            }
            Connector::Tls {
                connector,
                server_name,
                ..
            } => {
                let mut tls = connector
                    .connect(server_name, tcp)
                    .await
                    .map_err(|e| SlotError::Unreachable(format!("TLS with {addr}: {e}")))?;
                self.bind(&mut tls, &mut rbuf).await?;
                let (mut rd, mut wr) = tokio::io::split(tls);
                let conn = Arc::new(Conn::new(None, self.settings.window, self.seq, false));
                Ok(self
                    .bound(
                        conn,
                        Source::Stream(&mut rd),
                        Some(&mut wr),
                        rbuf,
                        phase,
                        reconnect,
                    )
                    .await)
            }
        }
    }

    /// The bind exchange; bytes read past the bind response stay in `rbuf`.
    async fn bind<S>(&mut self, stream: &mut S, rbuf: &mut BytesMut) -> Result<(), SlotError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut codec = SmppCodec::default();
        let mut wbuf = BytesMut::new();
        let bind_seq = self.next_seq();
        wire::put_bind(
            &mut wbuf,
            self.role.bind_id(),
            bind_seq,
            &self.settings.system_id,
            &self.settings.password,
        );
        let lost = |e: std::io::Error| SlotError::Unreachable(format!("bind: {e}"));
        stream.write_all(&wbuf).await.map_err(lost)?;
        stream.flush().await.map_err(lost)?;
        wbuf.clear();
        let deadline = tokio::time::Instant::now() + BIND_TIMEOUT;
        loop {
            let frame = loop {
                match codec.decode(rbuf) {
                    Ok(Some(f)) => break f,
                    Ok(None) => {}
                    Err(e) => return Err(SlotError::Unreachable(format!("bind: {e}"))),
                }
                let n = tokio::time::timeout_at(deadline, stream.read_buf(rbuf))
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
                return Ok(());
            }
            if h.command_id == id::ENQUIRE_LINK {
                wire::put_empty(&mut wbuf, id::ENQUIRE_LINK_RESP, 0, h.sequence_number);
                stream.write_all(&wbuf).await.map_err(lost)?;
                stream.flush().await.map_err(lost)?;
                wbuf.clear();
            }
        }
    }

    /// Runs a bound connection: registers it with the sending thread (when this slot sends),
    /// reads until it ends, and accounts for what was in flight.
    #[allow(clippy::too_many_arguments)]
    async fn bound<R, W>(
        &mut self,
        conn: Arc<Conn>,
        src: Source<'_, R>,
        wr: Option<&mut W>,
        rbuf: BytesMut,
        phase: &mut watch::Receiver<Phase>,
        reconnect: bool,
    ) -> ConnEnd
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        self.shared.ever_bound.store(true, Ordering::Relaxed);
        if reconnect {
            let now = self.shared.now_ns();
            self.rec.at(now).reconnects += 1;
        }
        self.shared.bound.fetch_add(1, Ordering::Relaxed);
        if self.role.sends() {
            self.shared.register(&conn);
        }
        let end = self.run_bound(&conn, src, wr, rbuf, phase).await;
        self.shared.unregister(&conn);
        self.shared.bound.fetch_sub(1, Ordering::Relaxed);
        self.lose_in_flight(&conn, matches!(end, ConnEnd::Lost(_)));
        // Windows of the other connections may now take what this one would have.
        self.shared.room_freed();
        end
    }

    /// Queues `bytes` for the SMSC: written at once on a direct connection, or appended to
    /// the task's own write buffer over TLS.
    fn out(&mut self, conn: &Conn, wbuf: &mut BytesMut) {
        if conn.is_direct() && !wbuf.is_empty() {
            conn.send_bytes(wbuf, &self.shared, &mut self.rec);
            wbuf.clear();
        }
    }

    async fn run_bound<R, W>(
        &mut self,
        conn: &Arc<Conn>,
        mut src: Source<'_, R>,
        mut wr: Option<&mut W>,
        mut rbuf: BytesMut,
        phase: &mut watch::Receiver<Phase>,
    ) -> ConnEnd
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut codec = SmppCodec::default();
        let mut wbuf = BytesMut::with_capacity(64 * 1024);
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut unbind_deadline: Option<tokio::time::Instant> = None;
        let mut need_flush = false;
        let mut tx_found = Vec::new();
        // Bytes that came with the bind response.
        if !rbuf.is_empty() {
            let now = self.shared.now_ns();
            match self.on_frames(conn, &mut codec, &mut rbuf, &mut wbuf, None, now) {
                Ok(None) => self.out(conn, &mut wbuf),
                Ok(Some(end)) => return end,
                Err(e) => return ConnEnd::Lost(format!("framing: {e}")),
            }
        }
        loop {
            let writing = wr.is_some() && (!wbuf.is_empty() || need_flush);
            let ev = tokio::select! {
                r = src.read(&mut rbuf) => Ev::Read(r),
                r = pump(wr.as_deref_mut(), &wbuf), if writing => r,
                _ = conn.wake.notified() => Ev::Wake,
                _ = tick.tick() => Ev::Tick,
                _ = phase.changed(), if unbind_deadline.is_none() => Ev::Phase,
            };
            match ev {
                Ev::Read(Ok((0, _))) => {
                    return ConnEnd::Lost("the SMSC closed the connection".into());
                }
                Ev::Read(Err(e)) => return ConnEnd::Lost(format!("read: {e}")),
                Ev::Read(Ok((_, received))) => {
                    let now = self.shared.now_ns();
                    let at = arrival_ns(now, received);
                    src.collect_tx(conn, &mut tx_found, &self.shared);
                    let ended =
                        self.on_frames(conn, &mut codec, &mut rbuf, &mut wbuf, unbind_deadline, at);
                    match ended {
                        Ok(None) => self.out(conn, &mut wbuf),
                        Ok(Some(end)) => {
                            // Best effort: the peer's unbind gets its response before we go.
                            if let Some(w) = wr.as_deref_mut() {
                                let _ = w.write_all(&wbuf).await;
                                let _ = w.flush().await;
                            } else {
                                self.out(conn, &mut wbuf);
                            }
                            return end;
                        }
                        Err(e) => return ConnEnd::Lost(format!("framing: {e}")),
                    }
                }
                Ev::Wrote(Ok(0)) => return ConnEnd::Lost("write: connection closed".into()),
                Ev::Wrote(Ok(n)) => {
                    let _ = wbuf.split_to(n);
                    need_flush = true;
                }
                Ev::Wrote(Err(e)) => return ConnEnd::Lost(format!("write: {e}")),
                Ev::Flushed(Ok(())) => need_flush = false,
                Ev::Flushed(Err(e)) => return ConnEnd::Lost(format!("flush: {e}")),
                Ev::Wake => {
                    if let Some(e) = conn.lock().write_error.clone() {
                        return ConnEnd::Lost(e);
                    }
                    if !conn.is_direct() {
                        conn.take_pending(&mut wbuf, &self.shared, &mut self.rec);
                    }
                }
                Ev::Tick => {
                    // Notifications for writes not yet answered, so the queue (bounded by the
                    // socket's receive buffer) does not fill while responses are slow.
                    src.collect_tx(conn, &mut tx_found, &self.shared);
                    self.expire(conn);
                    if self.last_publish.elapsed() >= PUBLISH_EVERY {
                        self.publish();
                    }
                    if let Some(d) = unbind_deadline
                        && tokio::time::Instant::now() >= d
                    {
                        return ConnEnd::Stopped;
                    }
                }
                Ev::Phase => {
                    if *phase.borrow() == Phase::Stop {
                        let seq = {
                            let mut st = conn.lock();
                            // Nothing more is sent on a closing connection.
                            st.open = false;
                            st.next_seq()
                        };
                        wire::put_empty(&mut wbuf, id::UNBIND, 0, seq);
                        self.out(conn, &mut wbuf);
                        unbind_deadline = Some(tokio::time::Instant::now() + UNBIND_GRACE);
                    }
                }
            }
        }
    }

    /// Times out requests whose response is overdue.
    fn expire(&mut self, conn: &Conn) {
        let now = self.shared.now_ns();
        let limit = self.settings.response_timeout.as_nanos() as u64;
        let n = conn.lock().expire(now, limit);
        if n > 0 {
            self.rec.at(now).timed_out += n;
            self.shared.in_flight.fetch_sub(n as i64, Ordering::Relaxed);
            self.shared.room_freed();
        }
    }

    /// Handles every whole PDU in `rbuf`; `Some` when the connection is over.
    fn on_frames(
        &mut self,
        conn: &Conn,
        codec: &mut SmppCodec,
        rbuf: &mut BytesMut,
        wbuf: &mut BytesMut,
        unbinding: Option<tokio::time::Instant>,
        now: u64,
    ) -> Result<Option<ConnEnd>, FrameError> {
        // `now` is one time for the whole read, taken before any of it is handled (and
        // before any lock is waited for): the kernel's receive time where there is one.
        let mut completed = 0i64;
        let mut end = None;
        while let Some(frame) = codec.decode(rbuf)? {
            let h = frame.header;
            let seq = h.sequence_number;
            match h.command_id {
                id::SUBMIT_SM_RESP => {
                    if self.on_submit_resp(conn, seq, h.command_status, frame.body(), now) {
                        completed += 1;
                    }
                }
                id::GENERIC_NACK => {
                    if self.on_submit_resp(conn, seq, h.command_status.max(1), &[], now) {
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
                other if other & 0x8000_0000 != 0 => self.rec.at(now).unexpected_responses += 1,
                _ => {
                    // ESME_RINVCMDID: a request this benchmark does not serve.
                    wire::put_empty(wbuf, id::GENERIC_NACK, 0x0000_0003, seq);
                    self.rec.at(now).unexpected_responses += 1;
                }
            }
        }
        if completed > 0 {
            self.shared
                .in_flight
                .fetch_sub(completed, Ordering::Relaxed);
            self.shared.room_freed();
        }
        Ok(end)
    }

    /// A response to one of our submit_sm; true when it completed a message in flight.
    fn on_submit_resp(
        &mut self,
        conn: &Conn,
        seq: u32,
        status: u32,
        body: &[u8],
        now: u64,
    ) -> bool {
        let entry = conn.lock().in_flight.remove(&seq);
        let st = self.rec.at(now);
        let Some(e) = entry else {
            st.late_responses += 1;
            return false;
        };
        if e.written == UNWRITTEN {
            // A response to a request not yet written whole cannot be ours: the SMSC answered
            // a sequence number we had only half sent. Count it as unexpected and keep the
            // request (its own response may still come).
            conn.lock().in_flight.insert(seq, e);
            st.unexpected_responses += 1;
            return false;
        }
        record_ns(&mut st.submit_resp, now.saturating_sub(e.intended));
        let (start, kernel) = e.service_start();
        record_ns(&mut st.submit_service, now.saturating_sub(start));
        st.service_from_kernel += u64::from(kernel);
        if status != 0 {
            st.rejected += 1;
            st.count_status(status);
            return true;
        }
        st.accepted += 1;
        if !self.shared.track_receipts {
            return true;
        }
        match wire::cstr(body) {
            Some(mid) if !mid.is_empty() => {
                match self.shared.book.accepted(wire::id_key(mid), e.intended) {
                    AcceptOutcome::Awaiting => st.receipts_expected += 1,
                    AcceptOutcome::MatchedEarly(lat) => {
                        st.receipts_expected += 1;
                        st.receipts_matched += 1;
                        record_ns(&mut st.receipt, lat);
                    }
                    AcceptOutcome::DuplicateId => st.duplicate_message_ids += 1,
                }
            }
            _ => st.accepted_without_id += 1,
        }
        true
    }

    fn on_receipt_id(&mut self, mid: &[u8], now: u64) {
        let outcome = self.shared.book.receipt(wire::id_key(mid), now);
        let st = self.rec.at(now);
        match outcome {
            ReceiptOutcome::Matched(lat) => {
                st.receipts_matched += 1;
                record_ns(&mut st.receipt, lat);
            }
            ReceiptOutcome::Duplicated => st.receipts_duplicated += 1,
            ReceiptOutcome::Early => st.receipts_early += 1,
        }
    }

    /// A deliver_sm or data_sm, counted by what [`wire::delivery`] makes of it.
    fn on_delivery(&mut self, frame: &smpp::frame::Frame, now: u64) {
        match wire::delivery(frame) {
            Delivery::Receipt(id) => self.on_receipt_id(id.as_bytes(), now),
            Delivery::Intermediate => self.rec.at(now).intermediate_notifications += 1,
            Delivery::Message => self.rec.at(now).mo_messages += 1,
            Delivery::Malformed => self.rec.at(now).malformed_pdus += 1,
        }
    }
}
