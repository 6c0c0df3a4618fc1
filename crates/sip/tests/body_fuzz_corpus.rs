//! Runs the body reader over every seed of the `parse_body` fuzz target
//! (`fuzz/corpus/parse_body/*`) and every prefix of each, on stable Rust,
//! checking the target's properties; seeds named `err_*` must be refused or
//! hold no SDP, the others must yield one.

use std::fs;
use std::path::Path;

use sip::body::check_untrusted as check;

#[test]
fn every_seed_is_judged_as_its_name_says() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_body");
    let (mut seeds, mut refused) = (0, 0);
    for seed in fs::read_dir(&corpus).expect("fuzz/corpus/parse_body exists") {
        let path = seed.expect("dir entry").path();
        let data = fs::read(&path).expect("read seed");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        seeds += 1;
        let found = check(&data);
        assert_eq!(found, !name.starts_with("err_"), "{name}");
        refused += usize::from(!found);
        for cut in 0..data.len() {
            check(&data[..cut]);
        }
    }
    assert!(seeds >= 10, "only {seeds} seeds found");
    assert!(refused >= 5, "only {refused} seeds refused");
}
