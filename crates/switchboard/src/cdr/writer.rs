//! The one task that writes records: it takes what calls queued, commits
//! it in batches (everything waiting, up to `cdr.batch`, per commit, so a
//! quiet server commits each record at once and a busy one many per
//! commit), and on shutdown drains the queue before it stops.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::postgres::PgStore;
use super::record::CallRecord;
use super::sqlite::SqliteStore;
use super::{CdrCounters, CdrError, CdrStore};

/// Shortest wait between two attempts to reach PostgreSQL.
const RECONNECT_WAIT: Duration = Duration::from_secs(1);

/// Where the writer writes.
enum Backend {
    /// Shared with the blocking task that runs each insert, so the store
    /// outlives a task that panics.
    Sqlite(Arc<Mutex<SqliteStore>>),
    Postgres {
        url: String,
        store: Option<PgStore>,
        /// No new attempt before this.
        retry_at: Option<tokio::time::Instant>,
    },
}

/// The running writer; [`CdrWriter::stop`] flushes it.
#[derive(Debug)]
pub struct CdrWriter {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl CdrWriter {
    /// Opens `store` (SQLite at once, so a bad path stops the start;
    /// PostgreSQL in the task, so a database outage does not) and starts
    /// writing what arrives on `queue`.
    pub fn start(
        store: &CdrStore,
        queue: mpsc::Receiver<Box<CallRecord>>,
        batch: usize,
        counters: Arc<CdrCounters>,
    ) -> Result<CdrWriter, CdrError> {
        let backend = match store {
            CdrStore::Sqlite(path) => {
                let store = SqliteStore::open(path).map_err(|e| match e {
                    CdrError::Open(m) => CdrError::Open(format!(
                        "{m} (cdr.sqlite names the file; cdr.enabled: false turns records off)"
                    )),
                    other => other,
                })?;
                Backend::Sqlite(Arc::new(Mutex::new(store)))
            }
            CdrStore::Postgres(url) => Backend::Postgres {
                url: url.clone(),
                store: None,
                retry_at: None,
            },
        };
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(backend, queue, batch.max(1), counters, stopped));
        Ok(CdrWriter {
            stop: Some(stop),
            task,
        })
    }

    /// Writes everything queued so far and stops; waits at most `timeout`.
    /// Call it once no call can end any more (after the driver has stopped).
    pub async fn stop(mut self, timeout: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(timeout, &mut self.task).await.is_err() {
            tracing::warn!(
                "call records: the writer did not finish in time; the last ones are lost"
            );
            self.task.abort();
        }
    }
}

async fn run(
    mut backend: Backend,
    mut queue: mpsc::Receiver<Box<CallRecord>>,
    batch: usize,
    counters: Arc<CdrCounters>,
    mut stopped: oneshot::Receiver<()>,
) {
    if let Backend::Postgres { .. } = backend {
        // Connect (and migrate) early, so the first call's record waits for nothing.
        backend.ready().await;
    }
    let mut records = Vec::with_capacity(batch);
    let mut stopping = false;
    loop {
        let first = tokio::select! {
            biased;
            // Shutdown: no call is left to end; the queue takes no more,
            // and what it holds is written like the rest.
            _ = &mut stopped, if !stopping => {
                stopping = true;
                queue.close();
                continue;
            }
            first = queue.recv() => first,
        };
        let Some(first) = first else {
            break;
        };
        records.push(*first);
        while records.len() < batch {
            match queue.try_recv() {
                Ok(record) => records.push(*record),
                Err(_) => break,
            }
        }
        backend.write(&mut records, &counters).await;
    }
    tracing::debug!(
        written = counters.written.load(Ordering::Relaxed),
        "call records flushed"
    );
}

impl Backend {
    /// Writes and empties `records`, counting the outcome.
    async fn write(&mut self, records: &mut Vec<CallRecord>, counters: &CdrCounters) {
        if records.is_empty() {
            return;
        }
        let n = records.len() as u64;
        let result = match self {
            Backend::Sqlite(store) => {
                let store = Arc::clone(store);
                let batch = std::mem::take(records);
                let joined = tokio::task::spawn_blocking(move || {
                    // A poisoned lock only says an insert panicked; its
                    // transaction was rolled back, the store is usable.
                    let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
                    let result = store.insert(&batch);
                    (batch, result)
                })
                .await;
                match joined {
                    Ok((batch, result)) => {
                        *records = batch;
                        result
                    }
                    Err(e) => Err(CdrError::Write(e.to_string())),
                }
            }
            Backend::Postgres { .. } => match self.ready().await {
                Some(store) => store.insert(records).await,
                None => Err(CdrError::Write("PostgreSQL is not reachable".into())),
            },
        };
        records.clear();
        match result {
            Ok(()) => {
                counters.written.fetch_add(n, Ordering::Relaxed);
            }
            Err(error) => {
                counters.write_errors.fetch_add(n, Ordering::Relaxed);
                tracing::error!(%error, records = n, "call records lost: cannot write them");
                if let Backend::Postgres { store, .. } = self {
                    // The next batch starts over on a fresh connection.
                    *store = None;
                }
            }
        }
    }

    /// The PostgreSQL connection, made (or remade) if needed and not
    /// attempted too recently.
    async fn ready(&mut self) -> Option<&PgStore> {
        let Backend::Postgres {
            url,
            store,
            retry_at,
        } = self
        else {
            return None;
        };
        if store.as_ref().is_some_and(PgStore::is_closed) {
            *store = None;
        }
        if store.is_none() && retry_at.is_none_or(|at| tokio::time::Instant::now() >= at) {
            match PgStore::connect(url).await {
                Ok(connected) => {
                    tracing::info!("call records go to PostgreSQL");
                    *store = Some(connected);
                    *retry_at = None;
                }
                Err(error) => {
                    tracing::warn!(%error, "call records: cannot reach PostgreSQL");
                    *retry_at = Some(tokio::time::Instant::now() + RECONNECT_WAIT);
                }
            }
        }
        store.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::record::distinct_record;

    fn temp_store() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("cdr.sqlite");
        (dir, path)
    }

    #[tokio::test]
    async fn stop_writes_everything_queued() {
        let (_dir, path) = temp_store();
        let (queue, queued) = mpsc::channel(16);
        let counters = Arc::new(CdrCounters::default());
        let store = CdrStore::Sqlite(path.clone());
        let writer = CdrWriter::start(&store, queued, 2, Arc::clone(&counters))
            .unwrap_or_else(|e| panic!("{e}"));
        for end_ms in 1..=5 {
            let sent = queue.try_send(Box::new(distinct_record(end_ms)));
            assert!(sent.is_ok(), "the queue takes five records");
        }
        writer.stop(Duration::from_secs(10)).await;
        assert_eq!(counters.written.load(Ordering::Relaxed), 5);
        let query = crate::cdr::query::CdrQuery::default();
        let all = crate::cdr::sqlite::read(&path, &query).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), 5);
    }

    #[tokio::test]
    async fn an_insert_that_panicked_loses_no_later_batch() {
        let (_dir, path) = temp_store();
        let store = Arc::new(Mutex::new(
            SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}")),
        ));
        // What an insert that panics leaves behind: a poisoned lock.
        let held = Arc::clone(&store);
        let panicked = std::thread::spawn(move || {
            let _guard = held.lock();
            panic!("an insert panics");
        })
        .join();
        assert!(panicked.is_err() && store.is_poisoned());
        let mut backend = Backend::Sqlite(store);
        let counters = CdrCounters::default();
        for end_ms in 1..=2 {
            backend
                .write(&mut vec![distinct_record(end_ms)], &counters)
                .await;
        }
        assert_eq!(counters.written.load(Ordering::Relaxed), 2);
        assert_eq!(counters.write_errors.load(Ordering::Relaxed), 0);
    }
}
