//! Progress while a run goes: on a terminal a bar with the time left, the arrival rate, the
//! users verified and the p99 delivery time so far; elsewhere (CI logs) a plain line every
//! second; or nothing.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::summary::us;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain lines on stderr.
    Plain,
    /// Nothing.
    Off,
}

/// What one update shows.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// Wall seconds since the start of the load.
    pub elapsed: f64,
    /// Users that asked per second over the last interval.
    pub rate: f64,
    /// Verified so far.
    pub verified: u64,
    /// Users that asked so far.
    pub attempted: u64,
    /// p99 delivery time so far (µs of scenario time).
    pub delivery_p99: Option<u64>,
    /// Verifications under way.
    pub pending: u64,
    /// Arrivals are over: waiting for the last verifications.
    pub draining: bool,
}

/// The display.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
}

impl Progress {
    /// A display for a load of `wall` wall time.
    pub fn new(mode: ProgressMode, wall: Duration) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && terminal).then(|| {
            let bar = ProgressBar::new(wall.as_millis() as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:20}] {percent:>3}% {wide_msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            plain: mode == ProgressMode::Plain || (mode == ProgressMode::Auto && !terminal),
            bar,
        }
    }

    /// Shows one update.
    pub fn update(&self, t: &Tick, wall: Duration) {
        let left = (wall.as_secs_f64() - t.elapsed).max(0.0);
        let p99 = t.delivery_p99.map_or("-".into(), us);
        let line = if t.draining {
            format!(
                "draining: {} pending · verified {}/{} · p99 delivery {p99}",
                t.pending, t.verified, t.attempted
            )
        } else {
            // The most telling figures first: a narrow terminal cuts the end of the bar's line.
            format!(
                "{left:.0}s left · p99 delivery {p99} · verified {}/{} · {:.0}/s · pending {}",
                t.verified, t.attempted, t.rate, t.pending
            )
        };
        if let Some(bar) = &self.bar {
            bar.set_position((t.elapsed * 1000.0) as u64);
            bar.set_message(line);
        } else if self.plain {
            eprintln!("[{:>7.1}s] {line}", t.elapsed);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
