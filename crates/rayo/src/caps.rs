//! XEP-0115 entity capabilities: the `<c>` an offer (and later a mixer's
//! first presence) carries, with the verification string computed from
//! the disco identity and features the entity answers `disco#info` with.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use xmpp::Element;

use crate::ns;

/// A XEP-0030 identity (`<identity category type xml:lang name/>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// `category` (`client`).
    pub category: &'a str,
    /// `type` (`rayo_call`).
    pub kind: &'a str,
    /// `xml:lang`, empty when absent.
    pub lang: &'a str,
    /// `name`, empty when absent.
    pub name: &'a str,
}

/// A call's disco identity, as mod_rayo announces it (RAYO.md §1.5).
pub const CALL_IDENTITY: Identity<'static> = Identity {
    category: "client",
    kind: "rayo_call",
    lang: "",
    name: "",
};

/// A mixer's disco identity, as mod_rayo announces it.
pub const MIXER_IDENTITY: Identity<'static> = Identity {
    category: "client",
    kind: "rayo_mixer",
    lang: "",
    name: "",
};

/// Features a call or mixer answers `disco#info` with: none beyond the
/// identity, as in mod_rayo (clients do not query them).
pub const ENTITY_FEATURES: [&str; 0] = [];

/// The XEP-0115 §5.1 verification string: base64 of the SHA-1 of the
/// sorted identities (`category/type/lang/name<`) then the sorted
/// features (`feature<`). No data forms: Rayo entities publish none.
pub fn caps_ver(identities: &[Identity<'_>], features: &[&str]) -> String {
    let mut identities = identities.to_vec();
    identities.sort_by(|a, b| (a.category, a.kind, a.lang).cmp(&(b.category, b.kind, b.lang)));
    let mut features = features.to_vec();
    features.sort_unstable();
    let mut s = String::new();
    for i in &identities {
        s.push_str(&format!("{}/{}/{}/{}<", i.category, i.kind, i.lang, i.name));
    }
    for f in &features {
        s.push_str(f);
        s.push('<');
    }
    base64::engine::general_purpose::STANDARD.encode(Sha1::digest(s.as_bytes()))
}

/// `<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node ver/>`.
pub fn caps_element(node: &str, ver: &str) -> Element {
    Element::new("c", ns::CAPS)
        .attr("hash", "sha-1")
        .attr("node", node)
        .attr("ver", ver)
}

/// The `<c>` on an offer: node `urn:xmpp:rayo:call:1`, [`CALL_IDENTITY`].
pub fn call_caps() -> Element {
    caps_element(
        ns::CALL_CAPS_NODE,
        &caps_ver(&[CALL_IDENTITY], &ENTITY_FEATURES),
    )
}

/// The `<c>` on a mixer's first presence: node `urn:xmpp:rayo:mixer:1`.
pub fn mixer_caps() -> Element {
    caps_element(
        ns::MIXER_CAPS_NODE,
        &caps_ver(&[MIXER_IDENTITY], &ENTITY_FEATURES),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xep_0115_simple_example() {
        let ver = caps_ver(
            &[Identity {
                category: "client",
                kind: "pc",
                lang: "",
                name: "Exodus 0.9.1",
            }],
            &[
                "http://jabber.org/protocol/muc",
                "http://jabber.org/protocol/disco#info",
                "http://jabber.org/protocol/caps",
                "http://jabber.org/protocol/disco#items",
            ],
        );
        assert_eq!(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
    }

    #[test]
    fn call_caps_is_well_formed() {
        let c = call_caps();
        assert_eq!(c.get_attr("node"), Some("urn:xmpp:rayo:call:1"));
        assert_eq!(c.get_attr("hash"), Some("sha-1"));
        let ver = c.get_attr("ver").unwrap();
        assert_eq!(ver.len(), 28, "{ver}");
        assert!(ver.ends_with('='));
        assert_ne!(ver, mixer_caps().get_attr("ver").unwrap());
    }
}
