//! Dialogs (RFC 3261 §12–§14): the peer-to-peer relationship an INVITE's 2xx creates.
//!
//! A dialog is identified by Call-ID plus both tags, seen from our side as
//! (Call-ID, local tag, remote tag): for a dialog we started (UAC) the local
//! tag is our From tag; for one we answered (UAS) it is our To tag. It holds
//! what every later request in the call needs. Sharp edges:
//!
//! - **Route set.** Proxies that want to stay on the path add Record-Route.
//!   The UAS takes the request's Record-Route in order; the UAC takes the
//!   2xx's Record-Route *reversed*, so both list the hops from their own side.
//! - **Loose vs strict routing** (§12.2.1.1). If the first route carries
//!   `lr`, the Request-URI is the remote target and the route set becomes
//!   Route headers. If not (an RFC 2543 strict router), the Request-URI is the
//!   first route and the remote target is appended as the last Route.
//! - **Remote target** is the peer's Contact, refreshed by re-INVITE and
//!   UPDATE (in the request for the UAS, in the 2xx for the UAC).
//! - **CSeq.** Our own count increases by one per request (ACK and CANCEL
//!   reuse the number they refer to). A request arriving with a CSeq lower
//!   than the last one seen is out of order and is answered 500 (§12.2.2).
//! - **2xx reliability is end to end** (§13.3.1.4): proxies do not retransmit
//!   a 2xx to INVITE, so the UAS core does it, from T1 doubling to T2, until
//!   the ACK arrives; after 64·T1 without ACK the call is torn down with BYE.
//!   The UAC core answers each 2xx (including retransmissions) with the same
//!   ACK, a new transaction-less request with its own branch.
//!
//! Early dialogs (from a 1xx with To tag) and dialogs created by SUBSCRIBE or
//! REFER are not tracked: in-dialog requests inside them get 481.

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use sip::{HeaderName, Host, Method, NameAddr, Request, Response, Scheme, TypedHeaders, Uri};

use crate::transaction::Retransmission;
use crate::transport::{Destination, TimerConfig, Transport};

/// Identifies a dialog from our side: Call-ID, our tag, the peer's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag (From tag as UAC, To tag as UAS).
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog a 2xx `answer` to `invite` creates on our (UAS) side, as
    /// [`SipStack::respond`](crate::SipStack::respond) records it: when the
    /// answer has no To tag yet, the one `respond` will add. Lets the user
    /// know the id before the stack reports any request in the dialog.
    pub fn of_uas_answer(invite: &Request, answer: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: invite.headers.get(HeaderName::CallId)?.trim().to_string(),
            local_tag: crate::wire::tag_of(&answer.headers, HeaderName::To)
                .unwrap_or_else(|| crate::response::to_tag_for(invite)),
            remote_tag: crate::wire::tag_of(&invite.headers, HeaderName::From)?,
        })
    }
}

/// Which side of the INVITE we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogRole {
    /// We sent the INVITE.
    Uac,
    /// We answered the INVITE.
    Uas,
}

/// Why an in-dialog request was refused by the dialog itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InDialogRejection {
    /// CSeq lower than one already seen: answer 500.
    OutOfOrder,
}

/// Our 2xx to an INVITE, retransmitted until the ACK (UAS side).
#[derive(Debug, Clone)]
struct UnacknowledgedAnswer {
    cseq: u32,
    bytes: Vec<u8>,
    destination: Destination,
    retransmit: Retransmission,
    give_up_at: Instant,
}

/// The ACK we sent for a 2xx, kept to answer its retransmissions (UAC side).
#[derive(Debug, Clone)]
struct SentAck {
    cseq: u32,
    bytes: Vec<u8>,
    destination: Destination,
}

/// What a dialog timer asks of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DialogTimerAction {
    /// Retransmit our 2xx.
    Retransmit(Vec<u8>, Destination),
    /// No ACK within 64·T1: end the dialog with BYE.
    AckTimeout,
}

/// One confirmed dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    id: DialogId,
    role: DialogRole,
    local_party: NameAddr,
    remote_party: NameAddr,
    local_seq: u32,
    remote_seq: Option<u32>,
    remote_target: Uri,
    route_set: Vec<NameAddr>,
    local_contact: Option<String>,
    peer: Destination,
    unacknowledged: Option<UnacknowledgedAnswer>,
    sent_ack: Option<SentAck>,
    /// CSeq of a 2xx whose ACK the user must send (INVITE without offer).
    pub(crate) ack_owed: Option<u32>,
    /// Our re-INVITE has no final response yet: a crossing re-INVITE gets 491 (§14.1).
    pub(crate) local_invite_pending: bool,
}

fn first_contact(headers: &sip::Headers) -> Option<Uri> {
    headers
        .contacts()
        .ok()?
        .addresses()
        .first()
        .map(|c| c.uri.clone())
}

impl Dialog {
    /// The dialog our INVITE's 2xx created. `peer` is where the INVITE went.
    pub(crate) fn new_uac(invite: &Request, ok: &Response, peer: Destination) -> Option<Dialog> {
        let local_party = invite.headers.from().ok()?;
        let remote_party = ok.headers.to().ok()?;
        let mut route_set = ok.headers.record_routes().ok()?;
        route_set.reverse();
        Some(Dialog {
            id: DialogId {
                call_id: invite.headers.get(HeaderName::CallId)?.trim().to_string(),
                local_tag: local_party.tag()?.to_string(),
                remote_tag: remote_party.tag()?.to_string(),
            },
            role: DialogRole::Uac,
            local_seq: invite.headers.cseq().ok()?.seq,
            remote_seq: None,
            remote_target: first_contact(&ok.headers).unwrap_or_else(|| invite.uri.clone()),
            route_set,
            local_contact: invite.headers.get(HeaderName::Contact).map(str::to_string),
            local_party,
            remote_party,
            peer,
            unacknowledged: None,
            sent_ack: None,
            ack_owed: None,
            local_invite_pending: false,
        })
    }

    /// The dialog our 2xx to `invite` created. `peer` is where the INVITE came from.
    pub(crate) fn new_uas(invite: &Request, ok: &Response, peer: Destination) -> Option<Dialog> {
        let local_party = ok.headers.to().ok()?;
        let remote_party = invite.headers.from().ok()?;
        Some(Dialog {
            id: DialogId {
                call_id: invite.headers.get(HeaderName::CallId)?.trim().to_string(),
                local_tag: local_party.tag()?.to_string(),
                remote_tag: remote_party.tag()?.to_string(),
            },
            role: DialogRole::Uas,
            local_seq: 0,
            remote_seq: Some(invite.headers.cseq().ok()?.seq),
            remote_target: first_contact(&invite.headers)?,
            route_set: invite.headers.record_routes().ok()?,
            local_contact: ok.headers.get(HeaderName::Contact).map(str::to_string),
            local_party,
            remote_party,
            peer,
            unacknowledged: None,
            sent_ack: None,
            ack_owed: None,
            local_invite_pending: false,
        })
    }

    /// The dialog identifier.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Whether we were the caller or the callee.
    pub fn role(&self) -> DialogRole {
        self.role
    }

    /// The peer's current Contact URI.
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The route set, first hop first.
    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    /// The CSeq number of the last request we sent in this dialog.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The CSeq number of the last request the peer sent, if any.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Whether our 2xx is still waiting for its ACK.
    pub fn awaiting_ack(&self) -> bool {
        self.unacknowledged.is_some()
    }

    /// Builds an in-dialog request (§12.2.1.1) with the next local CSeq.
    /// The stack adds the Via when it sends it.
    pub(crate) fn new_request(&mut self, method: Method) -> Request {
        self.local_seq = self.local_seq.wrapping_add(1) & 0x7fff_ffff;
        let seq = self.local_seq;
        self.request_with_cseq(method, seq)
    }

    /// Builds an in-dialog request with a given CSeq number (ACK uses the INVITE's).
    pub(crate) fn request_with_cseq(&self, method: Method, seq: u32) -> Request {
        let strict = self
            .route_set
            .first()
            .is_some_and(|r| !r.uri.params.contains("lr"));
        let (uri, routes): (Uri, Vec<String>) = if strict {
            let mut routes: Vec<String> =
                self.route_set[1..].iter().map(|r| r.to_string()).collect();
            routes.push(NameAddr::new(self.remote_target.clone()).to_string());
            (strip_for_request_uri(&self.route_set[0].uri), routes)
        } else {
            (
                self.remote_target.clone(),
                self.route_set.iter().map(|r| r.to_string()).collect(),
            )
        };
        let mut request = Request::new(method.clone(), uri);
        for route in routes {
            request.headers.push_known(HeaderName::Route, route);
        }
        request.headers.push_known(HeaderName::MaxForwards, "70");
        request
            .headers
            .push_known(HeaderName::From, self.local_party.to_string());
        request
            .headers
            .push_known(HeaderName::To, self.remote_party.to_string());
        request
            .headers
            .push_known(HeaderName::CallId, self.id.call_id.clone());
        request
            .headers
            .push_known(HeaderName::CSeq, format!("{seq} {method}"));
        if let Some(contact) = &self.local_contact {
            if matches!(
                method,
                Method::Invite
                    | Method::Update
                    | Method::Subscribe
                    | Method::Refer
                    | Method::Notify
            ) {
                request
                    .headers
                    .push_known(HeaderName::Contact, contact.clone());
            }
        }
        request
    }

    /// Where an in-dialog request goes: the first route, else the remote
    /// target, when its host is an IP literal; otherwise the address the dialog
    /// was set up with (the stack does no DNS).
    pub(crate) fn next_hop(&self) -> Destination {
        let uri = self
            .route_set
            .first()
            .map(|r| &r.uri)
            .unwrap_or(&self.remote_target);
        let ip: Option<IpAddr> = match &uri.host {
            Host::V4(v4) => Some((*v4).into()),
            Host::V6(v6) => Some((*v6).into()),
            Host::Domain(_) => None,
        };
        let Some(ip) = ip else {
            return self.peer;
        };
        let transport = match uri
            .params
            .value("transport")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("udp") => Transport::Udp,
            Some("tcp") => Transport::Tcp,
            Some("tls") => Transport::Tls,
            Some("ws") | Some("wss") => Transport::Ws,
            _ if uri.scheme == Scheme::Sips => Transport::Tls,
            _ => self.peer.transport,
        };
        let default_port = if transport == Transport::Tls {
            5061
        } else {
            5060
        };
        let address = SocketAddr::new(ip, uri.port.unwrap_or(default_port));
        let connection = (address == self.peer.address && transport == self.peer.transport)
            .then_some(self.peer.connection)
            .flatten();
        Destination {
            address,
            transport,
            connection,
        }
    }

    /// Checks and records an in-dialog request from the peer (not ACK/CANCEL).
    pub(crate) fn on_request(&mut self, request: &Request) -> Result<(), InDialogRejection> {
        let Some(cseq) = request.headers.cseq().ok() else {
            return Err(InDialogRejection::OutOfOrder);
        };
        if self.remote_seq.is_some_and(|last| cseq.seq < last) {
            return Err(InDialogRejection::OutOfOrder);
        }
        self.remote_seq = Some(cseq.seq);
        if matches!(request.method, Method::Invite | Method::Update) {
            if let Some(target) = first_contact(&request.headers) {
                self.remote_target = target;
            }
        }
        Ok(())
    }

    /// A 2xx to our re-INVITE or UPDATE refreshes the remote target.
    pub(crate) fn on_refresh_response(&mut self, response: &Response) {
        if let Some(target) = first_contact(&response.headers) {
            self.remote_target = target;
        }
    }

    /// Starts retransmitting our 2xx to the INVITE with `cseq` (UAS).
    pub(crate) fn start_answer_retransmission(
        &mut self,
        now: Instant,
        cseq: u32,
        bytes: Vec<u8>,
        destination: Destination,
        timers: &TimerConfig,
    ) {
        // Retransmitted even over TCP: 2xx reliability is end to end and a
        // later hop may be UDP (§13.3.1.4).
        self.unacknowledged = Some(UnacknowledgedAnswer {
            cseq,
            bytes,
            destination,
            retransmit: Retransmission::start(now, timers.t1, Some(timers.t2)),
            give_up_at: now + timers.transaction_timeout(),
        });
    }

    /// An ACK arrived; returns whether it acknowledged our outstanding 2xx.
    pub(crate) fn on_ack(&mut self, ack: &Request) -> bool {
        let Some(seq) = ack.headers.cseq().ok().map(|c| c.seq) else {
            return false;
        };
        if self.unacknowledged.as_ref().is_some_and(|u| u.cseq == seq) {
            self.unacknowledged = None;
            return true;
        }
        false
    }

    /// Remembers the ACK we sent for the 2xx with `cseq` (UAC).
    pub(crate) fn record_ack(&mut self, cseq: u32, bytes: Vec<u8>, destination: Destination) {
        self.sent_ack = Some(SentAck {
            cseq,
            bytes,
            destination,
        });
    }

    /// The ACK to resend for a retransmitted 2xx with `cseq`, if we sent one.
    pub(crate) fn ack_for(&self, cseq: u32) -> Option<(Vec<u8>, Destination)> {
        self.sent_ack
            .as_ref()
            .filter(|a| a.cseq == cseq)
            .map(|a| (a.bytes.clone(), a.destination))
    }

    /// The earliest dialog timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.unacknowledged
            .as_ref()
            .map(|u| u.retransmit.due.min(u.give_up_at))
    }

    /// Handles an expired dialog timer.
    pub(crate) fn on_timer(&mut self, now: Instant) -> Option<DialogTimerAction> {
        let pending = self.unacknowledged.as_mut()?;
        if pending.give_up_at <= now {
            self.unacknowledged = None;
            return Some(DialogTimerAction::AckTimeout);
        }
        if pending.retransmit.due <= now {
            pending.retransmit.fire(now);
            return Some(DialogTimerAction::Retransmit(
                pending.bytes.clone(),
                pending.destination,
            ));
        }
        None
    }
}

/// A URI used as Request-URI may not carry `method` or header parts (§19.1.1 table).
fn strip_for_request_uri(uri: &Uri) -> Uri {
    let mut uri = uri.clone();
    uri.params.remove("method");
    uri.headers.clear();
    uri
}
