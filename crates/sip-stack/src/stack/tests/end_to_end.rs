//! Two stacks talking to each other through a virtual network, in virtual time.

use std::time::{Duration, Instant};

use sip::{HeaderName, Host, Method, Request, Uri};

use super::*;
use crate::auth::{DigestClient, DigestVerdict, DigestVerifier, DigestVerifierConfig};
use crate::{make_response, DialogId, StackEvent};

const ALICE: &str = "192.0.2.1:5060";
const BOB: &str = "192.0.2.2:5060";

/// Alice's and Bob's stacks joined by a UDP "network" that may drop datagrams.
struct Call {
    alice: SipStack,
    bob: SipStack,
    t0: Instant,
    now: Instant,
    /// Datagrams to drop, by (sender is alice, first line prefix); each entry drops one.
    drops: Vec<(bool, &'static str)>,
    /// Events seen by each side since the last take.
    alice_events: Vec<StackEvent>,
    bob_events: Vec<StackEvent>,
}

impl Call {
    fn new() -> Call {
        let t0 = Instant::now();
        Call {
            alice: stack_at(ALICE, 11),
            bob: stack_at(BOB, 22),
            t0,
            now: t0,
            drops: Vec::new(),
            alice_events: Vec::new(),
            bob_events: Vec::new(),
        }
    }

    fn to_bob() -> crate::Destination {
        crate::Destination {
            address: addr(BOB),
            transport: crate::Transport::Udp,
            connection: None,
        }
    }

    /// Moves datagrams until both stacks are quiet.
    fn pump(&mut self) {
        loop {
            let from_alice = drain(&mut self.alice);
            let from_bob = drain(&mut self.bob);
            self.alice_events.extend(from_alice.events);
            self.bob_events.extend(from_bob.events);
            if from_alice.sent.is_empty() && from_bob.sent.is_empty() {
                return;
            }
            for (is_alice, transmit) in from_alice
                .sent
                .into_iter()
                .map(|t| (true, t))
                .chain(from_bob.sent.into_iter().map(|t| (false, t)))
            {
                let line = String::from_utf8_lossy(&transmit.bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if let Some(pos) = self
                    .drops
                    .iter()
                    .position(|(a, prefix)| *a == is_alice && line.starts_with(prefix))
                {
                    self.drops.remove(pos);
                    continue;
                }
                let (target, source) = if is_alice {
                    (&mut self.bob, ALICE)
                } else {
                    (&mut self.alice, BOB)
                };
                assert_eq!(
                    transmit.destination,
                    addr(if is_alice { BOB } else { ALICE }),
                    "{line}"
                );
                target.handle_bytes(
                    self.now,
                    &transmit.bytes,
                    addr(source),
                    crate::Transport::Udp,
                    None,
                );
            }
        }
    }

    /// Advances virtual time to `t0 + at`, firing both stacks' timers in order.
    fn advance_to(&mut self, at: Duration) {
        let end = self.t0 + at;
        loop {
            let next = [self.alice.poll_timeout(), self.bob.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(deadline) if deadline <= end => {
                    self.now = deadline;
                    self.alice.handle_timeout(deadline);
                    self.bob.handle_timeout(deadline);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn take_bob_request(&mut self) -> (crate::ServerTransactionId, Request) {
        let drained = Drained {
            sent: Vec::new(),
            events: std::mem::take(&mut self.bob_events),
        };
        new_request(&drained)
    }
}

fn invite_to_bob(sdp: &str) -> Request {
    let mut r = Request::new(
        Method::Invite,
        Uri::sip(Some("bob"), Host::V4([192, 0, 2, 2].into()), Some(5060)),
    );
    r.headers
        .push_known(HeaderName::From, "<sip:alice@192.0.2.1>");
    r.headers.push_known(HeaderName::To, "<sip:bob@192.0.2.2>");
    r.headers
        .push_known(HeaderName::Contact, "<sip:alice@192.0.2.1:5060>");
    r.headers
        .push_known(HeaderName::ContentType, "application/sdp");
    r.body = sdp.as_bytes().to_vec();
    r
}

fn answer(request: &Request, status: u16) -> sip::Response {
    let mut response = make_response(request, status);
    response
        .headers
        .push_known(HeaderName::Contact, "<sip:bob@192.0.2.2:5060>");
    response
}

/// INVITE / 100 / 180 / 200 / ACK; returns both sides' dialog ids.
fn establish(call: &mut Call) -> (DialogId, DialogId) {
    call.alice
        .send_request(call.now, invite_to_bob("v=0 offer\r\n"), Call::to_bob())
        .expect("sent");
    call.pump();
    let (tx, invite) = call.take_bob_request();
    let statuses = |events: &[StackEvent]| -> Vec<u16> {
        events
            .iter()
            .filter_map(|e| match e {
                StackEvent::Response { response, .. } => Some(response.status),
                _ => None,
            })
            .collect()
    };
    assert_eq!(statuses(&call.alice_events), [100]);
    call.bob
        .respond(call.now, tx, make_response(&invite, 180))
        .expect("ringing");
    call.pump();
    call.now += Duration::from_secs(2);
    call.bob
        .respond(call.now, tx, answer(&invite, 200))
        .expect("answer");
    call.pump();
    assert_eq!(statuses(&call.alice_events), [100, 180, 200]);
    let alice_dialog = call
        .alice_events
        .iter()
        .find_map(|e| match e {
            StackEvent::Response {
                dialog: Some(d), ..
            } => Some(d.clone()),
            _ => None,
        })
        .expect("alice has a dialog");
    let bob_dialog = match &call.bob_events[..] {
        [StackEvent::Ack { dialog, request }] => {
            assert!(
                request.body.is_empty(),
                "offer was in the INVITE; ACK is empty"
            );
            dialog.clone()
        }
        other => panic!("bob expected the ACK, got {other:?}"),
    };
    call.alice_events.clear();
    call.bob_events.clear();
    (alice_dialog, bob_dialog)
}

#[test]
fn invite_ringing_answer_ack_bye_ok_and_everything_drains() {
    let mut call = Call::new();
    let (alice_dialog, bob_dialog) = establish(&mut call);
    assert_eq!(alice_dialog.call_id, bob_dialog.call_id);
    assert_eq!(alice_dialog.local_tag, bob_dialog.remote_tag);
    assert_eq!(alice_dialog.remote_tag, bob_dialog.local_tag);
    assert_eq!(
        call.alice
            .dialog(&alice_dialog)
            .map(|d| d.remote_target().to_string())
            .as_deref(),
        Some("sip:bob@192.0.2.2:5060")
    );

    call.now += Duration::from_secs(60);
    let bye = call
        .alice
        .new_in_dialog_request(&alice_dialog, Method::Bye)
        .expect("dialog");
    call.alice
        .send_in_dialog(call.now, &alice_dialog, bye)
        .expect("sent");
    call.pump();
    let (tx, bye) = call.take_bob_request();
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(call.bob.dialog_count(), 0);
    call.bob
        .respond(call.now, tx, make_response(&bye, 200))
        .expect("ok");
    call.pump();
    assert!(
        matches!(&call.alice_events[..], [StackEvent::Response { response, .. }] if response.status == 200)
    );
    assert_eq!(call.alice.dialog_count(), 0);

    call.advance_to(Duration::from_secs(300));
    assert_drained(&mut call.alice);
    assert_drained(&mut call.bob);
}

#[test]
fn lost_answer_is_retransmitted_and_acked_once() {
    let mut call = Call::new();
    call.drops.push((false, "SIP/2.0 200"));
    call.alice
        .send_request(call.now, invite_to_bob("v=0\r\n"), Call::to_bob())
        .expect("sent");
    call.pump();
    let (tx, invite) = call.take_bob_request();
    call.bob
        .respond(call.now, tx, answer(&invite, 200))
        .expect("answer");
    call.pump();
    assert!(call.bob_events.is_empty(), "the 200 was lost, no ACK yet");
    call.advance_to(Duration::from_millis(500));
    assert!(
        matches!(&call.bob_events[..], [StackEvent::Ack { .. }]),
        "{:?}",
        call.bob_events
    );
    call.advance_to(Duration::from_secs(100));
    assert_eq!(
        call.bob_events.len(),
        1,
        "no further ACKs or dialog termination"
    );
    assert_eq!(call.bob.dialog_count(), 1);
}

#[test]
fn lost_ack_is_repaired_by_the_answer_retransmission() {
    let mut call = Call::new();
    call.drops.push((true, "ACK"));
    call.alice
        .send_request(call.now, invite_to_bob("v=0\r\n"), Call::to_bob())
        .expect("sent");
    call.pump();
    let (tx, invite) = call.take_bob_request();
    call.bob
        .respond(call.now, tx, answer(&invite, 200))
        .expect("answer");
    call.pump();
    assert!(call.bob_events.is_empty());
    call.advance_to(Duration::from_secs(1));
    assert!(matches!(&call.bob_events[..], [StackEvent::Ack { .. }]));
    let responses = call
        .alice_events
        .iter()
        .filter(|e| matches!(e, StackEvent::Response { .. }))
        .count();
    assert_eq!(
        responses, 2,
        "100 and one 200: the retransmitted 200 is not reported again"
    );
}

#[test]
fn digest_challenge_and_authenticated_retry() {
    let mut call = Call::new();
    let mut verifier =
        DigestVerifier::new(DigestVerifierConfig::new("192.0.2.2"), [3u8; 32], call.t0);
    let mut credentials = DigestClient::with_seed("alice", "secret", 5);
    let mut invite = invite_to_bob("v=0\r\n");
    call.alice
        .prepare_request(&mut invite)
        .expect("well-formed");
    call.alice
        .send_request(call.now, invite.clone(), Call::to_bob())
        .expect("sent");
    call.pump();
    let (tx, received) = call.take_bob_request();
    let password = |user: &str| (user == "alice").then(|| "secret".to_string());
    assert_eq!(
        verifier.verify_request(call.now, &received, false, password),
        DigestVerdict::Missing
    );
    let challenge = verifier.challenge_response(call.now, &received, false, false);
    call.bob
        .respond(call.now, tx, challenge)
        .expect("challenge");
    call.pump();
    let unauthorized = call
        .alice_events
        .iter()
        .find_map(|e| match e {
            StackEvent::Response { response, .. } if response.status == 401 => {
                Some(response.clone())
            }
            _ => None,
        })
        .expect("alice got the 401 (and the stack ACKed it)");
    assert!(
        call.bob_events.is_empty(),
        "the ACK for 401 is absorbed by Bob's transaction"
    );

    credentials
        .authorize_request(&mut invite, &unauthorized)
        .expect("answerable");
    call.alice
        .send_request(call.now, invite, Call::to_bob())
        .expect("resent");
    call.pump();
    let (tx, received) = call.take_bob_request();
    assert_eq!(received.headers.get(HeaderName::CSeq), Some("2 INVITE"));
    assert_eq!(
        verifier.verify_request(call.now, &received, false, password),
        DigestVerdict::Authorized {
            username: "alice".into()
        }
    );
    call.bob
        .respond(call.now, tx, answer(&received, 200))
        .expect("answer");
    call.pump();
    assert!(matches!(&call.bob_events[..], [StackEvent::Ack { .. }]));
}
