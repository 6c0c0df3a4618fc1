//! Which changes a reload applies and which wait for a restart: a pure
//! comparison of the running config with the one just read.

use crate::config::Config;

/// A setting only a restart applies: its name in the warning, and how to
/// put the running value (second argument) back into a config (first).
type Kept = (&'static str, fn(&mut Config, &Config));

/// Every setting a reload leaves as it is running, but for the transports
/// (whose handling depends on whether the listeners moved). One list, so
/// what is warned about and what is kept cannot drift apart.
const KEPT: &[Kept] = &[
    ("media.rtp_ports", |c, r| {
        c.media.rtp_ports = r.media.rtp_ports
    }),
    ("media.playback_dir", |c, r| {
        c.media.playback_dir.clone_from(&r.media.playback_dir)
    }),
    ("media.recordings_dir", |c, r| {
        c.media.recordings_dir.clone_from(&r.media.recordings_dir)
    }),
    ("media.pacer_realtime", |c, r| {
        c.media.pacer_realtime = r.media.pacer_realtime
    }),
    ("media.pacer_cpu", |c, r| {
        c.media.pacer_cpu = r.media.pacer_cpu
    }),
    ("agent_rpc.max_connections", |c, r| {
        c.agent_rpc.max_connections = r.agent_rpc.max_connections
    }),
    ("agent_rpc.handshake_timeout_sec", |c, r| {
        c.agent_rpc.handshake_timeout_sec = r.agent_rpc.handshake_timeout_sec
    }),
    (
        "rayo (anything but users and listen: domain, TLS, policy)",
        |c, r| {
            let mut rayo = r.rayo.clone();
            if let (Some(rayo), Some(new)) = (&mut rayo, &c.rayo) {
                rayo.users.clone_from(&new.users);
                rayo.listen = new.listen;
            }
            c.rayo = rayo;
        },
    ),
    ("http.secret", |c, r| {
        c.http.secret.clone_from(&r.http.secret)
    }),
    ("http.recording_url_ttl_sec", |c, r| {
        c.http.recording_url_ttl_sec = r.http.recording_url_ttl_sec
    }),
    ("http.public_url", |c, r| {
        c.http.public_url.clone_from(&r.http.public_url)
    }),
    (
        "sip (timers, transaction and connection limits, bans)",
        |c, r| {
            let user_agent = std::mem::take(&mut c.sip.user_agent);
            c.sip = r.sip.clone();
            c.sip.user_agent = user_agent;
        },
    ),
    ("log", |c, r| c.log = r.log.clone()),
    ("cdr", |c, r| c.cdr = r.cdr.clone()),
];

/// The keys changed between `old` and `new` that a reload does not apply,
/// for the "needs a restart" warnings. Listener addresses (SIP, Agent RPC,
/// Rayo, HTTP) and the API token are not here: the reload applies them.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<String> {
    let mut keys = Vec::new();
    let names = |c: &Config| {
        c.transports
            .values()
            .map(|t| (t.name.clone(), t.protocol))
            .collect::<Vec<_>>()
    };
    if names(old) != names(new) {
        keys.push("transports (adding, removing, renaming or reordering listeners)".into());
    }
    for (name, new_t) in &new.transports {
        if let Some(old_t) = old.transports.get(name) {
            if advertised(old_t) != advertised(new_t) {
                keys.push(format!(
                    "transports.{name} external address or rewrite_contact"
                ));
            }
        }
    }
    for (key, keep) in KEPT {
        let mut kept = new.clone();
        keep(&mut kept, old);
        if kept != *new {
            keys.push((*key).into());
        }
    }
    keys
}

/// What a transport advertises rather than binds: kept across reloads.
fn advertised(
    t: &crate::config::TransportConfig,
) -> (&Option<String>, Option<u16>, Option<std::net::IpAddr>, bool) {
    (
        &t.external_host,
        t.external_port,
        t.external_media_ip,
        t.rewrite_contact,
    )
}

/// The config the server runs with after a reload: `new`, except for what
/// only a restart changes, which stays as `running` has it (so calls and
/// the config they read agree with the sockets and pools actually in use).
/// `listeners_moved` says whether the SIP listeners now match `new`. The
/// HTTP listener's address stays too: the reload sets it once it moved.
pub fn effective(running: &Config, new: &Config, listeners_moved: bool) -> Config {
    let mut config = new.clone();
    if listeners_moved {
        // Only the listening address moves; what is advertised stays.
        for (name, transport) in config.transports.iter_mut() {
            if let Some(old) = running.transports.get(name) {
                transport.external_host.clone_from(&old.external_host);
                transport.external_port = old.external_port;
                transport.external_media_ip = old.external_media_ip;
                transport.rewrite_contact = old.rewrite_contact;
            }
        }
    } else {
        config.transports = running.transports.clone();
    }
    for (_, keep) in KEPT {
        keep(&mut config, running);
    }
    config.http.listen = running.http.listen;
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        match Config::from_yaml(yaml, "t.yaml") {
            Ok(config) => config,
            Err(errors) => panic!("{errors:?}"),
        }
    }

    const BASE: &str = "transports:\n  udp: { transport: udp, bind: 127.0.0.1, port: 5060 }\n\
                        endpoints:\n  bot: { match: { type: agent } }\n\
                        routes:\n  default:\n    - { id: \"100\", endpoint: bot }\n";

    #[test]
    fn routes_endpoints_tokens_and_ports_need_no_restart() {
        let old = config(BASE);
        let new = config(
            "transports:\n  udp: { transport: udp, bind: 127.0.0.1, port: 5070 }\n\
             endpoints:\n  bot: { match: { type: agent } }\n  bot2: { match: { type: agent } }\n\
             routes:\n  default:\n    - { id: \"100\", endpoint: bot }\n    - { id: \"200\", endpoint: bot2 }\n\
             agent_rpc: { token: t0k3n, invite_timeout_sec: 3 }\n\
             sip: { user_agent: Other }\n",
        );
        assert_eq!(needs_restart(&old, &new), Vec::<String>::new());
        let running = effective(&old, &new, true);
        assert_eq!(running.transports, new.transports);
        assert_eq!(running.routes, new.routes);
        assert_eq!(running.agent_rpc.token.as_deref(), Some("t0k3n"));
        assert_eq!(running.sip.user_agent, "Other");
    }

    #[test]
    fn media_http_secrets_and_sip_limits_wait_for_a_restart() {
        let old = config(BASE);
        let new = config(&format!(
            "{BASE}media: {{ rtp_ports: 30000-30099 }}\nagent_rpc: {{ listen: \"127.0.0.1:9999\" }}\n\
             http: {{ listen: \"127.0.0.1:9998\", api_token: abcdefghijklmnop, secret: qrstuvwxyz012345 }}\n\
             sip: {{ t1_ms: 100 }}\nlog: {{ level: debug }}\n"
        ));
        let keys = needs_restart(&old, &new);
        for key in [
            "media.rtp_ports",
            "http.secret",
            "sip (timers, transaction and connection limits, bans)",
            "log",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        for applied in ["http.listen", "http.api_token", "agent_rpc.listen"] {
            assert!(!keys.iter().any(|k| k == applied), "{applied} in {keys:?}");
        }
        let running = effective(&old, &new, true);
        assert_eq!(running.media, old.media);
        assert_eq!(running.http.secret, old.http.secret);
        // The listen address is set by the reload once the listener moved.
        assert_eq!(running.http.listen, old.http.listen);
        assert_eq!(running.http.api_token.as_deref(), Some("abcdefghijklmnop"));
        assert_eq!(running.sip, old.sip);
        // What is kept is exactly what is warned about: the running config
        // differs from the old one in nothing a restart would apply.
        assert_eq!(needs_restart(&old, &running), Vec::<String>::new());
    }

    #[test]
    fn advertised_addresses_stay_when_listeners_move() {
        let old = config(BASE);
        let new = config(&BASE.replace("port: 5060", "port: 5070, external_host: pbx.example.com"));
        assert!(needs_restart(&old, &new)
            .iter()
            .any(|k| k == "transports.udp external address or rewrite_contact"));
        let running = effective(&old, &new, true);
        assert_eq!(running.transports["udp"].port, 5070);
        assert_eq!(running.transports["udp"].external_host, None);
    }

    #[test]
    fn listeners_that_did_not_move_stay_in_the_running_config() {
        let old = config(BASE);
        let new = config(&BASE.replace("5060", "5070"));
        assert_eq!(effective(&old, &new, false).transports, old.transports);
    }
}
