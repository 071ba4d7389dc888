//! A circuit breaker per carrier: `failures` consecutive failures open it for `cool_down`;
//! then it lets one probe through (half-open), which closes it on success and opens it again
//! on failure. While open, workflow steps on the carrier fail over at once (cause
//! `breaker_open`) instead of waiting on a carrier that is not answering.

use std::sync::Mutex;

use crate::config::BreakerConfig;
use crate::support::clock::ms;
use crate::support::sharded::lock;

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Traffic flows.
    Closed,
    /// One probe at a time.
    HalfOpen,
    /// Traffic fails over.
    Open,
}

impl BreakerState {
    /// The gauge value: 0 closed, 1 half-open, 2 open.
    pub(crate) fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive: u32,
    since_ms: u64,
    probe_at_ms: Option<u64>,
}

/// One carrier's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    failures: u32,
    cool_down_ms: u64,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub(crate) fn new(cfg: &BreakerConfig) -> Self {
        Self {
            failures: cfg.failures,
            cool_down_ms: ms(cfg.cool_down),
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive: 0,
                since_ms: 0,
                probe_at_ms: None,
            }),
        }
    }

    /// Whether a request may go now. An open breaker past its cool-down turns half-open and
    /// lets this request through as the probe; a probe that never reported back is replaced
    /// after another cool-down.
    pub(crate) fn allow(&self, now_ms: u64) -> bool {
        let mut b = lock(&self.inner);
        match b.state {
            BreakerState::Closed => true,
            BreakerState::Open if now_ms.saturating_sub(b.since_ms) >= self.cool_down_ms => {
                b.state = BreakerState::HalfOpen;
                b.probe_at_ms = Some(now_ms);
                true
            }
            BreakerState::Open => false,
            BreakerState::HalfOpen => match b.probe_at_ms {
                Some(at) if now_ms.saturating_sub(at) < self.cool_down_ms => false,
                _ => {
                    b.probe_at_ms = Some(now_ms);
                    true
                }
            },
        }
    }

    pub(crate) fn success(&self) {
        let mut b = lock(&self.inner);
        b.consecutive = 0;
        b.probe_at_ms = None;
        if b.state != BreakerState::Closed {
            tracing::info!("circuit breaker closed");
        }
        b.state = BreakerState::Closed;
    }

    pub(crate) fn failure(&self, now_ms: u64) {
        let mut b = lock(&self.inner);
        b.consecutive = b.consecutive.saturating_add(1);
        let open = match b.state {
            BreakerState::HalfOpen => true,
            BreakerState::Closed => b.consecutive >= self.failures,
            BreakerState::Open => false,
        };
        if open {
            b.state = BreakerState::Open;
            b.since_ms = now_ms;
            b.probe_at_ms = None;
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        lock(&self.inner).state
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn opens_probes_and_closes() {
        let b = Breaker::new(&BreakerConfig {
            failures: 3,
            cool_down: Duration::from_millis(100),
        });
        for _ in 0..2 {
            assert!(b.allow(0));
            b.failure(0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.failure(0);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow(50));
        assert!(b.allow(100), "the probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(101), "one probe at a time");
        b.failure(101);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow(250));
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow(251));
    }
}
