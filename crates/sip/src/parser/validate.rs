//! Parse-time checks that make a parsed message one the stack can use.
//!
//! RFC 3261 §8.1.1 lists the headers every request carries (Via, From, To,
//! Call-ID, CSeq; Max-Forwards too, but RFC 2543 peers omit it so it is
//! tolerated when absent, RFC 4475 "inv2543"). Responses carry the same
//! minus Max-Forwards. Single-valued headers may not repeat ("multi01"),
//! the CSeq method must be the request method ("mismatch01/02"), and the
//! headers that route a message (Via, Contact, Route, Record-Route) must
//! parse. Date, when present, must be an RFC 1123 date in GMT ("baddate").
//!
//! The checks run the same scanners as the typed parsers (see `sink`) but
//! keep nothing, so validating a message allocates nothing.

use super::headers::{
    is_token_list, scan_cseq, scan_name_addr, scan_name_addr_list, scan_via_list,
};
use super::invalid_header;
use super::lex::{is_token_byte, parse_digits, trim_wsp};
use super::sink::Discard;
use crate::error::ParseError;
use crate::header::{HeaderName, Headers};
use crate::message::{Request, Response};
use crate::method::Method;

/// What one pass over the headers found.
#[derive(Default)]
struct Seen<'a> {
    vias: usize,
    from: usize,
    to: usize,
    call_id: usize,
    /// The number and method token of the last CSeq.
    cseq: Option<(u32, &'a str)>,
    cseq_count: usize,
    max_forwards: usize,
    /// Contact lines, and how many of them are `*`.
    contacts: usize,
    star_contacts: usize,
}

fn scan(headers: &Headers, is_request: bool) -> Result<Seen<'_>, ParseError> {
    let mut seen = Seen::default();
    for header in headers.iter() {
        let value = header.value.as_str();
        let Some(name) = HeaderName::from_name(&header.name) else {
            if header.name.eq_ignore_ascii_case("Date") && !is_rfc1123_gmt(value) {
                return Err(invalid_header("Date", "not an RFC 1123 GMT date"));
            }
            continue;
        };
        let in_header = |e: ParseError| e.in_header(name.as_str());
        match name {
            HeaderName::Via => {
                seen.vias += scan_via_list(value, &mut Discard).map_err(in_header)?
            }
            HeaderName::From | HeaderName::To => {
                scan_name_addr(value, &mut Discard).map_err(in_header)?;
                *if name == HeaderName::From {
                    &mut seen.from
                } else {
                    &mut seen.to
                } += 1;
            }
            HeaderName::CallId => {
                if !is_call_id(value) {
                    return Err(invalid_header("Call-ID", "not a word[@word]"));
                }
                seen.call_id += 1;
            }
            HeaderName::CSeq => {
                seen.cseq = Some(scan_cseq(value).map_err(in_header)?);
                seen.cseq_count += 1;
            }
            HeaderName::MaxForwards if is_request => {
                parse_digits(value)
                    .filter(|&n| n <= 255)
                    .ok_or_else(|| invalid_header("Max-Forwards", "not 0-255"))?;
                seen.max_forwards += 1;
            }
            // A Contact may name any scheme (mailto: in a 3xx, say); only
            // the ones we can route are typed, the rest is left to the caller.
            HeaderName::Contact => {
                let star = trim_wsp(value) == "*";
                if !star {
                    match scan_name_addr_list(value, &mut Discard, |_, _| {}) {
                        Ok(_) | Err(ParseError::UnsupportedScheme(_)) => {}
                        Err(e) => return Err(in_header(e)),
                    }
                }
                seen.contacts += 1;
                seen.star_contacts += usize::from(star);
            }
            HeaderName::Route | HeaderName::RecordRoute => {
                scan_name_addr_list(value, &mut Discard, |_, _| {}).map_err(in_header)?;
            }
            HeaderName::Allow | HeaderName::Supported | HeaderName::Require
                if !is_token_list(value) =>
            {
                return Err(invalid_header(name.as_str(), "not a token list"));
            }
            _ => {}
        }
    }
    if seen.contacts > 1 && seen.star_contacts > 0 {
        return Err(invalid_header("Contact", "* must stand alone"));
    }
    Ok(seen)
}

fn require_one(count: usize, name: &'static str) -> Result<(), ParseError> {
    match count {
        0 => Err(ParseError::MissingHeader(name)),
        1 => Ok(()),
        _ => Err(ParseError::DuplicateHeader(name)),
    }
}

fn check_common(seen: &Seen) -> Result<(), ParseError> {
    if seen.vias == 0 {
        return Err(ParseError::MissingHeader("Via"));
    }
    require_one(seen.from, "From")?;
    require_one(seen.to, "To")?;
    require_one(seen.call_id, "Call-ID")?;
    require_one(seen.cseq_count, "CSeq")
}

/// Validates a parsed request.
pub(super) fn request(request: &Request) -> Result<(), ParseError> {
    let seen = scan(&request.headers, true)?;
    check_common(&seen)?;
    if seen.max_forwards > 1 {
        return Err(ParseError::DuplicateHeader("Max-Forwards"));
    }
    // Method::from_token maps distinct tokens to distinct methods, so
    // comparing tokens is comparing methods.
    if let Some((_, cseq_method)) = seen.cseq {
        if cseq_method != request.method.as_str() {
            return Err(ParseError::CSeqMethodMismatch {
                method: request.method.to_string(),
                cseq: cseq_method.to_string(),
            });
        }
    }
    if request.method != Method::Register && seen.star_contacts > 0 {
        return Err(invalid_header("Contact", "* outside REGISTER"));
    }
    Ok(())
}

/// Validates a parsed response.
pub(super) fn response(response: &Response) -> Result<(), ParseError> {
    let seen = scan(&response.headers, false)?;
    if seen.star_contacts > 0 {
        return Err(invalid_header("Contact", "* in a response"));
    }
    check_common(&seen)
}

/// `Call-ID = word [ "@" word ]` (RFC 3261 §25.1).
fn is_call_id(value: &str) -> bool {
    let is_word = |w: &str| {
        !w.is_empty()
            && w.bytes().all(|b| {
                is_token_byte(b)
                    || matches!(
                        b,
                        b'(' | b')'
                            | b'<'
                            | b'>'
                            | b':'
                            | b'\\'
                            | b'"'
                            | b'/'
                            | b'['
                            | b']'
                            | b'?'
                            | b'{'
                            | b'}'
                    )
            })
    };
    match value.split_once('@') {
        Some((a, b)) => is_word(a) && is_word(b),
        None => is_word(value),
    }
}

/// `wkday "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"`.
fn is_rfc1123_gmt(value: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let Some((day, rest)) = value.split_once(", ") else {
        return false;
    };
    let mut fields = rest.split(' ');
    let (Some(date), Some(month), Some(year), Some(time), Some(zone), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return false;
    };
    let mut time = time.split(':');
    let hms = (time.next(), time.next(), time.next(), time.next());
    let (Some(h), Some(m), Some(s), None) = hms else {
        return false;
    };
    DAYS.contains(&day)
        && digits(date, 2)
        && MONTHS.contains(&month)
        && digits(year, 4)
        && [h, m, s].iter().all(|t| digits(t, 2))
        && zone == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_rfc1123_gmt("Sat, 13 Nov 2010 23:29:00 GMT"));
        assert!(!is_rfc1123_gmt("Fri, 01 Jan 2010 16:00:00 EST"));
        assert!(!is_rfc1123_gmt("Fri, 1 Jan 2010 16:00:00 GMT"));
        assert!(!is_rfc1123_gmt("yesterday"));
    }

    #[test]
    fn call_ids() {
        assert!(is_call_id(
            "f81d4fae-7dec-11d0-a765-00a0c91e6bf6@foo.bar.com"
        ));
        assert!(is_call_id(r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#));
        assert!(!is_call_id(""));
        assert!(!is_call_id("a b"));
        assert!(!is_call_id("a@b@c"));
    }
}
