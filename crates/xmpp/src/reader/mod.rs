//! A bounded, incremental reader of one XML stream (RFC 6120 §4 and §11).
//!
//! Bytes arrive in any chunking; the reader yields stream-level events: the
//! stream header, each complete top-level stanza as an [`Element`] with its
//! namespaces resolved, whitespace keepalives, and the stream's close. It
//! serves both ends of a connection (the server reading a client, a test
//! client reading the server).
//!
//! XMPP uses a restricted XML subset (§11.1): no comments, no processing
//! instructions beyond the leading `<?xml …?>`, no DTD, and no entity
//! references other than the five predefined ones and numeric character
//! references. Everything a peer controls is bounded by [`Limits`]; a
//! breach is a [`ReadError`] that maps to the stream error to send.
//! A token is only parsed once it is complete, so how bytes are chunked
//! never changes which stanzas come out.

use crate::element::Element;
use crate::error::{StreamError, NS_STREAMS};

mod check;
mod syntax;

pub use check::check_untrusted;

use syntax::{check_chars, decode_text, is_space_char, is_xml_space, parse_start, split_qname};

const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Bounds on what a peer may make the reader hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest stanza, in bytes of XML as received.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting, the stream root counting as 1.
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Longest element or attribute name, prefix included.
    pub max_name_len: usize,
    /// Most bytes buffered but not yet parsed after one [`StreamReader::feed`].
    pub max_buffered_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_stanza_bytes: 64 * 1024,
            max_depth: 32,
            max_attributes: 32,
            max_name_len: 256,
            max_buffered_bytes: 128 * 1024,
        }
    }
}

/// The attributes of a received `<stream:stream>` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamHeader {
    /// `to`: the domain the peer wants.
    pub to: Option<String>,
    /// `from`: who the peer says it is.
    pub from: Option<String>,
    /// `id`: the stream id (set by servers).
    pub id: Option<String>,
    /// `version`: `1.0` for RFC 6120 peers.
    pub version: Option<String>,
    /// `xml:lang`.
    pub lang: Option<String>,
}

/// What the reader found on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A stream header was read; stanzas may follow.
    Opened(StreamHeader),
    /// A complete child of the stream root.
    Stanza(Element),
    /// Whitespace between stanzas (a keepalive).
    Whitespace,
    /// `</stream:stream>`: the peer closed its stream.
    Closed,
}

/// Why the stream cannot be read any further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Syntax error, bad UTF-8, mismatched tags, unbound prefix.
    #[error("not well-formed: {0}")]
    NotWellFormed(&'static str),
    /// A [`Limits`] bound was exceeded.
    #[error("policy violation: {0}")]
    PolicyViolation(&'static str),
    /// The root is not `stream` in the streams namespace, or the content
    /// namespace is not the one expected.
    #[error("invalid namespace")]
    InvalidNamespace,
    /// Comment, processing instruction, DTD or entity reference.
    #[error("restricted XML: {0}")]
    RestrictedXml(&'static str),
}

impl ReadError {
    /// The stream error condition to send for this failure.
    pub fn condition(&self) -> StreamError {
        match self {
            ReadError::NotWellFormed(_) => StreamError::NotWellFormed,
            ReadError::PolicyViolation(_) => StreamError::PolicyViolation,
            ReadError::InvalidNamespace => StreamError::InvalidNamespace,
            ReadError::RestrictedXml(_) => StreamError::RestrictedXml,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the root start tag (an XML declaration may come first).
    Prolog { declared: bool },
    /// Inside the root.
    Open,
    /// After `</stream:stream>` or an error: nothing more is read.
    Done,
}

/// One open element: its qualified name as written, its namespace
/// declarations, and (below the root) the element being built.
#[derive(Debug)]
struct Frame {
    qname: String,
    bindings: Vec<(String, String)>,
    element: Element,
}

/// The incremental stream reader; one per connection, reset on restart.
#[derive(Debug)]
pub struct StreamReader {
    limits: Limits,
    content_ns: String,
    buf: Vec<u8>,
    pos: usize,
    /// Where the scan of the pending token resumes (absolute in `buf`).
    resume: usize,
    /// Quote byte the pending tag scan is inside of, if any.
    quote: Option<u8>,
    phase: Phase,
    stack: Vec<Frame>,
    stanza_bytes: usize,
}

enum Scan {
    /// A complete token of this many bytes starting at `pos`.
    Complete(usize),
    /// More bytes are needed.
    Partial,
}

impl StreamReader {
    /// A reader for a stream whose default (content) namespace must be
    /// `content_ns` (`jabber:client` on c2s streams).
    pub fn new(limits: Limits, content_ns: &str) -> StreamReader {
        StreamReader {
            limits,
            content_ns: content_ns.to_owned(),
            buf: Vec::new(),
            pos: 0,
            resume: 0,
            quote: None,
            phase: Phase::Prolog { declared: false },
            stack: Vec::new(),
            stanza_bytes: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets everything, buffered bytes included, and expects a new
    /// stream header (after STARTTLS or SASL success, RFC 6120 §4.3.3).
    pub fn restart(&mut self) {
        *self = StreamReader::new(self.limits.clone(), &self.content_ns);
    }

    /// Whether the stream was closed or failed (no more events).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Appends received bytes; refuses them when the unparsed backlog
    /// would exceed `max_buffered_bytes` (drain events after each feed).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ReadError> {
        if self.phase == Phase::Done {
            return Ok(());
        }
        if self.buf.len() - self.pos + bytes.len() > self.limits.max_buffered_bytes {
            self.phase = Phase::Done;
            return Err(ReadError::PolicyViolation("too many bytes buffered"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next event, `Ok(None)` when more bytes are needed (or after
    /// the end). After an error the reader yields nothing more.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        match self.step() {
            Ok(Some(event)) => {
                if event == StreamEvent::Closed {
                    self.phase = Phase::Done;
                }
                Ok(Some(event))
            }
            Ok(None) => {
                self.compact();
                Ok(None)
            }
            Err(error) => {
                self.phase = Phase::Done;
                self.stack.clear();
                self.buf.clear();
                self.pos = 0;
                Err(error)
            }
        }
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.resume = self.resume.saturating_sub(self.pos);
            self.pos = 0;
        }
    }

    fn consume(&mut self, len: usize) {
        self.pos += len;
        self.resume = self.pos;
        self.quote = None;
        if self.phase == Phase::Open {
            self.stanza_bytes += len;
        }
    }

    fn step(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        loop {
            if self.phase == Phase::Done || self.pos >= self.buf.len() {
                return Ok(None);
            }
            let rest = &self.buf[self.pos..];
            if rest[0] != b'<' {
                if self.stack.len() <= 1 {
                    // Prolog or between stanzas: only whitespace may appear.
                    let ws = rest.iter().take_while(|b| is_xml_space(**b)).count();
                    if ws == 0 {
                        return Err(ReadError::NotWellFormed("text outside a stanza"));
                    }
                    self.consume(ws);
                    self.stanza_bytes = 0;
                    if self.phase == Phase::Open {
                        return Ok(Some(StreamEvent::Whitespace));
                    }
                    continue;
                }
                let Scan::Complete(len) = self.scan_text()? else {
                    return Ok(None);
                };
                let text = decode_text(&self.buf[self.pos..self.pos + len])?;
                self.consume(len);
                if let Some(top) = self.stack.last_mut() {
                    top.element.push_text(text);
                }
                continue;
            }
            if rest.starts_with(b"<?") {
                let Scan::Complete(len) = self.scan_until(b"?>")? else {
                    return Ok(None);
                };
                self.declaration(len)?;
                continue;
            }
            if rest.starts_with(b"<!") {
                const CDATA: &[u8] = b"<![CDATA[";
                let n = rest.len().min(CDATA.len());
                if rest[..n] != CDATA[..n] {
                    return Err(ReadError::RestrictedXml(if rest.starts_with(b"<!-") {
                        "comment"
                    } else {
                        "DTD or markup declaration"
                    }));
                }
                if rest.len() < CDATA.len() {
                    return Ok(None);
                }
                if self.stack.len() <= 1 {
                    return Err(ReadError::NotWellFormed("CDATA outside a stanza"));
                }
                let Scan::Complete(len) = self.scan_until(b"]]>")? else {
                    return Ok(None);
                };
                let raw = &self.buf[self.pos + CDATA.len()..self.pos + len - 3];
                let text = std::str::from_utf8(raw)
                    .map_err(|_| ReadError::NotWellFormed("invalid UTF-8"))?;
                check_chars(text)?;
                let text = text.to_owned();
                self.consume(len);
                if let Some(top) = self.stack.last_mut() {
                    top.element.push_text(text);
                }
                continue;
            }
            let Scan::Complete(len) = self.scan_tag()? else {
                return Ok(None);
            };
            let tag = std::str::from_utf8(&self.buf[self.pos + 1..self.pos + len - 1])
                .map_err(|_| ReadError::NotWellFormed("invalid UTF-8"))?
                .to_owned();
            self.consume(len);
            if let Some(event) = self.tag(&tag)? {
                return Ok(Some(event));
            }
        }
    }

    /// Checks the bytes of a token still incomplete against the limits.
    fn check_pending(&self, pending: usize) -> Result<(), ReadError> {
        let limit = self
            .limits
            .max_stanza_bytes
            .saturating_sub(self.stanza_bytes);
        if pending > limit {
            return Err(ReadError::PolicyViolation("stanza too large"));
        }
        Ok(())
    }

    fn scan_text(&mut self) -> Result<Scan, ReadError> {
        let from = self.resume.max(self.pos);
        match self.buf[from..].iter().position(|b| *b == b'<') {
            Some(at) => {
                let len = from + at - self.pos;
                self.check_pending(len)?;
                Ok(Scan::Complete(len))
            }
            None => {
                self.resume = self.buf.len();
                self.check_pending(self.buf.len() - self.pos)?;
                Ok(Scan::Partial)
            }
        }
    }

    fn scan_until(&mut self, end: &[u8]) -> Result<Scan, ReadError> {
        let from = self.resume.max(self.pos + 2);
        let hay = &self.buf[from..];
        match hay.windows(end.len()).position(|w| w == end) {
            Some(at) => {
                let len = from + at + end.len() - self.pos;
                self.check_pending(len)?;
                Ok(Scan::Complete(len))
            }
            None => {
                self.resume = self.buf.len().saturating_sub(end.len() - 1).max(from);
                self.check_pending(self.buf.len() - self.pos)?;
                Ok(Scan::Partial)
            }
        }
    }

    fn scan_tag(&mut self) -> Result<Scan, ReadError> {
        let from = self.resume.max(self.pos + 1);
        let mut quote = self.quote;
        for (i, b) in self.buf[from..].iter().enumerate() {
            match (quote, *b) {
                (None, b'"' | b'\'') => quote = Some(*b),
                (Some(q), b) if b == q => quote = None,
                (None, b'>') => {
                    let len = from + i + 1 - self.pos;
                    self.check_pending(len)?;
                    return Ok(Scan::Complete(len));
                }
                (None, b'<') => return Err(ReadError::NotWellFormed("'<' inside a tag")),
                _ => {}
            }
        }
        self.resume = self.buf.len();
        self.quote = quote;
        self.check_pending(self.buf.len() - self.pos)?;
        Ok(Scan::Partial)
    }

    /// `<?…?>`: only `<?xml …?>`, only before the stream header.
    fn declaration(&mut self, len: usize) -> Result<(), ReadError> {
        let body = &self.buf[self.pos + 2..self.pos + len - 2];
        let is_xml = body.starts_with(b"xml") && body.get(3).is_none_or(|b| is_xml_space(*b));
        match self.phase {
            Phase::Prolog { declared: false } if is_xml => {
                let body = std::str::from_utf8(body)
                    .map_err(|_| ReadError::NotWellFormed("invalid UTF-8"))?;
                if body.contains("encoding") && !body.to_ascii_lowercase().contains("utf-8") {
                    return Err(ReadError::NotWellFormed("encoding other than UTF-8"));
                }
                self.phase = Phase::Prolog { declared: true };
                self.consume(len);
                Ok(())
            }
            _ => Err(ReadError::RestrictedXml("processing instruction")),
        }
    }

    fn tag(&mut self, tag: &str) -> Result<Option<StreamEvent>, ReadError> {
        if let Some(name) = tag.strip_prefix('/') {
            return self.end_tag(name.trim_end_matches(is_space_char));
        }
        let (body, empty) = match tag.strip_suffix('/') {
            Some(body) => (body, true),
            None => (tag, false),
        };
        let (qname, attrs) = parse_start(body, &self.limits)?;
        if self.stack.len() >= self.limits.max_depth {
            return Err(ReadError::PolicyViolation("nesting too deep"));
        }
        let mut bindings = Vec::new();
        let mut plain = Vec::new();
        for (name, value) in attrs {
            if name == "xmlns" {
                bindings.push((String::new(), value));
            } else if let Some(prefix) = name.strip_prefix("xmlns:") {
                if prefix == "xml" || prefix == "xmlns" || value.is_empty() {
                    return Err(ReadError::NotWellFormed(
                        "reserved or empty namespace prefix",
                    ));
                }
                bindings.push((prefix.to_owned(), value));
            } else {
                plain.push((name, value));
            }
        }
        let (prefix, local) = split_qname(&qname);
        let ns = self
            .resolve(prefix, &bindings)
            .ok_or(ReadError::NotWellFormed("unbound namespace prefix"))?;
        for (name, _) in &plain {
            let (prefix, _) = split_qname(name);
            if !prefix.is_empty() && self.resolve(prefix, &bindings).is_none() {
                return Err(ReadError::NotWellFormed("unbound attribute prefix"));
            }
        }
        if self.stack.is_empty() {
            return self.open_stream(local, &ns, &bindings, plain, &qname, empty);
        }
        let mut element = Element::new(local, ns);
        for (name, value) in plain {
            element.set_attr(name, value);
        }
        let frame = Frame {
            qname,
            bindings,
            element,
        };
        if empty {
            return Ok(self.finish(frame));
        }
        self.stack.push(frame);
        Ok(None)
    }

    fn open_stream(
        &mut self,
        local: &str,
        ns: &str,
        bindings: &[(String, String)],
        attrs: Vec<(String, String)>,
        qname: &str,
        empty: bool,
    ) -> Result<Option<StreamEvent>, ReadError> {
        if local != "stream" || ns != NS_STREAMS {
            return Err(ReadError::InvalidNamespace);
        }
        let default = bindings.iter().find(|(p, _)| p.is_empty()).map(|(_, v)| v);
        if default.map(String::as_str) != Some(self.content_ns.as_str()) {
            return Err(ReadError::InvalidNamespace);
        }
        let mut header = StreamHeader::default();
        for (name, value) in attrs {
            match name.as_str() {
                "to" => header.to = Some(value),
                "from" => header.from = Some(value),
                "id" => header.id = Some(value),
                "version" => header.version = Some(value),
                "xml:lang" => header.lang = Some(value),
                _ => {}
            }
        }
        self.phase = if empty { Phase::Done } else { Phase::Open };
        self.stack.push(Frame {
            qname: qname.to_owned(),
            bindings: bindings.to_vec(),
            element: Element::default(),
        });
        Ok(Some(StreamEvent::Opened(header)))
    }

    fn end_tag(&mut self, qname: &str) -> Result<Option<StreamEvent>, ReadError> {
        let Some(frame) = self.stack.pop() else {
            return Err(ReadError::NotWellFormed("end tag without start"));
        };
        if frame.qname != qname {
            return Err(ReadError::NotWellFormed("mismatched end tag"));
        }
        if self.stack.is_empty() {
            return Ok(Some(StreamEvent::Closed));
        }
        Ok(self.finish(frame))
    }

    /// A complete element: attach it to its parent, or emit it as a stanza.
    fn finish(&mut self, frame: Frame) -> Option<StreamEvent> {
        if self.stack.len() == 1 {
            self.stanza_bytes = 0;
            return Some(StreamEvent::Stanza(frame.element));
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.element.push(frame.element);
        }
        None
    }

    fn resolve(&self, prefix: &str, local: &[(String, String)]) -> Option<String> {
        if prefix == "xml" {
            return Some(NS_XML.to_owned());
        }
        let found = local
            .iter()
            .rev()
            .chain(
                self.stack
                    .iter()
                    .rev()
                    .flat_map(|f| f.bindings.iter().rev()),
            )
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.clone());
        match found {
            Some(uri) => Some(uri),
            None if prefix.is_empty() => Some(String::new()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests;
