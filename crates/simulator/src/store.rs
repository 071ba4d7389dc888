//! The message store: what the carrier accepted, by id and by destination, bounded.
//!
//! query_sm, cancel_sm and replace_sm look messages up by id; the control plane lists them
//! newest first per destination. Parts of a concatenated message are separate records (each has
//! its own message id and receipt, as on a real SMSC) and are also gathered into one logical
//! message whose text is the reassembled whole, which is what a tester wants to read back.
//! Both collections are bounded; evictions are counted, never silent.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;
use smpp::receipt::ReceiptState;

use crate::config::MessageIdFormat;

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
        if self.concat.is_some() {
            return 1;
        }
        let len = self.payload.len();
        let (single, per_part) = match self.data_coding {
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
}

/// One accepted submission to one destination (one part of a long message).
#[derive(Debug, Clone)]
pub struct MessageRecord {
    /// The id given in the submit response.
    pub message_id: String,
    /// Account (system_id) that submitted it; receipts go back to this account.
    pub account: String,
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
    /// Index of the logical message this record belongs to.
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
}

#[derive(Debug)]
struct Logical {
    seq: u64,
    total: u8,
    /// Part ids by 0-based position (empty string while a part is missing).
    parts: Vec<String>,
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<String, Vec<MessageRecord>>,
    order: VecDeque<String>,
    logical: VecDeque<Logical>,
    first_logical: u64,
    /// Open concatenation groups: (account, source, destination, reference, total) -> logical.
    open_groups: HashMap<(String, String, String, u16, u8), u64>,
}

/// Counters of what the store dropped.
#[derive(Debug, Default, Serialize, Clone, Copy)]
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
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            evicted: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock would be a bug elsewhere; the data stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a record, linking it into its logical message.
    pub fn insert(&self, mut record: MessageRecord) {
        let mut inner = self.lock();
        let logical = match record.concat {
            Some(c) if c.total > 1 => {
                let key = (
                    record.account.clone(),
                    record.source.clone(),
                    record.destination.clone(),
                    c.reference,
                    c.total,
                );
                let existing = inner.open_groups.get(&key).copied().filter(|seq| {
                    logical_mut(&mut inner, *seq).is_some_and(|l| {
                        l.parts
                            .get(usize::from(c.seq.max(1)) - 1)
                            .is_some_and(String::is_empty)
                    })
                });
                let seq = match existing {
                    Some(seq) => seq,
                    None => {
                        let seq = push_logical(&mut inner, c.total);
                        inner.open_groups.insert(key.clone(), seq);
                        seq
                    }
                };
                if let Some(l) = logical_mut(&mut inner, seq) {
                    let idx = usize::from(c.seq.clamp(1, c.total)) - 1;
                    l.parts[idx] = record.message_id.clone();
                    if l.parts.iter().all(|p| !p.is_empty()) {
                        inner.open_groups.remove(&key);
                    }
                }
                seq
            }
            _ => {
                let seq = push_logical(&mut inner, 1);
                if let Some(l) = logical_mut(&mut inner, seq) {
                    l.parts[0] = record.message_id.clone();
                }
                seq
            }
        };
        record.logical = logical;
        inner.order.push_back(record.message_id.clone());
        inner
            .records
            .entry(record.message_id.clone())
            .or_default()
            .push(record);
        while inner.order.len() > self.capacity {
            if let Some(id) = inner.order.pop_front() {
                if let Some(list) = inner.records.get_mut(&id) {
                    if !list.is_empty() {
                        list.remove(0);
                    }
                    if list.is_empty() {
                        inner.records.remove(&id);
                    }
                }
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Logical messages whose parts were all evicted go too.
        while inner.logical.len() > self.capacity {
            inner.logical.pop_front();
            inner.first_logical += 1;
        }
    }

    /// Applies `f` to every record with this id (several for submit_multi); returns how many.
    pub fn update<F: FnMut(&mut MessageRecord)>(&self, message_id: &str, mut f: F) -> usize {
        let mut inner = self.lock();
        match inner.records.get_mut(message_id) {
            Some(list) => {
                list.iter_mut().for_each(&mut f);
                list.len()
            }
            None => 0,
        }
    }

    /// Copies of the records with this id.
    pub fn get(&self, message_id: &str) -> Vec<MessageRecord> {
        self.lock()
            .records
            .get(message_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Ids of records of `account` that match the filter (for cancel_sm by address).
    pub fn find_ids(&self, mut filter: impl FnMut(&MessageRecord) -> bool) -> Vec<String> {
        let inner = self.lock();
        let mut ids: Vec<String> = inner
            .records
            .values()
            .flatten()
            .filter(|r| filter(r))
            .map(|r| r.message_id.clone())
            .collect();
        ids.dedup();
        ids
    }

    /// Logical messages, newest first, optionally only those to `to`.
    pub fn list(&self, to: Option<&str>, limit: usize) -> Vec<MessageView> {
        let inner = self.lock();
        let mut out = Vec::new();
        for l in inner.logical.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let parts: Vec<&MessageRecord> = l
                .parts
                .iter()
                .filter(|id| !id.is_empty())
                .filter_map(|id| {
                    inner
                        .records
                        .get(id)
                        .and_then(|list| list.iter().find(|r| r.logical == l.seq))
                })
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
                account: first.account.clone(),
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
            });
        }
        out
    }

    /// Current counters.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.lock().order.len(),
            evicted: self.evicted.load(Ordering::Relaxed),
        }
    }
}

fn push_logical(inner: &mut Inner, total: u8) -> u64 {
    let seq = inner.first_logical + inner.logical.len() as u64;
    inner.logical.push_back(Logical {
        seq,
        total: total.max(1),
        parts: vec![String::new(); usize::from(total.max(1))],
    });
    seq
}

fn logical_mut(inner: &mut Inner, seq: u64) -> Option<&mut Logical> {
    let idx = seq.checked_sub(inner.first_logical)?;
    inner.logical.get_mut(usize::try_from(idx).ok()?)
}

/// Address comparison ignores a leading `+`, so `+447700900001` and `447700900001` match.
pub fn normalize(addr: &str) -> &str {
    addr.strip_prefix('+').unwrap_or(addr)
}

impl MessageRecord {
    /// A new record in state ENROUTE.
    pub fn new(message_id: String, account: String, sub: Submission) -> Self {
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
            logical: 0,
        }
    }
}

/// Generates unique message ids in the configured format.
#[derive(Debug)]
pub struct IdGenerator {
    format: MessageIdFormat,
    next: AtomicU64,
}

impl IdGenerator {
    /// Ids start from the current time in milliseconds, so a restarted carrier does not hand
    /// out ids an ESME may still hold receipts for.
    pub fn new(format: MessageIdFormat) -> Self {
        let start = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(1) << 8;
        Self {
            format,
            next: AtomicU64::new(start),
        }
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
