//! The abuse section in words: the sentences and table cells the end-of-run summary and the
//! HTML page both show (the blocked share against what providers publish, genuine friction,
//! money, each wave's detection, the decision check), and the summary's abuse section itself,
//! laid out for a 100-column terminal.
//!
//! Layer: part of `report` (reads the [`AbuseReport`]).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::abuse::{AbuseReport, DecisionCheck, Label, Money, PersonaRow, Wave};
use super::words::{ranked, reasons};

/// What providers publish, to set the blocked share against.
pub const PUBLISHED: &str = "RingCaptcha reports blocking about 1.7 % of requests a month";

/// A share as a percentage, with more digits when small (`0.25 %`, `28.5 %`; `-` without one).
pub fn pct(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r > 0.0 && r < 0.01 => format!("{:.2} %", r * 100.0),
        Some(r) => format!("{:.1} %", r * 100.0),
    }
}

/// An amount of money (`-` when not measured).
pub fn amount(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// `genuine`, `attack` or `-`.
pub fn label(l: Option<Label>) -> &'static str {
    match l {
        Some(Label::Genuine) => "genuine",
        Some(Label::Attack) => "attack",
        None => "-",
    }
}

/// A persona's refusals by reason, the largest three and how many more
/// (`prefix_velocity 1210`, `line_type 194`).
pub fn top_reasons(p: &PersonaRow) -> Vec<String> {
    let mut all = ranked(&p.refused_by);
    if all.len() > 3 {
        let more = all.len() - 3;
        all.truncate(3);
        all.push(format!("{more} more"));
    }
    all
}

/// The per-persona table: headers, then one row of cells a population.
pub fn persona_table(a: &AbuseReport) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let headers = vec![
        "population",
        "persona",
        "label",
        "requests",
        "served",
        "refused",
        "delivered",
        "verified",
        "cracked",
        "cost",
    ];
    let rows = a
        .personas
        .iter()
        .map(|p| {
            vec![
                p.population.clone(),
                p.persona.clone(),
                label(p.label).into(),
                p.requests.to_string(),
                p.served.to_string(),
                p.refused.to_string(),
                p.delivered.to_string(),
                p.verified.to_string(),
                p.cracked.to_string(),
                amount(p.cost),
            ]
        })
        .collect();
    (headers, rows)
}

/// A brute forcer's guesses, when it guessed.
pub fn guesses(p: &PersonaRow) -> Option<String> {
    (p.guesses > 0).then(|| {
        format!(
            "{} code guesses, {} refused, {} verification{} cracked",
            p.guesses,
            p.guesses_refused,
            p.cracked,
            if p.cracked == 1 { "" } else { "s" }
        )
    })
}

/// The blocked share set against the published figure.
pub fn blocked_sentence(a: &AbuseReport) -> String {
    match a.blocked_share {
        Some(s) => format!(
            "The guard blocked {} of start requests; {PUBLISHED}.",
            pct(Some(s))
        ),
        None => format!("No start requests, so no blocked share ({PUBLISHED})."),
    }
}

/// Precision and recall in words.
pub fn detection_sentence(a: &AbuseReport) -> String {
    format!(
        "Precision {} (of what was refused, the share that was attack); recall {} (of the \
         attack, the share refused).",
        pct(a.precision),
        pct(a.recall)
    )
}

/// What genuine users went through.
pub fn friction_sentence(a: &AbuseReport) -> String {
    let g = &a.genuine;
    if g.requests == 0 {
        return "No genuine start requests.".into();
    }
    format!(
        "Genuine friction {}: {} of {} genuine start requests refused ({}), {} codes steered \
         to another channel than asked.",
        pct(g.friction_ratio),
        g.refused,
        g.requests,
        pct(g.refused_ratio),
        g.steered
    )
}

/// How long a wave took to be detected.
pub fn detected(w: &Wave) -> String {
    match w.time_to_detect_s {
        Some(t) => format!("after {}", seconds(t)),
        None if w.requests == 0 => "no requests".into(),
        None => "NEVER DETECTED".into(),
    }
}

/// Seconds as a person reads them.
pub fn seconds(s: f64) -> String {
    if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else if s >= 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.2} s")
    }
}

/// The waves' summary line.
pub fn waves_sentence(a: &AbuseReport) -> String {
    if a.waves.is_empty() {
        return "No attack waves.".into();
    }
    let detected = a.waves.len() as u64 - a.undetected_waves.min(a.waves.len() as u64);
    let mut t = format!("{detected} of {} attack waves detected", a.waves.len());
    if let Some(s) = a.time_to_detect_s {
        let _ = write!(t, ", the slowest after {}", seconds(s));
    }
    if a.undetected_waves > 0 {
        let _ = write!(t, "; {} never refused at all", a.undetected_waves);
    }
    t.push('.');
    t
}

/// Money in sentences: what was billed, the baseline and what the guard saved.
pub fn money_sentences(m: &Money) -> Vec<String> {
    if !m.measured {
        return vec![
            "Money not measured: the carrier's billing was not observed in this run.".into(),
        ];
    }
    let cur = m.currency.as_deref().unwrap_or("(no currency)");
    let mut out = vec![format!(
        "Billed by the carrier, in {cur}: {} for attack numbers, {} for genuine numbers, {} for \
         numbers no population asked for{}.",
        amount(m.attack_cost),
        amount(m.genuine_cost),
        amount(m.other_cost),
        m.carrier_total
            .map(|t| format!(" (the carrier's own total: {})", amount(Some(t))))
            .unwrap_or_default()
    )];
    match &m.baseline {
        Some(b) => out.push(format!(
            "Baseline (the same seed with the guard in {}): {} for attack numbers, {} for \
             genuine numbers; the guard saved {} {cur}.",
            b.mode,
            amount(Some(b.attack_cost)),
            amount(Some(b.genuine_cost)),
            amount(m.saved)
        )),
        None => out.push("No baseline run, so no saving to show.".into()),
    }
    out
}

/// The counts above zero (the verifier lists every rule it has, most of them idle).
pub fn nonzero(map: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    map.iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.clone(), *n))
        .collect()
}

/// The decision check in one sentence (and the differences).
pub fn decision_sentence(d: &DecisionCheck) -> String {
    if d.consistent {
        format!(
            "Consistent: loadgen's refusals by rule match the verifier's own counts (guard in \
             {}: {}).",
            d.mode,
            match reasons(&nonzero(&d.verifier_blocks)) {
                none if none.is_empty() => "no blocks".into(),
                blocks => blocks,
            }
        )
    } else {
        format!(
            "INCONSISTENT with the verifier's own counts (guard in {}): {}.",
            d.mode,
            if d.differences.is_empty() {
                "no difference was named".into()
            } else {
                d.differences.join("; ")
            }
        )
    }
}

/// Greedy word wrap to `width` columns, each line starting with `indent`.
fn wrap(o: &mut String, text: &str, indent: &str, width: usize) {
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > indent.len() && len + 1 + word.chars().count() > width {
            let _ = writeln!(o, "{line}");
            line = String::from(indent);
        }
        if line.chars().count() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.chars().count() > indent.len() {
        let _ = writeln!(o, "{line}");
    }
}

/// Lines of cells padded to their column's widest (the header first), numbers
/// right-aligned (every column but the first `text_columns`) and kept apart by `gap`.
fn table(
    indent: &str,
    headers: &[&str],
    rows: &[Vec<String>],
    text_columns: usize,
    gap: &str,
) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::from(indent);
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str(if i < text_columns { "  " } else { gap });
            }
            let pad = " ".repeat(w.saturating_sub(c.chars().count()));
            if i < text_columns {
                s.push_str(c);
                s.push_str(&pad);
            } else {
                s.push_str(&pad);
                s.push_str(c);
            }
        }
        s.trim_end().to_string()
    };
    std::iter::once(line(headers.to_vec()))
        .chain(
            rows.iter()
                .map(|r| line(r.iter().map(String::as_str).collect())),
        )
        .collect()
}

/// Width of the summary.
const WIDTH: usize = 100;

/// The summary's abuse section.
pub fn summary_section(o: &mut String, a: &AbuseReport) {
    let _ = writeln!(
        o,
        "\n  abuse (judged from ground truth: each population's label, never sent to the target)"
    );
    let (headers, rows) = persona_table(a);
    // One space between the numbers: they stand under their headers, and the table fits.
    let lines = table("    ", &headers, &rows, 3, " ");
    let _ = writeln!(o, "{}", lines[0]);
    // The reasons and guesses go under each row, where a long list cannot widen the table.
    for (line, p) in lines[1..].iter().zip(&a.personas) {
        let _ = writeln!(o, "{line}");
        let mut notes = Vec::new();
        if p.refused > 0 {
            notes.push(format!("refused by {}", top_reasons(p).join(", ")));
        }
        if p.failed > 0 {
            notes.push(format!("{} unanswered", p.failed));
        }
        if p.steered > 0 {
            notes.push(format!("{} steered to another channel", p.steered));
        }
        notes.extend(guesses(p));
        if !notes.is_empty() {
            wrap(o, &notes.join("; "), "      ", WIDTH);
        }
    }
    if a.personas.is_empty() {
        let _ = writeln!(o, "    no populations");
    }

    let m = &a.matrix;
    let matrix = [
        vec![
            "attack".to_string(),
            m.attack_refused.to_string(),
            m.attack_served.to_string(),
        ],
        vec![
            "genuine".to_string(),
            m.genuine_refused.to_string(),
            m.genuine_served.to_string(),
        ],
    ];
    let _ = writeln!(o);
    for line in table(
        "    ",
        &["start requests", "refused", "served"],
        &matrix,
        1,
        "  ",
    ) {
        let _ = writeln!(o, "{line}");
    }
    let _ = writeln!(o);
    for text in [
        detection_sentence(a),
        blocked_sentence(a),
        friction_sentence(a),
    ] {
        wrap(o, &text, "    ", WIDTH);
    }

    let _ = writeln!(o);
    wrap(
        o,
        &format!(
            "{} Time to detect: a wave's first request to its first refusal, scenario time.",
            waves_sentence(a)
        ),
        "    ",
        WIDTH,
    );
    if !a.waves.is_empty() {
        let rows: Vec<Vec<String>> = a
            .waves
            .iter()
            .map(|w| {
                vec![
                    w.population.clone(),
                    w.phase.clone(),
                    w.requests.to_string(),
                    w.refused.to_string(),
                    seconds(w.first_request_s),
                    detected(w),
                ]
            })
            .collect();
        for line in table(
            "      ",
            &["wave", "phase", "requests", "refused", "from", "detected"],
            &rows,
            2,
            "  ",
        ) {
            let _ = writeln!(o, "{line}");
        }
    }

    let _ = writeln!(o);
    for text in money_sentences(&a.money) {
        wrap(o, &text, "    ", WIDTH);
    }
    match &a.decisions {
        Some(d) => wrap(
            o,
            &format!("Decisions: {}", decision_sentence(d)),
            "    ",
            WIDTH,
        ),
        None => wrap(
            o,
            "Decisions: not checked (the verifier's own counts are read from the embedded \
             verifier only).",
            "    ",
            WIDTH,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn the_section_shows_every_figure_within_100_columns() {
        let a = fixture::abuse();
        let mut o = String::new();
        summary_section(&mut o, &a);
        for line in o.lines() {
            assert!(line.chars().count() <= WIDTH, "too wide:\n{line}\n{o}");
        }
        // Tables are checked line by line, sentences across their wrapping.
        let words = o.split_whitespace().collect::<Vec<_>>().join(" ");
        for says in [
            "population  persona       label   requests served refused delivered verified cracked",
            "pumpers     sms_pumping   attack      1500     96    1404        96        0       0",
            "refused by prefix_velocity 1210, line_type 194",
            "4000 code guesses, 3960 refused, 1 verification cracked",
            "start requests  refused  served",
            "attack             1984     216",
            "genuine              12    4788",
            "Precision 99.4 %",
            "recall 90.2 %",
            "The guard blocked 28.5 % of start requests; RingCaptcha reports blocking about 1.7 %",
            "12 of 4800 genuine start requests refused (0.25 %), 21 codes steered",
            "3 of 5 attack waves detected, the slowest after 4.50 s; 2 never refused at all",
            "guessers  all",
            "NEVER DETECTED",
            "in EUR: 49.20 for attack numbers, 240.00 for genuine numbers",
            "the guard saved 640.80 EUR",
            "Decisions: Consistent",
        ] {
            assert!(
                o.contains(says) || words.contains(says),
                "lacks {says:?}:\n{o}"
            );
        }
    }

    #[test]
    fn the_top_three_reasons_and_how_many_more() {
        let mut p = fixture::abuse().personas[1].clone();
        assert_eq!(top_reasons(&p), ["prefix_velocity 1210", "line_type 194"]);
        for (k, n) in [("a", 5), ("b", 194), ("c", 1)] {
            p.refused_by.insert(k.into(), n);
        }
        assert_eq!(
            top_reasons(&p),
            ["prefix_velocity 1210", "b 194", "line_type 194", "2 more"]
        );
    }

    #[test]
    fn empty_and_unmeasured_sections_read_plainly() {
        let mut a = fixture::abuse();
        a.personas.clear();
        a.waves.clear();
        a.timeline.clear();
        a.matrix = Default::default();
        a.precision = None;
        a.recall = None;
        a.blocked_share = None;
        a.genuine = Default::default();
        a.undetected_waves = 0;
        a.time_to_detect_s = None;
        a.money = Default::default();
        a.decisions = None;
        let mut o = String::new();
        summary_section(&mut o, &a);
        for says in [
            "no populations",
            "Precision - (of",
            "No start requests, so no blocked share",
            "No genuine start requests.",
            "No attack waves.",
            "Money not measured",
            "Decisions: not checked",
        ] {
            assert!(o.contains(says), "lacks {says:?}:\n{o}");
        }
        let mut a = fixture::abuse();
        let d = a.decisions.as_mut().unwrap();
        d.consistent = false;
        d.differences =
            vec!["prefix_velocity: loadgen saw 1218 refused, the verifier blocked 1220".into()];
        a.money.baseline = None;
        let mut o = String::new();
        summary_section(&mut o, &a);
        let o = o.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(o.contains("INCONSISTENT with the verifier's own counts (guard in enforce): prefix_velocity: loadgen saw 1218"), "{o}");
        assert!(o.contains("No baseline run"), "{o}");
    }
}
