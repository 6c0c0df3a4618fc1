//! Reading records back: the time window and limit both readers take
//! (`switchboard cdr` and `GET /api/v1/cdrs`), and the JSON and CSV output.

use std::io::Write;
use std::time::SystemTime;

use super::record::{epoch_ms, CallRecord};
use super::{schema, CdrError, CdrStore};

/// Records returned when no limit is given.
pub const DEFAULT_LIMIT: u32 = 1000;
/// The largest limit taken.
pub const MAX_LIMIT: u32 = 100_000;

/// Which records to read: those that ended in `[since, until)`, oldest
/// first, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdrQuery {
    /// Earliest end time, ms since the epoch; unbounded when `None`.
    pub since: Option<i64>,
    /// End times before this, ms since the epoch; unbounded when `None`.
    pub until: Option<i64>,
    /// Most records returned.
    pub limit: u32,
}

impl Default for CdrQuery {
    fn default() -> Self {
        CdrQuery {
            since: None,
            until: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl CdrQuery {
    /// A query from its textual parameters, as of `now`: times are RFC 3339
    /// (`2026-01-31T12:00:00Z`) or a duration back from now (`1h`, `15m`).
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        limit: Option<&str>,
        now: SystemTime,
    ) -> Result<CdrQuery, String> {
        let since = since.map(|t| parse_time("since", t, now)).transpose()?;
        let until = until.map(|t| parse_time("until", t, now)).transpose()?;
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "limit: expected a number from 1 to {MAX_LIMIT}, found {text:?}"
                    ))
                }
            },
        };
        Ok(CdrQuery {
            since,
            until,
            limit,
        })
    }

    /// The lower bound for SQL.
    pub fn since_ms(&self) -> i64 {
        self.since.unwrap_or(i64::MIN)
    }

    /// The upper bound for SQL.
    pub fn until_ms(&self) -> i64 {
        self.until.unwrap_or(i64::MAX)
    }
}

fn parse_time(name: &str, text: &str, now: SystemTime) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        return Ok(epoch_ms(at));
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(epoch_ms(
            now.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH),
        ));
    }
    Err(format!(
        "{name}: expected an RFC 3339 UTC time (2026-01-31T12:00:00Z) or a duration back from now (1h, 30m), found {text:?}"
    ))
}

/// Output formats of `switchboard cdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CdrFormat {
    /// A JSON array of records.
    #[default]
    Json,
    /// CSV with a header line; one column per stored column.
    Csv,
}

/// `switchboard cdr`: what to read and how to print it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct CdrArgs {
    /// Records that ended at or after this: RFC 3339 UTC or a duration back
    /// from now (`1h`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Records that ended before this (same forms as `--since`).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Most records printed (oldest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CdrFormat::Json)]
    pub format: CdrFormat,
}

/// Reads records from `store` (SQLite on a blocking thread).
pub async fn read(store: &CdrStore, query: CdrQuery) -> Result<Vec<CallRecord>, CdrError> {
    match store {
        CdrStore::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || super::sqlite::read(&path, &query))
                .await
                .map_err(|e| CdrError::Read(e.to_string()))?
        }
        CdrStore::Postgres(url) => super::postgres::read(url, &query).await,
    }
}

/// Runs `switchboard cdr` against the store `config` names; the exit status.
pub fn run(
    config: &crate::config::Config,
    args: &CdrArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    let Some(store) = CdrStore::of(&config.cdr) else {
        let _ = writeln!(
            err,
            "call records are off in this config (cdr.enabled, cdr.sqlite)"
        );
        return 1;
    };
    let query = match CdrQuery::parse(
        args.since.as_deref(),
        args.until.as_deref(),
        args.limit.as_deref(),
        SystemTime::now(),
    ) {
        Ok(query) => query,
        Err(message) => {
            let _ = writeln!(err, "switchboard cdr: {message}");
            return 2;
        }
    };
    let read = match crate::cli::block_on(read(&store, query), err) {
        Ok(read) => read,
        Err(status) => return status,
    };
    let records = match read {
        Ok(records) => records,
        Err(error) => {
            let _ = writeln!(err, "switchboard cdr: {error}");
            return 1;
        }
    };
    let written = match args.format {
        CdrFormat::Json => write_json(&records, out),
        CdrFormat::Csv => write_csv(&records, out),
    };
    match written {
        Ok(()) => 0,
        Err(error) => {
            let _ = writeln!(err, "switchboard cdr: {error}");
            1
        }
    }
}

/// Writes `records` as one JSON array and a newline.
pub fn write_json(records: &[CallRecord], out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, records)?;
    writeln!(out)
}

/// Writes `records` as CSV (RFC 4180 quoting), header first; the columns
/// are those of the table, recordings separated by `;`.
pub fn write_csv(records: &[CallRecord], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}", schema::COLUMNS.join(","))?;
    for r in records {
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let fields: [String; 27] = [
            r.call_uuid.clone(),
            r.sip_call_id.clone(),
            r.b_call_id.clone().unwrap_or_default(),
            r.controller_call_id.clone().unwrap_or_default(),
            r.direction.clone(),
            r.from_uri.clone(),
            r.to_uri.clone(),
            r.dialed.clone(),
            r.route.clone(),
            r.from_endpoint.clone(),
            r.to_endpoint.clone(),
            r.controller.clone(),
            r.setup_ms.to_string(),
            opt(r.answer_ms),
            r.end_ms.to_string(),
            r.disposition.clone(),
            opt(r.sip_status.map(i64::from)),
            r.ended_by.clone().unwrap_or_default(),
            r.a_media.packets_received.to_string(),
            r.a_media.packets_sent.to_string(),
            r.a_media.packets_lost.to_string(),
            r.a_media.jitter_ms.to_string(),
            r.b_media.packets_received.to_string(),
            r.b_media.packets_sent.to_string(),
            r.b_media.packets_lost.to_string(),
            r.b_media.jitter_ms.to_string(),
            r.recordings.join(";"),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_and_durations() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let q = CdrQuery::parse(Some("1h"), Some("1970-01-01T02:00:00Z"), Some("5"), now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.since, Some(6_400_000));
        assert_eq!(q.until, Some(7_200_000));
        assert_eq!(q.limit, 5);
        assert_eq!(
            CdrQuery::parse(None, None, None, now),
            Ok(CdrQuery::default())
        );
    }

    #[test]
    fn bad_parameters_say_what_is_wrong() {
        let now = SystemTime::now();
        let e = CdrQuery::parse(Some("yesterday"), None, None, now).unwrap_err();
        assert!(e.starts_with("since: "), "{e}");
        let e = CdrQuery::parse(None, None, Some("0"), now).unwrap_err();
        assert!(e.starts_with("limit: "), "{e}");
        assert!(CdrQuery::parse(None, None, Some("many"), now).is_err());
    }

    #[test]
    fn csv_columns_carry_their_fields() {
        let record = crate::cdr::record::distinct_record(30);
        let mut out = Vec::new();
        write_csv(std::slice::from_ref(&record), &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        // What each column should hold, by name, from the record's fields.
        let text_of = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut expected = std::collections::HashMap::new();
        let json = serde_json::to_value(&record).unwrap_or_else(|e| panic!("{e}"));
        for (field, value) in json.as_object().into_iter().flatten() {
            match value {
                serde_json::Value::Object(leg) => {
                    let side = field.trim_end_matches("media");
                    for (name, value) in leg {
                        expected.insert(format!("{side}{name}"), text_of(value));
                    }
                }
                serde_json::Value::Array(items) => {
                    let items: Vec<String> = items.iter().map(text_of).collect();
                    expected.insert(field.clone(), items.join(";"));
                }
                value => {
                    expected.insert(field.clone(), text_of(value));
                }
            }
        }
        assert_eq!(header.len(), expected.len(), "{text}");
        assert_eq!(row.len(), header.len(), "{text}");
        for (name, value) in header.iter().zip(&row) {
            assert_eq!(
                expected.get(*name).map(String::as_str),
                Some(*value),
                "{name}"
            );
        }
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let mut r = CallRecord::new("a,b".into());
        r.from_uri = "say \"hi\"".into();
        let mut out = Vec::new();
        write_csv(&[r], &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("call_uuid,sip_call_id,"));
        assert!(lines[1].contains(",\"a,b\","), "{text}");
        assert!(lines[1].contains(",\"say \"\"hi\"\"\","), "{text}");
    }
}
