//! The Agent RPC adapter: agents connect over WebSocket and steer calls.
//!
//! The wire types are the `agent-rpc` crate; this module is the server
//! around them and their mapping onto `call-control`. The wire reference is
//! AGENT-RPC.md; the sharp edges, and the choices made where it is silent:
//!
//! - **Offers** go through each agent endpoint's controller pool
//!   ([`AgentPool`], run by the neutral offer driver of [`crate::control`]):
//!   round-robin over the endpoint's live connections, each tried at most once. Only a 2xx takes the call. 503, no
//!   answer within `invite_timeout_sec` or the connection closing passes the
//!   call to the next agent; any other 4xx–6xx is the caller's answer (3xx
//!   and codes past 699 read as 480). When every agent passed, the caller gets
//!   the last one's 503, or 480 (the endpoint's `no_controller_code`) if it
//!   timed out or went away; with no agent connected, that code at once. An agent that answers 200 after the offer was
//!   withdrawn (caller gone, timeout) gets a `bye` for that did.
//! - **Ordering**: a call's requests run one at a time in arrival order; one
//!   that must wait is answered 100 `Trying` at once (agents give up on a
//!   request that hears nothing for 10 s, and a request queued behind a long
//!   `play` would otherwise hear nothing), then its own 183 when it starts.
//!   `hangup` and `:requestCancel` act at once. Up to 16 may wait (then 429).
//! - **`:requestCancel`** names the request to cancel by its own `id`. A
//!   running target is stopped; a queued one is dropped. Either way the target
//!   is answered 487 *first*, then the cancel 200, so an SDK that resolves
//!   the first final response for that id sees the 487. An id that names
//!   nothing open on the call is answered 404 `Request Does Not Exist`.
//! - **`did: "last"`** names the call most recently taken on the connection
//!   (in CLI and JSON mode alike); responses carry the real did.
//! - **Errors never close the connection**: undecodable frames get a 400 with
//!   whatever id could be read (else `""`), binary frames from an agent a 400
//!   with id `""`, unknown ops 405, bad payloads 400, unknown dids 404.
//! - **Disconnect**: the connection leaves the hub at once; after
//!   `disconnect_grace_sec` every call it held that has not ended gets a
//!   hangup. An agent that stops reading (8192 frames queued) is disconnected;
//!   new offers stop at 512 (see `connection`).

mod connection;
mod dialog;
mod hub;
mod ids;
pub mod listening;
mod mapping;
mod server;

/// For tests that overflow a connection's writer queue.
#[doc(hidden)]
pub use connection::WRITER_QUEUE;
pub use hub::{AgentHub, AgentPool};
pub use listening::AgentListening;
pub(crate) use server::same_secret;
pub use server::{serve, serve_until};
