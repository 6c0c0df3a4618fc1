//! The caller against the load's own callee (real sockets on 127.0.0.1).

use super::*;
use crate::load::media::Media;
use crate::load::sip::{run_callee, SipSide};
use std::sync::mpsc;

/// Runs the caller of `config` (its `server` set here) against the
/// load's own callee, which answers and sends 1300 Hz; the calls whose
/// inputs "started" are given. Returns the outcome and the calls answered.
fn against_callee(mut config: CallerConfig, started: &[String]) -> (CallerOutcome, usize) {
    let callee = SipSide::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
    config.server = callee.local_addr();
    let (media, threads) = Media::new(1, 700, 1300, 1).expect("media");
    let stop_callee = AtomicBool::new(false);
    let stop_media = AtomicBool::new(false);
    let stop_caller = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    for id in started {
        tx.send(id.clone()).expect("queued");
    }
    std::thread::scope(|s| {
        let sender = s.spawn(|| threads.sender.run(&stop_media));
        let receivers: Vec<_> = threads
            .receivers
            .into_iter()
            .map(|r| {
                let phase = std::sync::atomic::AtomicU8::new(0);
                let stop = &stop_media;
                s.spawn(move || r.run(&phase, stop))
            })
            .collect();
        let callee = s.spawn(|| run_callee(callee, &media, &stop_callee));
        let outcome = run(&config, &rx, &stop_caller).expect("caller ran");
        stop_callee.store(true, Ordering::SeqCst);
        stop_media.store(true, Ordering::SeqCst);
        media.wake_receivers();
        let answered = callee.join().expect("callee").answered;
        sender.join().expect("sender");
        for r in receivers {
            r.join().expect("receiver");
        }
        (outcome, answered)
    })
}

fn config(calls: usize) -> CallerConfig {
    CallerConfig {
        server: "127.0.0.1:9".parse().expect("address"),
        number: "100".into(),
        calls,
        rate: 100.0,
        keys: "12".into(),
        key_delay: Duration::ZERO,
        max_call: Duration::from_millis(800),
        mixer: None,
    }
}

/// Three calls: every call hears audio, sends its keys when told, and
/// is hung up at `max_call`.
#[test]
fn calls_hear_the_far_end_key_when_told_and_hang_up() {
    let started: Vec<String> = (0..3)
        .map(|i| format!("rl-{}-{i}@127.0.0.1", std::process::id()))
        .collect();
    let (outcome, answered) = against_callee(config(3), &started);
    assert_eq!(answered, 3);
    assert_eq!(
        (outcome.placed, outcome.established, outcome.failed),
        (3, 3, 0)
    );
    assert_eq!(
        (outcome.own_byes, outcome.server_byes, outcome.keyed),
        (3, 0, 3)
    );
    assert!(outcome.packets_sent > 0 && outcome.packets_received > 0);
    assert_eq!(outcome.calls.len(), 3);
    for (id, call) in &outcome.calls {
        assert!(call.first_audio.is_some(), "{id} heard nothing");
        assert!(call.last_key_end.is_some(), "{id} sent no keys");
    }
    assert!(outcome.hearing.is_none());
}

/// The mixer mode: the window opens after the warm-up, every call is
/// measured and hung up at its end (not at `max_call`), and each heard
/// the callee's audio (no room tone: 1300 Hz is none of them).
#[test]
fn mixer_calls_are_measured_over_the_window_then_hung_up() {
    let mut config = config(4);
    config.max_call = Duration::from_millis(10);
    config.mixer = Some(MixerCalls {
        layout: RoomLayout {
            rooms: 2,
            size: 2,
            speakers: 1,
        },
        warmup: Duration::from_millis(100),
        hold: Duration::from_millis(500),
        max_mixed: 3,
        hangup_rate: Some(1000.0),
    });
    let (outcome, answered) = against_callee(config, &[]);
    assert_eq!((answered, outcome.established, outcome.own_byes), (4, 4, 4));
    assert_eq!((outcome.byes_answered, outcome.byes_unanswered), (4, 0));
    let hearing = outcome.hearing.expect("a window");
    assert_eq!(hearing.calls, 4);
    assert!(hearing.window.packets > 0 && hearing.pacing.count() > 0);
    assert_eq!((hearing.silent, hearing.self_heard), (0, 0));
    // The callee's tone is loud, but no room's: every call hears, none a tone.
    assert_eq!(hearing.hearing, 4);
    assert_eq!(hearing.tones_heard.get(&0), Some(&4));
    assert_eq!((hearing.should_hear, hearing.deaf), (2, 0));
}

#[test]
fn the_call_index_comes_back_from_the_call_id() {
    assert_eq!(call_index("rl-4242-17@127.0.0.1"), Some(17));
    assert_eq!(call_index(" rl-1-0@h "), Some(0));
    assert_eq!(call_index("rl-1-x@h"), None);
    assert_eq!(call_index("abc@h"), None);
    assert_eq!(call_index("rl-17"), None);
}
