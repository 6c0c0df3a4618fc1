//! Unit tests of the record component's pieces that need no call.

use super::*;

fn options(direction: RecordDirection, mix: bool) -> Record {
    Record {
        format: RecordFormat::Wav,
        direction,
        mix,
        start_beep: false,
        stop_beep: false,
        start_paused: false,
        max_duration: None,
        initial_timeout: None,
        final_timeout: None,
    }
}

#[test]
fn directions_and_mix_choose_the_layout() {
    use RecordDirection::*;
    assert_eq!(layout(&options(Send, false)), Layout::Mono(Channel::Left));
    assert_eq!(layout(&options(Recv, true)), Layout::Mono(Channel::Right));
    assert_eq!(layout(&options(Duplex, false)), Layout::Stereo);
    assert_eq!(layout(&options(Duplex, true)), Layout::Mix);
}

#[test]
fn names_are_safe_and_unique() {
    assert_eq!(file_stem("a1b2@host.example"), "a1b2_host_example");
    assert_eq!(file_stem("../../etc/passwd"), "______etc_passwd");
    assert_eq!(file_stem(""), "call");
    assert_eq!(file_stem(&"x".repeat(200)).len(), 80);
    let dir = tempfile::tempdir().expect("temp dir");
    let now = Instant::now();
    std::fs::write(dir.path().join("c-1.wav"), b"taken").expect("write");
    let (_first, name, n) = open_recording(dir.path(), "c", 0, Layout::Stereo, now).expect("open");
    assert_eq!((name.as_str(), n), ("c-2.wav", 2));
    let (_second, name, n) = open_recording(dir.path(), "c", n, Layout::Mix, now).expect("open");
    assert_eq!((name.as_str(), n), ("c-3.wav", 3));
    let missing = dir.path().join("file-not-dir");
    std::fs::write(&missing, b"").expect("write");
    assert!(matches!(
        open_recording(&missing, "c", 0, Layout::Stereo, now),
        Err(Failure::Internal(_))
    ));
}

#[test]
fn a_report_matches_the_file_even_after_finish_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("r.wav");
    std::fs::write(&path, vec![0u8; 44 + 2 * 8000]).expect("write");
    let gone = Err(io::Error::new(
        io::ErrorKind::NotFound,
        "finished by finish_all",
    ));
    let Ok(Output::Recording(r)) =
        report(gone, RecordEnd::Hangup, "r.wav".into(), &path, Layout::Mix)
    else {
        panic!("a recording");
    };
    assert_eq!((r.duration, r.size), (Duration::from_secs(1), 44 + 16_000));
    let failed = Err(io::Error::other("disk full"));
    assert!(report(
        failed,
        RecordEnd::Stopped,
        "r.wav".into(),
        &path,
        Layout::Mix
    )
    .is_err());
    assert_eq!(beep(G711::Pcmu).len(), 13, "250 ms in 20 ms frames, padded");
}
