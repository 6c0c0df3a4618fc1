//! Tests of the `tts` section, the recording-URL keys of `http` and `log`.

use super::*;

fn rendered(yaml: &str) -> String {
    match Config::from_yaml(yaml, "t.yaml") {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(errors) => errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn defaults_speak_with_espeak_and_make_their_own_secret() {
    let config = Config::from_yaml("", "t.yaml").expect("valid");
    assert_eq!(config.tts, TtsConfig::default());
    assert_eq!(config.tts.engine, TtsEngine::EspeakNg);
    assert_eq!(config.tts.default_voice, "en-us");
    assert_eq!(config.http.secret, None);
    assert_eq!(config.http.recording_url_ttl_sec, 86_400);
    assert_eq!(config.http.public_url, None);
}

#[test]
fn every_key_parses() {
    let yaml = "tts:\n  engine: command\n  command: [/usr/bin/mytts, --voice, \"{voice}\", --out, \"{output}\", \"--rate={rate}\"]\n  voices: { Allison: en-us, peter: en-gb }\n  default_voice: allison\n  max_concurrent: 4\n  cache_entries: 10\n  timeout_ms: 2500\nhttp:\n  secret: 0123456789abcdef0123\n  recording_url_ttl_sec: 60\n  public_url: https://media.example.com/base\n";
    let config = Config::from_yaml(yaml, "t.yaml").expect("valid");
    let tts = &config.tts;
    assert_eq!(tts.engine, TtsEngine::Command);
    assert_eq!(tts.command.len(), 6);
    assert_eq!(tts.command[2], "{voice}");
    assert_eq!(
        tts.voices.get("allison").map(String::as_str),
        Some("en-us"),
        "names compare lowercased"
    );
    assert_eq!(tts.default_voice, "allison");
    assert_eq!(
        (tts.max_concurrent, tts.cache_entries, tts.timeout_ms),
        (4, 10, 2500)
    );
    assert_eq!(config.http.secret.as_deref(), Some("0123456789abcdef0123"));
    assert_eq!(config.http.recording_url_ttl_sec, 60);
    assert!(!format!("{:?}", config.http).contains("0123456789"));
}

#[test]
fn bad_values_are_reported_at_their_lines() {
    let errors = rendered(
        "tts:\n  engine: command\n  command: [mytts, \"{voise}\"]\n  voices:\n    allison: \"--evil\"\n  max_concurrent: 0\n  timeout_ms: 5\n",
    );
    assert!(
        errors.contains("t.yaml:3:") && errors.contains("tts.command[1]: unknown placeholder"),
        "{errors}"
    );
    assert!(
        errors.contains("t.yaml:5:") && errors.contains("tts.voices.allison"),
        "{errors}"
    );
    assert!(
        errors.contains("t.yaml:6:") && errors.contains("tts.max_concurrent: must be 1 to 64"),
        "{errors}"
    );
    assert!(
        errors.contains("t.yaml:7:") && errors.contains("tts.timeout_ms"),
        "{errors}"
    );
}

#[test]
fn engine_and_command_must_agree() {
    let errors = rendered("tts:\n  engine: command\n");
    assert!(errors.contains("t.yaml:2:") && errors.contains("needs a `command` list"));
    let errors = rendered("tts:\n  command: [x]\n");
    assert!(
        errors.contains("only used with `engine: command`"),
        "{errors}"
    );
    let errors = rendered("tts:\n  engine: festival\n");
    assert!(errors.contains("t.yaml:2:"), "{errors}");
    let errors = rendered("tts:\n  speed: 2\n");
    assert!(errors.contains("speed"), "{errors}");
}

#[test]
fn http_recording_keys_are_checked() {
    let errors =
        rendered("http:\n  secret: short\n  recording_url_ttl_sec: 0\n  public_url: ftp://x/?a\n");
    assert!(
        errors.contains("http.secret: must be at least 16"),
        "{errors}"
    );
    assert!(errors.contains("http.recording_url_ttl_sec"), "{errors}");
    assert!(errors.contains("http.public_url"), "{errors}");
    assert!(errors.contains("t.yaml:2:"), "{errors}");
}

#[test]
fn voice_names_cannot_be_options() {
    assert!(is_voice_name("en-us"));
    assert!(is_voice_name("mb-en1"));
    assert!(is_voice_name("en+f3"));
    assert!(!is_voice_name("-v"));
    assert!(!is_voice_name("en us"));
    assert!(!is_voice_name(""));
}

#[test]
fn the_log_section_takes_a_format_and_a_filter() {
    let config = Config::from_yaml("", "t.yaml").expect("valid");
    assert_eq!(config.log, LogConfig::default());
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(config.log.level, "info");
    let yaml = "log:\n  format: json\n  level: info,switchboard::rayo=debug\n";
    let config = Config::from_yaml(yaml, "t.yaml").expect("valid");
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level, "info,switchboard::rayo=debug");
    let errors = rendered("http:\n  listen: 127.0.0.1:0\nlog:\n  format: xml\n");
    assert!(errors.contains("t.yaml:4"), "{errors}");
    let errors = rendered("\nlog:\n  level: \"info,=[\"\n");
    assert!(errors.contains("t.yaml:3"), "{errors}");
    assert!(errors.contains("log.level"), "{errors}");
}
