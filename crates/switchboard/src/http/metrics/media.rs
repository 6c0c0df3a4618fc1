//! Media families: RTP totals over every session (live ones read at
//! scrape time, ended ones folded in when they end), recordings, the prompt
//! cache and text-to-speech.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{counter, gauge, gauge_seconds};
use crate::calls::CallContext;
use crate::media::session::rtp_totals;

/// Writes the RTP families.
pub(super) fn encode_rtp(e: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
    let rtp = rtp_totals();
    gauge(
        e,
        "rtp_sessions",
        "RTP sessions (one per call leg with media) open now.",
        rtp.sessions as i64,
    )?;
    counter(
        e,
        "rtp_packets_received",
        "RTP packets accepted from the peers' latched sources.",
        rtp.packets_received,
    )?;
    counter(
        e,
        "rtp_payload_bytes_received",
        "Payload bytes of the RTP packets accepted.",
        rtp.octets_received,
    )?;
    counter(
        e,
        "rtp_packets_lost",
        "RTP packets the peers' sequence numbers say never arrived (RFC 3550 cumulative loss, summed over sessions).",
        rtp.packets_lost,
    )?;
    counter(
        e,
        "rtp_packets_sent",
        "RTP packets sent: paced (prompts, agents' audio, conference mixes) and relayed between bridged legs.",
        rtp.packets_sent,
    )?;
    counter(
        e,
        "rtp_payload_bytes_sent",
        "Payload bytes of the RTP packets sent.",
        rtp.octets_sent,
    )?;
    gauge_seconds(
        e,
        "rtp_jitter_max",
        "The largest interarrival jitter (RFC 3550) of a live session's received RTP.",
        rtp.jitter_max,
    )?;
    gauge_seconds(
        e,
        "rtp_jitter_mean",
        "The mean interarrival jitter (RFC 3550) over live sessions that received RTP.",
        rtp.jitter_mean,
    )
}

/// Writes the recording, prompt cache and TTS families.
pub(super) fn encode_media_files(
    e: &mut DescriptorEncoder,
    context: &CallContext,
) -> Result<(), fmt::Error> {
    let (started, ended) = crate::media::recorder::recording_counts();
    gauge(
        e,
        "recordings_active",
        "Recordings in progress (files being written).",
        started.saturating_sub(ended) as i64,
    )?;
    counter(
        e,
        "recordings_finished",
        "Recordings ended since start (finished or cut short).",
        ended,
    )?;
    let prompts = crate::media::prompts::cache_stats();
    counter(
        e,
        "prompt_cache_hits",
        "Prompt loads served from frames already decoded (file unchanged, HTTP 304).",
        prompts.hits,
    )?;
    counter(
        e,
        "prompt_cache_misses",
        "Prompt loads that decoded their prompt (first use or a changed source).",
        prompts.misses,
    )?;
    gauge(
        e,
        "prompt_cache_bytes",
        "Decoded prompt audio the prompt cache holds now, in bytes.",
        prompts.bytes as i64,
    )?;
    counter(
        e,
        "tts_renders",
        "Text-to-speech engine runs since start (cache hits excluded).",
        context.tts.renders(),
    )
}
