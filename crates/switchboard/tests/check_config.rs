//! `switchboard check-config FILE`: exit 0 for a valid file, exit 1 with
//! file:line:column errors otherwise. Runs the real binary.

use std::path::Path;
use std::process::Command;

fn check(yaml: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("check-config")
        .arg(&path)
        .env_remove("SWITCHBOARD_SIP_BIND")
        .output()
        .expect("run switchboard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shipped_config_checks_ok() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../switchboard.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("check-config")
        .arg(&shipped)
        .output()
        .expect("run switchboard");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn typo_is_reported_with_line_and_column() {
    let (code, _, stderr) = check(
        "transports:\n  udp: { transport: udp, bind: 127.0.0.1, port: 5060 }\n\
         endpoints:\n  myagent:\n    match: { type: agent }\n    rout: default\n",
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("config.yaml:6:5"), "{stderr}");
    assert!(stderr.contains("rout"), "{stderr}");
}

#[test]
fn semantic_errors_are_all_reported() {
    let (code, _, stderr) = check(
        "endpoints:\n  local: { match: { type: ip, values: [\"10.0.0.0/33\"] } }\n\
         routes:\n  default:\n    - { id: \"1\", endpoint: carier }\n    - { id: \"2\", hangup: { code: 99 } }\n",
    );
    assert_eq!(code, 1, "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("config.yaml:"))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    assert!(stderr.contains("carier"), "{stderr}");
}

#[test]
fn running_with_a_bad_config_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "nonsense_key: 1\n").expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run switchboard");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml:1:1"));
}
