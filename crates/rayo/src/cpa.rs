//! Call progress analysis (XEP-0341, RAYO.md §3.6): the signals an input
//! with `mode='cpa'` listens for, named by grammar URLs
//! `urn:xmpp:rayo:cpa:<signal>:1?terminate=true&…`, and the `<signal>`
//! element reporting one (as an event, or as the completion reason when
//! the grammar said `terminate`).

use xmpp::Element;

use crate::error::CommandError;

/// The CPA namespace of `<signal>`.
pub const NS_CPA: &str = crate::ns::CPA;

/// Signals XEP-0341 names besides those this server detects.
const OTHER_SIGNALS: [&str; 7] = [
    "vad",
    "ring",
    "busy",
    "congestion",
    "sit",
    "modem",
    "offhook",
];

/// A signal to detect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CpaSignal {
    /// A DTMF key (`value` is the key).
    Dtmf,
    /// An answering machine's beep.
    Beep,
    /// The first utterance (`value` human or machine).
    Speech,
    /// The 2100 Hz answer tone of a called fax.
    FaxCed,
    /// The 1100 Hz calling tone of a fax.
    FaxCng,
    /// Any other signal name (XEP-0341's `vad`, `ring`, `busy`, …, or one
    /// it does not know): the adapter refuses the input naming it.
    Unsupported(String),
}

impl CpaSignal {
    /// The signal's name in its URN.
    pub fn name(&self) -> &str {
        match self {
            CpaSignal::Dtmf => "dtmf",
            CpaSignal::Beep => "beep",
            CpaSignal::Speech => "speech",
            CpaSignal::FaxCed => "fax-ced",
            CpaSignal::FaxCng => "fax-cng",
            CpaSignal::Unsupported(name) => name,
        }
    }

    /// The signal's URN, as in `<signal type>`.
    pub fn urn(&self) -> String {
        format!("urn:xmpp:rayo:cpa:{}:1", self.name())
    }

    /// Whether XEP-0341 defines the signal (an unsupported one it defines
    /// is still a signal the client may legitimately ask for).
    pub fn is_defined(&self) -> bool {
        match self {
            CpaSignal::Unsupported(name) => OTHER_SIGNALS.contains(&name.as_str()),
            _ => true,
        }
    }

    fn from_name(name: &str) -> CpaSignal {
        match name {
            "dtmf" => CpaSignal::Dtmf,
            "beep" => CpaSignal::Beep,
            "speech" => CpaSignal::Speech,
            "fax-ced" => CpaSignal::FaxCed,
            "fax-cng" => CpaSignal::FaxCng,
            other => CpaSignal::Unsupported(other.to_owned()),
        }
    }
}

/// One CPA `<grammar url>` of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpaGrammar {
    /// The URL as sent (written back as is).
    pub url: String,
    /// What to detect.
    pub signal: CpaSignal,
    /// Whether a detection completes the input (else it is an event).
    pub terminate: bool,
    /// The other query parameters, implementation-specific (e.g.
    /// `maxTime`, `minSpeechDuration`), in order.
    pub params: Vec<(String, String)>,
}

/// Parses `urn:xmpp:rayo:cpa:<signal>:1[?k=v&…]`.
pub fn parse_cpa_url(url: &str) -> Result<CpaGrammar, CommandError> {
    let bad = |why: &str| CommandError::bad_request(format!("cpa grammar url '{url}' {why}"));
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let name = path
        .strip_prefix("urn:xmpp:rayo:cpa:")
        .and_then(|rest| rest.strip_suffix(":1"))
        .ok_or_else(|| bad("is not urn:xmpp:rayo:cpa:<signal>:1"))?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("names no signal"));
    }
    let mut terminate = false;
    let mut params = Vec::new();
    for pair in query.split(['&', ';']).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| bad(&format!("has parameter '{pair}' without a value")))?;
        if k == "terminate" {
            terminate = match v {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("has terminate neither true nor false")),
            };
        } else {
            params.push((k.to_owned(), v.to_owned()));
        }
    }
    Ok(CpaGrammar {
        url: url.to_owned(),
        signal: CpaSignal::from_name(name),
        terminate,
        params,
    })
}

/// A detected signal: `<signal xmlns='urn:xmpp:rayo:cpa:1' type value
/// duration/>`, sent as an event or as the completion reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalEvent {
    /// What was detected.
    pub signal: CpaSignal,
    /// The detail (`5` for a key, `human`/`machine` for speech).
    pub value: Option<String>,
    /// How long the signal lasted, in ms.
    pub duration_ms: Option<u32>,
}

impl SignalEvent {
    /// The `<signal>` element.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("signal", NS_CPA).attr("type", self.signal.urn());
        if let Some(v) = &self.value {
            e.set_attr("value", v.as_str());
        }
        if let Some(d) = self.duration_ms {
            e.set_attr("duration", d.to_string());
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_signals() {
        let g = parse_cpa_url("urn:xmpp:rayo:cpa:beep:1?terminate=true&maxTime=4000").unwrap();
        assert_eq!(g.signal, CpaSignal::Beep);
        assert!(g.terminate);
        assert_eq!(g.params, vec![("maxTime".into(), "4000".into())]);
        let g = parse_cpa_url("urn:xmpp:rayo:cpa:dtmf:1").unwrap();
        assert_eq!((g.signal, g.terminate), (CpaSignal::Dtmf, false));
        for (name, signal) in [
            ("speech", CpaSignal::Speech),
            ("fax-ced", CpaSignal::FaxCed),
            ("fax-cng", CpaSignal::FaxCng),
        ] {
            let url = format!("urn:xmpp:rayo:cpa:{name}:1");
            assert_eq!(parse_cpa_url(&url).unwrap().signal, signal);
        }
        let ring = parse_cpa_url("urn:xmpp:rayo:cpa:ring:1").unwrap().signal;
        assert_eq!(ring, CpaSignal::Unsupported("ring".into()));
        assert!(ring.is_defined());
        assert!(!CpaSignal::Unsupported("laser".into()).is_defined());
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            "urn:xmpp:rayo:cpa:beep:2",
            "http://x.test/beep",
            "urn:xmpp:rayo:cpa::1",
            "urn:xmpp:rayo:cpa:Beep:1",
            "urn:xmpp:rayo:cpa:beep:1?terminate",
            "urn:xmpp:rayo:cpa:beep:1?terminate=maybe",
        ] {
            let err = parse_cpa_url(url).unwrap_err();
            assert!(err.text.contains("cpa grammar url"), "{url}: {err}");
        }
    }

    #[test]
    fn signal_element() {
        let s = SignalEvent {
            signal: CpaSignal::Beep,
            value: None,
            duration_ms: Some(250),
        };
        assert_eq!(
            s.to_element().to_xml("jabber:client"),
            "<signal xmlns='urn:xmpp:rayo:cpa:1' type='urn:xmpp:rayo:cpa:beep:1' duration='250'/>"
        );
    }
}
