//! Rules for announcements, inputs, prompts, records and early media on
//! demand, in virtual time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::{
    Adjustment, Announcement, DigitGrammar, DigitMatcher, GrammarProgress, GrammarRef, Input,
    InputOutcome, Prompt, Record, RecordDirection, RecordFormat, Segment,
};

/// Exactly `n` keys of `0`–`9`.
#[derive(Debug)]
struct Exactly(usize);

#[derive(Debug)]
struct ExactlyMatcher {
    n: usize,
    keys: String,
    dead: bool,
}

impl DigitGrammar for Exactly {
    fn matcher(&self) -> Box<dyn DigitMatcher> {
        Box::new(ExactlyMatcher {
            n: self.0,
            keys: String::new(),
            dead: false,
        })
    }
}

impl DigitMatcher for ExactlyMatcher {
    fn feed(&mut self, key: char) -> GrammarProgress {
        self.dead |= !key.is_ascii_digit();
        self.keys.push(key);
        self.progress()
    }

    fn progress(&self) -> GrammarProgress {
        match self.keys.len() {
            _ if self.dead => GrammarProgress::NoMatch,
            n if n == self.n => GrammarProgress::Match {
                instance: self.keys.clone(),
                can_grow: false,
            },
            n if n < self.n => GrammarProgress::NeedMore,
            _ => GrammarProgress::NoMatch,
        }
    }
}

/// An input of exactly `n` digits, `#` ends it, 5 s to start, 2 s between keys.
pub(super) fn digits_input(n: usize) -> Input {
    Input {
        grammars: vec![GrammarRef(Arc::new(Exactly(n)))],
        terminator: Some('#'),
        initial_timeout: Some(Duration::from_secs(5)),
        inter_digit_timeout: Some(Duration::from_secs(2)),
        recognition_timeout: None,
    }
}

/// A plain duplex WAV recording.
pub(super) fn record() -> Record {
    Record {
        format: RecordFormat::Wav,
        direction: RecordDirection::Duplex,
        mix: false,
        start_beep: false,
        stop_beep: false,
        start_paused: false,
        max_duration: None,
        initial_timeout: None,
        final_timeout: None,
    }
}

fn announce() -> Command {
    Command::Announce(Announcement::once(vec![Segment::Silence(
        Duration::from_millis(500),
    )]))
}

fn prompt(barge_in: bool) -> Command {
    Command::Prompt(Box::new(Prompt {
        announcement: Announcement::once(vec![Segment::Silence(Duration::from_secs(1))]),
        input: digits_input(4),
        barge_in,
    }))
}

fn drain(rules: &mut CallRules) -> Vec<Action> {
    std::iter::from_fn(|| rules.poll_action()).collect()
}

fn send(rules: &mut CallRules, now: Instant, id: RequestId, command: Command) {
    rules.request(now, Request { id, command });
}

fn rayo_call(t0: Instant) -> CallRules {
    let mut rules = CallRules::new(SlotPolicy::Refuse);
    rules.set_early_media(true);
    send(&mut rules, t0, 100, Command::Answer { headers: vec![] });
    rules.finished(100, Ok(Output::None));
    rules.media_ready(t0);
    drain(&mut rules);
    rules
}

fn done_of(actions: &[Action], id: RequestId) -> Vec<Result<Output, Failure>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(Event::Done { id: d, result }) if *d == id => Some(result.clone()),
            _ => None,
        })
        .collect()
}

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn an_input_matches_on_its_last_key_and_wants_digits_only_while_it_runs() {
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    send(&mut rules, t0, 1, Command::Input(digits_input(4)));
    assert_eq!(
        drain(&mut rules),
        [
            Action::Emit(Event::Started { id: 1 }),
            Action::WantDigits(true)
        ]
    );
    for (i, key) in "123".chars().enumerate() {
        rules.digit(ms(t0, 100 * i as u64), key);
    }
    assert!(drain(&mut rules).is_empty());
    rules.digit(ms(t0, 400), '4');
    let actions = drain(&mut rules);
    assert_eq!(
        done_of(&actions, 1),
        [Ok(Output::Input(InputOutcome::Match {
            digits: "1234".into(),
            instance: "1234".into()
        }))]
    );
    assert!(actions.contains(&Action::WantDigits(false)));
}

#[test]
fn an_input_without_keys_is_noinput_at_its_initial_timeout() {
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    send(&mut rules, t0, 1, Command::Input(digits_input(4)));
    drain(&mut rules);
    assert_eq!(rules.poll_timeout(), Some(ms(t0, 5000)));
    rules.handle_timeout(ms(t0, 5000));
    assert_eq!(
        done_of(&drain(&mut rules), 1),
        [Ok(Output::Input(InputOutcome::NoInput))]
    );
}

#[test]
fn inputs_and_records_run_side_by_side_but_a_second_output_conflicts() {
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    send(&mut rules, t0, 1, Command::Input(digits_input(2)));
    send(&mut rules, t0, 2, Command::Input(digits_input(3)));
    send(&mut rules, t0, 3, Command::Record(record()));
    send(&mut rules, t0, 4, Command::Record(record()));
    send(&mut rules, t0, 5, announce());
    send(&mut rules, t0, 6, prompt(true));
    let actions = drain(&mut rules);
    for id in 1..=5 {
        assert!(done_of(&actions, id).is_empty(), "{id} runs");
    }
    assert!(matches!(
        done_of(&actions, 6)[..],
        [Err(Failure::Conflict(_))]
    ));
    rules.digit(t0, '1');
    rules.digit(t0, '2');
    let actions = drain(&mut rules);
    assert_eq!(done_of(&actions, 1).len(), 1);
    assert!(done_of(&actions, 2).is_empty());
}

#[test]
fn a_prompt_barged_in_stops_its_announcement_and_starts_the_timers() {
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    send(&mut rules, t0, 1, prompt(true));
    let actions = drain(&mut rules);
    assert!(matches!(
        actions[..],
        [
            Action::Emit(Event::Started { id: 1 }),
            Action::WantDigits(true),
            Action::Execute(_)
        ]
    ));
    // The actor's own report is a no-op now.
    rules.started(1);
    assert!(drain(&mut rules).is_empty());
    // No timer while the announcement plays.
    assert_eq!(rules.poll_timeout(), None);
    rules.digit(ms(t0, 300), '1');
    assert_eq!(drain(&mut rules), [Action::StopAnnouncement(1)]);
    assert_eq!(rules.poll_timeout(), Some(ms(t0, 2300)));
    // The announcement is gone: adjustments are refused, as mod_rayo does.
    send(&mut rules, t0, 2, Command::Pause { target: 1 });
    send(
        &mut rules,
        t0,
        3,
        Command::Adjust {
            target: 1,
            adjustment: Adjustment::VolumeUp,
        },
    );
    let actions = drain(&mut rules);
    for id in [2, 3] {
        assert_eq!(
            done_of(&actions, id),
            [Err(Failure::InvalidState("the output is finished"))]
        );
    }
    for key in "234".chars() {
        rules.digit(ms(t0, 400), key);
    }
    let actions = drain(&mut rules);
    assert_eq!(done_of(&actions, 1).len(), 1);
    // Announcement already stopped: no second teardown.
    assert!(!actions.contains(&Action::StopAnnouncement(1)));
}

#[test]
fn a_prompt_without_barge_in_starts_its_timers_when_the_announcement_ends() {
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    send(&mut rules, t0, 1, prompt(false));
    rules.started(1);
    drain(&mut rules);
    rules.digit(ms(t0, 100), '1');
    assert!(drain(&mut rules).is_empty(), "no barge-in");
    send(
        &mut rules,
        t0,
        2,
        Command::Adjust {
            target: 1,
            adjustment: Adjustment::Seek(1000),
        },
    );
    assert!(matches!(
        drain(&mut rules)[..],
        [Action::Execute(Request { id: 2, .. })]
    ));
    rules.finished(2, Ok(Output::None));
    drain(&mut rules);
    rules.announcement_finished(ms(t0, 1000), 1);
    assert_eq!(
        drain(&mut rules),
        [Action::Emit(Event::InputTimersStarted { id: 1 })]
    );
    // One key came during the announcement; the next times out.
    assert_eq!(rules.poll_timeout(), Some(ms(t0, 3000)));
    rules.handle_timeout(ms(t0, 3000));
    let actions = drain(&mut rules);
    assert_eq!(
        done_of(&actions, 1),
        [Ok(Output::Input(InputOutcome::NoMatch {
            digits: "1".into()
        }))]
    );
}

#[test]
fn a_prompt_whose_input_ends_during_the_announcement_stops_it() {
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    send(&mut rules, t0, 1, prompt(false));
    rules.started(1);
    drain(&mut rules);
    rules.digit(t0, '*');
    let actions = drain(&mut rules);
    assert_eq!(actions[0], Action::StopAnnouncement(1));
    assert_eq!(done_of(&actions, 1).len(), 1);
}

#[test]
fn a_component_before_answer_starts_early_media_once_and_waits_for_it() {
    let t0 = Instant::now();
    let mut rules = CallRules::new(SlotPolicy::Refuse);
    rules.set_early_media(true);
    send(&mut rules, t0, 1, announce());
    send(&mut rules, t0, 2, Command::Input(digits_input(2)));
    let actions = drain(&mut rules);
    let accepts: Vec<_> = actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Execute(Request {
                    command: Command::Accept {
                        early_media: true,
                        ..
                    },
                    ..
                })
            )
        })
        .collect();
    assert_eq!(accepts.len(), 1);
    let Action::Execute(Request { id: accept, .. }) = accepts[0] else {
        unreachable!()
    };
    let accept = *accept;
    assert!(done_of(&actions, 1).is_empty() && done_of(&actions, 2).is_empty());
    rules.media_ready(t0);
    rules.finished(accept, Ok(Output::None));
    let actions = drain(&mut rules);
    assert!(actions.contains(&Action::Execute(Request {
        id: 1,
        command: announce()
    })));
    assert!(actions.contains(&Action::Emit(Event::Started { id: 2 })));
    // The rules' own accept is never reported to the controller.
    assert!(done_of(&actions, accept).is_empty());
    assert!(!rules.is_answered());
}

#[test]
fn without_early_media_on_demand_a_component_before_answer_fails() {
    let t0 = Instant::now();
    let mut rules = CallRules::new(SlotPolicy::Replace);
    send(&mut rules, t0, 1, announce());
    assert_eq!(done_of(&drain(&mut rules), 1), [Err(Failure::NotAnswered)]);
}

#[test]
fn held_components_end_with_the_call_and_can_be_stopped() {
    let t0 = Instant::now();
    let mut rules = CallRules::new(SlotPolicy::Refuse);
    rules.set_early_media(true);
    send(&mut rules, t0, 1, announce());
    send(&mut rules, t0, 2, Command::Record(record()));
    send(&mut rules, t0, 3, Command::Stop { target: 2 });
    let actions = drain(&mut rules);
    assert_eq!(done_of(&actions, 2), [Err(Failure::Stopped)]);
    assert_eq!(done_of(&actions, 3), [Ok(Output::None)]);
    rules.gone(EndReason::CallerHangup);
    rules.end(EndReason::CallerHangup, None, vec![]);
    let actions = drain(&mut rules);
    assert_eq!(done_of(&actions, 1), [Err(Failure::CallEnded)]);
    assert!(matches!(
        actions.last(),
        Some(Action::Emit(Event::Ended { .. }))
    ));
}

#[test]
fn a_component_started_paused_takes_its_first_resume() {
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    let paused = Record {
        start_paused: true,
        ..record()
    };
    send(&mut rules, t0, 1, Command::Record(paused));
    drain(&mut rules);
    rules.started(1);
    drain(&mut rules);
    // A pause is already the state; a resume reaches the actor.
    send(&mut rules, t0, 2, Command::Pause { target: 1 });
    assert_eq!(done_of(&drain(&mut rules), 2), [Ok(Output::None)]);
    send(&mut rules, t0, 3, Command::Resume { target: 1 });
    let actions = drain(&mut rules);
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Execute(Request {
            id: 3,
            command: Command::Resume { target: 1 }
        })
    )));
}

#[test]
fn an_analysis_reports_signals_and_ends_on_a_terminating_one() {
    use crate::{Analysis, Signal, SignalKind};
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    let analysis = Analysis {
        signals: vec![(SignalKind::Dtmf, false), (SignalKind::Beep, true)],
    };
    send(&mut rules, t0, 1, Command::Analyze(analysis.clone()));
    let actions = drain(&mut rules);
    assert_eq!(
        actions,
        [
            Action::Emit(Event::Started { id: 1 }),
            Action::WantDigits(true),
            Action::Execute(Request {
                id: 1,
                command: Command::Analyze(analysis)
            })
        ]
    );
    rules.digit(t0, '5');
    let dtmf = Signal {
        kind: SignalKind::Dtmf,
        value: Some("5".into()),
        duration: Duration::ZERO,
    };
    assert_eq!(
        drain(&mut rules),
        [Action::Emit(Event::Signal {
            id: 1,
            signal: dtmf
        })]
    );
    // Not listened for: dropped.
    let fax = Signal {
        kind: SignalKind::FaxCed,
        value: None,
        duration: Duration::from_secs(1),
    };
    rules.signal(1, fax);
    assert!(drain(&mut rules).is_empty());
    let beep = Signal {
        kind: SignalKind::Beep,
        value: Some("1000".into()),
        duration: Duration::from_millis(400),
    };
    rules.signal(1, beep.clone());
    let actions = drain(&mut rules);
    assert_eq!(actions[0], Action::StopComponent(1));
    assert_eq!(done_of(&actions, 1), [Ok(Output::Signal(beep))]);
    assert!(actions.contains(&Action::WantDigits(false)));
}

#[test]
fn a_start_paused_announcement_takes_a_resume() {
    let t0 = Instant::now();
    let mut rules = rayo_call(t0);
    let mut announcement = Announcement::once(vec![Segment::Silence(Duration::from_secs(1))]);
    announcement.start_paused = true;
    send(&mut rules, t0, 1, Command::Announce(announcement));
    rules.started(1);
    drain(&mut rules);
    send(&mut rules, t0, 2, Command::Resume { target: 1 });
    assert!(matches!(
        drain(&mut rules)[..],
        [Action::Execute(Request { id: 2, .. })]
    ));
}
