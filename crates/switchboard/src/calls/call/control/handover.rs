//! A call handed from its controller to another controller endpoint (an
//! agent's `redirect` to a Rayo endpoint, a Rayo client's `<redirect
//! to='endpoint:NAME'/>` to an agent endpoint).
//!
//! The old controller's part ends as for a transfer (its components
//! complete, it hears `Ended{Transferred}`, its command queue closes); the
//! call keeps its SIP dialog, its registry id and its pacer stream, so the
//! caller hears silence until the new controller plays. The new controller
//! is found by an offer like an incoming call's, with rules that start
//! where the call stands ([`CallRules::handed_over`]).

use call_control::{CallRules, EndReason, Failure, Output, RequestId, SlotPolicy};
use tokio::sync::mpsc;

use super::{call_info, now, Control, Offering};
use crate::calls::call::{AState, Call};
use crate::calls::join::PEER_QUEUE;
use crate::calls::registry::CallRegistry;
use crate::control::{CallHandle, Offer, CALL_COMMAND_QUEUE};

impl Call {
    /// Hands the call to the controllers of `endpoint` (an agent or Rayo
    /// endpoint); request `id` finishes `Ok` once the old controller is let go.
    pub(super) async fn hand_over(&mut self, id: RequestId, endpoint: String) {
        if self.a_state == AState::Done {
            return self.finished(id, Err(Failure::CallEnded));
        }
        let answered = self.a_state == AState::Answered;
        tracing::info!(%endpoint, answered, "handing the call to another controller");
        self.finished(id, Ok(Output::None));
        self.drive().await;
        let Some(mut old) = self.release_controller(EndReason::Transferred).await else {
            return;
        };
        let media = old.media.take();
        let old_id = old.registration.take().map(|r| r.id().to_string());
        drop(old);

        let (commands_tx, commands) = mpsc::channel(CALL_COMMAND_QUEUE);
        let (peer_tx, peer) = mpsc::channel(PEER_QUEUE);
        let handle = CallHandle {
            key: self.key,
            commands: commands_tx.clone(),
        };
        // The same id when it is still free (the old entry went with the
        // old registration), else a fresh one.
        let registry = &self.ctx.registry;
        let registration =
            match old_id.map(|id| registry.register(id, handle.clone(), peer_tx.clone())) {
                Some(Ok(registration)) => Ok(registration),
                _ => CallRegistry::normalize(None)
                    .and_then(|id| registry.register(id, handle, peer_tx)),
            };
        let registration = match registration {
            Ok(registration) => registration,
            Err(error) => {
                tracing::warn!(%error, "cannot register the handed-over call");
                if let Some(media) = media {
                    let _ = self.ctx.pacer.remove_stream(media.stream);
                }
                return self.hang_up_a().await;
            }
        };
        let mut control = Control::new(commands, registration, peer);
        control.rules =
            CallRules::handed_over(SlotPolicy::Replace, answered, media.is_some(), now());
        control.media = media;
        let offer = Offer {
            endpoint: endpoint.clone(),
            info: call_info(self),
            call: CallHandle {
                key: self.key,
                commands: commands_tx,
            },
        };
        control.offering = Some(Offering(tokio::spawn(self.ctx.controllers.offer(offer))));
        self.control = Some(control);
        self.bridge.endpoint = endpoint;
        self.bridge.entry.fallback = None;
        // The old controller's digit subscriptions are gone.
        self.update_delivery();
    }

    /// Nobody at the new endpoint took an answered, handed-over call: it is
    /// hung up (BYE). An unanswered one is refused like any declined offer.
    pub(super) async fn handover_declined(&mut self) {
        tracing::info!(endpoint = %self.bridge.endpoint, "no controller took the handed-over call");
        self.set_end_reason(EndReason::Hangup);
        self.hang_up_a().await;
    }
}
