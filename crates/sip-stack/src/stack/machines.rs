//! The transaction tables: entries, their timers, and turning machine effects into outputs.

use std::time::Instant;

use sip::{HeaderName, Method, Request, Response, TypedHeaders};

use super::{ClientTransactionId, ServerTransactionId};
use super::{SipStack, StackError, StackEvent, TimerOwner, TransactionId};
use crate::dialog::DialogId;
use crate::transaction::client_invite::{ClientInviteState, ClientInviteTransaction};
use crate::transaction::client_non_invite::{ClientNonInviteState, ClientNonInviteTransaction};
use crate::transaction::matching::{ClientKey, ServerKey};
use crate::transaction::server_invite::{ServerInviteState, ServerInviteTransaction};
use crate::transaction::server_non_invite::{ServerNonInviteState, ServerNonInviteTransaction};
use crate::transaction::TxEffect;
use crate::transport::Destination;
use crate::wire;

/// Whether the user or the stack itself started a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// Sent by the user: responses and timeouts are reported.
    User,
    /// Sent by the stack (CANCEL, BYE after ACK timeout): consumed silently.
    Stack,
}

/// Progress of a CANCEL the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CancelState {
    /// Not asked.
    None,
    /// Asked before any provisional: sent when the first 1xx arrives (§9.1).
    Pending,
    /// Sent.
    Sent,
}

/// The state machine of a client transaction, by request kind.
#[derive(Debug)]
pub(super) enum ClientMachine {
    Invite(Box<ClientInviteTransaction>),
    NonInvite(ClientNonInviteTransaction),
}

impl ClientMachine {
    fn next_deadline(&self) -> Option<Instant> {
        match self {
            ClientMachine::Invite(t) => t.next_deadline(),
            ClientMachine::NonInvite(t) => t.next_deadline(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            ClientMachine::Invite(t) => t.state() == ClientInviteState::Terminated,
            ClientMachine::NonInvite(t) => t.state() == ClientNonInviteState::Terminated,
        }
    }
}

/// A request we sent.
#[derive(Debug)]
pub(super) struct ClientEntry {
    pub(super) key: ClientKey,
    pub(super) machine: ClientMachine,
    pub(super) request: Request,
    pub(super) destination: Destination,
    pub(super) owner: Owner,
    pub(super) dialog: Option<DialogId>,
    pub(super) cancel: CancelState,
    pub(super) scheduled: Option<Instant>,
}

/// The state machine of a server transaction, by request kind.
#[derive(Debug)]
pub(super) enum ServerMachine {
    Invite(Box<ServerInviteTransaction>),
    NonInvite(ServerNonInviteTransaction),
}

impl ServerMachine {
    fn next_deadline(&self) -> Option<Instant> {
        match self {
            ServerMachine::Invite(t) => t.next_deadline(),
            ServerMachine::NonInvite(t) => t.next_deadline(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            ServerMachine::Invite(t) => t.state() == ServerInviteState::Terminated,
            ServerMachine::NonInvite(t) => t.state() == ServerNonInviteState::Terminated,
        }
    }

    /// Whether a final response has been sent.
    pub(super) fn is_answered(&self) -> bool {
        match self {
            ServerMachine::Invite(t) => t.final_status().is_some(),
            ServerMachine::NonInvite(t) => t.final_status().is_some(),
        }
    }
}

/// A request we received.
#[derive(Debug)]
pub(super) struct ServerEntry {
    pub(super) key: ServerKey,
    pub(super) machine: ServerMachine,
    pub(super) request: Request,
    pub(super) destination: Destination,
    pub(super) scheduled: Option<Instant>,
}

impl SipStack {
    /// Adds our Via (fresh branch, `rport`) and starts a client transaction.
    pub(super) fn start_client(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: Destination,
        owner: Owner,
        dialog: Option<DialogId>,
    ) -> Result<ClientTransactionId, StackError> {
        if owner == Owner::User && self.at_capacity() {
            return Err(StackError::Overloaded);
        }
        let (via, branch) = self.our_via(destination.transport);
        request.headers.remove(HeaderName::Via);
        request.headers.prepend_known(HeaderName::Via, via);
        self.start_client_with_via(now, request, branch, destination, owner, dialog)
    }

    /// Starts a client transaction for a request whose top Via is already set (CANCEL).
    pub(super) fn start_client_with_via(
        &mut self,
        now: Instant,
        mut request: Request,
        branch: String,
        destination: Destination,
        owner: Owner,
        dialog: Option<DialogId>,
    ) -> Result<ClientTransactionId, StackError> {
        wire::fix_content_length(&mut request.headers, request.body.len());
        let reliable = destination.transport.is_reliable();
        let timers = self.config.timers;
        let mut effects = Vec::new();
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(Box::new(ClientInviteTransaction::start(
                now,
                &request,
                reliable,
                timers,
                &mut effects,
            )))
        } else {
            ClientMachine::NonInvite(ClientNonInviteTransaction::start(
                now,
                &request,
                reliable,
                timers,
                &mut effects,
            ))
        };
        let key = ClientKey {
            branch,
            method: request.method.clone(),
        };
        let id = self.allocate_id();
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientEntry {
                key,
                machine,
                request,
                destination,
                owner,
                dialog,
                cancel: CancelState::None,
                scheduled: None,
            },
        );
        self.apply_client_effects(now, id, effects);
        Ok(ClientTransactionId(id))
    }

    /// Registers a new server transaction (the caller already made the machine).
    pub(super) fn insert_server(
        &mut self,
        entry: ServerEntry,
        effects: Vec<TxEffect>,
    ) -> ServerTransactionId {
        let id = self.allocate_id();
        self.server_keys.insert(entry.key.clone(), id);
        self.servers.insert(id, entry);
        self.apply_server_effects(id, effects);
        ServerTransactionId(id)
    }

    pub(super) fn client_timer(&mut self, now: Instant, at: Instant, id: u64) {
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        if entry.scheduled != Some(at) {
            return;
        }
        entry.scheduled = None;
        let mut effects = Vec::new();
        match &mut entry.machine {
            ClientMachine::Invite(t) => t.on_timer(now, &mut effects),
            ClientMachine::NonInvite(t) => t.on_timer(now, &mut effects),
        }
        self.apply_client_effects(now, id, effects);
    }

    pub(super) fn server_timer(&mut self, now: Instant, at: Instant, id: u64) {
        let Some(entry) = self.servers.get_mut(&id) else {
            return;
        };
        if entry.scheduled != Some(at) {
            return;
        }
        entry.scheduled = None;
        let mut effects = Vec::new();
        match &mut entry.machine {
            ServerMachine::Invite(t) => t.on_timer(now, &entry.request, &mut effects),
            ServerMachine::NonInvite(t) => t.on_timer(now, &mut effects),
        }
        self.apply_server_effects(id, effects);
    }

    /// Feeds a response to a client transaction.
    pub(super) fn client_response(&mut self, now: Instant, id: u64, response: Response) {
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        let mut effects = Vec::new();
        match &mut entry.machine {
            ClientMachine::Invite(t) => t.on_response(now, &entry.request, response, &mut effects),
            ClientMachine::NonInvite(t) => t.on_response(now, response, &mut effects),
        }
        self.apply_client_effects(now, id, effects);
    }

    pub(super) fn apply_client_effects(&mut self, now: Instant, id: u64, effects: Vec<TxEffect>) {
        for effect in effects {
            let Some(entry) = self.clients.get(&id) else {
                return;
            };
            match effect {
                TxEffect::Transmit(bytes) => {
                    let destination = entry.destination;
                    self.transmit(destination, bytes);
                }
                TxEffect::Retransmit(bytes) => {
                    let destination = entry.destination;
                    self.retransmit(destination, bytes);
                }
                TxEffect::PassUp(response) => self.deliver_response(now, id, response),
                TxEffect::Timeout => {
                    let (owner, method, dialog) =
                        (entry.owner, entry.key.method.clone(), entry.dialog.clone());
                    if let Some(dialog) = dialog {
                        if method == Method::Bye {
                            self.remove_dialog(&dialog);
                        } else if let Some(d) = self.dialogs.get_mut(&dialog) {
                            if method == Method::Invite {
                                d.dialog.local_invite_pending = false;
                            }
                        }
                    }
                    if owner == Owner::User {
                        self.emit(StackEvent::Timeout {
                            transaction: TransactionId::Client(ClientTransactionId(id)),
                        });
                    }
                }
            }
        }
        self.settle_client(id);
    }

    pub(super) fn apply_server_effects(&mut self, id: u64, effects: Vec<TxEffect>) {
        for effect in effects {
            let Some(entry) = self.servers.get(&id) else {
                return;
            };
            match effect {
                TxEffect::Transmit(bytes) => {
                    let destination = entry.destination;
                    self.transmit(destination, bytes);
                }
                TxEffect::Retransmit(bytes) => {
                    let destination = entry.destination;
                    self.retransmit(destination, bytes);
                }
                TxEffect::Timeout => self.emit(StackEvent::Timeout {
                    transaction: TransactionId::Server(ServerTransactionId(id)),
                }),
                TxEffect::PassUp(_) => {}
            }
        }
        self.settle_server(id);
    }

    /// Removes a terminated client transaction, or re-queues its timer.
    pub(super) fn settle_client(&mut self, id: u64) {
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        let terminated = entry.machine.is_terminated();
        let next = if terminated {
            None
        } else {
            entry.machine.next_deadline()
        };
        self.timers
            .schedule(TimerOwner::Client(id), &mut entry.scheduled, next);
        if terminated {
            let key = entry.key.clone();
            self.clients.remove(&id);
            if self.client_keys.get(&key) == Some(&id) {
                self.client_keys.remove(&key);
            }
        }
    }

    /// Removes a terminated server transaction, or re-queues its timer.
    pub(super) fn settle_server(&mut self, id: u64) {
        let Some(entry) = self.servers.get_mut(&id) else {
            return;
        };
        let terminated = entry.machine.is_terminated();
        let next = if terminated {
            None
        } else {
            entry.machine.next_deadline()
        };
        self.timers
            .schedule(TimerOwner::Server(id), &mut entry.scheduled, next);
        if terminated {
            let key = entry.key.clone();
            self.servers.remove(&id);
            if self.server_keys.get(&key) == Some(&id) {
                self.server_keys.remove(&key);
            }
        }
    }

    /// The driver reports that sending to `destination` failed (connection
    /// closed, ICMP unreachable): every transaction bound to it ends with a
    /// [`StackEvent::TransportError`]. With a connection id, transactions on
    /// that connection match; without, those with the same address and transport.
    pub fn handle_transport_error(&mut self, _now: Instant, destination: Destination) {
        let matches = |d: &Destination| match destination.connection {
            Some(c) => d.connection == Some(c),
            None => d.address == destination.address && d.transport == destination.transport,
        };
        let mut failed_clients: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, e)| matches(&e.destination))
            .map(|(id, _)| *id)
            .collect();
        failed_clients.sort_unstable();
        for id in failed_clients {
            let Some(entry) = self.clients.get_mut(&id) else {
                continue;
            };
            match &mut entry.machine {
                ClientMachine::Invite(t) => t.on_transport_error(),
                ClientMachine::NonInvite(t) => t.on_transport_error(),
            }
            if entry.owner == Owner::User {
                self.emit(StackEvent::TransportError {
                    transaction: TransactionId::Client(ClientTransactionId(id)),
                });
            }
            self.settle_client(id);
        }
        let mut failed_servers: Vec<u64> = self
            .servers
            .iter()
            .filter(|(_, e)| matches(&e.destination))
            .map(|(id, _)| *id)
            .collect();
        failed_servers.sort_unstable();
        for id in failed_servers {
            let Some(entry) = self.servers.get_mut(&id) else {
                continue;
            };
            match &mut entry.machine {
                ServerMachine::Invite(t) => t.on_transport_error(),
                ServerMachine::NonInvite(t) => t.on_transport_error(),
            }
            self.emit(StackEvent::TransportError {
                transaction: TransactionId::Server(ServerTransactionId(id)),
            });
            self.settle_server(id);
        }
    }

    /// Builds the CANCEL for an INVITE client transaction (§9.1) and sends it.
    pub(super) fn send_cancel(&mut self, now: Instant, invite_id: u64) {
        let Some(entry) = self.clients.get_mut(&invite_id) else {
            return;
        };
        entry.cancel = CancelState::Sent;
        let invite = &entry.request;
        let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
        if let Ok(via) = invite.headers.top_via() {
            cancel.headers.push_known(HeaderName::Via, via.to_string());
        }
        for route in invite.headers.get_all(HeaderName::Route) {
            cancel.headers.push_known(HeaderName::Route, route);
        }
        cancel.headers.push_known(HeaderName::MaxForwards, "70");
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(value) = invite.headers.get(name) {
                cancel.headers.push_known(name, value);
            }
        }
        if let Ok(cseq) = invite.headers.cseq() {
            cancel
                .headers
                .push_known(HeaderName::CSeq, format!("{} CANCEL", cseq.seq));
        }
        let (branch, destination) = (entry.key.branch.clone(), entry.destination);
        if let Err(error) =
            self.start_client_with_via(now, cancel, branch, destination, Owner::Stack, None)
        {
            tracing::warn!(?error, "could not send CANCEL");
        }
    }
}
