//! Messages arriving from the network: matching, absorbing, answering, reporting.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use sip::{HeaderName, Host, Method, Request, Response, TypedHeaders, Via};

use super::machines::{CancelState, Owner, ServerEntry, ServerMachine};
use super::{ClientTransactionId, DialogEntry, ServerTransactionId};
use super::{SipStack, StackEvent};
use crate::dialog::{Dialog, DialogId, InDialogRejection};
use crate::response::make_response;
use crate::transaction::matching::{ClientKey, ServerKey};
use crate::transaction::server_invite::ServerInviteTransaction;
use crate::transaction::server_non_invite::ServerNonInviteTransaction;
use crate::transport::{ConnectionId, Destination, Transport};
use crate::wire;

/// The From and To tags of a received request.
struct Tags {
    from: Option<String>,
    to: Option<String>,
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4).
pub(super) fn response_destination(
    top_via: Option<&Via>,
    source: SocketAddr,
    transport: Transport,
    connection: Option<ConnectionId>,
) -> Destination {
    if transport.is_reliable() {
        return Destination {
            address: source,
            transport,
            connection,
        };
    }
    let port = match top_via {
        Some(via) if via.rport().is_some() => source.port(),
        Some(via) => via.port.unwrap_or(5060),
        None => source.port(),
    };
    Destination {
        address: SocketAddr::new(source.ip(), port),
        transport,
        connection: None,
    }
}

fn host_is(host: &Host, ip: IpAddr) -> bool {
    match (host, ip) {
        (Host::V4(h), IpAddr::V4(i)) => *h == i,
        (Host::V6(h), IpAddr::V6(i)) => *h == i,
        _ => false,
    }
}

/// Stamps `received` (sent-by differs from the source, or rport asked) and
/// `rport=<port>` into the top Via (§18.2.1, RFC 3581 §4).
fn stamp_via(request: &mut Request, via: &Via, source: SocketAddr) {
    let wants_rport = via.rport().is_some();
    if host_is(&via.host, source.ip()) && !wants_rport {
        return;
    }
    let mut stamped = via.clone();
    stamped
        .params
        .set("received", Some(source.ip().to_string()));
    if wants_rport {
        stamped.params.set("rport", Some(source.port().to_string()));
    }
    wire::replace_top_via(&mut request.headers, &stamped);
}

impl SipStack {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        mut request: Request,
        source: SocketAddr,
        transport: Transport,
        connection: Option<ConnectionId>,
    ) {
        let Some(via) = request.headers.top_via().ok() else {
            tracing::debug!(%source, "request without a usable Via dropped");
            return;
        };
        let destination = response_destination(Some(&via), source, transport, connection);
        let cseq = request.headers.cseq().ok();
        // From and To are parsed once here; their tags travel on as `Tags`.
        let tags = match (request.headers.from(), request.headers.to()) {
            (Ok(from), Ok(to)) => Some(Tags {
                from: from.tag().map(str::to_string),
                to: to.tag().map(str::to_string),
            }),
            _ => None,
        };
        let well_formed = tags.is_some()
            && request.headers.get(HeaderName::CallId).is_some()
            && cseq.as_ref().is_some_and(|c| c.method == request.method);
        let key = ServerKey::new(&request, &via, &request.method);
        let (Some(key), Some(tags), true) = (key, tags, well_formed) else {
            if request.method != Method::Ack {
                let bad = make_response(&request, 400);
                self.transmit(destination, bad.to_bytes());
            }
            return;
        };
        stamp_via(&mut request, &via, source);
        match request.method {
            Method::Ack => self.on_ack(now, request, key, tags),
            Method::Cancel => self.on_cancel(now, request, key, &via, destination),
            _ => {
                if let Some(id) = self.matching_server(&key, &request) {
                    self.on_retransmission(id);
                } else {
                    self.on_new_request(now, request, key, tags, source, destination);
                }
            }
        }
    }

    /// The server transaction a request belongs to, applying the RFC 2543 To-tag rule.
    fn matching_server(&self, key: &ServerKey, request: &Request) -> Option<u64> {
        let id = *self.server_keys.get(key)?;
        if !key.is_legacy() {
            return Some(id);
        }
        let entry = self.servers.get(&id)?;
        let to_tag = wire::tag_of(&request.headers, HeaderName::To);
        let original = wire::tag_of(&entry.request.headers, HeaderName::To);
        let answered = match &entry.machine {
            ServerMachine::Invite(t) => t.final_to_tag(),
            ServerMachine::NonInvite(_) => None,
        };
        let matches = if request.method == Method::Ack {
            to_tag == answered || to_tag == original
        } else {
            to_tag == original
        };
        matches.then_some(id)
    }

    fn on_retransmission(&mut self, id: u64) {
        let Some(entry) = self.servers.get_mut(&id) else {
            return;
        };
        let mut effects = Vec::new();
        match &mut entry.machine {
            ServerMachine::Invite(t) => t.on_retransmitted_invite(&mut effects),
            ServerMachine::NonInvite(t) => t.on_retransmitted_request(&mut effects),
        }
        tracing::trace!(id, "request retransmission absorbed");
        self.apply_server_effects(id, effects);
    }

    fn on_ack(&mut self, now: Instant, ack: Request, key: ServerKey, tags: Tags) {
        if let Some(id) = self.matching_server(&key, &ack) {
            if let Some(ServerMachine::Invite(t)) =
                self.servers.get_mut(&id).map(|e| &mut e.machine)
            {
                // ACK for a 2xx normally has its own branch; a peer reusing the
                // INVITE's branch lands here in Accepted and goes on to the dialog.
                if t.final_status().is_some_and(|s| s >= 300) {
                    t.on_ack(now);
                    self.settle_server(id);
                    return;
                }
            }
        }
        let (Some(call_id), Some(to_tag), Some(from_tag)) =
            (ack.headers.get(HeaderName::CallId), tags.to, tags.from)
        else {
            tracing::trace!("ACK matching nothing dropped");
            return;
        };
        let id = DialogId {
            call_id: call_id.trim().to_string(),
            local_tag: to_tag,
            remote_tag: from_tag,
        };
        let Some(entry) = self.dialogs.get_mut(&id) else {
            tracing::trace!("ACK matching no dialog dropped");
            return;
        };
        if entry.dialog.on_ack(&ack) {
            self.schedule_dialog(&id);
            self.emit(StackEvent::Ack {
                dialog: id,
                request: ack,
            });
        }
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        cancel: Request,
        key: ServerKey,
        via: &Via,
        destination: Destination,
    ) {
        if let Some(id) = self.matching_server(&key, &cancel) {
            self.on_retransmission(id);
            return;
        }
        if self.at_capacity() {
            self.reject_statelessly(&cancel, destination);
            return;
        }
        let invite_id = ServerKey::new(&cancel, via, &Method::Invite)
            .and_then(|k| self.server_keys.get(&k).copied())
            .filter(|id| {
                matches!(
                    self.servers.get(id).map(|e| &e.machine),
                    Some(ServerMachine::Invite(_))
                )
            });
        let status = if invite_id.is_some() { 200 } else { 481 };
        self.answer_in_new_transaction(now, &cancel, key, destination, status);
        let Some(invite_id) = invite_id else {
            return;
        };
        let pending = self
            .servers
            .get(&invite_id)
            .is_some_and(|e| !e.machine.is_answered());
        if !pending {
            return; // Already answered: the CANCEL has no effect (§9.2).
        }
        if let Some(invite) = self.servers.get(&invite_id).map(|e| e.request.clone()) {
            let terminated = make_response(&invite, 487);
            if let Err(error) = self.respond(now, ServerTransactionId(invite_id), terminated) {
                tracing::warn!(?error, "could not answer a cancelled INVITE");
            }
        }
        self.emit(StackEvent::Cancelled {
            transaction: ServerTransactionId(invite_id),
            cancel,
        });
    }

    /// A 503 without transaction: the table is full (RFC 3261 §21.5.4).
    fn reject_statelessly(&mut self, request: &Request, destination: Destination) {
        let mut busy = make_response(request, 503);
        busy.headers.push_known(HeaderName::RetryAfter, "5");
        self.transmit(destination, busy.to_bytes());
    }

    /// Creates a server transaction only to answer it at once (481, 500, CANCEL's 200),
    /// so retransmissions of the request are answered from memory.
    fn answer_in_new_transaction(
        &mut self,
        now: Instant,
        request: &Request,
        key: ServerKey,
        destination: Destination,
        status: u16,
    ) {
        let mut response = make_response(request, status);
        if status == 500 {
            // §14.2: tell the peer when to retry a colliding re-INVITE.
            response.headers.push_known(HeaderName::RetryAfter, "2");
        }
        let mut machine = ServerNonInviteTransaction::start(
            now,
            destination.transport.is_reliable(),
            self.config.timers,
        );
        let mut effects = Vec::new();
        if machine.send_response(now, &response, &mut effects).is_err() {
            return;
        }
        let entry = ServerEntry {
            key,
            machine: ServerMachine::NonInvite(machine),
            request: request.clone(),
            destination,
            scheduled: None,
        };
        self.insert_server(entry, effects);
    }

    fn on_new_request(
        &mut self,
        now: Instant,
        request: Request,
        key: ServerKey,
        tags: Tags,
        source: SocketAddr,
        destination: Destination,
    ) {
        if self.at_capacity() {
            self.reject_statelessly(&request, destination);
            return;
        }
        let mut dialog = None;
        if let Some(to_tag) = tags.to {
            let id = DialogId {
                call_id: request
                    .headers
                    .get(HeaderName::CallId)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                local_tag: to_tag,
                remote_tag: tags.from.unwrap_or_default(),
            };
            let Some(entry) = self.dialogs.get_mut(&id) else {
                self.answer_in_new_transaction(now, &request, key, destination, 481);
                return;
            };
            if request.method == Method::Invite && entry.dialog.local_invite_pending {
                self.answer_in_new_transaction(now, &request, key, destination, 491);
                return;
            }
            if request.method == Method::Invite && entry.dialog.awaiting_ack() {
                self.answer_in_new_transaction(now, &request, key, destination, 500);
                return;
            }
            if let Err(InDialogRejection::OutOfOrder) = entry.dialog.on_request(&request) {
                self.answer_in_new_transaction(now, &request, key, destination, 500);
                return;
            }
            if request.method == Method::Bye {
                self.remove_dialog(&id);
            }
            dialog = Some(id);
        }
        let reliable = destination.transport.is_reliable();
        let mut effects = Vec::new();
        let machine = if request.method == Method::Invite {
            ServerMachine::Invite(Box::new(ServerInviteTransaction::start(
                now,
                &request,
                reliable,
                self.config.timers,
                self.config.ring_limit,
                &mut effects,
            )))
        } else {
            ServerMachine::NonInvite(ServerNonInviteTransaction::start(
                now,
                reliable,
                self.config.timers,
            ))
        };
        let entry = ServerEntry {
            key,
            machine,
            request: request.clone(),
            destination,
            scheduled: None,
        };
        let transaction = self.insert_server(entry, effects);
        self.emit(StackEvent::Request {
            transaction,
            request,
            source,
            transport: destination.transport,
            connection: destination.connection,
            dialog,
        });
    }

    pub(super) fn on_response(&mut self, now: Instant, response: Response) {
        let Some(key) = ClientKey::of_response(&response) else {
            tracing::debug!("response without branch or CSeq dropped");
            return;
        };
        if let Some(&id) = self.client_keys.get(&key) {
            self.client_response(now, id, response);
            return;
        }
        // A 2xx retransmission after the INVITE transaction is gone: re-ACK from the dialog.
        if key.method == Method::Invite && (200..300).contains(&response.status) {
            if let Some((id, seq)) = uac_dialog_of(&response) {
                if let Some((bytes, destination)) =
                    self.dialogs.get(&id).and_then(|e| e.dialog.ack_for(seq))
                {
                    self.retransmit(destination, bytes);
                    return;
                }
            }
        }
        tracing::trace!(status = response.status, "stray response dropped");
    }

    /// A response the client transaction passes up: dialog bookkeeping, then the event.
    pub(super) fn deliver_response(&mut self, now: Instant, id: u64, response: Response) {
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        let status = response.status;
        let method = entry.key.method.clone();
        if method == Method::Invite
            && status > 100
            && status < 200
            && entry.cancel == CancelState::Pending
        {
            self.send_cancel(now, id);
        }
        let Some(entry) = self.clients.get(&id) else {
            return;
        };
        let owner = entry.owner;
        let mut dialog = entry.dialog.clone();
        if method == Method::Invite && status >= 200 {
            if let Some(d) = dialog.as_ref().and_then(|d| self.dialogs.get_mut(d)) {
                d.dialog.local_invite_pending = false;
            }
        }
        if method == Method::Invite && (200..300).contains(&status) {
            match self.confirm_uac_dialog(id, &response) {
                DialogOutcome::Retransmission => return,
                DialogOutcome::Dialog(d) => dialog = Some(d),
                DialogOutcome::None => {}
            }
        } else if (200..300).contains(&status) && method == Method::Update {
            if let Some(d) = dialog.as_ref().and_then(|d| self.dialogs.get_mut(d)) {
                d.dialog.on_refresh_response(&response);
            }
        } else if method == Method::Bye && status >= 200 && status != 401 && status != 407 {
            if let Some(d) = &dialog {
                self.remove_dialog(d);
            }
        }
        if owner == Owner::User {
            self.emit(StackEvent::Response {
                transaction: ClientTransactionId(id),
                response,
                dialog,
            });
        }
    }

    /// A 2xx to our INVITE: create or refresh the dialog and ACK (or leave the ACK to the user).
    fn confirm_uac_dialog(&mut self, id: u64, response: &Response) -> DialogOutcome {
        let Some((dialog_id, seq)) = uac_dialog_of(response) else {
            return DialogOutcome::None;
        };
        if let Some(entry) = self.dialogs.get(&dialog_id) {
            if let Some((bytes, destination)) = entry.dialog.ack_for(seq) {
                self.retransmit(destination, bytes);
                return DialogOutcome::Retransmission;
            }
            if entry.dialog.ack_owed == Some(seq) {
                return DialogOutcome::Retransmission; // The user has not ACKed yet.
            }
        }
        let Some(client) = self.clients.get(&id) else {
            return DialogOutcome::None;
        };
        let invite_had_body = !client.request.body.is_empty();
        let (invite, peer) = (client.request.clone(), client.destination);
        match self.dialogs.get_mut(&dialog_id) {
            Some(entry) => entry.dialog.on_refresh_response(response),
            None => {
                let Some(dialog) = Dialog::new_uac(&invite, response, peer) else {
                    tracing::debug!("2xx to INVITE without usable dialog headers");
                    return DialogOutcome::None;
                };
                self.dialogs.insert(
                    dialog_id.clone(),
                    DialogEntry {
                        dialog,
                        scheduled: None,
                    },
                );
            }
        }
        if invite_had_body {
            self.send_dialog_ack(&dialog_id, seq, None);
        } else if let Some(entry) = self.dialogs.get_mut(&dialog_id) {
            entry.dialog.ack_owed = Some(seq);
        }
        DialogOutcome::Dialog(dialog_id)
    }
}

enum DialogOutcome {
    /// A retransmitted 2xx, already re-ACKed: not reported again.
    Retransmission,
    /// The dialog the 2xx belongs to.
    Dialog(DialogId),
    /// No dialog could be formed.
    None,
}

/// The UAC dialog a response belongs to (From tag ours, To tag theirs) and its CSeq number.
fn uac_dialog_of(response: &Response) -> Option<(DialogId, u32)> {
    Some((
        DialogId {
            call_id: response.headers.get(HeaderName::CallId)?.trim().to_string(),
            local_tag: wire::tag_of(&response.headers, HeaderName::From)?,
            remote_tag: wire::tag_of(&response.headers, HeaderName::To)?,
        },
        response.headers.cseq().ok()?.seq,
    ))
}
