//! The client end of a c2s stream, small on purpose: what the test kit's
//! Rayo client needs to log in (STARTTLS when offered, SASL SCRAM or
//! PLAIN, bind, session when required) and then exchange stanzas. Sans-IO
//! like [`crate::ServerStream`]; it has no timers.

use std::collections::VecDeque;

use crate::element::{escape, Element};
use crate::error::{StreamError, NS_STREAMS};
use crate::jid::FullJid;
use crate::reader::{Limits, StreamEvent, StreamReader};
use crate::sasl::scram::{ScramClient, ScramHash};
use crate::sasl::{decode_payload, encode_payload, plain, random_token, Mechanism, NS_SASL};
use crate::server::local::{NS_BIND, NS_SESSION};
use crate::server::NS_TLS;

/// Who logs in where, and how.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's domain (`to` of the stream header).
    pub domain: String,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// The resource to ask for; None lets the server pick one.
    pub resource: Option<String>,
    /// Mechanisms to use, most preferred first, among those offered.
    pub mechanisms: Vec<Mechanism>,
    /// Whether the driver can do TLS: STARTTLS is then used when offered.
    pub starttls: bool,
    /// Bounds on what the server sends.
    pub limits: Limits,
}

impl ClientConfig {
    /// SCRAM-SHA-256, then SCRAM-SHA-1, then PLAIN; no TLS.
    pub fn new(domain: &str, username: &str, password: &str) -> ClientConfig {
        ClientConfig {
            domain: domain.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            resource: None,
            mechanisms: vec![
                Mechanism::ScramSha256,
                Mechanism::ScramSha1,
                Mechanism::Plain,
            ],
            starttls: false,
            limits: Limits::default(),
        }
    }

    /// Builder: only `mechanism`.
    pub fn mechanism(mut self, mechanism: Mechanism) -> ClientConfig {
        self.mechanisms = vec![mechanism];
        self
    }

    /// Builder: bind `resource`.
    pub fn resource(mut self, resource: &str) -> ClientConfig {
        self.resource = Some(resource.to_owned());
        self
    }

    /// Builder: whether STARTTLS is used when offered.
    pub fn starttls(mut self, starttls: bool) -> ClientConfig {
        self.starttls = starttls;
        self
    }
}

/// What the client driver must do or learn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutput {
    /// Write these bytes to the server.
    Transmit(String),
    /// Flush, wrap the socket in TLS (client side), then call
    /// [`ClientStream::tls_established`].
    StartTls,
    /// SASL succeeded (and, for SCRAM, the server proved it knows the password).
    Authenticated,
    /// Login failed: the SASL `<failure>` condition, `encryption-required`
    /// when TLS is demanded but not available, or `invalid-mechanism`
    /// when no configured mechanism is offered.
    AuthFailed {
        /// The condition's name.
        condition: String,
    },
    /// Bound (and session established if required): ready for stanzas.
    Bound {
        /// The full JID the server assigned.
        jid: FullJid,
    },
    /// A stanza from the server.
    Stanza(Element),
    /// The stream is over.
    Closed {
        /// The stream error received (or sent), None for a clean close.
        error: Option<StreamError>,
    },
}

#[derive(Debug)]
enum Phase {
    AwaitingHeader,
    AwaitingFeatures,
    AwaitingProceed,
    AwaitingTls,
    Sasl(Option<Box<ScramClient>>),
    AwaitingBind,
    AwaitingSession(FullJid),
    Ready,
    Closed,
}

/// One client connection.
#[derive(Debug)]
pub struct ClientStream {
    config: ClientConfig,
    reader: StreamReader,
    phase: Phase,
    tls_active: bool,
    authenticated: bool,
    session_required: bool,
    out: VecDeque<ClientOutput>,
}

impl ClientStream {
    /// Starts the stream: the header is the first output.
    pub fn new(config: ClientConfig) -> ClientStream {
        let mut client = ClientStream {
            reader: StreamReader::new(config.limits.clone(), "jabber:client"),
            config,
            phase: Phase::AwaitingHeader,
            tls_active: false,
            authenticated: false,
            session_required: false,
            out: VecDeque::new(),
        };
        client.send_header();
        client
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    /// Whether the stream is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Bytes from the server.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(4096) {
            if matches!(self.phase, Phase::Closed | Phase::AwaitingTls) {
                return;
            }
            if let Err(error) = self.reader.feed(chunk) {
                return self.fail(error.condition());
            }
            loop {
                if matches!(self.phase, Phase::Closed | Phase::AwaitingTls) {
                    return;
                }
                match self.reader.next_event() {
                    Ok(Some(event)) => self.on_event(event),
                    Ok(None) => break,
                    Err(error) => return self.fail(error.condition()),
                }
            }
        }
    }

    /// TLS is up after [`ClientOutput::StartTls`]: opens the new stream.
    pub fn tls_established(&mut self) {
        if matches!(self.phase, Phase::AwaitingTls) {
            self.tls_active = true;
            self.reader.restart();
            self.send_header();
        }
    }

    /// Sends a stanza (after [`ClientOutput::Bound`]).
    pub fn send_stanza(&mut self, stanza: &Element) {
        if !self.is_closed() {
            self.transmit(stanza.to_xml("jabber:client"));
        }
    }

    /// Closes our stream (`</stream:stream>`).
    pub fn close(&mut self) {
        if !self.is_closed() {
            self.transmit("</stream:stream>".to_owned());
            self.phase = Phase::Closed;
            self.out.push_back(ClientOutput::Closed { error: None });
        }
    }

    fn transmit(&mut self, bytes: String) {
        self.out.push_back(ClientOutput::Transmit(bytes));
    }

    fn fail(&mut self, error: StreamError) {
        if !self.is_closed() {
            self.transmit(error.to_wire(None));
            self.phase = Phase::Closed;
            self.out
                .push_back(ClientOutput::Closed { error: Some(error) });
        }
    }

    fn give_up(&mut self, condition: &str) {
        self.out.push_back(ClientOutput::AuthFailed {
            condition: condition.to_owned(),
        });
        self.close();
    }

    fn send_header(&mut self) {
        self.phase = Phase::AwaitingHeader;
        self.transmit(format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='{NS_STREAMS}' \
             to='{}' version='1.0' xml:lang='en'>",
            escape(&self.config.domain)
        ));
    }

    fn on_event(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Opened(_) => self.phase = Phase::AwaitingFeatures,
            StreamEvent::Whitespace => {}
            StreamEvent::Closed => {
                if !self.is_closed() {
                    self.transmit("</stream:stream>".to_owned());
                    self.phase = Phase::Closed;
                    self.out.push_back(ClientOutput::Closed { error: None });
                }
            }
            StreamEvent::Stanza(stanza) => self.on_stanza(stanza),
        }
    }

    fn on_stanza(&mut self, stanza: Element) {
        if stanza.is("error", NS_STREAMS) {
            let error =
                StreamError::from_element(&stanza).unwrap_or(StreamError::UndefinedCondition);
            self.phase = Phase::Closed;
            self.out
                .push_back(ClientOutput::Closed { error: Some(error) });
            return;
        }
        // Every arm sets the next phase; `Ready` is only a placeholder.
        match std::mem::replace(&mut self.phase, Phase::Ready) {
            Phase::AwaitingFeatures if stanza.is("features", NS_STREAMS) => {
                self.on_features(&stanza)
            }
            Phase::AwaitingProceed if stanza.is("proceed", NS_TLS) => {
                self.phase = Phase::AwaitingTls;
                self.out.push_back(ClientOutput::StartTls);
            }
            Phase::Sasl(scram) if stanza.ns() == NS_SASL => self.on_sasl(scram, &stanza),
            Phase::AwaitingBind if stanza.name() == "iq" => self.on_bind_result(&stanza),
            Phase::AwaitingSession(jid) if stanza.name() == "iq" => {
                if stanza.get_attr("type") == Some("result") {
                    self.phase = Phase::Ready;
                    self.out.push_back(ClientOutput::Bound { jid });
                } else {
                    self.fail(StreamError::UndefinedCondition);
                }
            }
            Phase::Ready => self.out.push_back(ClientOutput::Stanza(stanza)),
            _ => self.fail(StreamError::UndefinedCondition),
        }
    }

    fn on_features(&mut self, features: &Element) {
        if let Some(starttls) = features.get_child("starttls", NS_TLS) {
            if self.config.starttls && !self.tls_active {
                self.transmit(format!("<starttls xmlns='{NS_TLS}'/>"));
                self.phase = Phase::AwaitingProceed;
                return;
            }
            if starttls.get_child("required", NS_TLS).is_some() {
                return self.give_up("encryption-required");
            }
        }
        if !self.authenticated {
            let offered: Vec<String> = features
                .get_child("mechanisms", NS_SASL)
                .map(|m| m.children().map(Element::text_content).collect())
                .unwrap_or_default();
            let chosen = self
                .config
                .mechanisms
                .iter()
                .copied()
                .find(|m| offered.iter().any(|o| o == m.as_str()));
            let Some(mechanism) = chosen else {
                return self.give_up("invalid-mechanism");
            };
            return self.start_auth(mechanism);
        }
        if features.get_child("bind", NS_BIND).is_none() {
            return self.fail(StreamError::UndefinedCondition);
        }
        self.session_required = features
            .get_child("session", NS_SESSION)
            .is_some_and(|s| s.get_child("optional", NS_SESSION).is_none());
        let mut bind = Element::new("bind", NS_BIND);
        if let Some(resource) = &self.config.resource {
            bind.push(Element::new("resource", NS_BIND).text(resource.clone()));
        }
        let iq = Element::new("iq", "jabber:client")
            .attr("type", "set")
            .attr("id", "bind-1")
            .child(bind);
        self.transmit(iq.to_xml("jabber:client"));
        self.phase = Phase::AwaitingBind;
    }

    fn start_auth(&mut self, mechanism: Mechanism) {
        let (payload, scram) = match mechanism {
            Mechanism::Plain => (
                plain::initial_response(&self.config.username, &self.config.password),
                None,
            ),
            Mechanism::ScramSha1 | Mechanism::ScramSha256 => {
                let hash = if mechanism == Mechanism::ScramSha1 {
                    ScramHash::Sha1
                } else {
                    ScramHash::Sha256
                };
                let scram = ScramClient::new(
                    hash,
                    &self.config.username,
                    &self.config.password,
                    &random_token(18),
                );
                (scram.client_first().into_bytes(), Some(Box::new(scram)))
            }
        };
        self.transmit(format!(
            "<auth xmlns='{NS_SASL}' mechanism='{}'>{}</auth>",
            mechanism.as_str(),
            encode_payload(&payload)
        ));
        self.phase = Phase::Sasl(scram);
    }

    fn on_sasl(&mut self, scram: Option<Box<ScramClient>>, stanza: &Element) {
        let payload = decode_payload(&stanza.text_content());
        match (stanza.name(), scram, payload) {
            ("challenge", Some(mut scram), Ok(payload)) => match scram.server_first(&payload) {
                Ok(answer) => {
                    self.transmit(format!(
                        "<response xmlns='{NS_SASL}'>{}</response>",
                        encode_payload(answer.as_bytes())
                    ));
                    self.phase = Phase::Sasl(Some(scram));
                }
                Err(error) => self.give_up(error.condition()),
            },
            ("success", scram, Ok(payload)) => {
                if let Some(scram) = scram {
                    if scram.server_final(&payload).is_err() {
                        return self.give_up("server-not-verified");
                    }
                }
                self.authenticated = true;
                self.out.push_back(ClientOutput::Authenticated);
                self.reader.restart();
                self.send_header();
            }
            ("failure", _, _) => {
                let condition = stanza
                    .first_child()
                    .map_or("not-authorized", Element::name)
                    .to_owned();
                self.give_up(&condition);
            }
            _ => self.give_up("malformed-request"),
        }
    }

    fn on_bind_result(&mut self, iq: &Element) {
        let jid = iq
            .get_child("bind", NS_BIND)
            .and_then(|b| b.get_child("jid", NS_BIND))
            .and_then(|j| FullJid::parse(j.text_content().trim()).ok());
        let Some(jid) = jid.filter(|_| iq.get_attr("type") == Some("result")) else {
            return self.fail(StreamError::UndefinedCondition);
        };
        if self.session_required {
            let iq = Element::new("iq", "jabber:client")
                .attr("type", "set")
                .attr("id", "session-1")
                .child(Element::new("session", NS_SESSION));
            self.transmit(iq.to_xml("jabber:client"));
            self.phase = Phase::AwaitingSession(jid);
        } else {
            self.phase = Phase::Ready;
            self.out.push_back(ClientOutput::Bound { jid });
        }
    }
}
