//! Rayo: call control for XMPP applications (XEP-0327, and the seed page's
//! older dialect) over the embedded client-to-server listener (`rayo.*`
//! config).
//!
//! - [`listener`]: accept with limits and bans, one session per connection.
//! - `session`: drives one [`xmpp::ServerStream`] over its socket (STARTTLS,
//!   the bounded outbound queue, slow-reader disconnect).
//! - [`presence`]: who may be offered calls (sans-IO).
//! - [`hub`]: the seam to the Rayo adapter: routed stanzas and availability
//!   changes in, stanzas to clients out, never waiting on a client.
//! - [`tls`]: the STARTTLS certificate and key.
//! - [`adapter`]: the adapter's sans-IO logic: offers, call commands, call
//!   events; [`service`] drives it from the hub, the calls and the pools.
//! - [`pool`]: the controller pool of `match: { type: rayo }` endpoints.

pub mod adapter;
pub mod hub;
pub mod listener;
pub mod listening;
pub mod pool;
pub mod presence;
pub mod service;
mod session;
pub mod tls;

pub use hub::{refuse_all, HubEvent, RayoHub, Undeliverable};
pub use listener::RayoListener;
pub use listening::RayoListening;
