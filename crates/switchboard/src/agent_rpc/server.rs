//! The HTTP side: checks made before the upgrade, and the listener's life.
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

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::connection::{self, Session};
use super::hub::{AgentHub, Refusal, INVITATION_QUEUE};

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

/// Serves agents on `listener` until `shutdown` resolves, then closes every
/// agent connection with a close frame (their calls go through the usual
/// disconnect grace).
pub async fn serve(
    listener: TcpListener,
    hub: AgentHub,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = watch::channel(false);
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let gate = Gate {
        hub,
        shutdown: stopped,
        alive,
    };
    let app = Router::new().fallback(accept).with_state(gate);
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "Agent RPC listening");
    }
    // Control frames are small and latency-bound: without TCP_NODELAY a
    // response written while an earlier frame is unacknowledged waits for
    // the agent's delayed ACK (40 ms on Linux). The writer batches frames
    // instead (see `connection::write_frames`).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on an agent connection");
        }
    });
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop.send(true);
    })
    .await;
    if let Err(error) = served {
        tracing::error!(%error, "Agent RPC server failed");
    }
    // Every sender is gone once the last connection has flushed its close.
    let _ = tokio::time::timeout(CLOSE_WAIT, all_closed.recv()).await;
    tracing::info!("Agent RPC stopped");
}

async fn accept(
    State(gate): State<Gate>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(endpoint) = query.get("endpoint").filter(|name| !name.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "Endpoint parameter required").into_response();
    };
    let settings = gate.hub.settings();
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(refused) = token_refusal(
        &gate.hub,
        peer,
        endpoint,
        settings.token.as_deref(),
        bearer,
        query.get("token"),
    ) {
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
    token: Option<&str>,
    authorization: Option<&str>,
    query: Option<&String>,
) -> Option<Response> {
    // Without a token nothing can fail, so nobody is tracked or banned.
    token?;
    let now = Instant::now();
    let banned = hub.token_failures().is_banned(peer.ip(), now);
    if banned {
        tracing::info!(%peer, endpoint, "agent refused: source banned for failed authentication");
        return Some((StatusCode::FORBIDDEN, "Forbidden").into_response());
    }
    if authorized(token, authorization, query) {
        return None;
    }
    tracing::info!(%peer, endpoint, "agent refused: bad or missing token");
    let ban = hub.token_failures().record_failure(peer.ip(), now);
    if let Some(ban) = ban {
        tracing::warn!("{ban}");
    }
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Bearer")],
            "Unauthorized",
        )
            .into_response(),
    )
}

/// Whether a request may connect: no token configured, or the bearer
/// credentials or `token` query parameter carry it.
fn authorized(token: Option<&str>, authorization: Option<&str>, query: Option<&String>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let bearer = authorization
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credentials)| credentials.trim());
    bearer.is_some_and(|given| same_secret(given, token))
        || query.is_some_and(|given| same_secret(given, token))
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
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
        let secret = Some("s3cret");
        let query = |text: &str| Some(text.to_owned());
        assert!(authorized(None, None, None));
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
            token_refusal(&hub, peer, "myagent", Some("s3cret"), bearer, None)
                .map(|refused| refused.status())
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
        // Without a token configured nothing is checked or banned.
        assert!(token_refusal(&hub, attacker, "myagent", None, None, None).is_none());
    }
}
