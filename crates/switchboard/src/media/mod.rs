//! Media I/O: the sockets and schedulers that move RTP for call legs. The
//! codecs, packet formats and detectors live in the `media` crate; this
//! module only binds, paces and forwards.

pub mod pacer;
pub mod ports;
pub mod prompts;
pub mod recorder;
pub mod relay;
pub mod reports;
pub mod session;
pub mod tts;
