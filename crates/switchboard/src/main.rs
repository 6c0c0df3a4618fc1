//! `switchboard --config FILE` runs the server (SIGHUP reloads FILE);
//! `switchboard reload` asks it to over HTTP; `switchboard check-config FILE`
//! validates a config. Everything else lives in the library.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{self, Cli, Command};
use switchboard::config;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CheckConfig { .. }) = &cli.command {
        let code = cli::run_check_config(cli.config_path(), &mut io::stdout(), &mut io::stderr());
        return ExitCode::from(code);
    }
    if let Some(Command::Reload) = &cli.command {
        let code = switchboard::reload::client::run(
            cli.config_path(),
            &mut io::stdout(),
            &mut io::stderr(),
        );
        return ExitCode::from(code);
    }
    let config = match config::check_config(&cli.config) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            return ExitCode::from(1);
        }
    };
    if let Some(Command::Cdr(args)) = &cli.command {
        let code =
            switchboard::cdr::query::run(&config, args, &mut io::stdout(), &mut io::stderr());
        return ExitCode::from(code);
    }
    init_logging(&config.log);
    // Before anything opens a socket: raise the descriptor limit and keep
    // media's share of it out of reach of signalling connections.
    switchboard::fd_limit::configure(&config);
    if let Err(error) = switchboard::transport::storm::watch(release_free_memory) {
        tracing::warn!(%error, "cannot watch for connection storms: memory is not trimmed");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(switchboard::server::run_from(
        config,
        Some(cli.config.clone()),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("switchboard: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Asks glibc's malloc to return the free memory it keeps in its arenas to
/// the system (see `switchboard::transport::storm` for why); whether it did.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() -> bool {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: malloc_trim(3) takes no pointer and only releases memory the
    // allocator holds free; it is thread-safe (it locks each arena).
    unsafe { malloc_trim(0) != 0 }
}

/// Other allocators give memory back by themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() -> bool {
    false
}

/// Logs go to stderr, in `log.format` (`SWITCHBOARD_LOG_FORMAT=json|text`
/// overrides it) and filtered by `log.level` (`RUST_LOG` overrides it).
fn init_logging(log: &config::LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::builder().parse(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match std::env::var("SWITCHBOARD_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => log.format == config::LogFormat::Json,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    if json {
        builder.json().init();
    } else {
        let colour = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        builder.with_ansi(colour).init();
    }
}
