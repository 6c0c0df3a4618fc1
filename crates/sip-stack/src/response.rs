//! Building responses to a received request (RFC 3261 §8.2.6).
//!
//! A response copies Via (all of them, in order), From, To, Call-ID and CSeq
//! from the request. For a dialog-creating INVITE the 1xx/2xx also copy
//! Record-Route (§12.1.1). Every response except 100 carries a To tag.
//!
//! The sharp edge: all responses to one INVITE must carry the *same* To tag,
//! or the caller sees a 180 and a 200 from two different dialogs. Rather than
//! make the user remember the tag, [`to_tag_for`] derives it from the request's
//! transaction identity with a keyed hash (a process-wide random key, so the
//! tag is unpredictable to peers, as §19.3 asks), and [`make_response`] and the
//! stack both use it.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use sip::{HeaderName, Method, Request, Response, TypedHeaders};

use crate::auth::digest::hex;

fn tag_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        key
    })
}

/// The To tag this process uses in every response to `request` (stable per
/// transaction, random across processes).
pub fn to_tag_for(request: &Request) -> String {
    let mut hasher = Sha256::new();
    hasher.update(tag_key());
    for name in [HeaderName::CallId, HeaderName::From, HeaderName::CSeq] {
        hasher.update(request.headers.get(name).unwrap_or_default().as_bytes());
        hasher.update(b"\n");
    }
    // The top Via identifies the transaction (branch, or the whole entry for RFC 2543 peers).
    hasher.update(
        request
            .headers
            .get(HeaderName::Via)
            .unwrap_or_default()
            .as_bytes(),
    );
    hex(&hasher.finalize()[..8])
}

/// A response to `request` with `status` and the default reason phrase, carrying
/// the headers §8.2.6 requires and a To tag for every status but 100.
/// The user adds Contact (for 2xx to INVITE), body and anything else.
pub fn make_response(request: &Request, status: u16) -> Response {
    let mut response = Response::new(status);
    let copy_record_route = request.method == Method::Invite && (101..300).contains(&status);
    for header in request.headers.iter() {
        let wanted = header.is(HeaderName::Via)
            || header.is(HeaderName::From)
            || header.is(HeaderName::To)
            || header.is(HeaderName::CallId)
            || header.is(HeaderName::CSeq)
            || (copy_record_route && header.is(HeaderName::RecordRoute));
        if wanted {
            response.headers.0.push(header.clone());
        }
    }
    if status != 100 {
        ensure_to_tag(&mut response, request);
    }
    response
}

/// Adds the derived To tag to `response` when its To has none.
pub(crate) fn ensure_to_tag(response: &mut Response, request: &Request) {
    let Some(mut to) = response.headers.to().ok() else {
        return;
    };
    if to.tag().is_none() {
        to.params.set("tag", Some(to_tag_for(request)));
        response.headers.set(HeaderName::To, to.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;
    use sip::{Host, Uri};

    fn invite() -> Request {
        let mut r = Request::new(
            Method::Invite,
            Uri::sip(Some("bob"), Host::Domain("example.com".into()), None),
        );
        r.headers
            .push("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc");
        r.headers
            .push("Via", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKdef");
        r.headers.push("Record-Route", "<sip:p1.example.com;lr>");
        r.headers.push("f", "<sip:alice@example.com>;tag=1928");
        r.headers.push("To", "<sip:bob@example.com>");
        r.headers.push("Call-ID", "a84b4c76e66710");
        r.headers.push("CSeq", "314159 INVITE");
        r.headers.push("Contact", "<sip:alice@10.0.0.1>");
        r
    }

    #[test]
    fn copies_the_transaction_headers_and_tags_consistently() {
        let req = invite();
        let trying = make_response(&req, 100);
        assert_eq!(wire::tag_of(&trying.headers, HeaderName::To), None);
        assert_eq!(trying.headers.get_all(HeaderName::Via).count(), 2);
        assert!(trying.headers.get(HeaderName::RecordRoute).is_none());
        assert!(trying.headers.get(HeaderName::Contact).is_none());

        let ringing = make_response(&req, 180);
        let ok = make_response(&req, 200);
        let tag = wire::tag_of(&ringing.headers, HeaderName::To).expect("180 has a To tag");
        assert_eq!(wire::tag_of(&ok.headers, HeaderName::To), Some(tag));
        assert_eq!(
            ok.headers.get(HeaderName::RecordRoute),
            Some("<sip:p1.example.com;lr>")
        );
        assert_eq!(
            ok.headers.get(HeaderName::From),
            Some("<sip:alice@example.com>;tag=1928")
        );

        let busy = make_response(&req, 486);
        assert!(busy.headers.get(HeaderName::RecordRoute).is_none());
    }

    #[test]
    fn existing_to_tag_is_kept() {
        let mut req = invite();
        req.headers
            .set(HeaderName::To, "<sip:bob@example.com>;tag=keep");
        let ok = make_response(&req, 200);
        assert_eq!(
            wire::tag_of(&ok.headers, HeaderName::To).as_deref(),
            Some("keep")
        );
    }
}
