//! The output component (`urn:xmpp:rayo:output:1`, RAYO.md §3.1) and its
//! Tropo ancestor `<say xmlns='urn:xmpp:tropo:say:1'>` (the seed page's
//! form): what to play and how.
//!
//! Documents come by `url` or inline (`text/uri-list`, SSML, plain text);
//! rayo-server's inline SSML body without `<document>` is read as one SSML
//! document. Every inline document is rendered once here so that a bad one
//! is a `bad-request` before the component starts; the adapter renders it
//! again with [`Document::render`] when it plays.

use xmpp::Element;

use crate::attrs::{self, put};
use crate::body::inline_body;
use crate::command::attr;
use crate::error::CommandError;
use crate::event::with_headers;
use crate::header::{parse_headers, Headers};
use crate::ns;
use crate::ssml::{self, is_uri, Segment, SsmlError};

/// Which element started the output; it decides the completion's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputForm {
    /// `<output xmlns='urn:xmpp:rayo:output:1'>`: completes `finish`.
    Output,
    /// `<say xmlns='urn:xmpp:tropo:say:1'>`: completes `success` in
    /// `urn:xmpp:tropo:say:complete:1`.
    Say,
}

/// rayo-server's `interrupt-on`: what may cut the output short. Accepted
/// for compatibility; prompts use `barge-in` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterruptOn {
    /// A key or speech.
    Any,
    /// A key.
    Dtmf,
    /// Speech.
    Voice,
}

impl InterruptOn {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            InterruptOn::Any => "any",
            InterruptOn::Dtmf => "dtmf",
            InterruptOn::Voice => "voice",
        }
    }
}

/// The content types a document may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentType {
    /// `text/uri-list`: audio files, one URI a line.
    UriList,
    /// `application/ssml+xml`.
    Ssml,
    /// `text/plain`: spoken as it is.
    PlainText,
}

impl DocumentType {
    /// The MIME type as written in `content-type`.
    pub fn mime(self) -> &'static str {
        match self {
            DocumentType::UriList => "text/uri-list",
            DocumentType::Ssml => "application/ssml+xml",
            DocumentType::PlainText => "text/plain",
        }
    }

    /// The type named by `mime` (parameters such as `charset` ignored).
    pub fn from_mime(mime: &str) -> Option<DocumentType> {
        let base = mime.split(';').next().unwrap_or("").trim();
        [
            DocumentType::UriList,
            DocumentType::Ssml,
            DocumentType::PlainText,
        ]
        .into_iter()
        .find(|t| t.mime().eq_ignore_ascii_case(base))
    }

    /// Renders a body of this type (inline, or fetched from a URL).
    pub fn render(self, body: &str) -> Result<Vec<Segment>, SsmlError> {
        match self {
            DocumentType::UriList => ssml::parse_uri_list(body),
            DocumentType::Ssml => ssml::parse_ssml(body),
            DocumentType::PlainText => Ok(ssml::plain_text(body)),
        }
    }
}

/// One `<document>` of an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// Fetched from `url`: an audio file, or a document of `content_type`
    /// when one is given.
    Url {
        /// Where from (`http:`, `https:`, `file:`).
        url: String,
        /// The declared type, if any.
        content_type: Option<DocumentType>,
    },
    /// Carried in the command.
    Inline {
        /// Its type.
        content_type: DocumentType,
        /// Its text (nested markup already written back as XML text).
        body: String,
    },
}

impl Document {
    /// What to play: the inline body rendered, or for a URL one `Audio`
    /// segment when no content type says it is a document to fetch and
    /// render (then `None`: the adapter fetches and calls
    /// [`DocumentType::render`]).
    pub fn render(&self) -> Option<Result<Vec<Segment>, SsmlError>> {
        match self {
            Document::Inline { content_type, body } => Some(content_type.render(body)),
            Document::Url {
                url,
                content_type: None,
            } => Some(Ok(vec![Segment::Audio {
                src: url.clone(),
                fallback: Vec::new(),
            }])),
            Document::Url { .. } => None,
        }
    }
}

/// A parsed output (or Tropo say) command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The element it came as.
    pub form: OutputForm,
    /// What to play, in order; never empty.
    pub documents: Vec<Document>,
    /// Where to start, in ms from the beginning.
    pub start_offset_ms: u32,
    /// Start paused (a `resume` starts it).
    pub start_paused: bool,
    /// Silence between repetitions, in ms.
    pub repeat_interval_ms: u32,
    /// How many times to play; 0 = until stopped.
    pub repeat_times: u32,
    /// Longest the output may run, `None` for no limit (`-1`).
    pub max_time_ms: Option<u32>,
    /// TTS voice.
    pub voice: Option<String>,
    /// TTS engine name.
    pub renderer: Option<String>,
    /// rayo-server's `interrupt-on`, accepted.
    pub interrupt_on: Option<InterruptOn>,
    /// `<header>` children (MRCP headers for the renderer).
    pub headers: Headers,
}

impl Output {
    /// An output of `documents` with every attribute at its default.
    pub fn new(form: OutputForm, documents: Vec<Document>) -> Output {
        Output {
            form,
            documents,
            start_offset_ms: 0,
            start_paused: false,
            repeat_interval_ms: 0,
            repeat_times: 1,
            max_time_ms: None,
            voice: None,
            renderer: None,
            interrupt_on: None,
            headers: Vec::new(),
        }
    }

    /// The command element: `<output>` with `<document>`s, or `<say>` with
    /// its SSML as text.
    pub fn to_element(&self) -> Element {
        let mut e = match self.form {
            OutputForm::Output => {
                let mut e = Element::new("output", ns::OUTPUT);
                for d in &self.documents {
                    e.push(document_element(d));
                }
                e
            }
            OutputForm::Say => {
                let mut e = Element::new("say", ns::TROPO_SAY);
                for d in &self.documents {
                    if let Document::Inline { body, .. } = d {
                        e.push_text(body.as_str());
                    }
                }
                e
            }
        };
        self.put_attrs(&mut e);
        with_headers(e, &self.headers)
    }

    fn put_attrs(&self, e: &mut Element) {
        put(
            e,
            "start-offset",
            Some(self.start_offset_ms).filter(|v| *v != 0),
        );
        put(e, "start-paused", self.start_paused.then_some("true"));
        put(
            e,
            "repeat-interval",
            Some(self.repeat_interval_ms).filter(|v| *v != 0),
        );
        put(
            e,
            "repeat-times",
            Some(self.repeat_times).filter(|v| *v != 1),
        );
        put(e, "max-time", self.max_time_ms);
        put(e, "voice", self.voice.as_deref());
        put(e, "renderer", self.renderer.as_deref());
        put(e, "interrupt-on", self.interrupt_on.map(InterruptOn::name));
    }
}

fn document_element(d: &Document) -> Element {
    let e = Element::new("document", ns::OUTPUT);
    match d {
        Document::Url { url, content_type } => {
            let e = e.attr("url", url.as_str());
            match content_type {
                Some(t) => e.attr("content-type", t.mime()),
                None => e,
            }
        }
        Document::Inline { content_type, body } => e
            .attr("content-type", content_type.mime())
            .text(body.as_str()),
    }
}

/// Parses `<output xmlns='urn:xmpp:rayo:output:1'>`.
pub fn parse_output(e: &Element) -> Result<Output, CommandError> {
    let documents: Vec<&Element> = e
        .children()
        .filter(|c| c.name() == "document" && ns::is_rayo(c.ns()))
        .collect();
    let documents = if documents.is_empty() {
        // rayo-server's inline SSML.
        vec![inline_ssml(e, "output")?]
    } else {
        documents
            .into_iter()
            .map(parse_document)
            .collect::<Result<_, _>>()?
    };
    parse_attrs(e, Output::new(OutputForm::Output, documents))
}

/// Parses the seed page's `<say xmlns='urn:xmpp:tropo:say:1'>`: its SSML
/// children are one document.
pub fn parse_say(e: &Element) -> Result<Output, CommandError> {
    let document = inline_ssml(e, "say")?;
    parse_attrs(e, Output::new(OutputForm::Say, vec![document]))
}

/// The SSML body of `e` as one checked document.
pub(crate) fn inline_ssml(e: &Element, what: &str) -> Result<Document, CommandError> {
    let body = inline_body(e);
    if body.trim().is_empty() {
        return Err(CommandError::bad_request(format!(
            "{what} needs a <document> or SSML content"
        )));
    }
    check(DocumentType::Ssml, &body, what)?;
    Ok(Document::Inline {
        content_type: DocumentType::Ssml,
        body,
    })
}

fn check(content_type: DocumentType, body: &str, what: &str) -> Result<(), CommandError> {
    match content_type.render(body) {
        Ok(_) => Ok(()),
        Err(e) => Err(CommandError::bad_request(format!("{what}: {e}"))),
    }
}

fn parse_document(d: &Element) -> Result<Document, CommandError> {
    let content_type = match attr(d, "content-type") {
        None => None,
        Some(mime) => Some(DocumentType::from_mime(mime).ok_or_else(|| {
            CommandError::bad_request(format!(
                "document content-type '{mime}' is not text/uri-list, application/ssml+xml or text/plain"
            ))
        })?),
    };
    let body = inline_body(d);
    match (attr(d, "url"), content_type) {
        (Some(url), _) => {
            if !body.trim().is_empty() {
                return Err(CommandError::bad_request(
                    "document has both a url and content",
                ));
            }
            if !is_uri(url) {
                return Err(CommandError::bad_request(format!(
                    "document url '{url}' is not a URI"
                )));
            }
            Ok(Document::Url {
                url: url.to_owned(),
                content_type,
            })
        }
        (None, None) => Err(CommandError::bad_request(
            "document needs a url or a content-type",
        )),
        (None, Some(content_type)) => {
            if body.trim().is_empty() {
                return Err(CommandError::bad_request("document content is empty"));
            }
            check(content_type, &body, "document")?;
            Ok(Document::Inline { content_type, body })
        }
    }
}

fn parse_attrs(e: &Element, mut out: Output) -> Result<Output, CommandError> {
    out.start_offset_ms = attrs::millis(e, "start-offset")?.unwrap_or(0);
    out.start_paused = attrs::boolean(e, "start-paused", false)?;
    out.repeat_interval_ms = attrs::millis(e, "repeat-interval")?.unwrap_or(0);
    out.repeat_times = attrs::count(e, "repeat-times")?.unwrap_or(1);
    out.max_time_ms = attrs::limit(e, "max-time")?;
    out.voice = attrs::line(e, "voice")?;
    out.renderer = attrs::line(e, "renderer")?;
    out.interrupt_on = match attrs::choice(e, "interrupt-on", &["any", "dtmf", "voice"])? {
        None => None,
        Some("any") => Some(InterruptOn::Any),
        Some("dtmf") => Some(InterruptOn::Dtmf),
        Some(_) => Some(InterruptOn::Voice),
    };
    out.headers = parse_headers(e)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
