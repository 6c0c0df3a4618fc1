//! Rayo call commands and dials as call-control [`Command`]s and
//! [`DialRequest`]s, and what the server says against them (call-control
//! [`Failure`]s, [`DialError`]s) as the XEP-0327 stanza errors a client gets
//! (RAYO.md §3.7).

use std::time::Duration;

use call_control::{Command, DialRequest, Failure};
use rayo::{CallCommand, CommandError, ErrorType, JoinMedia, StanzaCondition};

use crate::calls::{DialError, RegistryError};

/// The call-control command a Rayo call command asks for, or the error the
/// IQ gets when the server does not carry that command out.
///
/// Headers ride on every command whose SIP message can carry them; hold,
/// unhold, mute and unmute have none in the model (mute sends no SIP at
/// all), so theirs are dropped.
/// `joins` are the call's current joins (an `<unjoin>` without a target
/// breaks the only one).
pub fn to_command(
    command: CallCommand,
    joins: &[call_control::JoinTarget],
) -> Result<Command, CommandError> {
    Ok(match command {
        CallCommand::Accept {
            early_media,
            headers,
        } => Command::Accept {
            early_media,
            headers,
        },
        CallCommand::Answer { headers } => Command::Answer { headers },
        // `endpoint:NAME` hands the call to that endpoint's controllers.
        CallCommand::Redirect { to, headers } => match to.strip_prefix(rayo::REDIRECT_ENDPOINT) {
            Some(endpoint) => Command::Transfer {
                endpoint: endpoint.to_owned(),
            },
            None => Command::Redirect { uri: to, headers },
        },
        CallCommand::Reject { reason, headers } => Command::Reject {
            code: reason.sip_status(),
            reason: None,
            headers,
        },
        CallCommand::Hangup { headers } => Command::Hangup { headers },
        CallCommand::Hold { headers } => Command::Hold { headers },
        CallCommand::Unhold { headers } => Command::Unhold { headers },
        CallCommand::Mute { .. } => Command::Mute,
        CallCommand::Unmute { .. } => Command::Unmute,
        CallCommand::Join(join) => Command::Join(to_join(join)?),
        CallCommand::Unjoin(unjoin) => {
            let target = match unjoin.target {
                Some(target) => join_target(target),
                // The XEP's "every join": one at a time in the model.
                None => match joins {
                    [] => {
                        return Err(CommandError::of(
                            StanzaCondition::ServiceUnavailable,
                            "the call is not joined",
                        ))
                    }
                    [only] => only.clone(),
                    _ => {
                        return Err(CommandError::unsupported_option(
                            "the call has several joins: unjoin them one by one",
                        ))
                    }
                },
            };
            Command::Unjoin { target }
        }
        CallCommand::SendDtmf { .. } => {
            return Err(CommandError::not_implemented(
                "sending DTMF to the party is not supported",
            ))
        }
        CallCommand::Start(component) => super::media::to_component(&component)?.0,
    })
}

fn join_target(target: rayo::JoinTarget) -> call_control::JoinTarget {
    match target {
        rayo::JoinTarget::Call(id) => call_control::JoinTarget::Call(id),
        rayo::JoinTarget::Mixer(name) => call_control::JoinTarget::Mixer(name),
    }
}

/// A `<join>` as the model's; direct media is not supported (modify).
fn to_join(join: rayo::Join) -> Result<call_control::Join, CommandError> {
    if join.media == JoinMedia::Direct {
        return Err(CommandError::unsupported_option(
            "media='direct' is not supported; joins bridge media",
        ));
    }
    Ok(call_control::Join {
        target: join_target(join.target),
        direction: match join.direction {
            rayo::JoinDirection::Duplex => call_control::JoinDirection::Duplex,
            rayo::JoinDirection::Send => call_control::JoinDirection::Send,
            rayo::JoinDirection::Recv => call_control::JoinDirection::Recv,
        },
    })
}

/// A `<dial>` as the model's request; a dial joins one party at most.
pub fn to_dial(dial: rayo::Dial) -> Result<DialRequest, CommandError> {
    let to = match dial.to {
        rayo::DialTarget::Sip(uri) | rayo::DialTarget::Tel(uri) => uri,
        rayo::DialTarget::Number(number) => number,
    };
    let mut joins = dial.joins.into_iter();
    let join = joins.next().map(to_join).transpose()?;
    if joins.next().is_some() {
        return Err(CommandError::unsupported_option(
            "a dial joins one call at most",
        ));
    }
    Ok(DialRequest {
        to,
        from: dial.from,
        call_id: dial.call_id,
        timeout: dial.timeout_ms.map(Duration::from_millis),
        headers: dial.headers,
        join,
    })
}

/// The stanza error for a dial refused before any call existed. Far-end
/// failures are not here: they come later as the call's `<end>`.
pub fn dial_error(error: &DialError) -> CommandError {
    use StanzaCondition as C;
    let text = error.to_string();
    match error {
        DialError::BadTarget(_)
        | DialError::BadFrom(_)
        | DialError::BadHeader(_)
        | DialError::NoRoute(_)
        | DialError::Registry(RegistryError::BadId(_)) => CommandError::bad_request(text),
        DialError::Refused { .. } => CommandError::of(C::NotAllowed, text),
        DialError::Registry(RegistryError::Conflict(_)) => {
            CommandError::new(C::Conflict, ErrorType::Modify, text)
        }
        DialError::Registry(RegistryError::AtCapacity) | DialError::NoMedia => {
            CommandError::of(C::ResourceConstraint, text)
        }
        DialError::JoinTargetNotFound(_) | DialError::ShuttingDown => {
            CommandError::of(C::ServiceUnavailable, text)
        }
    }
}

/// The stanza error for a command the call refused, by the XEP's table:
/// the call gone is `item-not-found`, a state the command does not fit is
/// `unexpected-request` (wait) except a reject after answer, which the XEP
/// makes `not-allowed` (cancel).
pub fn failure_error(command: &str, failure: &Failure) -> CommandError {
    use StanzaCondition as C;
    let text = failure.to_string();
    match failure {
        Failure::CallEnded | Failure::NoSuchRequest => CommandError::item_not_found(text),
        // The XEP: a join target that cannot be found is service-unavailable.
        Failure::NotFound(_) if command == "join" => CommandError::of(C::ServiceUnavailable, text),
        Failure::InvalidState(_) if command == "reject" => CommandError::of(C::NotAllowed, text),
        // The XEP: an unjoin of a join (call or mixer) that does not exist.
        Failure::InvalidState(_) | Failure::NotFound(_) if command == "unjoin" => {
            CommandError::of(C::ServiceUnavailable, text)
        }
        Failure::InvalidState(_) | Failure::NotAnswered => {
            CommandError::of(C::UnexpectedRequest, text)
        }
        Failure::BadRequest(_)
        | Failure::NotFound(_)
        | Failure::Unplayable(_)
        | Failure::UnknownEndpoint
        | Failure::NotSipEndpoint => CommandError::bad_request(text),
        Failure::Conflict(_) => CommandError::of(C::Conflict, text),
        // The far end refused what the command sent (a REFER's 403): the
        // call stays as it was, the command could not be done now.
        Failure::Refused(_) => CommandError::new(C::UnexpectedRequest, ErrorType::Wait, text),
        Failure::NotImplemented(_) => CommandError::not_implemented(text),
        Failure::Stopped | Failure::Internal(_) => CommandError::of(C::InternalServerError, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayo::RejectReason;

    #[test]
    fn reject_reasons_become_their_status() {
        for (reason, code) in [
            (RejectReason::Busy, 486),
            (RejectReason::Decline, 603),
            (RejectReason::Error, 500),
        ] {
            let command = to_command(
                CallCommand::Reject {
                    reason,
                    headers: vec![("X-A".into(), "1".into())],
                },
                &[],
            );
            assert_eq!(
                command,
                Ok(Command::Reject {
                    code,
                    reason: None,
                    headers: vec![("X-A".into(), "1".into())]
                })
            );
        }
    }

    #[test]
    fn redirect_carries_uri_and_headers() {
        let command = to_command(
            CallCommand::Redirect {
                to: "sip:b@example.com".into(),
                headers: vec![("X-B".into(), "2".into())],
            },
            &[],
        );
        assert_eq!(
            command,
            Ok(Command::Redirect {
                uri: "sip:b@example.com".into(),
                headers: vec![("X-B".into(), "2".into())]
            })
        );
    }

    #[test]
    fn redirect_to_an_endpoint_is_a_transfer() {
        let command = to_command(
            CallCommand::Redirect {
                to: "endpoint:agents".into(),
                headers: Vec::new(),
            },
            &[],
        );
        assert_eq!(
            command,
            Ok(Command::Transfer {
                endpoint: "agents".into()
            })
        );
    }

    #[test]
    fn unsupported_commands_are_not_implemented() {
        let error = to_command(
            CallCommand::SendDtmf {
                tones: "1".into(),
                headers: vec![],
            },
            &[],
        )
        .expect_err("not supported");
        assert_eq!(error.condition, StanzaCondition::FeatureNotImplemented);
        assert_eq!(error.kind, ErrorType::Cancel);
    }

    #[test]
    fn unjoin_without_a_target_breaks_the_only_join() {
        let unjoin = || {
            CallCommand::Unjoin(rayo::Unjoin {
                target: None,
                headers: vec![],
            })
        };
        let one = [call_control::JoinTarget::Call("b".into())];
        assert_eq!(
            to_command(unjoin(), &one),
            Ok(Command::Unjoin {
                target: one[0].clone()
            })
        );
        let none = to_command(unjoin(), &[]).expect_err("not joined");
        assert_eq!(none.condition, StanzaCondition::ServiceUnavailable);
    }

    #[test]
    fn dial_maps_target_timeout_and_one_join() {
        let dial = rayo::Dial {
            to: rayo::DialTarget::Number("1000".into()),
            from: Some("sip:me@example.com".into()),
            call_id: Some("abc".into()),
            timeout_ms: Some(30_000),
            headers: vec![("X-A".into(), "1".into())],
            joins: vec![rayo::Join {
                target: rayo::JoinTarget::Call("other".into()),
                direction: rayo::JoinDirection::Duplex,
                media: JoinMedia::Bridge,
                headers: vec![],
            }],
        };
        let request = to_dial(dial.clone()).expect("maps");
        assert_eq!(request.to, "1000");
        assert_eq!(request.timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            request.join.map(|j| j.target),
            Some(call_control::JoinTarget::Call("other".into()))
        );
        let mut direct = dial;
        direct.joins[0].media = JoinMedia::Direct;
        let error = to_dial(direct).expect_err("direct media");
        assert_eq!(error.kind, ErrorType::Modify);
    }

    #[test]
    fn dial_errors() {
        use StanzaCondition as C;
        let conflict = dial_error(&DialError::Registry(RegistryError::Conflict("a".into())));
        assert_eq!(
            (conflict.condition, conflict.kind),
            (C::Conflict, ErrorType::Modify)
        );
        assert_eq!(
            dial_error(&DialError::BadTarget("x".into())).condition,
            C::BadRequest
        );
        assert_eq!(
            dial_error(&DialError::NoMedia).condition,
            C::ResourceConstraint
        );
    }

    #[test]
    fn failures_follow_the_xep_table() {
        use StanzaCondition as C;
        let cases = [
            (
                "answer",
                Failure::CallEnded,
                C::ItemNotFound,
                ErrorType::Cancel,
            ),
            (
                "reject",
                Failure::InvalidState("call already answered"),
                C::NotAllowed,
                ErrorType::Cancel,
            ),
            (
                "hold",
                Failure::NotAnswered,
                C::UnexpectedRequest,
                ErrorType::Wait,
            ),
            (
                "unjoin",
                Failure::NotFound("conf1".into()),
                C::ServiceUnavailable,
                ErrorType::Cancel,
            ),
            (
                "join",
                Failure::Conflict("already in conf1".into()),
                C::Conflict,
                ErrorType::Cancel,
            ),
            (
                "redirect",
                Failure::BadRequest("x".into()),
                C::BadRequest,
                ErrorType::Modify,
            ),
            (
                "redirect",
                Failure::Conflict("busy".into()),
                C::Conflict,
                ErrorType::Cancel,
            ),
            (
                "answer",
                Failure::NotImplemented("x"),
                C::FeatureNotImplemented,
                ErrorType::Cancel,
            ),
            (
                "answer",
                Failure::Internal("x".into()),
                C::InternalServerError,
                ErrorType::Wait,
            ),
        ];
        for (command, failure, condition, kind) in cases {
            let error = failure_error(command, &failure);
            assert_eq!(
                (error.condition, error.kind),
                (condition, kind),
                "{failure:?}"
            );
        }
    }
}
