//! `GET /metrics`: OpenMetrics text for Prometheus, encoded by the
//! `prometheus-client` crate from a [`Registry`].
//!
//! Every value is read at scrape time from state the server already keeps
//! (the call registry, the mixers, the SIP stack's counters the driver
//! publishes, the pacer's counters, the live RTP sessions, the agent and
//! Rayo hubs, the TTS engine, the descriptor budget), so serving metrics
//! adds no work to the signalling or media paths. The one exception is
//! command latency ([`commands`]): one observation per controller command.
//! The families are listed in `docs/configuration.md` ("Metrics").

mod calls;
pub mod commands;
mod media;
mod pacer;
pub mod queues;
pub mod sip;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::mpsc;

use self::queues::QueueLoad;
use crate::agent_rpc::AgentHub;
use crate::calls::CallContext;
use crate::rayo::RayoHub;
use crate::transport::Inbound;

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

/// What the server's metrics are read from at each scrape.
#[derive(Debug)]
pub struct MetricSources {
    /// Calls, mixers, the pacer, prompts, TTS and the SIP command queue.
    pub context: Arc<CallContext>,
    /// The Rayo hub, when Rayo is configured.
    pub rayo: Option<RayoHub>,
    /// The agent hub.
    pub agents: AgentHub,
    /// The driver's inbound queue (messages the transports parsed), for
    /// its depth; weak, so it never keeps the queue open.
    pub inbound: mpsc::WeakSender<Inbound>,
}

impl Metrics {
    /// The server's metrics, read from `sources` at each scrape.
    pub fn new(sources: MetricSources) -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(ServerCollector(sources)));
        Metrics(Arc::new(registry))
    }

    /// The exposition text of every metric, ending with `# EOF`.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
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
struct ServerCollector(MetricSources);

impl fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerCollector")
    }
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let sources = &self.0;
        let context = &sources.context;
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
        calls::encode(e, context)?;
        sip::encode(e)?;
        pacer::encode(e, &context.pacer)?;
        media::encode_rtp(e)?;
        let (agents, invitations) = sources.agents.connections();
        gauge(
            e,
            "agent_connections",
            "Agent RPC connections live now (every agent endpoint).",
            agents as i64,
        )?;
        commands::AGENT.encode(
            e,
            "agent_command_duration",
            "Agent RPC requests, from arrival to their final response, by op.",
            "op",
        )?;
        if let Some(rayo) = &sources.rayo {
            gauge(
                e,
                "rayo_sessions",
                "Rayo client sessions bound now (XMPP resources).",
                rayo.bound() as i64,
            )?;
            commands::RAYO.encode(
                e,
                "rayo_command_duration",
                "Rayo command IQs, from arrival to their result or error, by command.",
                "command",
            )?;
        }
        queues(e, sources, invitations)?;
        media::encode_media_files(e, context)?;
        gauge(
            e,
            "connections_open",
            "TCP connections open now (SIP, Agent RPC, Rayo, HTTP), as the descriptor budget counts them.",
            crate::fd_limit::SIGNALLING.in_use() as i64,
        )?;
        Ok(())
    }
}

/// One number of a queue's load.
type ReadLoad = fn(&QueueLoad) -> usize;

/// The depth of the queues between the server's tasks, each with its bound.
fn queues(
    e: &mut DescriptorEncoder,
    sources: &MetricSources,
    invitations: usize,
) -> Result<(), fmt::Error> {
    let mut inbound = QueueLoad::default();
    if let Some(sender) = sources.inbound.upgrade() {
        inbound.add(&sender);
    }
    let mut commands = QueueLoad::default();
    commands.add(&sources.context.sip);
    let mut loads = vec![
        ("sip_inbound", inbound),
        ("sip_commands", commands),
        (
            "agent_invitations",
            QueueLoad {
                queued: invitations,
                ..QueueLoad::default()
            },
        ),
        ("agent_writers", sources.agents.queue_loads()),
        ("call_events", queues::CALL_EVENTS.load()),
    ];
    if let Some(rayo) = &sources.rayo {
        let (events, streams) = rayo.queue_loads();
        loads.push(("rayo_events", events));
        loads.push(("xmpp_streams", streams));
    }
    let families: [(&str, &str, ReadLoad); 3] = [
        (
            "queue_depth",
            "Items waiting in the queues between the server's tasks: the SIP driver's inbound messages (sip_inbound), calls' SIP commands (sip_commands), call offers waiting for agent connections (agent_invitations), frames waiting for agent sockets (agent_writers), SIP events waiting for call actors (call_events, summed by the driver once a second), Rayo clients' stanzas waiting for the Rayo service (rayo_events), stanzas waiting for Rayo clients' XMPP streams (xmpp_streams). Per-connection queues are summed.",
            |load| load.queued,
        ),
        (
            "queue_depth_max",
            "Items waiting in the fullest single queue of each kind in switchboard_queue_depth (one connection's, for per-connection queues).",
            |load| load.fullest,
        ),
        (
            "queue_capacity",
            "The bound of each queue in switchboard_queue_depth, summed over connections for per-connection queues (0 for agent_invitations, not read).",
            |load| load.capacity,
        ),
    ];
    for (name, help, read) in families {
        let mut family = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (queue, load) in &loads {
            let gauge = ConstGauge::new(read(load) as i64);
            gauge.encode(family.encode_family(&[("queue", *queue)])?)?;
        }
    }
    Ok(())
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(e.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// A gauge in seconds; the encoder adds `_seconds` to the name.
fn gauge_seconds(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Duration,
) -> Result<(), fmt::Error> {
    let gauge = ConstGauge::new(value.as_secs_f64());
    gauge.encode(e.encode_descriptor(name, help, Some(&Unit::Seconds), gauge.metric_type())?)
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

/// A histogram read at scrape time, in seconds.
#[derive(Debug, Clone, PartialEq)]
struct Histogram {
    sum: f64,
    count: u64,
    /// (upper bound, values in this bucket only), ending with +Inf.
    buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// One unlabelled histogram `name_seconds`.
    fn encode(&self, e: &mut DescriptorEncoder, name: &str, help: &str) -> Result<(), fmt::Error> {
        let family =
            e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        self.write(family)
    }

    /// A family `name_seconds` of labelled histograms.
    fn encode_family<L: EncodeLabelSet>(
        e: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        series: impl Iterator<Item = (L, Histogram)>,
    ) -> Result<(), fmt::Error> {
        let mut family =
            e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        for (labels, histogram) in series {
            histogram.write(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn write(&self, mut encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }
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
            let histogram = Histogram {
                sum: 0.0042,
                count: 3,
                buckets: vec![(0.001, 1), (0.01, 2), (f64::INFINITY, 0)],
            };
            histogram.encode(&mut encoder, "lateness", "Lateness.")?;
            let series = [("b", histogram.clone())].into_iter();
            let series = series.map(|(op, h)| ([("op", op)], h));
            Histogram::encode_family(&mut encoder, "op_duration", "Ops.", series)
        }
    }

    #[test]
    fn gauges_counters_and_histograms_follow_the_naming_conventions() {
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(Shapes));
        let text = Metrics(Arc::new(registry)).encode().expect("encodes");
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "switchboard_up 2",
                "switchboard_ticks_total 7",
                "switchboard_lateness_seconds_sum 0.0042",
                "switchboard_lateness_seconds_count 3",
                "switchboard_lateness_seconds_bucket{le=\"0.001\"} 1",
                "switchboard_lateness_seconds_bucket{le=\"0.01\"} 3",
                "switchboard_lateness_seconds_bucket{le=\"+Inf\"} 3",
                "switchboard_op_duration_seconds_sum{op=\"b\"} 0.0042",
                "switchboard_op_duration_seconds_count{op=\"b\"} 3",
                "switchboard_op_duration_seconds_bucket{le=\"0.001\",op=\"b\"} 1",
                "switchboard_op_duration_seconds_bucket{le=\"0.01\",op=\"b\"} 3",
                "switchboard_op_duration_seconds_bucket{le=\"+Inf\",op=\"b\"} 3",
            ]
        );
        assert!(
            text.contains("# TYPE switchboard_ticks counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE switchboard_lateness_seconds histogram\n"),
            "{text}"
        );
    }
}
