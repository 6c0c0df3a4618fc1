//! The RTP load tool against itself (`--direct`): the caller side calls the
//! callee side without a server, over 127.0.0.1.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use testkit::load::{run, LoadConfig, Progress};
use testkit::SipUa;

#[test]
fn direct_calls_all_set_up_without_loss_and_with_the_right_tones() {
    let config = LoadConfig {
        calls: 20,
        direct: true,
        rate: Some(100.0),
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(500),
        ..LoadConfig::default()
    };
    let marks = Mutex::new(Vec::new());
    let started = Instant::now();
    let report = run(&config, &|p: &Progress| {
        if matches!(p, Progress::MeasureStart | Progress::MeasureEnd) {
            marks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p.clone());
        }
    })
    .expect("the load runs");
    assert!(started.elapsed() < Duration::from_secs(10), "{report}");
    assert_eq!(
        marks.into_inner().unwrap_or_else(|e| e.into_inner()),
        [Progress::MeasureStart, Progress::MeasureEnd]
    );
    assert_eq!(report.caller.established, 20, "{report}");
    assert_eq!(report.failed(), 0, "{report}");
    assert_eq!(report.callee.answered, 20, "{report}");
    assert_eq!(report.caller.bye_ok, 20, "{report}");
    assert_eq!(report.streams, 40, "{report}");
    assert_eq!(report.silent, 0, "{report}");
    assert_eq!(report.wrong_tone, 0, "{report}");
    let w = report.window_counts;
    assert_eq!((w.lost(), w.duplicates), (0, 0), "{report}");
    assert_eq!(report.all_counts.lost(), 0, "{report}");
    // 40 streams over a window of about 1.5 s: some 3,000 packets (fewer
    // only if a loaded machine made the sender skip ticks).
    assert!(w.packets > 1000, "{report}");
    assert!(
        report.window.is_some_and(|d| d > Duration::from_secs(1)),
        "{report}"
    );
    assert!(report.pacing_samples > 1000, "{report}");
    assert!(report.passed(), "{report}");
    let line = report.result_line();
    assert!(
        line.starts_with("RESULT calls=20 established=20 failed=0 "),
        "{line}"
    );
    assert!(
        line.contains(" lost=0 ") && line.contains(" wrong_tone=0 "),
        "{line}"
    );
}

#[test]
fn settings_without_a_measurement_window_are_refused() {
    let config = LoadConfig {
        calls: 10,
        direct: true,
        rate: Some(1.0),
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        ..LoadConfig::default()
    };
    let err = run(&config, &|_| {}).expect_err("a 9 s ramp leaves no window in a 5 s hold");
    assert!(err.to_string().contains("ramp"), "{err}");
}

#[test]
fn tones_too_close_to_tell_apart_are_refused() {
    let config = LoadConfig {
        calls: 1,
        direct: true,
        caller_hz: 1000,
        callee_hz: 1000,
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(100),
        ..LoadConfig::default()
    };
    assert!(config.validate().is_err());
}

#[test]
fn calls_the_server_refuses_are_reported_as_failed() {
    // A stand-in "server" that answers every INVITE 480, as Switchboard
    // does for SIP destinations while bridging is unavailable.
    let server = SipUa::bind();
    let calls = 5;
    let config = LoadConfig {
        calls,
        server: server.local_addr(),
        rate: Some(50.0),
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(200),
        ..LoadConfig::default()
    };
    let refuser = std::thread::spawn(move || {
        let mut refused = 0;
        while refused < calls {
            let Some(mut call) = server.wait_incoming(Duration::from_secs(5)) else {
                break;
            };
            if call.reject(480).is_ok() {
                refused += 1;
            }
        }
        refused
    });
    let report = run(&config, &|_| {}).expect("the load runs");
    assert_eq!(refuser.join().expect("refuser thread"), calls);
    assert_eq!(report.caller.established, 0, "{report}");
    assert_eq!(report.failed(), calls, "{report}");
    assert_eq!(report.caller.failures.get(&480), Some(&calls), "{report}");
    assert_eq!(report.streams, 0, "{report}");
    assert!(!report.passed(), "{report}");
    assert!(
        report.result_line().contains(" established=0 failed=5 "),
        "{}",
        report.result_line()
    );
}
