//! Signed, expiring recording URLs.
//!
//! A recording's URL is `BASE/recordings/NAME?expires=UNIX&sig=HEX`, where
//! `sig` is HMAC-SHA256 under `http.secret` of `NAME`, a newline and
//! `UNIX` (the newline keeps `a1` + `23` apart from `a` + `123`). The server
//! serves the file only with a valid signature before `expires`, comparing
//! signatures in constant time. Without `http.secret` a random key is made
//! at start, so URLs handed out before a restart stop working after it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::HttpConfig;

/// Why a recording request's signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `expires` or `sig`, or not in their formats.
    #[error("missing or malformed signature")]
    Malformed,
    /// The signature does not match.
    #[error("wrong signature")]
    Wrong,
    /// The URL's time is over.
    #[error("expired")]
    Expired,
}

/// Makes and checks recording URLs; cheap to clone.
#[derive(Clone)]
pub struct RecordingUrls {
    shared: Arc<Shared>,
}

struct Shared {
    key: Vec<u8>,
    base: String,
    ttl: Duration,
}

impl std::fmt::Debug for RecordingUrls {
    /// The base only: the key is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingUrls")
            .field("base", &self.shared.base)
            .field("ttl", &self.shared.ttl)
            .finish_non_exhaustive()
    }
}

impl RecordingUrls {
    /// URLs under `base` (`http://host:port`, no trailing slash needed)
    /// signed with `key`, valid for `ttl` from when they are made.
    pub fn new(key: &[u8], base: &str, ttl: Duration) -> RecordingUrls {
        RecordingUrls {
            shared: Arc::new(Shared {
                key: key.to_vec(),
                base: base.trim_end_matches('/').to_string(),
                ttl,
            }),
        }
    }

    /// The URLs `http` describes: `http.public_url` as the base, else
    /// `http.listen` (loopback in place of a wildcard address); the secret,
    /// else a random 32-byte key. `Err` when the operating system has no
    /// randomness to give: better not to start than to sign with a
    /// guessable key.
    pub fn from_config(http: &HttpConfig) -> Result<RecordingUrls, getrandom::Error> {
        let key = match &http.secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => random_key()?,
        };
        Ok(RecordingUrls::new(
            &key,
            &base_url(http),
            Duration::from_secs(http.recording_url_ttl_sec),
        ))
    }

    /// The same key and lifetime under the base `http` describes now: a
    /// reload that moves `http.listen` keeps signing with the same key, so
    /// URLs already handed out stay valid wherever they are served.
    pub fn rebased(&self, http: &HttpConfig) -> RecordingUrls {
        let base = base_url(http);
        if base.trim_end_matches('/') == self.shared.base {
            return self.clone();
        }
        RecordingUrls::new(&self.shared.key, &base, self.shared.ttl)
    }

    /// Where the URLs point (`http://host:port`, no trailing slash).
    #[cfg(test)]
    fn base(&self) -> &str {
        &self.shared.base
    }

    /// The signed URL of recording `file_name`, valid for the configured
    /// time from now.
    pub fn url(&self, file_name: &str) -> String {
        let expires = unix_now().saturating_add(self.shared.ttl.as_secs());
        self.url_expiring(file_name, expires)
    }

    /// The signed URL of `file_name` valid until `expires` (Unix seconds).
    pub fn url_expiring(&self, file_name: &str, expires: u64) -> String {
        format!(
            "{}/recordings/{}?expires={expires}&sig={}",
            self.shared.base,
            percent_encode(file_name),
            self.signature(file_name, expires)
        )
    }

    /// Checks a request for `file_name` with the `expires` and `sig` query
    /// values it carried, at `now` (Unix seconds).
    pub fn verify(
        &self,
        file_name: &str,
        expires: Option<&str>,
        sig: Option<&str>,
        now: u64,
    ) -> Result<(), Refusal> {
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return Err(Refusal::Malformed);
        };
        let expires: u64 = expires.parse().map_err(|_| Refusal::Malformed)?;
        let sig = hex_decode(sig).ok_or(Refusal::Malformed)?;
        // Constant-time comparison inside `verify_slice`.
        self.mac(file_name, expires)
            .verify_slice(&sig)
            .map_err(|_| Refusal::Wrong)?;
        if expires < now {
            return Err(Refusal::Expired);
        }
        Ok(())
    }

    /// The hex signature of (`file_name`, `expires`).
    fn signature(&self, file_name: &str, expires: u64) -> String {
        let tag = self.mac(file_name, expires).finalize().into_bytes();
        tag.iter().fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    }

    fn mac(&self, file_name: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.shared.key)
            .expect("HMAC takes keys of any length");
        mac.update(file_name.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

/// Seconds since the Unix epoch (0 for a clock before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `http.public_url`, else `http://` and `http.listen`.
fn base_url(http: &HttpConfig) -> String {
    match &http.public_url {
        Some(base) => base.clone(),
        None => base_of(http.listen),
    }
}

/// `http://ADDRESS` for a listen address, loopback in place of a wildcard:
/// how this host reaches its own HTTP listener.
pub fn base_of(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// 32 bytes from the operating system's generator; the process cannot
/// sign safely without it, so a failure there is fatal.
fn random_key() -> Result<Vec<u8>, getrandom::Error> {
    let mut key = vec![0u8; 32];
    // No fallback to a guessable key: the caller refuses to start.
    getrandom::fill(&mut key)?;
    Ok(key)
}

/// Everything but RFC 3986 unreserved characters percent-encoded.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> RecordingUrls {
        RecordingUrls::new(
            b"0123456789abcdef",
            "http://127.0.0.1:8080/",
            Duration::from_secs(60),
        )
    }

    fn query(url: &str) -> (String, String) {
        let (_, query) = url.split_once('?').expect("query");
        let (expires, sig) = query.split_once('&').expect("two values");
        (
            expires.trim_start_matches("expires=").to_string(),
            sig.trim_start_matches("sig=").to_string(),
        )
    }

    #[test]
    fn a_url_verifies_until_it_expires() {
        let urls = urls();
        let url = urls.url_expiring("call 1.wav", 1000);
        assert!(url.starts_with("http://127.0.0.1:8080/recordings/call%201.wav?expires=1000&sig="));
        let (expires, sig) = query(&url);
        assert_eq!(sig.len(), 64);
        let check = |name: &str, e: &str, s: &str, now| urls.verify(name, Some(e), Some(s), now);
        assert_eq!(check("call 1.wav", &expires, &sig, 999), Ok(()));
        assert_eq!(check("call 1.wav", &expires, &sig, 1000), Ok(()));
        assert_eq!(
            check("call 1.wav", &expires, &sig, 1001),
            Err(Refusal::Expired)
        );
        assert_eq!(check("call 2.wav", &expires, &sig, 0), Err(Refusal::Wrong));
        assert_eq!(check("call 1.wav", "1001", &sig, 0), Err(Refusal::Wrong));
        assert_eq!(
            check("call 1.wav", &expires, "zz", 0),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            urls.verify("call 1.wav", None, Some(&sig), 0),
            Err(Refusal::Malformed)
        );
        let other = RecordingUrls::new(b"another secret!!", "http://x", Duration::from_secs(1));
        assert_eq!(
            other.verify("call 1.wav", Some(&expires), Some(&sig), 0),
            Err(Refusal::Wrong)
        );
    }

    #[test]
    fn a_rebased_url_points_at_the_new_listener_and_keeps_the_key() {
        let mut http = HttpConfig {
            listen: "127.0.0.1:8081".parse().expect("addr"),
            ..HttpConfig::default()
        };
        let first = RecordingUrls::from_config(&http).expect("randomness");
        let (e, s) = query(&first.url("a.wav"));
        http.listen = "127.0.0.1:9091".parse().expect("addr");
        let moved = first.rebased(&http);
        assert_eq!(moved.base(), "http://127.0.0.1:9091");
        assert!(moved
            .url("a.wav")
            .starts_with("http://127.0.0.1:9091/recordings/a.wav?"));
        // A URL signed before the move still verifies after it, and back.
        assert_eq!(moved.verify("a.wav", Some(&e), Some(&s), 0), Ok(()));
        let (e, s) = query(&moved.url("b.wav"));
        assert_eq!(first.verify("b.wav", Some(&e), Some(&s), 0), Ok(()));
        http.public_url = Some("https://media.example.com".into());
        assert_eq!(moved.rebased(&http).base(), "https://media.example.com");
    }

    #[test]
    fn the_base_comes_from_public_url_or_listen() {
        let mut http = HttpConfig {
            secret: Some("0123456789abcdef".into()),
            ..HttpConfig::default()
        };
        http.listen = "0.0.0.0:8081".parse().expect("addr");
        assert!(RecordingUrls::from_config(&http)
            .expect("randomness")
            .url("a.wav")
            .starts_with("http://127.0.0.1:8081/recordings/a.wav?"));
        http.public_url = Some("https://media.example.com/sb/".into());
        let url = RecordingUrls::from_config(&http)
            .expect("randomness")
            .url("a.wav");
        assert!(
            url.starts_with("https://media.example.com/sb/recordings/a.wav?expires="),
            "{url}"
        );
        let (expires, _) = query(&url);
        let expires: u64 = expires.parse().expect("number");
        assert!(expires >= unix_now() + 86_399);
        // Two servers without a secret do not accept each other's URLs.
        http.secret = None;
        let one = RecordingUrls::from_config(&http).expect("randomness");
        let two = RecordingUrls::from_config(&http).expect("randomness");
        let (e, s) = query(&one.url("a.wav"));
        assert_eq!(one.verify("a.wav", Some(&e), Some(&s), 0), Ok(()));
        assert_eq!(
            two.verify("a.wav", Some(&e), Some(&s), 0),
            Err(Refusal::Wrong)
        );
    }
}
