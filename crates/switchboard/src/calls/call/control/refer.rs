//! A redirect after answer: REFER the caller to the target (RFC 3515).
//!
//! The redirect request finishes with the REFER's final response (2xx: the
//! caller accepted to call the target; otherwise `Refused`). The caller
//! then reports the new call's progress in NOTIFYs with a `message/sipfrag`
//! body; a 2xx there means the transfer worked, so the call is over for the
//! controller (`Redirected`) and we hang up. A failed transfer leaves the
//! call as it was.

use call_control::{EndReason, Failure, Output, RequestId};
use sip::{HeaderName, Method, Request};
use sip_stack::{make_response, ClientTransactionId, ServerTransactionId, TransactionId};
use tokio::sync::oneshot;

use crate::calls::call::{AState, Call};
use crate::calls::{SipCommand, SipEvent};

/// A REFER we sent for a redirect request.
pub(super) struct Referral {
    id: RequestId,
    transaction: ClientTransactionId,
    /// The REFER got its 2xx: NOTIFYs now tell how the transfer goes.
    accepted: bool,
}

impl Call {
    /// Sends the REFER for redirect `id`; its final response finishes it.
    pub(super) async fn refer(&mut self, id: RequestId, uri: &str) -> Result<(), Failure> {
        let Some(dialog) = self.a_dialog.clone() else {
            return Err(Failure::NotAnswered);
        };
        let (reply, answer) = oneshot::channel();
        let headers = vec![
            (HeaderName::ReferTo, format!("<{uri}>")),
            (HeaderName::UserAgent, self.ctx.user_agent.clone()),
            (HeaderName::Contact, self.ctx.contact.clone()),
        ];
        self.send(SipCommand::SendInDialog {
            call: self.key,
            dialog,
            method: Method::Refer,
            headers,
            extra: Vec::new(),
            body: None,
            reply,
        })
        .await;
        let transaction = match answer.await {
            Ok(Ok(transaction)) => transaction,
            Ok(Err(error)) => return Err(Failure::Internal(format!("REFER not sent: {error}"))),
            Err(_) => return Err(Failure::Internal("REFER not sent".into())),
        };
        tracing::info!(%uri, "redirecting the answered caller (REFER)");
        if let Some(control) = self.control.as_mut() {
            control.referral = Some(Referral {
                id,
                transaction,
                accepted: false,
            });
        }
        Ok(())
    }

    /// Takes the SIP events that belong to a redirect in progress (the
    /// REFER's responses, the caller's NOTIFYs); hands back the others.
    pub(in crate::calls::call) async fn referral_event(
        &mut self,
        event: SipEvent,
    ) -> Option<SipEvent> {
        let Some(referral) = self.control.as_ref().and_then(|c| c.referral.as_ref()) else {
            return Some(event);
        };
        let (id, ours) = (referral.id, referral.transaction);
        match event {
            SipEvent::Response {
                transaction,
                response,
                ..
            } if transaction == ours => {
                let status = response.status;
                if status < 200 {
                    return None;
                }
                let result = if status < 300 {
                    Ok(Output::None)
                } else {
                    Err(Failure::Refused(status))
                };
                if let Some(control) = self.control.as_mut() {
                    match control.referral.as_mut() {
                        Some(r) if status < 300 => r.accepted = true,
                        _ => control.referral = None,
                    }
                    control.rules.finished(id, result);
                }
                self.drive().await;
                None
            }
            SipEvent::Timeout { transaction } | SipEvent::TransportError { transaction }
                if transaction == TransactionId::Client(ours) =>
            {
                if let Some(control) = self.control.as_mut() {
                    control.referral = None;
                    control.rules.finished(id, Err(Failure::Refused(408)));
                }
                self.drive().await;
                None
            }
            SipEvent::Request {
                transaction,
                request,
                dialog,
            } if request.method == Method::Notify
                && dialog.is_some()
                && dialog == self.a_dialog =>
            {
                self.on_notify(transaction, &request).await;
                None
            }
            other => Some(other),
        }
    }

    async fn on_notify(&mut self, transaction: ServerTransactionId, request: &Request) {
        self.respond(transaction, make_response(request, 200)).await;
        let accepted = self
            .control
            .as_ref()
            .and_then(|c| c.referral.as_ref())
            .is_some_and(|r| r.accepted);
        // `message/sipfrag`: its first line is the new call's status line.
        let status = std::str::from_utf8(&request.body)
            .ok()
            .and_then(|body| body.lines().next())
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse::<u16>().ok());
        let Some(status) = status.filter(|s| *s >= 200 && accepted) else {
            return;
        };
        if let Some(control) = self.control.as_mut() {
            control.referral = None;
        }
        if status >= 300 {
            tracing::info!(status, "the caller's transfer failed; the call goes on");
            return;
        }
        tracing::info!("the caller was transferred; hanging up");
        if let Some(control) = self.control.as_mut() {
            control.rules.gone(EndReason::Redirected);
        }
        self.drive().await;
        if self.a_state == AState::Answered {
            self.hang_up_a().await;
        }
    }
}
