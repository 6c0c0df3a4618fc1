//! Recorder tests against real files, each on its own writer thread so that
//! `finish_all` in one test cannot end another's recording.

use super::*;

use media::tone::ToneGenerator;
use media::wav::WavAudio;
use testkit::analysis::{dominant_frequency, tone_fraction};

use crate::media::pacer::FRAME_SAMPLES;

const LEFT_HZ: f64 = 440.0;
const RIGHT_HZ: f64 = 1000.0;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` 20 ms frames of a tone, µ-law.
fn tone_frames(hz: f64, n: usize) -> Vec<[u8; FRAME_SAMPLES]> {
    let mut tone = ToneGenerator::sine(hz, -10.0);
    (0..n)
        .map(|_| {
            let mut pcm = [0i16; FRAME_SAMPLES];
            tone.fill(&mut pcm);
            let mut frame = [0u8; FRAME_SAMPLES];
            G711::Pcmu.encode(&pcm, &mut frame);
            frame
        })
        .collect()
}

/// Waits (up to 2 s) until the writer has taken `count` frames off the queue.
fn wait_placed(recorder: &Recorder, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while recorder.frames_written() + recorder.frames_late() < count && Instant::now() < deadline {
        thread::sleep(ms(5));
    }
}

/// Pushes `(channel, arrival, frame)` in order, never more than the queue
/// holds before the writer has drained it.
fn push_all(recorder: &Recorder, frames: &[(Channel, Instant, [u8; FRAME_SAMPLES])]) {
    let taps = [recorder.tap(Channel::Left), recorder.tap(Channel::Right)];
    let before = recorder.frames_written() + recorder.frames_late();
    for (i, (channel, arrival, frame)) in frames.iter().enumerate() {
        if i > 0 && i % 100 == 0 {
            wait_placed(recorder, before + i as u64);
        }
        let tap = &taps[usize::from(*channel == Channel::Right)];
        tap.push(*arrival, G711::Pcmu, frame);
    }
    wait_placed(recorder, before + frames.len() as u64);
}

/// Reads the file until its header shows at least `min_ms` (bounded wait).
fn read_when(path: &Path, min_ms: u64) -> WavAudio {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let audio = WavAudio::open(path).expect("the file is a valid WAV at every moment");
        if audio.duration_ms() >= min_ms || Instant::now() >= deadline {
            return audio;
        }
        thread::sleep(ms(20));
    }
}

fn slice(samples: &[i16], from_ms: u64, to_ms: u64) -> &[i16] {
    let at = |t: u64| {
        usize::try_from(t * 8)
            .unwrap_or(usize::MAX)
            .min(samples.len())
    };
    &samples[at(from_ms)..at(to_ms)]
}

/// A stereo recording on `writer`, as the bridge makes them.
fn start_stereo(writer: &Writer, path: &Path, started: Instant) -> io::Result<Recorder> {
    Recorder::start_on(writer, path, started, Layout::Stereo, false)
}

/// An instant `back` before now, when the clock allows it.
fn ago(back: Duration) -> Option<Instant> {
    Instant::now().checked_sub(back)
}

#[test]
fn two_legs_with_jitter_and_a_gap_land_on_their_channels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("calls/2026/one.wav");
    let writer = Writer::new();
    let t0 = Instant::now();
    let recorder = start_stereo(&writer, &path, t0).expect("start");
    assert!(path.exists(), "created with its directories");

    // Left: 0-3 s. Right: starts at 0.5 s, silent from 1.5 to 2.0 s. Both
    // with up to ±10 ms of arrival jitter.
    let arrival = |k: u64, seed: u64| t0 + ms(20 * (k + 1) + (seed * 7919) % 21) - ms(10);
    let mut frames = Vec::new();
    for (k, frame) in (0u64..).zip(tone_frames(LEFT_HZ, 150)) {
        frames.push((Channel::Left, arrival(k, k), frame));
    }
    for (k, frame) in (25u64..).zip(tone_frames(RIGHT_HZ, 125)) {
        if (75..100).contains(&k) {
            continue;
        }
        frames.push((Channel::Right, arrival(k, k + 3), frame));
    }
    frames.sort_by_key(|f| f.1);
    push_all(&recorder, &frames);

    let summary = recorder.finish(t0 + ms(3000)).expect("finish");
    assert_eq!(summary.duration, ms(3000));
    assert_eq!(summary.frames_dropped, 0);
    assert_eq!(summary.frames_late, 0);
    assert_eq!(summary.frames_written, frames.len() as u64);

    let audio = WavAudio::open(&path).expect("valid WAV");
    assert_eq!((audio.channels, audio.sample_rate), (2, 8000));
    assert_eq!(audio.samples.len(), 2 * 24_000, "exactly 3 s");
    let (left, right) = (audio.channel(0), audio.channel(1));
    let hz = |s: &[i16]| dominant_frequency(s, 8000).map(f64::round);
    assert_eq!(hz(slice(&left, 100, 2900)), Some(LEFT_HZ));
    assert!(tone_fraction(&left, RIGHT_HZ, 8000) < 0.01);
    assert!(slice(&right, 0, 480).iter().all(|&s| s == 0), "late start");
    assert_eq!(hz(slice(&right, 600, 1400)), Some(RIGHT_HZ));
    assert!(slice(&right, 1540, 1960).iter().all(|&s| s == 0), "gap");
    assert_eq!(hz(slice(&right, 2100, 2400)), Some(RIGHT_HZ));
    assert!(tone_fraction(&right, LEFT_HZ, 8000) < 0.01);
    // No click from jitter: within the tone, no run of silent samples.
    let silent_runs = slice(&left, 100, 2900)
        .windows(8)
        .filter(|w| w.iter().all(|&s| s == 0))
        .count();
    assert_eq!(silent_runs, 0);
}

#[test]
fn the_header_is_valid_while_recording() {
    let Some(t0) = ago(ms(1800)) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("live.wav");
    let writer = Writer::new();
    let recorder = start_stereo(&writer, &path, t0).expect("start");
    let empty = WavAudio::open(&path).expect("valid from the start");
    assert_eq!(empty.samples.len(), 0);

    let frames: Vec<_> = (0u64..)
        .zip(tone_frames(LEFT_HZ, 50))
        .map(|(k, f)| (Channel::Left, t0 + ms(20 * (k + 1)), f))
        .collect();
    push_all(&recorder, &frames);
    // More than 1 s is older than the hold: the writer writes it unasked.
    let live = read_when(&path, 1000);
    assert!(live.duration_ms() >= 1000, "{} ms", live.duration_ms());
    assert_eq!(live.channels, 2);
    let left = live.channel(0);
    assert_eq!(
        dominant_frequency(slice(&left, 0, 1000), 8000).map(f64::round),
        Some(LEFT_HZ)
    );

    let summary = recorder.finish(t0 + ms(2500)).expect("finish");
    assert_eq!(summary.duration, ms(2500));
    assert_eq!(WavAudio::open(&path).expect("valid").samples.len(), 40_000);
}

#[test]
fn a_dropped_recorder_still_leaves_a_complete_file() {
    let Some(t0) = ago(ms(700)) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dropped.wav");
    let writer = Writer::new();
    let recorder = start_stereo(&writer, &path, t0).expect("start");
    let tap = recorder.tap(Channel::Right);
    for (k, frame) in (0u64..).zip(tone_frames(RIGHT_HZ, 30)) {
        tap.push(t0 + ms(20 * (k + 1)), G711::Pcmu, &frame);
    }
    let dropped_at = Instant::now();
    drop(recorder);
    let expected_ms = dropped_at.duration_since(t0).as_millis() as u64;
    let audio = read_when(&path, expected_ms);
    assert!(
        audio.duration_ms().abs_diff(expected_ms) <= 20,
        "{} ms for a recording dropped after {expected_ms} ms",
        audio.duration_ms()
    );
    let right = audio.channel(1);
    assert_eq!(
        dominant_frequency(slice(&right, 0, 600), 8000).map(f64::round),
        Some(RIGHT_HZ)
    );
    // A tap outliving its recorder is harmless.
    tap.push(Instant::now(), G711::Pcmu, &[0xff; 160]);
}

#[test]
fn finish_all_completes_open_recordings() {
    let Some(t0) = ago(ms(300)) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let writer = Writer::new();
    let a = start_stereo(&writer, &dir.path().join("a.wav"), t0).expect("start");
    let b = start_stereo(&writer, &dir.path().join("b.wav"), t0).expect("start");
    assert!(writer.finish_all(Duration::from_secs(2)));
    for name in ["a.wav", "b.wav"] {
        let audio = WavAudio::open(dir.path().join(name)).expect("valid");
        assert!(
            audio.duration_ms() >= 300,
            "{name}: {}",
            audio.duration_ms()
        );
    }
    let err = a.finish(Instant::now()).expect_err("already finished");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    drop(b);
}

#[test]
fn finishing_before_what_was_written_cuts_the_file() {
    let Some(t0) = ago(ms(2000)) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.wav");
    let writer = Writer::new();
    let recorder = start_stereo(&writer, &path, t0).expect("start");
    assert!(read_when(&path, 1000).duration_ms() >= 1000);
    let summary = recorder.finish(t0 + ms(500)).expect("finish");
    assert_eq!(summary.duration, ms(500));
    assert_eq!(WavAudio::open(&path).expect("valid").samples.len(), 8000);
    assert_eq!(
        fs::metadata(&path).expect("metadata").len(),
        HEADER_LEN + 4 * 4000
    );
}

#[test]
fn a_full_queue_drops_and_counts_and_long_payloads_are_split() {
    let dir = tempfile::tempdir().expect("temp dir");
    let writer = Writer::new();
    let t0 = Instant::now();
    let recorder = start_stereo(&writer, &dir.path().join("full.wav"), t0).expect("start");
    let tap = recorder.tap(Channel::Left);
    let frame = [0x10u8; FRAME_SAMPLES];
    for k in 0..1000u64 {
        tap.push(t0 + ms(20 * (k + 1)), G711::Pcmu, &frame);
    }
    assert!(
        recorder.frames_dropped() >= 500,
        "{}",
        recorder.frames_dropped()
    );
    let summary = recorder.finish(t0 + ms(100)).expect("finish");
    assert_eq!(
        summary.frames_written + summary.frames_late + summary.frames_dropped,
        1000
    );

    // 120 ms in one payload: two pieces, back to back, ending at arrival.
    let path = dir.path().join("long.wav");
    let recorder = start_stereo(&writer, &path, t0).expect("start");
    let tap = recorder.tap(Channel::Left);
    tap.push(t0 + ms(140), G711::Pcmu, &[0x10u8; 960]);
    wait_placed(&recorder, 2);
    let summary = recorder.finish(t0 + ms(200)).expect("finish");
    assert_eq!(summary.frames_written, 2);
    let left = WavAudio::open(&path).expect("valid").channel(0);
    let loud = media::g711::ulaw_decode(0x10);
    assert!(slice(&left, 0, 20).iter().all(|&s| s == 0));
    assert!(slice(&left, 20, 140).iter().all(|&s| s == loud));
    assert!(slice(&left, 140, 200).iter().all(|&s| s == 0));
}

#[test]
fn start_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("taken.wav");
    fs::write(&path, b"earlier recording").expect("write");
    let writer = Writer::new();
    let err = start_stereo(&writer, &path, Instant::now()).expect_err("exists");
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(fs::read(&path).expect("read"), b"earlier recording");
}

#[test]
fn an_end_far_in_the_future_is_capped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("future.wav");
    let writer = Writer::new();
    let t0 = Instant::now();
    let recorder = start_stereo(&writer, &path, t0).expect("start");
    let summary = recorder
        .finish(t0 + Duration::from_secs(3600))
        .expect("finish");
    assert!(
        summary.duration >= Duration::from_secs(10) && summary.duration < Duration::from_secs(11),
        "{:?}",
        summary.duration
    );
    let audio = WavAudio::open(&path).expect("valid");
    assert_eq!(audio.duration_ms(), summary.duration.as_millis() as u64);
}

#[test]
fn taps_and_recorders_cross_threads() {
    fn shareable<T: Send + Sync>() {}
    fn cloneable<T: Clone>() {}
    shareable::<Recorder>();
    shareable::<RecorderTap>();
    cloneable::<RecorderTap>();
}

#[test]
fn an_orphaned_recording_is_ended_when_its_last_sender_goes() {
    let Some(t0) = ago(ms(500)) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("orphan.wav");
    let writer = Writer::new();
    let mut recorder = start_stereo(&writer, &path, t0).expect("start");
    // As if the drop's finish request had been lost.
    recorder.finished = true;
    let dropped_at = Instant::now();
    drop(recorder);
    let expected_ms = dropped_at.duration_since(t0).as_millis() as u64;
    let audio = read_when(&path, expected_ms);
    let got = audio.duration_ms();
    assert!(
        got >= expected_ms && got <= expected_ms + 400,
        "{got} ms for a recording orphaned after {expected_ms} ms"
    );
}

#[test]
fn pause_and_resume_leave_the_paused_time_out_of_a_mono_file() {
    let Some(t0) = ago(ms(1000)) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("paused.wav");
    let writer = Writer::new();
    let layout = Layout::Mono(Channel::Right);
    let recorder = Recorder::start_on(&writer, &path, t0, layout, true).expect("start");
    let tap = recorder.tap(Channel::Right);
    // Heard while paused from the start (a beep): not recorded.
    let frames = tone_frames(RIGHT_HZ, 50);
    for (k, frame) in (0u64..).zip(&frames[..10]) {
        tap.push(t0 + ms(20 * (k + 1)), G711::Pcmu, frame);
    }
    wait_placed(&recorder, 0);
    // Recorded from 200 ms to 400 ms, paused to 700 ms, then to 1000 ms.
    recorder.resume(t0 + ms(200)).expect("resume");
    for (k, frame) in (10u64..).zip(&frames[10..20]) {
        tap.push(t0 + ms(20 * (k + 1)), G711::Pcmu, frame);
    }
    wait_placed(&recorder, 10);
    recorder.pause(t0 + ms(400)).expect("pause");
    for (k, frame) in (20u64..).zip(&frames[20..35]) {
        tap.push(t0 + ms(20 * (k + 1)), G711::Pcmu, frame);
    }
    recorder.resume(t0 + ms(700)).expect("resume");
    for (k, frame) in (35u64..).zip(&frames[35..50]) {
        tap.push(t0 + ms(20 * (k + 1)), G711::Pcmu, frame);
    }
    wait_placed(&recorder, 25);
    let summary = recorder.finish(t0 + ms(1000)).expect("finish");
    assert_eq!(summary.duration, ms(500), "200 + 300 ms recorded");
    assert_eq!(summary.size, HEADER_LEN + 2 * 4000);
    assert!(summary.frames_written >= 25, "{}", summary.frames_written);
    assert_eq!(fs::metadata(&path).expect("metadata").len(), summary.size);
    let audio = WavAudio::open(&path).expect("valid");
    assert_eq!((audio.channels, audio.sample_rate), (1, 8000));
    assert_eq!(audio.samples.len(), 4000);
    assert_eq!(
        dominant_frequency(&audio.samples, 8000).map(f64::round),
        Some(RIGHT_HZ)
    );
    // No gap where the pause was: the tone runs on without silence.
    let silent_runs = slice(&audio.samples, 20, 480)
        .windows(8)
        .filter(|w| w.iter().all(|&s| s == 0))
        .count();
    assert_eq!(silent_runs, 0);
}

#[test]
fn a_recording_finished_while_paused_ends_at_the_pause() {
    let Some(t0) = ago(ms(600)) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mix.wav");
    let writer = Writer::new();
    let recorder = Recorder::start_on(&writer, &path, t0, Layout::Mix, false).expect("start");
    recorder.pause(t0 + ms(300)).expect("pause");
    let summary = recorder.finish(t0 + ms(600)).expect("finish");
    assert_eq!(summary.duration, ms(300));
    assert_eq!(summary.size, HEADER_LEN + 2 * 2400);
    let audio = WavAudio::open(&path).expect("valid");
    assert_eq!(audio.channels, 1);
    assert_eq!(audio.duration_ms(), 300);
}
