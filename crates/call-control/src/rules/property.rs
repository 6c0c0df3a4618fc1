//! The lifecycle invariants over random input sequences, with a simulated
//! actor: one `Done` per request, `Started` at most once and before `Done`,
//! nothing after `Ended` but late requests' `CallEnded`.

use proptest::prelude::*;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::tests::{collect, hangup, listen, play};
use super::*;
use crate::Join;

#[derive(Debug, Clone)]
enum Input {
    Request(u8),
    Stop(u8),
    MediaReady,
    Answered,
    /// The simulated actor reports its oldest (or a chosen) execution.
    Finish(u8, bool),
    Start(u8),
    Digit(char),
    Advance(u16),
    Joined,
    /// A prompt's announcement played to its end.
    AnnouncementDone(u8),
    Gone,
    End,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (0u8..17).prop_map(Input::Request),
        1 => (0u8..40).prop_map(Input::AnnouncementDone),
        1 => (0u8..40).prop_map(Input::Stop),
        1 => Just(Input::MediaReady),
        1 => Just(Input::Answered),
        3 => (0u8..40, any::<bool>()).prop_map(|(i, ok)| Input::Finish(i, ok)),
        2 => (0u8..40).prop_map(Input::Start),
        2 => prop::sample::select(vec!['1', '2', '#']).prop_map(Input::Digit),
        1 => (0u16..3000).prop_map(Input::Advance),
        1 => Just(Input::Joined),
        1 => Just(Input::Gone),
        1 => Just(Input::End),
    ]
}

fn command(n: u8) -> Command {
    match n {
        0 => Command::Answer { headers: vec![] },
        1 => play(),
        2 => collect(2, Some('#')),
        3 => listen(500),
        4 => Command::Echo,
        5 => hangup(),
        6 => Command::DtmfEvents { enabled: true },
        7 => Command::Hold { headers: vec![] },
        8 => Command::Transfer {
            endpoint: "b".into(),
        },
        9 => Command::Join(Join {
            target: JoinTarget::Call("x".into()),
            direction: JoinDirection::Duplex,
        }),
        10 => Command::Accept {
            early_media: false,
            headers: vec![],
        },
        12 => Command::Announce(crate::Announcement::once(vec![crate::Segment::Silence(
            Duration::from_millis(100),
        )])),
        13 => Command::Input(super::media_tests::digits_input(2)),
        14 => Command::Prompt(Box::new(crate::Prompt {
            announcement: crate::Announcement::once(vec![]),
            input: super::media_tests::digits_input(2),
            barge_in: true,
        })),
        15 => Command::Record(super::media_tests::record()),
        16 => Command::Analyze(crate::Analysis {
            signals: vec![(crate::SignalKind::Dtmf, true)],
        }),
        _ => Command::Reject {
            code: 486,
            reason: None,
            headers: vec![],
        },
    }
}

proptest! {
    #[test]
    fn every_request_completes_once_in_order(
        inputs in prop::collection::vec(input(), 0..60),
        early_media in any::<bool>(),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut rules = CallRules::default();
        rules.set_early_media(early_media);
        let mut next_id: RequestId = 0;
        let mut requested: Vec<RequestId> = Vec::new();
        let mut executing: Vec<RequestId> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        let mut ended_at: Option<usize> = None;
        let mut late: HashSet<RequestId> = HashSet::new();
        let all = inputs.into_iter().chain([Input::Gone, Input::End]);
        for input in all {
            match input {
                Input::Request(n) | Input::Stop(n) => {
                    let command = match input {
                        Input::Stop(_) => Command::Stop { target: RequestId::from(n) },
                        _ => command(n),
                    };
                    if ended_at.is_some() {
                        late.insert(next_id);
                    }
                    requested.push(next_id);
                    rules.request(now, Request { id: next_id, command });
                    next_id += 1;
                }
                Input::MediaReady => rules.media_ready(now),
                Input::AnnouncementDone(i) => {
                    if !executing.is_empty() {
                        let id = executing[usize::from(i) % executing.len()];
                        rules.announcement_finished(now, id);
                    }
                }
                Input::Answered => rules.answered(vec![]),
                Input::Finish(i, ok) => {
                    if !executing.is_empty() {
                        let id = executing.remove(usize::from(i) % executing.len());
                        let result = if ok { Ok(Output::None) } else { Err(Failure::Internal("x".into())) };
                        rules.finished(id, result);
                    }
                }
                Input::Start(i) => {
                    if !executing.is_empty() {
                        rules.started(executing[usize::from(i) % executing.len()]);
                    }
                }
                Input::Digit(d) => rules.digit(now, d),
                Input::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    if rules.poll_timeout().is_some_and(|at| at <= now) {
                        rules.handle_timeout(now);
                    }
                }
                Input::Joined => rules.joined(JoinTarget::Call("x".into()), JoinDirection::Duplex),
                Input::Gone => rules.gone(EndReason::CallerHangup),
                Input::End => rules.end(EndReason::CallerHangup, None, vec![]),
            }
            while let Some(action) = rules.poll_action() {
                match action {
                    Action::Emit(event) => {
                        if matches!(event, Event::Ended { .. }) {
                            prop_assert!(ended_at.is_none(), "a second Ended");
                            ended_at = Some(events.len());
                        }
                        events.push(event);
                    }
                    Action::Execute(request) => executing.push(request.id),
                    Action::Complete(id) => {
                        executing.retain(|e| *e != id);
                        rules.finished(id, Ok(Output::None));
                    }
                    Action::StopComponent(id) => executing.retain(|e| *e != id),
                    Action::WantDigits(_) | Action::StopAnnouncement(_) => {}
                }
            }
        }
        let ended_at = ended_at.expect("the call ended");
        let mut done: HashMap<RequestId, usize> = HashMap::new();
        let mut started: HashMap<RequestId, usize> = HashMap::new();
        for (at, event) in events.iter().enumerate() {
            match event {
                Event::Done { id, result } => {
                    prop_assert!(done.insert(*id, at).is_none(), "two Dones for {}", id);
                    if at > ended_at {
                        prop_assert!(late.contains(id), "Done of {} after Ended", id);
                        prop_assert_eq!(result, &Err(Failure::CallEnded));
                    }
                }
                Event::Started { id } => {
                    prop_assert!(!done.contains_key(id), "Started of {} after its Done", id);
                    prop_assert!(started.insert(*id, at).is_none(), "two Starteds for {}", id);
                }
                other => prop_assert!(at <= ended_at, "{:?} after Ended", other),
            }
        }
        for id in requested {
            prop_assert!(done.contains_key(&id), "no Done for {}", id);
        }
    }
}
