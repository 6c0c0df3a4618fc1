//! Which changes a reload applies and which wait for a restart: a pure
//! comparison of the running config with the one just read.

use crate::config::Config;

/// The keys changed between `old` and `new` that a reload does not apply,
/// for the "needs a restart" warnings. Listener addresses (SIP, Agent RPC,
/// Rayo, HTTP) and the API token are not here: the reload applies them.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<String> {
    let mut keys = Vec::new();
    let mut changed = |differs: bool, key: String| {
        if differs {
            keys.push(key);
        }
    };
    let names = |c: &Config| {
        c.transports
            .values()
            .map(|t| (t.name.clone(), t.protocol))
            .collect::<Vec<_>>()
    };
    changed(
        names(old) != names(new),
        "transports (adding, removing, renaming or reordering listeners)".into(),
    );
    for (name, new_t) in &new.transports {
        if let Some(old_t) = old.transports.get(name) {
            changed(
                (
                    &old_t.external_host,
                    old_t.external_port,
                    old_t.external_media_ip,
                    old_t.rewrite_contact,
                ) != (
                    &new_t.external_host,
                    new_t.external_port,
                    new_t.external_media_ip,
                    new_t.rewrite_contact,
                ),
                format!("transports.{name} external address or rewrite_contact"),
            );
        }
    }
    let (om, nm) = (&old.media, &new.media);
    changed(om.rtp_ports != nm.rtp_ports, "media.rtp_ports".into());
    changed(
        om.playback_dir != nm.playback_dir,
        "media.playback_dir".into(),
    );
    changed(
        om.recordings_dir != nm.recordings_dir,
        "media.recordings_dir".into(),
    );
    changed(
        om.pacer_realtime != nm.pacer_realtime,
        "media.pacer_realtime".into(),
    );
    changed(om.pacer_cpu != nm.pacer_cpu, "media.pacer_cpu".into());
    let (oa, na) = (&old.agent_rpc, &new.agent_rpc);
    changed(
        oa.max_connections != na.max_connections,
        "agent_rpc.max_connections".into(),
    );
    changed(
        oa.handshake_timeout_sec != na.handshake_timeout_sec,
        "agent_rpc.handshake_timeout_sec".into(),
    );
    let mut old_rayo = old.rayo.clone();
    if let (Some(old_rayo), Some(new_rayo)) = (&mut old_rayo, &new.rayo) {
        old_rayo.users.clone_from(&new_rayo.users);
        old_rayo.listen = new_rayo.listen;
    }
    changed(
        old_rayo != new.rayo,
        "rayo (anything but users and listen: domain, TLS, policy)".into(),
    );
    let (oh, nh) = (&old.http, &new.http);
    changed(oh.secret != nh.secret, "http.secret".into());
    changed(
        oh.recording_url_ttl_sec != nh.recording_url_ttl_sec,
        "http.recording_url_ttl_sec".into(),
    );
    changed(oh.public_url != nh.public_url, "http.public_url".into());
    let mut old_sip = old.sip.clone();
    old_sip.user_agent.clone_from(&new.sip.user_agent);
    changed(
        old_sip != new.sip,
        "sip (timers, transaction and connection limits, bans)".into(),
    );
    changed(old.log != new.log, "log".into());
    changed(old.cdr != new.cdr, "cdr".into());
    keys
}

/// The config the server runs with after a reload: `new`, except for what
/// only a restart changes, which stays as `running` has it (so calls and
/// the config they read agree with the sockets and pools actually in use).
/// `listeners_moved` says whether the SIP listeners now match `new`.
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
    config.media.rtp_ports = running.media.rtp_ports;
    config.media.playback_dir = running.media.playback_dir.clone();
    config.media.recordings_dir = running.media.recordings_dir.clone();
    config.media.pacer_realtime = running.media.pacer_realtime;
    config.media.pacer_cpu = running.media.pacer_cpu;
    config.agent_rpc.max_connections = running.agent_rpc.max_connections;
    config.agent_rpc.handshake_timeout_sec = running.agent_rpc.handshake_timeout_sec;
    config.rayo = running.rayo.clone();
    if let (Some(rayo), Some(new_rayo)) = (&mut config.rayo, &new.rayo) {
        rayo.users.clone_from(&new_rayo.users);
        rayo.listen = new_rayo.listen;
    }
    // The HTTP listener's address is the reload's to set once it moved.
    config.http = running.http.clone();
    config.http.api_token.clone_from(&new.http.api_token);
    config.sip = running.sip.clone();
    config.sip.user_agent = new.sip.user_agent.clone();
    config.log = running.log.clone();
    config.cdr = running.cdr.clone();
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
