//! `GET /metrics`: OpenMetrics text for Prometheus, encoded by the
//! `prometheus-client` crate from a [`Registry`].
//!
//! Every value is read at scrape time from state the server already keeps
//! (the call registry, the mixers, the pacer's counters, the TTS engine,
//! the descriptor budget, the Rayo hub), so serving metrics adds no work to
//! the signalling or media paths.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::calls::CallContext;
use crate::media::pacer::LatenessSummary;
use crate::rayo::RayoHub;

/// The prefix of every metric name.
pub const PREFIX: &str = "switchboard";

/// The media type of the OpenMetrics text format, which Prometheus accepts.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics `/metrics` serves; cheap to clone (one shared registry).
#[derive(Debug, Clone)]
pub struct Metrics(Arc<Registry>);

impl Default for Metrics {
    /// A registry with no metrics (for an HTTP listener without calls).
    fn default() -> Metrics {
        Metrics(Arc::new(Registry::with_prefix(PREFIX)))
    }
}

impl Metrics {
    /// The server's metrics, read from `context` (and the Rayo hub, when
    /// Rayo is configured) at each scrape.
    pub fn new(context: Arc<CallContext>, rayo: Option<RayoHub>) -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(ServerCollector { context, rayo }));
        Metrics(Arc::new(registry))
    }

    /// The exposition text of every metric, ending with `# EOF`.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(4096);
        prometheus_client::encoding::text::encode(&mut text, &self.0)?;
        Ok(text)
    }
}

/// The `/metrics` handler.
pub(super) async fn serve(State(metrics): State<Metrics>) -> Response {
    let started = Instant::now();
    match metrics.encode() {
        Ok(text) => {
            tracing::debug!(
                bytes = text.len(),
                micros = started.elapsed().as_micros() as u64,
                "metrics scraped"
            );
            ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "metrics could not be encoded");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Reads the server's own counters when Prometheus scrapes.
struct ServerCollector {
    context: Arc<CallContext>,
    rayo: Option<RayoHub>,
}

impl fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerCollector")
    }
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let context = &self.context;
        let e = &mut encoder;
        gauge(
            e,
            "calls_active",
            "Calls up now (in the call registry).",
            context.registry.len() as i64,
        )?;
        gauge(
            e,
            "calls_capacity",
            "Most calls the call registry holds at once.",
            context.registry.capacity() as i64,
        )?;
        gauge(
            e,
            "mixers_active",
            "Mixers (conferences) open now.",
            context.mixers.len() as i64,
        )?;
        let pacer = context.pacer.stats();
        gauge(
            e,
            "pacer_streams",
            "RTP streams the pacer sent for at its last tick.",
            pacer.streams as i64,
        )?;
        gauge(
            e,
            "pacer_rooms",
            "Conference rooms the pacer mixed at its last tick.",
            pacer.rooms as i64,
        )?;
        counter(
            e,
            "pacer_ticks",
            "Pacer ticks (20 ms each) run since start.",
            pacer.tick_lateness.count,
        )?;
        counter(
            e,
            "pacer_skipped_ticks",
            "Pacer ticks skipped because the pacer woke more than a tick late.",
            pacer.skipped_ticks,
        )?;
        counter(
            e,
            "pacer_unknown_stream_commands",
            "Pacer commands naming a stream, room or member it no longer holds.",
            pacer.unknown_stream_commands,
        )?;
        quantiles(
            e,
            "pacer_tick_lateness",
            "How late pacer ticks woke against their schedule since start (quantile 1 is the max).",
            &pacer.tick_lateness,
        )?;
        quantiles(
            e,
            "pacer_frame_lateness",
            "How late paced frames left against their 20 ms slot since start (quantile 1 is the max).",
            &pacer.frame_lateness,
        )?;
        quantiles(
            e,
            "pacer_tick_work",
            "How long each pacer tick's work took since start (quantile 1 is the max).",
            &pacer.walk_time,
        )?;
        counter(
            e,
            "tts_renders",
            "Text-to-speech engine runs since start (cache hits excluded).",
            context.tts.renders(),
        )?;
        gauge(
            e,
            "connections_open",
            "TCP connections open now (SIP, Agent RPC, Rayo, HTTP), as the descriptor budget counts them.",
            crate::fd_limit::SIGNALLING.in_use() as i64,
        )?;
        if let Some(rayo) = &self.rayo {
            gauge(
                e,
                "rayo_sessions",
                "Rayo client sessions bound now (XMPP resources).",
                rayo.bound() as i64,
            )?;
        }
        Ok(())
    }
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(e.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// A counter; the encoder adds `_total`.
fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), fmt::Error> {
    let counter = ConstCounter::new(value);
    counter.encode(e.encode_descriptor(name, help, None, counter.metric_type())?)
}

/// A lateness summary as a gauge family in seconds, one sample per
/// `quantile` (0.5, 0.99, and 1 for the exact maximum): the pacer keeps
/// fixed buckets without a sum, so these are its own percentiles.
fn quantiles(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    summary: &LatenessSummary,
) -> Result<(), fmt::Error> {
    let mut family = e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Gauge)?;
    for (quantile, value) in [
        ("0.5", summary.p50),
        ("0.99", summary.p99),
        ("1", summary.max),
    ] {
        let labels = [("quantile", quantile)];
        ConstGauge::new(seconds(value)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_registry_encodes_to_the_eof_marker() {
        assert_eq!(Metrics::default().encode().as_deref(), Ok("# EOF\n"));
    }

    /// Writes one metric of each shape the server collector uses.
    #[derive(Debug)]
    struct Shapes;

    impl Collector for Shapes {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
            gauge(&mut encoder, "up", "Up.", 2)?;
            counter(&mut encoder, "ticks", "Ticks.", 7)?;
            let summary = LatenessSummary {
                count: 3,
                p50: Duration::from_micros(150),
                p99: Duration::from_micros(3_050),
                max: Duration::from_millis(40),
            };
            quantiles(&mut encoder, "lateness", "Lateness.", &summary)
        }
    }

    #[test]
    fn gauges_counters_and_quantiles_follow_the_naming_conventions() {
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(Shapes));
        let text = Metrics(Arc::new(registry)).encode().expect("encodes");
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "switchboard_up 2",
                "switchboard_ticks_total 7",
                "switchboard_lateness_seconds{quantile=\"0.5\"} 0.00015",
                "switchboard_lateness_seconds{quantile=\"0.99\"} 0.00305",
                "switchboard_lateness_seconds{quantile=\"1\"} 0.04",
            ]
        );
        assert!(
            text.contains("# TYPE switchboard_ticks counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP switchboard_lateness_seconds Lateness.\n"),
            "{text}"
        );
    }
}
