//! Any text as a client's SRGS DTMF grammar, inline or a `builtin:` URL:
//! the properties of `rayo::fuzz::check_srgs_untrusted` (never a panic,
//! errors render, a parsed grammar stays within its state bound, and its
//! matcher walks the digits from the input's tail consistently).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rayo::fuzz::check_srgs_untrusted(data));
