//! Any Rayo command payload, built from the input as a sequence of choices
//! (see `rayo::fuzz`): the properties of `rayo::fuzz::check_untrusted`
//! (never a panic, errors render, parsed commands survive a write and a
//! second parse, events built from them render).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rayo::fuzz::check_untrusted(data));
