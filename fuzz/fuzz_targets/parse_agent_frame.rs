//! Any WebSocket frame an agent may send, as text or binary: the properties
//! of `agent_rpc::check_untrusted` (never a panic, written-back frames and
//! ops decode to themselves, CLI and listen-frame parsing safe).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| agent_rpc::check_untrusted(data));
