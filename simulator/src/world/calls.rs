//! The calls of a run: each call's record as the voice API shows it, kept newest first and
//! bounded. [`super::voice`] places and plays calls; the control plane reads them here.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most calls remembered for `GET /v1/calls`; older ones are forgotten first.
const CALLS_KEPT: usize = 100_000;
/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Accepted, not yet ringing.
    Queued,
    /// Ringing at the handset.
    Ringing,
    /// Answered; the text is being read.
    Answered,
    /// Finished after being answered.
    Completed,
    /// The line was busy.
    Busy,
    /// Rang out unanswered.
    NoAnswer,
    /// Could not be connected.
    Failed,
}

impl CallStatus {
    /// The status word used in events and the API.
    pub fn word(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Ringing => "ringing",
            CallStatus::Answered => "answered",
            CallStatus::Completed => "completed",
            CallStatus::Busy => "busy",
            CallStatus::NoAnswer => "no_answer",
            CallStatus::Failed => "failed",
        }
    }
}

/// A call as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// Call id.
    pub call_id: String,
    /// Carrier that placed it.
    pub carrier: String,
    /// Caller id.
    pub from: String,
    /// Called number.
    pub to: String,
    /// Current status.
    pub status: CallStatus,
    /// Why a call failed, when it did.
    pub reason: Option<String>,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it was answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Talk time in seconds (answered calls), in configured time (not divided by the time
    /// scale), which is also what is billed.
    pub duration_secs: u64,
    /// Price: started minutes times the range's price per minute.
    pub price: f64,
    /// Currency of the price.
    pub currency: String,
}

/// Every call of the run, newest kept, and the calls in progress.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    calls: Mutex<(HashMap<String, CallRecord>, VecDeque<String>)>,
    /// Calls in progress (see [`super::voice::MAX_ACTIVE_CALLS`]).
    pub(crate) active: std::sync::atomic::AtomicUsize,
    /// Their tasks, so shutdown can wait for them to end.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    /// Calls refused because [`super::voice::MAX_ACTIVE_CALLS`] were in progress.
    pub(crate) refused: std::sync::atomic::AtomicU64,
}

impl Calls {
    pub(crate) fn insert(&self, record: CallRecord) {
        let mut guard = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        order.push_back(record.call_id.clone());
        map.insert(record.call_id.clone(), record);
        while order.len() > CALLS_KEPT {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    pub(crate) fn update(&self, id: &str, f: impl FnOnce(&mut CallRecord)) -> Option<CallRecord> {
        let mut guard = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let r = guard.0.get_mut(id)?;
        f(r);
        Some(r.clone())
    }

    /// A call by id.
    pub(crate) fn get(&self, id: &str) -> Option<CallRecord> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(id)
            .cloned()
    }

    /// Calls to `to` (all when `None`), newest first.
    pub(crate) fn list(&self, to: Option<&str>, limit: usize) -> Vec<CallRecord> {
        let guard = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &*guard;
        order
            .iter()
            .rev()
            .filter_map(|id| map.get(id))
            .filter(|r| to.is_none_or(|t| r.to == smpp::number::normalize(t)))
            .take(limit)
            .cloned()
            .collect()
    }
}
