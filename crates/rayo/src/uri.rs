//! Call JIDs and `xmpp:` URIs (RAYO.md §1.4): the call id is the JID's node,
//! a resource names a component, and a URI is `xmpp:` + the JID that sends
//! the entity's events, so that clients correlate by exact string.

use crate::error::CommandError;

/// Longest JID node we accept (RFC 7622 §3.3: 1023 bytes).
const MAX_NODE_BYTES: usize = 1023;

/// The bare call JID `<call_id>@<domain>`.
pub fn call_jid(call_id: &str, domain: &str) -> String {
    format!("{call_id}@{domain}")
}

/// A mixer's bare JID `<name>@<domain>`: the sender of its presences and
/// the address of IQs to it (no resource, RAYO.md §1.4).
pub fn mixer_jid(name: &str, domain: &str) -> String {
    format!("{name}@{domain}")
}

/// The call URI `xmpp:<call_id>@<domain>` (offer correlation, join targets).
pub fn call_uri(call_id: &str, domain: &str) -> String {
    format!("xmpp:{call_id}@{domain}")
}

/// A component's URI `xmpp:<call_id>@<domain>/<component_id>`, exactly the
/// JID its events will come from.
pub fn component_uri(call_id: &str, domain: &str, component_id: &str) -> String {
    format!("xmpp:{call_id}@{domain}/{component_id}")
}

/// Whether `node` can be a JID node (a call id, a mixer name): not empty,
/// at most 1023 bytes, none of RFC 7622's excluded characters
/// (`" & ' / : < > @`), no whitespace or control characters.
pub fn is_valid_node(node: &str) -> bool {
    !node.is_empty()
        && node.len() <= MAX_NODE_BYTES
        && !node.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@')
        })
}

/// The call id named by a `call-uri`, a `call-id`, or a dial `uri`:
/// `xmpp:<id>@<domain>`, `<id>@<domain>`, or a bare `<id>` (the legacy
/// `call-id` form, taken to be in our domain). A URI in another domain
/// (compared without case), with a resource, query or fragment, or an
/// invalid node is `bad-request`. Percent-escapes are not decoded: call
/// ids this server hands out never need them.
pub fn parse_call_ref(value: &str, domain: &str) -> Result<String, CommandError> {
    let jid = value.strip_prefix("xmpp:").unwrap_or(value);
    if jid.contains(['?', '#']) {
        return Err(CommandError::bad_request(format!(
            "'{value}' is not a call URI (query or fragment)"
        )));
    }
    let (node, rest) = match jid.split_once('@') {
        Some((node, rest)) => (node, Some(rest)),
        None => (jid, None),
    };
    if let Some(rest) = rest {
        let (host, resource) = match rest.split_once('/') {
            Some((host, resource)) => (host, Some(resource)),
            None => (rest, None),
        };
        if resource.is_some() {
            return Err(CommandError::bad_request(format!(
                "'{value}' names a component, not a call"
            )));
        }
        if !host.eq_ignore_ascii_case(domain) {
            return Err(CommandError::bad_request(format!(
                "'{value}' is not in domain {domain}"
            )));
        }
    }
    if !is_valid_node(node) {
        return Err(CommandError::bad_request(format!(
            "'{value}' has no valid call id"
        )));
    }
    Ok(node.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StanzaCondition;

    #[test]
    fn builds_jids_and_uris() {
        assert_eq!(call_jid("abc", "rayo.test"), "abc@rayo.test");
        assert_eq!(mixer_jid("conf1", "rayo.test"), "conf1@rayo.test");
        assert_eq!(call_uri("abc", "rayo.test"), "xmpp:abc@rayo.test");
        assert_eq!(
            component_uri("abc", "rayo.test", "output-1"),
            "xmpp:abc@rayo.test/output-1"
        );
    }

    #[test]
    fn parses_uri_jid_and_bare_id() {
        for value in [
            "xmpp:abc@rayo.test",
            "abc@rayo.test",
            "abc",
            "xmpp:abc@RAYO.test",
        ] {
            assert_eq!(
                parse_call_ref(value, "rayo.test"),
                Ok("abc".into()),
                "{value}"
            );
        }
    }

    #[test]
    fn refuses_other_domains_components_and_bad_nodes() {
        for value in [
            "xmpp:abc@other.test",
            "xmpp:abc@rayo.test/output-1",
            "xmpp:@rayo.test",
            "",
            "xmpp:",
            "a b",
            "xmpp:abc@rayo.test?join",
            "sip:abc@rayo.test",
            "a'b",
        ] {
            let error = parse_call_ref(value, "rayo.test").expect_err(value);
            assert_eq!(error.condition, StanzaCondition::BadRequest, "{value}");
        }
    }

    #[test]
    fn node_rules() {
        assert!(is_valid_node("9f00061"));
        assert!(is_valid_node("conf-1.room"));
        assert!(!is_valid_node(""));
        assert!(!is_valid_node(&"a".repeat(1024)));
        assert!(!is_valid_node("a\u{0}b"));
    }
}
