//! Command line: `switchboard [--config FILE]` runs the server,
//! `switchboard check-config [FILE]` validates a config and exits,
//! `switchboard reload [--config FILE]` has the running server reload it,
//! `switchboard cdr` prints call detail records.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::config;

/// Config file used when none is given.
pub const DEFAULT_CONFIG: &str = "switchboard.yaml";

/// Switchboard, a programmable SIP telephony server.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// Config file to run with (also accepted after a subcommand:
    /// `switchboard cdr --config FILE`).
    #[arg(short, long, value_name = "FILE", default_value = DEFAULT_CONFIG, global = true)]
    pub config: PathBuf,
    /// What to do instead of running the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Validate a config file (with environment overrides applied) and exit:
    /// prints `FILE: OK` and exits 0, or prints every error and exits 1.
    CheckConfig {
        /// The file to check; defaults to `--config`.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Check a config file, then ask the server running it to reload it
    /// (`POST /api/v1/reload` at its `http.listen`, with `http.api_token`).
    /// Exits 0 once the server reloaded. SIGHUP reloads without a token.
    Reload,
    /// Print call detail records from the store `--config` names (SQLite
    /// file or PostgreSQL), oldest first.
    Cdr(crate::cdr::query::CdrArgs),
}

impl Cli {
    /// The config file `check-config` should check, or the one to run with.
    pub fn config_path(&self) -> &Path {
        match &self.command {
            Some(Command::CheckConfig { file: Some(file) }) => file,
            _ => &self.config,
        }
    }
}

/// Runs `future` on a single-threaded runtime, for the subcommands that
/// make one request (`reload`, `cdr`); `Err(1)`, said on `err`, when no
/// runtime can be started.
pub fn block_on<F: std::future::Future>(future: F, err: &mut impl Write) -> Result<F::Output, u8> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(error) => {
            let _ = writeln!(err, "cannot start the async runtime: {error}");
            Err(1)
        }
    }
}

/// Runs `check-config` on `path` with the process environment, writing the
/// verdict to `out` and errors to `err`, one per line. Returns the exit status.
pub fn run_check_config(path: &Path, out: &mut impl Write, err: &mut impl Write) -> u8 {
    report_check(path, config::check_config(path), out, err)
}

/// Writes the outcome of a config check and returns the exit status:
/// 0 for a valid config, 1 otherwise.
pub fn report_check(
    path: &Path,
    result: Result<config::Config, Vec<config::ConfigError>>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    // A closed stdout or stderr leaves nothing to report to; the status still tells.
    match result {
        Ok(_) => {
            let _ = writeln!(out, "{}: OK", path.display());
            0
        }
        Err(errors) => {
            for e in &errors {
                let _ = writeln!(err, "{e}");
            }
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        match Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn defaults_to_running_with_switchboard_yaml() {
        let cli = parse(&["switchboard"]);
        assert_eq!(cli.config, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(cli.command, None);
    }

    #[test]
    fn config_flag() {
        let cli = parse(&["switchboard", "--config", "/etc/sb.yaml"]);
        assert_eq!(cli.config_path(), Path::new("/etc/sb.yaml"));
        let cli = parse(&["switchboard", "-c", "x.yaml"]);
        assert_eq!(cli.config_path(), Path::new("x.yaml"));
    }

    #[test]
    fn check_config_with_and_without_file() {
        let cli = parse(&["switchboard", "check-config", "a.yaml"]);
        assert_eq!(
            cli.command,
            Some(Command::CheckConfig {
                file: Some("a.yaml".into())
            })
        );
        assert_eq!(cli.config_path(), Path::new("a.yaml"));
        let cli = parse(&["switchboard", "--config", "b.yaml", "check-config"]);
        assert_eq!(cli.config_path(), Path::new("b.yaml"));
    }

    #[test]
    fn reload_with_and_without_config() {
        let cli = parse(&["switchboard", "reload", "--config", "a.yaml"]);
        assert_eq!(cli.config_path(), Path::new("a.yaml"));
        let cli = parse(&["switchboard", "-c", "b.yaml", "reload"]);
        assert_eq!(cli.command, Some(Command::Reload));
        assert_eq!(cli.config_path(), Path::new("b.yaml"));
    }

    #[test]
    fn config_after_any_subcommand() {
        let cli = parse(&[
            "switchboard",
            "cdr",
            "--config",
            "c.yaml",
            "--format",
            "csv",
        ]);
        assert_eq!(cli.config_path(), Path::new("c.yaml"));
    }

    #[test]
    fn unknown_flag_is_an_error() {
        assert!(Cli::try_parse_from(["switchboard", "--confg", "x"]).is_err());
    }

    #[test]
    fn report_ok_and_errors() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let ok = config::Config::from_yaml("", "s.yaml");
        assert_eq!(report_check(Path::new("s.yaml"), ok, &mut out, &mut err), 0);
        assert_eq!(String::from_utf8_lossy(&out), "s.yaml: OK\n");
        assert!(err.is_empty());

        let (mut out, mut err) = (Vec::new(), Vec::new());
        let bad = config::Config::from_yaml(
            "routes:\n  default:\n    - { id: \"1\" }\n    - { id: \"2\", hangup: { code: 99 } }\n",
            "s.yaml",
        );
        assert_eq!(
            report_check(Path::new("s.yaml"), bad, &mut out, &mut err),
            1
        );
        assert!(out.is_empty());
        let text = String::from_utf8_lossy(&err);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("s.yaml:3:7: routes.default[0]: "),
            "{text}"
        );
        assert!(
            lines[1].starts_with("s.yaml:4:34: routes.default[1].hangup.code: "),
            "{text}"
        );
    }

    #[test]
    fn missing_file_is_reported() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let path = Path::new("/nonexistent/switchboard.yaml");
        assert_eq!(run_check_config(path, &mut out, &mut err), 1);
        let text = String::from_utf8_lossy(&err);
        assert!(
            text.starts_with("/nonexistent/switchboard.yaml: cannot read config"),
            "{text}"
        );
    }
}
