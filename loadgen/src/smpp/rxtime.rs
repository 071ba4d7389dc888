//! When a response arrived: the kernel's receive timestamp of its packet, where it can be had.
//!
//! A bind task runs on the tokio runtime, and between a response reaching the socket and the
//! task reading it lie an epoll wake-up and, on a busy machine, a wait for a core: tens to
//! hundreds of microseconds that belong to loadgen, not to the server, yet would end up in
//! every latency it reports. So on plain TCP (Linux) the socket has `SO_TIMESTAMPNS` on and
//! each read is a `recvmsg` whose control message carries the time the kernel received the
//! last packet the read consumed: the time a packet capture shows. That time is on the
//! real-time clock; [`arrival_ns`] moves it onto the run's monotonic clock by its age at the
//! moment of the read, so a clock adjustment elsewhere in the run cannot skew it. Over TLS, on
//! other systems, or when the kernel gives no timestamp, the time of the read stands.

use std::io;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use tokio::net::TcpStream;

/// Octets read per call.
const READ_CHUNK: usize = 64 * 1024;

/// A receive timestamp older than this at the moment of the read is not believed (the
/// real-time clock was stepped between the packet and the read): the read time stands.
const MAX_AGE: Duration = Duration::from_secs(1);

/// Reads a plain TCP socket with the kernel's receive timestamps.
#[derive(Debug)]
pub struct StampedTcp {
    /// recvmsg needs initialised memory to read into; bytes are copied on into the read buffer.
    scratch: Vec<u8>,
    /// Room for one timestamp control message.
    #[cfg(target_os = "linux")]
    cmsg: Vec<u8>,
    /// Whether the socket agreed to timestamp.
    enabled: bool,
}

impl StampedTcp {
    /// Turns timestamps on for `tcp` (best effort: without them, reads are plain).
    pub fn new(tcp: &TcpStream) -> Self {
        #[cfg(target_os = "linux")]
        {
            use nix::sys::socket::{setsockopt, sockopt::ReceiveTimestampns};
            let enabled = setsockopt(tcp, ReceiveTimestampns, &true).is_ok();
            Self {
                scratch: vec![0; READ_CHUNK],
                // With transmit timestamps on (super::txtime), TCP reads carry the receive
                // time a second time, as SCM_TIMESTAMPING: room for both, or the control
                // data would be truncated and the read's stamp lost.
                cmsg: nix::cmsg_space!(nix::sys::time::TimeSpec, nix::sys::socket::Timestamps),
                enabled,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = tcp;
            Self {
                scratch: vec![0; READ_CHUNK],
                enabled: false,
            }
        }
    }

    /// Reads what is there into `rbuf`; returns the octets read and, when the kernel gave one,
    /// the receive time of the last packet read (real-time clock, since the Unix epoch).
    /// Cancel-safe: nothing is consumed until the read succeeds.
    pub async fn read(
        &mut self,
        tcp: &TcpStream,
        rbuf: &mut BytesMut,
    ) -> io::Result<(usize, Option<Duration>)> {
        loop {
            tcp.readable().await?;
            let r = tcp.try_io(tokio::io::Interest::READABLE, || self.recv(tcp));
            match r {
                Ok((n, at)) => {
                    rbuf.extend_from_slice(&self.scratch[..n]);
                    return Ok((n, at));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn recv(&mut self, tcp: &TcpStream) -> io::Result<(usize, Option<Duration>)> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        use std::os::fd::AsRawFd;
        if !self.enabled {
            let n = tcp.try_read(&mut self.scratch)?;
            return Ok((n, None));
        }
        let mut iov = [io::IoSliceMut::new(&mut self.scratch)];
        let msg = recvmsg::<()>(
            tcp.as_raw_fd(),
            &mut iov,
            Some(&mut self.cmsg),
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        let mut at = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmTimestampns(ts) = c
                    && ts.tv_sec() >= 0
                    && ts.tv_nsec() >= 0
                {
                    at = Some(Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32));
                }
            }
        }
        Ok((msg.bytes, at))
    }

    #[cfg(not(target_os = "linux"))]
    fn recv(&mut self, tcp: &TcpStream) -> io::Result<(usize, Option<Duration>)> {
        let n = tcp.try_read(&mut self.scratch)?;
        Ok((n, None))
    }
}

/// The arrival time on the run's clock (ns after time zero), given the time of the read
/// (`now_ns`, on that clock) and the kernel's receive timestamp (real-time clock), if any.
pub fn arrival_ns(now_ns: u64, kernel: Option<Duration>) -> u64 {
    kernel
        .and_then(|received| on_run_clock(now_ns, real_now(), received))
        .unwrap_or(now_ns)
}

/// The real-time clock now, since the Unix epoch (zero before it, which no stamp passes).
pub fn real_now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// A kernel timestamp (real-time clock, `at`) moved onto the run's clock by its age, given
/// the same moment on both clocks (`now_ns` on the run's, `real_now` on the real-time one);
/// `None` when it is from the future or older than [`MAX_AGE`] (the clock was stepped).
pub fn on_run_clock(now_ns: u64, real_now: Duration, at: Duration) -> Option<u64> {
    match real_now.checked_sub(at) {
        Some(age) if age <= MAX_AGE => Some(now_ns.saturating_sub(age.as_nanos() as u64)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_is_the_read_time_less_the_packets_age() {
        let real_now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970");
        let t = arrival_ns(5_000_000_000, Some(real_now - Duration::from_micros(300)));
        // The packet was 300 µs old when read (and a little more by the time arrival_ns
        // looked at the clock).
        assert!(t <= 5_000_000_000 - 300_000, "{t}");
        assert!(t > 5_000_000_000 - 300_000 - 50_000_000, "{t}");
        // No timestamp, one from the future, or one older than believable: the read time.
        assert_eq!(arrival_ns(7, None), 7);
        assert_eq!(arrival_ns(7, Some(real_now + Duration::from_secs(60))), 7);
        assert_eq!(arrival_ns(7, Some(real_now - Duration::from_secs(60))), 7);
    }

    #[tokio::test]
    async fn reads_carry_the_kernels_receive_time() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // The kernel stamps only packets that arrive after the option is set, and the first
        // socket to ask turns stamping on through deferred work (net_enable_timestamp), so the
        // client writes a moment after the option is set, as loadgen's first response arrives
        // well after its session set it.
        let (go, ready) = tokio::sync::oneshot::channel::<()>();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.expect("connect");
            ready.await.expect("go");
            c.write_all(b"hello").await.expect("write");
            // Stay connected until the other side has read.
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        let (server, _) = listener.accept().await.expect("accept");
        let mut stamped = StampedTcp::new(&server);
        tokio::time::sleep(Duration::from_millis(20)).await;
        go.send(()).expect("client waits");
        // Let the packet sit in the socket, so the read comes well after the arrival.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut rbuf = BytesMut::new();
        let (n, at) = stamped.read(&server, &mut rbuf).await.expect("read");
        assert_eq!((n, &rbuf[..]), (5, &b"hello"[..]));
        if cfg!(target_os = "linux") {
            let at = at.expect("Linux gives TCP receive timestamps");
            let age = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .expect("after 1970")
                - at;
            assert!(age >= Duration::from_millis(40), "{age:?}");
        }
        client.await.expect("client");
    }
}
