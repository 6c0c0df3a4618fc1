//! The `log` section of the real binary (issue 13, item 5): `log.format:
//! json` writes one JSON object per line, `log.level` filters (and
//! `RUST_LOG` is not set, so the file decides), and no secret — a Rayo
//! password, an Agent RPC token, the recording-URL key — reaches the log,
//! even at `trace` with logins that succeed and fail.

use std::path::Path;
use std::time::Duration;

use testkit::agent::Agent;
use testkit::xmpp::{client_options, XmppClient};
use testkit::{free_port, Server};

const WAIT: Duration = Duration::from_secs(10);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A config on free ports with `extra` sections appended.
fn config(sip: u16, extra: &str) -> String {
    format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {sip} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  agents: {{ match: {{ type: agent }} }}
routes:
  incoming:
    - {{ id: "", match: any, endpoint: agents }}
media:
  rtp_ports: 47600-47699
{extra}
"#
    )
}

#[test]
fn json_format_writes_one_object_per_line_at_the_configured_level() {
    let sip = free_port();
    let yaml = config(
        sip,
        "agent_rpc:\n  listen: 127.0.0.1:0\nlog:\n  format: json\n  level: debug\n",
    );
    let server = Server::start_with(binary(), &yaml, sip, |command| {
        command.env_remove("RUST_LOG");
    });
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log();
    let mut levels = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        let level = record["level"].as_str().unwrap_or_default().to_owned();
        assert!(record["fields"].is_object(), "{line}");
        levels.push(level);
    }
    assert!(levels.iter().any(|l| l == "INFO"), "{log}");
    assert!(levels.iter().any(|l| l == "DEBUG"), "debug records: {log}");
    assert!(!levels.iter().any(|l| l == "TRACE"), "{log}");
}

#[test]
fn text_format_at_warn_leaves_out_info() {
    let sip = free_port();
    let yaml = config(
        sip,
        "agent_rpc:\n  listen: 127.0.0.1:0\nlog:\n  level: warn\n",
    );
    let server = Server::start_with(binary(), &yaml, sip, |command| {
        command.env_remove("RUST_LOG");
    });
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log();
    assert!(!log.contains("INFO"), "{log}");
    assert!(!log.contains("DEBUG"), "{log}");
    assert!(!log.trim_start().starts_with('{'), "text, not JSON: {log}");
}

#[test]
fn no_secret_reaches_the_log_even_at_trace() {
    const PASSWORD: &str = "Pw-7f3c9e1d-rayo";
    const WRONG: &str = "Wrong-5e6f0a-rayo";
    const TOKEN: &str = "Tk-9d8c7b6a-agent";
    const KEY: &str = "Hs-0a1b2c3d4e5f-signing";
    let sip = free_port();
    let (agents, rayo, http) = (free_port(), free_port(), free_port());
    let yaml = config(
        sip,
        &format!(
            "agent_rpc:\n  listen: 127.0.0.1:{agents}\n  token: {TOKEN}\n\
             http:\n  listen: 127.0.0.1:{http}\n  secret: {KEY}\n\
             rayo:\n  domain: rayo.test\n  listen: 127.0.0.1:{rayo}\n  allow_plain_without_tls: true\n  \
             users:\n    - {{ username: usera, password: \"{PASSWORD}\" }}\n"
        ),
    );
    let server = Server::start_with(binary(), &yaml, sip, |command| {
        command.env("RUST_LOG", "trace");
    });
    let rayo_addr = ([127, 0, 0, 1], rayo).into();
    let good = XmppClient::connect(
        rayo_addr,
        &client_options("rayo.test", "usera", PASSWORD),
        WAIT,
    );
    assert!(good.is_ok(), "login: {:?}\n{}", good.err(), server.log());
    let bad = XmppClient::connect(
        rayo_addr,
        &client_options("rayo.test", "usera", WRONG),
        WAIT,
    );
    assert!(bad.is_err(), "a wrong password is refused");
    let agent_addr = ([127, 0, 0, 1], agents).into();
    let agent = Agent::connect_with(agent_addr, &format!("/?endpoint=agents&token={TOKEN}"), &[]);
    assert!(agent.is_ok(), "agent with its token\n{}", server.log());
    let refused = Agent::connect_with(agent_addr, "/?endpoint=agents&token=Tk-wrong-0001", &[]);
    assert!(refused.is_err(), "a wrong token is refused");
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log();
    assert!(log.contains("TRACE"), "verbose: {log}");
    // The log does tell of the logins (by user name) and of the agent.
    assert!(log.contains("usera"), "{log}");
    for secret in [PASSWORD, WRONG, TOKEN, "Tk-wrong-0001", KEY] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}
