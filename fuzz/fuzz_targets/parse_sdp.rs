//! Any SDP body: parsing never panics, a parsed SDP re-serializes to bytes
//! that parse to the same value, a parse error maps to 400 or 488, and
//! offer/answer over whatever parsed never panics and keeps one answered
//! m= line per offered one.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let offer = match sdp::parse(data) {
        Ok(offer) => offer,
        Err(error) => {
            assert!(matches!(error.status(), 400 | 488));
            return;
        }
    };
    let bytes = offer.to_bytes();
    // LF → CRLF and filled-in s=/t= lines can push a large input past the limit.
    if bytes.len() <= sdp::MAX_SDP_BYTES {
        assert_eq!(sdp::parse(&bytes).expect("serialized SDP parses"), offer);
    }
    let local = sdp::LocalMedia::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
    let mut origin = sdp::OriginState::new("fuzz", 1, 1);
    match sdp::answer(&offer, &local, &mut origin) {
        Ok(answer) => {
            assert_eq!(answer.sdp.media.len(), offer.media.len());
            let answer_bytes = answer.sdp.to_bytes();
            if answer_bytes.len() <= sdp::MAX_SDP_BYTES {
                assert_eq!(
                    sdp::parse(&answer_bytes).expect("answer parses"),
                    answer.sdp
                );
            }
        }
        Err(error) => assert_eq!(error.status(), 488),
    }
    // The input read as an answer to our own offer.
    let ours = sdp::offer(&local, &mut origin);
    let _ = sdp::process_answer(&ours, &offer);
});
