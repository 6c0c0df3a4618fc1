//! `XmppClient`: a synchronous XMPP client for the Rayo listener's tests.
//!
//! One std `TcpStream` (wrapped in rustls after STARTTLS, with a verifier
//! that accepts any certificate: the tests' is self-signed) driven from
//! the test thread through the sans-IO [`xmpp::ClientStream`]. Nothing
//! runs in the background: the socket is read only while a call waits, so
//! a test that stops calling has a client that stops reading (a slow
//! reader, as far as the server can tell).
//!
//! Waits work as in [`crate::agent`]: a `wait_*` looks through the stanzas
//! already buffered first, then reads on; the stanzas it does not want
//! stay buffered, in order, for the next wait. Every wait takes a timeout
//! and returns `None` instead of hanging; at most [`BUFFER_CAP`] stanzas
//! are buffered, and a wait that finds the buffer full returns `None`.
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::xmpp::{client_options, XmppClient};
//! use xmpp::Element;
//!
//! let addr = "127.0.0.1:5222".parse().unwrap();
//! let options = client_options("rayo.test", "usera", "1");
//! let mut client = XmppClient::connect(addr, &options, Duration::from_secs(5)).expect("login");
//! let ping = Element::new("ping", "urn:xmpp:ping");
//! let reply = client.iq("get", "rayo.test", ping, Duration::from_secs(2)).expect("reply");
//! assert_eq!(reply.get_attr("type"), Some("result"));
//! ```

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig as TlsConfig, ClientConnection, DigitallySignedStruct, StreamOwned};
use xmpp::{ClientConfig, ClientOutput, ClientStream, Element, FullJid, StreamError};

/// Most stanzas held for later waits.
pub const BUFFER_CAP: usize = 10_000;
/// Longest a single socket read blocks.
const READ_SLICE: Duration = Duration::from_millis(50);
/// Bound on one write (a server that does not read fails it).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How to log in: the `xmpp` crate's client settings.
pub type ClientOptions = ClientConfig;

/// Login settings for tests: SCRAM-SHA-256, then SCRAM-SHA-1, then PLAIN,
/// and STARTTLS when the server offers it.
pub fn client_options(domain: &str, username: &str, password: &str) -> ClientOptions {
    ClientConfig::new(domain, username, password).starttls(true)
}

/// Why a login did not end bound.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The socket failed (refused, reset, closed).
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// Nothing conclusive before the timeout.
    #[error("timed out")]
    Timeout,
    /// SASL failed with this condition (`not-authorized`,
    /// `invalid-mechanism`, `encryption-required` …).
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The server closed the stream, with this stream error if any.
    #[error("stream closed: {0:?}")]
    Closed(Option<StreamError>),
}

enum Io {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// Only while switching to TLS.
    None,
}

impl Io {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Io::Plain(s) => Some(s),
            Io::Tls(s) => Some(s.get_ref()),
            Io::None => None,
        }
    }
}

/// A logged-in (bound) client; see the module doc.
pub struct XmppClient {
    io: Io,
    stream: ClientStream,
    jid: Option<FullJid>,
    buffered: VecDeque<Element>,
    auth_failure: Option<String>,
    closed: Option<Option<StreamError>>,
    /// The socket gave EOF or an error: nothing more will come.
    gone: bool,
    next_id: u64,
    tls: Arc<TlsConfig>,
    domain: String,
}

impl XmppClient {
    /// Connects to `addr` and logs in (STARTTLS, SASL, bind) within `timeout`.
    pub fn connect(
        addr: SocketAddr,
        options: &ClientOptions,
        timeout: Duration,
    ) -> Result<XmppClient, LoginError> {
        let deadline = Instant::now() + timeout;
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_nodelay(true)?;
        tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let config = options.clone();
        let mut client = XmppClient {
            io: Io::Plain(tcp),
            stream: ClientStream::new(config),
            jid: None,
            buffered: VecDeque::new(),
            auth_failure: None,
            closed: None,
            gone: false,
            next_id: 0,
            tls: Arc::new(accept_any_certificate()),
            domain: options.domain.clone(),
        };
        client.drive()?;
        while client.jid.is_none() {
            if let Some(condition) = client.auth_failure.take() {
                return Err(LoginError::AuthFailed(condition));
            }
            if let Some(error) = client.closed {
                return Err(LoginError::Closed(error));
            }
            if client.gone {
                return Err(LoginError::Io(ErrorKind::UnexpectedEof.into()));
            }
            if Instant::now() >= deadline {
                return Err(LoginError::Timeout);
            }
            client.read_once(deadline)?;
        }
        Ok(client)
    }

    /// The full JID the server bound.
    pub fn jid(&self) -> &FullJid {
        self.jid
            .as_ref()
            .expect("connect returns only bound clients")
    }

    /// Sends a stanza.
    pub fn send(&mut self, stanza: &Element) -> io::Result<()> {
        self.stream.send_stanza(stanza);
        self.drive()
    }

    /// Writes raw bytes, bypassing the stream machine (malformed input,
    /// floods).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write(bytes)
    }

    /// Sends `<iq type=kind to=to>` with `payload` and waits for the reply
    /// with the same id (a result or an error).
    pub fn iq(
        &mut self,
        kind: &str,
        to: &str,
        payload: Element,
        timeout: Duration,
    ) -> Option<Element> {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        let mut iq = Element::new("iq", "jabber:client")
            .attr("type", kind)
            .attr("id", id.clone())
            .child(payload);
        if !to.is_empty() {
            iq.set_attr("to", to);
        }
        self.send(&iq).ok()?;
        self.wait_stanza(
            |s| {
                s.name() == "iq"
                    && s.get_attr("id") == Some(id.as_str())
                    && matches!(s.get_attr("type"), Some("result" | "error"))
            },
            timeout,
        )
    }

    /// [`XmppClient::iq`] of type `set`.
    pub fn iq_set(&mut self, to: &str, payload: Element, timeout: Duration) -> Option<Element> {
        self.iq("set", to, payload, timeout)
    }

    /// Sends `<presence to=domain><show>show</show></presence>` (`chat`
    /// to become available, `dnd` to stop).
    pub fn show(&mut self, show: &str) -> io::Result<()> {
        let presence = Element::new("presence", "jabber:client")
            .attr("to", self.domain.clone())
            .child(Element::new("show", "jabber:client").text(show));
        self.send(&presence)
    }

    /// The first stanza (buffered or arriving within `timeout`) that
    /// `wanted` accepts; the others stay buffered in order.
    pub fn wait_stanza(
        &mut self,
        mut wanted: impl FnMut(&Element) -> bool,
        timeout: Duration,
    ) -> Option<Element> {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        loop {
            if let Some(at) = self.buffered.iter().skip(seen).position(&mut wanted) {
                return self.buffered.remove(seen + at);
            }
            seen = self.buffered.len();
            if self.gone || self.closed.is_some() || self.buffered.len() >= BUFFER_CAP {
                return None;
            }
            if Instant::now() >= deadline || self.read_once(deadline).is_err() {
                return None;
            }
        }
    }

    /// The first presence that `wanted` accepts (see [`XmppClient::wait_stanza`]).
    pub fn wait_presence(
        &mut self,
        mut wanted: impl FnMut(&Element) -> bool,
        timeout: Duration,
    ) -> Option<Element> {
        self.wait_stanza(|s| s.name() == "presence" && wanted(s), timeout)
    }

    /// Waits for the server to end the stream (or drop the connection);
    /// the stream error it sent, `Some(None)` for a clean close or a
    /// dropped connection, None if still open after `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> Option<Option<StreamError>> {
        let deadline = Instant::now() + timeout;
        while self.closed.is_none() && !self.gone {
            if Instant::now() >= deadline || self.read_once(deadline).is_err() {
                break;
            }
        }
        match (&self.closed, self.gone) {
            (Some(error), _) => Some(*error),
            (None, true) => Some(None),
            (None, false) => None,
        }
    }

    /// Stanzas received and not yet taken by a wait, in order.
    pub fn buffered(&self) -> impl Iterator<Item = &Element> {
        self.buffered.iter()
    }

    /// Closes our stream (`</stream:stream>`) and waits up to `timeout`
    /// for the server's.
    pub fn close(mut self, timeout: Duration) -> Option<Option<StreamError>> {
        self.stream.close();
        let _ = self.drive();
        self.wait_closed(timeout)
    }

    /// Carries out the machine's outputs (writes, the TLS switch).
    fn drive(&mut self) -> io::Result<()> {
        while let Some(output) = self.stream.poll_output() {
            match output {
                ClientOutput::Transmit(bytes) => self.write(bytes.as_bytes())?,
                ClientOutput::StartTls => {
                    self.start_tls()?;
                    self.stream.tls_established();
                }
                ClientOutput::Authenticated => {}
                ClientOutput::AuthFailed { condition } => self.auth_failure = Some(condition),
                ClientOutput::Bound { jid } => self.jid = Some(jid),
                ClientOutput::Stanza(stanza) => {
                    if self.buffered.len() < BUFFER_CAP {
                        self.buffered.push_back(stanza);
                    }
                }
                ClientOutput::Closed { error } => {
                    if self.closed.is_none() {
                        self.closed = Some(error);
                    }
                }
            }
        }
        Ok(())
    }

    /// One read of at most [`READ_SLICE`] (or until `deadline`), fed to the machine.
    fn read_once(&mut self, deadline: Instant) -> io::Result<()> {
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), READ_SLICE);
        if let Some(tcp) = self.io.tcp() {
            tcp.set_read_timeout(Some(slice))?;
        }
        let mut buf = [0u8; 16 * 1024];
        let read = match &mut self.io {
            Io::Plain(s) => s.read(&mut buf),
            Io::Tls(s) => s.read(&mut buf),
            Io::None => Err(ErrorKind::NotConnected.into()),
        };
        match read {
            Ok(0) => {
                self.gone = true;
                Ok(())
            }
            Ok(n) => {
                self.stream.handle_input(&buf[..n]);
                self.drive()
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
            Err(e) => {
                self.gone = true;
                Err(e)
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let written = match &mut self.io {
            Io::Plain(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Io::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Io::None => Err(ErrorKind::NotConnected.into()),
        };
        if written.is_err() {
            self.gone = true;
        }
        written
    }

    /// Wraps the socket in TLS and completes the handshake.
    fn start_tls(&mut self) -> io::Result<()> {
        let Io::Plain(mut tcp) = std::mem::replace(&mut self.io, Io::None) else {
            return Err(ErrorKind::InvalidInput.into());
        };
        let name = ServerName::try_from(self.domain.clone())
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
        let mut tls = ClientConnection::new(self.tls.clone(), name)
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        tcp.set_read_timeout(Some(WRITE_TIMEOUT))?;
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp)?;
        }
        self.io = Io::Tls(Box::new(StreamOwned::new(tls, tcp)));
        Ok(())
    }
}

/// rustls settings that accept any server certificate (signatures are
/// still checked): the tests' certificate is self-signed.
fn accept_any_certificate() -> TlsConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    TlsConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the provider supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth()
}

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Rayo's core namespace (`urn:xmpp:rayo:1`).
pub const RAYO_NS: &str = "urn:xmpp:rayo:1";

/// A Rayo command element `<name xmlns='urn:xmpp:rayo:1'/>`.
pub fn rayo(name: &str) -> Element {
    Element::new(name, RAYO_NS)
}

/// An `<offer>` presence as a Rayo client receives it.
#[derive(Debug, Clone)]
pub struct RayoOffer {
    /// The bare call JID the offer came from (`<call-id>@<domain>`),
    /// where call commands go.
    pub call: String,
    /// The whole presence (caps `<c>`, `<offer>`, `<delay>`).
    pub presence: Element,
}

impl RayoOffer {
    /// The `<offer>` element.
    pub fn offer(&self) -> &Element {
        self.presence
            .get_child("offer", RAYO_NS)
            .expect("an offer presence holds <offer>")
    }

    /// The value of the offer's first `<header name>` (names compared
    /// without case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.offer()
            .children()
            .filter(|h| h.is("header", RAYO_NS))
            .find(|h| {
                h.get_attr("name")
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|h| h.get_attr("value").map(str::to_owned))
    }
}

/// The Rayo side of a client: offers, call commands, call events.
impl XmppClient {
    /// The next `<offer>` presence within `timeout`.
    pub fn wait_offer(&mut self, timeout: Duration) -> Option<RayoOffer> {
        let presence = self.wait_presence(|p| p.get_child("offer", RAYO_NS).is_some(), timeout)?;
        let call = presence.get_attr("from")?.to_owned();
        Some(RayoOffer { call, presence })
    }

    /// Sends `command` to the call JID `call` and waits for the IQ's
    /// result or error.
    pub fn command(&mut self, call: &str, command: Element, timeout: Duration) -> Option<Element> {
        self.iq_set(call, command, timeout)
    }

    /// The next presence from `call` whose first Rayo child is `<name>`
    /// (`end`, `ringing`, `dtmf`…), within `timeout`.
    pub fn wait_call_event(
        &mut self,
        call: &str,
        name: &str,
        timeout: Duration,
    ) -> Option<Element> {
        self.wait_presence(
            |p| {
                p.get_attr("from") == Some(call)
                    && p.children()
                        .find(|c| c.ns() == RAYO_NS)
                        .is_some_and(|c| c.name() == name)
            },
            timeout,
        )
    }
}

/// The stanza error condition of an IQ reply (`conflict`…), `None` for a
/// result.
pub fn error_condition(reply: &Element) -> Option<String> {
    if reply.get_attr("type") != Some("error") {
        return None;
    }
    reply
        .get_child("error", "jabber:client")?
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        .map(|c| c.name().to_owned())
}

/// The Rayo listener's address from a server log (its start-up line), for
/// configs that bind `rayo.listen` to port 0.
pub fn listen_addr_from_log(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter(|line| line.contains("Rayo XMPP listening"))
        .find_map(|line| {
            let (_, rest) = line.split_once("address=")?;
            rest.split_whitespace().next()?.parse().ok()
        })
}

/// Test paths of the committed self-signed pair (`crates/testkit/certs`):
/// `(certificate, key)`.
pub fn test_certificate() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
    (dir.join("rayo-test.crt"), dir.join("rayo-test.key"))
}
