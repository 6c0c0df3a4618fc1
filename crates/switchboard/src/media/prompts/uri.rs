//! Which prompt a `play` URI names, and where a `file://` prompt lives.
//!
//! A `file://` URI is a path *relative to the playback directory*: the agent
//! never learns, nor can it choose, where that directory sits on the host. So
//! absolute paths and `..` are refused before the file system is touched, and
//! the canonical path is checked again afterwards, which catches symlinks that
//! point out of the directory.

use std::io;
use std::path::{Component, Path, PathBuf};

use call_control::Failure;
use reqwest::Url;

/// A parsed `play` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PromptUri {
    /// A path under the playback directory, validated to stay under it.
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Http(Url),
}

impl PromptUri {
    /// Parses a `play` URI; every refusal is a [`Failure::BadRequest`].
    pub(super) fn parse(uri: &str) -> Result<PromptUri, Failure> {
        let Some((scheme, rest)) = uri.split_once(':') else {
            return Err(bad_scheme());
        };
        if scheme.eq_ignore_ascii_case("file") {
            let relative = rest.strip_prefix("//").unwrap_or(rest);
            return relative_path(relative).map(PromptUri::File);
        }
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            return Url::parse(uri)
                .map(PromptUri::Http)
                .map_err(|e| Failure::BadRequest(format!("Bad URI: {e}")));
        }
        Err(bad_scheme())
    }

    /// A file extension that helps the decoder guess the container.
    pub(super) fn extension(&self) -> Option<String> {
        let path = match self {
            PromptUri::File(path) => path.to_str()?,
            PromptUri::Http(url) => url.path(),
        };
        let name = path.rsplit('/').next()?;
        let (_, extension) = name.rsplit_once('.')?;
        Some(extension.to_ascii_lowercase())
    }
}

fn bad_scheme() -> Failure {
    Failure::BadRequest("Bad URI scheme: expected file://, http:// or https://".into())
}

/// The percent-decoded path after `file://`, refused if it could leave the
/// playback directory.
fn relative_path(encoded: &str) -> Result<PathBuf, Failure> {
    let decoded = percent_decode(encoded)?;
    if decoded.is_empty() {
        return Err(Failure::BadRequest("Bad URI: empty file path".into()));
    }
    if decoded.contains('\0') {
        return Err(Failure::BadRequest("Bad URI: NUL in file path".into()));
    }
    let path = PathBuf::from(decoded);
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(Failure::BadRequest(
                    "Bad URI: '..' is not allowed in a prompt path".into(),
                ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Failure::BadRequest(
                    "Bad URI: absolute paths are not allowed; file:// paths are relative to the playback directory"
                        .into(),
                ))
            }
        }
    }
    Ok(path)
}

/// Decodes `%XX` escapes; a malformed escape or non-UTF-8 result is refused
/// rather than passed through, so what is checked is what is opened.
fn percent_decode(encoded: &str) -> Result<String, Failure> {
    let malformed = || Failure::BadRequest("Bad URI: malformed percent-encoding".into());
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(malformed)?;
            let hex = std::str::from_utf8(hex).map_err(|_| malformed())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| malformed())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| malformed())
}

/// The canonical path of `relative` under `root`, refused if a symlink leads
/// it outside. Blocking: touches the file system.
pub(super) fn resolve(root: &Path, relative: &Path) -> Result<PathBuf, Failure> {
    let root = std::fs::canonicalize(root).map_err(|e| {
        tracing::warn!(dir = %root.display(), error = %e, "playback directory unusable");
        file_error(&e)
    })?;
    let path = std::fs::canonicalize(root.join(relative)).map_err(|e| file_error(&e))?;
    if !path.starts_with(&root) {
        return Err(Failure::BadRequest(
            "Bad URI: path leads outside the playback directory".into(),
        ));
    }
    Ok(path)
}

/// The protocol answer for an I/O error on a prompt file.
pub(super) fn file_error(error: &io::Error) -> Failure {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            Failure::NotFound("File Not Found".into())
        }
        _ => Failure::Unplayable(format!("cannot read file: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_request(uri: &str) -> String {
        match PromptUri::parse(uri) {
            Err(Failure::BadRequest(reason)) => reason,
            other => panic!("{uri}: expected BadRequest, got {other:?}"),
        }
    }

    #[test]
    fn file_uris_are_relative_to_the_playback_directory() {
        assert_eq!(
            PromptUri::parse("file://sub/x.wav"),
            Ok(PromptUri::File("sub/x.wav".into()))
        );
        assert_eq!(
            PromptUri::parse("file:x.wav"),
            Ok(PromptUri::File("x.wav".into()))
        );
        assert_eq!(
            PromptUri::parse("FILE://a%20b.wav"),
            Ok(PromptUri::File("a b.wav".into()))
        );
    }

    #[test]
    fn escapes_are_refused_before_touching_the_disk() {
        assert!(bad_request("file:///etc/passwd").contains("absolute"));
        assert!(bad_request("file:/etc/passwd").contains("absolute"));
        assert!(bad_request("file://../secret.wav").contains(".."));
        assert!(bad_request("file://a/../../secret.wav").contains(".."));
        assert!(bad_request("file://%2e%2e/secret.wav").contains(".."));
        assert!(bad_request("file://%2fetc/passwd").contains("absolute"));
        assert!(bad_request("file://").contains("empty"));
        assert!(bad_request("file://a%00.wav").contains("NUL"));
        assert!(bad_request("file://a%zz.wav").contains("percent"));
        assert!(bad_request("file://a%e9.wav").contains("percent"));
    }

    #[test]
    fn only_file_and_http_schemes_are_played() {
        for uri in [
            "ftp://host/x.wav",
            "rtsp://host/x",
            "x.wav",
            "/tmp/x.wav",
            "",
        ] {
            assert!(bad_request(uri).contains("Bad URI scheme"), "{uri}");
        }
        assert!(matches!(
            PromptUri::parse("https://example.com/a.mp3"),
            Ok(PromptUri::Http(_))
        ));
        assert!(bad_request("http://").starts_with("Bad URI"));
    }

    #[test]
    fn extension_comes_from_the_last_path_segment() {
        let ext = |uri: &str| PromptUri::parse(uri).ok().and_then(|u| u.extension());
        assert_eq!(ext("file://a.b/c.WAV").as_deref(), Some("wav"));
        assert_eq!(ext("http://h/x.mp3?v=1").as_deref(), Some("mp3"));
        assert_eq!(ext("file://a.b/c"), None);
    }
}
