//! Attribute values of the media components (RAYO.md §3.1–3.4): durations
//! in milliseconds with `-1` for "no limit", booleans, 0–1 ratios, DTMF
//! keys. Every refusal is a `bad-request` whose text names the attribute.

use std::fmt;

use xmpp::Element;

use crate::command::attr;
use crate::error::CommandError;

/// A ratio between 0 and 1 (`min-confidence`, `sensitivity`) kept in
/// thousandths, so that commands stay comparable (`Eq`) and round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permille(pub u16);

impl Permille {
    /// The ratio as a float in 0..=1.
    pub fn as_f32(self) -> f32 {
        f32::from(self.0) / 1000.0
    }
}

impl fmt::Display for Permille {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:03}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

fn bad(name: &str, value: &str, what: &str) -> CommandError {
    CommandError::bad_request(format!("{name} '{value}' is not {what}"))
}

/// A duration in ms that may be 0 (`start-offset`, `repeat-interval`).
pub(crate) fn millis(e: &Element, name: &str) -> Result<Option<u32>, CommandError> {
    attr(e, name)
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| bad(name, v, "a number of milliseconds >= 0"))
        })
        .transpose()
}

/// A limit in ms that is either `-1` (none, the default: `None`) or
/// positive; 0 is refused as mod_rayo does (`max-time`, `initial-timeout`).
pub(crate) fn limit(e: &Element, name: &str) -> Result<Option<u32>, CommandError> {
    match attr(e, name).map(str::trim) {
        None | Some("-1") => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(bad(name, v, "-1 or a number of milliseconds > 0")),
        },
    }
}

/// A count (`repeat-times`).
pub(crate) fn count(e: &Element, name: &str) -> Result<Option<u32>, CommandError> {
    attr(e, name)
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| bad(name, v, "a whole number >= 0"))
        })
        .transpose()
}

/// A boolean (`true`/`false`, `1`/`0`), `default` when absent.
pub(crate) fn boolean(e: &Element, name: &str, default: bool) -> Result<bool, CommandError> {
    match attr(e, name).map(str::trim) {
        None => Ok(default),
        Some(v) if v == "1" || v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v == "0" || v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(bad(name, v, "a boolean")),
    }
}

/// A ratio between 0 and 1 (`min-confidence`, `sensitivity`).
pub(crate) fn ratio(e: &Element, name: &str) -> Result<Option<Permille>, CommandError> {
    let Some(v) = attr(e, name) else {
        return Ok(None);
    };
    match v.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => {
            // In range, so the product fits a u16.
            Ok(Some(Permille((x * 1000.0).round() as u16)))
        }
        _ => Err(bad(name, v, "a number between 0 and 1")),
    }
}

/// One of `allowed` (compared without case), as the canonical spelling.
pub(crate) fn choice(
    e: &Element,
    name: &str,
    allowed: &[&'static str],
) -> Result<Option<&'static str>, CommandError> {
    let Some(v) = attr(e, name) else {
        return Ok(None);
    };
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(v.trim()))
        .copied()
        .map(Some)
        .ok_or_else(|| bad(name, v, &format!("one of {}", allowed.join(", "))))
}

/// One DTMF key (`terminator`), canonical (`a` → `A`).
pub(crate) fn dtmf_key(e: &Element, name: &str) -> Result<Option<char>, CommandError> {
    let Some(v) = attr(e, name) else {
        return Ok(None);
    };
    match v.as_bytes() {
        [b] => crate::srgs::dtmf_key(*b)
            .map(|k| Some(char::from(k)))
            .ok_or_else(|| bad(name, v, "a DTMF key")),
        _ => Err(bad(name, v, "a single DTMF key")),
    }
}

/// Free text that must fit on a line (`voice`, `renderer`, `recognizer`).
pub(crate) fn line(e: &Element, name: &str) -> Result<Option<String>, CommandError> {
    attr(e, name)
        .map(|v| {
            crate::header::check_line(name, v)?;
            Ok(v.to_owned())
        })
        .transpose()
}

/// Sets `name` on `e` when `value` is given.
pub(crate) fn put(e: &mut Element, name: &str, value: Option<impl ToString>) {
    if let Some(v) = value {
        e.set_attr(name, v.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, value: &str) -> Element {
        Element::new("x", "").attr(name, value)
    }

    #[test]
    fn limits_take_minus_one_or_positive() {
        assert_eq!(limit(&e("max-time", "-1"), "max-time"), Ok(None));
        assert_eq!(limit(&e("max-time", "500"), "max-time"), Ok(Some(500)));
        assert_eq!(limit(&Element::new("x", ""), "max-time"), Ok(None));
        for v in ["0", "-2", "soon", "1.5"] {
            let err = limit(&e("max-time", v), "max-time").unwrap_err();
            assert!(err.text.contains("max-time"), "{err}");
        }
    }

    #[test]
    fn ratios_are_thousandths_and_print_back() {
        let r = ratio(&e("min-confidence", "0.35"), "min-confidence").unwrap();
        assert_eq!(r, Some(Permille(350)));
        assert_eq!(Permille(350).to_string(), "0.35");
        assert_eq!(Permille(1000).to_string(), "1");
        assert_eq!(Permille(5).to_string(), "0.005");
        assert!(ratio(&e("sensitivity", "1.5"), "sensitivity").is_err());
        assert!(ratio(&e("sensitivity", "NaN"), "sensitivity").is_err());
    }

    #[test]
    fn booleans_keys_and_choices() {
        assert_eq!(boolean(&e("b", "TRUE"), "b", false), Ok(true));
        assert_eq!(boolean(&Element::new("x", ""), "b", true), Ok(true));
        assert!(boolean(&e("b", "yes"), "b", false).is_err());
        assert_eq!(dtmf_key(&e("t", "#"), "t"), Ok(Some('#')));
        assert_eq!(dtmf_key(&e("t", "d"), "t"), Ok(Some('D')));
        assert!(dtmf_key(&e("t", "##"), "t").is_err());
        assert_eq!(
            choice(&e("mode", "DTMF"), "mode", &["dtmf", "any"]),
            Ok(Some("dtmf"))
        );
        assert!(choice(&e("mode", "x"), "mode", &["dtmf"])
            .unwrap_err()
            .text
            .contains("mode"));
        assert_eq!(millis(&e("start-offset", "0"), "start-offset"), Ok(Some(0)));
        assert!(millis(&e("start-offset", "-1"), "start-offset").is_err());
    }
}
