//! Per-number, per-IP and per-source (IP or device) traffic state for the velocity and list
//! heuristics, each in a fixed-memory [`Table`]:
//!
//! - per number: starts without a check in between (flooding), and starts and verifications
//!   over `repeat_window` (RingCaptcha's "requests codes again and again and never verifies");
//! - per IP: starts per `ip_window`, distinct destination countries per `ip_countries_window`;
//! - per source: the numbers requested within `group_window`, compared with the group of the
//!   window before, for "always requested together with the same set of other numbers".

use crate::config::{HeuristicsConfig, VelocityConfig};
use crate::support::clock::ms;
use crate::support::msisdn::Msisdn;
use crate::support::table::Table;

/// Largest group of numbers remembered per source and window.
const GROUP_MAX: usize = 16;

#[derive(Debug, Default, Clone)]
struct NumberSlot {
    since_check: u32,
    flood_start_ms: u64,
    repeat_start_ms: u64,
    starts: u32,
    verified: u32,
}

#[derive(Debug, Default, Clone)]
struct IpSlot {
    window_ms: u64,
    starts: u32,
    countries_ms: u64,
    countries: Vec<[u8; 2]>,
}

#[derive(Debug, Default, Clone)]
struct GroupSlot {
    window_ms: u64,
    current: Vec<Msisdn>,
    last: Vec<Msisdn>,
}

/// A count against its limit, for the decision record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count {
    pub seen: u64,
    pub limit: u64,
}

/// The traffic tables.
#[derive(Debug)]
pub(crate) struct Traffic {
    numbers: Table<NumberSlot>,
    ips: Table<IpSlot>,
    groups: Table<GroupSlot>,
    v: VelocityConfig,
    h: HeuristicsConfig,
}

impl Traffic {
    pub(crate) fn new(v: &VelocityConfig, h: &HeuristicsConfig, capacity: usize) -> Self {
        Self {
            numbers: Table::new(capacity),
            ips: Table::new(capacity),
            groups: Table::new(capacity),
            v: v.clone(),
            h: h.clone(),
        }
    }

    fn number_stale(&self) -> u64 {
        ms(self.v.number_window).max(ms(self.h.repeat_window))
    }

    /// Starts to `n` without a check since, before this one, when at or over the limit.
    pub(crate) fn flooding(&self, n: Msisdn, now_ms: u64) -> Option<Count> {
        let window = ms(self.v.number_window);
        let limit = self.v.number_starts_without_check;
        self.numbers
            .peek(n.raw(), now_ms, self.number_stale(), |s| {
                (now_ms.saturating_sub(s.flood_start_ms) < window && s.since_check >= limit)
                    .then_some(Count {
                        seen: u64::from(s.since_check),
                        limit: u64::from(limit),
                    })
            })
            .flatten()
    }

    /// Counts a start to `n` that went ahead; returns the repeat count when `n` has now
    /// started `repeat_starts` times in its window without ever verifying.
    pub(crate) fn number_started(&self, n: Msisdn, now_ms: u64) -> Option<Count> {
        let (flood_window, repeat_window) = (ms(self.v.number_window), ms(self.h.repeat_window));
        let limit = self.h.repeat_starts;
        self.numbers
            .with(n.raw(), now_ms, self.number_stale(), |s| {
                if now_ms.saturating_sub(s.flood_start_ms) >= flood_window || s.since_check == 0 {
                    s.flood_start_ms = now_ms;
                    s.since_check = 0;
                }
                s.since_check += 1;
                if now_ms.saturating_sub(s.repeat_start_ms) >= repeat_window {
                    s.repeat_start_ms = now_ms;
                    s.starts = 0;
                    s.verified = 0;
                }
                s.starts += 1;
                (s.starts >= limit && s.verified == 0).then_some(Count {
                    seen: u64::from(s.starts),
                    limit: u64::from(limit),
                })
            })
    }

    /// A check was made for `n` (whatever its result): flooding counts from zero again.
    pub(crate) fn number_checked(&self, n: Msisdn, now_ms: u64) {
        self.numbers
            .with(n.raw(), now_ms, self.number_stale(), |s| s.since_check = 0);
    }

    /// `n` verified.
    pub(crate) fn number_verified(&self, n: Msisdn, now_ms: u64) {
        self.numbers
            .with(n.raw(), now_ms, self.number_stale(), |s| {
                s.verified += 1;
                s.since_check = 0;
            });
    }

    /// Counts a start from `ip` to `country`; the rule and count when a limit is passed.
    pub(crate) fn ip_started(
        &self,
        ip: &str,
        country: Option<&str>,
        now_ms: u64,
    ) -> Option<(bool, Count)> {
        let (window, cwindow) = (ms(self.v.ip_window), ms(self.v.ip_countries_window));
        let key = crate::support::key_of(ip);
        self.ips.with(key, now_ms, window.max(cwindow), |s| {
            if now_ms.saturating_sub(s.window_ms) >= window {
                s.window_ms = now_ms;
                s.starts = 0;
            }
            s.starts += 1;
            if s.starts > self.v.ip_starts {
                return Some((
                    false,
                    Count {
                        seen: u64::from(s.starts),
                        limit: u64::from(self.v.ip_starts),
                    },
                ));
            }
            if now_ms.saturating_sub(s.countries_ms) >= cwindow {
                s.countries_ms = now_ms;
                s.countries.clear();
            }
            let cc = country.and_then(|c| <[u8; 2]>::try_from(c.as_bytes()).ok())?;
            if !s.countries.contains(&cc) {
                if s.countries.len() >= self.v.ip_countries {
                    return Some((
                        true,
                        Count {
                            seen: s.countries.len() as u64 + 1,
                            limit: self.v.ip_countries as u64,
                        },
                    ));
                }
                s.countries.push(cc);
            }
            None
        })
    }

    /// Adds `n` to the group of `source` (an IP or device); when the group now repeats at least
    /// `group_size` numbers of the source's previous group, returns those numbers.
    pub(crate) fn grouped(&self, source: &str, n: Msisdn, now_ms: u64) -> Option<Vec<Msisdn>> {
        let window = ms(self.h.group_window);
        let key = crate::support::key_of(source);
        let size = self.h.group_size;
        self.groups.with(key, now_ms, window * 4, |s| {
            if now_ms.saturating_sub(s.window_ms) >= window {
                // The window closed: its group (if big enough) is the one to compare with.
                if s.current.len() >= size {
                    s.last = std::mem::take(&mut s.current);
                } else if now_ms.saturating_sub(s.window_ms) >= 2 * window {
                    s.last.clear();
                }
                s.current.clear();
                s.window_ms = now_ms;
            }
            if !s.current.contains(&n) && s.current.len() < GROUP_MAX {
                s.current.push(n);
            }
            let again: Vec<Msisdn> = s
                .current
                .iter()
                .filter(|x| s.last.contains(x))
                .copied()
                .collect();
            (again.len() >= size).then_some(again)
        })
    }

    /// Entries pushed out while fresh, over the three tables.
    pub(crate) fn evictions(&self) -> u64 {
        self.numbers.evictions() + self.ips.evictions() + self.groups.evictions()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn traffic() -> Traffic {
        Traffic::new(
            &VelocityConfig {
                ip_starts: 5,
                ..VelocityConfig::default()
            },
            &HeuristicsConfig {
                group_window: Duration::from_secs(10),
                repeat_starts: 3,
                ..HeuristicsConfig::default()
            },
            1024,
        )
    }

    fn n(i: u64) -> Msisdn {
        Msisdn::parse(&format!("4477009{i:05}")).unwrap()
    }

    #[test]
    fn groups_fire_when_the_same_set_comes_again() {
        let t = traffic();
        for x in 1..=3 {
            assert_eq!(t.grouped("ip", n(x), 0), None);
        }
        // A different set in the next window: quiet.
        for x in 4..=6 {
            assert_eq!(t.grouped("ip", n(x), 11_000), None);
        }
        // The first set again, after its window: fires at its third number.
        assert_eq!(t.grouped("ip", n(4), 22_000), None);
        assert_eq!(t.grouped("ip", n(5), 22_001), None);
        assert_eq!(t.grouped("ip", n(6), 22_002), Some(vec![n(4), n(5), n(6)]));
        // Other sources asking for the same numbers once are not a group.
        assert_eq!(t.grouped("other", n(4), 22_003), None);
    }

    #[test]
    fn flooding_and_repeats_count_per_number() {
        let t = traffic();
        for i in 0..4 {
            assert!(t.flooding(n(1), i).is_none());
            assert_eq!(t.number_started(n(1), i).is_some(), i >= 2);
        }
        assert_eq!(t.flooding(n(1), 5), Some(Count { seen: 4, limit: 4 }));
        t.number_checked(n(1), 6);
        assert!(t.flooding(n(1), 7).is_none());
        t.number_verified(n(2), 0);
        for i in 0..5 {
            assert!(
                t.number_started(n(2), i).is_none(),
                "a number that verifies is no repeat requester"
            );
        }
    }

    #[test]
    fn ip_velocity_and_countries() {
        let t = traffic();
        for (i, cc) in ["GB", "FR", "DE", "GB", "DE"].iter().enumerate() {
            assert_eq!(t.ip_started("1.2.3.4", Some(cc), i as u64), None);
        }
        assert_eq!(
            t.ip_started("1.2.3.4", Some("GB"), 6).map(|x| x.0),
            Some(false),
            "sixth start"
        );
        let t = traffic();
        for cc in ["GB", "FR", "DE"] {
            assert_eq!(t.ip_started("5.6.7.8", Some(cc), 0), None);
        }
        assert_eq!(
            t.ip_started("5.6.7.8", Some("ES"), 0).map(|x| x.0),
            Some(true)
        );
    }
}
