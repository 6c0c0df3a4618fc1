//! Rayo's XMPP side: the embedded client-to-server listener Rayo
//! applications connect to (`rayo.*` config).
//!
//! - [`listener`]: accept with limits and bans, one session per connection.
//! - `session`: drives one [`xmpp::ServerStream`] over its socket (STARTTLS,
//!   the bounded outbound queue, slow-reader disconnect).
//! - [`presence`]: who may be offered calls (sans-IO).
//! - [`hub`]: the seam to the Rayo adapter: routed stanzas and availability
//!   changes in, stanzas to clients out, never waiting on a client.
//! - [`tls`]: the STARTTLS certificate and key.

pub mod hub;
pub mod listener;
pub mod presence;
mod session;
pub mod tls;

pub use hub::{refuse_all, HubEvent, RayoHub, Undeliverable};
pub use listener::RayoListener;
