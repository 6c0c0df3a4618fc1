//! WAV files in the shapes telephony uses: 16-bit PCM, mono or stereo, at 8
//! or 16 kHz in; stereo 8 kHz out (one call leg per channel, as recordings
//! are) and mono 16-bit in memory (captured audio, test prompts).
//!
//! Anything else (8-bit, 24-bit, float, 44.1 kHz, more channels) is refused
//! with [`WavError::Unsupported`]; prompts in other formats go through the
//! player's decoder and resampler instead, not through here.

use std::fs::File;
use std::io::{BufReader, BufWriter, Cursor, Read, Seek, Write};
use std::path::Path;
use thiserror::Error;

/// Why a WAV file could not be read or written.
#[derive(Debug, Error)]
pub enum WavError {
    /// The container is malformed or the I/O failed.
    #[error("WAV: {0}")]
    Format(#[from] hound::Error),
    /// A well-formed file in a format we do not take.
    #[error("unsupported WAV format: {channels} channel(s), {sample_rate} Hz, {bits} bit {kind}")]
    Unsupported {
        /// Channel count.
        channels: u16,
        /// Sample rate in Hz.
        sample_rate: u32,
        /// Bits per sample.
        bits: u16,
        /// "integer" or "float".
        kind: &'static str,
    },
    /// Left and right channels of different lengths.
    #[error("stereo channels differ in length ({left} vs {right} samples)")]
    ChannelLengths {
        /// Left channel length.
        left: usize,
        /// Right channel length.
        right: usize,
    },
}

/// Decoded 16-bit audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavAudio {
    /// 8000 or 16000.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Samples, interleaved when stereo.
    pub samples: Vec<i16>,
}

impl WavAudio {
    /// Reads a WAV file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, WavError> {
        Self::read(BufReader::new(
            File::open(path).map_err(hound::Error::IoError)?,
        ))
    }

    /// Reads WAV data from any reader.
    pub fn read(reader: impl Read) -> Result<Self, WavError> {
        let reader = hound::WavReader::new(reader)?;
        let spec = reader.spec();
        let supported = matches!(spec.channels, 1 | 2)
            && matches!(spec.sample_rate, 8000 | 16000)
            && spec.bits_per_sample == 16
            && spec.sample_format == hound::SampleFormat::Int;
        if !supported {
            return Err(WavError::Unsupported {
                channels: spec.channels,
                sample_rate: spec.sample_rate,
                bits: spec.bits_per_sample,
                kind: match spec.sample_format {
                    hound::SampleFormat::Int => "integer",
                    hound::SampleFormat::Float => "float",
                },
            });
        }
        let samples = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            samples,
        })
    }

    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        let frames = self.samples.len() as u64 / u64::from(self.channels.max(1));
        frames * 1000 / u64::from(self.sample_rate.max(1))
    }

    /// The audio as one channel (stereo is averaged).
    pub fn to_mono(&self) -> Vec<i16> {
        if self.channels == 1 {
            return self.samples.clone();
        }
        self.samples
            .chunks_exact(2)
            .map(|lr| ((i32::from(lr[0]) + i32::from(lr[1])) / 2) as i16)
            .collect()
    }

    /// One channel (0 = left) of a stereo file, or the mono samples.
    pub fn channel(&self, index: usize) -> Vec<i16> {
        let step = usize::from(self.channels.max(1));
        self.samples
            .iter()
            .skip(index)
            .step_by(step)
            .copied()
            .collect()
    }
}

/// The spec of what we write: stereo, 8 kHz, 16-bit.
fn stereo_8k() -> hound::WavSpec {
    hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// Writes a stereo 8 kHz recording frame by frame (left = one leg, right = the other).
pub struct StereoWavWriter<W: Write + Seek> {
    writer: hound::WavWriter<W>,
}

impl StereoWavWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, WavError> {
        Ok(Self {
            writer: hound::WavWriter::create(path, stereo_8k())?,
        })
    }
}

impl<W: Write + Seek> StereoWavWriter<W> {
    /// Writes into any seekable writer (the header is patched on finish).
    pub fn new(writer: W) -> Result<Self, WavError> {
        Ok(Self {
            writer: hound::WavWriter::new(writer, stereo_8k())?,
        })
    }

    /// Appends one block of both channels; they must be the same length.
    pub fn write(&mut self, left: &[i16], right: &[i16]) -> Result<(), WavError> {
        if left.len() != right.len() {
            return Err(WavError::ChannelLengths {
                left: left.len(),
                right: right.len(),
            });
        }
        let mut block = self.writer.get_i16_writer(2 * left.len() as u32);
        for (&l, &r) in left.iter().zip(right) {
            block.write_sample(l);
            block.write_sample(r);
        }
        block.flush()?;
        Ok(())
    }

    /// Completes the header; without it the file's lengths read as zero.
    pub fn finish(self) -> Result<(), WavError> {
        self.writer.finalize()?;
        Ok(())
    }
}

/// A complete mono 16-bit PCM WAV file in memory.
pub fn mono_wav(samples: &[i16], sample_rate: u32) -> Result<Vec<u8>, WavError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    let mut writer = hound::WavWriter::new(&mut cursor, spec)?;
    for &sample in samples {
        writer.write_sample(sample)?;
    }
    writer.finalize()?;
    Ok(cursor.into_inner())
}

/// Writes a whole stereo 8 kHz file in one call.
pub fn write_stereo_8k(
    path: impl AsRef<Path>,
    left: &[i16],
    right: &[i16],
) -> Result<(), WavError> {
    let mut w = StereoWavWriter::create(path)?;
    w.write(left, right)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mono_wav_in_memory_reads_back() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 31) as i16).collect();
        let bytes = mono_wav(&samples, 8000).expect("written");
        assert_eq!(bytes.len(), 44 + 2 * samples.len());
        let audio = WavAudio::read(Cursor::new(bytes)).expect("reads back");
        assert_eq!((audio.channels, audio.sample_rate), (1, 8000));
        assert_eq!(audio.samples, samples);
    }

    fn wav_bytes(spec: hound::WavSpec, samples: &[i16]) -> Vec<u8> {
        let mut cursor = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        cursor.into_inner()
    }

    fn spec(channels: u16, sample_rate: u32) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn reads_mono_16k_and_stereo_8k() {
        let mono: Vec<i16> = (0..1600).map(|i| (i * 7) as i16).collect();
        let a = WavAudio::read(Cursor::new(wav_bytes(spec(1, 16000), &mono))).unwrap();
        assert_eq!(
            (a.channels, a.sample_rate, a.duration_ms()),
            (1, 16000, 100)
        );
        assert_eq!(a.to_mono(), mono);
        let stereo = [100i16, -100, 300, 100, -32768, -32768];
        let a = WavAudio::read(Cursor::new(wav_bytes(spec(2, 8000), &stereo))).unwrap();
        assert_eq!(a.to_mono(), vec![0, 200, -32768]);
        assert_eq!(a.channel(0), vec![100, 300, -32768]);
        assert_eq!(a.channel(1), vec![-100, 100, -32768]);
    }

    #[test]
    fn refuses_other_formats_and_garbage() {
        let bytes = wav_bytes(spec(1, 44100), &[0; 10]);
        assert!(matches!(
            WavAudio::read(Cursor::new(bytes)),
            Err(WavError::Unsupported {
                sample_rate: 44100,
                ..
            })
        ));
        let bytes = wav_bytes(spec(3, 8000), &[0; 9]);
        assert!(matches!(
            WavAudio::read(Cursor::new(bytes)),
            Err(WavError::Unsupported { channels: 3, .. })
        ));
        let mut eight_bit = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(
            &mut eight_bit,
            hound::WavSpec {
                bits_per_sample: 8,
                ..spec(1, 8000)
            },
        )
        .unwrap();
        w.write_sample(1i8).unwrap();
        w.finalize().unwrap();
        assert!(matches!(
            WavAudio::read(Cursor::new(eight_bit.into_inner())),
            Err(WavError::Unsupported { bits: 8, .. })
        ));
        assert!(matches!(
            WavAudio::read(Cursor::new(b"RIFF\x10\0\0\0WAVEnope".to_vec())),
            Err(WavError::Format(_))
        ));
        let mut truncated = wav_bytes(spec(1, 8000), &[1; 100]);
        truncated.truncate(60);
        assert!(WavAudio::read(Cursor::new(truncated)).is_err());
    }

    #[test]
    fn stereo_writer_round_trip() {
        let mut cursor = Cursor::new(Vec::new());
        let mut w = StereoWavWriter::new(&mut cursor).unwrap();
        w.write(&[1, 2, 3], &[-1, -2, -3]).unwrap();
        w.write(&[4], &[-4]).unwrap();
        assert!(matches!(
            w.write(&[1, 2], &[1]),
            Err(WavError::ChannelLengths { left: 2, right: 1 })
        ));
        w.finish().unwrap();
        let a = WavAudio::read(Cursor::new(cursor.into_inner())).unwrap();
        assert_eq!((a.channels, a.sample_rate), (2, 8000));
        assert_eq!(a.samples, vec![1, -1, 2, -2, 3, -3, 4, -4]);
    }

    proptest::proptest! {
        #[test]
        fn hostile_headers_do_not_panic(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 14..18),
            format_tag in proptest::prop_oneof![proptest::prelude::Just(1u16), proptest::prelude::any::<u16>()],
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            data_len in proptest::prelude::any::<u32>(),
        ) {
            // A PCM fmt chunk with arbitrary channels, rate, alignment and bits.
            let mut fmt = format_tag.to_le_bytes().to_vec();
            fmt.extend_from_slice(&tail);
            let mut bytes = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
            bytes.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&fmt);
            bytes.extend_from_slice(b"data");
            bytes.extend_from_slice(&data_len.to_le_bytes());
            bytes.extend_from_slice(&data);
            let _ = WavAudio::read(Cursor::new(bytes));
        }
    }

    #[test]
    fn file_round_trip() {
        let path = std::env::temp_dir().join(format!("media-wav-{}.wav", std::process::id()));
        write_stereo_8k(&path, &[10; 800], &[-10; 800]).unwrap();
        let a = WavAudio::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(a.duration_ms(), 100);
        assert_eq!(a.channel(1), vec![-10; 800]);
        assert!(matches!(WavAudio::open(&path), Err(WavError::Format(_))));
    }
}
