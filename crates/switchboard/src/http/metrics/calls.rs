//! Call totals and the call-record pipeline: counters the calls keep in
//! [`CallTotals`](crate::calls::totals::CallTotals) and
//! [`CdrCounters`](crate::cdr::CdrCounters), read at scrape time.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use super::counter;
use crate::calls::totals::Controlled;
use crate::calls::CallContext;
use crate::cdr::Disposition;

/// Writes the call and call-record families.
pub(super) fn encode(e: &mut DescriptorEncoder, context: &CallContext) -> Result<(), fmt::Error> {
    let totals = &context.totals;
    let mut started = e.encode_descriptor(
        "calls_started",
        "Calls started (an admitted INVITE or a dial), by controller (agent, rayo, none); its rate is the setup rate.",
        None,
        MetricType::Counter,
    )?;
    for controlled in Controlled::ALL {
        let labels = [("controller", controlled.as_str())];
        ConstCounter::new(totals.started_count(controlled))
            .encode(started.encode_family(&labels)?)?;
    }
    let mut answered = e.encode_descriptor(
        "calls_answered",
        "Calls answered, by controller.",
        None,
        MetricType::Counter,
    )?;
    for controlled in Controlled::ALL {
        let labels = [("controller", controlled.as_str())];
        ConstCounter::new(totals.answered_count(controlled))
            .encode(answered.encode_family(&labels)?)?;
    }
    let mut finished = e.encode_descriptor(
        "calls_finished",
        "Calls ended, and INVITEs refused (disposition refused, controller none), by controller and disposition as the call records name them.",
        None,
        MetricType::Counter,
    )?;
    for controlled in Controlled::ALL {
        for disposition in Disposition::ALL {
            let labels = [
                ("controller", controlled.as_str()),
                ("disposition", disposition.as_str()),
            ];
            ConstCounter::new(totals.finished_count(controlled, disposition))
                .encode(finished.encode_family(&labels)?)?;
        }
    }
    let records = context.cdr.counters().snapshot();
    counter(
        e,
        "cdr_records_written",
        "Call detail records committed to the store.",
        records.written,
    )?;
    counter(
        e,
        "cdr_records_dropped",
        "Call detail records dropped because the writer's queue was full.",
        records.dropped,
    )?;
    counter(
        e,
        "cdr_write_errors",
        "Call detail records lost because the store refused their batch.",
        records.write_errors,
    )
}
