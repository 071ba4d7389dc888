//! Counters the carrier keeps, rendered as Prometheus text and JSON.
//!
//! Plain atomics for the hot counters; PDU counts by (direction, command, status) sit behind one
//! mutex-guarded map, since the label set is open-ended (unknown command ids, any status) and an
//! uncontended lock costs far less than the PDU it counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// All carrier counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Keyed by raw command id so counting allocates nothing; named when rendered.
    pdus: Mutex<BTreeMap<(Direction, u32, u32), u64>>,
    binds: Mutex<BTreeMap<(String, u32), u64>>,
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
}

impl Metrics {
    /// Counts one PDU.
    pub fn pdu(&self, dir: Direction, command_id: u32, status: u32) {
        let mut map = self.pdus.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((dir, command_id, status)).or_insert(0) += 1;
    }

    /// Counts one bind attempt and its outcome.
    pub fn bind(&self, kind: &str, status: u32) {
        let mut map = self.binds.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((kind.to_string(), status)).or_insert(0) += 1;
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
        let map = self.pdus.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|((d, id, st), _)| {
                *d == dir && *st == status && smpp::frame::command_name(*id) == command
            })
            .map(|(_, n)| *n)
            .sum()
    }

    /// Prometheus text exposition. `stored` is the current count of receipts held for delivery.
    pub fn render_prometheus(&self, carrier: &str, stored: u64, store_records: usize) -> String {
        let mut out = String::new();
        let c = escape(carrier);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP carrier_pdus_total SMPP PDUs by direction, command and command_status.\n# TYPE carrier_pdus_total counter\n");
        for ((dir, cmd, status), n) in self.pdus.lock().unwrap_or_else(|e| e.into_inner()).iter() {
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
        out.push_str("# HELP carrier_binds_total Bind attempts by kind and command_status.\n# TYPE carrier_binds_total counter\n");
        for ((kind, status), n) in self.binds.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "carrier_binds_total{{carrier=\"{c}\",kind=\"{kind}\",status=\"0x{status:08x}\"}} {n}"
            );
        }
        let counters: [(&str, &str, &AtomicU64); 7] = [
            (
                "carrier_connections_accepted_total",
                "Connections accepted.",
                &self.connections_accepted,
            ),
            (
                "carrier_connections_refused_total",
                "Connections refused by the connection cap.",
                &self.connections_refused,
            ),
            (
                "carrier_bind_timeouts_total",
                "Connections closed for not binding in time.",
                &self.bind_timeouts,
            ),
            (
                "carrier_idle_closes_total",
                "Sessions closed after an unanswered enquire_link.",
                &self.idle_closes,
            ),
            (
                "carrier_framing_errors_total",
                "Connections closed for a command_length out of bounds.",
                &self.framing_errors,
            ),
            (
                "carrier_messages_accepted_total",
                "Messages accepted (per destination and part).",
                &self.messages_accepted,
            ),
            (
                "carrier_messages_delivered_total",
                "Messages delivered to the handset.",
                &self.messages_delivered,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{carrier=\"{c}\"}} {}",
                load(v)
            );
        }
        out.push_str("# HELP carrier_receipts_total Delivery receipts by fate.\n# TYPE carrier_receipts_total counter\n");
        for (fate, v) in [
            ("generated", &self.receipts_generated),
            ("delivered", &self.receipts_delivered),
            ("expired", &self.receipts_expired),
            ("overflow", &self.receipts_overflow),
            ("retried", &self.receipts_retried),
        ] {
            let _ = writeln!(
                out,
                "carrier_receipts_total{{carrier=\"{c}\",fate=\"{fate}\"}} {}",
                load(v)
            );
        }
        let _ = writeln!(
            out,
            "# HELP carrier_receipts_stored Receipts held for delivery (queued, retrying or in flight).\n# TYPE carrier_receipts_stored gauge\ncarrier_receipts_stored{{carrier=\"{c}\"}} {stored}"
        );
        let _ = writeln!(
            out,
            "# HELP carrier_connections_open Connections open.\n# TYPE carrier_connections_open gauge\ncarrier_connections_open{{carrier=\"{c}\"}} {}",
            load(&self.connections_open)
        );
        let _ = writeln!(
            out,
            "# HELP carrier_messages_stored Message records held by the store.\n# TYPE carrier_messages_stored gauge\ncarrier_messages_stored{{carrier=\"{c}\"}} {store_records}"
        );
        out
    }
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
        let text = m.render_prometheus("alpha", 3, 2);
        assert!(text.contains("carrier_pdus_total{carrier=\"alpha\",direction=\"in\",command=\"submit_sm\",status=\"0x00000000\"} 2"));
        assert!(text.contains("command=\"submit_sm_resp\",status=\"0x0000000b\"} 1"));
        assert!(text.contains("carrier_receipts_stored{carrier=\"alpha\"} 3"));
    }
}
