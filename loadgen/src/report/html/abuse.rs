//! The page's Abuse section, when the scenario has fraud personas: the per-persona table, the
//! confusion matrix with precision, recall and the blocked share against what providers
//! publish, genuine friction, the attack waves and how long each took to detect, money from
//! the carrier's billing against the baseline, the decision check, and the blocks-over-time
//! plot. The sentences are the summary's ([`crate::report::abuse_text`]).
//!
//! Layer: part of the HTML page (reads the [`Report`]).

use std::fmt::Write;

use super::{esc, figure, plots};
use crate::report::Report;
use crate::report::abuse::{AbuseReport, Money};
use crate::report::abuse_text::{
    amount, blocked_sentence, decision_sentence, detected, friction_sentence, guesses,
    money_sentences, pct, persona_table, seconds, top_reasons, waves_sentence,
};
use crate::report::words::reasons;

/// The section (nothing without an abuse section).
pub fn section(o: &mut String, r: &Report) {
    let Some(a) = &r.abuse else {
        return;
    };
    o.push_str(
        "<section id=\"abuse\">\n<h2>Abuse</h2>\n<p class=\"muted\">Judged from ground truth: \
         every request carries its population's label (genuine or attack) inside loadgen, \
         never on the wire, so the service is judged by what it answered. Counted over start \
         requests.</p>\n",
    );
    personas(o, a);
    detection(o, a);
    figure(
        o,
        "blocks",
        plots::blocks(r),
        "Attack start requests, the attack ones refused and the genuine ones refused, per \
         second, one point per interval (its end). Where the attack-refused line follows the \
         attack-requests line the guard is stopping the attack; the gap between them is attack \
         served. Genuine refused should stay at the bottom.",
        "The run closed no interval with start requests.",
    );
    waves(o, a);
    money(o, &a.money);
    decisions(o, a);
    o.push_str("</section>\n");
}

fn personas(o: &mut String, a: &AbuseReport) {
    o.push_str("<h3>Per persona</h3>\n");
    if a.personas.is_empty() {
        o.push_str("<p class=\"muted\">No populations.</p>\n");
        return;
    }
    let (headers, rows) = persona_table(a);
    o.push_str("<table class=\"personas\">\n<tr>");
    for (i, h) in headers.iter().enumerate() {
        let _ = write!(
            o,
            "<th{}>{h}</th>",
            if i >= 3 { " class=\"n\"" } else { "" }
        );
    }
    o.push_str("<th>refused by</th></tr>\n");
    for (cells, p) in rows.iter().zip(&a.personas) {
        o.push_str("<tr>");
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(
                o,
                "<td{}>{}</td>",
                if i >= 3 { " class=\"n\"" } else { "" },
                esc(c)
            );
        }
        // One reason a line: the column stays narrow and the numbers stay on one line.
        let mut why: Vec<String> = top_reasons(p).iter().map(|r| esc(r)).collect();
        if p.failed > 0 {
            why.push(format!("{} unanswered", p.failed));
        }
        let _ = writeln!(o, "<td class=\"why\">{}</td></tr>", why.join("<br>"));
    }
    o.push_str("</table>\n");
    let notes: Vec<String> = a
        .personas
        .iter()
        .filter_map(|p| {
            let mut n: Vec<String> = guesses(p).into_iter().collect();
            if p.steered > 0 {
                n.push(format!("{} codes steered to another channel", p.steered));
            }
            (!n.is_empty()).then(|| format!("{}: {}.", p.population, n.join("; ")))
        })
        .collect();
    if !notes.is_empty() {
        o.push_str("<ul class=\"notes\">\n");
        for n in notes {
            let _ = writeln!(o, "<li>{}</li>", esc(&n));
        }
        o.push_str("</ul>\n");
    }
    let _ = writeln!(
        o,
        "<p class=\"muted\">Start requests served, refused (by the service's reason) and \
         codes delivered; costs in {} from the carrier's billing.</p>",
        esc(a.money.currency.as_deref().unwrap_or("the plan's currency"))
    );
}

fn detection(o: &mut String, a: &AbuseReport) {
    let m = &a.matrix;
    let total = |x: u64, y: u64| x + y;
    let _ = write!(
        o,
        "<h3>Detection</h3>\n<table class=\"matrix\">\n<tr><th>start requests</th>\
         <th class=\"n\">refused</th><th class=\"n\">served</th><th class=\"n\">total</th></tr>\n\
         <tr><td>attack</td><td class=\"n good\">{}</td><td class=\"n poor\">{}</td>\
         <td class=\"n\">{}</td></tr>\n\
         <tr><td>genuine</td><td class=\"n poor\">{}</td><td class=\"n good\">{}</td>\
         <td class=\"n\">{}</td></tr>\n</table>\n",
        m.attack_refused,
        m.attack_served,
        total(m.attack_refused, m.attack_served),
        m.genuine_refused,
        m.genuine_served,
        total(m.genuine_refused, m.genuine_served),
    );
    let facts = [
        (
            "precision",
            format!(
                "{}: of what was refused, the share that was attack",
                pct(a.precision)
            ),
        ),
        (
            "recall",
            format!("{}: of the attack, the share refused", pct(a.recall)),
        ),
        ("blocked share", blocked_sentence(a)),
        ("genuine friction", friction_sentence(a)),
    ];
    o.push_str("<dl class=\"facts\">\n");
    for (k, v) in facts {
        let _ = writeln!(o, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    }
    o.push_str("</dl>\n");
}

fn waves(o: &mut String, a: &AbuseReport) {
    let _ = writeln!(
        o,
        "<h3>Attack waves</h3>\n<p>{} Time to detect is a wave's first request to its first \
         refusal, in scenario time.</p>",
        esc(&waves_sentence(a))
    );
    if a.waves.is_empty() {
        return;
    }
    o.push_str(
        "<table>\n<tr><th>population</th><th>phase</th><th class=\"n\">requests</th>\
         <th class=\"n\">refused</th><th class=\"n\">first request</th>\
         <th class=\"n\">detected</th></tr>\n",
    );
    for w in &a.waves {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n{}\">{}</td></tr>",
            esc(&w.population),
            esc(&w.phase),
            w.requests,
            w.refused,
            seconds(w.first_request_s),
            if w.time_to_detect_s.is_none() && w.requests > 0 {
                " bad"
            } else {
                ""
            },
            esc(&detected(w))
        );
    }
    o.push_str("</table>\n");
}

fn money(o: &mut String, m: &Money) {
    o.push_str("<h3>Money</h3>\n");
    if m.measured {
        let cur = esc(m.currency.as_deref().unwrap_or("no currency"));
        let base = m.baseline.as_ref();
        let _ = write!(
            o,
            "<table class=\"money\">\n<tr><th>billed by the carrier ({cur})</th>\
             <th class=\"n\">this run</th><th class=\"n\">baseline{}</th></tr>\n",
            base.map_or(String::new(), |b| format!(" ({})", esc(&b.mode)))
        );
        for (name, now, then) in [
            ("attack numbers", m.attack_cost, base.map(|b| b.attack_cost)),
            (
                "genuine numbers",
                m.genuine_cost,
                base.map(|b| b.genuine_cost),
            ),
            ("numbers no population asked for", m.other_cost, None),
        ] {
            let _ = writeln!(
                o,
                "<tr><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                amount(now),
                amount(then)
            );
        }
        let _ = writeln!(
            o,
            "<tr class=\"total\"><td>saved by the guard</td><td class=\"n\">{}</td><td></td></tr>\n</table>",
            amount(m.saved)
        );
    }
    // The table says what the sentences would; without billing or a baseline they say why.
    if !m.measured || m.baseline.is_none() {
        for text in money_sentences(m).iter().skip(usize::from(m.measured)) {
            let _ = writeln!(o, "<p>{}</p>", esc(text));
        }
    }
    if let Some(b) = &m.baseline
        && !b.flagged.is_empty()
    {
        let _ = writeln!(
            o,
            "<p class=\"muted\">In the baseline the guard's rules fired without refusing: {}.</p>",
            esc(&reasons(&b.flagged))
        );
    }
}

fn decisions(o: &mut String, a: &AbuseReport) {
    o.push_str("<h3>Decision check</h3>\n");
    let Some(d) = &a.decisions else {
        o.push_str(
            "<p class=\"muted\">Not checked: the verifier's own counts are read from the \
             embedded verifier only.</p>\n",
        );
        return;
    };
    let _ = writeln!(
        o,
        "<p class=\"{}\">{}</p>",
        if d.consistent { "ok" } else { "bad" },
        esc(&decision_sentence(d))
    );
    let maps = [&d.verifier_blocks, &d.loadgen_refused, &d.verifier_flagged];
    let mut rules: Vec<&String> = maps.iter().flat_map(|m| m.keys()).collect();
    rules.sort();
    rules.dedup();
    // The verifier lists every rule it has; the idle ones would bury the ones that acted.
    let (rules, idle): (Vec<&String>, Vec<&String>) = rules
        .into_iter()
        .partition(|k| maps.iter().any(|m| m.get(*k).is_some_and(|n| *n > 0)));
    if rules.is_empty() {
        return;
    }
    o.push_str(
        "<table>\n<tr><th>rule or reason</th><th class=\"n\">verifier blocked</th>\
         <th class=\"n\">loadgen saw refused</th><th class=\"n\">verifier flagged</th></tr>\n",
    );
    let get = |m: &std::collections::BTreeMap<String, u64>, k: &str| {
        m.get(k).map_or("-".to_string(), u64::to_string)
    };
    for k in rules {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(k),
            get(&d.verifier_blocks, k),
            get(&d.loadgen_refused, k),
            get(&d.verifier_flagged, k)
        );
    }
    o.push_str("</table>\n");
    if !idle.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"muted\">No count for the other rules: {}.</p>",
            esc(&idle
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "))
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::report::fixture;
    use crate::report::html::render;

    /// Set to a path, the fixture's page is written there (to look at it in a browser).
    const WRITE_TO: &str = "LOADGEN_ABUSE_HTML";

    #[test]
    fn the_page_shows_the_abuse_section_with_its_plot() {
        let r = fixture::report(
            Some(fixture::abuse()),
            &[
                "abuse.recall > 0.95",
                "fraud.cost < 50",
                "abuse.time_to_detect < 1m",
            ],
        );
        let page = render(&r);
        if let Some(path) = std::env::var_os(WRITE_TO) {
            std::fs::write(path, &page).expect("write the page");
        }
        let section = &page[page.find("<section id=\"abuse\">").expect("the section")..];
        let section = &section[..section.find("</section>").expect("its end")];
        for says in [
            "<h2>Abuse</h2>",
            "<tr><td>pumpers</td><td>sms_pumping</td><td>attack</td><td class=\"n\">1500</td>\
             <td class=\"n\">96</td><td class=\"n\">1404</td><td class=\"n\">96</td>\
             <td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">43.20</td>\
             <td class=\"why\">prefix_velocity 1210<br>line_type 194</td></tr>",
            "<tr><td>attack</td><td class=\"n good\">1984</td><td class=\"n poor\">216</td>",
            "<tr><td>genuine</td><td class=\"n poor\">12</td><td class=\"n good\">4788</td>",
            "<dt>precision</dt><dd>99.4 %: of what was refused, the share that was attack</dd>",
            "<dt>recall</dt><dd>90.2 %: of the attack, the share refused</dd>",
            "The guard blocked 28.5 % of start requests; RingCaptcha reports blocking about \
             1.7 % of requests a month.",
            "guessers: 4000 code guesses, 3960 refused, 1 verification cracked.",
            "<td class=\"n bad\">NEVER DETECTED</td>",
            "<td class=\"n\">after 4.50 s</td>",
            "<th class=\"n\">baseline (record_only)</th>",
            "<tr class=\"total\"><td>saved by the guard</td><td class=\"n\">640.80</td>",
            "<p class=\"ok\">Consistent: loadgen&#39;s refusals by rule match the verifier&#39;s own \
             counts (guard in enforce: prefix_velocity 1218, number_flood 580, line_type 194).</p>",
            "<tr><td>http_429</td><td class=\"n\">-</td><td class=\"n\">4</td>",
            "No count for the other rules: attestation, sim_swap.",
            "<figure class=\"plot\" id=\"plot-blocks\">\n<svg",
            "attack refused</li>",
        ] {
            assert!(section.contains(says), "lacks {says:?}:\n{section}");
        }
        // A wave never detected fails the time-to-detect threshold, saying so.
        assert!(
            page.contains("never (2 of 5 attack waves never detected"),
            "{page}"
        );
    }

    #[test]
    fn an_empty_or_absent_section_renders_without_a_plot_or_a_panic() {
        let page = render(&fixture::report(None, &[]));
        assert!(!page.contains("id=\"abuse\""));
        let mut a = fixture::abuse();
        a.personas.clear();
        a.waves.clear();
        a.timeline.clear();
        a.matrix = Default::default();
        a.genuine = Default::default();
        a.precision = None;
        a.recall = None;
        a.blocked_share = None;
        a.money = Default::default();
        a.decisions = None;
        let page = render(&fixture::report(Some(a), &[]));
        for says in [
            "<h2>Abuse</h2>",
            "No populations.",
            "The run closed no interval with start requests.",
            "No attack waves.",
            "Money not measured",
            "Not checked",
        ] {
            assert!(page.contains(says), "lacks {says:?}");
        }
        assert!(!page.contains("plot-blocks"));
    }
}
