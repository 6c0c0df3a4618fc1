//! Call detail records in the default SQLite store, end to end: the real
//! binary, a testkit caller and agent, records read back by
//! `switchboard cdr` and the operator API (see `cdr_common`).

mod cdr_common;

use std::process::Command;

#[test]
fn sqlite_records_answered_refused_and_shutdown_calls() {
    let (server, config) = cdr_common::run("");
    // The default store: cdr.sqlite beside the config file, in WAL mode.
    let file = server.dir().join("cdr.sqlite");
    assert!(file.exists(), "{}", server.log());
    // A limit and a window read through the same path.
    let text = cdr_common::cdr_command(&config, &["--limit", "1"]);
    let one: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON");
    assert_eq!(one.len(), 1);
    let text = cdr_common::cdr_command(&config, &["--until", "1970-01-02T00:00:00Z"]);
    assert_eq!(text.trim(), "[]");
}

#[test]
fn bad_cdr_arguments_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(&config, "cdr: { sqlite: records.db }\n").expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&config)
        .args(["cdr", "--since", "last tuesday"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("since:"), "{err}");
    // No store yet: an error, and no empty file created by reading.
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&config)
        .arg("cdr")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.path().join("records.db").exists());
}
