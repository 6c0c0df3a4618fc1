//! The responses the server sends, with the reason phrases agents know.
//!
//! Each constructor answers a [`Request`], echoing its `id` and `did`. Long
//! operations send their 183 at once: agents give up on a request that gets
//! no response within 10 s.

use serde_json::{json, Number};

use crate::frame::{Request, Response};
use crate::op::PayloadError;

/// Reason phrase used for `code` when no more specific one applies.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request terminated",
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        599 => "No handler attached",
        _ => "",
    }
}

impl Response {
    /// Answers `request` with `code` and `reason`.
    pub fn to(request: &Request, code: u16, reason: impl Into<String>) -> Response {
        Response::new(request.id.clone(), request.did.clone(), code, reason)
    }

    /// 200 `OK`.
    pub fn ok(request: &Request) -> Response {
        Response::to(request, 200, "OK")
    }

    /// 183 `Playback In Progress`.
    pub fn playback_in_progress(request: &Request) -> Response {
        Response::to(request, 183, "Playback In Progress")
    }

    /// 183 `Read DTMF In Progress`.
    pub fn read_dtmf_in_progress(request: &Request) -> Response {
        Response::to(request, 183, "Read DTMF In Progress")
    }

    /// 183 `Recording In Progress`, the first provisional of `listen`.
    pub fn recording_in_progress(request: &Request) -> Response {
        Response::to(request, 183, "Recording In Progress")
    }

    /// 190 `Recording Write`: the binary frame follows.
    pub fn recording_write(request: &Request) -> Response {
        Response::to(request, 190, "Recording Write")
    }

    /// 183 `Echo In Progress`.
    pub fn echo_in_progress(request: &Request) -> Response {
        Response::to(request, 183, "Echo In Progress")
    }

    /// 200 ending `read_dtmf`: the digits, terminator included (may be empty).
    pub fn dtmf_collected(request: &Request, dtmf: &str) -> Response {
        Response::ok(request).with_data(json!({ "dtmf": dtmf }))
    }

    /// 200 ending `listen`, after its binary frame: bytes sent and seconds captured.
    pub fn listen_done(request: &Request, size: u64, duration_sec: f64) -> Response {
        // Whole seconds go out as integers, which agents in typed languages
        // may read into an integer field.
        let duration =
            if duration_sec.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&duration_sec) {
                Number::from(duration_sec as u64)
            } else {
                Number::from_f64(duration_sec).unwrap_or_else(|| Number::from(0))
            };
        Response::ok(request).with_data(json!({ "duration_sec": duration, "size": size }))
    }

    /// 400 with a free reason: the request failed, the call continues.
    pub fn bad_request(request: &Request, reason: impl Into<String>) -> Response {
        Response::to(request, 400, reason)
    }

    /// 400 for a known op with an unusable payload.
    pub fn bad_payload(request: &Request, error: &PayloadError) -> Response {
        Response::bad_request(request, error.reason())
    }

    /// 400 `call not answered`: a media op before `answer`.
    pub fn call_not_answered(request: &Request) -> Response {
        Response::bad_request(request, "call not answered")
    }

    /// 400 `Endpoint Does Not Exist`: `redirect` to an unknown endpoint.
    pub fn endpoint_does_not_exist(request: &Request) -> Response {
        Response::bad_request(request, "Endpoint Does Not Exist")
    }

    /// 400 `Endpoint Can Not Be Flow API`: `redirect` to an agent endpoint.
    pub fn endpoint_can_not_be_flow_api(request: &Request) -> Response {
        Response::bad_request(request, "Endpoint Can Not Be Flow API")
    }

    /// 404 `Dialog Does Not Exist`: unknown `did` on this connection.
    pub fn dialog_does_not_exist(request: &Request) -> Response {
        Response::to(request, 404, "Dialog Does Not Exist")
    }

    /// 405 for an op the server does not know.
    pub fn unknown_op(request: &Request) -> Response {
        Response::to(request, 405, "Method Not Allowed")
    }

    /// 429: too many requests queued for this call.
    pub fn too_many_requests(request: &Request) -> Response {
        Response::to(request, 429, "Too Many Requests")
    }

    /// 487 `Request terminated`: the call ended, or the op was cancelled.
    pub fn request_terminated(request: &Request) -> Response {
        Response::to(request, 487, "Request terminated")
    }

    /// 499 `Client Closed Request`.
    pub fn client_closed_request(request: &Request) -> Response {
        Response::to(request, 499, "Client Closed Request")
    }

    /// 500, only for real internal faults.
    pub fn internal_error(request: &Request) -> Response {
        Response::to(request, 500, "Internal Server Error")
    }
}
