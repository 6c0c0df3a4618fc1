//! `<header name='…' value='…'/>` (RAYO.md §2.2): signalling headers on
//! commands and events, an ordered list in which a name may repeat.
//!
//! Header names and values from a command end up in a SIP message, so they
//! are checked here: a name must be a SIP token and a value must not hold a
//! line break or another control character, or one header could smuggle
//! in others.

use xmpp::Element;

use crate::error::CommandError;
use crate::ns;

/// Signalling headers in document order, as (name, value) pairs.
pub type Headers = Vec<(String, String)>;

/// The `<header>` children of a command (in any Rayo namespace, since a
/// `<header>` inherits its parent's default namespace). Both attributes
/// are required; a name that is not a SIP token, or a value with a control
/// character, is `bad-request`.
pub fn parse_headers(command: &Element) -> Result<Headers, CommandError> {
    let mut headers = Vec::new();
    for header in command
        .children()
        .filter(|c| c.name() == "header" && ns::is_rayo(c.ns()))
    {
        let (Some(name), Some(value)) = (header.get_attr("name"), header.get_attr("value")) else {
            return Err(CommandError::bad_request(
                "a <header> needs both 'name' and 'value'",
            ));
        };
        if !is_sip_token(name) {
            return Err(CommandError::bad_request(format!(
                "header name '{name}' is not a SIP token"
            )));
        }
        check_line(&format!("header {name}"), value)?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    Ok(headers)
}

/// `<header>` elements in `urn:xmpp:rayo:1` for an event.
pub fn header_elements(headers: &[(String, String)]) -> impl Iterator<Item = Element> + '_ {
    headers.iter().map(|(name, value)| {
        Element::new("header", ns::RAYO)
            .attr("name", name.as_str())
            .attr("value", value.as_str())
    })
}

/// Whether `s` is an RFC 3261 token (a header name).
pub(crate) fn is_sip_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

/// Refuses a value that would break a SIP header line (CR, LF, other
/// control characters; a tab is fine).
pub(crate) fn check_line(what: &str, value: &str) -> Result<(), CommandError> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(CommandError::bad_request(format!(
            "{what} holds a control character"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StanzaCondition;

    fn header(name: Option<&str>, value: Option<&str>) -> Element {
        let mut h = Element::new("header", ns::RAYO);
        if let Some(name) = name {
            h.set_attr("name", name);
        }
        if let Some(value) = value {
            h.set_attr("value", value);
        }
        h
    }

    #[test]
    fn keeps_order_and_repeats() {
        let cmd = Element::new("answer", ns::RAYO)
            .child(header(Some("X-A"), Some("1")))
            .child(Element::new("other", "urn:example"))
            .child(header(Some("X-A"), Some("2")))
            .child(header(Some("Route"), Some("")));
        assert_eq!(
            parse_headers(&cmd),
            Ok(vec![
                ("X-A".into(), "1".into()),
                ("X-A".into(), "2".into()),
                ("Route".into(), "".into())
            ])
        );
    }

    #[test]
    fn headers_in_other_rayo_namespaces_count() {
        let cmd = Element::new("stop", ns::EXT).child(
            Element::new("header", ns::EXT)
                .attr("name", "X-B")
                .attr("value", "v"),
        );
        assert_eq!(parse_headers(&cmd), Ok(vec![("X-B".into(), "v".into())]));
    }

    #[test]
    fn missing_attribute_bad_name_or_line_break_is_bad_request() {
        for h in [
            header(Some("X-A"), None),
            header(None, Some("v")),
            header(Some(""), Some("v")),
            header(Some("X A"), Some("v")),
            header(Some("X-A"), Some("v\r\nVia: evil")),
        ] {
            let cmd = Element::new("hangup", ns::RAYO).child(h.clone());
            let error = parse_headers(&cmd).expect_err(&h.to_string());
            assert_eq!(error.condition, StanzaCondition::BadRequest);
        }
    }

    #[test]
    fn renders_in_the_core_namespace() {
        let rendered: Vec<String> = header_elements(&[("X-A".into(), "1".into())])
            .map(|e| e.to_xml(ns::RAYO))
            .collect();
        assert_eq!(rendered, ["<header name='X-A' value='1'/>"]);
    }
}
