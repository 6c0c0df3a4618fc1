//! Sans-IO SIP transactions, dialogs and digest authentication.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
pub mod response;
mod wire;

pub use response::{make_response, to_tag_for};
pub(crate) mod transaction;
pub mod transport;
