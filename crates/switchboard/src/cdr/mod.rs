//! Call detail records: one [`CallRecord`] per call, written to SQLite
//! (default, `cdr.sqlite`) or PostgreSQL (`cdr.postgres`) off the call path.
//!
//! A call hands its record to a [`CdrSink`] as it ends; the sink
//! `try_send`s into a bounded queue, so a call never waits on a database: a
//! full queue drops the record, counts it and logs a warning. One writer
//! task ([`CdrWriter`]) commits what is queued in batches, and at shutdown,
//! once the calls are gone, drains the queue before the process exits. What
//! a crash can lose is what was queued and not yet committed: under a
//! second's worth at any load the store keeps up with.
//!
//! Records are read back by `switchboard cdr` and `GET /api/v1/cdrs`
//! ([`query`], [`api`]).

pub mod api;
pub mod postgres;
pub mod query;
pub mod record;
pub mod schema;
pub mod sqlite;
pub mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

pub use record::{CallRecord, CallTrace, Disposition, EndedBy, LegMedia};
pub use writer::CdrWriter;

use crate::config::CdrConfig;

/// What can go wrong with a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    /// The store cannot be opened, created or migrated.
    #[error("cannot open the call record store: {0}")]
    Open(String),
    /// A batch could not be written.
    #[error("cannot write call records: {0}")]
    Write(String),
    /// Records could not be read.
    #[error("cannot read call records: {0}")]
    Read(String),
}

/// Where records are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum CdrStore {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (may hold a password: never logged).
    Postgres(String),
}

impl std::fmt::Debug for CdrStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CdrStore::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            CdrStore::Postgres(_) => f.write_str("Postgres(<url>)"),
        }
    }
}

impl CdrStore {
    /// The store `config` names: PostgreSQL when `postgres` is set, else
    /// the SQLite file; `None` when records are off.
    pub fn of(config: &CdrConfig) -> Option<CdrStore> {
        if !config.enabled {
            return None;
        }
        match (&config.postgres, &config.sqlite) {
            (Some(url), _) => Some(CdrStore::Postgres(url.clone())),
            (None, Some(path)) => Some(CdrStore::Sqlite(path.clone())),
            (None, None) => None,
        }
    }
}

/// Counts of the record pipeline, for metrics: plain atomics, read with
/// [`CdrCounters::snapshot`].
#[derive(Debug, Default)]
pub struct CdrCounters {
    /// Records committed to the store.
    pub written: AtomicU64,
    /// Records dropped because the queue was full (or the writer gone).
    pub dropped: AtomicU64,
    /// Records lost because the store refused a batch.
    pub write_errors: AtomicU64,
}

/// A copy of [`CdrCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CdrCounts {
    /// Records committed.
    pub written: u64,
    /// Records dropped at the queue.
    pub dropped: u64,
    /// Records the store refused.
    pub write_errors: u64,
}

impl CdrCounters {
    /// The counts now.
    pub fn snapshot(&self) -> CdrCounts {
        CdrCounts {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }
}

/// Where calls hand in their records; cheap to clone, never blocks.
#[derive(Debug, Clone, Default)]
pub struct CdrSink {
    queue: Option<mpsc::Sender<Box<CallRecord>>>,
    counters: Arc<CdrCounters>,
}

impl CdrSink {
    /// A sink that takes nothing (records off, or a test's call context).
    pub fn disabled() -> CdrSink {
        CdrSink::default()
    }

    /// Whether records are kept: calls skip building one otherwise.
    pub fn is_enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `record` for the writer without waiting; a full queue drops
    /// it (counted, and logged at warn for the first and every 1000th).
    pub fn submit(&self, record: CallRecord) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(Box::new(record)).is_err() {
            let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped % 1000 == 1 {
                tracing::warn!(dropped, "call record queue full: records dropped");
            }
        }
    }

    /// The pipeline's counters.
    pub fn counters(&self) -> &Arc<CdrCounters> {
        &self.counters
    }
}

/// Records as the server runs them: the sink calls use, the writer to stop
/// at shutdown, and the store the API reads.
#[derive(Debug)]
pub struct CdrService {
    /// Hand records in here.
    pub sink: CdrSink,
    /// `None` when records are off.
    pub writer: Option<CdrWriter>,
    /// `None` when records are off.
    pub store: Option<CdrStore>,
}

impl CdrService {
    /// Opens the configured store and starts its writer (must run inside
    /// the runtime).
    pub fn start(config: &CdrConfig) -> Result<CdrService, CdrError> {
        let Some(store) = CdrStore::of(config) else {
            return Ok(CdrService {
                sink: CdrSink::disabled(),
                writer: None,
                store: None,
            });
        };
        let counters = Arc::new(CdrCounters::default());
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let writer = CdrWriter::start(&store, rx, config.batch, counters.clone())?;
        Ok(CdrService {
            sink: CdrSink {
                queue: Some(tx),
                counters,
            },
            writer: Some(writer),
            store: Some(store),
        })
    }

    /// The operator API's `/cdrs` route on this service's store.
    pub fn routes(&self) -> axum::Router {
        api::routes(self.store.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_and_stop_commits_the_rest() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("cdr.sqlite");
        let config = CdrConfig {
            sqlite: Some(path.clone()),
            queue: 2,
            ..CdrConfig::default()
        };
        let service = CdrService::start(&config).unwrap_or_else(|e| panic!("{e}"));
        // The writer has not run yet (one thread, no await): the third
        // record finds the queue full.
        for i in 0..3 {
            service.sink.submit(CallRecord::new(format!("call-{i}")));
        }
        let counters = service.sink.counters().clone();
        assert_eq!(counters.snapshot().dropped, 1);
        if let Some(writer) = service.writer {
            writer.stop(std::time::Duration::from_secs(10)).await;
        }
        assert_eq!(
            counters.snapshot(),
            CdrCounts {
                written: 2,
                dropped: 1,
                write_errors: 0
            }
        );
        let stored =
            sqlite::read(&path, &query::CdrQuery::default()).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = stored.iter().map(|r| r.sip_call_id.as_str()).collect();
        assert_eq!(ids, ["call-0", "call-1"]);
    }

    #[test]
    fn the_config_picks_the_store() {
        let mut config = CdrConfig::default();
        assert_eq!(
            CdrStore::of(&config),
            Some(CdrStore::Sqlite("cdr.sqlite".into()))
        );
        config.postgres = Some("postgres://u:secret@h/db".into());
        let store = CdrStore::of(&config);
        assert!(matches!(store, Some(CdrStore::Postgres(_))));
        assert!(!format!("{store:?} {config:?}").contains("secret"));
        config.enabled = false;
        assert_eq!(CdrStore::of(&config), None);
        let config = CdrConfig {
            sqlite: None,
            ..CdrConfig::default()
        };
        assert_eq!(CdrStore::of(&config), None);
        assert!(!CdrSink::disabled().is_enabled());
    }
}
