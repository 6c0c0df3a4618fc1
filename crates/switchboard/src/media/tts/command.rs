//! `tts.engine: command`: the operator's own engine, run from a template.
//!
//! The template is a program and its arguments (no shell). Each argument may
//! hold placeholders: `{voice}` (the engine voice), `{rate}` (the speed
//! factor, `1` = normal), `{text}` (the whole text inside that one argument)
//! and `{output}` (a fresh WAV path in the temporary directory, removed
//! after reading). The text is also written to stdin. Without `{output}`
//! in any argument, the engine's stdout is taken as the WAV.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::process::{read_capped, run, RunLimits};
use super::{decode_wav, RenderFuture, Renderer, TtsError, TtsRequest};

/// Numbers the output files of this process's renders.
static NEXT_OUTPUT: AtomicU64 = AtomicU64::new(0);

/// Renders with an operator-supplied command.
#[derive(Debug, Clone)]
pub struct CommandRenderer {
    template: Vec<String>,
    limits: RunLimits,
}

impl CommandRenderer {
    /// A renderer for `template` (program first; see the module docs for
    /// the placeholders) with the given limits per render. `None` for an
    /// empty template.
    pub fn new(
        template: Vec<String>,
        timeout: std::time::Duration,
        max_output: usize,
    ) -> Option<CommandRenderer> {
        if template.first().is_none_or(|p| p.is_empty()) {
            return None;
        }
        Some(CommandRenderer {
            template,
            limits: RunLimits {
                timeout,
                max_output,
            },
        })
    }

    fn writes_file(&self) -> bool {
        self.template[1..].iter().any(|a| a.contains("{output}"))
    }

    /// The template with its placeholders filled in.
    fn args(&self, request: &TtsRequest, output: &str) -> Vec<String> {
        self.template[1..]
            .iter()
            .map(|arg| fill(arg, request, output))
            .collect()
    }
}

/// Replaces each placeholder in `arg` once, left to right, so text that
/// itself contains `{voice}` is not expanded again.
fn fill(arg: &str, request: &TtsRequest, output: &str) -> String {
    let rate = format!("{}", request.rate);
    let mut filled = String::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        filled.push_str(&rest[..open]);
        let tail = &rest[open..];
        let value = [
            ("{voice}", request.voice.as_str()),
            ("{rate}", rate.as_str()),
            ("{output}", output),
            ("{text}", request.text.as_str()),
        ]
        .into_iter()
        .find(|(name, _)| tail.starts_with(name));
        match value {
            Some((name, value)) => {
                filled.push_str(value);
                rest = &tail[name.len()..];
            }
            None => {
                filled.push('{');
                rest = &tail[1..];
            }
        }
    }
    filled.push_str(rest);
    filled
}

/// A render's output file, removed when dropped.
struct OutputFile(PathBuf);

impl OutputFile {
    fn create() -> Result<OutputFile, TtsError> {
        let name = format!(
            "switchboard-tts-{}-{}.wav",
            std::process::id(),
            NEXT_OUTPUT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        // Created here (and only here), so nothing else can plant it first.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| TtsError::Output(format!("{}: {e}", path.display())))?;
        Ok(OutputFile(path))
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Renderer for CommandRenderer {
    fn engine(&self) -> &str {
        &self.template[0]
    }

    fn render<'a>(&'a self, request: &'a TtsRequest) -> RenderFuture<'a> {
        Box::pin(async move {
            let program = PathBuf::from(&self.template[0]);
            let text = request.text.as_bytes();
            let wav = if self.writes_file() {
                let output = tokio::task::spawn_blocking(OutputFile::create)
                    .await
                    .map_err(|e| TtsError::Output(e.to_string()))??;
                let args = self.args(request, &output.0.to_string_lossy());
                run(&program, &args, text, self.limits).await?;
                let file = tokio::fs::File::open(&output.0)
                    .await
                    .map_err(|e| TtsError::Output(format!("{}: {e}", output.0.display())))?;
                read_capped(file, self.limits.max_output).await?
            } else {
                let args = self.args(request, "-");
                run(&program, &args, text, self.limits).await?
            };
            decode_wav(wav).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_and_text_stays_one_argument() {
        let request = TtsRequest {
            text: "say {voice} -x; rm -rf /".into(),
            voice: "en-gb".into(),
            rate: 1.5,
            volume_db: 0.0,
        };
        let renderer = CommandRenderer::new(
            vec![
                "tts".into(),
                "--voice={voice}".into(),
                "{text}".into(),
                "{output}".into(),
                "{rate}x{unknown}".into(),
            ],
            std::time::Duration::from_secs(1),
            100,
        )
        .expect("template");
        assert!(renderer.writes_file());
        assert_eq!(
            renderer.args(&request, "/tmp/o.wav"),
            [
                "--voice=en-gb",
                "say {voice} -x; rm -rf /",
                "/tmp/o.wav",
                "1.5x{unknown}"
            ]
        );
        assert!(CommandRenderer::new(vec![], std::time::Duration::from_secs(1), 1).is_none());
    }
}
