//! Drives SIPp (package `sip-tester`) against the server.
//!
//! SIPp's defaults collide with ours (media port 6000 is the Agent RPC port,
//! signalling port 5060), so every run gets explicit `-p`, `-mp` and `-i`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::{free_port, free_ports};

/// A SIPp invocation being built.
pub struct Sipp {
    scenario: Scenario,
    target: SocketAddr,
    transport: &'static str,
    service: Option<String>,
    calls: u32,
    extra: Vec<String>,
    timeout: Duration,
    port: Option<u16>,
}

/// A SIPp process started with [`Sipp::spawn`], e.g. a UAS the server calls.
pub struct SippProcess {
    child: std::process::Child,
    limit: Duration,
    message_log: PathBuf,
    error_log: PathBuf,
    _dir: tempfile::TempDir,
}

impl SippProcess {
    /// Waits for SIPp to finish (killed at its timeout) and collects its logs.
    pub fn wait(self) -> SippRun {
        let (code, output) = wait_with_timeout(self.child, self.limit);
        SippRun {
            success: code == 0,
            code,
            output,
            messages: read(&self.message_log),
            errors: read(&self.error_log),
        }
    }
}

enum Scenario {
    BuiltIn(String),
    Xml(String),
}

/// What a finished SIPp run left behind.
pub struct SippRun {
    /// Exit status 0: every call succeeded.
    pub success: bool,
    /// SIPp's exit code (-1 when killed on timeout).
    pub code: i32,
    /// Standard output and error.
    pub output: String,
    /// The `-trace_msg` log: every message sent and received.
    pub messages: String,
    /// The `-trace_err` log: unexpected messages and failures.
    pub errors: String,
}

impl Sipp {
    /// A run of one of SIPp's built-in scenarios (`uac`, `uas`, …).
    pub fn built_in(name: &str, target: SocketAddr) -> Sipp {
        Sipp::new(Scenario::BuiltIn(name.to_string()), target)
    }

    /// A run of an XML scenario given as text.
    pub fn xml(xml: &str, target: SocketAddr) -> Sipp {
        Sipp::new(Scenario::Xml(xml.to_string()), target)
    }

    fn new(scenario: Scenario, target: SocketAddr) -> Sipp {
        Sipp {
            scenario,
            target,
            transport: "u1",
            service: None,
            calls: 1,
            extra: Vec::new(),
            timeout: Duration::from_secs(30),
            port: None,
        }
    }

    /// The local SIP port (`-p`); a free one when not set. A UAS the server
    /// calls needs it known in advance.
    pub fn port(mut self, port: u16) -> Sipp {
        self.port = Some(port);
        self
    }

    /// Gives up after `timeout` (`-timeout`, default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Sipp {
        self.timeout = timeout;
        self
    }

    /// Uses TCP with one connection for all calls (`-t t1`).
    pub fn tcp(mut self) -> Sipp {
        self.transport = "t1";
        self
    }

    /// The dialed number (`-s`).
    pub fn service(mut self, number: &str) -> Sipp {
        self.service = Some(number.to_string());
        self
    }

    /// How many calls to place (`-m`).
    pub fn calls(mut self, calls: u32) -> Sipp {
        self.calls = calls;
        self
    }

    /// Extra command-line arguments.
    pub fn arg(mut self, arg: &str) -> Sipp {
        self.extra.push(arg.to_string());
        self
    }

    /// Several extra command-line arguments.
    pub fn args(mut self, args: &[&str]) -> Sipp {
        self.extra.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Runs SIPp to completion (killed after the timeout).
    pub fn run(self) -> SippRun {
        self.spawn().wait()
    }

    /// Starts SIPp in the background; [`SippProcess::wait`] collects it.
    pub fn spawn(self) -> SippProcess {
        let dir = tempfile::tempdir().expect("create temp dir");
        let mut cmd = Command::new("sipp");
        cmd.current_dir(dir.path());
        match &self.scenario {
            Scenario::BuiltIn(name) => {
                cmd.arg("-sn").arg(name);
            }
            Scenario::Xml(xml) => {
                let path = dir.path().join("scenario.xml");
                fs::write(&path, xml).expect("write scenario");
                cmd.arg("-sf").arg(&path);
            }
        }
        let port = self.port.unwrap_or_else(free_port);
        let media_port = free_ports(4);
        let message_log = dir.path().join("messages.log");
        let error_log = dir.path().join("errors.log");
        cmd.arg(self.target.to_string())
            .args(["-i", "127.0.0.1", "-t", self.transport])
            .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args(["-m", &self.calls.to_string()])
            .args(["-timeout", &format!("{}s", self.timeout.as_secs())])
            .arg("-timeout_error")
            .args(["-trace_msg", "-message_file"])
            .arg(&message_log)
            .args(["-trace_err", "-error_file"])
            .arg(&error_log)
            .arg("-nostdin")
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(service) = &self.service {
            cmd.args(["-s", service]);
        }
        let child = cmd.spawn().expect("spawn sipp (is sip-tester installed?)");
        SippProcess {
            child,
            limit: self.timeout + Duration::from_secs(10),
            message_log,
            error_log,
            _dir: dir,
        }
    }
}

fn read(path: &PathBuf) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> (i32, String) {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let out = child.wait_with_output().map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                });
                return (status.code().unwrap_or(-1), out.unwrap_or_default());
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return (-1, "sipp killed after timeout".to_string());
            }
        }
    }
}

impl SippRun {
    /// How many messages of a kind SIPp received, e.g. `"SIP/2.0 486"` or `"ACK "`,
    /// counted from the start lines in its message trace.
    pub fn received(&self, start: &str) -> usize {
        self.count("message received [", start)
    }

    /// How many messages of a kind SIPp sent.
    pub fn sent(&self, start: &str) -> usize {
        self.count("message sent (", start)
    }

    fn count(&self, marker: &str, start: &str) -> usize {
        // Each trace entry is a line like "UDP message received [286] bytes :"
        // then the message; SIPp repeats unexpected ones under another marker.
        let mut count = 0;
        let mut lines = self.messages.lines().peekable();
        while let Some(line) = lines.next() {
            if line.contains(marker) {
                while let Some(next) = lines.peek() {
                    if next.trim().is_empty() {
                        lines.next();
                        continue;
                    }
                    if next.starts_with(start) {
                        count += 1;
                    }
                    break;
                }
            }
        }
        count
    }

    /// A failure report with everything SIPp said.
    pub fn report(&self) -> String {
        format!(
            "sipp exit {}\n--- output ---\n{}\n--- errors ---\n{}\n--- messages ---\n{}",
            self.code, self.output, self.errors, self.messages
        )
    }
}

/// Where SIPp scenario files of this repository live, for tests that use files.
pub fn scenario_dir(manifest_dir: &Path) -> PathBuf {
    manifest_dir.join("tests").join("scenarios")
}
