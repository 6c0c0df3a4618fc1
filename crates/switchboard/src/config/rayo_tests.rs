//! Tests of the `rayo` section: keys, defaults, and the checks that point
//! at the line of the offending value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::*;

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/certs")
}

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
fn every_key_parses_and_defaults_hold() {
    let certs = certs();
    let yaml = format!(
        "routes:\n  out: []\nrayo:\n  domain: Rayo.Example\n  listen: 127.0.0.1:5223\n  users:\n    - {{ username: usera, password: \"1\" }}\n    - {{ username: userb, password: two }}\n  tls: {{ cert: {}, key: {} }}\n  allow_plain_without_tls: true\n  offer_policy: random\n  offer_timeout_ms: 1500\n  plain_presence_available: true\n  dialect: wiki\n  dial_route: out\n",
        certs.join("rayo-test.crt").display(),
        certs.join("rayo-test.key").display()
    );
    let rayo = Config::from_yaml(&yaml, "t.yaml")
        .expect("valid")
        .rayo
        .expect("rayo");
    assert_eq!(rayo.domain, "rayo.example", "domains compare lowercased");
    assert_eq!(
        rayo.listen,
        "127.0.0.1:5223".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(rayo.users.len(), 2);
    assert_eq!(
        (
            rayo.users[0].username.as_str(),
            rayo.users[0].password.as_str()
        ),
        ("usera", "1")
    );
    assert!(rayo.tls.is_some());
    assert!(rayo.allow_plain_without_tls && rayo.plain_presence_available);
    assert_eq!(rayo.offer_policy, OfferPolicy::Random);
    assert_eq!(rayo.offer_timeout_ms, 1500);
    assert_eq!(rayo.dialect, RayoDialect::Wiki);
    assert_eq!(rayo.dial_route, "out");
    assert!(
        !format!("{:?}", rayo.users[1]).contains("two"),
        "no password in Debug"
    );

    let rayo = Config::from_yaml("rayo: { domain: rayo.example }\n", "t.yaml")
        .expect("valid")
        .rayo
        .expect("rayo");
    assert_eq!(rayo.listen, SocketAddr::from(([127, 0, 0, 1], 5222)));
    assert!(rayo.users.is_empty() && rayo.tls.is_none());
    assert!(!rayo.allow_plain_without_tls && !rayo.plain_presence_available);
    assert_eq!(rayo.offer_policy, OfferPolicy::All);
    assert_eq!(rayo.offer_timeout_ms, 5000);
    assert_eq!(rayo.dialect, RayoDialect::Xep);
    assert_eq!(rayo.dial_route, "default");
}

#[test]
fn unknown_keys_and_values_are_errors_with_positions() {
    let text = rendered("rayo:\n  domain: r.example\n  offer_polcy: all\n");
    assert!(
        text.contains("t.yaml:3:") && text.contains("offer_polcy"),
        "{text}"
    );
    let text = rendered("rayo:\n  domain: r.example\n  offer_policy: sometimes\n");
    assert!(
        text.contains("t.yaml:3:") && text.contains("sometimes"),
        "{text}"
    );
    let text = rendered("rayo:\n  domain: r.example\n  dialect: old\n");
    assert!(text.contains("t.yaml:3:"), "{text}");
    let text = rendered(
        "rayo:\n  domain: r.example\n  users: [ { username: a, password: b, role: x } ]\n",
    );
    assert!(
        text.contains("t.yaml:3:") && text.contains("role"),
        "{text}"
    );
}

#[test]
fn users_timeouts_and_routes_are_checked_where_written() {
    let text = rendered(
        "routes:\n  default: []\nrayo:\n  domain: r.example\n  users:\n    - { username: usera, password: \"1\" }\n    - { username: \"a@b\", password: x }\n    - { username: usera, password: y }\n    - { username: userc, password: \"\" }\n  offer_timeout_ms: 0\n  dial_route: nowhere\n",
    );
    for expected in [
        "t.yaml:7:7: rayo.users[1]: username \"a@b\" cannot be the node of a JID",
        "t.yaml:8:7: rayo.users[2]: username \"usera\" is listed twice",
        "t.yaml:9:7: rayo.users[3]: password must not be empty",
        "t.yaml:10:21: rayo.offer_timeout_ms: must be at least 1",
        "t.yaml:11:15: rayo.dial_route: unknown route context \"nowhere\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let text = rendered("rayo: { domain: \"not a domain\" }\n");
    assert!(text.contains("t.yaml:1:17: rayo.domain"), "{text}");
}

#[test]
fn tls_files_are_loaded_and_errors_name_the_line() {
    let certs = certs();
    let crt = certs.join("rayo-test.crt");
    let key = certs.join("rayo-test.key");
    let text = rendered(&format!(
        "rayo:\n  domain: r.example\n  tls:\n    cert: /nonexistent/x.crt\n    key: {}\n",
        key.display()
    ));
    assert!(
        text.contains("t.yaml:4:11: rayo.tls.cert: certificate /nonexistent/x.crt:"),
        "{text}"
    );
    // A certificate where the key should be.
    let text = rendered(&format!(
        "rayo:\n  domain: r.example\n  tls:\n    cert: {}\n    key: {}\n",
        crt.display(),
        crt.display()
    ));
    assert!(text.contains("t.yaml:5:10: rayo.tls.key:"), "{text}");
    assert!(text.contains("no PEM private key"), "{text}");
}

#[test]
fn relative_tls_paths_are_taken_from_the_config_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = certs();
    std::fs::copy(certs.join("rayo-test.crt"), dir.path().join("c.pem")).expect("copy");
    std::fs::copy(certs.join("rayo-test.key"), dir.path().join("k.pem")).expect("copy");
    let path = dir.path().join("switchboard.yaml");
    std::fs::write(
        &path,
        "rayo:\n  domain: r.example\n  tls: { cert: c.pem, key: k.pem }\n",
    )
    .expect("write");
    let tls = Config::load(&path)
        .expect("valid")
        .rayo
        .and_then(|r| r.tls)
        .expect("tls");
    assert_eq!(tls.cert, dir.path().join("c.pem"));
    assert_eq!(tls.key, dir.path().join("k.pem"));
}

#[test]
fn rayo_endpoints_may_name_the_users_offered_their_calls() {
    let yaml = "endpoints:\n  app: { match: { type: rayo, users: [usera, userb] } }\n  all: { match: { type: rayo } }\n";
    let config = Config::from_yaml(yaml, "t.yaml").expect("valid");
    assert_eq!(
        config.endpoints["app"].rayo_users,
        Some(vec!["usera".to_owned(), "userb".to_owned()])
    );
    assert_eq!(config.endpoints["all"].rayo_users, None);
    let errors = rendered("endpoints:\n  bot: { match: { type: agent, users: [usera] } }\n");
    assert!(
        errors.contains("endpoints.bot.match.users")
            && errors.contains("only used with match type rayo"),
        "{errors}"
    );
    let errors = rendered("endpoints:\n  app: { match: { type: rayo, users: [] } }\n");
    assert!(errors.contains("endpoints.app.match.users"), "{errors}");
}
