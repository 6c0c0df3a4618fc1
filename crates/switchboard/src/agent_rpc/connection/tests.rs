//! Unit tests of one agent connection: ids salvaged from bad frames, and
//! offers passed on while the writer is backlogged.

use super::*;

/// A connection whose writer never drains, with `queued` frames
/// already waiting, and the receiving end that keeps them.
fn connection_with(queued: usize) -> (Connection, mpsc::Receiver<Message>) {
    let (frames, writer) = mpsc::channel(WRITER_QUEUE);
    for _ in 0..queued {
        frames
            .try_send(Message::Ping(Default::default()))
            .expect("room");
    }
    let (events, _) = mpsc::channel(1);
    let session = Session {
        peer: SocketAddr::from(([127, 0, 0, 1], 9)),
        cli: false,
        invite_timeout: Duration::from_secs(5),
        disconnect_grace: Duration::from_secs(5),
    };
    (Connection::new(session, frames, events), writer)
}

/// Offers one call to `connection` through a hub, as the call side
/// does, and returns how the offer ended.
async fn offer_to(connection: &mut Connection) -> crate::control::Offered {
    let yaml = "endpoints:\n  bot: { match: { type: agent } }\n";
    let config = crate::config::Config::from_yaml(yaml, "t.yaml").expect("valid config");
    let hub = super::super::AgentHub::new(&config);
    let (invitations_tx, mut invitations) = mpsc::channel(1);
    let _registration = hub.admit("bot").expect("room").register(invitations_tx);
    let (commands, _) = mpsc::channel(1);
    let offered = tokio::spawn(hub.offer(crate::control::Offer {
        endpoint: "bot".into(),
        info: Default::default(),
        call: crate::control::CallHandle { key: 1, commands },
    }));
    let invitation = invitations.recv().await.expect("an invitation");
    connection.on_invitation(invitation);
    // Unanswered offers stand until their timeout; end this one.
    connection.server_requests.clear();
    offered.await.expect("offer task")
}

#[tokio::test]
async fn a_backlogged_writer_passes_new_offers_on_and_keeps_the_agent() {
    let (mut connection, writer) = connection_with(OFFER_QUEUE_LIMIT + 1);
    let offered = offer_to(&mut connection).await;
    assert!(
        matches!(
            &offered,
            crate::control::Offered::Declined {
                code: 503,
                reason: Some(_)
            }
        ),
        "{offered:?}"
    );
    assert_eq!(
        writer.len(),
        OFFER_QUEUE_LIMIT + 1,
        "no invite frame written"
    );
    assert_eq!(connection.closing, None, "the agent stays connected");
    assert_eq!(connection.offers_passed, 1);
}

#[tokio::test]
async fn below_the_limit_an_offer_becomes_an_invite_frame() {
    let (mut connection, mut writer) = connection_with(OFFER_QUEUE_LIMIT);
    let _ = offer_to(&mut connection).await;
    assert_eq!(writer.len(), OFFER_QUEUE_LIMIT + 1);
    let mut last = None;
    while let Ok(frame) = writer.try_recv() {
        last = Some(frame);
    }
    let Some(Message::Text(invite)) = last else {
        panic!("{last:?}")
    };
    assert!(invite.as_str().contains("\"invite\""), "{invite}");
}

#[test]
fn ids_are_salvaged_from_frames_that_fail_to_decode() {
    assert_eq!(
        salvage_ids(r#"{"ID":"r1","did":7,"code":"x"}"#),
        ("r1".into(), "7".into())
    );
    assert_eq!(salvage_ids("{not json"), (String::new(), String::new()));
    assert_eq!(salvage_ids("[1]"), (String::new(), String::new()));
}

/// Puts a call taken as `did` on `connection`; returns the call's commands.
fn take(
    connection: &mut Connection,
    did: &str,
    key: CallKey,
) -> mpsc::Receiver<call_control::Request> {
    let (commands, receiver) = mpsc::channel(8);
    let call = crate::control::CallHandle { key, commands };
    connection.dids.insert(key, did.to_owned());
    let dialog = Dialog::new(did.to_owned(), call, &commands::AGENT);
    connection.dialogs.insert(did.to_owned(), dialog);
    receiver
}

/// Ends the command the call received next, successfully.
fn finish_next(
    connection: &mut Connection,
    key: CallKey,
    commands: &mut mpsc::Receiver<call_control::Request>,
) {
    let id = commands.try_recv().expect("a command").id;
    let result = Ok(call_control::Output::None);
    connection.on_event(key, Event::Done { id, result });
}

#[test]
fn commands_are_timed_per_call_and_only_once_their_call_is_found() {
    // The only lib test that sends agent requests through a connection, so
    // the shared histograms move by this test's commands alone.
    let (mut connection, _writer) = connection_with(0);
    let mut a = take(&mut connection, "a", 1);
    let mut b = take(&mut connection, "b", 2);
    let count = |op| commands::AGENT.count(op);
    let (plays, answers, rings) = (count("play"), count("answer"), count("ring"));
    let play = AgentOp::Play(agent_rpc::Play {
        uri: "file://x.wav".into(),
    });
    // The same id on two calls, as CLI users type it.
    connection.on_request(play.to_request("1", "a"));
    connection.on_request(AgentOp::Answer.to_request("1", "b"));
    // No such call: answered 404, not a sample of `ring`.
    connection.on_request(AgentOp::Ring.to_request("2", "nobody"));
    finish_next(&mut connection, 1, &mut a);
    assert_eq!(count("play") - plays, 1, "the play is timed as a play");
    assert_eq!(count("answer") - answers, 0, "the answer still runs");
    finish_next(&mut connection, 2, &mut b);
    assert_eq!(count("answer") - answers, 1);
    assert_eq!(count("ring") - rings, 0, "a 404 is not timed");
}
