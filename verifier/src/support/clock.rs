//! Process time in milliseconds: one `Instant` taken at start, so windows, deadlines and
//! records store a `u64` instead of an `Instant` (8 bytes, `Copy`, atomic-friendly), and a
//! wall-clock time for what users read.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

struct Origin {
    instant: Instant,
    wall: DateTime<Utc>,
}

fn origin() -> &'static Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(|| Origin {
        instant: Instant::now(),
        wall: Utc::now(),
    })
}

/// Milliseconds since the process's first call (monotonic).
pub(crate) fn now_ms() -> u64 {
    u64::try_from(origin().instant.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A duration in milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The wall-clock time of a `now_ms()` value (for API bodies).
pub(crate) fn wall(at_ms: u64) -> DateTime<Utc> {
    let o = origin();
    o.wall + chrono::TimeDelta::milliseconds(i64::try_from(at_ms).unwrap_or(i64::MAX / 2))
}

/// The monotonic `now_ms()` value of a wall-clock time (0 for times before the origin).
pub(crate) fn from_wall(at: DateTime<Utc>) -> u64 {
    let o = origin();
    u64::try_from((at - o.wall).num_milliseconds()).unwrap_or(0)
}
