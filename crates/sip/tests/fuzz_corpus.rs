//! Runs the parser over every fuzz seed (`fuzz/corpus/*/*`) on stable Rust,
//! checking the same properties as the libFuzzer targets: no panic, parsed
//! messages re-parse unchanged, stream framing never over-consumes and
//! judges each frame as a datagram would.

use std::fs;
use std::path::Path;

use sip::{error_response, parse_datagram, parse_stream, parse_stream_frame, HeaderName};

#[test]
fn every_seed_parses_without_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut seeds = 0;
    for target in fs::read_dir(&corpus).expect("fuzz/corpus exists") {
        let target = target.expect("dir entry").path();
        for seed in fs::read_dir(&target).expect("target dir") {
            let data = fs::read(seed.expect("dir entry").path()).expect("read seed");
            seeds += 1;
            match parse_datagram(&data) {
                Ok(message) => {
                    let again = parse_datagram(&message.to_bytes());
                    let mut expected = message;
                    if expected.headers().get(HeaderName::ContentLength).is_none() {
                        let length = expected.body().len().to_string();
                        expected
                            .headers_mut()
                            .push_known(HeaderName::ContentLength, length);
                    }
                    assert_eq!(again, Ok(expected));
                }
                Err(error) => {
                    if let Some(response) = error_response(&data, &error) {
                        assert!(!response.to_bytes().is_empty());
                    }
                }
            }
            let mut rest = data.as_slice();
            while let Ok(Some(frame)) = parse_stream_frame(rest) {
                let used = frame.consumed;
                assert!(used > 0 && used <= rest.len());
                let alone = parse_stream_frame(&rest[..used]).expect("prefix frames");
                assert_eq!(alone.as_ref(), Some(&frame));
                assert_eq!(frame.message, parse_datagram(&rest[..used]));
                if let Ok(message) = frame.message {
                    assert_eq!(parse_stream(rest), Ok(Some((message, used))));
                }
                rest = &rest[used..];
            }
            // Every prefix of a seed frames without panicking.
            for cut in (0..data.len()).step_by(7) {
                let _ = parse_stream(&data[..cut]);
                let _ = parse_datagram(&data[..cut]);
            }
        }
    }
    assert!(seeds >= 50, "only {seeds} seeds found");
}
