//! The PostgreSQL store (`cdr.postgres`): the same table as SQLite, its
//! migrations applied under a table lock when a connection opens, so two
//! nodes starting together do not both apply one. Plain TCP or a Unix
//! socket (`host=/run/postgresql`); no TLS yet.

use std::time::SystemTime;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

use super::query::CdrQuery;
use super::record::{epoch_ms, CallRecord};
use super::schema::{self, Dialect};
use super::CdrError;

/// An open connection, migrated to the current schema.
pub struct PgStore {
    client: Client,
    /// The connection's I/O task; ends when `client` is dropped.
    connection: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl PgStore {
    /// Connects to `url` (a `postgres://` URL or `key=value` string) and
    /// applies missing migrations. Errors never repeat the URL: it may
    /// carry a password.
    pub async fn connect(url: &str) -> Result<PgStore, CdrError> {
        let mut store = PgStore::open(url).await?;
        migrate(&mut store.client)
            .await
            .map_err(|e| CdrError::Open(format!("PostgreSQL migration: {e}")))?;
        Ok(store)
    }

    /// Connects to `url` without touching the schema (readers).
    async fn open(url: &str) -> Result<PgStore, CdrError> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| CdrError::Open(format!("PostgreSQL: {e}")))?;
        let connection = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "PostgreSQL connection for call records ended");
            }
        });
        Ok(PgStore { client, connection })
    }

    /// Whether the connection has gone (reconnect before the next write).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Writes `records` in one multi-row INSERT (one statement: all or none).
    pub async fn insert(&self, records: &[CallRecord]) -> Result<(), CdrError> {
        if records.is_empty() {
            return Ok(());
        }
        let width = schema::COLUMNS.len();
        // Values that need converting are made first, so every parameter
        // can borrow.
        let statuses: Vec<Option<i32>> = records
            .iter()
            .map(|r| r.sip_status.map(i32::from))
            .collect();
        let recordings: Vec<String> = records.iter().map(schema::join_recordings).collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(records.len() * width);
        let mut rows = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let marks: Vec<String> = (1..=width).map(|c| format!("${}", i * width + c)).collect();
            rows.push(format!("({})", marks.join(", ")));
            params.extend_from_slice(&[
                &r.call_uuid as &(dyn ToSql + Sync),
                &r.sip_call_id,
                &r.b_call_id,
                &r.controller_call_id,
                &r.direction,
                &r.from_uri,
                &r.to_uri,
                &r.dialed,
                &r.route,
                &r.from_endpoint,
                &r.to_endpoint,
                &r.controller,
                &r.setup_ms,
                &r.answer_ms,
                &r.end_ms,
                &r.disposition,
                &statuses[i],
                &r.ended_by,
                &r.a_media.packets_received,
                &r.a_media.packets_sent,
                &r.a_media.packets_lost,
                &r.a_media.jitter_ms,
                &r.b_media.packets_received,
                &r.b_media.packets_sent,
                &r.b_media.packets_lost,
                &r.b_media.jitter_ms,
                &recordings[i],
            ]);
        }
        let sql = format!(
            "INSERT INTO cdr ({}) VALUES {}",
            schema::select_list(),
            rows.join(", ")
        );
        self.client
            .execute(sql.as_str(), &params)
            .await
            .map(|_| ())
            .map_err(|e| CdrError::Write(format!("PostgreSQL: {e}")))
    }
}

async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(schema::MIGRATIONS_TABLE).await?;
    let tx = client.transaction().await?;
    tx.batch_execute("LOCK TABLE cdr_migrations IN EXCLUSIVE MODE")
        .await?;
    for (version, sql) in schema::migrations(Dialect::Postgres) {
        let applied = tx
            .query_opt(
                "SELECT version FROM cdr_migrations WHERE version = $1",
                &[&version],
            )
            .await?;
        if applied.is_none() {
            tx.batch_execute(&sql).await?;
            tx.execute(
                "INSERT INTO cdr_migrations (version, applied_ms) VALUES ($1, $2)",
                &[&version, &epoch_ms(SystemTime::now())],
            )
            .await?;
        }
    }
    tx.commit().await
}

/// Reads records from the database at `url`.
pub async fn read(url: &str, query: &CdrQuery) -> Result<Vec<CallRecord>, CdrError> {
    let store = PgStore::open(url).await?;
    let sql = format!(
        "SELECT {} FROM cdr WHERE end_ms >= $1 AND end_ms < $2 ORDER BY end_ms, id LIMIT $3",
        schema::select_list()
    );
    let rows = store
        .client
        .query(
            sql.as_str(),
            &[
                &query.since_ms(),
                &query.until_ms(),
                &i64::from(query.limit),
            ],
        )
        .await
        .map_err(|e| CdrError::Read(format!("PostgreSQL: {e}")))?;
    rows.iter()
        .map(record_of)
        .collect::<Result<_, _>>()
        .map_err(|e| CdrError::Read(format!("PostgreSQL: {e}")))
}

fn record_of(row: &Row) -> Result<CallRecord, tokio_postgres::Error> {
    Ok(CallRecord {
        call_uuid: row.try_get(0)?,
        sip_call_id: row.try_get(1)?,
        b_call_id: row.try_get(2)?,
        controller_call_id: row.try_get(3)?,
        direction: row.try_get(4)?,
        from_uri: row.try_get(5)?,
        to_uri: row.try_get(6)?,
        dialed: row.try_get(7)?,
        route: row.try_get(8)?,
        from_endpoint: row.try_get(9)?,
        to_endpoint: row.try_get(10)?,
        controller: row.try_get(11)?,
        setup_ms: row.try_get(12)?,
        answer_ms: row.try_get(13)?,
        end_ms: row.try_get(14)?,
        disposition: row.try_get(15)?,
        sip_status: row
            .try_get::<_, Option<i32>>(16)?
            .and_then(|s| u16::try_from(s).ok()),
        ended_by: row.try_get(17)?,
        a_media: schema::leg(
            row.try_get(18)?,
            row.try_get(19)?,
            row.try_get(20)?,
            row.try_get(21)?,
        ),
        b_media: schema::leg(
            row.try_get(22)?,
            row.try_get(23)?,
            row.try_get(24)?,
            row.try_get(25)?,
        ),
        recordings: schema::split_recordings(&row.try_get::<_, String>(26)?),
    })
}
