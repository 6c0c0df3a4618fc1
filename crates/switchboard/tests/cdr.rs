//! Call detail records in the default SQLite store, end to end: the real
//! binary, a testkit caller and agent, records read back by
//! `switchboard cdr` and the operator API (see `cdr_common`).

mod cdr_common;
mod common;

use std::process::Command;

#[test]
fn sqlite_records_answered_refused_and_shutdown_calls() {
    let (server, config) = cdr_common::run("");
    // The default store: cdr.sqlite beside the config file, in WAL mode
    // (the header's write and read versions, bytes 18 and 19, are 2 then;
    // 1 for a rollback journal).
    let file = server.dir().join("cdr.sqlite");
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert_eq!(bytes.get(18..20), Some(&[2u8, 2][..]), "not in WAL mode");
    // A limit and a window read through the same path.
    let text = common::cdr::cdr_command(&config, &["--limit", "1"]);
    let one: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON");
    assert_eq!(one.len(), 1);
    let text = common::cdr::cdr_command(&config, &["--until", "1970-01-02T00:00:00Z"]);
    assert_eq!(text.trim(), "[]");
}

#[test]
fn bad_cdr_arguments_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(&config, "cdr: { sqlite: records.db }\n").expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&config)
        .args(["cdr", "--since", "last tuesday"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("since:"), "{err}");
    // No store yet: an error, and no empty file created by reading.
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&config)
        .arg("cdr")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.path().join("records.db").exists());
}

/// A bridged call is one record with both legs: B's Call-ID, endpoint and
/// media; the callee's BYE is `ended_by: b`. A busy callee's 486 reaches
/// the record as `busy`.
#[test]
fn bridged_calls_record_both_legs() {
    use std::time::Duration;
    use testkit::{free_port, Codec, RtpPeer, Server, SipUa};
    const WAIT: Duration = Duration::from_secs(5);

    let callee = SipUa::bind();
    let port = free_port();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  far: {{ uri: "sip:{far}" }}
routes:
  incoming:
    - {{ id: "9", match: prefix, endpoint: far, strip_prefix: true }}
media:
  rtp_ports: 47000-47999
agent_rpc:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
"#,
        far = callee.local_addr()
    );
    let mut server = Server::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_switchboard")),
        &yaml,
        port,
    );
    let caller = SipUa::bind();
    let caller_rtp = RtpPeer::tone(Codec::Pcmu, 700.0);
    let callee_rtp = RtpPeer::tone(Codec::Pcmu, 1300.0);
    let mut call = caller.call(server.addr(), "9555", caller_rtp.local_addr());
    let mut incoming = callee.wait_incoming(WAIT).expect("the callee is dialed");
    let negotiated = incoming
        .answer(callee_rtp.local_addr(), WAIT)
        .expect("callee answers");
    callee_rtp.set_destination(negotiated.remote_rtp);
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    caller_rtp.set_destination(call.negotiated().expect("negotiated").remote_rtp);
    assert!(caller_rtp.wait_for_packets(20, WAIT), "{}", server.log());
    assert!(callee_rtp.wait_for_packets(20, WAIT), "{}", server.log());
    assert_eq!(incoming.hangup(WAIT).ok(), Some(200));
    assert!(call.wait_bye(WAIT).is_some(), "caller gets the BYE");

    let mut busy = caller.call(server.addr(), "9666", caller_rtp.local_addr());
    let mut refusing = callee.wait_incoming(WAIT).expect("the callee is dialed");
    refusing.reject(486).expect("callee refuses");
    assert_eq!(busy.wait_final(WAIT), Some(486), "{}", server.log());

    server.terminate();
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));
    let list = common::cdr::records(&server.config_path());
    assert_eq!(list.len(), 2, "{list:#?}");
    let bridged = &list[0];
    assert_eq!(bridged["controller"], "none", "{bridged:#}");
    assert_eq!(bridged["dialed"], "555");
    assert_eq!(bridged["route"], "9");
    assert_eq!(bridged["to_endpoint"], "far");
    assert_eq!(bridged["disposition"], "answered");
    assert_eq!(bridged["ended_by"], "b");
    assert!(
        bridged["b_call_id"]
            .as_str()
            .is_some_and(|id| id != bridged["sip_call_id"]),
        "{bridged:#}"
    );
    for leg in ["a_media", "b_media"] {
        assert!(
            bridged[leg]["packets_received"].as_i64() > Some(0),
            "{bridged:#}"
        );
        assert!(
            bridged[leg]["packets_sent"].as_i64() > Some(0),
            "{bridged:#}"
        );
    }
    let refused = &list[1];
    assert_eq!(refused["disposition"], "busy", "{refused:#}");
    assert_eq!(refused["sip_status"], 486);
    assert_eq!(refused["ended_by"], serde_json::Value::Null);
}
