//! Starting the server from a validated config: bind, wire, run until a signal.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip::Host;
use sip_stack::transport::TimerConfig;
use sip_stack::{SipStack, StackConfig};
use tokio::sync::mpsc;

use crate::admission::Admission;
use crate::agent_rpc::AgentHub;
use crate::calls::{CallContext, SIP_COMMAND_QUEUE};
use crate::config::{Config, TransportProtocol};
use crate::control::{ControllerKind, ControllerPool, Controllers};
use crate::driver::Driver;
use crate::http::{Readiness, RecordingUrls};
use crate::media::pacer::{Pacer, PacerConfig, PacerHandle};
use crate::media::ports::RtpPortPool;
use crate::media::prompts::{PromptConfig, Prompts};
use crate::media::tts::Tts;
use crate::transport::{Transports, FAILURE_QUEUE, INBOUND_QUEUE};

/// How long the Agent RPC server (closing its agent connections) and the
/// HTTP server (finishing open requests) may take at shutdown; they stop
/// side by side, so this is the wait for both.
const LISTENERS_STOP_WAIT: Duration = Duration::from_secs(2);

/// How long queued call records may take to be committed at shutdown.
const CDR_FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Binds every transport and runs until SIGINT or SIGTERM; SIGHUP and the
/// reload API read `path` (the file `config` came from) again
/// ([`crate::reload`]).
pub async fn run_from(mut config: Config, path: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let loaded = config.clone();
    let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
    let inbound_tx = tx.downgrade();
    let (failures_tx, failures_rx) = mpsc::channel(FAILURE_QUEUE);
    let transports = Transports::bind(
        &config.listeners(TransportProtocol::Udp),
        &config.listeners(TransportProtocol::Tcp),
        (&config.sip).into(),
        tx,
        failures_tx,
    )
    .await?;

    let stack = SipStack::new(stack_config(&config));
    let admission = Admission::new(&config, Instant::now());
    // Bound before anything serves, like the other listeners; the Rayo
    // adapter reads the hub and gives Rayo endpoints their pools.
    let (rayo, rayo_pools, rayo_hub) = match &config.rayo {
        Some(rayo) => {
            let (hub, events) = crate::rayo::RayoHub::new(rayo);
            let listener =
                crate::rayo::RayoListener::bind(rayo, hub.clone(), admission.auth_failures())?;
            let pools = crate::rayo::service::start(&config, rayo, hub.clone(), events);
            (Some(listener), Some(pools), Some(hub))
        }
        None => (None, None, None),
    };
    let (commands_tx, commands_rx) = mpsc::channel(SIP_COMMAND_QUEUE);
    let pacer = Pacer::start(PacerConfig {
        scheduling: crate::media::pacer::Scheduling {
            realtime: config.media.pacer_realtime,
            cpu: config.media.pacer_cpu,
        },
        ..PacerConfig::default()
    })?;
    let agents = AgentHub::new(&config);
    let agent_listener = crate::transport::bind_listener(config.agent_rpc.listen)
        .map_err(|e| anyhow::anyhow!("agent_rpc.listen {}: {e}", config.agent_rpc.listen))?;
    // Bound before anything serves, so a taken port stops the start.
    let http_listener = crate::http::bind(config.http.listen).await?;
    // Recording URLs name the port actually bound (`http.listen` may say 0).
    config.http.listen = http_listener.local_addr()?;
    // One flag stops every listener generation at shutdown.
    let (listeners_stop, listeners_stopped) = tokio::sync::watch::channel(false);
    // Shared with the reloader, which may move it (`agent_rpc.listen`).
    let agent_listening = Arc::new(std::sync::Mutex::new(crate::agent_rpc::listening::start(
        agent_listener,
        agents.clone(),
        config.agent_rpc.clone(),
        listeners_stopped.clone(),
    )?));
    // Shared with the reloader, which may move it (`rayo.listen`).
    let rayo_listening = match rayo {
        Some(listener) => Some(Arc::new(std::sync::Mutex::new(
            crate::rayo::listening::start(listener, listeners_stopped.clone())?,
        ))),
        None => None,
    };
    let mut controllers = Controllers::new(&config);
    controllers.register(ControllerKind::Agent, |endpoint| {
        Arc::new(agents.pool(endpoint)) as Arc<dyn ControllerPool>
    });
    if let Some(pools) = &rayo_pools {
        controllers.register(ControllerKind::Rayo, |endpoint| {
            Arc::new(pools.pool(endpoint))
        });
    }
    let cdr = crate::cdr::CdrService::start(&config.cdr)?;
    let context = Arc::new(CallContext {
        cdr: cdr.sink.clone(),
        ..call_context(&config, commands_tx, controllers, pacer.handle())?
    });
    if let Some(pools) = &rayo_pools {
        pools.attach(context.clone());
        if let Some(program) = crate::media::tts::missing_engine(&config.tts) {
            tracing::warn!(
                program = %program.display(),
                "text-to-speech engine not found: Rayo outputs with text will complete with an error"
            );
        }
    }
    // Served once its routes (the reloader's among them) exist; shared
    // with the reloader, which may move it (`http.listen`) and change the
    // API token (`http.api_token`).
    let http_listening = Arc::new(std::sync::Mutex::new(None));
    let api_token = crate::http::api::ApiToken::new(config.http.api_token.as_deref());
    let (reloader, reloads) = crate::reload::Reloader::new(crate::reload::Running {
        path,
        loaded,
        context: context.clone(),
        agents: agents.clone(),
        rayo: rayo_pools.clone(),
        transports: transports.clone(),
        agent_listening: agent_listening.clone(),
        rayo_listening: rayo_listening.clone(),
        http_listening: http_listening.clone(),
        api_token: api_token.clone(),
    });
    let recording_urls = context.recording_urls.clone();
    let metrics = crate::http::Metrics::new(crate::http::metrics::MetricSources {
        context: context.clone(),
        rayo: rayo_hub,
        agents: agents.clone(),
        inbound: inbound_tx,
    });
    let call_drain = Duration::from_secs(config.sip.shutdown_grace_sec);
    let mut driver = Driver::new(
        stack,
        admission,
        transports,
        rx,
        failures_rx,
        commands_rx,
        context,
        call_drain,
    )
    .with_reloads(reloads);
    let readiness = Readiness::default();
    driver.report_load_to(readiness.clone());
    // The operator API's routes; each feature adds its own.
    let api = axum::Router::new()
        .merge(reloader.routes())
        .merge(cdr.routes());
    let recordings = crate::http::RecordingFiles {
        dir: config.media.recordings_dir.clone(),
        urls: recording_urls,
    };
    let app = crate::http::app(
        readiness.clone(),
        metrics,
        recordings,
        crate::http::api::nest(api, api_token),
    );
    *locked(&http_listening) = Some(crate::http::listening::start(
        http_listener,
        app,
        listeners_stopped,
    )?);
    // After the HTTP listener is in place, so a reload can move it.
    tokio::spawn(crate::reload::on_hangup(reloader));
    readiness.set(true);
    tracing::info!("switchboard ready");
    // Not ready from the signal on: the driver answers new INVITEs 503 then.
    let draining = readiness.clone();
    driver
        .run(async move {
            shutdown_signal().await;
            draining.set(false);
        })
        .await;
    let _ = listeners_stop.send(true);
    let agent_servers = locked(&agent_listening).take_servers();
    let http_servers = locked(&http_listening)
        .as_mut()
        .map(crate::http::HttpListening::take_servers)
        .unwrap_or_default();
    let rayo_servers = rayo_listening
        .as_ref()
        .map(|listening| locked(listening).take_servers())
        .unwrap_or_default();
    tokio::join!(
        stop_servers(agent_servers, LISTENERS_STOP_WAIT),
        stop_servers(http_servers, LISTENERS_STOP_WAIT),
        stop_servers(rayo_servers, LISTENERS_STOP_WAIT * 3),
    );
    drop(pacer);
    // The calls are gone: what they queued is committed before exit.
    if let Some(writer) = cdr.writer {
        writer.stop(CDR_FLUSH_WAIT).await;
    }
    let finished =
        tokio::task::spawn_blocking(|| crate::media::recorder::finish_all(Duration::from_secs(2)))
            .await
            .unwrap_or(false);
    if !finished {
        tracing::warn!("recordings may be incomplete: the writer did not finish in time");
    }
    tracing::info!("switchboard stopped");
    Ok(())
}

/// The value behind `mutex`, poisoned or not: the listeners' holders only
/// swap whole values, so a panic elsewhere leaves nothing half-changed.
pub(crate) fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits up to `wait` for every server generation to end, then aborts
/// those still running.
async fn stop_servers(servers: Vec<tokio::task::JoinHandle<()>>, wait: Duration) {
    let aborts: Vec<_> = servers
        .iter()
        .map(tokio::task::JoinHandle::abort_handle)
        .collect();
    let all = async {
        for server in servers {
            let _ = server.await;
        }
    };
    if tokio::time::timeout(wait, all).await.is_err() {
        for abort in aborts {
            abort.abort();
        }
    }
}

/// What calls share: the config, the way to the SIP driver, RTP ports,
/// the addresses we advertise, prompts, text-to-speech and recording URLs.
pub fn call_context(
    config: &Config,
    sip: mpsc::Sender<crate::calls::SipCommand>,
    controllers: Controllers,
    pacer: PacerHandle,
) -> anyhow::Result<CallContext> {
    let (media_ip, port_ip) = media_addresses(config);
    let (contact, local_host) = signalling_identity(config);
    Ok(CallContext {
        config: Arc::new(config.clone()),
        sip,
        ports: Arc::new(RtpPortPool::new(port_ip, config.media.rtp_ports)),
        media_ip,
        contact,
        local_host,
        user_agent: config.sip.user_agent.clone(),
        recordings_dir: config.media.recordings_dir.clone(),
        tcp_available: tcp_available(config),
        registry: controllers.registry().clone(),
        controllers,
        pacer,
        mixers: Default::default(),
        router: Default::default(),
        cdr: crate::cdr::CdrSink::disabled(),
        totals: Default::default(),
        prompts: Prompts::new(PromptConfig {
            playback_dir: config.media.playback_dir.clone(),
            ..PromptConfig::default()
        }),
        tts: Tts::new(&config.tts),
        recording_urls: RecordingUrls::from_config(&config.http).map_err(|e| {
            anyhow::anyhow!("no randomness for recording URLs (set http.secret): {e}")
        })?,
    })
}

/// The context new calls get after a reload to `config`: what the config
/// decides (routes and endpoints through `controllers`, our Contact, the
/// user agent, voices, the recording URL base) from it; what lives as long
/// as the process (ports, media address, pacer, prompts, mixers, the
/// recording key, the record writer, the totals) shared with `old`. Every
/// field is named, so a new one cannot be forgotten here.
pub fn reconfigured(old: &CallContext, config: &Config, controllers: Controllers) -> CallContext {
    let (contact, local_host) = signalling_identity(config);
    CallContext {
        config: Arc::new(config.clone()),
        sip: old.sip.clone(),
        ports: old.ports.clone(),
        media_ip: old.media_ip,
        contact,
        local_host,
        user_agent: config.sip.user_agent.clone(),
        recordings_dir: old.recordings_dir.clone(),
        tcp_available: tcp_available(config),
        registry: controllers.registry().clone(),
        controllers,
        pacer: old.pacer.clone(),
        mixers: old.mixers.clone(),
        router: Default::default(),
        cdr: old.cdr.clone(),
        totals: old.totals.clone(),
        prompts: old.prompts.clone(),
        tts: if old.config.tts == config.tts {
            old.tts.clone()
        } else {
            Tts::new(&config.tts)
        },
        // The same key, so URLs handed out stay valid; the base follows
        // a moved HTTP listener.
        recording_urls: old.recording_urls.rebased(&config.http),
    }
}

/// The address written in our SDP, and the one RTP ports are bound on.
fn media_addresses(config: &Config) -> (IpAddr, IpAddr) {
    let first = config.transports.values().next();
    let bind = first
        .map(|t| t.bind)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    // A wildcard bind cannot be written in SDP; without an external media
    // address, loopback is the only address known to work.
    let media_ip = first
        .and_then(|t| t.external_media_ip)
        .unwrap_or(if bind.is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            bind
        });
    let port_ip = if bind.is_unspecified() {
        bind
    } else {
        media_ip
    };
    (media_ip, port_ip)
}

/// Our Contact and the host of the Call-IDs and From URIs we make: the
/// first transport's advertised address.
fn signalling_identity(config: &Config) -> (String, String) {
    let (host, port) = config
        .transports
        .values()
        .next()
        .map(|t| (t.advertised_host(), t.advertised_port()))
        .unwrap_or_else(|| ("127.0.0.1".to_string(), 5060));
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    (format!("<sip:switchboard@{host}:{port}>"), host)
}

fn tcp_available(config: &Config) -> bool {
    config
        .transports
        .values()
        .any(|t| t.protocol == TransportProtocol::Tcp)
}

/// The SIP stack settings of `config`.
pub fn stack_config(config: &Config) -> StackConfig {
    // Requests we originate carry the first listener's advertised address in Via.
    let (host, port) = config
        .transports
        .values()
        .next()
        .map(|t| (t.advertised_host(), t.advertised_port()))
        .unwrap_or_else(|| ("127.0.0.1".to_string(), 5060));
    let host = match IpAddr::from_str(&host) {
        Ok(ip) => Host::from(ip),
        Err(_) => Host::Domain(host),
    };
    let mut stack = StackConfig::new(host, Some(port));
    stack.timers = TimerConfig {
        t1: Duration::from_millis(config.sip.t1_ms),
        t2: Duration::from_millis(config.sip.t2_ms),
        t4: Duration::from_millis(config.sip.t4_ms),
    };
    stack.max_transactions = config.sip.max_transactions;
    stack
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
