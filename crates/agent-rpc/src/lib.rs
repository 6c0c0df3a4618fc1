//! Agent RPC wire types: the JSON frames agents and the server exchange over
//! a WebSocket, the typed ops inside them, the binary frame of `listen`, and
//! the CLI text mode for `wscat` sessions.
//!
//! No I/O and no async runtime: text in, [`Frame`] out, and back. Decoding is
//! as lenient as deployed Diagox agents need (see [`frame`]) and never
//! panics: malformed input is a [`FrameError`], an unknown op is
//! [`AgentOp::Unknown`] (answer 405), and a known op with an unusable
//! payload is a [`PayloadError`] (answer 400). Either way the call and the
//! connection go on.
//!
//! ```
//! use agent_rpc::{AgentOp, Frame, Response};
//!
//! let frame = Frame::decode(r##"{"id":"r1","did":"c1__a__b","op":"read_dtmf",
//!                               "data":{"termination":"#"}}"##)?;
//! let Frame::Request(request) = frame else { unreachable!() };
//! let AgentOp::ReadDtmf(read) = AgentOp::from_request(&request)? else { unreachable!() };
//! assert_eq!((read.duration_sec, read.termination), (10, Some('#')));
//!
//! let progress = Response::read_dtmf_in_progress(&request);
//! assert_eq!(
//!     progress.to_json(),
//!     r#"{"id":"r1","did":"c1__a__b","code":183,"reason":"Read DTMF In Progress","data":null}"#
//! );
//! let done = Response::dtmf_collected(&request, "1234#");
//! assert_eq!(done.data["dtmf"], "1234#");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A frame with a positive `code` is a response and is matched to its request
//! by `id` alone: agents answer `invite` with `did: ""`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod frame;
mod listen_frame;
mod op;
mod response;

pub use frame::{Frame, FrameError, Request, Response};
pub use listen_frame::{ListenFrame, ListenFrameError, LISTEN_FRAME_TAG};
pub use op::{
    AgentOp, AudioFormat, Invite, Listen, PayloadError, Play, ReadDtmf, Redirect, ServerOp,
    DEFAULT_DURATION_SEC, MAX_LISTEN_DURATION_SEC,
};
pub use response::reason_phrase;

#[cfg(test)]
mod tests;

/// The properties the `parse_agent_frame` fuzz target checks on any input,
/// shared with the seed test that runs on stable: decoding never panics, a
/// decoded frame written back decodes to the same frame, a typed op written
/// back parses to the same op, the CLI parser and the listen frame decoder
/// are safe (a decoded listen frame re-encodes to the same bytes).
#[doc(hidden)]
pub fn check_untrusted(data: &[u8]) {
    if let Ok(frame) = Frame::decode_bytes(data) {
        let again = Frame::decode(&frame.to_json()).expect("a written frame decodes");
        assert_eq!(again, frame);
        if let Frame::Request(request) = &frame {
            if let Ok(op) = AgentOp::from_request(request) {
                let written = op.to_request(request.id.clone(), request.did.clone());
                assert_eq!(AgentOp::from_request(&written).as_ref(), Ok(&op));
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cli::parse_line(text, || "generated".to_string());
    }
    if let Ok(listen) = ListenFrame::decode(data) {
        assert_eq!(listen.encode().expect("re-encodes").as_slice(), data);
    }
}
