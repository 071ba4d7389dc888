//! Virtual handsets: an inbox per number that received something, all of them within one
//! budget.
//!
//! The carrier delivers each message (reassembled) and each heard call to the destination's
//! inbox with [`Handsets::deliver`]; testers read it over HTTP through the control plane
//! (`GET /v1/handsets/{e164}/messages`, `DELETE` to clear). A number plan can cover a hundred
//! million numbers, so state is created lazily on the first delivery.
//!
//! # Bounds
//!
//! Memory is bounded by totals across all numbers, not per number times numbers:
//!
//! - `max_handsets` numbers hold state; past it the handset created longest ago is forgotten
//!   (counted in [`HandsetStats::evicted`]);
//! - `max_entries` entries and `max_bytes` bytes of entries are kept in all; past either, the
//!   oldest entries (of whichever numbers) are dropped first (counted in
//!   [`HandsetStats::dropped`]);
//! - each inbox keeps only its newest `inbox_capacity` entries (counted as its `overflow`).
//!
//! Entries live in one arrival-order ring per shard, allocated once up front, and each inbox is
//! a chain of positions through it (oldest to newest): delivering is a push and a link, the
//! oldest entry of the ring is always the oldest of its own inbox (so dropping it is O(1)), and
//! nothing grows per number. The per-number `VecDeque`s this replaced each doubled its storage
//! as the run went on, all at about the same moment when a load test cycles through its
//! numbers, which stalled the carrier for a second at a time and grew it to gigabytes. An entry
//! keeps the message's user data as it arrived and decodes it when read, so the hot path does
//! not decode text nobody may read.
//!
//! Many SMPP sessions deliver at once, so the handsets are split into [`SHARDS`] independently
//! locked shards chosen by the number's hash, each with its share of every bound.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fasthash::{FastMap, hash_one};
use smpp::number::normalize;

/// Number of independently locked shards of the handset map.
pub const SHARDS: usize = 16;

/// How an entry reached the handset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A (reassembled) short message.
    Sms,
    /// A voice call whose spoken text the handset heard.
    Voice,
}

/// One message or heard call in a handset's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Position in this inbox: 1 for the first entry ever delivered to the number, increasing
    /// by one per delivery, and never reused (not even after [`Handsets::clear`]).
    pub seq: u64,
    /// SMS or voice.
    pub channel: Channel,
    /// Sender address (source_addr of the SMS, caller id of the call).
    pub from: String,
    /// Decoded text (the whole message after reassembly, or what the call said).
    pub text: String,
    /// Name of the carrier that delivered it.
    pub carrier: String,
    /// The carrier's message id (SMS) or call id (voice).
    pub reference: String,
    /// Number of SMS parts it arrived in (1 for a single part or a call).
    pub parts: u8,
    /// When it reached the handset.
    pub received_at: DateTime<Utc>,
}

/// The text of a new entry: already text (a call, an MO), or an SMS's user data as submitted,
/// decoded only when someone reads the inbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    /// Text.
    Utf8(String),
    /// User data in an SMPP data_coding.
    Sms {
        /// data_coding.
        data_coding: u8,
        /// The user data (all parts, in order, without UDH).
        payload: Vec<u8>,
    },
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::Utf8(s)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::Utf8(s.to_owned())
    }
}

/// Marks UTF-8 text in [`Held::coding`] (SMPP data_coding is a byte; 0xFF is reserved there).
const UTF8: u8 = 0xFF;

/// What the carrier hands to [`Handsets::deliver`]: an [`InboxEntry`] before it has a `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// SMS or voice.
    pub channel: Channel,
    /// Sender address.
    pub from: String,
    /// The text.
    pub text: Text,
    /// Carrier name.
    pub carrier: Arc<str>,
    /// Message id or call id.
    pub reference: String,
    /// Number of SMS parts.
    pub parts: u8,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
}

/// Which entries [`Handsets::messages`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxQuery {
    /// Only entries with `seq > since`. With `since`, the *oldest* `limit` matching entries are
    /// returned, so a poller that passes the last seq it saw pages forward without skipping any;
    /// without it, the *newest* `limit` (the "last message sent to this number" case).
    pub since: Option<u64>,
    /// Only entries of this channel.
    pub channel: Option<Channel>,
    /// At most this many entries.
    pub limit: usize,
}

/// One handset's inbox as returned by [`Handsets::messages`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxView {
    /// The number, normalized (no leading `+`).
    pub number: String,
    /// Entries delivered since the inbox was created or last cleared, kept or not.
    pub received: u64,
    /// Entries dropped (oldest first) because the inbox was full, since creation or last clear.
    pub overflow: u64,
    /// The selected entries, oldest first.
    pub messages: Vec<InboxEntry>,
}

/// Totals over all handsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HandsetStats {
    /// Numbers holding state (numbers that ever received something).
    pub handsets: usize,
    /// Entries currently held in inboxes.
    pub entries: usize,
    /// Bytes those entries take (estimated: the entry, its data and the allocator's overhead).
    pub bytes: usize,
    /// Entries dropped because an inbox was full.
    pub overflow: u64,
    /// Entries dropped, oldest first, to keep within `max_entries` or `max_bytes`.
    #[serde(default)]
    pub dropped: u64,
    /// Handsets forgotten because the handset cap was reached (oldest first).
    pub evicted: u64,
}

/// Bounds of the handsets (see the module documentation); each is a total over all numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandsetLimits {
    /// Entries kept per number.
    pub inbox_capacity: usize,
    /// Numbers holding state.
    pub max_handsets: usize,
    /// Entries kept in all.
    pub max_entries: usize,
    /// Bytes of entries kept in all.
    pub max_bytes: usize,
}

/// Marks "no entry" in position fields.
const NONE: u64 = u64::MAX;

/// An entry as held: the strings in one allocation, the carrier name shared.
#[derive(Debug)]
struct Held {
    seq: u64,
    /// Position of the next (newer) entry of the same inbox, or [`NONE`].
    next: u64,
    /// Index of its inbox in [`Shard::inboxes`].
    inbox: u32,
    channel: Channel,
    parts: u8,
    /// data_coding of the text, or [`UTF8`].
    coding: u8,
    from_len: u8,
    reference_len: u8,
    received_at: DateTime<Utc>,
    carrier: Arc<str>,
    /// `from`, `reference`, then the text.
    data: Data,
}

/// Octets of an entry's strings held inside the entry itself: an OTP's sender, message id and
/// text fit, so most deliveries allocate nothing and the ring is one allocation, not a million.
const INLINE_DATA: usize = 64;

/// An entry's strings, inline when they fit.
#[derive(Debug)]
enum Data {
    Inline { len: u8, bytes: [u8; INLINE_DATA] },
    Heap(Box<[u8]>),
}

impl Data {
    fn new(parts: [&[u8]; 3]) -> Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= INLINE_DATA {
            let mut bytes = [0u8; INLINE_DATA];
            let mut at = 0;
            for p in parts {
                bytes[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            Data::Inline {
                len: len as u8,
                bytes,
            }
        } else {
            Data::Heap(parts.concat().into_boxed_slice())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Data::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Data::Heap(b) => b,
        }
    }

    /// Bytes allocated outside the entry.
    fn heap_len(&self) -> usize {
        match self {
            Data::Inline { .. } => 0,
            Data::Heap(b) => b.len() + ALLOC_OVERHEAD,
        }
    }
}

/// What the allocator adds to each allocation, roughly: counted in the byte budget.
const ALLOC_OVERHEAD: usize = 16;

impl Held {
    fn bytes(&self) -> usize {
        std::mem::size_of::<Option<Held>>() + self.data.heap_len()
    }

    fn view(&self) -> InboxEntry {
        let (from, rest) = self.data.as_slice().split_at(usize::from(self.from_len));
        let (reference, text) = rest.split_at(usize::from(self.reference_len));
        InboxEntry {
            seq: self.seq,
            channel: self.channel,
            from: String::from_utf8_lossy(from).into_owned(),
            text: if self.coding == UTF8 {
                String::from_utf8_lossy(text).into_owned()
            } else {
                smpp::text::decode(self.coding, text)
            },
            carrier: self.carrier.to_string(),
            reference: String::from_utf8_lossy(reference).into_owned(),
            parts: self.parts,
            received_at: self.received_at,
        }
    }
}

/// One number's inbox: counters and the ends of its chain of entries.
#[derive(Debug)]
struct Inbox {
    /// Seq of the last entry ever delivered; survives `clear` so `since` stays meaningful.
    last_seq: u64,
    received: u64,
    overflow: u64,
    /// Positions of its oldest and newest entries ([`NONE`] when empty).
    head: u64,
    tail: u64,
    count: usize,
}

impl Inbox {
    fn new() -> Self {
        Self {
            last_seq: 0,
            received: 0,
            overflow: 0,
            head: NONE,
            tail: NONE,
            count: 0,
        }
    }
}

/// One shard: its inboxes, their numbers in creation order for eviction, and the ring of
/// entries.
///
/// Keys are [`NumberKey`]s (the number inline) and the map uses the fast hasher: a load test
/// sends every message to a new or rarely repeated number, so creating or finding a handset
/// runs once per message, and SipHash, string copies and pointer-chasing compares showed in
/// the profile.
#[derive(Debug)]
struct Shard {
    map: FastMap<NumberKey, u32>,
    inboxes: Vec<Inbox>,
    free: Vec<u32>,
    created: VecDeque<NumberKey>,
    /// Entries in arrival order; position `p` is `ring[p - first_pos]`. `None` marks an entry
    /// already dropped (an inbox's overflow, a clear, a forgotten handset) that has not yet
    /// reached the front.
    ring: VecDeque<Option<Held>>,
    first_pos: u64,
    live: usize,
    bytes: usize,
    overflow: u64,
    dropped: u64,
    evicted: u64,
}

/// Largest up-front allocation per shard (entries or handsets): beyond it, structures grow as
/// they fill (a configured bound of hundreds of millions should not reserve gigabytes).
const PREALLOCATE_MAX: usize = 1 << 20;

impl Shard {
    fn new(limits: &ShardLimits) -> Self {
        // Allocated once, at their bound: growing by doubling while full of live data was what
        // stalled the old per-number inboxes. With the system allocator untouched pages cost
        // address space only; mimalloc (the binary's allocator) commits them, which is most of
        // carrier-sim's 160 MB resident at start with the defaults.
        Self {
            map: FastMap::with_capacity_and_hasher(
                limits.handsets.min(PREALLOCATE_MAX) + 1,
                Default::default(),
            ),
            inboxes: Vec::with_capacity(limits.handsets.min(PREALLOCATE_MAX)),
            free: Vec::new(),
            created: VecDeque::with_capacity(limits.handsets.min(PREALLOCATE_MAX)),
            // One more than the bound: an entry is pushed before the oldest leaves.
            ring: VecDeque::with_capacity(limits.entries.min(PREALLOCATE_MAX) + 1),
            first_pos: 0,
            live: 0,
            bytes: 0,
            overflow: 0,
            dropped: 0,
            evicted: 0,
        }
    }

    fn at(&self, pos: u64) -> Option<&Held> {
        let idx = pos.checked_sub(self.first_pos)?;
        self.ring.get(usize::try_from(idx).ok()?)?.as_ref()
    }

    fn at_mut(&mut self, pos: u64) -> Option<&mut Held> {
        let idx = pos.checked_sub(self.first_pos)?;
        self.ring.get_mut(usize::try_from(idx).ok()?)?.as_mut()
    }

    /// Takes the entry at `pos` out of the ring (leaving a tombstone); returns its successor.
    fn remove_at(&mut self, pos: u64) -> u64 {
        let Some(idx) = pos
            .checked_sub(self.first_pos)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return NONE;
        };
        match self.ring.get_mut(idx).and_then(Option::take) {
            Some(held) => {
                self.live -= 1;
                self.bytes -= held.bytes();
                held.next
            }
            None => NONE,
        }
    }

    /// Drops the oldest entry of inbox `i`; returns false when it had none.
    fn pop_oldest(&mut self, i: u32) -> bool {
        let head = self.inboxes[i as usize].head;
        if head == NONE {
            return false;
        }
        let next = self.remove_at(head);
        let inbox = &mut self.inboxes[i as usize];
        inbox.head = next;
        if next == NONE {
            inbox.tail = NONE;
        }
        inbox.count -= 1;
        true
    }

    /// Drops every entry of inbox `i`; returns how many.
    fn empty(&mut self, i: u32) -> usize {
        let mut n = 0;
        while self.pop_oldest(i) {
            n += 1;
        }
        n
    }

    /// The front of the ring leaves it: a live entry there is the oldest of its inbox.
    fn pop_front(&mut self) {
        if let Some(front) = self.ring.pop_front() {
            self.first_pos += 1;
            if let Some(held) = front {
                self.live -= 1;
                self.bytes -= held.bytes();
                self.dropped += 1;
                let inbox = &mut self.inboxes[held.inbox as usize];
                inbox.head = held.next;
                if held.next == NONE {
                    inbox.tail = NONE;
                }
                inbox.count -= 1;
            }
        }
    }

    /// The inbox of `number`, created (forgetting the oldest handset past the cap) if new.
    fn inbox_for(&mut self, number: &str, max_handsets: usize) -> u32 {
        if let Some(&i) = self.map.get(number) {
            return i;
        }
        if self.map.len() >= max_handsets
            && let Some(oldest) = self.created.pop_front()
            && let Some(i) = self.map.remove(&oldest)
        {
            self.empty(i);
            self.free.push(i);
            self.evicted += 1;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.inboxes[i as usize] = Inbox::new();
                i
            }
            None => {
                self.inboxes.push(Inbox::new());
                u32::try_from(self.inboxes.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let key = NumberKey::new(number);
        self.created.push_back(key.clone());
        self.map.insert(key, i);
        i
    }
}

/// Longest number held inline by [`NumberKey`]; E.164 numbers have at most 15 digits.
const INLINE_NUMBER: usize = 22;

/// A number as a map key, held inline when it fits so that a lookup compares bytes inside the
/// hash table instead of following a pointer to a heap string (a cache miss per delivery with
/// a million handsets); longer strings (they can come from the HTTP or voice side) go to the
/// heap. Hashes and compares exactly like the `str` it holds, so the map can be queried with
/// a `&str`.
#[derive(Debug, Clone)]
enum NumberKey {
    Inline { len: u8, bytes: [u8; INLINE_NUMBER] },
    Heap(Box<str>),
}

impl NumberKey {
    fn new(number: &str) -> Self {
        if number.len() <= INLINE_NUMBER {
            let mut bytes = [0u8; INLINE_NUMBER];
            bytes[..number.len()].copy_from_slice(number.as_bytes());
            NumberKey::Inline {
                len: number.len() as u8,
                bytes,
            }
        } else {
            NumberKey::Heap(number.into())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Built from a whole `str` in `new`, so always valid UTF-8.
            NumberKey::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            NumberKey::Heap(s) => s,
        }
    }
}

impl PartialEq for NumberKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for NumberKey {}

impl std::hash::Hash for NumberKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::borrow::Borrow<str> for NumberKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// Default cap on the number of handsets: a load test spraying random numbers must not grow
/// the process without bound. About 100 bytes each (map slot, inbox, creation order).
pub const DEFAULT_MAX_HANDSETS: usize = 1_000_000;
/// Default cap on entries held in all inboxes together (about 140 bytes each for an OTP).
pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;
/// Default cap on the bytes those entries take: 256 MiB.
pub const DEFAULT_MAX_BYTES: usize = 256 << 20;

/// One shard's share of the limits.
#[derive(Debug, Clone, Copy)]
struct ShardLimits {
    inbox_capacity: usize,
    handsets: usize,
    entries: usize,
    bytes: usize,
}

/// All virtual handsets of a process. Share it behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Handsets {
    shards: Box<[Mutex<Shard>]>,
    limits: ShardLimits,
}

impl Handsets {
    /// Handsets whose inboxes keep the newest `inbox_capacity` entries each (at least 1), with
    /// the default totals.
    #[cfg(test)]
    pub fn new(inbox_capacity: usize) -> Self {
        Self::with_limits(HandsetLimits {
            inbox_capacity,
            max_handsets: DEFAULT_MAX_HANDSETS,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
        })
    }

    /// Handsets within `limits` (see the module documentation); each shard takes its share.
    pub fn with_limits(limits: HandsetLimits) -> Self {
        let share = |total: usize| total.div_ceil(SHARDS).max(1);
        let limits = ShardLimits {
            inbox_capacity: limits.inbox_capacity.max(1),
            handsets: share(limits.max_handsets),
            entries: share(limits.max_entries),
            bytes: share(limits.max_bytes),
        };
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(&limits)))
                .collect(),
            limits,
        }
    }

    fn shard(&self, number: &str) -> MutexGuard<'_, Shard> {
        // Reduce in u64 before narrowing so the choice does not depend on the pointer width.
        // The shard comes from bits 32 and up: each shard's map indexes its buckets with the
        // low bits of the same hash, and a shard chosen by those would leave every key of a
        // shard in one sixteenth of its buckets (long probe runs).
        let index = ((hash_one(number) >> 32) % SHARDS as u64) as usize;
        // A panic while holding the lock cannot leave an inbox half-updated in a way that
        // matters (each mutation is a push/pop plus counters), so poisoning is ignored rather
        // than taking every later delivery down with it.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Put `entry` into `number`'s inbox (a leading `+` is ignored), creating the inbox on the
    /// first delivery; when the inbox is full its oldest entry is dropped and counted as
    /// overflow, and past the totals the oldest entries of the shard go. Returns the entry's
    /// seq.
    pub fn deliver(&self, number: &str, entry: NewEntry) -> u64 {
        let number = normalize(number);
        let (coding, text) = match entry.text {
            Text::Utf8(s) => (UTF8, s.into_bytes()),
            Text::Sms {
                data_coding,
                payload,
            } => (data_coding, payload),
        };
        // Lengths are kept in a byte each: longer senders and references are cut (neither
        // comes from SMPP longer than 65 octets; HTTP callers get the first 255).
        let from = truncate(&entry.from);
        let reference = truncate(&entry.reference);
        let data = Data::new([from.as_bytes(), reference.as_bytes(), &text]);
        let limits = self.limits;
        let mut guard = self.shard(number);
        let shard = &mut *guard;
        let i = shard.inbox_for(number, limits.handsets);
        let pos = shard.first_pos + shard.ring.len() as u64;
        let inbox = &mut shard.inboxes[i as usize];
        inbox.last_seq += 1;
        inbox.received += 1;
        let seq = inbox.last_seq;
        let prev_tail = inbox.tail;
        inbox.tail = pos;
        if inbox.head == NONE {
            inbox.head = pos;
        }
        inbox.count += 1;
        let over = inbox.count > limits.inbox_capacity;
        if over {
            inbox.overflow += 1;
        }
        let held = Held {
            seq,
            next: NONE,
            inbox: i,
            channel: entry.channel,
            parts: entry.parts,
            coding,
            from_len: from.len() as u8,
            reference_len: reference.len() as u8,
            received_at: entry.received_at,
            carrier: entry.carrier,
            data,
        };
        shard.live += 1;
        shard.bytes += held.bytes();
        shard.ring.push_back(Some(held));
        if let Some(prev) = shard.at_mut(prev_tail) {
            prev.next = pos;
        }
        if over {
            shard.overflow += 1;
            shard.pop_oldest(i);
        }
        while shard.ring.len() > limits.entries || shard.bytes > limits.bytes {
            shard.pop_front();
        }
        seq
    }

    /// The entries of `number` selected by `query` (see [`InboxQuery`]), or `None` when the
    /// number never received anything.
    pub fn messages(&self, number: &str, query: &InboxQuery) -> Option<InboxView> {
        let number = normalize(number);
        let shard = self.shard(number);
        let &i = shard.map.get(number)?;
        let inbox = &shard.inboxes[i as usize];
        let matching = |e: &&&Held| {
            query.since.is_none_or(|since| e.seq > since)
                && query.channel.is_none_or(|channel| e.channel == channel)
        };
        let mut all: Vec<&Held> = Vec::with_capacity(inbox.count);
        let mut pos = inbox.head;
        while let Some(e) = shard.at(pos) {
            all.push(e);
            pos = e.next;
        }
        let messages: Vec<InboxEntry> = if query.since.is_some() {
            all.iter()
                .filter(matching)
                .take(query.limit)
                .map(|e| e.view())
                .collect()
        } else {
            let mut newest: Vec<InboxEntry> = all
                .iter()
                .rev()
                .filter(matching)
                .take(query.limit)
                .map(|e| e.view())
                .collect();
            newest.reverse();
            newest
        };
        Some(InboxView {
            number: number.to_owned(),
            received: inbox.received,
            overflow: inbox.overflow,
            messages,
        })
    }

    /// Empty `number`'s inbox and zero its `received` and `overflow`; returns how many entries
    /// were removed. The seq numbering continues where it was, so a poller's `since` stays valid
    /// and never hides a message delivered after the clear.
    pub fn clear(&self, number: &str) -> usize {
        let number = normalize(number);
        let mut shard = self.shard(number);
        let Some(&i) = shard.map.get(number) else {
            return 0;
        };
        let removed = shard.empty(i);
        let inbox = &mut shard.inboxes[i as usize];
        inbox.received = 0;
        inbox.overflow = 0;
        removed
    }

    /// Totals over all handsets (each shard is locked in turn, so under concurrent deliveries
    /// the sum is a close, not an atomic, snapshot).
    pub fn stats(&self) -> HandsetStats {
        let mut stats = HandsetStats::default();
        for shard in self.shards.iter() {
            let shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            stats.handsets += shard.map.len();
            stats.entries += shard.live;
            stats.bytes += shard.bytes;
            stats.overflow += shard.overflow;
            stats.dropped += shard.dropped;
            stats.evicted += shard.evicted;
        }
        stats
    }
}

/// The longest prefix of `s` that fits a byte length, cut at a character boundary.
fn truncate(s: &str) -> &str {
    if s.len() <= 255 {
        return s;
    }
    let mut end = 255;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(text: &str) -> NewEntry {
        entry(Channel::Sms, text)
    }

    fn entry(channel: Channel, text: &str) -> NewEntry {
        NewEntry {
            channel,
            from: "VERIFY".into(),
            text: text.into(),
            carrier: "alpha".into(),
            reference: format!("ref-{text}"),
            parts: 1,
            received_at: Utc::now(),
        }
    }

    fn all(limit: usize) -> InboxQuery {
        InboxQuery {
            since: None,
            channel: None,
            limit,
        }
    }

    fn texts(view: &InboxView) -> Vec<&str> {
        view.messages.iter().map(|m| m.text.as_str()).collect()
    }

    #[test]
    fn handset_cap_forgets_the_oldest_numbers() {
        let h = Handsets::with_limits(HandsetLimits {
            inbox_capacity: 4,
            max_handsets: SHARDS,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
        });
        for i in 0..(SHARDS * 20) {
            h.deliver(&format!("4477009{i:05}"), entry(Channel::Sms, "x"));
        }
        let stats = h.stats();
        assert!(stats.handsets <= SHARDS, "{stats:?}");
        assert_eq!(stats.handsets as u64 + stats.evicted, (SHARDS * 20) as u64);
    }

    #[test]
    fn totals_drop_the_oldest_entries_of_any_number() {
        let h = Handsets::with_limits(HandsetLimits {
            inbox_capacity: 100,
            max_handsets: 1000,
            max_entries: SHARDS * 5,
            max_bytes: DEFAULT_MAX_BYTES,
        });
        // Ten entries to each of 100 numbers: far beyond 5 entries per shard.
        for round in 0..10 {
            for n in 0..100 {
                h.deliver(&format!("4477009{n:05}"), sms(&format!("{round}")));
            }
        }
        let stats = h.stats();
        assert!(stats.entries <= SHARDS * 5, "{stats:?}");
        assert_eq!(stats.entries as u64 + stats.dropped, 1000, "{stats:?}");
        assert_eq!(stats.handsets, 100);
        // What each inbox keeps is its newest entries, in order.
        for n in 0..100 {
            let view = h
                .messages(&format!("4477009{n:05}"), &all(100))
                .expect("inbox");
            assert_eq!(view.received, 10);
            let seqs: Vec<u64> = view.messages.iter().map(|m| m.seq).collect();
            let kept = seqs.len() as u64;
            assert_eq!(seqs, ((11 - kept)..=10).collect::<Vec<_>>(), "{view:?}");
        }
        // And new deliveries still work and are found.
        assert_eq!(h.deliver("447700900000", sms("new")), 11);
        let view = h.messages("447700900000", &all(1)).expect("inbox");
        assert_eq!(texts(&view), ["new"]);
    }

    #[test]
    fn the_byte_budget_holds() {
        let budget = SHARDS * 4096;
        let h = Handsets::with_limits(HandsetLimits {
            inbox_capacity: 100,
            max_handsets: 1000,
            max_entries: 1_000_000,
            max_bytes: budget,
        });
        let long = "x".repeat(500);
        for n in 0..1000 {
            h.deliver(&format!("4477009{n:05}"), sms(&long));
        }
        let stats = h.stats();
        assert!(stats.bytes <= budget, "{stats:?}");
        assert!(stats.dropped > 0 && stats.entries > 0, "{stats:?}");
        assert_eq!(stats.entries as u64 + stats.dropped, 1000);
    }

    #[test]
    fn sms_text_is_decoded_when_read() {
        let h = Handsets::new(4);
        let mut e = sms("");
        e.text = Text::Sms {
            data_coding: 8,
            payload: vec![0x00, 0x48, 0x00, 0x69],
        };
        h.deliver("4477", e);
        let view = h.messages("4477", &all(1)).expect("inbox");
        assert_eq!(texts(&view), ["Hi"]);
    }

    #[test]
    fn unknown_number_has_no_state() {
        let h = Handsets::new(4);
        assert!(h.messages("447700900001", &all(10)).is_none());
        assert_eq!(h.clear("447700900001"), 0);
        assert_eq!(h.stats(), HandsetStats::default());
    }

    #[test]
    fn plus_and_bare_number_are_one_handset() {
        let h = Handsets::new(4);
        assert_eq!(h.deliver("+447700900001", sms("a")), 1);
        assert_eq!(h.deliver("447700900001", sms("b")), 2);
        let view = h.messages("+447700900001", &all(10)).expect("inbox");
        assert_eq!(view.number, "447700900001");
        assert_eq!(texts(&view), ["a", "b"]);
        assert_eq!(h.stats().handsets, 1);
    }

    #[test]
    fn inbox_keeps_newest_and_counts_overflow() {
        let h = Handsets::new(3);
        for i in 1..=5 {
            h.deliver("4477", sms(&i.to_string()));
        }
        let view = h.messages("4477", &all(10)).expect("inbox");
        assert_eq!(texts(&view), ["3", "4", "5"]);
        assert_eq!(
            view.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(view.received, 5);
        assert_eq!(view.overflow, 2);
        assert_eq!(
            h.stats(),
            HandsetStats {
                handsets: 1,
                entries: 3,
                bytes: h.stats().bytes,
                overflow: 2,
                dropped: 0,
                evicted: 0,
            }
        );
    }

    #[test]
    fn limit_without_since_gives_newest_oldest_first() {
        let h = Handsets::new(10);
        for i in 1..=5 {
            h.deliver("4477", sms(&i.to_string()));
        }
        let view = h.messages("4477", &all(2)).expect("inbox");
        assert_eq!(texts(&view), ["4", "5"]);
        let view = h.messages("4477", &all(0)).expect("inbox");
        assert!(view.messages.is_empty());
        assert_eq!(view.received, 5);
    }

    #[test]
    fn since_pages_forward_without_skipping() {
        let h = Handsets::new(10);
        for i in 1..=5 {
            h.deliver("4477", sms(&i.to_string()));
        }
        let mut q = InboxQuery {
            since: Some(0),
            channel: None,
            limit: 2,
        };
        let mut seen = Vec::new();
        loop {
            let view = h.messages("4477", &q).expect("inbox");
            let Some(last) = view.messages.last() else {
                break;
            };
            q.since = Some(last.seq);
            seen.extend(view.messages.iter().map(|m| m.text.clone()));
        }
        assert_eq!(seen, ["1", "2", "3", "4", "5"]);
        q.since = Some(5);
        assert!(h.messages("4477", &q).expect("inbox").messages.is_empty());
    }

    #[test]
    fn channel_filter() {
        let h = Handsets::new(10);
        h.deliver("4420", entry(Channel::Sms, "s1"));
        h.deliver("4420", entry(Channel::Voice, "v1"));
        h.deliver("4420", entry(Channel::Sms, "s2"));
        let q = |channel, since| InboxQuery {
            since,
            channel: Some(channel),
            limit: 10,
        };
        let view = h.messages("4420", &q(Channel::Voice, None)).expect("inbox");
        assert_eq!(texts(&view), ["v1"]);
        assert_eq!(view.messages[0].seq, 2);
        let view = h
            .messages("4420", &q(Channel::Sms, Some(1)))
            .expect("inbox");
        assert_eq!(texts(&view), ["s2"]);
    }

    #[test]
    fn clear_empties_but_seq_continues() {
        let h = Handsets::new(2);
        for i in 1..=3 {
            h.deliver("4477", sms(&i.to_string()));
        }
        assert_eq!(h.clear("+4477"), 2);
        let view = h.messages("4477", &all(10)).expect("inbox still known");
        assert!(view.messages.is_empty());
        assert_eq!((view.received, view.overflow), (0, 0));
        assert_eq!(h.deliver("4477", sms("4")), 4);
        let view = h
            .messages(
                "4477",
                &InboxQuery {
                    since: Some(3),
                    channel: None,
                    limit: 10,
                },
            )
            .expect("inbox");
        assert_eq!(texts(&view), ["4"]);
        assert_eq!(view.received, 1);
    }

    #[test]
    fn concurrent_delivers_land_in_the_right_inbox() {
        const THREADS: usize = 8;
        const NUMBERS: usize = 64;
        const PER_NUMBER: usize = 50;
        let h = Arc::new(Handsets::new(PER_NUMBER * THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let h = Arc::clone(&h);
                std::thread::spawn(move || {
                    for i in 0..PER_NUMBER {
                        for n in 0..NUMBERS {
                            let number = format!("+4477009{n:05}");
                            h.deliver(&number, sms(&format!("{number}/{t}/{i}")));
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker thread");
        }
        let stats = h.stats();
        assert_eq!(stats.handsets, NUMBERS);
        assert_eq!(stats.entries, NUMBERS * THREADS * PER_NUMBER);
        assert_eq!(stats.overflow, 0);
        for n in 0..NUMBERS {
            let number = format!("4477009{n:05}");
            let view = h.messages(&number, &all(usize::MAX)).expect("inbox");
            assert_eq!(view.received as usize, THREADS * PER_NUMBER);
            // Every entry is for this number, seqs are exactly 1..=N in order, and each thread's
            // entries kept their own order.
            let seqs: Vec<u64> = view.messages.iter().map(|m| m.seq).collect();
            assert_eq!(
                seqs,
                (1..=(THREADS * PER_NUMBER) as u64).collect::<Vec<_>>()
            );
            let mut next = [0usize; THREADS];
            for m in &view.messages {
                let mut fields = m.text.split('/');
                assert_eq!(fields.next(), Some(format!("+{number}").as_str()));
                let t: usize = fields.next().and_then(|s| s.parse().ok()).expect("thread");
                let i: usize = fields.next().and_then(|s| s.parse().ok()).expect("index");
                assert_eq!(i, next[t]);
                next[t] += 1;
            }
        }
    }

    #[test]
    fn entry_json_shape() {
        let h = Handsets::new(2);
        h.deliver("4477", entry(Channel::Voice, "your code is 1 2 3"));
        let view = h.messages("4477", &all(1)).expect("inbox");
        let json = serde_json::to_value(&view).expect("serialize");
        assert_eq!(json["messages"][0]["channel"], "voice");
        assert_eq!(json["messages"][0]["seq"], 1);
        assert_eq!(json["number"], "4477");
        let back: InboxView = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, view);
    }
}
