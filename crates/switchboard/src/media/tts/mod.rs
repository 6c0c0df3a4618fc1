//! Text-to-speech: text in, 8 kHz audio out, cached and shared like prompts.
//!
//! A [`Renderer`] turns one [`TtsRequest`] into 8 kHz mono samples. It is an
//! object-safe trait whose `render` returns a boxed future: the engines here
//! run their program as a tokio child process (waiting on it parks no worker
//! thread) and decode its WAV on the blocking pool. [`EspeakRenderer`] is the
//! default; [`CommandRenderer`] runs an operator's engine from `tts.command`.
//!
//! [`Tts`] is the service every call shares: at most `tts.max_concurrent`
//! renders run at once (the rest wait their turn), and finished renders are
//! cached by (engine, voice, text, rate, volume) and encoded once per G.711
//! law, so a text spoken by a thousand calls is rendered once. Concurrent
//! requests for the same text wait for the first render, as prompt loads do.
//!
//! Voices: a request names a Rayo voice (`allison`), which `tts.voices` maps
//! to an engine voice (`en-us`). A request naming no voice, or one not in
//! the map, gets `tts.default_voice`. An unknown voice is logged at debug
//! level and not an error: Rayo clients name voices of other servers' engines
//! freely, and a caller hearing the default voice is better than silence.
//!
//! Failures are protocol answers: a missing engine binary, a timeout or an
//! unusable output is a [`Failure::Unplayable`] naming the cause, never a
//! panic.

mod cache;
mod command;
mod espeak;
mod process;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use call_control::Failure;
use indexmap::IndexMap;

use self::cache::{RenderCache, RenderKey};
use super::pacer::{PromptFrames, G711};
use crate::config::{TtsConfig, TtsEngine};

pub use self::command::CommandRenderer;
pub use self::espeak::EspeakRenderer;

/// Longest text rendered, in bytes; longer texts are refused, not cut.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Most WAV bytes an engine may produce for one render (about six minutes
/// of 44.1 kHz speech), so a runaway engine cannot fill memory.
pub const MAX_OUTPUT_BYTES: usize = 32 * 1024 * 1024;
/// About the most audio the cache holds, in bytes (samples and frames).
pub const CACHE_MAX_BYTES: usize = 256 * 1024 * 1024;

/// One thing to say, as the engine gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsRequest {
    /// The text, plain (no markup).
    pub text: String,
    /// The engine's voice name (already mapped from the Rayo name).
    pub voice: String,
    /// Speed factor: 1.0 is normal, 2.0 twice as fast.
    pub rate: f32,
    /// Gain applied to the rendered audio, in dB (0 = as rendered).
    pub volume_db: f32,
}

/// Why a render failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtsError {
    /// The engine program does not exist.
    #[error("text-to-speech engine {0} not found (install it, e.g. apt-get install espeak-ng, or set tts.command)")]
    EngineMissing(String),
    /// The engine could not be started or waited for.
    #[error("text-to-speech engine {0} could not run: {1}")]
    Spawn(String, String),
    /// The engine ran past `tts.timeout_ms` and was killed.
    #[error("text-to-speech engine {0} took longer than {1:?} and was stopped")]
    Timeout(String, Duration),
    /// The engine exited unsuccessfully.
    #[error("text-to-speech engine {0} failed ({1}): {2}")]
    Failed(String, String, String),
    /// The engine wrote more than [`MAX_OUTPUT_BYTES`].
    #[error("text-to-speech output larger than {0} bytes")]
    TooLarge(usize),
    /// The output could not be read or decoded.
    #[error("text-to-speech output unusable: {0}")]
    Output(String),
}

impl From<TtsError> for Failure {
    fn from(error: TtsError) -> Failure {
        Failure::Unplayable(error.to_string())
    }
}

/// The future a [`Renderer`] returns.
pub type RenderFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<i16>, TtsError>> + Send + 'a>>;

/// A text-to-speech engine: one request in, 8 kHz mono samples out.
///
/// `render` must not block the async worker it is polled on: run programs
/// as tokio child processes and CPU-bound work on the blocking pool.
pub trait Renderer: Send + Sync {
    /// The engine's name, part of the cache key and of log lines.
    fn engine(&self) -> &str;
    /// Renders `request` (volume is applied by [`Tts`], not here).
    fn render<'a>(&'a self, request: &'a TtsRequest) -> RenderFuture<'a>;
}

/// The engine program `config` runs when it cannot be found (a bare name
/// looked up in `PATH`, a path checked as is): the server warns at start
/// instead of the first caller finding out.
pub fn missing_engine(config: &TtsConfig) -> Option<std::path::PathBuf> {
    let program = match config.engine {
        TtsEngine::Command => config.command.first().map(String::as_str),
        TtsEngine::EspeakNg => Some("espeak-ng"),
    }
    .unwrap_or("espeak-ng");
    let path = std::path::Path::new(program);
    let found = if path.components().count() > 1 {
        path.is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
        })
    };
    (!found).then(|| path.to_path_buf())
}

/// Decodes an engine's WAV to 8 kHz mono on the blocking pool.
pub(crate) async fn decode_wav(wav: Vec<u8>) -> Result<Vec<i16>, TtsError> {
    let decoded = tokio::task::spawn_blocking(move || {
        crate::media::prompts::decode_to_8k(std::io::Cursor::new(wav), Some("wav"), None)
    })
    .await;
    match decoded {
        Ok(Ok(samples)) => Ok(samples),
        Ok(Err(failure)) => Err(TtsError::Output(failure.to_string())),
        Err(e) => Err(TtsError::Output(format!("decoder stopped: {e}"))),
    }
}

/// The text-to-speech service; cheap to clone, shared by all calls.
#[derive(Clone)]
pub struct Tts {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Tts {
    /// The engine only: the cache would be megabytes of audio.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tts")
            .field("engine", &self.shared.renderer.engine())
            .finish_non_exhaustive()
    }
}

struct Shared {
    renderer: Arc<dyn Renderer>,
    voices: IndexMap<String, String>,
    default_voice: String,
    permits: tokio::sync::Semaphore,
    cache: RenderCache,
    renders: AtomicU64,
}

impl Tts {
    /// The service `config` describes: espeak-ng from `PATH`, or the
    /// operator's command.
    pub fn new(config: &TtsConfig) -> Tts {
        let timeout = Duration::from_millis(config.timeout_ms);
        let renderer: Arc<dyn Renderer> = match config.engine {
            TtsEngine::Command => {
                match CommandRenderer::new(config.command.clone(), timeout, MAX_OUTPUT_BYTES) {
                    Some(renderer) => Arc::new(renderer),
                    // Validation requires a program; fall back rather than panic.
                    None => Arc::new(EspeakRenderer::new("espeak-ng", timeout, MAX_OUTPUT_BYTES)),
                }
            }
            TtsEngine::EspeakNg => {
                Arc::new(EspeakRenderer::new("espeak-ng", timeout, MAX_OUTPUT_BYTES))
            }
        };
        Tts::with_renderer(config, renderer)
    }

    /// The service with `config`'s voices and limits around any renderer
    /// (tests, or engines not run as programs).
    pub fn with_renderer(config: &TtsConfig, renderer: Arc<dyn Renderer>) -> Tts {
        Tts {
            shared: Arc::new(Shared {
                renderer,
                voices: config
                    .voices
                    .iter()
                    .map(|(name, voice)| (name.to_lowercase(), voice.clone()))
                    .collect(),
                default_voice: config.default_voice.clone(),
                permits: tokio::sync::Semaphore::new(config.max_concurrent.max(1)),
                cache: RenderCache::new(config.cache_entries, CACHE_MAX_BYTES),
                renders: AtomicU64::new(0),
            }),
        }
    }

    /// The engine voice for a requested Rayo voice name: its `tts.voices`
    /// entry, else the default voice (mapped through `tts.voices` too).
    pub fn engine_voice(&self, voice: Option<&str>) -> String {
        let shared = &self.shared;
        if let Some(name) = voice.filter(|v| !v.is_empty()) {
            if let Some(mapped) = shared.voices.get(&name.to_lowercase()) {
                return mapped.clone();
            }
            tracing::debug!(voice = name, default = %shared.default_voice, "unknown voice, using the default");
        }
        shared
            .voices
            .get(&shared.default_voice.to_lowercase())
            .unwrap_or(&shared.default_voice)
            .clone()
    }

    /// `text` spoken as frames in `codec`: rendered at most once per
    /// (voice, text, rate, volume) while cached, and shared by every caller.
    pub async fn render(
        &self,
        text: &str,
        voice: Option<&str>,
        rate: f32,
        volume_db: f32,
        codec: G711,
    ) -> Result<PromptFrames, Failure> {
        let (key, slot) = self.slot(text, voice, rate, volume_db)?;
        let mut rendered = slot.lock().await;
        let pcm = self.fill(&key, &mut rendered, rate, volume_db).await?;
        let frames = rendered.frames(&pcm, codec);
        self.account(&key, &rendered);
        Ok(frames)
    }

    /// `text` spoken as 8 kHz mono samples, cached like [`Tts::render`]
    /// (for mixing, recording, or anything that is not a G.711 stream).
    pub async fn render_pcm(
        &self,
        text: &str,
        voice: Option<&str>,
        rate: f32,
        volume_db: f32,
    ) -> Result<Arc<[i16]>, Failure> {
        let (key, slot) = self.slot(text, voice, rate, volume_db)?;
        let mut rendered = slot.lock().await;
        let pcm = self.fill(&key, &mut rendered, rate, volume_db).await?;
        self.account(&key, &rendered);
        Ok(pcm)
    }

    /// How many times the engine has run: cache hits do not count.
    pub fn renders(&self) -> u64 {
        self.shared.renders.load(Ordering::Relaxed)
    }

    fn slot(
        &self,
        text: &str,
        voice: Option<&str>,
        rate: f32,
        volume_db: f32,
    ) -> Result<(RenderKey, cache::Slot), Failure> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(Failure::BadRequest(format!(
                "text to speak is longer than {MAX_TEXT_BYTES} bytes"
            )));
        }
        if !rate.is_finite() || rate <= 0.0 || !volume_db.is_finite() {
            return Err(Failure::BadRequest(format!(
                "unusable speech rate {rate} or volume {volume_db} dB"
            )));
        }
        let key = RenderKey {
            engine: self.shared.renderer.engine().to_string(),
            voice: self.engine_voice(voice),
            text: text.to_string(),
            rate_milli: (rate * 1000.0).round() as i32,
            volume_milli_db: (volume_db * 1000.0).round() as i32,
        };
        let slot = self.shared.cache.slot(&key);
        Ok((key, slot))
    }

    /// The slot's samples, rendering them first if it has none. Runs with
    /// the slot locked, so one render serves everyone waiting on it.
    async fn fill(
        &self,
        key: &RenderKey,
        rendered: &mut cache::Rendered,
        rate: f32,
        volume_db: f32,
    ) -> Result<Arc<[i16]>, Failure> {
        if let Some(pcm) = &rendered.pcm {
            return Ok(pcm.clone());
        }
        if key.text.trim().is_empty() {
            let pcm: Arc<[i16]> = Arc::from(Vec::new());
            rendered.pcm = Some(pcm.clone());
            return Ok(pcm);
        }
        let request = TtsRequest {
            text: key.text.clone(),
            voice: key.voice.clone(),
            rate,
            volume_db,
        };
        let permit = self
            .shared
            .permits
            .acquire()
            .await
            .map_err(|_| Failure::Internal("text-to-speech service closed".into()))?;
        self.shared.renders.fetch_add(1, Ordering::Relaxed);
        let engine = self.shared.renderer.engine().to_string();
        let samples = self.shared.renderer.render(&request).await;
        drop(permit);
        let mut samples = samples.map_err(|e| {
            tracing::warn!(%engine, error = %e, "text-to-speech render failed");
            Failure::from(e)
        })?;
        apply_gain(&mut samples, volume_db);
        tracing::debug!(%engine, voice = %key.voice, samples = samples.len(), "text rendered");
        let pcm: Arc<[i16]> = Arc::from(samples);
        rendered.pcm = Some(pcm.clone());
        Ok(pcm)
    }

    fn account(&self, key: &RenderKey, rendered: &cache::Rendered) {
        let samples = rendered.pcm.as_ref().map_or(0, |p| p.len());
        let laws = usize::from(rendered.pcmu.is_some()) + usize::from(rendered.pcma.is_some());
        self.shared.cache.account(key, samples * (2 + laws));
    }
}

/// Scales `samples` by `db` decibels, saturating.
fn apply_gain(samples: &mut [i16], db: f32) {
    if db == 0.0 {
        return;
    }
    let factor = 10f32.powf(db / 20.0);
    for sample in samples {
        *sample = (f32::from(*sample) * factor)
            .round()
            .clamp(-32768.0, 32767.0) as i16;
    }
}

#[cfg(test)]
mod tests;
