//! Runs the RTCP parser over every seed of the `parse_rtcp` fuzz target
//! (`fuzz/corpus/parse_rtcp/*`) and every prefix of each, on stable Rust,
//! checking the target's properties; seeds named `err_*` must be refused and
//! the others must parse whole.

use std::fs;
use std::path::Path;

use media::rtcp::check_datagram as check;

#[test]
fn every_seed_parses_without_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_rtcp");
    let (mut seeds, mut refused) = (0, 0);
    for seed in fs::read_dir(&corpus).expect("fuzz/corpus/parse_rtcp exists") {
        let path = seed.expect("dir entry").path();
        let data = fs::read(&path).expect("read seed");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        seeds += 1;
        let parsed = check(&data);
        assert_eq!(parsed, !name.starts_with("err_"), "{name}");
        refused += usize::from(!parsed);
        for cut in 0..data.len() {
            check(&data[..cut]);
        }
    }
    assert!(seeds >= 10, "only {seeds} seeds found");
    assert!(refused >= 4, "only {refused} seeds refused");
}
