//! A real softphone through the B2BUA: baresip calls the server, which
//! bridges to a SIPp UAS echoing RTP. Audio both ways is proven by content:
//! baresip's own tone comes back to it through both legs. baresip then hangs
//! up and SIPp must see the BYE. Skipped with a message when baresip is not
//! installed (`scripts/test` installs it).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use testkit::analysis;
use testkit::baresip::{write_tone_wav, Baresip, BaresipConfig};
use testkit::{free_port, Server, Sipp};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn baresip_calls_through_to_a_sipp_uas_and_hears_itself_then_hangs_up() {
    if !Baresip::available() {
        eprintln!("skipped: baresip is not installed (apt-get install baresip)");
        return;
    }
    let sipp_port = free_port();
    let far: SocketAddr = format!("127.0.0.1:{sipp_port}").parse().expect("address");
    let port = free_port();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
  far: {{ uri: "sip:{far}" }}
routes:
  default:
    - {{ id: "", match: any, endpoint: far }}
media:
  rtp_ports: 41000-41999
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
"#
    );
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &yaml, port);
    let uas = Sipp::built_in("uas", server.addr())
        .port(sipp_port)
        .arg("-rtp_echo")
        .timeout(Duration::from_secs(30))
        .spawn();
    let dir = tempfile::tempdir().expect("temp dir");
    let tone = dir.path().join("tone-900.wav");
    write_tone_wav(&tone, 900.0, -10.0, Duration::from_secs(30)).expect("write tone");
    let phone = Baresip::start_with(BaresipConfig {
        auto_answer: false,
        source_wav: Some(tone),
    })
    .expect("baresip starts");
    phone
        .dial(&format!("sip:4000@{}", server.addr()))
        .expect("dial");
    phone
        .wait_event("CALL_ESTABLISHED", WAIT)
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", server.log()));
    std::thread::sleep(Duration::from_secs(2));
    phone.hangup().expect("hang up");
    phone.wait_event("CALL_CLOSED", WAIT).expect("closed");
    let heard = phone
        .heard(WAIT)
        .expect("baresip's recording of what it heard");
    // The last second of the call: well past set-up.
    let tail = &heard[heard.len().saturating_sub(8000)..];
    let hz = analysis::dominant_frequency(tail, 8000).unwrap_or(0.0);
    assert!(
        (hz - 900.0).abs() < 20.0,
        "baresip hears its own tone back through both legs, got {hz} Hz\n{}",
        server.log()
    );
    let run = uas.wait();
    assert!(run.success, "{}", run.report());
    assert_eq!(
        run.received("BYE "),
        1,
        "hangup ends the far leg\n{}",
        run.report()
    );
}
