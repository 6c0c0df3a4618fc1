use super::*;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='rayo.test' version='1.0' xml:lang='en'>";

fn read_all(reader: &mut StreamReader, bytes: &[u8]) -> Result<Vec<StreamEvent>, ReadError> {
    reader.feed(bytes)?;
    let mut events = Vec::new();
    while let Some(event) = reader.next_event()? {
        events.push(event);
    }
    Ok(events)
}

fn reader() -> StreamReader {
    StreamReader::new(Limits::default(), "jabber:client")
}

fn first_error(input: &str) -> ReadError {
    let mut r = reader();
    let mut all = HEADER.to_owned();
    all.push_str(input);
    read_all(&mut r, all.as_bytes()).expect_err("input must be refused")
}

#[test]
fn reads_header_stanzas_keepalive_and_close() {
    let mut r = reader();
    let input = format!(
        "{HEADER}<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq> \
         <message><body>a &amp; b &#x263A;<![CDATA[<raw>]]></body></message></stream:stream>"
    );
    let events = read_all(&mut r, input.as_bytes()).expect("valid stream");
    let StreamEvent::Opened(header) = &events[0] else {
        panic!("header first: {events:?}");
    };
    assert_eq!(header.to.as_deref(), Some("rayo.test"));
    assert_eq!(header.version.as_deref(), Some("1.0"));
    assert_eq!(header.lang.as_deref(), Some("en"));
    let StreamEvent::Stanza(iq) = &events[1] else {
        panic!("stanza: {events:?}");
    };
    assert!(iq.is("iq", "jabber:client"));
    assert!(iq.get_child("ping", "urn:xmpp:ping").is_some());
    assert_eq!(events[2], StreamEvent::Whitespace);
    let StreamEvent::Stanza(message) = &events[3] else {
        panic!("stanza: {events:?}");
    };
    let body = message.get_child("body", "jabber:client").expect("body");
    assert_eq!(body.text_content(), "a & b \u{263A}<raw>");
    assert_eq!(events[4], StreamEvent::Closed);
    assert!(r.is_done());
}

#[test]
fn resolves_prefixes_and_keeps_xml_lang() {
    let mut r = reader();
    let input = format!(
        "{HEADER}<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>\
         <r:x xmlns:r='urn:r' xml:lang='de' r:a='1'><r:y/><z/></r:x>"
    );
    let events = read_all(&mut r, input.as_bytes()).expect("valid");
    let StreamEvent::Stanza(features) = &events[1] else {
        panic!("{events:?}");
    };
    assert!(features.is("features", NS_STREAMS));
    let mechs = features
        .get_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
        .expect("mechanisms");
    assert_eq!(mechs.children().count(), 1);
    let StreamEvent::Stanza(x) = &events[2] else {
        panic!("{events:?}");
    };
    assert!(x.is("x", "urn:r"));
    assert_eq!(x.get_attr("xml:lang"), Some("de"));
    assert_eq!(x.get_attr("r:a"), Some("1"));
    assert!(x.get_child("y", "urn:r").is_some());
    assert!(x.get_child("z", "jabber:client").is_some());
}

#[test]
fn byte_by_byte_gives_the_same_stanzas() {
    let input = format!(
        "{HEADER}<iq type='set' id='a&apos;b' to='x@y'><q xmlns=\"urn:q\" v=\"a>b\">t<![CDATA[c]]>é</q></iq>\
         <presence/></stream:stream>"
    );
    let mut whole = reader();
    let expected: Vec<_> = read_all(&mut whole, input.as_bytes())
        .expect("valid")
        .into_iter()
        .filter(|e| !matches!(e, StreamEvent::Whitespace))
        .collect();
    let mut r = reader();
    let mut got = Vec::new();
    for b in input.as_bytes() {
        got.extend(read_all(&mut r, std::slice::from_ref(b)).expect("valid"));
    }
    got.retain(|e| !matches!(e, StreamEvent::Whitespace));
    assert_eq!(got, expected);
    assert_eq!(got.len(), 4);
}

#[test]
fn refuses_restricted_xml() {
    assert!(matches!(
        first_error("<!-- hi -->"),
        ReadError::RestrictedXml(_)
    ));
    assert!(matches!(
        first_error("<?pi x?>"),
        ReadError::RestrictedXml(_)
    ));
    assert!(matches!(
        first_error("<m>&ent;</m>"),
        ReadError::RestrictedXml(_)
    ));
    let mut r = reader();
    let dtd = b"<!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream>";
    assert!(matches!(
        read_all(&mut r, dtd),
        Err(ReadError::RestrictedXml(_))
    ));
    assert_eq!(
        first_error("<!-- x").condition(),
        StreamError::RestrictedXml
    );
}

#[test]
fn refuses_malformed_xml() {
    for bad in [
        "<a></b>",
        "<a x='1' x='2'/>",
        "<a x=1/>",
        "<p:a/>",
        "hello",
        "<a>&#0;</a>",
        "<a>& </a>",
        "<a b='<'/>",
        "</stream:foo>",
        "<a>]]></a>",
        "<1a/>",
    ] {
        let error = first_error(bad);
        assert_eq!(
            error.condition(),
            StreamError::NotWellFormed,
            "{bad}: {error}"
        );
    }
    let mut r = reader();
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"<a>\xff</a>");
    assert!(matches!(
        read_all(&mut r, &bytes),
        Err(ReadError::NotWellFormed(_))
    ));
}

#[test]
fn checks_the_stream_and_content_namespaces() {
    let mut r = reader();
    let wrong_stream = b"<stream:stream xmlns='jabber:client' xmlns:stream='urn:other'>";
    assert_eq!(
        read_all(&mut r, wrong_stream),
        Err(ReadError::InvalidNamespace)
    );
    let mut r = reader();
    let wrong_content =
        b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_eq!(
        read_all(&mut r, wrong_content),
        Err(ReadError::InvalidNamespace)
    );
    let mut r = reader();
    assert_eq!(
        read_all(&mut r, b"<html>"),
        Err(ReadError::InvalidNamespace)
    );
}

#[test]
fn enforces_limits() {
    let limits = Limits {
        max_stanza_bytes: 200,
        max_depth: 4,
        max_attributes: 6,
        max_name_len: 16,
        max_buffered_bytes: 2000,
    };
    let run = |input: &str| {
        let mut r = StreamReader::new(limits.clone(), "jabber:client");
        read_all(&mut r, format!("{HEADER}{input}").as_bytes()).map(|_| ())
    };
    assert_eq!(run("<a><b><c/></b></a>"), Ok(()));
    assert!(matches!(
        run("<a><b><c><d/></c></b></a>"),
        Err(ReadError::PolicyViolation(_))
    ));
    assert!(matches!(
        run("<a s='0' t='0' u='0' v='0' w='1' x='2' y='3'/>"),
        Err(ReadError::PolicyViolation(_))
    ));
    assert!(matches!(
        run("<abcdefghijklmnopq/>"),
        Err(ReadError::PolicyViolation(_))
    ));
    let big = format!("<a>{}</a>", "x".repeat(300));
    assert!(matches!(run(&big), Err(ReadError::PolicyViolation(_))));
    // An unterminated tag is refused once it passes the stanza bound.
    let open = format!("<a b='{}", "x".repeat(300));
    assert!(matches!(run(&open), Err(ReadError::PolicyViolation(_))));
    // Many small stanzas are fine: the bound is per stanza.
    let many = "<a>xxxxxxxxxxxxxxxxxxxx</a>".repeat(40);
    assert_eq!(run(&many), Ok(()));
    let mut r = StreamReader::new(limits.clone(), "jabber:client");
    assert!(matches!(
        r.feed(&[b' '; 2001]),
        Err(ReadError::PolicyViolation(_))
    ));
}

#[test]
fn restart_expects_a_new_header() {
    let mut r = reader();
    let events = read_all(
        &mut r,
        format!("{HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>").as_bytes(),
    )
    .expect("valid");
    assert_eq!(events.len(), 2);
    r.restart();
    let events =
        read_all(&mut r, format!("{HEADER}<iq/>").as_bytes()).expect("valid after restart");
    assert!(matches!(events[0], StreamEvent::Opened(_)));
    assert_eq!(events.len(), 2);
    // A second XML declaration inside a stream is a processing instruction.
    let mut r = reader();
    let twice = format!("{HEADER}<?xml version='1.0'?>");
    assert!(matches!(
        read_all(&mut r, twice.as_bytes()),
        Err(ReadError::RestrictedXml(_))
    ));
}
