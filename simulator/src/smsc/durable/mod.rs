//! Durable state (`--state-dir`): what a carrier owes, kept across restarts.
//!
//! With a state directory each carrier writes, to a SQLite file of its own ([`db`]), its message
//! records (with the fate decided for each and when it falls due), its final states, and every
//! receipt until an ESME acknowledges it. A restart with the same directory restores them: the
//! store answers query_sm for the old ids, pending messages reach their final state at their
//! time, stored receipts go to the next bind, and the message id counter goes on from where it
//! was, so ids never repeat.
//!
//! Writes are off the hot path: sessions and timers push [`Op`]s onto one bounded queue per
//! carrier, and a writer thread ([`writer`]) commits them in batches (what gathered within
//! `state.commit_interval` of the first waiting write, at most `state.max_batch`); a
//! checkpointer thread ([`checkpoints`]) copies the WAL into the file. **A submit_sm is
//! answered only once the batch holding its message is committed** (the session holds the
//! response aside until [`Durable::is_committed`]), so an ESME never holds an id the state
//! does not: a SIGKILL loses no accepted message. What it can lose is bounded by one commit: a final state or an
//! acknowledgement made in the last batch before the kill, which the restart redoes (the
//! receipt is sent again: at least once, as from a real SMSC after a failover). A full queue
//! (`state.max_pending`) answers submits ESME_RMSGQFUL, counted, never grows.
//!
//! This layer is part of [`crate::smsc`]; it uses [`crate::config`] and the store's types.

pub(crate) mod db;
mod writer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use serde::{Deserialize, Serialize};
use smpp::receipt::ReceiptState;
use tokio::sync::watch;

use super::store::ConcatRef;
use crate::config::StateConfig;
pub(crate) use db::Restored;

/// Why the state could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file is corrupt, another program's, another carrier's or of another schema.
    #[error(
        "state file {path}: {message}; move it away, or start with --reset-state to discard it"
    )]
    Refused {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The directory or file cannot be used.
    #[error("state {path}: {message}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl StateError {
    pub(crate) fn io(path: &Path, what: &str, e: &std::io::Error) -> Self {
        StateError::Io {
            path: path.to_path_buf(),
            message: format!("{what}: {e}"),
        }
    }
}

/// One accepted message as the state keeps it: the record and its schedule.
#[derive(Debug, Clone)]
pub(crate) struct MessageRow {
    pub key: u64,
    pub message_id: String,
    pub account: String,
    pub source: String,
    pub destination: String,
    pub data_coding: u8,
    pub registered_delivery: u8,
    pub payload: Vec<u8>,
    pub concat: Option<ConcatRef>,
    pub state: ReceiptState,
    pub error_code: u16,
    pub submitted_ms: i64,
    pub done_ms: Option<i64>,
    /// When its final state falls due (wall clock, ms since the epoch).
    pub due_ms: i64,
    /// When it reaches its handset, if it does.
    pub handset_ms: Option<i64>,
    /// The fate decided at acceptance.
    pub outcome: ReceiptState,
    pub fate_error: u16,
    /// [`FLAG_LOST`] | [`FLAG_DUPLICATED`].
    pub flags: u8,
    pub reorder_ms: Option<u64>,
    pub promised: u8,
}

/// The receipt is withheld by simulated loss.
pub(crate) const FLAG_LOST: u8 = 1;
/// The receipt is sent twice.
pub(crate) const FLAG_DUPLICATED: u8 = 2;

/// One receipt (or MO message) not yet acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct ReceiptRow {
    pub rid: u64,
    pub message_id: String,
    pub account: String,
    pub original_source: String,
    pub original_destination: String,
    pub state: ReceiptState,
    pub error_code: u16,
    pub intermediate: bool,
    pub submitted_ms: i64,
    pub done_ms: i64,
    pub text: String,
    pub mo_text: Option<String>,
}

/// A write for the writer thread.
#[derive(Debug)]
pub(crate) enum Op {
    /// A message was accepted.
    Message(Box<MessageRow>),
    /// A message reached its final state (or was cancelled); its receipts, made with it, are
    /// written in the same transaction, so a kill between the two cannot lose them.
    Final {
        key: u64,
        state: ReceiptState,
        error_code: u16,
        done_ms: i64,
        receipts: Vec<ReceiptRow>,
    },
    /// replace_sm changed a pending message.
    Replace {
        key: u64,
        payload: Vec<u8>,
        registered_delivery: u8,
    },
    /// A receipt made outside a final state (intermediate, MO).
    Receipt(Box<ReceiptRow>),
    /// A receipt was acknowledged, expired or overflowed: it is owed no more.
    ReceiptDone(u64),
}

/// What the state reports in `/v1/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateStats {
    /// The state file.
    pub file: String,
    /// Message records restored at start.
    pub restored_messages: u64,
    /// Of those, messages still pending, rescheduled at their time.
    pub restored_pending: u64,
    /// Receipts restored at start (queued for the next bind).
    pub restored_receipts: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Writes committed.
    pub writes: u64,
    /// Writes waiting for the writer now.
    pub pending: u64,
    /// Submits refused (ESME_RMSGQFUL) because `state.max_pending` writes were waiting, or
    /// (ESME_RSYSERR) because the state could not be written.
    pub refusals: u64,
    /// True once a write failed: the state no longer follows the carrier (logged).
    pub failed: bool,
}

#[derive(Debug, Default)]
struct Queue {
    ops: VecDeque<Op>,
    /// Ops ever pushed: the ticket of the newest.
    pushed: u64,
    closed: bool,
}

/// What the writer thread shares with the carrier.
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    committed: watch::Sender<u64>,
    failed: AtomicBool,
    commits: AtomicU64,
    writes: AtomicU64,
    /// The carrier's message id counter, written with each commit.
    ids: Arc<AtomicU64>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One carrier's durable state: the queue of writes and the writer thread behind it.
#[derive(Debug)]
pub(crate) struct Durable {
    path: PathBuf,
    /// Held while the carrier runs: a second carrier-sim on the same state is refused.
    _lock: std::fs::File,
    checkpointer: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
    shared: Arc<Shared>,
    committed: watch::Receiver<u64>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    max_pending: usize,
    next_key: AtomicU64,
    next_rid: AtomicU64,
    refusals: AtomicU64,
    restored: Mutex<(u64, u64, u64)>,
}

impl Durable {
    /// Opens `carrier`'s state in `cfg.dir` (discarding it first with `cfg.reset`), keeping at
    /// most `keep` message records; returns the handle and what to restore. `ids` is the
    /// carrier's id counter, which the writer saves with every commit.
    pub(crate) fn open(
        cfg: &StateConfig,
        dir: &Path,
        carrier: &str,
        keep: usize,
        ids: Arc<AtomicU64>,
    ) -> Result<(Arc<Durable>, Restored), StateError> {
        std::fs::create_dir_all(dir).map_err(|e| StateError::io(dir, "cannot create", &e))?;
        let path = db::path_for(dir, carrier);
        let lock_path = path.with_extension("lock");
        let lock = std::fs::File::create(&lock_path)
            .map_err(|e| StateError::io(&lock_path, "cannot create", &e))?;
        if let Err(e) = lock.try_lock() {
            return Err(StateError::Io {
                path: path.clone(),
                message: format!("in use by another carrier-sim ({e})"),
            });
        }
        if cfg.reset && db::remove(&path)? {
            tracing::warn!(file = %path.display(), "--reset-state: discarded the state found");
        }
        let (conn, restored) = db::open(&path, carrier, keep)?;
        let (tx, rx) = watch::channel(0);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            committed: tx,
            failed: AtomicBool::new(false),
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            ids,
        });
        let thread = {
            let shared = Arc::clone(&shared);
            let file = path.clone();
            let batching = writer::Batching {
                max_batch: cfg.max_batch,
                interval: cfg.commit_interval,
                keep,
            };
            std::thread::Builder::new()
                .name(format!("state-{carrier}"))
                .spawn(move || writer::run(conn, &file, &shared, &batching))
                .map_err(|e| StateError::io(&path, "cannot start its writer", &e))?
        };
        let checkpointer = checkpoints(&path, carrier)?;
        let durable = Arc::new(Durable {
            _lock: lock,
            checkpointer: Mutex::new(Some(checkpointer)),
            path,
            shared,
            committed: rx,
            thread: Mutex::new(Some(thread)),
            max_pending: cfg.max_pending,
            next_key: AtomicU64::new(restored.next_key),
            next_rid: AtomicU64::new(restored.next_rid),
            refusals: AtomicU64::new(0),
            restored: Mutex::new((0, 0, 0)),
        });
        Ok((durable, restored))
    }

    /// The state file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh record key.
    pub(crate) fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh receipt id.
    pub(crate) fn next_rid(&self) -> u64 {
        self.next_rid.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether a new message may be accepted: refused (with the status) while the writer is
    /// `max_pending` writes behind, or after it failed.
    pub(crate) fn refusal(&self) -> Option<rusmpp::CommandStatus> {
        let status = if self.shared.failed.load(Ordering::Relaxed) {
            rusmpp::CommandStatus::EsmeRsyserr
        } else if self.shared.lock().ops.len() >= self.max_pending {
            rusmpp::CommandStatus::EsmeRmsgqful
        } else {
            return None;
        };
        self.refusals.fetch_add(1, Ordering::Relaxed);
        Some(status)
    }

    /// Queues a write; returns its ticket (see [`Durable::committed`]).
    pub(crate) fn push(&self, op: Op) -> u64 {
        let mut q = self.shared.lock();
        q.ops.push_back(op);
        q.pushed += 1;
        let ticket = q.pushed;
        if q.ops.len() == 1 {
            drop(q);
            self.shared.wake.notify_one();
        }
        ticket
    }

    /// The ticket of the newest write queued so far.
    pub(crate) fn pushed(&self) -> u64 {
        self.shared.lock().pushed
    }

    /// True once every write up to `ticket` is committed (or the writer failed).
    pub(crate) fn is_committed(&self, ticket: u64) -> bool {
        *self.committed.borrow() >= ticket
    }

    /// Completes once every write up to `ticket` is committed (at once if the writer failed:
    /// that is logged, and new submits are refused).
    pub(crate) async fn committed(&self, ticket: u64) {
        if *self.committed.borrow() >= ticket {
            return;
        }
        let mut rx = self.committed.clone();
        let _ = rx.wait_for(|c| *c >= ticket).await;
    }

    /// Counts what was restored at start.
    pub(crate) fn set_restored(&self, messages: u64, pending: u64, receipts: u64) {
        *self.restored.lock().unwrap_or_else(|e| e.into_inner()) = (messages, pending, receipts);
    }

    /// Figures for `/v1/stats`.
    pub(crate) fn stats(&self) -> StateStats {
        let (restored_messages, restored_pending, restored_receipts) =
            *self.restored.lock().unwrap_or_else(|e| e.into_inner());
        StateStats {
            file: self.path.display().to_string(),
            restored_messages,
            restored_pending,
            restored_receipts,
            commits: self.shared.commits.load(Ordering::Relaxed),
            writes: self.shared.writes.load(Ordering::Relaxed),
            pending: self.shared.lock().ops.len() as u64,
            refusals: self.refusals.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
        }
    }

    /// Commits every write queued and stops the writer (at shutdown, once nothing writes any
    /// more). Blocks until the last commit: call from a blocking context.
    pub(crate) fn close(&self) {
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, thread)) = checkpointer {
            stop.store(true, Ordering::Relaxed);
            thread.thread().unpark();
            let _ = thread.join();
        }
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Durable {
    /// A carrier dropped without a shutdown (a start that failed after the state was opened)
    /// still commits what it queued and stops its threads.
    fn drop(&mut self) {
        self.close();
    }
}

/// How often the checkpointer copies the WAL into the state file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// WAL size past which the checkpointer copies it into the file: hot pages (the newest
/// records, the receipts) are rewritten many times between checkpoints and copied once, so
/// checkpointing every half second whatever the size cost more CPU than the writer saved.
const WAL_CHECKPOINT_BYTES: u64 = 32 << 20;
/// WAL size past which the checkpointer resets it.
const WAL_RESET_BYTES: u64 = 96 << 20;

/// Starts the checkpointer of the state file at `path`: every half second it looks at the WAL
/// and past [`WAL_CHECKPOINT_BYTES`], on a connection of its own, copies it into the file
/// (`PRAGMA wal_checkpoint(PASSIVE)`, which never waits for the writer), so commits never wait
/// for a checkpoint's fsync. Under a
/// steady stream of commits a passive checkpoint never catches up with the last frame, and
/// SQLite only starts the WAL over once one has: so past [`WAL_RESET_BYTES`] it truncates the
/// WAL (`TRUNCATE`, which holds the writer for the few frames left to copy and an fsync).
fn checkpoints(
    path: &Path,
    carrier: &str,
) -> Result<(Arc<AtomicBool>, std::thread::JoinHandle<()>), StateError> {
    let conn = rusqlite::Connection::open(path).map_err(|e| StateError::Io {
        path: path.to_path_buf(),
        message: format!("cannot open for checkpoints: {e}"),
    })?;
    let _ = conn.busy_timeout(std::time::Duration::from_secs(1));
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stop, file) = (Arc::clone(&stop), path.to_path_buf());
        std::thread::Builder::new()
            .name(format!("checkpoint-{carrier}"))
            .spawn(move || {
                let failed = crate::ratelog::Repeated::default();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(CHECKPOINT_EVERY);
                    let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
                    let sql = if size > WAL_RESET_BYTES {
                        "PRAGMA wal_checkpoint(TRUNCATE)"
                    } else if size > WAL_CHECKPOINT_BYTES {
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    } else {
                        continue;
                    };
                    if let Err(e) = conn.query_row(sql, [], |_| Ok(())) {
                        failed.hit(|count| {
                            tracing::warn!(file = %file.display(), error = %e, count, "state checkpoint failed; the WAL grows until one succeeds");
                        });
                    }
                }
            })
            .map_err(|e| StateError::io(path, "cannot start its checkpointer", &e))?
    };
    Ok((stop, thread))
}

/// Milliseconds since the epoch of a wall-clock time.
pub(crate) fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// The wall-clock time of `ms` (the epoch if out of range).
pub(crate) fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
