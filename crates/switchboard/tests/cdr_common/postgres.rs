#![allow(dead_code)] // the SQLite test binary has no cluster
//! A throwaway PostgreSQL cluster for a test: `initdb` into a temp dir,
//! `pg_ctl start` on a free port (its Unix socket in the temp dir too),
//! stopped when dropped. As root, initdb refuses to run, so the cluster
//! belongs to the `postgres` user and its commands run through `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set to `required` by `scripts/test`: the PostgreSQL tests then fail
/// instead of skipping when PostgreSQL is not installed.
pub const REQUIRED_VAR: &str = "SWITCHBOARD_TEST_POSTGRES";

/// A running cluster.
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    /// `postgres://` URL of the `postgres` database, trust authentication.
    pub url: String,
    _dir: tempfile::TempDir,
}

/// The newest installed PostgreSQL's binaries (Debian's layout).
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// Starts a cluster; `None` (the test skips) only when PostgreSQL is
    /// not installed and `SWITCHBOARD_TEST_POSTGRES` is not set. Any other
    /// failure panics.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            if std::env::var_os(REQUIRED_VAR).is_some() {
                panic!("{REQUIRED_VAR} is set but PostgreSQL is not installed (apt-get install postgresql)");
            }
            eprintln!("PostgreSQL is not installed: skipping (scripts/test installs it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let mut cluster = Cluster {
            bin,
            data: data.clone(),
            as_postgres,
            url: String::new(),
            _dir: dir,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "switchboard",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let port = testkit::free_port();
        let socket_dir = data
            .parent()
            .unwrap_or(Path::new("/tmp"))
            .display()
            .to_string();
        let options =
            format!("-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off");
        let log = data
            .parent()
            .unwrap_or(Path::new("/tmp"))
            .join("postgres.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        );
        cluster.url = format!("postgres://switchboard@127.0.0.1:{port}/postgres");
        Some(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
