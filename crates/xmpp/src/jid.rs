//! JIDs (`node@domain/resource`, RFC 7622), kept simple on purpose.
//!
//! We do not run the full PRECIS profiles: the domain is lowercased (it is
//! what routing compares), the node and resource are kept as written, and
//! what would make a JID ambiguous or unsafe is refused: empty parts,
//! control characters, whitespace in the node or domain, parts over 1023
//! bytes, and the separators `@` `/` in the wrong place.

use std::fmt;
use std::str::FromStr;

/// The longest a node, domain or resource may be, in bytes (RFC 7622 §3).
pub const MAX_PART_BYTES: usize = 1023;

/// Why a string is not a JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    /// A part is present but empty (`@d`, `n@`, `d/`).
    #[error("empty {0} in JID")]
    EmptyPart(&'static str),
    /// A part is longer than [`MAX_PART_BYTES`].
    #[error("{0} longer than 1023 bytes")]
    TooLong(&'static str),
    /// A control character, or a character the part may not hold.
    #[error("forbidden character in {0}")]
    Forbidden(&'static str),
    /// A full JID was needed but there is no resource.
    #[error("JID has no resource")]
    NoResource,
}

/// A JID, bare (`node@domain`, `domain`) or full (with a resource).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    node: Option<String>,
    domain: String,
    resource: Option<String>,
}

impl Jid {
    /// Parses `[node@]domain[/resource]`.
    pub fn parse(text: &str) -> Result<Jid, JidError> {
        let (rest, resource) = match text.split_once('/') {
            Some((rest, resource)) => (rest, Some(resource)),
            None => (text, None),
        };
        let (node, domain) = match rest.split_once('@') {
            Some((node, domain)) => (Some(node), domain),
            None => (None, rest),
        };
        if let Some(node) = node {
            check_part(node, "node", |c| {
                c.is_whitespace() || matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@')
            })?;
        }
        check_part(domain, "domain", |c| c.is_whitespace() || c == '@')?;
        if let Some(resource) = resource {
            check_part(resource, "resource", |_| false)?;
        }
        Ok(Jid {
            node: node.map(str::to_owned),
            domain: domain.to_lowercase(),
            resource: resource.map(str::to_owned),
        })
    }

    /// Builds a bare JID from its parts, checking them.
    pub fn bare(node: Option<&str>, domain: &str) -> Result<Jid, JidError> {
        match node {
            Some(node) => Jid::parse(&format!("{node}@{domain}")),
            None => Jid::parse(domain),
        }
    }

    /// The local part, if any.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The domain, lowercased.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The resource, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// Whether this JID has no resource.
    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    /// This JID without its resource.
    pub fn to_bare(&self) -> Jid {
        Jid {
            node: self.node.clone(),
            domain: self.domain.clone(),
            resource: None,
        }
    }

    /// This JID with `resource` (checked) in place of its own.
    pub fn with_resource(&self, resource: &str) -> Result<FullJid, JidError> {
        check_part(resource, "resource", |_| false)?;
        Ok(FullJid(Jid {
            resource: Some(resource.to_owned()),
            ..self.to_bare()
        }))
    }
}

fn check_part(
    part: &str,
    what: &'static str,
    forbidden: impl Fn(char) -> bool,
) -> Result<(), JidError> {
    if part.is_empty() {
        return Err(JidError::EmptyPart(what));
    }
    if part.len() > MAX_PART_BYTES {
        return Err(JidError::TooLong(what));
    }
    if part.chars().any(|c| c.is_control() || forbidden(c)) {
        return Err(JidError::Forbidden(what));
    }
    Ok(())
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(node) = &self.node {
            write!(f, "{node}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(resource) = &self.resource {
            write!(f, "/{resource}")?;
        }
        Ok(())
    }
}

impl FromStr for Jid {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }
}

/// A JID that has a resource: what a bound client session is known by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FullJid(Jid);

impl FullJid {
    /// Parses a JID that must carry a resource.
    pub fn parse(text: &str) -> Result<FullJid, JidError> {
        let jid = Jid::parse(text)?;
        if jid.resource.is_none() {
            return Err(JidError::NoResource);
        }
        Ok(FullJid(jid))
    }

    /// The local part, if any.
    pub fn node(&self) -> Option<&str> {
        self.0.node()
    }

    /// The domain, lowercased.
    pub fn domain(&self) -> &str {
        self.0.domain()
    }

    /// The resource (always present).
    pub fn resource(&self) -> &str {
        self.0.resource().unwrap_or_default()
    }

    /// The bare JID (`node@domain`).
    pub fn to_bare(&self) -> Jid {
        self.0.to_bare()
    }

    /// As a general [`Jid`].
    pub fn as_jid(&self) -> &Jid {
        &self.0
    }
}

impl fmt::Display for FullJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for FullJid {
    type Err = JidError;
    fn from_str(s: &str) -> Result<FullJid, JidError> {
        FullJid::parse(s)
    }
}

impl From<FullJid> for Jid {
    fn from(full: FullJid) -> Jid {
        full.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_the_three_shapes() {
        let full = Jid::parse("usera@Rayo.Test/host-1/x").expect("valid");
        assert_eq!(full.node(), Some("usera"));
        assert_eq!(full.domain(), "rayo.test");
        assert_eq!(full.resource(), Some("host-1/x"));
        assert_eq!(full.to_string(), "usera@rayo.test/host-1/x");
        assert_eq!(full.to_bare().to_string(), "usera@rayo.test");
        let domain = Jid::parse("rayo.test").expect("valid");
        assert!(domain.is_bare() && domain.node().is_none());
        assert_eq!(
            Jid::parse("rayo.test/r").map(|j| j.to_string()),
            Ok("rayo.test/r".into())
        );
    }

    #[test]
    fn refuses_empty_long_and_control() {
        assert_eq!(Jid::parse("@d"), Err(JidError::EmptyPart("node")));
        assert_eq!(Jid::parse("n@"), Err(JidError::EmptyPart("domain")));
        assert_eq!(Jid::parse("n@d/"), Err(JidError::EmptyPart("resource")));
        assert_eq!(Jid::parse(""), Err(JidError::EmptyPart("domain")));
        assert_eq!(Jid::parse("a b@d"), Err(JidError::Forbidden("node")));
        assert_eq!(
            Jid::parse("n@d/\u{7}"),
            Err(JidError::Forbidden("resource"))
        );
        assert_eq!(Jid::parse("a@b@c"), Err(JidError::Forbidden("domain")));
        let long = "x".repeat(1024);
        assert_eq!(Jid::parse(&long), Err(JidError::TooLong("domain")));
        assert!(Jid::parse(&"x".repeat(1023)).is_ok());
    }

    #[test]
    fn full_jid_needs_a_resource() {
        assert_eq!(FullJid::parse("u@d"), Err(JidError::NoResource));
        let full = FullJid::parse("u@d/r").expect("valid");
        assert_eq!(full.resource(), "r");
        let again = full.to_bare().with_resource("s").expect("valid");
        assert_eq!(again.to_string(), "u@d/s");
    }
}
