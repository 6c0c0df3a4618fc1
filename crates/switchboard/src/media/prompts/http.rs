//! Fetching `http(s)://` prompts within a time and size budget, and
//! revalidating a cached copy with a conditional GET.

use std::time::Duration;

use call_control::Failure;
use reqwest::header::{
    HeaderMap, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use reqwest::{Client, StatusCode, Url};

/// What the server said identifies the version we hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct HttpValidator {
    etag: Option<String>,
    last_modified: Option<String>,
}

impl HttpValidator {
    fn from_headers(headers: &HeaderMap) -> HttpValidator {
        let text = |name| {
            headers
                .get(name)
                .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
                .map(str::to_owned)
        };
        HttpValidator {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
        }
    }

    /// Whether a conditional request is possible at all.
    pub(super) fn is_usable(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }
}

/// The outcome of a fetch.
#[derive(Debug)]
pub(super) enum Fetched {
    /// 304: the cached copy is current.
    NotModified,
    /// A full body.
    Body {
        bytes: Vec<u8>,
        content_type: Option<String>,
        validator: HttpValidator,
    },
}

/// An HTTP client with the prompt limits applied.
#[derive(Debug)]
pub(super) struct PromptFetcher {
    /// `Err` holds why the client could not be built (TLS set-up); reported
    /// on each HTTP load rather than failing the whole server at start.
    client: Result<Client, String>,
    timeout: Duration,
    max_bytes: u64,
}

impl PromptFetcher {
    /// A client whose connect and total timeouts are both `timeout`.
    pub(super) fn new(timeout: Duration, max_bytes: u64) -> PromptFetcher {
        let client = Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string());
        PromptFetcher {
            client,
            timeout,
            max_bytes,
        }
    }

    /// GETs `url`, conditionally when `cached` says which version we hold.
    pub(super) async fn fetch(
        &self,
        url: &Url,
        cached: Option<&HttpValidator>,
    ) -> Result<Fetched, Failure> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| Failure::Internal(format!("HTTP client unavailable: {e}")))?;
        let mut request = client.get(url.clone());
        if let Some(cached) = cached {
            if let Some(etag) = &cached.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(last_modified) = &cached.last_modified {
                request = request.header(IF_MODIFIED_SINCE, last_modified);
            }
        }
        let mut response = request.send().await.map_err(|e| self.network_error(&e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && cached.is_some() {
            return Ok(Fetched::NotModified);
        }
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Err(Failure::NotFound(format!("File Not Found (HTTP {status})")));
        }
        if !status.is_success() {
            return Err(Failure::Unplayable(format!("HTTP {status}")));
        }
        let too_big = || {
            Failure::Unplayable(format!(
                "prompt larger than the {} byte limit",
                self.max_bytes
            ))
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes)
        {
            return Err(too_big());
        }
        let validator = HttpValidator::from_headers(response.headers());
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or(value).trim().to_owned());
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.network_error(&e))? {
            if (bytes.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body {
            bytes,
            content_type,
            validator,
        })
    }

    fn network_error(&self, error: &reqwest::Error) -> Failure {
        if error.is_timeout() {
            Failure::Unplayable(format!(
                "HTTP fetch timed out after {} ms",
                self.timeout.as_millis()
            ))
        } else {
            // The chain names the cause (refused, DNS, TLS); the top level
            // alone says only "error sending request".
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                reason.push_str(": ");
                reason.push_str(&cause.to_string());
                source = cause.source();
            }
            Failure::Unplayable(format!("HTTP fetch failed: {reason}"))
        }
    }
}
