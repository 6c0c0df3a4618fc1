//! Recordings over HTTP from the real binary on 127.0.0.1: a signed URL
//! fetches the file whole or by range, HEAD gives its headers, and a URL
//! without or with a wrong or expired signature, a path escape, or a
//! missing file is refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use switchboard::http::{unix_now, RecordingUrls};
use testkit::{free_port, Server};

const WAIT: Duration = Duration::from_secs(10);
const SECRET: &str = "a test secret, 32 characters ok";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// Status, header block and body of one request.
struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

fn request(address: SocketAddr, method: &str, target: &str, extra: &str) -> Answer {
    let mut stream = TcpStream::connect_timeout(&address, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: switchboard\r\n{extra}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let headers = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = headers
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    Answer {
        status,
        headers,
        body: answer[split + 4..].to_vec(),
    }
}

/// The path and query of a full URL.
fn target(url: &str) -> &str {
    let rest = url.strip_prefix("http://").expect("http URL");
    &rest[rest.find('/').expect("path")..]
}

#[test]
fn signed_urls_serve_recordings_and_everything_else_is_refused() {
    let recordings = tempfile::tempdir().expect("temp dir");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(recordings.path().join("call-1.wav"), &bytes).expect("write recording");
    std::fs::write(recordings.path().join("call-2.mp3"), b"ID3").expect("write mp3");
    let port = free_port();
    let http_port = free_port();
    let config = format!(
        "transports:\n  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}\nagent_rpc:\n  listen: 127.0.0.1:0\nmedia:\n  recordings_dir: {}\nhttp:\n  listen: 127.0.0.1:{http_port}\n  secret: \"{SECRET}\"\n",
        recordings.path().display()
    );
    let server = Server::start(binary(), &config, port);
    let address: SocketAddr = ([127, 0, 0, 1], http_port).into();
    let urls = RecordingUrls::new(
        SECRET.as_bytes(),
        &format!("http://{address}"),
        Duration::from_secs(60),
    );

    let url = urls.url("call-1.wav");
    let whole = request(address, "GET", target(&url), "");
    assert_eq!(whole.status, 200, "{}\n{}", whole.headers, server.log());
    assert_eq!(whole.header("content-type"), Some("audio/wav"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert!(whole.body == bytes, "the file, byte for byte");

    let head = request(address, "HEAD", target(&url), "");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("300000"));
    assert!(head.body.is_empty());

    let part = request(address, "GET", target(&url), "Range: bytes=1000-1999\r\n");
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some("bytes 1000-1999/300000"));
    assert!(part.body == bytes[1000..2000]);
    let tail = request(address, "GET", target(&url), "Range: bytes=-10\r\n");
    assert_eq!(tail.status, 206);
    assert!(tail.body == bytes[bytes.len() - 10..]);
    let open = request(address, "GET", target(&url), "Range: bytes=299990-\r\n");
    assert_eq!(
        open.header("content-range"),
        Some("bytes 299990-299999/300000")
    );
    let beyond = request(address, "GET", target(&url), "Range: bytes=300000-\r\n");
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some("bytes */300000"));

    let mp3 = request(address, "GET", target(&urls.url("call-2.mp3")), "");
    assert_eq!(mp3.header("content-type"), Some("audio/mpeg"));

    // No signature, a wrong one, one for another file, an expired one.
    let plain = "/recordings/call-1.wav";
    assert_eq!(request(address, "GET", plain, "").status, 403);
    let (path, query) = target(&url).split_once('?').expect("query");
    let wrong = format!("{path}?{}", query.replace("sig=", "sig=00"));
    assert_eq!(request(address, "GET", &wrong, "").status, 403);
    let other = urls.url("call-2.mp3");
    let (_, other_query) = target(&other).split_once('?').expect("query");
    let swapped = format!("{path}?{other_query}");
    assert_eq!(request(address, "GET", &swapped, "").status, 403);
    let expired = urls.url_expiring("call-1.wav", unix_now() - 1);
    assert_eq!(request(address, "GET", target(&expired), "").status, 403);
    let foreign = RecordingUrls::new(b"some other secret", "http://x", Duration::from_secs(60));
    let forged = foreign.url("call-1.wav");
    assert_eq!(request(address, "GET", target(&forged), "").status, 403);

    // Escapes: unsigned is 403; even signed, a name that is not one plain
    // segment is 404, never the file outside.
    let escape = "/recordings/..%2Fswitchboard.yaml";
    assert_eq!(request(address, "GET", escape, "").status, 403);
    for name in [
        "../switchboard.yaml",
        ".hidden",
        "..",
        "a/../../switchboard.yaml",
    ] {
        let signed = urls.url(name);
        let answer = request(address, "GET", target(&signed), "");
        assert!(
            matches!(answer.status, 403 | 404),
            "{name}: {}",
            answer.status
        );
        assert!(!String::from_utf8_lossy(&answer.body).contains("transports"));
    }

    let missing = urls.url("nothing-here.wav");
    assert_eq!(request(address, "GET", target(&missing), "").status, 404);
    // Health probes share the server.
    assert_eq!(request(address, "GET", "/healthz", "").status, 200);
}
