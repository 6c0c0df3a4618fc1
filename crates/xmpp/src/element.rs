//! A small owned XML element tree: what one stanza is once it has been
//! read off a stream, and what the server builds to send.
//!
//! Names are local names with the namespace resolved (`ns`), so code never
//! compares prefixes. Serialising writes an `xmlns` only where an element's
//! namespace differs from its parent's, which is how XMPP peers expect
//! stanzas to look (`<presence><offer xmlns='urn:xmpp:rayo:1'/></presence>`).

use std::fmt;

/// An XML element: resolved name, attributes in document order, children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    name: String,
    ns: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

/// A child of an [`Element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (entities already decoded, CDATA included).
    Text(String),
}

impl Element {
    /// An empty element `name` in namespace `ns` (`""` for none).
    pub fn new(name: impl Into<String>, ns: impl Into<String>) -> Element {
        Element {
            name: name.into(),
            ns: ns.into(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Builder: sets attribute `name` (replacing an earlier value).
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Element {
        self.set_attr(name, value);
        self
    }

    /// Builder: appends a child element.
    pub fn child(mut self, child: Element) -> Element {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: appends character data.
    pub fn text(mut self, text: impl Into<String>) -> Element {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Sets attribute `name`, replacing an earlier value.
    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
    }

    /// Removes attribute `name`, returning its value.
    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let at = self.attrs.iter().position(|(n, _)| n == name)?;
        Some(self.attrs.remove(at).1)
    }

    /// Appends a child element.
    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Appends character data.
    pub fn push_text(&mut self, text: impl Into<String>) {
        self.children.push(Node::Text(text.into()));
    }

    /// Local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Namespace URI (`""` for none).
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Whether this is `name` in `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// Attribute value by name as written (`xml:lang` keeps its prefix).
    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Attributes in document order.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// All children, text included.
    pub fn nodes(&self) -> &[Node] {
        &self.children
    }

    /// Child elements in order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element `name` in `ns`.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name, ns))
    }

    /// The first child element, whatever its name.
    pub fn first_child(&self) -> Option<&Element> {
        self.children().next()
    }

    /// The character data directly inside this element, concatenated.
    pub fn text_content(&self) -> String {
        let mut out = String::new();
        for node in &self.children {
            if let Node::Text(t) = node {
                out.push_str(t);
            }
        }
        out
    }

    /// Writes the element as XML, declaring `xmlns` wherever the namespace
    /// differs from `parent_ns` (the namespace in scope where it is written).
    pub fn write_xml(&self, out: &mut String, parent_ns: &str) {
        out.push('<');
        out.push_str(&self.name);
        if self.ns != parent_ns {
            out.push_str(" xmlns='");
            escape_into(out, &self.ns);
            out.push('\'');
        }
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("='");
            escape_into(out, value);
            out.push('\'');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for node in &self.children {
            match node {
                Node::Element(e) => e.write_xml(out, &self.ns),
                Node::Text(t) => escape_into(out, t),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// The element as XML in a stream whose default namespace is
    /// `stream_ns` (`jabber:client` for stanzas on a c2s stream).
    pub fn to_xml(&self, stream_ns: &str) -> String {
        let mut out = String::new();
        self.write_xml(&mut out, stream_ns);
        out
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xml(""))
    }
}

/// Appends `text` with `& < > ' "` escaped (valid in text and in
/// single- or double-quoted attributes).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// `text` escaped for XML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_xmlns_only_where_the_namespace_changes() {
        let presence = Element::new("presence", "jabber:client")
            .attr("from", "abc@rayo.test")
            .child(
                Element::new("offer", "urn:xmpp:rayo:1")
                    .attr("to", "sip:1000@rayo.test")
                    .child(
                        Element::new("header", "urn:xmpp:rayo:1")
                            .attr("name", "X-A")
                            .attr("value", "1<2 & 'q'"),
                    ),
            );
        assert_eq!(
            presence.to_xml("jabber:client"),
            "<presence from='abc@rayo.test'><offer xmlns='urn:xmpp:rayo:1' to='sip:1000@rayo.test'>\
             <header name='X-A' value='1&lt;2 &amp; &apos;q&apos;'/></offer></presence>"
        );
    }

    #[test]
    fn finds_children_and_text() {
        let e = Element::new("a", "x")
            .text("he")
            .child(Element::new("b", "y"))
            .text("llo");
        assert_eq!(e.text_content(), "hello");
        assert!(e.get_child("b", "y").is_some());
        assert!(e.get_child("b", "x").is_none());
        assert_eq!(e.first_child().map(Element::name), Some("b"));
    }
}
