//! Fetches a recording by the signed `http://` URI its `<recording>` gave
//! (plain HTTP/1.1 over a std socket, `Connection: close`) and checks it
//! is a RIFF/WAVE file of the announced size.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Bound on connecting and on each read or write.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response read (a 60 s stereo 16-bit recording is under 2 MB).
const MAX_RESPONSE: u64 = 64 << 20;

/// GETs `uri` and checks status 200, a RIFF/WAVE header and `size` bytes of body.
pub fn fetch_recording(uri: &str, size: u64) -> Result<(), String> {
    let rest = uri
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URI: {uri}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let address = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut socket =
        TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| format!("{address}: {e}"))?;
    socket
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| socket.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    socket
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut response = Vec::new();
    socket
        .take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .map_err(|e| format!("reading the response: {e}"))?;
    check_response(&response, size)
}

/// Checks a whole HTTP response: 200, and a body that is a WAV of `size` bytes.
pub fn check_response(response: &[u8], size: u64) -> Result<(), String> {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&response[..head_end]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("status line {status:?}"));
    }
    if head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    }) {
        return Err("chunked body (expected a Content-Length)".into());
    }
    let body = &response[head_end + 4..];
    if body.len() < 12 || &body[..4] != b"RIFF" || &body[8..12] != b"WAVE" {
        return Err("the body is not a RIFF/WAVE file".into());
    }
    if body.len() as u64 != size {
        return Err(format!("{} bytes, the recording said {size}", body.len()));
    }
    let riff = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
    if u64::from(riff) + 8 != size {
        return Err(format!(
            "RIFF size {riff} + 8 is not the file's {size} bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(data: usize) -> Vec<u8> {
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&((36 + data) as u32).to_le_bytes());
        file.extend_from_slice(b"WAVEfmt ");
        file.resize(44 + data, 0);
        file
    }

    fn response(status: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 {status}\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn a_whole_wav_of_the_announced_size_passes() {
        let file = wav(1600);
        assert_eq!(check_response(&response("200 OK", &file), 1644), Ok(()));
        assert!(check_response(&response("200 OK", &file), 1000)
            .unwrap_err()
            .contains("the recording said 1000"));
        assert!(check_response(&response("403 Forbidden", b""), 0)
            .unwrap_err()
            .contains("403"));
        assert!(check_response(&response("200 OK", b"not a wav file"), 14)
            .unwrap_err()
            .contains("RIFF"));
        let mut short_riff = file.clone();
        short_riff[4] = 0;
        assert!(check_response(&response("200 OK", &short_riff), 1644).is_err());
        assert!(check_response(b"HTTP/1.1 200 OK\r\n", 0).is_err());
    }

    #[test]
    fn a_served_file_is_fetched() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            let mut request = [0u8; 1024];
            let n = socket.read(&mut request).expect("request");
            let line = String::from_utf8_lossy(&request[..n]).to_string();
            socket
                .write_all(&response("200 OK", &wav(320)))
                .expect("response");
            line
        });
        let uri = format!("http://{address}/recordings/a.wav?exp=9&sig=ab");
        assert_eq!(fetch_recording(&uri, 364), Ok(()));
        let request = server.join().expect("served");
        assert!(
            request.starts_with("GET /recordings/a.wav?exp=9&sig=ab HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(fetch_recording("file:///tmp/a.wav", 0).is_err());
    }
}
