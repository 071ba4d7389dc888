//! The writer thread of one carrier's state: takes the queued [`Op`]s in batches and commits
//! each batch as one transaction, then tells the sessions waiting for it.
//!
//! A batch is what gathered within `interval` of the first write waiting (at most
//! `max_batch`): most of a commit's cost is writing the pages it touched to the WAL, whatever
//! the number of rows on them, so a first run that committed as soon as anything waited spent
//! about 30 µs of CPU per message in commits of 45 writes (BENCHMARKS.md, "Durable state").
//! Within a batch a receipt made and acknowledged is never written at all.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::db::{pack_concat, state_code};
use super::{FLAG_DUPLICATED, Op, ReceiptRow, Shared};

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    pub max_batch: usize,
    pub interval: Duration,
    /// Message records kept (the store's capacity).
    pub keep: usize,
}

/// Old records are trimmed at most this often (a delete touches the oldest pages).
const TRIM_EVERY: Duration = Duration::from_secs(1);

pub(super) fn run(mut conn: Connection, path: &Path, shared: &Shared, how: &Batching) {
    let max_batch = how.max_batch;
    let mut done = 0u64;
    let mut batch: Vec<Op> = Vec::with_capacity(max_batch.min(1 << 16));
    let mut last_key = 0u64;
    let mut trimmed = Instant::now();
    let keep = u64::try_from(how.keep).unwrap_or(u64::MAX);
    loop {
        let last = {
            let mut q = shared.lock();
            while q.ops.is_empty() && !q.closed {
                q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            // Let more writes join this commit.
            let deadline = Instant::now() + how.interval;
            while q.ops.len() < max_batch && !q.closed {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                q = shared
                    .wake
                    .wait_timeout(q, deadline - now)
                    .map_or_else(|e| e.into_inner().0, |r| r.0);
            }
            let n = q.ops.len().min(max_batch);
            batch.extend(q.ops.drain(..n));
            q.closed && q.ops.is_empty()
        };
        let n = batch.len() as u64;
        if n > 0 && !shared.failed.load(Ordering::Relaxed) {
            let trim = trimmed.elapsed() >= TRIM_EVERY;
            if trim {
                trimmed = Instant::now();
            }
            match write(
                &mut conn,
                &batch,
                shared,
                trim.then_some(keep),
                &mut last_key,
            ) {
                Ok(()) => {
                    shared.commits.fetch_add(1, Ordering::Relaxed);
                    shared.writes.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "cannot write the state: it no longer follows the carrier, and new submits are refused (ESME_RSYSERR)");
                    shared.failed.store(true, Ordering::Relaxed);
                }
            }
        }
        batch.clear();
        done += n;
        // After a failure the waiting sessions are let go: their messages are not durable, as
        // the error said.
        let reached = if shared.failed.load(Ordering::Relaxed) {
            u64::MAX
        } else {
            done
        };
        shared.committed.send_replace(reached);
        if last {
            break;
        }
    }
    if !shared.failed.load(Ordering::Relaxed) {
        // A clean stop leaves one file behind, not a WAL to replay.
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::warn!(file = %path.display(), error = %e, "state checkpoint at stop failed; the next start replays the WAL");
        }
    }
}

fn write(
    conn: &mut Connection,
    batch: &[Op],
    shared: &Shared,
    trim: Option<u64>,
    last_key: &mut u64,
) -> rusqlite::Result<()> {
    // Receipts made and owed no more within this batch touch no table.
    let mut made = HashSet::new();
    let mut gone = HashSet::new();
    for op in batch {
        match op {
            Op::Receipt(r) => {
                made.insert(r.rid);
            }
            Op::Final { receipts, .. } => made.extend(receipts.iter().map(|r| r.rid)),
            Op::ReceiptDone(rid) => {
                gone.insert(*rid);
            }
            Op::Message(_) | Op::Replace { .. } => {}
        }
    }
    let tx = conn.transaction()?;
    {
        let mut insert_message = tx.prepare_cached(
            "INSERT OR REPLACE INTO messages (key, message_id, account, source, destination,
                data_coding, registered_delivery, payload, concat, state, error_code,
                submitted_ms, done_ms, due_ms, handset_ms, outcome, fate_error, flags,
                reorder_ms, promised)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                ?17, ?18, ?19, ?20)",
        )?;
        let mut finish = tx.prepare_cached(
            "UPDATE messages SET state = ?2, error_code = ?3, done_ms = ?4 WHERE key = ?1",
        )?;
        let mut replace = tx.prepare_cached(
            "UPDATE messages SET payload = ?2, registered_delivery = ?3 WHERE key = ?1",
        )?;
        let mut insert_receipt = tx.prepare_cached(
            "INSERT OR REPLACE INTO receipts (rid, message_id, account, original_source,
                original_destination, state, error_code, intermediate, submitted_ms, done_ms,
                text, mo_text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        let mut delete_receipt = tx.prepare_cached("DELETE FROM receipts WHERE rid = ?1")?;
        let mut put_receipt = |r: &ReceiptRow| -> rusqlite::Result<()> {
            if gone.contains(&r.rid) {
                return Ok(());
            }
            insert_receipt.execute(params![
                r.rid as i64,
                r.message_id,
                r.account,
                r.original_source,
                r.original_destination,
                state_code(r.state),
                r.error_code,
                r.intermediate,
                r.submitted_ms,
                r.done_ms,
                r.text,
                r.mo_text,
            ])?;
            Ok(())
        };
        for op in batch {
            match op {
                Op::Message(m) => {
                    insert_message.execute(params![
                        m.key as i64,
                        m.message_id,
                        m.account,
                        m.source,
                        m.destination,
                        m.data_coding,
                        m.registered_delivery,
                        m.payload,
                        m.concat.map(pack_concat),
                        state_code(m.state),
                        m.error_code,
                        m.submitted_ms,
                        m.done_ms,
                        m.due_ms,
                        m.handset_ms,
                        state_code(m.outcome),
                        m.fate_error,
                        m.flags & (super::FLAG_LOST | FLAG_DUPLICATED),
                        m.reorder_ms.map(|v| v as i64),
                        m.promised,
                    ])?;
                    *last_key = (*last_key).max(m.key);
                }
                Op::Final {
                    key,
                    state,
                    error_code,
                    done_ms,
                    receipts,
                } => {
                    finish.execute(params![
                        *key as i64,
                        state_code(*state),
                        error_code,
                        done_ms
                    ])?;
                    for r in receipts {
                        put_receipt(r)?;
                    }
                }
                Op::Replace {
                    key,
                    payload,
                    registered_delivery,
                } => {
                    replace.execute(params![*key as i64, payload, registered_delivery])?;
                }
                Op::Receipt(r) => put_receipt(r)?,
                Op::ReceiptDone(rid) => {
                    if !made.contains(rid) {
                        delete_receipt.execute([*rid as i64])?;
                    }
                }
            }
        }
        // The store keeps the newest `keep` records; so does the file.
        if let Some(keep) = trim
            && *last_key > keep
        {
            tx.prepare_cached("DELETE FROM messages WHERE key <= ?1")?
                .execute([(*last_key - keep) as i64])?;
        }
        let next_id = shared.ids.load(Ordering::Relaxed) as i64;
        let now = chrono::Utc::now().timestamp_millis();
        tx.prepare_cached(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('next_id', ?1), ('alive_ms', ?2)",
        )?
        .execute(params![next_id, now])?;
    }
    tx.commit()
}
