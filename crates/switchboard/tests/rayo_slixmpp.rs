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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use testkit::rayo_harness::{Caller, RayoBench, RayoConfig, DOMAIN};
use testkit::xmpp::test_certificate;
use testkit::Server;

const WAIT: Duration = Duration::from_secs(10);

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

/// STARTTLS with the test pair (so PLAIN only after TLS), its own RTP ports.
fn start_server() -> RayoBench {
    let (cert, key) = test_certificate();
    let config = RayoConfig::new()
        .rtp_ports("49000-49099")
        .tls(&cert, &key)
        .wait(WAIT);
    RayoBench::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &config)
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
    let bench = start_server();
    let (server, xmpp) = (&bench.server, bench.xmpp);
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
    let login = wait_line(&lines, &mut seen, "LOGGED-IN", server);
    assert!(login.contains("usera@rayo.test/slix"), "{login}");
    wait_line(&lines, &mut seen, "READY", server);

    let caller = Caller::new();
    let mut call = caller.call(bench.sip(), "1000");
    let offer = wait_line(&lines, &mut seen, "OFFER", server);
    assert!(offer.contains(&format!("@{DOMAIN} sip:1000@")), "{offer}");
    assert!(!offer.ends_with("call-id=None"), "{offer}");
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    assert_eq!(
        wait_line(&lines, &mut seen, "RESULT answer", server),
        "RESULT answer result"
    );
    assert!(
        call.wait_bye(WAIT).is_some(),
        "the hangup's BYE\n{}",
        server.log()
    );
    assert_eq!(
        wait_line(&lines, &mut seen, "RESULT hangup", server),
        "RESULT hangup result"
    );
    assert_eq!(
        wait_line(&lines, &mut seen, "END", server),
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
