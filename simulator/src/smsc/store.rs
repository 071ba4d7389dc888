//! The message store: what the carrier accepted, by id and by destination, bounded.
//!
//! query_sm, cancel_sm and replace_sm look messages up by id; the control plane lists them
//! newest first per destination. Parts of a concatenated message are separate records (each has
//! its own message id and receipt, as on a real SMSC) and are also gathered into one logical
//! message whose text is the reassembled whole, which is what a tester wants to read back.
//! Both collections are bounded; evictions are counted, never silent.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smpp::receipt::ReceiptState;

use crate::config::MessageIdFormat;
use crate::fasthash::{FastMap, hash_one};
use smpp::number::normalize;

/// Where a part sits in a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConcatRef {
    /// Reference shared by all parts.
    pub reference: u16,
    /// Number of parts.
    pub total: u8,
    /// This part's 1-based position.
    pub seq: u8,
}

/// A message as submitted, before it is accepted.
#[derive(Debug, Clone)]
pub struct Submission {
    /// source_addr.
    pub source: String,
    /// destination_addr.
    pub destination: String,
    /// data_coding.
    pub data_coding: u8,
    /// registered_delivery.
    pub registered_delivery: u8,
    /// User data with any UDH already removed.
    pub payload: Vec<u8>,
    /// Concatenation info from the UDH or the sar_ TLVs.
    pub concat: Option<ConcatRef>,
}

impl Submission {
    /// Throttle tokens this submission takes: one per SMS part, so a UDH part counts one and a
    /// long message_payload counts the parts a handset would receive.
    pub fn parts_cost(&self) -> u32 {
        parts_of(self.data_coding, self.payload.len(), self.concat.is_some())
    }
}

/// SMS parts of a submission of `len` octets of user data in `data_coding`: one for a UDH part
/// (`concat`), else the parts a handset would receive.
pub(crate) fn parts_of(data_coding: u8, len: usize, concat: bool) -> u32 {
    if concat {
        return 1;
    }
    let (single, per_part) = match data_coding {
        // UCS-2: 70 characters, 67 per part.
        0x08 => (140, 134),
        // 8-bit data: 140 octets, 134 per part.
        0x04 | 0x02 => (140, 134),
        // GSM 7-bit one septet per octet (as SMPP carries it): 160, 153 per part.
        _ => (160, 153),
    };
    if len <= single {
        1
    } else {
        u32::try_from(len.div_ceil(per_part)).unwrap_or(u32::MAX)
    }
}

/// One accepted submission to one destination (one part of a long message).
#[derive(Debug, Clone)]
pub struct MessageRecord {
    /// The id given in the submit response.
    pub message_id: String,
    /// Account (system_id) that submitted it; receipts go back to this account. Shared with
    /// the session and the receipts (no copy per message).
    pub account: Arc<str>,
    /// source_addr as submitted.
    pub source: String,
    /// Destination as submitted.
    pub destination: String,
    /// data_coding as submitted.
    pub data_coding: u8,
    /// registered_delivery as submitted (possibly replaced by replace_sm).
    pub registered_delivery: u8,
    /// User data without UDH (short_message or message_payload).
    pub payload: Vec<u8>,
    /// Concatenation info, when this is one part of several.
    pub concat: Option<ConcatRef>,
    /// Current state.
    pub state: ReceiptState,
    /// Network/SMSC error code reported in the receipt (`err:`).
    pub error_code: u16,
    /// When it was accepted.
    pub submitted_at: DateTime<Utc>,
    /// When it reached a final state.
    pub done_at: Option<DateTime<Utc>>,
    /// What it was billed: its parts (see [`Submission::parts_cost`]) times its range's
    /// `price_sms`, in the plan currency.
    pub price: f64,
    /// Its row in the durable state (0 without `--state-dir`).
    pub(crate) key: u64,
    /// [`FastHasher`] hash of `message_id`: the key of the store's id index.
    id_hash: u64,
    /// Position of the next older record whose id has the same hash (see [`Inner::by_id`]).
    prev_same: u64,
    /// Sequence number of the logical message this record is a part of.
    logical: u64,
}

/// A message as the recipient sees it: all its parts, reassembled and decoded.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    /// Id of the first part (the only part for short messages).
    pub message_id: String,
    /// Ids of all parts received so far, in part order.
    pub part_ids: Vec<String>,
    /// Submitting account.
    pub account: String,
    /// source_addr.
    pub source: String,
    /// destination_addr.
    pub destination: String,
    /// Decoded text of the parts received so far, in part order.
    pub text: String,
    /// data_coding of the first part.
    pub data_coding: u8,
    /// Number of parts the message has.
    pub parts: u8,
    /// Number of parts received.
    pub parts_received: u8,
    /// Aggregate state: final only when every part is final.
    pub state: &'static str,
    /// When the first part was accepted.
    pub submitted_at: DateTime<Utc>,
    /// When the last part reached a final state, if all have.
    pub done_at: Option<DateTime<Utc>>,
    /// What the parts received so far were billed, in the plan currency.
    pub price: f64,
}

/// Marks "no record" in position fields.
const NONE: u64 = u64::MAX;

/// Where a record sits in the store, as [`MessageStore::insert`] returns it: the carrier keeps
/// it to finish the message later without looking its id up again. Positions are never reused,
/// so a slot whose record was evicted simply finds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(u64);

/// Positions of a logical message's parts, by 0-based part number.
#[derive(Debug)]
enum Parts {
    /// The common case, a one-part message: no allocation.
    One(u64),
    /// Parts of a concatenated message; [`NONE`] while a part is missing.
    Many(Box<[u64]>),
}

impl Parts {
    fn as_slice(&self) -> &[u64] {
        match self {
            Parts::One(p) => std::slice::from_ref(p),
            Parts::Many(p) => p,
        }
    }
}

#[derive(Debug)]
struct Logical {
    total: u8,
    parts: Parts,
    /// Parts that reached the handset so far.
    reached: u8,
    /// Hash of the normalized destination: the key of the store's destination index.
    dest_hash: u64,
    /// Sequence of the next older logical message whose destination has the same hash.
    prev_dest: u64,
    /// While parts are missing, the key under which [`Inner::open_groups`] finds this message,
    /// so evicting it can close the group.
    open: Option<Box<GroupKey>>,
}

/// What identifies the parts of one concatenated message: (account, source, destination,
/// reference, total).
type GroupKey = (String, String, String, u16, u8);

/// A whole message that reached its handset: what the inbox and the event need.
#[derive(Debug)]
pub(crate) struct Reached {
    /// source_addr.
    pub source: String,
    /// destination_addr.
    pub destination: String,
    /// The submitting account, when asked for (an MO reply goes to it).
    pub account: Option<String>,
    /// data_coding of the first part.
    pub data_coding: u8,
    /// Number of parts it came in.
    pub parts: u8,
    /// User data of every part, in part order.
    pub payload: Vec<u8>,
}

/// The store proper, behind one mutex.
///
/// Records live in `records` in arrival order, which is also the eviction order; a record's
/// *position* is its arrival number, so the record at position `p` is
/// `records[p - first_pos]` and positions of evicted records are simply below `first_pos`.
/// The id index maps the id's hash to the position of the newest record with that hash, and
/// each record links to the next older one with the same hash (`prev_same`): lookups walk that
/// chain and compare ids, so a hash collision costs a comparison, never a wrong answer, and
/// evicting needs no work on the chain (it just ends below `first_pos`).
///
/// This replaced a `HashMap<String, Vec<MessageRecord>>` with SipHash plus an order queue and
/// logical list of cloned id strings: at 150,000 messages/s that layout cost a third of
/// carrier-sim's CPU in hashing, string compares that missed the cache, and allocations.
#[derive(Debug, Default)]
struct Inner {
    records: VecDeque<MessageRecord>,
    first_pos: u64,
    by_id: FastMap<u64, u64>,
    logical: VecDeque<Logical>,
    first_logical: u64,
    /// Destination index: hash of the normalized destination -> the newest logical message to
    /// it; older ones follow [`Logical::prev_dest`]. `GET /v1/messages?to=`, cancel_sm by
    /// address and MO routing walk it instead of scanning the store under its lock.
    by_dest: FastMap<u64, u64>,
    /// Concatenation groups still missing parts -> their logical message. Bounded: a group
    /// leaves when its last part arrives or when its oldest part is evicted (then a late part
    /// starts a new group), so first parts with ever-new references cannot grow it.
    open_groups: HashMap<GroupKey, u64>,
}

impl Inner {
    fn at(&self, pos: u64) -> Option<&MessageRecord> {
        let idx = pos.checked_sub(self.first_pos)?;
        self.records.get(usize::try_from(idx).ok()?)
    }

    fn at_mut(&mut self, pos: u64) -> Option<&mut MessageRecord> {
        let idx = pos.checked_sub(self.first_pos)?;
        self.records.get_mut(usize::try_from(idx).ok()?)
    }

    /// Positions of the records with this id, newest first.
    fn positions(&self, message_id: &str) -> Vec<u64> {
        let mut out = Vec::new();
        let mut pos = self
            .by_id
            .get(&hash_one(message_id))
            .copied()
            .unwrap_or(NONE);
        while let Some(r) = self.at(pos) {
            if r.message_id == message_id {
                out.push(pos);
            }
            pos = r.prev_same;
        }
        out
    }
}

/// Counters of what the store dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Records held.
    pub records: usize,
    /// Records evicted because the store was full.
    pub evicted: u64,
}

impl StoreStats {
    /// Adds another store's counts (totals over carriers).
    pub fn add(&mut self, o: &StoreStats) {
        self.records += o.records;
        self.evicted += o.evicted;
    }
}

/// Bounded message store.
#[derive(Debug)]
pub struct MessageStore {
    inner: Mutex<Inner>,
    capacity: usize,
    evicted: AtomicU64,
}

impl MessageStore {
    /// A store holding at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // Allocated once at the bound: doubling a store full of live records stalled the
        // carrier while it copied them. One more than the bound, because a record (and its
        // index entries) is added before the oldest is evicted.
        let reserve = capacity.min(1 << 20) + 1;
        let inner = Inner {
            records: VecDeque::with_capacity(reserve),
            by_id: FastMap::with_capacity_and_hasher(reserve, Default::default()),
            logical: VecDeque::with_capacity(reserve),
            by_dest: FastMap::with_capacity_and_hasher(reserve, Default::default()),
            ..Inner::default()
        };
        Self {
            inner: Mutex::new(inner),
            capacity,
            evicted: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock would be a bug elsewhere; the data stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a record, linking it into its logical message; returns where it sits.
    pub fn insert(&self, mut record: MessageRecord) -> Slot {
        record.id_hash = hash_one(record.message_id.as_str());
        let mut guard = self.lock();
        let inner = &mut *guard;
        let pos = inner.first_pos + inner.records.len() as u64;
        match record.concat {
            Some(c) if c.total > 1 => {
                let idx = usize::from(c.seq.clamp(1, c.total)) - 1;
                let key = (
                    record.account.to_string(),
                    record.source.clone(),
                    record.destination.clone(),
                    c.reference,
                    c.total,
                );
                // A group is reused only while the slot for this part is still free: a second
                // message with the same reference (references wrap) starts a new group.
                let existing = inner.open_groups.get(&key).copied().filter(|seq| {
                    logical_mut(inner, *seq).is_some_and(|l| {
                        l.parts
                            .as_slice()
                            .get(usize::from(c.seq.max(1)) - 1)
                            .is_some_and(|p| *p == NONE)
                    })
                });
                let seq = match existing {
                    Some(seq) => seq,
                    None => {
                        let seq = push_logical(
                            inner,
                            c.total,
                            Parts::Many(vec![NONE; usize::from(c.total)].into()),
                            &record.destination,
                        );
                        if let Some(l) = logical_mut(inner, seq) {
                            l.open = Some(Box::new(key.clone()));
                        }
                        inner.open_groups.insert(key.clone(), seq);
                        seq
                    }
                };
                if let Some(l) = logical_mut(inner, seq)
                    && let Parts::Many(parts) = &mut l.parts
                {
                    parts[idx] = pos;
                    if parts.iter().all(|p| *p != NONE) {
                        l.open = None;
                        inner.open_groups.remove(&key);
                    }
                }
                record.logical = seq;
            }
            _ => {
                record.logical = push_logical(inner, 1, Parts::One(pos), &record.destination);
            }
        }
        let hash = record.id_hash;
        record.prev_same = inner.by_id.insert(hash, pos).unwrap_or(NONE);
        inner.records.push_back(record);
        while inner.records.len() > self.capacity {
            if let Some(old) = inner.records.pop_front() {
                let old_pos = inner.first_pos;
                inner.first_pos += 1;
                // Only the newest record of a hash chain is in the index; older ones fall off
                // the chain's end by themselves.
                if inner.by_id.get(&old.id_hash) == Some(&old_pos) {
                    inner.by_id.remove(&old.id_hash);
                }
                // A group that loses a part will never be whole: close it.
                if let Some(l) = logical_mut(inner, old.logical)
                    && let Some(key) = l.open.take()
                {
                    inner.open_groups.remove(&*key);
                }
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Logical messages whose parts were all evicted go too.
        while inner.logical.len() > self.capacity {
            if let Some(l) = inner.logical.pop_front() {
                let seq = inner.first_logical;
                if inner.by_dest.get(&l.dest_hash) == Some(&seq) {
                    inner.by_dest.remove(&l.dest_hash);
                }
                if let Some(key) = l.open {
                    inner.open_groups.remove(&*key);
                }
            }
            inner.first_logical += 1;
        }
        Slot(pos)
    }

    /// Applies `f` to every record with this id (several for submit_multi); returns how many.
    pub fn update<F: FnMut(&mut MessageRecord)>(&self, message_id: &str, mut f: F) -> usize {
        let mut inner = self.lock();
        let positions = inner.positions(message_id);
        // Oldest first, as the records were submitted.
        for &pos in positions.iter().rev() {
            if let Some(r) = inner.at_mut(pos) {
                f(r);
            }
        }
        positions.len()
    }

    /// Applies `f` to the record in `slot`, if it is still stored; false if it was evicted.
    pub fn update_slot<F: FnOnce(&mut MessageRecord)>(&self, slot: Slot, f: F) -> bool {
        match self.lock().at_mut(slot.0) {
            Some(r) => {
                f(r);
                true
            }
            None => false,
        }
    }

    /// What `f` reads from the record in `slot`, if it is still stored. `f` runs under the
    /// store's lock: keep it to copying fields out.
    #[cfg(test)]
    pub fn read_slot<R>(&self, slot: Slot, f: impl FnOnce(&MessageRecord) -> R) -> Option<R> {
        self.lock().at(slot.0).map(f)
    }

    /// Marks the part in `slot` as having reached its handset. Returns the whole message when
    /// this was its last part to arrive, `None` while parts are missing (or when the part was
    /// cancelled or evicted: a message missing a part never reaches the handset whole).
    /// `with_account` asks for the submitting account as well.
    pub(crate) fn reach_handset(&self, slot: Slot, with_account: bool) -> Option<Reached> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let record = inner.at(slot.0)?;
        if record.state == ReceiptState::Deleted {
            return None;
        }
        let seq = record.logical;
        let logical = logical_mut(inner, seq)?;
        logical.reached = logical.reached.saturating_add(1);
        if logical.reached < logical.total {
            return None;
        }
        let total = logical.total;
        // Most messages are one part: copy its payload once, with nothing else to gather.
        let many = match &logical.parts {
            Parts::One(_) => None,
            Parts::Many(positions) => Some(positions.clone()),
        };
        let (first, payload) = match many {
            None => {
                let part = inner.at(slot.0)?;
                (part, part.payload.clone())
            }
            Some(positions) => {
                let parts: Vec<&MessageRecord> = positions
                    .iter()
                    .map(|&p| inner.at(p))
                    .collect::<Option<_>>()?;
                let mut payload = Vec::with_capacity(parts.iter().map(|p| p.payload.len()).sum());
                for part in &parts {
                    payload.extend_from_slice(&part.payload);
                }
                (*parts.first()?, payload)
            }
        };
        Some(Reached {
            source: first.source.clone(),
            destination: first.destination.clone(),
            account: with_account.then(|| first.account.to_string()),
            data_coding: first.data_coding,
            parts: total,
            payload,
        })
    }

    /// Copies of the records with this id, oldest first.
    pub fn get(&self, message_id: &str) -> Vec<MessageRecord> {
        let inner = self.lock();
        let mut out: Vec<MessageRecord> = inner
            .positions(message_id)
            .into_iter()
            .filter_map(|p| inner.at(p).cloned())
            .collect();
        out.reverse();
        out
    }

    /// Ids of the records to `destination` that match the filter (for cancel_sm by address),
    /// found through the destination index.
    pub fn find_ids(
        &self,
        destination: &str,
        mut filter: impl FnMut(&MessageRecord) -> bool,
    ) -> Vec<String> {
        let inner = self.lock();
        let mut ids: Vec<String> = to_destination(&inner, destination)
            .flat_map(|(_, l)| l.parts.as_slice().iter())
            .filter_map(|&p| inner.at(p))
            .filter(|r| filter(r))
            .map(|r| r.message_id.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Concatenation groups still waiting for parts (bounded by the store's capacity).
    #[cfg(test)]
    fn open_groups(&self) -> usize {
        self.lock().open_groups.len()
    }

    /// Logical messages, newest first, optionally only those to `to` (found through the
    /// destination index, so the cost is the messages returned, not the store's size).
    pub fn list(&self, to: Option<&str>, limit: usize) -> Vec<MessageView> {
        let inner = self.lock();
        let mut out = Vec::new();
        let candidates: Box<dyn Iterator<Item = &Logical>> = match to {
            Some(to) => Box::new(to_destination(&inner, to).map(|(_, l)| l)),
            None => Box::new(inner.logical.iter().rev()),
        };
        for l in candidates {
            if out.len() >= limit {
                break;
            }
            let parts: Vec<&MessageRecord> = l
                .parts
                .as_slice()
                .iter()
                .filter_map(|&p| inner.at(p))
                .collect();
            let Some(first) = parts.first() else { continue };
            if let Some(to) = to
                && normalize(&first.destination) != normalize(to)
            {
                continue;
            }
            let mut payload = Vec::new();
            for p in &parts {
                payload.extend_from_slice(&p.payload);
            }
            let all_final =
                parts.len() == usize::from(l.total) && parts.iter().all(|p| p.state.is_final());
            let state = if all_final {
                parts
                    .iter()
                    .map(|p| p.state)
                    .find(|s| *s != ReceiptState::Delivered)
                    .unwrap_or(ReceiptState::Delivered)
            } else {
                parts
                    .iter()
                    .map(|p| p.state)
                    .find(|s| !s.is_final())
                    .unwrap_or(ReceiptState::Enroute)
            };
            out.push(MessageView {
                message_id: first.message_id.clone(),
                part_ids: parts.iter().map(|p| p.message_id.clone()).collect(),
                account: first.account.to_string(),
                source: first.source.clone(),
                destination: first.destination.clone(),
                text: smpp::text::decode(first.data_coding, &payload),
                data_coding: first.data_coding,
                parts: l.total,
                parts_received: parts.len() as u8,
                state: state.word(),
                submitted_at: first.submitted_at,
                done_at: if all_final {
                    parts.iter().filter_map(|p| p.done_at).max()
                } else {
                    None
                },
                price: parts.iter().map(|p| p.price).sum(),
            });
        }
        out
    }

    /// Current counters.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.lock().records.len(),
            evicted: self.evicted.load(Ordering::Relaxed),
        }
    }
}

fn push_logical(inner: &mut Inner, total: u8, parts: Parts, destination: &str) -> u64 {
    let seq = inner.first_logical + inner.logical.len() as u64;
    let dest_hash = hash_one(normalize(destination));
    let prev_dest = inner.by_dest.insert(dest_hash, seq).unwrap_or(NONE);
    inner.logical.push_back(Logical {
        total: total.max(1),
        parts,
        reached: 0,
        dest_hash,
        prev_dest,
        open: None,
    });
    seq
}

fn logical_at(inner: &Inner, seq: u64) -> Option<&Logical> {
    let idx = seq.checked_sub(inner.first_logical)?;
    inner.logical.get(usize::try_from(idx).ok()?)
}

/// Sequences of the logical messages whose destination hashes like `to`, newest first (hash
/// collisions included: callers compare the destination).
fn to_destination<'a>(inner: &'a Inner, to: &str) -> impl Iterator<Item = (u64, &'a Logical)> + 'a {
    let mut seq = inner
        .by_dest
        .get(&hash_one(normalize(to)))
        .copied()
        .unwrap_or(NONE);
    std::iter::from_fn(move || {
        let l = logical_at(inner, seq)?;
        let this = seq;
        seq = l.prev_dest;
        Some((this, l))
    })
}

fn logical_mut(inner: &mut Inner, seq: u64) -> Option<&mut Logical> {
    let idx = seq.checked_sub(inner.first_logical)?;
    inner.logical.get_mut(usize::try_from(idx).ok()?)
}

impl MessageRecord {
    /// A new record in state ENROUTE.
    pub fn new(message_id: String, account: Arc<str>, sub: Submission) -> Self {
        Self {
            message_id,
            account,
            source: sub.source,
            destination: sub.destination,
            data_coding: sub.data_coding,
            registered_delivery: sub.registered_delivery,
            payload: sub.payload,
            concat: sub.concat,
            state: ReceiptState::Enroute,
            error_code: 0,
            submitted_at: Utc::now(),
            done_at: None,
            price: 0.0,
            key: 0,
            id_hash: 0,
            prev_same: NONE,
            logical: NONE,
        }
    }
}

/// Generates unique message ids in the configured format.
#[derive(Debug)]
pub struct IdGenerator {
    format: MessageIdFormat,
    /// Shared with the durable state's writer, which saves it with every commit.
    next: Arc<AtomicU64>,
}

impl IdGenerator {
    /// Ids start from the current time in milliseconds, so a restarted carrier does not hand
    /// out ids an ESME may still hold receipts for.
    pub fn new(format: MessageIdFormat) -> Self {
        let start = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(1) << 8;
        Self {
            format,
            next: Arc::new(AtomicU64::new(start)),
        }
    }

    /// Goes on from `floor` if that is past where the clock would start it: with durable
    /// state, ids never repeat even when more than 256 were given out per millisecond, or the
    /// clock went back.
    pub(crate) fn resume(&self, floor: u64) {
        self.next.fetch_max(floor, Ordering::Relaxed);
    }

    /// The counter (the next id's number).
    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.next)
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        match self.format {
            MessageIdFormat::Hex => format!("{:x}", self.next.fetch_add(1, Ordering::Relaxed)),
            MessageIdFormat::Decimal => self.next.fetch_add(1, Ordering::Relaxed).to_string(),
            MessageIdFormat::Uuid => uuid::Uuid::new_v4().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, to: &str, payload: &[u8], concat: Option<ConcatRef>) -> MessageRecord {
        MessageRecord::new(
            id.into(),
            "acct".into(),
            Submission {
                source: "sender".into(),
                destination: to.into(),
                data_coding: 0,
                registered_delivery: 1,
                payload: payload.to_vec(),
                concat,
            },
        )
    }

    #[test]
    fn parts_are_reassembled_in_order_whatever_the_arrival() {
        let s = MessageStore::new(10);
        let c = |seq| {
            Some(ConcatRef {
                reference: 7,
                total: 2,
                seq,
            })
        };
        s.insert(rec("b", "447700900001", b" world", c(2)));
        s.insert(rec("a", "447700900001", b"hello", c(1)));
        let list = s.list(Some("+447700900001"), 10);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].text, "hello world");
        assert_eq!(list[0].part_ids, vec!["a", "b"]);
        assert_eq!(list[0].parts_received, 2);
    }

    #[test]
    fn eviction_is_bounded_and_counted() {
        let s = MessageStore::new(2);
        for i in 0..5 {
            s.insert(rec(&i.to_string(), "1", b"x", None));
        }
        assert_eq!(s.stats().records, 2);
        assert_eq!(s.stats().evicted, 3);
        assert!(s.get("0").is_empty());
        assert_eq!(s.list(None, 10).len(), 2);
    }

    #[test]
    fn records_sharing_an_id_are_all_found_and_evicted_oldest_first() {
        let s = MessageStore::new(3);
        s.insert(rec("x", "1", b"first", None));
        s.insert(rec("y", "2", b"other", None));
        s.insert(rec("x", "3", b"second", None));
        let got = s.get("x");
        assert_eq!(got.len(), 2);
        // Oldest first, as submitted.
        assert_eq!(got[0].payload, b"first");
        assert_eq!(got[1].payload, b"second");
        assert_eq!(s.update("x", |r| r.error_code = 7), 2);
        // Evicting the older "x" leaves the newer one reachable through the index.
        s.insert(rec("z", "4", b"z", None));
        let got = s.get("x");
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].payload.as_slice(), got[0].error_code),
            (&b"second"[..], 7)
        );
        assert!(s.get("nope").is_empty());
        assert_eq!(s.find_ids("3", |_| true), vec!["x"]);
        assert_eq!(s.find_ids("4", |_| true), vec!["z"]);
    }

    #[test]
    fn first_parts_with_new_references_do_not_grow_the_open_groups() {
        let s = MessageStore::new(10);
        for reference in 0..1000u16 {
            s.insert(rec(
                &reference.to_string(),
                "447700900001",
                b"part one of two",
                Some(ConcatRef {
                    reference,
                    total: 2,
                    seq: 1,
                }),
            ));
            assert!(s.open_groups() <= 10, "{}", s.open_groups());
        }
        assert_eq!(s.stats().records, 10);
    }

    #[test]
    fn listing_by_destination_uses_the_index_and_survives_eviction() {
        let s = MessageStore::new(5);
        for i in 0..20 {
            s.insert(rec(
                &format!("m{i}"),
                &format!("44770090000{}", i % 3),
                b"x",
                None,
            ));
        }
        let to0 = s.list(Some("+447700900000"), 10);
        // Of the five newest (m15..m19), m15 and m18 went to ...0.
        let ids: Vec<&str> = to0.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["m18", "m15"]);
        assert!(s.list(Some("447700900009"), 10).is_empty());
        assert_eq!(s.list(None, 3).len(), 3);
    }

    #[test]
    fn slots_reach_their_record_until_it_is_evicted() {
        let s = MessageStore::new(1);
        let a = s.insert(rec("a", "1", b"a", None));
        assert_eq!(
            s.read_slot(a, |r| r.message_id.clone()).as_deref(),
            Some("a")
        );
        assert!(s.update_slot(a, |r| r.state = ReceiptState::Delivered));
        assert_eq!(s.get("a")[0].state, ReceiptState::Delivered);
        let b = s.insert(rec("b", "1", b"b", None));
        assert!(s.read_slot(a, |_| ()).is_none());
        assert!(!s.update_slot(a, |_| ()));
        assert!(s.read_slot(b, |_| ()).is_some());
    }

    #[test]
    fn ids_are_unique_in_each_format() {
        for f in [
            MessageIdFormat::Hex,
            MessageIdFormat::Decimal,
            MessageIdFormat::Uuid,
        ] {
            let g = IdGenerator::new(f);
            let a = g.next_id();
            let b = g.next_id();
            assert_ne!(a, b);
            match f {
                MessageIdFormat::Hex => assert!(a.chars().all(|c| c.is_ascii_hexdigit())),
                MessageIdFormat::Decimal => assert!(a.chars().all(|c| c.is_ascii_digit())),
                MessageIdFormat::Uuid => assert_eq!(a.len(), 36),
            }
        }
    }
}
