//! The SSML subset an output document may hold, flattened into what a
//! player does in order: speak some text, play a file (with spoken
//! fallback), or stay silent for a while (RAYO.md §3.1, issue 11).
//!
//! Handled: `speak`, `audio src` (its content is the fallback, spoken or
//! played when the file cannot be had), `break time|strength`, `say-as`
//! (`digits`, `number`/`cardinal`, `date`, `time`, `characters`, expanded
//! into speakable text here so every engine says them alike), `prosody`
//! `rate` and `volume`, `p`, `s`, `voice name`, `sub alias`. Elements that
//! say nothing (`mark`, `meta`, `metadata`, `lexicon`, `desc`) are dropped;
//! any other element keeps its text. Namespaces are ignored: documents
//! come in the SSML namespace, in none, or inside a Tropo `<say>`.
//!
//! Input is bounded ([`MAX_SSML_BYTES`], the reader's depth limit,
//! [`MAX_SEGMENTS`]); nothing here does I/O.

use xmpp::{Element, Node};

use crate::fragment::read_fragment;

mod say_as;

/// Largest SSML document, in bytes.
pub const MAX_SSML_BYTES: usize = 64 * 1024;
/// Most segments one document may flatten into (fallbacks included).
pub const MAX_SEGMENTS: usize = 1024;
/// Longest single `<break>`, in ms.
pub const MAX_BREAK_MS: u32 = 60_000;
/// The `volume_db` of `volume='silent'`: low enough that a mixer mutes it.
pub const SILENT_DB: f32 = -100.0;
/// Slowest and fastest speaking rate, as a multiple of the normal rate.
pub const RATE_BOUNDS: (f32, f32) = (0.25, 4.0);

/// One step of a rendered document.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Text for the speech engine.
    Speak {
        /// Whitespace-normalised text, never empty.
        text: String,
        /// Speaking rate as a multiple of normal (1.0).
        rate: f32,
        /// Gain in dB relative to normal (0.0); [`SILENT_DB`] for silent.
        volume_db: f32,
        /// A `<voice name>` in force, else the output's voice.
        voice: Option<String>,
    },
    /// An audio file to play.
    Audio {
        /// The `src` URL as written.
        src: String,
        /// What to render instead when the file cannot be fetched or played.
        fallback: Vec<Segment>,
    },
    /// Silence.
    Break {
        /// Its length.
        ms: u32,
    },
}

/// Why a document cannot be rendered; the command parser reports it as a
/// `bad-request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsmlError {
    /// Not well-formed XML, too large, too deep, or a DTD.
    #[error("{0}")]
    Xml(String),
    /// An attribute value outside what the element takes.
    #[error("<{element}> {attribute}='{value}' is not supported")]
    Attribute {
        /// The element.
        element: String,
        /// The attribute.
        attribute: &'static str,
        /// Its value.
        value: String,
    },
    /// A required attribute is missing.
    #[error("<{element}> needs '{attribute}'")]
    Missing {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// The document flattens into more than [`MAX_SEGMENTS`] segments.
    #[error("the document has more than {MAX_SEGMENTS} parts")]
    TooManySegments,
    /// A `text/uri-list` entry is not a URI.
    #[error("'{0}' in the uri-list is not a URI")]
    BadUri(String),
}

/// Parses an `application/ssml+xml` document. A body that does not start
/// with `<speak` is taken as the content of one (the legacy inline form);
/// a body without markup is plain text.
pub fn parse_ssml(body: &str) -> Result<Vec<Segment>, SsmlError> {
    let trimmed = body.trim_start();
    if !trimmed.contains('<') {
        return Ok(plain_text(body));
    }
    let root = if trimmed.starts_with("<speak") || trimmed.starts_with("<?xml") {
        read_fragment(body, MAX_SSML_BYTES, "SSML")
    } else {
        read_fragment(&format!("<speak>{body}</speak>"), MAX_SSML_BYTES, "SSML")
    }
    .map_err(|e| SsmlError::Xml(e.text))?;
    parse_ssml_element(&root)
}

/// Flattens an SSML element tree already parsed (a `<speak>`, or a Tropo
/// `<say>` whose children are SSML).
pub fn parse_ssml_element(root: &Element) -> Result<Vec<Segment>, SsmlError> {
    let mut flat = Flattener::default();
    let mut out = Vec::new();
    flat.children(root, &Prosody::default(), &mut out, 0)?;
    flat.flush(&mut out);
    if flat.segments > MAX_SEGMENTS {
        return Err(SsmlError::TooManySegments);
    }
    Ok(out)
}

/// A `text/uri-list` (RFC 2483): one URI a line, `#` comment lines
/// skipped, each played in turn.
pub fn parse_uri_list(body: &str) -> Result<Vec<Segment>, SsmlError> {
    let mut out = Vec::new();
    for line in body.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !is_uri(line) {
            return Err(SsmlError::BadUri(line.to_owned()));
        }
        if out.len() == MAX_SEGMENTS {
            return Err(SsmlError::TooManySegments);
        }
        out.push(Segment::Audio {
            src: line.to_owned(),
            fallback: Vec::new(),
        });
    }
    Ok(out)
}

/// `text/plain`: all of it spoken at normal rate and volume (nothing when
/// it is only whitespace).
pub fn plain_text(body: &str) -> Vec<Segment> {
    let text = normalise(body);
    if text.is_empty() {
        return Vec::new();
    }
    vec![Segment::Speak {
        text,
        rate: 1.0,
        volume_db: 0.0,
        voice: None,
    }]
}

/// A scheme, a colon and no whitespace; enough to refuse a stray word.
pub(crate) fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return s.starts_with('/');
    };
    !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Collapses whitespace runs into one space and trims.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Rate, volume and voice in force at a point of the document.
#[derive(Debug, Clone, PartialEq)]
struct Prosody {
    rate: f32,
    volume_db: f32,
    voice: Option<String>,
}

impl Default for Prosody {
    fn default() -> Self {
        Prosody {
            rate: 1.0,
            volume_db: 0.0,
            voice: None,
        }
    }
}

/// Walks the tree, joining adjacent text spoken alike into one segment.
#[derive(Default)]
struct Flattener {
    text: String,
    prosody: Prosody,
    segments: usize,
}

impl Flattener {
    fn push(&mut self, out: &mut Vec<Segment>, segment: Segment) -> Result<(), SsmlError> {
        self.segments += 1;
        if self.segments > MAX_SEGMENTS {
            return Err(SsmlError::TooManySegments);
        }
        out.push(segment);
        Ok(())
    }

    fn say(&mut self, out: &mut Vec<Segment>, text: &str, prosody: &Prosody) {
        if text.trim().is_empty() {
            if !self.text.is_empty() {
                self.text.push(' ');
            }
            return;
        }
        if *prosody != self.prosody {
            self.flush(out);
            self.prosody = prosody.clone();
        }
        self.text.push(' ');
        self.text.push_str(text);
    }

    fn flush(&mut self, out: &mut Vec<Segment>) {
        let text = normalise(&self.text);
        self.text.clear();
        if !text.is_empty() {
            // Counted against the bound when the next push happens; a
            // flush adds at most one segment per push.
            self.segments += 1;
            out.push(Segment::Speak {
                text,
                rate: self.prosody.rate,
                volume_db: self.prosody.volume_db,
                voice: self.prosody.voice.clone(),
            });
        }
    }

    fn children(
        &mut self,
        e: &Element,
        prosody: &Prosody,
        out: &mut Vec<Segment>,
        depth: usize,
    ) -> Result<(), SsmlError> {
        for node in e.nodes() {
            match node {
                Node::Text(t) => self.say(out, t, prosody),
                Node::Element(child) => self.element(child, prosody, out, depth + 1)?,
            }
        }
        if self.segments > MAX_SEGMENTS {
            return Err(SsmlError::TooManySegments);
        }
        Ok(())
    }

    fn element(
        &mut self,
        e: &Element,
        prosody: &Prosody,
        out: &mut Vec<Segment>,
        depth: usize,
    ) -> Result<(), SsmlError> {
        match e.name() {
            "audio" => {
                let src = e.get_attr("src").filter(|s| !s.trim().is_empty()).ok_or(
                    SsmlError::Missing {
                        element: "audio",
                        attribute: "src",
                    },
                )?;
                self.flush(out);
                let mut inner = Flattener {
                    prosody: prosody.clone(),
                    segments: self.segments,
                    ..Flattener::default()
                };
                let mut fallback = Vec::new();
                inner.children(e, prosody, &mut fallback, depth)?;
                inner.flush(&mut fallback);
                self.segments = inner.segments;
                self.push(
                    out,
                    Segment::Audio {
                        src: src.trim().to_owned(),
                        fallback,
                    },
                )
            }
            "break" => {
                let ms = break_ms(e)?;
                self.flush(out);
                if ms > 0 {
                    self.push(out, Segment::Break { ms })?;
                }
                Ok(())
            }
            "say-as" => {
                let text = say_as::expand(
                    e.get_attr("interpret-as").unwrap_or(""),
                    e.get_attr("format"),
                    &deep_text(e),
                );
                self.say(out, &text, prosody);
                Ok(())
            }
            "sub" => {
                match e.get_attr("alias") {
                    Some(alias) => self.say(out, alias, prosody),
                    None => self.children(e, prosody, out, depth)?,
                }
                Ok(())
            }
            "prosody" => {
                let inner = Prosody {
                    rate: rate(e, prosody.rate)?,
                    volume_db: volume(e, prosody.volume_db)?,
                    voice: prosody.voice.clone(),
                };
                self.children(e, &inner, out, depth)
            }
            "voice" => {
                let inner = Prosody {
                    voice: e
                        .get_attr("name")
                        .filter(|n| !n.trim().is_empty())
                        .map(|n| n.trim().to_owned())
                        .or_else(|| prosody.voice.clone()),
                    ..prosody.clone()
                };
                self.children(e, &inner, out, depth)
            }
            "p" | "s" | "paragraph" | "sentence" => {
                self.say(out, " ", prosody);
                self.children(e, prosody, out, depth)?;
                self.say(out, " ", prosody);
                Ok(())
            }
            "mark" | "meta" | "metadata" | "lexicon" | "desc" => Ok(()),
            _ => self.children(e, prosody, out, depth),
        }
    }
}

/// All text below `e`, in document order.
fn deep_text(e: &Element) -> String {
    let mut out = String::new();
    for node in e.nodes() {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Element(child) => out.push_str(&deep_text(child)),
        }
    }
    out
}

fn attribute_error(e: &Element, attribute: &'static str, value: &str) -> SsmlError {
    SsmlError::Attribute {
        element: e.name().to_owned(),
        attribute,
        value: value.to_owned(),
    }
}

/// `<break>`: `time` (`500ms`, `2s`, `1.5s`) wins over `strength`; medium
/// (500 ms) when neither is given.
fn break_ms(e: &Element) -> Result<u32, SsmlError> {
    if let Some(time) = e.get_attr("time") {
        let t = time.trim();
        let (number, scale) = match t.strip_suffix("ms") {
            Some(n) => (n, 1.0),
            None => (t.strip_suffix('s').unwrap_or(""), 1000.0),
        };
        return match number.trim().parse::<f64>() {
            Ok(x) if x >= 0.0 && x * scale <= f64::from(MAX_BREAK_MS) => {
                // Bounded above, so the cast cannot wrap.
                Ok((x * scale).round() as u32)
            }
            _ => Err(attribute_error(e, "time", time)),
        };
    }
    match e.get_attr("strength").unwrap_or("medium") {
        "none" => Ok(0),
        "x-weak" => Ok(100),
        "weak" => Ok(250),
        "medium" => Ok(500),
        "strong" => Ok(750),
        "x-strong" => Ok(1000),
        other => Err(attribute_error(e, "strength", other)),
    }
}

/// `<prosody rate>`: a label, `N%` of the current rate, `+N%`/`-N%`
/// change, or a bare multiplier; clamped to [`RATE_BOUNDS`].
fn rate(e: &Element, current: f32) -> Result<f32, SsmlError> {
    let Some(value) = e.get_attr("rate") else {
        return Ok(current);
    };
    let v = value.trim();
    let rate = match v {
        "x-slow" => 0.5,
        "slow" => 0.75,
        "medium" | "default" => 1.0,
        "fast" => 1.25,
        "x-fast" => 1.5,
        _ => {
            let number = |s: &str| s.parse::<f32>().ok().filter(|x| x.is_finite());
            let relative = if let Some(p) = v.strip_suffix('%') {
                match p.as_bytes().first() {
                    Some(b'+' | b'-') => number(p).map(|x| 1.0 + x / 100.0),
                    _ => number(p).map(|x| x / 100.0),
                }
            } else {
                number(v)
            };
            match relative {
                Some(x) if x > 0.0 => current * x,
                _ => return Err(attribute_error(e, "rate", value)),
            }
        }
    };
    Ok(rate.clamp(RATE_BOUNDS.0, RATE_BOUNDS.1))
}

/// `<prosody volume>`: a label, `+NdB`/`-NdB` relative to the current
/// volume, or SSML 1.0's 0–100 scale (100 = normal).
fn volume(e: &Element, current: f32) -> Result<f32, SsmlError> {
    let Some(value) = e.get_attr("volume") else {
        return Ok(current);
    };
    let v = value.trim();
    let db = match v {
        "silent" => SILENT_DB,
        "x-soft" => -12.0,
        "soft" => -6.0,
        "medium" | "default" => 0.0,
        "loud" => 6.0,
        "x-loud" => 12.0,
        _ => {
            let parsed = if let Some(d) = v.strip_suffix("dB") {
                d.parse::<f32>()
                    .ok()
                    .filter(|x| x.is_finite() && x.abs() <= 40.0)
                    .map(|x| current + x)
            } else {
                v.parse::<f32>()
                    .ok()
                    .filter(|x| (0.0..=100.0).contains(x))
                    .map(|x| {
                        if x == 0.0 {
                            SILENT_DB
                        } else {
                            20.0 * (x / 100.0).log10()
                        }
                    })
            };
            parsed.ok_or_else(|| attribute_error(e, "volume", value))?
        }
    };
    Ok(db.max(SILENT_DB))
}

#[cfg(test)]
mod tests;
