//! Text frames: one JSON object each, either a request or a response.
//!
//! Decoding follows what deployed agents send rather than the letter of the
//! spec: a frame is a response exactly when `code` is a positive number;
//! field names match case-insensitively (older agents send `ID`, `OP`, …);
//! ids and dids may arrive as numbers; a missing `data` is `null`, and a
//! missing `did` or `reason` is `""`. Encoding always emits every field.

use serde::Serialize;
use serde_json::{Map, Value};

/// A request from either side: `{id, did, op, data}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// Free-form request id; responses echo it.
    pub id: String,
    /// Dialog id, opaque to agents; `""` when there is no call yet.
    pub did: String,
    /// Operation name, kept as sent so an unknown one can be answered 405.
    pub op: String,
    /// Payload; `null` when empty.
    pub data: Value,
}

/// A response from either side: `{id, did, code, reason, data}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    /// Id of the request answered; responses are matched by it alone.
    pub id: String,
    /// Dialog id; agents answer `invite` with `""`.
    pub did: String,
    /// Status code: below 200 provisional, 200 and up final.
    pub code: u16,
    /// Reason phrase.
    pub reason: String,
    /// Payload; `null` when empty.
    pub data: Value,
}

/// One decoded text frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A frame without a positive `code`.
    Request(Request),
    /// A frame with a positive `code`.
    Response(Response),
}

/// Why a text frame could not be decoded; the connection survives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not JSON at all (message carries line and column).
    #[error("malformed JSON: {0}")]
    Json(String),
    /// Valid JSON, but not an object.
    #[error("frame is not a JSON object")]
    NotAnObject,
    /// A required field is absent or null.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field has a type we cannot use.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// Field name, lower case.
        field: &'static str,
        /// What was expected, for the message.
        expected: &'static str,
    },
    /// `code` is positive but not a status code (fractional or above 999).
    #[error("field `code` is not a status code")]
    InvalidCode,
}

impl Request {
    /// A request with the given fields.
    pub fn new(
        id: impl Into<String>,
        did: impl Into<String>,
        op: impl Into<String>,
        data: Value,
    ) -> Self {
        Request {
            id: id.into(),
            did: did.into(),
            op: op.into(),
            data,
        }
    }

    /// The JSON text of this request.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

impl Response {
    /// A response with the given fields and no data.
    pub fn new(
        id: impl Into<String>,
        did: impl Into<String>,
        code: u16,
        reason: impl Into<String>,
    ) -> Self {
        Response {
            id: id.into(),
            did: did.into(),
            code,
            reason: reason.into(),
            data: Value::Null,
        }
    }

    /// The same response carrying `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// Whether more responses to the same request will follow.
    pub fn is_provisional(&self) -> bool {
        self.code < 200
    }

    /// The JSON text of this response.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

impl Frame {
    /// Decodes one text frame.
    pub fn decode(text: &str) -> Result<Frame, FrameError> {
        Self::decode_bytes(text.as_bytes())
    }

    /// Decodes one frame from bytes (a text frame before its UTF-8 check).
    pub fn decode_bytes(bytes: &[u8]) -> Result<Frame, FrameError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| FrameError::Json(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(FrameError::NotAnObject);
        };
        Self::from_object(&object)
    }

    fn from_object(object: &Map<String, Value>) -> Result<Frame, FrameError> {
        let id = required_text(object, "id")?;
        let did = optional_text(object, "did")?;
        let data = field(object, "data").cloned().unwrap_or(Value::Null);
        if let Some(code) = response_code(object)? {
            let reason = optional_text(object, "reason")?;
            return Ok(Frame::Response(Response {
                id,
                did,
                code,
                reason,
                data,
            }));
        }
        let op = match field(object, "op") {
            None | Some(Value::Null) => return Err(FrameError::Missing("op")),
            Some(Value::String(op)) if op.is_empty() => return Err(FrameError::Missing("op")),
            Some(Value::String(op)) => op.clone(),
            Some(_) => {
                return Err(FrameError::WrongType {
                    field: "op",
                    expected: "a string",
                })
            }
        };
        Ok(Frame::Request(Request { id, did, op, data }))
    }

    /// The JSON text of this frame.
    pub fn to_json(&self) -> String {
        match self {
            Frame::Request(request) => request.to_json(),
            Frame::Response(response) => response.to_json(),
        }
    }

    /// The frame's request id.
    pub fn id(&self) -> &str {
        match self {
            Frame::Request(request) => &request.id,
            Frame::Response(response) => &response.id,
        }
    }
}

impl From<Request> for Frame {
    fn from(request: Request) -> Self {
        Frame::Request(request)
    }
}

impl From<Response> for Frame {
    fn from(response: Response) -> Self {
        Frame::Response(response)
    }
}

fn to_json(value: &impl Serialize) -> String {
    // Both frame types are plain structs of strings, numbers and a `Value`,
    // whose maps have string keys: serialising them cannot fail.
    serde_json::to_string(value).expect("frames serialise to JSON")
}

/// The field `name` (lower case), the exact spelling first, then any casing.
pub(crate) fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// `Some(code)` when the frame is a response: `code` is a positive number.
fn response_code(object: &Map<String, Value>) -> Result<Option<u16>, FrameError> {
    let Some(Value::Number(code)) = field(object, "code") else {
        return Ok(None);
    };
    if let Some(code) = code.as_u64() {
        return match code {
            0 => Ok(None),
            1..=999 => Ok(Some(code as u16)),
            _ => Err(FrameError::InvalidCode),
        };
    }
    match code.as_f64() {
        Some(code) if code > 0.0 => Err(FrameError::InvalidCode),
        _ => Ok(None),
    }
}

fn required_text(object: &Map<String, Value>, name: &'static str) -> Result<String, FrameError> {
    match field(object, name) {
        None | Some(Value::Null) => Err(FrameError::Missing(name)),
        Some(value) => text(value, name),
    }
}

fn optional_text(object: &Map<String, Value>, name: &'static str) -> Result<String, FrameError> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(value) => text(value, name),
    }
}

fn text(value: &Value, name: &'static str) -> Result<String, FrameError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        _ => Err(FrameError::WrongType {
            field: name,
            expected: "a string",
        }),
    }
}
