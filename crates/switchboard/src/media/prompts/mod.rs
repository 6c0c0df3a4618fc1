//! Prompts for `play`: loaded from the playback directory or over HTTP,
//! decoded to 8 kHz mono, encoded in the stream's G.711 law once, and shared
//! by every call that plays them.
//!
//! A prompt is cached per (source, law) as the frames the pacer sends, so a
//! repeated `play` costs one `stat` (files) or one conditional GET (HTTP)
//! instead of a decode. A file whose modification time or length changed is
//! decoded again; an HTTP prompt is revalidated with `If-None-Match` /
//! `If-Modified-Since` and reused on 304. Loads of the same source and law
//! wait for each other, so a burst of calls playing a new prompt decodes it
//! once. The cache holds at most [`PromptConfig::cache_entries`] prompts and
//! forgets the least recently played first.
//!
//! Failures are protocol answers: a URI that is malformed, has another scheme
//! or points outside the playback directory is a
//! [`Failure::BadRequest`]; a missing file or HTTP 404 is
//! [`Failure::NotFound`]; anything that exists but cannot be fetched within
//! the limits or decoded is [`Failure::Unplayable`].

mod decode;
mod http;
mod slots;
mod uri;

use std::fmt;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use call_control::Failure;
use symphonia::core::io::MediaSource;

pub(crate) use self::decode::decode_to_8k;
use self::http::{Fetched, HttpValidator, PromptFetcher};
use self::slots::{Slots, SourceKey};
use self::uri::PromptUri;
use super::pacer::{PromptFrames, G711};

pub use self::decode::MAX_DURATION;

/// Limits and roots for loading prompts.
#[derive(Debug, Clone)]
pub struct PromptConfig {
    /// Where `file://` prompts are looked up; nothing outside it is served.
    pub playback_dir: PathBuf,
    /// Connect and total time allowed for one HTTP fetch.
    pub http_timeout: Duration,
    /// Largest HTTP body accepted, so a wrong URL cannot fill memory.
    pub max_bytes: u64,
    /// Prompts kept decoded; 0 disables the cache.
    pub cache_entries: usize,
}

impl Default for PromptConfig {
    fn default() -> PromptConfig {
        PromptConfig {
            playback_dir: PathBuf::from("."),
            http_timeout: Duration::from_secs(10),
            max_bytes: 20 * 1024 * 1024,
            cache_entries: 256,
        }
    }
}

/// Largest text document [`Prompts::load_text`] takes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// The prompt loader and cache; cheap to clone, shared by all calls.
#[derive(Clone)]
pub struct Prompts {
    shared: Arc<Shared>,
}

impl fmt::Debug for Prompts {
    /// Only the directory: the cached frames would be megabytes of output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prompts")
            .field("playback_dir", &self.shared.playback_dir)
            .finish_non_exhaustive()
    }
}

struct Shared {
    playback_dir: PathBuf,
    fetcher: PromptFetcher,
    slots: Slots<Cached>,
}

/// A cached prompt and the version of the source it was decoded from.
/// Its audio counts in [`cache_stats`] while it lives.
#[derive(Debug)]
struct Cached {
    version: Version,
    frames: PromptFrames,
}

impl Cached {
    fn new(version: Version, frames: PromptFrames) -> Cached {
        CACHE_BYTES.fetch_add(frame_bytes(&frames), Ordering::Relaxed);
        Cached { version, frames }
    }
}

impl Drop for Cached {
    fn drop(&mut self) {
        CACHE_BYTES.fetch_sub(frame_bytes(&self.frames), Ordering::Relaxed);
    }
}

fn frame_bytes(frames: &PromptFrames) -> u64 {
    (frames.len() * std::mem::size_of::<crate::media::pacer::Frame>()) as u64
}

/// Loads the cache answered from frames it held (a file unchanged, an HTTP
/// 304), process-wide.
static CACHE_HITS: AtomicU64 = AtomicU64::new(0);
/// Loads that decoded the prompt (first use, or its source changed).
static CACHE_MISSES: AtomicU64 = AtomicU64::new(0);
/// Decoded audio the cache holds now.
static CACHE_BYTES: AtomicU64 = AtomicU64::new(0);

/// How the prompt cache has done since start, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptCacheStats {
    /// Loads served from frames already decoded.
    pub hits: u64,
    /// Loads that decoded their prompt.
    pub misses: u64,
    /// Bytes of decoded frames the cache holds now.
    pub bytes: u64,
}

/// The prompt cache's counters (every [`Prompts`] of the process together).
pub fn cache_stats() -> PromptCacheStats {
    PromptCacheStats {
        hits: CACHE_HITS.load(Ordering::Relaxed),
        misses: CACHE_MISSES.load(Ordering::Relaxed),
        bytes: CACHE_BYTES.load(Ordering::Relaxed),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    File(FileVersion),
    Http(HttpValidator),
}

/// What tells a changed prompt file from the one decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    modified: Option<SystemTime>,
    len: u64,
}

impl FileVersion {
    fn of(metadata: &std::fs::Metadata) -> FileVersion {
        FileVersion {
            modified: metadata.modified().ok(),
            len: metadata.len(),
        }
    }
}

impl Prompts {
    /// A loader with an empty cache.
    pub fn new(config: PromptConfig) -> Prompts {
        Prompts {
            shared: Arc::new(Shared {
                fetcher: PromptFetcher::new(config.http_timeout, config.max_bytes),
                slots: Slots::new(config.cache_entries),
                playback_dir: config.playback_dir,
            }),
        }
    }

    /// The prompt at `uri` as frames in `codec`, decoded at most once per
    /// version of the source and shared with every other caller.
    pub async fn load(&self, uri: &str, codec: G711) -> Result<PromptFrames, Failure> {
        let parsed = PromptUri::parse(uri)?;
        let extension = parsed.extension();
        match parsed {
            PromptUri::File(relative) => self.load_file(relative, extension, codec).await,
            PromptUri::Http(url) => self.load_http(url, extension, codec).await,
        }
    }

    /// A text document (an SSML document, a URI list, an SRGS grammar)
    /// at `uri`, `file://` under the playback directory or `http(s)://`,
    /// at most [`MAX_DOCUMENT_BYTES`], UTF-8. Not cached: documents are
    /// small and usually made per request.
    pub async fn load_text(&self, uri: &str) -> Result<String, Failure> {
        let too_big = || {
            Failure::Unplayable(format!(
                "document larger than the {MAX_DOCUMENT_BYTES} byte limit"
            ))
        };
        let bytes = match PromptUri::parse(uri)? {
            PromptUri::File(relative) => {
                let root = self.shared.playback_dir.clone();
                blocking(move || {
                    let path = uri::resolve(&root, &relative)?;
                    let metadata = std::fs::metadata(&path).map_err(|e| uri::file_error(&e))?;
                    if metadata.len() > MAX_DOCUMENT_BYTES as u64 {
                        return Err(too_big());
                    }
                    std::fs::read(&path).map_err(|e| uri::file_error(&e))
                })
                .await?
            }
            PromptUri::Http(url) => match self.shared.fetcher.fetch(&url, None).await? {
                Fetched::Body { bytes, .. } => bytes,
                Fetched::NotModified => {
                    return Err(Failure::Unplayable("HTTP 304 without a cached copy".into()))
                }
            },
        };
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(too_big());
        }
        String::from_utf8(bytes)
            .map_err(|_| Failure::Unplayable(format!("{uri} is not UTF-8 text")))
    }

    async fn load_file(
        &self,
        relative: PathBuf,
        extension: Option<String>,
        codec: G711,
    ) -> Result<PromptFrames, Failure> {
        let root = self.shared.playback_dir.clone();
        let path = blocking(move || uri::resolve(&root, &relative)).await?;
        let slot = self.shared.slots.slot(SourceKey::File(path.clone()), codec);
        let mut cached = slot.lock().await;
        let held = cached.as_ref().and_then(|c| match c.version {
            Version::File(version) => Some(version),
            Version::Http(_) => None,
        });
        let outcome = blocking(move || read_file(&path, held, extension.as_deref(), codec)).await;
        match outcome {
            Ok(None) => match cached.as_ref() {
                Some(current) => {
                    CACHE_HITS.fetch_add(1, Ordering::Relaxed);
                    Ok(current.frames.clone())
                }
                None => Err(Failure::Internal("prompt cache lost an entry".into())),
            },
            Ok(Some((version, frames))) => {
                CACHE_MISSES.fetch_add(1, Ordering::Relaxed);
                *cached = Some(Cached::new(Version::File(version), frames.clone()));
                Ok(frames)
            }
            Err(failure) => {
                *cached = None;
                Err(failure)
            }
        }
    }

    async fn load_http(
        &self,
        url: reqwest::Url,
        extension: Option<String>,
        codec: G711,
    ) -> Result<PromptFrames, Failure> {
        let slot = self
            .shared
            .slots
            .slot(SourceKey::Http(url.to_string()), codec);
        let mut cached = slot.lock().await;
        let held = cached.as_ref().and_then(|c| match &c.version {
            Version::Http(validator) if validator.is_usable() => Some(validator.clone()),
            _ => None,
        });
        let fetched = match self.shared.fetcher.fetch(&url, held.as_ref()).await {
            Ok(fetched) => fetched,
            Err(failure) => {
                if matches!(failure, Failure::NotFound(_)) {
                    *cached = None;
                }
                return Err(failure);
            }
        };
        let (bytes, content_type, validator) = match fetched {
            Fetched::NotModified => {
                return match cached.as_ref() {
                    Some(current) => {
                        CACHE_HITS.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%url, "prompt not modified, reusing frames");
                        Ok(current.frames.clone())
                    }
                    None => Err(Failure::Internal("prompt cache lost an entry".into())),
                };
            }
            Fetched::Body {
                bytes,
                content_type,
                validator,
            } => (bytes, content_type, validator),
        };
        let frames = blocking(move || {
            let source = std::io::Cursor::new(bytes);
            decode(source, extension.as_deref(), content_type.as_deref(), codec)
        })
        .await;
        match frames {
            Ok(frames) => {
                tracing::debug!(%url, frames = frames.len(), "prompt fetched and decoded");
                CACHE_MISSES.fetch_add(1, Ordering::Relaxed);
                *cached = Some(Cached::new(Version::Http(validator), frames.clone()));
                Ok(frames)
            }
            Err(failure) => {
                *cached = None;
                Err(failure)
            }
        }
    }
}

/// Decodes the file unless its version is `held`: `None` means the cached
/// frames are current. Blocking.
fn read_file(
    path: &Path,
    held: Option<FileVersion>,
    extension: Option<&str>,
    codec: G711,
) -> Result<Option<(FileVersion, PromptFrames)>, Failure> {
    let metadata = std::fs::metadata(path).map_err(|e| uri::file_error(&e))?;
    if !metadata.is_file() {
        return Err(Failure::Unplayable("not a regular file".into()));
    }
    if held == Some(FileVersion::of(&metadata)) {
        return Ok(None);
    }
    let file = std::fs::File::open(path).map_err(|e| uri::file_error(&e))?;
    // The version of the bytes actually read, should the file be replaced
    // between the stat above and the open.
    let version = FileVersion::of(&file.metadata().map_err(|e| uri::file_error(&e))?);
    let frames = decode(file, extension, None, codec)?;
    tracing::debug!(path = %path.display(), frames = frames.len(), "prompt file decoded");
    Ok(Some((version, frames)))
}

fn decode<S: MediaSource + Read + Seek + 'static>(
    source: S,
    extension: Option<&str>,
    mime_type: Option<&str>,
    codec: G711,
) -> Result<PromptFrames, Failure> {
    let samples = decode_to_8k(source, extension, mime_type)?;
    Ok(PromptFrames::encode(&samples, codec))
}

/// Runs file-system and decoding work off the async workers. A panic in a
/// decoder on hostile input becomes an unplayable prompt, not a dead call.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(Failure::Unplayable("decoder failed on this file".into())),
        Err(e) => Err(Failure::Internal(format!("prompt loading cancelled: {e}"))),
    }
}
