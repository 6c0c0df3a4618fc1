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
    /// Lowest UDP port used for RTP (even ports carry RTP, the next odd one RTCP).
    pub rtp_port_min: u16,
    /// Highest UDP port used for RTP.
    pub rtp_port_max: u16,
    /// Root directory of prompt files; `play` sources cannot escape it.
    /// Relative paths are taken from the config file's directory.
    pub playback_dir: PathBuf,
    /// Directory recordings are written to. Relative paths as for `playback_dir`.
    pub recordings_dir: PathBuf,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_port_min: 20000,
            rtp_port_max: 30000,
            playback_dir: PathBuf::from("sounds"),
            recordings_dir: PathBuf::from("recordings"),
        }
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
    /// Seconds an offered call waits for an agent to take it before it is rejected.
    pub invite_timeout_sec: u64,
    /// Seconds an agent's calls survive its disconnect before they are hung up.
    pub disconnect_grace_sec: u64,
    /// Shared secret agents must present; `None` accepts any agent (local use only).
    pub token: Option<String>,
}

impl Default for AgentRpcConfig {
    fn default() -> Self {
        AgentRpcConfig {
            listen: loopback(6000),
            max_connections_per_endpoint: 16,
            invite_timeout_sec: 60,
            disconnect_grace_sec: 5,
            token: None,
        }
    }
}

/// `rayo`: the embedded XMPP listener Rayo clients connect to. Absent means off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RayoConfig {
    /// XMPP domain the server answers for (the `@domain` of call JIDs).
    pub domain: String,
    /// Address the XMPP client-to-server listener binds.
    #[serde(default = "default_rayo_listen")]
    pub listen: SocketAddr,
}

fn default_rayo_listen() -> SocketAddr {
    loopback(5222)
}

/// `http`: metrics, health and recordings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: loopback(8080),
        }
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
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            user_agent: concat!("Switchboard/", env!("CARGO_PKG_VERSION")).to_string(),
            max_transactions: 65536,
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}
