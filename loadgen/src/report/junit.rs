//! The report as JUnit XML (`--junit FILE`), for CI systems that show test results: one test
//! suite per run, one test case per threshold (a breach is a `<failure>` with the measured value
//! and the limit), and one test case for the run's own validity (the accounting identity and
//! the other errors that make the run exit 1, as an `<error>`), so a CI page shows both kinds
//! of red the way the exit code does. With an abuse section that holds the verifier's own
//! counts, one more test case: loadgen's refusals agree with them (a `<failure>` listing the
//! differences when they do not). Abuse thresholds are test cases like any other.

use std::fmt::Write;

use super::Report;
use super::abuse_text::decision_sentence;
use super::summary::measured;

/// Escapes text for an XML attribute or element.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters, even escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML of a report.
pub fn junit(r: &Report) -> String {
    let decisions = r.abuse.as_ref().and_then(|a| a.decisions.as_ref());
    let failures = r.thresholds.iter().filter(|v| !v.pass).count()
        + usize::from(decisions.is_some_and(|d| !d.consistent));
    let errors = usize::from(!r.errors.is_empty());
    let tests = r.thresholds.len() + 1 + usize::from(decisions.is_some());
    let suite = esc(&format!("loadgen run · {}", r.scenario.name));
    let mut o = String::new();
    let _ = writeln!(o, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        o,
        r#"<testsuites name="loadgen run" tests="{tests}" failures="{failures}" errors="{errors}" time="{:.3}">"#,
        r.wall_s
    );
    let _ = writeln!(
        o,
        r#"  <testsuite name="{suite}" tests="{tests}" failures="{failures}" errors="{errors}" skipped="0" time="{:.3}">"#,
        r.wall_s
    );
    let _ = writeln!(o, "    <properties>");
    for (name, value) in [
        ("scenario.file", r.scenario.file.clone()),
        ("scenario.seed", r.scenario.seed.to_string()),
        ("scenario.time_scale", r.scenario.time_scale.to_string()),
        ("target.service", r.target.service.clone()),
        ("target.network", r.target.network.clone()),
        ("attempted", r.attempted.to_string()),
        ("verified", r.outcomes.verified.to_string()),
    ] {
        let _ = writeln!(
            o,
            r#"      <property name="{name}" value="{}"/>"#,
            esc(&value)
        );
    }
    let _ = writeln!(o, "    </properties>");
    let class = esc(&format!("loadgen.{}", r.scenario.name));
    let _ = write!(
        o,
        r#"    <testcase classname="{class}" name="run is valid (accounting identity holds, no errors)" time="{:.3}""#,
        r.wall_s
    );
    if r.errors.is_empty() {
        let _ = writeln!(o, "/>");
    } else {
        let _ = writeln!(o, ">");
        let _ = writeln!(
            o,
            r#"      <error message="{}" type="run_error">{}</error>"#,
            esc(&r.errors[0]),
            esc(&r.errors.join("\n"))
        );
        let _ = writeln!(o, "    </testcase>");
    }
    for v in &r.thresholds {
        let _ = write!(
            o,
            r#"    <testcase classname="{class}.thresholds" name="{}" time="0""#,
            esc(&v.expr)
        );
        if v.pass {
            let _ = writeln!(o, "/>");
            continue;
        }
        let _ = writeln!(o, ">");
        let message = format!("breached: measured {} ({})", measured(v), v.expr);
        let _ = writeln!(
            o,
            r#"      <failure message="{}" type="threshold">{}</failure>"#,
            esc(&message),
            esc(&v.to_string())
        );
        let _ = writeln!(o, "    </testcase>");
    }
    if let Some(d) = decisions {
        let _ = write!(
            o,
            r#"    <testcase classname="{class}.abuse" name="the guard's decisions agree with the verifier's own counts" time="0""#
        );
        if d.consistent {
            let _ = writeln!(o, "/>");
        } else {
            let _ = writeln!(o, ">");
            let _ = writeln!(
                o,
                r#"      <failure message="{}" type="decision_check">{}</failure>"#,
                esc(&decision_sentence(d)),
                esc(&d.differences.join("\n"))
            );
            let _ = writeln!(o, "    </testcase>");
        }
    }
    let _ = writeln!(o, "  </testsuite>");
    let _ = writeln!(o, "</testsuites>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abuse_thresholds_and_the_decision_check_are_test_cases() {
        use crate::report::fixture;
        let exprs = ["abuse.recall > 0.95", "genuine.refused_ratio < 0.005"];
        let mut a = fixture::abuse();
        let x = junit(&fixture::report(Some(a.clone()), &exprs));
        assert!(x.contains(r#"tests="4" failures="1""#), "{x}");
        assert!(
            x.contains(r#"name="abuse.recall &gt; 0.95" time="0">"#)
                && x.contains("breached: measured 0.9018 (abuse.recall &gt; 0.95)"),
            "{x}"
        );
        assert!(
            x.contains(
                r#"name="the guard's decisions agree with the verifier's own counts" time="0"/>"#
            ),
            "{x}"
        );
        let d = a.decisions.as_mut().expect("the fixture checks decisions");
        d.consistent = false;
        d.differences = vec![
            "prefix_velocity: loadgen 1218, verifier 1220".into(),
            "line_type: loadgen 194, verifier 0".into(),
        ];
        let x = junit(&fixture::report(Some(a.clone()), &exprs));
        assert!(x.contains(r#"tests="4" failures="2""#), "{x}");
        assert!(
            x.contains(
                "type=\"decision_check\">prefix_velocity: loadgen 1218, verifier 1220\nline_type: \
                 loadgen 194, verifier 0</failure>"
            ),
            "{x}"
        );
        assert!(
            x.contains("message=\"INCONSISTENT with the verifier"),
            "{x}"
        );
        // An external verifier's run has no decisions to check; a run without personas no
        // abuse section: no test case either way.
        a.decisions = None;
        let x = junit(&fixture::report(Some(a), &[]));
        assert!(x.contains(r#"tests="1" failures="0""#), "{x}");
        let x = junit(&fixture::report(None, &[]));
        assert!(!x.contains(".abuse"), "{x}");
        assert!(x.contains(r#"tests="1" failures="0""#), "{x}");
    }

    #[test]
    fn markup_in_expressions_is_escaped() {
        assert_eq!(
            esc("delivery_time.p99 < 15s & \"x\"\u{1}"),
            "delivery_time.p99 &lt; 15s &amp; &quot;x&quot; "
        );
    }
}
