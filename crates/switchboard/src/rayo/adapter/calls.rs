//! One call as the Rayo adapter knows it: who it was offered to, who
//! controls it, and which IQs wait for the call's answer.

use std::collections::BTreeMap;

use call_control::{Request, RequestId};
use tokio::sync::mpsc::error::TrySendError;
use xmpp::{Element, FullJid};

use crate::calls::CallKey;
use crate::control::CallHandle;

/// An IQ whose answer waits for its request's `Done`.
#[derive(Debug)]
pub(super) struct PendingIq {
    /// The client that sent it.
    pub client: FullJid,
    /// The IQ as received (answered by swapping its addresses).
    pub request: Element,
    /// The command's element name (picks the error for a failure).
    pub command: &'static str,
    /// The component it starts, if it does: answered with a `<ref>` at
    /// the component's `Started`.
    pub component: Option<super::media::ComponentKind>,
    /// The mixer a `<join>` names: its `Done` is answered with the
    /// mixer's `<ref>`.
    pub mixer: Option<String>,
}

/// A call offered to Rayo clients.
#[derive(Debug)]
pub(super) struct RayoCall<I> {
    /// The call's key in the call table.
    pub key: CallKey,
    /// How commands reach it.
    pub handle: CallHandle,
    /// Invitations held for clients that have not sent a command yet.
    pub invitations: Vec<(FullJid, I)>,
    /// Every client the offer reached, in order (all get the `<end>`).
    pub offered: Vec<FullJid>,
    /// The definitive controlling party, once one sent a command.
    pub controller: Option<FullJid>,
    /// Whether we originated the call (then `<answered>` is news).
    pub dialed: bool,
    /// The calls or mixers it is joined to, as its events said.
    pub joins: Vec<call_control::JoinTarget>,
    /// Digits are subscribed (asked when the call is taken or dialed).
    pub dtmf_subscribed: bool,
    /// IQs waiting for their request's `Done`, by request id.
    pub pending: BTreeMap<RequestId, PendingIq>,
    /// Running components, by request id.
    pub components: BTreeMap<RequestId, super::components::Component>,
    /// Requests of the adapter's own (DTMF subscription, grace hangup)
    /// whose `Done` nobody waits for.
    pub internal: Vec<RequestId>,
    next_request: RequestId,
}

impl<I> RayoCall<I> {
    /// A call just offered, with no invitation recorded yet.
    pub fn new(key: CallKey, handle: CallHandle) -> RayoCall<I> {
        RayoCall {
            key,
            handle,
            invitations: Vec::new(),
            offered: Vec::new(),
            controller: None,
            dialed: false,
            joins: Vec::new(),
            dtmf_subscribed: false,
            pending: BTreeMap::new(),
            components: BTreeMap::new(),
            internal: Vec::new(),
            next_request: 1,
        }
    }

    /// The id for the next request to this call.
    pub fn next_id(&mut self) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    /// Queues a request of the adapter's own; `Err` gives it back when the
    /// call's queue is full (the call is gone otherwise, and says so).
    pub fn send_internal(&mut self, command: call_control::Command) -> Result<(), Request> {
        let request = Request {
            id: self.next_id(),
            command,
        };
        let id = request.id;
        match self.handle.commands.try_send(request) {
            Ok(()) => {
                self.internal.push(id);
                Ok(())
            }
            Err(TrySendError::Full(request)) => {
                self.internal.push(id);
                Err(request)
            }
            Err(TrySendError::Closed(_)) => Ok(()),
        }
    }

    /// Subscribes the call's digits for its controller, once: the call
    /// reports them as soon as its media runs.
    pub fn subscribe_dtmf(&mut self) -> Result<(), Request> {
        if self.dtmf_subscribed {
            return Ok(());
        }
        self.dtmf_subscribed = true;
        self.send_internal(call_control::Command::DtmfEvents { enabled: true })
    }

    /// Takes the invitation held for `client`, if any.
    pub fn invitation_of(&mut self, client: &FullJid) -> Option<I> {
        let position = self.invitations.iter().position(|(jid, _)| jid == client)?;
        Some(self.invitations.remove(position).1)
    }
}
