//! CLI text mode, for driving calls by hand with `wscat`.
//!
//! A client that sends `X-Request-Type: cli` on the upgrade writes
//! space-separated lines instead of JSON: `<code> <id>` answers a request,
//! `<op> [<id> [<did>]] [key=value …]` makes one. The id defaults to a
//! generated one and the did to [`LAST_DID`], the call most recently offered
//! on the connection; leading dashes on keys are dropped and numeric values
//! become JSON numbers. The server's own frames are rendered `<code> <id>`
//! for responses and as JSON otherwise.

use serde_json::{Map, Number, Value};

use crate::frame::{Frame, Request, Response};
use crate::response::reason_phrase;

/// The `did` that names the call most recently offered on the connection.
pub const LAST_DID: &str = "last";

/// Why a CLI line is not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// Nothing but whitespace.
    #[error("empty line")]
    Empty,
    /// A response line without the id it answers.
    #[error("response `{0}` needs an id: `<code> <id>`")]
    MissingId(u16),
    /// A response code that is not 1 to 999.
    #[error("`{0}` is not a status code")]
    BadCode(String),
    /// More than two words before the `key=value` pairs.
    #[error("unexpected word `{0}`: expected `<op> [<id> [<did>]] key=value …`")]
    ExtraWord(String),
    /// A `=value` with no key.
    #[error("`{0}` has an empty key")]
    EmptyKey(String),
}

/// Reads one CLI line; `new_id` makes the id of a request that names none.
pub fn parse_line(line: &str, new_id: impl FnOnce() -> String) -> Result<Frame, CliError> {
    let mut words = line.split_whitespace();
    let first = words.next().ok_or(CliError::Empty)?;
    if first.starts_with(|c: char| c.is_ascii_digit()) {
        let code = match first.parse::<u16>() {
            Ok(code @ 1..=999) => code,
            _ => return Err(CliError::BadCode(first.to_owned())),
        };
        let id = words.next().ok_or(CliError::MissingId(code))?;
        if let Some(extra) = words.next() {
            return Err(CliError::ExtraWord(extra.to_owned()));
        }
        return Ok(Frame::Response(Response::new(
            id,
            "",
            code,
            reason_phrase(code),
        )));
    }
    let mut positional = Vec::new();
    let mut data = Map::new();
    for word in words {
        match word.split_once('=') {
            Some((key, value)) => {
                let key = key.trim_start_matches('-');
                if key.is_empty() {
                    return Err(CliError::EmptyKey(word.to_owned()));
                }
                data.insert(key.to_owned(), cli_value(value));
            }
            None if positional.len() < 2 && data.is_empty() => positional.push(word),
            None => return Err(CliError::ExtraWord(word.to_owned())),
        }
    }
    let mut positional = positional.into_iter();
    let id = positional.next().map_or_else(new_id, str::to_owned);
    let did = positional.next().unwrap_or(LAST_DID);
    let data = if data.is_empty() {
        Value::Null
    } else {
        Value::Object(data)
    };
    Ok(Frame::Request(Request::new(id, did, first, data)))
}

/// A value as a JSON number when it reads as one, else as a string.
fn cli_value(value: &str) -> Value {
    if let Ok(integer) = value.parse::<i64>() {
        return Value::Number(integer.into());
    }
    // Only plain decimals: "inf", "NaN" and "1e5" stay strings.
    if value
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        if let Some(number) = value.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(number);
        }
    }
    Value::String(value.to_owned())
}

/// How a response reads in CLI mode: `<code> <id>`.
pub fn render_response(response: &Response) -> String {
    format!("{} {}", response.code, response.id)
}
