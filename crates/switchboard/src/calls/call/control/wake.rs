//! What a controlled call waits on between two turns of its actor: one
//! `select!` over its controller's commands, the offer, the pacer's events,
//! the party's packets, loads, other calls' messages, the party's address
//! and its mixer's wish for keys, and its next deadline.

use std::future::Future;
use std::net::SocketAddr;

use call_control::{Failure, Request};
use tokio::sync::{mpsc, oneshot, watch};

use super::{announce, Control};
use crate::calls::join::PeerMessage;
use crate::control::Offered;
use crate::media::pacer::{PacerEvent, PromptFrames};
use crate::media::session::ReceivedRtp;

/// Waits for the next thing a controlled call must react to; never
/// resolves without a controller. `packets` is the caller leg's consumer
/// channel, which lives with the leg.
pub(in crate::calls::call) async fn wake(
    control: Option<&mut Control>,
    packets: Option<&mut mpsc::Receiver<ReceivedRtp>>,
) -> Wake {
    let Some(control) = control else {
        return std::future::pending().await;
    };
    let deadline = control.deadline();
    let peer = control.peer.as_mut();
    let (pacer, destination) = match control.media.as_mut() {
        Some(m) => (m.pacer_events.as_mut(), Some(&mut m.destination)),
        None => (None, None),
    };
    let loading = control.play.as_mut().and_then(|p| p.loading.as_mut());
    let announcing = control.announce.as_mut().and_then(|a| a.pending.as_mut());
    // Commands wait until the offer has resolved: the agent may send its
    // first request before the hub's answer reaches us, and its `Done` needs
    // the sink the offer brings.
    let commands_ready = control.commands_open && control.offering.is_none();
    let mixer_digits = control.mixer.as_mut().map(|m| &mut m.digits);
    tokio::select! {
        command = control.commands.recv(), if commands_ready => Wake::Command(command),
        offered = poll_opt(control.offering.as_mut()) => Wake::Offered(offered),
        event = recv_opt(pacer) => Wake::Pacer(event),
        packet = recv_opt(packets) => Wake::Packet(packet.map(Box::new)),
        loaded = loaded_opt(loading) => Wake::Loaded(loaded),
        ready = poll_opt(announcing) => {
            Wake::Announce(ready.unwrap_or(announce::Ready::Lost))
        }
        message = recv_opt(peer) => Wake::Peer(message),
        changed = changed_opt(destination) => Wake::Destination(changed),
        _ = changed_opt(mixer_digits) => Wake::MixerDigits,
        _ = crate::calls::call::sleep_until(deadline) => Wake::Deadline,
    }
}

/// What woke a controlled call.
pub(in crate::calls::call) enum Wake {
    Command(Option<Request>),
    Offered(Offered),
    Pacer(Option<PacerEvent>),
    /// Boxed: a packet is large and arrives only while a component reads them.
    Packet(Option<Box<ReceivedRtp>>),
    Loaded(Result<PromptFrames, Failure>),
    /// An announcement's load or re-rendering finished.
    Announce(announce::Ready),
    Destination(Option<SocketAddr>),
    Peer(Option<PeerMessage>),
    /// The mixer the call is in started or stopped wanting keys.
    MixerDigits,
    Deadline,
}

async fn poll_opt<F: Future + Unpin>(future: Option<&mut F>) -> F::Output {
    match future {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T>(rx: Option<&mut mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn loaded_opt(
    rx: Option<&mut oneshot::Receiver<Result<PromptFrames, Failure>>>,
) -> Result<PromptFrames, Failure> {
    match rx {
        Some(rx) => rx
            .await
            .unwrap_or_else(|_| Err(Failure::Internal("prompt loader stopped".into()))),
        None => std::future::pending().await,
    }
}

async fn changed_opt<T: Copy>(rx: Option<&mut watch::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(*rx.borrow_and_update()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
