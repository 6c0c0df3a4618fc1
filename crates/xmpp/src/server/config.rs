//! What one server stream needs to know: the domain, the users, TLS
//! availability and the limits. Built once and shared by every connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::reader::Limits;
use crate::sasl::scram::DEFAULT_ITERATIONS;

/// Where the server finds a user's password.
pub trait Credentials: Send + Sync {
    /// The plain password of `username`, or None for an unknown user.
    fn password(&self, username: &str) -> Option<String>;
}

impl<F> Credentials for F
where
    F: Fn(&str) -> Option<String> + Send + Sync,
{
    fn password(&self, username: &str) -> Option<String> {
        self(username)
    }
}

impl Credentials for HashMap<String, String> {
    fn password(&self, username: &str) -> Option<String> {
        self.get(username).cloned()
    }
}

/// Settings of the c2s server, shared (`Arc`) by all its streams.
#[derive(Clone)]
pub struct ServerConfig {
    /// The XMPP domain served (`rayo.domain`).
    pub domain: String,
    /// The users and their passwords.
    pub credentials: Arc<dyn Credentials>,
    /// Whether the driver can do STARTTLS; if so it is required before auth.
    pub tls_available: bool,
    /// Offer PLAIN on a stream without TLS (loopback deployments, tests).
    pub allow_plain_without_tls: bool,
    /// How long a stream may take from its start to resource binding.
    pub auth_timeout: Duration,
    /// SASL failures allowed before the stream is closed.
    pub max_auth_failures: u32,
    /// PBKDF2 iterations for SCRAM.
    pub scram_iterations: u32,
    /// Features listed in disco#info on the domain, besides disco#info and ping.
    pub disco_features: Vec<String>,
    /// Bounds on the XML the client sends.
    pub limits: Limits,
}

impl ServerConfig {
    /// Defaults: no TLS, PLAIN only with TLS, 30 s to authenticate, three
    /// failed attempts, 4096 SCRAM iterations, disco advertising Rayo.
    pub fn new(domain: &str, credentials: Arc<dyn Credentials>) -> ServerConfig {
        ServerConfig {
            domain: domain.to_lowercase(),
            credentials,
            tls_available: false,
            allow_plain_without_tls: false,
            auth_timeout: Duration::from_secs(30),
            max_auth_failures: 3,
            scram_iterations: DEFAULT_ITERATIONS,
            disco_features: vec!["urn:xmpp:rayo:1".to_owned()],
            limits: Limits::default(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("domain", &self.domain)
            .field("tls_available", &self.tls_available)
            .field("allow_plain_without_tls", &self.allow_plain_without_tls)
            .field("auth_timeout", &self.auth_timeout)
            .field("max_auth_failures", &self.max_auth_failures)
            .field("scram_iterations", &self.scram_iterations)
            .field("disco_features", &self.disco_features)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
