//! A call handed from one controller to another (an agent's `redirect` to
//! a Rayo endpoint, a Rayo `<redirect to='endpoint:…'/>`): the new
//! controller's rules start where the call stands, not at a fresh offer.

use std::time::Instant;

use super::{CallRules, Phase, SlotPolicy};

impl CallRules {
    /// Rules for a call a new controller takes over: `answered` calls skip
    /// the pending phase (accept and answer then succeed with no effect, no
    /// `Answered` event), and `media_ready` lets components start at once.
    /// An unanswered call behaves like a new offer.
    pub fn handed_over(
        policy: SlotPolicy,
        answered: bool,
        media_ready: bool,
        now: Instant,
    ) -> CallRules {
        let mut rules = CallRules::new(policy);
        if answered {
            rules.phase = Phase::Answered;
        }
        if media_ready {
            rules.media_ready(now);
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Command, Event, Failure, Output, Play, Request};

    fn drain(rules: &mut CallRules) -> Vec<Action> {
        std::iter::from_fn(|| rules.poll_action()).collect()
    }

    fn request(id: u64, command: Command) -> Request {
        Request { id, command }
    }

    #[test]
    fn answered_call_takes_answer_without_effect_and_plays_at_once() {
        let now = Instant::now();
        let mut rules = CallRules::handed_over(SlotPolicy::Refuse, true, true, now);
        assert!(rules.is_answered());
        assert!(drain(&mut rules).is_empty());
        rules.request(
            now,
            request(
                1,
                Command::Answer {
                    headers: Vec::new(),
                },
            ),
        );
        let actions = drain(&mut rules);
        assert_eq!(
            actions,
            vec![Action::Emit(Event::Done {
                id: 1,
                result: Ok(Output::None)
            })]
        );
        let play = Command::Play(Play {
            uri: "file://a.wav".into(),
            looped: false,
        });
        rules.request(now, request(2, play.clone()));
        assert_eq!(drain(&mut rules), vec![Action::Execute(request(2, play))]);
    }

    #[test]
    fn unanswered_call_behaves_like_a_new_offer() {
        let now = Instant::now();
        let mut rules = CallRules::handed_over(SlotPolicy::Replace, false, false, now);
        assert!(!rules.is_answered());
        let play = Command::Play(Play {
            uri: "file://a.wav".into(),
            looped: false,
        });
        rules.request(now, request(1, play));
        assert_eq!(
            drain(&mut rules),
            vec![Action::Emit(Event::Done {
                id: 1,
                result: Err(Failure::NotAnswered)
            })]
        );
        let answer = Command::Answer {
            headers: Vec::new(),
        };
        rules.request(now, request(2, answer.clone()));
        assert_eq!(drain(&mut rules), vec![Action::Execute(request(2, answer))]);
    }
}
