//! Running an engine program: no shell, text on stdin, output read with a
//! size cap, the whole run under a hard timeout after which the process is
//! killed.
//!
//! Uses tokio's child processes, so waiting on the engine parks no runtime
//! worker thread; the process is killed when the run is dropped (timeout,
//! oversize output, or the caller giving up).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::TtsError;

/// Most stderr kept for the error message.
const STDERR_KEPT: usize = 2048;

/// Bounds of one engine run.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunLimits {
    /// Wall-clock limit for the whole run.
    pub timeout: Duration,
    /// Most bytes accepted on stdout.
    pub max_output: usize,
}

/// Runs `program args…` with `stdin` as its input and returns its stdout.
/// `engine` names it in errors.
pub(super) async fn run(
    program: &Path,
    args: &[String],
    stdin: &[u8],
    limits: RunLimits,
) -> Result<Vec<u8>, TtsError> {
    let engine = program.display().to_string();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TtsError::EngineMissing(engine.clone()),
            _ => TtsError::Spawn(engine.clone(), e.to_string()),
        })?;
    let (Some(mut input), Some(output), Some(errors)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(TtsError::Spawn(engine, "no pipes".into()));
    };
    let write = async move {
        // An engine that takes its text from argv may close stdin unread.
        let _ = input.write_all(stdin).await;
        drop(input);
        Ok::<(), TtsError>(())
    };
    let read_out = read_capped(output, limits.max_output);
    let read_err = async move {
        let mut kept = Vec::new();
        let _ = errors.take(STDERR_KEPT as u64).read_to_end(&mut kept).await;
        Ok::<Vec<u8>, TtsError>(kept)
    };
    let run = async {
        let ((), out, err) = tokio::try_join!(write, read_out, read_err)?;
        let status = child
            .wait()
            .await
            .map_err(|e| TtsError::Spawn(engine.clone(), e.to_string()))?;
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err).trim().to_string();
            return Err(TtsError::Failed(engine.clone(), status.to_string(), stderr));
        }
        Ok(out)
    };
    match tokio::time::timeout(limits.timeout, run).await {
        Ok(result) => result,
        // Dropping the run drops the child, which kills it (kill_on_drop);
        // tokio reaps it in the background.
        Err(_) => Err(TtsError::Timeout(engine, limits.timeout)),
    }
}

/// Reads `source` to its end, refusing more than `max` bytes.
pub(super) async fn read_capped(
    source: impl AsyncRead + Unpin,
    max: usize,
) -> Result<Vec<u8>, TtsError> {
    let mut out = Vec::new();
    source
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .await
        .map_err(|e| TtsError::Output(e.to_string()))?;
    if out.len() > max {
        return Err(TtsError::TooLarge(max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RunLimits {
        RunLimits {
            timeout: Duration::from_secs(20),
            max_output: 1000,
        }
    }

    #[tokio::test]
    async fn stdin_reaches_the_program_and_stdout_comes_back() {
        let out = run(Path::new("cat"), &[], b"spoken text", limits()).await;
        assert_eq!(out.expect("cat runs"), b"spoken text");
    }

    #[tokio::test]
    async fn a_missing_program_is_named() {
        let out = run(Path::new("/nonexistent/tts-engine"), &[], b"", limits()).await;
        assert!(
            matches!(&out, Err(TtsError::EngineMissing(name)) if name == "/nonexistent/tts-engine"),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn oversize_output_and_failures_are_errors() {
        let big = vec![b'x'; 5000];
        let out = run(Path::new("cat"), &[], &big, limits()).await;
        assert!(matches!(out, Err(TtsError::TooLarge(1000))), "{out:?}");
        let args = ["-c".to_string(), "echo broken >&2; exit 3".to_string()];
        let out = run(Path::new("sh"), &args, b"", limits()).await;
        assert!(
            matches!(&out, Err(TtsError::Failed(_, _, stderr)) if stderr == "broken"),
            "{out:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_engine_is_killed_at_the_timeout() {
        let limits = RunLimits {
            timeout: Duration::from_millis(200),
            max_output: 1000,
        };
        // Paused time: the timeout fires as soon as the run waits.
        let out = run(Path::new("sleep"), &["30".to_string()], b"", limits).await;
        assert!(matches!(out, Err(TtsError::Timeout(..))), "{out:?}");
    }
}
