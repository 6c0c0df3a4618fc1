//! An [`Input`] as a sans-IO state machine: keys and time in, an
//! [`InputOutcome`] out, with the matching rules of RAYO.md §3.2:
//!
//! - no continuation of the keys can match any grammar → `NoMatch` at once;
//! - a complete match that no key can extend → `Match` at once;
//! - otherwise wait: the terminator, the inter-digit timeout or the
//!   recognition timeout judge the keys as they stand (a complete match →
//!   `Match`, else `NoMatch`);
//! - no key before the initial timeout → `NoInput`.
//!
//! The timers run from [`InputCollector::start_timers`] (at once for a
//! plain input, when the announcement ends for a prompt). Keys count
//! before that too; a key before the timers arms nothing until they start.

use std::time::Instant;

use crate::components::{DigitMatcher, GrammarProgress, Input, InputOutcome};

/// Collects one input's keys.
#[derive(Debug)]
pub struct InputCollector {
    input: Input,
    matchers: Vec<Box<dyn DigitMatcher>>,
    digits: String,
    timers_from: Option<Instant>,
    first_key: Option<Instant>,
    last_key: Option<Instant>,
}

impl InputCollector {
    /// An input before any key, its timers not started.
    pub fn new(input: Input) -> InputCollector {
        let matchers = input.grammars.iter().map(|g| g.0.matcher()).collect();
        InputCollector {
            input,
            matchers,
            digits: String::new(),
            timers_from: None,
            first_key: None,
            last_key: None,
        }
    }

    /// Starts the timers at `now` (no effect once started).
    pub fn start_timers(&mut self, now: Instant) {
        self.timers_from.get_or_insert(now);
    }

    /// Whether the timers run.
    pub fn timers_started(&self) -> bool {
        self.timers_from.is_some()
    }

    /// Whether a key has arrived.
    pub fn has_input(&self) -> bool {
        self.first_key.is_some()
    }

    /// When [`InputCollector::expire`] should next be called.
    pub fn deadline(&self) -> Option<Instant> {
        let from = self.timers_from?;
        let Some(first) = self.first_key else {
            return self.input.initial_timeout.map(|t| from + t);
        };
        let last = self.last_key.unwrap_or(first).max(from);
        let inter = self.input.inter_digit_timeout.map(|t| last + t);
        let whole = self.input.recognition_timeout.map(|t| first.max(from) + t);
        match (inter, whole) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A key at `now`; `Some` when it ends the input.
    pub fn key(&mut self, key: char, now: Instant) -> Option<InputOutcome> {
        if let Some(done) = self.expire(now) {
            return Some(done);
        }
        self.first_key.get_or_insert(now);
        self.last_key = Some(now);
        if Some(key) == self.input.terminator {
            return Some(self.judge());
        }
        self.digits.push(key);
        let mut all_dead = true;
        let mut final_match = None;
        for matcher in &mut self.matchers {
            match matcher.feed(key) {
                GrammarProgress::NoMatch => {}
                GrammarProgress::NeedMore => all_dead = false,
                GrammarProgress::Match { instance, can_grow } => {
                    all_dead = false;
                    if !can_grow && final_match.is_none() {
                        final_match = Some(instance);
                    }
                }
            }
        }
        // A match that could grow in one grammar waits for the others;
        // one that cannot grow anywhere completes now.
        let growing = self.matchers.iter().any(|m| {
            matches!(
                m.progress(),
                GrammarProgress::NeedMore | GrammarProgress::Match { can_grow: true, .. }
            )
        });
        if all_dead {
            return Some(InputOutcome::NoMatch {
                digits: self.digits.clone(),
            });
        }
        match final_match {
            Some(instance) if !growing => Some(InputOutcome::Match {
                digits: self.digits.clone(),
                instance,
            }),
            _ => None,
        }
    }

    /// Time reached `now`: `Some` when a timer ended the input.
    pub fn expire(&mut self, now: Instant) -> Option<InputOutcome> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        if self.first_key.is_none() {
            return Some(InputOutcome::NoInput);
        }
        Some(self.judge())
    }

    /// The keys as they stand: the first grammar with a complete match, else no match.
    fn judge(&self) -> InputOutcome {
        let matched = self.matchers.iter().find_map(|m| match m.progress() {
            GrammarProgress::Match { instance, .. } => Some(instance),
            _ => None,
        });
        match matched {
            Some(instance) => InputOutcome::Match {
                digits: self.digits.clone(),
                instance,
            },
            None => InputOutcome::NoMatch {
                digits: self.digits.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::components::{DigitGrammar, GrammarRef};

    /// Matches exactly `len` digits (`0`–`9`), or `min..=max` when growing.
    #[derive(Debug)]
    struct Digits {
        min: usize,
        max: usize,
    }

    #[derive(Debug)]
    struct DigitsMatcher {
        min: usize,
        max: usize,
        count: usize,
        dead: bool,
        seen: String,
    }

    impl DigitGrammar for Digits {
        fn matcher(&self) -> Box<dyn DigitMatcher> {
            Box::new(DigitsMatcher {
                min: self.min,
                max: self.max,
                count: 0,
                dead: false,
                seen: String::new(),
            })
        }
    }

    impl DigitMatcher for DigitsMatcher {
        fn feed(&mut self, key: char) -> GrammarProgress {
            if !key.is_ascii_digit() {
                self.dead = true;
            }
            self.count += 1;
            self.seen.push(key);
            self.progress()
        }

        fn progress(&self) -> GrammarProgress {
            if self.dead || self.count > self.max {
                GrammarProgress::NoMatch
            } else if self.count >= self.min {
                GrammarProgress::Match {
                    instance: self.seen.clone(),
                    can_grow: self.count < self.max,
                }
            } else {
                GrammarProgress::NeedMore
            }
        }
    }

    fn input(min: usize, max: usize) -> Input {
        Input {
            grammars: vec![GrammarRef(Arc::new(Digits { min, max }))],
            terminator: Some('#'),
            initial_timeout: Some(Duration::from_secs(5)),
            inter_digit_timeout: Some(Duration::from_secs(2)),
            recognition_timeout: None,
        }
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_match_that_cannot_grow_completes_on_its_last_key() {
        let t0 = Instant::now();
        let mut c = InputCollector::new(input(4, 4));
        c.start_timers(t0);
        for (i, k) in "123".chars().enumerate() {
            assert_eq!(c.key(k, ms(t0, 100 * i as u64)), None);
        }
        assert_eq!(
            c.key('4', ms(t0, 300)),
            Some(InputOutcome::Match {
                digits: "1234".into(),
                instance: "1234".into()
            })
        );
    }

    #[test]
    fn a_key_no_grammar_can_take_is_nomatch_at_once() {
        let t0 = Instant::now();
        let mut c = InputCollector::new(input(4, 4));
        c.start_timers(t0);
        c.key('1', t0);
        assert_eq!(
            c.key('*', ms(t0, 10)),
            Some(InputOutcome::NoMatch {
                digits: "1*".into()
            })
        );
    }

    #[test]
    fn silence_is_noinput_at_the_initial_timeout_counted_from_the_timers() {
        let t0 = Instant::now();
        let mut c = InputCollector::new(input(4, 4));
        assert_eq!(c.deadline(), None);
        c.start_timers(ms(t0, 1000));
        assert_eq!(c.deadline(), Some(ms(t0, 6000)));
        assert_eq!(c.expire(ms(t0, 5999)), None);
        assert_eq!(c.expire(ms(t0, 6000)), Some(InputOutcome::NoInput));
    }

    #[test]
    fn terminator_and_inter_digit_timeout_judge_the_keys_as_they_stand() {
        let t0 = Instant::now();
        let mut c = InputCollector::new(input(2, 6));
        c.start_timers(t0);
        c.key('1', t0);
        c.key('2', ms(t0, 100));
        // 12 matches but could grow: wait for the terminator.
        assert_eq!(
            c.key('#', ms(t0, 200)),
            Some(InputOutcome::Match {
                digits: "12".into(),
                instance: "12".into()
            })
        );

        let mut c = InputCollector::new(input(3, 6));
        c.start_timers(t0);
        c.key('1', t0);
        assert_eq!(c.deadline(), Some(ms(t0, 2000)));
        assert_eq!(
            c.expire(ms(t0, 2000)),
            Some(InputOutcome::NoMatch { digits: "1".into() })
        );
    }

    #[test]
    fn keys_before_the_timers_count_but_arm_nothing() {
        let t0 = Instant::now();
        let mut c = InputCollector::new(input(2, 6));
        assert_eq!(c.key('1', t0), None);
        assert_eq!(c.deadline(), None);
        c.start_timers(ms(t0, 3000));
        // The inter-digit timer runs from the start of the timers.
        assert_eq!(c.deadline(), Some(ms(t0, 5000)));
        assert_eq!(c.key('2', ms(t0, 3500)), None);
        assert_eq!(
            c.expire(ms(t0, 5500)),
            Some(InputOutcome::Match {
                digits: "12".into(),
                instance: "12".into()
            })
        );
    }

    #[test]
    fn the_recognition_timeout_bounds_the_whole_input() {
        let t0 = Instant::now();
        let mut i = input(2, 10);
        i.recognition_timeout = Some(Duration::from_millis(2500));
        let mut c = InputCollector::new(i);
        c.start_timers(t0);
        c.key('1', t0);
        c.key('2', ms(t0, 1500));
        assert_eq!(c.deadline(), Some(ms(t0, 2500)));
    }

    #[test]
    fn the_first_grammar_to_complete_for_good_wins_once_no_other_can_grow() {
        let t0 = Instant::now();
        let mut i = input(2, 2);
        i.grammars
            .push(GrammarRef(Arc::new(Digits { min: 3, max: 3 })));
        let mut c = InputCollector::new(i);
        c.start_timers(t0);
        c.key('1', t0);
        // "12" is final for the first grammar, a prefix for the second.
        assert_eq!(c.key('2', t0), None);
        assert_eq!(
            c.key('3', t0),
            Some(InputOutcome::Match {
                digits: "123".into(),
                instance: "123".into()
            })
        );
    }
}
