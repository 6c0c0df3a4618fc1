//! The service around a scripted renderer: voices, caching, the bound on
//! renders at once, and failures.

use std::sync::atomic::AtomicUsize;

use super::*;

/// Renders one sample per text byte, each render waiting for a release.
struct Scripted {
    calls: AtomicUsize,
    running: AtomicUsize,
    most_running: AtomicUsize,
    release: tokio::sync::Semaphore,
    voices: std::sync::Mutex<Vec<String>>,
}

impl Default for Scripted {
    fn default() -> Scripted {
        Scripted {
            calls: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            most_running: AtomicUsize::new(0),
            release: tokio::sync::Semaphore::new(0),
            voices: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl Renderer for Scripted {
    fn engine(&self) -> &str {
        "scripted"
    }

    fn render<'a>(&'a self, request: &'a TtsRequest) -> RenderFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_running.fetch_max(now, Ordering::SeqCst);
            self.voices
                .lock()
                .expect("voices")
                .push(request.voice.clone());
            if let Ok(permit) = self.release.acquire().await {
                permit.forget();
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            if request.text == "fail" {
                return Err(TtsError::EngineMissing("scripted".into()));
            }
            Ok(vec![1000; request.text.len() * 160])
        })
    }
}

fn config() -> TtsConfig {
    let mut config = TtsConfig::default();
    config.voices.insert("allison".into(), "en-us".into());
    config.voices.insert("peter".into(), "en-gb".into());
    config.max_concurrent = 2;
    config
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn voices_map_and_unknown_ones_get_the_default() {
    let tts = Tts::with_renderer(&config(), Arc::new(Scripted::default()));
    assert_eq!(tts.engine_voice(Some("Allison")), "en-us");
    assert_eq!(tts.engine_voice(Some("peter")), "en-gb");
    assert_eq!(tts.engine_voice(Some("nobody")), "en-us");
    assert_eq!(tts.engine_voice(None), "en-us");
    let mut mapped_default = config();
    mapped_default.default_voice = "peter".into();
    let tts = Tts::with_renderer(&mapped_default, Arc::new(Scripted::default()));
    assert_eq!(tts.engine_voice(Some("")), "en-gb");
}

#[tokio::test]
async fn the_same_text_is_rendered_once_and_shared() {
    let renderer = Arc::new(Scripted::default());
    let tts = Tts::with_renderer(&config(), renderer.clone());
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let tts = tts.clone();
            tokio::spawn(async move { tts.render("hello", None, 1.0, 0.0, G711::Pcmu).await })
        })
        .collect();
    settle().await;
    renderer.release.add_permits(10);
    let mut frames = Vec::new();
    for task in tasks {
        frames.push(task.await.expect("task").expect("rendered"));
    }
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 1);
    assert_eq!(tts.renders(), 1);
    assert_eq!(frames[0].len(), 5 * 160 / 160);
    for other in &frames[1..] {
        assert!(std::ptr::eq(
            frames[0].get(0).expect("frame"),
            other.get(0).expect("frame")
        ));
    }
    // Another law reuses the samples; another voice, rate or volume does not.
    tts.render("hello", Some("allison"), 1.0, 0.0, G711::Pcma)
        .await
        .expect("pcma");
    assert_eq!(tts.renders(), 1, "allison is the default voice en-us");
    tts.render("hello", Some("peter"), 1.0, 0.0, G711::Pcmu)
        .await
        .expect("peter");
    tts.render("hello", None, 1.5, 0.0, G711::Pcmu)
        .await
        .expect("faster");
    let louder = tts
        .render_pcm("hello", None, 1.0, 6.0)
        .await
        .expect("louder");
    assert_eq!(tts.renders(), 4);
    assert_eq!(louder[0], 1995, "+6 dB is about twice the amplitude");
}

#[tokio::test]
async fn no_more_than_max_concurrent_renders_run_at_once() {
    let renderer = Arc::new(Scripted::default());
    let tts = Tts::with_renderer(&config(), renderer.clone());
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let tts = tts.clone();
            tokio::spawn(async move {
                tts.render(&format!("text {i}"), None, 1.0, 0.0, G711::Pcmu)
                    .await
            })
        })
        .collect();
    settle().await;
    assert_eq!(
        renderer.calls.load(Ordering::SeqCst),
        2,
        "two run, three wait"
    );
    renderer.release.add_permits(5);
    for task in tasks {
        task.await.expect("task").expect("rendered");
    }
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 5);
    assert_eq!(renderer.most_running.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn failures_are_unplayable_and_not_cached() {
    let renderer = Arc::new(Scripted::default());
    renderer.release.add_permits(10);
    let tts = Tts::with_renderer(&config(), renderer.clone());
    for _ in 0..2 {
        let failure = tts
            .render("fail", None, 1.0, 0.0, G711::Pcmu)
            .await
            .expect_err("fails");
        assert!(
            matches!(&failure, Failure::Unplayable(text) if text.contains("scripted not found")),
            "{failure:?}"
        );
    }
    assert_eq!(tts.renders(), 2, "a failure is tried again next time");
    let long = "x".repeat(MAX_TEXT_BYTES + 1);
    let refused = tts.render(&long, None, 1.0, 0.0, G711::Pcmu).await;
    assert!(matches!(refused, Err(Failure::BadRequest(_))));
    let refused = tts.render("x", None, f32::NAN, 0.0, G711::Pcmu).await;
    assert!(matches!(refused, Err(Failure::BadRequest(_))));
    let empty = tts.render("  ", None, 1.0, 0.0, G711::Pcmu).await;
    assert!(empty.expect("nothing to say").is_empty());
    assert_eq!(tts.renders(), 2);
}

#[tokio::test]
async fn a_missing_espeak_is_a_clear_failure() {
    let renderer = Arc::new(EspeakRenderer::new(
        "/nonexistent/espeak-ng",
        Duration::from_secs(5),
        MAX_OUTPUT_BYTES,
    ));
    let tts = Tts::with_renderer(&config(), renderer);
    let failure = tts
        .render("hello", None, 1.0, 0.0, G711::Pcmu)
        .await
        .expect_err("no engine");
    assert!(
        matches!(&failure, Failure::Unplayable(text)
            if text.starts_with("text-to-speech engine /nonexistent/espeak-ng not found")),
        "{failure:?}"
    );
}

#[test]
fn gain_saturates() {
    let mut samples = [1000, -1000, 30000, -30000];
    apply_gain(&mut samples, 20.0);
    assert_eq!(samples, [10000, -10000, 32767, -32768]);
}

#[test]
fn a_missing_engine_program_is_named_and_a_present_one_is_not() {
    let mut config = TtsConfig {
        engine: TtsEngine::Command,
        command: vec!["no-such-tts-engine-here".into()],
        ..TtsConfig::default()
    };
    assert_eq!(
        missing_engine(&config),
        Some(std::path::PathBuf::from("no-such-tts-engine-here"))
    );
    config.command = vec!["/bin/sh".into()];
    assert_eq!(missing_engine(&config), None);
}
