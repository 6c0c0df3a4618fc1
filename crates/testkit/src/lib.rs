//! Test-only helpers for end-to-end tests over real sockets on 127.0.0.1:
//! start the `switchboard` binary on its own ports, drive SIPp against it,
//! exchange raw SIP datagrams, send, record and analyse real RTP audio
//! ([`rtp_peer`], [`analysis`]), place or take calls with an in-process
//! SIP user agent ([`sip_ua`]) or the baresip softphone ([`baresip`]),
//! load the server with many bridged calls ([`load`], the `rtp-load` binary),
//! attack its media ports with random datagrams ([`junk`]), and log in to
//! its Rayo XMPP listener ([`xmpp`]), with one harness for the Rayo tests
//! ([`rayo_harness`]).
//!
//! Every wait is bounded, so a broken server fails a test instead of hanging it.
#![deny(unsafe_code)] // `alloc_count` alone allows it: a global allocator is unsafe by nature
#![warn(missing_docs)]

pub mod agent;
#[allow(unsafe_code)]
pub mod alloc_count;
pub mod analysis;
pub mod baresip;
pub mod junk;
pub mod load;
pub mod ports;
pub mod rayo_harness;
pub mod rtp_peer;
pub mod rtp_source;
pub mod server;
pub mod sip_ua;
pub mod sipp;
pub mod udp;
pub mod xmpp;

pub use agent::{Agent, AgentError, AgentFrame};
pub use ports::{free_port, free_ports};
pub use rtp_peer::{Codec, ReceivedPacket, RtpPeer, RtpPeerConfig, Source};
pub use server::{wait_refused, Server};
pub use sip_ua::{CallHandle, IncomingCall, SipUa};
pub use sipp::{Sipp, SippRun};
