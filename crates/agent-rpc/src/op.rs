//! Typed operations and their payloads.
//!
//! An op the server does not know is not an error here: it decodes to
//! [`AgentOp::Unknown`] so the server can answer 405 and keep the call. A
//! known op whose payload is unusable is a [`PayloadError`] (answered 400).
//! Payloads are read leniently: `null` or a missing `data` is `{}`, numbers
//! may arrive as numeric strings (and digits as numbers, from CLI mode), and
//! a duration of 0 is Go's unset zero value, so it means the default.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::frame::{field, Request};

/// Seconds `read_dtmf` and `listen` run when `duration_sec` is not given.
pub const DEFAULT_DURATION_SEC: u32 = 10;
/// Longest `listen` an agent may ask for.
pub const MAX_LISTEN_DURATION_SEC: u32 = 30;

/// A request an agent sends to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOp {
    /// `ring`: send 180.
    Ring,
    /// `answer`: send 200 with SDP.
    Answer,
    /// `play`: play a file or URL to the caller.
    Play(Play),
    /// `read_dtmf`: collect digits.
    ReadDtmf(ReadDtmf),
    /// `listen`: capture the caller's audio.
    Listen(Listen),
    /// `echo`: send the caller's audio back until the call ends.
    Echo,
    /// `hangup`: end the call.
    Hangup,
    /// `redirect`: hand the call to another endpoint.
    Redirect(Redirect),
    /// `:requestCancel`: the request's own id names the request to cancel.
    RequestCancel,
    /// Any other op name, kept to be answered 405.
    Unknown(String),
}

/// Payload of `play`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// `file://relative/path.wav` or `http(s)://…`; checked by the player.
    pub uri: String,
}

/// Payload of `read_dtmf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadDtmf {
    /// Wall-clock limit in seconds.
    pub duration_sec: u32,
    /// Digit that ends collection early (and is included); `None` for none.
    pub termination: Option<char>,
}

/// Payload of `listen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// Seconds of audio to capture, 1 to [`MAX_LISTEN_DURATION_SEC`].
    pub duration_sec: u32,
    /// Encoding of the audio in the binary frame.
    pub audio_format: AudioFormat,
}

/// Audio encoding of a `listen` binary frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioFormat {
    /// Raw signed 16-bit little-endian mono at the codec rate (`""`).
    #[default]
    Raw,
    /// A complete WAV file (`"wav"`).
    Wav,
}

/// Payload of `redirect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Name of a configured endpoint.
    pub endpoint: String,
}

/// A request the server sends to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// `invite`: a new call for the agent to accept (200) or reject.
    Invite(Invite),
    /// `bye`: the call has ended; agents answer 200.
    Bye,
}

/// Payload of `invite`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invite {
    /// SIP Call-ID, for tracing.
    pub call_id: String,
    /// User part of the From header.
    pub from: String,
    /// User part of the To header.
    pub to: String,
    /// SIP headers of the INVITE by name; repeated ones joined with ", ".
    pub headers: BTreeMap<String, String>,
}

/// Why a known op's payload is unusable; answered 400 and the call goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// `data` is neither an object nor null.
    #[error("data must be an object")]
    NotAnObject,
    /// A required field is absent, null or empty.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field has the wrong type or an impossible value.
    #[error("field `{field}` must be {expected}")]
    Invalid {
        /// Field name as on the wire.
        field: &'static str,
        /// What was expected, for the message.
        expected: &'static str,
    },
    /// `listen` asked for more than [`MAX_LISTEN_DURATION_SEC`].
    #[error("Bad Request - Duration Seconds above Max")]
    DurationAboveMax,
}

impl PayloadError {
    /// The reason phrase of the 400 that answers this error.
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

impl AgentOp {
    /// Reads the op of an agent's request.
    pub fn from_request(request: &Request) -> Result<AgentOp, PayloadError> {
        Self::parse(&request.op, &request.data)
    }

    /// Reads op `name` with payload `data`.
    pub fn parse(name: &str, data: &Value) -> Result<AgentOp, PayloadError> {
        let empty = Map::new();
        let object = || match data {
            Value::Null => Ok(&empty),
            Value::Object(object) => Ok(object),
            _ => Err(PayloadError::NotAnObject),
        };
        Ok(match name {
            "ring" => AgentOp::Ring,
            "answer" => AgentOp::Answer,
            "echo" => AgentOp::Echo,
            "hangup" => AgentOp::Hangup,
            ":requestCancel" => AgentOp::RequestCancel,
            "play" => AgentOp::Play(Play {
                uri: required_string(object()?, "uri")?,
            }),
            "redirect" => AgentOp::Redirect(Redirect {
                endpoint: required_string(object()?, "endpoint")?,
            }),
            "read_dtmf" => {
                let object = object()?;
                AgentOp::ReadDtmf(ReadDtmf {
                    duration_sec: duration(object)?,
                    termination: termination(object)?,
                })
            }
            "listen" => {
                let object = object()?;
                let duration_sec = duration(object)?;
                if duration_sec > MAX_LISTEN_DURATION_SEC {
                    return Err(PayloadError::DurationAboveMax);
                }
                AgentOp::Listen(Listen {
                    duration_sec,
                    audio_format: audio_format(object)?,
                })
            }
            other => AgentOp::Unknown(other.to_owned()),
        })
    }

    /// The names of the ops this crate knows (every variant but
    /// `Unknown`), in declaration order: the fixed label set of per-op
    /// metrics.
    pub const NAMES: [&'static str; 9] = [
        "ring",
        "answer",
        "play",
        "read_dtmf",
        "listen",
        "echo",
        "hangup",
        "redirect",
        ":requestCancel",
    ];

    /// The op name on the wire.
    pub fn name(&self) -> &str {
        match self {
            AgentOp::Ring => "ring",
            AgentOp::Answer => "answer",
            AgentOp::Play(_) => "play",
            AgentOp::ReadDtmf(_) => "read_dtmf",
            AgentOp::Listen(_) => "listen",
            AgentOp::Echo => "echo",
            AgentOp::Hangup => "hangup",
            AgentOp::Redirect(_) => "redirect",
            AgentOp::RequestCancel => ":requestCancel",
            AgentOp::Unknown(name) => name,
        }
    }

    /// The payload on the wire; `null` for ops without one.
    ///
    /// Keys are written in sorted order, which is also how `serde_json`
    /// serialises a map without its `preserve_order` feature: the text is
    /// the same whichever way the workspace's features unify.
    pub fn data(&self) -> Value {
        match self {
            AgentOp::Play(play) => json!({ "uri": play.uri }),
            AgentOp::ReadDtmf(read) => json!({
                "duration_sec": read.duration_sec,
                "termination": read.termination.map(String::from).unwrap_or_default(),
            }),
            AgentOp::Listen(listen) => json!({
                "audio_format": match listen.audio_format {
                    AudioFormat::Raw => "",
                    AudioFormat::Wav => "wav",
                },
                "duration_sec": listen.duration_sec,
            }),
            AgentOp::Redirect(redirect) => json!({ "endpoint": redirect.endpoint }),
            _ => Value::Null,
        }
    }

    /// This op as a request (what a test agent sends).
    pub fn to_request(&self, id: impl Into<String>, did: impl Into<String>) -> Request {
        Request::new(id, did, self.name(), self.data())
    }
}

impl ServerOp {
    /// Reads the op of a server's request (what a test agent receives).
    pub fn from_request(request: &Request) -> Result<Option<ServerOp>, PayloadError> {
        Ok(match request.op.as_str() {
            "bye" => Some(ServerOp::Bye),
            "invite" => {
                let empty = Map::new();
                let object = match &request.data {
                    Value::Null => &empty,
                    Value::Object(object) => object,
                    _ => return Err(PayloadError::NotAnObject),
                };
                let headers = match field(object, "headers") {
                    None | Some(Value::Null) => BTreeMap::new(),
                    Some(Value::Object(headers)) => headers
                        .iter()
                        .map(|(name, value)| Ok((name.clone(), lenient_string(value, "headers")?)))
                        .collect::<Result<_, PayloadError>>()?,
                    Some(_) => {
                        return Err(PayloadError::Invalid {
                            field: "headers",
                            expected: "an object",
                        })
                    }
                };
                Some(ServerOp::Invite(Invite {
                    call_id: optional_string(object, "callID")?,
                    from: optional_string(object, "from")?,
                    to: optional_string(object, "to")?,
                    headers,
                }))
            }
            _ => None,
        })
    }

    /// The op name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            ServerOp::Invite(_) => "invite",
            ServerOp::Bye => "bye",
        }
    }

    /// The payload on the wire; `null` for `bye`.
    pub fn data(&self) -> Value {
        match self {
            ServerOp::Invite(invite) => json!({
                "callID": invite.call_id,
                "from": invite.from,
                "headers": invite.headers,
                "to": invite.to,
            }),
            ServerOp::Bye => Value::Null,
        }
    }

    /// This op as a request to send.
    pub fn to_request(&self, id: impl Into<String>, did: impl Into<String>) -> Request {
        Request::new(id, did, self.name(), self.data())
    }
}

/// A string field; numbers are taken as their decimal text.
fn lenient_string(value: &Value, name: &'static str) -> Result<String, PayloadError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        _ => Err(PayloadError::Invalid {
            field: name,
            expected: "a string",
        }),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<String, PayloadError> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(value) => lenient_string(value, name),
    }
}

fn required_string(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<String, PayloadError> {
    let text = optional_string(object, name)?;
    if text.is_empty() {
        return Err(PayloadError::Missing(name));
    }
    Ok(text)
}

/// `duration_sec`: whole seconds, a number or numeric string; absent or 0 is the default.
fn duration(object: &Map<String, Value>) -> Result<u32, PayloadError> {
    const INVALID: PayloadError = PayloadError::Invalid {
        field: "duration_sec",
        expected: "whole seconds",
    };
    let seconds = match field(object, "duration_sec") {
        None | Some(Value::Null) => return Ok(DEFAULT_DURATION_SEC),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(DEFAULT_DURATION_SEC),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        Some(_) => None,
    }
    .ok_or(INVALID)?;
    match seconds {
        0 => Ok(DEFAULT_DURATION_SEC),
        // Anything past u32 is far above every maximum; keep it above them.
        _ => Ok(u32::try_from(seconds).unwrap_or(u32::MAX)),
    }
}

/// `termination`: one DTMF digit, or empty for none.
fn termination(object: &Map<String, Value>) -> Result<Option<char>, PayloadError> {
    const INVALID: PayloadError = PayloadError::Invalid {
        field: "termination",
        expected: "one DTMF digit",
    };
    let text = optional_string(object, "termination").map_err(|_| INVALID)?;
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(digit), None) if is_dtmf(digit) => Ok(Some(digit.to_ascii_uppercase())),
        _ => Err(INVALID),
    }
}

fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || matches!(c.to_ascii_uppercase(), '*' | '#' | 'A' | 'B' | 'C' | 'D')
}

fn audio_format(object: &Map<String, Value>) -> Result<AudioFormat, PayloadError> {
    const INVALID: PayloadError = PayloadError::Invalid {
        field: "audio_format",
        expected: "\"wav\" or \"\"",
    };
    let text = optional_string(object, "audio_format").map_err(|_| INVALID)?;
    match text.as_str() {
        "" => Ok(AudioFormat::Raw),
        raw if raw.eq_ignore_ascii_case("raw") => Ok(AudioFormat::Raw),
        wav if wav.eq_ignore_ascii_case("wav") => Ok(AudioFormat::Wav),
        _ => Err(INVALID),
    }
}
