//! Rayo call control end to end: the real binary, its XMPP listener and
//! SIP transport on 127.0.0.1 (ports from the OS), the test kit's XMPP
//! client as the Rayo application, and the test kit's SIP UA or SIPp as the
//! caller. Every caller is routed to the Rayo endpoint `app`.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::analysis::rfc4733_digits;
use testkit::rayo_harness::{with_header, Caller, RayoBench, RayoConfig, DOMAIN, WAIT};
use testkit::sip_ua::CallHandle;
use testkit::sipp::SippProcess;
use testkit::xmpp::{rayo, RayoOffer, XmppClient, RAYO_NS};
use testkit::{SipUa, Sipp, Source};

/// How long we listen for something that must not come.
const QUIET: Duration = Duration::from_millis(500);

/// A server whose callers all go to the Rayo endpoint `app`; users
/// `usera`/`1` and `userb`/`two`. `rayo_extra` adds lines to `rayo:`.
fn bench(rayo_extra: &str) -> RayoBench {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    RayoBench::start(binary, &RayoConfig::new().rayo(rayo_extra))
}

/// A call from `caller` (RTP from its peer).
fn dial(b: &RayoBench, caller: &Caller) -> CallHandle {
    caller.call(b.sip(), "1000")
}

/// A call from `caller`, offered to `client`.
fn offered_call(
    b: &RayoBench,
    client: &mut XmppClient,
    caller: &Caller,
) -> (CallHandle, RayoOffer) {
    let call = dial(b, caller);
    let offered = b.offer(client);
    (call, offered)
}

/// A call from `caller`, offered to `client`, which answers it (the caller sees 200).
fn answered_call(
    b: &RayoBench,
    client: &mut XmppClient,
    caller: &Caller,
) -> (CallHandle, RayoOffer) {
    let (mut call, offered) = offered_call(b, client, caller);
    b.ok(client, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    (call, offered)
}

/// `client` hangs up the call: the caller gets a BYE.
fn hang_up(b: &RayoBench, client: &mut XmppClient, offered: &RayoOffer, call: &mut CallHandle) {
    b.ok(client, &offered.call, rayo("hangup"));
    assert!(call.wait_bye(WAIT).is_some(), "BYE\n{}", b.server.log());
}

/// `client` hangs up a call it never answered: the caller gets the
/// endpoint's code, 480.
fn hang_up_unanswered(
    b: &RayoBench,
    client: &mut XmppClient,
    offered: &RayoOffer,
    call: &mut CallHandle,
) {
    b.ok(client, &offered.call, rayo("hangup"));
    assert_eq!(call.wait_final(WAIT), Some(480));
}

#[test]
fn no_offer_before_chat_and_none_after_dnd() {
    let b = bench("");
    let mut client = b.login("usera");
    let caller = Caller::new();
    let mut call = dial(&b, &caller);
    assert_eq!(call.wait_final(WAIT), Some(480), "{}", b.server.log());
    assert!(client.wait_offer(QUIET).is_none(), "no offer before chat");

    b.show(&mut client, "chat");
    let (mut call, offered) = offered_call(&b, &mut client, &caller);
    b.ok(&mut client, &offered.call, rayo("reject"));
    assert_eq!(call.wait_final(WAIT), Some(603));

    b.show(&mut client, "dnd");
    let mut call = dial(&b, &caller);
    assert_eq!(call.wait_final(WAIT), Some(480), "{}", b.server.log());
    assert!(client.wait_offer(QUIET).is_none(), "no offer after dnd");
}

/// A caller (SIPp) with an `X-Customer` header that expects 180, 200 and
/// our BYE, each carrying the client's headers.
const UAC_X_HEADER: &str = include_str!("scenarios/rayo_uac_headers.xml");

/// A SIPp caller running `scenario` against the server's SIP address.
fn sipp_caller(b: &RayoBench, scenario: &str, seconds: u64) -> SippProcess {
    Sipp::xml(scenario, b.sip())
        .service("1000")
        .timeout(Duration::from_secs(seconds))
        .spawn()
}

#[test]
fn offer_content_then_accept_answer_and_hangup_with_headers() {
    let b = bench("");
    let mut client = b.available("usera");
    let sipp = sipp_caller(&b, UAC_X_HEADER, 15);
    let offered = b.offer(&mut client);
    let presence = &offered.presence;
    let (node, domain) = offered.call.split_once('@').expect("a call JID");
    assert_eq!(domain, DOMAIN);
    assert!(
        !node.is_empty() && node == node.to_ascii_lowercase(),
        "{node}"
    );
    assert_eq!(presence.get_attr("type"), None, "an available presence");
    let caps = presence
        .get_child("c", "http://jabber.org/protocol/caps")
        .expect("caps");
    assert_eq!(caps.get_attr("node"), Some("urn:xmpp:rayo:call:1"));
    assert!(presence.get_child("delay", "urn:xmpp:delay").is_some());
    let to = offered.offer().get_attr("to").expect("to");
    let from = offered.offer().get_attr("from").expect("from");
    assert!(to.starts_with("sip:1000@127.0.0.1"), "{to}");
    assert!(from.starts_with("sip:alice@127.0.0.1"), "{from}");
    assert_eq!(offered.header("X-Customer").as_deref(), Some("8877"));
    for name in ["From", "To", "Via", "Contact", "Call-ID"] {
        assert!(offered.header(name).is_some(), "{name} in {presence}");
    }
    assert!(offered.header("Max-Forwards").is_none());

    let call = offered.call.clone();
    let accept = with_header(rayo("accept"), "X-Ringing", "yes");
    b.ok(&mut client, &call, accept);
    let answer = with_header(rayo("answer"), "X-Answered", "yes");
    b.ok(&mut client, &call, answer);
    // An inbound call answered by the client is no <answered> news.
    assert!(client.wait_call_event(&call, "answered", QUIET).is_none());
    b.ok(
        &mut client,
        &call,
        with_header(rayo("hangup"), "X-Bye", "yes"),
    );
    let end = b.end(&mut client, &call);
    assert_eq!(
        (end.reason.as_str(), end.presence_type.as_deref()),
        ("hangup-command", Some("unavailable"))
    );
    b.assert_sipp_passed(&sipp.wait());
    // Nothing after the end; a command now finds no call.
    assert_eq!(
        b.refused(&mut client, &call, rayo("answer")),
        "item-not-found"
    );
}

/// An answered caller whose RTP flows; DTMF 1234# from the caller reaches
/// the client as `<dtmf signal>` events; the caller's BYE ends the call.
#[test]
fn answer_media_dtmf_events_and_the_caller_hanging_up() {
    let b = bench("");
    let mut client = b.available("usera");
    let caller = Caller::new();
    let rtp = &caller.rtp;
    let (mut call, offered) = offered_call(&b, &mut client, &caller);
    b.ok(&mut client, &offered.call, rayo("accept"));
    assert_eq!(call_response(&mut call), Some(180), "{}", b.server.log());
    b.ok(&mut client, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    let negotiated = call.negotiated().expect("negotiated");
    rtp.set_destination(negotiated.remote_rtp);
    // Our stream exists: the caller hears silence frames from us.
    assert!(rtp.wait_for_packets(10, WAIT), "RTP from the server");
    assert!(rtp.received().iter().all(|p| p.payload_type == 0));

    let pt = negotiated.telephone_event.expect("telephone-event");
    rtp.set_source(Source::Digits {
        digits: "1234#".into(),
        payload_type: pt,
        duration_ms: 100,
        gap_ms: 100,
    });
    let mut digits = String::new();
    for _ in 0.."1234#".len() {
        let dtmf = client
            .wait_call_event(&offered.call, "dtmf", WAIT)
            .unwrap_or_else(|| panic!("a dtmf event after {digits:?}\n{}", b.server.log()));
        let signal = dtmf
            .get_child("dtmf", RAYO_NS)
            .and_then(|d| d.get_attr("signal"));
        digits.push_str(signal.expect("signal"));
    }
    assert_eq!(digits, "1234#");
    let _ = rfc4733_digits;

    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    assert_eq!(b.end_reason(&mut client, &offered.call), "hungup");
}

/// Skips to the 180 (the 100 may come first); `Some(180)` once seen.
fn call_response(call: &mut CallHandle) -> Option<u16> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match call.wait_response(WAIT)? {
            180 => return Some(180),
            s if s >= 200 => return Some(s),
            _ => {}
        }
    }
    None
}

#[test]
fn rejects_by_reason() {
    let b = bench("");
    let mut client = b.available("usera");
    let caller = Caller::new();
    for (reason, code) in [(Some("busy"), 486), (None, 603), (Some("error"), 500)] {
        let (mut call, offered) = offered_call(&b, &mut client, &caller);
        let mut reject = rayo("reject");
        if let Some(reason) = reason {
            reject.push(rayo(reason));
        }
        b.ok(&mut client, &offered.call, reject);
        assert_eq!(call.wait_final(WAIT), Some(code), "{reason:?}");
        let end = b.end(&mut client, &offered.call);
        assert_eq!(
            end.reason,
            "hangup-command",
            "{}\n{}",
            end.end,
            b.server.log()
        );
    }
    // An unknown reason is bad-request and takes nothing.
    let (mut call, offered) = offered_call(&b, &mut client, &caller);
    let reject = rayo("reject").child(rayo("maybe"));
    assert_eq!(b.refused(&mut client, &offered.call, reject), "bad-request");
    hang_up_unanswered(&b, &mut client, &offered, &mut call);
}

/// A caller that expects a 302 whose Contact is the redirect target.
const UAC_REDIRECTED: &str = include_str!("scenarios/rayo_uac_redirected.xml");

#[test]
fn redirect_before_answer_is_a_302_with_the_target_as_contact() {
    let b = bench("");
    let mut client = b.available("usera");
    let sipp = sipp_caller(&b, UAC_REDIRECTED, 10);
    let offered = b.offer(&mut client);
    let redirect = rayo("redirect").attr("to", "sip:bob@example.com");
    b.ok(&mut client, &offered.call, redirect);
    assert_eq!(b.end_reason(&mut client, &offered.call), "hangup-command");
    b.assert_sipp_passed(&sipp.wait());
}

/// A caller answered, then held and unheld (re-INVITEs sendonly then
/// sendrecv), then REFERred to the redirect target: it accepts (202),
/// reports the transfer's 200 in a NOTIFY, and gets the BYE.
const UAC_HELD_THEN_REFERRED: &str = include_str!("scenarios/rayo_uac_held_referred.xml");

/// One re-INVITE from the server whose SDP must hold `a=<direction>` and
/// that carries the client's `X-Hold: <direction>` header, answered with
/// `answer`.
fn reinvite(direction: &str, answer: &str) -> String {
    format!(
        r#"  <recv request="INVITE">
    <action>
      <ereg regexp="a={direction}" search_in="body" check_it="true" assign_to="{direction}"/>
      <ereg regexp="{direction}" search_in="hdr" header="X-Hold:" check_it="true" assign_to="x_{direction}"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:alice@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a={answer}

    ]]>
  </send>
  <recv request="ACK"/>
"#
    )
}

fn referred_caller(held: bool) -> String {
    let (reinvites, vars) = if held {
        (
            reinvite("sendonly", "recvonly") + &reinvite("sendrecv", "sendrecv"),
            ",sendonly,sendrecv,x_sendonly,x_sendrecv",
        )
    } else {
        (String::new(), "")
    };
    UAC_HELD_THEN_REFERRED
        .replace("__REINVITES__", &reinvites)
        .replace("__HELD_VARS__", vars)
}

#[test]
fn hold_unhold_then_redirect_after_answer_is_a_refer() {
    let b = bench("");
    let mut client = b.available("usera");
    let sipp = sipp_caller(&b, &referred_caller(true), 15);
    let offered = b.offer(&mut client);
    let call = offered.call.clone();
    b.ok(&mut client, &call, rayo("answer"));
    // Right after answer: the hold waits for the caller's ACK, and each
    // result comes with the re-INVITE's 200, so the next may follow at once.
    let hold = with_header(rayo("hold"), "X-Hold", "sendonly");
    b.ok(&mut client, &call, hold);
    let unhold = with_header(rayo("unhold"), "X-Hold", "sendrecv");
    b.ok(&mut client, &call, unhold);
    let redirect = with_header(
        rayo("redirect").attr("to", "sip:bob@example.com"),
        "X-Reason",
        "transfer-1",
    );
    let Some(reply) = client.command(&call, redirect, WAIT) else {
        let run = sipp.wait();
        panic!(
            "redirect unanswered\n{}\n{}\n{}",
            run.messages,
            run.errors,
            b.server.log()
        );
    };
    assert_eq!(reply.get_attr("type"), Some("result"), "{reply}");
    assert_eq!(b.end_reason(&mut client, &call), "hangup-command");
    b.assert_sipp_passed(&sipp.wait());
}

#[test]
fn hold_before_answer_is_unexpected_request() {
    let b = bench("");
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (mut call, offered) = offered_call(&b, &mut client, &caller);
    assert_eq!(
        b.refused(&mut client, &offered.call, rayo("hold")),
        "unexpected-request"
    );
    hang_up_unanswered(&b, &mut client, &offered, &mut call);
}

#[test]
fn the_first_command_wins_and_every_offered_client_gets_the_end() {
    let b = bench("");
    let mut first = b.available("usera");
    let mut second = b.available("userb");
    let caller = Caller::new();
    let (mut call, offered) = offered_call(&b, &mut first, &caller);
    let also = b.offer(&mut second);
    assert_eq!(offered.call, also.call, "one call, one JID");
    b.ok(&mut second, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200));
    assert_eq!(
        b.refused(&mut first, &offered.call, rayo("hangup")),
        "conflict"
    );
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    for client in [&mut first, &mut second] {
        assert_eq!(b.end_reason(client, &offered.call), "hungup");
    }
    assert_eq!(
        b.refused(&mut second, &offered.call, rayo("hangup")),
        "item-not-found"
    );
    // A call that never existed.
    let nosuch = format!("nosuch@{DOMAIN}");
    assert_eq!(
        b.refused(&mut first, &nosuch, rayo("answer")),
        "item-not-found"
    );
}

#[test]
fn the_wiki_dialect_s_end_reasons_available_ends_and_id_refs() {
    let b = bench("  dialect: wiki\n");
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (mut call, offered) = answered_call(&b, &mut client, &caller);
    hang_up(&b, &mut client, &offered, &mut call);
    let end = b.end(&mut client, &offered.call);
    assert_eq!((end.reason.as_str(), end.presence_type), ("hangup", None));

    // A dial's <ref> names the call by id only; a rejection is `reject`.
    let bob = SipUa::bind();
    let to = format!("sip:bob@{}", bob.local_addr());
    let reply = client
        .iq_set(DOMAIN, rayo("dial").attr("to", to.as_str()), WAIT)
        .expect("dial answered");
    let reference = reply.get_child("ref", RAYO_NS).expect("a ref");
    assert_eq!(reference.get_attr("uri"), None, "{reply}");
    let id = reference.get_attr("id").expect("a ref id");
    let mut incoming = bob.wait_incoming(WAIT).expect("INVITE at bob");
    incoming.reject(603).expect("603");
    let end = b.end(&mut client, &format!("{id}@{DOMAIN}"));
    assert_eq!((end.reason.as_str(), end.presence_type), ("reject", None));
}

#[test]
fn malformed_xml_ends_that_stream_and_the_others_carry_on() {
    let b = bench("");
    let mut broken = b.available("usera");
    let mut good = b.available("userb");
    broken
        .send_raw(b"<iq type='set'><unclosed></iq>")
        .expect("sent");
    let closed = broken.wait_closed(WAIT).expect("stream closed");
    assert_eq!(closed, Some(xmpp::StreamError::NotWellFormed));
    let caller = Caller::new();
    let (mut call, offered) = answered_call(&b, &mut good, &caller);
    hang_up(&b, &mut good, &offered, &mut call);
}

/// A client that stops reading is dropped when its queue fills; the call
/// it controls goes on (the caller keeps its media) until the grace
/// period after the drop hangs it up.
#[test]
fn a_client_that_stops_reading_is_dropped_without_harming_calls() {
    let b = bench("");
    let mut reader = b.available("usera");
    let caller = Caller::new();
    let rtp = &caller.rtp;
    let (mut call, offered) = answered_call(&b, &mut reader, &caller);
    rtp.set_destination(call.negotiated().expect("negotiated").remote_rtp);

    // A second client floods pings and never reads the answers.
    let mut stalled = b.available("userb");
    let ping = "<iq type='get' id='p' to='rayo.test'><ping xmlns='urn:xmpp:ping'/></iq>";
    let flood = ping.repeat(200);
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline && stalled.send_raw(flood.as_bytes()).is_ok() {}
    assert!(
        stalled.wait_closed(WAIT).is_some(),
        "the stalled client is dropped"
    );
    // The call is unharmed: still answered, media still flowing, commands work.
    rtp.clear_received();
    assert!(
        rtp.wait_for_packets(10, WAIT),
        "media continues\n{}",
        b.server.log()
    );
    hang_up(&b, &mut reader, &offered, &mut call);
}
