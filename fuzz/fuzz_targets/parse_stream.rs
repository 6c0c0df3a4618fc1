//! Any byte stream: framing never panics, never claims more bytes than it
//! was given, and a message framed from the whole buffer is also framed the
//! same way when the bytes after it are cut off.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((message, used))) = sip::parse_stream(rest) {
        assert!(used > 0 && used <= rest.len());
        let alone = sip::parse_stream(&rest[..used]).expect("prefix parses");
        assert_eq!(alone, Some((message, used)));
        rest = &rest[used..];
    }
});
