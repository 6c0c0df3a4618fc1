//! The few edits the stack makes to messages on their way through.
//!
//! Reading headers is [`sip::TypedHeaders`] and writing bytes is
//! `to_bytes`; what is left here is what the `sip` crate has no reason to
//! know: stamping the top Via of a received request, reading a From/To tag,
//! and making Content-Length agree with the body before a message the user
//! built goes out. `sip` writes an existing Content-Length as it stands (a
//! parsed message must round-trip unchanged), and a user may have replaced a
//! body without fixing it.

use std::fmt::Write as _;

use sip::{HeaderName, Headers, NameAddr, Via};

/// Replaces the top Via entry. The entries after it, also those folded into
/// the same line, are kept as written: they are not ours to rewrite, and
/// leaving them as text spares parsing and printing them for every request.
pub(crate) fn replace_top_via(headers: &mut Headers, via: &Via) {
    let Some(line) = headers.0.iter_mut().find(|h| h.is(HeaderName::Via)) else {
        return;
    };
    let rest = &line.value[first_entry_end(&line.value)..];
    let mut value = String::with_capacity(line.value.len() + 48);
    let _ = write!(value, "{via}{rest}");
    line.value = value;
}

/// Where the first entry of a Via line ends: its first comma outside a
/// quoted string (a Via has no `<...>`), or the end of the line.
fn first_entry_end(line: &str) -> usize {
    let bytes = line.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b',' if !quoted => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The `tag` of From or To; `None` when the header is absent, malformed or untagged.
pub(crate) fn tag_of(headers: &Headers, name: HeaderName) -> Option<String> {
    tag_in(headers.get(name)?)
}

/// The `tag` of a From or To value.
pub(crate) fn tag_in(value: &str) -> Option<String> {
    NameAddr::parse(value).ok()?.tag().map(str::to_string)
}

/// Makes the Content-Length header say `body_len`: one line with the right
/// value is kept as written, anything else (a wrong or unreadable value,
/// several lines) becomes one `Content-Length: <body_len>`. With no line at
/// all nothing is added here: `to_bytes` appends it.
pub(crate) fn fix_content_length(headers: &mut Headers, body_len: usize) {
    let agrees = {
        let mut lines = headers.get_all(HeaderName::ContentLength);
        match (lines.next(), lines.next()) {
            (None, _) => true,
            (Some(value), None) => value.trim().parse::<usize>() == Ok(body_len),
            (Some(_), Some(_)) => false,
        }
    };
    if !agrees {
        headers.set(HeaderName::ContentLength, body_len.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip::{Response, TypedHeaders};

    #[test]
    fn replaces_only_the_top_via() {
        let mut headers = Headers::new();
        headers.push(
            "Via",
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
        );
        let mut top = headers.top_via().expect("top via");
        top.params.set("received", Some("1.2.3.4".into()));
        replace_top_via(&mut headers, &top);
        assert_eq!(
            headers.get(HeaderName::Via),
            Some("SIP/2.0/UDP a;branch=z9hG4bK1;received=1.2.3.4, SIP/2.0/UDP b;branch=z9hG4bK2")
        );

        // A comma inside a quoted parameter does not end the entry.
        let mut quoted = Headers::new();
        quoted.push(
            "v",
            r#"SIP/2.0/UDP a;x="p,\"q";branch=z9hG4bK1,SIP/2.0/TCP b"#,
        );
        quoted.push("Via", "SIP/2.0/UDP c");
        let mut top = quoted.top_via().expect("top via");
        top.params.set("rport", Some("5070".into()));
        replace_top_via(&mut quoted, &top);
        assert_eq!(
            quoted.get_all(HeaderName::Via).collect::<Vec<_>>(),
            [
                r#"SIP/2.0/UDP a;x="p,\"q";branch=z9hG4bK1;rport=5070,SIP/2.0/TCP b"#,
                "SIP/2.0/UDP c"
            ]
        );
    }

    #[test]
    fn tags_read_as_none_when_absent_or_malformed() {
        let mut headers = Headers::new();
        headers.push("f", "<sip:a@example.com>;tag=x1");
        headers.push("To", "<sip:b");
        assert_eq!(tag_of(&headers, HeaderName::From).as_deref(), Some("x1"));
        assert_eq!(tag_of(&headers, HeaderName::To), None);
        assert_eq!(tag_of(&headers, HeaderName::CallId), None);
    }

    #[test]
    fn content_length_is_fixed_only_when_it_disagrees() {
        let mut response = Response::new(200);
        response.headers.push("Content-Length", "99");
        response.headers.push("X-After", "1");
        response.body = b"abc".to_vec();
        fix_content_length(&mut response.headers, response.body.len());
        assert!(response
            .to_bytes()
            .ends_with(b"Content-Length: 3\r\nX-After: 1\r\n\r\nabc"));

        // Right already: kept as written (compact form included).
        let mut right = Response::new(200);
        right.headers.push("l", "3");
        right.body = b"abc".to_vec();
        fix_content_length(&mut right.headers, 3);
        assert!(right.to_bytes().ends_with(b"\r\nl: 3\r\n\r\nabc"));

        // Two lines, even if the first is right: one line.
        let mut doubled = Response::new(200);
        doubled.headers.push("l", "0");
        doubled.headers.push("Content-Length", "7");
        fix_content_length(&mut doubled.headers, 0);
        assert_eq!(
            doubled.headers.get_all(HeaderName::ContentLength).count(),
            1
        );

        // Absent: left to the serializer.
        let mut absent = Response::new(200);
        fix_content_length(&mut absent.headers, 0);
        assert!(absent.headers.get(HeaderName::ContentLength).is_none());
        assert!(absent.to_bytes().ends_with(b"Content-Length: 0\r\n\r\n"));
    }
}
