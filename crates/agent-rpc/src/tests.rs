//! Every message shape of AGENT-RPC.md, exact JSON and round trips, plus
//! hostile input.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::cli::{parse_line, render_response, CliError, LAST_DID};
use crate::*;

const DID: &str =
    "dea5aa08-f964-434b-92b5-7fc75cf4662b__734dee05-fcd9-4067-85ac-7ccaf81c1544__JraXcfuPG77WpJt2";

fn request(text: &str) -> Request {
    match Frame::decode(text) {
        Ok(Frame::Request(request)) => request,
        other => panic!("{text} is not a request: {other:?}"),
    }
}

fn response(text: &str) -> Response {
    match Frame::decode(text) {
        Ok(Frame::Response(response)) => response,
        other => panic!("{text} is not a response: {other:?}"),
    }
}

fn agent_op(text: &str) -> Result<AgentOp, PayloadError> {
    AgentOp::from_request(&request(text))
}

/// Encodes, checks the exact text, decodes back to the same frame.
fn assert_wire(frame: impl Into<Frame>, text: &str) {
    let frame = frame.into();
    assert_eq!(frame.to_json(), text);
    assert_eq!(Frame::decode(text).unwrap(), frame);
}

// ---- The spec's example pair -------------------------------------------

#[test]
fn spec_example_request_and_response() {
    let invite = Request::new(
        "8a4d9f5e-2b63-4854-82be-9f24b25d9d93",
        DID,
        "invite",
        Value::Null,
    );
    assert_wire(
        invite.clone(),
        &format!(
            r#"{{"id":"8a4d9f5e-2b63-4854-82be-9f24b25d9d93","did":"{DID}","op":"invite","data":null}}"#
        ),
    );
    assert_wire(
        Response::ok(&invite),
        &format!(
            r#"{{"id":"8a4d9f5e-2b63-4854-82be-9f24b25d9d93","did":"{DID}","code":200,"reason":"OK","data":null}}"#
        ),
    );
}

#[test]
fn spec_example_response_with_its_missing_comma_is_malformed_json() {
    let text = r#"{"id": "x", "did": "d", "code": 200, "reason": "OK" "data": null}"#;
    assert!(matches!(Frame::decode(text), Err(FrameError::Json(_))));
}

// ---- Server -> agent ----------------------------------------------------

#[test]
fn invite_exact_json_and_round_trip() {
    let invite = ServerOp::Invite(Invite {
        call_id: "abc@192.0.2.1".into(),
        from: "alice".into(),
        to: "1000".into(),
        headers: [("X-Account".to_owned(), "42".to_owned())].into(),
    });
    let request = invite.to_request("s1", "abc@192.0.2.1__t1__t2");
    let text = r#"{"id":"s1","did":"abc@192.0.2.1__t1__t2","op":"invite","data":{"callID":"abc@192.0.2.1","from":"alice","headers":{"X-Account":"42"},"to":"1000"}}"#;
    assert_wire(request.clone(), text);
    assert_eq!(ServerOp::from_request(&request), Ok(Some(invite)));
}

#[test]
fn invite_without_headers_as_diagox_sends_it() {
    let request = request(
        r#"{"id":"s1","did":"d","op":"invite","data":{"callID":"c","from":"alice","to":"1000"}}"#,
    );
    let Ok(Some(ServerOp::Invite(invite))) = ServerOp::from_request(&request) else {
        panic!()
    };
    assert_eq!(
        (
            invite.call_id.as_str(),
            invite.from.as_str(),
            invite.to.as_str()
        ),
        ("c", "alice", "1000")
    );
    assert!(invite.headers.is_empty());
}

#[test]
fn agent_answers_invite_with_empty_did_and_is_matched_by_id() {
    let answer = response(r#"{"id":"s1","did":"","code":200,"reason":"OK","data":null}"#);
    assert_eq!(
        (answer.id.as_str(), answer.did.as_str(), answer.code),
        ("s1", "", 200)
    );
    assert!(!answer.is_provisional());
    // The SDK's answer when the app registered no handler.
    let none = response(r#"{"id":"s1","did":"","code":599,"reason":"No handler attached"}"#);
    assert_eq!(
        (none.code, none.reason.as_str(), &none.data),
        (599, "No handler attached", &Value::Null)
    );
}

#[test]
fn bye_exact_json_and_round_trip() {
    let bye = ServerOp::Bye.to_request("s2", "d");
    assert_wire(
        bye.clone(),
        r#"{"id":"s2","did":"d","op":"bye","data":null}"#,
    );
    assert_eq!(ServerOp::from_request(&bye), Ok(Some(ServerOp::Bye)));
    assert_wire(
        Response::new("s2", "d", 200, "OK"),
        r#"{"id":"s2","did":"d","code":200,"reason":"OK","data":null}"#,
    );
}

#[test]
fn agent_ops_are_not_server_ops() {
    assert_eq!(
        ServerOp::from_request(&Request::new("1", "d", "play", Value::Null)),
        Ok(None)
    );
    assert_eq!(
        ServerOp::from_request(&Request::new("1", "d", "play", json!("x"))),
        Ok(None)
    );
    let bye = Request::new("1", "d", "bye", json!([1]));
    assert_eq!(ServerOp::from_request(&bye), Ok(Some(ServerOp::Bye)));
    let invite = Request::new("1", "d", "invite", json!("x"));
    assert_eq!(
        ServerOp::from_request(&invite),
        Err(PayloadError::NotAnObject)
    );
}

// ---- Agent -> server ----------------------------------------------------

#[test]
fn every_agent_op_exact_json_and_round_trip() {
    let cases = [
        (
            AgentOp::Ring,
            r#"{"id":"1","did":"d","op":"ring","data":null}"#,
        ),
        (
            AgentOp::Answer,
            r#"{"id":"1","did":"d","op":"answer","data":null}"#,
        ),
        (
            AgentOp::Play(Play {
                uri: "file://prompts/hello.wav".into(),
            }),
            r#"{"id":"1","did":"d","op":"play","data":{"uri":"file://prompts/hello.wav"}}"#,
        ),
        (
            AgentOp::ReadDtmf(ReadDtmf {
                duration_sec: 5,
                termination: Some('#'),
            }),
            r##"{"id":"1","did":"d","op":"read_dtmf","data":{"duration_sec":5,"termination":"#"}}"##,
        ),
        (
            AgentOp::ReadDtmf(ReadDtmf {
                duration_sec: 10,
                termination: None,
            }),
            r#"{"id":"1","did":"d","op":"read_dtmf","data":{"duration_sec":10,"termination":""}}"#,
        ),
        (
            AgentOp::Listen(Listen {
                duration_sec: 5,
                audio_format: AudioFormat::Wav,
            }),
            r#"{"id":"1","did":"d","op":"listen","data":{"audio_format":"wav","duration_sec":5}}"#,
        ),
        (
            AgentOp::Listen(Listen {
                duration_sec: 30,
                audio_format: AudioFormat::Raw,
            }),
            r#"{"id":"1","did":"d","op":"listen","data":{"audio_format":"","duration_sec":30}}"#,
        ),
        (
            AgentOp::Echo,
            r#"{"id":"1","did":"d","op":"echo","data":null}"#,
        ),
        (
            AgentOp::Hangup,
            r#"{"id":"1","did":"d","op":"hangup","data":null}"#,
        ),
        (
            AgentOp::Redirect(Redirect {
                endpoint: "voicebot".into(),
            }),
            r#"{"id":"1","did":"d","op":"redirect","data":{"endpoint":"voicebot"}}"#,
        ),
        (
            AgentOp::RequestCancel,
            r#"{"id":"1","did":"d","op":":requestCancel","data":null}"#,
        ),
    ];
    for (op, text) in cases {
        let request = op.to_request("1", "d");
        assert_wire(request.clone(), text);
        assert_eq!(AgentOp::from_request(&request), Ok(op));
    }
}

#[test]
fn missing_or_null_data_is_an_empty_payload() {
    for text in [
        r#"{"id":"1","did":"d","op":"answer"}"#,
        r#"{"id":"1","did":"d","op":"answer","data":null}"#,
    ] {
        assert_eq!(request(text).data, Value::Null);
        assert_eq!(agent_op(text), Ok(AgentOp::Answer));
    }
    assert_eq!(
        agent_op(r#"{"id":"1","did":"d","op":"read_dtmf"}"#),
        Ok(AgentOp::ReadDtmf(ReadDtmf {
            duration_sec: DEFAULT_DURATION_SEC,
            termination: None
        }))
    );
    assert_eq!(
        agent_op(r#"{"id":"1","did":"d","op":"listen","data":{}}"#),
        Ok(AgentOp::Listen(Listen {
            duration_sec: 10,
            audio_format: AudioFormat::Raw
        }))
    );
    // Ops without a payload ignore whatever data they carry.
    assert_eq!(
        agent_op(r#"{"id":"1","did":"d","op":"hangup","data":"x"}"#),
        Ok(AgentOp::Hangup)
    );
}

#[test]
fn lenient_numbers_strings_and_casing() {
    // Capitalised field names, numeric id, numeric-string duration, digit as number.
    let request = request(
        r#"{"ID":7,"DID":"d","OP":"read_dtmf","DATA":{"duration_sec":"3","termination":5}}"#,
    );
    assert_eq!(request.id, "7");
    assert_eq!(
        AgentOp::from_request(&request),
        Ok(AgentOp::ReadDtmf(ReadDtmf {
            duration_sec: 3,
            termination: Some('5')
        }))
    );
    // Go's zero value means "unset".
    assert_eq!(
        agent_op(
            r#"{"id":"1","did":"d","op":"listen","data":{"duration_sec":0,"audio_format":"WAV"}}"#
        ),
        Ok(AgentOp::Listen(Listen {
            duration_sec: 10,
            audio_format: AudioFormat::Wav
        }))
    );
    // Missing did on a request is "" (the server answers 404 for it).
    assert_eq!(super::tests::request(r#"{"id":"1","op":"ring"}"#).did, "");
    // The exact spelling wins over another casing.
    assert_eq!(
        super::tests::request(r#"{"Id":"a","id":"b","op":"ring"}"#).id,
        "b"
    );
}

#[test]
fn code_decides_request_or_response() {
    // code 0 (Go's zero value) or a non-number: a request.
    assert!(matches!(
        Frame::decode(r#"{"id":"1","did":"d","op":"ring","code":0}"#),
        Ok(Frame::Request(_))
    ));
    assert!(matches!(
        Frame::decode(r#"{"id":"1","did":"d","op":"ring","code":"200"}"#),
        Ok(Frame::Request(_))
    ));
    assert!(matches!(
        Frame::decode(r#"{"id":"1","did":"d","op":"ring","code":-3}"#),
        Ok(Frame::Request(_))
    ));
    // A response needs no op.
    assert_eq!(
        response(r#"{"id":"1","code":183}"#),
        Response::new("1", "", 183, "")
    );
    assert_eq!(
        Frame::decode(r#"{"id":"1","code":200.5}"#),
        Err(FrameError::InvalidCode)
    );
    assert_eq!(
        Frame::decode(r#"{"id":"1","code":70000}"#),
        Err(FrameError::InvalidCode)
    );
}

#[test]
fn unknown_op_is_answered_405() {
    let request = request(r#"{"id":"9","did":"d","op":"transfer","data":{"to":"x"}}"#);
    assert_eq!(
        AgentOp::from_request(&request),
        Ok(AgentOp::Unknown("transfer".into()))
    );
    // Server ops from an agent are unknown too.
    assert_eq!(
        agent_op(r#"{"id":"9","did":"d","op":"invite"}"#),
        Ok(AgentOp::Unknown("invite".into()))
    );
    assert_wire(
        Response::unknown_op(&request),
        r#"{"id":"9","did":"d","code":405,"reason":"Method Not Allowed","data":null}"#,
    );
}

#[test]
fn bad_payloads_are_answered_400() {
    let cases = [
        (
            r#"{"id":"1","did":"d","op":"play"}"#,
            PayloadError::Missing("uri"),
        ),
        (
            r#"{"id":"1","did":"d","op":"play","data":{"uri":""}}"#,
            PayloadError::Missing("uri"),
        ),
        (
            r#"{"id":"1","did":"d","op":"play","data":{"uri":["x"]}}"#,
            PayloadError::Invalid {
                field: "uri",
                expected: "a string",
            },
        ),
        (
            r#"{"id":"1","did":"d","op":"play","data":"file://x.wav"}"#,
            PayloadError::NotAnObject,
        ),
        (
            r#"{"id":"1","did":"d","op":"redirect","data":{}}"#,
            PayloadError::Missing("endpoint"),
        ),
        (
            r#"{"id":"1","did":"d","op":"read_dtmf","data":{"duration_sec":-1}}"#,
            PayloadError::Invalid {
                field: "duration_sec",
                expected: "whole seconds",
            },
        ),
        (
            r#"{"id":"1","did":"d","op":"read_dtmf","data":{"duration_sec":2.5}}"#,
            PayloadError::Invalid {
                field: "duration_sec",
                expected: "whole seconds",
            },
        ),
        (
            r###"{"id":"1","did":"d","op":"read_dtmf","data":{"termination":"##"}}"###,
            PayloadError::Invalid {
                field: "termination",
                expected: "one DTMF digit",
            },
        ),
        (
            r#"{"id":"1","did":"d","op":"read_dtmf","data":{"termination":"x"}}"#,
            PayloadError::Invalid {
                field: "termination",
                expected: "one DTMF digit",
            },
        ),
        (
            r#"{"id":"1","did":"d","op":"listen","data":{"duration_sec":31}}"#,
            PayloadError::DurationAboveMax,
        ),
        (
            r#"{"id":"1","did":"d","op":"listen","data":{"duration_sec":99999999999}}"#,
            PayloadError::DurationAboveMax,
        ),
        (
            r#"{"id":"1","did":"d","op":"listen","data":{"audio_format":"mp3"}}"#,
            PayloadError::Invalid {
                field: "audio_format",
                expected: "\"wav\" or \"\"",
            },
        ),
    ];
    for (text, error) in cases {
        assert_eq!(agent_op(text), Err(error), "{text}");
    }
    let listen = request(r#"{"id":"1","did":"d","op":"listen","data":{"duration_sec":31}}"#);
    let error = AgentOp::from_request(&listen).unwrap_err();
    assert_wire(
        Response::bad_payload(&listen, &error),
        r#"{"id":"1","did":"d","code":400,"reason":"Bad Request - Duration Seconds above Max","data":null}"#,
    );
}

// ---- Responses ------------------------------------------------------------

#[test]
fn named_responses_exact_json() {
    let r = Request::new("r", "d", "play", json!({"uri": "file://a.wav"}));
    let cases = [
        (Response::ok(&r), 200, "OK"),
        (
            Response::playback_in_progress(&r),
            183,
            "Playback In Progress",
        ),
        (
            Response::read_dtmf_in_progress(&r),
            183,
            "Read DTMF In Progress",
        ),
        (
            Response::recording_in_progress(&r),
            183,
            "Recording In Progress",
        ),
        (Response::recording_write(&r), 190, "Recording Write"),
        (Response::echo_in_progress(&r), 183, "Echo In Progress"),
        (Response::call_not_answered(&r), 400, "call not answered"),
        (
            Response::endpoint_does_not_exist(&r),
            400,
            "Endpoint Does Not Exist",
        ),
        (
            Response::endpoint_can_not_be_flow_api(&r),
            400,
            "Endpoint Can Not Be Flow API",
        ),
        (
            Response::dialog_does_not_exist(&r),
            404,
            "Dialog Does Not Exist",
        ),
        (Response::unknown_op(&r), 405, "Method Not Allowed"),
        (Response::too_many_requests(&r), 429, "Too Many Requests"),
        (Response::request_terminated(&r), 487, "Request terminated"),
        (
            Response::client_closed_request(&r),
            499,
            "Client Closed Request",
        ),
        (Response::internal_error(&r), 500, "Internal Server Error"),
    ];
    for (response, code, reason) in cases {
        assert_eq!(response.is_provisional(), code < 200);
        assert_wire(
            response,
            &format!(r#"{{"id":"r","did":"d","code":{code},"reason":"{reason}","data":null}}"#),
        );
    }
}

#[test]
fn responses_with_data_exact_json() {
    let r = Request::new("r", "d", "read_dtmf", Value::Null);
    assert_wire(
        Response::dtmf_collected(&r, "1234#"),
        r##"{"id":"r","did":"d","code":200,"reason":"OK","data":{"dtmf":"1234#"}}"##,
    );
    assert_wire(
        Response::dtmf_collected(&r, ""),
        r#"{"id":"r","did":"d","code":200,"reason":"OK","data":{"dtmf":""}}"#,
    );
    assert_wire(
        Response::listen_done(&r, 80_044, 5.0),
        r#"{"id":"r","did":"d","code":200,"reason":"OK","data":{"duration_sec":5,"size":80044}}"#,
    );
    assert_wire(
        Response::listen_done(&r, 80_684, 5.04),
        r#"{"id":"r","did":"d","code":200,"reason":"OK","data":{"duration_sec":5.04,"size":80684}}"#,
    );
}

// ---- Malformed frames -----------------------------------------------------

#[test]
fn malformed_frames_are_clear_errors() {
    let cases = [
        ("", "malformed JSON"),
        ("{", "malformed JSON"),
        ("not json", "malformed JSON"),
        ("[1,2]", "frame is not a JSON object"),
        ("\"op\"", "frame is not a JSON object"),
        ("null", "frame is not a JSON object"),
        (r#"{"did":"d","op":"ring"}"#, "missing field `id`"),
        (r#"{"id":null,"did":"d","op":"ring"}"#, "missing field `id`"),
        (r#"{"id":"1","did":"d"}"#, "missing field `op`"),
        (r#"{"id":"1","did":"d","op":""}"#, "missing field `op`"),
        (
            r#"{"id":"1","did":"d","op":7}"#,
            "field `op` must be a string",
        ),
        (
            r#"{"id":{},"did":"d","op":"ring"}"#,
            "field `id` must be a string",
        ),
        (
            r#"{"id":"1","did":true,"op":"ring"}"#,
            "field `did` must be a string",
        ),
        (
            r#"{"id":"1","code":200,"reason":[]}"#,
            "field `reason` must be a string",
        ),
    ];
    for (text, message) in cases {
        let error = Frame::decode(text).expect_err(text);
        assert!(error.to_string().starts_with(message), "{text}: {error}");
    }
}

// ---- Listen binary frame --------------------------------------------------

#[test]
fn listen_frame_exact_bytes_and_round_trip() {
    let frame = ListenFrame::new("r1", &[0x10, 0x00, 0xf0, 0xff]);
    let bytes = frame.encode().unwrap();
    assert_eq!(
        bytes,
        [0x01, 0, 0, 0, 2, b'r', b'1', 0x10, 0x00, 0xf0, 0xff]
    );
    assert_eq!(ListenFrame::decode(&bytes), Ok(frame));
    let empty = ListenFrame::new("", &[]);
    assert_eq!(empty.encode().unwrap(), [1, 0, 0, 0, 0]);
    assert_eq!(ListenFrame::decode(&[1, 0, 0, 0, 0]), Ok(empty));
}

#[test]
fn listen_frame_errors() {
    assert_eq!(ListenFrame::decode(&[]), Err(ListenFrameError::TooShort));
    assert_eq!(
        ListenFrame::decode(&[1, 0, 0, 0]),
        Err(ListenFrameError::TooShort)
    );
    assert_eq!(
        ListenFrame::decode(&[2, 0, 0, 0, 0]),
        Err(ListenFrameError::BadTag(2))
    );
    assert_eq!(
        ListenFrame::decode(&[1, 0, 0, 0, 3, b'a']),
        Err(ListenFrameError::IdPastEnd(3))
    );
    assert_eq!(
        ListenFrame::decode(&[1, 255, 255, 255, 255]),
        Err(ListenFrameError::IdPastEnd(u32::MAX))
    );
    assert_eq!(
        ListenFrame::decode(&[1, 0, 0, 0, 1, 0xff]),
        Err(ListenFrameError::IdNotUtf8)
    );
}

// ---- CLI text mode --------------------------------------------------------

#[test]
fn cli_requests() {
    let generated = || "gen-1".to_owned();
    assert_eq!(
        parse_line("answer", generated),
        Ok(Frame::Request(Request::new(
            "gen-1",
            LAST_DID,
            "answer",
            Value::Null
        )))
    );
    assert_eq!(
        parse_line("  ring r7 ", generated),
        Ok(Frame::Request(Request::new(
            "r7",
            "last",
            "ring",
            Value::Null
        )))
    );
    assert_eq!(
        parse_line(
            "read_dtmf r1 call-9 duration_sec=5 --termination=#",
            generated
        ),
        Ok(Frame::Request(Request::new(
            "r1",
            "call-9",
            "read_dtmf",
            json!({"duration_sec": 5, "termination": "#"})
        )))
    );
    assert_eq!(
        parse_line("play uri=file://prompts/hello.wav", generated),
        Ok(Frame::Request(Request::new(
            "gen-1",
            "last",
            "play",
            json!({"uri": "file://prompts/hello.wav"})
        )))
    );
    assert_eq!(
        parse_line("listen -duration_sec=2.5 audio_format=wav x=inf", generated),
        Ok(Frame::Request(Request::new(
            "gen-1",
            "last",
            "listen",
            json!({"duration_sec": 2.5, "audio_format": "wav", "x": "inf"})
        )))
    );
    // What the CLI produces is what the typed layer reads: a digit arrives as a number.
    let Ok(Frame::Request(request)) = parse_line("read_dtmf termination=5", generated) else {
        panic!()
    };
    assert_eq!(
        AgentOp::from_request(&request),
        Ok(AgentOp::ReadDtmf(ReadDtmf {
            duration_sec: 10,
            termination: Some('5')
        }))
    );
}

#[test]
fn cli_responses_and_rendering() {
    let never = || unreachable!("responses carry their id");
    assert_eq!(
        parse_line("200 8a4d", never),
        Ok(Frame::Response(Response::new("8a4d", "", 200, "OK")))
    );
    assert_eq!(
        parse_line("486 s1", never),
        Ok(Frame::Response(Response::new("s1", "", 486, "Busy Here")))
    );
    assert_eq!(
        render_response(&Response::new("r1", "d", 183, "Playback In Progress")),
        "183 r1"
    );
}

#[test]
fn cli_errors() {
    let generated = || "g".to_owned();
    assert_eq!(parse_line("   ", generated), Err(CliError::Empty));
    assert_eq!(parse_line("200", generated), Err(CliError::MissingId(200)));
    assert_eq!(
        parse_line("0 r", generated),
        Err(CliError::BadCode("0".into()))
    );
    assert_eq!(
        parse_line("99999 r", generated),
        Err(CliError::BadCode("99999".into()))
    );
    assert_eq!(
        parse_line("200 r extra", generated),
        Err(CliError::ExtraWord("extra".into()))
    );
    assert_eq!(
        parse_line("ring a b c", generated),
        Err(CliError::ExtraWord("c".into()))
    );
    assert_eq!(
        parse_line("play uri=x stray", generated),
        Err(CliError::ExtraWord("stray".into()))
    );
    assert_eq!(
        parse_line("play --=x", generated),
        Err(CliError::EmptyKey("--=x".into()))
    );
}

// ---- Hostile input: decoding never panics ---------------------------------

const EXAMPLES: &[&str] = &[
    r#"{"id":"8a4d","did":"a__b__c","op":"invite","data":{"callID":"c","from":"alice","to":"1000","headers":{"X":"1"}}}"#,
    r#"{"id":"8a4d","did":"","code":200,"reason":"OK","data":null}"#,
    r##"{"id":"1","did":"d","op":"read_dtmf","data":{"duration_sec":5,"termination":"#"}}"##,
    r#"{"ID":1,"OP":"listen","DATA":{"duration_sec":"30","audio_format":"wav"}}"#,
    r#"{"id":"1","did":"d","op":"play","data":{"uri":"file://x.wav"}}"#,
];

/// Everything a server does with a received text frame.
fn decode_all_the_way(bytes: &[u8]) {
    if let Ok(frame) = Frame::decode_bytes(bytes) {
        let _ = frame.to_json();
        if let Frame::Request(request) = frame {
            let _ = AgentOp::from_request(&request).map(|op| op.to_request("x", "y").to_json());
            let _ = ServerOp::from_request(&request);
        }
    }
}

#[test]
fn every_truncation_and_byte_flip_of_the_examples() {
    for example in EXAMPLES {
        let bytes = example.as_bytes();
        for end in 0..bytes.len() {
            decode_all_the_way(&bytes[..end]);
            decode_all_the_way(&bytes[end..]);
        }
        for at in 0..bytes.len() {
            for replacement in [b'"', b'{', b'}', b'0', b'-', 0x00, 0xff, b'\\'] {
                let mut flipped = bytes.to_vec();
                flipped[at] = replacement;
                decode_all_the_way(&flipped);
            }
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        r#"{{"id":"1","op":"play","data":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(matches!(Frame::decode(&deep), Err(FrameError::Json(_))));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z#0-9:_ ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("did".to_owned()),
                    Just("op".to_owned()),
                    Just("code".to_owned()),
                    Just("Data".to_owned()),
                    Just("uri".to_owned()),
                    Just("duration_sec".to_owned()),
                    Just("termination".to_owned()),
                    Just("audio_format".to_owned()),
                    Just("headers".to_owned()),
                    "[a-z]{1,4}",
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

#[test]
fn names_list_every_known_op_and_nothing_else() {
    let ops = [
        AgentOp::Ring,
        AgentOp::Answer,
        AgentOp::Play(Play { uri: "a".into() }),
        AgentOp::ReadDtmf(ReadDtmf {
            duration_sec: 1,
            termination: None,
        }),
        AgentOp::Listen(Listen {
            duration_sec: 1,
            audio_format: AudioFormat::Raw,
        }),
        AgentOp::Echo,
        AgentOp::Hangup,
        AgentOp::Redirect(Redirect {
            endpoint: "e".into(),
        }),
        AgentOp::RequestCancel,
    ];
    for op in &ops {
        // Every variant named: a new one does not compile until listed here.
        match op {
            AgentOp::Ring
            | AgentOp::Answer
            | AgentOp::Play(_)
            | AgentOp::ReadDtmf(_)
            | AgentOp::Listen(_)
            | AgentOp::Echo
            | AgentOp::Hangup
            | AgentOp::Redirect(_)
            | AgentOp::RequestCancel => {}
            AgentOp::Unknown(_) => unreachable!("not a known op"),
        }
        assert!(AgentOp::NAMES.contains(&op.name()), "{op:?}");
    }
    assert_eq!(ops.len(), AgentOp::NAMES.len(), "one name per op");
    for name in AgentOp::NAMES {
        let parsed = AgentOp::from_request(&Request::new("1", "d", name, json!(null)));
        assert!(!matches!(parsed, Ok(AgentOp::Unknown(_))), "{name}");
    }
}

fn op_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ring"),
        Just("answer"),
        Just("play"),
        Just("read_dtmf"),
        Just("listen"),
        Just("echo"),
        Just("hangup"),
        Just("redirect"),
        Just(":requestCancel"),
        Just("invite"),
        Just("bye"),
        Just("other"),
    ]
    .prop_map(str::to_owned)
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_all_the_way(&bytes);
        let _ = ListenFrame::decode(&bytes);
    }

    #[test]
    fn random_json_never_panics(value in json_value()) {
        decode_all_the_way(value.to_string().as_bytes());
    }

    #[test]
    fn random_payloads_never_panic(op in op_name(), data in json_value()) {
        let request = Request::new("1", "d", op, data);
        decode_all_the_way(request.to_json().as_bytes());
    }

    #[test]
    fn random_cli_lines_never_panic(line in "[a-z0-9=#:. _-]{0,40}") {
        if let Ok(frame) = parse_line(&line, || "g".to_owned()) {
            decode_all_the_way(frame.to_json().as_bytes());
        }
    }

    #[test]
    fn listen_frames_round_trip(id in ".{0,40}", audio in prop::collection::vec(any::<u8>(), 0..64)) {
        let frame = ListenFrame::new(&id, &audio);
        let bytes = frame.encode().unwrap();
        prop_assert_eq!(ListenFrame::decode(&bytes), Ok(frame));
    }

    #[test]
    fn typed_ops_round_trip(
        uri in "[a-z:/.]{1,20}",
        duration_sec in 1u32..=30,
        termination in prop::option::of(prop::sample::select(vec!['0', '9', '*', '#', 'A', 'D'])),
        wav in any::<bool>(),
    ) {
        let audio_format = if wav { AudioFormat::Wav } else { AudioFormat::Raw };
        for op in [
            AgentOp::Play(Play { uri: uri.clone() }),
            AgentOp::Redirect(Redirect { endpoint: uri.clone() }),
            AgentOp::ReadDtmf(ReadDtmf { duration_sec, termination }),
            AgentOp::Listen(Listen { duration_sec, audio_format }),
        ] {
            let text = op.to_request("i", "d").to_json();
            let Ok(Frame::Request(request)) = Frame::decode(&text) else { panic!("{text}") };
            prop_assert_eq!(AgentOp::from_request(&request), Ok(op));
        }
    }
}
