//! Counters and latency histograms of a run.
//!
//! Each producer (a bind task, the sending thread) records into its own [`Recorder`] with no
//! locking. A recorder files every event under the second of the run in which it happened
//! (a send under its write time, a response or receipt under its arrival, a timeout under
//! the moment it was declared), so the per-second timeline is exact whatever the hand-over
//! cadence. Every [`PUBLISH_EVERY`] the producer hands its seconds over to a mutex-guarded
//! slot that the reporter empties; the reporter closes a second once every producer has had
//! time to hand it over, and alone keeps the run's totals. Histograms are HdrHistogram in
//! microseconds, 1 µs to 1 hour at 3 significant digits: values are never kept raw and never
//! rounded beyond that precision.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// How often a bind task publishes its increment.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// Highest latency recorded, in microseconds (larger values are clamped to it).
pub const MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that HdrHistogram accepts.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Records a latency given in nanoseconds.
#[inline]
pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record((ns / 1000).clamp(1, MAX_US));
}

/// No send recorded yet ([`Stats::first_send_ns`]).
pub const NO_SEND: u64 = u64::MAX;

/// Everything one producer measured in one second (or, merged, over several).
#[derive(Debug, Clone)]
pub struct Stats {
    /// submit_sm written.
    pub submitted: u64,
    /// Of `submitted`: written before the run's duration ended (the grace after it excluded).
    pub sent_in_run: u64,
    /// Time of the earliest write, ns after time zero ([`NO_SEND`] when none).
    pub first_send_ns: u64,
    /// Time of the latest write before the run's duration ended, ns after time zero (0 when
    /// none).
    pub last_send_in_run_ns: u64,
    /// submit_sm_resp with ESME_ROK.
    pub accepted: u64,
    /// submit_sm_resp (or generic_nack) with another status.
    pub rejected: u64,
    /// No response within the timeout, or lost with a connection.
    pub timed_out: u64,
    /// Of `timed_out`: in flight when a connection dropped.
    pub lost_on_disconnect: u64,
    /// Responses that came after their request was counted as timed out.
    pub late_responses: u64,
    /// Sends later than the behind-schedule tolerance.
    pub behind_schedule: u64,
    /// Accepted messages whose response carried no usable message_id.
    pub accepted_without_id: u64,
    /// Accepted messages whose message_id the SMSC had already given another message.
    pub duplicate_message_ids: u64,
    /// Receipts expected (accepted with an id, registered delivery on).
    pub receipts_expected: u64,
    /// Receipts matched to an accepted message.
    pub receipts_matched: u64,
    /// Receipts for a message that already had one.
    pub receipts_duplicated: u64,
    /// Receipts held because no message named their id when they arrived.
    pub receipts_early: u64,
    /// Intermediate notifications (esm_class 0x20), not counted as receipts.
    pub intermediate_notifications: u64,
    /// deliver_sm that are neither receipts nor intermediate notifications.
    pub mo_messages: u64,
    /// deliver_sm/data_sm whose body could not be read.
    pub malformed_pdus: u64,
    /// Responses whose sequence number matched nothing in flight and was never timed out.
    pub unexpected_responses: u64,
    /// Successful binds after the first of each connection slot.
    pub reconnects: u64,
    /// Connection losses.
    pub disconnects: u64,
    /// Count of each non-zero submit_sm_resp status.
    pub statuses: BTreeMap<u32, u64>,
    /// submit_sm_resp latency from the intended send time.
    pub submit_resp: Histogram<u64>,
    /// submit_sm_resp latency from the actual write (service time, for diagnosis).
    pub submit_service: Histogram<u64>,
    /// Of `submit_service`'s samples: those timed from the kernel's transmit timestamp (the
    /// rest from the time taken just before the write).
    pub service_from_kernel: u64,
    /// Receipt latency from the intended send time.
    pub receipt: Histogram<u64>,
    /// How late each send was against its intended time.
    pub send_lag: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            submit_resp: histogram(),
            submit_service: histogram(),
            receipt: histogram(),
            send_lag: histogram(),
            ..Stats::empty_counts()
        }
    }
}

impl Stats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        self.submitted += other.submitted;
        self.sent_in_run += other.sent_in_run;
        self.first_send_ns = self.first_send_ns.min(other.first_send_ns);
        self.last_send_in_run_ns = self.last_send_in_run_ns.max(other.last_send_in_run_ns);
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.timed_out += other.timed_out;
        self.lost_on_disconnect += other.lost_on_disconnect;
        self.late_responses += other.late_responses;
        self.behind_schedule += other.behind_schedule;
        self.accepted_without_id += other.accepted_without_id;
        self.duplicate_message_ids += other.duplicate_message_ids;
        self.receipts_expected += other.receipts_expected;
        self.receipts_matched += other.receipts_matched;
        self.receipts_duplicated += other.receipts_duplicated;
        self.receipts_early += other.receipts_early;
        self.intermediate_notifications += other.intermediate_notifications;
        self.mo_messages += other.mo_messages;
        self.malformed_pdus += other.malformed_pdus;
        self.unexpected_responses += other.unexpected_responses;
        self.reconnects += other.reconnects;
        self.disconnects += other.disconnects;
        self.service_from_kernel += other.service_from_kernel;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        // Same bounds everywhere, so adding cannot fail.
        let _ = self.submit_resp.add(&other.submit_resp);
        let _ = self.submit_service.add(&other.submit_service);
        let _ = self.receipt.add(&other.receipt);
        let _ = self.send_lag.add(&other.send_lag);
    }

    /// Moves the contents out, leaving `self` empty (histograms keep their allocation).
    pub fn take_into(&mut self, dst: &mut Stats) {
        dst.merge(self);
        self.reset();
    }

    /// Zeroes everything; the histograms keep their allocation and bounds.
    pub fn reset(&mut self) {
        let tiny = || Histogram::new(1).expect("tiny histogram");
        let mut submit_resp = std::mem::replace(&mut self.submit_resp, tiny());
        let mut submit_service = std::mem::replace(&mut self.submit_service, tiny());
        let mut receipt = std::mem::replace(&mut self.receipt, tiny());
        let mut send_lag = std::mem::replace(&mut self.send_lag, tiny());
        submit_resp.reset();
        submit_service.reset();
        receipt.reset();
        send_lag.reset();
        *self = Stats {
            submit_resp,
            submit_service,
            receipt,
            send_lag,
            ..Stats::empty_counts()
        };
    }

    fn empty_counts() -> Stats {
        Stats {
            submitted: 0,
            sent_in_run: 0,
            first_send_ns: NO_SEND,
            last_send_in_run_ns: 0,
            accepted: 0,
            rejected: 0,
            timed_out: 0,
            lost_on_disconnect: 0,
            late_responses: 0,
            behind_schedule: 0,
            accepted_without_id: 0,
            duplicate_message_ids: 0,
            receipts_expected: 0,
            receipts_matched: 0,
            receipts_duplicated: 0,
            receipts_early: 0,
            intermediate_notifications: 0,
            mo_messages: 0,
            malformed_pdus: 0,
            unexpected_responses: 0,
            reconnects: 0,
            disconnects: 0,
            service_from_kernel: 0,
            statuses: BTreeMap::new(),
            submit_resp: Histogram::new(1).expect("tiny histogram"),
            submit_service: Histogram::new(1).expect("tiny histogram"),
            receipt: Histogram::new(1).expect("tiny histogram"),
            send_lag: Histogram::new(1).expect("tiny histogram"),
        }
    }

    /// Counts a response status (ESME_ROK is not kept in the map: it is `accepted`).
    #[inline]
    pub fn count_status(&mut self, status: u32) {
        *self.statuses.entry(status).or_default() += 1;
    }

    /// Records one submit_sm written at `written_ns`, intended at `intended_ns`; `tolerance_ns`
    /// and `run_end_ns` decide whether it is behind schedule and whether it falls in the run.
    #[inline]
    pub fn record_send(
        &mut self,
        intended_ns: u64,
        written_ns: u64,
        tolerance_ns: u64,
        run_end_ns: u64,
    ) {
        self.submitted += 1;
        if written_ns < run_end_ns {
            self.sent_in_run += 1;
            self.last_send_in_run_ns = self.last_send_in_run_ns.max(written_ns);
        }
        self.first_send_ns = self.first_send_ns.min(written_ns);
        let lag = written_ns.saturating_sub(intended_ns);
        record_ns(&mut self.send_lag, lag);
        if lag > tolerance_ns {
            self.behind_schedule += 1;
        }
    }
}

/// Nanoseconds in a second: the width of a timeline bucket.
pub const SECOND_NS: u64 = 1_000_000_000;

/// Stats of several seconds, keyed by the second of the run (0 = `[0 s, 1 s)` after time zero).
pub type Seconds = BTreeMap<u64, Stats>;

/// Adds `src`'s seconds into `dst`, moving them (no histogram copy) where `dst` has none.
pub fn merge_seconds(dst: &mut Seconds, src: &mut Seconds) {
    for (sec, st) in std::mem::take(src) {
        match dst.entry(sec) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(st);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&st),
        }
    }
}

/// One producer's measurements, filed by the second in which each event happened.
#[derive(Debug, Default)]
pub struct Recorder {
    seconds: Seconds,
}

impl Recorder {
    /// The stats of the second that holds `t_ns` (ns after time zero).
    #[inline]
    pub fn at(&mut self, t_ns: u64) -> &mut Stats {
        // Events come in time order, so the entry is nearly always the last one; the map
        // holds one or two seconds between hand-overs.
        self.seconds.entry(t_ns / SECOND_NS).or_default()
    }

    /// Hands everything recorded so far to `slot`.
    pub fn publish(&mut self, slot: &std::sync::Mutex<Seconds>) {
        if self.seconds.is_empty() {
            return;
        }
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        merge_seconds(&mut slot, &mut self.seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_reset() {
        let mut a = Stats {
            submitted: 3,
            ..Stats::default()
        };
        a.count_status(0x58);
        record_ns(&mut a.submit_resp, 1_500_000);
        let mut total = Stats::default();
        a.take_into(&mut total);
        assert_eq!(a.submitted, 0);
        assert_eq!(a.submit_resp.len(), 0);
        assert!(a.statuses.is_empty());
        assert_eq!(total.submitted, 3);
        assert_eq!(total.statuses[&0x58], 1);
        assert_eq!(total.submit_resp.len(), 1);
        // Reset histograms keep their bounds, so recording large values still works.
        record_ns(&mut a.submit_resp, 3_000_000_000);
        assert_eq!(a.submit_resp.len(), 1);
        assert!(a.submit_resp.max() >= 2_990_000);
    }

    #[test]
    fn recorder_files_events_by_their_second() {
        let slot = std::sync::Mutex::new(Seconds::new());
        let mut r = Recorder::default();
        r.at(999_999_999)
            .record_send(999_000_000, 999_999_999, 2_000_000, 1_500_000_000);
        r.at(1_000_000_000)
            .record_send(1_000_000_000, 1_000_000_000, 2_000_000, 1_500_000_000);
        r.publish(&slot);
        // Published late, in another hand-over: still second 1.
        r.at(1_600_000_000)
            .record_send(1_000_000_000, 1_600_000_000, 2_000_000, 1_500_000_000);
        r.publish(&slot);
        let s = slot.lock().expect("slot");
        assert_eq!(s.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(s[&0].submitted, 1);
        assert_eq!(s[&0].first_send_ns, 999_999_999);
        assert_eq!(s[&1].submitted, 2);
        // The send 0.6 s late is after the run's end (1.5 s) and behind schedule.
        assert_eq!(s[&1].sent_in_run, 1);
        assert_eq!(s[&1].behind_schedule, 1);
        assert_eq!(s[&1].first_send_ns, 1_000_000_000);
        assert_eq!(s[&1].last_send_in_run_ns, 1_000_000_000);
    }
}
