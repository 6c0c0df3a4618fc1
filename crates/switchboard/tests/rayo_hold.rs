//! Rayo hold end to end against a caller that meets the first re-INVITE
//! with glare (491): the call core retries once after the RFC 3261 §14.1
//! delay, and the client's `<hold>` result comes with the retry's 200.
//! The real binary on 127.0.0.1 (ports from the OS), SIPp as the caller.

use std::path::Path;
use std::time::Duration;

use testkit::rayo_harness::{with_header, RayoBench, RayoConfig};
use testkit::xmpp::rayo;
use testkit::Sipp;

/// Answers the first re-INVITE 491, the retry 200; checks the X-Hold header.
const UAC_HOLD_GLARE: &str = include_str!("scenarios/rayo_uac_hold_glare.xml");

/// Its own RTP ports; the default wait (the glare delay is ≤ 2 s).
fn server() -> RayoBench {
    let config = RayoConfig::new().rtp_ports("49500-49599");
    RayoBench::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &config)
}

#[test]
fn hold_met_by_glare_is_retried_and_succeeds_with_its_headers() {
    let bench = server();
    let mut client = bench.available("usera");
    let sipp = Sipp::xml(UAC_HOLD_GLARE, bench.sip())
        .service("1000")
        .timeout(Duration::from_secs(15))
        .spawn();
    let offered = bench.offer(&mut client);
    let call = offered.call.clone();
    bench.ok(&mut client, &call, rayo("answer"));
    let hold = with_header(rayo("hold"), "X-Hold", "glare");
    bench.ok(&mut client, &call, hold);
    bench.ok(&mut client, &call, rayo("hangup"));
    bench.assert_sipp_passed(&sipp.wait());
}
