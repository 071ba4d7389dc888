//! What a run's bind tasks and its sending thread share: the run's state ([`Shared`]: the
//! schedule, the receipt book, the publishing slots, the registered connections), the
//! destinations, and each connection's outgoing side ([`Conn`]: its in-flight table and the
//! writes on its socket, with the marks that tie the kernel's transmit timestamps to the
//! messages: [`super::txtime`]). Both sides use it, so it sits below [`super::session`] and
//! [`super::sender`], and neither of those needs the other.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use super::receipts::{KeyHash, ReceiptBook};
use super::rxtime::on_run_clock;
use super::schedule::Schedule;
use super::stats::{Recorder, Seconds};
use super::txtime::TxMarks;

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
    pub fn put(&self, i: u64, buf: &mut [u8; 24]) -> usize {
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

/// What decides how a send is counted.
#[derive(Debug, Clone, Copy)]
pub struct SendRules {
    /// A send later than this after its intended time is behind schedule.
    pub tolerance_ns: u64,
    /// The run's duration: sends written before it count in the achieved rate.
    pub run_end_ns: u64,
}

/// What every bind slot of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// Intended send times.
    pub schedule: Schedule,
    /// The run's time zero, fixed once the slots are bound.
    pub start: std::sync::OnceLock<Instant>,
    /// No message is sent at or after this (nanoseconds after start).
    pub send_end_ns: u64,
    /// How sends are counted.
    pub rules: SendRules,
    /// Receipts tracked (registered delivery asked for).
    pub track_receipts: bool,
    /// The receipt book.
    pub book: ReceiptBook,
    /// One publishing slot per bind task.
    pub slots: Vec<Mutex<Seconds>>,
    /// The sending thread's publishing slot.
    pub sender_slot: Mutex<Seconds>,
    /// Messages written and not yet answered, timed out or lost, over all binds.
    pub in_flight: AtomicI64,
    /// Connections currently bound.
    pub bound: AtomicUsize,
    /// Set once any connection has bound.
    pub ever_bound: AtomicBool,
    /// An error that ends the run (bind refused, target unreachable).
    pub fatal: Mutex<Option<String>>,
    /// Why connections were lost (the first [`MAX_REASONS`]).
    pub disconnect_reasons: Mutex<Vec<String>>,
    /// Connections the sending thread may send on.
    conns: Mutex<Vec<Arc<Conn>>>,
    /// Bumped whenever `conns` changes, so the thread re-reads it only then.
    pub conns_version: AtomicU64,
    /// The sending thread, to wake it.
    pub sender: std::sync::OnceLock<std::thread::Thread>,
    /// Set by the sending thread while it waits for room in a window.
    pub want_room: AtomicBool,
    /// Tells the sending thread to end.
    pub stop_sender: AtomicBool,
}

/// Most disconnect reasons kept for the report.
pub const MAX_REASONS: usize = 10;

impl Shared {
    /// State for a run of `slots` bind slots.
    pub fn new(
        schedule: Schedule,
        send_end_ns: u64,
        rules: SendRules,
        track_receipts: bool,
        book: ReceiptBook,
        slots: usize,
    ) -> Self {
        Self {
            schedule,
            start: std::sync::OnceLock::new(),
            send_end_ns,
            rules,
            track_receipts,
            book,
            slots: (0..slots).map(|_| Mutex::new(Seconds::new())).collect(),
            sender_slot: Mutex::new(Seconds::new()),
            in_flight: AtomicI64::new(0),
            bound: AtomicUsize::new(0),
            ever_bound: AtomicBool::new(false),
            fatal: Mutex::new(None),
            disconnect_reasons: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
            conns_version: AtomicU64::new(0),
            sender: std::sync::OnceLock::new(),
            want_room: AtomicBool::new(false),
            stop_sender: AtomicBool::new(false),
        }
    }

    pub(super) fn set_fatal(&self, msg: String) {
        let mut f = self.fatal.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(msg);
        }
    }

    /// Nanoseconds since time zero (0 before it is fixed).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.start
            .get()
            .map_or(0, |s| s.elapsed().as_nanos() as u64)
    }

    /// Wakes the sending thread (room in a window, a new connection, leftovers, the end).
    pub fn wake_sender(&self) {
        if let Some(t) = self.sender.get() {
            t.unpark();
        }
    }

    /// A window has room again: wakes the sending thread if it is waiting for that.
    pub fn room_freed(&self) {
        if self.want_room.load(Ordering::Acquire) && self.want_room.swap(false, Ordering::AcqRel) {
            self.wake_sender();
        }
    }

    /// The connections the sending thread may use.
    pub fn conns(&self) -> Vec<Arc<Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn register(&self, conn: &Arc<Conn>) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(conn));
        self.conns_version.fetch_add(1, Ordering::Release);
        self.wake_sender();
    }

    pub(super) fn unregister(&self, conn: &Arc<Conn>) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|c| !Arc::ptr_eq(c, conn));
        self.conns_version.fetch_add(1, Ordering::Release);
    }
}

/// `written` of a message queued but not yet written.
pub const UNWRITTEN: u64 = u64::MAX;

/// One submit_sm in flight on a connection.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Intended send time, ns after time zero.
    pub intended: u64,
    /// Time taken just before the write that completed it, ns after time zero ([`UNWRITTEN`]
    /// until then): the send time for send lag, behind-schedule counting, the second it is
    /// counted in and the response timeout.
    pub written: u64,
    /// When the kernel transmitted that write, ns after time zero ([`UNWRITTEN`] until its
    /// notification is read, and for ever where there is none): the start of its service
    /// time when known.
    pub wire: u64,
}

impl Entry {
    /// A message queued for `intended`, not yet written.
    pub fn queued(intended: u64) -> Self {
        Self {
            intended,
            written: UNWRITTEN,
            wire: UNWRITTEN,
        }
    }

    /// Where its service time starts: the kernel's transmit time when known, else the time
    /// taken just before the write; and whether it was the kernel's.
    pub fn service_start(&self) -> (u64, bool) {
        if self.wire == UNWRITTEN {
            (self.written, false)
        } else {
            (self.wire, true)
        }
    }
}

/// What a connection shares between its bind task and the sending thread.
#[derive(Debug)]
pub struct Conn {
    /// A non-blocking duplicate of a plain TCP socket: whoever holds `state` writes on it.
    /// `None` over TLS, where the bind task writes.
    pub(super) direct: Option<std::net::TcpStream>,
    /// Most submit_sm outstanding.
    pub(super) window: usize,
    /// Wakes the bind task: bytes to write (TLS), or a write failed.
    pub wake: tokio::sync::Notify,
    /// Set while `state.pending` holds octets a direct write left behind.
    pub(super) leftover: AtomicBool,
    /// Everything the two sides touch.
    pub(super) state: Mutex<ConnState>,
}

/// The mutable part of a [`Conn`].
#[derive(Debug)]
pub struct ConnState {
    /// Accepting new messages (cleared when the connection is lost or closing).
    pub open: bool,
    /// Why a direct write failed; the bind task ends the connection with it.
    pub write_error: Option<String>,
    pub(super) seq: u32,
    /// sequence_number -> the message.
    pub in_flight: HashMap<u32, Entry, KeyHash>,
    /// Octets queued and not yet written.
    pub(super) pending: BytesMut,
    /// Octets ever written on this connection (a stream offset).
    pub(super) written_off: u64,
    /// Octets ever queued (a stream offset).
    pub(super) queued_off: u64,
    /// Queued submit_sm: the stream offset of their last octet and their sequence number.
    pub(super) pending_msgs: VecDeque<(u64, u32)>,
    /// Written submit_sm awaiting the kernel's transmit timestamp of their write.
    pub(super) tx: TxMarks,
}

impl Conn {
    /// A connection whose writes go through `direct` (plain TCP) or its bind task (`None`).
    /// `seq` is the last sequence number the bind exchange used; `tx_stamps` says whether
    /// `direct` gives the kernel's transmit timestamps ([`super::txtime::TxReader::enable`],
    /// before anything was written on it).
    pub fn new(
        direct: Option<std::net::TcpStream>,
        window: usize,
        seq: u32,
        tx_stamps: bool,
    ) -> Self {
        let tx = TxMarks::new(tx_stamps && direct.is_some(), window);
        Self {
            direct,
            window,
            wake: tokio::sync::Notify::new(),
            leftover: AtomicBool::new(false),
            state: Mutex::new(ConnState {
                open: true,
                write_error: None,
                seq,
                in_flight: HashMap::with_capacity_and_hasher(window * 2, KeyHash::default()),
                pending: BytesMut::with_capacity(64 * 1024),
                written_off: 0,
                queued_off: 0,
                pending_msgs: VecDeque::new(),
                tx,
            }),
        }
    }

    /// Whether writes go straight to the socket.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// The shared state, locked.
    pub fn lock(&self) -> MutexGuard<'_, ConnState> {
        // A poisoned lock only means the other side panicked mid-update; its counts are still
        // the best we have.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `bytes` (responses, unbind) and, on a direct connection, writes what it can.
    pub fn send_bytes(&self, bytes: &[u8], shared: &Shared, rec: &mut Recorder) {
        let mut st = self.lock();
        st.queue_bytes(bytes);
        if self.direct.is_some() {
            self.flush_locked(&mut st, shared, rec);
        }
    }

    /// Retries a direct connection's leftover octets.
    pub(super) fn retry(&self, shared: &Shared, rec: &mut Recorder) {
        let mut st = self.lock();
        self.flush_locked(&mut st, shared, rec);
    }

    /// Writes what `st.pending` holds to the direct socket until it is empty or the socket is
    /// full; a failure is recorded for the bind task, which ends the connection.
    pub(super) fn flush_locked(&self, st: &mut ConnState, shared: &Shared, rec: &mut Recorder) {
        let Some(sock) = &self.direct else { return };
        while !st.pending.is_empty() && st.write_error.is_none() {
            let t = shared.now_ns();
            match (&*sock).write(&st.pending) {
                Ok(0) => st.fail("write: the connection is closed".into()),
                Ok(n) => st.wrote(n, t, shared, rec),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => st.fail(format!("write: {e}")),
            }
        }
        if st.write_error.is_some() {
            self.wake.notify_one();
        }
        let left = !st.pending.is_empty() && st.write_error.is_none();
        self.leftover.store(left, Ordering::Relaxed);
        if left {
            shared.wake_sender();
        }
    }

    /// Gives the messages of each write the kernel stamped (`stamps`: (key, real-time clock),
    /// read from the error queue by [`super::txtime::TxReader`]) their transmit time on the
    /// run's clock, `now_ns` and `real_now` being one moment on both clocks. Under the lock,
    /// which the sending thread holds from before a write to after its marks are recorded, so
    /// a notification read while its write was still being recorded finds its marks.
    pub fn apply_tx_stamps(&self, stamps: &[(u32, Duration)], now_ns: u64, real_now: Duration) {
        if stamps.is_empty() {
            return;
        }
        let mut st = self.lock();
        let ConnState { tx, in_flight, .. } = &mut *st;
        for &(key, at) in stamps {
            // A stamp the clocks cannot place still settles its marks: those messages keep the
            // user-space stamp.
            let t = on_run_clock(now_ns, real_now, at);
            tx.settle(key, |seq| {
                if let (Some(t), Some(e)) = (t, in_flight.get_mut(&seq))
                    && e.written != UNWRITTEN
                {
                    // The write began after the user-space stamp; a conversion a few ns off
                    // must not put the transmission before it.
                    e.wire = t.max(e.written);
                }
            });
        }
    }

    /// Moves everything queued into `out` for the bind task to write now (TLS), stamping the
    /// messages in it with the current time.
    pub fn take_pending(&self, out: &mut BytesMut, shared: &Shared, rec: &mut Recorder) {
        let mut st = self.lock();
        if st.pending.is_empty() {
            return;
        }
        let t = shared.now_ns();
        out.extend_from_slice(&st.pending);
        let n = st.pending.len();
        st.wrote(n, t, shared, rec);
    }
}

impl ConnState {
    /// The next sequence number (1 to 0x7FFFFFFF, wrapping).
    pub fn next_seq(&mut self) -> u32 {
        self.seq = if self.seq >= 0x7FFF_FFFF {
            1
        } else {
            self.seq + 1
        };
        self.seq
    }

    pub(super) fn queue_bytes(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.queued_off += bytes.len() as u64;
    }

    pub(super) fn fail(&mut self, why: String) {
        self.open = false;
        self.write_error = Some(why);
    }

    /// `n` octets from the front of `pending` were written by a call that started at `t`:
    /// every message whose last octet they include is sent.
    pub(super) fn wrote(&mut self, n: usize, t: u64, shared: &Shared, rec: &mut Recorder) {
        self.pending.advance(n);
        self.written_off += n as u64;
        let mut sent = 0i64;
        while let Some(&(end, seq)) = self.pending_msgs.front() {
            if end > self.written_off {
                break;
            }
            self.pending_msgs.pop_front();
            if let Some(e) = self.in_flight.get_mut(&seq)
                && e.written == UNWRITTEN
            {
                e.written = t;
                self.tx.record(self.written_off, seq);
                rec.at(t).record_send(
                    e.intended,
                    t,
                    shared.rules.tolerance_ns,
                    shared.rules.run_end_ns,
                );
                sent += 1;
            }
        }
        if sent > 0 {
            shared.in_flight.fetch_add(sent, Ordering::Relaxed);
        }
    }

    /// Forgets everything queued or in flight (the connection is gone). Returns how many
    /// written messages were in flight; messages never written were never submitted, so they
    /// simply stay unsent.
    pub fn clear(&mut self) -> u64 {
        self.open = false;
        let written = self
            .in_flight
            .values()
            .filter(|e| e.written != UNWRITTEN)
            .count() as u64;
        self.in_flight.clear();
        self.pending.clear();
        self.pending_msgs.clear();
        self.tx.clear();
        written
    }

    /// Times out written messages older than `limit_ns` at `now`; returns how many.
    pub fn expire(&mut self, now: u64, limit_ns: u64) -> u64 {
        let before = self.in_flight.len();
        self.in_flight
            .retain(|_, e| e.written == UNWRITTEN || now.saturating_sub(e.written) < limit_ns);
        (before - self.in_flight.len()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::rxtime::{StampedTcp, real_now};
    use crate::smpp::schedule::RateProfile;
    use crate::smpp::txtime::TxReader;
    use std::io::Read as _;

    fn shared() -> Shared {
        let schedule = Schedule::new(RateProfile::Constant(1000.0), Duration::from_secs(1));
        let rules = SendRules {
            tolerance_ns: 1_000_000,
            run_end_ns: u64::MAX,
        };
        let s = Shared::new(schedule, u64::MAX, rules, false, ReceiptBook::new(), 1);
        s.start.set(Instant::now()).expect("time zero is set once");
        s
    }

    /// Queues one message of `len` octets on `conn` and writes it; returns its sequence number.
    fn send_one(conn: &Conn, len: usize, shared: &Shared, rec: &mut Recorder) -> u32 {
        let mut st = conn.lock();
        let seq = st.next_seq();
        st.queue_bytes(&vec![b'x'; len]);
        let end = st.queued_off;
        st.pending_msgs.push_back((end, seq));
        st.in_flight.insert(seq, Entry::queued(0));
        if conn.is_direct() {
            conn.flush_locked(&mut st, shared, rec);
        }
        seq
    }

    #[tokio::test]
    async fn a_writes_transmit_time_is_read_back_and_precedes_the_responses_arrival() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        client.set_nonblocking(true).expect("non-blocking");
        client.set_nodelay(true).expect("nodelay");
        let writer = client.try_clone().expect("dup");
        let reader = TxReader::enable(&writer);
        if !cfg!(target_os = "linux") {
            assert!(reader.is_none());
            return;
        }
        let mut reader = reader.expect("Linux gives TCP transmit timestamps");
        let tcp = tokio::net::TcpStream::from_std(client).expect("tokio stream");
        let mut stamped = StampedTcp::new(&tcp);
        // Receive stamping is switched on through deferred work (see rxtime's test).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let shared = shared();
        let mut rec = Recorder::default();
        let conn = Conn::new(Some(writer), 10, 0, true);
        let seq = send_one(&conn, 10, &shared, &mut rec);
        // The server reads the request whole and answers it.
        let mut req = [0u8; 10];
        server.read_exact(&mut req).expect("server reads");
        server.write_all(b"ok").expect("server answers");
        let mut rbuf = bytes::BytesMut::new();
        let (n, rx) = stamped.read(&tcp, &mut rbuf).await.expect("read");
        assert_eq!(n, 2);
        let rx = rx.expect("a receive stamp");
        // The notification is there by the time the response is read: the key is the offset
        // of the write's last octet, and the write left before the answer came.
        let mut found = Vec::new();
        reader.read(conn.direct.as_ref().expect("direct"), &mut found);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 9);
        assert!(
            found[0].1 <= rx,
            "sent {:?} after the answer {rx:?}",
            found[0].1
        );
        let now = shared.now_ns();
        conn.apply_tx_stamps(&found, now, real_now());
        let st = conn.lock();
        let e = st.in_flight[&seq];
        assert!(
            e.wire != UNWRITTEN && e.wire >= e.written && e.wire <= now,
            "{e:?}"
        );
        assert_eq!(e.service_start(), (e.wire, true));
        assert!(st.tx.is_empty(), "no mark outlives its notification");
    }

    #[test]
    fn without_the_kernels_stamp_service_starts_at_the_write() {
        let shared = shared();
        let mut rec = Recorder::default();
        // Over TLS the bind task writes: no marks, the user-space stamp stands.
        let tls = Conn::new(None, 10, 0, true);
        let seq = send_one(&tls, 10, &shared, &mut rec);
        tls.take_pending(&mut BytesMut::new(), &shared, &mut rec);
        let st = tls.lock();
        let e = st.in_flight[&seq];
        assert!(e.written != UNWRITTEN);
        assert_eq!(e.service_start(), (e.written, false));
        assert!(st.tx.is_empty());
        drop(st);

        // A direct connection whose first write's notification was lost, and whose second's
        // is too old to place: both keep the write time, and no mark is left behind.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        client.set_nonblocking(true).expect("non-blocking");
        let conn = Conn::new(Some(client), 10, 0, true);
        let first = send_one(&conn, 10, &shared, &mut rec);
        let second = send_one(&conn, 10, &shared, &mut rec);
        assert_eq!(conn.lock().tx.len(), 2);
        let old = real_now() - Duration::from_secs(60);
        conn.apply_tx_stamps(&[(19, old)], shared.now_ns(), real_now());
        let st = conn.lock();
        for seq in [first, second] {
            let e = st.in_flight[&seq];
            assert_eq!(e.service_start(), (e.written, false), "{e:?}");
        }
        assert!(st.tx.is_empty());
    }
}
