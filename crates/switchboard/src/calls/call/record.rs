//! The call's detail record ([`crate::cdr`]), built once as the call ends
//! from what its state already holds, plus the few facts its
//! [`CallTrace`](crate::cdr::CallTrace) noted on the way.

use sip::HeaderName;

use super::Call;
use crate::calls::legs::MediaLeg;
use crate::calls::uac;
use crate::cdr::record::{header_uri, leg_media};
use crate::cdr::{CallRecord, LegMedia};
use crate::control::ControllerKind;

impl Call {
    /// Hands the call's record to the sink; call it once, as the call
    /// ends, before its media closes (the counters are read here).
    pub(super) fn submit_record(&self) {
        if !self.ctx.cdr.is_enabled() {
            return;
        }
        let mut r = CallRecord::new(self.a_invite.call_id().unwrap_or_default().to_string());
        r.b_call_id = self.b.as_ref().map(|b| uac::call_id_of(&b.uac.request));
        r.controller_call_id = self.ctx.registry.id_of(self.key).map(|id| id.to_string());
        let outbound = self.a_transaction.is_none();
        r.direction = if outbound { "outbound" } else { "inbound" }.into();
        r.from_uri = header_uri(&self.a_invite, HeaderName::From);
        r.to_uri = header_uri(&self.a_invite, HeaderName::To);
        r.dialed = self.bridge.dialed.clone();
        r.route = self.bridge.entry.id.clone();
        r.from_endpoint = self.bridge.from_endpoint.clone();
        r.to_endpoint = match &self.b {
            Some(b) => b.endpoint.clone(),
            None => self.bridge.endpoint.clone(),
        };
        r.controller = match self.bridge.controller {
            Some(ControllerKind::Agent) => "agent",
            Some(ControllerKind::Rayo) => "rayo",
            // Only Rayo clients dial calls (rayo/service.rs).
            None if outbound => "rayo",
            None => "none",
        }
        .into();
        r.a_media = leg(self.a_media.as_ref());
        r.b_media = leg(self.b.as_ref().map(|b| &b.media));
        r.recordings = self
            .recorder
            .iter()
            .map(|rec| rec.path().display().to_string())
            .collect();
        self.cdr.finish(self.answered_at, &mut r);
        self.ctx.cdr.submit(r);
    }
}

/// A leg's counters, zero when it never had a running session.
fn leg(media: Option<&MediaLeg>) -> LegMedia {
    media
        .and_then(|m| m.session.as_ref())
        .map(|s| leg_media(&s.stats(), s.outbound().packets()))
        .unwrap_or_default()
}
