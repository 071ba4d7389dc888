//! Counters the carrier keeps, rendered as Prometheus text and JSON.
//!
//! Plain atomics for the hot counters. PDU counts by (direction, command, status) have an
//! open-ended label set (unknown command ids, any status), so they live in a mutex-guarded map,
//! but the PDUs of a healthy run (standard commands with status 0) are counted in a fixed array
//! of atomics first: at several hundred thousand PDUs per second, two runtime threads taking
//! the same lock per PDU showed up as lock contention in the profile. Per-account counters sit
//! behind a read-write lock and are atomics inside, so counting takes only the read side.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use serde::Serialize;

/// Direction of a PDU relative to the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received from an ESME.
    In,
    /// Sent to an ESME.
    Out,
}

/// Fate of a delivery receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptFate {
    /// Acknowledged by the ESME with ESME_ROK.
    Delivered,
    /// Dropped after its attempts or its time to live ran out.
    Expired,
    /// Dropped because the per-account store was full.
    Overflow,
}

/// Command ids (without the response bit) below this are counted in [`FastPdus`]; that covers
/// every SMPP 3.4 operation but data_sm, broadcast_sm and their kin, which take the map.
const FAST_IDS: usize = 0x22;

/// Lock-free PDU counts for status 0 and command ids below [`FAST_IDS`], indexed by
/// (direction, response bit, command id).
#[derive(Debug)]
struct FastPdus([[[AtomicU64; FAST_IDS]; 2]; 2]);

impl Default for FastPdus {
    fn default() -> Self {
        Self(std::array::from_fn(|_| {
            std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0)))
        }))
    }
}

impl FastPdus {
    fn slot(&self, dir: Direction, command_id: u32, status: u32) -> Option<&AtomicU64> {
        let low = (command_id & 0x7FFF_FFFF) as usize;
        if status != 0 || low >= FAST_IDS {
            return None;
        }
        let resp = usize::from(command_id & 0x8000_0000 != 0);
        Some(&self.0[dir as usize][resp][low])
    }

    /// Every non-zero count, keyed like the map.
    fn each(&self, mut f: impl FnMut((Direction, u32, u32), u64)) {
        for (d, dir) in [Direction::In, Direction::Out].into_iter().enumerate() {
            for resp in 0..2 {
                for low in 0..FAST_IDS {
                    let n = self.0[d][resp][low].load(Ordering::Relaxed);
                    if n > 0 {
                        let id = low as u32 | if resp == 1 { 0x8000_0000 } else { 0 };
                        f((dir, id, 0), n);
                    }
                }
            }
        }
    }
}

/// Counters per account (or per account and label), counted under the read lock.
type PerAccount<K> = RwLock<BTreeMap<String, BTreeMap<K, AtomicU64>>>;

/// Adds one to `map[account][key]`, taking the write lock only the first time a pair is seen.
fn count_for<K: Ord + Copy>(map: &PerAccount<K>, account: &str, key: K) {
    {
        let read = map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = read.get(account).and_then(|m| m.get(&key)) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let mut write = map.write().unwrap_or_else(|e| e.into_inner());
    write
        .entry(account.to_string())
        .or_default()
        .entry(key)
        .or_insert_with(|| AtomicU64::new(0))
        .fetch_add(1, Ordering::Relaxed);
}

/// `(account, key, count)` for every pair, in account then key order.
fn snapshot<K: Ord + Copy>(map: &PerAccount<K>) -> Vec<(String, K, u64)> {
    let read = map.read().unwrap_or_else(|e| e.into_inner());
    read.iter()
        .flat_map(|(a, m)| {
            m.iter()
                .map(move |(k, n)| (a.clone(), *k, n.load(Ordering::Relaxed)))
        })
        .collect()
}

/// All carrier counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// The common PDUs, lock-free (see the module comment).
    fast_pdus: FastPdus,
    /// Every other PDU; keyed by raw command id so counting allocates nothing; named when
    /// rendered.
    pdus: Mutex<BTreeMap<(Direction, u32, u32), u64>>,
    binds: Mutex<BTreeMap<(String, u32), u64>>,
    /// Accepted messages by account (the unit key: one counter per account).
    accepted: PerAccount<()>,
    /// Final states by account and stat word.
    outcomes: PerAccount<&'static str>,
    /// Submit refusals by (account, command_status).
    refusals: Mutex<BTreeMap<(String, u32), u64>>,
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections refused by the connection cap.
    pub connections_refused: AtomicU64,
    /// Connections currently open.
    pub connections_open: AtomicU64,
    /// Connections closed for not binding in time.
    pub bind_timeouts: AtomicU64,
    /// Sessions closed because the peer stopped answering enquire_link.
    pub idle_closes: AtomicU64,
    /// Connections closed for a command_length out of bounds.
    pub framing_errors: AtomicU64,
    /// Messages accepted (one per destination and part).
    pub messages_accepted: AtomicU64,
    /// Messages delivered to the handset.
    pub messages_delivered: AtomicU64,
    /// Receipts generated.
    pub receipts_generated: AtomicU64,
    /// Receipts acknowledged by an ESME.
    pub receipts_delivered: AtomicU64,
    /// Receipts expired (attempts or time to live exhausted).
    pub receipts_expired: AtomicU64,
    /// Receipts dropped because the store was full.
    pub receipts_overflow: AtomicU64,
    /// Receipt sends that failed (error status or no response) and were retried.
    pub receipts_retried: AtomicU64,
    /// Receipts never sent by design (simulated silent loss).
    pub receipts_lost: AtomicU64,
    /// Receipts sent twice by design (simulated duplicates).
    pub receipts_duplicated: AtomicU64,
    /// MO messages queued for ESMEs (handset replies and injected).
    pub mo_generated: AtomicU64,
    /// Session faults injected (drops, unbinds, generic_nacks).
    pub faults_injected: AtomicU64,
}

impl Metrics {
    /// Counts one PDU.
    pub fn pdu(&self, dir: Direction, command_id: u32, status: u32) {
        if let Some(n) = self.fast_pdus.slot(dir, command_id, status) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut map = self.pdus.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((dir, command_id, status)).or_insert(0) += 1;
    }

    /// Counts one bind attempt and its outcome.
    pub fn bind(&self, kind: &str, status: u32) {
        let mut map = self.binds.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((kind.to_string(), status)).or_insert(0) += 1;
    }

    /// Counts one accepted message.
    pub fn accepted(&self, account: &str) {
        self.messages_accepted.fetch_add(1, Ordering::Relaxed);
        count_for(&self.accepted, account, ());
    }

    /// Counts one message reaching its final state.
    pub fn outcome(&self, account: &str, stat: &'static str) {
        count_for(&self.outcomes, account, stat);
    }

    /// Counts one submit refused with `status`.
    pub fn refusal(&self, account: &str, status: u32) {
        let mut map = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((account.to_string(), status)).or_insert(0) += 1;
    }

    /// Final states by stat word, all accounts together.
    pub fn outcome_counts(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for (_, stat, n) in snapshot(&self.outcomes) {
            *out.entry(stat).or_insert(0) += n;
        }
        out
    }

    /// Submit refusals by command_status, all accounts together.
    pub fn refusal_counts(&self) -> BTreeMap<u32, u64> {
        let mut out = BTreeMap::new();
        for ((_, status), n) in self
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            *out.entry(*status).or_insert(0) += n;
        }
        out
    }

    /// Every PDU count, fast array and map merged, in (direction, command id, status) order.
    fn pdu_counts(&self) -> BTreeMap<(Direction, u32, u32), u64> {
        let mut map = self.pdus.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.fast_pdus.each(|k, n| *map.entry(k).or_insert(0) += n);
        map
    }

    /// Counts one receipt's end.
    pub fn receipt_fate(&self, fate: ReceiptFate) {
        let c = match fate {
            ReceiptFate::Delivered => &self.receipts_delivered,
            ReceiptFate::Expired => &self.receipts_expired,
            ReceiptFate::Overflow => &self.receipts_overflow,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Count of PDUs with this direction, command name and status (for tests and stats).
    pub fn pdu_count(&self, dir: Direction, command: &str, status: u32) -> u64 {
        self.pdu_counts()
            .iter()
            .filter(|((d, id, st), _)| {
                *d == dir && *st == status && smpp::frame::command_name(*id) == command
            })
            .map(|(_, n)| *n)
            .sum()
    }
}

/// One carrier's figures for [`render_prometheus`].
#[derive(Debug)]
pub struct CarrierFigures<'a> {
    /// Carrier name.
    pub carrier: &'a str,
    /// Its counters.
    pub metrics: &'a Metrics,
    /// Receipts currently held for delivery.
    pub stored: u64,
    /// Message records in its store.
    pub store_records: usize,
}

/// Prometheus text exposition for every carrier: one HELP/TYPE header per family, then a
/// sample per carrier (and account, outcome, ... where the family has those labels).
pub fn render_prometheus(carriers: &[CarrierFigures<'_>]) -> String {
    let mut out = String::new();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut out,
        "carrier_pdus_total",
        "counter",
        "SMPP PDUs by direction, command and command_status.",
    );
    for f in carriers {
        let c = escape(f.carrier);
        for ((dir, cmd, status), n) in f.metrics.pdu_counts().iter() {
            let cmd = smpp::frame::command_name(*cmd);
            let dir = match dir {
                Direction::In => "in",
                Direction::Out => "out",
            };
            let _ = writeln!(
                out,
                "carrier_pdus_total{{carrier=\"{c}\",direction=\"{dir}\",command=\"{cmd}\",status=\"0x{status:08x}\"}} {n}"
            );
        }
    }
    family(
        &mut out,
        "carrier_binds_total",
        "counter",
        "Bind attempts by kind and command_status.",
    );
    for f in carriers {
        let c = escape(f.carrier);
        for ((kind, status), n) in f
            .metrics
            .binds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "carrier_binds_total{{carrier=\"{c}\",kind=\"{kind}\",status=\"0x{status:08x}\"}} {n}"
            );
        }
    }
    family(
        &mut out,
        "carrier_messages_accepted_by_account_total",
        "counter",
        "Messages accepted by account (per destination and part).",
    );
    for f in carriers {
        let c = escape(f.carrier);
        for (account, (), n) in snapshot(&f.metrics.accepted) {
            let a = escape(&account);
            let _ = writeln!(
                out,
                "carrier_messages_accepted_by_account_total{{carrier=\"{c}\",account=\"{a}\"}} {n}"
            );
        }
    }
    family(
        &mut out,
        "carrier_message_outcomes_total",
        "counter",
        "Messages by final state (receipt stat), per account.",
    );
    for f in carriers {
        let c = escape(f.carrier);
        for (account, stat, n) in snapshot(&f.metrics.outcomes) {
            let a = escape(&account);
            let _ = writeln!(
                out,
                "carrier_message_outcomes_total{{carrier=\"{c}\",account=\"{a}\",outcome=\"{stat}\"}} {n}"
            );
        }
    }
    family(
        &mut out,
        "carrier_submit_refusals_total",
        "counter",
        "Submits refused (throttling, configured errors, unknown numbers) by account and command_status.",
    );
    for f in carriers {
        let c = escape(f.carrier);
        for ((account, status), n) in f
            .metrics
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let a = escape(account);
            let _ = writeln!(
                out,
                "carrier_submit_refusals_total{{carrier=\"{c}\",account=\"{a}\",status=\"0x{status:08x}\"}} {n}"
            );
        }
    }
    type Pick = fn(&Metrics) -> &AtomicU64;
    let counters: [(&str, &str, Pick); 9] = [
        (
            "carrier_faults_injected_total",
            "Session faults injected (drops, unbinds, generic_nacks).",
            |m| &m.faults_injected,
        ),
        (
            "carrier_connections_accepted_total",
            "Connections accepted.",
            |m| &m.connections_accepted,
        ),
        (
            "carrier_connections_refused_total",
            "Connections refused by the connection cap.",
            |m| &m.connections_refused,
        ),
        (
            "carrier_bind_timeouts_total",
            "Connections closed for not binding in time.",
            |m| &m.bind_timeouts,
        ),
        (
            "carrier_idle_closes_total",
            "Sessions closed after an unanswered enquire_link.",
            |m| &m.idle_closes,
        ),
        (
            "carrier_framing_errors_total",
            "Connections closed for a command_length out of bounds.",
            |m| &m.framing_errors,
        ),
        (
            "carrier_messages_accepted_total",
            "Messages accepted (per destination and part).",
            |m| &m.messages_accepted,
        ),
        (
            "carrier_messages_delivered_total",
            "Messages delivered to the handset.",
            |m| &m.messages_delivered,
        ),
        ("carrier_mo_total", "MO messages queued for ESMEs.", |m| {
            &m.mo_generated
        }),
    ];
    for (name, help, pick) in counters {
        family(&mut out, name, "counter", help);
        for f in carriers {
            let _ = writeln!(
                out,
                "{name}{{carrier=\"{}\"}} {}",
                escape(f.carrier),
                load(pick(f.metrics))
            );
        }
    }
    family(
        &mut out,
        "carrier_receipts_total",
        "counter",
        "Delivery receipts by fate.",
    );
    for f in carriers {
        let c = escape(f.carrier);
        let m = f.metrics;
        for (fate, v) in [
            ("generated", &m.receipts_generated),
            ("delivered", &m.receipts_delivered),
            ("expired", &m.receipts_expired),
            ("overflow", &m.receipts_overflow),
            ("retried", &m.receipts_retried),
            ("lost", &m.receipts_lost),
            ("duplicated", &m.receipts_duplicated),
        ] {
            let _ = writeln!(
                out,
                "carrier_receipts_total{{carrier=\"{c}\",fate=\"{fate}\"}} {}",
                load(v)
            );
        }
    }
    type Gauge = fn(&CarrierFigures<'_>) -> u64;
    let gauges: [(&str, &str, Gauge); 3] = [
        (
            "carrier_receipts_stored",
            "Receipts held for delivery (queued, retrying or in flight).",
            |f| f.stored,
        ),
        ("carrier_connections_open", "Connections open.", |f| {
            f.metrics.connections_open.load(Ordering::Relaxed)
        }),
        (
            "carrier_messages_stored",
            "Message records held by the store.",
            |f| f.store_records as u64,
        ),
    ];
    for (name, help, get) in gauges {
        family(&mut out, name, "gauge", help);
        for f in carriers {
            let _ = writeln!(
                out,
                "{name}{{carrier=\"{}\"}} {}",
                escape(f.carrier),
                get(f)
            );
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_pdu_counts_with_labels() {
        let m = Metrics::default();
        m.pdu(Direction::In, 4, 0);
        m.pdu(Direction::In, 4, 0);
        m.pdu(Direction::Out, 0x8000_0004, 0x0b);
        m.outcome("acct", "DELIVRD");
        m.refusal("acct", 0x58);
        let text = render_prometheus(&[
            CarrierFigures {
                carrier: "alpha",
                metrics: &m,
                stored: 3,
                store_records: 2,
            },
            CarrierFigures {
                carrier: "beta",
                metrics: &Metrics::default(),
                stored: 0,
                store_records: 0,
            },
        ]);
        // One header per family, whatever the number of carriers.
        assert_eq!(
            text.matches("# TYPE carrier_receipts_stored gauge").count(),
            1
        );
        assert!(text.contains("carrier_receipts_stored{carrier=\"beta\"} 0"));
        assert!(text.contains("carrier_message_outcomes_total{carrier=\"alpha\",account=\"acct\",outcome=\"DELIVRD\"} 1"));
        assert!(text.contains("carrier_submit_refusals_total{carrier=\"alpha\",account=\"acct\",status=\"0x00000058\"} 1"));
        assert!(text.contains("carrier_pdus_total{carrier=\"alpha\",direction=\"in\",command=\"submit_sm\",status=\"0x00000000\"} 2"));
        assert!(text.contains("command=\"submit_sm_resp\",status=\"0x0000000b\"} 1"));
        assert!(text.contains("carrier_receipts_stored{carrier=\"alpha\"} 3"));
    }
}
