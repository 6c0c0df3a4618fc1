//! The server end of a client-to-server stream (RFC 6120) as a sans-IO
//! machine: bytes and `now` in, [`Output`]s out.
//!
//! The order of negotiation: stream header → STARTTLS (when the driver has
//! TLS; then required) → restart → SASL → restart → resource binding. Only
//! then are stanzas handed up, with `from` stamped to the bound full JID
//! (RFC 6120 §8.1.2.1). Until binding, a deadline runs (`auth_timeout`);
//! [`ServerStream::poll_timeout`] says when to call
//! [`ServerStream::handle_timeout`]. The machine does not know other
//! sessions: it reports [`Output::Bound`] and the driver decides about
//! duplicates ([`ServerStream::close_with`] with [`StreamError::Conflict`]).

mod config;
pub mod local;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

pub use config::{Credentials, ServerConfig};

use crate::element::{escape, Element};
use crate::error::{
    iq_error, iq_result, write_stream_child, ErrorType, StanzaCondition, StreamError, NS_STREAMS,
};
use crate::jid::{FullJid, Jid};
use crate::reader::{StreamEvent, StreamHeader, StreamReader};
use crate::sasl::scram::{parse_client_first, user_salt, ScramHash, ScramServer};
use crate::sasl::{
    decode_payload, encode_payload, plain, random_token, Mechanism, SaslError, NS_SASL,
};
use local::NS_BIND;

/// The STARTTLS namespace.
pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";

/// What the driver must do or learn, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the peer.
    Transmit(String),
    /// Flush what was transmitted, wrap the socket in TLS (server side),
    /// then call [`ServerStream::tls_established`].
    StartTls,
    /// SASL succeeded for `username`.
    Authenticated {
        /// The authenticated user.
        username: String,
    },
    /// A wrong password (or unknown user): feed the per-source ban.
    AuthFailed {
        /// The user name tried, when the client got that far.
        username: Option<String>,
    },
    /// A resource was bound; stanzas follow.
    Bound {
        /// The session's full JID.
        jid: FullJid,
    },
    /// A stanza for the adapter to route, `from` stamped to the session.
    /// Every IQ `get`/`set` here must get exactly one result or error back
    /// through [`ServerStream::send_stanza`].
    Stanza(Element),
    /// The stream is over; close the socket once transmitted bytes are out.
    Closed {
        /// The stream error sent to the peer, None for a clean close.
        error: Option<StreamError>,
    },
}

#[derive(Debug)]
enum Phase {
    AwaitingHeader,
    Negotiating,
    /// `<auth>` came without an initial response; an empty challenge was sent.
    AwaitingInitialResponse(Mechanism),
    Scram(Box<ScramServer>),
    AwaitingTls,
    Closed,
}

/// One client connection's stream; one value per connection.
#[derive(Debug)]
pub struct ServerStream {
    config: Arc<ServerConfig>,
    reader: StreamReader,
    phase: Phase,
    header_sent: bool,
    tls_active: bool,
    username: Option<String>,
    jid: Option<FullJid>,
    failures: u32,
    deadline: Option<Instant>,
    out: VecDeque<Output>,
}

/// Input is fed to the reader in pieces of this size, so a large read
/// does not trip `max_buffered_bytes` while holding many small stanzas.
const FEED_CHUNK: usize = 4096;

impl ServerStream {
    /// A new stream accepted at `now`, waiting for the client's header.
    pub fn new(config: Arc<ServerConfig>, now: Instant) -> ServerStream {
        ServerStream {
            reader: StreamReader::new(config.limits.clone(), "jabber:client"),
            deadline: Some(now + config.auth_timeout),
            config,
            phase: Phase::AwaitingHeader,
            header_sent: false,
            tls_active: false,
            username: None,
            jid: None,
            failures: 0,
            out: VecDeque::new(),
        }
    }

    /// The bound full JID, once bound.
    pub fn jid(&self) -> Option<&FullJid> {
        self.jid.as_ref()
    }

    /// Whether the stream is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// The next thing for the driver to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`ServerStream::handle_timeout`] is due, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        self.deadline
    }

    /// Time passed: an unbound stream past its deadline is closed with
    /// `connection-timeout`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) && !self.is_closed() {
            self.fail(
                StreamError::ConnectionTimeout,
                Some("authentication took too long"),
            );
        }
    }

    /// Bytes from the peer (any chunking).
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        for chunk in bytes.chunks(FEED_CHUNK) {
            if matches!(self.phase, Phase::Closed | Phase::AwaitingTls) {
                // Plaintext after <starttls/> is discarded (no injection into the TLS session).
                return;
            }
            if let Err(error) = self.reader.feed(chunk) {
                self.fail(error.condition(), None);
                return;
            }
            loop {
                if matches!(self.phase, Phase::Closed | Phase::AwaitingTls) {
                    return;
                }
                match self.reader.next_event() {
                    Ok(Some(event)) => self.on_event(now, event),
                    Ok(None) => break,
                    Err(error) => {
                        self.fail(error.condition(), None);
                        return;
                    }
                }
            }
        }
    }

    /// The driver finished the TLS handshake after [`Output::StartTls`];
    /// the client now opens a new stream.
    pub fn tls_established(&mut self) {
        if matches!(self.phase, Phase::AwaitingTls) {
            self.tls_active = true;
            self.reader.restart();
            self.phase = Phase::AwaitingHeader;
        }
    }

    /// Sends a stanza to the client (only once bound; ignored otherwise).
    pub fn send_stanza(&mut self, stanza: &Element) {
        if self.jid.is_some() && !self.is_closed() {
            self.transmit(stanza.to_xml("jabber:client"));
        }
    }

    /// Ends the stream with `error` (e.g. `conflict` when a newer session
    /// took this JID, `system-shutdown`).
    pub fn close_with(&mut self, error: StreamError) {
        if !self.is_closed() {
            self.fail(error, None);
        }
    }

    /// Ends the stream cleanly (`</stream:stream>`).
    pub fn close(&mut self) {
        if self.is_closed() {
            return;
        }
        if !self.header_sent {
            self.send_header(None);
        }
        self.transmit("</stream:stream>".to_owned());
        self.phase = Phase::Closed;
        self.out.push_back(Output::Closed { error: None });
    }

    fn transmit(&mut self, bytes: String) {
        self.out.push_back(Output::Transmit(bytes));
    }

    fn fail(&mut self, error: StreamError, text: Option<&str>) {
        if self.is_closed() {
            return;
        }
        if !self.header_sent {
            self.send_header(None);
        }
        self.transmit(error.to_wire(text));
        self.phase = Phase::Closed;
        self.out.push_back(Output::Closed { error: Some(error) });
    }

    fn send_header(&mut self, peer: Option<&StreamHeader>) {
        let mut header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='{NS_STREAMS}' \
             id='{}' from='{}' version='1.0' xml:lang='en'",
            random_token(12),
            escape(&self.config.domain)
        );
        if let Some(from) = peer
            .and_then(|h| h.from.as_deref())
            .filter(|f| Jid::parse(f).is_ok())
        {
            header.push_str(&format!(" to='{}'", escape(from)));
        }
        header.push('>');
        self.header_sent = true;
        self.transmit(header);
    }

    fn on_event(&mut self, now: Instant, event: StreamEvent) {
        match event {
            StreamEvent::Opened(header) => self.on_header(&header),
            StreamEvent::Whitespace => {}
            StreamEvent::Closed => self.close(),
            StreamEvent::Stanza(stanza) => self.on_stanza(now, stanza),
        }
    }

    fn on_header(&mut self, header: &StreamHeader) {
        self.send_header(Some(header));
        if let Some(to) = &header.to {
            if !to.eq_ignore_ascii_case(&self.config.domain) {
                self.fail(StreamError::HostUnknown, None);
                return;
            }
        }
        if header.version.as_deref() != Some("1.0") {
            self.fail(StreamError::UnsupportedVersion, None);
            return;
        }
        let mut features = Element::new("features", NS_STREAMS);
        if self.config.tls_available && !self.tls_active {
            features.push(Element::new("starttls", NS_TLS).child(Element::new("required", NS_TLS)));
        } else if self.username.is_none() {
            let mut mechanisms = Element::new("mechanisms", NS_SASL);
            for mechanism in self.offered() {
                mechanisms.push(Element::new("mechanism", NS_SASL).text(mechanism.as_str()));
            }
            features.push(mechanisms);
        } else {
            features.push(Element::new("bind", NS_BIND));
            features.push(
                Element::new("session", local::NS_SESSION)
                    .child(Element::new("optional", local::NS_SESSION)),
            );
        }
        let mut out = String::new();
        write_stream_child(&mut out, &features);
        self.transmit(out);
        self.phase = Phase::Negotiating;
    }

    fn offered(&self) -> Vec<Mechanism> {
        let mut offered = vec![Mechanism::ScramSha256, Mechanism::ScramSha1];
        if self.tls_active || self.config.allow_plain_without_tls {
            offered.push(Mechanism::Plain);
        }
        offered
    }

    fn on_stanza(&mut self, now: Instant, stanza: Element) {
        if self.username.is_none() {
            match (stanza.ns(), stanza.name()) {
                (NS_TLS, "starttls") => self.on_starttls(),
                (NS_SASL, "auth") => self.on_auth(&stanza),
                (NS_SASL, "response") => self.on_response(&stanza),
                (NS_SASL, "abort") => {
                    self.phase = Phase::Negotiating;
                    self.sasl_failure(SaslError::Aborted, None);
                }
                _ => self.fail(StreamError::NotAuthorized, None),
            }
            return;
        }
        if stanza.ns() != "jabber:client" || !matches!(stanza.name(), "iq" | "presence" | "message")
        {
            self.fail(StreamError::UnsupportedStanzaType, None);
            return;
        }
        let Some(jid) = self.jid.clone() else {
            self.before_bind(now, &stanza);
            return;
        };
        let mut stanza = stanza;
        stanza.set_attr("from", jid.to_string());
        match local::answer(
            &stanza,
            &self.config.domain,
            &jid,
            &self.config.disco_features,
        ) {
            Some(reply) => self.send_stanza(&reply),
            None => self.out.push_back(Output::Stanza(stanza)),
        }
    }

    fn on_starttls(&mut self) {
        if self.config.tls_available && !self.tls_active {
            self.transmit(format!("<proceed xmlns='{NS_TLS}'/>"));
            self.phase = Phase::AwaitingTls;
            self.out.push_back(Output::StartTls);
        } else {
            // RFC 6120 §5.4.2.2: failure, then close the stream.
            self.transmit(format!("<failure xmlns='{NS_TLS}'/></stream:stream>"));
            self.phase = Phase::Closed;
            self.out.push_back(Output::Closed { error: None });
        }
    }

    fn on_auth(&mut self, auth: &Element) {
        if self.config.tls_available && !self.tls_active {
            self.sasl_failure(SaslError::EncryptionRequired, None);
            return;
        }
        let mechanism = auth
            .get_attr("mechanism")
            .and_then(Mechanism::from_name)
            .filter(|m| self.offered().contains(m));
        let Some(mechanism) = mechanism else {
            self.sasl_failure(SaslError::InvalidMechanism, None);
            return;
        };
        let text = auth.text_content();
        if text.trim().is_empty() {
            // No initial response (RFC 6120 §6.4.2): ask for it with an empty challenge.
            self.transmit(format!("<challenge xmlns='{NS_SASL}'/>"));
            self.phase = Phase::AwaitingInitialResponse(mechanism);
            return;
        }
        match decode_payload(&text) {
            Ok(payload) => self.start_mechanism(mechanism, &payload),
            Err(error) => self.sasl_failure(error, None),
        }
    }

    fn start_mechanism(&mut self, mechanism: Mechanism, payload: &[u8]) {
        let hash = match mechanism {
            Mechanism::Plain => return self.on_plain(payload),
            Mechanism::ScramSha1 => ScramHash::Sha1,
            Mechanism::ScramSha256 => ScramHash::Sha256,
        };
        let first = match parse_client_first(payload) {
            Ok(first) => first,
            Err(error) => return self.sasl_failure(error, None),
        };
        let domain = &self.config.domain;
        if let Some(authzid) = &first.authzid {
            if *authzid != first.username && *authzid != format!("{}@{domain}", first.username) {
                let username = first.username.clone();
                return self.sasl_failure(SaslError::InvalidAuthzid, Some(username));
            }
        }
        let password = self.config.credentials.password(&first.username);
        let salt = user_salt(domain, &first.username);
        let server = ScramServer::new(
            hash,
            first,
            password.as_deref(),
            &salt,
            self.config.scram_iterations,
            &random_token(18),
        );
        self.transmit(format!(
            "<challenge xmlns='{NS_SASL}'>{}</challenge>",
            encode_payload(server.server_first().as_bytes())
        ));
        self.phase = Phase::Scram(Box::new(server));
    }

    fn on_plain(&mut self, payload: &[u8]) {
        let creds = match plain::parse(payload, &self.config.domain) {
            Ok(creds) => creds,
            Err(error) => return self.sasl_failure(error, None),
        };
        let known = self.config.credentials.password(&creds.username);
        let matches = known.is_some_and(|p| {
            p.len() == creds.password.len()
                && p.bytes()
                    .zip(creds.password.bytes())
                    .fold(0u8, |a, (x, y)| a | (x ^ y))
                    == 0
        });
        if matches {
            self.sasl_success(creds.username, None);
        } else {
            self.sasl_failure(SaslError::NotAuthorized, Some(creds.username));
        }
    }

    fn on_response(&mut self, response: &Element) {
        let payload = decode_payload(&response.text_content());
        let server = match std::mem::replace(&mut self.phase, Phase::Negotiating) {
            Phase::Scram(server) => server,
            Phase::AwaitingInitialResponse(mechanism) => {
                return match payload {
                    Ok(payload) => self.start_mechanism(mechanism, &payload),
                    Err(error) => self.sasl_failure(error, None),
                };
            }
            _ => return self.sasl_failure(SaslError::MalformedRequest, None),
        };
        let username = server.username().to_owned();
        let payload = match payload {
            Ok(payload) => payload,
            Err(error) => return self.sasl_failure(error, Some(username)),
        };
        match server.client_final(&payload) {
            Ok(verifier) => self.sasl_success(username, Some(verifier)),
            Err(error) => self.sasl_failure(error, Some(username)),
        }
    }

    fn sasl_success(&mut self, username: String, additional: Option<String>) {
        match additional {
            Some(data) => self.transmit(format!(
                "<success xmlns='{NS_SASL}'>{}</success>",
                encode_payload(data.as_bytes())
            )),
            None => self.transmit(format!("<success xmlns='{NS_SASL}'/>")),
        }
        self.out.push_back(Output::Authenticated {
            username: username.clone(),
        });
        self.username = Some(username);
        self.reader.restart();
        self.phase = Phase::AwaitingHeader;
    }

    fn sasl_failure(&mut self, error: SaslError, username: Option<String>) {
        self.phase = Phase::Negotiating;
        let mut out = String::new();
        error.to_failure().write_xml(&mut out, "jabber:client");
        self.transmit(out);
        if error == SaslError::NotAuthorized {
            self.out.push_back(Output::AuthFailed { username });
        }
        self.failures += 1;
        if self.failures >= self.config.max_auth_failures {
            self.fail(
                StreamError::PolicyViolation,
                Some("too many authentication failures"),
            );
        }
    }

    fn before_bind(&mut self, _now: Instant, stanza: &Element) {
        let is_request =
            stanza.name() == "iq" && matches!(stanza.get_attr("type"), Some("get" | "set"));
        if !is_request {
            self.fail(StreamError::NotAuthorized, Some("bind a resource first"));
            return;
        }
        let bind = stanza.get_child("bind", NS_BIND);
        let (Some(bind), Some("set")) = (bind, stanza.get_attr("type")) else {
            let reply = iq_error(
                stanza,
                StanzaCondition::NotAuthorized,
                ErrorType::Auth,
                None,
            );
            self.transmit(reply.to_xml("jabber:client"));
            return;
        };
        let requested = bind
            .get_child("resource", NS_BIND)
            .map(|r| r.text_content().trim().to_owned())
            .filter(|r| !r.is_empty());
        let resource = requested.unwrap_or_else(|| random_token(9));
        let username = self.username.clone().unwrap_or_default();
        let jid = Jid::bare(Some(&username), &self.config.domain)
            .and_then(|b| b.with_resource(&resource));
        let jid = match jid {
            Ok(jid) => jid,
            Err(_) => {
                let reply = iq_error(stanza, StanzaCondition::BadRequest, ErrorType::Modify, None);
                self.transmit(reply.to_xml("jabber:client"));
                return;
            }
        };
        let payload =
            Element::new("bind", NS_BIND).child(Element::new("jid", NS_BIND).text(jid.to_string()));
        let mut reply = iq_result(stanza, Some(payload));
        reply.remove_attr("from");
        reply.set_attr("to", jid.to_string());
        self.transmit(reply.to_xml("jabber:client"));
        self.deadline = None;
        self.jid = Some(jid.clone());
        self.out.push_back(Output::Bound { jid });
    }
}

#[cfg(test)]
mod tests;
