//! Tropo's simple choices, the body of an `<ask>`'s `<choices>` when it is
//! not SRGS: `[4 DIGITS]`, `[1-6 DIGITS]`, or a list `1, 2, 3` /
//! `sales(1, sales), support(2, support)` whose DTMF alternatives select
//! the value before the parentheses (the match's instance).

use super::{tokens, Grammar, Rule, MAX_GRAMMAR_BYTES, MAX_REPEAT};
use crate::error::CommandError;

/// Compiles a simple-choices body.
pub fn parse_choices(body: &str) -> Result<Grammar, CommandError> {
    if body.len() > MAX_GRAMMAR_BYTES {
        return Err(CommandError::bad_request("choices too large"));
    }
    let text = body.trim();
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Grammar::compile(&digits(inner)?);
    }
    let mut items = Vec::new();
    for item in split_top(text)? {
        let (value, synonyms) = match item.split_once('(') {
            Some((value, rest)) => (
                value.trim(),
                rest.strip_suffix(')').ok_or_else(|| {
                    CommandError::bad_request(format!("choice '{item}' has an unclosed '('"))
                })?,
            ),
            None => (item.trim(), ""),
        };
        if value.is_empty() {
            return Err(CommandError::bad_request("choices hold an empty choice"));
        }
        let mut alternatives = Vec::new();
        for word in std::iter::once(value).chain(synonyms.split(',').map(str::trim)) {
            if let Ok(Some(keys)) = tokens(word).map(|k| (!k.is_empty()).then_some(k)) {
                alternatives.push(Rule::Seq(keys));
            }
        }
        if !alternatives.is_empty() {
            items.push(Rule::Seq(vec![
                Rule::OneOf(alternatives),
                Rule::Tag(value.to_owned()),
            ]));
        }
    }
    if items.is_empty() {
        return Err(CommandError::bad_request(
            "choices hold no DTMF alternative",
        ));
    }
    Grammar::compile(&Rule::OneOf(items))
}

/// `N DIGITS`, `N-M DIGITS` or `DIGITS` inside the brackets.
fn digits(inner: &str) -> Result<Rule, CommandError> {
    let bad = || CommandError::bad_request(format!("choices '[{inner}]' are not [N DIGITS]"));
    let mut words = inner.split_whitespace();
    let (range, word) = match (words.next(), words.next(), words.next()) {
        (Some(w), None, None) => (None, w),
        (Some(r), Some(w), None) => (Some(r), w),
        _ => return Err(bad()),
    };
    if !word.eq_ignore_ascii_case("digits") && !word.eq_ignore_ascii_case("digit") {
        return Err(bad());
    }
    let number = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|n| *n <= MAX_REPEAT)
            .ok_or_else(bad)
    };
    let (min, max) = match range.map(|r| r.split_once('-')) {
        None => (1, None),
        Some(None) => {
            let n = number(range.unwrap_or_default())?;
            (n, Some(n))
        }
        Some(Some((lo, hi))) => (number(lo)?, Some(number(hi)?)),
    };
    if max.is_some_and(|m| m < min) || max == Some(0) {
        return Err(bad());
    }
    Ok(Rule::Repeat {
        body: Box::new(Rule::OneOf((b'0'..=b'9').map(Rule::Digit).collect())),
        min,
        max,
    })
}

/// The choices split on commas outside parentheses.
fn split_top(text: &str) -> Result<Vec<&str>, CommandError> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0u32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| CommandError::bad_request("choices have an unopened ')'"))?
            }
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srgs::{Matcher, Progress};

    fn run(body: &str, keys: &str) -> Progress {
        let mut m = Matcher::new(parse_choices(body).unwrap());
        let mut last = m.progress();
        for k in keys.chars() {
            last = m.feed(k);
        }
        last
    }

    #[test]
    fn digit_counts() {
        assert!(matches!(
            run("[4 DIGITS]", "1234"),
            Progress::Match {
                can_grow: false,
                ..
            }
        ));
        assert!(matches!(run("[4 DIGITS]", "12"), Progress::NeedMore));
        assert!(matches!(
            run("[1-2 digits]", "1"),
            Progress::Match { can_grow: true, .. }
        ));
        assert!(matches!(
            run("[DIGITS]", "1"),
            Progress::Match { can_grow: true, .. }
        ));
        assert!(matches!(run("[4 DIGITS]", "12*"), Progress::NoMatch));
        for bad in [
            "[4 LETTERS]",
            "[x DIGITS]",
            "[3-1 DIGITS]",
            "[0 DIGITS]",
            "[99999 DIGITS]",
        ] {
            assert!(parse_choices(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_select_values() {
        match run("sales(1, sales), support(2, support)", "2") {
            Progress::Match { instance, .. } => assert_eq!(instance, "support"),
            other => panic!("{other:?}"),
        }
        match run("1, 2, 3", "3") {
            Progress::Match { instance, .. } => assert_eq!(instance, "3"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(run("1, 2, 3", "4"), Progress::NoMatch));
        assert!(parse_choices("yes, no").is_err());
        assert!(parse_choices("a(1").is_err());
        assert!(parse_choices("a)1").is_err());
        assert!(parse_choices("1,,2").is_err());
    }
}
