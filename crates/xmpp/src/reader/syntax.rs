//! The lexical rules of the restricted XML subset: names, start-tag
//! attributes, character data and the five predefined entities plus
//! numeric character references (anything else is refused).

use super::{Limits, ReadError};

pub(super) fn split_qname(qname: &str) -> (&str, &str) {
    match qname.split_once(':') {
        Some((prefix, local)) => (prefix, local),
        None => ("", qname),
    }
}

pub(super) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(super) fn is_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(super) fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (c as u32) >= 0xC0
}

pub(super) fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.' || c == '\u{B7}'
}

/// Reads a name at the start of `s`; returns it and the rest.
pub(super) fn take_name<'a>(s: &'a str, limits: &Limits) -> Result<(&'a str, &'a str), ReadError> {
    let end = s
        .char_indices()
        .find(|(_, c)| !is_name_char(*c))
        .map_or(s.len(), |(i, _)| i);
    let name = &s[..end];
    if !name.chars().next().is_some_and(is_name_start) {
        return Err(ReadError::NotWellFormed("bad name"));
    }
    if name.len() > limits.max_name_len {
        return Err(ReadError::PolicyViolation("name too long"));
    }
    let colons = name.matches(':').count();
    if colons > 1 || name.starts_with(':') || name.ends_with(':') {
        return Err(ReadError::NotWellFormed("bad qualified name"));
    }
    Ok((name, &s[end..]))
}

pub(super) type Attributes = Vec<(String, String)>;

/// Parses `name attr='v' attr2="w"` (the inside of a start tag).
pub(super) fn parse_start(body: &str, limits: &Limits) -> Result<(String, Attributes), ReadError> {
    let (name, mut rest) = take_name(body, limits)?;
    let mut attrs: Attributes = Vec::new();
    loop {
        let trimmed = rest.trim_start_matches(is_space_char);
        if trimmed.is_empty() {
            break;
        }
        if trimmed.len() == rest.len() {
            return Err(ReadError::NotWellFormed("missing space between attributes"));
        }
        let (attr, after) = take_name(trimmed, limits)?;
        let after = after.trim_start_matches(is_space_char);
        let after = after
            .strip_prefix('=')
            .ok_or(ReadError::NotWellFormed("attribute without value"))?
            .trim_start_matches(is_space_char);
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
            .ok_or(ReadError::NotWellFormed("unquoted attribute value"))?;
        let inner = &after[1..];
        let close = inner
            .find(quote)
            .ok_or(ReadError::NotWellFormed("unterminated attribute value"))?;
        let raw = &inner[..close];
        if raw.contains('<') {
            return Err(ReadError::NotWellFormed("'<' in attribute value"));
        }
        let value = decode_entities(raw)?.replace(['\t', '\n', '\r'], " ");
        if attrs.iter().any(|(n, _)| n == attr) {
            return Err(ReadError::NotWellFormed("duplicate attribute"));
        }
        if attrs.len() >= limits.max_attributes {
            return Err(ReadError::PolicyViolation("too many attributes"));
        }
        attrs.push((attr.to_owned(), value));
        rest = &inner[close + 1..];
    }
    Ok((name.to_owned(), attrs))
}

pub(super) fn decode_text(raw: &[u8]) -> Result<String, ReadError> {
    let text = std::str::from_utf8(raw).map_err(|_| ReadError::NotWellFormed("invalid UTF-8"))?;
    if text.contains("]]>") {
        return Err(ReadError::NotWellFormed("']]>' in text"));
    }
    decode_entities(text)
}

pub(super) fn check_chars(text: &str) -> Result<(), ReadError> {
    if text.chars().any(|c| !is_xml_char(c)) {
        return Err(ReadError::NotWellFormed("character not allowed in XML"));
    }
    Ok(())
}

pub(super) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Decodes the five predefined entities and numeric character references.
pub(super) fn decode_entities(text: &str) -> Result<String, ReadError> {
    check_chars(text)?;
    if !text.contains('&') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after
            .find(';')
            .ok_or(ReadError::NotWellFormed("'&' without ';'"))?;
        let name = &after[..end];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else if name.is_empty() || !name.chars().all(is_name_char) {
                    return Err(ReadError::NotWellFormed("bad entity reference"));
                } else {
                    return Err(ReadError::RestrictedXml("entity reference"));
                };
                code.filter(|_| name.len() <= 10)
                    .and_then(char::from_u32)
                    .filter(|c| is_xml_char(*c))
                    .ok_or(ReadError::NotWellFormed("bad character reference"))?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
