//! Errors and the SIP answer each one deserves.
//!
//! A body that is not SDP at all (bad syntax, a missing `v=`/`o=` line, a
//! port that is not a number) is a [`ParseError`] with status 400: the
//! request is malformed. A well-formed SDP that we cannot use (a network
//! type other than `IN`, an `v=` other than 0) is also a [`ParseError`] but
//! with status 488 Not Acceptable Here. A well-formed offer with nothing we
//! can accept (no audio stream, no common codec) is a
//! [`NegotiationError`], always 488.

use thiserror::Error;

/// Why a body could not be turned into a [`SessionDescription`](crate::SessionDescription).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The body is larger than [`MAX_SDP_BYTES`](crate::MAX_SDP_BYTES).
    #[error("SDP of {length} bytes exceeds the {limit} byte limit")]
    TooLarge {
        /// The body length.
        length: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not UTF-8 text.
    #[error("SDP is not UTF-8")]
    NotUtf8,
    /// A line does not have the `<letter>=<value>` shape.
    #[error("line {line}: not of the form <type>=<value>")]
    InvalidLine {
        /// The 1-based line number.
        line: usize,
    },
    /// The first line is not `v=`.
    #[error("SDP does not start with v=")]
    MissingVersion,
    /// The `v=` line names a version other than 0.
    #[error("unsupported SDP version {0:?}")]
    UnsupportedVersion(String),
    /// A line every session description needs is absent.
    #[error("missing {0}= line")]
    MissingLine(char),
    /// A line that may appear once appears more than once.
    #[error("line {line}: more than one {kind}= line")]
    DuplicateLine {
        /// The line type.
        kind: char,
        /// The 1-based line number.
        line: usize,
    },
    /// A line's value does not parse.
    #[error("line {line}: invalid {kind}= line: {detail}")]
    InvalidField {
        /// The line type.
        kind: char,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// A `c=` line names a network type other than `IN`.
    #[error("unsupported network type {0:?}")]
    UnsupportedNetType(String),
    /// A media description has no `c=` at media level and the session has none either.
    #[error("media description {0} has no connection address")]
    MissingConnection(usize),
}

impl ParseError {
    /// The status code of the SIP response for a request carrying this SDP.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::UnsupportedVersion(_) | ParseError::UnsupportedNetType(_) => 488,
            _ => 400,
        }
    }

    /// The reason phrase of that response.
    pub fn reason_phrase(&self) -> &'static str {
        match self.status() {
            488 => "Not Acceptable Here",
            _ => "Bad Request - Malformed SDP",
        }
    }
}

/// Why an offer or answer could not be agreed on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NegotiationError {
    /// The offer has no usable RTP audio stream (none, or only ones with port 0).
    #[error("no audio stream offered")]
    NoAudioStream,
    /// Audio is offered but with no codec we support.
    #[error("no common audio codec")]
    NoCommonCodec,
    /// The answer does not have one media description per offered one.
    #[error("answer has {answered} media descriptions for {offered} offered")]
    MediaCountMismatch {
        /// Media descriptions in the offer.
        offered: usize,
        /// Media descriptions in the answer.
        answered: usize,
    },
    /// The answer refused our audio stream (port 0).
    #[error("audio stream rejected by the answerer")]
    AudioRejected,
    /// The answer's audio stream has a different media type or transport.
    #[error("answer changes the media type or transport of the audio stream")]
    AnswerMismatch,
    /// The accepted stream has no connection address at either level.
    #[error("media description {0} has no connection address")]
    MissingConnection(usize),
}

impl NegotiationError {
    /// The status code of the SIP response: 488 Not Acceptable Here.
    pub fn status(&self) -> u16 {
        488
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_sip_answers() {
        assert_eq!(ParseError::MissingVersion.status(), 400);
        assert_eq!(ParseError::MissingLine('o').status(), 400);
        assert_eq!(ParseError::UnsupportedNetType("ATM".into()).status(), 488);
        assert_eq!(ParseError::UnsupportedVersion("1".into()).status(), 488);
        assert_eq!(
            ParseError::UnsupportedVersion("1".into()).reason_phrase(),
            "Not Acceptable Here"
        );
        assert_eq!(
            ParseError::NotUtf8.reason_phrase(),
            "Bad Request - Malformed SDP"
        );
        assert_eq!(NegotiationError::NoCommonCodec.status(), 488);
    }
}
