//! `<dial>` (RAYO.md §2.6), sent to the service domain to originate a call.
//!
//! Only request validation happens here; far-end failures come later as
//! `<end>` events. The destination must be a `sip:`, `sips:` or `tel:` URI
//! or a bare number (RAYO.md §5.3); platform dial strings (`user/userb`,
//! `sofia/…`) and scheme-less `user@host` are `bad-request`.

use xmpp::Element;

use crate::command::attr;
use crate::error::CommandError;
use crate::header::{check_line, parse_headers, Headers};
use crate::join::{parse_join, Join};
use crate::ns;
use crate::uri::parse_call_ref;

/// Where a dial goes, by how the server routes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DialTarget {
    /// A `sip:` or `sips:` URI, dialed directly (as written).
    Sip(String),
    /// A `tel:` URI, routed through `rayo.dial_route` (as written).
    Tel(String),
    /// A bare number (`+14155550100`, `1000`, `*72`), routed through
    /// `rayo.dial_route`.
    Number(String),
}

/// A parsed `<dial>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// The party to call.
    pub to: DialTarget,
    /// Caller id as the client wrote it (a URI, a number, or a name-addr).
    pub from: Option<String>,
    /// The call id the client chose with `uri` (must be honoured, XEP v0.4).
    pub call_id: Option<String>,
    /// How long to wait for an answer, in milliseconds; `None` for no limit.
    pub timeout_ms: Option<u64>,
    /// `<header>` children, for the INVITE.
    pub headers: Headers,
    /// Nested `<join>`s to set up once the call is answered.
    pub joins: Vec<Join>,
}

/// Parses a `<dial>` addressed to `domain`.
pub(crate) fn parse_dial(dial: &Element, domain: &str) -> Result<Dial, CommandError> {
    let to = attr(dial, "to").ok_or_else(|| CommandError::bad_request("dial needs a 'to'"))?;
    let to = parse_dial_target(to)?;
    let from = attr(dial, "from").map(str::to_owned);
    if let Some(from) = &from {
        check_line("dial from", from)?;
    }
    let call_id = attr(dial, "uri")
        .map(|uri| parse_call_ref(uri, domain))
        .transpose()?;
    let timeout_ms = match attr(dial, "timeout") {
        None | Some("-1") => None,
        Some(t) => Some(parse_millis(t).ok_or_else(|| {
            CommandError::bad_request(format!(
                "dial timeout '{t}' is not a number of milliseconds"
            ))
        })?),
    };
    let joins = dial
        .children()
        .filter(|c| c.is("join", ns::RAYO))
        .map(|j| parse_join(j, domain))
        .collect::<Result<_, _>>()?;
    Ok(Dial {
        to,
        from,
        call_id,
        timeout_ms,
        headers: parse_headers(dial)?,
        joins,
    })
}

/// A non-negative decimal integer (digits only, no sign, fits in u64).
fn parse_millis(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Classifies a dial `to`.
pub fn parse_dial_target(to: &str) -> Result<DialTarget, CommandError> {
    let bad = |why: &str| CommandError::bad_request(format!("dial to '{to}' {why}"));
    if to
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
    {
        return Err(bad("holds a character a URI cannot"));
    }
    match to.split_once(':') {
        Some((scheme, rest)) => {
            if rest.is_empty() {
                return Err(bad("is an empty URI"));
            }
            if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
                if !rest.contains(|c: char| c.is_ascii_alphanumeric()) || rest.starts_with('@') {
                    return Err(bad("has no host"));
                }
                Ok(DialTarget::Sip(to.to_owned()))
            } else if scheme.eq_ignore_ascii_case("tel") {
                Ok(DialTarget::Tel(to.to_owned()))
            } else {
                Err(bad("is not a sip:, sips: or tel: URI or a number"))
            }
        }
        None if is_number(to) => Ok(DialTarget::Number(to.to_owned())),
        None => Err(bad("is not a sip:, sips: or tel: URI or a number")),
    }
}

/// A dialable number: an optional `+`, then digits, `*`, `#` and the visual
/// separators `-` and `.`, with at least one digit or `*`/`#`.
fn is_number(s: &str) -> bool {
    let body = s.strip_prefix('+').unwrap_or(s);
    body.bytes()
        .any(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JoinTarget, StanzaCondition};

    const DOMAIN: &str = "rayo.test";

    fn dial(to: &str) -> Element {
        Element::new("dial", ns::RAYO).attr("to", to)
    }

    #[test]
    fn full_dial() {
        let e = dial("sip:bob@10.0.0.9")
            .attr("from", "sip:rayo@rayo.test")
            .attr("uri", "xmpp:8a1c@rayo.test")
            .attr("timeout", "30000")
            .child(
                Element::new("header", ns::RAYO)
                    .attr("name", "X-Skill")
                    .attr("value", "agent"),
            )
            .child(Element::new("join", ns::RAYO).attr("call-uri", "xmpp:9f@rayo.test"));
        assert_eq!(
            parse_dial(&e, DOMAIN),
            Ok(Dial {
                to: DialTarget::Sip("sip:bob@10.0.0.9".into()),
                from: Some("sip:rayo@rayo.test".into()),
                call_id: Some("8a1c".into()),
                timeout_ms: Some(30000),
                headers: vec![("X-Skill".into(), "agent".into())],
                joins: vec![Join {
                    target: JoinTarget::Call("9f".into()),
                    direction: Default::default(),
                    media: Default::default(),
                    headers: vec![],
                }],
            })
        );
    }

    #[test]
    fn minimal_dial_and_target_kinds() {
        let d = parse_dial(&dial("tel:+13055195825"), DOMAIN).unwrap();
        assert_eq!(d.to, DialTarget::Tel("tel:+13055195825".into()));
        assert_eq!((d.from, d.call_id, d.timeout_ms), (None, None, None));
        assert!(d.joins.is_empty());
        for (to, target) in [
            (
                "SIPS:bob@example.com",
                DialTarget::Sip("SIPS:bob@example.com".into()),
            ),
            (
                "sip:10.0.0.9:5070",
                DialTarget::Sip("sip:10.0.0.9:5070".into()),
            ),
            ("4045551212", DialTarget::Number("4045551212".into())),
            (
                "+1-404-555.1212",
                DialTarget::Number("+1-404-555.1212".into()),
            ),
            ("*72", DialTarget::Number("*72".into())),
        ] {
            assert_eq!(parse_dial_target(to), Ok(target), "{to}");
        }
    }

    #[test]
    fn timeout_minus_one_is_no_limit_and_empty_is_absent() {
        for t in ["-1", ""] {
            let d = parse_dial(&dial("1000").attr("timeout", t), DOMAIN).unwrap();
            assert_eq!(d.timeout_ms, None, "{t}");
        }
        let d = parse_dial(&dial("1000").attr("timeout", "0"), DOMAIN).unwrap();
        assert_eq!(d.timeout_ms, Some(0));
    }

    #[test]
    fn bad_dials_are_bad_request() {
        for e in [
            Element::new("dial", ns::RAYO),
            dial(""),
            dial("user/userb"),
            dial("sofia/external/1000"),
            dial("xmpp:bob@rayo.test"),
            dial("http://example.com"),
            dial("bob@example.com"),
            dial("sip:"),
            dial("sip:@host"),
            dial("sip:bob@host x"),
            dial("+"),
            dial("1000").attr("timeout", "-5"),
            dial("1000").attr("timeout", "soon"),
            dial("1000").attr("timeout", "1.5"),
            dial("1000").attr("timeout", "99999999999999999999999"),
            dial("1000").attr("uri", "xmpp:x@other.test"),
            dial("1000").attr("from", "a\nb"),
            dial("1000").child(Element::new("join", ns::RAYO)),
            dial("1000").child(Element::new("header", ns::RAYO).attr("name", "X")),
        ] {
            let error = parse_dial(&e, DOMAIN).expect_err(&e.to_string());
            assert_eq!(error.condition, StanzaCondition::BadRequest, "{e}");
        }
    }
}
