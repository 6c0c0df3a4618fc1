#![allow(dead_code)] // each test binary uses part of it
//! A minimal HTTP/1.1 client: recordings from their signed URLs, the
//! operator API with its bearer token.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use testkit::rayo_harness::WAIT;

/// `GET target` from `address`: the status and the body.
pub fn get(address: SocketAddr, target: &str) -> (u16, Vec<u8>) {
    request(address, "GET", target, None)
}

/// `method target` (no body) to `address`, with `Authorization: Bearer
/// token` when given: the status and the body.
pub fn request(
    address: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&address, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: sb\r\n{auth}Content-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let status = String::from_utf8_lossy(&answer[9..12])
        .parse()
        .expect("status");
    (status, answer[split + 4..].to_vec())
}

/// The URL's address and its path with query.
pub fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let slash = rest.find('/').expect("path");
    (
        rest[..slash].parse().expect("address"),
        rest[slash..].to_owned(),
    )
}
