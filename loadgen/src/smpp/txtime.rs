//! When a request left: the kernel's transmit timestamp of each write on a direct (plain TCP)
//! connection, where it can be had.
//!
//! The sending thread stamps a message just before the write call that completes it. Between
//! that stamp and the packet leaving lie the system call and, on a busy machine, a
//! preemption or a wait: microseconds to hundreds of them that belong to loadgen, yet would
//! land in the service time at the tail. So on Linux the socket has `SO_TIMESTAMPING` on with
//! software transmit stamps (`SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE`), one
//! per write (`OPT_ID`, counted from the moment the option was set: `OPT_ID_TCP` where the
//! kernel has it, 6.2 and later), without the packet (`OPT_TSONLY`). The kernel stamps the
//! segment holding the write's last octet as the device takes it (on loopback, where a capture
//! sees it) and queues a notification on the socket's error queue whose `ee_data` is the
//! offset of that octet; [`TxReader`] reads them (`recvmsg` with `MSG_ERRQUEUE`), and
//! [`TxMarks`], kept with the connection's in-flight table, says which messages each write
//! completed.
//!
//! Race-free by order: the kernel queues a write's notification before the segment reaches
//! the peer, so before the response to it can exist; the bind task reads the error queue after
//! each read and before it matches the responses it read, and applies what it found under the
//! connection's lock, which the sending thread holds from before its write until the write's
//! marks are recorded. A message whose notification is missing when its response is matched
//! (lost because the error queue was full, never given, a send over TLS or off Linux) keeps
//! the user-space stamp, and the report counts how many service times had the kernel's.
//!
//! One loss is known and left: when writes wait in the send queue (the server is slow and
//! the congestion window full), TCP appends a later write to the segment holding an earlier
//! one's end and moves the stamp's key with it, so the earlier write gets no notification
//! (about 0.5-1 % of messages at 5,000/s on a busy 2-core machine). Sending each write as a
//! record of its own (`MSG_EOR`) kept them all, but in `bench/send_precision.sh` it made the
//! loopback connection send segments out of order and retransmit (`TcpRetransSegs`,
//! `TCPOFOQueue`; 16 ms at p99), changing what the server sees: not worth the stamps.
//!
//! tokio and the error queue: a queued notification wakes epoll with `EPOLLERR`, which tokio
//! files as `Ready::ERROR` (and, with `EPOLLOUT`, as write-closed) on the bind task's stream;
//! neither wakes a `readable()` wait, and the task never writes through tokio on a direct
//! connection, so the notifications cost a reactor wake and nothing else. They are collected
//! on the next read or tick instead.

use std::collections::VecDeque;
use std::time::Duration;

/// `ee_info` of a stamp taken as the packet left for the device (linux/errqueue.h; libc does
/// not name it).
#[cfg(target_os = "linux")]
const SCM_TSTAMP_SND: u32 = 0;

/// Writes whose notification is awaited, most: beyond it the oldest is forgotten (its messages
/// keep their user-space stamp), so a kernel that never notifies cannot grow the table.
pub fn marks_cap(window: usize) -> usize {
    2 * window + 1024
}

/// Which messages each write on a connection completed, until the kernel says when it left.
#[derive(Debug)]
pub struct TxMarks {
    /// Whether the socket gives transmit timestamps (marks are kept only then).
    enabled: bool,
    /// Stream offset just past a write's last octet (counted from when the option was set),
    /// and the sequence number of one message that write completed; in write order.
    marks: VecDeque<(u64, u32)>,
    cap: usize,
}

impl TxMarks {
    /// Marks for a connection with `window` messages outstanding at most.
    pub fn new(enabled: bool, window: usize) -> Self {
        Self {
            enabled,
            marks: VecDeque::new(),
            cap: marks_cap(window),
        }
    }

    /// Whether the kernel's stamps are awaited.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Writes awaiting their notification.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// Whether none is awaited.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// The write that ended at stream offset `end` completed message `seq`.
    pub fn record(&mut self, end: u64, seq: u32) {
        if !self.enabled {
            return;
        }
        if self.marks.len() >= self.cap {
            self.marks.pop_front();
        }
        self.marks.push_back((end, seq));
    }

    /// The kernel stamped the write whose last octet is at offset `key` (`ee_data`, 32 bits,
    /// wrapping): calls `stamped` with each message that write completed. Writes before it
    /// whose notification never came are forgotten; a repeated or stale key changes nothing.
    pub fn settle(&mut self, key: u32, mut stamped: impl FnMut(u32)) {
        let Some(&(front_end, _)) = self.marks.front() else {
            return;
        };
        // The key names an octet; the marks hold the offset just past one. Widen the 32-bit
        // key to the offset nearest the oldest awaited write (writes are never 2 GiB apart).
        let front_last = front_end - 1;
        let ahead = key.wrapping_sub(front_last as u32) as i32;
        if ahead < 0 {
            return;
        }
        let last = front_last + ahead as u64;
        while let Some(&(end, seq)) = self.marks.front() {
            if end - 1 > last {
                break;
            }
            self.marks.pop_front();
            if end - 1 == last {
                stamped(seq);
            }
        }
    }

    /// Forgets everything (the connection is gone).
    pub fn clear(&mut self) {
        self.marks.clear();
    }
}

/// Reads a direct socket's transmit notifications. Owned by the bind task.
#[derive(Debug)]
pub struct TxReader {
    /// Room for one notification's control messages.
    #[cfg(target_os = "linux")]
    cmsg: Vec<u8>,
}

impl TxReader {
    /// Turns transmit timestamps on for `sock` before anything is written on it through
    /// [`super::shared::Conn`]; `None` when the system or the socket refuses (the user-space
    /// stamps then stand).
    pub fn enable(sock: &std::net::TcpStream) -> Option<Self> {
        #[cfg(target_os = "linux")]
        {
            use nix::sys::socket::{TimestampingFlag as F, setsockopt, sockopt::Timestamping};
            let base = F::SOF_TIMESTAMPING_TX_SOFTWARE
                | F::SOF_TIMESTAMPING_SOFTWARE
                | F::SOF_TIMESTAMPING_OPT_ID
                | F::SOF_TIMESTAMPING_OPT_TSONLY;
            // OPT_ID_TCP counts from the octets queued, not from those acknowledged: the same
            // origin as the connection's write offset whatever is unacknowledged now. Older
            // kernels refuse it; without it the origin is the first unacknowledged octet, the
            // same here, since the bind response acknowledged everything sent before it.
            let id_tcp = F::from_bits_retain(nix::libc::SOF_TIMESTAMPING_OPT_ID_TCP);
            let on = setsockopt(sock, Timestamping, &(base | id_tcp)).is_ok()
                || setsockopt(sock, Timestamping, &base).is_ok();
            on.then(|| Self {
                cmsg: nix::cmsg_space!(
                    nix::sys::socket::Timestamps,
                    nix::libc::sock_extended_err,
                    nix::libc::sockaddr_in6
                ),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = sock;
            None
        }
    }

    /// Reads every notification queued on `sock`, appending (key, transmit time on the
    /// real-time clock since the Unix epoch) to `out`. Never blocks.
    pub fn read(&mut self, sock: &std::net::TcpStream, out: &mut Vec<(u32, Duration)>) {
        #[cfg(target_os = "linux")]
        {
            use nix::errno::Errno;
            use nix::sys::socket::{ControlMessageOwned as C, MsgFlags, recvmsg};
            use std::os::fd::AsRawFd;
            loop {
                let r = recvmsg::<()>(
                    sock.as_raw_fd(),
                    &mut [],
                    Some(&mut self.cmsg),
                    MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
                );
                let msg = match r {
                    Ok(m) => m,
                    Err(Errno::EINTR) => continue,
                    // EAGAIN: the queue is empty; anything else: nothing more to read now.
                    Err(_) => return,
                };
                let (mut key, mut at) = (None, None);
                // A truncated notification (it cannot be, with the room given) is skipped.
                let Ok(cmsgs) = msg.cmsgs() else { continue };
                for c in cmsgs {
                    match c {
                        C::ScmTimestampsns(ts) => {
                            let t = ts.system;
                            if t.tv_sec() > 0 && t.tv_nsec() >= 0 {
                                at = Some(Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32));
                            }
                        }
                        C::Ipv4RecvErr(e, _) | C::Ipv6RecvErr(e, _)
                            if e.ee_origin == nix::libc::SO_EE_ORIGIN_TIMESTAMPING
                                && e.ee_info == SCM_TSTAMP_SND =>
                        {
                            key = Some(e.ee_data);
                        }
                        _ => {}
                    }
                }
                if let (Some(k), Some(t)) = (key, at) {
                    out.push((k, t));
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (sock, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_stamps_the_messages_its_write_completed_and_forgets_skipped_writes() {
        let mut m = TxMarks::new(true, 10);
        // Write 1 (octets 0..100) completed seq 1 and 2; write 2 (..150) seq 3; write 3
        // (..230) seq 4.
        m.record(100, 1);
        m.record(100, 2);
        m.record(150, 3);
        m.record(230, 4);
        let mut got = Vec::new();
        m.settle(99, |s| got.push(s));
        assert_eq!(got, [1, 2]);
        // Write 2's notification was lost: write 3's forgets it and stamps only seq 4.
        got.clear();
        m.settle(229, |s| got.push(s));
        assert_eq!(got, [4]);
        assert!(m.is_empty());
        // A repeated key (a retransmission) changes nothing.
        m.record(300, 5);
        m.settle(229, |s| got.push(s));
        assert_eq!((got.len(), m.len()), (1, 1));
    }

    #[test]
    fn keys_wrap_at_32_bits() {
        let mut m = TxMarks::new(true, 10);
        let end = (1u64 << 32) + 10;
        m.record((1u64 << 32) - 5, 1);
        m.record(end, 2);
        let mut got = Vec::new();
        m.settle(9, |s| got.push(s));
        assert_eq!(got, [2], "write 1 skipped, write 2 stamped across the wrap");
    }

    #[test]
    fn marks_are_bounded_and_kept_only_when_enabled() {
        let mut m = TxMarks::new(true, 1);
        for i in 0..10_000u32 {
            m.record(u64::from(i + 1) * 10, i);
        }
        assert_eq!(m.len(), marks_cap(1));
        let mut off = TxMarks::new(false, 1);
        off.record(10, 1);
        assert!(off.is_empty());
    }
}
