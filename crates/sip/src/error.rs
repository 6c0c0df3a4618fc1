//! Parse errors and the SIP answer each one deserves.
//!
//! Every way a message can be malformed is a [`ParseError`] variant, and each
//! variant knows the status code and reason phrase a UAS sends back for it
//! (RFC 3261 §8.2 and §21): 400 for syntax, 505 for a foreign SIP version,
//! 416 for a Request-URI scheme we cannot route, 413 for a message larger
//! than we are willing to buffer. The reason phrase of a 400 names the header
//! at fault ("Bad Request - Invalid CSeq header"), which is what a human
//! reading a SIP trace needs.

use thiserror::Error;

/// Why bytes could not be turned into a usable SIP message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The bytes end before the header section does (no empty line yet).
    /// [`crate::parse_stream`] reports this as `Ok(None)`; for a datagram it is final.
    #[error("message ends inside the header section")]
    Incomplete,
    /// The header section is larger than the parser buffers.
    #[error("header section exceeds {limit} bytes")]
    HeadersTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Content-Length announces a body larger than the parser buffers.
    #[error("body of {length} bytes exceeds the {limit} byte limit")]
    BodyTooLarge {
        /// The announced body length.
        length: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A datagram is shorter than its Content-Length (RFC 4475 "clerr").
    #[error("Content-Length {declared} exceeds the {available} body bytes received")]
    BodyTruncated {
        /// The Content-Length value.
        declared: usize,
        /// The body bytes actually present.
        available: usize,
    },
    /// The request or status line does not have the shape the grammar requires.
    #[error("malformed start line")]
    InvalidStartLine,
    /// The request names a SIP version other than 2.0.
    #[error("unsupported SIP version {0:?}")]
    UnsupportedVersion(String),
    /// The Request-URI is not a well-formed URI.
    #[error("malformed Request-URI")]
    InvalidRequestUri,
    /// A URI uses a scheme other than sip, sips or tel.
    #[error("unsupported URI scheme {0:?}")]
    UnsupportedScheme(String),
    /// A header line has no colon, or its name is not a token.
    #[error("malformed header line")]
    InvalidHeaderLine,
    /// A header's value does not parse.
    #[error("invalid {name} header: {detail}")]
    InvalidHeader {
        /// The header name (canonical for known headers, as written otherwise).
        name: String,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// A header every message of this kind needs is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that may appear once appears more than once (RFC 4475 "multi01").
    #[error("more than one {0} header")]
    DuplicateHeader(&'static str),
    /// The CSeq method differs from the request method (RFC 4475 "mismatch01").
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMethodMismatch {
        /// The method of the request line.
        method: String,
        /// The method in CSeq.
        cseq: String,
    },
    /// A value parsed outside any header context is malformed (what it was meant to be).
    #[error("malformed {0}")]
    InvalidSyntax(&'static str),
}

impl ParseError {
    /// The status code of the response a UAS sends for this error.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::UnsupportedVersion(_) => 505,
            ParseError::UnsupportedScheme(_) => 416,
            ParseError::HeadersTooLarge { .. } | ParseError::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }

    /// The reason phrase of that response; a 400's names the header at fault.
    pub fn reason_phrase(&self) -> String {
        let base = crate::message::default_reason(self.status());
        let detail = match self {
            ParseError::UnsupportedVersion(_)
            | ParseError::UnsupportedScheme(_)
            | ParseError::HeadersTooLarge { .. }
            | ParseError::BodyTooLarge { .. } => return base.to_string(),
            ParseError::Incomplete => "Incomplete message".to_string(),
            ParseError::BodyTruncated { .. } => "Content-Length exceeds message".to_string(),
            ParseError::InvalidStartLine => "Malformed request line".to_string(),
            ParseError::InvalidRequestUri => "Invalid Request-URI".to_string(),
            ParseError::InvalidHeaderLine => "Malformed header line".to_string(),
            ParseError::InvalidHeader { name, .. } => format!("Invalid {name} header"),
            ParseError::MissingHeader(name) => format!("Missing {name} header"),
            ParseError::DuplicateHeader(name) => format!("Multiple {name} headers"),
            ParseError::CSeqMethodMismatch { .. } => "CSeq method mismatch".to_string(),
            ParseError::InvalidSyntax(what) => format!("Malformed {what}"),
        };
        format!("{base} - {detail}")
    }

    /// Re-labels an error from a typed value parser as an error in header `name`:
    /// a bad URI inside From is an invalid From header (400), not a 416.
    pub fn in_header(self, name: &str) -> ParseError {
        match self {
            ParseError::InvalidSyntax(detail) => ParseError::InvalidHeader {
                name: name.to_string(),
                detail,
            },
            ParseError::UnsupportedScheme(_) => ParseError::InvalidHeader {
                name: name.to_string(),
                detail: "unsupported URI scheme",
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_sip_answers() {
        assert_eq!(
            ParseError::UnsupportedVersion("SIP/7.0".into()).status(),
            505
        );
        assert_eq!(ParseError::UnsupportedScheme("http".into()).status(), 416);
        assert_eq!(ParseError::HeadersTooLarge { limit: 1 }.status(), 413);
        assert_eq!(ParseError::MissingHeader("Call-ID").status(), 400);
        assert_eq!(ParseError::InvalidStartLine.status(), 400);
    }

    #[test]
    fn reason_names_the_header() {
        let err = ParseError::InvalidSyntax("CSeq").in_header("CSeq");
        assert_eq!(err.reason_phrase(), "Bad Request - Invalid CSeq header");
        assert_eq!(
            ParseError::MissingHeader("Call-ID").reason_phrase(),
            "Bad Request - Missing Call-ID header"
        );
        assert_eq!(
            ParseError::UnsupportedVersion("SIP/3.0".into()).reason_phrase(),
            "Version Not Supported"
        );
        assert_eq!(
            ParseError::UnsupportedScheme("x".into()).in_header("To"),
            ParseError::InvalidHeader {
                name: "To".into(),
                detail: "unsupported URI scheme"
            }
        );
    }
}
