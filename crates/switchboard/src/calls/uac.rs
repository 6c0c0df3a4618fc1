//! The client side of one outbound INVITE, shared by every leg a call
//! begins with a request of ours: the B2BUA's outbound leg and a dialed
//! call's only leg. It owns the transaction's state (calling, cancelling,
//! answered), the digest retry on 401/407 (once per target, with the
//! endpoint's credentials) and the request as last sent; the call decides
//! what a provisional, an answer or a failure means for it.

use sip::{HeaderName, Method, Request, Response, TypedHeaders, Uri};
use sip_stack::auth::DigestClient;
use sip_stack::dialog::DialogId;
use sip_stack::transport::{Destination, Transport};
use sip_stack::ClientTransactionId;

use super::{resolve, CallContext};
use crate::admission::ALLOW;

/// Where an outbound INVITE stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UacState {
    /// INVITE sent, no final.
    Calling,
    /// CANCEL asked for, waiting for the final.
    Cancelling,
    /// 2xx received.
    Answered,
    /// Failed, cancelled or hung up.
    Done,
}

/// One outbound INVITE and the dialog it may create.
#[derive(Debug)]
pub struct UacInvite {
    /// The INVITE as last sent (with credentials after a challenge).
    pub request: Request,
    /// Where it goes.
    pub destination: Destination,
    /// Its client transaction, once the stack took it.
    pub transaction: Option<ClientTransactionId>,
    /// Credentials for a 401/407, from the target endpoint's `auth`.
    pub auth: Option<DigestClient>,
    /// Whether the credentials were tried already.
    pub auth_tried: bool,
    /// The dialog a 2xx created.
    pub dialog: Option<DialogId>,
    /// Where the INVITE stands.
    pub state: UacState,
}

/// What a response to the INVITE asks of the call.
#[derive(Debug)]
pub enum UacStep {
    /// Nothing (a 100, or a provisional once no longer calling).
    Nothing,
    /// A provisional (101–199) while calling.
    Provisional,
    /// A 2xx while calling: the dialog is set, the state `Answered`.
    Answered,
    /// A 2xx that raced our CANCEL (or came after we gave up): hang it up.
    AnsweredUnwanted,
    /// Challenged: send this request (with credentials) instead.
    Retry(Request),
    /// The final response to a cancelled INVITE.
    Cancelled,
    /// A final failure: the INVITE is over.
    Failed,
}

impl UacInvite {
    /// A new INVITE toward `destination`, not yet sent.
    pub fn new(
        request: Request,
        destination: Destination,
        auth: Option<DigestClient>,
    ) -> UacInvite {
        UacInvite {
            request,
            destination,
            transaction: None,
            auth,
            auth_tried: false,
            dialog: None,
            state: UacState::Calling,
        }
    }

    /// Moves the state on a response to the INVITE and says what it means.
    pub fn on_response(&mut self, response: &Response, dialog: Option<DialogId>) -> UacStep {
        let status = response.status;
        if status < 200 {
            if status == 100 || self.state != UacState::Calling {
                return UacStep::Nothing;
            }
            return UacStep::Provisional;
        }
        if (200..300).contains(&status) {
            self.dialog = dialog;
            let wanted = self.state == UacState::Calling;
            self.state = UacState::Answered;
            return if wanted {
                UacStep::Answered
            } else {
                UacStep::AnsweredUnwanted
            };
        }
        if self.state == UacState::Cancelling {
            self.state = UacState::Done;
            return UacStep::Cancelled;
        }
        if matches!(status, 401 | 407) && !self.auth_tried {
            if let Some(client) = self.auth.as_mut() {
                let mut retry = self.request.clone();
                if client.authorize_request(&mut retry, response).is_ok() {
                    self.auth_tried = true;
                    self.request = retry.clone();
                    return UacStep::Retry(retry);
                }
            }
        }
        self.state = UacState::Done;
        UacStep::Failed
    }

    /// Drops what only set-up needed (the body, the credentials).
    pub fn shed_setup_state(&mut self) {
        self.auth = None;
        self.request.body = Vec::new();
    }
}

/// Where to send a request for `target`: its host resolved, over TCP when
/// the URI's `transport` parameter or the endpoint's `transport` says so
/// (and a TCP listener exists).
pub async fn destination_for(
    ctx: &CallContext,
    target: &Uri,
    endpoint_transport: Option<&str>,
) -> Option<Destination> {
    let address = resolve(target).await?;
    let tcp = target
        .params
        .value("transport")
        .is_some_and(|t| t.eq_ignore_ascii_case("tcp"))
        || endpoint_transport.is_some_and(|name| {
            ctx.config
                .transports
                .get(name)
                .is_some_and(|t| t.protocol == crate::config::TransportProtocol::Tcp)
        });
    Some(Destination {
        address,
        transport: if tcp && ctx.tcp_available {
            Transport::Tcp
        } else {
            Transport::Udp
        },
        connection: None,
    })
}

/// A new out-of-dialog INVITE to `target` with our own Call-ID, From tag
/// and CSeq: `from` is the From header's value without its tag. The
/// caller adds its own headers, then the body.
pub fn invite(ctx: &CallContext, target: &Uri, from: &str, max_forwards: u32) -> Request {
    let mut request = Request::new(Method::Invite, target.clone());
    let host = &ctx.local_host;
    let tag = format!("{:016x}", fastrand::u64(..));
    let call_id = format!(
        "{:016x}{:016x}@{host}",
        fastrand::u64(..),
        fastrand::u64(..)
    );
    let h = &mut request.headers;
    h.push_known(HeaderName::From, format!("{from};tag={tag}"));
    let mut to = target.clone();
    to.params = Default::default();
    h.push_known(HeaderName::To, format!("<{to}>"));
    h.push_known(HeaderName::CallId, call_id);
    h.push_known(HeaderName::CSeq, "1 INVITE");
    h.push_known(HeaderName::MaxForwards, max_forwards.to_string());
    h.push_known(HeaderName::Contact, ctx.contact.clone());
    h.push_known(HeaderName::Allow, ALLOW);
    h.push_known(HeaderName::UserAgent, ctx.user_agent.clone());
    request
}

/// The Call-ID of a request we built.
pub fn call_id_of(request: &Request) -> String {
    TypedHeaders::call_id(request)
        .unwrap_or_default()
        .to_string()
}

/// Whether `name` is a SIP header name (an RFC 3261 token).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

/// Whether `value` can be a header value (no line breaks, no controls).
pub fn is_header_value(value: &str) -> bool {
    !value.chars().any(|c| c.is_control() && c != '\t')
}

/// The `X-` headers of a message, in order: what the far end tells a
/// controller when it ends a call.
pub fn x_headers(headers: &sip::Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|h| h.name.len() > 2 && h.name[..2].eq_ignore_ascii_case("x-"))
        .map(|h| (h.name.to_string(), h.value.clone()))
        .collect()
}

/// Every header of a message, in order.
pub fn all_headers(headers: &sip::Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.clone()))
        .collect()
}

/// The URI of a From, To or Contact value: inside `<…>` when there is one
/// (to the end when the `>` is missing), else up to the first parameter.
pub fn header_uri(value: &str) -> String {
    let value = value.trim();
    if let Some(start) = value.find('<') {
        let rest = &value[start + 1..];
        return rest.split('>').next().unwrap_or(rest).trim().to_owned();
    }
    value.split(';').next().unwrap_or(value).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg() -> UacInvite {
        let uri: Uri = "sip:bob@127.0.0.1:5099".parse().expect("URI");
        let destination = Destination {
            address: "127.0.0.1:5099".parse().expect("address"),
            transport: Transport::Udp,
            connection: None,
        };
        UacInvite::new(Request::new(Method::Invite, uri), destination, None)
    }

    fn response(leg: &UacInvite, status: u16) -> Response {
        sip_stack::make_response(&leg.request, status)
    }

    #[test]
    fn provisionals_then_an_answer() {
        let mut leg = leg();
        let trying = response(&leg, 100);
        assert!(matches!(leg.on_response(&trying, None), UacStep::Nothing));
        let ringing = response(&leg, 180);
        assert!(matches!(
            leg.on_response(&ringing, None),
            UacStep::Provisional
        ));
        let ok = response(&leg, 200);
        assert!(matches!(leg.on_response(&ok, None), UacStep::Answered));
        assert_eq!(leg.state, UacState::Answered);
        // A provisional after the answer means nothing.
        assert!(matches!(leg.on_response(&ringing, None), UacStep::Nothing));
    }

    #[test]
    fn an_answer_racing_the_cancel_is_unwanted() {
        let mut leg = leg();
        leg.state = UacState::Cancelling;
        let ok = response(&leg, 200);
        assert!(matches!(
            leg.on_response(&ok, None),
            UacStep::AnsweredUnwanted
        ));
        let mut leg = self::leg();
        leg.state = UacState::Cancelling;
        let terminated = response(&leg, 487);
        assert!(matches!(
            leg.on_response(&terminated, None),
            UacStep::Cancelled
        ));
        assert_eq!(leg.state, UacState::Done);
    }

    #[test]
    fn a_challenge_without_credentials_fails() {
        let mut leg = leg();
        let challenge = response(&leg, 407);
        assert!(matches!(leg.on_response(&challenge, None), UacStep::Failed));
        assert_eq!(leg.state, UacState::Done);
    }

    #[test]
    fn header_names_are_tokens() {
        assert!(is_header_name("X-Reason"));
        assert!(!is_header_name("X Reason"));
        assert!(!is_header_name("X:Y"));
        assert!(!is_header_name(""));
        assert!(is_header_value("a b\tc"));
        assert!(!is_header_value("a\r\nVia: x"));
    }
}
