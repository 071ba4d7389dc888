//! Counters a carrier keeps (the control plane renders them as Prometheus text and JSON).
//!
//! Plain atomics for the hot counters. PDU counts by (direction, command, status) have an
//! open-ended label set (unknown command ids, any status), so they live in a mutex-guarded map,
//! but the PDUs of a healthy run (standard commands with status 0) are counted in a fixed array
//! of atomics first: at several hundred thousand PDUs per second, two runtime threads taking
//! the same lock per PDU showed up as lock contention in the profile. Per-account counters sit
//! behind a read-write lock and are atomics inside, so counting takes only the read side.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use serde::Serialize;

/// Direction of a PDU relative to the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received from an ESME.
    In,
    /// Sent to an ESME.
    Out,
}

/// Fate of a delivery receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptFate {
    /// Acknowledged by the ESME with ESME_ROK.
    Delivered,
    /// Dropped after its attempts or its time to live ran out.
    Expired,
    /// Dropped because the per-account store was full.
    Overflow,
}

/// Command ids (without the response bit) below this are counted in [`FastPdus`]; that covers
/// every SMPP 3.4 operation but data_sm, broadcast_sm and their kin, which take the map.
const FAST_IDS: usize = 0x22;

/// Lock-free PDU counts for status 0 and command ids below [`FAST_IDS`], indexed by
/// (direction, response bit, command id).
#[derive(Debug)]
struct FastPdus([[[AtomicU64; FAST_IDS]; 2]; 2]);

impl Default for FastPdus {
    fn default() -> Self {
        Self(std::array::from_fn(|_| {
            std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0)))
        }))
    }
}

impl FastPdus {
    fn slot(&self, dir: Direction, command_id: u32, status: u32) -> Option<&AtomicU64> {
        let low = (command_id & 0x7FFF_FFFF) as usize;
        if status != 0 || low >= FAST_IDS {
            return None;
        }
        let resp = usize::from(command_id & 0x8000_0000 != 0);
        Some(&self.0[dir as usize][resp][low])
    }

    /// Every non-zero count, keyed like the map.
    fn each(&self, mut f: impl FnMut((Direction, u32, u32), u64)) {
        for (d, dir) in [Direction::In, Direction::Out].into_iter().enumerate() {
            for resp in 0..2 {
                for low in 0..FAST_IDS {
                    let n = self.0[d][resp][low].load(Ordering::Relaxed);
                    if n > 0 {
                        let id = low as u32 | if resp == 1 { 0x8000_0000 } else { 0 };
                        f((dir, id, 0), n);
                    }
                }
            }
        }
    }
}

/// Counters per account (or per account and label), counted under the read lock.
type PerAccount<K> = RwLock<BTreeMap<String, BTreeMap<K, AtomicU64>>>;

/// Adds one to `map[account][key]`, taking the write lock only the first time a pair is seen.
fn count_for<K: Ord + Copy>(map: &PerAccount<K>, account: &str, key: K) {
    {
        let read = map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = read.get(account).and_then(|m| m.get(&key)) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let mut write = map.write().unwrap_or_else(|e| e.into_inner());
    write
        .entry(account.to_string())
        .or_default()
        .entry(key)
        .or_insert_with(|| AtomicU64::new(0))
        .fetch_add(1, Ordering::Relaxed);
}

/// `(account, key, count)` for every pair, in account then key order.
fn snapshot<K: Ord + Copy>(map: &PerAccount<K>) -> Vec<(String, K, u64)> {
    let read = map.read().unwrap_or_else(|e| e.into_inner());
    read.iter()
        .flat_map(|(a, m)| {
            m.iter()
                .map(move |(k, n)| (a.clone(), *k, n.load(Ordering::Relaxed)))
        })
        .collect()
}

/// All carrier counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// The common PDUs, lock-free (see the module comment).
    fast_pdus: FastPdus,
    /// Every other PDU; keyed by raw command id so counting allocates nothing; named when
    /// rendered.
    pdus: Mutex<BTreeMap<(Direction, u32, u32), u64>>,
    binds: Mutex<BTreeMap<(String, u32), u64>>,
    /// Accepted messages by account (the unit key: one counter per account).
    accepted: PerAccount<()>,
    /// Final states by account and stat word.
    outcomes: PerAccount<&'static str>,
    /// Submit refusals by account and command_status: counted under the read lock, since
    /// under overload refusals come at the rate of the offered load.
    refusals: PerAccount<u32>,
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections refused by the connection cap.
    pub connections_refused: AtomicU64,
    /// Connections currently open.
    pub connections_open: AtomicU64,
    /// Connections closed for not binding in time.
    pub bind_timeouts: AtomicU64,
    /// Sessions closed because the peer stopped answering enquire_link.
    pub idle_closes: AtomicU64,
    /// Connections closed for a command_length out of bounds.
    pub framing_errors: AtomicU64,
    /// Messages accepted (one per destination and part).
    pub messages_accepted: AtomicU64,
    /// Messages delivered to the handset.
    pub messages_delivered: AtomicU64,
    /// Receipts owed for accepted messages (see [`super::receipts::ReceiptAccount::asked`]).
    pub receipts_asked: AtomicU64,
    /// Scheduled receipts never made (simulated loss, cancelled or evicted messages).
    pub receipts_withdrawn: AtomicU64,
    /// Receipts generated.
    pub receipts_generated: AtomicU64,
    /// Receipts acknowledged by an ESME.
    pub receipts_delivered: AtomicU64,
    /// Receipts expired (attempts or time to live exhausted).
    pub receipts_expired: AtomicU64,
    /// Receipts dropped because the store was full.
    pub receipts_overflow: AtomicU64,
    /// Submits refused because the account's receipts backed up past the high-water mark.
    pub backpressure_refusals: AtomicU64,
    /// Operations refused because their session held `session.max_held_responses` responses.
    pub window_refusals: AtomicU64,
    /// Submits refused because the carrier's timers were full (`store.max_timers`).
    pub timer_refusals: AtomicU64,
    /// Messages evicted from the store before their final state (their receipts never made).
    pub evicted_pending: AtomicU64,
    /// Receipt sends that failed (error status or no response) and were retried.
    pub receipts_retried: AtomicU64,
    /// Receipts never sent by design (simulated silent loss).
    pub receipts_lost: AtomicU64,
    /// Receipts sent twice by design (simulated duplicates).
    pub receipts_duplicated: AtomicU64,
    /// MO messages queued for ESMEs (handset replies and injected).
    pub mo_generated: AtomicU64,
    /// Session faults injected (drops, unbinds, generic_nacks).
    pub faults_injected: AtomicU64,
    /// Binds refused for their credentials (ESME_RINVSYSID, ESME_RINVPASWD).
    pub bind_failures: AtomicU64,
    /// Source addresses locked out after `bind_lockout.max_failures` failed binds.
    pub bind_lockouts_address: AtomicU64,
    /// System_ids guarded after failed binds from `bind_lockout.system_id_addresses` addresses.
    pub bind_lockouts_system_id: AtomicU64,
    /// Binds refused (ESME_RBINDFAIL) because their source address was locked out.
    pub bind_refused_address_locked: AtomicU64,
    /// Binds refused (ESME_RBINDFAIL) because their system_id was guarded and their address
    /// had failed against it.
    pub bind_refused_system_id_guarded: AtomicU64,
    /// Connections closed after `bind_lockout.failures_per_connection` failed binds.
    pub bind_failure_closes: AtomicU64,
}

impl Metrics {
    /// Counts one PDU.
    pub fn pdu(&self, dir: Direction, command_id: u32, status: u32) {
        if let Some(n) = self.fast_pdus.slot(dir, command_id, status) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut map = self.pdus.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((dir, command_id, status)).or_insert(0) += 1;
    }

    /// Counts one bind attempt and its outcome.
    pub fn bind(&self, kind: &str, status: u32) {
        let mut map = self.binds.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((kind.to_string(), status)).or_insert(0) += 1;
    }

    /// Counts one accepted message.
    pub fn accepted(&self, account: &str) {
        self.messages_accepted.fetch_add(1, Ordering::Relaxed);
        count_for(&self.accepted, account, ());
    }

    /// Counts one message reaching its final state.
    pub fn outcome(&self, account: &str, stat: &'static str) {
        count_for(&self.outcomes, account, stat);
    }

    /// Counts one submit refused with `status`.
    pub fn refusal(&self, account: &str, status: u32) {
        count_for(&self.refusals, account, status);
    }

    /// Final states by stat word, all accounts together.
    pub fn outcome_counts(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for (_, stat, n) in snapshot(&self.outcomes) {
            *out.entry(stat).or_insert(0) += n;
        }
        out
    }

    /// Submit refusals by command_status, all accounts together.
    pub fn refusal_counts(&self) -> BTreeMap<u32, u64> {
        let mut out = BTreeMap::new();
        for (_, status, n) in snapshot(&self.refusals) {
            *out.entry(status).or_insert(0) += n;
        }
        out
    }

    /// Bind attempts by (kind, command_status).
    pub(crate) fn bind_counts(&self) -> BTreeMap<(String, u32), u64> {
        self.binds.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Accepted messages by account.
    pub(crate) fn accepted_by_account(&self) -> Vec<(String, (), u64)> {
        snapshot(&self.accepted)
    }

    /// Final states by (account, stat word).
    pub(crate) fn outcomes_by_account(&self) -> Vec<(String, &'static str, u64)> {
        snapshot(&self.outcomes)
    }

    /// Submit refusals by (account, command_status).
    pub(crate) fn refusals_by_account(&self) -> BTreeMap<(String, u32), u64> {
        snapshot(&self.refusals)
            .into_iter()
            .map(|(account, status, n)| ((account, status), n))
            .collect()
    }

    /// Every PDU count, fast array and map merged, in (direction, command id, status) order.
    pub(crate) fn pdu_counts(&self) -> BTreeMap<(Direction, u32, u32), u64> {
        let mut map = self.pdus.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.fast_pdus.each(|k, n| *map.entry(k).or_insert(0) += n);
        map
    }

    /// Counts one receipt's end.
    pub fn receipt_fate(&self, fate: ReceiptFate) {
        let c = match fate {
            ReceiptFate::Delivered => &self.receipts_delivered,
            ReceiptFate::Expired => &self.receipts_expired,
            ReceiptFate::Overflow => &self.receipts_overflow,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}
