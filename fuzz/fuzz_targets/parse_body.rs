//! Any message body with its headers (header lines, an empty line, the
//! body), read for its session description: the properties of
//! `sip::body::check_untrusted` (never a panic, an SDP found lies inside the
//! body), which the seed test in
//! crates/sip/tests/body_fuzz_corpus.rs runs on stable too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sip::body::check_untrusted(data);
});
