//! The load client against a scripted one-connection XMPP server built on
//! the `xmpp` crate's [`ServerStream`]: login, offers, commands, ends.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xmpp::{iq_result, Element, Output, ServerConfig, ServerStream};

use super::component::{NS_EXT, NS_EXT_COMPLETE, NS_RECORD_COMPLETE};
use super::stanza::NS_RAYO;
use super::*;

/// What the scripted server saw: the commands by name, and the replies to its ping.
#[derive(Debug, Default)]
struct Seen {
    commands: Vec<String>,
    /// Components running, by call.
    running: HashMap<String, Vec<String>>,
    pongs: usize,
    chat: bool,
}

/// Accepts one client; once it sends its chat presence, pings it and
/// offers `calls` calls. `answer` gets a result (and, with `caller_hangs_up`,
/// the call's `<end><hungup/>` right after); `hangup` gets a result, then
/// `<end><hangup-command/>`. Runs until the client closes its stream.
fn scripted_server(calls: usize, caller_hangs_up: bool) -> (SocketAddr, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let users = HashMap::from([("usera".to_owned(), "1".to_owned())]);
        let mut config = ServerConfig::new("rayo.test", Arc::new(users));
        config.allow_plain_without_tls = true;
        let mut stream = ServerStream::new(Arc::new(config), Instant::now());
        let (mut seen, mut jid) = (Seen::default(), String::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            match socket.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => stream.handle_input(Instant::now(), &buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
            let mut closed = false;
            while let Some(output) = stream.poll_output() {
                match output {
                    Output::Transmit(bytes) => socket.write_all(bytes.as_bytes()).expect("write"),
                    Output::Bound { jid: bound } => jid = bound.to_string(),
                    Output::Stanza(stanza) => {
                        for reply in script(&stanza, &jid, calls, caller_hangs_up, &mut seen) {
                            stream.send_stanza(&reply);
                        }
                    }
                    Output::Closed { .. } => closed = true,
                    _ => {}
                }
            }
            if closed {
                break;
            }
        }
        seen
    });
    (addr, server)
}

/// The scripted server's replies to one stanza from the client.
fn script(
    stanza: &Element,
    jid: &str,
    calls: usize,
    caller_hangs_up: bool,
    seen: &mut Seen,
) -> Vec<Element> {
    let presence = |from: &str| {
        Element::new("presence", "jabber:client")
            .attr("from", from)
            .attr("to", jid)
    };
    let end = |call: &str, reason: &str| {
        let reason = Element::new(reason, NS_RAYO).attr("platform-code", "200");
        presence(call)
            .attr("type", "unavailable")
            .child(Element::new("end", NS_RAYO).child(reason))
    };
    if stanza.name() == "presence" {
        let chat = stanza
            .get_child("show", "jabber:client")
            .map(Element::text_content);
        assert_eq!(chat.as_deref(), Some("chat"));
        assert_eq!(stanza.get_attr("to"), Some("rayo.test"));
        seen.chat = true;
        let ping = Element::new("iq", "jabber:client")
            .attr("type", "get")
            .attr("id", "ping-1")
            .attr("from", "rayo.test")
            .attr("to", jid)
            .child(Element::new("ping", "urn:xmpp:ping"));
        let offer = |i: usize| {
            presence(&format!("call{i}@rayo.test"))
                .child(Element::new("offer", NS_RAYO).attr("to", "sip:100@rayo.test"))
        };
        return std::iter::once(ping).chain((0..calls).map(offer)).collect();
    }
    if stanza.get_attr("type") == Some("result") && stanza.get_attr("id") == Some("ping-1") {
        seen.pongs += 1;
        return Vec::new();
    }
    let complete = |component: &str, reason: Element| {
        presence(component)
            .attr("type", "unavailable")
            .child(Element::new("complete", NS_EXT).child(reason))
    };
    let call = stanza.get_attr("to").unwrap_or_default().to_owned();
    if let Some(started) = stanza
        .first_child()
        .filter(|c| c.ns().starts_with("urn:xmpp:rayo:") && c.ns() != NS_RAYO)
    {
        seen.commands.push(started.name().to_owned());
        let jid = format!("{call}/{}-{}", started.name(), seen.commands.len());
        let reference = Element::new("ref", NS_RAYO).attr("uri", format!("xmpp:{jid}"));
        let mut replies = vec![iq_result(stanza, Some(reference))];
        if started.name() == "record" {
            // Recorded at once: max-duration with its recording.
            let recording = Element::new("recording", NS_RECORD_COMPLETE)
                .attr("uri", "http://127.0.0.1:9/recordings/x.wav?sig=1")
                .attr("duration", "1000")
                .attr("size", "16044");
            let mut done = Element::new("complete", NS_EXT)
                .child(Element::new("max-duration", NS_RECORD_COMPLETE));
            done.push(recording);
            replies.push(presence(&jid).attr("type", "unavailable").child(done));
        } else if started.name() == "input" {
            // Keyed at once: a match whose NLSML is given as text.
            let nlsml = "<result xmlns='http://www.ietf.org/xml/ns/mrcpv2'><interpretation>\
                         <instance>1234</instance><input mode='dtmf'>1234</input>\
                         </interpretation></result>";
            let matched = Element::new("match", "urn:xmpp:rayo:input:complete:1")
                .attr("content-type", "application/nlsml+xml")
                .text(nlsml);
            replies.push(complete(&jid, matched));
        } else {
            seen.running.entry(call).or_default().push(jid);
        }
        return replies;
    }
    let Some(command) = stanza.first_child().filter(|c| c.ns() == NS_RAYO) else {
        return Vec::new();
    };
    seen.commands.push(command.name().to_owned());
    let mut replies = vec![iq_result(stanza, None)];
    match command.name() {
        "answer" if caller_hangs_up => replies.push(end(&call, "hungup")),
        "hangup" => {
            for jid in seen.running.remove(&call).unwrap_or_default() {
                let reason = Element::new("hangup", NS_EXT_COMPLETE);
                replies.push(complete(&jid, reason));
            }
            replies.push(end(&call, "hangup-command"));
        }
        _ => {}
    }
    replies
}

fn config(addr: SocketAddr, mode: Mode, calls: u64) -> RayoLoadConfig {
    RayoLoadConfig {
        addr,
        domain: "rayo.test".into(),
        username: "usera".into(),
        password: "1".into(),
        mechanisms: vec![Mechanism::ScramSha256],
        connections: 1,
        mode,
        calls: Some(calls),
        latency_from_calls: Some(1),
        caller: None,
        fetch: 0,
    }
}

#[test]
fn answers_holds_hangs_up_and_stops_at_the_calls_wanted() {
    let (addr, server) = scripted_server(3, false);
    let hold = Duration::from_millis(20);
    let load = RayoLoad::connect(&config(addr, Mode::AnswerHangup(hold), 3)).expect("logs in");
    assert_eq!(load.jids().len(), 1);
    assert!(load.jids()[0].starts_with("usera@rayo.test/"));
    let report = load.run(Some(Duration::from_secs(10)), &mut |_| {});
    let seen = server.join().expect("server ran");
    assert!(seen.chat);
    assert_eq!(seen.pongs, 1);
    assert_eq!(
        seen.commands,
        ["answer", "answer", "answer", "hangup", "hangup", "hangup"]
    );
    assert_eq!((report.offers, report.answered, report.ended), (3, 3, 3));
    assert_eq!((report.hangups_sent, report.hangups), (3, 3));
    assert_eq!(report.ends["hangup-command"], 3);
    assert_eq!(
        (report.requests, report.up_at_end, report.up_max),
        (1, 0, 3)
    );
    assert_eq!(report.answer_us.count(), 3);
    assert!(report.passed(), "{report}");
    assert!(report
        .result_line()
        .starts_with("RESULT offers=3 answered=3 answer_errors=0 "));
}

#[test]
fn hold_mode_waits_for_the_callers_hangup() {
    let (addr, server) = scripted_server(2, true);
    let load = RayoLoad::connect(&config(addr, Mode::Hold, 2)).expect("logs in");
    let report = load.run(Some(Duration::from_secs(10)), &mut |_| {});
    let seen = server.join().expect("server ran");
    assert_eq!(seen.commands, ["answer", "answer"]);
    assert_eq!(report.ends["hungup"], 2);
    assert!(report.passed(), "{report}");
}

#[test]
fn a_wrong_password_or_a_missing_server_fails_to_start() {
    let (addr, server) = scripted_server(0, false);
    let mut wrong = config(addr, Mode::Hold, 1);
    wrong.password = "2".into();
    match RayoLoad::connect(&wrong) {
        Err(RayoLoadError::Login { connection, reason }) => {
            assert_eq!(connection, 0);
            assert!(reason.contains("not-authorized"), "{reason}");
        }
        Err(e) => panic!("expected a login failure, got {e}"),
        Ok(_) => panic!("expected a login failure"),
    }
    server.join().expect("server ran");
    // Nothing listens on the port any more.
    assert!(RayoLoad::connect(&config(addr, Mode::Hold, 1)).is_err());
}

fn media(kind: MediaKind, hold: Option<Duration>) -> Mode {
    Mode::Media(MediaPlan { kind, hold })
}

#[test]
fn play_loop_starts_an_output_per_call_and_counts_its_hangup() {
    let (addr, server) = scripted_server(2, false);
    let document = Document::Url("file://tone.wav".into());
    let mode = media(
        MediaKind::PlayLoop { document },
        Some(Duration::from_millis(20)),
    );
    let load = RayoLoad::connect(&config(addr, mode, 2)).expect("logs in");
    let report = load.run(Some(Duration::from_secs(10)), &mut |_| {});
    let seen = server.join().expect("server ran");
    assert_eq!(
        seen.commands,
        ["answer", "answer", "output", "output", "hangup", "hangup"]
    );
    let media = report.media.as_ref().expect("media counts");
    assert_eq!((media.started, media.refs), (2, 2));
    assert_eq!(media.completes["output:hangup"], 2);
    assert_eq!(media.ref_us.count(), 2);
    assert_eq!(media.missing_completes + media.unexpected_completes, 0);
    assert!(report.passed(), "{report}");
    let line = report.result_line();
    assert!(line.contains(" completes_by=output:hangupx2 "), "{line}");
}

#[test]
fn record_counts_complete_recordings() {
    let (addr, server) = scripted_server(1, false);
    let mode = media(
        MediaKind::Record {
            max_duration_ms: 1000,
            with_output: Some(Document::Speech("hello".into())),
        },
        Some(Duration::from_millis(20)),
    );
    let load = RayoLoad::connect(&config(addr, mode, 1)).expect("logs in");
    let report = load.run(Some(Duration::from_secs(10)), &mut |_| {});
    let seen = server.join().expect("server ran");
    assert_eq!(seen.commands, ["answer", "output", "record", "hangup"]);
    let media = report.media.as_ref().expect("media counts");
    assert_eq!(media.completes["record:max-duration"], 1);
    assert_eq!(media.completes["output:hangup"], 1);
    assert_eq!(
        (media.recordings_complete, media.recorded_bytes),
        (1, 16044)
    );
    assert_eq!(media.recording_uris.len(), 1);
    assert!(report.passed(), "{report}");
}

#[test]
fn input_latency_hangs_up_at_the_match() {
    let (addr, server) = scripted_server(2, false);
    let mode = media(
        MediaKind::InputLatency {
            digits: "1234".into(),
            initial_timeout_ms: 5000,
        },
        None,
    );
    let load = RayoLoad::connect(&config(addr, mode, 2)).expect("logs in");
    let report = load.run(Some(Duration::from_secs(10)), &mut |_| {});
    let seen = server.join().expect("server ran");
    assert_eq!(
        seen.commands,
        ["answer", "answer", "input", "input", "hangup", "hangup"]
    );
    let media = report.media.as_ref().expect("media counts");
    assert_eq!(media.completes["input:match"], 2);
    assert_eq!((media.wrong_instances, media.complete_us.count()), (0, 2));
    assert_eq!(report.ends["hangup-command"], 2);
    assert!(report.passed(), "{report}");
}
