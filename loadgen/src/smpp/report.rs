//! The result of a `loadgen smpp` run: the JSON document (`--json`, keys documented in
//! loadgen/README.md and kept stable) and the summary table printed at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::stats::Stats;
use crate::threshold::{Count, Latency, Metric, Stat, Threshold, Verdict};

/// Version of the JSON layout; bumped only when a key changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 2;

/// Percentiles of one latency histogram, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// 50th percentile.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Reads a histogram (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                count: 0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
                mean: 0.0,
            };
        }
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }

    fn stat(&self, s: Stat) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match s {
            Stat::Quantile(500) => self.p50 as f64,
            Stat::Quantile(900) => self.p90 as f64,
            Stat::Quantile(990) => self.p99 as f64,
            Stat::Quantile(_) => self.p999 as f64,
            Stat::Max => self.max as f64,
            Stat::Mean => self.mean,
        })
    }
}

/// Receipt accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Receipts {
    /// Receipts expected: accepted messages with a message_id, registered delivery on.
    pub expected: u64,
    /// Matched to their message.
    pub matched: u64,
    /// Expected but never arrived (within --receipt-wait).
    pub missing: u64,
    /// A second (or later) receipt for a message that already had one.
    pub duplicated: u64,
    /// Receipts whose id no accepted message carried.
    pub unmatched: u64,
    /// Receipts that arrived before the submit_sm_resp naming their id was read (included
    /// in `matched` or `unmatched`).
    pub early: u64,
    /// Intermediate notifications (esm_class 0x20), not counted as receipts.
    pub intermediate: u64,
    /// Early receipts dropped because the early store was full (`--max-early-receipts`); a
    /// dropped receipt's message, if it is accepted later, counts as missing.
    pub early_dropped: u64,
}

/// One status and how many responses carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCount {
    /// `0x` and eight hex digits.
    pub status: String,
    /// rusmpp's name for it.
    pub name: String,
    /// Responses with it.
    pub count: u64,
}

/// One second of the run, `[t - 1, t)` after time zero: every event is counted in the second
/// in which it happened (a send when it was written, a response or receipt when it was read,
/// a timeout when it was declared).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Second {
    /// The end of this second, seconds after time zero.
    pub t: f64,
    /// submit_sm written in this second.
    pub submitted: u64,
    /// Accepted responses read in this second.
    pub accepted: u64,
    /// Rejections read in this second.
    pub rejected: u64,
    /// Timed out in this second.
    pub timed_out: u64,
    /// Receipts matched in this second.
    pub receipts: u64,
    /// Sends per second: `submitted` over the part of this second within the run (the whole
    /// second after the run).
    pub rate: f64,
    /// p99 of the responses read in this second (µs from intended send).
    pub submit_resp_p99_us: u64,
    /// p99 send lag of the sends in this second, µs.
    pub send_lag_p99_us: u64,
    /// Sends in this second later than the behind-schedule tolerance.
    pub behind_schedule: u64,
}

impl Second {
    /// Second `sec` from its stats; `per` is the length of it within the run, seconds.
    pub fn of(sec: u64, st: &Stats, per: f64) -> Self {
        Self {
            t: (sec + 1) as f64,
            submitted: st.submitted,
            accepted: st.accepted,
            rejected: st.rejected,
            timed_out: st.timed_out,
            receipts: st.receipts_matched,
            rate: st.submitted as f64 / per,
            submit_resp_p99_us: st.submit_resp.value_at_quantile(0.99),
            send_lag_p99_us: st.send_lag.value_at_quantile(0.99),
            behind_schedule: st.behind_schedule,
        }
    }

    /// Second `sec`, in which nothing happened.
    pub fn empty(sec: u64) -> Self {
        Self {
            t: (sec + 1) as f64,
            submitted: 0,
            accepted: 0,
            rejected: 0,
            timed_out: 0,
            receipts: 0,
            rate: 0.0,
            submit_resp_p99_us: 0,
            send_lag_p99_us: 0,
            behind_schedule: 0,
        }
    }

    /// Adds counts handed over after this second was closed (its percentiles stay).
    pub fn amend(&mut self, st: &Stats) {
        let per = if self.submitted > 0 {
            self.submitted as f64 / self.rate
        } else {
            1.0
        };
        self.submitted += st.submitted;
        self.accepted += st.accepted;
        self.rejected += st.rejected;
        self.timed_out += st.timed_out;
        self.receipts += st.receipts_matched;
        self.behind_schedule += st.behind_schedule;
        self.rate = self.submitted as f64 / per;
    }
}

/// The accounting identities and whether they hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// submitted = accepted + rejected + timed_out.
    pub submitted_holds: bool,
    /// receipts.expected = receipts.matched + receipts.missing.
    pub receipts_holds: bool,
    /// Both.
    pub holds: bool,
    /// The identities written out with their numbers.
    pub text: Vec<String>,
}

/// CPU use measured from /proc/PID/stat over the sending phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cpu {
    /// loadgen's CPU time as a share of one core (1.0 = one core busy).
    pub loadgen_cores: f64,
    /// Of `loadgen_cores`: the sending thread's (null where /proc is missing).
    pub sender_cores: Option<f64>,
    /// Of `sender_cores`: spinning to hit due times.
    pub sender_spin_cores: Option<f64>,
    /// The sending thread's early-wake margin at the end, µs: its estimate of the 95th
    /// percentile of its own oversleep.
    pub sender_margin_us: f64,
    /// The server's (when `--server-pid` was given).
    pub server_cores: Option<f64>,
    /// Cores on this machine.
    pub machine_cores: usize,
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// The SMSC.
    pub target: String,
    /// Bind slots (each a transceiver or a transmitter + receiver pair).
    pub binds: usize,
    /// `trx`, `tx+rx` or `tx`.
    pub bind_type: String,
    /// submit_sm window per bind.
    pub window: usize,
    /// registered_delivery asked for.
    pub registered_delivery: bool,
    /// Run length asked for, seconds.
    pub duration_s: f64,
    /// Average scheduled rate, messages per second.
    pub target_rate: f64,
    /// Messages scheduled.
    pub scheduled: u64,
    /// submit_sm written.
    pub submitted: u64,
    /// Scheduled but never sent (the run ended first).
    pub unsent: u64,
    /// ESME_ROK responses.
    pub accepted: u64,
    /// Responses with another status (generic_nack included).
    pub rejected: u64,
    /// No response within --timeout, or in flight when a connection dropped.
    pub timed_out: u64,
    /// Of `timed_out`: in flight when a connection dropped.
    pub lost_on_disconnect: u64,
    /// Responses that arrived after their request had timed out.
    pub late_responses: u64,
    /// In flight when sending stopped.
    pub in_flight_at_end: u64,
    /// (`sent_in_run` - 1) / `send_window_s`: sends per second over the real send window.
    pub achieved_rate: f64,
    /// submit_sm written before the run's duration ended (sends in the grace after it are in
    /// `submitted`, not here).
    pub sent_in_run: u64,
    /// The real send window: from the first write to the last one within the run, seconds.
    pub send_window_s: f64,
    /// Whether the target rate was met: nothing unsent, no send behind schedule, and achieved
    /// ≥ 99 % of target.
    pub rate_met: bool,
    /// Sends later than `behind_schedule_tolerance_us` after their intended time.
    pub behind_schedule: u64,
    /// The tolerance, µs.
    pub behind_schedule_tolerance_us: u64,
    /// (rejected + timed_out) / submitted.
    pub error_rate: f64,
    /// submit_sm_resp latency from intended send, µs.
    pub submit_resp_us: Percentiles,
    /// submit_sm_resp latency from the write that sent the request, µs.
    pub submit_service_us: Percentiles,
    /// Of `submit_service_us.count`: how many were timed from the kernel's transmit timestamp
    /// of the write (plain TCP on Linux); the rest from the time taken just before it.
    pub submit_service_kernel_stamped: u64,
    /// Receipt latency from intended send, µs.
    pub receipt_us: Percentiles,
    /// How late sends were against their intended times, µs.
    pub send_lag_us: Percentiles,
    /// Receipt accounting.
    pub receipts: Receipts,
    /// Non-OK statuses.
    pub statuses: Vec<StatusCount>,
    /// Connections lost.
    pub disconnects: u64,
    /// Why (the first ten).
    pub disconnect_reasons: Vec<String>,
    /// Successful re-binds.
    pub reconnects: u64,
    /// Accepted with no message_id (cannot expect a receipt).
    pub accepted_without_id: u64,
    /// Accepted with a message_id the SMSC had already given another message.
    pub duplicate_message_ids: u64,
    /// deliver_sm that were not receipts.
    pub mo_messages: u64,
    /// PDUs from the SMSC that could not be read.
    pub malformed_pdus: u64,
    /// Responses to nothing we sent, and requests we do not serve.
    pub unexpected_pdus: u64,
    /// Accounting identities.
    pub identity: Identity,
    /// CPU shares.
    pub cpu: Cpu,
    /// Peak resident memory of loadgen, octets (VmHWM).
    pub peak_rss_bytes: u64,
    /// Per-second figures.
    pub timeline: Vec<Second>,
    /// Threshold verdicts.
    pub thresholds: Vec<Verdict>,
    /// All thresholds held (true when there are none).
    pub thresholds_passed: bool,
    /// Problems that make the run invalid (identity broken, bind refused, ...).
    pub errors: Vec<String>,
}

impl Report {
    /// The value a threshold metric has in this report.
    pub fn metric(&self, m: Metric) -> Option<f64> {
        Some(match m {
            Metric::Latency(l, s) => {
                let p = match l {
                    Latency::SubmitResp => &self.submit_resp_us,
                    Latency::SubmitService => &self.submit_service_us,
                    Latency::Receipt => &self.receipt_us,
                    Latency::SendLag => &self.send_lag_us,
                };
                return p.stat(s);
            }
            Metric::Count(c) => {
                (match c {
                    Count::Submitted => self.submitted,
                    Count::Accepted => self.accepted,
                    Count::Rejected => self.rejected,
                    Count::TimedOut => self.timed_out,
                    Count::Missing => self.receipts.missing,
                    Count::Duplicated => self.receipts.duplicated,
                    Count::Unmatched => self.receipts.unmatched,
                    Count::BehindSchedule => self.behind_schedule,
                    Count::Unsent => self.unsent,
                }) as f64
            }
            Metric::ErrorRate => self.error_rate,
            Metric::AchievedRate => self.achieved_rate,
        })
    }

    /// Judges `thresholds` and stores the verdicts.
    pub fn judge(&mut self, thresholds: &[Threshold]) {
        self.thresholds = thresholds
            .iter()
            .map(|t| t.judge(self.metric(t.metric)))
            .collect();
        self.thresholds_passed = self.thresholds.iter().all(|v| v.pass);
    }

    /// Fills in [`Report::identity`] from the counters.
    pub fn check_identity(&mut self) {
        let sum = self.accepted + self.rejected + self.timed_out;
        let submitted_holds = self.submitted == sum;
        let r = &self.receipts;
        let receipts_holds = r.expected == r.matched + r.missing;
        let text = vec![
            format!(
                "submitted {} = accepted {} + rejected {} + timed_out {} ({}) {}",
                self.submitted,
                self.accepted,
                self.rejected,
                self.timed_out,
                sum,
                if submitted_holds { "holds" } else { "BROKEN" }
            ),
            format!(
                "receipts expected {} = matched {} + missing {} ({}) {}",
                r.expected,
                r.matched,
                r.missing,
                r.matched + r.missing,
                if receipts_holds { "holds" } else { "BROKEN" }
            ),
        ];
        self.identity = Identity {
            submitted_holds,
            receipts_holds,
            holds: submitted_holds && receipts_holds,
            text,
        };
        if !self.identity.holds {
            self.errors
                .push("accounting identity broken (see identity.text)".into());
        }
    }

    /// The summary table printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "loadgen smpp -> {}  ({} binds {}, window {}, {:.1}s, registered_delivery={})",
            self.target,
            self.binds,
            self.bind_type,
            self.window,
            self.duration_s,
            u8::from(self.registered_delivery)
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  rate       target {:>10.0}/s   achieved {:>10.0}/s   {}",
            self.target_rate,
            self.achieved_rate,
            if self.rate_met { "met" } else { "NOT MET" }
        );
        if !self.rate_met {
            let mut why = Vec::new();
            if self.achieved_rate < 0.99 * self.target_rate {
                why.push(format!(
                    "sent {:.0}/s within the run ({} sends in {:.3} s)",
                    self.achieved_rate, self.sent_in_run, self.send_window_s
                ));
            }
            if self.unsent > 0 {
                why.push(format!(
                    "{} of {} scheduled messages were never sent",
                    self.unsent, self.scheduled
                ));
            }
            if self.behind_schedule > 0 {
                why.push(format!(
                    "{} sends were more than {} µs late (send lag p99 {} µs, max {} µs)",
                    self.behind_schedule,
                    self.behind_schedule_tolerance_us,
                    self.send_lag_us.p99,
                    self.send_lag_us.max
                ));
            }
            let _ = writeln!(
                s,
                "  TARGET RATE NOT MET: asked for {:.0}/s; {}",
                self.target_rate,
                why.join("; ")
            );
        }
        let _ = writeln!(
            s,
            "  messages   scheduled {}  submitted {}  accepted {}  rejected {}  timed_out {} \
             (lost on disconnect {})  unsent {}",
            self.scheduled,
            self.submitted,
            self.accepted,
            self.rejected,
            self.timed_out,
            self.lost_on_disconnect,
            self.unsent
        );
        let _ = writeln!(
            s,
            "             in flight at end {}  late responses {}  behind schedule {} (> {} µs)  \
             error rate {:.4}%",
            self.in_flight_at_end,
            self.late_responses,
            self.behind_schedule,
            self.behind_schedule_tolerance_us,
            self.error_rate * 100.0
        );
        if self.registered_delivery || self.receipts.unmatched > 0 {
            let r = &self.receipts;
            let _ = writeln!(
                s,
                "  receipts   expected {}  matched {}  missing {}  duplicated {}  unmatched {}  \
                 (early {}, intermediate {})",
                r.expected,
                r.matched,
                r.missing,
                r.duplicated,
                r.unmatched,
                r.early,
                r.intermediate
            );
            if r.early_dropped > 0 {
                let _ = writeln!(
                    s,
                    "             EARLY RECEIPTS DROPPED: {} (the store of receipts waiting for \
                     their submit_sm_resp was full; their messages count as missing)",
                    r.early_dropped
                );
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  latency (µs)            count        p50        p90        p99      p99.9        max"
        );
        let mut row = |name: &str, p: &Percentiles| {
            let _ = writeln!(
                s,
                "  {:<20} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
                name, p.count, p.p50, p.p90, p.p99, p.p999, p.max
            );
        };
        row("submit_resp", &self.submit_resp_us);
        row("  service (write)", &self.submit_service_us);
        if self.registered_delivery {
            row("receipt", &self.receipt_us);
        }
        row("send lag", &self.send_lag_us);
        if !self.statuses.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(s, "  statuses");
            for st in &self.statuses {
                let _ = writeln!(s, "    {} {:<20} {}", st.status, st.name, st.count);
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  connections  disconnects {}  reconnects {}",
            self.disconnects, self.reconnects
        );
        for r in &self.disconnect_reasons {
            let _ = writeln!(s, "               lost: {r}");
        }
        let _ = writeln!(
            s,
            "  cpu          loadgen {:.2} cores{}{}  (machine has {})   peak rss {:.1} MiB",
            self.cpu.loadgen_cores,
            match (self.cpu.sender_cores, self.cpu.sender_spin_cores) {
                (Some(c), Some(spin)) => format!(" (sending thread {c:.2}, spinning {spin:.2})"),
                (Some(c), None) => format!(" (sending thread {c:.2})"),
                _ => String::new(),
            },
            match self.cpu.server_cores {
                Some(c) => format!(", server {c:.2} cores"),
                None => String::new(),
            },
            self.cpu.machine_cores,
            self.peak_rss_bytes as f64 / 1_048_576.0
        );
        let odd = [
            ("accepted without message_id", self.accepted_without_id),
            ("duplicate message ids", self.duplicate_message_ids),
            ("mobile-originated deliver_sm", self.mo_messages),
            ("malformed PDUs", self.malformed_pdus),
            ("unexpected PDUs", self.unexpected_pdus),
        ];
        for (what, n) in odd {
            if n > 0 {
                let _ = writeln!(s, "  note         {what}: {n}");
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "  identity");
        for line in &self.identity.text {
            let _ = writeln!(s, "    {line}");
        }
        if !self.thresholds.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(s, "  thresholds");
            for v in &self.thresholds {
                let _ = writeln!(s, "    {v}");
            }
        }
        for e in &self.errors {
            let _ = writeln!(s, "  ERROR: {e}");
        }
        s
    }
}

/// Builds the status list from the counters.
pub fn statuses(map: &BTreeMap<u32, u64>) -> Vec<StatusCount> {
    map.iter()
        .map(|(status, count)| StatusCount {
            status: format!("0x{status:08x}"),
            name: format!("{:?}", rusmpp::CommandStatus::from(*status)),
            count: *count,
        })
        .collect()
}
