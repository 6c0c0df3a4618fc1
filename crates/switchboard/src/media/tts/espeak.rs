//! The default renderer: espeak-ng as a subprocess.
//!
//! The text goes on stdin (never through a shell or as an argument, so it
//! cannot be read as an option), the WAV comes back on stdout (`--stdout`)
//! and is decoded and resampled to 8 kHz like a prompt file.

use std::path::PathBuf;

use super::process::{run, RunLimits};
use super::{decode_wav, RenderFuture, Renderer, TtsRequest};

/// espeak-ng's normal speed in words per minute (its `-s` default).
const NORMAL_WPM: f32 = 175.0;
/// The speeds espeak-ng accepts.
const WPM: std::ops::RangeInclusive<f32> = 80.0..=450.0;

/// Renders with espeak-ng (Debian package `espeak-ng`).
#[derive(Debug, Clone)]
pub struct EspeakRenderer {
    program: PathBuf,
    limits: RunLimits,
}

impl EspeakRenderer {
    /// Runs `program` (normally `espeak-ng`, looked up in `PATH`) with the
    /// given wall-clock limit and stdout cap per render.
    pub fn new(
        program: impl Into<PathBuf>,
        timeout: std::time::Duration,
        max_output: usize,
    ) -> Self {
        EspeakRenderer {
            program: program.into(),
            limits: RunLimits {
                timeout,
                max_output,
            },
        }
    }

    /// The arguments for `request`: WAV on stdout, UTF-8 text on stdin.
    fn args(request: &TtsRequest) -> Vec<String> {
        let wpm = (NORMAL_WPM * request.rate).clamp(*WPM.start(), *WPM.end());
        vec![
            "--stdout".into(),
            "-b".into(),
            "1".into(),
            "-v".into(),
            request.voice.clone(),
            "-s".into(),
            format!("{}", wpm.round() as u32),
        ]
    }
}

impl Renderer for EspeakRenderer {
    fn engine(&self) -> &str {
        "espeak-ng"
    }

    fn render<'a>(&'a self, request: &'a TtsRequest) -> RenderFuture<'a> {
        Box::pin(async move {
            let args = Self::args(request);
            let wav = run(&self.program, &args, request.text.as_bytes(), self.limits).await?;
            decode_wav(wav).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_becomes_words_per_minute_within_espeaks_range() {
        let request = |rate| TtsRequest {
            text: "x".into(),
            voice: "en-us".into(),
            rate,
            volume_db: 0.0,
        };
        let speed = |rate| EspeakRenderer::args(&request(rate))[6].clone();
        assert_eq!(speed(1.0), "175");
        assert_eq!(speed(2.0), "350");
        assert_eq!(speed(0.1), "80");
        assert_eq!(speed(10.0), "450");
        assert_eq!(EspeakRenderer::args(&request(1.0))[4], "en-us");
    }
}
