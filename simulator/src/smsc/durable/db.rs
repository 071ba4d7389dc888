//! The state file of one carrier: opening it (and refusing one that is corrupt, foreign or of
//! another schema), its tables, and reading back what a restart restores.
//!
//! One SQLite database per carrier, `DIR/<carrier>.sqlite`, in WAL mode with
//! `synchronous=NORMAL`: a committed transaction has reached the operating system with
//! `write()` alone, so it survives the process being killed (SIGKILL, a panic, the OOM killer)
//! without an fsync per batch; only a crash of the machine itself may lose the last
//! transactions. A lock file beside it keeps a second carrier-sim off the same state.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use smpp::receipt::ReceiptState;

use super::{MessageRow, ReceiptRow, StateError};
use crate::smsc::store::ConcatRef;

/// `PRAGMA application_id` of carrier-sim state files ("CSIM"): a SQLite file without it is
/// someone else's.
const APPLICATION_ID: i64 = 0x4353_494D;
/// `PRAGMA user_version`: the layout of the tables below. A file of another version is
/// refused rather than misread.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE meta (k TEXT PRIMARY KEY, v);
CREATE TABLE messages (
    key INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    account TEXT NOT NULL,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    data_coding INTEGER NOT NULL,
    registered_delivery INTEGER NOT NULL,
    payload BLOB NOT NULL,
    concat INTEGER,
    state INTEGER NOT NULL,
    error_code INTEGER NOT NULL,
    submitted_ms INTEGER NOT NULL,
    done_ms INTEGER,
    due_ms INTEGER NOT NULL,
    handset_ms INTEGER,
    outcome INTEGER NOT NULL,
    fate_error INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    reorder_ms INTEGER,
    promised INTEGER NOT NULL
);
CREATE TABLE receipts (
    rid INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    account TEXT NOT NULL,
    original_source TEXT NOT NULL,
    original_destination TEXT NOT NULL,
    state INTEGER NOT NULL,
    error_code INTEGER NOT NULL,
    intermediate INTEGER NOT NULL,
    submitted_ms INTEGER NOT NULL,
    done_ms INTEGER NOT NULL,
    text TEXT NOT NULL,
    mo_text TEXT
);
";

/// What a state file held when it was opened.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    /// The newest message records (at most the store's capacity), oldest first.
    pub messages: Vec<MessageRow>,
    /// Every receipt not yet acknowledged, oldest first.
    pub receipts: Vec<ReceiptRow>,
    /// The message id counter: ids below it were given out.
    pub next_id: u64,
    /// Wall-clock milliseconds of the last commit: handset deliveries due after it had not
    /// happened yet.
    pub alive_ms: i64,
    /// Next free record key and receipt id.
    pub next_key: u64,
    pub next_rid: u64,
}

/// The state file of `carrier` in `dir`.
pub(crate) fn path_for(dir: &Path, carrier: &str) -> PathBuf {
    // Carrier names are config keys; anything but a plain name is spelled out in hex so the
    // file name is safe on every filesystem.
    let plain = !carrier.is_empty()
        && carrier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let stem = if plain {
        carrier.to_string()
    } else {
        let hex: String = carrier.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x-{hex}")
    };
    dir.join(format!("{stem}.sqlite"))
}

/// Removes a state file and its WAL companions (`--reset-state`); true if there was one.
pub(crate) fn remove(path: &Path) -> Result<bool, StateError> {
    let mut found = false;
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => found = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StateError::io(&p, "cannot remove", &e)),
        }
    }
    Ok(found)
}

/// Opens (or creates) the state file of `carrier` and reads what it restores: the newest
/// `keep` message records and every stored receipt.
pub(crate) fn open(
    path: &Path,
    carrier: &str,
    keep: usize,
) -> Result<(Connection, Restored), StateError> {
    let refuse = |message: String| StateError::Refused {
        path: path.to_path_buf(),
        message,
    };
    let exists = match std::fs::metadata(path) {
        Ok(m) => m.len() > 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(StateError::io(path, "cannot read", &e)),
    };
    if exists {
        // SQLite would take an empty or short foreign file for a new database; read the
        // header first so such a file is refused, not overwritten.
        let mut head = [0u8; 16];
        let read = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
        if read.is_err() || &head != b"SQLite format 3\0" {
            return Err(refuse(
                "not a carrier-sim state file (not a SQLite database)".into(),
            ));
        }
    }
    let conn = Connection::open(path).map_err(|e| refuse(format!("cannot open: {e}")))?;
    let sql_err = |what: &str, e: rusqlite::Error| refuse(format!("{what}: {e}"));
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| sql_err("cannot read", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(refuse(format!(
            "cannot use WAL mode (journal_mode is {mode})"
        )));
    }
    // The writer never checkpoints: a checkpoint copies the WAL into the file and fsyncs,
    // which stalled commits (and so submit responses) for up to 100 ms; the checkpointer
    // thread does it on a connection of its own (see `super::checkpoints`). A 32 MB page cache
    // keeps the recent records' pages in memory.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; \
         PRAGMA cache_size = -32768;",
    )
    .map_err(|e| sql_err("cannot configure", e))?;
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| sql_err("cannot read", e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_err("cannot read", e))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| sql_err("cannot read", e))?;
    if app == 0 && version == 0 && tables == 0 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA application_id={APPLICATION_ID}; \
             PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| sql_err("cannot create", e))?;
        conn.execute("INSERT INTO meta (k, v) VALUES ('carrier', ?1)", [carrier])
            .map_err(|e| sql_err("cannot create", e))?;
        return Ok((
            conn,
            Restored {
                next_key: 1,
                next_rid: 1,
                ..Restored::default()
            },
        ));
    }
    if app != APPLICATION_ID {
        return Err(refuse(format!(
            "not a carrier-sim state file (a SQLite database of another program: application_id {app:#x})"
        )));
    }
    if version != SCHEMA_VERSION {
        return Err(refuse(format!(
            "state schema version {version}; this carrier-sim reads version {SCHEMA_VERSION}"
        )));
    }
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| sql_err("corrupt", e))?;
    if check != "ok" {
        return Err(refuse(format!("corrupt: {check}")));
    }
    let meta = |k: &str| -> Result<Option<rusqlite::types::Value>, StateError> {
        conn.query_row("SELECT v FROM meta WHERE k = ?1", [k], |r| r.get(0))
            .optional()
            .map_err(|e| sql_err("corrupt", e))
    };
    use rusqlite::types::Value;
    match meta("carrier")? {
        Some(Value::Text(name)) if name == carrier => {}
        Some(Value::Text(name)) => {
            return Err(refuse(format!(
                "holds the state of carrier `{name}`, not `{carrier}`"
            )));
        }
        _ => return Err(refuse("corrupt: no carrier name in table meta".into())),
    }
    let int = |v: Option<Value>| match v {
        Some(Value::Integer(n)) => n,
        _ => 0,
    };
    let next_id = u64::try_from(int(meta("next_id")?)).unwrap_or(0);
    let alive_ms = int(meta("alive_ms")?);
    let max_key: i64 = conn
        .query_row("SELECT coalesce(max(key), 0) FROM messages", [], |r| {
            r.get(0)
        })
        .map_err(|e| sql_err("corrupt", e))?;
    let max_rid: i64 = conn
        .query_row("SELECT coalesce(max(rid), 0) FROM receipts", [], |r| {
            r.get(0)
        })
        .map_err(|e| sql_err("corrupt", e))?;
    let messages = read_messages(&conn, max_key - i64::try_from(keep).unwrap_or(i64::MAX))
        .map_err(|e| refuse(format!("corrupt: {e}")))?;
    let receipts = read_receipts(&conn).map_err(|e| refuse(format!("corrupt: {e}")))?;
    Ok((
        conn,
        Restored {
            messages,
            receipts,
            next_id,
            alive_ms,
            next_key: u64::try_from(max_key).unwrap_or(0) + 1,
            next_rid: u64::try_from(max_rid).unwrap_or(0) + 1,
        },
    ))
}

/// A value read back that no carrier-sim writes.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("table {table}, row {key}: {field} {value} is out of range")]
    Range {
        table: &'static str,
        key: i64,
        field: &'static str,
        value: i64,
    },
}

fn state(
    table: &'static str,
    key: i64,
    field: &'static str,
    v: i64,
) -> Result<ReceiptState, ReadError> {
    usize::try_from(v)
        .ok()
        .and_then(|i| ReceiptState::ALL.get(i).copied())
        .ok_or(ReadError::Range {
            table,
            key,
            field,
            value: v,
        })
}

fn small<T: TryFrom<i64>>(
    table: &'static str,
    key: i64,
    field: &'static str,
    v: i64,
) -> Result<T, ReadError> {
    T::try_from(v).map_err(|_| ReadError::Range {
        table,
        key,
        field,
        value: v,
    })
}

fn read_messages(conn: &Connection, after: i64) -> Result<Vec<MessageRow>, ReadError> {
    let mut stmt = conn.prepare(
        "SELECT key, message_id, account, source, destination, data_coding, registered_delivery,
                payload, concat, state, error_code, submitted_ms, done_ms, due_ms, handset_ms,
                outcome, fate_error, flags, reorder_ms, promised
         FROM messages WHERE key > ?1 ORDER BY key",
    )?;
    let mut rows = stmt.query([after])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        const T: &str = "messages";
        let key: i64 = r.get(0)?;
        let concat: Option<i64> = r.get(8)?;
        out.push(MessageRow {
            key: small(T, key, "key", key)?,
            message_id: r.get(1)?,
            account: r.get(2)?,
            source: r.get(3)?,
            destination: r.get(4)?,
            data_coding: small(T, key, "data_coding", r.get(5)?)?,
            registered_delivery: small(T, key, "registered_delivery", r.get(6)?)?,
            payload: r.get(7)?,
            concat: concat.map(unpack_concat),
            state: state(T, key, "state", r.get(9)?)?,
            error_code: small(T, key, "error_code", r.get(10)?)?,
            submitted_ms: r.get(11)?,
            done_ms: r.get(12)?,
            due_ms: r.get(13)?,
            handset_ms: r.get(14)?,
            outcome: state(T, key, "outcome", r.get(15)?)?,
            fate_error: small(T, key, "fate_error", r.get(16)?)?,
            flags: small(T, key, "flags", r.get(17)?)?,
            reorder_ms: match r.get::<_, Option<i64>>(18)? {
                Some(v) => Some(small(T, key, "reorder_ms", v)?),
                None => None,
            },
            promised: small(T, key, "promised", r.get(19)?)?,
        });
    }
    Ok(out)
}

fn read_receipts(conn: &Connection) -> Result<Vec<ReceiptRow>, ReadError> {
    let mut stmt = conn.prepare(
        "SELECT rid, message_id, account, original_source, original_destination, state,
                error_code, intermediate, submitted_ms, done_ms, text, mo_text
         FROM receipts ORDER BY rid",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        const T: &str = "receipts";
        let rid: i64 = r.get(0)?;
        out.push(ReceiptRow {
            rid: small(T, rid, "rid", rid)?,
            message_id: r.get(1)?,
            account: r.get(2)?,
            original_source: r.get(3)?,
            original_destination: r.get(4)?,
            state: state(T, rid, "state", r.get(5)?)?,
            error_code: small(T, rid, "error_code", r.get(6)?)?,
            intermediate: r.get::<_, i64>(7)? != 0,
            submitted_ms: r.get(8)?,
            done_ms: r.get(9)?,
            text: r.get(10)?,
            mo_text: r.get(11)?,
        });
    }
    Ok(out)
}

/// The column value of a receipt state.
pub(super) fn state_code(s: ReceiptState) -> i64 {
    ReceiptState::ALL.iter().position(|x| *x == s).unwrap_or(0) as i64
}

pub(super) fn pack_concat(c: ConcatRef) -> i64 {
    (i64::from(c.reference) << 16) | (i64::from(c.total) << 8) | i64::from(c.seq)
}

fn unpack_concat(v: i64) -> ConcatRef {
    ConcatRef {
        reference: ((v >> 16) & 0xFFFF) as u16,
        total: ((v >> 8) & 0xFF) as u8,
        seq: (v & 0xFF) as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("carrier-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn foreign_and_mismatched_files_are_refused_by_name() {
        let d = dir("foreign");
        let text = d.join("default.sqlite");
        std::fs::write(&text, b"hello, not a database at all").unwrap();
        let e = open(&text, "default", 10).unwrap_err().to_string();
        assert!(
            e.contains("default.sqlite") && e.contains("not a SQLite database"),
            "{e}"
        );

        let other = d.join("other.sqlite");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        let e = open(&other, "other", 10).unwrap_err().to_string();
        assert!(
            e.contains("other.sqlite") && e.contains("another program"),
            "{e}"
        );

        let mine = d.join("alpha.sqlite");
        drop(open(&mine, "alpha", 10).unwrap());
        let e = open(&mine, "beta", 10).unwrap_err().to_string();
        assert!(e.contains("carrier `alpha`, not `beta`"), "{e}");
        assert!(open(&mine, "alpha", 10).is_ok());
        assert!(remove(&mine).unwrap());
        assert!(!remove(&mine).unwrap());
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn odd_carrier_names_get_safe_file_names() {
        assert_eq!(
            path_for(Path::new("/s"), "alpha-1"),
            Path::new("/s/alpha-1.sqlite")
        );
        assert_eq!(
            path_for(Path::new("/s"), "a/b"),
            Path::new("/s/x-612f62.sqlite")
        );
    }

    #[test]
    fn concat_references_round_trip() {
        let c = ConcatRef {
            reference: 0xBEEF,
            total: 3,
            seq: 2,
        };
        assert_eq!(unpack_concat(pack_concat(c)), c);
    }
}
