//! Commands written back as elements: what a Rayo client sends. The test
//! client uses it, and the fuzz check that every parsed command survives a
//! write and a second parse unchanged.

use xmpp::Element;

use crate::command::{CallCommand, Command, ComponentCommand, RejectReason};
use crate::dial::{Dial, DialTarget};
use crate::event::with_headers;
use crate::join::{Join, JoinDirection, JoinMedia, JoinTarget, Unjoin};
use crate::ns;
use crate::uri::call_uri;

impl Command {
    /// The IQ payload for this command; call ids become call URIs in `domain`.
    pub fn to_element(&self, domain: &str) -> Element {
        match self {
            Command::Call(c) => c.to_element(domain),
            Command::Dial(d) => d.to_element(domain),
            Command::Component(c) => c.to_element(),
        }
    }
}

impl CallCommand {
    /// The IQ payload for this call command (XEP spelling: `call-uri`).
    pub fn to_element(&self, domain: &str) -> Element {
        let core = |name: &str| Element::new(name, ns::RAYO);
        match self {
            CallCommand::Accept {
                early_media,
                headers,
            } => {
                let accept = core("accept");
                let accept = if *early_media {
                    accept.attr("earlyMedia", "true")
                } else {
                    accept
                };
                with_headers(accept, headers)
            }
            CallCommand::Answer { headers } => with_headers(core("answer"), headers),
            CallCommand::Redirect { to, headers } => {
                with_headers(core("redirect").attr("to", to.as_str()), headers)
            }
            CallCommand::Reject { reason, headers } => {
                let why = match reason {
                    RejectReason::Busy => "busy",
                    RejectReason::Decline => "decline",
                    RejectReason::Error => "error",
                };
                with_headers(core("reject").child(core(why)), headers)
            }
            CallCommand::Hangup { headers } => with_headers(core("hangup"), headers),
            CallCommand::Hold { headers } => with_headers(core("hold"), headers),
            CallCommand::Unhold { headers } => with_headers(core("unhold"), headers),
            CallCommand::Mute { headers } => with_headers(core("mute"), headers),
            CallCommand::Unmute { headers } => with_headers(core("unmute"), headers),
            CallCommand::Join(join) => join.to_element(domain),
            CallCommand::Unjoin(unjoin) => unjoin.to_element(domain),
            CallCommand::SendDtmf { tones, headers } => {
                with_headers(core("dtmf").attr("tones", tones.as_str()), headers)
            }
            CallCommand::Start(component) => component.to_element(),
        }
    }
}

impl ComponentCommand {
    /// The IQ payload for this component command (`<stop>` in `ext:1`).
    pub fn to_element(&self) -> Element {
        if let Some(e) = crate::component::control_element(self) {
            return e;
        }
        match self {
            ComponentCommand::Stop { headers } => {
                let mut stop = Element::new("stop", ns::EXT);
                for (name, value) in headers {
                    stop.push(
                        Element::new("header", ns::EXT)
                            .attr("name", name.as_str())
                            .attr("value", value.as_str()),
                    );
                }
                stop
            }
            _ => Element::new("stop", ns::EXT),
        }
    }
}

impl Join {
    /// `<join>`, with `direction` and `media` only when not the defaults.
    pub fn to_element(&self, domain: &str) -> Element {
        let mut join = with_target(Element::new("join", ns::RAYO), Some(&self.target), domain);
        if self.direction != JoinDirection::Duplex {
            join.set_attr("direction", self.direction.name());
        }
        if self.media != JoinMedia::Bridge {
            join.set_attr("media", self.media.name());
        }
        with_headers(join, &self.headers)
    }
}

impl Unjoin {
    /// `<unjoin>`, without a target when it breaks every join.
    pub fn to_element(&self, domain: &str) -> Element {
        let unjoin = with_target(
            Element::new("unjoin", ns::RAYO),
            self.target.as_ref(),
            domain,
        );
        with_headers(unjoin, &self.headers)
    }
}

impl Dial {
    /// `<dial>` to the service domain.
    pub fn to_element(&self, domain: &str) -> Element {
        let to = match &self.to {
            DialTarget::Sip(to) | DialTarget::Tel(to) | DialTarget::Number(to) => to,
        };
        let mut dial = Element::new("dial", ns::RAYO).attr("to", to.as_str());
        if let Some(from) = &self.from {
            dial.set_attr("from", from.as_str());
        }
        if let Some(id) = &self.call_id {
            dial.set_attr("uri", call_uri(id, domain));
        }
        if let Some(ms) = self.timeout_ms {
            dial.set_attr("timeout", ms.to_string());
        }
        let mut dial = with_headers(dial, &self.headers);
        for join in &self.joins {
            dial.push(join.to_element(domain));
        }
        dial
    }
}

fn with_target(e: Element, target: Option<&JoinTarget>, domain: &str) -> Element {
    match target {
        Some(JoinTarget::Call(id)) => e.attr("call-uri", call_uri(id, domain)),
        Some(JoinTarget::Mixer(name)) => e.attr("mixer-name", name.as_str()),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_command, Target};

    #[test]
    fn written_commands_read_back() {
        let domain = "rayo.test";
        let h = vec![("X-A".to_owned(), "1".to_owned())];
        let join = Join {
            target: JoinTarget::Call("b".into()),
            direction: JoinDirection::Recv,
            media: JoinMedia::Direct,
            headers: h.clone(),
        };
        let calls = [
            CallCommand::Accept {
                early_media: true,
                headers: h.clone(),
            },
            CallCommand::Answer { headers: vec![] },
            CallCommand::Redirect {
                to: "sip:c@x.test".into(),
                headers: h.clone(),
            },
            CallCommand::Reject {
                reason: RejectReason::Busy,
                headers: h.clone(),
            },
            CallCommand::Hangup { headers: h.clone() },
            CallCommand::Hold { headers: vec![] },
            CallCommand::Unhold { headers: vec![] },
            CallCommand::Mute { headers: vec![] },
            CallCommand::Unmute { headers: vec![] },
            CallCommand::Join(join.clone()),
            CallCommand::Unjoin(Unjoin {
                target: Some(JoinTarget::Mixer("conf1".into())),
                headers: vec![],
            }),
            CallCommand::Unjoin(Unjoin {
                target: None,
                headers: vec![],
            }),
            CallCommand::SendDtmf {
                tones: "12#".into(),
                headers: vec![],
            },
        ];
        for c in calls {
            let written = c.to_element(domain);
            assert_eq!(
                parse_command(Target::Call, &written, domain),
                Ok(Command::Call(c))
            );
        }
        let dial = Dial {
            to: DialTarget::Number("1000".into()),
            from: Some("sip:me@rayo.test".into()),
            call_id: Some("abc".into()),
            timeout_ms: Some(5000),
            headers: h.clone(),
            joins: vec![join],
        };
        let written = dial.to_element(domain);
        assert_eq!(
            parse_command(Target::Domain, &written, domain),
            Ok(Command::Dial(dial))
        );
        let stop = ComponentCommand::Stop { headers: h };
        assert_eq!(
            stop.to_element().to_xml("jabber:client"),
            "<stop xmlns='urn:xmpp:rayo:ext:1'><header name='X-A' value='1'/></stop>"
        );
        assert_eq!(
            parse_command(Target::Component, &stop.to_element(), domain),
            Ok(Command::Component(stop))
        );
    }
}
