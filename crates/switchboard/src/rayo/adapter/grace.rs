//! Clients that come and go, calls that vanish: the adapter's two timers.
//! A client whose stream closed keeps its calls for [`DISCONNECT_GRACE`]
//! (then they are hung up and its mixer components stopped); a taken call
//! whose command queue closed gets [`GONE_WAIT`] to report its own end.

use std::time::Instant;

use call_control::Command;
use xmpp::FullJid;

use super::{Invited, Output, RayoAdapter, DISCONNECT_GRACE, GONE_WAIT};
use crate::calls::CallKey;

impl<I: Invited> RayoAdapter<I> {
    /// `client` became available for offers, or stopped being (`dnd`,
    /// `unavailable`, stream closed): its invitations are dropped so the
    /// offer moves on; the calls it controls go on.
    pub fn availability(&mut self, client: &FullJid, available: bool) {
        if available {
            self.grace.remove(client);
            return;
        }
        for call in self.calls.values_mut() {
            drop(call.invitation_of(client));
        }
    }

    /// `client`'s stream closed: its invitations are dropped and the calls
    /// it controls are hung up after [`DISCONNECT_GRACE`], unless a
    /// session under the same full JID sends something first.
    pub fn closed(&mut self, now: Instant, client: &FullJid) {
        self.availability(client, false);
        self.forget_mixer_client(client);
        let controls = self
            .calls
            .values()
            .any(|c| c.controller.as_ref() == Some(client));
        if controls {
            self.grace.insert(client.clone(), now + DISCONNECT_GRACE);
        }
    }

    /// Time reached `now`: the calls of clients gone longer than the grace
    /// period are hung up (their `<end>` is sent as usual).
    pub fn handle_timeout(&mut self, now: Instant) {
        let (due, waiting) = std::mem::take(&mut self.vanished)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.vanished = waiting;
        for (_, id) in due {
            let reason = call_control::EndReason::Error("call went away".into());
            self.end(&id, &reason, None, Vec::new());
        }
        let expired: Vec<FullJid> = self
            .grace
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(jid, _)| jid.clone())
            .collect();
        for client in expired {
            self.grace.remove(&client);
            self.stop_mixer_components_of(&client);
            for call in self.calls.values_mut() {
                if call.controller.as_ref() != Some(&client) {
                    continue;
                }
                tracing::info!(%client, call = call.key, "Rayo client gone: hanging up its call");
                let hangup = Command::Hangup {
                    headers: Vec::new(),
                };
                if let Err(request) = call.send_internal(hangup) {
                    self.outputs
                        .push_back(Output::Deliver(call.handle.clone(), request));
                }
            }
        }
    }

    /// Call `key`'s command queue closed. A call nobody took ends for the
    /// clients it was offered to now (to them the caller hung up); a taken
    /// one gets [`GONE_WAIT`] to deliver its own `Ended` first.
    pub fn call_gone(&mut self, now: Instant, key: CallKey) {
        let Some(id) = self.ids.get(&key).cloned() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !call.handle.commands.is_closed() {
            // A queue of this call's before it was handed to us again
            // (a handover keeps the call's key): this one lives.
            return;
        }
        if call.controller.is_some() {
            if !self.vanished.iter().any(|(_, v)| *v == id) {
                self.vanished.push((now + GONE_WAIT, id));
            }
            return;
        }
        let reason = call_control::EndReason::CallerHangup;
        self.end(&id, &reason, None, Vec::new());
    }
}
