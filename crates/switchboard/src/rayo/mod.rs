//! Rayo call control (XEP-0327, and the seed page's older dialect) over the
//! embedded XMPP listener.
//!
//! - [`adapter`]: the sans-IO logic: offers, call commands, call events.
//! - [`pool`]: the controller pool of `match: { type: rayo }` endpoints.

pub mod adapter;
pub mod pool;
