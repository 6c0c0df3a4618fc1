//! The sections that deserialize straight into their final form: `media`,
//! `agent_rpc`, `rayo`, `http` and `sip`. Each has defaults for every key it
//! can, so a config file names only what it changes.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use serde::Deserialize;

/// `media`: where RTP ports come from and where audio files live.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// UDP ports for media, written `20000-30000`: each leg takes an even
    /// port for RTP and the odd one above it for RTCP.
    pub rtp_ports: PortRange,
    /// Root directory of prompt files; `play` sources cannot escape it.
    /// Relative paths are taken from the config file's directory.
    pub playback_dir: PathBuf,
    /// Directory recordings are written to. Relative paths as for `playback_dir`.
    pub recordings_dir: PathBuf,
    /// Accept RTP only from the address the SDP named (rtpengine's
    /// strict-source): no latching, for peers known not to be behind NAT.
    pub strict_source: bool,
    /// Run the RTP pacer thread with real-time priority (`SCHED_FIFO`) when
    /// the process may; a busy CPU then no longer delays outgoing frames.
    pub pacer_realtime: bool,
    /// Pin the RTP pacer thread to this CPU (e.g. one kept free of other work).
    pub pacer_cpu: Option<usize>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_ports: PortRange {
                first: 20000,
                last: 30000,
            },
            playback_dir: PathBuf::from("sounds"),
            recordings_dir: PathBuf::from("recordings"),
            strict_source: false,
            pacer_realtime: true,
            pacer_cpu: None,
        }
    }
}

/// An inclusive range of UDP ports, written `first-last` in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PortRange {
    /// Lowest port in the range.
    pub first: u16,
    /// Highest port in the range.
    pub last: u16,
}

impl TryFrom<String> for PortRange {
    type Error = String;

    fn try_from(text: String) -> Result<PortRange, String> {
        let bad = || format!("expected a port range like 20000-30000, found {text:?}");
        let (first, last) = text.split_once('-').ok_or_else(bad)?;
        let first: u16 = first.trim().parse().map_err(|_| bad())?;
        let last: u16 = last.trim().parse().map_err(|_| bad())?;
        if first == 0 || first >= last {
            return Err(format!(
                "port range {first}-{last}: the first port must be above 0 and below the last"
            ));
        }
        Ok(PortRange { first, last })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// `agent_rpc`: the WebSocket server agents connect to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentRpcConfig {
    /// Address the Agent RPC WebSocket server listens on.
    pub listen: SocketAddr,
    /// Most simultaneous connections one agent endpoint may hold.
    pub max_connections_per_endpoint: u32,
    /// Most connections the listener holds at once, upgraded or not;
    /// beyond it new connections are closed at accept.
    pub max_connections: u32,
    /// Seconds a new connection may take to finish its WebSocket upgrade.
    pub handshake_timeout_sec: u64,
    /// Seconds an offered call waits for an agent to take it before it is rejected.
    pub invite_timeout_sec: u64,
    /// Seconds an agent's calls survive its disconnect before they are hung up.
    pub disconnect_grace_sec: u64,
    /// Seconds a call an agent took may ring unanswered before the caller
    /// gets 480 (and the agent `bye`): an agent that forgets a call must
    /// not leave the caller ringing for ever.
    pub answer_timeout_sec: u64,
    /// Shared secret agents must present; `None` accepts any agent (local use only).
    pub token: Option<String>,
}

impl Default for AgentRpcConfig {
    fn default() -> Self {
        AgentRpcConfig {
            listen: loopback(6000),
            max_connections_per_endpoint: 16,
            max_connections: 1024,
            handshake_timeout_sec: 10,
            invite_timeout_sec: 60,
            disconnect_grace_sec: 5,
            answer_timeout_sec: 180,
            token: None,
        }
    }
}

/// `rayo`: the embedded XMPP listener Rayo clients connect to. Absent means off.
///
/// Built by `validate` from the file's `rayo` section (TLS files checked,
/// `dial_route` resolved), so every value here is usable as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RayoConfig {
    /// XMPP domain the server answers for (the `@domain` of call JIDs).
    pub domain: String,
    /// Address the XMPP client-to-server listener binds.
    pub listen: SocketAddr,
    /// Accounts Rayo clients log in with (SASL), in file order.
    pub users: Vec<RayoUser>,
    /// Certificate and key for STARTTLS; when set, TLS is required before login.
    pub tls: Option<RayoTls>,
    /// Offer SASL PLAIN on a stream without TLS (loopback deployments only).
    pub allow_plain_without_tls: bool,
    /// Who gets an inbound call's offer (used by the Rayo adapter).
    pub offer_policy: OfferPolicy,
    /// How long `first` / `random` wait for a command before offering the next
    /// client, in milliseconds (used by the Rayo adapter).
    pub offer_timeout_ms: u64,
    /// Whether a plain `<presence/>` makes a client available for offers, as
    /// `<show>chat</show>` does.
    pub plain_presence_available: bool,
    /// Which Rayo spelling the server emits (used by the Rayo adapter).
    pub dialect: RayoDialect,
    /// Route context that `dial` requests to numbers and `tel:` URIs go
    /// through (used by the Rayo adapter).
    pub dial_route: String,
}

/// Default `rayo.listen`.
pub fn default_rayo_listen() -> SocketAddr {
    loopback(5222)
}

/// One `rayo.users` entry: an XMPP account (the node part of its JID).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RayoUser {
    /// Login name, the JID's node part (`username@domain`).
    pub username: String,
    /// Its password (SCRAM and PLAIN are checked against it).
    pub password: String,
}

impl std::fmt::Debug for RayoUser {
    /// Keeps passwords out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RayoUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `rayo.tls`: PEM files, resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RayoTls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `rayo.offer_policy`: how an inbound call is offered to available clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OfferPolicy {
    /// Every available client at once; the first command wins.
    #[default]
    All,
    /// One client at a time, in the order they became available.
    First,
    /// One client at a time, in random order.
    Random,
}

/// `rayo.dialect`: the Rayo spelling the server writes (it reads both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RayoDialect {
    /// XEP-0327, what maintained clients (Adhearsion 3) expect.
    #[default]
    Xep,
    /// The older spelling of the Rayo wiki pages.
    Wiki,
}

/// `log`: what the server writes to stderr, and how.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` (one object per line) for log collectors.
    pub format: LogFormat,
    /// The filter: a level (`error`, `warn`, `info`, `debug`, `trace`) or
    /// tracing directives (`info,switchboard::rayo=debug`). `RUST_LOG`,
    /// when set, wins, as operators expect of a Rust service.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal, unless `NO_COLOR`).
    #[default]
    Text,
    /// One JSON object per line, with the span fields (call, endpoint…).
    Json,
}

/// `http`: metrics, health and recordings.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Key that signs recording URLs (HMAC-SHA256); `None` makes a random
    /// one at start, so URLs handed out before a restart stop working.
    pub secret: Option<String>,
    /// Seconds a signed recording URL stays valid.
    pub recording_url_ttl_sec: u64,
    /// Base of recording URLs (`https://media.example.com`) when clients
    /// cannot use `listen` as written (a wildcard address, a proxy).
    pub public_url: Option<String>,
    /// Bearer token of the operator API under `/api/v1` (call records,
    /// reload); without one the API answers 403 to everybody.
    pub api_token: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: loopback(8080),
            secret: None,
            recording_url_ttl_sec: 86_400,
            public_url: None,
            api_token: None,
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    /// Keeps the signing secret out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("recording_url_ttl_sec", &self.recording_url_ttl_sec)
            .field("public_url", &self.public_url)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `sip`: protocol tuning. The defaults are RFC 3261's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Timer T1, the round-trip estimate, in milliseconds (RFC 3261 §17.1.1.1).
    pub t1_ms: u64,
    /// Timer T2, the cap on non-INVITE and response retransmit intervals, in milliseconds.
    pub t2_ms: u64,
    /// Timer T4, how long the network may hold a message, in milliseconds.
    pub t4_ms: u64,
    /// Value of the `User-Agent` and `Server` headers.
    pub user_agent: String,
    /// Most transactions alive at once; new requests beyond it get 503.
    pub max_transactions: usize,
    /// Most calls up at once; a new INVITE beyond it gets 503 with
    /// `Retry-After`. 0: no limit but measured load and the RTP ports.
    pub max_calls: u32,
    /// Seconds running calls may go on after SIGTERM before they are hung
    /// up (new calls get 503 meanwhile); the server exits as soon as the
    /// last call ends.
    pub shutdown_grace_sec: u64,
    /// Most SIP TCP connections open at once; new ones beyond it are
    /// closed at accept.
    pub tcp_max_connections: u32,
    /// Most SIP TCP connections open at once from one source address.
    pub tcp_max_connections_per_ip: u32,
    /// Seconds a message may take from its first byte until all of its
    /// headers have arrived; then the connection is closed (slowloris).
    pub tcp_header_timeout_sec: u64,
    /// Seconds a TCP connection may carry nothing (CRLF keep-alives count
    /// as traffic, RFC 5626) before it is closed.
    pub tcp_idle_timeout_sec: u64,
    /// Failed digest authentications from one source address within a
    /// minute before that address is banned. Also applies to Agent RPC tokens.
    pub auth_max_failures: u32,
    /// Seconds a banned source gets 403 without a challenge.
    pub auth_ban_sec: u64,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            user_agent: concat!("Switchboard/", env!("CARGO_PKG_VERSION")).to_string(),
            max_transactions: 65536,
            max_calls: 0,
            shutdown_grace_sec: 20,
            tcp_max_connections: 8192,
            tcp_max_connections_per_ip: 256,
            tcp_header_timeout_sec: 10,
            tcp_idle_timeout_sec: 600,
            auth_max_failures: 5,
            auth_ban_sec: 300,
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// `cdr`: where call detail records go. SQLite by default; PostgreSQL
/// instead when `postgres` is set; none with `enabled: false` or
/// `sqlite: null` and no `postgres`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CdrConfig {
    /// Whether records are written at all.
    pub enabled: bool,
    /// The SQLite file; relative paths are taken from the config file's
    /// directory, like `media.recordings_dir`.
    pub sqlite: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://user:pass@host/db`); takes the place
    /// of `sqlite` when set. Never logged: it may hold a password.
    pub postgres: Option<String>,
    /// Records that may wait for the writer; beyond, they are dropped (and counted).
    pub queue: usize,
    /// Most records per commit.
    pub batch: usize,
}

impl Default for CdrConfig {
    fn default() -> Self {
        CdrConfig {
            enabled: true,
            sqlite: Some(PathBuf::from("cdr.sqlite")),
            postgres: None,
            queue: 10_000,
            batch: 1000,
        }
    }
}

impl std::fmt::Debug for CdrConfig {
    /// Keeps the PostgreSQL URL (and its password) out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdrConfig")
            .field("enabled", &self.enabled)
            .field("sqlite", &self.sqlite)
            .field("postgres", &self.postgres.as_ref().map(|_| "<redacted>"))
            .field("queue", &self.queue)
            .field("batch", &self.batch)
            .finish()
    }
}
