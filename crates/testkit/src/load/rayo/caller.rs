//! The caller side of the latency modes, in the load client's own process
//! so its moments and the Rayo side's share one clock: places N calls
//! through the server (INVITE with PCMU, PCMA and telephone-event 101, a
//! Call-ID of its own that the offer carries back), sends G.711 silence
//! every 20 ms on every call, notes the kernel arrival time of the first
//! audible packet of each call, sends the keys of [`Keypad`] when the Rayo
//! side says the call's input has started, and takes the server's BYE.
//!
//! One thread: the SIP socket and every call's RTP socket registered with
//! `mio`; the [`SipStack`] fed like the other load tools do.
//!
//! In the mixer mode ([`MixerCalls`]) the speakers of each room send a
//! tone of their own instead of silence, every call's stream is measured
//! by a [`Listener`] over a window that opens `warmup` after the last call
//! is set up and lasts `hold` (`MEASURE start` / `MEASURE end` on stdout,
//! for the bench script's samples of the server), and then the caller hangs
//! every call up at the rate it placed them, and waits for the BYEs' answers. Calls send in 20 slots of 1 ms, as phones that started
//! their calls at independent moments, and the sockets are read after a
//! 1 ms nap rather than on every wake-up, as rtp-load does.

use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use sdp::{LocalMedia, OriginState, SessionDescription};
use sip::{HeaderName, Host, Method};
use sip_stack::{
    make_response, ClientTransactionId, Destination, DialogId, Output, SipStack, StackConfig,
    StackEvent, TransactionId, Transport,
};

use super::caller_rtp::{receive, send_tick, Stream};
use super::keypad::Keypad;
use super::listener::{Hearing, Listener};
use super::rooms::{RoomLayout, TONES};
use crate::load::media::ToneFrames;
use crate::load::stats::{Histogram, Phase};
use crate::rtp_source::Codec;

/// One 20 ms packet time.
const TICK: Duration = Duration::from_millis(20);
const SIP: Token = Token(usize::MAX);
/// How long calls still up at the end get for their BYE's answer.
const BYE_GRACE: Duration = Duration::from_secs(2);
/// The mixer mode's wait for the answers to its BYEs (Timer F).
const BYE_WAIT: Duration = Duration::from_secs(32);
/// Send slots per tick in the mixer mode.
const MIXER_SLOTS: u32 = 20;
/// The mixer mode's nap between reads of the sockets.
const NAP: Duration = Duration::from_millis(1);

/// The mixer mode's calls: who speaks, and the measurement window.
#[derive(Debug, Clone)]
pub struct MixerCalls {
    /// Rooms, their size and speakers (call `i` is the `i`-th placed).
    pub layout: RoomLayout,
    /// From the last call set up to the window's start.
    pub warmup: Duration,
    /// The window; every call is hung up at its end.
    pub hold: Duration,
    /// The most tones a caller may hear (the server's loudest-speakers limit).
    pub max_mixed: usize,
    /// Hangups per second after the window (None: the rate calls were placed).
    pub hangup_rate: Option<f64>,
}

/// The place of a call in the caller's sequence, from the Call-ID it gave
/// the call (`rl-<pid>-<index>@<address>`); None for any other Call-ID.
pub fn call_index(call_id: &str) -> Option<usize> {
    let (local, _) = call_id.trim().split_once('@')?;
    let rest = local.strip_prefix("rl-")?;
    let (_, index) = rest.rsplit_once('-')?;
    index.parse().ok()
}

/// What the caller does.
#[derive(Debug, Clone)]
pub struct CallerConfig {
    /// The server's SIP address (UDP).
    pub server: SocketAddr,
    /// The number dialled.
    pub number: String,
    /// Calls to place.
    pub calls: usize,
    /// Calls per second.
    pub rate: f64,
    /// Keys sent when a call's input starts.
    pub keys: String,
    /// Time from the input's start to the first key.
    pub key_delay: Duration,
    /// Longest a call is kept; then the caller hangs up itself.
    pub max_call: Duration,
    /// The mixer mode (tones, a measured window, hangups at its end).
    pub mixer: Option<MixerCalls>,
}

/// What the caller saw of one call.
#[derive(Debug, Clone, Default)]
pub struct CallerCall {
    /// Kernel arrival time of the first audible packet.
    pub first_audio: Option<Instant>,
    /// When the last key's first end packet was sent.
    pub last_key_end: Option<Instant>,
}

/// What the caller saw, by SIP Call-ID.
#[derive(Debug, Clone, Default)]
pub struct CallerOutcome {
    /// INVITEs sent.
    pub placed: usize,
    /// Calls answered 2xx with a usable SDP answer.
    pub established: usize,
    /// Calls not established (a non-2xx, no answer, a bad SDP, no socket).
    pub failed: usize,
    /// Calls the server hung up.
    pub server_byes: usize,
    /// Calls the caller hung up (past `max_call`, or still up at the end).
    pub own_byes: usize,
    /// Calls told to send keys.
    pub keyed: usize,
    /// RTP packets sent and received.
    pub packets_sent: u64,
    /// RTP packets received.
    pub packets_received: u64,
    /// Of those, packets that are not RTP (RTCP), left out of every figure.
    pub other_received: u64,
    /// Per call.
    pub calls: HashMap<String, CallerCall>,
    /// The mixer mode: what the calls heard over the window.
    pub hearing: Option<Hearing>,
    /// BYEs of ours answered with a final response.
    pub byes_answered: usize,
    /// BYEs of ours that timed out or were unanswered when the caller ended.
    pub byes_unanswered: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Inviting,
    Up,
    Done,
}

pub(super) struct Call {
    pub(super) index: usize,
    pub(super) call_id: String,
    pub(super) socket: UdpSocket,
    pub(super) offer: SessionDescription,
    pub(super) state: State,
    pub(super) dialog: Option<DialogId>,
    pub(super) stream: Option<Stream>,
    pub(super) keypad: Option<(Instant, Keypad)>,
    /// The mixer mode: the tone this call sends (an index into the tones).
    pub(super) tone: Option<usize>,
    pub(super) seen: CallerCall,
    pub(super) up_at: Instant,
    pub(super) listener: Option<Listener>,
}

/// Runs the caller until every call is over (or `stop`), taking the
/// Call-IDs of calls to key from `inputs_started`.
pub fn run(
    config: &CallerConfig,
    inputs_started: &Receiver<String>,
    stop: &AtomicBool,
) -> std::io::Result<CallerOutcome> {
    let sip_socket = UdpSocket::bind("127.0.0.1:0")?;
    sip_socket.set_nonblocking(true)?;
    let local = sip_socket.local_addr()?;
    let mut stack = SipStack::new(StackConfig::new(Host::from(local.ip()), Some(local.port())));
    let mut poll = Poll::new()?;
    let fd = sip_socket.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), SIP, Interest::READABLE)?;
    let contact = format!("<sip:rayo-load@{local}>");
    let destination = Destination {
        address: config.server,
        transport: Transport::Udp,
        connection: None,
    };
    let mixer = config.mixer.as_ref();
    let tones: Vec<ToneFrames> = mixer.map_or_else(Vec::new, |m| {
        let positions = m.layout.size.min(TONES);
        (0..positions)
            .map(|p| ToneFrames::new(m.layout.tone_hz(p)))
            .collect()
    });
    let slots = if mixer.is_some() { MIXER_SLOTS } else { 1 };
    let sub_period = TICK / slots;
    let mut calls: Vec<Call> = Vec::with_capacity(config.calls);
    let mut invites: HashMap<ClientTransactionId, usize> = HashMap::new();
    let mut byes: HashMap<ClientTransactionId, usize> = HashMap::new();
    // The mixer mode's hangups after the window: calls left, next one due.
    let mut teardown: Option<(Vec<usize>, Instant)> = None;
    let mut by_call_id: HashMap<String, usize> = HashMap::new();
    let mut outcome = CallerOutcome::default();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65_535];
    let mut packet = [0u8; 12 + 160];
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / config.rate.max(0.001));
    let mut hangup_interval = interval;
    // Sub-ticks since the start: calls of slot `sub % slots` send at each.
    let mut sub: u64 = 0;
    let mut next_tick = start + sub_period;
    let run_id = std::process::id();
    let mut finishing: Option<Instant> = None;
    // Inputs started for calls not placed yet (only a test gets ahead so).
    let mut early: HashSet<String> = HashSet::new();
    // The mixer mode's window: (opens, closes), and where the run is.
    let mut window: Option<(Instant, Instant)> = None;
    let mut phase = Phase::Warmup;
    let mut pacing = Histogram::new();
    loop {
        let now = Instant::now();
        // Place the calls due.
        let placing = finishing.is_none() && !stop.load(Ordering::Relaxed);
        while placing
            && calls.len() < config.calls
            && start + interval.mul_f64(calls.len() as f64) <= now
        {
            let index = calls.len();
            let socket = crate::load::media::timestamped_socket()?;
            let rtp = socket.local_addr()?;
            let fd = socket.as_raw_fd();
            poll.registry()
                .register(&mut SourceFd(&fd), Token(index), Interest::READABLE)?;
            let mut origin = OriginState::new("rayo-load", index as u64 + 1, 1);
            let offer = sdp::offer(&LocalMedia::new(rtp.ip(), rtp.port()), &mut origin);
            let call_id = format!("rl-{run_id}-{index}@{}", local.ip());
            let me = format!("<sip:rayo-load-{index}@{local}>");
            let mut invite =
                crate::sip_ua::invite_request(config.server, &config.number, &me, &contact, &offer);
            invite
                .headers
                .push_known(HeaderName::CallId, call_id.clone());
            let state = match stack.send_request(now, invite, destination) {
                Ok(id) => {
                    invites.insert(id, index);
                    outcome.placed += 1;
                    State::Inviting
                }
                Err(_) => {
                    outcome.failed += 1;
                    State::Done
                }
            };
            by_call_id.insert(call_id.clone(), index);
            let keypad = early.remove(&call_id).then(|| {
                outcome.keyed += 1;
                (now + config.key_delay, Keypad::new(&config.keys))
            });
            let tone = mixer
                .filter(|m| m.layout.is_speaker(index))
                .map(|m| (index % m.layout.size.max(1)) % TONES);
            calls.push(Call {
                index,
                call_id,
                socket,
                offer,
                state,
                dialog: None,
                stream: None,
                keypad,
                tone,
                seen: CallerCall::default(),
                up_at: now,
                listener: mixer.map(|_| Listener::new()),
            });
        }
        // Keys for the calls whose input started.
        while let Ok(call_id) = inputs_started.try_recv() {
            match by_call_id.get(&call_id).and_then(|&i| calls.get_mut(i)) {
                Some(call) if call.keypad.is_none() => {
                    outcome.keyed += 1;
                    call.keypad = Some((now + config.key_delay, Keypad::new(&config.keys)));
                }
                Some(_) => {}
                None => {
                    early.insert(call_id);
                }
            }
        }
        // One packet per call up on each tick, in its slot; a wake-up more
        // than a tick late skips whole ticks (slots stay in place).
        if now >= next_tick + TICK {
            let behind = (now - next_tick).as_nanos() / TICK.as_nanos();
            next_tick += TICK * behind as u32;
        }
        while next_tick <= now {
            let slot = sub % u64::from(slots);
            sub += 1;
            next_tick += sub_period;
            let due =
                |c: &&mut Call| c.state == State::Up && c.index as u64 % u64::from(slots) == slot;
            for call in calls.iter_mut().filter(due) {
                if mixer.is_none() && call.up_at + config.max_call <= now {
                    hang_up(&mut stack, call, &mut outcome, now, &mut byes);
                    continue;
                }
                send_tick(call, now, &mut packet, &mut outcome, &tones);
            }
        }
        if let Some(m) = mixer {
            let settled =
                || calls.len() == config.calls && calls.iter().all(|c| c.state != State::Inviting);
            if window.is_none() && finishing.is_none() && settled() {
                window = Some((now + m.warmup, now + m.warmup + m.hold));
            }
            if let Some((opens, closes)) = window {
                if phase == Phase::Warmup && now >= opens {
                    phase = Phase::Measuring;
                    println!("MEASURE start");
                }
                if phase == Phase::Measuring && now >= closes {
                    phase = Phase::Teardown;
                    println!("MEASURE end");
                    let mut hearing = Hearing::new(m.max_mixed);
                    hearing.pacing = std::mem::take(&mut pacing);
                    let mut up = Vec::new();
                    for call in calls.iter().filter(|c| c.state == State::Up) {
                        if let Some(listener) = &call.listener {
                            hearing.add(listener, call.index, &m.layout);
                        }
                        up.push(call.index);
                    }
                    outcome.hearing = Some(hearing);
                    up.reverse();
                    teardown = Some((up, now));
                    if let Some(rate) = m.hangup_rate {
                        hangup_interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
                    }
                }
            }
            // Hang up at the rate the calls came, then wait for the answers.
            if let Some((left, next)) = &mut teardown {
                while *next <= now {
                    let Some(i) = left.pop() else { break };
                    *next += hangup_interval;
                    if let Some(call) = calls.get_mut(i).filter(|c| c.state == State::Up) {
                        hang_up(&mut stack, call, &mut outcome, now, &mut byes);
                    }
                }
                let answered = byes.is_empty() || now >= *next + BYE_WAIT;
                if left.is_empty() && answered && finishing.is_none() {
                    finishing = Some(now);
                }
            }
        }
        let active = calls.iter().filter(|c| c.state != State::Done).count();
        let all_placed = calls.len() == config.calls;
        let stopped = stop.load(Ordering::Relaxed);
        if finishing.is_none() && (stopped || (all_placed && active == 0 && teardown.is_none())) {
            for call in calls.iter_mut().filter(|c| c.state == State::Up) {
                hang_up(&mut stack, call, &mut outcome, now, &mut byes);
            }
            finishing = Some(
                now + if active == 0 {
                    Duration::ZERO
                } else {
                    BYE_GRACE
                },
            );
        }
        if finishing.is_some_and(|at| now >= at) {
            break;
        }
        // Wait for packets, the next tick, call or SIP timer.
        let mut until = next_tick;
        if !all_placed {
            until = until.min(start + interval.mul_f64(calls.len() as f64));
        }
        if let Some(t) = stack.poll_timeout() {
            until = until.min(t);
        }
        let mut wait = until.saturating_duration_since(Instant::now()).min(TICK);
        if mixer.is_some() {
            // Nap, then take what is ready: a reader asleep in epoll_wait
            // would be woken by the server for every packet (see rtp-load).
            std::thread::sleep(wait.min(NAP));
            wait = Duration::ZERO;
        }
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == SIP {
                // Edge-triggered: read until the socket is dry.
                loop {
                    match sip_socket.recv_from(&mut buf) {
                        Ok((n, source)) => {
                            let bytes = buf.get(..n).unwrap_or_default();
                            stack.handle_bytes(Instant::now(), bytes, source, Transport::Udp, None);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        // ICMP errors from earlier sends, a signal: keep reading.
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::Interrupted
                                    | ErrorKind::ConnectionRefused
                                    | ErrorKind::ConnectionReset
                            ) => {}
                        Err(_) => break,
                    }
                }
            } else if let Some(call) = calls.get_mut(event.token().0) {
                receive(call, &mut buf, &mut outcome, phase, &mut pacing);
            }
        }
        stack.handle_timeout(Instant::now());
        // Transmit what the stack queued and act on its events.
        while let Some(output) = stack.poll_output() {
            match output {
                Output::Transmit(t) => {
                    let _ = sip_socket.send_to(&t.bytes, t.destination);
                }
                Output::Event(event) => on_event(
                    &mut stack,
                    event,
                    &mut calls,
                    &mut invites,
                    &mut byes,
                    &by_call_id,
                    &mut outcome,
                ),
            }
        }
    }
    outcome.byes_unanswered += byes.len();
    for call in calls {
        outcome.calls.insert(call.call_id, call.seen);
    }
    Ok(outcome)
}

fn hang_up(
    stack: &mut SipStack,
    call: &mut Call,
    outcome: &mut CallerOutcome,
    now: Instant,
    byes: &mut HashMap<ClientTransactionId, usize>,
) {
    call.state = State::Done;
    outcome.own_byes += 1;
    if let Some(dialog) = call.dialog.clone() {
        let sent = stack
            .new_in_dialog_request(&dialog, Method::Bye)
            .and_then(|bye| stack.send_in_dialog(now, &dialog, bye));
        match sent {
            Ok(id) => {
                byes.insert(id, call.index);
            }
            Err(_) => outcome.byes_unanswered += 1,
        }
    }
}

fn on_event(
    stack: &mut SipStack,
    event: StackEvent,
    calls: &mut [Call],
    invites: &mut HashMap<ClientTransactionId, usize>,
    byes: &mut HashMap<ClientTransactionId, usize>,
    by_call_id: &HashMap<String, usize>,
    outcome: &mut CallerOutcome,
) {
    match event {
        StackEvent::Response {
            transaction,
            response,
            dialog,
        } if response.status >= 200 => {
            if byes.remove(&transaction).is_some() {
                outcome.byes_answered += 1;
                return;
            }
            let Some(i) = invites.remove(&transaction) else {
                return;
            };
            let Some(call) = calls.get_mut(i) else { return };
            if call.state != State::Inviting {
                return;
            }
            let negotiated = sdp::parse(&response.body)
                .ok()
                .and_then(|answer| sdp::process_answer(&call.offer, &answer).ok());
            match negotiated {
                Some(n) if (200..300).contains(&response.status) => {
                    let mut random = crate::load::media::Random::new();
                    call.stream = Some(Stream {
                        remote: n.remote_rtp,
                        payload_type: n.payload_type,
                        event_type: n.telephone_event.unwrap_or(101),
                        ssrc: random.next_u32(),
                        sequence: random.next_u32() as u16,
                        timestamp: random.next_u32(),
                        codec: match n.codec {
                            sdp::Codec::Pcmu => Codec::Pcmu,
                            sdp::Codec::Pcma => Codec::Pcma,
                        },
                        frames: 0,
                    });
                    call.dialog = dialog;
                    call.state = State::Up;
                    call.up_at = Instant::now();
                    outcome.established += 1;
                }
                _ => {
                    call.state = State::Done;
                    outcome.failed += 1;
                }
            }
        }
        StackEvent::Timeout {
            transaction: TransactionId::Client(id),
        } => {
            if byes.remove(&id).is_some() {
                outcome.byes_unanswered += 1;
            }
            if let Some(call) = invites.remove(&id).and_then(|i| calls.get_mut(i)) {
                call.state = State::Done;
                outcome.failed += 1;
            }
        }
        StackEvent::Request {
            transaction,
            request,
            ..
        } => {
            let status = match request.method {
                Method::Bye | Method::Options | Method::Info => 200,
                _ => 501,
            };
            let _ = stack.respond(Instant::now(), transaction, make_response(&request, status));
            if request.method == Method::Bye {
                let call = request
                    .call_id()
                    .and_then(|id| by_call_id.get(id.trim()))
                    .and_then(|&i| calls.get_mut(i));
                if let Some(call) = call.filter(|c| c.state == State::Up) {
                    call.state = State::Done;
                    outcome.server_byes += 1;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
