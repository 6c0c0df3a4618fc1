//! SRGS DTMF grammars (RAYO.md §3.2): the inline `application/srgs+xml`
//! subset clients send, and the `builtin:dtmf/…` URLs, compiled into a
//! small automaton a [`Matcher`] walks digit by digit.
//!
//! Everything a client controls is bounded ([`MAX_RULES`], [`MAX_REPEAT`],
//! [`MAX_STATES`], the XML reader's depth and size limits), so a hostile
//! grammar is refused with `bad-request` instead of exhausting memory.

use std::collections::HashMap;

use xmpp::{Element, Node};

use crate::error::CommandError;
use crate::fragment::read_fragment;

mod automaton;
mod choices;
mod matcher;

pub use automaton::Grammar;
pub use choices::parse_choices;
pub use matcher::{Matcher, Progress};

/// The SRGS namespace (`xmlns` of `<grammar>`).
pub const NS_SRGS: &str = "http://www.w3.org/2001/06/grammar";
/// Most `<rule>`s in one grammar.
pub const MAX_RULES: usize = 256;
/// Largest bound in an item's `repeat` (Adhearsion's `ask` limit fits).
pub const MAX_REPEAT: u32 = 1024;
/// Most automaton states after expanding rule references and repeats.
pub const MAX_STATES: usize = 8192;
/// Largest grammar body, in bytes.
pub const MAX_GRAMMAR_BYTES: usize = 32 * 1024;

/// A grammar before compilation: digits, sequences, choices, repeats, tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    /// One DTMF key (`0`–`9`, `*`, `#`, `A`–`D`).
    Digit(u8),
    /// All parts in order.
    Seq(Vec<Rule>),
    /// Any one of the alternatives.
    OneOf(Vec<Rule>),
    /// `min` to `max` (unbounded when `None`) repetitions.
    Repeat {
        /// The repeated part.
        body: Box<Rule>,
        /// Fewest repetitions.
        min: u32,
        /// Most repetitions, `None` for `n-`.
        max: Option<u32>,
    },
    /// A semantic literal: becomes the match's instance when passed.
    Tag(String),
    /// `special='VOID'`: matches nothing.
    Void,
}

/// Parses one Rayo `<grammar>` child of `<input>`: a `builtin:dtmf/…`
/// `url`, or an `application/srgs+xml` body in text or CDATA.
pub fn parse_grammar_element(grammar: &Element) -> Result<Grammar, CommandError> {
    if let Some(url) = grammar.get_attr("url") {
        return parse_builtin(url);
    }
    match grammar.get_attr("content-type") {
        Some("application/srgs+xml") => {}
        Some(other) => {
            return Err(CommandError::bad_request(format!(
                "grammar content-type {other:?} is not supported (application/srgs+xml only)"
            )))
        }
        None => {
            return Err(CommandError::bad_request(
                "grammar has neither url nor content-type",
            ))
        }
    }
    if let Some(root) = grammar.children().next() {
        // Some clients nest the SRGS document as XML rather than text.
        return Grammar::compile(&rule_of_grammar(root)?);
    }
    parse_srgs(&grammar.text_content())
}

/// Parses an inline grammar body (the text or CDATA of Rayo's
/// `<grammar content-type='application/srgs+xml'>`).
pub fn parse_srgs(body: &str) -> Result<Grammar, CommandError> {
    let root = read_fragment(body, MAX_GRAMMAR_BYTES, "grammar")?;
    Grammar::compile(&rule_of_grammar(&root)?)
}

/// Resolves `builtin:dtmf/digits?…` and `builtin:dtmf/boolean?…` URLs
/// (the VoiceXML-style builtins Adhearsion sends, RAYO.md §3.2).
pub fn parse_builtin(url: &str) -> Result<Grammar, CommandError> {
    let rest = url
        .strip_prefix("builtin:dtmf/")
        .ok_or_else(|| CommandError::bad_request(format!("unsupported grammar url {url:?}")))?;
    let (kind, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut params = HashMap::new();
    for pair in query.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            CommandError::bad_request(format!("builtin parameter {pair:?} has no value"))
        })?;
        params.insert(k, v);
    }
    let number = |name: &str| -> Result<Option<u32>, CommandError> {
        params
            .get(name)
            .map(|v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n <= MAX_REPEAT)
                    .ok_or_else(|| CommandError::bad_request(format!("builtin {name}={v:?}")))
            })
            .transpose()
    };
    let rule = match kind {
        "digits" => {
            let (min, max) = match number("length")? {
                Some(n) => (n, Some(n)),
                None => (number("minlength")?.unwrap_or(1), number("maxlength")?),
            };
            if max.is_some_and(|m| m < min) {
                return Err(CommandError::bad_request(
                    "builtin digits maxlength < minlength",
                ));
            }
            Rule::Repeat {
                body: Box::new(Rule::OneOf((b'0'..=b'9').map(Rule::Digit).collect())),
                min,
                max,
            }
        }
        "boolean" => {
            let key = |name: &str, default: &str| -> Result<Vec<Rule>, CommandError> {
                let v = params.get(name).copied().unwrap_or(default);
                tokens(v).map_err(|t| CommandError::bad_request(format!("builtin {name}: {t}")))
            };
            let mut yes = key("y", "1")?;
            yes.push(Rule::Tag("true".into()));
            let mut no = key("n", "2")?;
            no.push(Rule::Tag("false".into()));
            Rule::OneOf(vec![Rule::Seq(yes), Rule::Seq(no)])
        }
        other => {
            return Err(CommandError::bad_request(format!(
                "unsupported builtin grammar dtmf/{other}"
            )))
        }
    };
    Grammar::compile(&rule)
}

/// The `<grammar>` root's rule: its `root` rule, else its first rule.
fn rule_of_grammar(root: &Element) -> Result<Rule, CommandError> {
    if root.name() != "grammar" {
        return Err(CommandError::bad_request(format!(
            "grammar root is <{}>, not <grammar>",
            root.name()
        )));
    }
    if let Some(mode) = root.get_attr("mode") {
        if mode != "dtmf" {
            return Err(CommandError::bad_request(format!(
                "grammar mode {mode:?} is not supported (dtmf only)"
            )));
        }
    }
    let mut rules = HashMap::new();
    let mut first = None;
    for rule in root.children().filter(|c| c.name() == "rule") {
        let id = rule
            .get_attr("id")
            .ok_or_else(|| CommandError::bad_request("<rule> without id"))?;
        if rules.insert(id, rule).is_some() {
            return Err(CommandError::bad_request(format!(
                "rule {id:?} defined twice"
            )));
        }
        if rules.len() > MAX_RULES {
            return Err(CommandError::bad_request("too many rules in grammar"));
        }
        first.get_or_insert(id);
    }
    let start = root
        .get_attr("root")
        .or(first)
        .ok_or_else(|| CommandError::bad_request("grammar has no rule"))?;
    let mut expand = Expander {
        rules,
        active: Vec::new(),
        budget: MAX_STATES,
    };
    expand.rule(start)
}

/// Expands rule references inline, refusing recursion and bounding the
/// total size so shared references cannot blow up exponentially.
struct Expander<'a> {
    rules: HashMap<&'a str, &'a Element>,
    active: Vec<&'a str>,
    budget: usize,
}

impl<'a> Expander<'a> {
    fn spend(&mut self, n: usize) -> Result<(), CommandError> {
        self.budget = self
            .budget
            .checked_sub(n)
            .ok_or_else(|| CommandError::bad_request("grammar too large once expanded"))?;
        Ok(())
    }

    fn rule(&mut self, id: &'a str) -> Result<Rule, CommandError> {
        let element = *self
            .rules
            .get(id)
            .ok_or_else(|| CommandError::bad_request(format!("no rule {id:?} in grammar")))?;
        if self.active.contains(&id) {
            return Err(CommandError::bad_request(format!(
                "rule {id:?} refers to itself (recursive grammars are not supported)"
            )));
        }
        self.active.push(id);
        let rule = self.sequence(element);
        self.active.pop();
        rule
    }

    /// The content of a `<rule>` or `<item>`: tokens and elements in order.
    fn sequence(&mut self, element: &'a Element) -> Result<Rule, CommandError> {
        let mut parts = Vec::new();
        for node in element.nodes() {
            match node {
                Node::Text(text) => {
                    let digits = tokens(text).map_err(|t| {
                        CommandError::bad_request(format!("token {t:?} is not a DTMF key"))
                    })?;
                    self.spend(digits.len())?;
                    parts.extend(digits);
                }
                Node::Element(child) => parts.push(self.element(child)?),
            }
        }
        Ok(match parts.len() {
            1 => parts.pop().unwrap_or(Rule::Seq(Vec::new())),
            _ => Rule::Seq(parts),
        })
    }

    fn element(&mut self, e: &'a Element) -> Result<Rule, CommandError> {
        self.spend(1)?;
        match e.name() {
            "item" => {
                let body = self.sequence(e)?;
                match e.get_attr("repeat") {
                    None => Ok(body),
                    Some(repeat) => {
                        let (min, max) = parse_repeat(repeat)?;
                        Ok(Rule::Repeat {
                            body: Box::new(body),
                            min,
                            max,
                        })
                    }
                }
            }
            "one-of" => {
                let mut items = Vec::new();
                for child in e.children() {
                    if child.name() != "item" {
                        return Err(CommandError::bad_request(format!(
                            "<one-of> holds <{}>, only <item> is allowed",
                            child.name()
                        )));
                    }
                    items.push(self.element(child)?);
                }
                if items.is_empty() {
                    return Err(CommandError::bad_request("empty <one-of>"));
                }
                Ok(Rule::OneOf(items))
            }
            "ruleref" => match (e.get_attr("uri"), e.get_attr("special")) {
                (Some(uri), _) => match uri.strip_prefix('#') {
                    Some(id) => self.rule(id),
                    None => Err(CommandError::bad_request(format!(
                        "ruleref {uri:?}: only local references (#id) are supported"
                    ))),
                },
                (None, Some("NULL")) => Ok(Rule::Seq(Vec::new())),
                (None, Some("VOID")) => Ok(Rule::Void),
                (None, special) => Err(CommandError::bad_request(format!(
                    "unsupported ruleref special {special:?}"
                ))),
            },
            "tag" => Ok(Rule::Tag(literal(&e.text_content()))),
            "token" => {
                let digits = tokens(&e.text_content()).map_err(|t| {
                    CommandError::bad_request(format!("token {t:?} is not a DTMF key"))
                })?;
                Ok(Rule::Seq(digits))
            }
            other => Err(CommandError::bad_request(format!(
                "unsupported SRGS element <{other}>"
            ))),
        }
    }
}

/// `repeat='n'`, `'n-m'`, `'n-'` (and `'0-n'`) as bounds.
fn parse_repeat(text: &str) -> Result<(u32, Option<u32>), CommandError> {
    let bad = || CommandError::bad_request(format!("repeat {text:?} is not n, n-m or n-"));
    let number = |s: &str| -> Result<u32, CommandError> {
        let n: u32 = s.trim().parse().map_err(|_| bad())?;
        if n > MAX_REPEAT {
            return Err(CommandError::bad_request(format!(
                "repeat {text:?} exceeds {MAX_REPEAT}"
            )));
        }
        Ok(n)
    };
    let (min, max) = match text.split_once('-') {
        None => {
            let n = number(text)?;
            (n, Some(n))
        }
        Some((lo, "")) => (number(lo)?, None),
        Some((lo, hi)) => (number(lo)?, Some(number(hi)?)),
    };
    if max.is_some_and(|m| m < min) {
        return Err(bad());
    }
    Ok((min, max))
}

/// A tag's literal (semantics/1.0-literals): trimmed, outer quotes removed.
fn literal(text: &str) -> String {
    let t = text.trim();
    for q in ['"', '\''] {
        if let Some(inner) = t.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    t.to_owned()
}

/// Whitespace-separated DTMF tokens (`1`, `*`, `dtmf-1`, or runs like
/// `123`) as digits; `Err` carries the first token that is not one.
fn tokens(text: &str) -> Result<Vec<Rule>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let keys = token.strip_prefix("dtmf-").unwrap_or(token);
        for c in keys.bytes() {
            out.push(Rule::Digit(dtmf_key(c).ok_or_else(|| token.to_owned())?));
        }
    }
    Ok(out)
}

/// The canonical DTMF key for `c`, if it is one (`a`–`d` → `A`–`D`).
pub(crate) fn dtmf_key(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' | b'*' | b'#' | b'A'..=b'D' => Some(c),
        b'a'..=b'd' => Some(c.to_ascii_uppercase()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
