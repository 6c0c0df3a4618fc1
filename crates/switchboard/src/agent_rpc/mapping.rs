//! Agent RPC ↔ call-control, without I/O: which command an agent op becomes,
//! which provisional it gets at once, and how a finished request reads on
//! the wire.

use std::collections::BTreeMap;
use std::time::Duration;

use agent_rpc::{AgentOp, AudioFormat, Invite, ListenFrame, Request, Response};
use call_control::{CallInfo, CollectDtmf, Command, Failure, Listen, Output, Play};

/// A frame for the agent, before it becomes a WebSocket message.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outgoing {
    /// A response to one of the agent's requests.
    Response(Response),
    /// A request of ours (`invite`, `bye`).
    Request(Request),
    /// The binary frame of a `listen`.
    Audio(Vec<u8>),
}

/// The `invite` payload for a call: repeated headers are joined with ", "
/// under the first spelling of their name, as a JSON object has one value
/// per key.
pub(super) fn invite(info: &CallInfo) -> Invite {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &info.headers {
        match headers
            .iter_mut()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
        {
            Some((_, joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            None => {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
    Invite {
        call_id: info.call_id.clone(),
        from: info.from.clone(),
        to: info.to.clone(),
        headers,
    }
}

/// The command an op asks of its call; `None` for ops that are not
/// commands (`:requestCancel` acts on our own bookkeeping, unknown ops get 405).
pub(super) fn command(op: &AgentOp) -> Option<Command> {
    Some(match op {
        AgentOp::Ring => Command::Accept {
            early_media: false,
            headers: Vec::new(),
        },
        AgentOp::Answer => Command::Answer {
            headers: Vec::new(),
        },
        AgentOp::Play(play) => Command::Play(Play {
            uri: play.uri.clone(),
            looped: false,
        }),
        AgentOp::ReadDtmf(read) => Command::CollectDtmf(CollectDtmf {
            timeout: Duration::from_secs(u64::from(read.duration_sec)),
            termination: read.termination,
            max_digits: None,
        }),
        AgentOp::Listen(listen) => Command::Listen(Listen {
            duration: Duration::from_secs(u64::from(listen.duration_sec)),
        }),
        AgentOp::Echo => Command::Echo,
        AgentOp::Hangup => Command::Hangup {
            headers: Vec::new(),
        },
        // Agent RPC's redirect bridges to a configured endpoint: a transfer.
        AgentOp::Redirect(redirect) => Command::Transfer {
            endpoint: redirect.endpoint.clone(),
        },
        AgentOp::RequestCancel | AgentOp::Unknown(_) => return None,
    })
}

/// The provisional a long op gets the moment it starts: agents give up on a
/// request that hears nothing for 10 s.
pub(super) fn provisional(op: &AgentOp, request: &Request) -> Option<Response> {
    match op {
        AgentOp::Play(_) => Some(Response::playback_in_progress(request)),
        AgentOp::ReadDtmf(_) => Some(Response::read_dtmf_in_progress(request)),
        AgentOp::Listen(_) => Some(Response::recording_in_progress(request)),
        AgentOp::Echo => Some(Response::echo_in_progress(request)),
        _ => None,
    }
}

/// 100 `Trying`: the request waits behind a running one of the same call.
/// Without it an agent would give up on a request queued behind a long play.
pub(super) fn queued(request: &Request) -> Response {
    Response::to(request, 100, "Trying")
}

/// 404 for a `:requestCancel` whose id names no queued or running request.
pub(super) fn no_such_request(request: &Request) -> Response {
    Response::to(request, 404, "Request Does Not Exist")
}

/// The audio format a request's output is rendered in (only `listen` has one).
pub(super) fn audio_format(op: &AgentOp) -> AudioFormat {
    match op {
        AgentOp::Listen(listen) => listen.audio_format,
        _ => AudioFormat::Raw,
    }
}

/// The frames that end `request` with `result`, in order.
pub(super) fn completion(
    request: &Request,
    result: Result<Output, Failure>,
    format: AudioFormat,
    out: &mut Vec<Outgoing>,
) {
    match result {
        Ok(Output::None) => out.push(Outgoing::Response(Response::ok(request))),
        Ok(Output::Dtmf { digits, .. }) => out.push(Outgoing::Response(Response::dtmf_collected(
            request, &digits,
        ))),
        Ok(Output::Audio {
            samples,
            sample_rate,
        }) => listen_result(request, &samples, sample_rate, format, out),
        // Agent RPC starts no Rayo component: a plain 200 if one ever ends here.
        Ok(Output::Announced(_) | Output::Input(_) | Output::Recording(_) | Output::Signal(_)) => {
            out.push(Outgoing::Response(Response::ok(request)))
        }
        Err(failure) => out.push(Outgoing::Response(failure_response(request, &failure))),
    }
}

/// 190, the binary frame, then 200 with what was sent.
fn listen_result(
    request: &Request,
    samples: &[i16],
    sample_rate: u32,
    format: AudioFormat,
    out: &mut Vec<Outgoing>,
) {
    let audio = match format {
        AudioFormat::Raw => pcm_bytes(samples),
        AudioFormat::Wav => match media::wav::mono_wav(samples, sample_rate) {
            Ok(wav) => wav,
            Err(error) => {
                // Only a capture past WAV's 4 GiB fails; listen is at most 30 s.
                tracing::warn!(%error, "cannot write the listen WAV");
                out.push(Outgoing::Response(Response::internal_error(request)));
                return;
            }
        },
    };
    let Ok(frame) = ListenFrame::new(&request.id, &audio).encode() else {
        // Only an id longer than 4 GiB fails, which no message cap lets in.
        out.push(Outgoing::Response(Response::internal_error(request)));
        return;
    };
    out.push(Outgoing::Response(Response::recording_write(request)));
    out.push(Outgoing::Audio(frame));
    let duration_sec = match sample_rate {
        0 => 0.0,
        rate => samples.len() as f64 / f64::from(rate),
    };
    out.push(Outgoing::Response(Response::listen_done(
        request,
        audio.len() as u64,
        duration_sec,
    )));
}

/// How a failed request is answered. Each code is the one agents know for
/// it (AGENT-RPC.md); only a fault of ours is a 500.
pub(super) fn failure_response(request: &Request, failure: &Failure) -> Response {
    match failure {
        Failure::NotAnswered => Response::call_not_answered(request),
        Failure::InvalidState(reason) => Response::bad_request(request, *reason),
        Failure::BadRequest(reason) => Response::bad_request(request, reason.clone()),
        Failure::NotFound(reason) => Response::to(request, 404, reason.clone()),
        Failure::Unplayable(reason) => Response::to(request, 415, reason.clone()),
        Failure::UnknownEndpoint => Response::endpoint_does_not_exist(request),
        Failure::NotSipEndpoint => Response::endpoint_can_not_be_flow_api(request),
        Failure::NoSuchRequest => no_such_request(request),
        Failure::Stopped | Failure::CallEnded => Response::request_terminated(request),
        // No agent op reaches these (agents never refuse slots or use
        // Rayo-only commands); answered plainly should one ever come.
        Failure::Conflict(reason) => Response::to(request, 409, reason.clone()),
        Failure::Refused(code) => Response::to(request, *code, failure.to_string()),
        Failure::NotImplemented(what) => {
            Response::to(request, 501, format!("Not Implemented: {what}"))
        }
        Failure::Internal(detail) => {
            tracing::warn!(id = %request.id, op = %request.op, %detail, "request failed inside the server");
            Response::internal_error(request)
        }
    }
}

/// Samples as raw signed 16-bit little-endian bytes.
pub(super) fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_rpc::{Listen as ListenOp, Play as PlayOp, ReadDtmf, Redirect};
    use call_control::DtmfEnd;
    use serde_json::json;

    fn request(op: &str) -> Request {
        Request::new("r1", "c1__00", op, serde_json::Value::Null)
    }

    fn responses(out: &[Outgoing]) -> Vec<(u16, String)> {
        out.iter()
            .filter_map(|o| match o {
                Outgoing::Response(r) => Some((r.code, r.reason.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ops_become_commands() {
        let cases = [
            (
                AgentOp::Ring,
                Some(Command::Accept {
                    early_media: false,
                    headers: vec![],
                }),
            ),
            (AgentOp::Answer, Some(Command::Answer { headers: vec![] })),
            (
                AgentOp::Play(PlayOp {
                    uri: "file://a.wav".into(),
                }),
                Some(Command::Play(Play {
                    uri: "file://a.wav".into(),
                    looped: false,
                })),
            ),
            (
                AgentOp::ReadDtmf(ReadDtmf {
                    duration_sec: 5,
                    termination: Some('#'),
                }),
                Some(Command::CollectDtmf(CollectDtmf {
                    timeout: Duration::from_secs(5),
                    termination: Some('#'),
                    max_digits: None,
                })),
            ),
            (
                AgentOp::Listen(ListenOp {
                    duration_sec: 3,
                    audio_format: AudioFormat::Wav,
                }),
                Some(Command::Listen(Listen {
                    duration: Duration::from_secs(3),
                })),
            ),
            (AgentOp::Echo, Some(Command::Echo)),
            (AgentOp::Hangup, Some(Command::Hangup { headers: vec![] })),
            (
                AgentOp::Redirect(Redirect {
                    endpoint: "voicebot".into(),
                }),
                Some(Command::Transfer {
                    endpoint: "voicebot".into(),
                }),
            ),
            (AgentOp::RequestCancel, None),
            (AgentOp::Unknown("dance".into()), None),
        ];
        for (op, expected) in cases {
            assert_eq!(command(&op), expected, "{op:?}");
        }
    }

    #[test]
    fn long_ops_get_their_provisional() {
        let r = request("x");
        let reason = |op: AgentOp| provisional(&op, &r).map(|p| (p.code, p.reason));
        assert_eq!(
            reason(AgentOp::Play(PlayOp { uri: "u".into() })),
            Some((183, "Playback In Progress".into()))
        );
        assert_eq!(
            reason(AgentOp::ReadDtmf(ReadDtmf {
                duration_sec: 1,
                termination: None
            })),
            Some((183, "Read DTMF In Progress".into()))
        );
        assert_eq!(
            reason(AgentOp::Listen(ListenOp {
                duration_sec: 1,
                audio_format: AudioFormat::Raw
            })),
            Some((183, "Recording In Progress".into()))
        );
        assert_eq!(
            reason(AgentOp::Echo),
            Some((183, "Echo In Progress".into()))
        );
        assert_eq!(reason(AgentOp::Answer), None);
        assert_eq!(reason(AgentOp::Hangup), None);
    }

    #[test]
    fn failures_have_the_codes_agents_know() {
        let r = request("play");
        let cases = [
            (Failure::NotAnswered, 400, "call not answered"),
            (
                Failure::InvalidState("already answered"),
                400,
                "already answered",
            ),
            (Failure::BadRequest("bad scheme".into()), 400, "bad scheme"),
            (
                Failure::NotFound("no such file".into()),
                404,
                "no such file",
            ),
            (Failure::Unplayable("not audio".into()), 415, "not audio"),
            (Failure::UnknownEndpoint, 400, "Endpoint Does Not Exist"),
            (Failure::NotSipEndpoint, 400, "Endpoint Can Not Be Flow API"),
            (Failure::NoSuchRequest, 404, "Request Does Not Exist"),
            (Failure::Stopped, 487, "Request terminated"),
            (Failure::CallEnded, 487, "Request terminated"),
            (
                Failure::Internal("boom".into()),
                500,
                "Internal Server Error",
            ),
        ];
        for (failure, code, reason) in cases {
            let response = failure_response(&r, &failure);
            assert_eq!((response.code, response.reason.as_str()), (code, reason));
            assert_eq!(
                (response.id.as_str(), response.did.as_str()),
                ("r1", "c1__00")
            );
        }
    }

    #[test]
    fn dtmf_output_carries_the_digits() {
        let mut out = Vec::new();
        let output = Output::Dtmf {
            digits: "12#".into(),
            end: DtmfEnd::Terminator,
        };
        completion(
            &request("read_dtmf"),
            Ok(output),
            AudioFormat::Raw,
            &mut out,
        );
        let [Outgoing::Response(done)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((done.code, &done.data), (200, &json!({"dtmf": "12#"})));
    }

    #[test]
    fn raw_listen_is_190_frame_200() {
        let mut out = Vec::new();
        let output = Output::Audio {
            samples: vec![1, -2, 3, 4],
            sample_rate: 8000,
        };
        completion(&request("listen"), Ok(output), AudioFormat::Raw, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(
            responses(&out),
            [(190, "Recording Write".into()), (200, "OK".into())]
        );
        let Outgoing::Audio(frame) = &out[1] else {
            panic!("{out:?}")
        };
        let decoded = ListenFrame::decode(frame).expect("a listen frame");
        assert_eq!(decoded.id, "r1");
        assert_eq!(decoded.audio, [1, 0, 0xfe, 0xff, 3, 0, 4, 0]);
        let Outgoing::Response(done) = &out[2] else {
            panic!("{out:?}")
        };
        assert_eq!(done.data, json!({"size": 8, "duration_sec": 0.0005}));
    }

    #[test]
    fn wav_listen_is_a_readable_wav() {
        let samples: Vec<i16> = (0..16000).map(|i| (i % 100) as i16 * 100).collect();
        let mut out = Vec::new();
        let output = Output::Audio {
            samples: samples.clone(),
            sample_rate: 8000,
        };
        completion(&request("listen"), Ok(output), AudioFormat::Wav, &mut out);
        let Outgoing::Audio(frame) = &out[1] else {
            panic!("{out:?}")
        };
        let audio = ListenFrame::decode(frame).expect("a listen frame").audio;
        assert_eq!(audio.len(), 44 + 32000);
        let mut reader = hound::WavReader::new(audio).expect("a valid WAV");
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8000, 16)
        );
        let read: Vec<i16> = reader
            .samples::<i16>()
            .map(|s| s.expect("sample"))
            .collect();
        assert_eq!(read, samples);
        let Outgoing::Response(done) = &out[2] else {
            panic!("{out:?}")
        };
        assert_eq!(done.data, json!({"size": 32044, "duration_sec": 2}));
    }

    #[test]
    fn repeated_headers_are_joined() {
        let info = CallInfo {
            call_id: "abc@h".into(),
            from: "alice".into(),
            to: "100".into(),
            headers: vec![
                ("Via".into(), "SIP/2.0/UDP a".into()),
                ("X-Tag".into(), "1".into()),
                ("via".into(), "SIP/2.0/UDP b".into()),
            ],
        };
        let invite = invite(&info);
        assert_eq!(
            (
                invite.call_id.as_str(),
                invite.from.as_str(),
                invite.to.as_str()
            ),
            ("abc@h", "alice", "100")
        );
        assert_eq!(invite.headers["Via"], "SIP/2.0/UDP a, SIP/2.0/UDP b");
        assert_eq!(invite.headers["X-Tag"], "1");
        assert_eq!(invite.headers.len(), 2);
    }
}
