//! Any text as an output's SSML document, uri-list or plain text: the
//! properties of `rayo::fuzz::check_ssml_untrusted` (never a panic, errors
//! render, rendered segments stay within their bounds).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rayo::fuzz::check_ssml_untrusted(data));
