//! One harness for the Rayo end-to-end tests: a server whose callers go to
//! the Rayo endpoint `app`, its XMPP listener found from the log, clients
//! logged in and made available, and the waits every Rayo test repeats
//! (an offer, a command's result, a call event, the `<end>`).
//!
//! Every helper panics with the server's log when what it waits for does
//! not come, so a failing test says what the server did.
//!
//! ```no_run
//! use std::path::Path;
//! use testkit::rayo_harness::{RayoBench, RayoConfig};
//! use testkit::xmpp::rayo;
//!
//! let bench = RayoBench::start(Path::new("target/debug/switchboard"), &RayoConfig::new());
//! let mut client = bench.available("usera");
//! let offered = bench.offer(&mut client);
//! bench.ok(&mut client, &offered.call, rayo("answer"));
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use xmpp::Element;

use crate::free_port;
use crate::rtp_peer::{RtpPeer, Source};
use crate::server::Server;
use crate::sip_ua::{CallHandle, SipUa};
use crate::sipp::SippRun;
use crate::xmpp::{
    client_options, error_condition, listen_addr_from_log, RayoOffer, XmppClient, RAYO_NS,
};

/// The Rayo domain every harness server serves.
pub const DOMAIN: &str = "rayo.test";
/// The users every harness server knows, as `(username, password)`.
pub const USERS: [(&str, &str); 2] = [("usera", "1"), ("userb", "two")];
/// Longest a single expected thing may take by default (the machine is busy).
pub const WAIT: Duration = Duration::from_secs(5);

/// What a test's server differs in; the rest of the config is shared.
#[derive(Debug, Clone)]
pub struct RayoConfig {
    endpoints: String,
    incoming: String,
    routes: String,
    rtp_ports: String,
    rayo: String,
    tls: Option<(String, String)>,
    wait: Duration,
}

impl Default for RayoConfig {
    fn default() -> RayoConfig {
        RayoConfig::new()
    }
}

impl RayoConfig {
    /// Callers all go to `app`; RTP on 48000-48999; PLAIN allowed without
    /// TLS; users [`USERS`].
    pub fn new() -> RayoConfig {
        RayoConfig {
            endpoints: String::new(),
            incoming: String::new(),
            routes: String::new(),
            rtp_ports: "48000-48999".to_owned(),
            rayo: String::new(),
            tls: None,
            wait: WAIT,
        }
    }

    /// Builder: one more endpoint, a YAML line such as `far: { uri: "…" }`.
    pub fn endpoint(mut self, line: &str) -> RayoConfig {
        let _ = writeln!(self.endpoints, "  {line}");
        self
    }

    /// Builder: a route of `incoming` tried before the catch-all to `app`,
    /// a YAML flow mapping such as `{ id: "2", match: exact, endpoint: vip }`.
    pub fn incoming_route(mut self, entry: &str) -> RayoConfig {
        let _ = writeln!(self.incoming, "    - {entry}");
        self
    }

    /// Builder: a route context of one catch-all entry to `endpoint`.
    pub fn route(mut self, name: &str, endpoint: &str) -> RayoConfig {
        let _ = writeln!(
            self.routes,
            "  {name}:\n    - {{ id: \"\", match: any, endpoint: {endpoint} }}"
        );
        self
    }

    /// Builder: the RTP port range (tests that run beside others use their own).
    pub fn rtp_ports(mut self, range: &str) -> RayoConfig {
        self.rtp_ports = range.to_owned();
        self
    }

    /// Builder: extra lines under `rayo:`, each indented two spaces and
    /// ending in a newline (`"  dialect: wiki\n"`).
    pub fn rayo(mut self, lines: &str) -> RayoConfig {
        self.rayo.push_str(lines);
        self
    }

    /// Builder: STARTTLS with this pair; PLAIN is then only allowed after TLS.
    pub fn tls(mut self, cert: &Path, key: &Path) -> RayoConfig {
        self.tls = Some((cert.display().to_string(), key.display().to_string()));
        self
    }

    /// Builder: how long the bench's waits last (start-up, login, events).
    pub fn wait(mut self, wait: Duration) -> RayoConfig {
        self.wait = wait;
        self
    }

    /// The whole YAML for a server on SIP port `port`.
    pub fn yaml(&self, port: u16) -> String {
        let security = match &self.tls {
            Some((cert, key)) => format!("  tls: {{ cert: \"{cert}\", key: \"{key}\" }}\n"),
            None => "  allow_plain_without_tls: true\n".to_owned(),
        };
        let users: String = USERS
            .iter()
            .map(|(name, password)| {
                format!("    - {{ username: {name}, password: \"{password}\" }}\n")
            })
            .collect();
        format!(
            r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  app: {{ match: {{ type: rayo }} }}
{endpoints}routes:
  incoming:
{incoming}    - {{ id: "", match: any, endpoint: app }}
{routes}media:
  rtp_ports: {rtp_ports}
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
rayo:
  domain: {DOMAIN}
  listen: 127.0.0.1:0
{security}  users:
{users}{rayo}"#,
            endpoints = self.endpoints,
            incoming = self.incoming,
            routes = self.routes,
            rtp_ports = self.rtp_ports,
            rayo = self.rayo,
        )
    }
}

/// A running server and its Rayo listener's address.
pub struct RayoBench {
    /// The server process (its SIP address, its log).
    pub server: Server,
    /// Where its XMPP listener accepts clients.
    pub xmpp: SocketAddr,
    wait: Duration,
}

/// A call's `<end>` as a client received it.
#[derive(Debug, Clone)]
pub struct CallEnd {
    /// The reason element's name (`hungup`, `hangup-command`, `busy` …).
    pub reason: String,
    /// The presence's `type` (`unavailable` in the XEP dialect).
    pub presence_type: Option<String>,
    /// The `<end>` element itself.
    pub end: Element,
}

impl RayoBench {
    /// Starts `binary` on `config` with a SIP port from the OS and waits
    /// until its Rayo listener has logged its address.
    pub fn start(binary: &Path, config: &RayoConfig) -> RayoBench {
        let port = free_port();
        let server = Server::start(binary, &config.yaml(port), port);
        let deadline = Instant::now() + config.wait;
        loop {
            if let Some(xmpp) = listen_addr_from_log(&server.log()) {
                return RayoBench {
                    server,
                    xmpp,
                    wait: config.wait,
                };
            }
            assert!(
                Instant::now() < deadline,
                "no Rayo listener:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's SIP address.
    pub fn sip(&self) -> SocketAddr {
        self.server.addr()
    }

    /// A client logged in as `user` (one of [`USERS`]), not yet available.
    pub fn login(&self, user: &str) -> XmppClient {
        let password = USERS
            .iter()
            .find(|(name, _)| *name == user)
            .map_or("", |(_, password)| *password);
        let options = client_options(DOMAIN, user, password);
        XmppClient::connect(self.xmpp, &options, self.wait)
            .unwrap_or_else(|e| panic!("{user} logs in: {e}\n{}", self.server.log()))
    }

    /// Sends `<show>` and waits until the server has taken it in (a ping's
    /// answer comes after the presence is processed).
    pub fn show(&self, client: &mut XmppClient, show: &str) {
        client.show(show).expect("presence sent");
        let ping = Element::new("ping", "urn:xmpp:ping");
        let pong = client.iq("get", DOMAIN, ping, self.wait);
        assert!(pong.is_some(), "ping answered");
    }

    /// A client logged in as `user` and available for offers (`chat`).
    pub fn available(&self, user: &str) -> XmppClient {
        let mut client = self.login(user);
        self.show(&mut client, "chat");
        client
    }

    /// The client's next offer.
    pub fn offer(&self, client: &mut XmppClient) -> RayoOffer {
        client
            .wait_offer(self.wait)
            .unwrap_or_else(|| panic!("an offer\n{}", self.server.log()))
    }

    /// Sends a call command and expects its IQ result.
    pub fn ok(&self, client: &mut XmppClient, call: &str, command: Element) {
        let name = command.name().to_owned();
        let reply = client
            .command(call, command, self.wait)
            .unwrap_or_else(|| panic!("{name} answered\n{}", self.server.log()));
        assert_eq!(reply.get_attr("type"), Some("result"), "{name}: {reply}");
    }

    /// Sends a call command and returns its error condition.
    pub fn refused(&self, client: &mut XmppClient, call: &str, command: Element) -> String {
        let reply = client.command(call, command, self.wait).expect("answered");
        error_condition(&reply).unwrap_or_else(|| panic!("an error: {reply}"))
    }

    /// The next event `<name>` from `call` (its Rayo element).
    pub fn event(&self, client: &mut XmppClient, call: &str, name: &str) -> Element {
        let presence = client
            .wait_call_event(call, name, self.wait)
            .unwrap_or_else(|| panic!("<{name}> from {call}\n{}", self.server.log()));
        let event = presence
            .children()
            .find(|c| c.ns() == RAYO_NS)
            .expect("the event")
            .clone();
        event
    }

    /// The `<end>` of `call`.
    pub fn end(&self, client: &mut XmppClient, call: &str) -> CallEnd {
        let presence = client
            .wait_call_event(call, "end", self.wait)
            .unwrap_or_else(|| panic!("<end>\n{}", self.server.log()));
        let end = presence.get_child("end", RAYO_NS).expect("end").clone();
        let reason = end
            .first_child()
            .map(|r| r.name().to_owned())
            .unwrap_or_default();
        let presence_type = presence.get_attr("type").map(str::to_owned);
        CallEnd {
            reason,
            presence_type,
            end,
        }
    }

    /// A call from `caller`, offered to `client`, which answers it; the
    /// caller's RTP peer then sends to the server.
    pub fn answered(&self, client: &mut XmppClient, caller: &Caller) -> (CallHandle, RayoOffer) {
        let mut call = caller.call(self.sip(), "1000");
        let offered = self.offer(client);
        self.ok(client, &offered.call, crate::xmpp::rayo("answer"));
        assert_eq!(
            call.wait_final(self.wait),
            Some(200),
            "{}",
            self.server.log()
        );
        let negotiated = call
            .negotiated()
            .unwrap_or_else(|e| panic!("negotiated: {e}"));
        caller.rtp.set_destination(negotiated.remote_rtp);
        (call, offered)
    }

    /// Starts a media component on `call` and expects its `<ref>`: the
    /// component's JID (from `uri`, or `call/id` in the wiki dialect).
    pub fn start_component(
        &self,
        client: &mut XmppClient,
        call: &str,
        component: Element,
    ) -> String {
        let name = component.name().to_owned();
        let reply = client
            .iq_set(call, component, self.wait)
            .unwrap_or_else(|| {
                panic!(
                    "<{name}> answered
{}",
                    self.server.log()
                )
            });
        assert_eq!(error_condition(&reply), None, "<{name}>: {reply}");
        let reference = reply.get_child("ref", RAYO_NS).expect("a <ref>");
        match reference.get_attr("uri") {
            Some(uri) => uri.trim_start_matches("xmpp:").to_owned(),
            None => format!("{call}/{}", reference.get_attr("id").expect("ref id")),
        }
    }

    /// The next presence from `component` within `timeout`: `(true,
    /// reason)` for its completion (the reason is `<complete>`'s first
    /// child; the whole `<complete>` is its parent in `complete`), `(false,
    /// event)` for an event.
    pub fn component_news(
        &self,
        client: &mut XmppClient,
        component: &str,
        timeout: Duration,
    ) -> Option<ComponentNews> {
        let presence = client.wait_presence(|p| p.get_attr("from") == Some(component), timeout)?;
        if let Some(complete) = presence.get_child(COMPLETE, EXT_NS) {
            return Some(ComponentNews {
                done: true,
                element: complete.first_child()?.clone(),
                complete: Some(complete.clone()),
                presence_type: presence.get_attr("type").map(str::to_owned),
            });
        }
        Some(ComponentNews {
            done: false,
            element: presence.first_child()?.clone(),
            complete: None,
            presence_type: presence.get_attr("type").map(str::to_owned),
        })
    }

    /// `component`'s completion (waiting past any event before it).
    pub fn completion(&self, client: &mut XmppClient, component: &str) -> ComponentNews {
        let presence = client
            .wait_presence(
                |p| {
                    p.get_attr("from") == Some(component) && p.get_child(COMPLETE, EXT_NS).is_some()
                },
                self.wait * 3,
            )
            .unwrap_or_else(|| {
                panic!(
                    "{component} completes
{}",
                    self.server.log()
                )
            });
        let complete = presence.get_child(COMPLETE, EXT_NS).expect("complete");
        ComponentNews {
            done: true,
            element: complete.first_child().expect("a reason").clone(),
            complete: Some(complete.clone()),
            presence_type: presence.get_attr("type").map(str::to_owned),
        }
    }

    /// Joins `call` to the mixer `name` (`direction`: `duplex`, `send` or
    /// `recv`) and expects a result; returns its `<ref>`'s `uri` (`id` in
    /// the wiki dialect).
    pub fn join_mixer(
        &self,
        client: &mut XmppClient,
        call: &str,
        name: &str,
        direction: &str,
    ) -> String {
        let join = crate::xmpp::rayo("join")
            .attr("mixer-name", name)
            .attr("direction", direction);
        let reply = client
            .command(call, join, self.wait)
            .unwrap_or_else(|| panic!("join {name} answered\n{}", self.server.log()));
        assert_eq!(
            reply.get_attr("type"),
            Some("result"),
            "{call} joins {name}: {reply}\n{}",
            self.server.log()
        );
        let reference = reply
            .get_child("ref", RAYO_NS)
            .unwrap_or_else(|| panic!("a <ref> in the join result: {reply}"));
        reference
            .get_attr("uri")
            .or_else(|| reference.get_attr("id"))
            .unwrap_or_default()
            .to_owned()
    }

    /// The next presence from `from` (a call or mixer JID) whose first
    /// Rayo child is `<name>`, whole (caps and all).
    pub fn presence_from(&self, client: &mut XmppClient, from: &str, name: &str) -> Element {
        client
            .wait_call_event(from, name, self.wait)
            .unwrap_or_else(|| panic!("<{name}> from {from}\n{}", self.server.log()))
    }

    /// Waits for `<presence type='unavailable'>` from `from` (a mixer
    /// going away); the presence.
    pub fn unavailable(&self, client: &mut XmppClient, from: &str) -> Element {
        client
            .wait_presence(
                |p| p.get_attr("from") == Some(from) && p.get_attr("type") == Some("unavailable"),
                self.wait,
            )
            .unwrap_or_else(|| panic!("unavailable presence from {from}\n{}", self.server.log()))
    }

    /// The reason of `call`'s `<end>` (`hungup` …).
    pub fn end_reason(&self, client: &mut XmppClient, call: &str) -> String {
        self.end(client, call).reason
    }

    /// Asserts that a SIPp caller's run succeeded; says why and what the
    /// server logged when not.
    pub fn assert_sipp_passed(&self, run: &SippRun) {
        assert!(
            run.success,
            "{}\n{}\n{}",
            run.report(),
            run.errors,
            self.server.log()
        );
    }
}

/// A caller: the test kit's SIP UA and the RTP peer (sending silence)
/// whose address its calls offer.
pub struct Caller {
    /// The user agent that places the calls.
    pub ua: SipUa,
    /// The caller's media.
    pub rtp: RtpPeer,
}

impl Caller {
    /// A UA and a silent RTP peer, both on 127.0.0.1.
    pub fn new() -> Caller {
        Caller {
            ua: SipUa::bind(),
            rtp: RtpPeer::silent(),
        }
    }

    /// A UA and an RTP peer sending `source` (a tone, for mixers).
    pub fn sending(source: Source) -> Caller {
        let rtp = RtpPeer::silent();
        rtp.set_source(source);
        Caller {
            ua: SipUa::bind(),
            rtp,
        }
    }

    /// A UA and an RTP peer sending a `frequency` Hz tone at -10 dBm0.
    pub fn tone(frequency: f64) -> Caller {
        Caller::sending(Source::Tone {
            frequency,
            dbm0: -10.0,
        })
    }

    /// Calls `number` at the server `to`.
    pub fn call(&self, to: SocketAddr, number: &str) -> CallHandle {
        self.ua.call(to, number, self.rtp.local_addr())
    }
}

impl Default for Caller {
    fn default() -> Caller {
        Caller::new()
    }
}

/// `<complete>`'s namespace and name.
const EXT_NS: &str = "urn:xmpp:rayo:ext:1";
const COMPLETE: &str = "complete";

/// What a component reported: an event or its completion.
#[derive(Debug, Clone)]
pub struct ComponentNews {
    /// A completion (else an intermediate event).
    pub done: bool,
    /// The completion's reason, or the event element.
    pub element: Element,
    /// The whole `<complete>` (reason first, then metadata such as
    /// `<recording>`), for a completion.
    pub complete: Option<Element>,
    /// The presence's `type` (`unavailable` on an XEP completion).
    pub presence_type: Option<String>,
}

/// Rayo's output namespace.
pub const OUTPUT_NS: &str = "urn:xmpp:rayo:output:1";

/// An `<output>` of one `<document>` (`content_type`, `body`).
pub fn output_document(content_type: &str, body: &str) -> Element {
    Element::new("output", OUTPUT_NS).child(
        Element::new("document", OUTPUT_NS)
            .attr("content-type", content_type)
            .text(body),
    )
}

/// An `<output>` playing the file or URL `uri` (a `text/uri-list`).
pub fn play(uri: &str) -> Element {
    output_document("text/uri-list", uri)
}

/// An SRGS DTMF grammar of `repeat` decimal digits (`4`, `1-8`, `2-`).
pub fn srgs_digits(repeat: &str) -> String {
    let items: String = (0..10).map(|d| format!("<item>{d}</item>")).collect();
    format!(
        "<grammar xmlns='http://www.w3.org/2001/06/grammar' version='1.0' mode='dtmf' root='r'><rule id='r'><item repeat='{repeat}'><one-of>{items}</one-of></item></rule></grammar>"
    )
}

/// The caller's RTP peer sends `digits` as RFC 4733 events (100 ms each,
/// `gap_ms` apart) on the call's negotiated telephone-event type.
pub fn send_digits(caller: &Caller, call: &CallHandle, digits: &str, gap_ms: u32) {
    let payload_type = call
        .negotiated()
        .ok()
        .and_then(|n| n.telephone_event)
        .expect("telephone-event negotiated");
    caller.rtp.set_source(Source::Digits {
        digits: digits.into(),
        payload_type,
        duration_ms: 100,
        gap_ms,
    });
}

/// `command` with one `<header name value>` added.
pub fn with_header(mut command: Element, name: &str, value: &str) -> Element {
    command.push(
        Element::new("header", RAYO_NS)
            .attr("name", name)
            .attr("value", value),
    );
    command
}

/// The bare JID of the mixer `name` on the harness domain.
pub fn mixer_jid(name: &str) -> String {
    format!("{name}@{DOMAIN}")
}
