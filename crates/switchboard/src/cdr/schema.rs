//! The `cdr` table, the same in SQLite and PostgreSQL, and its versioned
//! migrations: each store applies the versions its `cdr_migrations` table
//! does not list yet, in order, when it opens.

use super::record::{CallRecord, LegMedia};

/// The columns written and read, in this order, after the `id` key.
pub const COLUMNS: [&str; 27] = [
    "call_uuid",
    "sip_call_id",
    "b_call_id",
    "controller_call_id",
    "direction",
    "from_uri",
    "to_uri",
    "dialed",
    "route",
    "from_endpoint",
    "to_endpoint",
    "controller",
    "setup_ms",
    "answer_ms",
    "end_ms",
    "disposition",
    "sip_status",
    "ended_by",
    "a_packets_received",
    "a_packets_sent",
    "a_packets_lost",
    "a_jitter_ms",
    "b_packets_received",
    "b_packets_sent",
    "b_packets_lost",
    "b_jitter_ms",
    "recordings",
];

/// Which SQL dialect a migration is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL 12 and later.
    Postgres,
}

/// The migrations, oldest first: (version, statements).
pub fn migrations(dialect: Dialect) -> Vec<(i64, String)> {
    let (key, int, real) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "INTEGER", "REAL"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "BIGINT", "DOUBLE PRECISION"),
    };
    let v1 = format!(
        "CREATE TABLE cdr (
            id {key},
            call_uuid TEXT NOT NULL,
            sip_call_id TEXT NOT NULL,
            b_call_id TEXT,
            controller_call_id TEXT,
            direction TEXT NOT NULL,
            from_uri TEXT NOT NULL,
            to_uri TEXT NOT NULL,
            dialed TEXT NOT NULL,
            route TEXT NOT NULL,
            from_endpoint TEXT NOT NULL,
            to_endpoint TEXT NOT NULL,
            controller TEXT NOT NULL,
            setup_ms {int} NOT NULL,
            answer_ms {int},
            end_ms {int} NOT NULL,
            disposition TEXT NOT NULL,
            sip_status INTEGER,
            ended_by TEXT,
            a_packets_received {int} NOT NULL,
            a_packets_sent {int} NOT NULL,
            a_packets_lost {int} NOT NULL,
            a_jitter_ms {real} NOT NULL,
            b_packets_received {int} NOT NULL,
            b_packets_sent {int} NOT NULL,
            b_packets_lost {int} NOT NULL,
            b_jitter_ms {real} NOT NULL,
            recordings TEXT NOT NULL
        );
        CREATE INDEX cdr_end_ms ON cdr (end_ms);
        CREATE INDEX cdr_sip_call_id ON cdr (sip_call_id);"
    );
    vec![(1, v1)]
}

/// The statement that creates the migrations table if it is missing.
pub const MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS cdr_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)";

/// `SELECT` of every column, for the read queries of both stores.
pub fn select_list() -> String {
    COLUMNS.join(", ")
}

/// A record's recordings as stored: one path per line.
pub fn join_recordings(record: &CallRecord) -> String {
    record.recordings.join("\n")
}

/// The stored recordings column as a list.
pub fn split_recordings(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A leg's media from its four stored columns.
pub fn leg(received: i64, sent: i64, lost: i64, jitter_ms: f64) -> LegMedia {
    LegMedia {
        packets_received: received,
        packets_sent: sent,
        packets_lost: lost,
        jitter_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_created() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let (_, sql) = &migrations(dialect)[0];
            for column in COLUMNS {
                assert!(sql.contains(&format!(" {column} ")), "{column}");
            }
        }
    }

    #[test]
    fn recordings_round_trip() {
        let mut record = CallRecord::new("x".into());
        record.recordings = vec!["/a.wav".into(), "/b.wav".into()];
        assert_eq!(
            split_recordings(&join_recordings(&record)),
            record.recordings
        );
        assert!(split_recordings("").is_empty());
    }
}
