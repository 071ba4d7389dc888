//! `GET /metrics`: every carrier's counters as Prometheus text.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::smsc::lockout::LockoutNow;
use crate::smsc::metrics::{Direction, Metrics};
use crate::smsc::network::Network;
use crate::smsc::stats::HttpStats;
use crate::world::billing::{Billing, CellCounts};
use crate::world::events::SubscriberStats;
use crate::world::numbers::{MAX_OVERRIDES, NumberOverrides};

/// The metrics route.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(net)
}

async fn metrics(State(net): State<Arc<Network>>) -> impl IntoResponse {
    let carriers: Vec<_> = net.carriers().collect();
    let now = tokio::time::Instant::now();
    let stored: Vec<(u64, u64, usize, LockoutNow)> = carriers
        .iter()
        .map(|c| {
            let a = c.receipts.account();
            (
                a.stored(),
                a.scheduled,
                c.store.stats().records,
                c.lockout.now(now),
            )
        })
        .collect();
    let figures: Vec<CarrierFigures<'_>> = carriers
        .iter()
        .zip(&stored)
        .map(
            |(c, (stored, scheduled, records, lockout))| CarrierFigures {
                carrier: c.name(),
                metrics: &c.metrics,
                stored: *stored,
                scheduled: *scheduled,
                store_records: *records,
                lockout: *lockout,
            },
        )
        .collect();
    let mut text = render_prometheus(&figures);
    render_control_plane(
        &mut text,
        &net.http.stats(),
        &net.world.events.subscriber_stats(),
    );
    render_billing(&mut text, &net.world.billing);
    render_numbers(&mut text, &net.world.numbers);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// The control plane's own refusals and the event stream's subscribers.
pub(crate) fn render_control_plane(out: &mut String, http: &HttpStats, subs: &SubscriberStats) {
    let _ = writeln!(
        out,
        "# HELP carrier_http_refusals_total Control-plane requests and connections refused, by reason: connections (503 at http.max_connections), header_timeout (408, headers not sent within http.header_timeout), request_timeout (408), body_too_large (413), unauthorized (401 without the token).\n# TYPE carrier_http_refusals_total counter"
    );
    for (reason, n) in [
        ("connections", http.refused),
        ("header_timeout", http.header_timeouts),
        ("request_timeout", http.timed_out),
        ("body_too_large", http.body_too_large),
        ("unauthorized", http.unauthorized),
    ] {
        let _ = writeln!(
            out,
            "carrier_http_refusals_total{{reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP carrier_event_subscribers WebSocket event-stream subscribers open now.\n# TYPE carrier_event_subscribers gauge\ncarrier_event_subscribers {}",
        subs.open
    );
    let _ = writeln!(
        out,
        "# HELP carrier_event_subscribers_refused_total Event-stream subscriptions refused (503) at events.max_subscribers.\n# TYPE carrier_event_subscribers_refused_total counter\ncarrier_event_subscribers_refused_total {}",
        subs.refused
    );
    let _ = writeln!(
        out,
        "# HELP carrier_event_subscribers_closed_lagging_total Event-stream subscribers closed (1008) after events.max_lags lag notices.\n# TYPE carrier_event_subscribers_closed_lagging_total counter\ncarrier_event_subscribers_closed_lagging_total {}",
        subs.closed_lagging
    );
}

/// Number life events (`/v1/numbers/...`): applied, refused at the bound, numbers kept.
fn render_numbers(out: &mut String, numbers: &NumberOverrides) {
    let _ = writeln!(
        out,
        "# HELP carrier_number_changes_total Number changes applied (SIM swaps, recyclings, ports).\n# TYPE carrier_number_changes_total counter\ncarrier_number_changes_total {}",
        numbers.applied.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP carrier_number_changes_refused_total Number changes refused (503) because {MAX_OVERRIDES} numbers were changed already.\n# TYPE carrier_number_changes_refused_total counter\ncarrier_number_changes_refused_total {}",
        numbers.refused.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP carrier_numbers_changed Numbers with a change kept now.\n# TYPE carrier_numbers_changed gauge\ncarrier_numbers_changed {}",
        numbers.len()
    );
}

/// A billing metric: name, help and how to read its value from a cell.
type Family = (&'static str, &'static str, fn(&CellCounts) -> String);

/// What the carriers charged, per carrier, account and range: one sample per triple that was
/// billed something, so the label set is bounded by the config's carriers and accounts and the
/// plan's ranges (plus `(voice)` and `(outside plan)`).
pub(crate) fn render_billing(out: &mut String, billing: &Billing) {
    let cells = billing.cells();
    let currency = escape(billing.currency());
    let families: [Family; 4] = [
        (
            "carrier_billed_sms_parts_total",
            "SMS parts billed (accepted), by carrier, account and range.",
            |c| c.sms_parts.to_string(),
        ),
        (
            "carrier_billed_call_minutes_total",
            "Started minutes of answered calls billed, by carrier, account ((voice)) and range.",
            |c| c.call_minutes.to_string(),
        ),
        (
            "carrier_billed_sms_cost_total",
            "What the billed SMS parts cost, in the plan currency (label currency).",
            |c| c.sms_cost().to_string(),
        ),
        (
            "carrier_billed_call_cost_total",
            "What the billed call minutes cost, in the plan currency (label currency).",
            |c| c.call_cost().to_string(),
        ),
    ];
    for (i, (name, help, value)) in families.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for cell in &cells {
            let (c, a, r) = (
                escape(cell.carrier),
                escape(cell.account),
                escape(cell.range),
            );
            let currency = if i >= 2 {
                format!(",currency=\"{currency}\"")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{name}{{carrier=\"{c}\",account=\"{a}\",range=\"{r}\"{currency}}} {}",
                value(&cell.counts)
            );
        }
    }
}

/// One carrier's figures for [`render_prometheus`].
#[derive(Debug)]
pub(crate) struct CarrierFigures<'a> {
    /// Carrier name.
    pub(crate) carrier: &'a str,
    /// Its counters.
    pub(crate) metrics: &'a Metrics,
    /// Receipts currently held for delivery.
    pub(crate) stored: u64,
    /// Receipts owed whose message's final state is not yet due.
    pub(crate) scheduled: u64,
    /// Message records in its store.
    pub(crate) store_records: usize,
    /// What its bind lockout holds now.
    pub(crate) lockout: LockoutNow,
}

/// Prometheus text exposition for every carrier: one HELP/TYPE header per family, then a
/// sample per carrier (and account, outcome, ... where the family has those labels).
pub(crate) fn render_prometheus(carriers: &[CarrierFigures<'_>]) -> String {
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
        for ((kind, status), n) in &f.metrics.bind_counts() {
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
        for (account, (), n) in f.metrics.accepted_by_account() {
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
        for (account, stat, n) in f.metrics.outcomes_by_account() {
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
        for ((account, status), n) in &f.metrics.refusals_by_account() {
            let a = escape(account);
            let _ = writeln!(
                out,
                "carrier_submit_refusals_total{{carrier=\"{c}\",account=\"{a}\",status=\"0x{status:08x}\"}} {n}"
            );
        }
    }
    type Pick = fn(&Metrics) -> &AtomicU64;
    let counters: [(&str, &str, Pick); 19] = [
        (
            "carrier_bind_failures_total",
            "Binds refused for their credentials (ESME_RINVSYSID, ESME_RINVPASWD).",
            |m| &m.bind_failures,
        ),
        (
            "carrier_bind_address_lockouts_total",
            "Source addresses locked out after bind_lockout.max_failures failed binds.",
            |m| &m.bind_lockouts_address,
        ),
        (
            "carrier_bind_system_id_guards_total",
            "System_ids guarded after failed binds from bind_lockout.system_id_addresses addresses.",
            |m| &m.bind_lockouts_system_id,
        ),
        (
            "carrier_bind_refused_address_locked_total",
            "Binds refused with ESME_RBINDFAIL because their source address was locked out.",
            |m| &m.bind_refused_address_locked,
        ),
        (
            "carrier_bind_refused_system_id_guarded_total",
            "Binds refused with ESME_RBINDFAIL from an address that failed against a guarded system_id.",
            |m| &m.bind_refused_system_id_guarded,
        ),
        (
            "carrier_bind_failure_closes_total",
            "Connections closed after bind_lockout.failures_per_connection failed binds.",
            |m| &m.bind_failure_closes,
        ),
        (
            "carrier_window_refusals_total",
            "Operations refused with ESME_RTHROTTLED past session.max_held_responses.",
            |m| &m.window_refusals,
        ),
        (
            "carrier_timer_refusals_total",
            "Submits refused because the carrier's timers were full (store.max_timers).",
            |m| &m.timer_refusals,
        ),
        (
            "carrier_evicted_pending_total",
            "Messages evicted from the store before their final state (no receipt made).",
            |m| &m.evicted_pending,
        ),
        (
            "carrier_backpressure_refusals_total",
            "Submits refused because the account's receipts backed up past receipts.high_water.",
            |m| &m.backpressure_refusals,
        ),
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
            ("asked", &m.receipts_asked),
            ("withdrawn", &m.receipts_withdrawn),
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
    let gauges: [(&str, &str, Gauge); 6] = [
        (
            "carrier_bind_locked_addresses",
            "Source addresses locked out now.",
            |f| f.lockout.locked_addresses as u64,
        ),
        (
            "carrier_bind_guarded_system_ids",
            "System_ids guarded against guessing now.",
            |f| f.lockout.guarded_system_ids as u64,
        ),
        (
            "carrier_receipts_stored",
            "Receipts held for delivery (queued, retrying or in flight).",
            |f| f.stored,
        ),
        (
            "carrier_receipts_scheduled",
            "Receipts owed for accepted messages whose final state is not yet due.",
            |f| f.scheduled,
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
                scheduled: 5,
                store_records: 2,
                lockout: LockoutNow::default(),
            },
            CarrierFigures {
                carrier: "beta",
                metrics: &Metrics::default(),
                stored: 0,
                scheduled: 0,
                store_records: 0,
                lockout: LockoutNow::default(),
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
        assert!(text.contains("carrier_receipts_scheduled{carrier=\"alpha\"} 5"));
    }
}
