//! The prompt loader end to end: real files in a temporary playback
//! directory, a hand-written HTTP server on 127.0.0.1, and the decoded frames
//! checked by decoding the G.711 back and measuring the tone.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use call_control::Failure;
use media::g711;
use switchboard::media::pacer::{PromptFrames, FRAME_SAMPLES, G711};
use switchboard::media::prompts::{PromptConfig, Prompts};
use testkit::analysis::dominant_frequency;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The MP3 fixture: 1 s of a 1 kHz sine at half scale, 32 kHz mono,
/// 64 kbit/s, made with LAME 3.100 (`lame -b 64 -m m`) from a generated WAV.
/// Its LAME tag carries the encoder delay and padding, which are trimmed.
const MP3_FIXTURE: &str = "tests/fixtures/prompts/tone-1khz.mp3";

fn prompts_in(dir: &Path) -> Prompts {
    Prompts::new(PromptConfig {
        playback_dir: dir.to_path_buf(),
        ..PromptConfig::default()
    })
}

/// A sine at `frequency`, full scale × 0.5, as `f64` in [-1, 1].
fn sine(rate: u32, frequency: f64, n: u32) -> f64 {
    0.5 * (2.0 * std::f64::consts::PI * frequency * f64::from(n) / f64::from(rate)).sin()
}

/// Writes a WAV tone with hound in the given sample format.
fn write_wav(path: &Path, spec: hound::WavSpec, seconds: f64, frequency: f64) {
    let mut writer = hound::WavWriter::create(path, spec).expect("create wav");
    let frames = (f64::from(spec.sample_rate) * seconds).round() as u32;
    for n in 0..frames {
        let value = sine(spec.sample_rate, frequency, n);
        for _ in 0..spec.channels {
            match (spec.sample_format, spec.bits_per_sample) {
                (hound::SampleFormat::Float, _) => writer.write_sample(value as f32),
                (_, 8) => writer.write_sample((value * 127.0) as i8),
                (_, 16) => writer.write_sample((value * 32767.0) as i16),
                (_, bits) => {
                    writer.write_sample((value * ((1i64 << (bits - 1)) - 1) as f64) as i32)
                }
            }
            .expect("write sample");
        }
    }
    writer.finalize().expect("finalize wav");
}

fn spec(channels: u16, sample_rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: bits,
        sample_format: format,
    }
}

/// A WAV with G.711 samples (format tag 7 µ-law, 6 A-law), which hound
/// cannot write: 8 kHz mono.
fn g711_wav(codec: G711, seconds: f64, frequency: f64) -> Vec<u8> {
    let count = (8000.0 * seconds) as u32;
    let data: Vec<u8> = (0..count)
        .map(|n| {
            let sample = (sine(8000, frequency, n) * 32767.0) as i16;
            match codec {
                G711::Pcmu => g711::ulaw_encode(sample),
                G711::Pcma => g711::alaw_encode(sample),
            }
        })
        .collect();
    let tag: u16 = match codec {
        G711::Pcmu => 7,
        G711::Pcma => 6,
    };
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(4 + 26 + 12 + 8 + count).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&18u32.to_le_bytes());
    wav.extend_from_slice(&tag.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // channels
    wav.extend_from_slice(&8000u32.to_le_bytes()); // rate
    wav.extend_from_slice(&8000u32.to_le_bytes()); // bytes per second
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(&0u16.to_le_bytes()); // extension size
    wav.extend_from_slice(b"fact");
    wav.extend_from_slice(&4u32.to_le_bytes());
    wav.extend_from_slice(&count.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&count.to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

/// The frames decoded back to linear samples.
fn pcm(frames: &PromptFrames, codec: G711) -> Vec<i16> {
    let mut samples = Vec::with_capacity(frames.len() * FRAME_SAMPLES);
    for index in 0..frames.len() {
        let frame = frames.get(index).expect("index below len");
        let mut block = [0i16; FRAME_SAMPLES];
        match codec {
            G711::Pcmu => g711::decode_ulaw(frame, &mut block),
            G711::Pcma => g711::decode_alaw(frame, &mut block),
        };
        samples.extend_from_slice(&block);
    }
    samples
}

/// Asserts the prompt carries `frequency` (±15 Hz) at a level near
/// `amplitude` (0–1 of full scale).
fn assert_tone(frames: &PromptFrames, codec: G711, frequency: f64, amplitude: f64) {
    let samples = pcm(frames, codec);
    // Skip the edges, where resampler filters ring.
    let middle = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let found = dominant_frequency(middle, 8000).expect("not silence");
    assert!((found - frequency).abs() <= 15.0, "tone at {found} Hz");
    let peak = middle
        .iter()
        .map(|s| f64::from(s.unsigned_abs()))
        .fold(0.0, f64::max);
    let level = peak / 32768.0;
    assert!((level - amplitude).abs() < 0.08, "level {level}");
}

async fn expect_failure(prompts: &Prompts, uri: &str) -> Failure {
    match prompts.load(uri, G711::Pcmu).await {
        Ok(frames) => panic!("{uri}: loaded {} frames", frames.len()),
        Err(failure) => failure,
    }
}

#[tokio::test]
async fn a_16_khz_stereo_wav_becomes_8_khz_frames_of_the_same_length_and_tone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav_spec = spec(2, 16_000, 16, hound::SampleFormat::Int);
    write_wav(&dir.path().join("tone.wav"), wav_spec, 5.52, 1000.0);
    let prompts = prompts_in(dir.path());
    for codec in [G711::Pcmu, G711::Pcma] {
        let frames = prompts.load("file://tone.wav", codec).await.expect("loads");
        assert_eq!(frames.len(), 276);
        assert_tone(&frames, codec, 1000.0, 0.5);
    }
}

#[tokio::test]
async fn every_wav_sample_format_and_rate_decodes() {
    use hound::SampleFormat::{Float, Int};
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("u8.wav", spec(1, 22_050, 8, Int), 1.0, 50),
        ("s24.wav", spec(1, 48_000, 24, Int), 1.0, 50),
        ("s32.wav", spec(2, 44_100, 32, Int), 0.5, 25),
        ("f32.wav", spec(2, 8000, 32, Float), 0.4, 20),
        ("six.wav", spec(6, 32_000, 16, Int), 0.2, 10),
    ];
    let prompts = prompts_in(dir.path());
    for (name, wav_spec, seconds, expected) in cases {
        write_wav(&dir.path().join(name), wav_spec, seconds, 700.0);
        let frames = prompts
            .load(&format!("file://{name}"), G711::Pcma)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(frames.len(), expected, "{name}");
        assert_tone(&frames, G711::Pcma, 700.0, 0.5);
    }
}

#[tokio::test]
async fn mu_law_and_a_law_wavs_decode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompts = prompts_in(dir.path());
    for (name, law) in [("mulaw.wav", G711::Pcmu), ("alaw.wav", G711::Pcma)] {
        std::fs::write(dir.path().join(name), g711_wav(law, 1.0, 440.0)).expect("write");
        for codec in [G711::Pcmu, G711::Pcma] {
            let frames = prompts
                .load(&format!("file://{name}"), codec)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(frames.len(), 50, "{name}");
            assert_tone(&frames, codec, 440.0, 0.5);
        }
    }
}

#[tokio::test]
async fn an_mp3_decodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(MP3_FIXTURE);
    std::fs::copy(fixture, dir.path().join("tone.mp3")).expect("copy fixture");
    let frames = prompts_in(dir.path())
        .load("file://tone.mp3", G711::Pcmu)
        .await
        .expect("loads");
    // Exactly 1 s: the LAME tag's delay and padding are trimmed.
    assert_eq!(frames.len(), 50);
    assert_tone(&frames, G711::Pcmu, 1000.0, 0.49);
}

#[tokio::test]
async fn paths_outside_the_playback_directory_are_refused() {
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("secret.wav");
    write_wav(
        &secret,
        spec(1, 8000, 16, hound::SampleFormat::Int),
        0.1,
        440.0,
    );
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("sub")).expect("mkdir");
    std::os::unix::fs::symlink(&secret, root.path().join("sub/link.wav")).expect("symlink");
    std::os::unix::fs::symlink(outside.path(), root.path().join("outdir")).expect("symlink");
    let prompts = prompts_in(root.path());
    let secret_uri = format!("file://{}", secret.display());
    for uri in [
        "file://../secret.wav",
        "file://sub/../../secret.wav",
        "file:///etc/passwd",
        secret_uri.as_str(),
        "file://sub/link.wav",
        "file://outdir/secret.wav",
    ] {
        assert!(
            matches!(expect_failure(&prompts, uri).await, Failure::BadRequest(_)),
            "{uri}"
        );
    }
    // A symlink that stays inside is fine.
    std::fs::copy(&secret, root.path().join("inside.wav")).expect("copy");
    std::os::unix::fs::symlink("../inside.wav", root.path().join("sub/ok.wav")).expect("symlink");
    assert!(prompts.load("file://sub/ok.wav", G711::Pcmu).await.is_ok());
}

#[tokio::test]
async fn missing_bad_scheme_and_garbage_are_told_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prompts = prompts_in(dir.path());
    assert_eq!(
        expect_failure(&prompts, "file://nope.wav").await,
        Failure::NotFound("File Not Found".into())
    );
    for uri in ["ftp://host/x.wav", "rtsp://host/x", "x.wav", ""] {
        assert!(
            matches!(expect_failure(&prompts, uri).await, Failure::BadRequest(r) if r.contains("Bad URI scheme")),
            "{uri}"
        );
    }
    std::fs::write(
        dir.path().join("garbage.wav"),
        b"not audio, just text\n".repeat(100),
    )
    .expect("write");
    std::fs::write(dir.path().join("empty.wav"), b"").expect("write");
    let mut truncated = g711_wav(G711::Pcmu, 0.1, 440.0);
    truncated.truncate(30);
    std::fs::write(dir.path().join("truncated.wav"), truncated).expect("write");
    std::fs::create_dir(dir.path().join("folder.wav")).expect("mkdir");
    for name in ["garbage.wav", "empty.wav", "truncated.wav", "folder.wav"] {
        let failure = expect_failure(&prompts, &format!("file://{name}")).await;
        assert!(
            matches!(failure, Failure::Unplayable(_)),
            "{name}: {failure:?}"
        );
    }
}

#[tokio::test]
async fn a_cut_off_wav_plays_up_to_the_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wav = g711_wav(G711::Pcmu, 1.0, 440.0);
    wav.truncate(wav.len() - 4000);
    std::fs::write(dir.path().join("cut.wav"), wav).expect("write");
    let frames = prompts_in(dir.path())
        .load("file://cut.wav", G711::Pcmu)
        .await
        .expect("loads");
    assert_eq!(frames.len(), 25);
}

#[tokio::test]
async fn a_file_is_decoded_once_per_version_and_law() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tone.wav");
    let mono = spec(1, 16_000, 16, hound::SampleFormat::Int);
    write_wav(&path, mono, 1.0, 500.0);
    let prompts = prompts_in(dir.path());
    let first = prompts
        .load("file://tone.wav", G711::Pcmu)
        .await
        .expect("loads");
    let again = prompts
        .clone()
        .load("file://./tone.wav", G711::Pcmu)
        .await
        .expect("loads");
    assert!(first.same_as(&again));
    let alaw = prompts
        .load("file://tone.wav", G711::Pcma)
        .await
        .expect("loads");
    assert!(!first.same_as(&alaw));

    write_wav(&path, mono, 2.0, 500.0);
    let changed = prompts
        .load("file://tone.wav", G711::Pcmu)
        .await
        .expect("loads");
    assert!(!changed.same_as(&first));
    assert_eq!(changed.len(), 100);

    std::fs::remove_file(&path).expect("remove");
    assert!(matches!(
        expect_failure(&prompts, "file://tone.wav").await,
        Failure::NotFound(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_loads_share_one_decode() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_wav(
        &dir.path().join("tone.wav"),
        spec(2, 44_100, 16, hound::SampleFormat::Int),
        3.0,
        800.0,
    );
    let prompts = prompts_in(dir.path());
    let loads: Vec<_> = (0..8)
        .map(|_| {
            let prompts = prompts.clone();
            tokio::spawn(async move { prompts.load("file://tone.wav", G711::Pcmu).await })
        })
        .collect();
    let mut results = Vec::new();
    for load in loads {
        results.push(load.await.expect("task").expect("loads"));
    }
    assert!(results.iter().all(|frames| frames.same_as(&results[0])));
}

#[tokio::test]
async fn a_small_cache_forgets_the_least_recently_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mono = spec(1, 8000, 16, hound::SampleFormat::Int);
    for name in ["a.wav", "b.wav", "c.wav"] {
        write_wav(&dir.path().join(name), mono, 0.1, 440.0);
    }
    let prompts = Prompts::new(PromptConfig {
        playback_dir: dir.path().to_path_buf(),
        cache_entries: 2,
        ..PromptConfig::default()
    });
    let a = prompts.load("file://a.wav", G711::Pcmu).await.expect("a");
    let b = prompts.load("file://b.wav", G711::Pcmu).await.expect("b");
    prompts.load("file://a.wav", G711::Pcmu).await.expect("a");
    prompts.load("file://c.wav", G711::Pcmu).await.expect("c");
    let a_again = prompts.load("file://a.wav", G711::Pcmu).await.expect("a");
    let b_again = prompts.load("file://b.wav", G711::Pcmu).await.expect("b");
    assert!(a.same_as(&a_again));
    assert!(!b.same_as(&b_again));
}

/// What the test server answers for each path.
struct Server {
    address: std::net::SocketAddr,
    /// Full (200) answers to `/tone.wav`.
    tone_bodies: Arc<AtomicUsize>,
    /// Conditional requests to `/tone.wav` answered 304.
    not_modified: Arc<AtomicUsize>,
}

const ETAG: &str = "\"tone-v1\"";

async fn serve(tone: Vec<u8>, max_bytes: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let tone_bodies = Arc::new(AtomicUsize::new(0));
    let not_modified = Arc::new(AtomicUsize::new(0));
    let tone = Arc::new(tone);
    let (bodies, unchanged) = (tone_bodies.clone(), not_modified.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tone, bodies, unchanged) = (tone.clone(), bodies.clone(), unchanged.clone());
            tokio::spawn(answer(stream, tone, bodies, unchanged, max_bytes));
        }
    });
    Server {
        address,
        tone_bodies,
        not_modified,
    }
}

async fn answer(
    mut stream: TcpStream,
    tone: Arc<Vec<u8>>,
    bodies: Arc<AtomicUsize>,
    unchanged: Arc<AtomicUsize>,
    max_bytes: usize,
) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request).to_ascii_lowercase();
    let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
    let head = |status: &str, extra: &str, length: Option<usize>| {
        let length = length
            .map(|n| format!("content-length: {n}\r\n"))
            .unwrap_or_default();
        format!("HTTP/1.1 {status}\r\nconnection: close\r\n{length}{extra}\r\n").into_bytes()
    };
    let with_body = |mut head: Vec<u8>, body: &[u8]| {
        head.extend_from_slice(body);
        head
    };
    let reply = match path.as_str() {
        "/tone.wav" => {
            if request.contains(&format!("if-none-match: {ETAG}")) {
                unchanged.fetch_add(1, Ordering::SeqCst);
                head("304 Not Modified", &format!("etag: {ETAG}\r\n"), None)
            } else {
                bodies.fetch_add(1, Ordering::SeqCst);
                let extra = format!("etag: {ETAG}\r\ncontent-type: audio/wav\r\n");
                with_body(head("200 OK", &extra, Some(tone.len())), &tone)
            }
        }
        "/declared-big.wav" => with_body(head("200 OK", "", Some(max_bytes + 1)), &tone),
        // No length: the body ends when the connection closes.
        "/streamed-big.wav" => with_body(head("200 OK", "", None), &vec![0u8; max_bytes + 1]),
        "/slow.wav" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            with_body(head("200 OK", "", Some(tone.len())), &tone)
        }
        "/garbage.wav" => {
            let extra = "content-type: text/html\r\n";
            let body = b"<html>not audio</html>";
            with_body(head("200 OK", extra, Some(body.len())), body)
        }
        "/error.wav" => head("500 Internal Server Error", "", Some(0)),
        _ => head("404 Not Found", "", Some(0)),
    };
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

fn tone_wav() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tone.wav");
    write_wav(
        &path,
        spec(1, 16_000, 16, hound::SampleFormat::Int),
        1.0,
        600.0,
    );
    std::fs::read(path).expect("read")
}

fn http_prompts(timeout: Duration, max_bytes: u64) -> Prompts {
    Prompts::new(PromptConfig {
        http_timeout: timeout,
        max_bytes,
        ..PromptConfig::default()
    })
}

#[tokio::test]
async fn an_http_prompt_is_revalidated_and_reused_on_304() {
    let server = serve(tone_wav(), 100_000).await;
    let prompts = http_prompts(Duration::from_secs(5), 100_000);
    let url = format!("http://{}/tone.wav", server.address);
    let first = prompts.load(&url, G711::Pcmu).await.expect("loads");
    assert_eq!(first.len(), 50);
    assert_tone(&first, G711::Pcmu, 600.0, 0.5);
    let second = prompts.load(&url, G711::Pcmu).await.expect("loads");
    assert!(second.same_as(&first));
    assert_eq!(server.tone_bodies.load(Ordering::SeqCst), 1);
    assert_eq!(server.not_modified.load(Ordering::SeqCst), 1);
    // The other law is cached separately: one more full fetch.
    let alaw = prompts.load(&url, G711::Pcma).await.expect("loads");
    assert!(!alaw.same_as(&first));
    assert_eq!(server.tone_bodies.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn http_failures_map_to_protocol_answers() {
    let max_bytes = 100_000;
    let server = serve(tone_wav(), max_bytes as usize).await;
    let prompts = http_prompts(Duration::from_millis(500), max_bytes);
    let url = |path: &str| format!("http://{}{path}", server.address);
    assert!(matches!(
        expect_failure(&prompts, &url("/missing.wav")).await,
        Failure::NotFound(_)
    ));
    for (path, reason) in [
        ("/declared-big.wav", "limit"),
        ("/streamed-big.wav", "limit"),
        ("/slow.wav", "timed out"),
        ("/error.wav", "500"),
        ("/garbage.wav", "not a supported audio file"),
    ] {
        let started = std::time::Instant::now();
        match expect_failure(&prompts, &url(path)).await {
            Failure::Unplayable(why) => assert!(why.contains(reason), "{path}: {why}"),
            other => panic!("{path}: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} took too long"
        );
    }
    // Nothing listens on a port just released.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let refused = expect_failure(&prompts, &format!("http://127.0.0.1:{port}/x.wav")).await;
    assert!(matches!(refused, Failure::Unplayable(_)), "{refused:?}");
}
