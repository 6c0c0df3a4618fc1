//! The inline body of a `<document>`, `<grammar>`, Tropo `<say>` or
//! `<choices>`: text or CDATA as it is, or nested markup written back as
//! XML text, so a command holds one string however the client sent it.

use xmpp::{Element, Node};

use crate::ns;

/// The body of `e` without its `<header>` children: when any other child
/// element is present, every remaining node as XML; else the text.
pub(crate) fn inline_body(e: &Element) -> String {
    let is_header = |c: &Element| c.name() == "header" && ns::is_rayo(c.ns());
    let has_markup = e.children().any(|c| !is_header(c));
    if !has_markup {
        return e.text_content();
    }
    let mut out = String::new();
    for node in e.nodes() {
        match node {
            Node::Text(t) => xmpp::element::escape_into(&mut out, t),
            Node::Element(c) if !is_header(c) => c.write_xml(&mut out, ""),
            Node::Element(_) => {}
        }
    }
    out
}
