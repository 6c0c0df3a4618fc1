//! The server survives hostile datagrams: the RFC 4475 invalid set plus
//! random mutations of valid messages, 1,000 in all, then still answers
//! OPTIONS.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::junk::JunkRng;
use testkit::{free_port, Server};

fn torture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/tests/torture")
        .join(kind)
}

fn load(kind: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = fs::read_dir(torture_dir(kind))
        .expect("torture messages present")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| fs::read(p).expect("read torture message"))
        .collect()
}

fn mutate(rng: &mut JunkRng, original: &[u8]) -> Vec<u8> {
    let mut m = original.to_vec();
    let edits = 1 + rng.below(8);
    for _ in 0..edits {
        let len = m.len();
        match rng.below(6) {
            0 => m.truncate(rng.below(len)),
            1 if len > 0 => {
                let i = rng.below(len);
                m[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let b =
                    [b':', b';', b'<', b'>', b'"', b'\r', b'\n', b' ', b'%', 0xff][rng.below(10)];
                m.insert(i, b);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                m.remove(i);
            }
            4 if len > 0 => {
                // Duplicate a slice somewhere else (repeated headers, long lines).
                let a = rng.below(len);
                let b = (a + rng.below(200)).min(len);
                let chunk = m[a..b].to_vec();
                let at = rng.below(m.len() + 1);
                m.splice(at..at, chunk);
            }
            _ => {
                // Corrupt a digit (Content-Length, CSeq, ports, status codes).
                if let Some(i) = m.iter().position(|b| b.is_ascii_digit()) {
                    let j = i + rng.below(m.len() - i);
                    if m[j].is_ascii_digit() {
                        m[j] = b"0123456789-9x"[rng.below(13)];
                    }
                }
            }
        }
    }
    m
}

#[test]
fn thousand_malformed_datagrams_then_options_still_answered() {
    let port = free_port();
    let config = format!(
        "transports:\n  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}\n\
         endpoints:\n  local: {{ match: {{ type: ip, values: [\"127.0.0.0/8\"] }} }}\n\
         routes:\n  default:\n    - {{ id: \"\", match: any, hangup: {{ code: 486 }} }}\n\
         agent_rpc: {{ listen: \"127.0.0.1:0\" }}\n"
    );
    let mut server = Server::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &config, port);

    let invalid = load("invalid");
    let valid = load("valid");
    assert!(!invalid.is_empty() && !valid.is_empty());

    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(1)))
        .expect("timeout");
    let mut rng = JunkRng::new(0x5eed_1234_abcd_0042);
    let mut drain = vec![0u8; 65_535];
    for i in 0..1000 {
        let datagram = if i < invalid.len() {
            invalid[i].clone()
        } else {
            let pick = rng.below(valid.len());
            mutate(&mut rng, &valid[pick])
        };
        let _ = socket.send_to(&datagram, server.addr());
        // Pace a little and read what comes back, so neither side's buffer overflows.
        if i % 50 == 49 {
            while socket.recv_from(&mut drain).is_ok() {}
        }
    }

    // The server is alive and answers.
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.is_running(), "server died:\n{}", server.log());
    let status = (0..5).find_map(|i| server.options_status(&format!("alive-{i}")));
    assert_eq!(status, Some(200), "no OPTIONS answer after the flood");
}
