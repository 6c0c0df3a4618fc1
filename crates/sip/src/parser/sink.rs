//! Where the scanners put the repeated parts of a value.
//!
//! Every grammar in this crate is written once, as a scanner over `&str`
//! that returns the fixed parts of a value borrowed from its text (`ViaRef`,
//! `UriRef`, …) and hands the repeated parts (parameters, URI headers) to a
//! [`PartSink`]. The typed parsers (`Via::parse`, `Uri::parse`, …) pass a
//! [`Collect`] and build owned values from what it gathered; parse-time
//! validation passes [`Discard`] and allocates nothing. Both therefore accept
//! exactly the same language.

use crate::params::Params;

/// Receives the parameters and URI headers a scanner finds, in wire order.
pub(crate) trait PartSink<'a> {
    /// A URI parameter (`;name[=value]` inside a URI).
    fn uri_param(&mut self, name: &'a str, value: Option<&'a str>);
    /// A URI header (`?name=value` or `&name=value`).
    fn uri_header(&mut self, name: &'a str, value: &'a str);
    /// A header parameter (after a Via sent-by or a name-addr's URI).
    fn header_param(&mut self, name: &'a str, value: Option<&'a str>);
}

/// Drops every part: validation only.
pub(crate) struct Discard;

impl PartSink<'_> for Discard {
    fn uri_param(&mut self, _: &str, _: Option<&str>) {}
    fn uri_header(&mut self, _: &str, _: &str) {}
    fn header_param(&mut self, _: &str, _: Option<&str>) {}
}

/// Keeps every part, owned, for building a typed value.
#[derive(Default)]
pub(crate) struct Collect {
    /// URI parameters.
    pub uri_params: Params,
    /// URI headers.
    pub uri_headers: Vec<(String, String)>,
    /// Header parameters.
    pub params: Params,
}

impl PartSink<'_> for Collect {
    fn uri_param(&mut self, name: &str, value: Option<&str>) {
        self.uri_params.push_borrowed(name, value);
    }

    fn uri_header(&mut self, name: &str, value: &str) {
        self.uri_headers.push((name.to_string(), value.to_string()));
    }

    fn header_param(&mut self, name: &str, value: Option<&str>) {
        self.params.push_borrowed(name, value);
    }
}
