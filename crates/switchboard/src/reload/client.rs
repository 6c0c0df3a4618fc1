//! `switchboard reload`: checks a config file here, then asks the server
//! running it to reload through the operator API (`http.listen`, with
//! `http.api_token`). SIGHUP needs no token; this needs one.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::config::{self, Config};

/// How long the server may take to answer.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Validates `path`, then asks the server at its `http.listen` to reload;
/// writes the outcome to `out` (errors to `err`) and returns the exit
/// status: 0 once the server reloaded, 1 otherwise.
pub fn run(path: &Path, out: &mut impl Write, err: &mut impl Write) -> u8 {
    // Nowhere left to report to when stdout or stderr is closed; the status tells.
    let config = match config::check_config(path) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                let _ = writeln!(err, "{error}");
            }
            let _ = writeln!(err, "{}: not reloaded", path.display());
            return 1;
        }
    };
    let Some(token) = config.http.api_token.clone() else {
        let _ = writeln!(
            err,
            "{}: http.api_token is not set, so the API is off: send the server SIGHUP instead",
            path.display()
        );
        return 1;
    };
    let url = reload_url(&config);
    let answer = match crate::cli::block_on(post(&url, &token), err) {
        Ok(answer) => answer,
        Err(status) => return status,
    };
    match answer {
        Ok((200, body)) => {
            let _ = write!(out, "{body}");
            0
        }
        Ok((status, body)) => {
            let _ = writeln!(err, "{url}: {status}");
            let _ = write!(err, "{body}");
            if status == 401 {
                let _ = writeln!(err, "{MOVED_HINT}");
            }
            1
        }
        Err(error) => {
            let _ = writeln!(err, "{url}: {error}");
            let _ = writeln!(err, "{MOVED_HINT}");
            1
        }
    }
}

/// The likely cause when the file's API address or token is not the
/// running server's: the file changes them, and only a reload applies that.
const MOVED_HINT: &str = "if this file changes http.listen or http.api_token, the server \
    still listens and checks as its last loaded config says: reload with `kill -HUP PID`";

/// The reload URL of the server running `config`: a wildcard `http.listen`
/// is reached on loopback.
pub fn reload_url(config: &Config) -> String {
    format!("{}/api/v1/reload", crate::http::base_of(config.http.listen))
}

async fn post(url: &str, token: &str) -> Result<(u16, String), reqwest::Error> {
    let client = reqwest::Client::builder().timeout(ANSWER_WAIT).build()?;
    let response = client.post(url).bearer_auth(token).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_is_reached_on_loopback() {
        let config = Config::from_yaml("http: { listen: \"0.0.0.0:8088\" }\n", "t.yaml")
            .expect("valid config");
        assert_eq!(reload_url(&config), "http://127.0.0.1:8088/api/v1/reload");
        let config =
            Config::from_yaml("http: { listen: \"[::]:8088\" }\n", "t.yaml").expect("valid config");
        assert_eq!(reload_url(&config), "http://[::1]:8088/api/v1/reload");
    }

    #[test]
    fn invalid_file_or_no_token_is_refused_here() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, "routes: {}\nnonsense: 1\n").expect("write");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(&path, &mut out, &mut err), 1);
        let text = String::from_utf8_lossy(&err);
        assert!(text.contains("s.yaml:2:"), "{text}");
        std::fs::write(&path, "routes: {}\n").expect("write");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(&path, &mut out, &mut err), 1);
        assert!(String::from_utf8_lossy(&err).contains("SIGHUP"));
    }
}
