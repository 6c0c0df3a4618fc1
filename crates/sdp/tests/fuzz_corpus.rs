//! Runs the parser and the offer/answer over every seed of the `parse_sdp`
//! fuzz target (`fuzz/corpus/parse_sdp/*`) on stable Rust, checking the same
//! properties as the libFuzzer target, on the seeds and every prefix of them.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use sdp::{answer, offer, parse, process_answer, LocalMedia, OriginState, MAX_SDP_BYTES};

fn check(data: &[u8]) -> bool {
    let parsed = match parse(data) {
        Ok(parsed) => parsed,
        Err(error) => {
            assert!(matches!(error.status(), 400 | 488), "{error}");
            return false;
        }
    };
    let bytes = parsed.to_bytes();
    if bytes.len() <= MAX_SDP_BYTES {
        assert_eq!(parse(&bytes), Ok(parsed.clone()));
    }
    let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
    let mut origin = OriginState::new("fuzz", 1, 1);
    match answer(&parsed, &local, &mut origin) {
        Ok(answered) => {
            assert_eq!(answered.sdp.media.len(), parsed.media.len());
            assert_eq!(parse(&answered.sdp.to_bytes()), Ok(answered.sdp));
        }
        Err(error) => assert_eq!(error.status(), 488),
    }
    let ours = offer(&local, &mut origin);
    let _ = process_answer(&ours, &parsed);
    true
}

#[test]
fn every_seed_parses_without_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_sdp");
    let (mut seeds, mut parsed) = (0, 0);
    for seed in fs::read_dir(&corpus).expect("fuzz/corpus/parse_sdp exists") {
        let data = fs::read(seed.expect("dir entry").path()).expect("read seed");
        seeds += 1;
        parsed += usize::from(check(&data));
        for cut in 0..data.len() {
            check(&data[..cut]);
        }
    }
    assert!(seeds >= 20, "only {seeds} seeds found");
    assert!(parsed >= 10, "only {parsed} seeds parse");
}
