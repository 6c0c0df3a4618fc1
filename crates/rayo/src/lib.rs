//! Rayo call control on the wire (XEP-0327, and the wiki dialect on input).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
