//! Text-to-speech with the real espeak-ng (installed by `scripts/test`) and
//! with operator commands: speech of plausible length and energy, one
//! engine run per cached text, the bound on renders at once, and clear
//! failures when the engine is missing.

use std::path::{Path, PathBuf};

use switchboard::config::{TtsConfig, TtsEngine};
use switchboard::media::pacer::G711;
use switchboard::media::tts::Tts;

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// An executable shell script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn command_config(command: &[&str]) -> TtsConfig {
    TtsConfig {
        engine: TtsEngine::Command,
        command: command.iter().map(ToString::to_string).collect(),
        ..TtsConfig::default()
    }
}

/// A 16 kHz mono WAV of a 440 Hz tone lasting `seconds`.
fn tone_wav(path: &Path, seconds: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("create wav");
    for n in 0..(16_000.0 * seconds) as usize {
        let t = n as f32 / 16_000.0;
        let sample = (0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin() * 32767.0) as i16;
        writer.write_sample(sample).expect("sample");
    }
    writer.finalize().expect("finalize");
}

#[tokio::test]
async fn espeak_says_hello_world_once_for_every_caller() {
    let tts = Tts::new(&TtsConfig::default());
    let pcm = tts
        .render_pcm("hello world", None, 1.0, 0.0)
        .await
        .expect("espeak-ng renders (installed by scripts/test)");
    let seconds = pcm.len() as f64 / 8000.0;
    assert!((0.5..=3.0).contains(&seconds), "{seconds} s of speech");
    assert!(rms(&pcm) > 500.0, "speech energy, rms {}", rms(&pcm));

    let first = tts
        .render("hello world", Some("allison"), 1.0, 0.0, G711::Pcmu)
        .await
        .expect("frames");
    let again = tts
        .render("hello world", None, 1.0, 0.0, G711::Pcmu)
        .await
        .expect("frames");
    assert_eq!(tts.renders(), 1, "one espeak-ng run for the same text");
    assert_eq!(first.len(), pcm.len().div_ceil(160));
    assert!(std::ptr::eq(
        first.get(0).expect("frame"),
        again.get(0).expect("frame")
    ));

    // Faster speech is shorter; another text is another run.
    let fast = tts
        .render_pcm("hello world", None, 2.0, 0.0)
        .await
        .expect("fast");
    assert!(fast.len() < pcm.len(), "{} vs {}", fast.len(), pcm.len());
    assert_eq!(tts.renders(), 2);
}

#[tokio::test]
async fn a_missing_engine_is_a_clear_failure_not_a_crash() {
    let tts = Tts::new(&command_config(&["/nonexistent/bin/mytts", "{output}"]));
    let failure = tts
        .render("hello", None, 1.0, 0.0, G711::Pcma)
        .await
        .expect_err("no engine");
    let text = failure.to_string();
    assert!(
        text.starts_with("text-to-speech engine /nonexistent/bin/mytts not found"),
        "{text}"
    );
}

#[tokio::test]
async fn a_command_engine_writes_its_wav_to_the_output_file_or_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("tone.wav");
    tone_wav(&wav, 1.0);
    // Reads the text from stdin like a real engine, records its arguments.
    let to_file = script(
        dir.path(),
        "to-file",
        &format!(
            "cat > /dev/null; echo \"$@\" > {args}; cp {wav} \"$4\"",
            args = dir.path().join("args").display(),
            wav = wav.display()
        ),
    );
    let template = [
        to_file.to_str().expect("path"),
        "--voice",
        "{voice}",
        "--out",
        "{output}",
        "--rate={rate}",
    ];
    let mut config = command_config(&template);
    config.voices.insert("allison".into(), "en-us".into());
    let tts = Tts::new(&config);
    let pcm = tts
        .render_pcm("the text", Some("allison"), 1.5, 0.0)
        .await
        .expect("rendered from the file");
    assert_eq!(pcm.len(), 8000, "one second at 8 kHz");
    assert!(rms(&pcm) > 10_000.0);
    let args = std::fs::read_to_string(dir.path().join("args")).expect("args");
    assert!(
        args.starts_with("--voice en-us --out /") && args.trim_end().ends_with("--rate=1.5"),
        "{args}"
    );
    let output = args.split_whitespace().nth(3).expect("output path");
    assert!(!Path::new(output).exists(), "the output file is removed");

    let to_stdout = script(
        dir.path(),
        "to-stdout",
        &format!("cat > /dev/null; cat {}", wav.display()),
    );
    let tts = Tts::new(&command_config(&[to_stdout.to_str().expect("path")]));
    let frames = tts
        .render("x", None, 1.0, 0.0, G711::Pcmu)
        .await
        .expect("rendered from stdout");
    assert_eq!(frames.len(), 50);

    let broken = script(dir.path(), "broken", "echo no voice >&2; exit 2");
    let tts = Tts::new(&command_config(&[broken.to_str().expect("path")]));
    let failure = tts
        .render("x", None, 1.0, 0.0, G711::Pcmu)
        .await
        .expect_err("engine failed");
    assert!(failure.to_string().contains("no voice"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_renders_run_at_once_than_allowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("tone.wav");
    tone_wav(&wav, 0.1);
    let running = dir.path().join("running");
    std::fs::create_dir(&running).expect("dir");
    // Each run marks itself, notes how many are marked, lingers, unmarks.
    let engine = script(
        dir.path(),
        "engine",
        &format!(
            "cat > /dev/null; touch {r}/$$; ls {r} | wc -l >> {log}; sleep 0.2; rm {r}/$$; cat {wav}",
            r = running.display(),
            log = dir.path().join("counts").display(),
            wav = wav.display()
        ),
    );
    let mut config = command_config(&[engine.to_str().expect("path")]);
    config.max_concurrent = 2;
    let tts = Tts::new(&config);
    let renders: Vec<_> = (0..6)
        .map(|i| {
            let tts = tts.clone();
            tokio::spawn(async move {
                tts.render(&format!("text {i}"), None, 1.0, 0.0, G711::Pcmu)
                    .await
            })
        })
        .collect();
    for render in renders {
        render.await.expect("task").expect("rendered");
    }
    assert_eq!(tts.renders(), 6);
    let counts = std::fs::read_to_string(dir.path().join("counts")).expect("counts");
    let most = counts
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .max();
    assert!(matches!(most, Some(1..=2)), "{counts}");
}
