//! The `tts` section (text-to-speech) and the recording-URL keys of `http`:
//! their file form, validated form and checks.
//!
//! Both have defaults for every key, so a server with neither section speaks
//! with espeak-ng and signs recording URLs with a secret made at start.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{position, ConfigError, ConfigErrorKind, KeyPath};

/// Placeholders a `tts.command` argument may hold.
pub const COMMAND_PLACEHOLDERS: [&str; 4] = ["{voice}", "{rate}", "{output}", "{text}"];

/// `tts.engine`: which renderer turns text into audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TtsEngine {
    /// espeak-ng run as a subprocess (the Debian package `espeak-ng`).
    #[default]
    #[serde(rename = "espeak-ng")]
    EspeakNg,
    /// The operator's own engine, run from `tts.command`.
    #[serde(rename = "command")]
    Command,
}

/// `tts`: the text-to-speech renderer, its voices and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsConfig {
    /// Which renderer runs.
    pub engine: TtsEngine,
    /// For `engine: command`: program and arguments, no shell; see
    /// [`COMMAND_PLACEHOLDERS`].
    pub command: Vec<String>,
    /// Rayo voice names (`allison`) → engine voices (`en-us`).
    pub voices: IndexMap<String, String>,
    /// The voice used when a request names none or one not in `voices`: a
    /// name from `voices` or an engine voice.
    pub default_voice: String,
    /// Most renders running at once; more wait their turn.
    pub max_concurrent: usize,
    /// Rendered texts kept; 0 disables the cache.
    pub cache_entries: usize,
    /// Longest one render may run before the engine is killed, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for TtsConfig {
    fn default() -> TtsConfig {
        TtsConfig {
            engine: TtsEngine::EspeakNg,
            command: Vec::new(),
            voices: IndexMap::new(),
            default_voice: "en-us".to_string(),
            max_concurrent: 2,
            cache_entries: 256,
            timeout_ms: 10_000,
        }
    }
}

/// `tts` as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTts {
    #[serde(default)]
    pub engine: Option<Spanned<TtsEngine>>,
    #[serde(default)]
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub voices: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    #[serde(default)]
    pub default_voice: Option<Spanned<String>>,
    #[serde(default)]
    pub max_concurrent: Option<Spanned<usize>>,
    #[serde(default)]
    pub cache_entries: Option<usize>,
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
}

/// Collects `tts` problems with their positions.
struct Errors<'a> {
    file: &'a str,
    list: Vec<ConfigError>,
}

impl Errors<'_> {
    fn invalid(&mut self, at: serde_saphyr::Location, key: &str, message: impl Into<String>) {
        self.list.push(ConfigError {
            origin: position(self.file, Some(at)),
            key: KeyPath(key.to_string()),
            kind: ConfigErrorKind::Invalid(message.into()),
        });
    }
}

/// A voice name the engine gets as one argument: letters, digits and
/// `-_+./:`, not starting with `-` (which a program would take for an option).
pub fn is_voice_name(voice: &str) -> bool {
    !voice.is_empty()
        && voice.len() <= 64
        && !voice.starts_with('-')
        && voice
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+./:".contains(c))
}

/// Checks `tts` and builds its config, or returns every problem found.
pub(crate) fn tts(file: &str, section: Spanned<FileTts>) -> Result<TtsConfig, Vec<ConfigError>> {
    let mut errors = Errors {
        file,
        list: Vec::new(),
    };
    let t = section.value;
    let defaults = TtsConfig::default();
    let engine = t.engine.as_ref().map_or(defaults.engine, |e| e.value);
    let command: Vec<String> = match &t.command {
        Some(command) => {
            for (i, arg) in command.value.iter().enumerate() {
                check_placeholders(&mut errors, i, arg);
            }
            command.value.iter().map(|a| a.value.clone()).collect()
        }
        None => Vec::new(),
    };
    match (engine, &t.command) {
        (TtsEngine::Command, None) => {
            let at = t
                .engine
                .as_ref()
                .map_or(section.referenced, |e| e.referenced);
            errors.invalid(at, "tts.command", "engine `command` needs a `command` list");
        }
        (TtsEngine::Command, Some(c)) if c.value.first().is_none_or(|p| p.value.is_empty()) => {
            errors.invalid(c.referenced, "tts.command", "needs at least the program");
        }
        (TtsEngine::EspeakNg, Some(c)) => {
            errors.invalid(
                c.referenced,
                "tts.command",
                "only used with `engine: command`",
            );
        }
        _ => {}
    }
    let mut voices = IndexMap::new();
    for (name, voice) in t.voices.map(|v| v.value).unwrap_or_default() {
        if !is_voice_name(&voice.value) {
            errors.invalid(
                voice.referenced,
                &format!("tts.voices.{name}"),
                format!("{:?} is not a usable engine voice name", voice.value),
            );
        }
        voices.insert(name.to_lowercase(), voice.value);
    }
    let default_voice = match t.default_voice {
        Some(v) => {
            let usable = voices.contains_key(&v.value.to_lowercase()) || is_voice_name(&v.value);
            if !usable {
                errors.invalid(
                    v.referenced,
                    "tts.default_voice",
                    format!("{:?} is not a usable voice name", v.value),
                );
            }
            v.value
        }
        None => defaults.default_voice,
    };
    let max_concurrent = match t.max_concurrent {
        Some(m) if m.value == 0 || m.value > 64 => {
            errors.invalid(m.referenced, "tts.max_concurrent", "must be 1 to 64");
            m.value
        }
        Some(m) => m.value,
        None => defaults.max_concurrent,
    };
    let timeout_ms = match t.timeout_ms {
        Some(m) if !(100..=600_000).contains(&m.value) => {
            errors.invalid(
                m.referenced,
                "tts.timeout_ms",
                "must be 100 to 600000 (ten minutes)",
            );
            m.value
        }
        Some(m) => m.value,
        None => defaults.timeout_ms,
    };
    if !errors.list.is_empty() {
        return Err(errors.list);
    }
    Ok(TtsConfig {
        engine,
        command,
        voices,
        default_voice,
        max_concurrent,
        cache_entries: t.cache_entries.unwrap_or(defaults.cache_entries),
        timeout_ms,
    })
}

/// Every `{…}` in a command argument must be one of the placeholders, so a
/// typo (`{voise}`) is not passed to the engine literally.
fn check_placeholders(errors: &mut Errors<'_>, index: usize, arg: &Spanned<String>) {
    let mut rest = arg.value.as_str();
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        let known = COMMAND_PLACEHOLDERS.iter().find(|p| tail.starts_with(**p));
        match known {
            Some(p) => rest = &tail[p.len()..],
            None => {
                errors.invalid(
                    arg.referenced,
                    &format!("tts.command[{index}]"),
                    format!(
                        "unknown placeholder in {:?}; known: {}",
                        arg.value,
                        COMMAND_PLACEHOLDERS.join(" ")
                    ),
                );
                return;
            }
        }
    }
}

/// Checks the recording-URL keys of `http`, positioned at the section.
pub(crate) fn http(file: &str, section: &Spanned<super::HttpConfig>) -> Vec<ConfigError> {
    let mut errors = Errors {
        file,
        list: Vec::new(),
    };
    let h = &section.value;
    let at = section.referenced;
    if h.recording_url_ttl_sec == 0 {
        errors.invalid(at, "http.recording_url_ttl_sec", "must be at least 1");
    }
    if let Some(secret) = &h.secret {
        if secret.len() < 16 {
            errors.invalid(
                at,
                "http.secret",
                "must be at least 16 characters (or left out for a random one)",
            );
        }
    }
    if h.api_token.as_ref().is_some_and(|token| token.len() < 16) {
        errors.invalid(at, "http.api_token", "must be at least 16 characters");
    }
    if let Some(base) = &h.public_url {
        let usable = reqwest::Url::parse(base).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.query().is_none()
                && u.fragment().is_none()
        });
        if !usable {
            errors.invalid(
                at,
                "http.public_url",
                format!("{base:?} is not an http:// or https:// base URL without query"),
            );
        }
    }
    errors.list
}
