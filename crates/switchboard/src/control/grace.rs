//! What happens to a controller's calls when the controller goes away, and
//! to a controller when one of its calls vanishes: the same for every
//! protocol.
//!
//! - [`hang_up_after_grace`]: the calls of a controller that disconnected
//!   live on for a grace period (it may come back and the caller keeps
//!   hearing what plays); their events are drained meanwhile so none of
//!   them blocks on the dead queue; then every call that has not ended by
//!   itself gets a hangup.
//! - [`watch_call`]: reports a call whose command queue closed as ended, in
//!   case its own `Ended` never reaches the controller (the call failed, or
//!   was withdrawn just as the controller took it), so the controller lets
//!   go of it (an agent gets `bye`) instead of keeping a ghost.

use std::collections::HashMap;
use std::time::Duration;

use call_control::{Command, EndReason, Event, Request, RequestId};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tracing::info;

use super::CallHandle;
use crate::calls::CallKey;

/// How long a hangup after the grace period, or a call-gone report, may wait
/// for room in a queue.
const HANGUP_WAIT: Duration = Duration::from_secs(10);

/// A call left behind by a controller that went away.
#[derive(Debug)]
pub struct OrphanCall {
    /// The call.
    pub call: CallHandle,
    /// The request id the hangup goes out with (the next of the
    /// controller's ids for this call).
    pub hangup: RequestId,
    /// The controller's name for the call, for logs (an agent's did).
    pub name: String,
}

/// Drains the calls' `events` for `grace` (so none of them waits on a dead
/// controller), then hangs up every call that has not ended meanwhile.
pub async fn hang_up_after_grace(
    calls: Vec<OrphanCall>,
    mut events: mpsc::Receiver<(CallKey, Event)>,
    grace: Duration,
) {
    if calls.is_empty() {
        return;
    }
    info!(
        calls = calls.len(),
        ?grace,
        "controller gone; its calls end after the grace period"
    );
    let mut calls: HashMap<CallKey, OrphanCall> =
        calls.into_iter().map(|c| (c.call.key, c)).collect();
    let expiry = tokio::time::sleep(grace);
    tokio::pin!(expiry);
    while !calls.is_empty() {
        tokio::select! {
            () = &mut expiry => break,
            event = events.recv() => match event {
                None => break,
                Some((call, Event::Ended { .. })) => {
                    calls.remove(&call);
                }
                Some(_) => {}
            }
        }
    }
    for orphan in calls.into_values() {
        let hangup = Request {
            id: orphan.hangup,
            command: Command::Hangup {
                headers: Vec::new(),
            },
        };
        info!(name = %orphan.name, "hanging up the call of a gone controller");
        if let Err(TrySendError::Full(hangup)) = orphan.call.commands.try_send(hangup) {
            let commands = orphan.call.commands.clone();
            tokio::spawn(async move {
                let _ = commands.send_timeout(hangup, HANGUP_WAIT).await;
            });
        }
    }
}

/// Reports `call` as ended into `events` once its command queue closes,
/// unless the controller's queue closes first. A controller ignores a
/// second `Ended` for a call.
pub fn watch_call(call: CallHandle, events: mpsc::Sender<(CallKey, Event)>) {
    tokio::spawn(async move {
        tokio::select! {
            () = call.commands.closed() => {
                let gone = Event::Ended {
                    reason: EndReason::Error("call went away".into()),
                    code: None,
                    headers: Vec::new(),
                };
                let _ = events.send_timeout((call.key, gone), HANGUP_WAIT).await;
            }
            () = events.closed() => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(key: CallKey) -> (CallHandle, mpsc::Receiver<Request>) {
        let (commands, received) = mpsc::channel(4);
        (CallHandle { key, commands }, received)
    }

    #[tokio::test(start_paused = true)]
    async fn calls_still_up_after_the_grace_are_hung_up() {
        let (ends, mut ends_commands) = call(1);
        let (stays, mut stays_commands) = call(2);
        let (events, drained) = mpsc::channel(4);
        let orphans = vec![
            OrphanCall {
                call: ends,
                hangup: 5,
                name: "a".into(),
            },
            OrphanCall {
                call: stays,
                hangup: 9,
                name: "b".into(),
            },
        ];
        let grace = tokio::spawn(hang_up_after_grace(
            orphans,
            drained,
            Duration::from_secs(30),
        ));
        let ended = Event::Ended {
            reason: EndReason::Hangup,
            code: None,
            headers: Vec::new(),
        };
        events.send((1, ended)).await.expect("draining");
        grace.await.expect("ran");
        let hangup = stays_commands.try_recv().expect("hung up");
        assert_eq!(
            (hangup.id, hangup.command),
            (
                9,
                Command::Hangup {
                    headers: Vec::new()
                }
            )
        );
        assert!(ends_commands.try_recv().is_err(), "it ended by itself");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_vanishes_is_reported_ended() {
        let (handle, commands) = call(3);
        let (events, mut reported) = mpsc::channel(4);
        watch_call(handle, events);
        drop(commands);
        let (key, event) = reported.recv().await.expect("reported");
        assert_eq!(key, 3);
        assert!(matches!(event, Event::Ended { .. }));
    }
}
