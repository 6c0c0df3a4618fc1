//! The config file as written: every key the YAML may hold, with the source
//! position of each value that a later semantic check may need to point at.
//!
//! Nothing here is interpreted; `validate` turns a [`FileConfig`] into a
//! [`Config`](super::Config). Every struct denies unknown keys so a typo is an
//! error with its line and column, not a silently ignored setting.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::sections::{
    AgentRpcConfig, HttpConfig, LogConfig, MediaConfig, OfferPolicy, RayoDialect, RayoUser,
    SipConfig,
};

/// The whole document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// Diagox configs carry a `version`; it is accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    pub version: Option<de::IgnoredAny>,
    #[serde(default)]
    pub transports: Option<IndexMap<String, Spanned<FileTransport>>>,
    #[serde(default)]
    pub endpoints: Option<IndexMap<String, Spanned<FileEndpoint>>>,
    #[serde(default)]
    pub routes: Option<FileRoutes>,
    #[serde(default)]
    pub media: Option<Spanned<MediaConfig>>,
    #[serde(default)]
    pub agent_rpc: Option<Spanned<AgentRpcConfig>>,
    #[serde(default)]
    pub rayo: Option<Spanned<FileRayo>>,
    #[serde(default)]
    pub http: Option<Spanned<HttpConfig>>,
    #[serde(default)]
    pub sip: Option<Spanned<SipConfig>>,
    #[serde(default)]
    pub tts: Option<Spanned<super::tts::FileTts>>,
    #[serde(default)]
    pub log: Option<Spanned<LogConfig>>,
    #[serde(default)]
    pub cdr: Option<Spanned<super::sections::CdrConfig>>,
}

/// `routes`: context name → its entries (`null` for an empty context).
pub(crate) type FileRoutes = IndexMap<String, Spanned<Option<Vec<Spanned<FileRouteEntry>>>>>;

/// `rayo`: positions kept for the values `validate` checks further.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRayo {
    pub domain: Spanned<String>,
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    #[serde(default)]
    pub users: Option<Vec<Spanned<RayoUser>>>,
    #[serde(default)]
    pub tls: Option<Spanned<FileRayoTls>>,
    #[serde(default)]
    pub allow_plain_without_tls: bool,
    #[serde(default)]
    pub offer_policy: OfferPolicy,
    #[serde(default)]
    pub offer_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub plain_presence_available: bool,
    #[serde(default)]
    pub dialect: RayoDialect,
    #[serde(default)]
    pub dial_route: Option<Spanned<String>>,
}

/// `rayo.tls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRayoTls {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

/// `transports.NAME`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTransport {
    pub transport: Spanned<FileProtocol>,
    #[serde(default)]
    pub bind: Option<Spanned<String>>,
    #[serde(default)]
    pub port: Option<Spanned<u16>>,
    #[serde(default)]
    pub external_host: Option<Spanned<String>>,
    #[serde(default)]
    pub external_port: Option<Spanned<u16>>,
    #[serde(default)]
    pub external_media_ip: Option<Spanned<String>>,
    #[serde(default)]
    pub rewrite_contact: bool,
}

/// `transports.NAME.transport`: every protocol the schema knows, supported or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FileProtocol {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

/// `endpoints.NAME`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileEndpoint {
    #[serde(rename = "match", default)]
    pub matcher: Option<Spanned<FileMatch>>,
    #[serde(default)]
    pub route: Option<Spanned<String>>,
    #[serde(default)]
    pub uri: Option<Spanned<String>>,
    #[serde(default)]
    pub auth: Option<Spanned<FileAuth>>,
    #[serde(default)]
    pub transport: Option<Spanned<String>>,
    #[serde(default)]
    pub no_controller_code: Option<Spanned<u16>>,
}

/// `endpoints.NAME.match`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileMatch {
    #[serde(rename = "type")]
    pub kind: Spanned<FileMatchKind>,
    #[serde(default)]
    pub values: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub transport: Option<Spanned<String>>,
    /// `rayo` only: the usernames whose clients get this endpoint's offers.
    #[serde(default)]
    pub users: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `endpoints.NAME.match.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FileMatchKind {
    Ip,
    User,
    Agent,
    Flow,
    Rayo,
}

/// `endpoints.NAME.auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAuth {
    #[serde(rename = "type", default)]
    pub kind: Option<Spanned<String>>,
    pub username: Spanned<String>,
    pub password: Spanned<String>,
}

/// One entry of `routes.CONTEXT`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRouteEntry {
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    #[serde(rename = "match", default)]
    pub mode: Option<Spanned<FileMatchMode>>,
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub strip_prefix: Option<Spanned<FileStripPrefix>>,
    #[serde(default)]
    pub hangup: Option<Spanned<FileHangup>>,
    #[serde(default)]
    pub fallback: Option<Spanned<FileFallback>>,
    #[serde(default)]
    pub use_registry: Option<Spanned<bool>>,
    #[serde(default)]
    pub recording: Option<Spanned<bool>>,
    #[serde(default)]
    pub sip_headers: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    #[serde(default)]
    pub sip_headers_pass: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `routes.CONTEXT[i].match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FileMatchMode {
    Exact,
    Prefix,
    Any,
}

/// `routes.CONTEXT[i].hangup`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHangup {
    pub code: Spanned<u16>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `routes.CONTEXT[i].strip_prefix`: `true` strips the entry's `id`; a string
/// (Diagox's form) strips that literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileStripPrefix {
    Flag(bool),
    Literal(String),
}

impl<'de> Deserialize<'de> for FileStripPrefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StripVisitor;
        impl Visitor<'_> for StripVisitor {
            type Value = FileStripPrefix;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false, or the prefix text to strip")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(FileStripPrefix::Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FileStripPrefix::Literal(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(FileStripPrefix::Literal(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(FileStripPrefix::Literal(v.to_string()))
            }
        }
        deserializer.deserialize_any(StripVisitor)
    }
}

/// `routes.CONTEXT[i].fallback`: an endpoint name, or Diagox's
/// `{ enabled, endpoints, codes, timeout }` mapping.
#[derive(Debug)]
pub(crate) enum FileFallback {
    Endpoint(String),
    Detailed(FileFallbackDetail),
}

/// The mapping form of `fallback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileFallbackDetail {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub codes: Vec<Spanned<u16>>,
    #[serde(default)]
    pub timeout: bool,
}

impl<'de> Deserialize<'de> for FileFallback {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FallbackVisitor;
        impl<'de> Visitor<'de> for FallbackVisitor {
            type Value = FileFallback;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an endpoint name or a mapping { endpoints, codes, timeout }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FileFallback::Endpoint(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                FileFallbackDetail::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(FileFallback::Detailed)
            }
        }
        deserializer.deserialize_any(FallbackVisitor)
    }
}
