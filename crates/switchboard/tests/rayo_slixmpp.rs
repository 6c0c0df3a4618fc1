//! Rayo driven by an independent XMPP implementation: slixmpp (PyPI), in
//! the virtual environment `scripts/test` makes (`target/rayo-venv`), runs
//! `tests/rayo/slixmpp_app.py`, which logs in over STARTTLS with SCRAM,
//! becomes available, answers the call it is offered and hangs it up. The
//! test kit's SIP UA is the caller; the test checks the SIP side and what
//! the script printed.
//!
//! Without the virtual environment (plain `cargo test`, not
//! `scripts/test`), the test says so and passes: that is the only case in
//! which it does not run.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use testkit::xmpp::{listen_addr_from_log, test_certificate};
use testkit::{free_port, Codec, RtpPeer, RtpPeerConfig, Server, SipUa, Source};

const WAIT: Duration = Duration::from_secs(10);
const DOMAIN: &str = "rayo.test";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// The virtual environment's Python, if `scripts/test` made it.
fn venv_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = option_env!("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let python = target.join("rayo-venv/bin/python");
    python.exists().then_some(python)
}

/// Kills the script if the test fails first.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, SocketAddr) {
    let port = free_port();
    let (cert, key) = test_certificate();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  app: {{ match: {{ type: rayo }} }}
routes:
  incoming:
    - {{ id: "", match: any, endpoint: app }}
media:
  rtp_ports: 49000-49099
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
rayo:
  domain: {DOMAIN}
  listen: 127.0.0.1:0
  tls: {{ cert: "{cert}", key: "{key}" }}
  users:
    - {{ username: usera, password: "1" }}
"#,
        cert = cert.display(),
        key = key.display()
    );
    let server = Server::start(binary(), &yaml, port);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(addr) = listen_addr_from_log(&server.log()) {
            return (server, addr);
        }
        assert!(
            Instant::now() < deadline,
            "no Rayo listener:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a line starting with `prefix`; every line read so far is
/// kept in `seen`.
fn wait_line(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    prefix: &str,
    server: &Server,
) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.starts_with(prefix) {
                    return line;
                }
            }
            Err(_) => panic!("no '{prefix}' from the script: {seen:#?}\n{}", server.log()),
        }
    }
}

#[test]
fn a_slixmpp_application_answers_and_hangs_up_a_call() {
    let Some(python) = venv_python() else {
        eprintln!(
            "rayo_slixmpp: no target/rayo-venv (scripts/test creates it with slixmpp); skipped"
        );
        return;
    };
    let (server, xmpp) = start_server();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rayo/slixmpp_app.py");
    let mut child = Command::new(python)
        .arg(script)
        .args([
            &xmpp.ip().to_string(),
            &xmpp.port().to_string(),
            &format!("usera@{DOMAIN}/slix"),
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the script starts");
    let stdout = child.stdout.take().expect("piped");
    let mut script = Script(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let login = wait_line(&lines, &mut seen, "LOGGED-IN", &server);
    assert!(login.contains("usera@rayo.test/slix"), "{login}");
    wait_line(&lines, &mut seen, "READY", &server);

    let rtp = RtpPeer::start(RtpPeerConfig {
        codec: Codec::Pcmu,
        source: Source::Silence,
        ..RtpPeerConfig::default()
    })
    .expect("RTP peer");
    let ua = SipUa::bind();
    let mut call = ua.call(server.addr(), "1000", rtp.local_addr());
    let offer = wait_line(&lines, &mut seen, "OFFER", &server);
    assert!(offer.contains(&format!("@{DOMAIN} sip:1000@")), "{offer}");
    assert!(!offer.ends_with("call-id=None"), "{offer}");
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    assert_eq!(
        wait_line(&lines, &mut seen, "RESULT answer", &server),
        "RESULT answer result"
    );
    assert!(
        call.wait_bye(WAIT).is_some(),
        "the hangup's BYE\n{}",
        server.log()
    );
    assert_eq!(
        wait_line(&lines, &mut seen, "RESULT hangup", &server),
        "RESULT hangup result"
    );
    assert_eq!(
        wait_line(&lines, &mut seen, "END", &server),
        "END hangup-command unavailable"
    );
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = script.0.try_wait().expect("waitable") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the script does not exit: {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{seen:#?}");
}
