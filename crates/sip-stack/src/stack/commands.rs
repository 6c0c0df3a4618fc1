//! Commands from the user: send requests, answer requests, cancel, acknowledge.

use std::time::Instant;

use sip::{CSeq, HeaderName, Method, Request, Response, TypedHeaders};

use super::machines::{CancelState, ClientMachine, Owner, ServerMachine};
use super::{ClientTransactionId, DialogEntry, ServerTransactionId, SipStack, StackError};
use crate::dialog::{Dialog, DialogId};
use crate::response::ensure_to_tag;
use crate::transaction::client_invite::ClientInviteState;
use crate::transport::Destination;
use crate::wire;

impl SipStack {
    /// Sends a request outside any dialog (INVITE, OPTIONS, REGISTER, …) and
    /// returns its client transaction.
    ///
    /// The stack replaces any Via with its own (fresh branch, `rport`), adds a
    /// From tag, Call-ID, CSeq (`1 METHOD`) and Max-Forwards when absent.
    /// To and From must be present. ACK and CANCEL have their own commands.
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: Destination,
    ) -> Result<ClientTransactionId, StackError> {
        match request.method {
            Method::Ack => return Err(StackError::WrongCommand("ACK")),
            Method::Cancel => return Err(StackError::WrongCommand("CANCEL")),
            _ => {}
        }
        self.prepare_request(&mut request)?;
        let dialog = self.dialog_of_outgoing(&request);
        self.start_client(now, request, destination, Owner::User, dialog)
    }

    /// Fills what [`SipStack::send_request`] would fill (From tag, Call-ID,
    /// CSeq `1 METHOD`, Max-Forwards) and checks To, From and CSeq. Keep the
    /// prepared request when it may have to be resent with credentials
    /// ([`DigestClient::authorize_request`](crate::auth::DigestClient::authorize_request)).
    pub fn prepare_request(&mut self, request: &mut Request) -> Result<(), StackError> {
        if request.headers.to().ok().is_none() {
            return Err(StackError::BadHeader("To"));
        }
        let mut from = request
            .headers
            .from()
            .ok()
            .ok_or(StackError::BadHeader("From"))?;
        if from.tag().is_none() {
            from.params.set("tag", Some(self.new_tag()));
            request.headers.set(HeaderName::From, from.to_string());
        }
        if request.headers.get(HeaderName::CallId).is_none() {
            let call_id = self.new_call_id();
            request.headers.push_known(HeaderName::CallId, call_id);
        }
        match request.headers.get(HeaderName::CSeq) {
            None => request
                .headers
                .push_known(HeaderName::CSeq, format!("1 {}", request.method)),
            Some(value) => {
                if !matches!(CSeq::parse(value).ok(), Some(c) if c.method == request.method) {
                    return Err(StackError::BadHeader("CSeq"));
                }
            }
        }
        if request.headers.get(HeaderName::MaxForwards).is_none() {
            request.headers.push_known(HeaderName::MaxForwards, "70");
        }
        Ok(())
    }

    /// A request inside a dialog (BYE, re-INVITE, UPDATE, INFO, REFER, …) with
    /// Request-URI, Route, From, To, Call-ID, next CSeq and Contact filled in.
    /// Add a body or headers, then send it with [`SipStack::send_in_dialog`].
    pub fn new_in_dialog_request(
        &mut self,
        dialog: &DialogId,
        method: Method,
    ) -> Result<Request, StackError> {
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(StackError::WrongCommand(if method == Method::Ack {
                "ACK"
            } else {
                "CANCEL"
            }));
        }
        let entry = self
            .dialogs
            .get_mut(dialog)
            .ok_or(StackError::UnknownDialog)?;
        Ok(entry.dialog.new_request(method))
    }

    /// Sends a request built by [`SipStack::new_in_dialog_request`] to the
    /// dialog's next hop (first route, else remote target; see [`Dialog`]).
    pub fn send_in_dialog(
        &mut self,
        now: Instant,
        dialog: &DialogId,
        request: Request,
    ) -> Result<ClientTransactionId, StackError> {
        let entry = self.dialogs.get(dialog).ok_or(StackError::UnknownDialog)?;
        let destination = entry.dialog.next_hop();
        let is_invite = request.method == Method::Invite;
        let id = self.start_client(now, request, destination, Owner::User, Some(dialog.clone()))?;
        if is_invite {
            if let Some(entry) = self.dialogs.get_mut(dialog) {
                entry.dialog.local_invite_pending = true;
            }
        }
        Ok(id)
    }

    /// Answers a request. Build the response with [`make_response`](crate::make_response)
    /// (the stack adds the transaction's To tag if it is missing).
    ///
    /// A 2xx to an INVITE creates the dialog (or refreshes it for a re-INVITE)
    /// and is retransmitted by the stack until the ACK arrives; put a Contact in it.
    pub fn respond(
        &mut self,
        now: Instant,
        transaction: ServerTransactionId,
        mut response: Response,
    ) -> Result<(), StackError> {
        if !(100..700).contains(&response.status) {
            return Err(StackError::InvalidStatus(response.status));
        }
        let entry = self
            .servers
            .get(&transaction.0)
            .ok_or(StackError::UnknownTransaction)?;
        if entry.machine.is_answered() {
            return Err(StackError::AlreadyAnswered);
        }
        if response.status > 100 {
            ensure_to_tag(&mut response, &entry.request);
        }
        wire::fix_content_length(&mut response.headers, response.body.len());
        let is_invite_answer =
            entry.request.method == Method::Invite && (200..300).contains(&response.status);
        let destination = entry.destination;
        let mut effects = Vec::new();
        let entry = self
            .servers
            .get_mut(&transaction.0)
            .ok_or(StackError::UnknownTransaction)?;
        let sent = match &mut entry.machine {
            ServerMachine::Invite(t) => t.send_response(now, &response, &mut effects),
            ServerMachine::NonInvite(t) => t.send_response(now, &response, &mut effects),
        };
        sent.map_err(|_| StackError::AlreadyAnswered)?;
        if is_invite_answer {
            let invite = entry.request.clone();
            self.start_answer_retransmission(now, &invite, &response, destination);
        }
        self.apply_server_effects(transaction.0, effects);
        Ok(())
    }

    /// Creates the UAS dialog (or finds it, for a re-INVITE) and starts the 2xx retransmission.
    fn start_answer_retransmission(
        &mut self,
        now: Instant,
        invite: &Request,
        ok: &Response,
        peer: Destination,
    ) {
        let Some(seq) = invite.headers.cseq().ok().map(|c| c.seq) else {
            return;
        };
        let bytes = ok.to_bytes();
        let timers = self.config.timers;
        // A re-INVITE's 2xx belongs to the existing dialog (its request may lack Contact).
        let existing =
            DialogId::of_uas_answer(invite, ok).filter(|id| self.dialogs.contains_key(id));
        let id = match existing {
            Some(id) => id,
            None => {
                let Some(dialog) = Dialog::new_uas(invite, ok, peer) else {
                    tracing::debug!("2xx to INVITE without usable dialog headers; no dialog");
                    return;
                };
                let id = dialog.id().clone();
                self.dialogs.insert(
                    id.clone(),
                    DialogEntry {
                        dialog,
                        scheduled: None,
                    },
                );
                id
            }
        };
        if let Some(entry) = self.dialogs.get_mut(&id) {
            entry
                .dialog
                .start_answer_retransmission(now, seq, bytes, peer, &timers);
        }
        self.schedule_dialog(&id);
    }

    /// Cancels an INVITE we sent that has no final response yet (§9.1). The
    /// CANCEL goes out once a provisional has arrived; the INVITE then ends
    /// with 487 (reported as its response) or with whatever final won the race.
    pub fn cancel(
        &mut self,
        now: Instant,
        transaction: ClientTransactionId,
    ) -> Result<(), StackError> {
        let entry = self
            .clients
            .get_mut(&transaction.0)
            .ok_or(StackError::UnknownTransaction)?;
        let ClientMachine::Invite(invite) = &entry.machine else {
            return Err(StackError::NotCancellable);
        };
        match (invite.state(), entry.cancel) {
            (ClientInviteState::Proceeding, CancelState::None) => {
                self.send_cancel(now, transaction.0);
                Ok(())
            }
            (ClientInviteState::Calling, CancelState::None) => {
                entry.cancel = CancelState::Pending;
                Ok(())
            }
            (ClientInviteState::Calling | ClientInviteState::Proceeding, _) => Ok(()),
            _ => Err(StackError::NotCancellable),
        }
    }

    /// Sends the ACK for a 2xx whose INVITE had no body: the ACK carries the
    /// answer (`content_type` and `body`; empty body for none).
    pub fn send_ack(
        &mut self,
        now: Instant,
        dialog: &DialogId,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), StackError> {
        // ACK for a 2xx is transaction-less: no timer starts, so `now` is not needed yet.
        let _ = now;
        let entry = self
            .dialogs
            .get_mut(dialog)
            .ok_or(StackError::UnknownDialog)?;
        let seq = entry.dialog.ack_owed.take().ok_or(StackError::NoAckOwed)?;
        self.send_dialog_ack(dialog, seq, Some((content_type, body)));
        Ok(())
    }

    /// Builds, sends and remembers the ACK for the 2xx with CSeq `seq` (§13.2.2.4).
    pub(super) fn send_dialog_ack(
        &mut self,
        dialog: &DialogId,
        seq: u32,
        body: Option<(&str, Vec<u8>)>,
    ) {
        let Some(entry) = self.dialogs.get(dialog) else {
            return;
        };
        let mut ack = entry.dialog.request_with_cseq(Method::Ack, seq);
        let destination = entry.dialog.next_hop();
        let (via, _) = self.our_via(destination.transport);
        let Some(entry) = self.dialogs.get_mut(dialog) else {
            return;
        };
        ack.headers.prepend_known(HeaderName::Via, via);
        if let Some((content_type, body)) = body {
            ack.set_body(content_type, body);
        }
        let bytes = ack.to_bytes();
        entry.dialog.record_ack(seq, bytes.clone(), destination);
        self.transmit(destination, bytes);
    }

    /// The dialog an outgoing request belongs to, if it carries a known dialog's tags.
    fn dialog_of_outgoing(&self, request: &Request) -> Option<DialogId> {
        let id = DialogId {
            call_id: request.headers.get(HeaderName::CallId)?.trim().to_string(),
            local_tag: wire::tag_of(&request.headers, HeaderName::From)?,
            remote_tag: wire::tag_of(&request.headers, HeaderName::To)?,
        };
        self.dialogs.contains_key(&id).then_some(id)
    }
}
