//! Switchboard: a programmable SIP telephony server.
//!
//! The binary is thin glue: transports move bytes, the sans-IO `sip-stack`
//! runs transactions, the router decides where a call goes.
#![forbid(unsafe_code)]

pub mod admission;
pub mod agent_rpc;
pub mod auth_ban;
pub mod calls;
pub mod cdr;
pub mod cli;
pub mod config;
pub mod control;
pub mod driver;
pub mod fd_limit;
pub mod http;
pub mod media;
pub mod overload;
pub mod rayo;
pub mod reload;
pub mod router;
pub mod server;
pub mod transport;
