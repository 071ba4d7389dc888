//! The sending thread of `loadgen smpp` (the per-connection state it shares with the bind
//! tasks is in [`super::shared`]).
//!
//! Why a thread of its own: the tokio timer that used to wake the bind tasks is about 1 ms
//! coarse, so at 5,000/s sends left about 0.4 ms late and that lateness was reported as the
//! server's latency. One OS thread now owns the schedule. It sleeps on high-resolution timers
//! (its timer slack set to 1 µs, where Linux's default of 50 µs would add that much to every
//! wake), wakes a little before a message is due and spins the last few microseconds, then
//! writes the message itself on a non-blocking duplicate of the connection's socket. The
//! margin it wakes early by follows the 95th percentile of its own oversleep ([`Margin`]), so
//! on a quiet machine it spins only microseconds per message; spinning is capped at a share of
//! a core ([`SpinBudget`], `--spin-budget`), past which it sleeps to the due time and accepts
//! the oversleep as send lag. Over TLS the session belongs to the bind task, so the thread
//! queues the bytes and wakes the task, which stamps and writes them (send lag then includes
//! that hand-over).
//!
//! Each message is stamped with the time taken just before the write call that put its last
//! octet into the kernel: that is its send time for send lag, behind-schedule counting and
//! the second it is counted in, all of which are about this thread keeping the schedule. Its
//! service time (`submit_service`) starts instead at the kernel's transmit timestamp of that
//! write where there is one ([`super::txtime`]: plain TCP on Linux), so a preemption between
//! the stamp and the transmission is not charged to the server; elsewhere it starts at the
//! same user-space stamp. (The gap between the two is in neither figure, only in the response
//! time from the intended send, which includes everything.) The in-flight table
//! is shared under a mutex held across the write, so a response can never be matched before
//! its request's stamp is in place. A partial write (the server stopped reading) leaves the
//! rest queued: the thread retries it, sends nothing new on that connection meanwhile, and the
//! messages in it are stamped when their last octet is written.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::shared::{Conn, Dests, Entry, Shared};
use super::stats::{PUBLISH_EVERY, Recorder};
use super::wire::SubmitTemplate;

/// Most messages written in one call, so a long backlog does not hold a connection's lock
/// (and its reader) for long.
const MAX_BATCH: u64 = 1024;

/// Longest the thread sleeps while a partial write waits to be retried: the server is not
/// reading, so there is no hurry, but the retry must come.
const RETRY_EVERY: Duration = Duration::from_micros(500);

/// Longest sleep while every window is full: responses wake the thread sooner.
const ROOM_WAIT: Duration = Duration::from_millis(5);

/// Longest sleep once sending is over (leftover writes and the stop signal wake it sooner).
const IDLE_WAIT: Duration = Duration::from_millis(20);

/// What the sending thread needs to encode messages.
#[derive(Debug, Clone)]
pub struct SendPlan {
    /// The submit_sm template.
    pub template: Arc<SubmitTemplate>,
    /// Destinations.
    pub dests: Arc<Dests>,
    /// Most of a core the thread may spend spinning (0 disables spinning).
    pub spin_budget: f64,
    /// Wake at most once per this interval and send everything due (zero: wake per message).
    pub coalesce: Duration,
}

/// The early-wake margin: an online estimate of the 95th percentile of the thread's oversleep.
///
/// Each sample moves the estimate up by 0.95 µs when the sleep overran it and down by
/// 0.05 µs otherwise, which settles where 5 % of samples overrun (a stochastic quantile
/// estimate: no samples kept, one add per sleep). A descheduling of milliseconds moves it by
/// one step, not by its size.
#[derive(Debug, Clone, Copy)]
pub struct Margin {
    ns: u64,
}

impl Margin {
    const MIN_NS: u64 = 2_000;
    const MAX_NS: u64 = 200_000;
    const UP_NS: u64 = 950;
    const DOWN_NS: u64 = 50;

    fn new() -> Self {
        Self { ns: 20_000 }
    }

    /// The margin, ns.
    pub fn ns(&self) -> u64 {
        self.ns
    }

    /// One sleep overran its wake time by `over_ns`.
    pub fn observe(&mut self, over_ns: u64) {
        self.ns = if over_ns > self.ns {
            self.ns + Self::UP_NS
        } else {
            self.ns.saturating_sub(Self::DOWN_NS)
        }
        .clamp(Self::MIN_NS, Self::MAX_NS);
    }
}

/// How much of the last [`SpinBudget::WINDOW`] went to spinning, against the budget.
#[derive(Debug, Clone, Copy)]
struct SpinBudget {
    allowed_ns: u64,
    window_start: u64,
    spun_ns: u64,
    total_ns: u64,
}

impl SpinBudget {
    const WINDOW: u64 = 100_000_000;

    fn new(fraction: f64) -> Self {
        Self {
            allowed_ns: (fraction.clamp(0.0, 1.0) * Self::WINDOW as f64) as u64,
            window_start: 0,
            spun_ns: 0,
            total_ns: 0,
        }
    }

    fn allows(&mut self, now: u64) -> bool {
        if now.saturating_sub(self.window_start) >= Self::WINDOW {
            self.window_start = now;
            self.spun_ns = 0;
        }
        self.spun_ns < self.allowed_ns
    }

    fn spent(&mut self, ns: u64) {
        self.spun_ns += ns;
        self.total_ns += ns;
    }
}

/// Makes this thread's timer slack 1 µs, so its sleeps end when asked rather than up to 50 µs
/// later (Linux's default slack lets the kernel batch timer expiries).
fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_timerslack(1_000);
    }
}

/// The sending thread: sends every scheduled message at its intended time on a connection
/// with room in its window, until `shared.stop_sender` is set. Returns its CPU use over the
/// sending phase.
pub fn run(shared: Arc<Shared>, plan: SendPlan) -> SenderCpu {
    tighten_timer_slack();
    let cpu0 = crate::proc::thread_cpu_seconds();
    let wall0 = Instant::now();
    let mut cpu = None;
    let mut spun_in_phase = None;
    let schedule = shared.schedule;
    let total = schedule.total();
    let send_end = shared.send_end_ns;
    let mut rec = Recorder::default();
    let mut last_publish = Instant::now();
    let mut conns: Vec<Arc<Conn>> = Vec::new();
    let mut version = u64::MAX;
    let mut rr = 0usize;
    let mut next: u64 = 0;
    let mut margin = Margin::new();
    let mut budget = SpinBudget::new(plan.spin_budget);
    let mut last_wake = 0u64;
    let mut dest = [0u8; 24];
    while !shared.stop_sender.load(Ordering::Acquire) {
        let v = shared.conns_version.load(Ordering::Acquire);
        if v != version {
            version = v;
            conns = shared.conns();
        }
        let mut leftovers = false;
        for c in &conns {
            if c.leftover.load(Ordering::Relaxed) {
                c.retry(&shared, &mut rec);
                leftovers |= c.leftover.load(Ordering::Relaxed);
            }
        }
        let now = shared.now_ns();
        let sending = next < total && now < send_end;
        let mut blocked = false;
        if sending {
            let due = schedule.due_at(now as f64 / 1e9);
            while next < due {
                let Some(k) = send_some(
                    &conns,
                    &mut rr,
                    next,
                    (due - next).min(MAX_BATCH),
                    &plan,
                    &shared,
                    &mut rec,
                    &mut dest,
                ) else {
                    blocked = true;
                    break;
                };
                next += k;
            }
        } else if cpu.is_none() {
            // Sending is over: the CPU figure covers the sending phase, as loadgen's does.
            spun_in_phase = Some(budget.total_ns);
            cpu = cpu_cores(cpu0, wall0, budget.total_ns);
        }
        if last_publish.elapsed() >= PUBLISH_EVERY {
            rec.publish(&shared.sender_slot);
            last_publish = Instant::now();
        }
        let cap = |d: Duration| if leftovers { d.min(RETRY_EVERY) } else { d };
        if !sending {
            std::thread::park_timeout(cap(IDLE_WAIT));
            continue;
        }
        if blocked {
            // Every window is full (or no connection is bound): a response, a timeout or a
            // new bind wakes us. Ask for the wake first, then look again, so one that came
            // in between is not lost.
            shared.want_room.store(true, Ordering::Release);
            if !any_room(&conns) {
                std::thread::park_timeout(cap(ROOM_WAIT));
            }
            shared.want_room.store(false, Ordering::Release);
            continue;
        }
        // On schedule: wait for the next message's time.
        let mut at = schedule.intended_ns(next).min(send_end);
        if !plan.coalesce.is_zero() {
            at = at.max(last_wake + plan.coalesce.as_nanos() as u64);
        }
        let now = shared.now_ns();
        if at <= now {
            continue;
        }
        let spin = plan.coalesce.is_zero() && budget.allows(now);
        let wake = if spin {
            at.saturating_sub(margin.ns())
        } else {
            at
        };
        if wake > now {
            let sleep = Duration::from_nanos(wake - now);
            let capped = cap(sleep);
            std::thread::park_timeout(capped);
            let woke = shared.now_ns();
            // Only a sleep that ran its full course says how much the timer overran;
            // an unpark or a capped sleep ends early.
            if capped == sleep && woke >= wake {
                margin.observe(woke - wake);
            }
            if capped != sleep || woke < wake.min(at) {
                last_wake = woke;
                continue;
            }
        }
        if spin {
            let from = shared.now_ns();
            let mut t = from;
            while t < at {
                std::hint::spin_loop();
                t = shared.now_ns();
            }
            budget.spent(t - from);
        }
        last_wake = shared.now_ns();
    }
    rec.publish(&shared.sender_slot);
    let cpu = cpu.or_else(|| cpu_cores(cpu0, wall0, spun_in_phase.unwrap_or(budget.total_ns)));
    SenderCpu {
        cores: cpu.map(|c| c.0),
        spin_cores: cpu.map(|c| c.1),
        margin_us: margin.ns() as f64 / 1e3,
    }
}

/// The thread's CPU use since `cpu0`, and the part of it spent spinning, in cores.
fn cpu_cores(cpu0: Option<f64>, wall0: Instant, spun_ns: u64) -> Option<(f64, f64)> {
    let used = crate::proc::thread_cpu_seconds()? - cpu0?;
    let wall = wall0.elapsed().as_secs_f64();
    (wall > 0.0).then(|| (used / wall, spun_ns as f64 / 1e9 / wall))
}

/// What the sending thread reports about itself, over the sending phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderCpu {
    /// Its CPU use, in cores (`None` where /proc is missing).
    pub cores: Option<f64>,
    /// Of that, the time spent spinning to hit due times.
    pub spin_cores: Option<f64>,
    /// Its early-wake margin at the end, µs (the 95th percentile of its oversleep).
    pub margin_us: f64,
}

fn any_room(conns: &[Arc<Conn>]) -> bool {
    conns.iter().any(|c| {
        let st = c.lock();
        st.open && st.in_flight.len() < c.window && (c.direct.is_none() || st.pending.is_empty())
    })
}

/// Sends up to `want` messages from index `first` on the next connection (round robin) with
/// room; returns how many, or `None` when no connection has room.
#[allow(clippy::too_many_arguments)]
fn send_some(
    conns: &[Arc<Conn>],
    rr: &mut usize,
    first: u64,
    want: u64,
    plan: &SendPlan,
    shared: &Shared,
    rec: &mut Recorder,
    dest: &mut [u8; 24],
) -> Option<u64> {
    let n = conns.len();
    for i in 0..n {
        let c = &conns[(*rr + i) % n];
        let mut st = c.lock();
        // A direct connection with octets left over is not being read by the server: nothing
        // new goes there until they are written.
        if !st.open || (c.direct.is_some() && !st.pending.is_empty()) {
            continue;
        }
        let room = c.window.saturating_sub(st.in_flight.len()) as u64;
        if room == 0 {
            continue;
        }
        let k = want.min(room);
        let schedule = shared.schedule;
        for idx in first..first + k {
            let seq = st.next_seq();
            let len = plan.dests.put(idx, dest);
            let before = st.pending.len();
            plan.template.put(&mut st.pending, seq, &dest[..len]);
            st.queued_off += (st.pending.len() - before) as u64;
            let end = st.queued_off;
            st.pending_msgs.push_back((end, seq));
            st.in_flight
                .insert(seq, Entry::queued(schedule.intended_ns(idx)));
        }
        if c.direct.is_some() {
            c.flush_locked(&mut st, shared, rec);
        } else {
            drop(st);
            c.wake.notify_one();
        }
        *rr = (*rr + i + 1) % n;
        return Some(k);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_settles_near_the_95th_percentile_of_oversleep() {
        let mut m = Margin::new();
        // Oversleeps of 10 µs, with one in ten at 40 µs: the 95th percentile is 40 µs, the
        // 90th 10 µs; the estimate ends between them, near the top.
        for i in 0..200_000u64 {
            m.observe(if i % 10 == 0 { 40_000 } else { 10_000 });
        }
        assert!(m.ns() > 10_000 && m.ns() <= 41_000, "{}", m.ns());
        // A quieter machine brings it down.
        for _ in 0..200_000 {
            m.observe(3_000);
        }
        assert!(m.ns() <= 4_000, "{}", m.ns());
        // One long descheduling moves it one step, not to milliseconds.
        let before = m.ns();
        m.observe(5_000_000);
        assert_eq!(m.ns(), before + Margin::UP_NS);
    }

    #[test]
    fn spin_budget_is_a_share_of_each_window() {
        let mut b = SpinBudget::new(0.25);
        assert!(b.allows(0));
        b.spent(20_000_000);
        assert!(b.allows(1));
        b.spent(5_000_000);
        assert!(!b.allows(2), "25 ms of a 100 ms window spent");
        assert!(b.allows(SpinBudget::WINDOW), "a new window starts afresh");
        assert!(!SpinBudget::new(0.0).allows(0));
    }
}
