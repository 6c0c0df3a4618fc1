//! Sans-IO DTMF matching (RAYO.md §3.2): digits in, one at a time, and
//! after each the verdict the input component acts on. Timers and the
//! terminator stay with the caller, which asks [`Matcher::progress`] when
//! one of them fires.

use super::automaton::Grammar;
use super::dtmf_key;

/// Where the digits so far stand against the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A prefix of some match: wait (on terminator or inter-digit timeout
    /// this is `nomatch`).
    NeedMore,
    /// The digits form a complete match. With `can_grow` false complete
    /// the input at once; otherwise wait for the terminator or timeout.
    Match {
        /// The interpretation: the last tag literal passed, else the digits.
        instance: String,
        /// Whether more digits could still extend the match.
        can_grow: bool,
    },
    /// No continuation can match: complete with `nomatch` at once.
    NoMatch,
}

/// Walks one [`Grammar`] with the digits of one input component.
#[derive(Debug, Clone)]
pub struct Matcher {
    grammar: Grammar,
    /// Live states, each with the tag last passed on the way there.
    active: Vec<(u32, Option<u32>)>,
    digits: String,
}

impl Matcher {
    /// A matcher at the start of `grammar`, before any digit.
    pub fn new(grammar: Grammar) -> Matcher {
        let mut m = Matcher {
            grammar,
            active: Vec::new(),
            digits: String::new(),
        };
        m.active = m.closure(vec![(0, None)]);
        m
    }

    /// The digits fed so far (terminator excluded), as the NLSML input.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// Feeds one DTMF key (`0`–`9`, `*`, `#`, `A`–`D`) and returns the
    /// new verdict; anything else is not a key and cannot match.
    pub fn feed(&mut self, key: char) -> Progress {
        let key = u8::try_from(key).ok().and_then(dtmf_key);
        let mut next = Vec::new();
        if let Some(key) = key {
            self.digits.push(key as char);
            for &(state, tag) in &self.active {
                for edge in &self.grammar.edges[state as usize] {
                    if edge.key == Some(key) {
                        next.push((edge.to, tag));
                    }
                }
            }
        }
        self.active = self.closure(next);
        self.progress()
    }

    /// The verdict for the digits so far.
    pub fn progress(&self) -> Progress {
        if self.active.is_empty() {
            return Progress::NoMatch;
        }
        let accepted = self
            .active
            .iter()
            .find(|(state, _)| *state == self.grammar.accept);
        match accepted {
            None => Progress::NeedMore,
            Some(&(_, tag)) => Progress::Match {
                instance: match tag {
                    Some(i) => self.grammar.tags[i as usize].clone(),
                    None => self.digits.clone(),
                },
                can_grow: self.active.iter().any(|(state, _)| {
                    self.grammar.edges[*state as usize]
                        .iter()
                        .any(|e| e.key.is_some() && self.grammar.live[e.to as usize])
                }),
            },
        }
    }

    /// Every state reachable from `seeds` over empty edges, in breadth
    /// order so the first path to a state decides its tag.
    fn closure(&self, seeds: Vec<(u32, Option<u32>)>) -> Vec<(u32, Option<u32>)> {
        let mut seen = vec![false; self.grammar.edges.len()];
        let mut out = Vec::new();
        for (state, tag) in seeds {
            if !seen[state as usize] {
                seen[state as usize] = true;
                out.push((state, tag));
            }
        }
        let mut i = 0;
        while i < out.len() {
            let (state, tag) = out[i];
            for edge in &self.grammar.edges[state as usize] {
                if edge.key.is_none() && !seen[edge.to as usize] {
                    seen[edge.to as usize] = true;
                    out.push((edge.to, edge.tag.or(tag)));
                }
            }
            i += 1;
        }
        out.retain(|(state, _)| self.grammar.live[*state as usize]);
        out
    }
}
