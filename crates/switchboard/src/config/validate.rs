//! Semantic checks that turn the parsed file into a [`Config`].
//!
//! Every check records its error and carries on, so one run of
//! `check-config` lists every problem in the file.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_saphyr::{Location, Spanned};

use super::file::{
    FileAuth, FileConfig, FileEndpoint, FileFallback, FileMatch, FileMatchKind, FileMatchMode,
    FileProtocol, FileRayo, FileRouteEntry, FileRoutes, FileStripPrefix, FileTransport,
};
use super::sections::{default_rayo_listen, RayoConfig, RayoTls};
use super::{
    position, Config, ConfigError, ConfigErrorKind, Destination, DigestAuth, EndpointConfig,
    EndpointMatch, Fallback, KeyPath, MatchMode, RouteEntry, RouteTarget, StripPrefix,
    TransportConfig, TransportProtocol, DEFAULT_NO_CONTROLLER_CODE,
};

/// Name of the route context endpoints use when they name none.
pub(crate) const DEFAULT_ROUTE: &str = "default";

/// Headers that belong to the dialog or the transaction: a route may neither
/// set them nor copy them from the other leg.
const RESERVED_HEADERS: &[&str] = &[
    "via",
    "v",
    "from",
    "f",
    "to",
    "t",
    "call-id",
    "i",
    "cseq",
    "contact",
    "m",
    "content-length",
    "l",
    "content-type",
    "c",
    "max-forwards",
    "record-route",
    "route",
];

/// Collects errors with their file positions.
struct Checker<'a> {
    file: &'a str,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn error(&mut self, at: Location, key: impl Into<String>, kind: ConfigErrorKind) {
        self.errors.push(ConfigError {
            origin: position(self.file, Some(at)),
            key: KeyPath(key.into()),
            kind,
        });
    }

    fn invalid(&mut self, at: Location, key: impl Into<String>, message: impl Into<String>) {
        self.error(at, key, ConfigErrorKind::Invalid(message.into()));
    }
}

/// Checks `file` and builds the [`Config`], or returns every problem found.
/// Relative `rayo.tls` paths are taken from `base_dir` when given.
pub(crate) fn validate(
    file: FileConfig,
    file_name: &str,
    base_dir: Option<&Path>,
) -> Result<Config, Vec<ConfigError>> {
    let mut c = Checker {
        file: file_name,
        errors: Vec::new(),
    };

    let transports = transports(&mut c, file.transports.unwrap_or_default());
    let file_routes = file.routes.unwrap_or_default();
    let file_endpoints = file.endpoints.unwrap_or_default();
    let endpoints = endpoints(&mut c, &file_endpoints, &transports, &file_routes);
    let routes = routes(&mut c, file_routes, &endpoints);

    // The port range checks itself while deserializing (`PortRange`).
    let media = file.media.map(|m| m.value).unwrap_or_default();
    let agent_rpc = match file.agent_rpc {
        Some(a) => {
            if a.value.max_connections_per_endpoint == 0 {
                c.invalid(
                    a.referenced,
                    "agent_rpc",
                    "max_connections_per_endpoint must be at least 1",
                );
            }
            if a.value.invite_timeout_sec == 0 {
                c.invalid(
                    a.referenced,
                    "agent_rpc",
                    "invite_timeout_sec must be at least 1",
                );
            }
            if a.value.max_connections == 0 || a.value.handshake_timeout_sec == 0 {
                c.invalid(
                    a.referenced,
                    "agent_rpc",
                    "max_connections and handshake_timeout_sec must be at least 1",
                );
            }
            if a.value.answer_timeout_sec == 0 {
                c.invalid(
                    a.referenced,
                    "agent_rpc",
                    "answer_timeout_sec must be at least 1",
                );
            }
            a.value
        }
        None => Default::default(),
    };
    let rayo = file.rayo.map(|r| rayo(&mut c, r, &routes, base_dir));
    let http = match file.http {
        Some(h) => {
            c.errors.extend(super::tts::http(c.file, &h));
            h.value
        }
        None => Default::default(),
    };
    let log = match file.log {
        Some(l) => {
            if let Err(error) = tracing_subscriber::EnvFilter::builder().parse(&l.value.level) {
                c.invalid(
                    l.referenced,
                    "log.level",
                    format!("{:?} is not a level or filter: {error}", l.value.level),
                );
            }
            l.value
        }
        None => Default::default(),
    };
    let tts = match file.tts.map(|t| super::tts::tts(c.file, t)) {
        Some(Ok(tts)) => tts,
        Some(Err(errors)) => {
            c.errors.extend(errors);
            Default::default()
        }
        None => Default::default(),
    };
    let sip = match file.sip {
        Some(s) => {
            let v = &s.value;
            if v.t1_ms == 0 || v.t2_ms < v.t1_ms || v.t4_ms == 0 {
                c.invalid(
                    s.referenced,
                    "sip",
                    format!(
                        "timers need t1_ms > 0, t2_ms >= t1_ms and t4_ms > 0 (got {}, {}, {})",
                        v.t1_ms, v.t2_ms, v.t4_ms
                    ),
                );
            }
            if v.max_transactions == 0 {
                c.invalid(s.referenced, "sip", "max_transactions must be at least 1");
            }
            for (key, value) in [
                ("tcp_max_connections", v.tcp_max_connections as u64),
                (
                    "tcp_max_connections_per_ip",
                    u64::from(v.tcp_max_connections_per_ip),
                ),
                ("tcp_header_timeout_sec", v.tcp_header_timeout_sec),
                ("tcp_idle_timeout_sec", v.tcp_idle_timeout_sec),
                ("auth_max_failures", u64::from(v.auth_max_failures)),
            ] {
                if value == 0 {
                    c.invalid(s.referenced, "sip", format!("{key} must be at least 1"));
                }
            }
            if v.user_agent.contains(['\r', '\n']) {
                c.invalid(s.referenced, "sip.user_agent", "must be one line");
            }
            s.value
        }
        None => Default::default(),
    };

    let cdr = match file.cdr {
        Some(d) => {
            if d.value.queue == 0 || !(1..=MAX_CDR_BATCH).contains(&d.value.batch) {
                c.invalid(
                    d.referenced,
                    "cdr",
                    format!("queue must be at least 1 and batch from 1 to {MAX_CDR_BATCH}"),
                );
            }
            if d.value.postgres.as_deref().is_some_and(str::is_empty) {
                c.invalid(d.referenced, "cdr.postgres", "must be a URL, or left out");
            }
            d.value
        }
        None => Default::default(),
    };

    if c.errors.is_empty() {
        return Ok(Config {
            transports,
            endpoints,
            routes,
            media,
            agent_rpc,
            rayo,
            http,
            sip,
            tts,
            log,
            cdr,
        });
    }
    // Report in file order, whatever order the checks ran in.
    c.errors.sort_by_key(|e| match e.origin {
        super::Origin::Position { line, column, .. } => (line, column),
        _ => (0, 0),
    });
    Err(c.errors)
}

/// Largest `cdr.batch`: a PostgreSQL statement takes at most 65,535
/// parameters, 27 per record.
const MAX_CDR_BATCH: usize = 2000;

/// Default `rayo.offer_timeout_ms`.
const DEFAULT_OFFER_TIMEOUT_MS: u64 = 5000;

/// `rayo`: a domain, users with JID-safe names, loadable TLS files and a
/// `dial_route` that exists.
fn rayo(
    c: &mut Checker<'_>,
    section: Spanned<FileRayo>,
    routes: &IndexMap<String, Vec<RouteEntry>>,
    base_dir: Option<&Path>,
) -> RayoConfig {
    let r = section.value;
    let domain = r.domain.value.to_lowercase();
    if xmpp::Jid::bare(None, &domain).is_err() || domain.contains(['@', '/', ' ']) {
        c.invalid(
            r.domain.referenced,
            "rayo.domain",
            format!("{:?} is not a domain name", r.domain.value),
        );
    }
    let mut users = Vec::new();
    let mut seen = HashMap::new();
    for (i, user) in r.users.unwrap_or_default().into_iter().enumerate() {
        let key = format!("rayo.users[{i}]");
        let name = &user.value.username;
        if name.is_empty() || xmpp::Jid::bare(Some(name), "d.example").is_err() {
            c.invalid(
                user.referenced,
                key,
                format!("username {name:?} cannot be the node of a JID"),
            );
        } else if user.value.password.is_empty() {
            c.invalid(user.referenced, key, "password must not be empty");
        } else if seen.insert(name.clone(), i).is_some() {
            c.invalid(
                user.referenced,
                key,
                format!("username {name:?} is listed twice"),
            );
        }
        users.push(user.value);
    }
    let tls = r.tls.map(|t| {
        let resolve = |p: &str| match base_dir {
            Some(dir) => dir.join(p),
            None => PathBuf::from(p),
        };
        let tls = RayoTls {
            cert: resolve(&t.value.cert.value),
            key: resolve(&t.value.key.value),
        };
        if let Err(error) = crate::rayo::tls::server_config(&tls) {
            let (at, key) = match error {
                crate::rayo::tls::TlsError::Cert { .. } => {
                    (t.value.cert.referenced, "rayo.tls.cert")
                }
                crate::rayo::tls::TlsError::Key { .. } => (t.value.key.referenced, "rayo.tls.key"),
                crate::rayo::tls::TlsError::Pair(_) => (t.referenced, "rayo.tls"),
            };
            c.invalid(at, key, error.to_string());
        }
        tls
    });
    let offer_timeout_ms = match r.offer_timeout_ms {
        Some(t) if t.value == 0 => {
            c.invalid(t.referenced, "rayo.offer_timeout_ms", "must be at least 1");
            DEFAULT_OFFER_TIMEOUT_MS
        }
        Some(t) => t.value,
        None => DEFAULT_OFFER_TIMEOUT_MS,
    };
    let dial_route = match r.dial_route {
        Some(d) => {
            if !routes.contains_key(&d.value) {
                c.error(
                    d.referenced,
                    "rayo.dial_route",
                    ConfigErrorKind::UnknownRoute(d.value.clone()),
                );
            }
            d.value
        }
        // The default context need not exist until a dial needs it: a
        // deployment that never dials out is not forced to write routes.
        None => DEFAULT_ROUTE.to_string(),
    };
    RayoConfig {
        domain,
        listen: r.listen.unwrap_or_else(default_rayo_listen),
        users,
        tls,
        allow_plain_without_tls: r.allow_plain_without_tls,
        offer_policy: r.offer_policy,
        offer_timeout_ms,
        plain_presence_available: r.plain_presence_available,
        dialect: r.dialect,
        dial_route,
    }
}

fn transports(
    c: &mut Checker<'_>,
    file: IndexMap<String, Spanned<FileTransport>>,
) -> IndexMap<String, TransportConfig> {
    let mut out = IndexMap::new();
    let mut port_at = HashMap::new();
    for (name, t) in file {
        let key = format!("transports.{name}");
        let t_at = t.referenced;
        let t = t.value;
        let protocol = match t.transport.value {
            FileProtocol::Udp => TransportProtocol::Udp,
            FileProtocol::Tcp => TransportProtocol::Tcp,
            other => {
                let what = format!("transport {}", format!("{other:?}").to_lowercase());
                c.error(
                    t.transport.referenced,
                    format!("{key}.transport"),
                    ConfigErrorKind::NotSupported(what),
                );
                continue;
            }
        };
        let bind = match &t.bind {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(b) => match b.value.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    c.invalid(
                        b.referenced,
                        format!("{key}.bind"),
                        format!("{:?} is not an IP address", b.value),
                    );
                    continue;
                }
            },
        };
        if let Some(h) = &t.external_host {
            if !is_host(&h.value) {
                c.invalid(
                    h.referenced,
                    format!("{key}.external_host"),
                    format!("{:?} is not a host name or address", h.value),
                );
            }
        }
        if let Some(p) = &t.external_port {
            if p.value == 0 {
                c.invalid(
                    p.referenced,
                    format!("{key}.external_port"),
                    "must not be 0",
                );
            }
        }
        let external_media_ip = t
            .external_media_ip
            .as_ref()
            .and_then(|m| match m.value.parse() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    c.invalid(
                        m.referenced,
                        format!("{key}.external_media_ip"),
                        format!("{:?} is not an IP address", m.value),
                    );
                    None
                }
            });
        let port = t.port.as_ref().map_or(5060, |p| p.value);
        port_at.insert(name.clone(), t.port.as_ref().map_or(t_at, |p| p.referenced));
        out.insert(
            name.clone(),
            TransportConfig {
                name,
                protocol,
                bind,
                port,
                external_host: t.external_host.map(|h| h.value),
                external_port: t.external_port.map(|p| p.value),
                external_media_ip,
                rewrite_contact: t.rewrite_contact,
            },
        );
    }
    for (name, kind) in port_conflicts(&out) {
        let at = port_at.get(&name).copied().unwrap_or(Location::UNKNOWN);
        c.error(at, format!("transports.{name}.port"), kind);
    }
    if out.is_empty() && c.errors.is_empty() {
        out.insert("udp".to_string(), default_transport());
    }
    out
}

/// The listener a file without `transports` gets.
fn default_transport() -> TransportConfig {
    TransportConfig {
        name: "udp".to_string(),
        protocol: TransportProtocol::Udp,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 5060,
        external_host: None,
        external_port: None,
        external_media_ip: None,
        rewrite_contact: false,
    }
}

/// Transports that would fail to bind because an earlier one holds the same
/// protocol and port on an overlapping address. Port 0 never conflicts.
pub(crate) fn port_conflicts(
    transports: &IndexMap<String, TransportConfig>,
) -> Vec<(String, ConfigErrorKind)> {
    let mut out = Vec::new();
    let list: Vec<&TransportConfig> = transports.values().collect();
    for (i, t) in list.iter().enumerate() {
        if t.port == 0 {
            continue;
        }
        let clash = list[..i].iter().find(|o| {
            o.protocol == t.protocol
                && o.port == t.port
                && (o.bind == t.bind || o.bind.is_unspecified() || t.bind.is_unspecified())
        });
        if let Some(other) = clash {
            out.push((
                t.name.clone(),
                ConfigErrorKind::PortInUse {
                    protocol: t.protocol,
                    port: t.port,
                    other: other.name.clone(),
                },
            ));
        }
    }
    out
}

fn endpoints(
    c: &mut Checker<'_>,
    file: &IndexMap<String, Spanned<FileEndpoint>>,
    transports: &IndexMap<String, TransportConfig>,
    routes: &FileRoutes,
) -> IndexMap<String, EndpointConfig> {
    let mut out = IndexMap::new();
    let mut usernames: HashMap<String, String> = HashMap::new();
    for (name, e) in file {
        let key = format!("endpoints.{name}");
        let e_at = e.referenced;
        let e = &e.value;

        let auth = e.auth.as_ref().and_then(|a| auth(c, &key, a));
        let rayo_users = e.matcher.as_ref().and_then(|m| rayo_users(c, &key, m));
        let (matcher, match_transport) = match &e.matcher {
            None => (EndpointMatch::None, None),
            // A rejected `auth` was reported already; do not also call it missing.
            Some(m) => endpoint_match(c, &key, m, e.auth.is_some(), transports),
        };
        if matcher == EndpointMatch::User {
            if let Some(a) = &auth {
                if let Some(other) = usernames.get(&a.username) {
                    let at = e
                        .auth
                        .as_ref()
                        .map_or(e_at, |s| s.value.username.referenced);
                    c.error(
                        at,
                        format!("{key}.auth.username"),
                        ConfigErrorKind::DuplicateUser {
                            username: a.username.clone(),
                            other: other.clone(),
                        },
                    );
                } else {
                    usernames.insert(a.username.clone(), name.clone());
                }
            }
        }

        let route = match &e.route {
            Some(r) => {
                if !routes.contains_key(&r.value) {
                    c.error(
                        r.referenced,
                        format!("{key}.route"),
                        ConfigErrorKind::UnknownRoute(r.value.clone()),
                    );
                }
                r.value.clone()
            }
            None => {
                let originates = matches!(matcher, EndpointMatch::Ip(_) | EndpointMatch::User);
                if originates && !routes.contains_key(DEFAULT_ROUTE) {
                    c.invalid(
                        e_at,
                        key.clone(),
                        format!(
                            "calls from this endpoint use route context \"{DEFAULT_ROUTE}\", \
                             which is not defined; add it under `routes` or set `route`"
                        ),
                    );
                }
                DEFAULT_ROUTE.to_string()
            }
        };

        let uri = e.uri.as_ref().and_then(|u| match check_sip_uri(&u.value) {
            Ok(()) => Some(u.value.clone()),
            Err(reason) => {
                c.error(
                    u.referenced,
                    format!("{key}.uri"),
                    ConfigErrorKind::Uri {
                        uri: u.value.clone(),
                        reason,
                    },
                );
                None
            }
        });
        let destination = match matcher {
            EndpointMatch::Agent | EndpointMatch::Rayo => {
                if let Some(u) = &e.uri {
                    c.invalid(
                        u.referenced,
                        format!("{key}.uri"),
                        "agent and rayo endpoints take calls from their controllers, not a uri",
                    );
                }
                Some(if matcher == EndpointMatch::Agent {
                    Destination::Agent
                } else {
                    Destination::Rayo
                })
            }
            _ => uri.map(|uri| Destination::Sip { uri }),
        };

        let no_controller_code = match &e.no_controller_code {
            None => DEFAULT_NO_CONTROLLER_CODE,
            Some(code) if !matches!(matcher, EndpointMatch::Agent | EndpointMatch::Rayo) => {
                c.invalid(
                    code.referenced,
                    format!("{key}.no_controller_code"),
                    "only agent and rayo endpoints have controllers",
                );
                DEFAULT_NO_CONTROLLER_CODE
            }
            Some(code) if !(400..=699).contains(&code.value) => {
                c.error(
                    code.referenced,
                    format!("{key}.no_controller_code"),
                    ConfigErrorKind::StatusCode(code.value),
                );
                DEFAULT_NO_CONTROLLER_CODE
            }
            Some(code) => code.value,
        };

        if let Some(t) = &e.transport {
            if !transports.contains_key(&t.value) {
                c.error(
                    t.referenced,
                    format!("{key}.transport"),
                    ConfigErrorKind::UnknownTransport(t.value.clone()),
                );
            }
        }

        out.insert(
            name.clone(),
            EndpointConfig {
                name: name.clone(),
                matcher,
                match_transport,
                route,
                destination,
                auth,
                transport: e.transport.as_ref().map(|t| t.value.clone()),
                no_controller_code,
                rayo_users,
            },
        );
    }
    out
}

/// `match.users`: a non-empty list of non-empty usernames, for `rayo` only.
fn rayo_users(c: &mut Checker<'_>, key: &str, m: &Spanned<FileMatch>) -> Option<Vec<String>> {
    let users = m.value.users.as_ref()?;
    if m.value.kind.value != FileMatchKind::Rayo {
        c.invalid(
            users.referenced,
            format!("{key}.match.users"),
            "`users` is only used with match type rayo",
        );
        return None;
    }
    if users.value.is_empty() {
        c.invalid(
            users.referenced,
            format!("{key}.match.users"),
            "list at least one username, or leave `users` out for every client",
        );
    }
    for (i, user) in users.value.iter().enumerate() {
        if user.value.is_empty() {
            c.invalid(
                user.referenced,
                format!("{key}.match.users[{i}]"),
                "must not be empty",
            );
        }
    }
    Some(users.value.iter().map(|u| u.value.clone()).collect())
}

fn auth(c: &mut Checker<'_>, key: &str, a: &Spanned<FileAuth>) -> Option<DigestAuth> {
    let a_at = a.referenced;
    let a = &a.value;
    if let Some(kind) = &a.kind {
        match kind.value.to_ascii_lowercase().as_str() {
            "" | "digest" => {}
            "bearer" => {
                c.error(
                    kind.referenced,
                    format!("{key}.auth.type"),
                    ConfigErrorKind::NotSupported("auth type bearer".to_string()),
                );
                return None;
            }
            other => {
                c.invalid(
                    kind.referenced,
                    format!("{key}.auth.type"),
                    format!("unknown auth type {other:?}, expected digest"),
                );
                return None;
            }
        }
    }
    if a.username.value.is_empty() {
        c.invalid(a_at, format!("{key}.auth.username"), "must not be empty");
        return None;
    }
    Some(DigestAuth {
        username: a.username.value.clone(),
        password: a.password.value.clone(),
    })
}

fn endpoint_match(
    c: &mut Checker<'_>,
    key: &str,
    m: &Spanned<FileMatch>,
    has_auth: bool,
    transports: &IndexMap<String, TransportConfig>,
) -> (EndpointMatch, Option<String>) {
    let m_at = m.referenced;
    let m = &m.value;
    let values: &[Spanned<String>] = m.values.as_ref().map_or(&[], |v| &v.value);
    let matcher = match m.kind.value {
        FileMatchKind::Ip => {
            if values.is_empty() {
                c.invalid(
                    m_at,
                    format!("{key}.match.values"),
                    "match type ip needs at least one address or network in `values`",
                );
            }
            let mut nets = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                match v.value.parse() {
                    Ok(net) => nets.push(net),
                    Err(reason) => c.error(
                        v.referenced,
                        format!("{key}.match.values[{i}]"),
                        ConfigErrorKind::Network {
                            value: v.value.clone(),
                            reason,
                        },
                    ),
                }
            }
            EndpointMatch::Ip(nets)
        }
        other => {
            if let Some(v) = m.values.as_ref().filter(|v| !v.value.is_empty()) {
                c.invalid(
                    v.referenced,
                    format!("{key}.match.values"),
                    "`values` is only used with match type ip",
                );
            }
            match other {
                FileMatchKind::User => {
                    if !has_auth {
                        c.invalid(
                            m_at,
                            format!("{key}.match"),
                            "match type user needs `auth` with the username to match",
                        );
                    }
                    EndpointMatch::User
                }
                FileMatchKind::Agent | FileMatchKind::Flow => EndpointMatch::Agent,
                _ => EndpointMatch::Rayo,
            }
        }
    };
    let transport = m.transport.as_ref().map(|t| {
        if !transports.contains_key(&t.value) {
            c.error(
                t.referenced,
                format!("{key}.match.transport"),
                ConfigErrorKind::UnknownTransport(t.value.clone()),
            );
        }
        t.value.clone()
    });
    (matcher, transport)
}

fn routes(
    c: &mut Checker<'_>,
    file: FileRoutes,
    endpoints: &IndexMap<String, EndpointConfig>,
) -> IndexMap<String, Vec<RouteEntry>> {
    let mut out = IndexMap::new();
    for (context, entries) in file {
        let entries = entries.value.unwrap_or_default();
        let mut list = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let key = format!("routes.{context}[{i}]");
            if let Some(e) = route_entry(c, &key, entry, endpoints) {
                list.push(e);
            }
        }
        out.insert(context, list);
    }
    out
}

fn route_entry(
    c: &mut Checker<'_>,
    key: &str,
    entry: Spanned<FileRouteEntry>,
    endpoints: &IndexMap<String, EndpointConfig>,
) -> Option<RouteEntry> {
    let at = entry.referenced;
    let e = entry.value;

    let mut registry = false;
    if let Some(r) = e.use_registry.as_ref().filter(|r| r.value) {
        c.error(
            r.referenced,
            format!("{key}.use_registry"),
            ConfigErrorKind::NotSupported("use_registry (registrar lookup)".to_string()),
        );
        registry = true;
    }
    let recording = e.recording.as_ref().is_some_and(|r| r.value);

    let target = match (&e.endpoint, &e.hangup) {
        (Some(_), Some(_)) => {
            c.error(at, key, ConfigErrorKind::TwoTargets);
            None
        }
        (None, None) => {
            if !registry {
                c.error(at, key, ConfigErrorKind::NoTarget);
            }
            None
        }
        (Some(ep), None) => check_destination(c, &format!("{key}.endpoint"), ep, endpoints)
            .then(|| RouteTarget::Endpoint(ep.value.clone())),
        (None, Some(h)) => {
            let code = h.value.code.value;
            if (400..=699).contains(&code) {
                Some(RouteTarget::Hangup {
                    code,
                    reason: h.value.reason.clone(),
                })
            } else {
                c.error(
                    h.value.code.referenced,
                    format!("{key}.hangup.code"),
                    ConfigErrorKind::StatusCode(code),
                );
                None
            }
        }
    };

    let strip = match e.strip_prefix.map(|s| s.value) {
        None | Some(FileStripPrefix::Flag(false)) => StripPrefix::None,
        Some(FileStripPrefix::Flag(true)) => StripPrefix::Id,
        Some(FileStripPrefix::Literal(s)) if s.is_empty() => StripPrefix::None,
        Some(FileStripPrefix::Literal(s)) => StripPrefix::Literal(s),
    };

    let fallback = e.fallback.and_then(|f| fallback(c, key, f, endpoints));

    let mut sip_headers = Vec::new();
    if let Some(h) = e.sip_headers {
        for (name, value) in h.value {
            let hkey = format!("{key}.sip_headers.{name}");
            if let Err(why) = check_header_name(&name) {
                c.invalid(value.referenced, hkey, why);
            } else if value.value.contains(['\r', '\n']) {
                c.invalid(value.referenced, hkey, "header value must be one line");
            } else {
                sip_headers.push((name, value.value));
            }
        }
    }
    let mut sip_headers_pass = Vec::new();
    if let Some(p) = e.sip_headers_pass {
        for (i, name) in p.value.into_iter().enumerate() {
            match check_header_name(&name.value) {
                Ok(()) => sip_headers_pass.push(name.value),
                Err(why) => c.invalid(name.referenced, format!("{key}.sip_headers_pass[{i}]"), why),
            }
        }
    }

    Some(RouteEntry {
        id: e.id.map(|s| s.value).unwrap_or_default(),
        mode: match e.mode.map(|m| m.value) {
            None | Some(FileMatchMode::Exact) => MatchMode::Exact,
            Some(FileMatchMode::Prefix) => MatchMode::Prefix,
            Some(FileMatchMode::Any) => MatchMode::Any,
        },
        target: target?,
        strip,
        fallback,
        sip_headers,
        sip_headers_pass,
        recording,
    })
}

/// Whether `name` is an endpoint a call can be sent to; records why not.
fn check_destination(
    c: &mut Checker<'_>,
    key: &str,
    name: &Spanned<String>,
    endpoints: &IndexMap<String, EndpointConfig>,
) -> bool {
    match endpoints.get(&name.value) {
        None => {
            c.error(
                name.referenced,
                key,
                ConfigErrorKind::UnknownEndpoint(name.value.clone()),
            );
            false
        }
        Some(ep) if ep.destination.is_none() => {
            c.error(
                name.referenced,
                key,
                ConfigErrorKind::NotDestination(name.value.clone()),
            );
            false
        }
        Some(_) => true,
    }
}

fn fallback(
    c: &mut Checker<'_>,
    key: &str,
    f: Spanned<FileFallback>,
    endpoints: &IndexMap<String, EndpointConfig>,
) -> Option<Fallback> {
    let at = f.referenced;
    let key = format!("{key}.fallback");
    match f.value {
        FileFallback::Endpoint(name) => {
            let name = Spanned::new(name, at, at);
            check_destination(c, &key, &name, endpoints).then(|| Fallback {
                endpoints: vec![name.value],
                codes: Vec::new(),
                on_timeout: true,
            })
        }
        FileFallback::Detailed(d) => {
            if d.enabled == Some(false) {
                return None;
            }
            if d.endpoints.is_empty() {
                c.invalid(
                    at,
                    format!("{key}.endpoints"),
                    "needs at least one endpoint",
                );
                return None;
            }
            let mut ok = true;
            for (i, name) in d.endpoints.iter().enumerate() {
                let name = Spanned::new(name.clone(), at, at);
                ok &= check_destination(c, &format!("{key}.endpoints[{i}]"), &name, endpoints);
            }
            for code in &d.codes {
                if !(400..=699).contains(&code.value) {
                    c.error(
                        code.referenced,
                        format!("{key}.codes"),
                        ConfigErrorKind::StatusCode(code.value),
                    );
                    ok = false;
                }
            }
            ok.then(|| Fallback {
                endpoints: d.endpoints,
                codes: d.codes.into_iter().map(|c| c.value).collect(),
                on_timeout: d.timeout,
            })
        }
    }
}

/// A header name a route may set or pass: an RFC 3261 token that is not a
/// dialog or transaction header.
fn check_header_name(name: &str) -> Result<(), String> {
    let token_char = |ch: char| ch.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(ch);
    if name.is_empty() || !name.chars().all(token_char) {
        return Err(format!("{name:?} is not a SIP header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{name} belongs to the dialog and cannot be set or passed by a route"
        ));
    }
    Ok(())
}

/// A host name, IPv4 address or bracketless IPv6 address.
pub(crate) fn is_host(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        })
}

/// Checks the shape of a `sip:`/`sips:` URI: scheme, optional user, a host
/// name or address (IPv6 in brackets), optional port, then parameters or
/// headers, which are not examined.
pub(crate) fn check_sip_uri(uri: &str) -> Result<(), &'static str> {
    let head = uri.chars().take(5).collect::<String>().to_ascii_lowercase();
    let rest = if head.starts_with("sip:") {
        &uri[4..]
    } else if head == "sips:" {
        &uri[5..]
    } else {
        return Err("must start with sip: or sips:");
    };
    if rest.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err("contains whitespace");
    }
    let before_params = rest.split([';', '?']).next().unwrap_or_default();
    let hostport = match before_params.rsplit_once('@') {
        Some((user, hostport)) => {
            if user.is_empty() {
                return Err("empty user before @");
            }
            hostport
        }
        None => before_params,
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed [ in IPv6 host")?;
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err("bad IPv6 address");
        }
        match after {
            "" => (addr, None),
            p => (
                addr,
                Some(p.strip_prefix(':').ok_or("junk after IPv6 host")?),
            ),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => {
                if !is_host(h) {
                    return Err("bad host");
                }
                (h, Some(p))
            }
            None => {
                if !is_host(hostport) {
                    return Err(if hostport.is_empty() {
                        "missing host"
                    } else {
                        "bad host"
                    });
                }
                (hostport, None)
            }
        }
    };
    if host.is_empty() {
        return Err("missing host");
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err("bad port"),
        }
    }
    Ok(())
}
