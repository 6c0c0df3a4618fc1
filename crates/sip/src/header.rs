//! Header storage.
//!
//! Headers are kept as written: name spelling, order and value text survive a
//! parse/serialize round trip, which is what a B2BUA that passes unknown
//! headers through needs. Lookup is case-insensitive and understands the
//! compact forms (`v`, `f`, `t`, `i`, `m`, `l`, `c`, `k`, …); typed views of
//! the headers the stack needs live in [`crate::headers`] and parse on demand.

use std::fmt;

/// The headers Switchboard looks at by name, with their compact forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    /// `Via` / `v`.
    Via,
    /// `From` / `f`.
    From,
    /// `To` / `t`.
    To,
    /// `Call-ID` / `i`.
    CallId,
    /// `CSeq`.
    CSeq,
    /// `Contact` / `m`.
    Contact,
    /// `Max-Forwards`.
    MaxForwards,
    /// `Route`.
    Route,
    /// `Record-Route`.
    RecordRoute,
    /// `Content-Type` / `c`.
    ContentType,
    /// `Content-Length` / `l`.
    ContentLength,
    /// `Content-Encoding` / `e`.
    ContentEncoding,
    /// `Allow`.
    Allow,
    /// `Accept`.
    Accept,
    /// `Supported` / `k`.
    Supported,
    /// `Require`.
    Require,
    /// `Unsupported`.
    Unsupported,
    /// `Proxy-Require`.
    ProxyRequire,
    /// `Expires`.
    Expires,
    /// `Authorization`.
    Authorization,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Reason`.
    Reason,
    /// `Subject` / `s`.
    Subject,
    /// `Event` / `o`.
    Event,
    /// `Refer-To` / `r`.
    ReferTo,
    /// `Session-Expires` / `x`.
    SessionExpires,
    /// `User-Agent`.
    UserAgent,
    /// `Server`.
    Server,
    /// `Retry-After`.
    RetryAfter,
    /// `Timestamp`.
    Timestamp,
}

impl HeaderName {
    /// Every known header, in declaration order.
    pub const ALL: [HeaderName; 32] = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::Contact,
        HeaderName::MaxForwards,
        HeaderName::Route,
        HeaderName::RecordRoute,
        HeaderName::ContentType,
        HeaderName::ContentLength,
        HeaderName::ContentEncoding,
        HeaderName::Allow,
        HeaderName::Accept,
        HeaderName::Supported,
        HeaderName::Require,
        HeaderName::Unsupported,
        HeaderName::ProxyRequire,
        HeaderName::Expires,
        HeaderName::Authorization,
        HeaderName::WwwAuthenticate,
        HeaderName::ProxyAuthorization,
        HeaderName::ProxyAuthenticate,
        HeaderName::Reason,
        HeaderName::Subject,
        HeaderName::Event,
        HeaderName::ReferTo,
        HeaderName::SessionExpires,
        HeaderName::UserAgent,
        HeaderName::Server,
        HeaderName::RetryAfter,
        HeaderName::Timestamp,
    ];

    /// The known header a name as written (any case, long or compact) refers to.
    pub fn from_name(written: &str) -> Option<HeaderName> {
        // Parsing looks up every header of every message: index by length
        // (or by letter, for compact forms) and compare at most five names.
        if let [letter] = written.as_bytes() {
            let index = letter.to_ascii_lowercase().checked_sub(b'a')?;
            return BY_COMPACT_LETTER.get(usize::from(index)).copied().flatten();
        }
        BY_LENGTH
            .get(written.len())?
            .iter()
            .map_while(|h| *h)
            // Most peers write the canonical spelling: try a plain comparison first.
            .find(|h| written == h.as_str() || written.eq_ignore_ascii_case(h.as_str()))
    }

    /// The canonical spelling used when Switchboard writes the header.
    #[inline]
    pub const fn as_str(self) -> &'static str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::Contact => "Contact",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::Route => "Route",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ContentType => "Content-Type",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::Allow => "Allow",
            HeaderName::Accept => "Accept",
            HeaderName::Supported => "Supported",
            HeaderName::Require => "Require",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::Expires => "Expires",
            HeaderName::Authorization => "Authorization",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::Reason => "Reason",
            HeaderName::Subject => "Subject",
            HeaderName::Event => "Event",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Server => "Server",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Timestamp => "Timestamp",
        }
    }

    /// The single-letter compact form (RFC 3261 §7.3.3 and extensions), if any.
    #[inline]
    pub const fn compact(self) -> Option<&'static str> {
        Some(match self {
            HeaderName::Via => "v",
            HeaderName::From => "f",
            HeaderName::To => "t",
            HeaderName::CallId => "i",
            HeaderName::Contact => "m",
            HeaderName::ContentType => "c",
            HeaderName::ContentLength => "l",
            HeaderName::ContentEncoding => "e",
            HeaderName::Supported => "k",
            HeaderName::Subject => "s",
            HeaderName::Event => "o",
            HeaderName::ReferTo => "r",
            HeaderName::SessionExpires => "x",
            _ => return None,
        })
    }

    /// Whether a header name as written (any case, long or compact) names this header.
    #[inline]
    pub fn matches(self, written: &str) -> bool {
        if written.len() == 1 {
            return self
                .compact()
                .is_some_and(|c| written.eq_ignore_ascii_case(c));
        }
        written.eq_ignore_ascii_case(self.as_str())
    }

    /// Whether RFC 3261 §7.3.1 allows several values of this header joined by commas.
    /// Authorization-family headers carry commas inside one value and are not lists.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Allow
                | HeaderName::Accept
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::Unsupported
                | HeaderName::ProxyRequire
                | HeaderName::ContentEncoding
                | HeaderName::Reason
        )
    }
}

/// Known headers by the length of their long name, [`HeaderName::ALL`] order.
/// No length is shared by more than five names (checked when compiling).
static BY_LENGTH: [[Option<HeaderName>; 5]; 20] = {
    let mut table = [[None; 5]; 20];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        let name = HeaderName::ALL[i];
        let row = &mut table[name.as_str().len()];
        let mut slot = 0;
        while row[slot].is_some() {
            slot += 1;
        }
        row[slot] = Some(name);
        i += 1;
    }
    table
};

/// Known headers by compact form, `a` to `z`.
static BY_COMPACT_LETTER: [Option<HeaderName>; 26] = {
    let mut table = [None; 26];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        let name = HeaderName::ALL[i];
        if let Some(compact) = name.compact() {
            table[(compact.as_bytes()[0] - b'a') as usize] = Some(name);
        }
        i += 1;
    }
    table
};

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header line: the name as written and the value with folding removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Name exactly as it appeared (or as Switchboard wrote it).
    pub name: String,
    /// Value with leading/trailing whitespace trimmed and folded lines joined by one space.
    pub value: String,
}

impl Header {
    /// A header line from a name and value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Whether this line is an instance of the named header.
    pub fn is(&self, name: HeaderName) -> bool {
        name.matches(&self.name)
    }
}

/// All header lines of a message, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// Appends a header line.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Header::new(name, value));
    }

    /// Appends a known header under its canonical name.
    pub fn push_known(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(Header::new(name.as_str(), value));
    }

    /// Inserts a known header before all others (a new top Via, for example).
    pub fn prepend_known(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.insert(0, Header::new(name.as_str(), value));
    }

    /// The first value of a known header.
    pub fn get(&self, name: HeaderName) -> Option<&str> {
        self.0.iter().find(|h| h.is(name)).map(|h| h.value.as_str())
    }

    /// The first value of a header by any name (case-insensitive, no compact mapping).
    pub fn get_by_name(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every line of a known header, in order (each may still hold a comma list).
    pub fn get_all(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |h| h.is(name))
            .map(|h| h.value.as_str())
    }

    /// Removes every line of a known header.
    pub fn remove(&mut self, name: HeaderName) {
        self.0.retain(|h| !h.is(name));
    }

    /// Replaces every line of a known header with one line holding `value`,
    /// at the position of the first removed line (or at the end).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let pos = self.0.iter().position(|h| h.is(name));
        self.remove(name);
        let header = Header::new(name.as_str(), value);
        match pos {
            Some(p) if p <= self.0.len() => self.0.insert(p, header),
            _ => self.0.push(header),
        }
    }

    /// Iterates over all lines in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no header lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_tables_agree_with_the_name_list() {
        let by_scan = |w: &str| HeaderName::ALL.into_iter().find(|h| h.matches(w));
        let mut written: Vec<String> =
            vec![String::new(), "X-Unknown".into(), "Date".into(), "é".into()];
        for b in 0..=127u8 {
            written.push(char::from(b).to_string());
        }
        for name in HeaderName::ALL {
            let long = name.as_str();
            written.extend([long.to_string(), long.to_uppercase(), long.to_lowercase()]);
            written.push(long[..long.len() - 1].to_string());
            written.push(format!("{long}x"));
        }
        for w in &written {
            assert_eq!(HeaderName::from_name(w), by_scan(w), "{w:?}");
        }
    }
}
