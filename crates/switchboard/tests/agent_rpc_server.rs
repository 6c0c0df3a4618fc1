//! The Agent RPC server end to end over 127.0.0.1: a tokio-tungstenite
//! client plays the agent, and the test plays the call (it owns the call's
//! command queue and reports events through the sink the offer returns).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use agent_rpc::{AgentOp, Frame, ListenFrame, Request, Response};
use call_control::{CallInfo, Command, EndReason, Event, Failure, Output};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use switchboard::agent_rpc::{serve, AgentHub, WRITER_QUEUE};
use switchboard::config::Config;
use switchboard::control::{CallHandle, EventSink, Offer, Offered};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// Longest any single expected thing may take.
const WAIT: Duration = Duration::from_secs(5);
/// How long a test watches for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

struct Server {
    addr: SocketAddr,
    hub: AgentHub,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// A server whose `agent_rpc` section is `agent_rpc` (flow-mapping body).
async fn start(agent_rpc: &str) -> Server {
    let yaml = format!(
        "endpoints:\n  myagent: {{ match: {{ type: agent }} }}\n  legacy: {{ match: {{ type: flow }} }}\n  \
         voicebot: {{ uri: \"sip:voicebot@127.0.0.1:5080\" }}\nagent_rpc: {{ {agent_rpc} }}\n"
    );
    let config = Config::from_yaml(&yaml, "test.yaml").expect("valid test config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let hub = AgentHub::new(&config);
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = config.agent_rpc.clone();
    let task = tokio::spawn(serve(listener, hub.clone(), limits, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        hub,
        stop: Some(stop),
        task,
    }
}

struct Agent {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// Connects to `ws://addr/<path_and_query>`; the HTTP status and body on refusal.
async fn connect(
    addr: SocketAddr,
    path_and_query: &str,
    headers: &[(&'static str, &str)],
) -> Result<Agent, (u16, String)> {
    let mut request = format!("ws://{addr}{path_and_query}")
        .into_client_request()
        .expect("valid URL");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, value.parse().expect("header value"));
    }
    match tokio::time::timeout(WAIT, connect_async(request))
        .await
        .expect("handshake in time")
    {
        Ok((ws, _)) => Ok(Agent { ws }),
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            Err((
                response.status().as_u16(),
                String::from_utf8_lossy(&body).into_owned(),
            ))
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

impl Agent {
    async fn connect(server: &Server) -> Agent {
        connect(server.addr, "/?endpoint=myagent", &[])
            .await
            .expect("agent admitted")
    }

    async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send to server");
    }

    async fn send(&mut self, frame: impl Into<Frame>) {
        let text = frame.into().to_json();
        self.send_text(&text).await;
    }

    /// The next message other than ping/pong, within [`WAIT`].
    async fn message(&mut self) -> Message {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time")
                .expect("connection open")
                .expect("a readable message");
            if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
                return message;
            }
        }
    }

    async fn frame(&mut self) -> Frame {
        match self.message().await {
            Message::Text(text) => Frame::decode(text.as_str()).expect("a valid frame"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    async fn request(&mut self) -> Request {
        match self.frame().await {
            Frame::Request(request) => request,
            Frame::Response(response) => panic!("expected a request, got {response:?}"),
        }
    }

    async fn response(&mut self) -> Response {
        match self.frame().await {
            Frame::Response(response) => response,
            Frame::Request(request) => panic!("expected a response, got {request:?}"),
        }
    }

    async fn binary(&mut self) -> Vec<u8> {
        match self.message().await {
            Message::Binary(bytes) => bytes.to_vec(),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Nothing but keepalives arrives for [`QUIET`].
    async fn quiet(&mut self) {
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Ok(message) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match message {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected silence, got {other:?}"),
            }
        }
    }

    async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The test's side of one call.
struct Call {
    handle: CallHandle,
    commands: mpsc::Receiver<call_control::Request>,
}

fn new_call(key: u64) -> Call {
    new_call_with_queue(key, switchboard::control::CALL_COMMAND_QUEUE)
}

fn new_call_with_queue(key: u64, capacity: usize) -> Call {
    let (commands, receiver) = mpsc::channel(capacity);
    Call {
        handle: CallHandle { key, commands },
        commands: receiver,
    }
}

impl Call {
    async fn command(&mut self) -> call_control::Request {
        tokio::time::timeout(WAIT, self.commands.recv())
            .await
            .expect("a command in time")
            .expect("command queue open")
    }

    async fn no_command(&mut self) {
        if let Ok(command) = tokio::time::timeout(QUIET, self.commands.recv()).await {
            panic!("expected no command, got {command:?}");
        }
    }
}

fn info(key: u64) -> CallInfo {
    CallInfo {
        call_id: format!("call-{key}@127.0.0.1"),
        from: "alice".into(),
        to: "100".into(),
        headers: vec![
            ("X-Tag".into(), "one".into()),
            ("Subject".into(), "hello".into()),
            ("X-Tag".into(), "two".into()),
        ],
    }
}

fn offer(hub: &AgentHub, call: &Call) -> JoinHandle<Offered> {
    tokio::spawn(hub.offer(Offer {
        endpoint: "myagent".into(),
        info: info(call.handle.key),
        call: call.handle.clone(),
    }))
}

async fn outcome(offered: JoinHandle<Offered>) -> Offered {
    tokio::time::timeout(WAIT, offered)
        .await
        .expect("offer resolved in time")
        .expect("offer task")
}

fn declined(offered: Offered) -> (u16, Option<String>) {
    match offered {
        Offered::Declined { code, reason } => (code, reason),
        Offered::Taken(_) => panic!("expected a decline, the call was taken"),
    }
}

fn taken(offered: Offered) -> EventSink {
    match offered {
        Offered::Taken(sink) => sink,
        Offered::Declined { code, reason } => panic!("call declined: {code} {reason:?}"),
    }
}

/// Offers `call` and has `agent` take it; the did and the call's event sink.
async fn take(server: &Server, agent: &mut Agent, call: &Call) -> (String, EventSink) {
    let offered = offer(&server.hub, call);
    let invite = agent.request().await;
    assert_eq!(invite.op, "invite");
    agent.send(Response::new(invite.id, "", 200, "OK")).await;
    (invite.did, taken(outcome(offered).await))
}

/// A server with one agent connected and one call it has taken: the common
/// start of the tests of requests on a call.
async fn one_taken_call() -> (Server, Agent, Call, String, EventSink) {
    let server = start("").await;
    let mut agent = Agent::connect(&server).await;
    let call = new_call(1);
    let (did, sink) = take(&server, &mut agent, &call).await;
    (server, agent, call, did, sink)
}

async fn done(sink: &EventSink, id: u64, result: Result<Output, Failure>) {
    assert!(
        sink.send(Event::Done { id, result }).await,
        "event delivered"
    );
}

fn play(uri: &str) -> AgentOp {
    AgentOp::Play(agent_rpc::Play { uri: uri.into() })
}

#[tokio::test]
async fn refusals_before_upgrade_are_plain_http() {
    let server = start("max_connections_per_endpoint: 1").await;
    let refused = |result: Result<Agent, (u16, String)>| match result {
        Ok(_) => panic!("expected a refusal"),
        Err(status) => status,
    };
    let addr = server.addr;
    assert_eq!(
        refused(connect(addr, "/", &[]).await),
        (400, "Endpoint parameter required".into())
    );
    assert_eq!(
        refused(connect(addr, "/?endpoint=nobody", &[]).await),
        (404, "No endpoint found".into())
    );
    assert_eq!(
        refused(connect(addr, "/any/path?endpoint=voicebot", &[]).await),
        (404, "No endpoint found".into()),
        "a SIP endpoint is not an agent endpoint"
    );
    let legacy = connect(addr, "/some/path?endpoint=legacy", &[]).await;
    assert!(legacy.is_ok(), "flow is an alias of agent; any path");

    let first = Agent::connect(&server).await;
    assert_eq!(
        refused(connect(addr, "/?endpoint=myagent", &[]).await),
        (400, "Maximum connection of agent reached".into())
    );
    first.close().await;
    let deadline = Instant::now() + WAIT;
    loop {
        match connect(addr, "/?endpoint=myagent", &[]).await {
            Ok(_) => break,
            Err(status) if Instant::now() < deadline => {
                assert_eq!(status.0, 400);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => panic!("slot never freed: {status:?}"),
        }
    }
}

#[tokio::test]
async fn token_is_required_when_configured() {
    let server = start("token: s3cret").await;
    let addr = server.addr;
    let status = |result: Result<Agent, (u16, String)>| result.err().map(|(code, _)| code);
    assert_eq!(
        status(connect(addr, "/?endpoint=myagent", &[]).await),
        Some(401)
    );
    assert_eq!(
        status(
            connect(
                addr,
                "/?endpoint=myagent",
                &[("authorization", "Bearer nope")]
            )
            .await
        ),
        Some(401)
    );
    assert_eq!(
        status(connect(addr, "/?endpoint=myagent&token=nope", &[]).await),
        Some(401)
    );
    assert_eq!(
        status(
            connect(
                addr,
                "/?endpoint=myagent",
                &[("authorization", "Bearer s3cret")]
            )
            .await
        ),
        None
    );
    assert_eq!(
        status(connect(addr, "/?endpoint=myagent&token=s3cret", &[]).await),
        None
    );
}

#[tokio::test]
async fn invite_answered_200_takes_the_call() {
    let server = start("").await;
    let mut agent = Agent::connect(&server).await;
    let call = new_call(1);
    let offered = offer(&server.hub, &call);
    let invite = agent.request().await;
    assert_eq!(invite.op, "invite");
    assert!(
        invite.did.starts_with("call-1@127.0.0.1__"),
        "{}",
        invite.did
    );
    assert_eq!(invite.id.len(), 36, "UUID-shaped id: {}", invite.id);
    assert_eq!(
        invite.data,
        json!({
            "callID": "call-1@127.0.0.1",
            "from": "alice",
            "to": "100",
            "headers": {"X-Tag": "one, two", "Subject": "hello"},
        })
    );
    // A provisional changes nothing; agents answer with did "".
    agent
        .send(Response::new(invite.id.clone(), "", 180, "Ringing"))
        .await;
    agent.send(Response::new(invite.id, "", 200, "OK")).await;
    taken(outcome(offered).await);
}

#[tokio::test]
async fn agent_rejection_code_reaches_the_caller() {
    let server = start("").await;
    let mut agent = Agent::connect(&server).await;
    let call = new_call(1);
    let offered = offer(&server.hub, &call);
    let invite = agent.request().await;
    agent
        .send(Response::new(invite.id, "", 486, "Busy Here"))
        .await;
    assert_eq!(
        declined(outcome(offered).await),
        (486, Some("Busy Here".into()))
    );
}

#[tokio::test]
async fn no_agent_is_480_at_once() {
    let server = start("").await;
    let call = new_call(1);
    let started = Instant::now();
    let offered = outcome(offer(&server.hub, &call)).await;
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(declined(offered).0, 480);
}

#[tokio::test]
async fn first_agent_503_second_takes_it() {
    let server = start("").await;
    let mut first = Agent::connect(&server).await;
    let mut second = Agent::connect(&server).await;
    let call = new_call(1);
    let offered = offer(&server.hub, &call);
    let invite = first.request().await;
    first
        .send(Response::new(invite.id, "", 503, "Service Unavailable"))
        .await;
    let invite = second.request().await;
    second.send(Response::new(invite.id, "", 200, "OK")).await;
    taken(outcome(offered).await);

    // Both 503: the caller hears the last agent's 503.
    let call = new_call(2);
    let offered = offer(&server.hub, &call);
    for agent in [&mut first, &mut second] {
        let invite = agent.request().await;
        agent.send(Response::new(invite.id, "", 503, "Busy")).await;
    }
    assert_eq!(declined(outcome(offered).await), (503, Some("Busy".into())));
}

#[tokio::test]
async fn silent_agent_is_passed_over_and_a_late_200_gets_bye() {
    let server = start("invite_timeout_sec: 1").await;
    let mut silent = Agent::connect(&server).await;
    let mut willing = Agent::connect(&server).await;
    let call = new_call(1);
    let started = Instant::now();
    let offered = offer(&server.hub, &call);
    let ignored = silent.request().await;
    let invite = willing.request().await;
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(2500)).contains(&waited),
        "{waited:?}"
    );
    willing.send(Response::new(invite.id, "", 200, "OK")).await;
    taken(outcome(offered).await);

    silent.send(Response::new(ignored.id, "", 200, "OK")).await;
    let bye = silent.request().await;
    assert_eq!(
        (bye.op.as_str(), bye.did.as_str()),
        ("bye", ignored.did.as_str())
    );

    // Nobody answers: 480 after the timeout.
    let call = new_call(2);
    let offered = offer(&server.hub, &call);
    silent.request().await;
    willing.request().await;
    assert_eq!(declined(outcome(offered).await).0, 480);
}

#[tokio::test]
async fn offers_go_round_robin() {
    let server = start("").await;
    let mut agents = [Agent::connect(&server).await, Agent::connect(&server).await];
    for n in 0..4u64 {
        let call = new_call(n);
        let offered = offer(&server.hub, &call);
        let agent = &mut agents[(n % 2) as usize];
        let invite = agent.request().await;
        assert!(invite.did.starts_with(&format!("call-{n}@")));
        agent
            .send(Response::new(invite.id, "", 486, "Busy Here"))
            .await;
        assert_eq!(declined(outcome(offered).await).0, 486);
    }
}

#[tokio::test]
async fn withdrawn_offer_taken_later_gets_bye() {
    let server = start("").await;
    let mut agent = Agent::connect(&server).await;
    let call = new_call(1);
    let offered = offer(&server.hub, &call);
    let invite = agent.request().await;
    offered.abort();
    let _ = offered.await;
    agent.send(Response::new(invite.id, "", 200, "OK")).await;
    let bye = agent.request().await;
    assert_eq!(
        (bye.op.as_str(), bye.did.as_str()),
        ("bye", invite.did.as_str())
    );
}

#[tokio::test]
async fn agent_closing_during_invite_fails_over() {
    let server = start("").await;
    let mut leaving = Agent::connect(&server).await;
    let mut staying = Agent::connect(&server).await;
    let call = new_call(1);
    let offered = offer(&server.hub, &call);
    leaving.request().await;
    leaving.close().await;
    let invite = staying.request().await;
    staying.send(Response::new(invite.id, "", 200, "OK")).await;
    taken(outcome(offered).await);
}

#[tokio::test]
async fn play_gets_183_at_once_and_200_when_done() {
    let (_server, mut agent, mut call, did, sink) = one_taken_call().await;
    agent
        .send(play("file://hello.wav").to_request("p1", &did))
        .await;
    let progress = agent.response().await;
    assert_eq!(
        (
            progress.id.as_str(),
            progress.did.as_str(),
            progress.code,
            progress.reason.as_str()
        ),
        ("p1", did.as_str(), 183, "Playback In Progress")
    );
    let command = call.command().await;
    assert_eq!(
        command.command,
        Command::Play(call_control::Play {
            uri: "file://hello.wav".into(),
            looped: false
        })
    );
    agent.quiet().await;
    done(&sink, command.id, Ok(Output::None)).await;
    let finished = agent.response().await;
    assert_eq!((finished.id.as_str(), finished.code), ("p1", 200));
}

#[tokio::test]
async fn requests_of_a_call_run_in_order_but_hangup_does_not_wait() {
    let (_server, mut agent, mut call, did, sink) = one_taken_call().await;
    agent
        .send(play("file://a.wav").to_request("p1", &did))
        .await;
    agent.send(AgentOp::Ring.to_request("r1", &did)).await;
    assert_eq!(agent.response().await.code, 183);
    let queued = agent.response().await;
    assert_eq!((queued.id.as_str(), queued.code), ("r1", 100));
    let playing = call.command().await;
    call.no_command().await;

    agent.send(AgentOp::Hangup.to_request("h1", &did)).await;
    let hangup = call.command().await;
    assert_eq!(hangup.command, Command::Hangup { headers: vec![] });
    done(&sink, hangup.id, Ok(Output::None)).await;
    assert_eq!(agent.response().await.id, "h1");

    done(&sink, playing.id, Err(Failure::CallEnded)).await;
    let ended = agent.response().await;
    assert_eq!((ended.id.as_str(), ended.code), ("p1", 487));
    let ring = call.command().await;
    assert_eq!(
        ring.command,
        Command::Accept {
            early_media: false,
            headers: vec![]
        },
        "ring starts after the play's Done"
    );
}

#[tokio::test]
async fn request_cancel_stops_the_running_request() {
    let (_server, mut agent, mut call, did, sink) = one_taken_call().await;
    agent
        .send(play("file://a.wav").to_request("p1", &did))
        .await;
    assert_eq!(agent.response().await.code, 183);
    let playing = call.command().await;
    agent
        .send(AgentOp::RequestCancel.to_request("p1", &did))
        .await;
    let stop = call.command().await;
    assert_eq!(stop.command, Command::Stop { target: playing.id });
    done(&sink, playing.id, Err(Failure::Stopped)).await;
    done(&sink, stop.id, Ok(Output::None)).await;
    let cancelled = agent.response().await;
    let confirmed = agent.response().await;
    assert_eq!(
        (
            cancelled.id.as_str(),
            cancelled.code,
            cancelled.reason.as_str()
        ),
        ("p1", 487, "Request terminated")
    );
    assert_eq!((confirmed.id.as_str(), confirmed.code), ("p1", 200));
    agent
        .send(AgentOp::RequestCancel.to_request("gone", &did))
        .await;
    assert_eq!(agent.response().await.code, 404);
    // The connection and the call carry on.
    agent.send(AgentOp::Ring.to_request("r1", &did)).await;
    assert_eq!(
        call.command().await.command,
        Command::Accept {
            early_media: false,
            headers: vec![]
        }
    );
}

#[tokio::test]
async fn read_dtmf_returns_the_digits() {
    let (_server, mut agent, mut call, did, sink) = one_taken_call().await;
    let read = Request::new(
        "d1",
        &did,
        "read_dtmf",
        json!({"duration_sec": 5, "termination": "#"}),
    );
    agent.send(read).await;
    assert_eq!(agent.response().await.reason, "Read DTMF In Progress");
    let command = call.command().await;
    assert_eq!(
        command.command,
        Command::CollectDtmf(call_control::CollectDtmf {
            timeout: Duration::from_secs(5),
            termination: Some('#'),
            max_digits: None
        })
    );
    // Digits as they come are not the agent's business until the read ends.
    assert!(sink.send(Event::Dtmf { digit: '1' }).await);
    let digits = Output::Dtmf {
        digits: "1234#".into(),
        end: call_control::DtmfEnd::Terminator,
    };
    done(&sink, command.id, Ok(digits)).await;
    let finished = agent.response().await;
    assert_eq!(
        (finished.code, finished.data),
        (200, json!({"dtmf": "1234#"}))
    );
}

#[tokio::test]
async fn listen_sends_190_then_audio_then_200() {
    let (_server, mut agent, mut call, did, sink) = one_taken_call().await;
    let samples: Vec<i16> = (0..8000).map(|i| ((i % 40) * 500 - 10000) as i16).collect();
    for (format, header) in [("wav", 44), ("", 0)] {
        let id = format!("l-{format}");
        let listen = Request::new(
            &id,
            &did,
            "listen",
            json!({"duration_sec": 1, "audio_format": format}),
        );
        agent.send(listen).await;
        let progress = agent.response().await;
        assert_eq!(
            (progress.code, progress.reason.as_str()),
            (183, "Recording In Progress")
        );
        let command = call.command().await;
        assert_eq!(
            command.command,
            Command::Listen(call_control::Listen {
                duration: Duration::from_secs(1)
            })
        );
        let audio = Output::Audio {
            samples: samples.clone(),
            sample_rate: 8000,
        };
        done(&sink, command.id, Ok(audio)).await;
        let write = agent.response().await;
        assert_eq!(
            (write.id.as_str(), write.code, write.reason.as_str()),
            (id.as_str(), 190, "Recording Write")
        );
        let bytes = agent.binary().await;
        assert_eq!(bytes[0], 0x01);
        assert_eq!(
            u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize,
            id.len()
        );
        let frame = ListenFrame::decode(&bytes).expect("a listen frame");
        assert_eq!(frame.id, id);
        assert_eq!(frame.audio.len(), header + 16000);
        if format == "wav" {
            let mut wav = hound::WavReader::new(frame.audio).expect("a valid WAV");
            assert_eq!(
                (
                    wav.spec().channels,
                    wav.spec().sample_rate,
                    wav.spec().bits_per_sample
                ),
                (1, 8000, 16)
            );
            let read: Vec<i16> = wav.samples::<i16>().map(|s| s.expect("sample")).collect();
            assert_eq!(read, samples);
        } else {
            let raw: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            assert_eq!(frame.audio, raw.as_slice());
        }
        let finished = agent.response().await;
        assert_eq!(
            (finished.code, finished.data),
            (200, json!({"size": header + 16000, "duration_sec": 1}))
        );
    }
    let too_long = Request::new("l2", &did, "listen", json!({"duration_sec": 31}));
    agent.send(too_long).await;
    let refused = agent.response().await;
    assert_eq!(
        (refused.code, refused.reason.as_str()),
        (400, "Bad Request - Duration Seconds above Max")
    );
}

#[tokio::test]
async fn call_end_answers_open_requests_487_and_sends_bye() {
    let (_server, mut agent, mut call, did, sink) = one_taken_call().await;
    agent
        .send(play("file://a.wav").to_request("p1", &did))
        .await;
    agent.send(AgentOp::Answer.to_request("a1", &did)).await;
    assert_eq!(agent.response().await.code, 183);
    assert_eq!(agent.response().await.code, 100);
    call.command().await;
    assert!(
        sink.send(Event::Ended {
            reason: EndReason::CallerHangup,
            code: None,
            headers: vec![],
        })
        .await
    );
    let mut ended: Vec<(String, u16)> = Vec::new();
    for _ in 0..2 {
        let response = agent.response().await;
        ended.push((response.id, response.code));
    }
    assert_eq!(ended, [("p1".into(), 487), ("a1".into(), 487)]);
    let bye = agent.request().await;
    assert_eq!((bye.op.as_str(), bye.did.as_str()), ("bye", did.as_str()));
    agent.send(Response::ok(&bye)).await;
    agent.send(AgentOp::Ring.to_request("r1", &did)).await;
    let gone = agent.response().await;
    assert_eq!(
        (gone.code, gone.reason.as_str()),
        (404, "Dialog Does Not Exist")
    );
}

#[tokio::test]
async fn bad_requests_are_answered_and_the_connection_lives_on() {
    let (_server, mut agent, mut call, did, _sink) = one_taken_call().await;

    agent
        .send(AgentOp::Ring.to_request("u1", "no-such-did"))
        .await;
    let unknown_did = agent.response().await;
    assert_eq!(
        (
            unknown_did.id.as_str(),
            unknown_did.code,
            unknown_did.reason.as_str()
        ),
        ("u1", 404, "Dialog Does Not Exist")
    );

    agent
        .send(Request::new("o1", &did, "dance", json!(null)))
        .await;
    assert_eq!(agent.response().await.code, 405);

    agent
        .send(Request::new("b1", &did, "play", json!({})))
        .await;
    let bad = agent.response().await;
    assert_eq!(
        (bad.id.as_str(), bad.code, bad.reason.as_str()),
        ("b1", 400, "missing field `uri`")
    );

    agent.send_text("{this is not json").await;
    let malformed = agent.response().await;
    assert_eq!((malformed.id.as_str(), malformed.code), ("", 400));

    agent.send_text(r#"{"id":"m1","did":"x"}"#).await;
    let no_op = agent.response().await;
    assert_eq!((no_op.id.as_str(), no_op.code), ("m1", 400));

    agent
        .ws
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("send");
    assert_eq!(agent.response().await.code, 400);

    // Older agents capitalise field names; data may be left out.
    agent
        .send_text(&format!(r#"{{"ID":"a1","DID":"{did}","OP":"answer"}}"#))
        .await;
    assert_eq!(
        call.command().await.command,
        Command::Answer { headers: vec![] }
    );
}

#[tokio::test]
async fn oversized_message_closes_only_that_connection() {
    let server = start("").await;
    let mut big = Agent::connect(&server).await;
    let mut agent = Agent::connect(&server).await;
    let huge = format!(
        r#"{{"id":"x","did":"y","op":"play","data":{{"uri":"{}"}}}}"#,
        "a".repeat(100_000)
    );
    let _ = big.ws.send(Message::Text(huge.into())).await;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match big.ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "oversized message closes the connection");
    let call = new_call(1);
    let _ = take(&server, &mut agent, &call).await;
}

#[tokio::test]
async fn cli_mode_reads_lines_and_last_names_the_newest_call() {
    let server = start("").await;
    let mut agent = connect(
        server.addr,
        "/?endpoint=myagent",
        &[("x-request-type", "cli")],
    )
    .await
    .expect("admitted");
    let mut call = new_call(1);
    let offered = offer(&server.hub, &call);
    let invite = agent.request().await;
    agent.send_text(&format!("200 {}", invite.id)).await;
    let sink = taken(outcome(offered).await);

    agent.send_text("answer").await;
    let answer = call.command().await;
    assert_eq!(answer.command, Command::Answer { headers: vec![] });
    done(&sink, answer.id, Ok(Output::None)).await;
    let answered = agent.response().await;
    assert_eq!(
        (answered.code, answered.did.as_str()),
        (200, invite.did.as_str())
    );
    assert!(!answered.id.is_empty());

    agent
        .send_text("read_dtmf r7 last duration_sec=3 termination=#")
        .await;
    let progress = agent.response().await;
    assert_eq!((progress.id.as_str(), progress.code), ("r7", 183));
    assert_eq!(
        call.command().await.command,
        Command::CollectDtmf(call_control::CollectDtmf {
            timeout: Duration::from_secs(3),
            termination: Some('#'),
            max_digits: None
        })
    );
    agent.send_text("what is this = ").await;
    assert_eq!(agent.response().await.code, 400);
}

#[tokio::test]
async fn disconnected_agents_calls_are_hung_up_after_the_grace() {
    let server = start("disconnect_grace_sec: 1").await;
    let mut agent = Agent::connect(&server).await;
    let mut call = new_call(1);
    let mut ended = new_call(2);
    let (_did, _sink) = take(&server, &mut agent, &call).await;
    let (_did, ended_sink) = take(&server, &mut agent, &ended).await;
    agent.close().await;
    let closed = Instant::now();
    assert!(
        ended_sink
            .send(Event::Ended {
                reason: EndReason::CallerHangup,
                code: None,
                headers: vec![],
            })
            .await
    );
    let hangup = call.command().await;
    assert_eq!(hangup.command, Command::Hangup { headers: vec![] });
    let waited = closed.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(3000)).contains(&waited),
        "{waited:?}"
    );
    ended.no_command().await;
    // And no new offer reaches the gone agent.
    let late = new_call(3);
    assert_eq!(declined(outcome(offer(&server.hub, &late)).await).0, 480);
}

#[tokio::test]
async fn an_agent_that_stops_reading_is_dropped_and_its_calls_hung_up() {
    let server = start("disconnect_grace_sec: 1").await;
    let mut agent = Agent::connect(&server).await;
    let mut call = new_call(1);
    let (did, sink) = take(&server, &mut agent, &call).await;
    // From here on the agent reads nothing. Listens fill the socket's
    // buffers with audio (4 MB each, far past what loopback buffers hold)...
    for n in 0..12 {
        let listen = Request::new(format!("l{n}"), &did, "listen", json!({"duration_sec": 1}));
        agent.send(listen).await;
        let command = call.command().await;
        let audio = Output::Audio {
            samples: vec![0; 2_000_000],
            sample_rate: 8000,
        };
        done(&sink, command.id, Ok(audio)).await;
    }
    // ...then answers pile up in the writer's queue until it overflows.
    for n in 0..WRITER_QUEUE + 100 {
        agent
            .send(Request::new(format!("x{n}"), &did, "dance", json!(null)))
            .await;
    }
    let hangup = call.command().await;
    assert_eq!(hangup.command, Command::Hangup { headers: vec![] });
    let late = new_call(2);
    assert_eq!(declined(outcome(offer(&server.hub, &late)).await).0, 480);
}

#[tokio::test]
async fn a_busy_call_never_blocks_another() {
    let server = start("").await;
    let mut agent = Agent::connect(&server).await;
    // A call that never finishes its play, and whose queue is full.
    let mut stuck = new_call_with_queue(1, 1);
    let mut fine = new_call(2);
    let (stuck_did, _stuck_sink) = take(&server, &mut agent, &stuck).await;
    let (fine_did, fine_sink) = take(&server, &mut agent, &fine).await;

    agent
        .send(play("file://long.wav").to_request("p1", &stuck_did))
        .await;
    assert_eq!(agent.response().await.code, 183);
    agent
        .send(AgentOp::Hangup.to_request("h1", &stuck_did))
        .await;
    let busy = agent.response().await;
    assert_eq!((busy.id.as_str(), busy.code), ("h1", 429));

    agent
        .send(AgentOp::Answer.to_request("a1", &fine_did))
        .await;
    let answer = fine.command().await;
    done(&fine_sink, answer.id, Ok(Output::None)).await;
    let answered = agent.response().await;
    assert_eq!((answered.id.as_str(), answered.code), ("a1", 200));
    assert!(matches!(stuck.command().await.command, Command::Play(_)));
}

#[tokio::test]
async fn shutdown_closes_agents_with_a_close_frame() {
    let mut server = start("").await;
    let mut agent = Agent::connect(&server).await;
    let stopping = Instant::now();
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    match agent.message().await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    tokio::time::timeout(WAIT, &mut server.task)
        .await
        .expect("server stopped in time")
        .expect("server task");
    assert!(
        stopping.elapsed() < Duration::from_secs(1),
        "{:?}",
        stopping.elapsed()
    );
}
