//! `--html FILE`: the report as one self-contained HTML page a QA engineer can open offline,
//! attach to a ticket or print: what ran, the verdict with every threshold's, how
//! verifications ended, the latencies, three plots ([`plots`]) as inline SVG, and, when the
//! scenario has fraud personas, the Abuse section ([`abuse`]) with a fourth.
//!
//! Self-contained means nothing is fetched: no script at all, styles inline, no fonts or
//! images, and a Content-Security-Policy of `default-src 'none'` so a browser would refuse a
//! fetch even if one slipped in. Every text that comes from the scenario or the target (names,
//! descriptions, carrier names, reasons, errors) is escaped.
//!
//! Layer: part of `report` (reads the [`Report`] only).

mod abuse;
mod plots;

use std::fmt::Write;

use super::Report;
use super::summary::{measured, outcome_rows, reasons, us};
use crate::measure::Percentiles;
use crate::threshold::Verdict;

/// Text as HTML: the five characters that could open markup or close an attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A ratio as a percentage (`-` without one).
fn pct(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// Light, print-friendly, readable on a laptop and on A4; numbers line up in columns.
const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #1a1a1a;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1060px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ccc; }
h3 { font-size: 17px; margin: 22px 0 6px; }
p.desc { margin: 0 0 14px; font-size: 16px; color: #333; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
.verdict { margin: 20px 0 0; padding: 14px 18px; border: 2px solid; border-radius: 6px; }
.verdict h2 { margin: 0 0 8px; border: 0; padding: 0; font-size: 24px; }
.verdict.pass { border-color: #1b7f3b; background: #eef8f1; }
.verdict.pass h2 { color: #1b7f3b; }
.verdict.fail, .verdict.error { border-color: #b42318; background: #fdf0ee; }
.verdict.fail h2, .verdict.error h2 { color: #b42318; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { padding: 4px 12px 4px 0; text-align: left; vertical-align: top; }
th { font-weight: 600; border-bottom: 1px solid #999; }
td { border-bottom: 1px solid #e4e4e4; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; padding-left: 12px; }
tr.sub td:first-child { padding-left: 18px; color: #444; }
td.ok, p.ok { color: #1b7f3b; font-weight: 600; }
p.bad { color: #b42318; font-weight: 600; }
td.why { color: #444; font-size: 14px; }
table.matrix td.good { background: #eef8f1; }
table.matrix td.poor { background: #fdf0ee; }
table.matrix td.n, table.matrix th.n { padding-left: 14px; padding-right: 10px; }
td.why { white-space: nowrap; }
table.personas { font-size: 14px; }
table.personas td.n, table.personas th.n { padding-left: 6px; }
tr.total td { font-weight: 600; border-top: 1px solid #999; }
td.bad { color: #b42318; font-weight: 600; }
.muted { color: #555; }
ul.notes li { margin: 2px 0; }
li.error { color: #b42318; }
figure { margin: 8px 0 0; }
figure svg { display: block; max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; margin: 6px 0 0; max-width: 900px; }
ul.legend { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 4px 20px; }
ul.legend li { display: flex; align-items: center; gap: 7px; }
.sw { display: inline-block; width: 26px; height: 0; border-top: 3px solid; }
.sw.dashed { border-top-style: dashed; }
.sw.bar, .sw.band { height: 13px; border: 0; }
.sw.bar { opacity: .5; }
.sw.band { opacity: .12; }
.sw.marker { width: 13px; height: 13px; border: 0; clip-path: polygon(0 15%, 15% 0, 50% 35%, 85% 0, 100% 15%, 65% 50%, 100% 85%, 85% 100%, 50% 65%, 15% 100%, 0 85%, 35% 50%); }
footer { margin-top: 36px; color: #666; font-size: 13px; }
@media print {
  main { max-width: none; padding: 0; }
  section, figure, table { break-inside: avoid; }
  .verdict, .sw { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// The whole page.
pub fn render(r: &Report) -> String {
    let s = &r.scenario;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>loadgen run · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(&s.name)
    );
    header(&mut o, r);
    verdict(&mut o, r);
    outcomes(&mut o, r);
    latency(&mut o, r);
    plot_section(
        &mut o,
        "distribution",
        "Delivery time distribution",
        plots::distribution(r),
        "Time from a user's intended start to the code on the phone, against percentile. \
         Read a point as \"this share of codes arrived within this time\": the curve's right \
         end is the slowest delivery of the run. Thresholds on delivery time are marked at \
         their percentile and limit.",
        "No code was delivered, so there is no distribution to draw.",
    );
    plot_section(
        &mut o,
        "throughput",
        "Throughput and outcomes over time",
        plots::throughput(r),
        "Users asking for a code, codes reaching phones, and verifications ending, per \
         second, one point per interval (the interval's end). After the end of the arrivals \
         the run drains: verifications under way still end.",
        "The run closed no interval.",
    );
    failover(&mut o, r);
    abuse::section(&mut o, r);
    parts(&mut o, r);
    accounting(&mut o, r);
    let _ = write!(
        o,
        "<footer>Written by loadgen {} · report schema {} · the same figures are in the JSON \
         report (<code>--json</code>).</footer>\n</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        r.schema
    );
    o
}

fn header(o: &mut String, r: &Report) {
    let s = &r.scenario;
    let _ = write!(o, "<header>\n<h1>loadgen run · {}</h1>\n", esc(&s.name));
    if !s.description.is_empty() {
        let _ = writeln!(o, "<p class=\"desc\">{}</p>", esc(&s.description));
    }
    let facts: [(&str, String); 7] = [
        ("scenario file", s.file.clone()),
        ("seed", s.seed.to_string()),
        (
            "time scale",
            format!(
                "{} (durations divided by it; latencies are shown in scenario time)",
                s.time_scale
            ),
        ),
        (
            "duration",
            format!(
                "{:.1} s of arrivals in scenario time; {:.1} s of wall time with the drain",
                s.duration_s, r.wall_s
            ),
        ),
        ("network", r.target.network.clone()),
        ("service", r.target.service.clone()),
        ("handsets", r.target.handsets.clone()),
    ];
    o.push_str("<dl class=\"facts\">\n");
    for (k, v) in facts {
        let _ = writeln!(o, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    }
    o.push_str("</dl>\n</header>\n");
}

fn verdict(o: &mut String, r: &Report) {
    let (class, title) = if !r.errors.is_empty() {
        ("error", "ERROR: the run is not valid")
    } else if r.thresholds_passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL: a threshold was breached")
    };
    let _ = write!(
        o,
        "<section class=\"verdict {class}\" id=\"verdict\">\n<h2>{title}</h2>\n"
    );
    if r.thresholds.is_empty() {
        o.push_str("<p>No thresholds were set.</p>\n");
    } else {
        o.push_str(
            "<table class=\"thresholds\">\n<tr><th>result</th><th>threshold</th>\
             <th class=\"n\">measured</th><th class=\"n\">limit</th></tr>\n",
        );
        for v in &r.thresholds {
            let _ = writeln!(
                o,
                "<tr><td class=\"{}\">{}</td><td><code>{}</code></td><td class=\"n\">{}</td>\
                 <td class=\"n\">{} {}</td></tr>",
                if v.pass { "ok" } else { "bad" },
                if v.pass { "✓ pass" } else { "✗ FAIL" },
                esc(&v.expr),
                esc(&measured(v)),
                esc(v.op.as_str()),
                // The limit reads as the measured value does: the same unit and rounding.
                esc(&measured(&Verdict {
                    value: Some(v.limit),
                    why: None,
                    ..v.clone()
                })),
            );
        }
        o.push_str("</table>\n");
    }
    if !r.errors.is_empty() || !r.notes.is_empty() {
        o.push_str("<ul class=\"notes\">\n");
        for e in &r.errors {
            let _ = writeln!(o, "<li class=\"error\">error: {}</li>", esc(e));
        }
        for n in &r.notes {
            let _ = writeln!(o, "<li>note: {}</li>", esc(n));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</section>\n");
}

fn outcomes(o: &mut String, r: &Report) {
    o.push_str(
        "<section id=\"outcomes\">\n<h2>Outcomes</h2>\n<table>\n<tr><th>verifications</th>\
         <th class=\"n\">count</th><th class=\"n\">share</th><th>why</th></tr>\n",
    );
    let rate = format!(
        "{:.1}/s achieved, {:.1}/s target{}",
        r.rates.achieved,
        r.rates.target,
        if r.rates.met {
            ""
        } else {
            " — TARGET RATE NOT MET"
        }
    );
    let top: [(&str, u64, String, String); 3] = [
        ("asked for a code", r.attempted, String::new(), rate),
        ("started", r.started, String::new(), String::new()),
        (
            "code delivered",
            r.delivered,
            pct(r.ratios.delivered),
            "share of started".into(),
        ),
    ];
    for (name, n, share, why) in top {
        let _ = writeln!(
            o,
            "<tr><td>{name}</td><td class=\"n\">{n}</td><td class=\"n\">{share}</td>\
             <td>{}</td></tr>",
            esc(&why)
        );
    }
    for (name, n, share, why) in outcome_rows(r) {
        let _ = writeln!(
            o,
            "<tr class=\"sub\"><td>ended {name}</td><td class=\"n\">{n}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            pct(share),
            esc(&reasons(why))
        );
    }
    let _ = write!(
        o,
        "</table>\n<p class=\"muted\">Shares of ends are of the users that asked. {} resends, \
         {} wrong codes typed, {} checks; {} starts behind schedule (more than {} late), {} \
         arrivals never sent.</p>\n</section>\n",
        r.resends,
        r.typos,
        r.checks,
        r.behind_schedule,
        us(r.behind_schedule_tolerance_us),
        r.unsent
    );
}

fn latency_row(o: &mut String, name: &str, sub: bool, p: &Percentiles) {
    let class = if sub { " class=\"sub\"" } else { "" };
    if p.count == 0 {
        let _ = writeln!(
            o,
            "<tr{class}><td>{}</td><td class=\"n\">0</td><td colspan=\"6\" class=\"muted\">\
             no samples</td></tr>",
            esc(name)
        );
        return;
    }
    let _ = write!(
        o,
        "<tr{class}><td>{}</td><td class=\"n\">{}</td>",
        esc(name),
        p.count
    );
    for v in [p.p50, p.p90, p.p99, p.p999, p.max] {
        let _ = write!(o, "<td class=\"n\">{}</td>", us(v));
    }
    let _ = writeln!(o, "<td class=\"n\">{}</td></tr>", us(p.mean.round() as u64));
}

fn latency(o: &mut String, r: &Report) {
    o.push_str(
        "<section id=\"latency\">\n<h2>Latency (scenario time)</h2>\n<table>\n<tr><th>from the \
         intended start to …</th><th class=\"n\">count</th><th class=\"n\">p50</th>\
         <th class=\"n\">p90</th><th class=\"n\">p99</th><th class=\"n\">p99.9</th>\
         <th class=\"n\">max</th><th class=\"n\">mean</th></tr>\n",
    );
    let l = &r.latency_us;
    latency_row(o, "start answered", false, &l.start_response);
    latency_row(
        o,
        "code on the phone (delivery time)",
        false,
        &l.delivery_time,
    );
    for rt in &r.routes {
        latency_row(
            o,
            &format!("{} via {}", rt.channel, rt.carrier),
            true,
            &rt.delivery_time_us,
        );
    }
    latency_row(
        o,
        "carrier's receipt (receipt time)",
        false,
        &l.receipt_time,
    );
    latency_row(o, "approved (verify time)", false, &l.verify_time);
    latency_row(o, "start sent (send lag)", false, &l.send_lag);
    o.push_str(
        "</table>\n<p class=\"muted\">Measured from each user's intended start (open loop), \
         so time spent waiting to be sent counts; HdrHistogram, 3 significant digits.</p>\n\
         </section>\n",
    );
}

/// A plot with its heading, legend and caption, or a line saying why there is none.
fn plot_section(
    o: &mut String,
    id: &str,
    title: &str,
    plot: Result<Option<plots::Plot>, String>,
    caption: &str,
    none: &str,
) {
    let _ = write!(o, "<section id=\"{id}\">\n<h2>{title}</h2>\n");
    figure(o, id, plot, caption, none);
    o.push_str("</section>\n");
}

fn figure(
    o: &mut String,
    id: &str,
    plot: Result<Option<plots::Plot>, String>,
    caption: &str,
    none: &str,
) {
    match plot {
        Ok(Some(p)) => {
            let _ = write!(
                o,
                "<figure class=\"plot\" id=\"plot-{id}\">\n{}\n<ul class=\"legend\">\n",
                p.svg
            );
            for k in &p.legend {
                let _ = writeln!(
                    o,
                    "<li><span class=\"sw {}\" style=\"border-color:{c};background:{}\">\
                     </span>{}</li>",
                    k.kind,
                    if matches!(k.kind, "bar" | "band" | "marker") {
                        k.color.as_str()
                    } else {
                        "none"
                    },
                    esc(&k.name),
                    c = k.color,
                );
            }
            let _ = write!(
                o,
                "</ul>\n<figcaption>{}</figcaption>\n</figure>\n",
                esc(caption)
            );
        }
        Ok(None) => {
            let _ = writeln!(o, "<p class=\"muted\">{}</p>", esc(none));
        }
        Err(e) => {
            let _ = writeln!(
                o,
                "<p class=\"muted\">The plot could not be drawn: {}</p>",
                esc(&e)
            );
        }
    }
}

fn failover(o: &mut String, r: &Report) {
    let f = &r.failover;
    o.push_str("<section id=\"failover\">\n<h2>Failover</h2>\n");
    let text = if !f.observable {
        "Not observable: the service does not tell its attempts, so only the carriers that \
         delivered can be seen (below)."
            .to_string()
    } else if f.verifications == 0 && f.routed.is_empty() {
        "No verification needed a second step.".to_string()
    } else {
        let mut t = format!(
            "{} of {} started verifications ({}) needed a second step",
            f.verifications,
            r.started,
            pct(f.ratio)
        );
        if !f.by_cause.is_empty() {
            let _ = write!(t, ", by cause: {}", reasons(&f.by_cause));
        }
        t.push('.');
        if f.added_us.count > 0 {
            let _ = write!(
                t,
                " The time it added: p50 {}, p99 {}, max {}; their delivery time p50 {}, p99 {}.",
                us(f.added_us.p50),
                us(f.added_us.p99),
                us(f.added_us.max),
                us(f.delivery_time_us.p50),
                us(f.delivery_time_us.p99)
            );
        }
        if !f.routed.is_empty() {
            let _ = write!(
                t,
                " Sent straight to a later step at start: {}.",
                reasons(&f.routed)
            );
        }
        t
    };
    let _ = writeln!(o, "<p>{}</p>", esc(&text));
    figure(
        o,
        "failover",
        plots::failover(r),
        "Codes delivered per second through each carrier, and failovers per second (bars, \
         counted in the interval their verification ended), with the scenario's timeline: \
         shaded spans are carrier outages, dashed lines other changes.",
        "The run closed no interval.",
    );
    if !r.events.is_empty() {
        o.push_str(
            "<table>\n<tr><th class=\"n\">at (scenario s)</th><th>carrier</th>\
             <th>timeline entry</th></tr>\n",
        );
        for e in &r.events {
            let what = match &e.error {
                Some(err) => format!("FAILED: {err}"),
                None => e.what.clone(),
            };
            let _ = writeln!(
                o,
                "<tr><td class=\"n\">{:.1}</td><td>{}</td><td{}>{}</td></tr>",
                e.at_s,
                esc(&e.carrier),
                if e.error.is_some() {
                    " class=\"bad\""
                } else {
                    ""
                },
                esc(&what)
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</section>\n");
}

fn parts(o: &mut String, r: &Report) {
    if r.phases.len() <= 1 && r.populations.len() <= 1 {
        return;
    }
    o.push_str(
        "<section id=\"parts\">\n<h2>Phases and populations</h2>\n<table>\n<tr><th>phase or \
         population</th><th class=\"n\">asked</th><th class=\"n\">verified</th>\
         <th class=\"n\">share</th><th class=\"n\">delivery p99</th></tr>\n",
    );
    for p in r.phases.iter().chain(&r.populations) {
        let name = match (p.from_s, p.to_s) {
            (Some(a), Some(b)) => format!("phase {} ({a:.0}–{b:.0} s)", p.name),
            _ => format!("population {}", p.name),
        };
        let p99 = p
            .delivery_time_us
            .filter(|d| d.count > 0)
            .map_or("-".into(), |d| us(d.p99));
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&name),
            p.counts.attempted,
            p.counts.verified,
            pct(p.verified_ratio),
            p99
        );
    }
    o.push_str("</table>\n</section>\n");
}

fn accounting(o: &mut String, r: &Report) {
    let _ = write!(
        o,
        "<section id=\"accounting\">\n<h2>Accounting</h2>\n<p>Identity <strong>{}</strong>: \
         every user that asked ended in exactly one outcome.</p>\n<ul class=\"notes\">\n",
        if r.identity.holds { "holds" } else { "BROKEN" }
    );
    for line in &r.identity.text {
        let _ = writeln!(o, "<li>{}</li>", esc(line));
    }
    let h = &r.handsets;
    let _ = write!(
        o,
        "</ul>\n<p>Handsets: {} codes read, {} extra deliveries, {} stray, {} unreadable, {} \
         events missed; receipts {} matched, {} missing{}.</p>\n",
        h.codes,
        h.extra,
        h.stray,
        h.unreadable,
        h.lagged_events,
        h.receipts_matched,
        h.receipts_missing,
        if h.receipt_stats.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc(&reasons(&h.receipt_stats)))
        }
    );
    let m = &r.memory;
    let _ = write!(
        o,
        "<p>Machine: {:.2} cores used of {}{}; peak resident memory {:.1} MiB, {} verifications \
         pending at most{}.</p>\n</section>\n",
        r.machine.process_cores,
        r.machine.cores,
        r.machine.load_average.map_or(String::new(), |l| format!(
            " (load average {l:.2} at start)"
        )),
        m.peak_rss_bytes as f64 / 1_048_576.0,
        m.peak_pending,
        m.per_pending_bytes
            .map_or(String::new(), |b| format!(", {b} bytes each"))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_open_markup_or_leave_an_attribute() {
        assert_eq!(
            esc(r#"<img src="x" onerror='a()'> & more"#),
            "&lt;img src=&quot;x&quot; onerror=&#39;a()&#39;&gt; &amp; more"
        );
        assert_eq!(esc("sms via alpha · 99.9%"), "sms via alpha · 99.9%");
    }
}
