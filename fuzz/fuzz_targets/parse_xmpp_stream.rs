//! Any bytes as a client's XMPP stream: the reader never panics, chunking
//! never changes what it reads, stanzas written back read back the same,
//! and the server machine fed the bytes closes exactly once
//! (`xmpp::reader::check_untrusted`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xmpp::reader::check_untrusted(data);
});
