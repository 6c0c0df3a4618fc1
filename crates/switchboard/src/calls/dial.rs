//! Originating a call for a controller ([`CallContext::dial`]): the request
//! is checked and routed, the call registered and started, and the dialer
//! gets the call's id and handle at once, before the INVITE is answered.
//! Only request and local-resource problems are errors here; whatever the
//! far end does arrives as events (`Ringing`, `Answered`, `Ended`).
//!
//! Routing: a `sip:`/`sips:` URI is dialed directly; a `tel:` URI or a bare
//! number goes through the route context the dialer names (Rayo's
//! `rayo.dial_route`), whose endpoint gives the destination URI with the
//! number as its user, its credentials and its transport, as for a B2BUA
//! call.

use std::sync::Arc;
use std::time::Duration;

use call_control::{DialRequest, Event, JoinTarget};
use sip::Uri;
use sip_stack::auth::DigestClient;
use tokio::sync::{mpsc, oneshot};

use super::call::{spawn_dialed, DialSetup};
use super::legs::{self, MediaLeg};
use super::registry::{CallRegistry, RegistryError};
use super::{uac, CallContext, CallKey, SipCommand, CALL_EVENT_QUEUE};
use crate::admission::Bridge;
use crate::config::{Destination as EndpointDestination, MatchMode, RouteEntry, RouteTarget};
use crate::control::{CallHandle, EventSink, CALL_COMMAND_QUEUE};
use crate::router::RouteDecision;

/// How long a dialed party may ring when the dialer gives no timeout.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(180);

/// Why a dial was refused before any call existed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// `to` is not a usable `sip:`/`sips:`/`tel:` URI or number.
    #[error("cannot dial {0:?}")]
    BadTarget(String),
    /// `from` is not a usable URI or user name.
    #[error("cannot call from {0:?}")]
    BadFrom(String),
    /// A header name is not a token or its value spans lines.
    #[error("invalid header {0:?}")]
    BadHeader(String),
    /// The route context has no entry for the number (or no such context).
    #[error("no route to {0:?}")]
    NoRoute(String),
    /// The route refuses the number with this SIP status.
    #[error("the route refuses {number:?} with {code}")]
    Refused {
        /// The number.
        number: String,
        /// The route's status.
        code: u16,
    },
    /// The chosen id is in use or invalid, or the server is full.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The dial's `join` names a call that does not exist.
    #[error("no call {0:?} to join")]
    JoinTargetNotFound(String),
    /// No RTP port is free.
    #[error("no RTP port")]
    NoMedia,
    /// The server is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

/// A call that [`CallContext::dial`] created.
#[derive(Debug, Clone)]
pub struct DialedCall {
    /// Its id in the call registry (what a controller names it by).
    pub id: Arc<str>,
    /// Its command queue.
    pub handle: CallHandle,
}

/// Where a dial goes.
struct Target {
    uri: Uri,
    endpoint: Option<String>,
    entry: Option<RouteEntry>,
}

impl CallContext {
    /// Originates a call for a controller whose events go to `events` (tagged
    /// with the new call's key); `route_context` routes `tel:` URIs and bare
    /// numbers. Returns once the call exists, before the INVITE is answered.
    pub async fn dial(
        self: &Arc<Self>,
        request: DialRequest,
        events: mpsc::Sender<(CallKey, Event)>,
        route_context: &str,
    ) -> Result<DialedCall, DialError> {
        for (name, value) in &request.headers {
            if !uac::is_header_name(name) || !uac::is_header_value(value) {
                return Err(DialError::BadHeader(name.clone()));
            }
        }
        match request.join.as_ref().map(|j| &j.target) {
            Some(JoinTarget::Call(other)) if !self.registry.contains(other) => {
                return Err(DialError::JoinTargetNotFound(other.clone()))
            }
            _ => {}
        }
        let target = self.dial_target(&request.to, route_context)?;
        let from = self.dial_from(request.from.as_deref())?;
        let id = CallRegistry::normalize(request.call_id.as_deref())?;
        if self.registry.contains(&id) {
            return Err(RegistryError::Conflict(id).into());
        }
        let mut media = MediaLeg::bind(&self.ports, self.media_ip, self.config.media.strict_source)
            .map_err(|_| DialError::NoMedia)?;
        media.consume = true;
        let offer = sdp::offer(
            &media.local(legs::prefer(None), sdp::Direction::SendRecv),
            &mut media.origin,
        );
        let mut invite = uac::invite(self, &target.uri, &from, 70);
        for (name, value) in &request.headers {
            invite.headers.push(name.clone(), value.clone());
        }
        if let Some(entry) = &target.entry {
            for (name, value) in &entry.sip_headers {
                invite
                    .headers
                    .0
                    .retain(|header| !header.name.eq_ignore_ascii_case(name));
                invite.headers.push(name.clone(), value.clone());
            }
        }
        invite.set_body("application/sdp", offer.to_bytes());
        media.offer = Some(offer);

        let (events_tx, events_rx) = mpsc::channel(CALL_EVENT_QUEUE);
        let (reply, key) = oneshot::channel();
        let register = SipCommand::Register {
            call_id: uac::call_id_of(&invite),
            events: events_tx,
            reply,
        };
        if self.sip.send(register).await.is_err() {
            return Err(DialError::ShuttingDown);
        }
        let Ok(key) = key.await else {
            return Err(DialError::ShuttingDown);
        };
        let (commands_tx, commands) = mpsc::channel(CALL_COMMAND_QUEUE);
        let handle = CallHandle {
            key,
            commands: commands_tx,
        };
        let (peer_tx, peer) = mpsc::channel(super::join::PEER_QUEUE);
        let registration = match self.registry.register(id, handle.clone(), peer_tx) {
            Ok(registration) => registration,
            Err(error) => {
                let _ = self.sip.send(SipCommand::Ended { call: key }).await;
                media.close().await;
                return Err(error.into());
            }
        };
        let id = registration.id().clone();
        let timeout = request.timeout.unwrap_or(DEFAULT_DIAL_TIMEOUT);
        let endpoint = target.endpoint.clone().unwrap_or_default();
        let config = target
            .endpoint
            .as_ref()
            .and_then(|name| self.config.endpoints.get(name));
        let auth = config
            .and_then(|c| c.auth.as_ref())
            .map(|a| DigestClient::new(a.username.clone(), a.password.clone()));
        let transport = config.and_then(|c| c.transport.clone());
        let bridge = Bridge {
            from_endpoint: String::new(),
            endpoint,
            dialed: target.uri.user.clone().unwrap_or_default(),
            entry: target.entry.unwrap_or_else(direct_entry),
            controller: None,
        };
        tracing::info!(%id, to = %request.to, "dial");
        spawn_dialed(
            self.clone(),
            key,
            events_rx,
            DialSetup {
                invite,
                target: target.uri,
                transport,
                auth,
                media,
                bridge,
                commands,
                registration,
                peer,
                sink: EventSink::new(key, events),
                answer_by: tokio::time::Instant::now() + timeout,
                join: request.join,
            },
        );
        Ok(DialedCall { id, handle })
    }

    /// The URI to dial for `to`, routed through `context` unless it is a
    /// SIP URI.
    fn dial_target(&self, to: &str, context: &str) -> Result<Target, DialError> {
        let to = to.trim();
        let scheme = to.split(':').next().unwrap_or_default();
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            let uri = to
                .parse::<Uri>()
                .map_err(|_| DialError::BadTarget(to.to_string()))?;
            return Ok(Target {
                uri,
                endpoint: None,
                entry: None,
            });
        }
        let number = if scheme.eq_ignore_ascii_case("tel") && to.len() > 4 {
            &to[4..]
        } else {
            to
        };
        let number: String = number
            .split(';')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
            .collect();
        let valid = !number.is_empty()
            && number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '*' | '#'));
        if !valid {
            return Err(DialError::BadTarget(to.to_string()));
        }
        let router = self
            .router
            .get_or_init(|| crate::router::Router::new(&self.config));
        match router.route(context, &number) {
            RouteDecision::Endpoint {
                name,
                destination: EndpointDestination::Sip { uri },
                dialed,
                entry,
            } => {
                let mut uri = uri
                    .parse::<Uri>()
                    .map_err(|_| DialError::NoRoute(number.clone()))?;
                if !dialed.is_empty() {
                    uri.user = Some(dialed.to_string());
                }
                Ok(Target {
                    uri,
                    endpoint: Some(name.to_string()),
                    entry: Some(entry.clone()),
                })
            }
            // A controller endpoint cannot be dialed: it has no SIP side.
            RouteDecision::Endpoint { .. } | RouteDecision::NoRoute => {
                Err(DialError::NoRoute(number))
            }
            RouteDecision::Hangup { code, .. } => Err(DialError::Refused { number, code }),
        }
    }

    /// The From header value (without tag) for `from`: a URI as given, a
    /// user name at our host, or ours.
    fn dial_from(&self, from: Option<&str>) -> Result<String, DialError> {
        let host = &self.local_host;
        let Some(from) = from.map(str::trim).filter(|f| !f.is_empty()) else {
            return Ok(format!("<sip:switchboard@{host}>"));
        };
        let scheme = from.split(':').next().unwrap_or_default();
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return match from.parse::<Uri>() {
                Ok(uri) => Ok(format!("<{uri}>")),
                Err(_) => Err(DialError::BadFrom(from.to_string())),
            };
        }
        let user = if scheme.eq_ignore_ascii_case("tel") && from.len() > 4 {
            &from[4..]
        } else {
            from
        };
        let valid = user.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '.' | '!' | '~' | '*')
        });
        if !valid || user.is_empty() {
            return Err(DialError::BadFrom(from.to_string()));
        }
        Ok(format!("<sip:{user}@{host}>"))
    }
}

/// The route entry of a call dialed to a SIP URI directly: no headers, no
/// fallback, no recording.
fn direct_entry() -> RouteEntry {
    RouteEntry {
        id: String::new(),
        mode: MatchMode::Any,
        target: RouteTarget::Endpoint(String::new()),
        strip: crate::config::StripPrefix::None,
        fallback: None,
        sip_headers: Vec::new(),
        sip_headers_pass: Vec::new(),
        recording: false,
    }
}
