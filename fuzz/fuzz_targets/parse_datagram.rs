//! Any datagram: parsing never panics, a parsed message re-serializes to
//! bytes that parse to the same message (plus the Content-Length the
//! serializer adds when it was missing), and a failure yields a sendable answer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match sip::parse_datagram(data) {
        Ok(message) => {
            let bytes = message.to_bytes();
            let again = sip::parse_datagram(&bytes).expect("serialized message parses");
            let mut expected = message;
            if expected.headers().get(sip::HeaderName::ContentLength).is_none() {
                let length = expected.body().len().to_string();
                expected
                    .headers_mut()
                    .push_known(sip::HeaderName::ContentLength, length);
            }
            assert_eq!(again, expected);
        }
        Err(error) => {
            if let Some(response) = sip::error_response(data, &error) {
                let _ = response.to_bytes();
            }
        }
    }
});
