//! `<join>` and `<unjoin>` (RAYO.md §2.9), sent to a call or nested in a
//! `<dial>`: which call or mixer, which way media flows, and how.

use xmpp::Element;

use crate::command::attr;
use crate::error::CommandError;
use crate::header::{parse_headers, Headers};
use crate::uri::{is_valid_node, parse_call_ref};

/// What a join names: another call (by call id) or a mixer (by name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JoinTarget {
    /// A call of ours, by call id (from `call-uri`, or the legacy `call-id`).
    Call(String),
    /// A mixer, by name (the node of its JID).
    Mixer(String),
}

/// Which way media flows between the joined parties (`direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JoinDirection {
    /// Both ways (the default).
    #[default]
    Duplex,
    /// Only from the commanded call to the target.
    Send,
    /// Only from the target to the commanded call.
    Recv,
}

/// How media is joined (`media`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JoinMedia {
    /// Through the server's media relay (the default).
    #[default]
    Bridge,
    /// Endpoints exchange media directly after a re-INVITE; the adapter
    /// may answer `feature-not-implemented` (modify) until supported.
    Direct,
}

/// A parsed `<join>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// The call or mixer to join.
    pub target: JoinTarget,
    /// Media direction.
    pub direction: JoinDirection,
    /// Bridge or direct media.
    pub media: JoinMedia,
    /// `<header>` children.
    pub headers: Headers,
}

/// A parsed `<unjoin>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unjoin {
    /// The join to break; `None` breaks every join of the call (XEP-0327).
    pub target: Option<JoinTarget>,
    /// `<header>` children.
    pub headers: Headers,
}

impl JoinDirection {
    /// The attribute value (`duplex`, `send`, `recv`).
    pub fn name(self) -> &'static str {
        match self {
            JoinDirection::Duplex => "duplex",
            JoinDirection::Send => "send",
            JoinDirection::Recv => "recv",
        }
    }
}

impl JoinMedia {
    /// The attribute value (`bridge`, `direct`).
    pub fn name(self) -> &'static str {
        match self {
            JoinMedia::Bridge => "bridge",
            JoinMedia::Direct => "direct",
        }
    }
}

/// Parses a `<join>`: exactly one of `call-uri` (or its alias `call-id`) and
/// `mixer-name`; empty attributes count as absent (adhearsion#371).
pub(crate) fn parse_join(join: &Element, domain: &str) -> Result<Join, CommandError> {
    let target = parse_target(join, domain)?
        .ok_or_else(|| CommandError::bad_request("join needs a call-uri or a mixer-name"))?;
    let direction = match attr(join, "direction") {
        None => JoinDirection::Duplex,
        Some("duplex") => JoinDirection::Duplex,
        Some("send") => JoinDirection::Send,
        Some("recv") => JoinDirection::Recv,
        Some(other) => {
            return Err(CommandError::bad_request(format!(
                "join direction '{other}' is not duplex, send or recv"
            )))
        }
    };
    let media = match attr(join, "media") {
        None | Some("bridge") => JoinMedia::Bridge,
        Some("direct") => JoinMedia::Direct,
        Some(other) => {
            return Err(CommandError::bad_request(format!(
                "join media '{other}' is not bridge or direct"
            )))
        }
    };
    Ok(Join {
        target,
        direction,
        media,
        headers: parse_headers(join)?,
    })
}

/// Parses an `<unjoin>`: at most one target, none meaning every join.
pub(crate) fn parse_unjoin(unjoin: &Element, domain: &str) -> Result<Unjoin, CommandError> {
    Ok(Unjoin {
        target: parse_target(unjoin, domain)?,
        headers: parse_headers(unjoin)?,
    })
}

/// The target of a join or unjoin; both a call and a mixer is `bad-request`,
/// as are `call-uri` and `call-id` naming different calls.
fn parse_target(e: &Element, domain: &str) -> Result<Option<JoinTarget>, CommandError> {
    let by_uri = attr(e, "call-uri")
        .map(|v| parse_call_ref(v, domain))
        .transpose()?;
    let by_id = attr(e, "call-id")
        .map(|v| parse_call_ref(v, domain))
        .transpose()?;
    let call = match (by_uri, by_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(CommandError::bad_request(
                "call-uri and call-id name different calls",
            ))
        }
        (a, b) => a.or(b),
    };
    let mixer = attr(e, "mixer-name");
    if let Some(name) = mixer {
        if !is_valid_node(name) {
            return Err(CommandError::bad_request(format!(
                "mixer-name '{name}' is not a valid JID node"
            )));
        }
    }
    match (call, mixer) {
        (Some(_), Some(_)) => Err(CommandError::bad_request(
            "name either a call or a mixer, not both",
        )),
        (Some(call), None) => Ok(Some(JoinTarget::Call(call))),
        (None, Some(mixer)) => Ok(Some(JoinTarget::Mixer(mixer.to_owned()))),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ns, StanzaCondition};

    const DOMAIN: &str = "rayo.test";

    fn join() -> Element {
        Element::new("join", ns::RAYO)
    }

    #[test]
    fn call_uri_with_defaults() {
        let j = parse_join(&join().attr("call-uri", "xmpp:b@rayo.test"), DOMAIN).unwrap();
        assert_eq!(
            j,
            Join {
                target: JoinTarget::Call("b".into()),
                direction: JoinDirection::Duplex,
                media: JoinMedia::Bridge,
                headers: vec![],
            }
        );
    }

    #[test]
    fn call_id_alias_direction_media_and_headers() {
        let e = join()
            .attr("call-id", "b")
            .attr("direction", "recv")
            .attr("media", "direct")
            .child(
                Element::new("header", ns::RAYO)
                    .attr("name", "X-J")
                    .attr("value", "1"),
            );
        let j = parse_join(&e, DOMAIN).unwrap();
        assert_eq!(j.target, JoinTarget::Call("b".into()));
        assert_eq!(j.direction, JoinDirection::Recv);
        assert_eq!(j.media, JoinMedia::Direct);
        assert_eq!(j.headers, vec![("X-J".into(), "1".into())]);
        let send = parse_join(
            &join().attr("call-id", "b").attr("direction", "send"),
            DOMAIN,
        );
        assert_eq!(send.unwrap().direction, JoinDirection::Send);
    }

    #[test]
    fn empty_attributes_are_absent() {
        let e = join()
            .attr("call-uri", "")
            .attr("mixer-name", "conf1")
            .attr("direction", "")
            .attr("media", "");
        let j = parse_join(&e, DOMAIN).unwrap();
        assert_eq!(j.target, JoinTarget::Mixer("conf1".into()));
        assert_eq!(j.direction, JoinDirection::Duplex);
        assert_eq!(j.media, JoinMedia::Bridge);
    }

    #[test]
    fn both_neither_or_bad_targets_are_bad_request() {
        for e in [
            join(),
            join().attr("call-uri", "").attr("mixer-name", ""),
            join()
                .attr("call-uri", "xmpp:b@rayo.test")
                .attr("mixer-name", "m"),
            join().attr("call-id", "b").attr("mixer-name", "m"),
            join()
                .attr("call-uri", "xmpp:b@rayo.test")
                .attr("call-id", "c"),
            join().attr("call-uri", "xmpp:b@elsewhere.test"),
            join().attr("mixer-name", "a@b"),
            join().attr("call-id", "b").attr("direction", "sideways"),
            join().attr("call-id", "b").attr("media", "bridge_shared"),
        ] {
            let error = parse_join(&e, DOMAIN).expect_err(&e.to_string());
            assert_eq!(error.condition, StanzaCondition::BadRequest, "{e}");
        }
    }

    #[test]
    fn unjoin_target_is_optional_but_not_double() {
        let all = parse_unjoin(&Element::new("unjoin", ns::RAYO), DOMAIN).unwrap();
        assert_eq!(all.target, None);
        let one = parse_unjoin(
            &Element::new("unjoin", ns::RAYO).attr("call-uri", "xmpp:b@rayo.test"),
            DOMAIN,
        )
        .unwrap();
        assert_eq!(one.target, Some(JoinTarget::Call("b".into())));
        let both = Element::new("unjoin", ns::RAYO)
            .attr("call-id", "b")
            .attr("mixer-name", "m");
        assert_eq!(
            parse_unjoin(&both, DOMAIN).unwrap_err().condition,
            StanzaCondition::BadRequest
        );
    }
}
