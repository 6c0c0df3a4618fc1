//! One XML document held in a string (an SRGS grammar, an SSML document),
//! read with the `xmpp` crate's bounded reader: size, depth, attribute and
//! name limits apply, and DTDs and entity declarations are refused.

use xmpp::{Element, Limits, StreamEvent, StreamReader};

use crate::error::CommandError;

/// Reads the single element of `body` (an XML declaration allowed before
/// it); `what` names the document in errors ("grammar", "SSML").
pub(crate) fn read_fragment(
    body: &str,
    max_bytes: usize,
    what: &str,
) -> Result<Element, CommandError> {
    if body.len() > max_bytes {
        return Err(CommandError::bad_request(format!("{what} body too large")));
    }
    let mut text = body.trim_start();
    if let Some(rest) = text.strip_prefix("<?xml") {
        let end = rest.find("?>").ok_or_else(|| {
            CommandError::bad_request(format!("unterminated XML declaration in {what}"))
        })?;
        text = rest[end + 2..].trim_start();
    }
    let wrapped = format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>{text}</stream:stream>"
    );
    let limits = Limits {
        max_stanza_bytes: max_bytes,
        max_buffered_bytes: max_bytes + 256,
        ..Limits::default()
    };
    let mut reader = StreamReader::new(limits, "jabber:client");
    let bad =
        |e: xmpp::ReadError| CommandError::bad_request(format!("{what} is not valid XML: {e}"));
    reader.feed(wrapped.as_bytes()).map_err(bad)?;
    let mut found = None;
    while let Some(event) = reader.next_event().map_err(bad)? {
        match event {
            StreamEvent::Stanza(e) if found.is_none() => found = Some(e),
            StreamEvent::Stanza(_) => {
                return Err(CommandError::bad_request(format!(
                    "more than one element in {what} body"
                )))
            }
            _ => {}
        }
    }
    found.ok_or_else(|| CommandError::bad_request(format!("empty {what} body")))
}
