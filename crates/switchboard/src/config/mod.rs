//! Loading and validating `switchboard.yaml`.
//!
//! One YAML file describes the server. Its keys follow Diagox's where the two
//! overlap (`transports`, `endpoints`, `routes`, and a top-level `version`
//! that is accepted and ignored), so a Diagox config can be brought across;
//! `media`, `agent_rpc`, `rayo`, `http`, `sip`, `tts`, `log` and `cdr` are Switchboard's own.
//!
//! Loading runs in three steps, each of which reports every problem it finds
//! rather than stopping at the first:
//!
//! 1. **Parse** into the file-shaped schema (`file.rs`), which denies unknown
//!    keys and remembers each value's line and column.
//! 2. **Validate** (`validate.rs`): names that refer to other entries exist,
//!    addresses and URIs parse, route entries have exactly one target, and so on.
//!    The result is a [`Config`] whose values are already typed.
//! 3. **Environment overrides** ([`Config::apply_env`]) replace listen
//!    addresses and external hosts, for containers and tests.
//!
//! Every error renders as `FILE:LINE:COLUMN: KEY.PATH: message`, e.g.
//! `switchboard.yaml:12:7: routes.incoming[1]: unknown endpoint "carier"`.
//!
//! ```no_run
//! use switchboard::config::Config;
//! match Config::load_with_env("switchboard.yaml", switchboard::config::process_env()) {
//!     Ok(config) => println!("{} transports", config.transports.len()),
//!     Err(errors) => errors.iter().for_each(|e| eprintln!("{e}")),
//! }
//! ```

mod cidr;
mod env;
mod file;
mod sections;
mod tts;
mod validate;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use indexmap::IndexMap;

pub use cidr::{Cidr, CidrError};
pub use env::ENV_PREFIX;
pub use sections::{
    AgentRpcConfig, CdrConfig, HttpConfig, LogConfig, LogFormat, MediaConfig, OfferPolicy,
    PortRange, RayoConfig, RayoDialect, RayoTls, RayoUser, SipConfig,
};
pub use tts::{is_voice_name, TtsConfig, TtsEngine, COMMAND_PLACEHOLDERS};

/// A validated configuration: everything the server needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// SIP listeners, in file order, by name. Never empty: a file without
    /// transports gets one UDP listener on 127.0.0.1:5060.
    pub transports: IndexMap<String, TransportConfig>,
    /// Peers, agents and applications, in file order, by name.
    pub endpoints: IndexMap<String, EndpointConfig>,
    /// Route contexts by name; each is an ordered list where the first match wins.
    pub routes: IndexMap<String, Vec<RouteEntry>>,
    /// RTP port range and media directories.
    pub media: MediaConfig,
    /// The Agent RPC WebSocket server.
    pub agent_rpc: AgentRpcConfig,
    /// The Rayo XMPP listener; `None` when the file has no `rayo` section.
    pub rayo: Option<RayoConfig>,
    /// The HTTP server for metrics, health and recordings.
    pub http: HttpConfig,
    /// SIP timers and limits.
    pub sip: SipConfig,
    /// The text-to-speech renderer.
    pub tts: TtsConfig,
    /// Logging: format and filter.
    pub log: LogConfig,
    /// Call detail records: where they are written.
    pub cdr: CdrConfig,
}

/// One SIP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// The key under `transports`; endpoints refer to it by this name.
    pub name: String,
    /// Which protocol the listener speaks.
    pub protocol: TransportProtocol,
    /// Local address to bind.
    pub bind: IpAddr,
    /// Local port; 0 lets the OS choose (useful in tests).
    pub port: u16,
    /// Host to put in Via/Contact instead of the bind address (behind NAT).
    pub external_host: Option<String>,
    /// Port to advertise instead of `port`.
    pub external_port: Option<u16>,
    /// Address to advertise in SDP for media instead of the local one.
    pub external_media_ip: Option<IpAddr>,
    /// Rewrite the Contact of requests passing through to this listener's address.
    pub rewrite_contact: bool,
}

impl TransportConfig {
    /// The socket address to bind.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The host to advertise in Via and Contact headers.
    pub fn advertised_host(&self) -> String {
        match &self.external_host {
            Some(host) => host.clone(),
            None => self.bind.to_string(),
        }
    }

    /// The port to advertise in Via and Contact headers.
    pub fn advertised_port(&self) -> u16 {
        self.external_port.unwrap_or(self.port)
    }
}

/// SIP transport protocols Switchboard can listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportProtocol {
    /// SIP over UDP (RFC 3261 §18).
    Udp,
    /// SIP over TCP, messages framed by Content-Length.
    Tcp,
}

impl fmt::Display for TransportProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportProtocol::Udp => "udp",
            TransportProtocol::Tcp => "tcp",
        })
    }
}

/// A named party calls come from or go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The key under `endpoints`.
    pub name: String,
    /// How an incoming request is recognised as coming from this endpoint.
    pub matcher: EndpointMatch,
    /// Only match requests that arrived on this transport (`match.transport`).
    pub match_transport: Option<String>,
    /// Route context used for calls from this endpoint (default `default`).
    pub route: String,
    /// Where a call routed to this endpoint goes; `None` when it cannot receive calls.
    pub destination: Option<Destination>,
    /// Digest credentials: checked on requests from a `user` endpoint,
    /// answered on challenges when calling a SIP destination.
    pub auth: Option<DigestAuth>,
    /// Transport to use when sending to this endpoint's `uri`.
    pub transport: Option<String>,
    /// What a caller hears when no controller of this agent or rayo
    /// endpoint takes the call (`no_controller_code`, default 480).
    pub no_controller_code: u16,
    /// Rayo endpoints: the usernames whose clients are offered its calls
    /// (`match.users`); every client when `None`.
    pub rayo_users: Option<Vec<String>>,
}

/// The default `no_controller_code`: 480 Temporarily Unavailable.
pub const DEFAULT_NO_CONTROLLER_CODE: u16 = 480;

/// `endpoints.NAME.match`: how requests are attributed to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointMatch {
    /// Never matched by incoming SIP (a pure destination such as `voicebot`).
    None,
    /// Source address inside one of these networks.
    Ip(Vec<Cidr>),
    /// From-URI user equal to `auth.username` (digest checked separately).
    User,
    /// An Agent RPC endpoint (`agent`, or Diagox's `flow`); agents connect to it by name.
    Agent,
    /// A Rayo application; calls are offered to its XMPP clients.
    Rayo,
}

/// What happens to a call routed to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Offered to the agents connected to this endpoint over Agent RPC.
    Agent,
    /// Offered to Rayo clients.
    Rayo,
    /// Bridged (B2BUA) to this SIP or SIPS URI.
    Sip {
        /// The `sip:`/`sips:` URI to dial; the user part is replaced by the dialed number.
        uri: String,
    },
}

/// Digest credentials (RFC 3261 §22).
#[derive(Clone, PartialEq, Eq)]
pub struct DigestAuth {
    /// The digest username.
    pub username: String,
    /// The shared secret.
    pub password: String,
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// One entry of a route context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// The number (or prefix) this entry matches; empty with `any`.
    pub id: String,
    /// How `id` is compared with the dialed number.
    pub mode: MatchMode,
    /// What a matching call gets.
    pub target: RouteTarget,
    /// What to remove from the dialed number before sending it on.
    pub strip: StripPrefix,
    /// Endpoints to try when the target fails.
    pub fallback: Option<Fallback>,
    /// Headers set on the outgoing leg, in file order.
    pub sip_headers: Vec<(String, String)>,
    /// Header names copied from the incoming request to the outgoing leg.
    pub sip_headers_pass: Vec<String>,
    /// Record the call as a stereo WAV (caller left, callee right) in
    /// `media.recordings_dir`; off unless the route asks, since it costs disk.
    pub recording: bool,
}

/// `routes.CONTEXT[i].match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMode {
    /// The dialed number equals `id`.
    Exact,
    /// The dialed number starts with `id`.
    Prefix,
    /// Every number.
    Any,
}

/// Where a matching route entry sends the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// To the named endpoint.
    Endpoint(String),
    /// Rejected with this final response.
    Hangup {
        /// Status code, 400 to 699.
        code: u16,
        /// Reason phrase; `None` uses the standard phrase for `code`.
        reason: Option<String>,
    },
}

/// `routes.CONTEXT[i].strip_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripPrefix {
    /// Send the dialed number unchanged.
    None,
    /// Remove the entry's `id` (`strip_prefix: true`).
    Id,
    /// Remove this text when the number starts with it (Diagox's string form).
    Literal(String),
}

/// `routes.CONTEXT[i].fallback`: endpoints tried in order after the target fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// Endpoint names to try, in order.
    pub endpoints: Vec<String>,
    /// Final response codes that trigger the fallback; empty means any failure.
    pub codes: Vec<u16>,
    /// Whether the target not answering in time also triggers it.
    pub on_timeout: bool,
}

/// A problem with the configuration, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {key}{kind}")]
pub struct ConfigError {
    /// File position or environment variable the problem came from.
    pub origin: Origin,
    /// Dotted path of the offending key, e.g. `routes.incoming[1]`; may be empty.
    pub key: KeyPath,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file, when no position is known.
    File(String),
    /// A position in a file (1-based line and column).
    Position {
        /// File name as given on the command line.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
    },
    /// An environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(file) => f.write_str(file),
            Origin::Position { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Origin::Env(var) => write!(f, "environment {var}"),
        }
    }
}

/// A dotted key path such as `endpoints.carrier.match.values[1]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(pub String);

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}

/// What is wrong with a configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    #[error("cannot read config: {0}")]
    Read(String),
    /// YAML syntax error, unknown key, or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// A name that should refer to an endpoint does not.
    #[error("unknown endpoint {0:?}")]
    UnknownEndpoint(String),
    /// A name that should refer to a route context does not.
    #[error("unknown route context {0:?}")]
    UnknownRoute(String),
    /// A name that should refer to a transport does not.
    #[error("unknown transport {0:?}")]
    UnknownTransport(String),
    /// A route entry with neither `endpoint` nor `hangup`.
    #[error("entry needs `endpoint` or `hangup`")]
    NoTarget,
    /// A route entry with both `endpoint` and `hangup`.
    #[error("entry has both `endpoint` and `hangup`; keep one")]
    TwoTargets,
    /// A hangup or fallback code that is not a failure response.
    #[error("code {0} is not a failure status (400-699)")]
    StatusCode(u16),
    /// A `match.values` item that is not an address or network.
    #[error("bad IP network {value:?}: {reason}")]
    Network {
        /// The text as written.
        value: String,
        /// Why it does not parse.
        reason: CidrError,
    },
    /// Two listeners on the same protocol and port with overlapping addresses.
    #[error("{protocol} port {port} is already used by transport {other:?}")]
    PortInUse {
        /// The shared protocol.
        protocol: TransportProtocol,
        /// The shared port.
        port: u16,
        /// The transport declared first.
        other: String,
    },
    /// A `uri` that is not a SIP URI.
    #[error("{uri:?} is not a sip: or sips: URI: {reason}")]
    Uri {
        /// The text as written.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A route targets an endpoint that has nowhere to send calls.
    #[error(
        "endpoint {0:?} cannot receive calls: give it a `uri`, or make it an agent or rayo endpoint"
    )]
    NotDestination(String),
    /// Two `user` endpoints with the same username.
    #[error("username {username:?} is already used by endpoint {other:?}")]
    DuplicateUser {
        /// The shared username.
        username: String,
        /// The endpoint declared first.
        other: String,
    },
    /// A feature the schema knows but Switchboard does not implement yet.
    #[error("{0} is not supported yet")]
    NotSupported(String),
    /// Any other invalid value; the text says what and why.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// The SIP listeners of one protocol, by transport name and address, as
    /// the transports bind them.
    pub fn listeners(&self, protocol: TransportProtocol) -> Vec<(String, SocketAddr)> {
        self.transports
            .values()
            .filter(|t| t.protocol == protocol)
            .map(|t| (t.name.clone(), t.listen_addr()))
            .collect()
    }

    /// Reads and validates `path`, without environment overrides.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, Vec<ConfigError>> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                origin: Origin::File(name.clone()),
                key: KeyPath::default(),
                kind: ConfigErrorKind::Read(e.to_string()),
            }]
        })?;
        let parsed = parse(&text, &name)?;
        let mut config = validate::validate(parsed, &name, path.parent())?;
        if let Some(dir) = path.parent() {
            config.media.playback_dir = dir.join(&config.media.playback_dir);
            config.media.recordings_dir = dir.join(&config.media.recordings_dir);
            config.cdr.sqlite = config.cdr.sqlite.map(|p| dir.join(p));
        }
        Ok(config)
    }

    /// Reads and validates `path`, then applies environment overrides from `env`
    /// (see [`Config::apply_env`]). Pass [`process_env()`] for the real environment.
    pub fn load_with_env<I, K, V>(
        path: impl AsRef<Path>,
        env: I,
    ) -> Result<Config, Vec<ConfigError>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = Config::load(path)?;
        config.apply_env(env)?;
        Ok(config)
    }

    /// Parses and validates YAML text; `file` names it in error messages.
    /// Relative media directories and `rayo.tls` paths are left as written.
    pub fn from_yaml(text: &str, file: &str) -> Result<Config, Vec<ConfigError>> {
        let parsed = parse(text, file)?;
        validate::validate(parsed, file, None)
    }

    /// Applies environment overrides, then re-checks what they can break.
    ///
    /// `env` is a list of `(name, value)` pairs, normally [`process_env()`];
    /// names not listed below are ignored. Recognised variables:
    ///
    /// | variable | overrides |
    /// |---|---|
    /// | `SWITCHBOARD_SIP_BIND` | `bind` of every transport |
    /// | `SWITCHBOARD_SIP_EXTERNAL_HOST` | `external_host` of every transport |
    /// | `SWITCHBOARD_SIP_EXTERNAL_MEDIA_IP` | `external_media_ip` of every transport |
    /// | `SWITCHBOARD_TRANSPORT_<NAME>_BIND` | `transports.<name>.bind` |
    /// | `SWITCHBOARD_TRANSPORT_<NAME>_PORT` | `transports.<name>.port` |
    /// | `SWITCHBOARD_TRANSPORT_<NAME>_EXTERNAL_HOST` | `transports.<name>.external_host` |
    /// | `SWITCHBOARD_TRANSPORT_<NAME>_EXTERNAL_PORT` | `transports.<name>.external_port` |
    /// | `SWITCHBOARD_AGENT_RPC_LISTEN` | `agent_rpc.listen` |
    /// | `SWITCHBOARD_HTTP_LISTEN` | `http.listen` |
    /// | `SWITCHBOARD_RAYO_LISTEN` | `rayo.listen` (the file must have a `rayo` section) |
    ///
    /// `<NAME>` is the transport's name in upper case with every character
    /// other than a letter or digit replaced by `_` (`udp_local` → `UDP_LOCAL`).
    /// A per-transport variable wins over the `SWITCHBOARD_SIP_*` one. A
    /// `SWITCHBOARD_TRANSPORT_*` variable naming no transport is an error, so
    /// a typo does not go unnoticed.
    pub fn apply_env<I, K, V>(&mut self, env: I) -> Result<(), Vec<ConfigError>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        env::apply(self, env)
    }
}

/// Loads `path` with the process environment applied, as the server would at
/// start: what `switchboard check-config FILE` runs.
pub fn check_config(path: impl AsRef<Path>) -> Result<Config, Vec<ConfigError>> {
    Config::load_with_env(path, process_env())
}

/// The process environment as `(name, value)` pairs, skipping any that are
/// not valid UTF-8 (none of ours can be).
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// Parses YAML into the file schema, mapping the parser's error to a positioned one.
fn parse(text: &str, file: &str) -> Result<file::FileConfig, Vec<ConfigError>> {
    // An empty file, or one holding only comments, is an empty mapping.
    let is_empty = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    let text = if is_empty { "{}" } else { text };
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        use serde_saphyr::MessageFormatter;
        let message = serde_saphyr::UserMessageFormatter
            .format_message(e.without_snippet())
            .into_owned();
        vec![ConfigError {
            origin: position(file, e.location()),
            key: KeyPath::default(),
            kind: ConfigErrorKind::Syntax(message),
        }]
    })
}

/// The origin for a parser location, or the bare file when it is unknown.
fn position(file: &str, location: Option<serde_saphyr::Location>) -> Origin {
    match location {
        Some(loc) if loc.line() > 0 => Origin::Position {
            file: file.to_string(),
            line: loc.line(),
            column: loc.column(),
        },
        _ => Origin::File(file.to_string()),
    }
}

#[cfg(test)]
mod rayo_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tts_tests;
