//! Runs the `parse_agent_frame` fuzz target's properties over its seed
//! corpus and every prefix of each seed, on stable (CI has no libFuzzer).

use std::path::Path;

#[test]
fn fuzz_seeds_and_their_prefixes_hold_the_properties() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_agent_frame");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).expect("seed corpus") {
        let data = std::fs::read(entry.expect("entry").path()).expect("seed");
        for end in 0..=data.len() {
            agent_rpc::check_untrusted(&data[..end]);
        }
        seeds += 1;
    }
    assert!(seeds >= 8, "{seeds} seeds in {}", dir.display());
}
