//! The HTTP side: the listener's limits, checks made before the upgrade,
//! and the listener's life.
//!
//! An agent learns why it was refused from a plain HTTP status and body, the
//! texts Diagox agents know: 400 `Endpoint parameter required`, 404 `No
//! endpoint found`, 400 `Maximum connection of agent reached`; and 401 when a
//! token is configured and neither `Authorization: Bearer` nor `?token=`
//! carries it. The token is checked before the endpoint is looked up, so
//! that a client without it cannot probe which endpoints exist. A wrong or
//! missing token counts against the source address like a wrong SIP digest
//! ([`crate::auth_ban`], limits `sip.auth_max_failures` and
//! `sip.auth_ban_sec`, a tracker of its own): a banned source gets 403
//! `Forbidden` before its token is even compared.
//!
//! Before any of that, the listener itself is bounded: beyond
//! `agent_rpc.max_connections` connections (upgraded or not), or with the
//! descriptors kept for signalling spent ([`crate::fd_limit`]), a new
//! connection is closed at accept; and a connection that has not been
//! upgraded to a WebSocket within `agent_rpc.handshake_timeout_sec` of its
//! accept is closed, whatever it sent meanwhile (nothing, half a request,
//! or requests that were refused).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::connection::{self, Session};
use super::hub::{AgentHub, Refusal, INVITATION_QUEUE};
use crate::config::AgentRpcConfig;
use crate::transport::accept::{next_admitted, AcceptBackoff};
use crate::transport::connection_limits::{ConnectionLimits, ConnectionPermit, RefusalLog};
use crate::transport::stream_deadline::capped_secs;
use crate::transport::timed_stream::TimedStream;

/// Largest message (and frame) an agent may send; requests are small JSON.
const MAX_MESSAGE: usize = 64 * 1024;
/// How long shutdown waits for connections to send their close frames.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What every upgrade request needs.
#[derive(Clone)]
struct Gate {
    hub: AgentHub,
    shutdown: watch::Receiver<bool>,
    /// Held by every connection until its close frame is out.
    alive: mpsc::Sender<()>,
}

/// Serves agents on `listener`, within the `max_connections` and
/// `handshake_timeout_sec` of `limits`, until `shutdown` resolves; then
/// closes every agent connection with a close frame (their calls go
/// through the usual disconnect grace).
pub async fn serve(
    listener: TcpListener,
    hub: AgentHub,
    limits: AgentRpcConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve_until(listener, hub, limits, std::future::pending(), shutdown).await
}

/// [`serve`], but the listener stops taking connections once `accepting`
/// resolves while the connections it took go on until `shutdown`: how a
/// reload moves `agent_rpc.listen` without dropping a connected agent.
pub async fn serve_until(
    listener: TcpListener,
    hub: AgentHub,
    limits: AgentRpcConfig,
    accepting: impl Future<Output = ()> + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = watch::channel(false);
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let gate = Gate {
        hub,
        shutdown: stopped.clone(),
        alive,
    };
    let app = Router::new().fallback(accept).with_state(gate);
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "Agent RPC listening");
    }
    let listener = AgentListener {
        listener,
        limits: ConnectionLimits::new(limits.max_connections, None),
        handshake_timeout: capped_secs(limits.handshake_timeout_sec),
        backoff: AcceptBackoff::default(),
        refusals: RefusalLog::default(),
    };
    // Shutdown closes the connections whether or not the listener has
    // already stopped accepting.
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = stopped.clone();
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<AgentPeer>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            () = raised(until_stopped) => {}
            () = accepting => tracing::info!("Agent RPC listener closed; its connections go on"),
        }
    })
    .await;
    if let Err(error) = served {
        tracing::error!(%error, "Agent RPC server failed");
    }
    // Every sender is gone once the last connection has flushed its close:
    // at shutdown within CLOSE_WAIT; after a move, whenever they end.
    tokio::select! {
        _ = all_closed.recv() => {}
        () = raised(stopped) => {
            let _ = tokio::time::timeout(CLOSE_WAIT, all_closed.recv()).await;
        }
    }
    tracing::info!("Agent RPC stopped");
}

/// Resolves once `flag` is raised (or its sender is gone).
async fn raised(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|up| *up).await.is_ok();
}

/// An agent connection: closed if its WebSocket upgrade has not completed
/// by `agent_rpc.handshake_timeout_sec`; holds its place in the limits.
type AgentStream = TimedStream<ConnectionPermit>;

/// The Agent RPC listener: admits connections within the limits and gives
/// each its handshake deadline.
struct AgentListener {
    listener: TcpListener,
    limits: ConnectionLimits,
    handshake_timeout: Duration,
    backoff: AcceptBackoff,
    refusals: RefusalLog,
}

impl Listener for AgentListener {
    type Io = AgentStream;
    type Addr = AgentPeer;

    async fn accept(&mut self) -> (AgentStream, AgentPeer) {
        let (stream, address, permit) = next_admitted(
            &self.listener,
            &self.limits,
            &mut self.backoff,
            &mut self.refusals,
            "agent_rpc",
        )
        .await;
        // Control frames are small and latency-bound: without
        // TCP_NODELAY a response written while an earlier frame is
        // unacknowledged waits for the agent's delayed ACK (40 ms on
        // Linux). The writer batches frames instead (see
        // `connection::write_frames`).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on an agent connection");
        }
        let handshake = Handshake::default();
        let io = TimedStream::new(
            stream,
            self.handshake_timeout,
            "WebSocket upgrade not completed in time",
            permit,
        )
        .lifted_by(handshake.0.clone());
        (io, AgentPeer { address, handshake })
    }

    fn local_addr(&self) -> io::Result<AgentPeer> {
        Ok(AgentPeer {
            address: self.listener.local_addr()?,
            handshake: Handshake::default(),
        })
    }
}

/// Whether a connection's WebSocket upgrade was accepted; shared by the
/// connection's stream and its requests.
#[derive(Debug, Clone, Default)]
struct Handshake(Arc<AtomicBool>);

impl Handshake {
    fn complete(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// What a request knows of its connection.
#[derive(Debug, Clone)]
struct AgentPeer {
    address: SocketAddr,
    handshake: Handshake,
}

impl Connected<IncomingStream<'_, AgentListener>> for AgentPeer {
    fn connect_info(stream: IncomingStream<'_, AgentListener>) -> AgentPeer {
        stream.remote_addr().clone()
    }
}

async fn accept(
    State(gate): State<Gate>,
    ConnectInfo(connection): ConnectInfo<AgentPeer>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let peer = connection.address;
    let Some(endpoint) = query.get("endpoint").filter(|name| !name.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "Endpoint parameter required").into_response();
    };
    let settings = gate.hub.settings();
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(refused) = token_refusal(&gate.hub, peer, endpoint, bearer, query.get("token")) {
        return refused;
    }
    let slot = match gate.hub.admit(endpoint) {
        Ok(slot) => slot,
        Err(Refusal::UnknownEndpoint) => {
            return (StatusCode::NOT_FOUND, "No endpoint found").into_response()
        }
        Err(Refusal::Full) => {
            tracing::info!(%peer, endpoint, "agent refused: connection limit reached");
            return (
                StatusCode::BAD_REQUEST,
                "Maximum connection of agent reached",
            )
                .into_response();
        }
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        // Not a WebSocket request; the slot is freed on return.
        Err(rejection) => return rejection.into_response(),
    };
    let cli = headers
        .get("x-request-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("cli"));
    let session = Session {
        peer,
        cli,
        invite_timeout: settings.invite_timeout,
        disconnect_grace: settings.disconnect_grace,
    };
    let span = tracing::info_span!("agent", endpoint = %endpoint, connection = slot.connection());
    let Gate {
        shutdown, alive, ..
    } = gate;
    // Registered before the 101 goes out, so an agent gets offers from the
    // moment it is connected; they wait in the queue until its loop starts.
    // Should the upgrade fail, the registration drops with the callback.
    let (invitations, invited) = mpsc::channel(INVITATION_QUEUE);
    let registration = slot.register(invitations);
    // The upgrade is granted: the handshake deadline no longer applies.
    connection.handshake.complete();
    upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| {
            connection::run(socket, session, registration, invited, shutdown, alive)
                .instrument(span)
        })
}

/// The answer to a request that may not connect for want of the token:
/// 403 while its source is banned (the token is not compared), else 401 for
/// a wrong or missing one, which counts toward a ban. `None` lets it in.
fn token_refusal(
    hub: &AgentHub,
    peer: SocketAddr,
    endpoint: &str,
    authorization: Option<&str>,
    query: Option<&String>,
) -> Option<Response> {
    // Without a token nothing can fail, so nobody is tracked or banned.
    let settings = hub.settings();
    let token = settings.token.as_deref()?;
    let now = Instant::now();
    let mut failures = hub.token_failures();
    if failures.is_banned(peer.ip(), now) {
        tracing::info!(%peer, endpoint, "agent refused: source banned for failed authentication");
        return Some((StatusCode::FORBIDDEN, "Forbidden").into_response());
    }
    if authorized(token, authorization, query) {
        return None;
    }
    tracing::info!(%peer, endpoint, "agent refused: bad or missing token");
    failures.record_failure(peer.ip(), now);
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Bearer")],
            "Unauthorized",
        )
            .into_response(),
    )
}

/// Whether the bearer credentials or the `token` query parameter carry
/// the configured token.
fn authorized(token: &str, authorization: Option<&str>, query: Option<&String>) -> bool {
    let bearer = authorization
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credentials)| credentials.trim());
    bearer.is_some_and(|given| same_secret(given, token))
        || query.is_some_and(|given| same_secret(given, token))
}

/// Compares secrets in time that does not depend on where they differ.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_bearer_or_query() {
        let secret = "s3cret";
        let query = |text: &str| Some(text.to_owned());
        assert!(authorized(secret, Some("Bearer s3cret"), None));
        assert!(authorized(secret, Some("bearer  s3cret "), None));
        assert!(authorized(secret, None, query("s3cret").as_ref()));
        assert!(authorized(
            secret,
            Some("Bearer wrong"),
            query("s3cret").as_ref()
        ));
        assert!(!authorized(secret, None, None));
        assert!(!authorized(secret, Some("Basic s3cret"), None));
        assert!(!authorized(secret, Some("Bearer s3cre"), None));
        assert!(!authorized(secret, None, query("S3CRET").as_ref()));
    }

    #[test]
    fn wrong_tokens_ban_the_source_and_only_it() {
        let yaml = "endpoints:\n  myagent: { match: { type: agent } }\n\
                    agent_rpc: { token: s3cret }\nsip: { auth_max_failures: 2 }\n";
        let config = crate::config::Config::from_yaml(yaml, "test.yaml").expect("valid config");
        let hub = AgentHub::new(&config);
        let attacker: SocketAddr = "192.0.2.1:40000".parse().expect("address");
        let agent: SocketAddr = "192.0.2.2:40000".parse().expect("address");
        let status = |peer, bearer| {
            token_refusal(&hub, peer, "myagent", bearer, None).map(|refused| refused.status())
        };
        assert_eq!(status(attacker, None), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(
            status(attacker, Some("Bearer nope")),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(attacker, Some("Bearer s3cret")),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(status(agent, Some("Bearer s3cret")), None);
    }
}
