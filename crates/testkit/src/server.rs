//! Runs the `switchboard` binary on a test's own config and ports.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::udp::{options_request, RawUdp};

/// A running server process; killed when dropped.
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    /// The SIP port (UDP and TCP) the server listens on.
    pub sip_port: u16,
}

impl Server {
    /// Writes `config` (YAML) to a temp dir and starts `binary --config` on it,
    /// then waits until the server answers OPTIONS on `127.0.0.1:sip_port/udp`.
    /// A config without a top-level `http:` section gets its HTTP listener on
    /// an ephemeral port ([`Server::http_addr`]), not the default 8080 every
    /// test would share.
    pub fn start(binary: &Path, config: &str, sip_port: u16) -> Server {
        Server::start_with(binary, config, sip_port, |_| {})
    }

    /// [`Server::start`] with the command changed by `adjust` before it is
    /// spawned (its environment: a test of `log.level` removes `RUST_LOG`).
    pub fn start_with(
        binary: &Path,
        config: &str,
        sip_port: u16,
        adjust: impl FnOnce(&mut Command),
    ) -> Server {
        let dir = tempfile::tempdir().expect("create temp dir");
        let config_path = dir.path().join("switchboard.yaml");
        fs::write(&config_path, config).expect("write config");
        let log = fs::File::create(dir.path().join("server.log")).expect("create log");
        let mut command = Command::new(binary);
        if !config.lines().any(|line| line.starts_with("http:")) {
            command.env("SWITCHBOARD_HTTP_LISTEN", "127.0.0.1:0");
        }
        command
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .stdin(Stdio::null());
        adjust(&mut command);
        let child = command.spawn().expect("spawn switchboard");
        let mut server = Server {
            child,
            dir,
            sip_port,
        };
        server.wait_ready();
        server
    }

    /// The server's SIP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    /// The server's directory: its config file lives here, so relative
    /// `media.playback_dir` (`sounds`) and `recordings_dir` are below it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config file the server was started on (a test rewrites it
    /// before [`Server::reload`]).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("switchboard.yaml")
    }

    /// Sends SIGHUP and waits up to 10 s until the log shows the reload's
    /// outcome (`config reloaded` or `config not reloaded`) once more than
    /// before; whether one came.
    pub fn reload(&self) -> bool {
        let outcomes = |log: &str| {
            log.matches("config reloaded").count() + log.matches("config not reloaded").count()
        };
        let before = outcomes(&self.log());
        let sent = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while sent && Instant::now() < deadline {
            if outcomes(&self.log()) > before {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Where the server's log goes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The address the HTTP listener bound, from its start-up log line.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.log()
            .lines()
            .filter(|line| line.contains("HTTP listening"))
            .find_map(|line| {
                let (_, rest) = line.split_once("address=")?;
                rest.split_whitespace().next()?.parse().ok()
            })
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM, as an init system does to stop the server.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits up to `timeout` for the process to exit; its exit code, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends OPTIONS and returns the status of the answer, if any within 2 s.
    pub fn options_status(&self, call_id: &str) -> Option<u16> {
        self.options_status_within(call_id, Duration::from_secs(2))
    }

    /// Sends OPTIONS and returns the status of the answer, if any within `timeout`.
    pub fn options_status_within(&self, call_id: &str, timeout: Duration) -> Option<u16> {
        let udp = RawUdp::bind();
        udp.send(
            &options_request(udp.local_addr(), self.addr(), call_id),
            self.addr(),
        );
        udp.recv_response(call_id, timeout).map(|r| r.status)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut attempt = 0;
        while Instant::now() < deadline {
            if !self.is_running() {
                panic!("switchboard exited at start:\n{}", self.log());
            }
            attempt += 1;
            let call_id = format!("ready-{attempt}");
            if self
                .options_status_within(&call_id, Duration::from_millis(200))
                .is_some()
            {
                return;
            }
        }
        panic!(
            "switchboard did not answer OPTIONS within 15 s:\n{}",
            self.log()
        );
    }
}

/// Waits up to `timeout` until a TCP connect to `addr` is refused; whether
/// it came to that. A listener a reload moved logs the move at once but
/// closes its old socket a moment later, on a task of its own, so a test
/// that checks the old port polls instead of connecting once.
pub fn wait_refused(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let refused = TcpStream::connect(addr)
            .is_err_and(|error| error.kind() == std::io::ErrorKind::ConnectionRefused);
        if refused {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- switchboard log ---\n{}", self.log());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_refused_waits_out_a_listener_and_sees_it_gone() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        assert!(!wait_refused(addr, Duration::from_millis(50)));
        drop(listener);
        assert!(wait_refused(addr, Duration::ZERO));
    }
}
