//! Call record write throughput and cost per call (ignored: a measurement,
//! not a check). Run in release, one store or both:
//!
//! ```text
//! cargo test --release -p switchboard --test cdr_bench -- --ignored --nocapture
//! ```
//!
//! 100,000 records (`CDR_BENCH_RECORDS` to change) go through the real
//! sink and writer: the sink's cost is what a call pays as it ends; the
//! writer's rate is records committed per second with the queue full.

mod cdr_common;
mod common;

use std::time::Instant;

use switchboard::cdr::{CallRecord, CdrService};
use switchboard::config::CdrConfig;

fn count() -> usize {
    std::env::var("CDR_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

/// A record like an answered agent call's.
fn record(i: usize) -> CallRecord {
    let mut r = CallRecord::new(format!("{i:016x}@bench.example"));
    r.controller_call_id = Some(format!("call-{i}"));
    r.from_uri = "sip:alice@192.0.2.10:5060".into();
    r.to_uri = "sip:555@192.0.2.1".into();
    r.dialed = "555".into();
    r.route = "555".into();
    r.from_endpoint = "local".into();
    r.to_endpoint = "myagent".into();
    r.controller = "agent".into();
    r.setup_ms = 1_760_000_000_000 + i as i64;
    r.answer_ms = Some(r.setup_ms + 900);
    r.end_ms = r.setup_ms + 60_000;
    r.disposition = "answered".into();
    r.sip_status = Some(200);
    r.ended_by = Some("a".into());
    r.a_media.packets_received = 3000;
    r.a_media.packets_sent = 3000;
    r
}

fn measure(name: &str, config: CdrConfig) {
    let n = count();
    // Building a record is the other part of a call's cost (a call copies
    // its strings into one as it ends).
    let built = Instant::now();
    let records: Vec<CallRecord> = (0..n).map(record).collect();
    let build_ns = built.elapsed().as_nanos() as f64 / n as f64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let service = CdrService::start(&CdrConfig { queue: n, ..config }).expect("store opens");
        let started = Instant::now();
        for r in records {
            service.sink.submit(r);
        }
        let submitted = started.elapsed();
        if let Some(writer) = service.writer {
            writer.stop(std::time::Duration::from_secs(600)).await;
        }
        let total = started.elapsed();
        let counts = service.sink.counters().snapshot();
        assert_eq!(counts.written, n as u64, "{counts:?}");
        println!(
            "{name}: {n} records in {:.2} s = {:.0} records/s; per call: build {build_ns:.0} ns, submit {:.0} ns; {counts:?}",
            total.as_secs_f64(),
            n as f64 / total.as_secs_f64(),
            submitted.as_nanos() as f64 / n as f64,
        );
    });
}

#[test]
#[ignore]
fn sqlite_throughput() {
    let dir = tempfile::tempdir().expect("temp dir");
    measure(
        "SQLite",
        CdrConfig {
            sqlite: Some(dir.path().join("cdr.sqlite")),
            ..CdrConfig::default()
        },
    );
}

#[test]
#[ignore]
fn postgres_throughput() {
    let Some(cluster) = cdr_common::postgres::Cluster::start() else {
        return;
    };
    measure(
        "PostgreSQL",
        CdrConfig {
            postgres: Some(cluster.url.clone()),
            ..CdrConfig::default()
        },
    );
}
