//! Rayo call commands as call-control [`Command`]s, and call-control
//! [`Failure`]s as the XEP-0327 stanza errors a client gets (RAYO.md §3.7).

use call_control::{Command, Failure};
use rayo::{CallCommand, CommandError, ErrorType, StanzaErrorCondition};

/// The call-control command a Rayo call command asks for, or the error the
/// IQ gets when the server does not carry that command out.
///
/// Headers ride on every command whose SIP message can carry them; hold,
/// unhold, mute and unmute have none in the model (mute sends no SIP at
/// all), so theirs are dropped.
pub fn to_command(command: CallCommand) -> Result<Command, CommandError> {
    Ok(match command {
        CallCommand::Accept {
            early_media,
            headers,
        } => Command::Accept {
            early_media,
            headers,
        },
        CallCommand::Answer { headers } => Command::Answer { headers },
        CallCommand::Redirect { to, headers } => Command::Redirect { uri: to, headers },
        CallCommand::Reject { reason, headers } => Command::Reject {
            code: reason.sip_status(),
            reason: None,
            headers,
        },
        CallCommand::Hangup { headers } => Command::Hangup { headers },
        CallCommand::Hold { .. } => Command::Hold,
        CallCommand::Unhold { .. } => Command::Unhold,
        CallCommand::Mute { .. } => Command::Mute,
        CallCommand::Unmute { .. } => Command::Unmute,
        CallCommand::Join(_) | CallCommand::Unjoin(_) => {
            return Err(CommandError::not_implemented(
                "joining calls is not available on this server yet",
            ))
        }
        CallCommand::SendDtmf { .. } => {
            return Err(CommandError::not_implemented(
                "sending DTMF to the party is not supported",
            ))
        }
    })
}

/// The stanza error for a command the call refused, by the XEP's table:
/// the call gone is `item-not-found`, a state the command does not fit is
/// `unexpected-request` (wait) except a reject after answer, which the XEP
/// makes `not-allowed` (cancel).
pub fn failure_error(command: &str, failure: &Failure) -> CommandError {
    use StanzaErrorCondition as C;
    let text = failure.to_string();
    match failure {
        Failure::CallEnded | Failure::NoSuchRequest => CommandError::item_not_found(text),
        Failure::InvalidState(_) if command == "reject" => CommandError::of(C::NotAllowed, text),
        Failure::InvalidState(_) if command == "unjoin" => {
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
            let command = to_command(CallCommand::Reject {
                reason,
                headers: vec![("X-A".into(), "1".into())],
            });
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
        let command = to_command(CallCommand::Redirect {
            to: "sip:b@example.com".into(),
            headers: vec![("X-B".into(), "2".into())],
        });
        assert_eq!(
            command,
            Ok(Command::Redirect {
                uri: "sip:b@example.com".into(),
                headers: vec![("X-B".into(), "2".into())]
            })
        );
    }

    #[test]
    fn unsupported_commands_are_not_implemented() {
        let error = to_command(CallCommand::SendDtmf {
            tones: "1".into(),
            headers: vec![],
        })
        .expect_err("not supported");
        assert_eq!(error.condition, StanzaErrorCondition::FeatureNotImplemented);
        assert_eq!(error.kind, ErrorType::Cancel);
    }

    #[test]
    fn failures_follow_the_xep_table() {
        use StanzaErrorCondition as C;
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
