//! Virtual handsets: a bounded inbox per number that received something.
//!
//! The carrier delivers each message (reassembled and decoded) and each heard call to the
//! destination's inbox with [`Handsets::deliver`]; testers read it over HTTP through the control
//! plane (`GET /v1/handsets/{e164}/messages`, `DELETE` to clear). A number plan can cover a hundred
//! million numbers, so state is created lazily on the first delivery: memory grows with the
//! numbers that actually received something, never with the size of a range. Each inbox keeps
//! only its newest `inbox_capacity` entries and counts what it had to drop.
//!
//! Many SMPP sessions deliver at once, so the map is split into [`SHARDS`] independently locked
//! shards chosen by the number's hash: two deliveries contend only when their numbers share a
//! shard, and the critical section is a hash lookup plus a push.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

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

/// What the carrier hands to [`Handsets::deliver`]: an [`InboxEntry`] before it has a `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// SMS or voice.
    pub channel: Channel,
    /// Sender address.
    pub from: String,
    /// Decoded text.
    pub text: String,
    /// Carrier name.
    pub carrier: String,
    /// Message id or call id.
    pub reference: String,
    /// Number of SMS parts.
    pub parts: u8,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
}

impl NewEntry {
    fn with_seq(self, seq: u64) -> InboxEntry {
        InboxEntry {
            seq,
            channel: self.channel,
            from: self.from,
            text: self.text,
            carrier: self.carrier,
            reference: self.reference,
            parts: self.parts,
            received_at: self.received_at,
        }
    }
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
    /// Entries dropped because an inbox was full.
    pub overflow: u64,
    /// Handsets forgotten because the handset cap was reached (oldest first).
    pub evicted: u64,
}

#[derive(Debug, Default)]
struct Inbox {
    /// Seq of the last entry ever delivered; survives `clear` so `since` stays meaningful.
    last_seq: u64,
    received: u64,
    overflow: u64,
    entries: VecDeque<InboxEntry>,
}

impl Inbox {
    /// Appends `entry`, dropping the oldest past `capacity`; returns the entry's seq.
    fn push(&mut self, entry: NewEntry, capacity: usize) -> u64 {
        self.last_seq += 1;
        self.received += 1;
        let seq = self.last_seq;
        if self.entries.len() >= capacity {
            self.entries.pop_front();
            self.overflow += 1;
        }
        self.entries.push_back(entry.with_seq(seq));
        seq
    }
}

/// One shard: its inboxes, and their numbers in creation order for eviction.
///
///
/// Keys are [`NumberKey`]s (the number inline) and the map uses the fast hasher: a load test
/// sends every message to a new or rarely repeated number, so creating or finding a handset
/// runs once per message, and SipHash, string copies and pointer-chasing compares showed in
/// the profile.
#[derive(Debug, Default)]
struct ShardInner {
    map: FastMap<NumberKey, Inbox>,
    created: VecDeque<NumberKey>,
    evicted: u64,
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

impl std::ops::Deref for ShardInner {
    type Target = FastMap<NumberKey, Inbox>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl std::ops::DerefMut for ShardInner {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

type Shard = Mutex<ShardInner>;

/// Default cap on the number of handsets: a load test spraying random numbers must not grow
/// the process without bound. About 300 bytes each when holding one message.
pub const DEFAULT_MAX_HANDSETS: usize = 1_000_000;

/// All virtual handsets of a process. Share it behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Handsets {
    shards: Box<[Shard]>,
    capacity: usize,
    max_per_shard: usize,
}

impl Handsets {
    /// Handsets whose inboxes keep the newest `inbox_capacity` entries each (at least 1).
    #[cfg(test)]
    pub fn new(inbox_capacity: usize) -> Self {
        Self::with_limits(inbox_capacity, DEFAULT_MAX_HANDSETS)
    }

    /// Handsets with a cap on how many numbers hold state: past it, the handset created longest
    /// ago is forgotten (counted in [`HandsetStats::evicted`]).
    pub fn with_limits(inbox_capacity: usize, max_handsets: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(ShardInner::default()))
                .collect(),
            capacity: inbox_capacity.max(1),
            max_per_shard: max_handsets.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, number: &str) -> MutexGuard<'_, ShardInner> {
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
    /// overflow. Returns the entry's seq.
    pub fn deliver(&self, number: &str, entry: NewEntry) -> u64 {
        let number = normalize(number);
        let mut guard = self.shard(number);
        let shard = &mut *guard;
        if let Some(inbox) = shard.map.get_mut(number) {
            return inbox.push(entry, self.capacity);
        }
        if shard.map.len() >= self.max_per_shard
            && let Some(oldest) = shard.created.pop_front()
        {
            shard.map.remove(&oldest);
            shard.evicted += 1;
        }
        let key = NumberKey::new(number);
        shard.created.push_back(key.clone());
        // Most numbers of a load test receive one message: start with room for one, not the
        // four entries VecDeque grows to on its first push.
        let inbox = shard.map.entry(key).or_insert_with(|| Inbox {
            entries: VecDeque::with_capacity(1),
            ..Inbox::default()
        });
        inbox.push(entry, self.capacity)
    }

    /// The entries of `number` selected by `query` (see [`InboxQuery`]), or `None` when the
    /// number never received anything.
    pub fn messages(&self, number: &str, query: &InboxQuery) -> Option<InboxView> {
        let number = normalize(number);
        let shard = self.shard(number);
        let inbox = shard.get(number)?;
        let matching = |e: &&InboxEntry| {
            query.since.is_none_or(|since| e.seq > since)
                && query.channel.is_none_or(|channel| e.channel == channel)
        };
        let messages: Vec<InboxEntry> = if query.since.is_some() {
            inbox
                .entries
                .iter()
                .filter(matching)
                .take(query.limit)
                .cloned()
                .collect()
        } else {
            let mut newest: Vec<InboxEntry> = inbox
                .entries
                .iter()
                .rev()
                .filter(matching)
                .take(query.limit)
                .cloned()
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
        match shard.get_mut(number) {
            Some(inbox) => {
                let removed = inbox.entries.len();
                inbox.entries = VecDeque::new();
                inbox.received = 0;
                inbox.overflow = 0;
                removed
            }
            None => 0,
        }
    }

    /// Totals over all handsets (each shard is locked in turn, so under concurrent deliveries
    /// the sum is a close, not an atomic, snapshot).
    pub fn stats(&self) -> HandsetStats {
        let mut stats = HandsetStats::default();
        for shard in self.shards.iter() {
            let shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            stats.handsets += shard.len();
            stats.evicted += shard.evicted;
            for inbox in shard.values() {
                stats.entries += inbox.entries.len();
                stats.overflow += inbox.overflow;
            }
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
        let h = Handsets::with_limits(4, SHARDS);
        for i in 0..(SHARDS * 20) {
            h.deliver(&format!("4477009{i:05}"), entry(Channel::Sms, "x"));
        }
        let stats = h.stats();
        assert!(stats.handsets <= SHARDS, "{stats:?}");
        assert_eq!(stats.handsets as u64 + stats.evicted, (SHARDS * 20) as u64);
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
                overflow: 2,
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
