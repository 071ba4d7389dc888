//! What one user does: the channel they ask for, whether they walk away, their client IP and
//! device, how long they take to read and type the code, and whether they type it wrong.
//!
//! Each user draws from a random stream of their own, derived from the scenario's seed, the
//! population and the user's arrival index, so the same seed gives every user the same
//! decisions however the run's tasks happen to be scheduled. Durations come back in wall time
//! (scenario time divided by the time scale).

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::scenario::{ChannelChoice, IpPool, PopulationPlan};

/// splitmix64's finaliser: spreads a key's bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random stream of user `index` of population `population` (and, with `index` =
/// `u64::MAX`, of the population's own decisions: arrivals, numbers).
pub fn stream(seed: u64, population: usize, index: u64) -> Pcg64Mcg {
    let key = mix(seed ^ mix(population as u64 + 1) ^ mix(index.wrapping_add(0x9e37_79b9)));
    Pcg64Mcg::seed_from_u64(key)
}

/// A user's choices, drawn when they arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    /// The channel they ask for.
    pub channel: ChannelChoice,
    /// They will not check the code.
    pub abandons: bool,
    /// Their IP address, when the population has a pool.
    pub client_ip: Option<String>,
    /// Their device, when the population has devices.
    pub device_id: Option<String>,
}

/// A user of population `pop`, with their own random stream.
#[derive(Debug)]
pub struct User<'a> {
    pop: &'a PopulationPlan,
    rng: Pcg64Mcg,
    time_scale: f64,
}

impl<'a> User<'a> {
    /// User `index` of `pop` (population number `population`).
    pub fn new(
        pop: &'a PopulationPlan,
        seed: u64,
        population: usize,
        index: u64,
        time_scale: f64,
    ) -> Self {
        Self {
            pop,
            rng: stream(seed, population, index),
            time_scale,
        }
    }

    /// Their choices.
    pub fn choices(&mut self) -> Choices {
        let mut u = self.rng.random::<f64>();
        let mut channel = self
            .pop
            .channels
            .last()
            .map_or(ChannelChoice::Sms, |(c, _)| *c);
        for (c, p) in &self.pop.channels {
            if u < *p {
                channel = *c;
                break;
            }
            u -= p;
        }
        let abandons = self.chance(self.pop.behaviour.abandon_rate);
        let client_ip = self.pop.client_ips.as_ref().map(|pool| match pool {
            IpPool::Cidr { base, size } => {
                let k = self.rng.random_range(0..*size);
                std::net::Ipv4Addr::from(base.wrapping_add(k as u32)).to_string()
            }
            IpPool::List(l) => l[self.rng.random_range(0..l.len())].clone(),
        });
        let device_id = self
            .pop
            .devices
            .map(|n| format!("device-{}", self.rng.random_range(0..n)));
        Choices {
            channel,
            abandons,
            client_ip,
            device_id,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random::<f64>() < p
    }

    fn wall(&self, d: Duration) -> Duration {
        d.div_f64(self.time_scale)
    }

    /// From the code on the phone to the check (wall time).
    pub fn read_time(&mut self) -> Duration {
        let d = self.pop.behaviour.read_time.sample(&mut self.rng);
        self.wall(d)
    }

    /// From a wrong code to the next try (wall time).
    pub fn retype_time(&mut self) -> Duration {
        let d = self.pop.behaviour.retype_time.sample(&mut self.rng);
        self.wall(d)
    }

    /// Whether this check's code is typed wrong.
    pub fn typo(&mut self) -> bool {
        self.chance(self.pop.behaviour.typo_rate)
    }

    /// A guessed code of `digits` random digits (a brute forcer's).
    pub fn guess(&mut self, digits: usize) -> String {
        (0..digits)
            .map(|_| char::from(b'0' + self.rng.random_range(0..10u8)))
            .collect()
    }

    /// `code` with one digit changed: a typo.
    pub fn mistype(&mut self, code: &str) -> String {
        let mut digits: Vec<u8> = code.bytes().collect();
        if digits.is_empty() {
            return "0".into();
        }
        let i = self.rng.random_range(0..digits.len());
        let d = digits[i].wrapping_sub(b'0');
        digits[i] = b'0' + (d + 1 + self.rng.random_range(0..9u8)) % 10;
        String::from_utf8(digits).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Plan;

    #[test]
    fn the_same_seed_and_user_give_the_same_choices() {
        let plan = Plan::builtin_smoke().expect("smoke");
        let pop = &plan.populations[0];
        let draw = |seed, i| {
            let mut u = User::new(pop, seed, 0, i, 1.0);
            (u.choices(), u.read_time(), u.typo())
        };
        assert_eq!(draw(1, 5), draw(1, 5));
        assert_ne!(draw(1, 5).0, draw(1, 6).0);
        assert_ne!(draw(1, 5).0, draw(2, 5).0);
        let c = draw(1, 5).0;
        assert!(c.client_ip.unwrap().starts_with("10.20."));
        assert!(c.device_id.unwrap().starts_with("device-"));
    }

    #[test]
    fn a_typo_changes_exactly_one_digit() {
        let plan = Plan::builtin_smoke().expect("smoke");
        let mut u = User::new(&plan.populations[0], 1, 0, 0, 1.0);
        for _ in 0..100 {
            let t = u.mistype("123456");
            assert_eq!(t.len(), 6);
            let changed = t.bytes().zip(b"123456").filter(|(a, b)| a != *b).count();
            assert_eq!(changed, 1, "{t}");
        }
    }

    #[test]
    fn time_scale_divides_the_times() {
        let plan = Plan::builtin_smoke().expect("smoke");
        let pop = &plan.populations[0];
        let at1 = User::new(pop, 1, 0, 3, 1.0).read_time();
        let at4 = User::new(pop, 1, 0, 3, 4.0).read_time();
        let diff = at1.as_secs_f64() / 4.0 - at4.as_secs_f64();
        assert!(diff.abs() < 1e-6, "{at1:?} {at4:?}");
    }
}
