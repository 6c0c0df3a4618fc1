//! The embedded store: one SQLite file in WAL mode, so `switchboard cdr`
//! and the API read while the writer commits.

use std::path::Path;
use std::time::SystemTime;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::query::CdrQuery;
use super::record::{epoch_ms, CallRecord};
use super::schema::{self, Dialect};
use super::CdrError;

/// An open SQLite store, migrated to the current schema.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the file at `path` and applies missing
    /// migrations.
    pub fn open(path: &Path) -> Result<SqliteStore, CdrError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| CdrError::Open(format!("{}: {e}", dir.display())))?;
        }
        let connection = Connection::open(path).map_err(|e| open_error(path, e))?;
        // WAL: readers do not block the writer. NORMAL: a commit survives a
        // crash of the process (not of the machine), and costs no fsync.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| connection.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| connection.busy_timeout(std::time::Duration::from_secs(5)))
            .map_err(|e| open_error(path, e))?;
        let mut store = SqliteStore { connection };
        store.migrate().map_err(|e| open_error(path, e))?;
        Ok(store)
    }

    fn migrate(&mut self) -> rusqlite::Result<()> {
        let tx = self.connection.transaction()?;
        tx.execute_batch(schema::MIGRATIONS_TABLE)?;
        for (version, sql) in schema::migrations(Dialect::Sqlite) {
            let applied: Option<i64> = tx
                .query_row(
                    "SELECT version FROM cdr_migrations WHERE version = ?1",
                    [version],
                    |row| row.get(0),
                )
                .optional()?;
            if applied.is_none() {
                tx.execute_batch(&sql)?;
                tx.execute(
                    "INSERT INTO cdr_migrations (version, applied_ms) VALUES (?1, ?2)",
                    params![version, epoch_ms(SystemTime::now())],
                )?;
            }
        }
        tx.commit()
    }

    /// Writes `records` in one transaction.
    pub fn insert(&mut self, records: &[CallRecord]) -> Result<(), CdrError> {
        self.insert_inner(records)
            .map_err(|e| CdrError::Write(e.to_string()))
    }

    fn insert_inner(&mut self, records: &[CallRecord]) -> rusqlite::Result<()> {
        let tx = self.connection.transaction()?;
        {
            let placeholders = vec!["?"; schema::COLUMNS.len()].join(", ");
            let sql = format!(
                "INSERT INTO cdr ({}) VALUES ({placeholders})",
                schema::select_list()
            );
            let mut insert = tx.prepare_cached(&sql)?;
            for r in records {
                insert.execute(params![
                    r.call_uuid,
                    r.sip_call_id,
                    r.b_call_id,
                    r.controller_call_id,
                    r.direction,
                    r.from_uri,
                    r.to_uri,
                    r.dialed,
                    r.route,
                    r.from_endpoint,
                    r.to_endpoint,
                    r.controller,
                    r.setup_ms,
                    r.answer_ms,
                    r.end_ms,
                    r.disposition,
                    r.sip_status,
                    r.ended_by,
                    r.a_media.packets_received,
                    r.a_media.packets_sent,
                    r.a_media.packets_lost,
                    r.a_media.jitter_ms,
                    r.b_media.packets_received,
                    r.b_media.packets_sent,
                    r.b_media.packets_lost,
                    r.b_media.jitter_ms,
                    schema::join_recordings(r),
                ])?;
            }
        }
        tx.commit()
    }
}

/// Reads records from the file at `path` (which must exist already).
pub fn read(path: &Path, query: &CdrQuery) -> Result<Vec<CallRecord>, CdrError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    let _ = connection.busy_timeout(std::time::Duration::from_secs(5));
    let sql = format!(
        "SELECT {} FROM cdr WHERE end_ms >= ?1 AND end_ms < ?2 ORDER BY end_ms, id LIMIT ?3",
        schema::select_list()
    );
    let read = || -> rusqlite::Result<Vec<CallRecord>> {
        let mut statement = connection.prepare(&sql)?;
        let rows = statement.query_map(
            params![query.since_ms(), query.until_ms(), i64::from(query.limit)],
            |row| {
                Ok(CallRecord {
                    call_uuid: row.get(0)?,
                    sip_call_id: row.get(1)?,
                    b_call_id: row.get(2)?,
                    controller_call_id: row.get(3)?,
                    direction: row.get(4)?,
                    from_uri: row.get(5)?,
                    to_uri: row.get(6)?,
                    dialed: row.get(7)?,
                    route: row.get(8)?,
                    from_endpoint: row.get(9)?,
                    to_endpoint: row.get(10)?,
                    controller: row.get(11)?,
                    setup_ms: row.get(12)?,
                    answer_ms: row.get(13)?,
                    end_ms: row.get(14)?,
                    disposition: row.get(15)?,
                    sip_status: row.get(16)?,
                    ended_by: row.get(17)?,
                    a_media: schema::leg(row.get(18)?, row.get(19)?, row.get(20)?, row.get(21)?),
                    b_media: schema::leg(row.get(22)?, row.get(23)?, row.get(24)?, row.get(25)?),
                    recordings: schema::split_recordings(&row.get::<_, String>(26)?),
                })
            },
        )?;
        rows.collect()
    };
    read().map_err(|e| CdrError::Read(e.to_string()))
}

fn open_error(path: &Path, error: rusqlite::Error) -> CdrError {
    CdrError::Open(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::record::distinct_record as record;

    #[test]
    fn writes_and_reads_back_in_time_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub/cdr.sqlite");
        let mut store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let records = vec![record(30), record(10), record(20)];
        store.insert(&records).unwrap_or_else(|e| panic!("{e}"));
        drop(store);
        // Reopening applies no migration twice.
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        drop(store);
        let all = read(&path, &CdrQuery::default()).unwrap_or_else(|e| panic!("{e}"));
        let ends: Vec<i64> = all.iter().map(|r| r.end_ms).collect();
        assert_eq!(ends, [10, 20, 30]);
        assert_eq!(all[0], records[1]);
        let window = CdrQuery {
            since: Some(15),
            until: Some(30),
            limit: 10,
        };
        let some = read(&path, &window).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].end_ms, 20);
    }

    #[test]
    fn reading_a_missing_file_fails() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("none.sqlite");
        assert!(read(&missing, &CdrQuery::default()).is_err());
        assert!(!missing.exists());
    }
}
