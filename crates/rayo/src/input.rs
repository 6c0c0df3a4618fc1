//! The input component (`urn:xmpp:rayo:input:1`, RAYO.md §3.2 and §3.6):
//! grammars, mode, terminator and timers.
//!
//! DTMF grammars (inline SRGS, `builtin:dtmf/…`) are compiled here so a
//! bad one is a `bad-request` up front; grammars by `http(s)`/`file` URL
//! are the adapter's to fetch and compile with [`crate::srgs::parse_srgs`].
//! Speech-only attributes are checked against their ranges and kept, and
//! ignored for DTMF (Adhearsion always sends them). `mode='voice'` parses;
//! whether a recognizer exists is the adapter's question.

use xmpp::Element;

use crate::attrs::{self, put, Permille};
use crate::body::inline_body;
use crate::command::attr;
use crate::cpa::{parse_cpa_url, CpaGrammar};
use crate::error::CommandError;
use crate::ns;
use crate::srgs::{self, Grammar};
use crate::ssml::is_uri;

/// Most grammars one input may carry.
pub const MAX_GRAMMARS: usize = 16;

/// What the input listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputMode {
    /// DTMF and speech (DTMF only while no recognizer is configured).
    Any,
    /// DTMF only.
    Dtmf,
    /// Speech only.
    Voice,
    /// Call progress analysis (XEP-0341): the grammars name signals.
    Cpa,
}

impl InputMode {
    /// The `mode` attribute value.
    pub fn name(self) -> &'static str {
        match self {
            InputMode::Any => "any",
            InputMode::Dtmf => "dtmf",
            InputMode::Voice => "voice",
            InputMode::Cpa => "cpa",
        }
    }
}

/// A grammar as the client gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrammarSource {
    /// `url`: `builtin:dtmf/…`, or a document to fetch.
    Url(String),
    /// `content-type` and a body (text, CDATA or nested markup as text).
    Inline {
        /// The MIME type (`application/srgs+xml` for DTMF).
        content_type: String,
        /// The body.
        body: String,
    },
    /// Tropo `<ask>` simple choices (`[4 DIGITS]`, `1,2,3`).
    Choices(String),
}

impl GrammarSource {
    /// The compiled DTMF grammar, or `Ok(None)` for a URL the adapter must
    /// fetch first.
    pub fn compile(&self) -> Result<Option<Grammar>, CommandError> {
        match self {
            GrammarSource::Url(url) if url.starts_with("builtin:") => {
                srgs::parse_builtin(url).map(Some)
            }
            GrammarSource::Url(url)
                if ["http:", "https:", "file:"].iter().any(|s| {
                    url.get(..s.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(s))
                }) =>
            {
                Ok(None)
            }
            GrammarSource::Url(url) => Err(CommandError::bad_request(format!(
                "grammar url '{url}' is neither builtin: nor http(s): nor file:"
            ))),
            GrammarSource::Inline { content_type, body } => {
                if !content_type
                    .split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/srgs+xml"))
                {
                    return Err(CommandError::bad_request(format!(
                        "grammar content-type '{content_type}' is not application/srgs+xml"
                    )));
                }
                srgs::parse_srgs(body).map(Some)
            }
            GrammarSource::Choices(text) => srgs::parse_choices(text).map(Some),
        }
    }
}

/// A parsed input command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// What to listen for.
    pub mode: InputMode,
    /// The grammars (empty in CPA mode).
    pub grammars: Vec<GrammarSource>,
    /// The signals of a CPA input (empty otherwise).
    pub cpa: Vec<CpaGrammar>,
    /// The key that ends the input (not part of the digits).
    pub terminator: Option<char>,
    /// Time for the first key before `noinput`; `None` = no limit.
    pub initial_timeout_ms: Option<u32>,
    /// Time between keys before the input is judged; `None` = no limit.
    pub inter_digit_timeout_ms: Option<u32>,
    /// Longest speech recognition; `None` = no limit.
    pub recognition_timeout_ms: Option<u32>,
    /// Speech: silence that ends an utterance; `None` = no limit.
    pub max_silence_ms: Option<u32>,
    /// Speech: lowest confidence that matches.
    pub min_confidence: Option<Permille>,
    /// Speech: detector sensitivity.
    pub sensitivity: Option<Permille>,
    /// Speech: language (`en-US`).
    pub language: Option<String>,
    /// Speech: recognizer engine name.
    pub recognizer: Option<String>,
}

impl Input {
    /// An input of `mode` with `grammars` and every attribute absent.
    pub fn new(mode: InputMode, grammars: Vec<GrammarSource>) -> Input {
        Input {
            mode,
            grammars,
            cpa: Vec::new(),
            terminator: None,
            initial_timeout_ms: None,
            inter_digit_timeout_ms: None,
            recognition_timeout_ms: None,
            max_silence_ms: None,
            min_confidence: None,
            sensitivity: None,
            language: None,
            recognizer: None,
        }
    }

    /// The compiled DTMF grammars and the URLs still to fetch.
    pub fn compile(&self) -> Result<(Vec<Grammar>, Vec<&str>), CommandError> {
        let (mut ready, mut fetch) = (Vec::new(), Vec::new());
        for g in &self.grammars {
            match (g.compile()?, g) {
                (Some(grammar), _) => ready.push(grammar),
                (None, GrammarSource::Url(url)) => fetch.push(url.as_str()),
                (None, _) => {}
            }
        }
        Ok((ready, fetch))
    }

    /// The `<input>` command element.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("input", ns::INPUT).attr("mode", self.mode.name());
        put(&mut e, "terminator", self.terminator);
        put(&mut e, "initial-timeout", self.initial_timeout_ms);
        put(&mut e, "inter-digit-timeout", self.inter_digit_timeout_ms);
        put(&mut e, "recognition-timeout", self.recognition_timeout_ms);
        put(&mut e, "max-silence", self.max_silence_ms);
        put(&mut e, "min-confidence", self.min_confidence);
        put(&mut e, "sensitivity", self.sensitivity);
        put(&mut e, "language", self.language.as_deref());
        put(&mut e, "recognizer", self.recognizer.as_deref());
        for g in &self.grammars {
            e.push(grammar_element(g));
        }
        for c in &self.cpa {
            e.push(Element::new("grammar", ns::INPUT).attr("url", c.url.as_str()));
        }
        e
    }
}

fn grammar_element(g: &GrammarSource) -> Element {
    let e = Element::new("grammar", ns::INPUT);
    match g {
        GrammarSource::Url(url) => e.attr("url", url.as_str()),
        GrammarSource::Inline { content_type, body } => e
            .attr("content-type", content_type.as_str())
            .text(body.as_str()),
        GrammarSource::Choices(text) => e.attr("content-type", "text/plain").text(text.as_str()),
    }
}

/// Parses `<input xmlns='urn:xmpp:rayo:input:1'>`.
pub fn parse_input(e: &Element) -> Result<Input, CommandError> {
    let mode = match attrs::choice(e, "mode", &["any", "dtmf", "voice", "speech", "cpa"])? {
        None | Some("any") => InputMode::Any,
        Some("dtmf") => InputMode::Dtmf,
        Some("cpa") => InputMode::Cpa,
        Some(_) => InputMode::Voice,
    };
    let elements: Vec<&Element> = e
        .children()
        .filter(|c| c.name() == "grammar" && ns::is_rayo(c.ns()))
        .collect();
    if elements.is_empty() {
        return Err(CommandError::bad_request("input needs a <grammar>"));
    }
    if elements.len() > MAX_GRAMMARS {
        return Err(CommandError::bad_request(format!(
            "input has more than {MAX_GRAMMARS} grammars"
        )));
    }
    let mut input = Input::new(mode, Vec::new());
    if mode == InputMode::Cpa {
        for g in elements {
            let url = attr(g, "url")
                .ok_or_else(|| CommandError::bad_request("cpa grammar needs a url"))?;
            if input.cpa.iter().any(|c| c.url == url) {
                return Err(CommandError::bad_request(format!(
                    "cpa grammar url '{url}' is given twice"
                )));
            }
            input.cpa.push(parse_cpa_url(url)?);
        }
    } else {
        for g in elements {
            let source = parse_grammar(g)?;
            if mode != InputMode::Voice {
                source.compile()?;
            }
            input.grammars.push(source);
        }
    }
    input.terminator = attrs::dtmf_key(e, "terminator")?;
    input.initial_timeout_ms = attrs::limit(e, "initial-timeout")?;
    input.inter_digit_timeout_ms = attrs::limit(e, "inter-digit-timeout")?;
    input.recognition_timeout_ms = attrs::limit(e, "recognition-timeout")?;
    input.max_silence_ms = attrs::limit(e, "max-silence")?;
    input.min_confidence = attrs::ratio(e, "min-confidence")?;
    input.sensitivity = attrs::ratio(e, "sensitivity")?;
    input.language = attrs::line(e, "language")?;
    input.recognizer = attrs::line(e, "recognizer")?;
    if let Some(t) = attr(e, "match-content-type") {
        if t != crate::nlsml::CONTENT_TYPE {
            return Err(CommandError::bad_request(format!(
                "match-content-type '{t}' is not application/nlsml+xml"
            )));
        }
    }
    Ok(input)
}

/// One `<grammar>`: `url`, or `content-type` with a non-empty body
/// (`text/plain` bodies are Tropo-style simple choices).
pub(crate) fn parse_grammar(g: &Element) -> Result<GrammarSource, CommandError> {
    let body = inline_body(g);
    match (attr(g, "url"), attr(g, "content-type")) {
        (Some(_), _) if !body.trim().is_empty() => Err(CommandError::bad_request(
            "grammar has both a url and a body",
        )),
        (Some(url), _) => {
            if !is_uri(url) {
                return Err(CommandError::bad_request(format!(
                    "grammar url '{url}' is not a URI"
                )));
            }
            Ok(GrammarSource::Url(url.to_owned()))
        }
        (None, None) => Err(CommandError::bad_request(
            "grammar needs a url or a content-type",
        )),
        (None, Some(_)) if body.trim().is_empty() => {
            Err(CommandError::bad_request("grammar body is empty"))
        }
        (None, Some(t)) if t.eq_ignore_ascii_case("text/plain") => Ok(GrammarSource::Choices(body)),
        (None, Some(t)) => Ok(GrammarSource::Inline {
            content_type: t.to_owned(),
            body,
        }),
    }
}

#[cfg(test)]
mod tests;
