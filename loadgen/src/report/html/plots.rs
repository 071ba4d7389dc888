//! The HTML report's plots, drawn with `plotters` into SVG strings that the page inlines: the
//! delivery-time percentile distribution, throughput and outcomes over time, the failover
//! timeline with the scenario's timeline events marked, and (with an abuse section) blocks
//! over time.
//!
//! Each plot comes with its legend as data ([`Plot::legend`]): the page writes legends as HTML
//! next to the SVG, where they never cover a line and wrap on a narrow page. Without plotters'
//! `ttf` feature the SVG carries its text as `<text>` elements the browser sets in its own
//! sans-serif, and plotters escapes that text (carrier names come from the scenario file).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::measure::Counts;
use crate::report::Report;
use crate::report::abuse::BlockRow;
use crate::report::curves::CurvePoint;

/// Width and height of every plot, in CSS pixels (the page scales them down on a narrow
/// screen; this is their size on a laptop and on A4 paper).
const SIZE: (u32, u32) = (1000, 440);
/// Text sizes as plotters takes them (it writes `size / 1.24` px into the SVG): 14.5 px tick
/// labels, 16 px axis titles.
const TICK_FONT: f64 = 18.0;
const AXIS_FONT: f64 = 20.0;
const FONT: &str = "sans-serif";

/// Colours that stay apart for the colour-blind (Okabe and Ito) and in grey print.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];
/// Outages: a light grey band behind the lines (no series colour), labelled in dark red, the
/// colour thresholds are marked in too.
const BAND: RGBColor = RGBColor(0, 0, 0);
const BAND_ALPHA: f64 = 0.08;
const ALERT: RGBColor = RGBColor(180, 35, 24);
/// Bars are lighter than lines, so lines drawn over them stay readable.
const BAR_ALPHA: f64 = 0.5;
const GRID: RGBColor = RGBColor(225, 225, 225);
const MUTED: RGBColor = RGBColor(110, 110, 110);

/// A series' entry in a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Its name (from the scenario: escape it).
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// How it is drawn: `line`, `dashed`, `bar`, `band` or `marker`.
    pub kind: &'static str,
}

/// One drawn plot.
#[derive(Debug, Clone)]
pub struct Plot {
    /// The `<svg>` element.
    pub svg: String,
    /// What each colour means.
    pub legend: Vec<Key>,
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn key(name: impl Into<String>, color: RGBColor, kind: &'static str) -> Key {
    Key {
        name: name.into(),
        color: hex(color),
        kind,
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws into a fresh SVG string; a drawing error (none is expected from a string target)
/// becomes the page's note instead of a missing plot.
fn draw(f: impl FnOnce(&Area<'_>) -> Result<(), String>) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        f(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Latencies in the unit that reads best for the largest: (µs per unit, unit).
fn latency_unit(max_us: u64) -> (f64, &'static str) {
    if max_us >= 2_000_000 {
        (1e6, "s")
    } else {
        (1e3, "ms")
    }
}

/// A tick value without the float noise of its computation (`0.6000000001` reads `0.6`).
fn tick(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// A percentile as the `1/(1-p)` axis position.
fn inverse_tail(percentile: f64) -> f64 {
    1.0 / (1.0 - percentile / 100.0).max(1e-9)
}

/// The percentile at an axis position, as its label: 1 → `0%`, 10 → `90%`, 1000 → `99.9%`.
fn percentile_label(x: f64) -> String {
    let p = (1.0 - 1.0 / x) * 100.0;
    let decades = x.log10().round().max(0.0) as usize;
    let digits = decades.saturating_sub(2);
    format!("{p:.digits$}%")
}

/// A latency threshold's point on the distribution: (percentile, limit µs, label), for
/// `delivery_time[.selector].pNN` thresholds.
fn delivery_limits(r: &Report) -> Vec<(f64, f64, String)> {
    r.thresholds
        .iter()
        .filter(|v| v.unit == "us")
        .filter_map(|v| {
            let mut parts = v.metric.split('.');
            if parts.next()? != "delivery_time" {
                return None;
            }
            let stat = v.metric.rsplit('.').next()?.strip_prefix('p')?;
            let p = match stat {
                "999" => 99.9,
                s => s.parse::<f64>().ok()?,
            };
            Some((p, v.limit, v.expr.clone()))
        })
        .collect()
}

/// (a) Delivery time against percentile, per channel and carrier, with the delivery-time
/// thresholds marked; `None` when no code was delivered.
pub fn distribution(r: &Report) -> Result<Option<Plot>, String> {
    let c = &r.percentile_curves;
    if c.delivery_time.is_empty() {
        return Ok(None);
    }
    let mut series: Vec<(String, &[CurvePoint], RGBColor, u32)> = Vec::new();
    if c.routes.len() == 1 {
        let rt = &c.routes[0];
        series.push((
            format!("{} via {} (all deliveries)", rt.channel, rt.carrier),
            &c.delivery_time,
            PALETTE[0],
            3,
        ));
    } else {
        series.push(("all deliveries".into(), &c.delivery_time, PALETTE[6], 3));
        for (i, rt) in c.routes.iter().enumerate() {
            series.push((
                format!("{} via {}", rt.channel, rt.carrier),
                &rt.delivery_time,
                PALETTE[i % 6],
                2,
            ));
        }
    }
    let limits = delivery_limits(r);
    let data_us = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.us))
        .max()
        .unwrap_or(1);
    // A limit far above the data would squash the curves to the bottom: the axis takes in
    // limits up to twice the slowest delivery; higher ones are marked at the top edge.
    let max_us = limits
        .iter()
        .map(|l| l.1 as u64)
        .filter(|l| *l <= data_us.saturating_mul(2))
        .fold(data_us, u64::max);
    let (div, unit) = latency_unit(max_us);
    let x_max = series
        .iter()
        .filter_map(|s| s.1.last())
        .map(|p| inverse_tail(p.percentile))
        .chain(limits.iter().map(|l| inverse_tail(l.0)))
        .fold(10.0f64, f64::max);
    // Whole decades, so the axis ends on a labelled percentile.
    let x_max = 10f64.powf(x_max.log10().ceil());
    let y_max = max_us as f64 / div * 1.08;
    let mut legend: Vec<Key> = series
        .iter()
        .map(|s| key(s.0.clone(), s.2, "line"))
        .collect();
    if !limits.is_empty() {
        legend.push(key("threshold (limit at its percentile)", ALERT, "marker"));
    }
    let svg = draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(18)
            .margin_right(36)
            .x_label_area_size(64)
            .y_label_area_size(84)
            .build_cartesian_2d((1f64..x_max).log_scale(), 0f64..y_max)
            .map_err(err)?;
        let decades = x_max.log10().round() as usize;
        chart
            .configure_mesh()
            .x_labels(decades + 1)
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| tick(*y))
            .x_desc("percentile (log scale of 1/(1−p): each step right is ten times rarer)")
            .y_desc(format!("delivery time ({unit}, scenario time)"))
            .label_style((FONT, TICK_FONT))
            .axis_desc_style((FONT, AXIS_FONT))
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        for (_, points, color, width) in &series {
            chart
                .draw_series(LineSeries::new(
                    points
                        .iter()
                        .map(|p| (inverse_tail(p.percentile), p.us as f64 / div)),
                    color.stroke_width(*width),
                ))
                .map_err(err)?;
        }
        for (p, limit, expr) in &limits {
            let limit = limit / div;
            let (at, label) = if limit <= y_max {
                ((inverse_tail(*p), limit), expr.clone())
            } else {
                (
                    (inverse_tail(*p), y_max),
                    format!("{expr} (the limit is above the plot)"),
                )
            };
            chart
                .draw_series([EmptyElement::at(at)
                    + Cross::new((0, 0), 7, ALERT.stroke_width(3))
                    + Text::new(
                        label,
                        (-10, if limit <= y_max { -12 } else { 10 }),
                        (FONT, TICK_FONT).into_font().color(&ALERT).pos(Pos::new(
                            HPos::Right,
                            if limit <= y_max {
                                VPos::Bottom
                            } else {
                                VPos::Top
                            },
                        )),
                    )])
                .map_err(err)?;
        }
        Ok(())
    })?;
    Ok(Some(Plot { svg, legend }))
}

/// One interval as the plots use it: its span in scenario seconds, its wall length, its
/// counts. Intervals shorter than a quarter of a wall second (the last one, cut by the end of
/// the run) join the one before, so a handful of ends in 50 ms does not read as a spike.
#[derive(Debug, Clone, Default)]
struct Span {
    from: f64,
    to: f64,
    wall_s: f64,
    counts: Counts,
    by_carrier: BTreeMap<String, u64>,
}

impl Span {
    fn per_s(&self, n: u64) -> f64 {
        if self.wall_s > 0.0 {
            n as f64 / self.wall_s
        } else {
            0.0
        }
    }
}

fn spans(r: &Report) -> Vec<Span> {
    let scale = r.scenario.time_scale.max(f64::MIN_POSITIVE);
    let mut out: Vec<Span> = Vec::new();
    let mut from = 0.0;
    for row in &r.timeline {
        let wall_s = (row.t - from) / scale;
        let mut failovers = row.counts.clone();
        failovers.failovers = row.failovers_by_cause.values().sum();
        let span = Span {
            from,
            to: row.t,
            wall_s,
            counts: failovers,
            by_carrier: row.delivered_by_carrier.clone(),
        };
        from = row.t;
        match out.last_mut() {
            Some(last) if wall_s < 0.25 => {
                last.to = span.to;
                last.wall_s += span.wall_s;
                last.counts.add(&span.counts);
                for (k, n) in span.by_carrier {
                    *last.by_carrier.entry(k).or_default() += n;
                }
            }
            _ => out.push(span),
        }
    }
    out
}

/// "per second", saying "of wall time" when scenario time runs faster.
fn per_second(r: &Report) -> &'static str {
    if (r.scenario.time_scale - 1.0).abs() > f64::EPSILON {
        "per second of wall time"
    } else {
        "per second"
    }
}

/// A line over time: (name, colour, value per span).
type Line = (String, RGBColor, Vec<f64>);

/// What a time plot shows besides its lines.
#[derive(Debug, Default)]
struct Extras {
    /// Bars per span: (name, colour, value per span).
    bars: Option<Line>,
    /// Shaded spans of scenario time: (from, to, label).
    bands: Vec<(f64, f64, String)>,
    /// Moments: (at, label).
    marks: Vec<(f64, String)>,
}

/// The carriers' outages from the timeline as applied: (from, to, label).
fn outages(r: &Report) -> Vec<(f64, f64, String)> {
    r.events
        .iter()
        .filter(|e| e.error.is_none())
        .filter_map(|e| Some((e.at_s, e.at_s + e.outage_s?, format!("{} down", e.carrier))))
        .collect()
}

/// The timeline's other changes (behaviour changes, failed entries): (at, label).
fn changes(r: &Report) -> Vec<(f64, String)> {
    r.events
        .iter()
        .filter(|e| e.outage_s.is_none() || e.error.is_some())
        .map(|e| {
            let what = if e.error.is_some() {
                "change FAILED"
            } else {
                "changed"
            };
            (e.at_s, format!("{} {what}", e.carrier))
        })
        .collect()
}

/// Lines (and bars, bands, marks) against scenario time.
fn time_plot(
    r: &Report,
    spans: &[Span],
    y_desc: &str,
    lines: &[Line],
    extras: &Extras,
) -> Result<String, String> {
    let x_max = spans
        .last()
        .map_or(0.0, |s| s.to)
        .max(r.scenario.duration_s)
        .max(1.0);
    let y_top = lines
        .iter()
        .chain(&extras.bars)
        .flat_map(|l| l.2.iter().copied())
        .fold(1.0f64, f64::max);
    // Room above the tallest line for the bands' and marks' labels.
    let y_max = y_top * 1.18;
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(18)
            .margin_right(36)
            .x_label_area_size(64)
            .y_label_area_size(84)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time since the load started (s, scenario time)")
            .y_desc(y_desc)
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .label_style((FONT, TICK_FONT))
            .axis_desc_style((FONT, AXIS_FONT))
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        let label_style = (FONT, TICK_FONT)
            .into_font()
            .color(&MUTED)
            .pos(Pos::new(HPos::Left, VPos::Top));
        for (i, (from, to, label)) in extras.bands.iter().enumerate() {
            let to = to.min(x_max);
            chart
                .draw_series([Rectangle::new(
                    [(*from, 0.0), (to, y_max)],
                    BAND.mix(BAND_ALPHA).filled(),
                )])
                .map_err(err)?;
            // Stagger the labels of overlapping bands.
            let y = y_max * (0.99 - 0.07 * (i % 3) as f64);
            chart
                .draw_series([EmptyElement::at((*from, y))
                    + Text::new(
                        label.clone(),
                        (6, 4),
                        (FONT, TICK_FONT)
                            .into_font()
                            .color(&ALERT)
                            .pos(Pos::new(HPos::Left, VPos::Top)),
                    )])
                .map_err(err)?;
        }
        for (i, (at, label)) in extras.marks.iter().enumerate() {
            chart
                .draw_series(DashedLineSeries::new(
                    [(*at, 0.0), (*at, y_max)],
                    6,
                    4,
                    MUTED.stroke_width(2),
                ))
                .map_err(err)?;
            let y = y_max * (0.92 - 0.07 * (i % 3) as f64);
            // Near the right edge the label goes to the line's left, where it has room.
            let (dx, style) = if *at > 0.8 * x_max {
                (-6, label_style.pos(Pos::new(HPos::Right, VPos::Top)))
            } else {
                (6, label_style.clone())
            };
            chart
                .draw_series(
                    [EmptyElement::at((*at, y)) + Text::new(label.clone(), (dx, 0), style)],
                )
                .map_err(err)?;
        }
        if let Some((_, color, values)) = &extras.bars {
            chart
                .draw_series(
                    spans
                        .iter()
                        .zip(values)
                        .filter(|(_, v)| **v > 0.0)
                        .map(|(s, v)| {
                            Rectangle::new(
                                [(s.from, 0.0), (s.to, *v)],
                                color.mix(BAR_ALPHA).filled(),
                            )
                        }),
                )
                .map_err(err)?;
        }
        for (_, color, values) in lines {
            chart
                .draw_series(LineSeries::new(
                    spans.iter().zip(values).map(|(s, v)| (s.to, *v)),
                    color.stroke_width(2),
                ))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// The legend of a time plot's lines, bars and outage bands (its marks are the caller's).
fn keys(lines: &[Line], extras: &Extras) -> Vec<Key> {
    let mut legend: Vec<Key> = lines
        .iter()
        .map(|l| key(l.0.clone(), l.1, "line"))
        .collect();
    if let Some((name, color, _)) = &extras.bars {
        legend.push(key(name.clone(), *color, "bar"));
    }
    if !extras.bands.is_empty() {
        legend.push(key("carrier outage", BAND, "band"));
    }
    legend
}

/// Lines over the whole run, with the carriers' outages and the end of the arrivals marked.
fn over_the_run(r: &Report, spans: &[Span], lines: &[Line]) -> Result<Option<Plot>, String> {
    let extras = Extras {
        bars: None,
        bands: outages(r),
        marks: vec![(r.scenario.duration_s, "arrivals end".into())],
    };
    let svg = time_plot(r, spans, per_second(r), lines, &extras)?;
    let mut legend = keys(lines, &extras);
    legend.push(key("end of arrivals", MUTED, "dashed"));
    Ok(Some(Plot { svg, legend }))
}

/// (b) Users asking, codes delivered and verifications ending per second over the run, with
/// the end of the arrivals marked; `None` without intervals.
pub fn throughput(r: &Report) -> Result<Option<Plot>, String> {
    let spans = spans(r);
    if spans.is_empty() {
        return Ok(None);
    }
    type Pick = fn(&Counts) -> u64;
    let all: [(&str, Pick); 7] = [
        ("asked for a code", |c| c.attempted),
        ("code delivered", |c| c.delivered),
        ("verified", |c| c.verified),
        ("refused", |c| c.refused),
        ("expired", |c| c.expired),
        ("abandoned", |c| c.abandoned),
        ("failed", |c| c.failed),
    ];
    let lines: Vec<Line> = all
        .iter()
        .enumerate()
        // The first three always; an outcome only when it happened.
        .filter(|(i, (_, pick))| *i < 3 || spans.iter().any(|s| pick(&s.counts) > 0))
        .map(|(i, (name, pick))| {
            (
                (*name).to_string(),
                PALETTE[i % PALETTE.len()],
                spans.iter().map(|s| s.per_s(pick(&s.counts))).collect(),
            )
        })
        .collect();
    over_the_run(r, &spans, &lines)
}

/// (c) Codes delivered per carrier and failovers per second, with the outages and other
/// timeline changes marked; `None` without intervals.
pub fn failover(r: &Report) -> Result<Option<Plot>, String> {
    let spans = spans(r);
    if spans.is_empty() {
        return Ok(None);
    }
    let mut carriers: Vec<&String> = spans.iter().flat_map(|s| s.by_carrier.keys()).collect();
    carriers.sort();
    carriers.dedup();
    let lines: Vec<Line> = carriers
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                format!("codes delivered via {name}"),
                PALETTE[i % 6],
                spans
                    .iter()
                    .map(|s| s.per_s(s.by_carrier.get(*name).copied().unwrap_or(0)))
                    .collect(),
            )
        })
        .collect();
    let bars = r.failover.observable.then(|| {
        (
            "failovers (counted when the verification ended)".to_string(),
            // Not grey: the outage bands are.
            PALETTE[3],
            spans.iter().map(|s| s.per_s(s.counts.failovers)).collect(),
        )
    });
    let extras = Extras {
        bars,
        bands: outages(r),
        marks: changes(r),
    };
    let svg = time_plot(r, &spans, per_second(r), &lines, &extras)?;
    let mut legend = keys(&lines, &extras);
    if !extras.marks.is_empty() {
        legend.push(key("timeline change", MUTED, "dashed"));
    }
    Ok(Some(Plot { svg, legend }))
}

/// (d) Blocks over time, from the abuse section: attack start requests, the attack ones
/// refused and the genuine ones refused, per second; `None` without an abuse section or
/// intervals.
pub fn blocks(r: &Report) -> Result<Option<Plot>, String> {
    let Some(a) = &r.abuse else {
        return Ok(None);
    };
    if a.timeline.is_empty() {
        return Ok(None);
    }
    let scale = r.scenario.time_scale.max(f64::MIN_POSITIVE);
    let mut from = 0.0;
    let spans: Vec<Span> = a
        .timeline
        .iter()
        .map(|row| {
            let span = Span {
                from,
                to: row.t,
                wall_s: (row.t - from) / scale,
                ..Span::default()
            };
            from = row.t;
            span
        })
        .collect();
    type Pick = fn(&BlockRow) -> u64;
    let all: [(&str, RGBColor, Pick); 3] = [
        ("attack requests", PALETTE[1], |b| b.attack_requests),
        ("attack refused", PALETTE[0], |b| b.attack_refused),
        ("genuine refused", PALETTE[6], |b| b.genuine_refused),
    ];
    let lines: Vec<Line> = all
        .iter()
        .map(|(name, color, pick)| {
            (
                (*name).to_string(),
                *color,
                spans
                    .iter()
                    .zip(&a.timeline)
                    .map(|(s, b)| s.per_s(pick(b)))
                    .collect(),
            )
        })
        .collect();
    over_the_run(r, &spans, &lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_reads_as_percentiles() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(100_000.0), "99.999%");
        assert!((inverse_tail(99.0) - 100.0).abs() < 1e-6);
    }

    #[test]
    fn ticks_read_without_float_noise() {
        assert_eq!(tick(0.6000000001), "0.6");
        assert_eq!(tick(25.0), "25");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(-0.0), "0");
    }

    #[test]
    fn latencies_pick_a_readable_unit() {
        assert_eq!(latency_unit(900_000), (1e3, "ms"));
        assert_eq!(latency_unit(12_000_000), (1e6, "s"));
    }
}
