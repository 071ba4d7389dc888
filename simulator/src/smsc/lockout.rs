//! Failed-bind limits: what a real SMSC does to a password guesser, so a client's behaviour
//! under a lockout can be tested and a guessing attack is refused and seen.
//!
//! Three limits, each configured in `bind_lockout` ([`BindLockoutConfig`]) and each counted:
//!
//! - **per source address**: `max_failures` failed binds within `window` lock the address out
//!   for `cool_down`; every bind from it is then answered ESME_RBINDFAIL before its credentials
//!   are looked at (so a locked-out guesser learns nothing, not even a right password);
//! - **per system_id**, against guessing spread over many addresses: once
//!   `system_id_addresses` distinct addresses have failed against one configured system_id
//!   within `window`, the system_id is *guarded* for `cool_down`. A guard does not lock the
//!   account: it refuses only the addresses that have failed against it, so every guessing
//!   address gets one guess per guard while the account's owner, binding from an address that
//!   has not failed, binds as usual. Locking the account itself would hand any attacker a way
//!   to deny service to the real client by guessing badly on purpose;
//! - **per connection** (in the session): after `failures_per_connection` failed binds the
//!   connection is closed after the last response.
//!
//! An IPv6 source counts by its /64 (one host usually holds a whole /64 and could take a fresh
//! address for every guess). A failed bind is one refused for its credentials
//! (ESME_RINVSYSID, ESME_RINVPASWD); a bind refused by a lockout, an outage or the account's
//! bind limit does not count towards a lockout and does not extend one. Unknown system_ids count per address only, so spraying made-up
//! names cannot grow the per-system_id tables. Memory is bounded by `max_addresses` per table.
//! The decisions take `now` so they are plain functions of their inputs, tested here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::metrics::Metrics;
use crate::config::BindLockoutConfig;
use crate::ratelog::Repeated;

/// Why a bind was refused before its credentials were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    /// The source address is locked out.
    Address,
    /// The system_id is guarded and this address has failed against it.
    SystemId,
}

/// One source address's failures.
#[derive(Debug, Clone, Copy)]
struct AddressEntry {
    /// Start of the window failures are counted in.
    since: Instant,
    /// Failures in that window.
    failures: u32,
    /// End of the lockout in force, if any.
    locked_until: Option<Instant>,
}

impl AddressEntry {
    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }
}

/// One configured system_id's failing addresses.
#[derive(Debug, Default)]
struct AccountEntry {
    /// Address -> its last failure against this system_id.
    failing: HashMap<IpAddr, Instant>,
    /// End of the guard in force, if any.
    guarded_until: Option<Instant>,
}

impl AccountEntry {
    fn guarded(&self, now: Instant) -> bool {
        self.guarded_until.is_some_and(|t| now < t)
    }
}

#[derive(Debug)]
struct Tables {
    addresses: HashMap<IpAddr, AddressEntry>,
    accounts: HashMap<String, AccountEntry>,
    /// Expired entries are swept at most once a second (a sweep walks a table).
    next_sweep: Instant,
}

/// The failed-bind limits of one carrier.
#[derive(Debug)]
pub(crate) struct BindLockout {
    cfg: BindLockoutConfig,
    tables: Mutex<Tables>,
    metrics: Arc<Metrics>,
    /// Lockouts and guards starting, logged at most once a second with a count.
    started_log: Repeated,
    /// Binds refused (for any reason), logged likewise: a guessing attack is thousands a second.
    refused_log: Repeated,
}

/// What the lockout holds now (for `/v1/stats` and `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LockoutNow {
    /// Addresses locked out now.
    pub locked_addresses: usize,
    /// System_ids guarded now.
    pub guarded_system_ids: usize,
    /// Addresses with failures remembered.
    pub tracked_addresses: usize,
}

const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The key an address is counted under: an IPv4 address itself (IPv4-mapped IPv6 included);
/// an IPv6 address by its /64, since one host is usually given a whole /64 and could
/// otherwise take a fresh address for every guess.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

impl BindLockout {
    /// Limits for a carrier with these accounts (the system_ids tracked per system_id).
    pub fn new<'a>(
        cfg: BindLockoutConfig,
        accounts: impl IntoIterator<Item = &'a str>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            tables: Mutex::new(Tables {
                addresses: HashMap::new(),
                accounts: accounts
                    .into_iter()
                    .map(|a| (a.to_string(), AccountEntry::default()))
                    .collect(),
                next_sweep: Instant::now(),
            }),
            cfg,
            metrics,
            started_log: Repeated::default(),
            refused_log: Repeated::default(),
        }
    }

    /// Failed binds after which a connection is closed (`None` when the limits are off).
    pub fn failures_per_connection(&self) -> Option<u32> {
        self.cfg.enabled.then_some(self.cfg.failures_per_connection)
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a bind from `ip` as `system_id` before its credentials are: `Err` when it must be
    /// refused (counted).
    pub fn admit(&self, ip: IpAddr, system_id: &str, now: Instant) -> Result<(), Locked> {
        if !self.cfg.enabled {
            return Ok(());
        }
        let ip = source_key(ip);
        let t = self.tables();
        let locked = if t.addresses.get(&ip).is_some_and(|e| e.locked(now)) {
            Some(Locked::Address)
        } else if t
            .accounts
            .get(system_id)
            .is_some_and(|a| a.guarded(now) && a.failing.contains_key(&ip))
        {
            Some(Locked::SystemId)
        } else {
            None
        };
        drop(t);
        match locked {
            None => Ok(()),
            Some(scope) => {
                let counter = match scope {
                    Locked::Address => &self.metrics.bind_refused_address_locked,
                    Locked::SystemId => &self.metrics.bind_refused_system_id_guarded,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Err(scope)
            }
        }
    }

    /// Records a bind from `ip` as `system_id` refused for its credentials; may start a
    /// lockout of the address or a guard of the system_id (counted, logged).
    pub fn failed(&self, ip: IpAddr, system_id: &str, now: Instant) {
        self.metrics.bind_failures.fetch_add(1, Ordering::Relaxed);
        if !self.cfg.enabled {
            return;
        }
        let ip = source_key(ip);
        let cfg = &self.cfg;
        let mut t = self.tables();
        if now >= t.next_sweep {
            t.sweep(cfg, now);
        }
        if !t.addresses.contains_key(&ip) && t.addresses.len() >= cfg.max_addresses {
            t.sweep(cfg, now);
            if t.addresses.len() >= cfg.max_addresses
                && let Some(k) = t.addresses.keys().next().copied()
            {
                t.addresses.remove(&k);
            }
        }
        let entry = t.addresses.entry(ip).or_insert(AddressEntry {
            since: now,
            failures: 0,
            locked_until: None,
        });
        if now.saturating_duration_since(entry.since) >= cfg.window {
            entry.since = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        let failures = entry.failures;
        if failures >= cfg.max_failures && !entry.locked(now) {
            entry.locked_until = Some(now + cfg.cool_down);
            // The next window starts after the cool-down: failures before it are paid for.
            entry.since = now + cfg.cool_down;
            entry.failures = 0;
            self.metrics
                .bind_lockouts_address
                .fetch_add(1, Ordering::Relaxed);
            self.started_log.hit(|count| {
                tracing::warn!(address = %ip, failures, cool_down = ?cfg.cool_down, count, "bind lockout: source address locked out after failed binds (count: lockouts and guards started since the last line)");
            });
        }
        let Some(account) = t.accounts.get_mut(system_id) else {
            return;
        };
        if !account.failing.contains_key(&ip) && account.failing.len() >= cfg.max_addresses {
            account.prune(cfg.window, now);
            if account.failing.len() >= cfg.max_addresses
                && let Some(k) = account.failing.keys().next().copied()
            {
                account.failing.remove(&k);
            }
        }
        account.failing.insert(ip, now);
        if !account.guarded(now) && account.failing.len() >= cfg.system_id_addresses {
            account.guarded_until = Some(now + cfg.cool_down);
            let addresses = account.failing.len();
            self.metrics
                .bind_lockouts_system_id
                .fetch_add(1, Ordering::Relaxed);
            self.started_log.hit(|count| {
                tracing::warn!(system_id, addresses, cool_down = ?cfg.cool_down, count, "bind lockout: system_id guarded against guessing from many addresses; addresses that failed are refused, others may bind (count: lockouts and guards started since the last line)");
            });
        }
    }

    /// Logs a refused bind, at most once a second with the number refused since the last line.
    pub fn log_refused(
        &self,
        peer: std::net::SocketAddr,
        system_id: &str,
        status: rusmpp::CommandStatus,
    ) {
        self.refused_log.hit(|count| {
            tracing::info!(%peer, system_id, ?status, count, "bind refused (count: refusals since the last line)");
        });
    }

    /// What the lockout holds now.
    pub fn now(&self, now: Instant) -> LockoutNow {
        let t = self.tables();
        LockoutNow {
            locked_addresses: t.addresses.values().filter(|e| e.locked(now)).count(),
            guarded_system_ids: t.accounts.values().filter(|a| a.guarded(now)).count(),
            tracked_addresses: t.addresses.len(),
        }
    }
}

impl Tables {
    /// Forgets what no longer counts: addresses out of their window and lockout, failing
    /// addresses out of the window of a system_id that is not guarded.
    fn sweep(&mut self, cfg: &BindLockoutConfig, now: Instant) {
        self.addresses
            .retain(|_, e| e.locked(now) || now.saturating_duration_since(e.since) < cfg.window);
        for a in self.accounts.values_mut() {
            a.prune(cfg.window, now);
        }
        self.next_sweep = now + SWEEP_EVERY;
    }
}

impl AccountEntry {
    /// Failures out of the window no longer count, except while guarded: a guessing address
    /// stays refused for the whole guard.
    fn prune(&mut self, window: Duration, now: Instant) {
        if self.guarded(now) {
            return;
        }
        if self.guarded_until.is_some() {
            self.guarded_until = None;
        }
        self.failing
            .retain(|_, last| now.saturating_duration_since(*last) < window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockout(cfg: BindLockoutConfig) -> (BindLockout, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        (
            BindLockout::new(cfg, ["acct"], Arc::clone(&metrics)),
            metrics,
        )
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn an_address_is_locked_after_max_failures_and_freed_after_the_cool_down() {
        let (l, m) = lockout(BindLockoutConfig::default());
        let t0 = Instant::now();
        for i in 0..4 {
            assert_eq!(l.admit(ip(1), "acct", t0), Ok(()), "failure {i}");
            l.failed(ip(1), "acct", t0);
        }
        assert_eq!(l.admit(ip(1), "acct", t0), Ok(()));
        l.failed(ip(1), "acct", t0);
        assert_eq!(l.admit(ip(1), "acct", t0), Err(Locked::Address));
        assert_eq!(l.admit(ip(1), "other", t0), Err(Locked::Address));
        assert_eq!(l.admit(ip(2), "acct", t0), Ok(()), "another address");
        let later = t0 + Duration::from_secs(59);
        assert_eq!(l.admit(ip(1), "acct", later), Err(Locked::Address));
        let after = t0 + Duration::from_secs(60);
        assert_eq!(l.admit(ip(1), "acct", after), Ok(()));
        // The window starts again: one failure does not lock it.
        l.failed(ip(1), "acct", after);
        assert_eq!(l.admit(ip(1), "acct", after), Ok(()));
        assert_eq!(m.bind_lockouts_address.load(Ordering::Relaxed), 1);
        assert_eq!(m.bind_refused_address_locked.load(Ordering::Relaxed), 3);
        assert_eq!(m.bind_failures.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let (l, _) = lockout(BindLockoutConfig::default());
        let t0 = Instant::now();
        for i in 0..20u64 {
            let now = t0 + Duration::from_secs(15 * i);
            assert_eq!(l.admit(ip(1), "acct", now), Ok(()), "failure {i}");
            l.failed(ip(1), "acct", now);
        }
    }

    #[test]
    fn a_guarded_system_id_refuses_failed_addresses_only() {
        let cfg = BindLockoutConfig {
            system_id_addresses: 3,
            ..BindLockoutConfig::default()
        };
        let (l, m) = lockout(cfg);
        let t0 = Instant::now();
        for n in 1..=3 {
            l.failed(ip(n), "acct", t0);
        }
        assert_eq!(m.bind_lockouts_system_id.load(Ordering::Relaxed), 1);
        // The guessers get no second guess; a clean address binds; other system_ids are free.
        assert_eq!(l.admit(ip(1), "acct", t0), Err(Locked::SystemId));
        assert_eq!(l.admit(ip(9), "acct", t0), Ok(()));
        assert_eq!(l.admit(ip(1), "other", t0), Ok(()));
        // A new guesser gets one guess.
        l.failed(ip(4), "acct", t0);
        assert_eq!(l.admit(ip(4), "acct", t0), Err(Locked::SystemId));
        // A guesser stays refused for the whole guard, past its failure's window.
        let late = t0 + Duration::from_secs(59);
        assert_eq!(l.admit(ip(1), "acct", late), Err(Locked::SystemId));
        let over = t0 + Duration::from_secs(61);
        assert_eq!(l.admit(ip(1), "acct", over), Ok(()));
        assert_eq!(l.now(late).guarded_system_ids, 1);
        assert_eq!(l.now(over).guarded_system_ids, 0);
    }

    #[test]
    fn unknown_system_ids_are_not_tracked_per_system_id() {
        let cfg = BindLockoutConfig {
            system_id_addresses: 1,
            ..BindLockoutConfig::default()
        };
        let (l, m) = lockout(cfg);
        let t0 = Instant::now();
        l.failed(ip(1), "made-up", t0);
        assert_eq!(m.bind_lockouts_system_id.load(Ordering::Relaxed), 0);
        assert_eq!(l.tables().accounts.len(), 1);
    }

    #[test]
    fn the_address_table_is_bounded() {
        let cfg = BindLockoutConfig {
            max_addresses: 10,
            ..BindLockoutConfig::default()
        };
        let (l, _) = lockout(cfg);
        let t0 = Instant::now();
        for n in 0..100 {
            l.failed(ip(n), "acct", t0);
        }
        let t = l.tables();
        assert_eq!(t.addresses.len(), 10);
        assert!(t.accounts["acct"].failing.len() <= 10);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let (l, _) = lockout(BindLockoutConfig::default());
        let t0 = Instant::now();
        let v6 = |last: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]);
        for n in 1..=5 {
            l.failed(v6(n), "acct", t0);
        }
        assert_eq!(l.admit(v6(99), "acct", t0), Err(Locked::Address));
        let other = IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]);
        assert_eq!(l.admit(other, "acct", t0), Ok(()));
        // An IPv4-mapped address is its IPv4 address.
        for _ in 0..5 {
            l.failed(ip(7), "acct", t0);
        }
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped());
        assert_eq!(l.admit(mapped, "acct", t0), Err(Locked::Address));
    }

    #[test]
    fn off_means_off() {
        let cfg = BindLockoutConfig {
            enabled: false,
            ..BindLockoutConfig::default()
        };
        let (l, m) = lockout(cfg);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert_eq!(l.admit(ip(1), "acct", t0), Ok(()));
            l.failed(ip(1), "acct", t0);
        }
        assert_eq!(l.failures_per_connection(), None);
        assert_eq!(m.bind_failures.load(Ordering::Relaxed), 100);
        assert_eq!(l.now(t0), LockoutNow::default());
    }
}
