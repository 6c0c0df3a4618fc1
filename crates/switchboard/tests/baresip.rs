//! A real softphone against the server. Through the B2BUA: baresip calls,
//! the server bridges to a SIPp UAS echoing RTP, and baresip's own tone
//! comes back to it through both legs; its hangup must reach SIPp. Under an
//! agent: baresip calls an agent endpoint, hears the agent's prompt, keys
//! digits the agent reads, and is hung up by the agent. Skipped with a
//! message when baresip is not installed (`scripts/test` installs it).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use testkit::agent::Agent;
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

#[test]
fn baresip_hears_an_agents_prompt_and_keys_digits_it_reads() {
    if !Baresip::available() {
        eprintln!("skipped: baresip is not installed (apt-get install baresip)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    write_tone_wav(
        dir.path().join("prompt.wav"),
        1300.0,
        -10.0,
        Duration::from_secs(2),
    )
    .expect("write prompt");
    let port = free_port();
    let agent_port = free_port();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
  myagent: {{ match: {{ type: agent }} }}
routes:
  default:
    - {{ id: "", match: any, endpoint: myagent }}
media:
  rtp_ports: 43000-43999
  playback_dir: {playback}
agent_rpc:
  listen: 127.0.0.1:{agent_port}
http:
  listen: 127.0.0.1:0
"#,
        playback = dir.path().display()
    );
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &yaml, port);
    let agents: SocketAddr = format!("127.0.0.1:{agent_port}").parse().expect("address");
    let mut agent = Agent::connect(agents, "myagent").expect("agent connects");
    let phone = Baresip::start_with(BaresipConfig {
        auto_answer: false,
        source_wav: None,
    })
    .expect("baresip starts");
    phone
        .dial(&format!("sip:100@{}", server.addr()))
        .expect("dial");
    let invite = agent
        .expect_invite(WAIT)
        .unwrap_or_else(|| panic!("agent gets the call\n{}", server.log()));
    agent.respond_invite(&invite, 200, "OK");
    let did = invite.did.clone();
    let (_, answer) = agent.call("answer", &did, json!({}), WAIT).expect("answer");
    assert_eq!(answer.code, 200);
    phone
        .wait_event("CALL_ESTABLISHED", WAIT)
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", server.log()));
    let (_, play) = agent
        .call("play", &did, json!({"uri": "file://prompt.wav"}), WAIT)
        .expect("play");
    assert_eq!(play.code, 200, "{play:?}");
    let read = agent.send_request(
        "read_dtmf",
        &did,
        json!({"duration_sec": 5, "termination": "#"}),
    );
    assert_eq!(agent.wait_response(&read, WAIT).map(|r| r.code), Some(183));
    phone.send_dtmf("42#").expect("send DTMF");
    let digits = agent
        .wait_response(&read, Duration::from_secs(6))
        .expect("read_dtmf completes");
    assert_eq!(digits.data["dtmf"], "42#", "{}", server.log());
    let (_, hangup) = agent.call("hangup", &did, json!({}), WAIT).expect("hangup");
    assert_eq!(hangup.code, 200);
    phone
        .wait_event("CALL_CLOSED", WAIT)
        .expect("the agent's hangup reaches baresip");
    assert!(agent.wait_bye(&did, WAIT).is_some());
    let heard = phone.heard(WAIT).expect("what baresip heard");
    let loud: Vec<i16> = heard
        .chunks(160)
        .filter(|frame| frame.iter().any(|s| s.abs() > 1000))
        .flatten()
        .copied()
        .collect();
    let hz = analysis::dominant_frequency(&loud, 8000).unwrap_or(0.0);
    assert!(
        (hz - 1300.0).abs() < 20.0 && loud.len() >= 8000,
        "baresip hears the prompt: {hz} Hz over {} samples\n{}",
        loud.len(),
        server.log()
    );
}
