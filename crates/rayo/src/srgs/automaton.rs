//! A grammar compiled to a small NFA over DTMF keys: states with digit
//! edges and empty edges, the latter optionally carrying a tag literal.

use super::{Rule, MAX_STATES};
use crate::error::CommandError;

/// One edge: on a key (or on nothing), optionally passing a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edge {
    /// The key consumed, `None` for an empty edge.
    pub key: Option<u8>,
    /// Index into [`Grammar::tags`] set when this edge is passed.
    pub tag: Option<u32>,
    /// Target state.
    pub to: u32,
}

/// A compiled DTMF grammar: cheap to clone, shared by every input that
/// uses it; a [`super::Matcher`] walks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    pub(crate) edges: Vec<Vec<Edge>>,
    pub(crate) tags: Vec<String>,
    pub(crate) accept: u32,
    /// Whether the accepting state can still be reached from each state;
    /// the matcher drops the others so dead ends are `nomatch` at once.
    pub(crate) live: Vec<bool>,
}

impl Grammar {
    /// Compiles `rule`; refuses it when it would exceed [`MAX_STATES`].
    pub(crate) fn compile(rule: &Rule) -> Result<Grammar, CommandError> {
        let mut g = Grammar {
            edges: vec![Vec::new()],
            tags: Vec::new(),
            accept: 0,
            live: Vec::new(),
        };
        g.accept = g.build(rule, 0)?;
        g.live = g.co_reachable();
        Ok(g)
    }

    /// Number of states (for tests and logs).
    pub fn states(&self) -> usize {
        self.edges.len()
    }

    /// Marks the states from which the accepting state is reachable.
    fn co_reachable(&self) -> Vec<bool> {
        let mut into: Vec<Vec<u32>> = vec![Vec::new(); self.edges.len()];
        for (from, edges) in self.edges.iter().enumerate() {
            for edge in edges {
                into[edge.to as usize].push(from as u32);
            }
        }
        let mut live = vec![false; self.edges.len()];
        live[self.accept as usize] = true;
        let mut queue = vec![self.accept];
        while let Some(state) = queue.pop() {
            for &from in &into[state as usize] {
                if !live[from as usize] {
                    live[from as usize] = true;
                    queue.push(from);
                }
            }
        }
        live
    }

    fn state(&mut self) -> Result<u32, CommandError> {
        if self.edges.len() >= MAX_STATES {
            return Err(CommandError::bad_request(format!(
                "grammar needs more than {MAX_STATES} states"
            )));
        }
        self.edges.push(Vec::new());
        Ok((self.edges.len() - 1) as u32)
    }

    fn edge(&mut self, from: u32, key: Option<u8>, tag: Option<u32>, to: u32) {
        self.edges[from as usize].push(Edge { key, tag, to });
    }

    /// Adds `rule` starting at `from`; returns the state where it ends.
    /// Loops only ever go back to states created here, so sharing `from`
    /// with other constructs cannot let them interleave.
    fn build(&mut self, rule: &Rule, from: u32) -> Result<u32, CommandError> {
        match rule {
            Rule::Digit(key) => {
                let to = self.state()?;
                self.edge(from, Some(*key), None, to);
                Ok(to)
            }
            Rule::Tag(text) => {
                let to = self.state()?;
                let index = match self.tags.iter().position(|t| t == text) {
                    Some(i) => i,
                    None => {
                        self.tags.push(text.clone());
                        self.tags.len() - 1
                    }
                };
                self.edge(from, None, Some(index as u32), to);
                Ok(to)
            }
            Rule::Seq(parts) => {
                let mut at = from;
                for part in parts {
                    at = self.build(part, at)?;
                }
                Ok(at)
            }
            Rule::OneOf(items) if items.iter().all(|i| matches!(i, Rule::Digit(_))) => {
                // A key class (`0`–`9`, Adhearsion's usual one-of): one state.
                let to = self.state()?;
                for item in items {
                    if let Rule::Digit(key) = item {
                        self.edge(from, Some(*key), None, to);
                    }
                }
                Ok(to)
            }
            Rule::OneOf(items) => {
                let end = self.state()?;
                for item in items {
                    let start = self.state()?;
                    self.edge(from, None, None, start);
                    let done = self.build(item, start)?;
                    self.edge(done, None, None, end);
                }
                Ok(end)
            }
            Rule::Repeat { body, min, max } => {
                let mut at = from;
                for _ in 0..*min {
                    let start = self.state()?;
                    self.edge(at, None, None, start);
                    at = self.build(body, start)?;
                }
                match max {
                    None => {
                        let head = self.state()?;
                        self.edge(at, None, None, head);
                        let done = self.build(body, head)?;
                        self.edge(done, None, None, head);
                        Ok(head)
                    }
                    Some(max) => {
                        let end = self.state()?;
                        self.edge(at, None, None, end);
                        for _ in *min..*max {
                            let start = self.state()?;
                            self.edge(at, None, None, start);
                            at = self.build(body, start)?;
                            self.edge(at, None, None, end);
                        }
                        Ok(end)
                    }
                }
            }
            Rule::Void => self.state(),
        }
    }
}
