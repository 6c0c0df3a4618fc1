//! Dialog state: route sets, targets, CSeq, 2xx retransmission.

use std::time::{Duration, Instant};

use sip::{HeaderName, Host, Method, Request, Response, Uri};

use super::*;
use crate::response::make_response;

fn peer() -> Destination {
    Destination {
        address: "192.0.2.10:5060".parse().expect("literal address"),
        transport: Transport::Udp,
        connection: None,
    }
}

fn invite() -> Request {
    let mut r = Request::new(
        Method::Invite,
        Uri::sip(Some("bob"), Host::Domain("b.example".into()), None),
    );
    r.headers
        .push("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1");
    r.headers
        .push("Record-Route", "<sip:p1.example;lr>, <sip:p2.example;lr>");
    r.headers.push("Record-Route", "<sip:192.0.2.30:5070;lr>");
    r.headers
        .push("From", "\"Alice\" <sip:alice@a.example>;tag=alice-tag");
    r.headers.push("To", "<sip:bob@b.example>");
    r.headers.push("Call-ID", "dlg-1");
    r.headers.push("CSeq", "10 INVITE");
    r.headers.push("Contact", "<sip:alice@192.0.2.1:5062>");
    r
}

fn ok(request: &Request) -> Response {
    let mut ok = make_response(request, 200);
    ok.headers
        .push_known(HeaderName::Contact, "<sip:bob@192.0.2.2:5064>");
    ok
}

#[test]
fn uas_takes_record_route_in_order_and_uac_reversed() {
    let req = invite();
    let resp = ok(&req);
    let uas = Dialog::new_uas(&req, &resp, peer()).expect("uas dialog");
    let uac = Dialog::new_uac(&req, &resp, peer()).expect("uac dialog");
    let hosts = |d: &Dialog| {
        d.route_set()
            .iter()
            .map(|r| r.uri.host.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(hosts(&uas), ["p1.example", "p2.example", "192.0.2.30"]);
    assert_eq!(hosts(&uac), ["192.0.2.30", "p2.example", "p1.example"]);
    assert_eq!(uas.id().local_tag, uac.id().remote_tag);
    assert_eq!(uas.id().remote_tag, "alice-tag");
    assert_eq!(uas.remote_target().to_string(), "sip:alice@192.0.2.1:5062");
    assert_eq!(uac.remote_target().to_string(), "sip:bob@192.0.2.2:5064");
    assert_eq!(uac.local_seq(), 10);
    assert_eq!(uas.remote_seq(), Some(10));
}

#[test]
fn loose_routing_keeps_remote_target_as_request_uri() {
    let req = invite();
    let mut uac = Dialog::new_uac(&req, &ok(&req), peer()).expect("uac dialog");
    let bye = uac.new_request(Method::Bye);
    assert_eq!(bye.uri.to_string(), "sip:bob@192.0.2.2:5064");
    let routes: Vec<&str> = bye.headers.get_all(HeaderName::Route).collect();
    assert_eq!(
        routes,
        [
            "<sip:192.0.2.30:5070;lr>",
            "<sip:p2.example;lr>",
            "<sip:p1.example;lr>"
        ]
    );
    assert_eq!(bye.headers.get(HeaderName::CSeq), Some("11 BYE"));
    assert!(bye
        .headers
        .get(HeaderName::To)
        .is_some_and(|t| t.contains("tag=")));
    assert!(bye
        .headers
        .get(HeaderName::From)
        .is_some_and(|f| f.contains("tag=alice-tag")));
    // The first route is an IP literal: that is the next hop, not the stored peer.
    assert_eq!(
        uac.next_hop().address,
        "192.0.2.30:5070".parse().expect("literal")
    );
}

#[test]
fn strict_router_becomes_request_uri() {
    let mut req = invite();
    req.headers.remove(HeaderName::RecordRoute);
    req.headers.push("Record-Route", "<sip:strict.example>");
    let mut uas = Dialog::new_uas(&req, &ok(&req), peer()).expect("uas dialog");
    let bye = uas.new_request(Method::Bye);
    assert_eq!(bye.uri.to_string(), "sip:strict.example");
    let routes: Vec<&str> = bye.headers.get_all(HeaderName::Route).collect();
    assert_eq!(routes, ["<sip:alice@192.0.2.1:5062>"]);
    assert_eq!(bye.headers.get(HeaderName::CSeq), Some("1 BYE"));
    // A domain next hop falls back to the address the dialog was set up with.
    assert_eq!(uas.next_hop(), peer());
}

#[test]
fn reinvite_refreshes_target_and_lower_cseq_is_refused() {
    let req = invite();
    let mut uas = Dialog::new_uas(&req, &ok(&req), peer()).expect("uas dialog");
    let mut reinvite = req.clone();
    reinvite.headers.set(HeaderName::CSeq, "11 INVITE");
    reinvite
        .headers
        .set(HeaderName::Contact, "<sip:alice@192.0.2.99>");
    uas.on_request(&reinvite).expect("in order");
    assert_eq!(uas.remote_target().to_string(), "sip:alice@192.0.2.99");
    assert_eq!(uas.remote_seq(), Some(11));

    let mut info = req.clone();
    info.method = Method::Info;
    info.headers.set(HeaderName::CSeq, "9 INFO");
    assert_eq!(uas.on_request(&info), Err(InDialogRejection::OutOfOrder));

    let mut uac = Dialog::new_uac(&req, &ok(&req), peer()).expect("uac dialog");
    let mut refreshed = ok(&req);
    refreshed
        .headers
        .set(HeaderName::Contact, "<sip:bob@192.0.2.77>");
    uac.on_refresh_response(&refreshed);
    assert_eq!(uac.remote_target().to_string(), "sip:bob@192.0.2.77");
}

#[test]
fn answer_is_retransmitted_until_ack_or_given_up_at_64_t1() {
    let t0 = Instant::now();
    let req = invite();
    let mut uas = Dialog::new_uas(&req, &ok(&req), peer()).expect("uas dialog");
    let timers = TimerConfig::default();
    uas.start_answer_retransmission(t0, 10, b"200".to_vec(), peer(), &timers);
    let mut fired = Vec::new();
    while let Some(at) = uas.next_deadline() {
        let action = uas.on_timer(at).expect("a due timer acts");
        fired.push((
            (at - t0).as_secs_f64(),
            matches!(action, DialogTimerAction::AckTimeout),
        ));
    }
    let retransmits: Vec<f64> = fired
        .iter()
        .filter(|(_, end)| !end)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        retransmits,
        [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    assert_eq!(fired.last(), Some(&(32.0, true)));

    uas.start_answer_retransmission(t0, 10, b"200".to_vec(), peer(), &timers);
    let mut wrong = req.clone();
    wrong.method = Method::Ack;
    wrong.headers.set(HeaderName::CSeq, "9 ACK");
    assert!(!uas.on_ack(&wrong));
    wrong.headers.set(HeaderName::CSeq, "10 ACK");
    assert!(uas.on_ack(&wrong));
    assert!(!uas.awaiting_ack());
    assert_eq!(uas.next_deadline(), None);
    assert_eq!(uas.on_timer(t0 + Duration::from_secs(1)), None);
}
