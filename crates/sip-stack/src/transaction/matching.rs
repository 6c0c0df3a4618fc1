//! Finding the transaction a message belongs to (RFC 3261 §17.1.3, §17.2.3).
//!
//! - **Responses → client transactions**: the top Via branch (which we
//!   generated, so it is unique) plus the CSeq method, because a CANCEL
//!   shares its INVITE's branch but is a separate transaction.
//! - **Requests → server transactions**, RFC 3261 peers (branch starts with
//!   the magic cookie `z9hG4bK`): branch + sent-by of the top Via + method,
//!   where ACK counts as INVITE (it belongs to the INVITE transaction when it
//!   acknowledges a non-2xx final) and CANCEL counts as itself.
//! - **Requests from RFC 2543 peers** (no cookie; SIPp's stock scenarios send
//!   BYE without a branch at all): Request-URI, From tag, Call-ID, CSeq number,
//!   the whole top Via, and the method (ACK again as INVITE). The To tag is
//!   checked after lookup: for ACK it must equal the tag of our final response,
//!   for anything else the tag of the original request.
//!
//! The top Via is taken *before* the stack stamps `received`/`rport` into it,
//! so a retransmission compares equal to the original.

use sip::{Host, Method, Request, TypedHeaders, Via};

use crate::wire;

/// Key of a server transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// RFC 3261 matching.
    Branch {
        /// The top Via branch.
        branch: String,
        /// The top Via sent-by host, a domain name lowercased.
        host: Host,
        /// The top Via sent-by port, as written (an absent port is not 5060).
        port: Option<u16>,
        /// The method, ACK mapped to INVITE.
        method: Method,
    },
    /// RFC 2543 matching.
    Legacy {
        /// The Request-URI as text.
        request_uri: String,
        /// The From tag (empty when absent, as RFC 2543 allowed).
        from_tag: String,
        /// The Call-ID.
        call_id: String,
        /// The CSeq number.
        cseq: u32,
        /// The whole top Via as text.
        top_via: String,
        /// The method, ACK mapped to INVITE.
        method: Method,
    },
}

/// The method under which a request is matched: ACK joins its INVITE.
fn matching_method(method: &Method) -> Method {
    match method {
        Method::Ack => Method::Invite,
        other => other.clone(),
    }
}

/// The sent-by host as compared: addresses as parsed, names case-insensitively.
fn sent_by_host(via: &Via) -> Host {
    match &via.host {
        Host::Domain(name) => Host::Domain(name.to_ascii_lowercase()),
        address => address.clone(),
    }
}

impl ServerKey {
    /// The key of `request` as `method` (pass `Method::Invite` to find the
    /// INVITE a CANCEL targets). `top_via` is the Via as received.
    pub(crate) fn new(request: &Request, top_via: &Via, method: &Method) -> Option<ServerKey> {
        let method = matching_method(method);
        if top_via.has_rfc3261_branch() {
            return Some(ServerKey::Branch {
                branch: top_via.branch()?.to_string(),
                host: sent_by_host(top_via),
                port: top_via.port,
                method,
            });
        }
        Some(ServerKey::Legacy {
            request_uri: request.uri.to_string(),
            from_tag: wire::tag_of(&request.headers, sip::HeaderName::From).unwrap_or_default(),
            call_id: request
                .headers
                .get(sip::HeaderName::CallId)?
                .trim()
                .to_string(),
            cseq: request.headers.cseq().ok()?.seq,
            top_via: top_via.to_string(),
            method,
        })
    }

    /// Whether this key uses the RFC 2543 rules (the To tag must then be checked too).
    pub(crate) fn is_legacy(&self) -> bool {
        matches!(self, ServerKey::Legacy { .. })
    }
}

/// Key of a client transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    /// The branch we put in the top Via.
    pub(crate) branch: String,
    /// The CSeq method.
    pub(crate) method: Method,
}

impl ClientKey {
    /// The key a response maps to, from its top Via and CSeq.
    pub(crate) fn of_response(response: &sip::Response) -> Option<ClientKey> {
        let via = response.headers.top_via().ok()?;
        Some(ClientKey {
            branch: via.branch()?.to_string(),
            method: response.headers.cseq().ok()?.method,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip::Uri;

    fn request(method: Method, via: &str) -> (Request, Via) {
        let mut r = Request::new(
            method.clone(),
            Uri::sip(Some("bob"), Host::Domain("b.example".into()), None),
        );
        r.headers.push("Via", via);
        r.headers.push("From", "<sip:alice@a.example>;tag=f1");
        r.headers.push("To", "<sip:bob@b.example>");
        r.headers.push("Call-ID", "c1");
        r.headers.push("CSeq", format!("7 {method}"));
        let v = r.headers.top_via().expect("valid via");
        (r, v)
    }

    #[test]
    fn ack_matches_invite_and_cancel_does_not() {
        let via = "SIP/2.0/UDP Host.A:5060;branch=z9hG4bKx";
        let (invite, v) = request(Method::Invite, via);
        let (ack, va) = request(Method::Ack, "SIP/2.0/UDP host.a:5060;branch=z9hG4bKx");
        let (cancel, vc) = request(Method::Cancel, via);
        let key = ServerKey::new(&invite, &v, &invite.method);
        assert_eq!(key, ServerKey::new(&ack, &va, &ack.method));
        assert_ne!(key, ServerKey::new(&cancel, &vc, &cancel.method));
        assert_eq!(key, ServerKey::new(&cancel, &vc, &Method::Invite));
    }

    #[test]
    fn legacy_key_without_branch_uses_dialog_fields() {
        let (bye, v) = request(Method::Bye, "SIP/2.0/UDP 10.0.0.1:5061");
        let key = ServerKey::new(&bye, &v, &bye.method).expect("legacy key");
        assert!(key.is_legacy());
        let (again, v2) = request(Method::Bye, "SIP/2.0/UDP 10.0.0.1:5061");
        assert_eq!(
            Some(key.clone()),
            ServerKey::new(&again, &v2, &again.method)
        );
        let (other_port, v3) = request(Method::Bye, "SIP/2.0/UDP 10.0.0.1:5062");
        assert_ne!(
            Some(key),
            ServerKey::new(&other_port, &v3, &other_port.method)
        );
    }
}
