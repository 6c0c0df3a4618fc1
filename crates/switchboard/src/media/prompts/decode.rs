//! Any supported audio file to 8 kHz mono samples, the only form the pacer
//! plays.
//!
//! Symphonia demuxes and decodes (WAV with integer, float, µ-law or A-law
//! samples, and MP3); channels are averaged to mono and rubato's FFT resampler
//! (band-limited, so 16 or 44.1 kHz speech does not alias into the telephone
//! band) converts the rate while packets are still being decoded. The
//! resampler runs as the packets arrive so memory follows the 8 kHz output,
//! not the (possibly much larger) source; the output is capped at
//! [`MAX_DURATION`] so a hostile file cannot exhaust memory.
//!
//! Blocking and CPU-bound: callers run it on the blocking pool.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use call_control::Failure;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

/// The pacer's sample rate.
pub(super) const OUTPUT_RATE: u32 = 8000;

/// The longest prompt decoded; longer sources are refused, not truncated.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// Source rates outside this range are refused: below it nothing useful is
/// left, above it the resampler's FFT sizes grow without purpose.
const RATES: std::ops::RangeInclusive<u32> = 1000..=384_000;

/// Most channels a WAV may declare. Symphonia's own checks overflow (and
/// panic in debug builds) on absurd counts, so those are refused first.
const MAX_WAV_CHANNELS: u16 = 64;

/// Decodes `source` to 8 kHz mono samples. `extension` and `mime_type` are
/// hints for the container probe; the content decides.
pub(crate) fn decode_to_8k<S: MediaSource + Read + Seek + 'static>(
    mut source: S,
    extension: Option<&str>,
    mime_type: Option<&str>,
) -> Result<Vec<i16>, Failure> {
    let mut head = Vec::with_capacity(HEAD_LEN);
    (&mut source)
        .take(HEAD_LEN as u64)
        .read_to_end(&mut head)
        .and_then(|_| source.seek(SeekFrom::Start(0)))
        .map_err(|e| unplayable(format!("cannot read audio: {e}")))?;
    check_wav_channels(&head)?;
    let stream = MediaSourceStream::new(Box::new(source), Default::default());
    let mut hint = Hint::new();
    if let Some(extension) = extension {
        hint.with_extension(extension);
    }
    if let Some(mime_type) = mime_type {
        hint.mime_type(mime_type);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| unplayable(format!("not a supported audio file: {e}")))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| unplayable("no audio track"))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or_else(|| unplayable("no audio track"))?;
    let rate = params
        .sample_rate
        .ok_or_else(|| unplayable("unknown sample rate"))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| unplayable(format!("unsupported codec: {e}")))?;
    let mut converter = RateConverter::new(rate)?;

    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(SymphoniaError::ResetRequired) => break,
            // A file cut short plays up to the cut, as players do.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(e) => return Err(unplayable(format!("cannot read audio: {e}"))),
        };
        if packet.track_id != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // One damaged packet (an MP3 frame, say) is skipped, not fatal.
            Err(SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_)) => continue,
            Err(e) => return Err(unplayable(format!("cannot decode audio: {e}"))),
        };
        let channels = decoded.num_planes();
        if channels == 0 {
            return Err(unplayable("audio has no channels"));
        }
        decoded.copy_to_vec_interleaved(&mut interleaved);
        mono.clear();
        mono.extend(
            interleaved
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        converter.push(&mono)?;
    }
    let samples = converter.finish()?;
    if samples.is_empty() {
        return Err(unplayable("no audio decoded"));
    }
    Ok(samples.into_iter().map(to_i16).collect())
}

/// How much of the start of a source is examined before decoding.
const HEAD_LEN: usize = 4096;

/// Refuses a WAV whose `fmt ` chunk (if within `head`) declares no channels
/// or more than [`MAX_WAV_CHANNELS`]. Anything else is left to the decoder.
fn check_wav_channels(head: &[u8]) -> Result<(), Failure> {
    if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Ok(());
    }
    let mut chunk = &head[12..];
    while let (Some(id), Some(size)) = (chunk.get(..4), chunk.get(4..8)) {
        let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
        if id == b"fmt " {
            let Some(channels) = chunk.get(10..12) else {
                return Ok(());
            };
            let channels = u16::from_le_bytes([channels[0], channels[1]]);
            if channels == 0 || channels > MAX_WAV_CHANNELS {
                return Err(unplayable(format!("WAV declares {channels} channels")));
            }
            return Ok(());
        }
        // Chunks are padded to an even length.
        let next = 8usize.saturating_add(size).saturating_add(size & 1);
        chunk = chunk.get(next..).unwrap_or_default();
    }
    Ok(())
}

fn unplayable(reason: impl Into<String>) -> Failure {
    Failure::Unplayable(reason.into())
}

/// Full-scale float to 16-bit PCM; NaN becomes silence (`as` saturates).
fn to_i16(sample: f32) -> i16 {
    (sample * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Streams mono samples at the source rate into 8 kHz output.
struct RateConverter {
    /// `None` when the source is already 8 kHz.
    resampler: Option<Fft<f32>>,
    rate: u32,
    /// Input not yet a whole resampler chunk.
    pending: Vec<f32>,
    output: Vec<f32>,
    input_frames: u64,
    max_input_frames: u64,
}

impl RateConverter {
    fn new(rate: u32) -> Result<RateConverter, Failure> {
        if !RATES.contains(&rate) {
            return Err(unplayable(format!("unsupported sample rate {rate} Hz")));
        }
        let resampler = if rate == OUTPUT_RATE {
            None
        } else {
            let resampler = Fft::new(
                rate as usize,
                OUTPUT_RATE as usize,
                1024,
                1,
                FixedSync::Input,
            )
            .map_err(|e| unplayable(format!("cannot resample from {rate} Hz: {e}")))?;
            Some(resampler)
        };
        Ok(RateConverter {
            resampler,
            rate,
            pending: Vec::new(),
            output: Vec::new(),
            input_frames: 0,
            max_input_frames: u64::from(rate) * MAX_DURATION.as_secs(),
        })
    }

    fn push(&mut self, samples: &[f32]) -> Result<(), Failure> {
        self.input_frames += samples.len() as u64;
        if self.input_frames > self.max_input_frames {
            return Err(unplayable(format!(
                "prompt longer than {} minutes",
                MAX_DURATION.as_secs() / 60
            )));
        }
        let Some(resampler) = self.resampler.as_mut() else {
            self.output.extend_from_slice(samples);
            return Ok(());
        };
        self.pending.extend_from_slice(samples);
        let mut consumed = 0;
        while self.pending.len() - consumed >= resampler.input_frames_next() {
            let input = &self.pending[consumed..];
            consumed += run_chunk(resampler, input, input.len(), &mut self.output)?;
        }
        self.pending.drain(..consumed);
        Ok(())
    }

    /// Flushes the resampler and returns exactly `duration × 8 kHz` samples,
    /// its start-up delay trimmed.
    fn finish(mut self) -> Result<Vec<f32>, Failure> {
        let Some(mut resampler) = self.resampler.take() else {
            return Ok(self.output);
        };
        let expected =
            (self.input_frames * u64::from(OUTPUT_RATE)).div_ceil(u64::from(self.rate)) as usize;
        let delay = resampler.output_delay();
        let mut partial = std::mem::take(&mut self.pending);
        while self.output.len() < expected + delay {
            // The tail, then silence, until the delayed output is all out.
            let valid = partial.len();
            partial.resize(resampler.input_frames_next().max(valid), 0.0);
            run_chunk(&mut resampler, &partial, valid, &mut self.output)?;
            partial.clear();
        }
        self.output.drain(..delay);
        self.output.truncate(expected);
        Ok(self.output)
    }
}

/// Resamples one chunk from the start of `input`, of which `valid` frames are
/// real (the rest is read as silence); appends to `output` and returns the
/// frames consumed.
fn run_chunk(
    resampler: &mut Fft<f32>,
    input: &[f32],
    valid: usize,
    output: &mut Vec<f32>,
) -> Result<usize, Failure> {
    let failed = |e: &dyn std::fmt::Display| Failure::Internal(format!("resampler: {e}"));
    let wanted = resampler.input_frames_next();
    let start = output.len();
    output.resize(start + resampler.output_frames_next(), 0.0);
    let frames_out = output.len() - start;
    let input_buffer = InterleavedSlice::new(input, 1, input.len()).map_err(|e| failed(&e))?;
    let mut output_buffer =
        InterleavedSlice::new_mut(&mut output[start..], 1, frames_out).map_err(|e| failed(&e))?;
    let indexing = (valid < wanted).then(|| Indexing::new().partial_len(valid));
    let (consumed, produced) = resampler
        .process_into_buffer(&input_buffer, &mut output_buffer, indexing.as_ref())
        .map_err(|e| failed(&e))?;
    output.truncate(start + produced);
    Ok(consumed.min(valid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sine(rate: u32, frequency: f32, seconds: f32) -> Vec<f32> {
        let count = (rate as f32 * seconds) as usize;
        (0..count)
            .map(|n| 0.5 * (2.0 * std::f32::consts::PI * frequency * n as f32 / rate as f32).sin())
            .collect()
    }

    fn convert(rate: u32, input: &[f32], push_size: usize) -> Vec<f32> {
        let mut converter = RateConverter::new(rate).expect("supported rate");
        for chunk in input.chunks(push_size) {
            converter.push(chunk).expect("short input");
        }
        converter.finish().expect("resampled")
    }

    #[test]
    fn resampling_keeps_duration_whatever_the_push_sizes() {
        for (rate, seconds) in [(16_000, 1.0), (44_100, 0.37), (11_025, 0.02), (48_000, 2.5)] {
            let input = sine(rate, 440.0, seconds);
            let expected = (input.len() as u64 * 8000).div_ceil(u64::from(rate)) as usize;
            for push in [1, 333, 4096, input.len()] {
                assert_eq!(convert(rate, &input, push).len(), expected, "{rate} Hz");
            }
        }
    }

    #[test]
    fn resampling_keeps_the_tone_and_removes_what_8_khz_cannot_carry() {
        let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        let pass = convert(16_000, &sine(16_000, 1000.0, 1.0), 1000);
        // Skip the edges, where the filter rings.
        assert!((rms(&pass[400..7600]) - 0.3535).abs() < 0.02);
        let alias = convert(16_000, &sine(16_000, 6000.0, 1.0), 1000);
        assert!(rms(&alias[400..7600]) < 0.01, "6 kHz folded into the band");
    }

    #[test]
    fn overlong_and_odd_rate_sources_are_refused() {
        let mut converter = RateConverter::new(8000).expect("8 kHz");
        let minute = vec![0.0f32; 8000 * 60];
        let result = (0..11).try_for_each(|_| converter.push(&minute));
        assert!(matches!(result, Err(Failure::Unplayable(_))));
        assert!(RateConverter::new(0).is_err());
        assert!(RateConverter::new(u32::MAX).is_err());
    }

    #[test]
    fn garbage_and_truncated_headers_are_unplayable() {
        let inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"this is not audio at all".repeat(50),
            b"RIFF\xff\xff\xff\xffWAVEfmt ".to_vec(),
            // A 'fmt ' chunk declaring 0 channels and a huge data chunk.
            [
                &b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x00\x00"[..],
                &b"\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\xff\xff\xff\x7f"[..],
            ]
            .concat(),
        ];
        for input in inputs {
            let result = decode_to_8k(Cursor::new(input), Some("wav"), None);
            assert!(matches!(result, Err(Failure::Unplayable(_))), "{result:?}");
        }
    }

    /// A small stereo 16 kHz WAV: 64 frames of a ramp.
    fn small_wav() -> Vec<u8> {
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF\x24\x01\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00");
        wav.extend_from_slice(
            b"\x80\x3e\x00\x00\x00\xfa\x00\x00\x04\x00\x10\x00data\x00\x01\x00\x00",
        );
        wav.extend((0..256).map(|i| i as u8));
        wav
    }

    #[test]
    fn absurd_channel_counts_are_refused_before_decoding() {
        let mut wav = small_wav();
        assert_eq!(
            decode_to_8k(Cursor::new(wav.clone()), None, None).map(|s| s.len()),
            Ok(32)
        );
        for channels in [0u16, 65, 0xffff] {
            wav[22..24].copy_from_slice(&channels.to_le_bytes());
            let result = decode_to_8k(Cursor::new(wav.clone()), None, None);
            assert!(matches!(result, Err(Failure::Unplayable(_))), "{channels}");
        }
    }

    #[test]
    fn mangled_headers_never_panic() {
        let mp3 = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/prompts/tone-1khz.mp3"
        ))
        .expect("fixture");
        let wav = small_wav();
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for round in 0..600 {
            let (mut input, span) = if round % 2 == 0 {
                (wav.clone(), 44)
            } else {
                (mp3.clone(), 400)
            };
            for _ in 0..rng.usize(1..6) {
                input[rng.usize(..span)] = rng.u8(..);
            }
            // Any outcome but a panic (which fails the test) is fine.
            let _ = decode_to_8k(Cursor::new(input), None, None);
        }
    }
}
