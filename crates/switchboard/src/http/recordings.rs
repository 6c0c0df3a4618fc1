//! `GET /recordings/NAME?expires=…&sig=…`: recording files over HTTP.
//!
//! Only with a valid, unexpired signature (403 otherwise, whatever the
//! name), only files directly in the recordings directory (the name is one
//! path segment: no `/` or `\`, no `..`, no NUL or control character, no
//! leading dot; anything else is 404 like a missing file), single byte
//! ranges (206, or 416 when none of the file is in range), streamed from
//! disk in chunks. HEAD answers the same headers without the body.
//!
//! A download may outlast the HTTP connection lifetime: once the signature
//! holds, the connection's lease is stretched by the time the file takes at
//! [`MIN_DOWNLOAD_RATE`], and the connection is closed after the response.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::signing::{unix_now, RecordingUrls};
use super::Lease;

/// The slowest average rate a download is given time for, in bytes per
/// second: 8 kHz 16-bit mono audio in real time.
pub const MIN_DOWNLOAD_RATE: u64 = 16_000;
/// Bytes read from disk per body chunk.
const CHUNK: usize = 64 * 1024;

/// Where recordings are and how their URLs are signed.
#[derive(Debug, Clone)]
pub struct RecordingFiles {
    /// `media.recordings_dir`.
    pub dir: PathBuf,
    /// The signer whose URLs are accepted.
    pub urls: RecordingUrls,
}

/// Serves one recording request.
pub(super) async fn serve(
    State(files): State<RecordingFiles>,
    ConnectInfo(lease): ConnectInfo<Lease>,
    method: Method,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let verified = files.urls.verify(
        &name,
        query.get("expires").map(String::as_str),
        query.get("sig").map(String::as_str),
        unix_now(),
    );
    if let Err(refusal) = verified {
        tracing::debug!(%name, %refusal, "recording request refused");
        return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
    }
    if !is_file_name(&name) {
        return not_found();
    }
    let path = files.dir.join(&name);
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(_) => return not_found(),
    };
    let len = match file.metadata().await {
        Ok(metadata) if metadata.is_file() => metadata.len(),
        _ => return not_found(),
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, len));
    let (status, start, count) = match range {
        Some(Ranged::Unsatisfiable) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
        Some(Ranged::Part(start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Some(Ranged::Whole) | None => (StatusCode::OK, 0, len),
    };
    lease.extend_to(
        tokio::time::Instant::now()
            + super::CONNECTION_LIFETIME
            + Duration::from_secs(count / MIN_DOWNLOAD_RATE),
    );
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        match stream(file, start, count).await {
            Ok(body) => body,
            Err(_) => return not_found(),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&name)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        let end = start + count - 1;
        if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(header::CONTENT_RANGE, value);
        }
    }
    response
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Whether `name` names a file directly inside the recordings directory.
pub(super) fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

/// What a `Range` header asks of a file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ranged {
    /// Not a single byte range we serve: the whole file (RFC 9110 §14.2
    /// lets a server ignore such a header).
    Whole,
    /// Bytes `start..=end`, clamped to the file.
    Part(u64, u64),
    /// A well-formed range with no byte in the file.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` against a file of `len` bytes.
pub(super) fn parse_range(value: &str, len: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (number(first), number(last), last.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (None, Some(n), _) if first.trim().is_empty() => {
            if n == 0 || len == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(len.saturating_sub(n), len - 1)
            }
        }
        // bytes=a-
        (Some(a), None, true) => {
            if a >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(a, len - 1)
            }
        }
        // bytes=a-b
        (Some(a), Some(b), _) if a <= b => {
            if a >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(a, b.min(len - 1))
            }
        }
        _ => Ranged::Whole,
    }
}

/// `count` bytes of `file` from `start`, read in chunks as the client takes them.
async fn stream(mut file: tokio::fs::File, start: u64, count: u64) -> std::io::Result<Body> {
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let chunks = futures_util::stream::unfold((file, count), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut chunk = vec![0u8; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        match file.read(&mut chunk).await {
            // The file shrank under us: end the body short (the client sees
            // a length mismatch) rather than loop.
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "recording shorter than announced",
                )),
                (file, 0),
            )),
            Ok(read) => {
                chunk.truncate(read);
                Some((Ok(chunk), (file, left - read as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Ok(Body::from_stream(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Ranged::Part(0, 9));
        assert_eq!(parse_range("bytes=90-200", 100), Ranged::Part(90, 99));
        assert_eq!(parse_range("bytes=10-", 100), Ranged::Part(10, 99));
        assert_eq!(parse_range("bytes=-10", 100), Ranged::Part(90, 99));
        assert_eq!(parse_range("bytes=-200", 100), Ranged::Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=100-120", 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Ranged::Unsatisfiable);
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-9",
            "items=0-1",
            "bytes=x-",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(parse_range(ignored, 100), Ranged::Whole, "{ignored}");
        }
    }

    #[test]
    fn names_are_one_plain_segment() {
        assert!(is_file_name("call-1.wav"));
        assert!(is_file_name("a b.mp3"));
        for bad in [
            "", "..", "../x.wav", ".hidden", "a/b.wav", "a\\b", "a\0b", "a\nb",
        ] {
            assert!(!is_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("x.WAV"), "audio/wav");
        assert_eq!(content_type("x.mp3"), "audio/mpeg");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
