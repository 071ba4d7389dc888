//! What the carriers charge: every accepted SMS part at its range's `price_sms`, every answered
//! call per started minute of its talk time at its range's `price_call_minute`, in the plan's
//! currency.
//!
//! Money is recorded where it is spent, so a load generator reads it instead of estimating it.
//! The ledger is a fixed array of atomic cells, one per (carrier, account, range) triple, sized
//! once from the config and the plan: billing a message is a handful of relaxed `fetch_add`s on
//! a cell found by index arithmetic, with no lock and no map. Costs are kept in integer
//! nano-units of the currency, so totals add up exactly whatever the order of the additions,
//! and agree with the sum of the per-message prices to far better than a cent.
//!
//! Cells are counted per configured account plus one more, [`VOICE_ACCOUNT`], for calls (the
//! voice API has no SMPP account), and per plan range plus one more, [`OUTSIDE_PLAN`], for
//! numbers outside every range (they cost nothing but are counted). A message is billed to the
//! most specific range its number matched.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::plan::{NumberPlan, Resolved};

/// The account calls are billed to (the voice API has no SMPP account).
pub const VOICE_ACCOUNT: &str = "(voice)";
/// The range label of numbers outside every range of the plan.
pub const OUTSIDE_PLAN: &str = "(outside plan)";

/// Nano-units per currency unit.
const NANOS: f64 = 1e9;

/// The price of a call of `talk_secs` seconds at `price_per_minute`: per started minute. The one
/// rule the call record, the call event and the ledger all use.
pub(crate) fn call_charge(talk_secs: u64, price_per_minute: f64) -> (u64, f64) {
    let minutes = talk_secs.div_ceil(60);
    (minutes, minutes as f64 * price_per_minute)
}

/// The price of `parts` SMS parts at `price_sms` each.
pub(crate) fn sms_charge(parts: u32, price_sms: f64) -> f64 {
    f64::from(parts) * price_sms
}

/// Where a message or call is billed in the plan: the slot of its most specific range.
pub(crate) fn range_slot(plan: &NumberPlan, resolved: Option<&Resolved>) -> usize {
    resolved
        .and_then(|r| r.chain.first().copied())
        .unwrap_or(plan.ranges().len())
}

fn to_nanos(price: f64) -> u64 {
    // Prices are validated finite and not negative; `as` saturates anyway.
    (price * NANOS).round() as u64
}

fn from_nanos(n: u64) -> f64 {
    n as f64 / NANOS
}

#[derive(Debug, Default)]
struct Cell {
    sms_parts: AtomicU64,
    sms_nanos: AtomicU64,
    call_minutes: AtomicU64,
    call_nanos: AtomicU64,
}

/// One cell's counts, read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CellCounts {
    pub sms_parts: u64,
    pub sms_nanos: u64,
    pub call_minutes: u64,
    pub call_nanos: u64,
}

impl CellCounts {
    fn is_zero(&self) -> bool {
        *self == CellCounts::default()
    }

    fn add(&mut self, o: &CellCounts) {
        self.sms_parts += o.sms_parts;
        self.sms_nanos += o.sms_nanos;
        self.call_minutes += o.call_minutes;
        self.call_nanos += o.call_nanos;
    }

    /// As currency amounts.
    pub(crate) fn totals(&self) -> BillingTotals {
        BillingTotals {
            sms_parts: self.sms_parts,
            sms_cost: from_nanos(self.sms_nanos),
            call_minutes: self.call_minutes,
            call_cost: from_nanos(self.call_nanos),
            total_cost: from_nanos(self.sms_nanos + self.call_nanos),
        }
    }

    /// Cost of the SMS parts, in currency units.
    pub(crate) fn sms_cost(&self) -> f64 {
        from_nanos(self.sms_nanos)
    }

    /// Cost of the call minutes, in currency units.
    pub(crate) fn call_cost(&self) -> f64 {
        from_nanos(self.call_nanos)
    }
}

/// What a carrier, account or range (or everything) was charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BillingTotals {
    /// SMS parts accepted (to numbers outside the plan too, at no cost).
    pub sms_parts: u64,
    /// What they cost.
    pub sms_cost: f64,
    /// Started minutes of answered calls.
    pub call_minutes: u64,
    /// What they cost.
    pub call_cost: f64,
    /// `sms_cost + call_cost`.
    pub total_cost: f64,
}

/// The `billing` object of `GET /v1/stats`: totals, and the same broken down. Entries appear
/// once something was billed to them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BillingStats {
    /// ISO 4217 code of every amount (the plan's `currency`).
    pub currency: String,
    /// Every carrier together.
    #[serde(flatten)]
    pub total: BillingTotals,
    /// By carrier name.
    pub by_carrier: BTreeMap<String, BillingTotals>,
    /// By account (system_id), over every carrier; calls under `"(voice)"`.
    pub by_account: BTreeMap<String, BillingTotals>,
    /// By range: its `name` in the plan, else `ranges[i]`; `"(outside plan)"` for numbers no
    /// range matched.
    pub by_range: BTreeMap<String, BillingTotals>,
}

/// One cell of the ledger, labelled (what `/metrics` renders).
#[derive(Debug, Clone)]
pub(crate) struct LabelledCell<'a> {
    pub carrier: &'a str,
    pub account: &'a str,
    pub range: &'a str,
    pub counts: CellCounts,
}

/// The run's ledger (see the module header).
#[derive(Debug)]
pub(crate) struct Billing {
    currency: String,
    /// Carrier names, sorted (the network's order).
    carriers: Vec<String>,
    /// Per carrier, its configured accounts sorted; the slot after them is [`VOICE_ACCOUNT`].
    accounts: Vec<Vec<String>>,
    /// Range labels by plan index; the slot after them is [`OUTSIDE_PLAN`].
    ranges: Vec<String>,
    /// Per carrier, the index of its first cell.
    offsets: Vec<usize>,
    cells: Box<[Cell]>,
}

impl Billing {
    /// A ledger for `carriers` (name and account names) over `plan`.
    pub(crate) fn new<'a>(
        plan: &NumberPlan,
        carriers: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>,
    ) -> Self {
        let mut carriers: Vec<(String, Vec<String>)> = carriers
            .into_iter()
            .map(|(c, a)| {
                let mut a: Vec<String> = a.into_iter().map(str::to_string).collect();
                a.sort();
                a.dedup();
                (c.to_string(), a)
            })
            .collect();
        carriers.sort_by(|a, b| a.0.cmp(&b.0));
        let ranges: Vec<String> = plan
            .ranges()
            .iter()
            .map(|r| match &r.config.name {
                Some(name) => name.clone(),
                None => format!("ranges[{}]", r.index),
            })
            .collect();
        let per_account = ranges.len() + 1;
        let mut offsets = Vec::with_capacity(carriers.len());
        let mut n = 0;
        for (_, accounts) in &carriers {
            offsets.push(n);
            n += (accounts.len() + 1) * per_account;
        }
        let (carriers, accounts) = carriers.into_iter().unzip();
        Self {
            currency: plan.currency().to_string(),
            carriers,
            accounts,
            ranges,
            offsets,
            cells: (0..n).map(|_| Cell::default()).collect(),
        }
    }

    /// The currency of every amount.
    pub(crate) fn currency(&self) -> &str {
        &self.currency
    }

    /// A carrier's index (looked up once, when the carrier is built or a call placed).
    pub(crate) fn carrier_index(&self, name: &str) -> Option<usize> {
        self.carriers
            .binary_search_by(|c| c.as_str().cmp(name))
            .ok()
    }

    /// An account's slot in a carrier: a binary search over its few configured accounts
    /// (no hashing, no lock); an account the config does not have takes the last slot.
    fn account_slot(&self, carrier: usize, account: &str) -> usize {
        let accounts = &self.accounts[carrier];
        accounts
            .binary_search_by(|a| a.as_str().cmp(account))
            .unwrap_or(accounts.len())
    }

    fn cell(&self, carrier: usize, account: usize, range: usize) -> Option<&Cell> {
        let per_account = self.ranges.len() + 1;
        let range = range.min(self.ranges.len());
        self.cells
            .get(self.offsets.get(carrier)? + account * per_account + range)
    }

    /// Bills `parts` SMS parts from `account` on `carrier` to `range` (see [`range_slot`]) at
    /// `price` in total.
    pub(crate) fn bill_sms(
        &self,
        carrier: usize,
        account: &str,
        range: usize,
        parts: u32,
        price: f64,
    ) {
        let Some(c) = self.cell(carrier, self.account_slot(carrier, account), range) else {
            return;
        };
        c.sms_parts.fetch_add(u64::from(parts), Ordering::Relaxed);
        c.sms_nanos.fetch_add(to_nanos(price), Ordering::Relaxed);
    }

    /// Bills an answered call of `minutes` started minutes, placed through `carrier` to
    /// `range`, at `price` in total.
    pub(crate) fn bill_call(&self, carrier: usize, range: usize, minutes: u64, price: f64) {
        let Some(accounts) = self.accounts.get(carrier) else {
            return;
        };
        let Some(c) = self.cell(carrier, accounts.len(), range) else {
            return;
        };
        c.call_minutes.fetch_add(minutes, Ordering::Relaxed);
        c.call_nanos.fetch_add(to_nanos(price), Ordering::Relaxed);
    }

    /// Every cell with something in it, labelled.
    pub(crate) fn cells(&self) -> Vec<LabelledCell<'_>> {
        let mut out = Vec::new();
        let per_account = self.ranges.len() + 1;
        for (ci, carrier) in self.carriers.iter().enumerate() {
            let accounts = &self.accounts[ci];
            for ai in 0..=accounts.len() {
                let account = accounts.get(ai).map_or(VOICE_ACCOUNT, String::as_str);
                for ri in 0..per_account {
                    let c = &self.cells[self.offsets[ci] + ai * per_account + ri];
                    let counts = CellCounts {
                        sms_parts: c.sms_parts.load(Ordering::Relaxed),
                        sms_nanos: c.sms_nanos.load(Ordering::Relaxed),
                        call_minutes: c.call_minutes.load(Ordering::Relaxed),
                        call_nanos: c.call_nanos.load(Ordering::Relaxed),
                    };
                    if counts.is_zero() {
                        continue;
                    }
                    out.push(LabelledCell {
                        carrier,
                        account,
                        range: self.ranges.get(ri).map_or(OUTSIDE_PLAN, String::as_str),
                        counts,
                    });
                }
            }
        }
        out
    }

    /// Totals and breakdowns now.
    pub(crate) fn stats(&self) -> BillingStats {
        let mut total = CellCounts::default();
        let mut by_carrier: BTreeMap<String, CellCounts> = BTreeMap::new();
        let mut by_account: BTreeMap<String, CellCounts> = BTreeMap::new();
        let mut by_range: BTreeMap<String, CellCounts> = BTreeMap::new();
        for cell in self.cells() {
            total.add(&cell.counts);
            for (map, key) in [
                (&mut by_carrier, cell.carrier),
                (&mut by_account, cell.account),
                (&mut by_range, cell.range),
            ] {
                map.entry(key.to_string()).or_default().add(&cell.counts);
            }
        }
        let totals =
            |m: BTreeMap<String, CellCounts>| m.into_iter().map(|(k, v)| (k, v.totals())).collect();
        BillingStats {
            currency: self.currency.clone(),
            total: total.totals(),
            by_carrier: totals(by_carrier),
            by_account: totals(by_account),
            by_range: totals(by_range),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_charged_per_started_minute() {
        assert_eq!(call_charge(5, 0.02), (1, 0.02));
        assert_eq!(call_charge(60, 0.02), (1, 0.02));
        assert_eq!(call_charge(61, 0.5), (2, 1.0));
        assert_eq!(call_charge(0, 0.5), (0, 0.0));
    }

    #[test]
    fn cells_add_up_by_carrier_account_and_range() {
        let plan = NumberPlan::everything_mobile("alpha");
        let b = Billing::new(&plan, [("beta", vec!["x"]), ("alpha", vec!["t", "s"])]);
        let alpha = b.carrier_index("alpha").unwrap();
        let beta = b.carrier_index("beta").unwrap();
        b.bill_sms(alpha, "t", 0, 2, 0.1);
        b.bill_sms(alpha, "s", 1, 1, 0.0);
        b.bill_sms(beta, "x", 0, 3, 0.15);
        b.bill_call(alpha, 0, 2, 0.04);
        let s = b.stats();
        assert_eq!(s.total.sms_parts, 6);
        assert!((s.total.sms_cost - 0.25).abs() < 1e-12);
        assert!((s.total.total_cost - 0.29).abs() < 1e-12);
        assert_eq!(s.by_carrier["alpha"].sms_parts, 3);
        assert_eq!(s.by_account[VOICE_ACCOUNT].call_minutes, 2);
        assert_eq!(s.by_range[OUTSIDE_PLAN].sms_parts, 1);
        assert_eq!(s.by_range[OUTSIDE_PLAN].sms_cost, 0.0);
        assert_eq!(s.by_account["x"].sms_parts, 3);
    }
}
