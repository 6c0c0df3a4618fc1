//! Helpers shared by several test binaries.

pub mod cdr;
pub mod core;
pub mod hearing;
pub mod http;
pub mod mixer_news;
pub mod sound;
