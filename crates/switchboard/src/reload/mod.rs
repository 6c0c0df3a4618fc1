//! Reloading the config file while calls go on: on SIGHUP, on
//! `POST /api/v1/reload`, and so from `switchboard reload`.
//!
//! The file the server started with is read and validated again; an invalid
//! one changes nothing (each line-numbered error is logged). A valid one is
//! applied for what comes next: new calls are admitted, routed and offered
//! under it (endpoints, routes, digest users, agent endpoints and token,
//! Rayo users and endpoints, TTS voices, the API token), and the SIP,
//! Agent RPC, Rayo and HTTP listeners whose address changed in the file are
//! bound anew (recording URLs then name the new HTTP address). A call in
//! progress keeps the [`CallContext`] it started with (its own `Arc`), so
//! its routing does not change under it.
//! What only a restart changes is logged at warn ([`restart`]).
//!
//! The swap itself is one [`Swap`] sent to the SIP driver, which owns the
//! admission policy, the transports and the context it gives new calls.

pub mod client;
mod restart;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::admission::Admission;
use crate::agent_rpc::AgentHub;
use crate::calls::CallContext;
use crate::config::{self, Config, TransportProtocol};
use crate::control::{ControllerKind, ControllerPool};
use crate::rayo::service::RayoPools;
use crate::server::locked;
use crate::transport::generations::{Bound, Generations};
use crate::transport::{RebindError, Transports};

pub use restart::{effective, needs_restart};

/// What the SIP driver takes in on a reload; see [`Swap::apply`].
pub struct Swap {
    config: Arc<Config>,
    context: Arc<CallContext>,
    transports: Option<Transports>,
    applied: oneshot::Sender<()>,
}

impl Swap {
    /// Puts the new config in force for every request from now on: the
    /// admission policy's routes and users, the context new calls get and,
    /// when listeners moved, the transports and the Via of the requests
    /// the stack sends.
    pub fn apply(
        self,
        admission: &mut Admission,
        context: &mut Arc<CallContext>,
        transports: &mut Transports,
        stack: &mut sip_stack::SipStack,
    ) {
        admission.reconfigure(&self.config);
        *context = self.context;
        if let Some(moved) = self.transports {
            *transports = moved;
            let moved = crate::server::stack_config(&self.config);
            stack.set_via(moved.via_host, moved.via_port);
        }
        let _ = self.applied.send(());
    }
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The server was started without a file to read again.
    #[error("the server was not started from a config file")]
    NoFile,
    /// The file is invalid; the old config stays.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<config::ConfigError>),
    /// The server is stopping.
    #[error("the server is shutting down")]
    Stopping,
    /// The calls' context could not be rebuilt.
    #[error("{0}")]
    Context(String),
}

/// What a reload applied and what it left for a restart.
#[derive(Debug, Clone, Default)]
pub struct Reloaded {
    /// Changed keys that only a restart applies.
    pub needs_restart: Vec<String>,
    /// Listeners that could not move (their errors); they stay where they were.
    pub not_moved: Option<String>,
}

impl std::fmt::Display for Reloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "reloaded")?;
        if let Some(error) = &self.not_moved {
            writeln!(f, "not applied: {error}")?;
        }
        for key in &self.needs_restart {
            writeln!(f, "changing {key} needs a restart")?;
        }
        Ok(())
    }
}

/// What the server hands the reloader: the running pieces a new config
/// touches, and the driver's reload queue.
pub struct Running {
    /// The file the server was started from (`None`: nothing to reload).
    pub path: Option<PathBuf>,
    /// The config as read from that file.
    pub loaded: Config,
    /// The context new calls get now.
    pub context: Arc<CallContext>,
    /// The Agent RPC hub (agent endpoints, token).
    pub agents: AgentHub,
    /// The Rayo endpoints' pools, when Rayo is on.
    pub rayo: Option<RayoPools>,
    /// The SIP transports, to move listeners.
    pub transports: Transports,
    /// The Agent RPC listener, to move it.
    pub agent_listening: Arc<std::sync::Mutex<crate::agent_rpc::AgentListening>>,
    /// The Rayo listener, to move it, when Rayo is on.
    pub rayo_listening: Option<Arc<std::sync::Mutex<crate::rayo::RayoListening>>>,
    /// The HTTP listener, to move it, once it serves.
    pub http_listening: Arc<std::sync::Mutex<Option<crate::http::HttpListening>>>,
    /// The operator API's token, to change it.
    pub api_token: crate::http::api::ApiToken,
}

/// Re-reads and applies the config file; cheap to clone, one reload at a time.
#[derive(Clone)]
pub struct Reloader {
    state: Arc<Mutex<State>>,
}

struct State {
    running: Running,
    driver: mpsc::Sender<Swap>,
}

impl Reloader {
    /// A reloader for `running`, and the queue the driver takes swaps from.
    pub fn new(running: Running) -> (Reloader, mpsc::Receiver<Swap>) {
        let (driver, swaps) = mpsc::channel(1);
        let state = State { running, driver };
        (
            Reloader {
                state: Arc::new(Mutex::new(state)),
            },
            swaps,
        )
    }

    /// Reads the file again and applies it; on error nothing changed. Each
    /// outcome is logged (errors at error level, restart keys at warn).
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let mut state = self.state.lock().await;
        let result = state.reload().await;
        match &result {
            Ok(reloaded) => {
                if let Some(error) = &reloaded.not_moved {
                    tracing::error!("reload: {error}; those listeners stay where they were");
                }
                for key in &reloaded.needs_restart {
                    tracing::warn!("reload: changing {key} needs a restart; the old value stays");
                }
                tracing::info!("config reloaded");
            }
            Err(ReloadError::Invalid(errors)) => {
                for error in errors {
                    tracing::error!("{error}");
                }
                tracing::error!("config not reloaded: the file is invalid, the old config stays");
            }
            Err(error) => tracing::error!("config not reloaded: {error}"),
        }
        result
    }

    /// `POST /reload` for the operator API: 200 with what was applied, 422
    /// with the errors of an invalid file, 503 otherwise.
    pub fn routes(&self) -> axum::Router {
        let reloader = self.clone();
        axum::Router::new().route(
            "/reload",
            axum::routing::post(move || {
                let reloader = reloader.clone();
                async move {
                    match reloader.reload().await {
                        Ok(reloaded) => (StatusCode::OK, reloaded.to_string()).into_response(),
                        Err(error @ ReloadError::Invalid(_)) => {
                            (StatusCode::UNPROCESSABLE_ENTITY, format!("{error}\n")).into_response()
                        }
                        Err(error) => {
                            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
                        }
                    }
                }
            }),
        )
    }
}

impl State {
    async fn reload(&mut self) -> Result<Reloaded, ReloadError> {
        let path = self.running.path.clone().ok_or(ReloadError::NoFile)?;
        let new = tokio::task::spawn_blocking(move || config::check_config(path))
            .await
            .map_err(|e| ReloadError::Context(format!("reading the config: {e}")))?
            .map_err(ReloadError::Invalid)?;
        let mut reloaded = Reloaded {
            needs_restart: needs_restart(&self.running.loaded, &new),
            not_moved: None,
        };
        // What the file said last time: a listener moves when its key
        // changed there (the bound address differs from the file's for
        // port 0). A move that fails keeps the old key, so the next reload
        // tries again.
        let before = &self.running.loaded;
        let mut loaded = new.clone();
        let mut failures = Vec::new();
        // Before the context is built, which names the HTTP address in
        // recording URLs.
        let mut http_at = None;
        if new.http.listen != before.http.listen {
            match locked(&self.running.http_listening).as_mut() {
                Some(listening) => {
                    http_at =
                        move_listener("http.listen", listening, new.http.listen, &mut failures)
                }
                None => failures.push("http.listen: the HTTP listener is not serving yet".into()),
            }
            if http_at.is_none() {
                loaded.http.listen = before.http.listen;
            }
        }
        let moved = self
            .running
            .transports
            .rebind(
                &new.listeners(TransportProtocol::Udp),
                &new.listeners(TransportProtocol::Tcp),
            )
            .await;
        let (transports, listeners_moved) = match moved {
            Ok(transports) => (transports, true),
            // Already in the restart list.
            Err(RebindError::NeedsRestart) => (None, false),
            Err(error) => {
                failures.push(error.to_string());
                (None, false)
            }
        };
        let mut config = effective(&self.running.context.config, &new, listeners_moved);
        if let Some(at) = http_at {
            config.http.listen = at;
        }
        let context = Arc::new(self.context(&config));
        self.running.agents.reconfigure(&config);
        let rayo = self.running.rayo.as_ref().map(|r| r.reconfigured(&config));
        if let (Some(pools), Some(rayo_config)) = (&rayo, &config.rayo) {
            pools.set_users(rayo_config);
            pools.attach(context.clone());
        }
        let agents_to =
            (new.agent_rpc.listen != before.agent_rpc.listen).then_some(config.agent_rpc.listen);
        let rayo_listen = |config: &Config| config.rayo.as_ref().map(|rayo| rayo.listen);
        let rayo_to = rayo_listen(&config).filter(|_| rayo_listen(&new) != rayo_listen(before));
        let api_token = config.http.api_token.clone();
        let (applied, done) = oneshot::channel();
        let swap = Swap {
            config: Arc::new(config),
            context: context.clone(),
            transports: transports.clone(),
            applied,
        };
        self.driver
            .send(swap)
            .await
            .map_err(|_| ReloadError::Stopping)?;
        done.await.map_err(|_| ReloadError::Stopping)?;
        self.running.api_token.set(api_token.as_deref());
        if let Some(to) = agents_to {
            let listening = &mut locked(&self.running.agent_listening);
            if move_listener("agent_rpc.listen", listening, to, &mut failures).is_none() {
                loaded.agent_rpc.listen = before.agent_rpc.listen;
            }
        }
        if let (Some(listening), Some(to)) = (&self.running.rayo_listening, rayo_to) {
            if move_listener("rayo.listen", &mut locked(listening), to, &mut failures).is_none() {
                if let (Some(loaded), Some(before)) = (&mut loaded.rayo, &before.rayo) {
                    loaded.listen = before.listen;
                }
            }
        }
        reloaded.not_moved = (!failures.is_empty()).then(|| failures.join("; "));
        self.running.loaded = loaded;
        self.running.context = context;
        self.running.rayo = rayo.or(self.running.rayo.take());
        if let Some(transports) = transports {
            self.running.transports = transports;
        }
        Ok(reloaded)
    }

    /// The context new calls get under `config`: controllers from it, the
    /// rest as [`crate::server::reconfigured`] says.
    fn context(&self, config: &Config) -> CallContext {
        let old = &self.running.context;
        let mut controllers = old.controllers.reconfigured(config);
        let agents = self.running.agents.clone();
        controllers.register(ControllerKind::Agent, |endpoint| {
            Arc::new(agents.pool(endpoint)) as Arc<dyn ControllerPool>
        });
        if let Some(pools) = &self.running.rayo {
            let pools = pools.reconfigured(config);
            controllers.register(ControllerKind::Rayo, |endpoint| {
                Arc::new(pools.pool(endpoint))
            });
        }
        crate::server::reconfigured(old, config, controllers)
    }
}

/// Moves `listening` to `to`; the address bound, or `None` with the
/// error noted under `key` in `failures` (the listener stays).
fn move_listener<L: Bound>(
    key: &str,
    listening: &mut Generations<L>,
    to: SocketAddr,
    failures: &mut Vec<String>,
) -> Option<SocketAddr> {
    listening
        .move_to(to)
        .map_err(|error| failures.push(format!("{key} {to}: {error}")))
        .ok()
}

/// Reloads on every SIGHUP, for as long as the server runs.
pub async fn on_hangup(reloader: Reloader) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP: reload through the API only");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            // The outcome is logged by the reload.
            let _ = reloader.reload().await;
        }
    }
    #[cfg(not(unix))]
    let _ = reloader;
}
