//! Call progress analysis (XEP-0341) on the party's audio: the tone and
//! speech detectors of `media::cpa` fed with the packets the call already
//! receives for digits. DTMF signals come from the rules (the digits);
//! this part reports beeps, fax tones and the human/machine verdict.

use std::time::Duration;

use call_control::{Analysis, RequestId, Signal, SignalKind};
use media::{CpaDetector, CpaKind, CpaSignal, SpeechVerdict};
use sdp::Codec;

use crate::calls::call::Call;
use crate::media::session::ReceivedRtp;

impl Call {
    /// Starts analysis `id` (the rules have announced it): its audio
    /// detectors run on the party's packets from now on.
    pub(super) fn analyze(&mut self, id: RequestId, analysis: &Analysis) {
        if let Err(failure) = self.control_media() {
            return self.finished(id, Err(failure));
        }
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if let Some(analyzing) = Analyzing::new(id, analysis) {
            control.analyses.push(analyzing);
        }
        self.update_delivery();
    }

    /// Drops analysis `id`'s detectors; false when it had none.
    pub(super) fn stop_analysis(&mut self, id: RequestId) -> bool {
        let Some(control) = self.control.as_mut() else {
            return false;
        };
        let before = control.analyses.len();
        control.analyses.retain(|a| a.id != id);
        let stopped = control.analyses.len() != before;
        if stopped {
            self.update_delivery();
        }
        stopped
    }
}

/// One running analysis that listens to audio.
pub(super) struct Analyzing {
    /// The component.
    pub id: RequestId,
    /// Its detectors (a few µs per packet).
    detector: Box<CpaDetector>,
}

impl Analyzing {
    /// An analysis for `analysis` when it asks for any audio signal
    /// (`None`: digits only, which the rules handle alone).
    pub fn new(id: RequestId, analysis: &Analysis) -> Option<Analyzing> {
        let audio = analysis
            .signals
            .iter()
            .any(|(kind, _)| *kind != SignalKind::Dtmf);
        audio.then(|| Analyzing {
            id,
            detector: Box::default(),
        })
    }

    /// Feeds one packet of the party's audio (payload type `audio_pt` in
    /// `codec`); the signals it completes, as the model's.
    pub fn feed(
        &mut self,
        packet: &ReceivedRtp,
        audio_pt: u8,
        codec: Codec,
        found: &mut Vec<Signal>,
    ) {
        if packet.payload_type != audio_pt {
            return;
        }
        let mut report = |signal: CpaSignal| {
            if let Some(signal) = to_signal(&signal) {
                found.push(signal);
            }
        };
        match codec {
            Codec::Pcma => self.detector.process_alaw(packet.payload(), &mut report),
            _ => self.detector.process_ulaw(packet.payload(), &mut report),
        }
    }
}

/// A detector's signal as the model's; voice activity changes are not
/// signals a Rayo client asks for (`vad` is refused at the start).
fn to_signal(signal: &CpaSignal) -> Option<Signal> {
    let (kind, value) = match signal.kind {
        CpaKind::Beep => (SignalKind::Beep, Some(signal.value_text())),
        CpaKind::FaxCed => (SignalKind::FaxCed, None),
        CpaKind::FaxCng => (SignalKind::FaxCng, None),
        CpaKind::Speech(verdict) => (
            SignalKind::Speech,
            Some(
                match verdict {
                    SpeechVerdict::Human => "human",
                    SpeechVerdict::Machine => "machine",
                    SpeechVerdict::NotSure => "notsure",
                }
                .to_owned(),
            ),
        ),
        CpaKind::Vad(_) => return None,
    };
    Some(Signal {
        kind,
        value,
        duration: Duration::from_millis(u64::from(signal.duration_ms)),
    })
}
