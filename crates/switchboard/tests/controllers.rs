//! Controller endpoints end to end, whatever the protocol: a caller routed
//! to one that nobody controls hears the endpoint's `no_controller_code`
//! (480 by default), for agent endpoints with no agent connected and for
//! Rayo endpoints, which have no pool until the Rayo adapter registers one.

use std::path::Path;
use std::time::Duration;

use testkit::{free_port, Server, SipUa};

const WAIT: Duration = Duration::from_secs(5);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// Callers dial `1` for the Rayo endpoint `app`, `2` for the agent endpoint
/// `bot` (which says 503), `3` for the Rayo endpoint `quiet` (603).
fn server() -> Server {
    let port = free_port();
    let agent_port = free_port();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  app: {{ match: {{ type: rayo }} }}
  bot: {{ match: {{ type: agent }}, no_controller_code: 503 }}
  quiet: {{ match: {{ type: rayo }}, no_controller_code: 603 }}
routes:
  incoming:
    - {{ id: "1", match: exact, endpoint: app }}
    - {{ id: "2", match: exact, endpoint: bot }}
    - {{ id: "3", match: exact, endpoint: quiet }}
media:
  rtp_ports: 47000-47099
agent_rpc:
  listen: 127.0.0.1:{agent_port}
http:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
"#
    );
    Server::start(binary(), &yaml, port)
}

#[test]
fn nobody_in_control_is_the_endpoints_no_controller_code() {
    let server = server();
    let ua = SipUa::bind();
    for (number, code) in [("1", 480), ("2", 503), ("3", 603)] {
        let mut call = ua.call(server.addr(), number, "127.0.0.1:9".parse().expect("addr"));
        assert_eq!(
            call.wait_final(WAIT),
            Some(code),
            "{number}: {}",
            server.log()
        );
    }
}
