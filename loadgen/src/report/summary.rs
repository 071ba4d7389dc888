//! The end-of-test summary: what ran against what, how every verification ended, the latencies
//! in scenario time per channel and carrier, failover, the phases and timeline, the abuse
//! section when the scenario has personas ([`super::abuse_text`]), the threshold verdicts and
//! the accounting identity, as a table a person reads in a terminal or a CI log.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Report;
pub use super::words::reasons;
use crate::measure::Percentiles;
use crate::threshold::Verdict;

/// An outcome's line: name, count, share, reasons.
pub type OutcomeRow<'a> = (&'a str, u64, Option<f64>, &'a BTreeMap<String, u64>);

static NO_REASONS: BTreeMap<String, u64> = BTreeMap::new();

/// How verifications ended, one row an outcome: name, count, share of the users that asked,
/// and the reasons (verified has none).
pub fn outcome_rows(r: &Report) -> [OutcomeRow<'_>; 5] {
    [
        (
            "verified",
            r.outcomes.verified,
            r.ratios.verified,
            &NO_REASONS,
        ),
        (
            "refused",
            r.outcomes.refused,
            r.ratios.refused,
            &r.reasons.refused,
        ),
        (
            "expired",
            r.outcomes.expired,
            r.ratios.expired,
            &r.reasons.expired,
        ),
        (
            "abandoned",
            r.outcomes.abandoned,
            r.ratios.abandoned,
            &r.reasons.abandoned,
        ),
        (
            "failed",
            r.outcomes.failed,
            r.ratios.failed,
            &r.reasons.failed,
        ),
    ]
}

/// A duration in microseconds as a person reads it.
pub fn us(v: u64) -> String {
    if v >= 60_000_000 {
        format!("{:.1}m", v as f64 / 60e6)
    } else if v >= 1_000_000 {
        format!("{:.2}s", v as f64 / 1e6)
    } else if v >= 1_000 {
        format!("{:.1}ms", v as f64 / 1e3)
    } else {
        format!("{v}µs")
    }
}

/// A threshold's measured value as a person reads it, in the metric's unit.
pub fn measured(v: &Verdict) -> String {
    let value = match v.value {
        None => "nothing".to_string(),
        Some(x) if x.is_infinite() => "never".to_string(),
        Some(x) if v.unit == "us" => us(x.round() as u64),
        Some(x) if v.unit == "fraction" => format!("{x:.4}"),
        Some(x) if v.unit == "per_second" => format!("{x:.1}/s"),
        Some(x) if v.unit == "currency" => format!("{x:.2}"),
        Some(x) => format!("{x}"),
    };
    match (&v.why, v.value) {
        (Some(why), _) => format!("{value} ({why})"),
        (None, None) => "no samples".to_string(),
        (None, Some(_)) => value,
    }
}

fn pct(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}

fn row(out: &mut String, name: &str, p: &Percentiles) {
    if p.count == 0 {
        let _ = writeln!(out, "    {name:<26} {:>8}  no samples", 0);
        return;
    }
    let _ = writeln!(
        out,
        "    {name:<26} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        p.count,
        us(p.p50),
        us(p.p90),
        us(p.p99),
        us(p.p999),
        us(p.max)
    );
}

/// The summary of a report.
pub fn summary(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.scenario;
    let _ = writeln!(o, "\nloadgen run · {} ({})", s.name, s.file);
    if !s.description.is_empty() {
        let _ = writeln!(o, "  {}", s.description);
    }
    let _ = writeln!(
        o,
        "  target     {} · {} · handsets: {}",
        r.target.network, r.target.service, r.target.handsets
    );
    let _ = writeln!(
        o,
        "  time       {:.1}s of scenario at time scale {} ({:.1}s wall), seed {}",
        s.duration_s, s.time_scale, r.wall_s, s.seed
    );

    let _ = writeln!(o, "\n  verifications");
    let dots = |name: &str| format!("{name} {}", ".".repeat(18usize.saturating_sub(name.len())));
    let _ = writeln!(
        o,
        "    {} {:>8}   {:.1}/s achieved, {:.1}/s target{}",
        dots("attempted"),
        r.attempted,
        r.rates.achieved,
        r.rates.target,
        if r.rates.met {
            ""
        } else {
            "  TARGET RATE NOT MET"
        }
    );
    let _ = writeln!(o, "    {} {:>8}", dots("started"), r.started);
    let _ = writeln!(
        o,
        "    {} {:>8}   {} of started",
        dots("delivered"),
        r.delivered,
        pct(r.ratios.delivered)
    );
    let outcomes = outcome_rows(r);
    for (name, n, ratio, why) in outcomes {
        let _ = writeln!(
            o,
            "    {} {:>8}   {:>6}  {}",
            dots(&format!("  {name}")),
            n,
            pct(ratio),
            reasons(why)
        );
    }
    let _ = writeln!(
        o,
        "    resends {} · typos {} · checks {} · behind schedule {} · unsent {}",
        r.resends, r.typos, r.checks, r.behind_schedule, r.unsent
    );

    let _ = writeln!(
        o,
        "\n  latency (scenario time)          count       p50       p90       p99     p99.9       max"
    );
    let l = &r.latency_us;
    row(&mut o, "start_response", &l.start_response);
    row(&mut o, "delivery_time", &l.delivery_time);
    for rt in &r.routes {
        row(
            &mut o,
            &format!("  {} · {}", rt.channel, rt.carrier),
            &rt.delivery_time_us,
        );
    }
    row(&mut o, "receipt_time", &l.receipt_time);
    row(&mut o, "verify_time", &l.verify_time);
    row(&mut o, "send_lag", &l.send_lag);

    let f = &r.failover;
    if !f.observable {
        let _ = writeln!(
            o,
            "\n  failover   not observable: the service does not tell its attempts (deliveries per carrier are in the timeline)"
        );
    } else if f.verifications == 0 && f.routed.is_empty() {
        let _ = writeln!(o, "\n  failover   none");
    } else {
        let _ = writeln!(
            o,
            "\n  failover   {} of {} started ({}): {}",
            f.verifications,
            r.started,
            pct(f.ratio),
            reasons(&f.by_cause)
        );
        if f.added_us.count < f.verifications {
            let _ = writeln!(
                o,
                "             {} of them ended before a later step was sent (their first code \
                 came after all): no time added",
                f.verifications - f.added_us.count
            );
        }
        if f.added_us.count > 0 {
            let _ = writeln!(
                o,
                "             time added ({} sent a later step) p50 {} p99 {} max {}; their \
                 delivery p50 {} p99 {}",
                f.added_us.count,
                us(f.added_us.p50),
                us(f.added_us.p99),
                us(f.added_us.max),
                us(f.delivery_time_us.p50),
                us(f.delivery_time_us.p99)
            );
        }
        if !f.routed.is_empty() {
            let _ = writeln!(
                o,
                "             sent straight to a later step: {}",
                reasons(&f.routed)
            );
        }
    }

    if r.phases.len() > 1 || r.populations.len() > 1 {
        let _ = writeln!(
            o,
            "\n  {:<24} {:>9} {:>9} {:>8} {:>12}",
            "phase / population", "attempted", "verified", "ratio", "delivery p99"
        );
        for p in r.phases.iter().chain(&r.populations) {
            let p99 = p
                .delivery_time_us
                .filter(|d| d.count > 0)
                .map_or("-".into(), |d| us(d.p99));
            let name = match (p.from_s, p.to_s) {
                (Some(a), Some(b)) => format!("{} ({a:.0}-{b:.0}s)", p.name),
                _ => p.name.clone(),
            };
            let _ = writeln!(
                o,
                "  {:<24} {:>9} {:>9} {:>8} {:>12}",
                name,
                p.counts.attempted,
                p.counts.verified,
                pct(p.verified_ratio),
                p99
            );
        }
    }
    for e in &r.events {
        let _ = writeln!(
            o,
            "  at {:>6.1}s  {}: {}{}",
            e.at_s,
            e.carrier,
            e.what,
            e.error
                .as_ref()
                .map_or(String::new(), |err| format!(" FAILED: {err}"))
        );
    }

    let h = &r.handsets;
    let _ = writeln!(
        o,
        "\n  handsets   {} codes read, {} extra deliveries, {} stray, {} unreadable, {} events missed; receipts {} matched, {} missing",
        h.codes,
        h.extra,
        h.stray,
        h.unreadable,
        h.lagged_events,
        h.receipts_matched,
        h.receipts_missing
    );
    let _ = writeln!(
        o,
        "  machine    {:.2} cores used of {}{}; peak RSS {:.1} MiB, {} pending at most{}",
        r.machine.process_cores,
        r.machine.cores,
        r.machine.load_average.map_or(String::new(), |l| format!(
            " (load average {l:.2} at start)"
        )),
        r.memory.peak_rss_bytes as f64 / 1048576.0,
        r.memory.peak_pending,
        r.memory
            .per_pending_bytes
            .map_or(String::new(), |b| format!(", {b} bytes each"))
    );

    if let Some(a) = &r.abuse {
        super::abuse_text::summary_section(&mut o, a);
    }

    if !r.thresholds.is_empty() {
        let _ = writeln!(o, "\n  thresholds");
        for v in &r.thresholds {
            let line = format!(
                "    {} {:<36} measured {}",
                if v.pass { "✓" } else { "✗" },
                v.expr,
                measured(v)
            );
            // A long reason goes on a line of its own, so the line fits a 100-column terminal.
            match (&v.why, line.chars().count() > 100) {
                (Some(why), true) => {
                    let head = line.trim_end_matches(&format!(" ({why})")).to_string();
                    let _ = writeln!(o, "{head}\n        ({why})");
                }
                _ => {
                    let _ = writeln!(o, "{line}");
                }
            }
        }
    }
    let _ = writeln!(
        o,
        "\n  identity   {}",
        if r.identity.holds { "holds" } else { "BROKEN" }
    );
    for line in &r.identity.text {
        let _ = writeln!(o, "             {line}");
    }
    for n in &r.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    for e in &r.errors {
        let _ = writeln!(o, "  error: {e}");
    }
    let verdict = if !r.errors.is_empty() {
        "ERROR"
    } else if r.thresholds_passed {
        "PASS"
    } else {
        "FAIL: a threshold was breached"
    };
    let _ = writeln!(o, "\n  result     {verdict}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_abuse_section_and_its_verdicts_show_when_there_is_one() {
        use crate::report::fixture;
        let exprs = [
            "abuse.recall > 0.95",
            "fraud.cost < 50",
            "abuse.time_to_detect < 1m",
        ];
        let r = fixture::report(Some(fixture::abuse()), &exprs);
        let o = summary(&r);
        assert!(o.contains("\n  abuse (judged from ground truth"), "{o}");
        assert!(o.contains("✗ abuse.recall > 0.95"), "{o}");
        assert!(o.contains("✓ fraud.cost < 50"), "{o}");
        assert!(o.contains("measured 49.20"), "{o}");
        assert!(
            o.contains("measured never\n        (2 of 5 attack waves never detected: guessers/all"),
            "{o}"
        );
        let r = fixture::report(None, &exprs);
        let o = summary(&r);
        assert!(!o.contains("abuse (judged"), "{o}");
        assert!(
            o.contains(
                "measured nothing\n        (the run has no abuse section: no population has a persona)"
            ),
            "{o}"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(us(850), "850µs");
        assert_eq!(us(12_345), "12.3ms");
        assert_eq!(us(2_910_000), "2.91s");
        assert_eq!(us(90_000_000), "1.5m");
    }
}
