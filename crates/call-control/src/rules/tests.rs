//! The rules driven with virtual time: every ordering rule has a test
//! (the property test over random sequences is in `property.rs`).

use std::time::{Duration, Instant};

use super::*;
use crate::{CollectDtmf, DtmfEnd, Join, Listen, Play};

pub(super) fn play() -> Command {
    Command::Play(Play {
        uri: "file://a.wav".into(),
        looped: false,
    })
}

pub(super) fn collect(timeout_sec: u64, termination: Option<char>) -> Command {
    Command::CollectDtmf(CollectDtmf {
        timeout: Duration::from_secs(timeout_sec),
        termination,
        max_digits: None,
    })
}

pub(super) fn listen(ms: u64) -> Command {
    Command::Listen(Listen {
        duration: Duration::from_millis(ms),
    })
}

pub(super) fn hangup() -> Command {
    Command::Hangup {
        headers: Vec::new(),
    }
}

fn drain(rules: &mut CallRules) -> Vec<Action> {
    std::iter::from_fn(|| rules.poll_action()).collect()
}

fn done(id: RequestId, result: Result<Output, Failure>) -> Action {
    Action::Emit(Event::Done { id, result })
}

fn ok(id: RequestId) -> Action {
    done(id, Ok(Output::None))
}

fn execute(id: RequestId, command: Command) -> Action {
    Action::Execute(Request { id, command })
}

/// An answered call with media, actions drained.
fn answered(t0: Instant) -> CallRules {
    let mut rules = CallRules::new(SlotPolicy::Replace);
    send(&mut rules, t0, 100, Command::Answer { headers: vec![] });
    rules.finished(100, Ok(Output::None));
    rules.media_ready(t0);
    drain(&mut rules);
    rules
}

fn send(rules: &mut CallRules, now: Instant, id: RequestId, command: Command) {
    rules.request(now, Request { id, command });
}

#[test]
fn answer_is_executed_then_reported() {
    let t0 = Instant::now();
    let mut rules = CallRules::default();
    send(&mut rules, t0, 1, Command::Answer { headers: vec![] });
    assert_eq!(
        drain(&mut rules),
        [execute(1, Command::Answer { headers: vec![] })]
    );
    rules.finished(1, Ok(Output::None));
    assert_eq!(
        drain(&mut rules),
        [Action::Emit(Event::Answered { headers: vec![] }), ok(1)]
    );
    assert!(rules.is_answered());
    // Accept and answer after answer are no-ops.
    send(&mut rules, t0, 2, Command::Answer { headers: vec![] });
    let accept = Command::Accept {
        early_media: false,
        headers: vec![],
    };
    send(&mut rules, t0, 3, accept);
    assert_eq!(drain(&mut rules), [ok(2), ok(3)]);
}

#[test]
fn media_before_answer_is_not_answered() {
    let t0 = Instant::now();
    let mut rules = CallRules::default();
    let commands = [play(), collect(5, None), listen(1000), Command::Echo];
    for (id, command) in commands.into_iter().enumerate() {
        send(&mut rules, t0, id as u64, command);
    }
    let expected: Vec<Action> = (0..4)
        .map(|id| done(id, Err(Failure::NotAnswered)))
        .collect();
    assert_eq!(drain(&mut rules), expected);
    // Answered, but the late offer's ACK has not come: still not answered.
    send(&mut rules, t0, 9, Command::Answer { headers: vec![] });
    rules.finished(9, Ok(Output::None));
    drain(&mut rules);
    send(&mut rules, t0, 10, play());
    assert_eq!(drain(&mut rules), [done(10, Err(Failure::NotAnswered))]);
    send(&mut rules, t0, 11, Command::Hold { headers: vec![] });
    assert_eq!(
        drain(&mut rules),
        [execute(11, Command::Hold { headers: vec![] })]
    );
}

#[test]
fn early_media_lets_components_run_before_answer() {
    let t0 = Instant::now();
    let mut rules = CallRules::default();
    let accept = Command::Accept {
        early_media: true,
        headers: vec![],
    };
    send(&mut rules, t0, 1, accept.clone());
    assert_eq!(drain(&mut rules), [execute(1, accept)]);
    rules.finished(1, Ok(Output::None));
    rules.media_ready(t0);
    send(&mut rules, t0, 2, play());
    send(&mut rules, t0, 3, Command::Hold { headers: vec![] });
    assert_eq!(
        drain(&mut rules),
        [
            ok(1),
            execute(2, play()),
            done(3, Err(Failure::NotAnswered))
        ]
    );
    assert!(!rules.is_answered());
}

#[test]
fn reject_is_checked_then_executed() {
    let t0 = Instant::now();
    let mut rules = CallRules::default();
    let reject = |code| Command::Reject {
        code,
        reason: None,
        headers: vec![],
    };
    send(&mut rules, t0, 1, reject(200));
    assert_eq!(
        drain(&mut rules),
        [done(
            1,
            Err(Failure::BadRequest("cannot reject with 200".into()))
        )]
    );
    send(&mut rules, t0, 2, reject(486));
    assert_eq!(drain(&mut rules), [execute(2, reject(486))]);
    rules.finished(2, Ok(Output::None));
    rules.gone(EndReason::CallerHangup);
    rules.end(EndReason::CallerHangup, None, vec![]);
    assert_eq!(
        drain(&mut rules),
        [
            ok(2),
            Action::Emit(Event::Ended {
                reason: EndReason::Rejected,
                code: None,
                headers: vec![]
            })
        ]
    );
    let mut answered = answered(t0);
    send(&mut answered, t0, 3, reject(486));
    assert_eq!(
        drain(&mut answered),
        [done(3, Err(Failure::InvalidState("call already answered")))]
    );
}

#[test]
fn component_started_precedes_its_done_and_one_done_only() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, play());
    assert_eq!(drain(&mut rules), [execute(1, play())]);
    rules.started(1);
    rules.started(1);
    rules.finished(1, Ok(Output::None));
    rules.finished(1, Ok(Output::None));
    assert_eq!(
        drain(&mut rules),
        [Action::Emit(Event::Started { id: 1 }), ok(1)]
    );
    // A play that fails to load gets only its Done.
    send(&mut rules, t0, 2, play());
    drain(&mut rules);
    rules.finished(2, Err(Failure::NotFound("no such file".into())));
    assert_eq!(
        drain(&mut rules),
        [done(2, Err(Failure::NotFound("no such file".into())))]
    );
}

#[test]
fn stop_of_running_component_and_of_unknown() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, Command::Echo);
    rules.started(1);
    drain(&mut rules);
    send(&mut rules, t0, 2, Command::Stop { target: 1 });
    assert_eq!(
        drain(&mut rules),
        [
            Action::StopComponent(1),
            done(1, Err(Failure::Stopped)),
            ok(2)
        ]
    );
    // The actor reports nothing for it; if it did, nothing comes of it.
    rules.finished(1, Ok(Output::None));
    send(&mut rules, t0, 3, Command::Stop { target: 1 });
    send(&mut rules, t0, 4, Command::Pause { target: 77 });
    assert_eq!(
        drain(&mut rules),
        [
            done(3, Err(Failure::NoSuchRequest)),
            done(4, Err(Failure::NoSuchRequest))
        ]
    );
}

#[test]
fn a_new_component_replaces_the_one_in_its_slot() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, play());
    rules.started(1);
    drain(&mut rules);
    send(&mut rules, t0, 2, Command::Echo);
    assert_eq!(
        drain(&mut rules),
        [
            Action::StopComponent(1),
            done(1, Err(Failure::Stopped)),
            execute(2, Command::Echo)
        ]
    );
}

#[test]
fn refuse_policy_keeps_the_running_component() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    rules.set_slot_policy(SlotPolicy::Refuse);
    send(&mut rules, t0, 1, collect(5, None));
    drain(&mut rules);
    send(&mut rules, t0, 2, collect(5, None));
    let actions = drain(&mut rules);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Emit(Event::Done {
                id: 2,
                result: Err(Failure::Conflict(_))
            })]
        ),
        "{actions:?}"
    );
    assert_eq!(rules.components().collect::<Vec<_>>(), [1]);
}

#[test]
fn different_slots_run_at_once() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, play());
    send(&mut rules, t0, 2, collect(5, Some('#')));
    send(&mut rules, t0, 3, listen(1000));
    assert_eq!(
        drain(&mut rules),
        [
            execute(1, play()),
            Action::Emit(Event::Started { id: 2 }),
            Action::WantDigits(true),
            execute(3, listen(1000)),
        ]
    );
    assert_eq!(rules.components().collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn digits_feed_the_collect_and_reach_a_subscriber() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    rules.digit(t0, '5');
    assert_eq!(drain(&mut rules), [], "no subscriber, no collect");
    send(&mut rules, t0, 1, Command::DtmfEvents { enabled: true });
    assert_eq!(drain(&mut rules), [Action::WantDigits(true), ok(1)]);
    send(&mut rules, t0, 2, collect(5, Some('#')));
    rules.digit(t0, '1');
    rules.digit(t0, '#');
    let digits = Output::Dtmf {
        digits: "1#".into(),
        end: DtmfEnd::Terminator,
    };
    assert_eq!(
        drain(&mut rules),
        [
            Action::Emit(Event::Started { id: 2 }),
            Action::Emit(Event::Dtmf { digit: '1' }),
            Action::Emit(Event::Dtmf { digit: '#' }),
            done(2, Ok(digits)),
        ]
    );
    send(&mut rules, t0, 3, Command::DtmfEvents { enabled: false });
    assert_eq!(drain(&mut rules), [Action::WantDigits(false), ok(3)]);
}

#[test]
fn collect_times_out_in_virtual_time() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, collect(5, Some('#')));
    rules.digit(t0 + Duration::from_secs(1), '7');
    drain(&mut rules);
    assert_eq!(rules.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    rules.handle_timeout(t0 + Duration::from_millis(4999));
    assert_eq!(drain(&mut rules), []);
    rules.handle_timeout(t0 + Duration::from_secs(5));
    let digits = Output::Dtmf {
        digits: "7".into(),
        end: DtmfEnd::Timeout,
    };
    assert_eq!(
        drain(&mut rules),
        [Action::WantDigits(false), done(1, Ok(digits))]
    );
    assert_eq!(rules.poll_timeout(), None);
}

#[test]
fn listen_is_completed_at_its_deadline() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, listen(1000));
    rules.started(1);
    drain(&mut rules);
    let deadline = t0 + Duration::from_millis(1000) + LISTEN_SLACK;
    assert_eq!(rules.poll_timeout(), Some(deadline));
    rules.handle_timeout(deadline);
    assert_eq!(drain(&mut rules), [Action::Complete(1)]);
    assert_eq!(rules.poll_timeout(), None);
    let audio = Output::Audio {
        samples: vec![0; 4],
        sample_rate: 8000,
    };
    rules.finished(1, Ok(audio.clone()));
    assert_eq!(drain(&mut rules), [done(1, Ok(audio))]);
}

#[test]
fn hangup_ends_components_first_then_late_requests_are_answered() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, play());
    rules.started(1);
    send(&mut rules, t0, 2, collect(5, None));
    drain(&mut rules);
    send(&mut rules, t0, 3, hangup());
    assert_eq!(
        drain(&mut rules),
        [
            Action::StopComponent(1),
            done(1, Err(Failure::CallEnded)),
            Action::StopComponent(2),
            done(2, Err(Failure::CallEnded)),
            Action::WantDigits(false),
            execute(3, hangup()),
        ]
    );
    rules.finished(3, Ok(Output::None));
    // Queued behind the hangup: a hangup is done, anything else too late.
    rules.gone(EndReason::CallerHangup);
    send(&mut rules, t0, 4, hangup());
    send(&mut rules, t0, 5, play());
    rules.end(EndReason::CallerHangup, None, vec![]);
    send(&mut rules, t0, 6, hangup());
    assert_eq!(
        drain(&mut rules),
        [
            ok(3),
            ok(4),
            done(5, Err(Failure::CallEnded)),
            Action::Emit(Event::Ended {
                reason: EndReason::Hangup,
                code: None,
                headers: vec![]
            }),
            done(6, Err(Failure::CallEnded)),
        ]
    );
}

#[test]
fn call_end_completes_components_then_unjoins_then_ends() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    let join = Join {
        target: JoinTarget::Call("other".into()),
        direction: JoinDirection::Duplex,
    };
    send(&mut rules, t0, 1, Command::Join(join.clone()));
    send(&mut rules, t0, 2, Command::Echo);
    rules.started(2);
    rules.joined(join.target.clone(), join.direction);
    rules.finished(1, Ok(Output::None));
    send(&mut rules, t0, 3, Command::Join(join.clone()));
    drain(&mut rules);
    send(&mut rules, t0, 4, Command::Hold { headers: vec![] });
    rules.gone(EndReason::CallerHangup);
    rules.end(
        EndReason::Shutdown,
        Some(200),
        vec![("X-A".into(), "1".into())],
    );
    rules.digit(t0, '1');
    rules.started(2);
    rules.finished(2, Ok(Output::None));
    rules.joined(join.target.clone(), join.direction);
    assert_eq!(
        drain(&mut rules),
        [
            execute(4, Command::Hold { headers: vec![] }),
            Action::StopComponent(2),
            done(2, Err(Failure::CallEnded)),
            done(4, Err(Failure::CallEnded)),
            Action::Emit(Event::Unjoined {
                target: join.target.clone()
            }),
            Action::Emit(Event::Ended {
                reason: EndReason::CallerHangup,
                code: Some(200),
                headers: vec![("X-A".into(), "1".into())]
            }),
        ]
    );
    assert!(rules.is_ended());
}

#[test]
fn transfer_ends_components_before_its_done() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, Command::Echo);
    rules.started(1);
    let transfer = Command::Transfer {
        endpoint: "bot".into(),
    };
    send(&mut rules, t0, 2, transfer.clone());
    rules.finished(2, Ok(Output::None));
    rules.end(EndReason::CallerHangup, None, vec![]);
    let actions = drain(&mut rules);
    assert_eq!(
        actions[2..],
        [
            execute(2, transfer),
            Action::StopComponent(1),
            done(1, Err(Failure::CallEnded)),
            ok(2),
            Action::Emit(Event::Ended {
                reason: EndReason::Transferred,
                code: None,
                headers: vec![]
            }),
        ]
    );
    // A failed transfer leaves the call as it was.
    let mut rules = answered(t0);
    send(
        &mut rules,
        t0,
        1,
        Command::Transfer {
            endpoint: "x".into(),
        },
    );
    rules.finished(1, Err(Failure::UnknownEndpoint));
    send(&mut rules, t0, 2, Command::Echo);
    assert_eq!(
        drain(&mut rules)[1..],
        [
            done(1, Err(Failure::UnknownEndpoint)),
            execute(2, Command::Echo)
        ]
    );
}

#[test]
fn redirect_after_answer_keeps_the_call_until_it_is_gone() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    send(&mut rules, t0, 1, Command::Echo);
    rules.started(1);
    let redirect = Command::Redirect {
        uri: "sip:b@example.com".into(),
        headers: vec![],
    };
    send(&mut rules, t0, 2, redirect.clone());
    send(&mut rules, t0, 3, redirect.clone());
    rules.finished(2, Ok(Output::None));
    assert_eq!(
        drain(&mut rules)[2..],
        [
            execute(2, redirect),
            done(
                3,
                Err(Failure::Conflict("a redirect is in progress".into()))
            ),
            ok(2)
        ]
    );
    assert_eq!(rules.components().collect::<Vec<_>>(), [1], "echo runs on");
    rules.gone(EndReason::Redirected);
    rules.end(EndReason::CallerHangup, None, vec![]);
    assert_eq!(
        drain(&mut rules),
        [
            Action::StopComponent(1),
            done(1, Err(Failure::CallEnded)),
            Action::Emit(Event::Ended {
                reason: EndReason::Redirected,
                code: None,
                headers: vec![]
            })
        ]
    );
}

#[test]
fn unjoin_of_what_is_not_joined_is_refused() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    let target = JoinTarget::Mixer("room".into());
    send(&mut rules, t0, 1, Command::Unjoin { target });
    assert_eq!(
        drain(&mut rules),
        [done(1, Err(Failure::InvalidState("not joined")))]
    );
}

#[test]
fn a_dialed_call_refuses_answer_and_reject_until_its_party_answers() {
    let mut rules = CallRules::default();
    rules.set_outbound();
    let now = Instant::now();
    for (id, command) in [
        (1, Command::Answer { headers: vec![] }),
        (
            2,
            Command::Reject {
                code: 486,
                reason: None,
                headers: vec![],
            },
        ),
    ] {
        rules.request(now, Request { id, command });
        assert_eq!(
            rules.poll_action(),
            Some(Action::Emit(Event::Done {
                id,
                result: Err(Failure::InvalidState("the dialed party has not answered")),
            }))
        );
    }
    rules.ringing(vec![]);
    rules.answered(vec![("X-A".into(), "1".into())]);
    assert_eq!(
        rules.poll_action(),
        Some(Action::Emit(Event::Ringing { headers: vec![] }))
    );
    assert!(matches!(
        rules.poll_action(),
        Some(Action::Emit(Event::Answered { .. }))
    ));
    rules.request(
        now,
        Request {
            id: 3,
            command: Command::Answer { headers: vec![] },
        },
    );
    assert_eq!(
        rules.poll_action(),
        Some(Action::Emit(Event::Done {
            id: 3,
            result: Ok(Output::None),
        }))
    );
}

#[test]
fn speaking_is_told_only_while_in_that_mixer() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    let room = JoinTarget::Mixer("conf1".into());
    rules.speaking("conf1", true);
    send(
        &mut rules,
        t0,
        1,
        Command::Join(Join {
            target: room.clone(),
            direction: JoinDirection::Duplex,
        }),
    );
    rules.joined(room.clone(), JoinDirection::Duplex);
    rules.finished(1, Ok(Output::None));
    drain(&mut rules);
    rules.speaking("other", true);
    rules.speaking("conf1", true);
    rules.unjoined(room.clone());
    rules.speaking("conf1", false);
    assert_eq!(
        drain(&mut rules),
        [
            Action::Emit(Event::Speaking {
                mixer: "conf1".into(),
                speaking: true
            }),
            Action::Emit(Event::Unjoined { target: room }),
        ]
    );
}

#[test]
fn a_join_request_is_answered_before_its_joined_event() {
    let t0 = Instant::now();
    let mut rules = answered(t0);
    let join = Join {
        target: JoinTarget::Mixer("conf1".into()),
        direction: JoinDirection::Recv,
    };
    send(&mut rules, t0, 1, Command::Join(join.clone()));
    drain(&mut rules);
    // The actor reports the join while carrying the request out (the
    // target as it normalised it), then the request's result.
    rules.joined(JoinTarget::Mixer("Conf1".into()), join.direction);
    assert_eq!(drain(&mut rules), []);
    rules.finished(1, Ok(Output::None));
    assert_eq!(
        drain(&mut rules),
        [
            ok(1),
            Action::Emit(Event::Joined {
                target: JoinTarget::Mixer("Conf1".into()),
                direction: JoinDirection::Recv
            }),
        ]
    );
    // A join made by the other call (no request here) is told at once.
    let other = JoinTarget::Call("b".into());
    rules.joined(other.clone(), JoinDirection::Duplex);
    assert_eq!(
        drain(&mut rules),
        [Action::Emit(Event::Joined {
            target: other,
            direction: JoinDirection::Duplex
        })]
    );
}
