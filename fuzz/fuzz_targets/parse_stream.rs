//! Any byte stream: framing never panics, never claims more bytes than it
//! was given, frames a message the same way when the bytes after it are cut
//! off, and judges each frame as `parse_datagram` judges the frame's bytes.
//! A frame whose message is refused is skipped, as a TCP reader does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(frame)) = sip::parse_stream_frame(rest) {
        let used = frame.consumed;
        assert!(used > 0 && used <= rest.len());
        let alone = sip::parse_stream_frame(&rest[..used]).expect("prefix frames");
        assert_eq!(alone.as_ref(), Some(&frame));
        assert_eq!(frame.message, sip::parse_datagram(&rest[..used]));
        if let Ok(message) = &frame.message {
            assert_eq!(sip::parse_stream(rest), Ok(Some((message.clone(), used))));
        }
        rest = &rest[used..];
    }
});
