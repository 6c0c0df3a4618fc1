//! The one task that writes records: it takes what calls queued, commits
//! it in batches (everything waiting, up to `cdr.batch`, per commit, so a
//! quiet server commits each record at once and a busy one many per
//! commit), and on shutdown drains the queue before it stops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
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
    Sqlite(Option<SqliteStore>),
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
                Backend::Sqlite(Some(SqliteStore::open(path).map_err(|e| match e {
                    CdrError::Open(m) => CdrError::Open(format!(
                        "{m} (cdr.sqlite names the file; cdr.enabled: false turns records off)"
                    )),
                    other => other,
                })?))
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
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            first = queue.recv() => match first {
                Some(record) => records.push(*record),
                None => break,
            },
        }
        while records.len() < batch {
            match queue.try_recv() {
                Ok(record) => records.push(*record),
                Err(_) => break,
            }
        }
        backend.write(&mut records, &counters).await;
    }
    // Shutdown: no call is left to end; take what is queued, in batches.
    queue.close();
    while let Some(record) = queue.recv().await {
        records.push(*record);
        if records.len() >= batch {
            backend.write(&mut records, &counters).await;
        }
    }
    backend.write(&mut records, &counters).await;
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
            Backend::Sqlite(slot) => match slot.take() {
                Some(mut store) => {
                    let batch = std::mem::take(records);
                    let joined = tokio::task::spawn_blocking(move || {
                        let result = store.insert(&batch);
                        (store, batch, result)
                    })
                    .await;
                    match joined {
                        Ok((store, batch, result)) => {
                            *slot = Some(store);
                            *records = batch;
                            result
                        }
                        Err(e) => Err(CdrError::Write(e.to_string())),
                    }
                }
                None => Err(CdrError::Write("the SQLite store was lost".into())),
            },
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
