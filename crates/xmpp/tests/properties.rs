//! Property tests: hostile bytes never panic the reader or the server
//! machine, and how a stream is cut into reads never changes its stanzas.

use proptest::prelude::*;
use xmpp::reader::check_untrusted;
use xmpp::{Limits, StreamEvent, StreamReader};

const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='rayo.test' version='1.0'>";

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 <>&'\"é☺]{0,12}").expect("valid regex")
}

fn escape(s: &str) -> String {
    xmpp::element::escape(s)
}

/// A stanza from a few shapes, with arbitrary text and attribute values.
fn stanza() -> impl Strategy<Value = String> {
    (0..4u8, text(), text()).prop_map(|(shape, a, b)| match shape {
        0 => format!("<message to='{}'><body>{}</body></message>", escape(&a), escape(&b)),
        1 => format!(
            "<iq type='set' id=\"{}\"><dial xmlns='urn:xmpp:rayo:1'><header name='X' value='{}'/></dial></iq>",
            escape(&a),
            escape(&b)
        ),
        2 => format!("<presence><status><![CDATA[{}]]></status></presence>", a.replace("]]>", "")),
        _ => format!("<r:x xmlns:r='urn:r'>{}<r:y>{}</r:y></r:x>", escape(&a), escape(&b)),
    })
}

fn stanzas(input: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut reader = StreamReader::new(Limits::default(), "jabber:client");
    let mut events = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    points.push(input.len());
    for point in points {
        reader
            .feed(&input[at..point.max(at)])
            .expect("within limits");
        at = point.max(at);
        while let Some(event) = reader.next_event().expect("well-formed") {
            if !matches!(event, StreamEvent::Whitespace) {
                events.push(event);
            }
        }
    }
    events
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_untrusted(&data);
        let mut with_header = HEADER.as_bytes().to_vec();
        with_header.extend_from_slice(&data);
        check_untrusted(&with_header);
    }

    #[test]
    fn chunking_does_not_change_stanzas(
        parts in proptest::collection::vec(stanza(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let input = format!("{HEADER}{} </stream:stream>", parts.join(" "));
        let whole = stanzas(input.as_bytes(), &[]);
        prop_assert_eq!(whole.len(), parts.len() + 2);
        prop_assert_eq!(stanzas(input.as_bytes(), &cuts), whole.clone());
        check_untrusted(input.as_bytes());
    }
}
