#![allow(dead_code)] // each test binary uses part of it
//! Reading call records back with `switchboard cdr`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs `switchboard --config config cdr ARGS`: its stdout, asserting
/// success.
pub fn cdr_command(config: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(config)
        .arg("cdr")
        .args(args)
        .output()
        .expect("run switchboard cdr");
    assert!(
        output.status.success(),
        "switchboard cdr {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The records of the last hour, as `switchboard cdr --format json` prints
/// them.
pub fn records(config: &Path) -> Vec<Value> {
    let text = cdr_command(config, &["--format", "json", "--since", "1h"]);
    match serde_json::from_str(&text) {
        Ok(Value::Array(list)) => list,
        other => panic!("not a JSON array: {other:?}\n{text}"),
    }
}
