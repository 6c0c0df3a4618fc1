//! Any datagram read as compound RTCP: iterating never panics and stops
//! after the first error, every accessor of a parsed packet is safe, and a
//! report followed by an SDES CNAME, written back with `CompoundReport`,
//! parses to the same fields (`media::rtcp::check_datagram`, which the seed
//! test in crates/media/tests/fuzz_corpus.rs runs on stable too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    media::rtcp::check_datagram(data);
});
