//! What an [`RtpPeer`](crate::rtp_peer::RtpPeer) sends: the codec, the
//! source (tone, silence, samples from a WAV file, RFC 4733 digits), and the
//! 20 ms frame each tick of the sender's clock takes from it.
//!
//! RFC 4733 events follow the audio clock: an event starts on a tick, takes
//! that tick's RTP timestamp, and its packets go out on the ticks their
//! `send_offset` falls in (duration 160 on the first tick, 320 on the next,
//! …, the end packet ×3 back to back on the last). The ticks between events
//! carry silent audio on the codec's payload type, so the timestamps of the
//! whole stream stay one clock.

use std::path::Path;
use std::sync::Arc;

use media::dtmf_event::TelephoneEventSender;
use media::tone::ToneGenerator;
use media::wav::{WavAudio, WavError};

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// The G.711 law the sender encodes audio with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// µ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec of a static payload type, if it is G.711.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Encodes one frame of linear samples.
    pub fn encode(self, samples: &[i16], out: &mut [u8]) -> usize {
        match self {
            Codec::Pcmu => media::g711::encode_ulaw(samples, out),
            Codec::Pcma => media::g711::encode_alaw(samples, out),
        }
    }

    /// Decodes G.711 codes into linear samples.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        match self {
            Codec::Pcmu => media::g711::decode_ulaw(codes, out),
            Codec::Pcma => media::g711::decode_alaw(codes, out),
        }
    }
}

/// What the sender puts on the wire; finite sources fall back to silence.
#[derive(Debug, Clone)]
pub enum Source {
    /// Send nothing (timestamps keep advancing, as for a muted phone).
    Off,
    /// Silent audio frames.
    Silence,
    /// A continuous sine.
    Tone {
        /// Frequency in Hz.
        frequency: f64,
        /// Level in dBm0.
        dbm0: f64,
    },
    /// 8 kHz linear samples, played once (then silence) or looped.
    Samples {
        /// The audio.
        samples: Arc<[i16]>,
        /// Start again at the end instead of falling silent.
        looped: bool,
    },
    /// RFC 4733 telephone-events, one per digit, with silent audio between
    /// and after them.
    Digits {
        /// DTMF digits (`0`–`9`, `*`, `#`, `A`–`D`); others are skipped.
        digits: String,
        /// The telephone-event payload type (often 101).
        payload_type: u8,
        /// Length of each event, in ms (rounded to 20 ms frames).
        duration_ms: u32,
        /// Silence after each event, in ms (rounded to 20 ms frames).
        gap_ms: u32,
    },
}

impl Source {
    /// A WAV file's audio (8 kHz, 16-bit; stereo is averaged to mono), played once.
    pub fn wav(path: impl AsRef<Path>) -> Result<Source, WavError> {
        let audio = WavAudio::open(path)?;
        if audio.sample_rate != 8000 {
            return Err(WavError::Unsupported {
                channels: audio.channels,
                sample_rate: audio.sample_rate,
                bits: 16,
                kind: "integer (the RTP peer sends 8 kHz only)",
            });
        }
        Ok(Source::Samples {
            samples: audio.to_mono().into(),
            looped: false,
        })
    }

    /// RFC 4733 digits of 100 ms with 100 ms gaps on `payload_type`.
    pub fn digits(digits: &str, payload_type: u8) -> Source {
        Source::Digits {
            digits: digits.to_string(),
            payload_type,
            duration_ms: 100,
            gap_ms: 100,
        }
    }

    /// In-band DTMF: each digit's dual tone for `on_ms` at `dbm0_each` per
    /// frequency, then `off_ms` of silence; characters that are not digits are skipped.
    pub fn inband_dtmf(digits: &str, on_ms: u32, off_ms: u32, dbm0_each: f64) -> Source {
        let mut samples = Vec::new();
        for digit in digits.chars() {
            let Some(mut tone) = ToneGenerator::dtmf(digit, dbm0_each) else {
                continue;
            };
            samples.extend(tone.take(on_ms as usize * 8));
            samples.resize(samples.len() + off_ms as usize * 8, 0);
        }
        Source::Samples {
            samples: samples.into(),
            looped: false,
        }
    }
}

/// A source in progress.
pub(crate) enum Playing {
    Off,
    Silence,
    Tone(ToneGenerator),
    Samples {
        samples: Arc<[i16]>,
        looped: bool,
        position: usize,
    },
    Digits {
        /// Remaining digits (reversed, so `pop` gives the next).
        pending: Vec<char>,
        payload_type: u8,
        frames: u32,
        gap_frames: u32,
        /// The event being sent and the tick it started on.
        current: Option<(TelephoneEventSender, u64)>,
        /// Silent frames left before the next digit.
        gap_left: u32,
    },
}

impl Playing {
    pub(crate) fn new(source: Source) -> Playing {
        match source {
            Source::Off => Playing::Off,
            Source::Silence => Playing::Silence,
            Source::Tone { frequency, dbm0 } => Playing::Tone(ToneGenerator::sine(frequency, dbm0)),
            Source::Samples { samples, looped } => Playing::Samples {
                samples,
                looped,
                position: 0,
            },
            Source::Digits {
                digits,
                payload_type,
                duration_ms,
                gap_ms,
            } => Playing::Digits {
                pending: digits.chars().rev().collect(),
                payload_type,
                frames: duration_ms.div_ceil(20).clamp(1, 3000),
                gap_frames: gap_ms.div_ceil(20),
                current: None,
                gap_left: 0,
            },
        }
    }

    /// Whether a finite source has played everything.
    pub(crate) fn finished(&self) -> bool {
        match self {
            Playing::Samples {
                samples,
                looped,
                position,
            } => !looped && *position >= samples.len(),
            Playing::Digits {
                pending,
                current,
                gap_left,
                ..
            } => pending.is_empty() && current.is_none() && *gap_left == 0,
            _ => true,
        }
    }
}

/// What one tick puts on the wire.
pub(crate) enum Frame {
    Nothing,
    Audio(Box<[i16; FRAME_SAMPLES]>),
    /// Telephone-event payloads with their marker bit and event timestamp.
    Events(u8, Vec<(bool, u32, [u8; 4])>),
}

/// The frame of `tick` (RTP timestamp `timestamp`) from `playing`.
pub(crate) fn next_frame(playing: &mut Playing, tick: u64, timestamp: u32) -> Frame {
    let mut samples = [0i16; FRAME_SAMPLES];
    match playing {
        Playing::Off => return Frame::Nothing,
        Playing::Silence => {}
        Playing::Tone(generator) => generator.fill(&mut samples),
        Playing::Samples {
            samples: source,
            looped,
            position,
        } => {
            for s in &mut samples {
                if *position >= source.len() && *looped && !source.is_empty() {
                    *position = 0;
                }
                if let Some(&v) = source.get(*position) {
                    *s = v;
                    *position += 1;
                }
            }
        }
        Playing::Digits {
            pending,
            payload_type,
            frames,
            gap_frames,
            current,
            gap_left,
        } => {
            if current.is_none() && *gap_left == 0 {
                while let Some(digit) = pending.pop() {
                    let sender = TelephoneEventSender::for_digit(
                        digit,
                        10,
                        timestamp,
                        160,
                        (*frames * 160).min(u32::from(u16::MAX)) as u16,
                    );
                    if let Some(sender) = sender {
                        *current = Some((sender, tick));
                        break;
                    }
                }
            }
            if let Some((sender, started)) = current {
                let due = (tick - *started + 1) * 160;
                let mut events = Vec::new();
                while let Some(next) = sender.clone().next() {
                    if u64::from(next.send_offset) > due {
                        break;
                    }
                    sender.next();
                    events.push((next.marker, next.timestamp, next.event.to_bytes()));
                }
                if sender.clone().next().is_none() {
                    *current = None;
                    *gap_left = *gap_frames;
                }
                return Frame::Events(*payload_type, events);
            }
            *gap_left = gap_left.saturating_sub(1);
        }
    }
    Frame::Audio(Box::new(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets per tick: `A` for audio, or the event packets' (marker, end, duration).
    fn run(source: Source, ticks: u64) -> (Vec<String>, bool) {
        let mut playing = Playing::new(source);
        let mut out = Vec::new();
        for tick in 0..ticks {
            let ts = 1000 + tick as u32 * 160;
            out.push(match next_frame(&mut playing, tick, ts) {
                Frame::Nothing => "-".to_string(),
                Frame::Audio(_) => "A".to_string(),
                Frame::Events(pt, events) => {
                    assert_eq!(pt, 101);
                    let parts: Vec<String> = events
                        .iter()
                        .map(|(marker, ts, payload)| {
                            let e = media::dtmf_event::TelephoneEvent::parse(payload)
                                .expect("a telephone-event");
                            format!(
                                "{}{}{}@{ts}",
                                u8::from(*marker),
                                u8::from(e.end),
                                e.duration
                            )
                        })
                        .collect();
                    parts.join(",")
                }
            });
        }
        (out, playing.finished())
    }

    #[test]
    fn digit_events_follow_the_audio_clock() {
        let source = Source::Digits {
            digits: "1x2".into(), // 'x' is skipped
            payload_type: 101,
            duration_ms: 100,
            gap_ms: 40,
        };
        let (ticks, finished) = run(source.clone(), 14);
        assert_eq!(
            ticks,
            [
                "10160@1000",
                "00320@1000",
                "00480@1000",
                "00640@1000",
                "01800@1000,01800@1000,01800@1000",
                "A",
                "A",
                "10160@2120",
                "00320@2120",
                "00480@2120",
                "00640@2120",
                "01800@2120,01800@2120,01800@2120",
                "A",
                "A",
            ]
        );
        assert!(finished);
        assert!(!run(source, 13).1, "the last gap is part of the source");
    }

    #[test]
    fn samples_play_once_or_loop_and_off_sends_nothing() {
        let samples: Arc<[i16]> = vec![1000; 200].into();
        let mut once = Playing::new(Source::Samples {
            samples: samples.clone(),
            looped: false,
        });
        let Frame::Audio(first) = next_frame(&mut once, 0, 0) else {
            panic!("audio");
        };
        assert!(first.iter().all(|&s| s == 1000));
        let Frame::Audio(second) = next_frame(&mut once, 1, 160) else {
            panic!("audio");
        };
        assert_eq!(second[39], 1000);
        assert!(second[40..].iter().all(|&s| s == 0));
        assert!(once.finished());
        let mut looped = Playing::new(Source::Samples {
            samples,
            looped: true,
        });
        next_frame(&mut looped, 0, 0);
        let Frame::Audio(wrapped) = next_frame(&mut looped, 1, 160) else {
            panic!("audio");
        };
        assert!(wrapped.iter().all(|&s| s == 1000));
        assert!(!looped.finished());
        let mut off = Playing::new(Source::Off);
        assert!(matches!(next_frame(&mut off, 0, 0), Frame::Nothing));
    }

    #[test]
    fn wav_is_read_as_mono() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.wav");
        media::wav::write_stereo_8k(&path, &[1, 2], &[3, 4]).expect("write WAV");
        let Source::Samples { samples, looped } = Source::wav(&path).expect("8 kHz") else {
            panic!("samples");
        };
        assert_eq!((&samples[..], looped), (&[2i16, 3][..], false));
        assert!(Source::wav(dir.path().join("missing.wav")).is_err());
    }
}
