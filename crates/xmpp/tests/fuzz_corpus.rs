//! Runs every seed of the `parse_xmpp_stream` fuzz target
//! (`fuzz/corpus/parse_xmpp_stream/*`) through the target's own check on
//! stable Rust, on the seeds and on every prefix of them. Seeds named
//! `err_*` must be refused; the others must read without error.

use std::fs;
use std::path::Path;

use xmpp::reader::check_untrusted;

#[test]
fn every_seed_passes_the_fuzz_check() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_xmpp_stream");
    let mut seeds = 0;
    for seed in fs::read_dir(&corpus).expect("fuzz/corpus/parse_xmpp_stream exists") {
        let path = seed.expect("dir entry").path();
        let data = fs::read(&path).expect("read seed");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        seeds += 1;
        let read = check_untrusted(&data);
        assert_eq!(read, !name.starts_with("err_"), "{name}");
        for cut in 0..data.len() {
            check_untrusted(&data[..cut]);
        }
    }
    assert!(seeds >= 30, "only {seeds} seeds found");
}
