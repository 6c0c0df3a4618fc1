//! Environment variables that override listen addresses and external hosts.
//! The list is in the doc of [`Config::apply_env`](super::Config::apply_env).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::validate::{is_host, port_conflicts};
use super::{Config, ConfigError, ConfigErrorKind, KeyPath, Origin};

/// Every variable Switchboard reads starts with this.
pub const ENV_PREFIX: &str = "SWITCHBOARD_";

const TRANSPORT_PREFIX: &str = "SWITCHBOARD_TRANSPORT_";

/// Per-transport fields, longest suffix first so `_EXTERNAL_PORT` is not read as `_PORT`.
const TRANSPORT_FIELDS: &[(&str, Field)] = &[
    ("_EXTERNAL_HOST", Field::ExternalHost),
    ("_EXTERNAL_PORT", Field::ExternalPort),
    ("_BIND", Field::Bind),
    ("_PORT", Field::Port),
];

#[derive(Debug, Clone, Copy)]
enum Field {
    Bind,
    Port,
    ExternalHost,
    ExternalPort,
    ExternalMediaIp,
}

/// Applies the overrides in `env` to `config`; see `Config::apply_env`.
pub(crate) fn apply<I, K, V>(config: &mut Config, env: I) -> Result<(), Vec<ConfigError>>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    // Sorted, so that the outcome does not depend on the environment's order.
    let vars: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.as_ref().starts_with(ENV_PREFIX))
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    let mut errors = Vec::new();
    let mut fail = |var: &str, key: String, message: String| {
        errors.push(ConfigError {
            origin: Origin::Env(var.to_string()),
            key: KeyPath(key),
            kind: ConfigErrorKind::Invalid(message),
        });
    };

    // Global SIP overrides first, so per-transport ones win.
    let globals = [
        ("SWITCHBOARD_SIP_BIND", Field::Bind),
        ("SWITCHBOARD_SIP_EXTERNAL_HOST", Field::ExternalHost),
        ("SWITCHBOARD_SIP_EXTERNAL_MEDIA_IP", Field::ExternalMediaIp),
    ];
    for (var, field) in globals {
        if let Some(value) = vars.get(var) {
            let names: Vec<String> = config.transports.keys().cloned().collect();
            for name in names {
                if let Err(message) = set_transport_field(config, &name, field, value) {
                    fail(var, format!("transports.{name}"), message);
                }
            }
        }
    }

    for var in vars.keys() {
        let is_global = globals.iter().any(|(g, _)| g == var);
        if var.starts_with("SWITCHBOARD_SIP_") && !is_global {
            fail(
                var,
                String::new(),
                format!(
                    "unknown variable; per-transport overrides are \
                     {TRANSPORT_PREFIX}<NAME>_BIND, _PORT, _EXTERNAL_HOST, _EXTERNAL_PORT"
                ),
            );
        }
    }

    for (var, value) in &vars {
        let Some(rest) = var.strip_prefix(TRANSPORT_PREFIX) else {
            continue;
        };
        let parsed = TRANSPORT_FIELDS.iter().find_map(|(suffix, field)| {
            let env_name = rest.strip_suffix(suffix)?;
            let name = config
                .transports
                .keys()
                .find(|n| env_key(n) == env_name)?
                .clone();
            Some((name, *field))
        });
        match parsed {
            Some((name, field)) => {
                if let Err(message) = set_transport_field(config, &name, field, value) {
                    fail(var, format!("transports.{name}"), message);
                }
            }
            None => {
                let known: Vec<String> = config.transports.keys().map(|n| env_key(n)).collect();
                fail(
                    var,
                    String::new(),
                    format!(
                        "names no transport field; expected {TRANSPORT_PREFIX}<NAME>_BIND, _PORT, \
                         _EXTERNAL_HOST or _EXTERNAL_PORT with NAME one of: {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }

    if let Some(value) = vars.get("SWITCHBOARD_AGENT_RPC_LISTEN") {
        match parse_listen(value) {
            Ok(addr) => config.agent_rpc.listen = addr,
            Err(m) => fail("SWITCHBOARD_AGENT_RPC_LISTEN", "agent_rpc.listen".into(), m),
        }
    }
    if let Some(value) = vars.get("SWITCHBOARD_HTTP_LISTEN") {
        match parse_listen(value) {
            Ok(addr) => config.http.listen = addr,
            Err(m) => fail("SWITCHBOARD_HTTP_LISTEN", "http.listen".into(), m),
        }
    }
    if let Some(value) = vars.get("SWITCHBOARD_RAYO_LISTEN") {
        match (parse_listen(value), config.rayo.as_mut()) {
            (Ok(addr), Some(rayo)) => rayo.listen = addr,
            (Ok(_), None) => fail(
                "SWITCHBOARD_RAYO_LISTEN",
                "rayo.listen".into(),
                "the config has no `rayo` section to override".into(),
            ),
            (Err(m), _) => fail("SWITCHBOARD_RAYO_LISTEN", "rayo.listen".into(), m),
        }
    }

    for (name, kind) in port_conflicts(&config.transports) {
        errors.push(ConfigError {
            origin: Origin::Env("SWITCHBOARD_*".to_string()),
            key: KeyPath(format!("transports.{name}.port")),
            kind,
        });
    }

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A transport name as it appears inside a variable name.
fn env_key(name: &str) -> String {
    name.chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() {
                ch.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn set_transport_field(
    config: &mut Config,
    name: &str,
    field: Field,
    value: &str,
) -> Result<(), String> {
    let Some(t) = config.transports.get_mut(name) else {
        return Err(format!("no transport named {name:?}"));
    };
    let value = value.trim();
    match field {
        Field::Bind => {
            t.bind = value
                .parse()
                .map_err(|_| format!("{value:?} is not an IP address"))?;
        }
        Field::Port => {
            t.port = value
                .parse()
                .map_err(|_| format!("{value:?} is not a port number"))?;
        }
        Field::ExternalHost => {
            if value.is_empty() {
                t.external_host = None;
            } else if is_host(value) {
                t.external_host = Some(value.to_string());
            } else {
                return Err(format!("{value:?} is not a host name or address"));
            }
        }
        Field::ExternalPort => match value.parse::<u16>() {
            Ok(p) if p > 0 => t.external_port = Some(p),
            _ => return Err(format!("{value:?} is not a port number")),
        },
        Field::ExternalMediaIp => {
            t.external_media_ip = Some(
                value
                    .parse::<IpAddr>()
                    .map_err(|_| format!("{value:?} is not an IP address"))?,
            );
        }
    }
    Ok(())
}

fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not an address:port"))
}
