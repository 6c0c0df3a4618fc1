//! Commands: the first child of an `<iq type='set'>`, parsed by what the IQ
//! was addressed to (RAYO.md §2.4–2.6, §3.0).
//!
//! The adapter resolves the IQ's `to` first: the service domain, a call JID
//! (with or without a resource that names no component), or a component
//! JID, and passes that [`Target`] in. Parsing is strict about what XEP-0327
//! calls malformed (`bad-request`) and lenient about legacy spellings
//! (`call-id`, `<stop>` in `urn:xmpp:rayo:1`, empty attributes as absent).
//!
//! An element nobody handles gets, per RAYO.md §3.7's XEP column:
//! * in a Rayo (or Tropo) namespace: `feature-not-implemented` (cancel),
//!   the XEP's answer for an unsupported command or component (this covers
//!   the media components until they are implemented);
//! * in any other namespace: `service-unavailable` (cancel), XMPP core's
//!   answer (RFC 6120 §8.4) for a payload the addressee does not
//!   understand, since the XEP says nothing of foreign payloads (mod_rayo
//!   and rayo-server answer `feature-not-implemented`; Adhearsion treats
//!   both alike);
//! * a call command sent to the domain (Adhearsion's `<hangup/>` after a
//!   failed dial, adhearsion#585): `item-not-found` (cancel), which the
//!   client reads as "the call is gone" (RAYO.md §5.3);
//! * a `<stop>` sent to a call JID that names no component:
//!   `item-not-found` (cancel), the XEP's answer for a component that
//!   never existed.

use xmpp::Element;

use crate::component::{
    parse_control, parse_media_component, MediaComponent, OutputCommand, PauseCommand,
};
use crate::dial::{parse_dial, Dial};
use crate::error::{CommandError, StanzaCondition};
use crate::header::{check_line, parse_headers, Headers};
use crate::join::{parse_join, parse_unjoin, Join, Unjoin};
use crate::ns;

/// What the IQ carrying a command was addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The service domain (`rayo.example`): dial.
    Domain,
    /// A call JID (`<call-id>@rayo.example`, a resource naming no component
    /// allowed): call commands.
    Call,
    /// A component JID (`<call-id>@rayo.example/<component-id>`).
    Component,
}

/// A parsed command, by target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A command to a call.
    Call(CallCommand),
    /// A dial to the service domain.
    Dial(Dial),
    /// A command to a running component.
    Component(ComponentCommand),
}

/// Commands addressed to a call. Part 2 adds the media components
/// (output, input, prompt, record) as a further variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallCommand {
    /// `<accept>`: tell the caller the call will be handled (180, or 183
    /// with SDP when the wiki's `earlyMedia='true'` asks for early media).
    Accept {
        /// The wiki dialect's `earlyMedia` attribute.
        early_media: bool,
        /// `<header>` children.
        headers: Headers,
    },
    /// `<answer>`: 200 OK.
    Answer {
        /// `<header>` children.
        headers: Headers,
    },
    /// `<redirect to>`: 302 before answer, REFER after; `endpoint:NAME`
    /// hands the call to the controllers of a configured endpoint instead.
    Redirect {
        /// The `sip:`, `sips:` or `tel:` URI to send the caller to, or
        /// `endpoint:NAME` (see [`REDIRECT_ENDPOINT`]).
        to: String,
        /// `<header>` children.
        headers: Headers,
    },
    /// `<reject>` with a reason (decline when none is given).
    Reject {
        /// Why.
        reason: RejectReason,
        /// `<header>` children.
        headers: Headers,
    },
    /// `<hangup>`.
    Hangup {
        /// `<header>` children.
        headers: Headers,
    },
    /// `<hold>` (wiki dialect): re-INVITE the party with sendonly.
    Hold {
        /// `<header>` children.
        headers: Headers,
    },
    /// `<unhold>` (wiki dialect): re-INVITE the party with sendrecv.
    Unhold {
        /// `<header>` children.
        headers: Headers,
    },
    /// `<mute>` (wiki dialect): the party's audio no longer reaches others.
    Mute {
        /// `<header>` children.
        headers: Headers,
    },
    /// `<unmute>` (wiki dialect).
    Unmute {
        /// `<header>` children.
        headers: Headers,
    },
    /// `<join>` another call or a mixer.
    Join(Join),
    /// `<unjoin>` one join, or all of them.
    Unjoin(Unjoin),
    /// Start a media component (output, say, input, prompt, ask, record):
    /// the IQ result is its `<ref>`.
    Start(Box<MediaComponent>),
    /// `<dtmf tones>` (wiki dialect): send DTMF to the party. The adapter
    /// may answer `feature-not-implemented`.
    SendDtmf {
        /// The digits, each one of `0-9 * # A-D`.
        tones: String,
        /// `<header>` children.
        headers: Headers,
    },
}

/// The reason child of `<reject>`, and the SIP status it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// `<busy/>`: 486 Busy Here.
    Busy,
    /// `<decline/>`: 603 Decline (also when no reason is given).
    Decline,
    /// `<error/>`: 500 Server Internal Error.
    Error,
}

impl RejectReason {
    /// The SIP status the rejection is sent with (issue 10).
    pub fn sip_status(self) -> u16 {
        match self {
            RejectReason::Busy => 486,
            RejectReason::Decline => 603,
            RejectReason::Error => 500,
        }
    }
}

/// Commands addressed to a running component. The adapter checks that the
/// command fits the component (an output command to a record is
/// `feature-not-implemented`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentCommand {
    /// `<stop>` in `urn:xmpp:rayo:ext:1` (or the wiki's `urn:xmpp:rayo:1`).
    Stop {
        /// `<header>` children.
        headers: Headers,
    },
    /// An output command (also valid on a prompt, for its output).
    Output(OutputCommand),
    /// `<pause>`/`<resume>` in `urn:xmpp:rayo:record:1`.
    Record(PauseCommand),
    /// `<pause>`/`<resume>` in `urn:xmpp:tropo:say:1`.
    Say(PauseCommand),
}

impl ComponentCommand {
    /// The command's element name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            ComponentCommand::Stop { .. } => "stop",
            ComponentCommand::Output(c) => c.name(),
            ComponentCommand::Record(c) | ComponentCommand::Say(c) => c.name(),
        }
    }
}

impl CallCommand {
    /// The command's element name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            CallCommand::Accept { .. } => "accept",
            CallCommand::Answer { .. } => "answer",
            CallCommand::Redirect { .. } => "redirect",
            CallCommand::Reject { .. } => "reject",
            CallCommand::Hangup { .. } => "hangup",
            CallCommand::Hold { .. } => "hold",
            CallCommand::Unhold { .. } => "unhold",
            CallCommand::Mute { .. } => "mute",
            CallCommand::Unmute { .. } => "unmute",
            CallCommand::Join(_) => "join",
            CallCommand::Unjoin(_) => "unjoin",
            CallCommand::SendDtmf { .. } => "dtmf",
            CallCommand::Start(component) => component.name(),
        }
    }

    /// The `<header>`s the command carries into its SIP message.
    pub fn headers(&self) -> &Headers {
        match self {
            CallCommand::Accept { headers, .. }
            | CallCommand::Answer { headers }
            | CallCommand::Redirect { headers, .. }
            | CallCommand::Reject { headers, .. }
            | CallCommand::Hangup { headers }
            | CallCommand::Hold { headers }
            | CallCommand::Unhold { headers }
            | CallCommand::Mute { headers }
            | CallCommand::Unmute { headers }
            | CallCommand::SendDtmf { headers, .. } => headers,
            CallCommand::Join(join) => &join.headers,
            CallCommand::Unjoin(unjoin) => &unjoin.headers,
            CallCommand::Start(component) => match component.as_ref() {
                MediaComponent::Output(output) => &output.headers,
                _ => &NO_HEADERS,
            },
        }
    }
}

/// The call commands' element names in `urn:xmpp:rayo:1`.
const CALL_COMMANDS: [&str; 12] = [
    "accept", "answer", "redirect", "reject", "hangup", "hold", "unhold", "mute", "unmute", "join",
    "unjoin", "dtmf",
];

/// The headers of a command that carries none.
static NO_HEADERS: Headers = Vec::new();

/// Longest `<dtmf tones>` accepted.
const MAX_TONES: usize = 256;

/// Parses the payload of an IQ set sent to `target`; `domain` is the
/// service domain, which call URIs must name.
pub fn parse_command(
    target: Target,
    payload: &Element,
    domain: &str,
) -> Result<Command, CommandError> {
    match target {
        Target::Domain => parse_domain_command(payload, domain).map(Command::Dial),
        Target::Call => parse_call_command(payload, domain).map(Command::Call),
        Target::Component => parse_component_command(payload).map(Command::Component),
    }
}

/// Parses a command sent to the service domain: only `<dial>`.
pub fn parse_domain_command(payload: &Element, domain: &str) -> Result<Dial, CommandError> {
    if payload.is("dial", ns::RAYO) {
        return parse_dial(payload, domain);
    }
    if payload.ns() == ns::RAYO && CALL_COMMANDS.contains(&payload.name()) {
        return Err(CommandError::item_not_found(format!(
            "<{}> needs a call; the domain is no call",
            payload.name()
        )));
    }
    Err(unhandled(payload, "the domain"))
}

/// Parses a command sent to a call JID.
pub fn parse_call_command(payload: &Element, domain: &str) -> Result<CallCommand, CommandError> {
    if payload.is("stop", ns::EXT) || payload.is("stop", ns::RAYO) {
        // A JID that reached here names no component (RAYO.md §3.0 item 6).
        return Err(CommandError::item_not_found(
            "<stop> needs a component JID; no component is named",
        ));
    }
    if let Some(component) = parse_media_component(payload) {
        return component.map(|c| CallCommand::Start(Box::new(c)));
    }
    if payload.ns() != ns::RAYO {
        return Err(unhandled(payload, "a call"));
    }
    let headers = || parse_headers(payload);
    Ok(match payload.name() {
        "accept" => CallCommand::Accept {
            early_media: parse_early_media(payload)?,
            headers: headers()?,
        },
        "answer" => CallCommand::Answer {
            headers: headers()?,
        },
        "redirect" => CallCommand::Redirect {
            to: parse_redirect_to(payload)?,
            headers: headers()?,
        },
        "reject" => CallCommand::Reject {
            reason: parse_reject_reason(payload)?,
            headers: headers()?,
        },
        "hangup" => CallCommand::Hangup {
            headers: headers()?,
        },
        "hold" => CallCommand::Hold {
            headers: headers()?,
        },
        "unhold" => CallCommand::Unhold {
            headers: headers()?,
        },
        "mute" => CallCommand::Mute {
            headers: headers()?,
        },
        "unmute" => CallCommand::Unmute {
            headers: headers()?,
        },
        "join" => CallCommand::Join(parse_join(payload, domain)?),
        "unjoin" => CallCommand::Unjoin(parse_unjoin(payload, domain)?),
        "dtmf" => CallCommand::SendDtmf {
            tones: parse_tones(payload)?,
            headers: headers()?,
        },
        _ => return Err(unhandled(payload, "a call")),
    })
}

/// Parses a command sent to a component JID: `<stop>` in either
/// namespace, or an output, record or say command.
pub fn parse_component_command(payload: &Element) -> Result<ComponentCommand, CommandError> {
    if payload.is("stop", ns::EXT) || payload.is("stop", ns::RAYO) {
        return Ok(ComponentCommand::Stop {
            headers: parse_headers(payload)?,
        });
    }
    if let Some(command) = parse_control(payload) {
        return command;
    }
    Err(unhandled(payload, "a component"))
}

/// An attribute's value, with an empty value counting as absent
/// (adhearsion#371: `call-uri=""` next to `mixer-name`).
pub(crate) fn attr<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.get_attr(name).filter(|v| !v.is_empty())
}

/// The error for a payload no parser handles (see the module doc).
fn unhandled(payload: &Element, addressee: &str) -> CommandError {
    let what = format!("<{} xmlns='{}'>", payload.name(), payload.ns());
    if ns::is_rayo(payload.ns()) {
        CommandError::not_implemented(format!("{what} is not supported on {addressee}"))
    } else {
        CommandError::of(
            StanzaCondition::ServiceUnavailable,
            format!("{what} is not understood by {addressee}"),
        )
    }
}

fn parse_early_media(accept: &Element) -> Result<bool, CommandError> {
    match attr(accept, "earlyMedia") {
        None => Ok(false),
        Some(v) if v == "0" || v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) if v == "1" || v.eq_ignore_ascii_case("true") => Ok(true),
        Some(other) => Err(CommandError::bad_request(format!(
            "earlyMedia '{other}' is not a boolean"
        ))),
    }
}

/// The scheme of a redirect target that names a configured endpoint
/// (Switchboard's extension: the call moves to that endpoint's controllers).
pub const REDIRECT_ENDPOINT: &str = "endpoint:";

/// `to` is required and must be a `sip:`, `sips:` or `tel:` URI (it becomes
/// a Contact (302) or a Refer-To), or `endpoint:NAME` with a name of
/// letters, digits, `.`, `_` and `-`.
fn parse_redirect_to(redirect: &Element) -> Result<String, CommandError> {
    let to =
        attr(redirect, "to").ok_or_else(|| CommandError::bad_request("redirect needs a 'to'"))?;
    check_line("redirect to", to)?;
    if let Some(name) = to.strip_prefix(REDIRECT_ENDPOINT) {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        return if valid {
            Ok(to.to_owned())
        } else {
            Err(CommandError::bad_request(format!(
                "redirect to '{to}' does not name an endpoint"
            )))
        };
    }
    match crate::dial::parse_dial_target(to) {
        Ok(crate::DialTarget::Sip(uri) | crate::DialTarget::Tel(uri)) => Ok(uri),
        _ => Err(CommandError::bad_request(format!(
            "redirect to '{to}' is not a sip:, sips: or tel: URI nor endpoint:NAME"
        ))),
    }
}

/// Exactly one of `<busy/>`, `<decline/>`, `<error/>` besides headers; none
/// means decline (the wiki page's default), anything else `bad-request`.
fn parse_reject_reason(reject: &Element) -> Result<RejectReason, CommandError> {
    let mut reasons = reject
        .children()
        .filter(|c| !(c.name() == "header" && ns::is_rayo(c.ns())));
    let reason = match reasons.next() {
        None => return Ok(RejectReason::Decline),
        Some(r) if r.is("busy", ns::RAYO) => RejectReason::Busy,
        Some(r) if r.is("decline", ns::RAYO) => RejectReason::Decline,
        Some(r) if r.is("error", ns::RAYO) => RejectReason::Error,
        Some(r) => {
            return Err(CommandError::bad_request(format!(
                "<{}> is not a reject reason (busy, decline, error)",
                r.name()
            )))
        }
    };
    if reasons.next().is_some() {
        return Err(CommandError::bad_request("reject takes one reason"));
    }
    Ok(reason)
}

fn parse_tones(dtmf: &Element) -> Result<String, CommandError> {
    let tones =
        attr(dtmf, "tones").ok_or_else(|| CommandError::bad_request("dtmf needs 'tones'"))?;
    if tones.len() > MAX_TONES
        || !tones
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D' | 'a'..='d'))
    {
        return Err(CommandError::bad_request(format!(
            "dtmf tones '{tones}' are not digits 0-9, *, #, A-D"
        )));
    }
    Ok(tones.to_owned())
}

#[cfg(test)]
mod tests;
