//! Typed views of the headers a B2BUA needs.
//!
//! Each type parses from one header value (or one element of a comma list)
//! and displays back to wire form. Parsing is on demand from [`crate::Headers`],
//! so unknown and untouched headers cost nothing and survive unchanged.

use std::fmt;

use crate::method::Method;
use crate::params::Params;
use crate::uri::{Host, Uri};

/// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub const BRANCH_MAGIC: &str = "z9hG4bK";

/// One Via entry (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `WS`, …).
    pub transport: String,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, when written.
    pub port: Option<u16>,
    /// Via parameters (`branch`, `received`, `rport`, `maddr`, `ttl`, …).
    pub params: Params,
}

impl Via {
    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// Whether the branch carries the RFC 3261 magic cookie; if not, the
    /// RFC 2543 matching rules apply (§17.2.3).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(BRANCH_MAGIC))
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }

    /// `Some(None)` when `rport` is present without value (a request asking
    /// for RFC 3581 symmetric response routing), `Some(Some(port))` once filled.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// `name-addr` or `addr-spec` with header parameters: From, To, Contact,
/// Route, Record-Route, Refer-To (RFC 3261 §20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name as written (quotes kept when it was quoted).
    pub display_name: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (after `>`, or after the URI when there were no brackets).
    pub params: Params,
}

impl NameAddr {
    /// A bare `<uri>` with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display_name: None,
            uri,
            params: Params::default(),
        }
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always bracket: an addr-spec with URI parameters is ambiguous otherwise.
        if let Some(name) = &self.display_name {
            write!(f, "{name} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// The CSeq header (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (RFC 3261 limits it to 2^31-1).
    pub seq: u32,
    /// The method it counts.
    pub method: Method,
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// The value of the Contact header(s): either `*` (remove all bindings,
/// RFC 3261 §10.2.2) or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *`.
    Star,
    /// Zero or more addresses, in order (empty when there is no Contact header).
    List(Vec<NameAddr>),
}

impl Contacts {
    /// Whether this is the `*` form.
    pub fn is_star(&self) -> bool {
        matches!(self, Contacts::Star)
    }

    /// The addresses (none for `*`).
    pub fn addresses(&self) -> &[NameAddr] {
        match self {
            Contacts::Star => &[],
            Contacts::List(list) => list,
        }
    }
}

impl fmt::Display for Contacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contacts::Star => f.write_str("*"),
            Contacts::List(list) => {
                for (i, addr) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{addr}")?;
                }
                Ok(())
            }
        }
    }
}

/// One Reason header entry (RFC 3326): `SIP ;cause=200 ;text="Call completed elsewhere"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The protocol token (`SIP`, `Q.850`, …).
    pub protocol: String,
    /// Parameters (`cause`, `text`, …); `text` keeps its quotes.
    pub params: Params,
}

impl Reason {
    /// The `cause` parameter as a number.
    pub fn cause(&self) -> Option<u16> {
        self.params.value("cause").and_then(|c| c.parse().ok())
    }

    /// The `text` parameter, unquoted.
    pub fn text(&self) -> Option<String> {
        self.params.value("text").map(crate::parser::unquote)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.protocol, self.params)
    }
}
