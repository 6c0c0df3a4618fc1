//! A hostile sender for media tests: random datagrams of RTP size from a
//! few source ports at a high rate, as in issue 9 (2,000 datagrams/s of
//! 300–1,400 random bytes cut a bridged call's audio). About one in eight
//! such datagrams parses as RTP (version 2 is one in four, and half of those
//! carry no header extension that overruns the datagram), so they test a
//! server's latching, not its parser.
//!
//! The flood runs on its own thread for a bounded time, paced drift-free,
//! and counts every datagram that comes back to any of its sockets (a server
//! that latched to it, or that answers it). Its generator is seeded, so a
//! failure can be replayed.
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::junk::{JunkConfig, JunkFlood};
//!
//! let target = "127.0.0.1:40000".parse().unwrap();
//! let mut flood = JunkFlood::start(JunkConfig::new(vec![target])).expect("bind");
//! flood.wait(Duration::from_secs(5));
//! assert_eq!(flood.received(), 0, "nothing may be sent to the attacker");
//! ```

use std::net::{SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a [`JunkFlood`] sends.
#[derive(Debug, Clone)]
pub struct JunkConfig {
    /// Where datagrams go, in turn.
    pub targets: Vec<SocketAddr>,
    /// Source sockets (ports on 127.0.0.1).
    pub ports: usize,
    /// Datagrams per second, over all sockets.
    pub rate: u32,
    /// Datagrams sent in a row from one socket before the next takes over
    /// (an attacker's per-socket loop).
    pub burst: u32,
    /// How long to send.
    pub duration: Duration,
    /// Datagram sizes in bytes, uniformly drawn.
    pub sizes: RangeInclusive<usize>,
    /// Seed of the generator.
    pub seed: u64,
}

impl JunkConfig {
    /// The issue's attack on `targets`: 2,000 datagrams/s of 300–1,400
    /// random bytes from 4 ports, in bursts of 32, for 3 s.
    pub fn new(targets: Vec<SocketAddr>) -> JunkConfig {
        JunkConfig {
            targets,
            ports: 4,
            rate: 2000,
            burst: 32,
            duration: Duration::from_secs(3),
            sizes: 300..=1400,
            seed: 0x5eed_0f9a_1100,
        }
    }
}

/// A seeded xorshift64* generator: random bytes without a dependency.
#[derive(Debug, Clone)]
pub struct JunkRng(u64);

impl JunkRng {
    /// A generator from `seed` (any value; 0 is replaced).
    pub fn new(seed: u64) -> JunkRng {
        JunkRng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (0 when `n` is 0); modulo bias does not matter to tests.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Fills `buf` with a random datagram whose length is drawn from
    /// `sizes` (capped at `buf.len()`) and returns it.
    pub fn datagram<'a>(&mut self, sizes: &RangeInclusive<usize>, buf: &'a mut [u8]) -> &'a [u8] {
        let (low, high) = (*sizes.start(), (*sizes.end()).min(buf.len()));
        let span = high.saturating_sub(low) as u64 + 1;
        let len = (low + (self.next_u64() % span) as usize).min(buf.len());
        for chunk in buf[..len].chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        &buf[..len]
    }
}

struct Shared {
    stop: AtomicBool,
    done: AtomicBool,
    sent: AtomicU64,
    received: AtomicU64,
    /// The first few datagrams that came back: (to our socket, from).
    returns: Mutex<Vec<(SocketAddr, SocketAddr)>>,
}

/// A running flood; stops and joins its thread on [`JunkFlood::stop`] or drop.
pub struct JunkFlood {
    local: Vec<SocketAddr>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl JunkFlood {
    /// Binds `config.ports` sockets on 127.0.0.1 and starts sending.
    pub fn start(config: JunkConfig) -> std::io::Result<JunkFlood> {
        let sockets = (0..config.ports.max(1))
            .map(|_| {
                let socket = UdpSocket::bind(("127.0.0.1", 0))?;
                socket.set_nonblocking(true)?;
                Ok(socket)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let local = sockets
            .iter()
            .map(UdpSocket::local_addr)
            .collect::<std::io::Result<Vec<_>>>()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            returns: Mutex::new(Vec::new()),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("junk-flood".into())
                .spawn(move || run(&sockets, &config, &shared))?
        };
        Ok(JunkFlood {
            local,
            shared,
            thread: Some(thread),
        })
    }

    /// The flood's source addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Datagrams sent so far.
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Datagrams that arrived at any of the flood's sockets so far (it keeps
    /// listening after sending, until stopped).
    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// The first datagrams that came back, as (our socket, their source).
    pub fn returns(&self) -> Vec<(SocketAddr, SocketAddr)> {
        self.shared
            .returns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the sending part is over.
    pub fn finished(&self) -> bool {
        self.shared.done.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` for the sending part to end; true if it did.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Stops sending and listening, and joins the thread.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for JunkFlood {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(sockets: &[UdpSocket], config: &JunkConfig, shared: &Shared) {
    let mut rng = JunkRng::new(config.seed);
    let mut buf = [0u8; 1500];
    let mut incoming = [0u8; 2048];
    let start = Instant::now();
    let interval = Duration::from_secs(1) / config.rate.max(1);
    let burst = u64::from(config.burst.max(1));
    let mut n: u64 = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let sending = start.elapsed() < config.duration && !config.targets.is_empty();
        if sending {
            // Everything due by now (drift-free: datagram n is due at n × interval).
            while start + interval * (n as u32) <= Instant::now() {
                let socket = &sockets[((n / burst) % sockets.len() as u64) as usize];
                let target = config.targets[(n % config.targets.len() as u64) as usize];
                let datagram = rng.datagram(&config.sizes, &mut buf);
                if socket.send_to(datagram, target).is_ok() {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        } else {
            shared.done.store(true, Ordering::SeqCst);
        }
        for socket in sockets {
            // ICMP errors (a closed target) come back as errors: not data.
            while let Ok((_, from)) = socket.recv_from(&mut incoming) {
                shared.received.fetch_add(1, Ordering::Relaxed);
                let mut returns = shared.returns.lock().unwrap_or_else(|e| e.into_inner());
                if returns.len() < 16 {
                    if let Ok(local) = socket.local_addr() {
                        returns.push((local, from));
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    shared.done.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_are_random_within_the_sizes_and_replayable() {
        let sizes = 300..=1400;
        let mut buf = [0u8; 1500];
        let mut a = JunkRng::new(7);
        let mut b = JunkRng::new(7);
        let mut rtp_like = 0;
        for _ in 0..1000 {
            let x = a.datagram(&sizes, &mut buf).to_vec();
            let y = b.datagram(&sizes, &mut buf);
            assert_eq!(x, y);
            assert!(sizes.contains(&x.len()));
            if media::classify(&x) == media::PacketKind::Rtp && media::RtpPacket::parse(&x).is_ok()
            {
                rtp_like += 1;
            }
        }
        // About one in eight parses as RTP: what makes them dangerous.
        assert!((70..200).contains(&rtp_like), "{rtp_like}");
    }

    #[test]
    fn a_flood_reaches_its_target_and_counts_what_comes_back() {
        let target = UdpSocket::bind(("127.0.0.1", 0)).expect("bind");
        target
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut config = JunkConfig::new(vec![target.local_addr().expect("addr")]);
        config.duration = Duration::from_millis(200);
        let flood = JunkFlood::start(config).expect("start");
        let mut buf = [0u8; 1500];
        let (len, from) = target.recv_from(&mut buf).expect("a datagram");
        assert!((300..=1400).contains(&len));
        assert!(flood.local_addrs().contains(&from));
        target.send_to(b"back", from).expect("reply");
        assert!(flood.wait(Duration::from_secs(5)));
        assert!(flood.sent() >= 100, "{}", flood.sent());
        let deadline = Instant::now() + Duration::from_secs(1);
        while flood.received() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(flood.received(), 1);
        assert_eq!(flood.returns()[0].0, from);
    }
}
