//! The call's detail record ([`crate::cdr`]), built once as the call ends
//! from what its state already holds, plus the few facts its
//! [`CallTrace`](crate::cdr::CallTrace) noted on the way.

use sip::HeaderName;

use super::Call;
use crate::calls::legs::MediaLeg;
use crate::calls::totals::Controlled;
use crate::calls::uac;
use crate::cdr::record::{header_uri, leg_media};
use crate::cdr::{CallRecord, LegMedia};

impl Call {
    /// Who controls the call, as the totals and the record name it.
    pub(super) fn controlled(&self) -> Controlled {
        Controlled::of(self.bridge.controller, self.a_transaction.is_none())
    }

    /// Counts the call's end and, when records are kept, hands its record
    /// to the sink; call it once, as the call ends, before its media closes
    /// (the counters are read here).
    pub(super) fn submit_record(&self) {
        let disposition = self.cdr.disposition(self.answered_at);
        self.ctx.totals.finished(self.controlled(), disposition);
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
        r.controller = self.controlled().as_str().into();
        r.a_media = leg(self.a_media.as_ref());
        r.b_media = leg(self.b.as_ref().map(|b| &b.media));
        r.recordings = self
            .recorder
            .iter()
            .map(|rec| rec.path().display().to_string())
            .chain(self.recorded.iter().cloned())
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
